"""``batch_rma``: random-effects meta-analyses of many groups at once (numpy over groups).

For every meta-analysis of a batch (intercept-only model) the numbers ``bm.rma`` reports,
computed on R x kmax arrays with masks: tau² (:mod:`bayesma.batch.tau2`), the pooled
estimate by weighted least squares with ``w = 1/(vi + tau²)``, its standard error and
interval (``z``; ``t``: t(k - 1); ``knha``: Knapp & Hartung 2003, Statistics in Medicine
22, 2693-2710, scale ``s² = sum w (y - b)² / (k - 1)``, 0 when the weighted RSS is below
machine epsilon, as metafor; ``adhoc``: metafor's modified Knapp-Hartung with the scale
``max(1, s²)``, Knapp & Hartung 2003 sec. 4 / Röver et al. 2015, BMC Med Res Methodol
15:99), the prediction interval ``b ± crit sqrt(tau² + se²)`` (metafor's ``predict.rma``),
Cochran's Q with fixed-effect weights and I² with the typical within-study variance
``(k - 1) / tr(P)`` (Higgins & Thompson 2002, eq. 9; metafor ``rma.uni``).
"""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pandas as pd

from bayesma.batch.inputs import BatchData, as_batch, chunk_count
from bayesma.batch.tau2 import BATCH_METHODS, batch_tau2
from bayesma.classical.rma.fitting import SMALL_K
from bayesma.classical.settings import canonical_test, parse_level
from bayesma.classical.tau2 import canonical_method, estimate_tau2
from bayesma.errors import BayesmaError, DataError, SmallKWarning
from bayesma.parallel import run_chunks
from bayesma.tails import chi2_sf, norm_isf, norm_sf, t_isf, t_sf

__all__ = ["BATCH_TESTS", "batch_rma", "rma_chunk"]

#: inference for the pooled effect
BATCH_TESTS = ("z", "t", "knha", "adhoc")

#: meta-analyses per chunk handed to a worker process or a Dask task
DEFAULT_CHUNK = 20_000


def _test(test: str) -> str:
    t = str(test).strip().lower()
    return t if t == "adhoc" else canonical_test(t)


def rma_chunk(batch: BatchData, *, method: str, test: str, level: float,
              tol: float = 1e-12) -> pd.DataFrame:
    """The result table of :func:`batch_rma` for one chunk (runs in a worker)."""
    y, v, mask, k = batch.y, batch.v, batch.mask, batch.k
    R = k.size
    tau2, refit = batch_tau2(y, v, mask, k, method, tol=tol)
    note = np.full(R, "", dtype=object)
    for r in np.flatnonzero(refit):
        yr, vr = batch.group(int(r))
        try:
            tau2[r] = estimate_tau2(yr, vr, None, method, tol=tol).tau2
        except BayesmaError as exc:  # e.g. no root of the estimating equation
            tau2[r] = np.nan
            note[r] = f"{type(exc).__name__}: {exc}"
    conv = np.isfinite(tau2)
    t2 = np.where(conv, tau2, 0.0)
    w = np.where(mask, 1.0 / (v + t2[:, None]), 0.0)
    sw = w.sum(axis=1)
    beta = np.einsum("rk,rk->r", w, y) / sw
    vb = 1.0 / sw
    df = (k - 1).astype(float)
    single = k == 1
    note[single & (note == "")] = "k = 1: tau2 = 0 and test 'z' (as metafor)"
    if test in ("knha", "adhoc"):
        r = np.where(mask, y - beta[:, None], 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            s2 = np.einsum("rk,rk->r", w * r, r) / df
        if test == "knha":
            s2 = np.where(np.einsum("rk,rk->r", w * r, r) <= np.finfo(float).eps, 0.0, s2)
        else:
            s2 = np.maximum(1.0, s2)
        vb = np.where(single, vb, s2 * vb)
    se = np.sqrt(vb)
    alpha = (1.0 - level) / 2.0
    use_t = (test != "z") & ~single
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = beta / se
        crit = np.where(use_t, t_isf(alpha, np.where(use_t, df, 1.0)), norm_isf(alpha))
        pval = np.where(use_t, 2 * t_sf(np.abs(zval), np.where(use_t, df, 1.0)),
                        2 * norm_sf(np.abs(zval)))
    pis = np.sqrt(t2 + se * se)
    # heterogeneity with fixed-effect weights on the centred outcomes (metafor)
    wf = np.where(mask, 1.0 / v, 0.0)
    swf = wf.sum(axis=1)
    ymc = np.where(mask, y - (np.where(mask, y, 0.0).sum(axis=1) / k)[:, None], 0.0)
    rf = np.where(mask, ymc - (np.einsum("rk,rk->r", wf, ymc) / swf)[:, None], 0.0)
    qe = np.maximum(0.0, np.einsum("rk,rk->r", wf * rf, rf))
    with np.errstate(divide="ignore", invalid="ignore"):
        qe_p = np.where(single, 1.0, chi2_sf(qe, np.maximum(df, 1.0)))
        trP = swf - np.einsum("rk,rk->r", wf, wf) / swf
        vt = df / trP
        if method == "EE":
            i2 = np.where(qe <= 0, 0.0, np.maximum(0.0, 100 * (qe - df) / qe))
        else:
            i2 = 100 * t2 / (vt + t2)
    i2 = np.where(single, 0.0, i2)
    qe = np.where(single, 0.0, qe)
    nan = np.where(conv, 1.0, np.nan)
    cols = {
        "k": k,
        "estimate": beta * nan,
        "se": se * nan,
        "pval": pval * nan,
        "ci_low": (beta - crit * se) * nan,
        "ci_high": (beta + crit * se) * nan,
        "pi_low": (beta - crit * pis) * nan,
        "pi_high": (beta + crit * pis) * nan,
        "tau2": tau2,
        "i2": i2 * nan,
        "q": qe,
        "q_pval": qe_p,
        "converged": conv,
    }
    if test != "z":
        cols["df"] = np.where(single, np.nan, df)
    cols["note"] = note
    return pd.DataFrame(cols, index=batch.ids)


def batch_rma(long, by: str | None = None, yi: str = "yi", vi: str = "vi", *,
              sei: str | None = None, method: str = "REML", test: str = "z",
              level: float = 0.95, backend: str | None = None, client=None,
              chunk_size: int | None = None, progress: bool | None = None,
              tol: float = 1e-12) -> pd.DataFrame:
    """Random-effects meta-analysis of many groups at once (vectorised ``bm.rma``).

    Parameters
    ----------
    long : DataFrame or BatchData
        A long table, one row per study, with column ``by`` naming the meta-analysis;
        or a :class:`~bayesma.batch.inputs.BatchData` (e.g. from
        :func:`~bayesma.batch.batch_from_arrays`).
    by : str
        Column of meta-analysis ids (required with a table).
    yi, vi : str
        Columns of effect sizes and sampling variances.
    sei : str, optional
        Column of standard errors used instead of ``vi``.
    method : str
        tau² estimator: ``"REML"``, ``"ML"``, ``"DL"``, ``"PM"``, ``"HE"``, ``"SJ"``,
        ``"EB"``, ``"HS"``, ``"HSk"`` or ``"EE"`` (``"FE"``).
    test : {"z", "t", "knha", "adhoc"}
        Inference for the pooled effect (``"hksj"`` is an alias of ``"knha"``).
    level : float
        Confidence level: a number, 0.95 or 95 (as
        :func:`bayesma.classical.settings.parse_level`; a string raises).
    backend : {None, "serial", "local", "dask"}
        Where the chunks run (:func:`bayesma.parallel.run_chunks`): None runs serially
        for up to one chunk and in local processes beyond.
    client : dask.distributed.Client, optional
        Run the chunks on this Dask cluster (implies ``backend="dask"``).
    chunk_size : int, optional
        Meta-analyses per chunk, a positive integer (default 20000).
    progress : bool, optional
        Progress bar over chunks (None: only on a terminal).
    tol : float
        Convergence threshold of iterative estimators (as ``bm.rma``).

    Returns
    -------
    DataFrame
        Indexed by the group id: ``k, estimate, se, pval, ci_low, ci_high, pi_low,
        pi_high, tau2, i2, q, q_pval, converged`` (+ ``df`` unless ``test="z"``) and
        ``note`` (empty, or why a row is special: k = 1, an estimator that failed).
        Every row equals ``bm.rma`` on that group's studies (to rounding).

    Warns
    -----
    SmallKWarning
        Once, when ``test="z"`` and some groups have 2 to 4 studies (``bm.rma`` warns
        for each such fit).
    """
    method = canonical_method(method)
    if method not in BATCH_METHODS:
        raise DataError(f"batch_rma has no vectorised {method!r}; choose one of "
                        f"{', '.join(BATCH_METHODS)}")
    test = _test(test)
    level = parse_level(level)
    size = chunk_count(chunk_size, DEFAULT_CHUNK)
    batch = as_batch(long, by=by, yi=yi, vi=vi, sei=sei)
    few = int(np.count_nonzero((batch.k > 1) & (batch.k < SMALL_K)))
    if test == "z" and few:
        # as bm.rma warns for each such fit: once for the batch
        warnings.warn(
            f"test='z' in {few} of {batch.n_groups} meta-analyses with k < {SMALL_K} "
            "studies: Wald intervals ignore the uncertainty of tau² and undercover with "
            "few studies; use test='knha' or batch_exact", SmallKWarning, stacklevel=2)
    func = partial(rma_chunk, method=method, test=test, level=level, tol=tol)
    parts = run_chunks(func, batch.chunks(size), backend=backend, client=client,
                       progress=progress, desc="batch_rma")
    return pd.concat(parts) if len(parts) > 1 else parts[0]

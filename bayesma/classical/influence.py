"""Leave-one-out, influence diagnostics and cumulative meta-analysis.

Reproduces metafor 3.8:

* :func:`leave1out` — ``leave1out.rma.uni``: the model refitted without each study;
* :func:`influence` — ``influence.rma.uni`` (Viechtbauer & Cheung 2010, Research
  Synthesis Methods 1:112-125): externally studentized residuals, DFFITS, Cook's
  distances, covariance ratios, leave-one-out tau² and QE, hat values, weights, DFBETAS
  and metafor's rule for flagging influential studies;
* :func:`cumul` — ``cumul.rma.uni``: the model refitted as studies are added in order.

All three return a plain :class:`pandas.DataFrame` indexed by study label, with the
settings in ``DataFrame.attrs``. Refits use :func:`bayesma.classical.rma.fit_arrays`
with the tau² estimator, test and level of the original fit.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bayesma.classical.checks import intercept_only, is_ee
from bayesma.classical.rma import RMAResult, require_rma_result
from bayesma.data import describe_rows, require_columns
from bayesma.errors import BayesmaError, BayesmaWarning, DataError, TooFewStudiesError

__all__ = ["cumul", "influence", "leave1out"]

#: Columns of :func:`leave1out` and :func:`cumul` (besides cumul's row/order_value/k).
SUMMARY_COLUMNS = [
    "estimate",
    "se",
    "stat",
    "pval",
    "ci_low",
    "ci_high",
    "q",
    "q_pval",
    "tau2",
    "i2",
    "h2",
]


def _refit(res: RMAResult, idx: np.ndarray) -> RMAResult:
    """The model of ``res`` on the rows ``idx`` (integer positions, in that order).

    Same estimator, test, level, user weights and fixed tau² (``RMAResult.refit``), as
    metafor's refits in leave1out/influence/cumul.
    """
    with warnings.catch_warnings():
        # metafor wraps these refits in suppressWarnings()
        warnings.simplefilter("ignore")
        return res.refit(mask=np.asarray(idx, dtype=int))


def _user_weights(res: RMAResult) -> np.ndarray | None:
    """metafor's ``x$weights``: user weights (GENQ defaults to 1/vi), or None."""
    uw = getattr(res, "user_weights", None)
    if uw is None and res.method == "GENQ":
        uw = 1.0 / np.asarray(res.vi, dtype=float)
    return None if uw is None else np.asarray(uw, dtype=float)


def _summary_row(fit: RMAResult, ee: bool) -> list[float]:
    return [
        float(fit.estimate),
        float(fit.se),
        float(fit.stat),
        float(fit.pval),
        float(fit.ci_low),
        float(fit.ci_high),
        float(fit.q),
        float(fit.q_pval),
        # metafor drops tau2 from leave1out/cumul output of EE fits
        float("nan") if ee else float(fit.tau2),
        float(fit.i2),
        float(fit.h2),
    ]


def _stat_name(res: RMAResult) -> str:
    return "z" if res.test == "z" else "t"


def leave1out(res: RMAResult) -> pd.DataFrame:
    """Leave-one-out analysis: the model refitted with each study omitted in turn.

    As ``metafor::leave1out.rma.uni``: each refit uses the tau² estimator, test and
    level of ``res``.

    Parameters
    ----------
    res : RMAResult
        An intercept-only fit from :func:`bayesma.rma`.

    Returns
    -------
    DataFrame
        A row per omitted study (index = study label, name ``"study"``), columns
        ``estimate, se, stat, pval, ci_low, ci_high, q, q_pval, tau2, i2, h2`` (``stat``
        is z, or t for test "t"/"knha"; ``tau2`` is NaN for an EE fit, as metafor omits
        it; ``q``/``q_pval`` are the residual heterogeneity test of each refit).
        ``attrs`` holds ``method``, ``test``, ``stat`` ("z"/"t"), ``level``, ``df``
        (k - 2 for t tests) and ``kind = "leave1out"``. A refit that fails gives a row
        of NaN with a warning.

    Raises
    ------
    TooFewStudiesError
        For k = 1.
    BayesmaError
        For models with moderators (as metafor 3.8).
    """
    require_rma_result(res, "leave1out")
    if not intercept_only(res):
        raise BayesmaError("leave1out: only applicable to models without moderators")
    k = int(res.k)
    if k == 1:
        raise TooFewStudiesError("leave1out: stopped because k = 1")
    ee = is_ee(res.method)
    rows = []
    failed = []
    allidx = np.arange(k)
    for i in range(k):
        try:
            fit = _refit(res, allidx[allidx != i])
            rows.append(_summary_row(fit, ee))
        except BayesmaError:
            failed.append(res.labels[i])
            rows.append([float("nan")] * len(SUMMARY_COLUMNS))
    if failed:
        warnings.warn(
            f"leave1out: the refit failed without {', '.join(map(repr, failed[:5]))}; "
            "those rows are NaN",
            BayesmaWarning,
            stacklevel=2,
        )
    out = pd.DataFrame(
        rows, columns=SUMMARY_COLUMNS, index=pd.Index(list(res.labels), name="study")
    )
    out.attrs.update(
        kind="leave1out",
        method=res.method,
        test=res.test,
        stat=_stat_name(res),
        level=res.level,
        df=None if res.test == "z" else k - 2,
    )
    return out


def influence(res: RMAResult) -> pd.DataFrame:
    """Case-deletion influence diagnostics (metafor's ``influence.rma.uni``).

    For each study i the model is refitted without it (same estimator and test) and,
    following Viechtbauer & Cheung (2010):

    * ``rstudent``: externally studentized residual
      ``(y_i - x_i b_(-i)) / sqrt(s²_(-i) (v_i + tau²_(-i)) + x_i V_(-i) x_i')``;
    * ``dffits``: ``(x_i b - x_i b_(-i)) / sqrt(s²_(-i) h_i (tau²_(-i) + v_i))``;
    * ``cook_d``: ``(b - b_(-i))' V^-1 (b - b_(-i))`` (all coefficients, metafor);
    * ``cov_r``: ``det V_(-i) / det V``;
    * ``tau2_del``, ``qe_del``: tau² and QE without study i;
    * ``hat``: diagonal of ``X (X'WX)^-1 X'W``, ``W = diag(1/(v_i + tau²))``;
    * ``weight``: percent weight in the full model;
    * ``dfbs`` (intercept-only model) or ``dfbs_<term>`` (one per coefficient):
      ``(b - b_(-i)) / sqrt(s²_(-i) diag((X'W_(-i)X)^-1))`` with ``W_(-i)`` using
      ``tau²_(-i)`` on all k studies;
    * ``inf``: metafor's flag, True when any of ``|dffits| > 3 sqrt(p/(k-p))``,
      ``pchisq(cook_d, p) > 0.5``, ``hat > 3p/k`` or any ``|dfbs| > 1`` holds.

    ``s²`` is the Knapp-Hartung scale factor (1 unless test="knha").

    Parameters
    ----------
    res : RMAResult
        A fit from :func:`bayesma.rma` (meta-regressions allowed).

    Returns
    -------
    DataFrame
        Index = study label; columns ``rstudent, dffits, cook_d, cov_r, tau2_del,
        qe_del, hat, weight, dfbs..., inf``; ``attrs`` holds ``method``, ``test``,
        ``k``, ``p``, ``tau2``, ``qe`` and ``kind = "influence"``. A failed refit gives
        NaN entries (and ``inf`` False for that study unless another rule flags it).

    Raises
    ------
    TooFewStudiesError
        For k = 1.
    """
    require_rma_result(res, "influence")
    k = int(res.k)
    if k == 1:
        raise TooFewStudiesError("influence: stopped because k = 1")
    yi = np.asarray(res.yi, dtype=float)
    vi = np.asarray(res.vi, dtype=float)
    X = np.asarray(res.X, dtype=float)
    p = X.shape[1]
    beta = np.asarray(res.beta, dtype=float).reshape(-1)
    vb = np.asarray(res.vcov, dtype=float).reshape(p, p)
    terms = list(res.terms)

    pred_full = X @ beta
    svb = np.linalg.inv(vb)  # metafor: chol2inv(chol(vb[btt, btt])), btt = all coefficients
    det_vb = float(np.linalg.det(vb))

    # hat values: diag(X (X'WX)^-1 X'W), W = 1/(vi + tau2) or the user weights
    # (metafor hatvalues.rma.uni)
    uw = _user_weights(res)
    w = 1.0 / (vi + float(res.tau2)) if uw is None else uw
    xtwx_inv = np.linalg.inv(X.T @ (X * w[:, None]))
    H = (X @ xtwx_inv @ X.T) * w[None, :]
    hat = np.diag(H).copy()

    tau2_del = np.full(k, np.nan)
    qe_del = np.full(k, np.nan)
    delpred = np.full(k, np.nan)
    vdelpred = np.full(k, np.nan)
    s2w_del = np.full(k, np.nan)
    dffits = np.full(k, np.nan)
    dfbs = np.full((k, p), np.nan)
    cook_d = np.full(k, np.nan)
    cov_r = np.full(k, np.nan)

    allidx = np.arange(k)
    failed = []
    for i in range(k):
        try:
            fit = _refit(res, allidx[allidx != i])
        except BayesmaError:
            failed.append(res.labels[i])
            continue
        b_del = np.asarray(fit.beta, dtype=float).reshape(-1)
        vb_del_fit = np.asarray(fit.vcov, dtype=float).reshape(p, p)
        if not (np.all(np.isfinite(b_del)) and np.all(np.isfinite(vb_del_fit))):
            continue  # a coefficient became inestimable (metafor: res$coef.na)
        t2 = float(fit.tau2)
        s2w = float(fit.scale)
        tau2_del[i] = t2
        qe_del[i] = float(fit.q)
        xi = X[i]
        # deleted predicted value and its variance (metafor influence.rma.uni)
        delpred[i] = float(xi @ b_del)
        vdelpred[i] = float(xi @ vb_del_fit @ xi)
        s2w_del[i] = s2w
        # DFFITS (Belsley, Kuh & Welsch 1980; metafor influence.rma.uni's version)
        if uw is None:
            dffits[i] = (pred_full[i] - delpred[i]) / np.sqrt(s2w * hat[i] * (t2 + vi[i]))
            # vb of the full data with tau2_del plugged in, for DFBETAS
            wd = 1.0 / (vi + t2)
            vb_del = np.linalg.inv(X.T @ (X * wd[:, None]))
        else:
            # user weights: var of H y with tau2_del, and the sandwich vb (metafor)
            dffits[i] = (pred_full[i] - delpred[i]) / np.sqrt(
                s2w * float(np.sum(H[i] ** 2 * (t2 + vi)))
            )
            XtA = X.T * uw
            vb_del = xtwx_inv @ (XtA * (vi + t2)) @ XtA.T @ xtwx_inv
        dfb = beta - b_del
        dfbs[i] = dfb / np.sqrt(s2w * np.diag(vb_del))
        # Cook's distance (Cook 1977; metafor: crossprod(dfb, svb) %*% dfb)
        cook_d[i] = float(dfb @ svb @ dfb)
        # covariance ratio (Belsley, Kuh & Welsch 1980)
        cov_r[i] = float(np.linalg.det(vb_del_fit)) / det_vb

    if failed:
        warnings.warn(
            f"influence: the refit failed without {', '.join(map(repr, failed[:5]))}; "
            "their diagnostics are NaN",
            BayesmaWarning,
            stacklevel=2,
        )

    # studentized deleted residuals (metafor: matches a mean-shift outlier model)
    resid = yi - delpred
    resid[np.abs(resid) < 100 * np.finfo(float).eps] = 0.0
    seresid = np.sqrt(vi * s2w_del + vdelpred + tau2_del * s2w_del)
    rstudent = resid / seresid

    weight = np.asarray(res.weights, dtype=float)

    out = pd.DataFrame(
        {
            "rstudent": rstudent,
            "dffits": dffits,
            "cook_d": cook_d,
            "cov_r": cov_r,
            "tau2_del": tau2_del,
            "qe_del": qe_del,
            "hat": hat,
            "weight": weight,
        },
        index=pd.Index(list(res.labels), name="study"),
    )
    if p == 1:
        out["dfbs"] = dfbs[:, 0]
    else:
        for j, term in enumerate(terms):
            out[f"dfbs_{term}"] = dfbs[:, j]

    # metafor's rule for "influential" studies (influence.rma.uni; NaN never flags)
    with np.errstate(divide="ignore", invalid="ignore"):
        cut_dffits = 3 * np.sqrt(p / (k - p)) if k > p else np.inf
        is_infl = (
            (np.abs(dffits) > cut_dffits)
            | (stats.chi2.cdf(cook_d, df=p) > 0.5)
            | (hat > 3 * p / k)
            | np.any(np.abs(dfbs) > 1, axis=1)
        )
    out["inf"] = np.asarray(is_infl, dtype=bool)
    out.attrs.update(
        kind="influence",
        method=res.method,
        test=res.test,
        k=k,
        p=p,
        tau2=float(res.tau2),
        qe=float(res.q),
    )
    return out


def _order_values(res: RMAResult, order: str | Sequence[Any] | np.ndarray | pd.Series | None):
    k = int(res.k)
    if order is None:
        return np.arange(1, k + 1), None
    data = getattr(res, "data", None)
    if isinstance(order, str):
        if not isinstance(data, pd.DataFrame):
            raise DataError(
                f"cumul: order={order!r} names a column, but the fit carries no data; pass "
                "the values as an array",
                column=order,
            )
        require_columns(data, [order], what="cumulative order")
        values = data[order]
        name = order
    else:
        values = pd.Series(np.asarray(order)) if not isinstance(order, pd.Series) else order
        if len(values) != k:
            raise DataError(
                f"cumul: the order values must have one entry per study in the fit "
                f"(k = {k}), got {len(values)}",
                column="order",
            )
        name = getattr(order, "name", None)
        if isinstance(data, pd.DataFrame) and len(data) == k:
            values = pd.Series(np.asarray(values), index=data.index)
    missing = pd.isna(values).to_numpy()
    if missing.any():
        bad = list(values.index[missing])
        where = (
            describe_rows(data, bad)
            if isinstance(data, pd.DataFrame)
            else ", ".join(f"position {j}" for j in np.flatnonzero(missing)[:5])
        )
        raise DataError(
            f"cumul: the order variable {name or ''!s} has missing values at {where}; "
            "fill them or drop those studies before the analysis",
            column=name if isinstance(name, str) else None,
            rows=bad,
        )
    return values.to_numpy(), name


def cumul(
    res: RMAResult,
    order: str | Sequence[Any] | np.ndarray | pd.Series | None = "year",
    *,
    decreasing: bool = False,
) -> pd.DataFrame:
    """Cumulative meta-analysis: the model refitted as studies are added in order.

    As ``metafor::cumul.rma.uni`` (3.8): the studies are sorted by ``order`` (a stable
    sort, so ties keep their row order), and the i-th row is the fit to the first i
    studies, with the tau² estimator, test and level of ``res``.

    Parameters
    ----------
    res : RMAResult
        An intercept-only fit from :func:`bayesma.rma`.
    order : str, array-like or None
        A column of ``res.data`` (default ``"year"``), or values with one entry per
        study of the fit; ``None`` keeps the row order.
    decreasing : bool
        Sort in decreasing order (ties still keep row order).

    Returns
    -------
    DataFrame
        Index = label of the study added at that step (name ``"study"``); columns
        ``row`` (1-based position of the study in the fit's rows), ``order_value``,
        ``k`` (studies included), then ``estimate, se, stat, pval, ci_low, ci_high, q,
        q_pval, tau2, i2, h2`` as in :func:`leave1out` (``tau2`` NaN for EE fits).
        ``attrs`` holds ``method``, ``test``, ``stat``, ``level``, ``order_by`` and
        ``kind = "cumul"``.

    Raises
    ------
    BayesmaError
        For models with moderators (as metafor 3.8).
    DataError
        When the order column is missing or has missing values (metafor would drop
        those studies silently).
    """
    require_rma_result(res, "cumul")
    if not intercept_only(res):
        raise BayesmaError("cumul: only applicable to models without moderators")
    values, name = _order_values(res, order)
    k = int(res.k)
    if decreasing:
        # stable sort in decreasing order, ties in row order (R order(decreasing=TRUE))
        # Python's sorted(reverse=True) keeps ties in row order, as R's radix order()
        perm = np.asarray(sorted(range(k), key=lambda j: values[j], reverse=True), dtype=int)
    else:
        perm = np.asarray(sorted(range(k), key=lambda j: values[j]), dtype=int)
    ee = is_ee(res.method)
    rows = []
    failed = []
    for i in range(1, k + 1):
        idx = perm[:i]
        try:
            fit = _refit(res, idx)
            rows.append([int(fit.k), *_summary_row(fit, ee)])
        except BayesmaError:
            failed.append(res.labels[perm[i - 1]])
            rows.append([i, *([float("nan")] * len(SUMMARY_COLUMNS))])
    if failed:
        warnings.warn(
            f"cumul: the refit failed after adding {', '.join(map(repr, failed[:5]))}; "
            "those rows are NaN",
            BayesmaWarning,
            stacklevel=2,
        )
    out = pd.DataFrame(
        rows,
        columns=["k", *SUMMARY_COLUMNS],
        index=pd.Index([res.labels[j] for j in perm], name="study"),
    )
    out.insert(0, "order_value", values[perm])
    out.insert(0, "row", perm + 1)
    out.attrs.update(
        kind="cumul",
        method=res.method,
        test=res.test,
        stat=_stat_name(res),
        level=res.level,
        order_by=name,
        decreasing=decreasing,
    )
    return out

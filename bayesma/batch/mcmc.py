"""``batch_fit``: one MCMC model fitted to many meta-analyses, reusing its compiled form.

For models without an exact engine (e.g. ``RobustRandomEffects``: a Student-t random
effects distribution) each group is fitted by NUTS. The models keep compiled samplers in
a process-wide cache keyed by the model's structure (:mod:`bayesma.bayes.sampling`), so
each worker process compiles once and re-feeds new data. Every group gets its own seed,
drawn from ``seed`` for the whole batch (:func:`bayesma.parallel.chunk_seeds`), so the
draws do not depend on the chunking or the backend.
"""

from __future__ import annotations

import math
import warnings
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from bayesma.batch.inputs import BatchData, as_batch, chunk_count
from bayesma.bayes.models.from_spec import MODEL_CLASSES
from bayesma.classical.settings import parse_level
from bayesma.errors import BayesmaError
from bayesma.parallel import chunk_seeds, run_chunks

__all__ = ["FIT_COLUMNS", "batch_fit", "fit_chunk"]

#: result columns of :func:`batch_fit` (plus ``note``)
FIT_COLUMNS = ("k", "mu_mean", "mu_sd", "mu_median", "mu_low", "mu_high", "tau_mean",
               "tau_median", "tau_low", "tau_high", "r_hat_max", "ess_bulk_min",
               "divergences")


def fit_chunk(batch: BatchData, *, seeds: list[int], model: str, model_kwargs: dict,
              draws: int, tune: int, chains: int, level: float,
              sampler: str) -> pd.DataFrame:
    """The result table of :func:`batch_fit` for one chunk (runs in a worker)."""
    cls = MODEL_CLASSES[model]  # imports the class's module on first use
    a = (1.0 - level) / 2.0
    rows: list[dict[str, Any]] = []
    for r in range(batch.n_groups):
        y, v = batch.group(r)
        row: dict[str, Any] = {"k": int(y.size), "note": ""}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = cls(pd.DataFrame({"yi": y, "vi": v}), **model_kwargs).fit(
                    draws=draws, tune=tune, chains=chains, cores=1, sampler=sampler,
                    random_seed=int(seeds[r]), progressbar=False, prior_predictive=False,
                    posterior_predictive=False, log_likelihood=False)
            for par in ("mu", "tau"):
                row[f"{par}_mean"] = float(fit.mean(par))
                qs = np.asarray(fit.quantile(par, [a, 0.5, 1 - a]), dtype=float).ravel()
                row[f"{par}_low"], row[f"{par}_median"], row[f"{par}_high"] = qs
            row["mu_sd"] = float(fit.sd("mu"))
            diag = fit.diagnostics()
            row["r_hat_max"] = float(diag["r_hat"].max())
            row["ess_bulk_min"] = float(diag["ess_bulk"].min())
            row["divergences"] = int(diag.attrs.get("divergences", 0))
        except BayesmaError as exc:
            row["note"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
    df = pd.DataFrame(rows, index=batch.ids)
    for c in FIT_COLUMNS:
        if c not in df:
            df[c] = math.nan
    return df[[*FIT_COLUMNS, "note"]]


def batch_fit(long, by: str | None = None, yi: str = "yi", vi: str = "vi", *,
              sei: str | None = None, model: str = "RobustRandomEffects",
              model_kwargs: dict | None = None, draws: int = 1000, tune: int = 1000,
              chains: int = 2, sampler: str = "nutpie", seed: int = 0,
              level: float = 0.95, backend: str | None = None, client=None,
              chunk_size: int | None = None, progress: bool | None = None) -> pd.DataFrame:
    """Fit one Bayesian model by MCMC to every meta-analysis of a batch.

    Parameters
    ----------
    long : DataFrame or BatchData
        A long table (``by`` names the meta-analysis) or a
        :class:`~bayesma.batch.inputs.BatchData`.
    by, yi, vi, sei : str
        Columns, as in :func:`bayesma.batch.batch_rma`.
    model : str
        Model class: ``"RobustRandomEffects"``, ``"RandomEffects"`` or ``"CommonEffect"``.
    model_kwargs : dict, optional
        Keywords of the model (priors, ``parameterization``, ...).
    draws, tune, chains : int
        Per group; chains run one after another inside a worker.
    sampler : str
        NUTS implementation (``"nutpie"`` reuses the compiled model).
    seed : int
        Seed of the batch; group i uses the i-th of :func:`bayesma.parallel.chunk_seeds`.
    level : float
        Probability of the equal-tailed intervals: a number, 0.95 or 95 (as
        :func:`bayesma.classical.settings.parse_level`; a string raises).
    backend, client, chunk_size, progress
        Scale-out settings as in :func:`bayesma.batch.batch_rma` (default chunk: 100
        meta-analyses).

    Returns
    -------
    DataFrame
        Indexed by group id: ``k, mu_mean, mu_sd, mu_median, mu_low, mu_high, tau_mean,
        tau_median, tau_low, tau_high, r_hat_max, ess_bulk_min, divergences, note``.
    """
    allowed = ("RobustRandomEffects", "RandomEffects", "CommonEffect")
    if model not in allowed:
        raise BayesmaError(f"batch_fit: model must be one of {', '.join(allowed)}, got "
                           f"{model!r}")
    level = parse_level(level)
    size = chunk_count(chunk_size, 100)
    batch = as_batch(long, by=by, yi=yi, vi=vi, sei=sei)
    seeds = chunk_seeds(seed, batch.n_groups)
    chunks = batch.chunks(size)
    starts = np.cumsum([0] + [c.n_groups for c in chunks])
    funcs = [partial(fit_chunk, seeds=seeds[s:s + c.n_groups], model=model,
                     model_kwargs=dict(model_kwargs or {}), draws=draws, tune=tune,
                     chains=chains, level=level, sampler=sampler)
             for s, c in zip(starts, chunks, strict=False)]
    parts = run_chunks(_call, list(zip(funcs, chunks, strict=True)), backend=backend,
                       client=client, progress=progress, desc="batch_fit")
    return pd.concat(parts) if len(parts) > 1 else parts[0]


def _call(job):
    func, chunk = job
    return func(chunk)

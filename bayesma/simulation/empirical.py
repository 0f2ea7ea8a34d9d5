"""Empirical tau priors: a predictive distribution of log tau² fitted to a corpus of meta-analyses.

:func:`empirical_prior` follows the construction of Turner et al. (2015, Stat Med
34:984) and Rhodes et al. (2015, J Clin Epidemiol 68:52): across meta-analyses j,
log tau²_j ~ N(m, s²) (m may depend on a categorical covariate such as the outcome
type). Each meta-analysis enters through its restricted likelihood of tau², the
likelihood with mu integrated out under a flat prior (Harville 1977; metafor's REML
criterion), evaluated on a shared grid of log tau²; m and s maximise the marginal
likelihood of the corpus (empirical Bayes). The result is a
:class:`~bayesma.priors.LogNormalTau2` usable wherever a tau prior is.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from bayesma.batch import BatchData, batch_from_long
from bayesma.errors import BayesmaWarning, DataError
from bayesma.priors import LogNormalTau2

__all__ = ["EmpiricalPriorFit", "empirical_prior", "empirical_prior_fit", "marginal_log_lik",
           "restricted_log_lik"]

#: grid of log tau²: points, and span below / above log(median vi)
GRID_POINTS = 801
GRID_BELOW, GRID_ABOVE = 16.0, 8.0
#: smallest s of log tau² the grid resolves (grid step ~0.03)
MIN_SIGMA = 0.1


def restricted_log_lik(batch: BatchData, tau2: np.ndarray) -> np.ndarray:
    """Restricted log likelihood of tau² for every group: an R x G array.

    log L_R(tau²) = -1/2 [sum log(v_i + tau²) + log sum w_i + sum w_i (y_i - ŷ)²]
    with w_i = 1 / (v_i + tau²) and ŷ the weighted mean (Harville 1977; Viechtbauer
    2005, J Educ Behav Stat 30:261, eq. 11), dropping constants.
    """
    t = np.asarray(tau2, dtype=float)[None, :, None]
    M = batch.mask[:, None, :]
    w = np.where(M, 1.0 / (batch.v[:, None, :] + t), 0.0)
    sw = w.sum(axis=2)
    yhat = (w * batch.y[:, None, :]).sum(axis=2) / sw
    q = (w * (batch.y[:, None, :] - yhat[:, :, None]) ** 2).sum(axis=2)
    logv = np.where(M, np.log(np.where(M, batch.v[:, None, :] + t, 1.0)), 0.0).sum(axis=2)
    return -0.5 * (logv + np.log(sw) + q)


@dataclass(frozen=True)
class EmpiricalPriorFit:
    """Fitted predictive distribution log tau² ~ N(m, s²) of a corpus.

    Attributes
    ----------
    priors : dict
        One :class:`~bayesma.priors.LogNormalTau2` per covariate level (key ``"all"``
        without covariates).
    m : Series
        Mean of log tau² per level.
    s : float
        Standard deviation of log tau² (shared by the levels).
    log_lik : float
        Maximised log marginal likelihood (up to a constant).
    n_groups : Series
        Meta-analyses per level.
    converged : bool
        Whether the optimiser reported success.
    """

    priors: dict
    m: pd.Series
    s: float
    log_lik: float
    n_groups: pd.Series
    converged: bool


def _levels(long: pd.DataFrame, by: str, ids: pd.Index,
            covariates: str | Sequence[str] | None) -> pd.Series:
    """Covariate level of each meta-analysis (constant within a meta-analysis)."""
    if covariates is None:
        return pd.Series("all", index=ids)
    cols = [covariates] if isinstance(covariates, str) else list(covariates)
    missing = [c for c in cols if c not in long.columns]
    if missing:
        raise DataError(f"covariate columns {missing} are not in the table", column=missing[0])
    lab = long[cols].astype(str).agg(" / ".join, axis=1)
    bad_na = long[cols].isna().any(axis=1).to_numpy()
    if bad_na.any():
        rows = list(long.index[bad_na])
        raise DataError(f"covariates {cols} are missing in rows {rows[:5]}", column=cols[0],
                        rows=rows)
    per = lab.groupby(long[by].to_numpy(), sort=False).nunique()
    mixed = per.index[per.to_numpy() > 1]
    if len(mixed):
        raise DataError(f"covariates {cols} must be constant within a meta-analysis; "
                        f"they vary in {list(mixed[:5])}", column=cols[0])
    first = lab.groupby(long[by].to_numpy(), sort=False).first()
    return first.reindex(ids)


class _Corpus:
    """Restricted likelihoods of every group on the shared grid of log tau²."""

    def __init__(self, batch: BatchData, codes: np.ndarray, n_levels: int) -> None:
        center = float(np.log(np.median(batch.v[batch.mask])))
        self.u = np.linspace(center - GRID_BELOW, center + GRID_ABOVE, GRID_POINTS)
        ll = restricted_log_lik(batch, np.exp(self.u))
        self.a = ll.max(axis=1)
        self.E = np.exp(ll - self.a[:, None])  # likelihood relative to its maximum
        self.trap = np.full(GRID_POINTS, self.u[1] - self.u[0])
        self.trap[[0, -1]] /= 2.0
        self.members = [np.flatnonzero(codes == c) for c in range(n_levels)]
        self.center = center

    def log_lik(self, m: np.ndarray, s: float) -> float:
        """Sum over groups of log of the integral of L_j(tau²) N(log tau²; m, s²)."""
        u, E = self.u, self.E
        total = float(self.a.sum())
        for c, idx in enumerate(self.members):
            w = np.exp(-0.5 * ((u - m[c]) / s) ** 2) / (s * np.sqrt(2 * np.pi)) * self.trap
            # beyond the grid: L_j ~ its value at the edge (flat towards tau² = 0,
            # negligible above)
            dens = (E[idx] @ w + E[idx, 0] * ndtr((u[0] - m[c]) / s)
                    + E[idx, -1] * ndtr((m[c] - u[-1]) / s))
            total += float(np.log(np.maximum(dens, 1e-300)).sum())
        return total


def marginal_log_lik(long: pd.DataFrame, by: str, yi: str = "yi", vi: str = "vi", *,
                     m: float, s: float) -> float:
    """Log marginal likelihood of a corpus under log tau² ~ N(m, s²) (up to a constant).

    The sum over meta-analyses of log ∫ L_R,j(tau²) N(log tau²; m, s²) d log tau², with
    L_R the restricted likelihood of :func:`restricted_log_lik` (trapezoid rule on the
    grid of :func:`empirical_prior`): the criterion :func:`empirical_prior` maximises.
    """
    batch = batch_from_long(long, by=by, yi=yi, vi=vi)
    return _Corpus(batch, np.zeros(len(batch.ids), dtype=int), 1).log_lik(
        np.array([float(m)]), float(s))


def empirical_prior_fit(long: pd.DataFrame, by: str, yi: str = "yi", vi: str = "vi", *,
                        covariates: str | Sequence[str] | None = None) -> EmpiricalPriorFit:
    """Fit log tau² ~ N(m_level, s²) across meta-analyses; see :func:`empirical_prior`."""
    from scipy.optimize import minimize

    batch = batch_from_long(long, by=by, yi=yi, vi=vi)
    if int(np.count_nonzero(batch.k >= 2)) < 3:
        raise DataError("empirical_prior needs at least 3 meta-analyses with 2 or more "
                        "studies (a meta-analysis of one study says nothing about tau)",
                        column=by)
    levels = _levels(long, by, batch.ids, covariates)
    codes, names = pd.factorize(levels, sort=True)
    corpus = _Corpus(batch, codes, len(names))

    def nll(par: np.ndarray) -> float:
        return -corpus.log_lik(par[:-1], MIN_SIGMA + float(np.exp(par[-1])))

    start = np.r_[np.full(len(names), corpus.center - 2.0), 0.0]
    opt = minimize(nll, start, method="Nelder-Mead",
                   options={"xatol": 1e-7, "fatol": 1e-10, "maxiter": 20000 * len(start)})
    if not opt.success:  # a prior we cannot defend is said, not returned silently
        warnings.warn(f"empirical prior: the maximisation did not converge ({opt.message}); "
                      "m and s may not be the maximum-likelihood values (check the corpus: "
                      "enough meta-analyses with k >= 2?)", BayesmaWarning, stacklevel=3)
    m_hat = pd.Series(opt.x[:-1], index=list(names), name="m")
    s_hat = float(MIN_SIGMA + np.exp(opt.x[-1]))
    counts = pd.Series(np.bincount(codes, minlength=len(names)), index=list(names),
                       name="n_groups")
    src = (f"empirical prior: log tau² ~ N(m, s²) fitted to {len(batch.ids)} meta-analyses "
           "by maximum marginal likelihood (Turner et al. 2015; Rhodes et al. 2015)")
    priors = {str(lv): LogNormalTau2(float(m_hat[lv]), s_hat,
                                     source=src + ("" if covariates is None else f"; {lv}"))
              for lv in names}
    return EmpiricalPriorFit(priors, m_hat, s_hat, -float(opt.fun), counts,
                             bool(opt.success))


def empirical_prior(long: pd.DataFrame, by: str, yi: str = "yi", vi: str = "vi", *,
                    covariates: str | Sequence[str] | None = None
                    ) -> LogNormalTau2 | dict[str, LogNormalTau2]:
    """A tau prior fitted to a corpus of meta-analyses: log tau² ~ N(m, s²).

    Parameters
    ----------
    long : DataFrame
        One row per study of every meta-analysis in the corpus.
    by : str
        Column naming the meta-analysis.
    yi, vi : str
        Columns of effect sizes and sampling variances (all on one measure's scale,
        e.g. log odds ratios).
    covariates : str or sequence of str, optional
        Categorical column(s) constant within a meta-analysis (e.g. the outcome type):
        each level gets its own m, the levels share s (as Turner et al. 2015 model the
        outcome type).

    Returns
    -------
    LogNormalTau2 or dict
        The predictive distribution of tau² for a new meta-analysis, as a prior; with
        ``covariates`` a dict by level ("a / b" for several columns). Use
        :func:`empirical_prior_fit` for m, s and the maximised likelihood.

    Notes
    -----
    Meta-analyses of one study have a flat restricted likelihood and do not inform the
    fit. The grid spans log(median vi) - 16 to + 8 (801 points) and s is at least 0.1.
    """
    fit = empirical_prior_fit(long, by, yi, vi, covariates=covariates)
    return fit.priors["all"] if covariates is None else dict(fit.priors)

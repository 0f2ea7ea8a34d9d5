"""What a forest plot shows, read from finished results (never fitted here).

:func:`read_result` turns a result into a :class:`ForestInput`: the study arrays, the
observed and posterior study estimates, the pooled rows (classical fit, posterior of mu,
tau and a new study's effect) overall and per subgroup, and the subgroup test. Every
number comes from the result objects passed in:

* :class:`~bayesma.classical.rma.RMAResult`: a classical forest plot;
* a :class:`~bayesma.bayes.protocol.Posterior` (exact or MCMC): its classical twin
  (``post.classical``) beside it;
* :class:`~bayesma.classical.subgroup.SubgroupResult`: its per-level fits
  (``.fits``), overall fit and Q-between;
* :class:`~bayesma.bayes.subgroups.ExactSubgroups` (``bm.exact_subgroups``): its per-level
  exact posteriors, the overall posterior and the classical subgroup analysis;
* a :class:`~bayesma.bayes.fit.BayesFit` of :class:`~bayesma.bayes.models.Subgroups`:
  its per-level draws (``mu[<level>]``, ``theta_new[<level>]``, ``tau``), with the
  classical rows of a :class:`SubgroupResult` passed as ``classical``.

A result that lacks what the plot needs raises a :class:`~bayesma.errors.BayesmaError`
naming the result to pass instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayesma.bayes.exact import ExactPosterior
from bayesma.bayes.fit import BayesFit
from bayesma.bayes.models.subgroups import Subgroups
from bayesma.bayes.protocol import Posterior
from bayesma.bayes.subgroups import ExactSubgroups
from bayesma.classical.rma import RMAResult
from bayesma.classical.subgroup import SubgroupResult
from bayesma.errors import BayesmaError, DataError
from bayesma.plots import _style as st

__all__ = ["ForestInput", "Pooled", "Section", "read_result", "SUBGROUP_HINT"]

#: (estimate, low, high) on the model scale
Interval = tuple[float, float, float]

SUBGROUP_HINT = ("pass a subgroup result instead: bm.subgroup(...) (classical), "
                 "bm.exact_subgroups(...) (exact engine) or a Subgroups fit (MCMC)")


@dataclass
class Pooled:
    """The pooled rows of the whole analysis or of one subgroup.

    ``classical`` is the classical fit; ``mu``, ``tau`` and ``pred`` (a new study's
    effect, theta_new) the Bayesian posterior summaries; ``weight`` the percent weight of
    the section (100 overall).
    """

    classical: RMAResult | None = None
    mu: Interval | None = None
    tau: Interval | None = None
    pred: Interval | None = None
    weight: float | None = None


@dataclass
class Section:
    """A subgroup: its name, the positions of its studies and its pooled rows."""

    name: str
    idx: np.ndarray
    pooled: Pooled


@dataclass
class ForestInput:
    """Everything a forest plot draws (model scale).

    Attributes
    ----------
    labels, yi, vi : study labels and arrays, in the order of ``data``
    data : DataFrame or None
        The study table (rows used, same order) for arm columns and sorting.
    measure : str or None
    theta : (est, low, high) arrays or None
        Posterior study estimates (Bayesian results only).
    weights : ndarray
        Percent weights of the studies in the overall classical model (inverse variance
        when there is none).
    weight_method : str
        What the weights are (``"REML"``, ``"DL"``, ``"EE"``, ``"inverse variance"``).
    overall : Pooled
    sections : list of Section or None
    subgroup_test : (Q, df, p) or None
        Test for subgroup differences (classical Q-between).
    priors : dict
        Bayesian priors (empty for classical results).
    engine : str or None
        ``"exact posterior"`` or ``"MCMC"`` for Bayesian results.
    """

    labels: list[str]
    yi: np.ndarray
    vi: np.ndarray
    data: pd.DataFrame | None
    measure: str | None
    theta: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    weights: np.ndarray
    weight_method: str
    overall: Pooled
    sections: list[Section] | None = None
    subgroup_test: tuple[float, Any, float] | None = None
    priors: dict[str, Any] | None = None
    engine: str | None = None

    @property
    def k(self) -> int:
        """Number of studies."""
        return len(self.yi)

    @property
    def bayesian(self) -> bool:
        """True when the input carries posterior summaries."""
        return self.theta is not None


# ------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------


def _at_level(res: RMAResult | None, prob: float) -> RMAResult | None:
    """The classical fit with intervals at ``prob`` (its own method and test)."""
    if res is None or abs(res.level - prob) <= 1e-12:
        return res
    return res.refit(level=prob)


def _scalar(post: Any, param: str, prob: float, point: str) -> Interval:
    est, lo, hi = st.post_summary(post, param, prob, point)
    return float(est[0]), float(lo[0]), float(hi[0])


def _bayes_pooled(post: Any, prob: float, point: str, classical: RMAResult | None,
                  weight: float | None) -> Pooled:
    return Pooled(classical=classical, mu=_scalar(post, "mu", prob, point),
                  tau=_scalar(post, "tau", prob, point),
                  pred=_scalar(post, "theta_new", prob, point), weight=weight)


def _engine(post: Any) -> str:
    return "exact posterior" if isinstance(post, ExactPosterior) else "MCMC"


def _weights(cres: RMAResult | None, vi: np.ndarray) -> tuple[np.ndarray, str]:
    if cres is not None:
        return np.asarray(cres.weights, dtype=float), cres.method
    w = 1.0 / vi
    return 100.0 * w / w.sum(), "inverse variance"


def _check_data(data: Any, k: int) -> pd.DataFrame | None:
    if data is None:
        return None
    if not isinstance(data, pd.DataFrame):
        raise DataError("data must be a pandas DataFrame with one row per study")
    if len(data) != k:
        raise DataError(
            f"data has {len(data)} rows but the result has {k} studies; pass the rows used "
            "in the analysis, in the same order")
    return data


def _intercept_only(p: int) -> None:
    if p > 1:
        raise BayesmaError("forest_plot draws intercept-only models; for a meta-regression "
                           "use bm.regression_plot")


def study_arrays(post: Any, twin: RMAResult | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """yi, vi and labels of a Bayesian result: from its classical twin (same rows)."""
    if twin is not None:
        return (np.asarray(twin.yi, float), np.asarray(twin.vi, float),
                [str(s) for s in twin.labels])
    if isinstance(post, ExactPosterior):
        return (np.asarray(post.yi, float), np.asarray(post.vi, float),
                [str(s) for s in post.labels])
    raise BayesmaError("this result carries no classical twin with its study data; pass "
                       "classical=bm.rma(...) fitted on the same rows")


# ------------------------------------------------------------------------------------
# one reader per result type
# ------------------------------------------------------------------------------------


def _from_rma(res: RMAResult, prob: float, data: Any) -> ForestInput:
    if not res.int_only:
        _intercept_only(2)
    cres = _at_level(res, prob)
    yi, vi = np.asarray(res.yi, float), np.asarray(res.vi, float)
    w, wm = _weights(cres, vi)
    return ForestInput(labels=[str(s) for s in res.labels], yi=yi, vi=vi,
                       data=_check_data(res.data if data is None else data, res.k),
                       measure=st.result_measure(res), theta=None, weights=w,
                       weight_method=wm, overall=Pooled(classical=cres, weight=100.0))


def _from_posterior(post: Any, classical: Any, prob: float, point: str, data: Any
                    ) -> ForestInput:
    own = post.classical
    if (own is not None and not own.int_only) or (
            isinstance(post, ExactPosterior) and post.p > 1):
        _intercept_only(2)
    if classical is False:
        twin = None
    elif classical is None or classical is True:
        twin = post.classical
    elif isinstance(classical, RMAResult):
        twin = classical
    else:
        raise BayesmaError("classical must be an RMAResult (from bm.rma), None or False")
    yi, vi, labels = study_arrays(post, own if twin is None else twin)
    cres = _at_level(twin, prob)
    w, wm = _weights(cres, vi)
    theta = st.post_summary(post, "theta", prob, point)
    return ForestInput(labels=labels, yi=yi, vi=vi,
                       data=_check_data(post.data if data is None else data, len(yi)),
                       measure=st.result_measure(post), theta=theta, weights=w,
                       weight_method=wm, overall=_bayes_pooled(post, prob, point, cres, 100.0),
                       priors=dict(post.priors or {}), engine=_engine(post))


def _concat(fits: list[Any], attr: str) -> np.ndarray:
    return np.concatenate([np.asarray(getattr(f, attr), float) for f in fits])


def _sections(ks: list[int]) -> list[np.ndarray]:
    out, start = [], 0
    for k in ks:
        out.append(np.arange(start, start + k))
        start += k
    return out


def _from_subgroups(sub: SubgroupResult, prob: float, data: Any) -> ForestInput:
    fits = [sub.fits[lev] for lev in sub.fits]
    overall = _overall_classical(sub)
    yi, vi = _concat(fits, "yi"), _concat(fits, "vi")
    labels = [str(s) for f in fits for s in f.labels]
    frames = [f.data for f in fits]
    d = pd.concat(frames) if all(isinstance(x, pd.DataFrame) for x in frames) else None
    by_label = dict(zip(overall.labels, np.asarray(overall.weights, float), strict=True))
    w = np.array([by_label[lab] for lab in labels])
    names = [str(lev) for lev in sub.fits]
    sections = []
    for name, lev, idx in zip(names, sub.fits, _sections([f.k for f in fits]),
                              strict=True):
        sections.append(Section(name, idx, Pooled(classical=_at_level(sub.fits[lev], prob),
                                                  weight=float(w[idx].sum()))))
    return ForestInput(labels=labels, yi=yi, vi=vi,
                       data=_check_data(d if data is None else data, len(yi)),
                       measure=next((f.measure for f in fits if f.measure), None), theta=None,
                       weights=w, weight_method=overall.method,
                       overall=Pooled(classical=_at_level(overall, prob), weight=100.0),
                       sections=sections, subgroup_test=(sub.qb, sub.qb_df, sub.qb_pval))


def _overall_classical(sub: SubgroupResult) -> RMAResult:
    """The intercept-only fit of all studies that the subgroup result carries."""
    overall = sub.overall
    if overall is None:
        raise BayesmaError("this SubgroupResult carries no overall fit (.overall); rebuild "
                           "it with bm.subgroup(...)")
    return overall


def _from_exact_subgroups(es: ExactSubgroups, classical: Any, prob: float, point: str,
                          data: Any) -> ForestInput:
    fits = [es.fits[lev] for lev in es.levels]
    yi, vi = _concat(fits, "yi"), _concat(fits, "vi")
    labels = [str(s) for f in fits for s in f.labels]
    parts = [st.post_summary(f, "theta", prob, point) for f in fits]
    theta = tuple(np.concatenate([p[j] for p in parts]) for j in range(3))
    sub = es.classical
    use_cl = classical is not False
    if isinstance(classical, RMAResult):
        overall_c = classical
    else:
        overall_c = es.overall.classical if use_cl else None
    overall_c = _at_level(overall_c, prob)
    if overall_c is not None:
        by_label = dict(zip([str(s) for s in overall_c.labels],
                            np.asarray(overall_c.weights, float), strict=True))
        w, wm = np.array([by_label[lab] for lab in labels]), overall_c.method
    else:
        w, wm = _weights(None, vi)
    sections = []
    for lev, f, idx in zip(es.levels, fits, _sections([len(f.labels) for f in fits]),
                           strict=True):
        cl = _at_level(_level_fit(sub, lev), prob) if use_cl else None
        sections.append(Section(lev, idx, _bayes_pooled(f, prob, point, cl,
                                                        float(w[idx].sum()))))
    frames = [f.data for f in fits]
    d = pd.concat(frames) if all(isinstance(x, pd.DataFrame) for x in frames) else None
    return ForestInput(labels=labels, yi=yi, vi=vi,
                       data=_check_data(d if data is None else data, len(yi)),
                       measure=es.measure, theta=theta, weights=w, weight_method=wm,
                       overall=_bayes_pooled(es.overall, prob, point, overall_c, 100.0),
                       sections=sections,
                       subgroup_test=(sub.qb, sub.qb_df, sub.qb_pval) if use_cl else None,
                       priors=dict(es.priors), engine="exact posterior")


def _from_mcmc_subgroups(fit: BayesFit, classical: Any, prob: float, point: str,
                         data: Any) -> ForestInput:
    """A Subgroups fit: per-level ``mu[<level>]``, ``tau`` (or ``tau[<level>]``) and
    ``theta_new[<level>]`` from its draws; classical rows only from a SubgroupResult
    passed as ``classical`` (the fit has no overall model)."""
    m: Subgroups = fit.model
    if classical is not None and classical is not False and not isinstance(
            classical, SubgroupResult):
        raise BayesmaError("with a Subgroups fit, classical must be a SubgroupResult "
                           "(bm.subgroup(...)), None or False")
    sub = classical if isinstance(classical, SubgroupResult) else None
    yi, vi = np.asarray(m.yi, float), np.asarray(m.vi, float)
    labels = [str(s) for s in fit.labels]
    overall_c = _at_level(sub.overall, prob) if sub is not None else None
    if overall_c is not None:
        by_label = dict(zip([str(s) for s in overall_c.labels],
                            np.asarray(overall_c.weights, float), strict=True))
        w, wm = np.array([by_label[lab] for lab in labels]), overall_c.method
    else:
        w, wm = _weights(None, vi)
    group = np.asarray(m.group)
    sections = []
    for j, lev in enumerate(m.levels):
        idx = np.flatnonzero(group == j)
        tau = f"tau[{lev}]" if m.tau_mode == "per_level" else "tau"
        sections.append(Section(lev, idx, Pooled(
            classical=_at_level(_level_fit(sub, lev), prob) if sub is not None else None,
            mu=_scalar(fit, f"mu[{lev}]", prob, point), tau=_scalar(fit, tau, prob, point),
            pred=_scalar(fit, f"theta_new[{lev}]", prob, point),
            weight=float(w[idx].sum()))))
    return ForestInput(labels=labels, yi=yi, vi=vi,
                       data=_check_data(fit.data if data is None else data, len(yi)),
                       measure=fit.measure, theta=st.post_summary(fit, "theta", prob, point),
                       weights=w, weight_method=wm,
                       overall=Pooled(classical=overall_c, weight=100.0), sections=sections,
                       subgroup_test=(sub.qb, sub.qb_df, sub.qb_pval) if sub else None,
                       priors=dict(fit.priors or {}), engine="MCMC")


def _level_fit(sub: SubgroupResult, name: str) -> RMAResult:
    for k, f in sub.fits.items():
        if str(k) == name:
            return f
    raise BayesmaError(f"the classical subgroup result has no level {name!r}")


def read_result(result: Any, *, classical: Any, prob: float, point: str, data: Any
                ) -> ForestInput:
    """The :class:`ForestInput` of a result (see the module documentation)."""
    if isinstance(result, ExactSubgroups):
        return _from_exact_subgroups(result, classical, prob, point, data)
    if isinstance(result, SubgroupResult):
        return _from_subgroups(result, prob, data)
    if isinstance(result, RMAResult):
        return _from_rma(result, prob, data)
    if isinstance(result, BayesFit) and isinstance(result.model, Subgroups):
        return _from_mcmc_subgroups(result, classical, prob, point, data)
    if isinstance(result, Posterior):
        return _from_posterior(result, classical, prob, point, data)
    raise BayesmaError(
        "forest_plot needs an RMAResult (bm.rma), a Bayesian result (bm.exact_posterior, "
        "a BayesFit), a SubgroupResult (bm.subgroup) or bm.exact_subgroups(...); got "
        f"{type(result).__name__}")

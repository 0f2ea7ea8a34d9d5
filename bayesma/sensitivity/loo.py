"""Bayesian leave-one-out with cross-validated posterior predictive checks (exact engine).

For each study i the random-effects model is refitted without it by the exact engine
(:mod:`bayesma.bayes.exact`, milliseconds per fit), giving the posterior of mu and tau
with study i omitted, and a predictive check of study i against the others:

    y_new | y_(-i) ~ ∫ N(y_new | mu + tau e, v_i) p(mu, tau | y_(-i)),  e ~ N(0, 1)

i.e. the result a replicate of study i (same sampling variance v_i) would show under the
model fitted to the other studies. Given tau, mu | tau, y_(-i) ~ N(b(tau), C(tau))
(Röver 2020, J Stat Softw 93(6), sec. 2.3), so y_new is the Normal mixture
``sum_g w_g N(b_g, C_g + tau_g² + v_i)`` over the quadrature nodes of tau, and

    F_i = P(y_new <= y_i | y_(-i)),    p_i = 2 min(F_i, 1 - F_i)

is the two-sided cross-validated predictive p-value: the probability of a result at
least as extreme as the observed one (Marshall & Spiegelhalter 2003, Stat Med
22:1649, "cross-validatory predictive checks"; Gelman et al. 2013, Bayesian Data
Analysis, 3rd ed., sec. 6.3). Small p_i flag studies that the other studies do not
predict: possible outliers.

Multiplicity: with k studies and a threshold alpha, about alpha·k studies are flagged by
chance even when the model is right; the Bonferroni-adjusted ``p_adj = min(1, k p_i)``
controls the chance of any false flag (Bonferroni 1936; Holm 1979, Scand J Stat 6:65 for
the step-down version, reported as ``p_holm``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from bayesma.bayes.exact import ExactPosterior
from bayesma.bayes.exact.mixture import rows_quantile
from bayesma.classical.influence import influence, leave1out
from bayesma.errors import BayesmaError, TooFewStudiesError
from bayesma.formatting import fmt_plain as fmt
from bayesma.sensitivity.common import (
    Studies,
    classical_fit,
    exact_fit,
    label_list,
    plot_result,
    read_studies,
    resolve_priors,
)

__all__ = ["BayesLeave1Out", "bayes_leave1out", "predictive_mixture", "LOO_COLUMNS"]

#: Columns of :attr:`BayesLeave1Out.table`.
LOO_COLUMNS = ["yi", "vi", "mu_mean", "mu_median", "mu_low", "mu_high", "tau_mean",
               "tau_median", "tau_low", "tau_high", "mu_shift", "pred_low", "pred_high",
               "ppc_cdf", "ppc_p", "p_adj", "p_holm", "flag"]

_GL_NODES = 96


def predictive_mixture(post: Any, v_new: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normal-mixture form of the predictive distribution of a new study with variance v_new.

    Returns ``(M, S, w)``: component means b(tau_g), sds sqrt(C(tau_g) + tau_g² + v_new)
    and weights, from the exact engine's quadrature nodes
    (:meth:`ExactPosterior.predictive_mixture`). For other results the integral over tau
    is done on the probability scale, tau = Q(u), u in (0, 1), by Gauss-Legendre (96
    nodes), with the public ``quantile`` and ``conditional`` methods.
    """
    if isinstance(post, ExactPosterior):
        M, S, w = post.predictive_mixture(v_new)
        return M, S, w / w.sum()
    x, wq = np.polynomial.legendre.leggauss(_GL_NODES)
    u = 0.5 * (x + 1.0)
    tau = np.asarray(post.quantile("tau", u), dtype=float)
    cond = post.conditional(tau)
    b = cond["mean"]["mu"].to_numpy(float)
    sd_mu = cond["sd"]["mu"].to_numpy(float)
    return b, np.sqrt(sd_mu**2 + tau**2 + v_new), 0.5 * wq


def _mixture_cdf(x: float, M: np.ndarray, S: np.ndarray, w: np.ndarray) -> float:
    return float(np.clip(special.ndtr((x - M) / S) @ w, 0.0, 1.0))


def _mixture_quantile(q: float, M: np.ndarray, S: np.ndarray, w: np.ndarray) -> float:
    """Quantile of a Normal mixture (the exact engine's safeguarded Newton solver)."""
    return float(rows_quantile(np.array([q]), M[None, :], S[None, :], w)[0])


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979)."""
    p = np.asarray(p, dtype=float)
    n = int(np.sum(np.isfinite(p)))
    out = np.full(p.shape, np.nan)
    order = np.argsort(np.where(np.isfinite(p), p, np.inf))[:n]
    adj = np.maximum.accumulate(np.minimum(1.0, (n - np.arange(n)) * p[order]))
    out[order] = adj
    return out


@dataclass(frozen=True)
class BayesLeave1Out:
    """Result of :func:`bayes_leave1out`.

    Attributes
    ----------
    table : DataFrame
        One row per omitted study (index = study label): ``yi, vi``; the posterior of mu
        (mean, median, CrI) and tau (mean, median, CrI) without the study; ``mu_shift``
        (median without the study minus the median with all studies); the predictive
        interval of a replicate of the study (``pred_low``, ``pred_high``); ``ppc_cdf``
        (F_i), ``ppc_p`` (two-sided p_i), ``p_adj`` (Bonferroni), ``p_holm`` and
        ``flag`` (``ppc_p < alpha``).
    full : ExactPosterior
        The posterior with all studies.
    fits : dict
        ``{label: ExactPosterior}`` without each study.
    classical : DataFrame or None
        The classical leave-one-out (:func:`bayesma.leave1out`) of the twin, with its
        influence diagnostics ``rstudent`` and ``inf`` joined.
    classical_fit : RMAResult or None
        The classical fit of all studies.
    alpha : float
        Threshold of the flags.
    level : float
        Probability of the intervals.
    priors : dict
        ``{"mu": Prior, "tau": Prior}``.
    measure : str or None
    """

    table: pd.DataFrame
    full: Any
    fits: dict[str, Any]
    classical: pd.DataFrame | None
    classical_fit: Any
    alpha: float
    level: float
    priors: dict[str, Any]
    measure: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def k(self) -> int:
        """Number of studies."""
        return int(len(self.table))

    @property
    def flagged(self) -> list[str]:
        """Labels of the studies with ``ppc_p < alpha``."""
        return [str(s) for s in self.table.index[self.table["flag"].to_numpy(bool)]]

    def to_frame(self) -> pd.DataFrame:
        """The table (a copy)."""
        return self.table.copy()

    def summary(self, digits: int = 2) -> str:
        """Plain-language account: influence on mu and tau, and the predictive checks."""
        t = self.table
        pct = int(round(100 * self.level))
        full = self.full
        lo, hi = full.interval("mu", self.level)
        width = hi - lo
        lines = [
            f"Bayesian leave-one-out (exact engine), k = {self.k} studies; priors mu ~ "
            f"{self.priors['mu'].describe()}, tau ~ {self.priors['tau'].describe()}",
            f"All studies: mu median {fmt(full.median('mu'), digits)} [{fmt(lo, digits)}, "
            f"{fmt(hi, digits)}] ({pct}% CrI), tau median {fmt(full.median('tau'), digits)}.",
        ]
        j = int(np.nanargmax(np.abs(t["mu_shift"].to_numpy(float))))
        big = t.iloc[j]
        lines.append(
            f"Omitting {t.index[j]!r} moves mu the most: to {fmt(big['mu_median'], digits)} "
            f"(shift {fmt(big['mu_shift'], digits)}, {100 * abs(big['mu_shift']) / width:.0f}% "
            f"of the {pct}% CrI width).")
        excl = (t["mu_low"] > 0) | (t["mu_high"] < 0)
        full_excl = lo > 0 or hi < 0
        changed = [str(s) for s in t.index[excl.to_numpy() != full_excl]]
        if changed:
            lines.append(f"Omitting {label_list(changed)} changes whether the {pct}% CrI of "
                         "mu includes 0.")
        else:
            lines.append(f"No single omission changes whether the {pct}% CrI of mu includes 0.")
        jt = int(np.nanargmax(np.abs(t["tau_median"].to_numpy(float) - full.median("tau"))))
        lines.append(f"tau changes most without {t.index[jt]!r} (median "
                     f"{fmt(t['tau_median'].iloc[jt], digits)}).")
        fl = self.flagged
        exp = self.alpha * self.k
        if fl:
            lines.append(
                f"Predictive check: {len(fl)} stud{'y' if len(fl) == 1 else 'ies'} "
                f"{'is' if len(fl) == 1 else 'are'} not predicted by the others at p < "
                f"{self.alpha:g}: {label_list(fl)}.")
        else:
            lines.append(f"Predictive check: every study is predicted by the others "
                         f"(all p >= {self.alpha:g}).")
        strict = [str(s) for s in t.index[(t["p_holm"] < self.alpha).to_numpy()]]
        lines.append(
            f"Multiplicity: with {self.k} checks about {exp:.1f} stud"
            f"{'y' if round(exp, 1) == 1 else 'ies'} would be flagged by chance alone; after "
            "Holm's correction " + (f"{label_list(strict)} remain{'s' if len(strict) == 1 else ''}"
                                    " flagged." if strict else "none remains flagged."))
        lines += [f"Note: {n}" for n in self.notes]
        show = t[["yi", "mu_median", "mu_low", "mu_high", "tau_median", "ppc_p", "flag"]]
        lines.append("")
        lines.append(show.to_string(float_format=lambda x: f"{x:.{digits + 1}f}"))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<BayesLeave1Out k={self.k} flagged={self.flagged}>"

    def plot(self, **kwargs: Any):
        """Classical and Bayesian leave-one-out side by side: ``bm.leave1out_plot(self)``.

        The plot is registered by :mod:`bayesma.plots` (see
        :func:`bayesma.sensitivity.common.plot_result`): this module never imports the
        plotting layer above it.
        """
        return plot_result(self, **kwargs)


def bayes_leave1out(
    data: Any,
    yi: str = "yi",
    vi: str = "vi",
    *,
    mu_prior: Any = None,
    tau_prior: Any = None,
    measure: str | None = None,
    slab: str | None = None,
    sei: str | None = None,
    level: float = 0.95,
    alpha: float = 0.05,
    classical: str | None = "REML",
    classical_test: str = "knha",
) -> BayesLeave1Out:
    """Exact posterior of mu and tau with each study omitted, and predictive checks.

    Parameters
    ----------
    data : DataFrame or ExactPosterior
        The study table, or an exact posterior whose studies and priors are used.
    yi, vi : str
        Columns of effect sizes and sampling variances.
    mu_prior, tau_prior : Prior, optional
        Priors (Normal/Flat mu prior); default those of ``data`` when it is a result,
        else :func:`bayesma.priors.default_priors` of the measure.
    measure : str, optional
        Effect measure (default ``data.attrs["measure"]``).
    slab, sei : str, optional
        Label column; standard errors instead of ``vi``.
    level : float
        Probability of the credible and predictive intervals.
    alpha : float
        Threshold of the predictive p-value under which a study is flagged.
    classical : str or None
        tau² estimator of the classical leave-one-out beside it (None: skip).
    classical_test : {"knha", "z", "t"}
        Inference of the classical leave-one-out.

    Returns
    -------
    BayesLeave1Out

    Raises
    ------
    TooFewStudiesError
        For k < 2.
    ImproperPosteriorError
        When a leave-one-out posterior is improper (an improper prior with too few
        studies left).
    """
    if not 0 < alpha < 1:
        raise BayesmaError(f"alpha must be in (0, 1), got {alpha}")
    st: Studies = read_studies(data, yi, vi, sei=sei, slab=slab, measure=measure)
    if st.k < 2:
        raise TooFewStudiesError(f"leave-one-out needs at least 2 studies, got k = {st.k}")
    mu_p, tau_p = resolve_priors(st, mu_prior, tau_prior)
    src = st.source
    if src is not None and hasattr(src, "conditional") and mu_prior is None \
            and tau_prior is None and abs(getattr(src, "level", level) - level) < 1e-12:
        full = src
    else:
        full = exact_fit(st, mu_p, tau_p, level)
    med_full = float(full.median("mu"))
    a = (1.0 - level) / 2.0
    rows, fits = [], {}
    for i, lab in enumerate(st.labels):
        keep = np.ones(st.k, dtype=bool)
        keep[i] = False
        post = exact_fit(st.subset(keep), mu_p, tau_p, level)
        fits[lab] = post
        lo_mu, hi_mu = post.interval("mu", level)
        lo_t, hi_t = post.interval("tau", level)
        M, S, w = predictive_mixture(post, float(st.vi[i]))
        F = _mixture_cdf(float(st.yi[i]), M, S, w)
        med = float(post.median("mu"))
        rows.append({
            "yi": float(st.yi[i]), "vi": float(st.vi[i]),
            "mu_mean": float(post.mean("mu")), "mu_median": med, "mu_low": float(lo_mu),
            "mu_high": float(hi_mu), "tau_mean": float(post.mean("tau")),
            "tau_median": float(post.median("tau")), "tau_low": float(lo_t),
            "tau_high": float(hi_t), "mu_shift": med - med_full,
            "pred_low": _mixture_quantile(a, M, S, w),
            "pred_high": _mixture_quantile(1.0 - a, M, S, w),
            "ppc_cdf": F, "ppc_p": min(1.0, 2.0 * min(F, 1.0 - F))})
    table = pd.DataFrame(rows, index=pd.Index(st.labels, name="study"))
    p = table["ppc_p"].to_numpy(float)
    table["p_adj"] = np.minimum(1.0, st.k * p)
    table["p_holm"] = _holm(p)
    table["flag"] = p < alpha
    table = table[LOO_COLUMNS]
    table.attrs.update(kind="bayes_leave1out", level=level, alpha=alpha,
                       mu_prior=mu_p.describe(), tau_prior=tau_p.describe())

    res = classical_fit(st, classical, classical_test, level, with_data=False)
    cl = None
    notes: list[str] = []
    if res is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                cl = leave1out(res)
                inf = influence(res)
                cl = cl.join(inf[["rstudent", "inf"]])
            except BayesmaError as exc:
                notes.append(f"classical leave-one-out not available: {exc}")
                cl = None
    return BayesLeave1Out(table=table, full=full, fits=fits, classical=cl, classical_fit=res,
                          alpha=alpha, level=level, priors={"mu": mu_p, "tau": tau_p},
                          measure=st.measure, notes=tuple(notes))


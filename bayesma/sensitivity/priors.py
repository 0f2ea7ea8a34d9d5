"""Prior sensitivity sweeps: the random-effects model refitted under many priors.

:func:`prior_sensitivity` fits every combination of a set of tau priors and a set of mu
priors, with the exact quadrature engine (``engine="exact"``, milliseconds per prior;
:mod:`bayesma.bayes.exact`) or with MCMC (``engine="mcmc"``: :class:`~bayesma.bayes.
models.RandomEffects`, whose compiled model is reused for every prior of the same
family, :mod:`bayesma.bayes.sampling`), and tabulates how the posterior of mu and tau
moves, with the classical twin as a reference row.

Ready-made sets of tau priors (:func:`tau_prior_set`, defined in
:mod:`bayesma.sensitivity.prior_sets` and re-exported here), scaled to the effect measure
through the default tau scale ``t0`` of :mod:`bayesma.priors.defaults` (0.5 for log
odds/risk/hazard ratios, 0.3 for SMDs, 0.2 for correlations and risk differences, the
data-scaled ``s`` otherwise):

``"weakly informative"``
    HalfNormal(t0/2, t0, 2 t0) and HalfCauchy(t0/2, t0, 2 t0): the half-normal and
    half-Cauchy families recommended for the heterogeneity of a few studies (Friede et
    al. 2017, Biom J 59:658; Röver et al. 2021, Res Synth Methods 12:448; Gelman 2006,
    Bayesian Anal 1:515), at half, once and twice the default scale.
``"empirical"``
    Published predictive distributions of tau from the Cochrane Database: Turner et al.
    (2015) for odds ratios (also offered, with a note, for risk and hazard ratios),
    Rhodes et al. (2015) for SMDs, in the cell of ``outcome``/``comparison``/``area`` when
    given and else the general setting; plus the Cochrane-wide prior of Bartoš et al.
    (2021; 2023) for SMD, OR, RR, RD and HR (:mod:`bayesma.priors.presets`).
``"vague"``
    Uniform(0, 10 t0) and HalfCauchy(5 t0) (Gelman 2006), and the improper uniform prior
    on tau and Jeffreys' prior (Röver 2020, J Stat Softw 93(6), sec. 2.5; Tibshirani
    1989, Biometrika 76:604). An improper prior that gives an improper posterior for the
    data (e.g. a flat mu prior with k < 3) is dropped with a note.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from bayesma.bayes.fit import BayesFit
from bayesma.bayes.models import RandomEffects
from bayesma.errors import BayesmaError, ImproperPosteriorError
from bayesma.formatting import fmt_plain as fmt
from bayesma.sensitivity.common import (
    Studies,
    classical_fit,
    classical_heterogeneity,
    exact_fit,
    plot_result,
    progress_enabled,
    read_studies,
    resolve_priors,
)
from bayesma.sensitivity.prior_sets import PRIOR_SETS, as_prior_dict, tau_prior_set

__all__ = ["PriorSensitivity", "prior_sensitivity", "tau_prior_set", "PRIOR_SETS",
           "TABLE_COLUMNS"]

#: Columns of :attr:`PriorSensitivity.table`.
TABLE_COLUMNS = ["kind", "tau_prior", "mu_prior", "mu_mean", "mu_sd", "mu_median", "mu_low",
                 "mu_high", "tau_mean", "tau_median", "tau_low", "tau_high", "i2_median",
                 "p_mu_lt_0", "bf01_mu"]

#: Shift of the mu median across priors, relative to the mean CrI width, below which the
#: result counts as robust, and above which as sensitive (in between: moderately).
ROBUST_SHIFT = 0.10
SENSITIVE_SHIFT = 0.33
#: Ratio of the widest to the narrowest CrI of mu at which the result counts as moderately
#: sensitive, and as sensitive.
ROBUST_WIDTH = 1.25
SENSITIVE_WIDTH = 1.6

# ======================================================================================
# the result
# ======================================================================================
@dataclass(frozen=True)
class PriorSensitivity:
    """The result of :func:`prior_sensitivity` (a check object: table, fits, verdict).

    Attributes
    ----------
    table : DataFrame
        One row per (tau prior, mu prior) combination (``kind == "bayes"``) and one
        reference row with the classical twin (``kind == "classical"``); columns
        :data:`TABLE_COLUMNS`: mu posterior mean, sd, median and equal-tailed CrI; tau
        mean, median and CrI; the posterior median of I² (percent); ``P(mu < 0)``; the
        Savage-Dickey Bayes factor BF01 for mu = 0 (exact engine; a Rao-Blackwellised
        estimate with MCMC; NaN for an improper mu prior). The classical row holds the
        estimate (as mean and median), its CI, tau with its Q-profile CI and I².
    fits : dict
        ``{(tau label, mu label): ExactPosterior or BayesFit}``.
    tau_priors, mu_priors : dict
        ``{label: Prior}`` as fitted.
    classical : RMAResult or None
        The classical twin.
    engine : str
        ``"exact"`` or ``"mcmc"``.
    level : float
        Probability of the credible (and confidence) intervals.
    k : int
        Number of studies.
    measure : str or None
    notes : tuple of str
        What was dropped or approximated, and why.
    seconds : float
        Wall time of the sweep.
    """

    table: pd.DataFrame
    fits: dict[tuple[str, str], Any]
    tau_priors: dict[str, Any]
    mu_priors: dict[str, Any]
    classical: Any
    engine: str
    level: float
    k: int
    measure: str | None
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
    labels: list[str] = field(default_factory=list)

    def fit(self, tau: str | None = None, mu: str | None = None) -> Any:
        """The fit of one combination (labels as in the table; omit one if there is one)."""
        taus = list(self.tau_priors) if tau is None else [tau]
        mus = list(self.mu_priors) if mu is None else [mu]
        if len(taus) != 1 or len(mus) != 1:
            raise BayesmaError("fit(): give tau= and/or mu= labels to select one combination")
        key = (taus[0], mus[0])
        if key not in self.fits:
            raise BayesmaError(f"no fit for tau prior {key[0]!r} and mu prior {key[1]!r}; "
                               f"fits: {list(self.fits)}")
        return self.fits[key]

    @property
    def bayes_table(self) -> pd.DataFrame:
        """The table without the classical reference row."""
        return self.table[self.table["kind"] == "bayes"]

    def _row_labels(self, b: pd.DataFrame) -> list[str]:
        if len(self.mu_priors) == 1:
            return [str(x) for x in b["tau_prior"]]
        return [f"tau ~ {t}, mu ~ {m}" for t, m in zip(b["tau_prior"], b["mu_prior"],
                                                       strict=True)]

    def verdict(self) -> dict[str, Any]:
        """The numbers behind :meth:`summary`.

        ``shift`` is the range of the posterior medians of mu across priors and
        ``relative_shift`` that range over the mean width of the credible intervals: a
        heuristic in the spirit of the WAMBS checklist's comparison of estimates across
        priors (Depaoli & van de Schoot 2017, Psychol Methods 22:240), on the scale of
        the posterior uncertainty, and ``width_ratio`` the ratio of the widest to the
        narrowest CrI. The result is "sensitive" when the shift reaches
        :data:`SENSITIVE_SHIFT` or the width ratio :data:`SENSITIVE_WIDTH`, "moderately
        sensitive" when they reach :data:`ROBUST_SHIFT` or :data:`ROBUST_WIDTH`, else
        "robust".
        ``conclusions`` tells, per prior, whether the CrI lies above 0, below 0 or
        includes 0.
        """
        b = self.bayes_table
        med, lo, hi = (b[c].to_numpy(float) for c in ("mu_median", "mu_low", "mu_high"))
        width = float(np.mean(hi - lo))
        shift = float(np.max(med) - np.min(med)) if med.size else math.nan
        rel = shift / width if width > 0 else math.nan
        tmed, tlo, thi = (b[c].to_numpy(float) for c in ("tau_median", "tau_low", "tau_high"))
        twidth = float(np.mean(thi - tlo))
        tshift = float(np.max(tmed) - np.min(tmed)) if tmed.size else math.nan
        concl = np.where(lo > 0, "above 0", np.where(hi < 0, "below 0", "includes 0"))
        widths = hi - lo
        wratio = float(np.max(widths) / np.min(widths)) if widths.size and np.min(
            widths) > 0 else math.nan
        if not np.isfinite(rel):
            word = "undetermined"
        elif rel >= SENSITIVE_SHIFT or wratio >= SENSITIVE_WIDTH:
            word = "sensitive"
        elif rel >= ROBUST_SHIFT or wratio >= ROBUST_WIDTH:
            word = "moderately sensitive"
        else:
            word = "robust"
        return {"n_priors": int(len(b)), "shift": shift, "mean_width": width,
                "relative_shift": rel, "width_ratio": wratio,
                "width_range": (float(np.min(widths)), float(np.max(widths))),
                "tau_shift": tshift, "tau_mean_width": twidth,
                "tau_relative_shift": tshift / twidth if twidth > 0 else math.nan,
                "conclusions": dict(zip(self._row_labels(b), concl, strict=True)),
                "same_conclusion": bool(len(set(concl)) <= 1), "word": word,
                "p_mu_lt_0": (float(b["p_mu_lt_0"].min()), float(b["p_mu_lt_0"].max()))}

    def summary(self, digits: int = 2) -> str:
        """A plain-language account of how much the conclusions depend on the priors."""
        v = self.verdict()
        pct = int(round(100 * self.level))
        b = self.bayes_table
        lines = [f"Prior sensitivity ({self.engine} engine): {v['n_priors']} prior "
                 f"combination{'s' if v['n_priors'] != 1 else ''}, k = {self.k} studies"
                 + (f", measure {self.measure}" if self.measure else "")]
        if v["n_priors"] == 0:
            lines.append("No prior could be fitted.")
            lines += [f"Note: {n}" for n in self.notes]
            return "\n".join(lines)
        med = b["mu_median"]
        lines.append(
            f"mu: the posterior median ranges from {fmt(med.min(), digits)} to "
            f"{fmt(med.max(), digits)} (a shift of {fmt(v['shift'], digits)}, "
            f"{100 * v['relative_shift']:.0f}% of the average {pct}% CrI width "
            f"{fmt(v['mean_width'], digits)}), and the width of the CrI ranges from "
            f"{fmt(v['width_range'][0], digits)} to {fmt(v['width_range'][1], digits)}: "
            f"{v['word']} to the choice of prior.")
        if v["same_conclusion"]:
            what = next(iter(v["conclusions"].values()))
            verb = "includes 0" if what == "includes 0" else f"lies {what}"
            lines.append(f"Under every prior the {pct}% CrI of mu {verb}.")
        else:
            groups: dict[str, list[str]] = {}
            for lab, c in v["conclusions"].items():
                groups.setdefault(str(c), []).append(lab)
            parts = [f"{c} under {', '.join(labs)}" for c, labs in groups.items()]
            lines.append(f"The conclusion changes with the prior: the {pct}% CrI of mu is "
                         + "; ".join(parts) + ".")
        lo, hi = v["p_mu_lt_0"]
        lines.append(f"P(mu < 0) ranges from {lo:.3f} to {hi:.3f}.")
        tm = b["tau_median"]
        lines.append(
            f"tau: the posterior median ranges from {fmt(tm.min(), digits)} to "
            f"{fmt(tm.max(), digits)} ({100 * v['tau_relative_shift']:.0f}% of the average "
            "CrI width); heterogeneity is usually the more prior-dependent quantity when k "
            "is small.")
        c = self.table[self.table["kind"] == "classical"]
        if len(c):
            r = c.iloc[0]
            lines.append(f"Classical reference ({r['tau_prior']}): estimate "
                         f"{fmt(r['mu_median'], digits)} [{fmt(r['mu_low'], digits)}, "
                         f"{fmt(r['mu_high'], digits)}], tau {fmt(r['tau_median'], digits)}.")
        lines += [f"Note: {n}" for n in self.notes]
        show = self.table[["tau_prior", "mu_prior", "mu_median", "mu_low", "mu_high",
                           "tau_median", "tau_low", "tau_high", "p_mu_lt_0", "bf01_mu"]]
        lines.append("")
        lines.append(show.to_string(index=False, float_format=lambda x: f"{x:.{digits + 1}f}"))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"<PriorSensitivity {self.engine}: {len(self.tau_priors)} tau x "
                f"{len(self.mu_priors)} mu priors, k={self.k}>")

    def plot(self, **kwargs: Any):
        """Intervals of mu and tau by prior: ``bm.sensitivity_plot(self, **kwargs)``.

        The plot is registered by :mod:`bayesma.plots` (see
        :func:`bayesma.sensitivity.common.plot_result`): this module never imports the
        plotting layer above it.
        """
        return plot_result(self, **kwargs)


# ======================================================================================
# one row of the table
# ======================================================================================
def _rb_bf01_mu(tau: np.ndarray, y: np.ndarray, v: np.ndarray, mu_prior: Any) -> float:
    """Rao-Blackwellised Savage-Dickey BF01 for mu = 0 from tau draws (Normal mu prior).

    Given tau, mu | tau, y ~ N(b, 1/P) with P = sum w_i + 1/s0², b = (sum w_i y_i +
    m0/s0²)/P, w_i = 1/(v_i + tau²) (Röver 2020, J Stat Softw 93(6), sec. 2.3), so the
    posterior density at 0 is the average of N(0 | b, 1/P) over the draws (Gelfand &
    Smith 1990, JASA 85:398; stack-notes section 6); BF01 = p(0 | y) / p(0) (Dickey
    1971).
    """
    if not (getattr(mu_prior, "is_normal", False) and mu_prior.proper):
        return math.nan
    m0, s0 = float(mu_prior.mu), float(mu_prior.sigma)
    w = 1.0 / (v[None, :] + np.square(tau)[:, None])
    P = w.sum(axis=1) + 1.0 / s0**2
    b = (w @ y + m0 / s0**2) / P
    dens = np.sqrt(P / (2 * math.pi)) * np.exp(-0.5 * P * b * b)
    return float(np.mean(dens)) / _normal_pdf0(mu_prior)


def _normal_pdf0(prior: Any) -> float:
    """Density of a proper Normal prior at 0 (closed form; NaN for other priors)."""
    if not (getattr(prior, "is_normal", False) and prior.proper):
        return math.nan
    m, s = float(prior.mu), float(prior.sigma)
    return math.exp(-0.5 * (m / s) ** 2) / (s * math.sqrt(2.0 * math.pi))


def _row(fit: Any, level: float, engine: str, st: Studies, mu_prior: Any) -> dict[str, float]:
    a = (1.0 - level) / 2.0
    qs = [a, 0.5, 1.0 - a]
    mu_q = np.asarray(fit.quantile("mu", qs), dtype=float)
    tau_q = np.asarray(fit.quantile("tau", qs), dtype=float)
    i2 = float(fit.median("i2"))  # percent in both engines
    if engine == "exact":
        # Savage-Dickey BF01 = p(mu = 0 | y) / p(mu = 0) (Dickey 1971; Röver 2020, sec. 2.6)
        bf = float(fit.pdf("mu", 0.0)) / _normal_pdf0(mu_prior)
    else:
        bf = _rb_bf01_mu(fit.draws("tau"), st.yi, st.vi, mu_prior)
    return {"mu_mean": float(fit.mean("mu")), "mu_sd": float(fit.sd("mu")),
            "mu_median": float(mu_q[1]), "mu_low": float(mu_q[0]), "mu_high": float(mu_q[2]),
            "tau_mean": float(fit.mean("tau")), "tau_median": float(tau_q[1]),
            "tau_low": float(tau_q[0]), "tau_high": float(tau_q[2]), "i2_median": i2,
            "p_mu_lt_0": float(fit.prob_less("mu", 0.0)), "bf01_mu": bf}


def _classical_row(res: Any, level: float, method: str, test: str) -> dict[str, Any]:
    tau, tlo, thi = classical_heterogeneity(res, level)
    return {"kind": "classical", "tau_prior": f"classical {method} ({test})", "mu_prior": "",
            "mu_mean": float(res.estimate), "mu_sd": float(res.se),
            "mu_median": float(res.estimate), "mu_low": float(res.ci_low),
            "mu_high": float(res.ci_high), "tau_mean": float(res.tau), "tau_median": tau,
            "tau_low": tlo, "tau_high": thi, "i2_median": float(res.i2),
            "p_mu_lt_0": math.nan, "bf01_mu": math.nan}


# ======================================================================================
# the sweep
# ======================================================================================
def prior_sensitivity(
    data: Any,
    yi: str = "yi",
    vi: str = "vi",
    *,
    tau_priors: Any = None,
    mu_priors: Any = None,
    engine: str = "exact",
    measure: str | None = None,
    outcome: Any = None,
    comparison: Any = None,
    area: Any = None,
    classical: str | None = "REML",
    classical_test: str = "knha",
    progress: bool | None = None,
    slab: str | None = None,
    sei: str | None = None,
    level: float = 0.95,
    **fit_kwargs: Any,
) -> PriorSensitivity:
    """Fit the random-effects model under every combination of tau and mu priors.

    Parameters
    ----------
    data : DataFrame, ExactPosterior or BayesFit
        The study table, or a result whose studies (and, as defaults, priors) are used.
    yi, vi : str
        Columns of effect sizes and sampling variances.
    tau_priors : None, str, Prior, dict or list
        The tau priors: a ready-made set (``"weakly informative"``, ``"empirical"``,
        ``"vague"``; see :func:`tau_prior_set`), a prior, ``{label: prior}``, or a list
        mixing priors and set names. None: ``"weakly informative"``.
    mu_priors : None, Prior, dict or list
        The mu priors (None: the result's mu prior, else the default for the measure).
        The exact engine needs Normal or Flat mu priors.
    engine : {"exact", "mcmc"}
        The exact quadrature engine (fast; the default) or NUTS sampling of
        :class:`~bayesma.bayes.models.RandomEffects`, which compiles once per prior
        family and re-feeds the hyperparameters (``model.with_priors(...).fit()``).
    measure : str, optional
        Effect measure (default ``data.attrs["measure"]``), which scales the ready-made
        sets.
    outcome, comparison, area : str, optional
        Cell of the Turner / Rhodes tables for the ``"empirical"`` set.
    classical : str or None
        tau² estimator of the classical reference row (None: no reference row).
    classical_test : {"knha", "z", "t"}
        Inference of the classical reference row.
    progress : bool or None
        Show a progress bar over the sweep (tqdm). ``None`` (default): only when
        ``sys.stderr`` is a terminal, so logs and CI output get no bar characters.
    slab, sei : str, optional
        Label column; standard-error column used instead of ``vi``.
    level : float
        Probability of the credible and confidence intervals.
    **fit_kwargs
        MCMC settings passed to :meth:`RandomEffects.fit` (``draws``, ``tune``,
        ``chains``, ``random_seed``, ``sampler``...); the sampler's own progress bar is
        off unless ``progressbar=True``.

    Returns
    -------
    PriorSensitivity
        ``.table``, ``.fits``, ``.summary()``, ``.plot()``.

    Raises
    ------
    BayesmaError
        Unknown set names, invalid priors, a non-Normal mu prior with the exact engine,
        or when no prior combination gives a proper posterior.
    """
    t_start = time.perf_counter()
    if engine not in ("exact", "mcmc"):
        raise BayesmaError(f"engine must be 'exact' or 'mcmc', got {engine!r}")
    if fit_kwargs and engine == "exact":
        raise BayesmaError(f"unexpected arguments for the exact engine: "
                           f"{', '.join(sorted(fit_kwargs))} (MCMC settings need "
                           "engine='mcmc')")
    st = read_studies(data, yi, vi, sei=sei, slab=slab, measure=measure)
    notes: list[str] = []
    presets = {"outcome": outcome, "comparison": comparison, "area": area}
    taus = as_prior_dict(tau_priors if tau_priors is not None else "weakly informative",
                          "tau", st, presets, notes)
    mu_default, _ = resolve_priors(st, None, None)
    mus = as_prior_dict(mu_priors, "mu", st, presets, notes) or {
        mu_default.describe(): mu_default}
    for lab, p in taus.items():
        if p.param != "tau":
            raise BayesmaError(f"tau prior {lab!r} = {p.describe()} is not a prior for tau")
    for lab, p in mus.items():
        if p.param != "mu":
            raise BayesmaError(f"mu prior {lab!r} = {p.describe()} is not a prior for mu")
        if engine == "exact" and not p.is_normal:
            raise BayesmaError(f"mu prior {lab!r} = {p.describe()}: the exact engine needs "
                               "Normal or Flat mu priors; use engine='mcmc' for others")
    if not taus:
        raise BayesmaError("tau_priors is empty")

    res = classical_fit(st, classical, classical_test, level)
    combos = [(t, m) for t in taus for m in mus]
    fits: dict[tuple[str, str], Any] = {}
    rows: list[dict[str, Any]] = []
    model = None
    if engine == "mcmc":
        fit_kwargs.setdefault("progressbar", False)
    bar = tqdm(combos, desc="prior sensitivity", disable=not progress_enabled(progress),
               leave=False)
    for t_lab, m_lab in bar:
        tp, mp = taus[t_lab], mus[m_lab]
        try:
            if engine == "exact":
                fit = exact_fit(st, mp, tp, level)
            else:
                if mp.is_normal:  # same posterior properness as the exact model
                    exact_fit(st, mp, tp, level)
                if model is None:
                    model = _mcmc_model(st, mp, tp)
                    mod = model
                else:
                    mod = model.with_priors(mu_prior=mp, tau_prior=tp)
                fit = mod.fit(**fit_kwargs)
        except ImproperPosteriorError:
            notes.append(f"dropped tau ~ {t_lab}, mu ~ {m_lab}: the posterior is improper "
                         f"for these data (k = {st.k})")
            continue
        fits[(t_lab, m_lab)] = fit
        rows.append({"kind": "bayes", "tau_prior": t_lab, "mu_prior": m_lab,
                     **_row(fit, level, engine, st, mp)})
    bar.close()
    if not rows:
        raise BayesmaError("no prior combination gives a proper posterior: " + "; ".join(notes))
    if res is not None:
        rows.append(_classical_row(res, level, classical, classical_test))
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    table.attrs.update(engine=engine, level=level, k=st.k, measure=st.measure)
    return PriorSensitivity(
        table=table, fits=fits,
        tau_priors={t: taus[t] for t in taus if any(k[0] == t for k in fits)},
        mu_priors={m: mus[m] for m in mus if any(k[1] == m for k in fits)},
        classical=res, engine=engine, level=level, k=st.k, measure=st.measure,
        notes=tuple(dict.fromkeys(notes)), seconds=time.perf_counter() - t_start,
        labels=list(st.labels))


def _mcmc_model(st: Studies, mu_prior: Any, tau_prior: Any):
    """A RandomEffects model of the studies (the fit's own model when one was given)."""
    src = st.source
    if isinstance(src, BayesFit):
        return src.model.with_priors(mu_prior=mu_prior, tau_prior=tau_prior)
    data = pd.DataFrame({"yi": st.yi, "vi": st.vi, "study": st.labels})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RandomEffects(data, "yi", "vi", mu_prior=mu_prior, tau_prior=tau_prior,
                             slab="study", measure=st.measure)

"""``bma``: Bayesian model averaging over fixed/random effects and H0/H1 (metaBMA's meta_bma).

Four models (``fixed_H0``, ``fixed_H1``, ``random_H0``, ``random_H1``; see
:mod:`.components`) with exact marginal likelihoods (:mod:`.marginal`). Posterior model
probabilities ``P(M | y) ∝ P(M) p(y | M)``; inclusion Bayes factors as metaBMA's
``inclusion()`` (Heck, Gronau & Wagenmakers 2017; Hinne et al. 2020, Adv Methods Pract
Psychol Sci 3:200): posterior inclusion odds over prior inclusion odds,

    BF_incl = [sum_{M in A} P(M|y) / sum_{M not in A} P(M|y)]
              / [sum_{M in A} P(M) / sum_{M not in A} P(M)],

with ``A`` the models with an effect (``bf_effect``: fixed_H1, random_H1) or with
heterogeneity (``bf_heterogeneity``: random_H0, random_H1). The model-averaged posteriors of
mu and tau mix a point mass at 0 (models fixing them) with the other models' posteriors
(:mod:`.mixture`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesma.bayes.averaging.averaged_accessors import AveragedAccessors
from bayesma.bayes.averaging.components import (
    EFFECT_MODELS,
    MODELS,
    RANDOM_MODELS,
    check_bma_priors,
    default_bma_priors,
    model_prior_probs,
)
from bayesma.bayes.averaging.marginal import FourModels, fit_four_models
from bayesma.bayes.averaging.mixture import (
    Averaged,
    ExactPart,
    NormalPart,
    PointMass,
    QuadraturePart,
)
from bayesma.bayes.exact import exact_posterior
from bayesma.bayes.exact.checks import confidence_level
from bayesma.bayes.protocol import parse_param, resolve_prob
from bayesma.errors import BayesmaError
from bayesma.formatting import fmt_num

__all__ = ["BMAResult", "bma", "inclusion_bf"]


def inclusion_bf(prior: pd.Series, log_post: pd.Series, include: tuple[str, ...]) -> float:
    """Inclusion Bayes factor of the models ``include`` against the rest (metaBMA's
    ``inclusion``): posterior inclusion odds / prior inclusion odds, computed in logs.

    NaN when the prior probability of either set is 0 (the odds are undefined).
    """
    inc = prior.index.isin(include)
    p_in, p_out = float(prior[inc].sum()), float(prior[~inc].sum())
    if p_in <= 0 or p_out <= 0:
        return math.nan
    lp = log_post.to_numpy()
    l_in = _lse(lp[inc])
    l_out = _lse(lp[~inc])
    return math.exp(l_in - l_out - math.log(p_in) + math.log(p_out))


def _lse(x: np.ndarray) -> float:
    m = float(np.max(x)) if x.size else -math.inf
    if not math.isfinite(m):
        return m
    return m + math.log(float(np.sum(np.exp(x - m))))


class BMAResult(AveragedAccessors):
    """Result of :func:`bma`; satisfies :class:`bayesma.bayes.protocol.Posterior` for
    ``"mu"`` and ``"tau"`` (model-averaged: a spike at 0 plus the posteriors of the models
    where the parameter is free).

    Attributes
    ----------
    prior_probs, posterior_probs : Series
        Model probabilities indexed ``fixed_H0, fixed_H1, random_H0, random_H1``.
    log_ml : Series
        Log marginal likelihood of each model (exact).
    bf_effect, bf_heterogeneity : float
        Inclusion Bayes factors for mu != 0 and for tau > 0 (NaN when a prior probability
        makes them undefined).
    models : DataFrame
        Per model: ``prior_prob``, ``posterior_prob``, ``log_ml``, ``bf_inclusion`` (the
        model's posterior odds over its prior odds).
    fits : dict
        ``"random_H1"``: the :class:`~bayesma.bayes.exact.ExactPosterior` of the
        random-effects model with an effect.
    priors : dict
        ``{"mu": Prior, "tau": Prior}``.
    labels, data, measure, classical, level
        As every Bayesian result (the classical twin is REML with Knapp-Hartung).
    """

    def __init__(self, four: FourModels, prior_probs: pd.Series, priors: dict[str, Any], *,
                 labels: list[str], data: pd.DataFrame | None, measure: str | None,
                 classical: Any, level: float) -> None:
        self.prior_probs = prior_probs
        self.log_ml = pd.Series([four.log_ml[m] for m in MODELS],
                                index=pd.Index(MODELS, name="model"), name="log_ml")
        with np.errstate(divide="ignore"):
            log_post = self.log_ml + np.log(prior_probs.to_numpy())
        log_post = log_post - _lse(log_post.to_numpy())
        self._log_post = log_post
        self.posterior_probs = pd.Series(np.exp(log_post.to_numpy()), index=prior_probs.index,
                                         name="posterior_prob")
        self.bf_effect = inclusion_bf(prior_probs, log_post, EFFECT_MODELS)
        self.bf_heterogeneity = inclusion_bf(prior_probs, log_post, RANDOM_MODELS)
        self.models = pd.DataFrame({
            "prior_prob": prior_probs, "posterior_prob": self.posterior_probs,
            "log_ml": self.log_ml,
            "bf_inclusion": [inclusion_bf(prior_probs, log_post, (m,)) for m in MODELS]})
        self.fits = {"random_H1": four.random_h1}
        self.priors = priors
        self.labels, self.data, self.measure = labels, data, measure
        self.classical, self.level = classical, level
        self.k = len(labels)
        self._four = four

        pp = self.posterior_probs
        r1 = ExactPart(four.random_h1, "mu")
        self._avg = {
            "mu": Averaged([(pp["fixed_H0"] + pp["random_H0"], PointMass(0.0)),
                            (pp["fixed_H1"], NormalPart(four.fixed_mean, four.fixed_sd)),
                            (pp["random_H1"], r1)]),
            "tau": Averaged([(pp["fixed_H0"] + pp["fixed_H1"], PointMass(0.0)),
                             (pp["random_H0"], QuadraturePart(four.random_h0)),
                             (pp["random_H1"], ExactPart(four.random_h1, "tau"))],
                            support=(0.0, math.inf)),
        }
        self._conditional: dict[str, Averaged] = {}

    # ------------------------------------------------------------------ parameters
    def _get(self, param: str, conditional: bool = False) -> Averaged:
        name, sub = parse_param(param)
        if sub is not None or name not in self._avg:
            raise BayesmaError(f"a model-averaged posterior has parameters 'mu' and 'tau', "
                               f"not {param!r}")
        if not conditional:
            return self._avg[name]
        if name not in self._conditional:
            free = EFFECT_MODELS if name == "mu" else RANDOM_MODELS
            pp = self.posterior_probs[list(free)]
            if pp.sum() <= 0:
                raise BayesmaError(f"no model with {name} free has posterior probability > 0")
            pp = pp / pp.sum()
            four = self._four
            if name == "mu":
                parts = [(pp["fixed_H1"], NormalPart(four.fixed_mean, four.fixed_sd)),
                         (pp["random_H1"], ExactPart(four.random_h1, "mu"))]
                self._conditional[name] = Averaged(parts)
            else:
                parts = [(pp["random_H0"], QuadraturePart(four.random_h0)),
                         (pp["random_H1"], ExactPart(four.random_h1, "tau"))]
                self._conditional[name] = Averaged(parts, support=(0.0, math.inf))
        return self._conditional[name]

    def averaged(self, param: str = "mu", *, conditional: bool = False) -> Averaged:
        """The model-averaged posterior of ``param`` (``"mu"`` or ``"tau"``) as a mixture:
        ``.spike`` (mass at 0), ``.parts`` (weights and per-model posteriors), ``.cdf``,
        ``.quantile``; ``conditional=True`` renormalises over the models where it is free."""
        return self._get(param, conditional)

    @property
    def components(self) -> pd.DataFrame:
        """Per component (``effect``, ``heterogeneity``): ``prior_prob``, ``post_prob``
        (inclusion probabilities) and ``bf_inclusion``, as RoBMA's components table."""
        rows = {}
        for name, models, bf in (("effect", EFFECT_MODELS, self.bf_effect),
                                 ("heterogeneity", RANDOM_MODELS, self.bf_heterogeneity)):
            rows[name] = {"prior_prob": float(self.prior_probs[list(models)].sum()),
                          "post_prob": float(self.posterior_probs[list(models)].sum()),
                          "bf_inclusion": bf}
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("component")

    def summary(self, prob: float | None = None) -> pd.DataFrame:
        """mean, sd, median, equal-tailed interval and ``P(= 0)`` (the spike) of mu and tau."""
        p = resolve_prob(prob, self.level)
        df = self._summary_frame(("mu", "tau"), p)
        df.attrs.update({"model": "meta_bma (model-averaged)", "prob": p,
                         "mu_prior": self.priors["mu"].describe(),
                         "tau_prior": self.priors["tau"].describe()})
        return df

    def to_datatree(self, *, n: int | None = None, random_seed: Any = None) -> xr.DataTree:
        """Draws of mu and tau (4 chains) with the model probabilities as attributes."""
        attrs = {"model": "BMAResult", "mu_prior": self.priors["mu"].describe(),
                 "tau_prior": self.priors["tau"].describe(), "level": self.level,
                 "bf_effect": self.bf_effect, "bf_heterogeneity": self.bf_heterogeneity}
        attrs.update({f"posterior_prob_{m}": float(v) for m, v in self.posterior_probs.items()})
        attrs.update({f"log_ml_{m}": float(v) for m, v in self.log_ml.items()})
        return self._draws_tree(attrs, n, random_seed)

    # ------------------------------------------------------------------ display
    def __str__(self) -> str:
        lines = [f"Bayesian model averaging (meta_bma), k = {self.k}",
                 f"Priors: mu ~ {self.priors['mu'].describe()}; "
                 f"tau ~ {self.priors['tau'].describe()}", "",
                 f"{'model':<10} {'prior':>7} {'posterior':>10} {'log_ml':>11} "
                 f"{'BF_incl':>9}"]
        for m, row in self.models.iterrows():
            lines.append(f"{m:<10} {row['prior_prob']:>7.3f} {row['posterior_prob']:>10.4f} "
                         f"{row['log_ml']:>11.4f} {fmt_num(row['bf_inclusion'], 3):>9}")
        lines += ["", "Inclusion Bayes factors:",
                  f"  effect (mu != 0):       BF10 = {_fmt_bf(self.bf_effect)}",
                  f"  heterogeneity (tau > 0): BFrf = {_fmt_bf(self.bf_heterogeneity)}", ""]
        s = self.summary()
        pct = round(100 * s.attrs["prob"])
        lines.append(f"Model-averaged posterior ({pct}% equal-tailed intervals, "
                     "spike at 0 included):")
        lines.append(f"{'':<5} {'mean':>8} {'sd':>8} {'median':>8} {'low':>8} {'high':>8} "
                     f"{'P(=0)':>7}")
        for par, row in s.iterrows():
            lines.append(f"{par:<5} {row['mean']:>8.4f} {row['sd']:>8.4f} {row['median']:>8.4f} "
                         f"{row['eti_low']:>8.4f} {row['eti_high']:>8.4f} "
                         f"{row['p_zero']:>7.4f}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<BMAResult k={self.k} bf_effect={self.bf_effect:.4g} "
                f"bf_heterogeneity={self.bf_heterogeneity:.4g}>")


def _fmt_bf(bf: float) -> str:
    if not math.isfinite(bf):
        return "undefined (a prior inclusion probability is 0)" if math.isnan(bf) else "inf"
    return f"{bf:.4g}"


def bma(data: pd.DataFrame, yi: str = "yi", vi: str = "vi", *, mu_prior: Any = None,
        tau_prior: Any = None, prior_probs: Any = None, measure: str | None = None,
        slab: str | None = None, sei: str | None = None, level: float = 0.95) -> BMAResult:
    """Bayesian model averaging of fixed/random-effects models with and without an effect.

    metaBMA's ``meta_bma`` (Heck, Gronau & Wagenmakers 2017; Gronau et al. 2017) with exact
    marginal likelihoods (closed forms and the exact engine's quadrature over tau).

    Parameters
    ----------
    data : DataFrame
        One row per study.
    yi, vi : str
        Columns of effect sizes and sampling variances (or ``sei=`` standard errors).
    mu_prior : Normal, optional
        Prior of mu under H1 (a proper :class:`~bayesma.priors.Normal`). Default: RoBMA's
        Normal(0, 1) on Cohen's d, scaled for the measure
        (:func:`~bayesma.bayes.averaging.components.default_bma_priors`).
    tau_prior : Prior, optional
        Proper prior on tau in the random-effects models; default InverseGamma(1, 0.15)
        on d's scale (RoBMA), scaled for the measure.
    prior_probs : sequence or dict, optional
        Prior model probabilities (unnormalised) in the order ``fixed_H0, fixed_H1,
        random_H0, random_H1`` (metaBMA's ``prior``) or a dict by name; default equal.
    measure : str, optional
        Effect measure (default ``data.attrs["measure"]``), for the default priors.
    slab, sei : str, optional
        Study label column; standard errors instead of ``vi``.
    level : float
        Default probability of credible intervals.

    Returns
    -------
    BMAResult

    Raises
    ------
    DataError
        Missing or invalid values (naming the column and row).
    SpecError
        Improper or unsupported priors, bad ``prior_probs``, or no default priors for the
        measure.
    """
    level = confidence_level(level)
    if measure is None and isinstance(data, pd.DataFrame):
        measure = data.attrs.get("measure")
    if mu_prior is None or tau_prior is None:
        defaults = default_bma_priors(measure)
        mu_prior = defaults["mu"] if mu_prior is None else mu_prior
        tau_prior = defaults["tau"] if tau_prior is None else tau_prior
    check_bma_priors(mu_prior, tau_prior)
    probs = model_prior_probs(prior_probs)
    post = exact_posterior(data, yi, vi, mu_prior=mu_prior, tau_prior=tau_prior,
                           measure=measure, slab=slab, sei=sei, level=level)
    four = fit_four_models(post.yi, post.vi, mu_prior, tau_prior, random_h1=post)
    return BMAResult(four, probs, {"mu": mu_prior, "tau": tau_prior}, labels=post.labels,
                     data=post.data, measure=measure, classical=post.classical, level=level)

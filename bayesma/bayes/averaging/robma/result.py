"""``RoBMAResult``: model probabilities, inclusion Bayes factors, averaged posteriors.

Posterior model probabilities ``P(M | y) ∝ P(M) p(y | M)``; inclusion Bayes factors as
RoBMA/metaBMA (posterior inclusion odds over prior inclusion odds, Hinne et al. 2020, Adv
Methods Pract Psychol Sci 3:200) via :func:`~bayesma.bayes.averaging.bma.inclusion_bf`.
Model-averaged posteriors (Hoeting et al. 1999, Stat Sci 14:382, eq. 1) mix a spike at 0
(models without the component) with each model's posterior: exact for the no-bias models
(as :func:`bm.bma`), importance-weighted draws for the bias models.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesma.bayes.averaging.averaged_accessors import AveragedAccessors
from bayesma.bayes.averaging.bma import inclusion_bf
from bayesma.bayes.averaging.marginal import FourModels
from bayesma.bayes.averaging.mixture import (
    Averaged,
    ExactPart,
    NormalPart,
    PointMass,
    QuadraturePart,
)
from bayesma.bayes.averaging.robma.display import robma_text
from bayesma.bayes.averaging.robma.ensemble import ModelFit
from bayesma.bayes.averaging.robma.parts import WeightedPart
from bayesma.bayes.averaging.robma.weightfunction import weightfunction_table
from bayesma.bayes.exact.quadrature import logsumexp
from bayesma.bayes.protocol import n_draws, parse_param, resolve_prob
from bayesma.errors import BayesmaError

__all__ = ["RoBMAResult"]

_PARAMS = {"mu": "effect", "tau": "heterogeneity", "PET": "PET", "PEESE": "PEESE"}


def _pool(parts: list[tuple[float, Any]]) -> list[tuple[float, Any]]:
    """Merge the weighted-draw parts into one (same mixture, one cdf lookup)."""
    wp = [(w, p) for w, p in parts if isinstance(p, WeightedPart) and w > 0]
    if len(wp) < 2:
        return parts
    tot = sum(w for w, _ in wp)
    x = np.concatenate([p.x for _, p in wp])
    w = np.concatenate([w * p.w / tot for w, p in wp])
    rest = [(w_, p) for w_, p in parts if not isinstance(p, WeightedPart)]
    return rest + [(tot, WeightedPart(x, w))]


class RoBMAResult(AveragedAccessors):
    """Result of :func:`RoBMA`; satisfies :class:`bayesma.bayes.protocol.Posterior` for
    ``"mu"`` and ``"tau"`` (model-averaged: a spike at 0 plus the posteriors of the models
    where the parameter is free); ``"PET"`` and ``"PEESE"`` work the same way.

    Attributes
    ----------
    models : DataFrame
        One row per model (index: readable name): ``effect, heterogeneity, bias, prior_prob,
        post_prob, log_ml, bf`` (posterior over prior odds of the model vs the rest),
        ``error`` (estimated absolute error of ``log_ml``; 0 when exact), ``method``,
        ``log_ml_is``/``se_is`` (the importance-sampling check; NaN for exact no-bias
        models).
    components : DataFrame
        Index ``effect, heterogeneity, bias``; ``prior_prob, post_prob, bf_inclusion``.
    bf_effect, bf_heterogeneity, bf_bias : float
        Inclusion Bayes factors.
    priors : dict
        ``mu`` (Normal), ``tau`` (prior), ``pet``/``peese`` (half-Cauchy scales).
    effect_direction : str
        ``"positive"`` or ``"negative"``: the direction the one-sided weight functions and
        PET/PEESE assume bias towards (PET/PEESE coefficients are magnitudes >= 0).
    labels, data, measure, classical, level
        As every Bayesian result (the classical twin is REML with Knapp-Hartung).
    """

    def __init__(self, fits: list[ModelFit], four: FourModels, priors: dict[str, Any], *,
                 labels: list[str], data: pd.DataFrame | None, measure: str | None,
                 classical: Any, level: float, seed: Any = None,
                 effect_direction: str = "positive") -> None:
        self.fits = fits
        self.effect_direction = effect_direction
        self.priors = priors
        self.labels, self.data, self.measure = labels, data, measure
        self.classical, self.level = classical, level
        self.k = len(labels)
        self._seed = seed
        self._four = four
        names = [f.spec.name for f in fits]
        prior = pd.Series([f.spec.prior_prob for f in fits], index=names)
        log_ml = np.array([f.log_ml for f in fits])
        with np.errstate(divide="ignore"):
            lp = log_ml + np.log(prior.to_numpy())
        lp = lp - logsumexp(lp)
        log_post = pd.Series(lp, index=names)
        post = np.exp(lp)
        self.models = pd.DataFrame({
            "effect": [f.spec.effect for f in fits],
            "heterogeneity": [f.spec.heterogeneity for f in fits],
            "bias": [f.spec.bias.name for f in fits],
            "prior_prob": prior.to_numpy(), "post_prob": post, "log_ml": log_ml,
            "bf": [inclusion_bf(prior, log_post, (n,)) for n in names],
            "error": [f.error for f in fits], "method": [f.method for f in fits],
            "log_ml_is": [f.log_ml_is for f in fits], "se_is": [f.se_is for f in fits],
        }, index=pd.Index(names, name="model"))
        rows = {}
        for comp in ("effect", "heterogeneity", "bias"):
            if comp == "bias":
                inc = self.models["bias"] != "none"
            else:
                inc = self.models[comp].astype(bool)
            members = tuple(self.models.index[inc])
            rows[comp] = {"prior_prob": float(prior[inc.to_numpy()].sum()),
                          "post_prob": float(post[inc.to_numpy()].sum()),
                          "bf_inclusion": inclusion_bf(prior, log_post, members)}
        self.components = pd.DataFrame.from_dict(rows, orient="index")
        self.components.index.name = "component"
        self.bf_effect = float(self.components.loc["effect", "bf_inclusion"])
        self.bf_heterogeneity = float(self.components.loc["heterogeneity", "bf_inclusion"])
        self.bf_bias = float(self.components.loc["bias", "bf_inclusion"])
        self._avg: dict[tuple[str, bool], Averaged] = {}

    # ------------------------------------------------------------------ mixtures
    def _part(self, fit: ModelFit, param: str) -> Any:
        """The posterior of ``param`` in one model (PointMass(0) when it is absent)."""
        s = fit.spec
        if param == "mu" and not s.effect or param == "tau" and not s.heterogeneity:
            return PointMass(0.0)
        if param in ("PET", "PEESE"):
            return WeightedPart(fit.draws[param.lower()], fit.weights) \
                if s.bias.kind == param else PointMass(0.0)
        if s.bias.kind == "none":
            four = self._four
            if param == "mu":
                return (ExactPart(four.random_h1, "mu") if s.heterogeneity
                        else NormalPart(four.fixed_mean, four.fixed_sd))
            return (ExactPart(four.random_h1, "tau") if s.effect
                    else QuadraturePart(four.random_h0))
        return WeightedPart(fit.draws[param], fit.weights)

    def averaged(self, param: str, *, conditional: bool = False) -> Averaged:
        """The model-averaged posterior of ``param`` (``"mu"``, ``"tau"``, ``"PET"``,
        ``"PEESE"``) as a mixture with a spike at 0 (:attr:`Averaged.spike`);
        ``conditional=True`` averages only the models that include the parameter."""
        name, sub = parse_param(param)
        if sub is not None or name not in _PARAMS:
            raise BayesmaError(f"RoBMA posteriors are for {list(_PARAMS)}, not {param!r}")
        key = (name, bool(conditional))
        if key not in self._avg:
            pp = self.models["post_prob"].to_numpy()
            parts = [(w, self._part(f, name)) for w, f in zip(pp, self.fits, strict=True)]
            if conditional:
                parts = [(w, p) for w, p in parts if not isinstance(p, PointMass)]
                tot = sum(w for w, _ in parts)
                if tot <= 0:
                    raise BayesmaError(f"no model with {name} has posterior probability > 0")
                parts = [(w / tot, p) for w, p in parts]
            else:
                tot = sum(w for w, _ in parts)
                parts = [(w / tot, p) for w, p in parts]
            support = (-math.inf, math.inf) if name == "mu" else (0.0, math.inf)
            self._avg[key] = Averaged(_pool(parts), support=support)
        return self._avg[key]

    # ------------------------------------------------------------------ bias parameters
    def weightfunction(self, p: Any = None, *, conditional: bool = False,
                       n: int = 10000) -> pd.DataFrame:
        """Model-averaged weight omega as a function of the one-sided p-value (in the
        expected direction, :attr:`effect_direction`).

        Columns ``p, mean, low, high`` (equal-tailed interval at :attr:`level`); models
        without a weight function count as omega = 1 unless ``conditional=True``. Two-sided
        weight functions are mapped to one-sided p-values (p and 1 - p share a weight).
        """
        return weightfunction_table(self.fits, self.models["post_prob"].to_numpy(), p,
                                    level=self.level, conditional=conditional,
                                    n=n_draws(n, 10000),
                                    seed=self._seed)

    def _coef_summary(self, name: str) -> dict[str, float]:
        lo, hi = self.interval(name, conditional=True)
        return {"mean": self.mean(name, conditional=True),
                "median": self.median(name, conditional=True), "low": lo, "high": hi,
                "post_prob": 1.0 - self.prob_zero(name)}

    @property
    def pet(self) -> dict[str, float]:
        """Conditional posterior of the PET coefficient: mean, median, interval, and the
        posterior probability of the PET models."""
        return self._coef_summary("PET")

    @property
    def peese(self) -> dict[str, float]:
        """Conditional posterior of the PEESE coefficient (as :attr:`pet`)."""
        return self._coef_summary("PEESE")

    # ------------------------------------------------------------------ summaries
    def summary(self, prob: float | None = None, *, conditional: bool = False
                ) -> pd.DataFrame:
        """mean, sd, median, equal-tailed interval and ``P(= 0)`` of mu, tau, PET, PEESE."""
        p = resolve_prob(prob, self.level)
        df = self._summary_frame(("mu", "tau", "PET", "PEESE"), p, conditional=conditional)
        df.attrs.update({"model": "RoBMA-PSMA (model-averaged)", "prob": p,
                         "conditional": conditional,
                         "mu_prior": self.priors["mu"].describe(),
                         "tau_prior": self.priors["tau"].describe()})
        return df

    def to_datatree(self, *, n: int | None = None, random_seed: Any = None) -> xr.DataTree:
        """Draws of mu and tau (4 chains) with the component probabilities as attributes."""
        attrs = {"model": "RoBMAResult", "mu_prior": self.priors["mu"].describe(),
                 "tau_prior": self.priors["tau"].describe(), "level": self.level,
                 "bf_effect": self.bf_effect, "bf_heterogeneity": self.bf_heterogeneity,
                 "bf_bias": self.bf_bias}
        return self._draws_tree(attrs, n, random_seed)

    def __str__(self) -> str:
        return robma_text(self)

    def __repr__(self) -> str:
        return (f"<RoBMAResult k={self.k} models={len(self.fits)} "
                f"bf_effect={self.bf_effect:.4g} bf_heterogeneity={self.bf_heterogeneity:.4g}"
                f" bf_bias={self.bf_bias:.4g}>")

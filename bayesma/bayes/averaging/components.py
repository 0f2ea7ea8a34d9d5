"""The model space of meta_bma: four models, their prior probabilities and default priors.

metaBMA's ``meta_bma`` (Heck, Gronau & Wagenmakers 2017, R package metaBMA; Gronau et
al. 2017, Comprehensive Results in Social Psychology 2:123) averages four models::

    fixed_H0   mu = 0,        tau = 0
    fixed_H1   mu ~ prior,    tau = 0
    random_H0  mu = 0,        tau ~ prior
    random_H1  mu ~ prior,    tau ~ prior

Default priors are RoBMA's on Cohen's d (Bartoš et al. 2023, Res Synth Methods 14:99,
sec. 2: effect Normal(0, 1), heterogeneity InvGamma(1, 0.15) on tau), rescaled for log odds
ratios by the d <-> log OR factor pi/sqrt(3) (Hasselblad & Hedges 1995) and for Fisher's z
by 1/2 (z ≈ r ≈ d/2 near 0; d = 2r/sqrt(1 - r²), Borenstein et al. 2009, eq. 7.5).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayesma.errors import SpecError
from bayesma.priors import InverseGamma, Normal, Prior

__all__ = ["MODELS", "EFFECT_MODELS", "RANDOM_MODELS", "D_SCALE", "prior_scale_factor",
           "default_bma_priors", "model_prior_probs", "check_bma_priors"]

#: the four models in metaBMA's order (its ``prior = c(fixed.H0, fixed.H1, random.H0,
#: random.H1)``)
MODELS = ("fixed_H0", "fixed_H1", "random_H0", "random_H1")
#: models with an effect (mu ~ prior) and with heterogeneity (tau ~ prior)
EFFECT_MODELS = ("fixed_H1", "random_H1")
RANDOM_MODELS = ("random_H0", "random_H1")

#: measures whose analysis scale is Cohen's d (standardised mean differences)
_D_MEASURES = {"SMD", "SMDH", "SMD1", "SMCR", "SMCRH", "SMCC", "D"}
_LOGOR_MEASURES = {"OR", "PETO", "LOGOR", "LOR"}
_Z_MEASURES = {"ZCOR", "Z", "FISHER"}
#: scale factors from Cohen's d to the analysis scale
D_SCALE = {"d": 1.0, "logOR": math.pi / math.sqrt(3.0), "z": 0.5}


def prior_scale_factor(measure: str | None) -> tuple[str, float]:
    """``(scale name, factor)`` taking a prior scale on Cohen's d to ``measure``'s scale.

    Raises
    ------
    SpecError
        For a measure without a known relation to d (give the priors explicitly).
    """
    m = (measure or "").upper()
    if m in _D_MEASURES:
        return "d", D_SCALE["d"]
    if m in _LOGOR_MEASURES:
        return "logOR", D_SCALE["logOR"]
    if m in _Z_MEASURES:
        return "z", D_SCALE["z"]
    raise SpecError(
        f"no default priors for measure {measure!r}: the defaults are RoBMA's priors on "
        "Cohen's d (Normal(0, 1) on mu, InverseGamma(1, 0.15) on tau), rescaled for SMD, "
        "log odds ratios (OR, PETO) and Fisher's z (ZCOR); give mu_prior= and tau_prior= "
        "explicitly for other measures")


def default_bma_priors(measure: str | None) -> dict[str, Prior]:
    """RoBMA's default effect and heterogeneity priors on ``measure``'s scale.

    Normal(0, 1) on d and InverseGamma(1, 0.15) on tau (RoBMA 2.x ``RoBMA()`` defaults;
    Bartoš et al. 2023), multiplied by :func:`prior_scale_factor` (if tau ~ IG(a, b) then
    c·tau ~ IG(a, c·b)).
    """
    _, c = prior_scale_factor(measure)
    return {"mu": Normal(0.0, c), "tau": InverseGamma(1.0, 0.15 * c)}


def check_bma_priors(mu_prior: Any, tau_prior: Any) -> None:
    """Proper Normal mu prior and proper tau prior, else SpecError (the marginal
    likelihoods, hence the Bayes factors, are undefined under improper priors)."""
    if not isinstance(mu_prior, Prior) or not isinstance(mu_prior, Normal):
        raise SpecError(
            f"mu_prior must be a bayesma.priors.Normal (the exact engine integrates mu in "
            f"closed form; a Flat prior makes the Bayes factors undefined), got {mu_prior!r}")
    if not isinstance(tau_prior, Prior) or getattr(tau_prior, "param", None) != "tau":
        raise SpecError(f"tau_prior must be a bayesma prior on tau, got {tau_prior!r}")
    if not tau_prior.proper:
        raise SpecError(f"tau_prior {tau_prior.describe()} is improper: the marginal "
                        "likelihood of the random-effects models, hence every Bayes "
                        "factor, would be undefined")
    if tau_prior.support[0] > 0:
        raise SpecError(f"tau_prior {tau_prior.describe()} excludes tau = 0; model averaging "
                        "needs tau = 0 at the edge of its support")


def model_prior_probs(prior_probs: Any, models: Sequence[str] = MODELS) -> pd.Series:
    """Normalised prior model probabilities (equal by default).

    ``prior_probs`` is None, a sequence in the order of ``models`` or a mapping by model
    name (missing names count 0); values are unnormalised, >= 0 and finite, not all 0.

    Raises
    ------
    SpecError
        For wrong names, lengths or values.
    """
    n = len(models)
    if prior_probs is None:
        vals = np.ones(n)
    elif isinstance(prior_probs, Mapping):
        unknown = [k for k in prior_probs if k not in models]
        if unknown:
            raise SpecError(f"prior_probs: unknown model(s) {unknown}; models: {list(models)}")
        vals = np.array([prior_probs.get(m, 0.0) for m in models], dtype=object)
    elif isinstance(prior_probs, Sequence | np.ndarray | pd.Series) and not isinstance(
            prior_probs, str):
        vals = np.asarray(list(prior_probs), dtype=object)
        if vals.size != n:
            raise SpecError(f"prior_probs: {vals.size} values for {n} models {list(models)}")
    else:
        raise SpecError(f"prior_probs must be a sequence or a mapping, got {prior_probs!r}")
    try:
        arr = np.array([float(v) for v in vals])
    except (TypeError, ValueError):
        raise SpecError(f"prior_probs must be numbers, got {prior_probs!r}") from None
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or arr.sum() <= 0:
        raise SpecError(f"prior_probs must be finite, >= 0 and not all 0, got {list(arr)}")
    return pd.Series(arr / arr.sum(), index=pd.Index(list(models), name="model"),
                     name="prior_prob")

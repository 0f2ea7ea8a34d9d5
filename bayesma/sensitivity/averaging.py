"""Prior sensitivity of Bayesian model averaging: inclusion Bayes factors across prior scales.

metaBMA's ``meta_sensitivity`` (Heck, Gronau & Wagenmakers 2017, R package metaBMA)
refits ``meta_bma`` under a list of effect and heterogeneity priors. Inclusion Bayes
factors depend on the prior scales (wide effect priors favour the null: Lindley's
paradox, Lindley 1957, Biometrika 44:187), so a model-averaged analysis should show how
they move. :func:`bma_sensitivity` refits :func:`bayesma.bma` (exact marginal likelihoods)
for every pair of scales and returns one row per pair.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from bayesma.bayes.averaging import bma, default_bma_priors
from bayesma.errors import SpecError
from bayesma.priors import (
    Exponential,
    HalfCauchy,
    HalfNormal,
    HalfStudentT,
    InverseGamma,
    Normal,
    Prior,
)
from bayesma.sensitivity.common import progress_enabled

__all__ = ["MU_FAMILIES", "TAU_FAMILIES", "BMA_SENSITIVITY_COLUMNS", "bma_sensitivity"]

#: default multiples of the default prior scales (RoBMA's, rescaled for the measure)
DEFAULT_MULTIPLES = (0.25, 0.5, 1.0, 2.0)

#: mu prior families (the exact engine integrates mu in closed form, so mu's prior is
#: Normal)
MU_FAMILIES = ("Normal",)

#: tau prior families: name -> how ``scale`` (and ``shape``) parameterise the prior
TAU_FAMILIES = {
    "InverseGamma": "InverseGamma(alpha=tau_shape, beta=scale) (RoBMA's family)",
    "HalfNormal": "HalfNormal(sigma=scale)",
    "HalfCauchy": "HalfCauchy(beta=scale) (metaBMA's default family)",
    "HalfStudentT": "HalfStudentT(nu=tau_shape, sigma=scale)",
    "Exponential": "Exponential(lam=1/scale) (mean = scale)",
}

#: columns of the returned table
BMA_SENSITIVITY_COLUMNS = [
    "mu_scale", "tau_scale", "mu_prior", "tau_prior", "bf_effect", "bf_heterogeneity",
    "prob_fixed_H0", "prob_fixed_H1", "prob_random_H0", "prob_random_H1",
    "mu_mean", "mu_low", "mu_high",
]


def _tau_prior(family: str, scale: float, shape: float) -> Prior:
    if family == "InverseGamma":
        return InverseGamma(shape, scale)
    if family == "HalfNormal":
        return HalfNormal(scale)
    if family == "HalfCauchy":
        return HalfCauchy(scale)
    if family == "HalfStudentT":
        return HalfStudentT(nu=shape, sigma=scale)
    return Exponential(1.0 / scale)


def _scales(values: Sequence[float] | None, default: float, name: str) -> list[float]:
    if values is None:
        return [default * m for m in DEFAULT_MULTIPLES]
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
        raise SpecError(f"{name} must be a sequence of positive numbers, got {values!r}")
    out = []
    for v in values:
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise SpecError(f"{name}: {v!r} is not a number") from None
        if not math.isfinite(x) or x <= 0:
            raise SpecError(f"{name}: scales must be finite and > 0, got {v!r}")
        out.append(x)
    if not out:
        raise SpecError(f"{name} is empty: give at least one prior scale")
    if len(set(out)) != len(out):
        raise SpecError(f"{name} repeats a scale: {out}")
    return out


def _default_scales(measure: str | None, mu_given: bool, tau_given: bool
                    ) -> tuple[float, float]:
    """Default mu and tau scales: RoBMA's Normal(0, 1) and InverseGamma(1, 0.15) on
    Cohen's d, rescaled for the measure (:func:`default_bma_priors`)."""
    if mu_given and tau_given:
        return math.nan, math.nan
    try:
        d = default_bma_priors(measure)
    except SpecError:
        raise SpecError(
            f"bma_sensitivity: no default prior scales for measure {measure!r}; give "
            "mu_scales= and tau_scales= explicitly (on the analysis scale)") from None
    mu = float(d["mu"].sigma)
    # the inverse-gamma scale (0.15 on d) also serves as the other families' scale
    return mu, float(d["tau"].beta)


def bma_sensitivity(
    data: pd.DataFrame,
    yi: str = "yi",
    vi: str = "vi",
    *,
    mu_scales: Sequence[float] | None = None,
    tau_scales: Sequence[float] | None = None,
    mu_prior_family: str = "Normal",
    tau_prior_family: str = "InverseGamma",
    mu_location: float = 0.0,
    tau_shape: float = 1.0,
    prior_probs: Any = None,
    measure: str | None = None,
    slab: str | None = None,
    sei: str | None = None,
    level: float = 0.95,
    progress: bool | None = None,
) -> pd.DataFrame:
    """How the inclusion Bayes factors of :func:`bayesma.bma` move with the prior scales.

    metaBMA's ``meta_sensitivity``: :func:`bayesma.bma` is refitted (exact marginal
    likelihoods) for every pair ``(mu_scale, tau_scale)``.

    Parameters
    ----------
    data : DataFrame
        One row per study.
    yi, vi : str
        Columns of effect sizes and sampling variances (or ``sei=`` standard errors).
    mu_scales : sequence of float, optional
        Standard deviations of the Normal effect prior ``Normal(mu_location, scale)`` on
        the analysis scale. Default: 0.25, 0.5, 1 and 2 times RoBMA's Normal(0, 1) on
        Cohen's d rescaled for the measure (pi/sqrt(3) for log odds ratios, 1/2 for
        Fisher's z).
    tau_scales : sequence of float, optional
        Scales of the heterogeneity prior (see ``tau_prior_family``). Default: 0.25, 0.5,
        1 and 2 times RoBMA's InverseGamma(1, 0.15) scale on d (0.15), rescaled for the
        measure, whatever the family.
    mu_prior_family : {"Normal"}
        Family of the effect prior (the exact engine integrates mu in closed form, so
        only Normal priors are available; metaBMA's t and Cauchy priors are not).
    tau_prior_family : str
        ``"InverseGamma"`` (shape ``tau_shape``, scale), ``"HalfNormal"`` (sigma),
        ``"HalfCauchy"`` (scale), ``"HalfStudentT"`` (``nu = tau_shape``, sigma) or
        ``"Exponential"`` (mean = scale).
    mu_location : float
        Location of the effect prior (0: the null value on the analysis scale).
    tau_shape : float
        Shape of the inverse-gamma prior, or degrees of freedom of the half-t.
    prior_probs : optional
        Prior model probabilities, as :func:`bayesma.bma`.
    measure, slab, sei : str, optional
        As :func:`bayesma.bma` (the measure sets the default scales).
    level : float
        Probability of the model-averaged interval of mu.
    progress : bool or None
        Progress bar over the grid (tqdm); None: only on a terminal.

    Returns
    -------
    DataFrame
        One row per ``(mu_scale, tau_scale)``, columns :data:`BMA_SENSITIVITY_COLUMNS`:
        the scales, the priors as text, ``bf_effect`` and ``bf_heterogeneity``
        (inclusion Bayes factors), the four posterior model probabilities and the
        model-averaged posterior mean of mu with its equal-tailed interval (the spike at
        0 included). ``attrs`` holds the families, level and measure.

    Raises
    ------
    SpecError
        Unknown families, scales that are not positive numbers, or no default scales
        for the measure.
    DataError
        Invalid study data (from :func:`bayesma.bma`).
    """
    if mu_prior_family not in MU_FAMILIES:
        raise SpecError(
            f"bma_sensitivity: mu_prior_family must be 'Normal' (the exact engine integrates "
            f"mu in closed form under a Normal prior), got {mu_prior_family!r}")
    if tau_prior_family not in TAU_FAMILIES:
        raise SpecError(f"bma_sensitivity: tau_prior_family must be one of "
                        f"{', '.join(TAU_FAMILIES)}; got {tau_prior_family!r}")
    if not (isinstance(tau_shape, numbers.Real) and math.isfinite(tau_shape) and tau_shape > 0):
        raise SpecError(f"bma_sensitivity: tau_shape must be a positive number, got "
                        f"{tau_shape!r}")
    if not (isinstance(mu_location, numbers.Real) and math.isfinite(mu_location)):
        raise SpecError(f"bma_sensitivity: mu_location must be a finite number, got "
                        f"{mu_location!r}")
    if measure is None and isinstance(data, pd.DataFrame):
        measure = data.attrs.get("measure")
    mu_def, tau_def = _default_scales(measure, mu_scales is not None, tau_scales is not None)
    mus = _scales(mu_scales, mu_def, "mu_scales")
    taus = _scales(tau_scales, tau_def, "tau_scales")
    rows = []
    grid = [(m, t) for m in mus for t in taus]
    for m, t in tqdm(grid, desc="bma sensitivity", disable=not progress_enabled(progress),
                     leave=False):
        mp = Normal(float(mu_location), m)
        tp = _tau_prior(tau_prior_family, t, float(tau_shape))
        fit = bma(data, yi, vi, mu_prior=mp, tau_prior=tp, prior_probs=prior_probs,
                  measure=measure, slab=slab, sei=sei, level=level)
        lo, hi = fit.interval("mu")
        pp = fit.posterior_probs
        rows.append([m, t, mp.describe(), tp.describe(), fit.bf_effect,
                     fit.bf_heterogeneity, *(float(pp[k]) for k in
                                             ("fixed_H0", "fixed_H1", "random_H0",
                                              "random_H1")),
                     fit.mean("mu"), lo, hi])
    out = pd.DataFrame(rows, columns=BMA_SENSITIVITY_COLUMNS)
    out.attrs.update({"mu_prior_family": mu_prior_family, "tau_prior_family": tau_prior_family,
                      "mu_location": float(mu_location), "tau_shape": float(tau_shape),
                      "level": float(level), "measure": measure})
    return out

"""``RoBMA``: robust Bayesian model averaging over effect, heterogeneity and publication bias.

RoBMA-PSMA (Bartoš, Maier, Wagenmakers, Doucouliagos & Stanley 2023, Res Synth Methods
14:99; R package RoBMA): 2 (effect) x 2 (heterogeneity) x 9 (no bias, six weight
functions, PET, PEESE) = 36 models with RoBMA's default priors and prior model
probabilities (:mod:`.defaults`), marginal likelihoods without MCMC (:mod:`.ensemble`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from bayesma.bayes.averaging.marginal import fit_four_models
from bayesma.bayes.averaging.robma.defaults import model_space, resolve_priors
from bayesma.bayes.averaging.robma.ensemble import fit_ensemble
from bayesma.bayes.averaging.robma.result import RoBMAResult
from bayesma.bayes.exact import exact_posterior
from bayesma.bayes.exact.checks import confidence_level
from bayesma.errors import BayesmaWarning, DataError, SpecError

__all__ = ["RoBMA", "MIN_STUDIES", "check_integration"]

#: fewest studies for which the selection (weight-function) models are fitted
MIN_STUDIES = 3


def RoBMA(data: pd.DataFrame, yi: str = "yi", vi: str = "vi", *, sei: str | None = None,  # noqa: N802 - RoBMA's name
          measure: str | None = None, slab: str | None = None,
          priors: Mapping[str, Any] | None = None,
          prior_weights: Mapping[str, float] | None = None,
          effect_direction: str = "positive", level: float = 0.95, seed: Any = None,
          progress: bool | None = None) -> RoBMAResult:
    """Robust Bayesian model-averaged meta-analysis (RoBMA-PSMA, 36 models).

    Parameters
    ----------
    data : DataFrame
        One row per study.
    yi, vi : str
        Columns of effect sizes and sampling variances (or ``sei=`` standard errors).
    sei : str, optional
        Column of standard errors instead of ``vi``.
    measure : str, optional
        Effect measure (default ``data.attrs["measure"]``). RoBMA's priors are on Cohen's
        d and are rescaled for log odds ratios (x pi/sqrt(3)) and Fisher's z (x 1/2): mu's
        sd and tau's scale by the factor, PEESE's scale by its inverse, PET unchanged
        (:mod:`bayesma.bayes.averaging.robma.defaults`). Without a measure the priors are
        used on the data's scale (RoBMA's ``y =`` input).
    slab : str, optional
        Column of study labels.
    priors : dict, optional
        Overrides of ``"mu"`` (a :class:`~bayesma.priors.Normal`), ``"tau"`` (a proper
        prior on tau), ``"pet"``, ``"peese"`` (half-Cauchy scales of the coefficients).
    prior_weights : dict, optional
        ``"effect"``, ``"heterogeneity"`` (prior probability of presence, default 1/2)
        and relative weights of bias components by name (default: none 1, each weight
        function 1/12, PET 1/4, PEESE 1/4). Models of prior probability 0 are left out.
    effect_direction : {"positive", "negative"}
        The expected direction of the effect (RoBMA's ``effect_direction``): one-sided
        weight functions favour significant results in this direction, and PET/PEESE
        shift small studies towards it (their coefficients are reported as magnitudes
        >= 0). A warning is given when the pooled estimate points the other way.
    level : float
        Default probability of credible intervals.
    seed : int, optional
        Seed of the importance sampling (posteriors of the bias models) and of the
        interval draws; the marginal likelihoods are deterministic.
    progress : bool, optional
        Progress bar over the models (default: only on a terminal).

    Returns
    -------
    RoBMAResult

    Notes
    -----
    Marginal likelihoods: exact for the 4 no-bias models (the numbers of :func:`bm.bma`)
    and the 8 PET/PEESE models (closed form in mu, scale-mixture form in the coefficient,
    adaptive Gauss-Kronrod in tau; relative error ~1e-10); sinh-warped adaptive
    Gauss-Hermite quadrature for the 24 weight-function models, with an error estimate in
    ``.models["error"]`` (on the log scale: typically below 3e-3, up to ~2e-2 for the
    five-parameter models; Bayes factors to ~1%) and a check by importance sampling
    (``log_ml_is``, ``se_is``).

    Raises
    ------
    DataError
        Missing or invalid values (naming column and row), ``vi <= 0``, or fewer than
        3 studies (too few for the selection models).
    SpecError
        Invalid priors, prior weights or effect direction, or a measure without default
        priors.
    """
    level = confidence_level(level)
    if effect_direction not in ("positive", "negative"):
        raise SpecError(f"effect_direction must be 'positive' or 'negative', got "
                        f"{effect_direction!r}")
    direction = 1 if effect_direction == "positive" else -1
    if measure is None and isinstance(data, pd.DataFrame):
        measure = data.attrs.get("measure")
    pri = resolve_priors(priors, measure)
    models = model_space(pri, prior_weights)
    post = exact_posterior(data, yi, vi, mu_prior=pri["mu"], tau_prior=pri["tau"],
                           measure=measure, slab=slab, sei=sei, level=level)
    if len(post.labels) < MIN_STUDIES:
        raise DataError(f"RoBMA needs at least {MIN_STUDIES} studies (the selection models "
                        f"are not identified with fewer), got {len(post.labels)}",
                        column=yi)
    four = fit_four_models(post.yi, post.vi, pri["mu"], pri["tau"], random_h1=post)
    pooled = float(np.average(post.yi, weights=1.0 / post.vi))
    if pooled * direction < 0:  # RoBMA's .check_effect_direction warns likewise
        warnings.warn(f"the pooled estimate ({pooled:.3g}) points the other way than "
                      f"effect_direction={effect_direction!r}: the one-sided weight "
                      "functions and PET/PEESE assume bias towards that direction",
                      BayesmaWarning, stacklevel=2)
    fits = fit_ensemble(models, post.yi, post.vi, pri, four, seed=seed, progress=progress,
                        direction=direction)
    check_integration(fits)
    return RoBMAResult(fits, four, pri, labels=post.labels, data=post.data, measure=measure,
                       classical=post.classical, level=level, seed=seed,
                       effect_direction=effect_direction)


def check_integration(fits: list[Any]) -> None:
    """Warn when the quadrature and the importance-sampling check of a weight-function
    model disagree by more than 5 combined errors and 0.05 on the log scale."""
    bad = [f.spec.name for f in fits if f.method == "aghq" and np.isfinite(f.log_ml_is)
           and abs(f.log_ml - f.log_ml_is) > max(5 * np.hypot(f.error, f.se_is), 0.05)]
    if bad:
        warnings.warn(f"RoBMA: the two integration methods disagree for {bad}; their "
                      "marginal likelihoods (hence the model probabilities) are uncertain "
                      "(see .models['log_ml'] and ['log_ml_is'])", BayesmaWarning,
                      stacklevel=3)

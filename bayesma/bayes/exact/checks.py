"""Checks of the exact engine's inputs: priors it supports and the interval level."""

from __future__ import annotations

from bayesma.classical.settings import parse_level
from bayesma.errors import BayesmaError
from bayesma.priors import Prior

__all__ = ["check_location_prior", "check_tau_prior", "confidence_level"]


def check_location_prior(prior: Prior, what: str) -> None:
    """A Normal or Flat location prior (then mu | tau is Gaussian), else BayesmaError."""
    if not isinstance(prior, Prior):
        raise BayesmaError(f"{what} must be a bayesma prior object, got {prior!r}")
    if getattr(prior, "param", "mu") == "tau":
        raise BayesmaError(f"{what}: {prior.describe()} is a prior for tau, not for a "
                           "location parameter")
    if not prior.is_normal:
        raise BayesmaError(
            f"{what}: the exact engine needs a Normal or Flat prior (then mu | tau is "
            f"Gaussian); {prior.describe()} is not. Use the MCMC models "
            "(bm.RandomEffects / bm.MetaRegression) for other priors."
        )


def check_tau_prior(prior: Prior) -> None:
    """A prior on tau, else BayesmaError."""
    if not isinstance(prior, Prior):
        raise BayesmaError(f"tau_prior must be a bayesma prior object, got {prior!r}")
    if getattr(prior, "param", "tau") != "tau":
        raise BayesmaError(f"tau_prior: {prior.describe()} is not a prior for tau (use "
                           "HalfNormal, HalfCauchy, Uniform, LogNormalTau2, ...)")


def confidence_level(level: float) -> float:
    """``level`` as 0.95 or 95 (metafor's convention) -> a probability in (0, 1): the
    rule of every engine (:func:`bayesma.classical.settings.parse_level`; a string such
    as ``"0.95"`` is refused, not parsed)."""
    return parse_level(level)

"""Bayesian engines: the exact quadrature engine and the PyMC models."""

from bayesma.bayes.exact import ExactPosterior, exact_posterior, exact_posterior_arrays

__all__ = [
    "ExactPosterior",
    "exact_posterior",
    "exact_posterior_arrays",
]

# PyMC models and MCMC fits (PyMC itself is imported only when a model is built or fitted)
from bayesma.bayes.fit import BayesFit, load  # noqa: E402
from bayesma.bayes.models import (  # noqa: E402
    CommonEffect,
    MetaRegression,
    RandomEffects,
    RobustRandomEffects,
    Subgroups,
)

__all__ += ["BayesFit", "CommonEffect", "MetaRegression", "RandomEffects",
            "RobustRandomEffects", "Subgroups", "load"]

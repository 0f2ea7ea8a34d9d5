"""Bayesian engines: the exact quadrature engine and the PyMC models.

Every result satisfies :class:`bayesma.bayes.protocol.Posterior`; summaries come from
:func:`bayesma.bayes.table.posterior_table`. PyMC itself is imported only when a model is
built or fitted.
"""

from bayesma.bayes.centering import Centering, center_design, check_prior_scale
from bayesma.bayes.exact import ExactPosterior, exact_posterior, exact_posterior_arrays
from bayesma.bayes.fit import BayesFit, load
from bayesma.bayes.models import (
    CommonEffect,
    MetaRegression,
    Multilevel,
    Multivariate,
    RandomEffects,
    RobustRandomEffects,
    Subgroups,
)
from bayesma.bayes.protocol import Posterior
from bayesma.bayes.subgroups import ExactSubgroups, exact_subgroups
from bayesma.bayes.table import posterior_table

__all__ = [
    "BayesFit",
    "Centering",
    "CommonEffect",
    "ExactPosterior",
    "ExactSubgroups",
    "MetaRegression",
    "Multilevel",
    "Multivariate",
    "Posterior",
    "RandomEffects",
    "RobustRandomEffects",
    "Subgroups",
    "center_design",
    "check_prior_scale",
    "exact_posterior",
    "exact_posterior_arrays",
    "exact_subgroups",
    "load",
    "posterior_table",
]

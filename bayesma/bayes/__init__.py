"""Bayesian engines: the exact quadrature engine and the PyMC models.

Every result satisfies :class:`bayesma.bayes.protocol.Posterior`; summaries come from
:func:`bayesma.bayes.table.posterior_table`. PyMC itself is imported only when a model is
built or fitted. The names below are imported on first use (PEP 562), so that fitting a
model does not import the exact engine (scipy.optimize) and the reverse (issue 16).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bayesma.lazy import lazy_getattr

#: public name -> the module that defines it
_NAMES = {
    "BayesFit": "bayesma.bayes.fit",
    "load": "bayesma.bayes.fit",
    "Centering": "bayesma.bayes.centering",
    "center_design": "bayesma.bayes.centering",
    "check_prior_scale": "bayesma.bayes.centering",
    "ExactPosterior": "bayesma.bayes.exact",
    "exact_posterior": "bayesma.bayes.exact",
    "exact_posterior_arrays": "bayesma.bayes.exact",
    "CommonEffect": "bayesma.bayes.models",
    "MetaRegression": "bayesma.bayes.models",
    "Multilevel": "bayesma.bayes.models",
    "Multivariate": "bayesma.bayes.models",
    "RandomEffects": "bayesma.bayes.models",
    "RobustRandomEffects": "bayesma.bayes.models",
    "Subgroups": "bayesma.bayes.models",
    "Posterior": "bayesma.bayes.protocol",
    "ExactSubgroups": "bayesma.bayes.subgroups",
    "exact_subgroups": "bayesma.bayes.subgroups",
    "posterior_table": "bayesma.bayes.table",
}

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


__getattr__ = lazy_getattr(__name__, _NAMES)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NAMES))


if TYPE_CHECKING:  # pragma: no cover
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

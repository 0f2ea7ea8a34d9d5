"""All prior families in one namespace (kept for ``bayesma.priors.families.X`` imports).

The families live in :mod:`bayesma.priors.tau` (priors on the heterogeneity tau) and
:mod:`bayesma.priors.location` (priors on mu and regression coefficients); the base
class and the registry :data:`PRIOR_FAMILIES` in :mod:`bayesma.priors.base`;
spec parsing in :mod:`bayesma.priors.parsing`.
"""

from __future__ import annotations

from bayesma.priors.base import PRIOR_FAMILIES, Prior
from bayesma.priors.location import Cauchy, Flat, Normal, StudentT
from bayesma.priors.parsing import prior_from_spec
from bayesma.priors.tau import (
    Exponential,
    HalfCauchy,
    HalfNormal,
    HalfStudentT,
    InverseGamma,
    InverseGammaTau2,
    Jeffreys,
    LogNormal,
    LogNormalTau2,
    LogStudentTTau2,
    Tau2Prior,
    TauPrior,
    Uniform,
    UniformTau,
)

__all__ = [
    "Prior",
    "TauPrior",
    "Tau2Prior",
    "HalfNormal",
    "HalfCauchy",
    "HalfStudentT",
    "Exponential",
    "Uniform",
    "LogNormal",
    "InverseGamma",
    "LogNormalTau2",
    "LogStudentTTau2",
    "InverseGammaTau2",
    "UniformTau",
    "Jeffreys",
    "Normal",
    "StudentT",
    "Cauchy",
    "Flat",
    "prior_from_spec",
    "PRIOR_FAMILIES",
]

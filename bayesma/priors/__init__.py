"""Prior objects for tau, mu and regression coefficients, with published presets.

>>> import bayesma as bm
>>> bm.priors.HalfNormal(0.5)                 # on tau
>>> bm.priors.LogNormalTau2(-2.56, 1.74)      # on tau² (Turner et al. 2015 form)
>>> bm.priors.default_priors("OR")            # documented defaults per measure
"""

from bayesma.priors.defaults import DEFAULTS, default_priors
from bayesma.priors.families import (
    PRIOR_FAMILIES,
    Cauchy,
    Exponential,
    Flat,
    HalfCauchy,
    HalfNormal,
    HalfStudentT,
    InverseGamma,
    InverseGammaTau2,
    Jeffreys,
    LogNormal,
    LogNormalTau2,
    LogStudentTTau2,
    Normal,
    Prior,
    StudentT,
    Uniform,
    UniformTau,
    prior_from_spec,
)

__all__ = [
    "DEFAULTS",
    "PRIOR_FAMILIES",
    "Cauchy",
    "Exponential",
    "Flat",
    "HalfCauchy",
    "HalfNormal",
    "HalfStudentT",
    "InverseGamma",
    "InverseGammaTau2",
    "Jeffreys",
    "LogNormal",
    "LogNormalTau2",
    "LogStudentTTau2",
    "Normal",
    "Prior",
    "StudentT",
    "Uniform",
    "UniformTau",
    "default_priors",
    "prior_from_spec",
]

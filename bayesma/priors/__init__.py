"""Prior objects for tau, mu and regression coefficients, with published presets.

>>> import bayesma as bm
>>> bm.priors.HalfNormal(0.5)                 # on tau
>>> bm.priors.LogNormalTau2(-2.56, 1.74)      # on tau² (Turner et al. 2015 form)
>>> bm.priors.default_priors("OR")            # documented defaults per measure
>>> bm.priors.turner2015("all-cause mortality", "pharmacological vs placebo/control")
>>> bm.priors.rhodes2015("mental health", "non-pharmacological", area="cancer")
>>> bm.priors.prior_from_spec({"family": "HalfNormal", "sigma": 0.5}, role="tau")

Modules: ``base`` (the ``Prior`` class, the family registry), ``tau`` and ``location``
(the families), ``parsing`` (specs and presets by name), ``presets`` (published
tables), ``defaults`` (default priors per measure); ``families`` re-exports them all.
"""

from bayesma.priors.base import KERNEL_DEFAULTS
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
    Tau2Prior,
    TauPrior,
    Uniform,
    UniformTau,
    prior_from_spec,
)
from bayesma.priors.parsing import PRESETS, PRIOR_ROLES, Preset, families_for
from bayesma.priors.presets import (
    bartos2021,
    bartos2021_table,
    list_presets,
    rhodes2015,
    rhodes2015_table,
    turner2015,
    turner2015_table,
)

__all__ = [
    "DEFAULTS",
    "KERNEL_DEFAULTS",
    "PRESETS",
    "PRIOR_ROLES",
    "Preset",
    "Tau2Prior",
    "TauPrior",
    "families_for",
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
    "bartos2021",
    "bartos2021_table",
    "default_priors",
    "list_presets",
    "prior_from_spec",
    "rhodes2015",
    "rhodes2015_table",
    "turner2015",
    "turner2015_table",
]

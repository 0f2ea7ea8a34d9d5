"""Classical (frequentist) meta-analysis engine, matching metafor 3.8."""

from bayesma.classical.bias import (
    FailSafeNResult,
    RankTestResult,
    RegTestResult,
    TrimFillResult,
    fsn,
    ranktest,
    regtest,
    trimfill,
)
from bayesma.classical.confint import HeterogeneityCI, qprofile
from bayesma.classical.influence import cumul, influence, leave1out
from bayesma.classical.multilevel import RMAMVResult, impute_covariance_matrix, rma_mv
from bayesma.classical.rma import RMAResult, fit_arrays, rma
from bayesma.classical.robust import (
    RobustResult,
    WaldTestResult,
    coef_test,
    robust,
    vcov_cr,
    wald_test,
)
from bayesma.classical.subgroup import SubgroupResult, subgroup
from bayesma.classical.tau2 import Tau2Estimate, estimate_tau2

__all__ = [
    "FailSafeNResult",
    "RankTestResult",
    "RegTestResult",
    "TrimFillResult",
    "cumul",
    "fsn",
    "influence",
    "leave1out",
    "ranktest",
    "regtest",
    "trimfill",
    "RMAResult",
    "Tau2Estimate",
    "estimate_tau2",
    "fit_arrays",
    "rma",
    "HeterogeneityCI",
    "qprofile",
    "SubgroupResult",
    "subgroup",
    "RMAMVResult",
    "impute_covariance_matrix",
    "rma_mv",
    "RobustResult",
    "WaldTestResult",
    "coef_test",
    "robust",
    "vcov_cr",
    "wald_test",
]

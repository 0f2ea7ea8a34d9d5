"""Classical (frequentist) meta-analysis engine, matching metafor 3.8.

Names are imported lazily (PEP 562), so ``from bayesma.classical import rma`` loads the
``rma`` path only: not the bias tests, robust variance, influence or multilevel modules
(and not ``scipy.stats``, which several of them need).
"""

from __future__ import annotations

import sys
import types
from typing import Any

from bayesma.lazy import lazy_getattr

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "FailSafeNResult": "bayesma.classical.bias",
    "RankTestResult": "bayesma.classical.bias",
    "RegTestResult": "bayesma.classical.bias",
    "TrimFillResult": "bayesma.classical.bias",
    "fsn": "bayesma.classical.bias",
    "ranktest": "bayesma.classical.bias",
    "regtest": "bayesma.classical.bias",
    "trimfill": "bayesma.classical.bias",
    "HeterogeneityCI": "bayesma.classical.confint",
    "qprofile": "bayesma.classical.confint",
    "cumul": "bayesma.classical.influence",
    "influence": "bayesma.classical.influence",
    "leave1out": "bayesma.classical.influence",
    "RMAMVResult": "bayesma.classical.multilevel",
    "impute_covariance_matrix": "bayesma.classical.multilevel",
    "rma_mv": "bayesma.classical.multilevel",
    "RMAResult": "bayesma.classical.rma",
    "fit_arrays": "bayesma.classical.rma",
    "rma": "bayesma.classical.rma",
    "RobustResult": "bayesma.classical.robust",
    "WaldTestResult": "bayesma.classical.robust",
    "coef_test": "bayesma.classical.robust",
    "robust": "bayesma.classical.robust",
    "vcov_cr": "bayesma.classical.robust",
    "wald_test": "bayesma.classical.robust",
    "SubgroupResult": "bayesma.classical.subgroup",
    "subgroup": "bayesma.classical.subgroup",
    "Tau2Estimate": "bayesma.classical.tau2",
    "estimate_tau2": "bayesma.classical.tau2",
}

__all__ = sorted(_LAZY)


class _LazyPackage(types.ModuleType):
    """The package module: importing a submodule that shares a public function's name
    (``rma``, ``robust``, ``subgroup``, ``influence``) does not replace the function."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _LazyPackage


__getattr__ = lazy_getattr(__name__, _LAZY)


def __dir__() -> list[str]:
    return __all__

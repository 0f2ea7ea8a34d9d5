"""The classical twin of the three-level model: ``rma_mv`` (REML) with CR2 robust SEs.

The twin is metafor's ``rma.mv(yi, V, random = ~ 1 | study/esid)`` (bayesma's
:func:`~bayesma.classical.multilevel.rma_mv`) with cluster-robust inference by
``robust(..., cluster = study, clubSandwich = TRUE)`` (CR2 with Satterthwaite df;
Pustejovsky & Tipton 2018), the inference recommended for three-level models whose
sampling covariances are only approximately known.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from bayesma.bayes.multilevel.inputs import MultilevelData
from bayesma.classical.first_term import FirstTermMixin
from bayesma.classical.multilevel import rma_mv
from bayesma.classical.robust import robust
from bayesma.errors import BayesmaError

__all__ = ["MultilevelTwin", "multilevel_twin"]


@dataclass(frozen=True)
class MultilevelTwin(FirstTermMixin):
    """``rma_mv`` REML fit with CR2 robust coefficients, shaped for the summary table.

    Attributes
    ----------
    fit : RMAMVResult
        The REML fit (model-based standard errors).
    robust : RobustResult or None
        CR2 inference clustered by the outer level (None when it cannot be computed,
        e.g. too few clusters; ``coef`` is then model-based).
    coef : DataFrame
        ``estimate, se, stat, pval, ci_low, ci_high`` (and ``df``) by term.
    tau2 : dict
        REML variance components by level name.
    """

    fit: Any
    robust: Any
    cluster: str
    levels: tuple[str, str]
    level: float
    method: str = "REML"

    @property
    def test(self) -> str:
        """``"CR2"`` (robust) or the fit's test."""
        return "CR2" if self.robust is not None else self.fit.test

    @property
    def coef(self) -> pd.DataFrame:
        return (self.robust if self.robust is not None else self.fit).coef

    @property
    def p(self) -> int:
        return int(self.fit.p)

    @property
    def twin_label(self) -> str:
        """Label of the twin in summary tables: ``"REML (CR2)"`` (or the fit's test)."""
        return f"{self.method} ({self.test})"

    @property
    def tau2(self) -> dict[str, float]:
        return {lv: float(s) for lv, s in zip(self.levels, self.fit.sigma2, strict=True)}

    def _pred(self) -> pd.DataFrame | None:
        if self.p != 1:
            return None
        return self.fit.predict(level=self.level)

    @property
    def pi_low(self) -> float | None:
        """Prediction interval of a new effect (metafor's ``predict.rma``:
        ``pred ± crit sqrt(se² + sum(sigma2))``, model-based)."""
        pr = self._pred()
        return None if pr is None else float(pr["pi_low"].iloc[0])

    @property
    def pi_high(self) -> float | None:
        pr = self._pred()
        return None if pr is None else float(pr["pi_high"].iloc[0])

    def with_settings(self, level: float | None = None, **_: Any) -> MultilevelTwin:
        """The twin at another confidence level (other settings are fixed)."""
        if level is None or math.isclose(level, self.level):
            return self
        fit = self.fit
        rob = None
        if self.robust is not None:
            rob = robust(fit, cluster=self.cluster, clubSandwich=True, level=level)
        return replace(self, fit=fit, robust=rob, level=float(level))


def multilevel_twin(ml: MultilevelData, *, level: float = 0.95, method: str = "REML"
                    ) -> MultilevelTwin:
    """Fit the classical twin of a three-level model (see the module documentation)."""
    method = str(method).upper()
    if method not in ("REML", "ML"):
        raise BayesmaError(f"the classical twin of the three-level model is rma_mv with "
                           f"method 'REML' or 'ML', got {method!r}")
    d = ml.data.copy()
    d["_yi"], d["_vi"] = ml.yi, ml.vi
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = rma_mv(d, "_yi", "_vi", V=ml.V, random=ml.random, mods=ml.mods,
                     method=method, level=level, measure=ml.measure)
        try:
            rob = robust(fit, cluster=ml.levels[0], clubSandwich=True, level=level)
        except BayesmaError:
            rob = None
    return MultilevelTwin(fit=fit, robust=rob, cluster=ml.levels[0], levels=ml.levels,
                          level=float(level), method=method)


"""PET-PEESE: precision-effect test and precision-effect estimate with standard error
(Stanley & Doucouliagos 2014, Research Synthesis Methods 5:60-78).

PET is the weighted regression ``lm(yi ~ sei, weights = 1/vi)`` and PEESE
``lm(yi ~ vi, weights = 1/vi)``, both with a multiplicative error (the residual variance
is estimated, as R's ``lm``); their intercepts estimate the effect of a study with
standard error 0. The conditional PET-PEESE estimate is PEESE's intercept when PET's
intercept differs from 0 in the expected direction (one-sided test at alpha = 0.05), and
PET's otherwise (Stanley & Doucouliagos 2014, section 3; Stanley 2017, Social
Psychological and Personality Science 8:581-591).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayesma.classical.bias.common import p_equals
from bayesma.classical.checks import intercept_only
from bayesma.classical.rma import RMAResult, require_rma_result
from bayesma.errors import BayesmaError, TooFewStudiesError
from bayesma.formatting import fmt_plain
from bayesma.tails import t_isf, t_sf

__all__ = ["PetPeeseFit", "PetPeeseResult", "pet_peese"]


@dataclass(frozen=True)
class PetPeeseFit:
    """One meta-regression of PET-PEESE: ``lm(yi ~ x, weights = 1/vi)``.

    Attributes
    ----------
    name : {"PET", "PEESE"}
    predictor : {"sei", "vi"}
    estimate, se, stat, pval, ci_low, ci_high : float
        The intercept (the limit estimate as the predictor -> 0), its t test (two-sided
        p-value, df = k - 2) and t-based confidence interval.
    slope, slope_se, slope_pval : float
        The coefficient of the predictor.
    df : int
    sigma : float
        Residual standard error (the multiplicative dispersion is sigma²).
    """

    name: str
    predictor: str
    estimate: float
    se: float
    stat: float
    pval: float
    ci_low: float
    ci_high: float
    slope: float
    slope_se: float
    slope_pval: float
    df: int
    sigma: float

    def predict(self, sei: Any) -> np.ndarray:
        """The fitted line at standard errors ``sei`` (PEESE: a curve in sei)."""
        s = np.asarray(sei, dtype=float)
        x = s if self.predictor == "sei" else s * s
        return self.estimate + self.slope * x


def _lm(yi: np.ndarray, vi: np.ndarray, x: np.ndarray, name: str, predictor: str,
        level: float) -> PetPeeseFit:
    """R's ``summary(lm(yi ~ x, weights = 1/vi))`` by QR of the weighted design."""
    sw = 1.0 / np.sqrt(vi)
    Xw = np.column_stack([sw, x * sw])
    yw = yi * sw
    q, r = np.linalg.qr(Xw)
    beta = np.linalg.solve(r, q.T @ yw)
    resid = yw - Xw @ beta
    df = len(yi) - 2
    sigma2 = float(resid @ resid) / df
    rinv = np.linalg.inv(r)
    se = np.sqrt(sigma2 * np.diag(rinv @ rinv.T))
    t = beta / se
    p = 2.0 * t_sf(np.abs(t), df)
    crit = float(t_isf((1.0 - level) / 2.0, df))
    return PetPeeseFit(
        name=name, predictor=predictor, estimate=float(beta[0]), se=float(se[0]),
        stat=float(t[0]), pval=float(p[0]), ci_low=float(beta[0] - crit * se[0]),
        ci_high=float(beta[0] + crit * se[0]), slope=float(beta[1]),
        slope_se=float(se[1]), slope_pval=float(p[1]), df=df, sigma=math.sqrt(sigma2),
    )


@dataclass(frozen=True)
class PetPeeseResult:
    """PET, PEESE and the conditional PET-PEESE estimate.

    Attributes
    ----------
    pet, peese : PetPeeseFit
    chosen : {"PET", "PEESE"}
        The model of the conditional estimate.
    estimate, se, ci_low, ci_high, pval : float
        The conditional estimate (the chosen model's intercept).
    direction : {"greater", "less"}
        Direction of the expected effect used by the one-sided test of PET's intercept.
    pet_one_sided_pval : float
        One-sided p-value of PET's intercept in that direction.
    alpha : float
        Level of that test (0.05).
    k : int
    """

    pet: PetPeeseFit
    peese: PetPeeseFit
    chosen: str
    direction: str
    pet_one_sided_pval: float
    alpha: float
    k: int
    level: float
    measure: str | None = None
    _chosen_fit: PetPeeseFit = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_chosen_fit", self.peese if self.chosen == "PEESE"
                           else self.pet)

    @property
    def estimate(self) -> float:
        """The conditional PET-PEESE estimate."""
        return self._chosen_fit.estimate

    @property
    def se(self) -> float:
        return self._chosen_fit.se

    @property
    def ci_low(self) -> float:
        return self._chosen_fit.ci_low

    @property
    def ci_high(self) -> float:
        return self._chosen_fit.ci_high

    @property
    def pval(self) -> float:
        return self._chosen_fit.pval

    @property
    def method(self) -> str:
        """Alias of :attr:`chosen`."""
        return self.chosen

    def to_frame(self) -> pd.DataFrame:
        """One row per model (PET, PEESE): intercept, se, t, p, CI, slope."""
        rows = []
        for f in (self.pet, self.peese):
            rows.append({"estimate": f.estimate, "se": f.se, "stat": f.stat, "pval": f.pval,
                         "ci_low": f.ci_low, "ci_high": f.ci_high, "slope": f.slope,
                         "slope_se": f.slope_se, "slope_pval": f.slope_pval, "df": f.df,
                         "chosen": f.name == self.chosen})
        return pd.DataFrame(rows, index=pd.Index(["PET", "PEESE"], name="model"))

    def summary(self, digits: int = 4) -> str:
        """A printout of both regressions and the conditional estimate."""
        d = digits
        pct = f"{100 * self.level:g}%"
        lines = ["", "PET-PEESE (Stanley & Doucouliagos 2014)", "",
                 f"Model: weighted regression with multiplicative dispersion (k = {self.k})", ""]
        for f in (self.pet, self.peese):
            pred = "standard error" if f.predictor == "sei" else "sampling variance"
            lines.append(
                f"{f.name:<5}  (predictor: {pred}):  b0 = {fmt_plain(f.estimate, d)} "
                f"(SE = {fmt_plain(f.se, d)}, t = {fmt_plain(f.stat, d)}, df = {f.df}, "
                f"{p_equals(f.pval, d)}; {pct} CI: {fmt_plain(f.ci_low, d)}, "
                f"{fmt_plain(f.ci_high, d)}), slope = {fmt_plain(f.slope, d)}"
            )
        p_one = p_equals(self.pet_one_sided_pval, d)
        rule = (f"PET's intercept one-sided ({self.direction}) {p_one}"
                f" {'<' if self.chosen == 'PEESE' else '>='} {self.alpha:g}")
        lines += ["", f"Conditional estimate ({self.chosen}; {rule}):",
                  f"  {fmt_plain(self.estimate, d)} ({pct} CI: {fmt_plain(self.ci_low, d)}, "
                  f"{fmt_plain(self.ci_high, d)})", ""]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def pet_peese(
    res: RMAResult,
    *,
    direction: str | None = None,
    alpha: float = 0.05,
    level: float | None = None,
) -> PetPeeseResult:
    """PET, PEESE and the conditional PET-PEESE estimate (Stanley & Doucouliagos 2014).

    Parameters
    ----------
    res : RMAResult
        An intercept-only fit from :func:`bayesma.rma` (its ``yi`` and ``vi`` are used).
    direction : {"greater", "less"}, optional
        Direction of the expected effect for the one-sided test of PET's intercept
        (default: the sign of ``res.estimate``).
    alpha : float
        Level of that one-sided test (0.05, as Stanley & Doucouliagos 2014).
    level : float, optional
        Confidence level of the intervals (default: that of ``res``).

    Returns
    -------
    PetPeeseResult

    Raises
    ------
    TooFewStudiesError
        With fewer than 3 studies (the regressions need a residual degree of freedom).
    BayesmaError
        For a meta-regression fit, a bad direction or alpha, or when all standard
        errors are equal (the predictor is collinear with the intercept).
    """
    require_rma_result(res, "pet_peese")
    if not intercept_only(res):
        raise BayesmaError("pet_peese: needs an intercept-only model (no moderators)")
    k = int(res.k)
    if k < 3:
        raise TooFewStudiesError(
            f"pet_peese: needs at least 3 studies (two coefficients and a residual degree "
            f"of freedom), got k = {k}"
        )
    if direction is None:
        direction = "less" if float(res.estimate) < 0 else "greater"
    if direction not in ("greater", "less"):
        raise BayesmaError(f"pet_peese: direction must be 'greater' or 'less', got {direction!r}")
    if not 0 < alpha < 1:
        raise BayesmaError(f"pet_peese: alpha must be in (0, 1), got {alpha!r}")
    lvl = float(res.level if level is None else level)
    lvl = lvl / 100.0 if lvl > 1 else lvl
    yi = np.asarray(res.yi, dtype=float)
    vi = np.asarray(res.vi, dtype=float)
    sei = np.sqrt(vi)
    if np.ptp(sei) <= 1e-12 * np.max(sei):
        raise BayesmaError(
            "pet_peese: all studies have the same standard error, so the PET and PEESE "
            "slopes are not identifiable"
        )
    pet = _lm(yi, vi, sei, "PET", "sei", lvl)
    peese = _lm(yi, vi, vi, "PEESE", "vi", lvl)
    # one-sided test of PET's intercept in the expected direction (Stanley 2017)
    t = pet.stat if direction == "greater" else -pet.stat
    p_one = float(t_sf(t, pet.df))
    chosen = "PEESE" if p_one < alpha else "PET"
    return PetPeeseResult(pet=pet, peese=peese, chosen=chosen, direction=direction,
                          pet_one_sided_pval=p_one, alpha=float(alpha), k=k, level=lvl,
                          measure=getattr(res, "measure", None))

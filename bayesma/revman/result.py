"""The result of :meth:`RevManReview.analyse` (:class:`RevManResult`): one analysis's numbers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from bayesma.formatting import fmt_est_ci, fmt_num, p_text
from bayesma.revman.outcome import REPORTED_FIELDS, SUBGROUP_TEST_FIELDS

__all__ = ["RevManResult"]


@dataclass(frozen=True)
class RevManResult:
    """One analysis recomputed with RevMan's settings.

    Attributes
    ----------
    id, method, measure, model : str
        The outcome id (``"CMP-001.01"``), ``MH`` / ``IV`` / ``PETO``, the measure and
        ``fixed`` / ``random``.
    log_scale : bool
        Whether ``estimate``, ``ci_low``, ``ci_high`` are log ratios (as metafor).
    estimate, se, ci_low, ci_high, z, pval : float
        Pooled effect on the analysis scale, its SE, confidence interval, z and p.
    q, q_df, q_pval, i2, tau2 : float
        Heterogeneity chi² (for MH: around the MH estimate), its df and p, I² (percent)
        and the DerSimonian-Laird tau² (0 for fixed-effect analyses).
    k : int
        Studies (data rows) in the analysis.
    level : float
        Confidence level.
    subgroups : DataFrame or None
        One row per subgroup: ``subgroup`` and the fields above.
    q_between, q_between_df, q_between_pval, i2_between : float
        RevMan's test for subgroup differences (NaN without subgroups).
    studies : DataFrame
        ``study, subgroup, yi, vi, weight`` (percent) and ``used`` (estimable).
    """

    id: str
    method: str
    measure: str
    model: str
    log_scale: bool
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    pval: float
    q: float
    q_df: float
    q_pval: float
    i2: float
    tau2: float
    k: int
    level: float = 0.95
    subgroups: pd.DataFrame | None = None
    q_between: float = math.nan
    q_between_df: float = math.nan
    q_between_pval: float = math.nan
    i2_between: float = math.nan
    studies: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def _back(self, x: float) -> float:
        return math.exp(x) if self.log_scale and math.isfinite(x) else x

    @property
    def estimate_exp(self) -> float:
        """The pooled ratio (``exp(estimate)``) for ratio measures, else the estimate."""
        return self._back(self.estimate)

    @property
    def ci_low_exp(self) -> float:
        return self._back(self.ci_low)

    @property
    def ci_high_exp(self) -> float:
        return self._back(self.ci_high)

    def to_dict(self) -> dict[str, float]:
        """The numbers RevMan also stores (:data:`REPORTED_FIELDS` and the subgroup test)."""
        return {f: getattr(self, f) for f in (*REPORTED_FIELDS, *SUBGROUP_TEST_FIELDS)}

    def __str__(self) -> str:
        scale = " (ratio scale)" if self.log_scale else ""
        lines = [
            f"RevMan analysis {self.id}: {self.measure}, {self.method}, "
            f"{'random effects' if self.model == 'random' else 'fixed effect'}, "
            f"k = {self.k}",
            f"  pooled{scale}: " + fmt_est_ci(self.estimate_exp, self.ci_low_exp,
                                               self.ci_high_exp, 3),
            f"  test for overall effect: Z = {fmt_num(abs(self.z), 2)}, {p_text(self.pval)}",
            f"  heterogeneity: Chi² = {fmt_num(self.q, 2)}, df = {self.q_df}, "
            f"{p_text(self.q_pval)}; I² = {fmt_num(self.i2, 0)}%; "
            f"Tau² = {fmt_num(self.tau2, 4)}",
        ]
        if self.subgroups is not None and math.isfinite(self.q_between):
            lines.append(
                f"  test for subgroup differences: Chi² = {fmt_num(self.q_between, 2)}, "
                f"df = {self.q_between_df}, {p_text(self.q_between_pval)}; "
                f"I² = {fmt_num(self.i2_between, 1)}%")
        return "\n".join(lines)

"""The first coefficient of a fit (the intercept) as scalar properties, for results whose
``coef`` table lists the terms by row (``estimate, se, ..., ci_low, ci_high``)."""

from __future__ import annotations

__all__ = ["FirstTermMixin"]


class FirstTermMixin:
    """``estimate``, ``se``, ``pval``, ``ci_low``, ``ci_high`` (and ``df`` where the table
    has it) of the first row of ``self.coef``; the class provides ``coef``."""

    def _first(self, column: str) -> float:
        return float(self.coef[column].iloc[0])  # type: ignore[attr-defined]

    @property
    def estimate(self) -> float:
        """Estimate of the first term (the intercept)."""
        return self._first("estimate")

    @property
    def se(self) -> float:
        """Standard error of the first term."""
        return self._first("se")

    @property
    def pval(self) -> float:
        """p-value of the first term."""
        return self._first("pval")

    @property
    def ci_low(self) -> float:
        """Lower confidence limit of the first term."""
        return self._first("ci_low")

    @property
    def ci_high(self) -> float:
        """Upper confidence limit of the first term."""
        return self._first("ci_high")

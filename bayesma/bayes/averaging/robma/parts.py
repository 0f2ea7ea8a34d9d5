"""A model's posterior of one parameter given by self-normalised importance-weighted draws.

A part of :class:`~bayesma.bayes.averaging.mixture.Averaged` (same interface as its
``NormalPart``/``ExactPart``): the weighted empirical distribution of the draws (Geweke
1989, Econometrica 57:1317, self-normalised importance sampling); moments are the weighted
moments, the cdf the weighted empirical cdf, draws are resampled by weight.
"""

from __future__ import annotations

import numpy as np

__all__ = ["WeightedPart"]


class WeightedPart:
    """Weighted draws ``x`` with weights ``w`` (normalised here)."""

    def __init__(self, x: np.ndarray, w: np.ndarray) -> None:
        x = np.asarray(x, dtype=float)
        w = np.asarray(w, dtype=float)
        order = np.argsort(x, kind="stable")
        self.x = x[order]
        self.w = w[order] / w.sum()
        self._cw = np.cumsum(self.w)
        self._cw[-1] = 1.0
        self._moments = (float(np.sum(self.w * self.x)),
                         float(np.sum(self.w * self.x * self.x)))

    def moments(self) -> tuple[float, float]:
        return self._moments

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """``P(X <= x)``."""
        i = np.searchsorted(self.x, np.atleast_1d(np.asarray(x, dtype=float)), side="right")
        return np.where(i > 0, self._cw[np.maximum(i - 1, 0)], 0.0)

    def cdf_left(self, x: np.ndarray) -> np.ndarray:
        """``P(X < x)``."""
        i = np.searchsorted(self.x, np.atleast_1d(np.asarray(x, dtype=float)), side="left")
        return np.where(i > 0, self._cw[np.maximum(i - 1, 0)], 0.0)

    def draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.x[rng.choice(self.x.size, size=n, p=self.w)]

    def span(self) -> tuple[float, float]:
        return float(self.x[0]), float(self.x[-1])

"""Summaries of posterior draws: shortest intervals and the per-row statistics of MCMC fits."""

from __future__ import annotations

import numpy as np

__all__ = ["hdi", "draw_stats"]


def hdi(x: np.ndarray, prob: float = 0.95) -> tuple[float, float]:
    """Shortest interval containing ``prob`` of the draws (Chen & Shao 1999, J Comput Graph
    Stat 8:69: the narrowest of the windows of ceil(prob n) consecutive sorted draws)."""
    s = np.sort(np.asarray(x, dtype=float).ravel())
    n = s.size
    m = int(np.ceil(prob * n))
    if n == 0 or m < 1:
        return float("nan"), float("nan")
    if m >= n:
        return float(s[0]), float(s[-1])
    width = s[m - 1:] - s[: n - m + 1]
    i = int(np.argmin(width))
    return float(s[i]), float(s[i + m - 1])


def draw_stats(x: np.ndarray, prob: float) -> dict[str, float]:
    """``mean, sd, median, eti_low, eti_high, hdi_low, hdi_high`` of 1-D draws (the
    equal-tailed interval from the sample quantiles, the HDI by :func:`hdi`)."""
    x = np.asarray(x, dtype=float).ravel()
    lo, hi = np.quantile(x, [(1 - prob) / 2, (1 + prob) / 2])
    h_lo, h_hi = hdi(x, prob)
    return {"mean": float(np.mean(x)), "sd": float(np.std(x, ddof=1)),
            "median": float(np.median(x)), "eti_low": float(lo), "eti_high": float(hi),
            "hdi_low": h_lo, "hdi_high": h_hi}

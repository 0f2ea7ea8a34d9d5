"""RevMan 5's formulas where they differ from metafor's: the standardized mean difference.

RevMan 5 computes Hedges' g with the approximate bias correction ``J = 1 - 3/(4N - 9)``
and the standard error ``sqrt(N/(n1 n2) + g^2 / (2 (N - 3.94)))`` (Deeks & Higgins 2010,
*Statistical algorithms in Review Manager 5*, section "Standardized mean difference"),
where metafor uses the exact gamma-function correction and ``g^2 / (2N)``. Every other
two-group measure RevMan offers (MD, OR, RR, RD) has metafor's formulas.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FORMULAS", "revman_smd"]

#: Values of ``escalc(..., formulas=...)``.
FORMULAS = ("metafor", "revman")


def revman_smd(
    m1: np.ndarray,
    sd1: np.ndarray,
    n1: np.ndarray,
    m2: np.ndarray,
    sd2: np.ndarray,
    n2: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """RevMan 5's Hedges' g and its sampling variance (Deeks & Higgins 2010)."""
    big_n = n1 + n2
    s = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / (big_n - 2))  # pooled SD
    g = (m1 - m2) / s * (1 - 3 / (4 * big_n - 9))  # Deeks & Higgins 2010: approximate J
    vi = big_n / (n1 * n2) + g**2 / (2 * (big_n - 3.94))  # Deeks & Higgins 2010: SE(g)^2
    return g, vi

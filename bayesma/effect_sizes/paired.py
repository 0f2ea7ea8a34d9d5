"""Paired (matched) binary data: MPRD, MPRR, MPOR, MPORC, MPPETO and MPORM (metafor 3.8
escalc.r).

The cells of a paired table are ``ai`` (event under both conditions), ``bi`` (event under
condition 1 only), ``ci`` (under condition 2 only) and ``di`` (under neither); MPORM takes
the two groups' 2x2 table with the correlation ``ri`` of the paired outcomes.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PAIRED_MEASURES", "paired_effects"]

PAIRED_MEASURES = ("MPRD", "MPRR", "MPOR", "MPORC", "MPPETO", "MPORM")


def paired_effects(
    measure: str,
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    d: np.ndarray,
    r: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The paired measures from (zero-adjusted) cells (metafor 3.8 escalc.r)."""
    n = a + b + c + d
    if measure == "MPORM":
        # marginal log OR with the correlation of the pairs (Elbourne et al. 2002; metafor
        # escalc.r MPORM: ni <- round(ni/2), vi <- vi - 2 * deltai / ni)
        n = np.round(n / 2)
        p1, p2 = a / (a + b), c / (c + d)
        yi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))
        si = (r * np.sqrt(a * b * c * d) + a * b) / n
        delta = n**2 * (n * si - a * b) / (a * b * c * d)
        return yi, 1 / a + 1 / b + 1 / c + 1 / d - 2 * delta / n
    if measure == "MPORC":
        # conditional log OR of McNemar's table (metafor escalc.r MPORC)
        return np.log(b) - np.log(c), 1 / b + 1 / c
    if measure == "MPPETO":
        # Peto's conditional log OR of the discordant pairs (metafor escalc.r MPPETO)
        e, v = (b + c) / 2, (b + c) / 4
        return (b - e) / v, 1 / v
    p12, p21 = b / n, c / n
    p1, p_1 = (a + b) / n, (a + c) / n
    if measure == "MPRD":
        # matched-pairs risk difference (metafor escalc.r MPRD)
        return p1 - p_1, p12 * (1 - p12) / n + 2 * p12 * p21 / n + p21 * (1 - p21) / n
    if measure == "MPRR":
        # matched-pairs log risk ratio (metafor escalc.r MPRR)
        return np.log(p1) - np.log(p_1), (p12 + p21) / (n * p1 * p_1)
    # MPOR: marginal log odds ratio of the paired table (metafor escalc.r MPOR)
    yi = np.log(p1 / (1 - p1)) - np.log(p_1 / (1 - p_1))
    vi = ((p12 * (1 - p12) + p21 * (1 - p21) + 2 * p12 * p21)
          / (n * p1 * (1 - p1) * p_1 * (1 - p_1)))
    return yi, vi

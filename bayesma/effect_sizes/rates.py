"""Incidence rates: IR, IRLN, IRS, IRFT (one group: events ``xi``, person-time ``ti``) and
IRR, IRD, IRSD (two groups) (metafor 3.8 escalc.r)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesma.effect_sizes.checks import read_column
from bayesma.effect_sizes.corrections import zero_adjust

__all__ = ["escalc_rate", "escalc_rates2", "rate_effects", "rates2_effects"]


def rate_effects(measure: str, x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IR, IRLN, IRS, IRFT from (zero-adjusted) events and person-times (metafor escalc.r)."""
    ir = x / t
    if measure == "IR":
        return ir, ir / t  # Poisson variance (metafor escalc.r IR)
    if measure == "IRLN":
        return np.log(ir), 1 / x  # metafor escalc.r IRLN
    if measure == "IRS":
        return np.sqrt(ir), 1 / (4 * t)  # metafor escalc.r IRS
    # Freeman & Tukey 1950 for rates (metafor escalc.r IRFT)
    return 0.5 * (np.sqrt(ir) + np.sqrt(ir + 1 / t)), 1 / (4 * t)


def rates2_effects(
    measure: str, x1: np.ndarray, x2: np.ndarray, t1: np.ndarray, t2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """IRR, IRD, IRSD from (zero-adjusted) events and person-times (metafor escalc.r)."""
    ir1, ir2 = x1 / t1, x2 / t2
    if measure == "IRR":
        return np.log(ir1) - np.log(ir2), 1 / x1 + 1 / x2  # metafor escalc.r IRR
    if measure == "IRD":
        return ir1 - ir2, ir1 / t1 + ir2 / t2  # metafor escalc.r IRD
    return np.sqrt(ir1) - np.sqrt(ir2), 1 / (4 * t1) + 1 / (4 * t2)  # metafor escalc.r IRSD


def escalc_rate(
    measure: str, df: pd.DataFrame, cols: dict[str, str], slab: str | None, add: float, to: str
) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, str]], np.ndarray]:
    """Read and check ``xi`` and ``ti`` (> 0), correct zero counts, compute the measure."""
    x = read_column(df, cols, "xi", slab, nonnegative=True)
    t = read_column(df, cols, "ti", slab, positive=True)
    (x,), corrected = zero_adjust((x,), (x,), add, to)  # metafor escalc.r: id0 <- xi == 0
    yi, vi = rate_effects(measure, x, t)
    return yi, vi, [], corrected


def escalc_rates2(
    measure: str,
    df: pd.DataFrame,
    cols: dict[str, str],
    slab: str | None,
    add: float,
    to: str,
    drop00: bool,
) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, str]], np.ndarray]:
    """Read and check both groups' events and person-times, correct zeros, compute."""
    x1 = read_column(df, cols, "x1i", slab, nonnegative=True)
    x2 = read_column(df, cols, "x2i", slab, nonnegative=True)
    t1 = read_column(df, cols, "t1i", slab, positive=True)
    t2 = read_column(df, cols, "t2i", slab, positive=True)
    undefined: list[tuple[np.ndarray, str]] = []
    if drop00:
        id00 = (x1 == 0) & (x2 == 0)  # metafor escalc.r: id00 <- x1i == 0 & x2i == 0
        if id00.any():
            x1, x2 = (np.where(id00, np.nan, v) for v in (x1, x2))
            undefined.append((id00, "no events in both groups and drop00=True"))
    (x1, x2), corrected = zero_adjust((x1, x2), (x1, x2), add, to)
    yi, vi = rates2_effects(measure, x1, x2, t1, t2)
    return yi, vi, undefined, corrected

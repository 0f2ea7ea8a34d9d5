"""Effect sizes from 2x2 tables: OR, RR, RD, PETO, PBIT, OR2DN, OR2DL (OR2D), with metafor's
continuity correction (metafor 3.8 escalc.r); AS, PHI, YUQ, YUY, RTET and the paired
measures come from :mod:`~bayesma.effect_sizes.association` and
:mod:`~bayesma.effect_sizes.paired`."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtri

from bayesma.effect_sizes.association import association_effects
from bayesma.effect_sizes.checks import column_name, fail_rows, fmt_g, read_column
from bayesma.effect_sizes.corrections import zero_adjust
from bayesma.effect_sizes.paired import PAIRED_MEASURES, paired_effects

__all__ = ["escalc_table", "table_effects"]


def table_effects(
    measure: str,
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    d: np.ndarray,
    vtype: str,
    r: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The 2x2 table measures from (zero-adjusted) cells (metafor escalc.r); ``r`` is the
    correlation of the pairs (MPORM only)."""
    if measure in ("AS", "PHI", "YUQ", "YUY", "RTET"):
        return association_effects(measure, a, b, c, d, vtype)
    if measure in PAIRED_MEASURES:
        return paired_effects(measure, a, b, c, d, r)
    n1 = a + b
    n2 = c + d
    p1 = a / n1
    p2 = c / n2
    if measure in ("OR", "OR2DN", "OR2DL", "OR2D"):
        yi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))  # metafor escalc.r: log odds ratio
        vi = 1 / a + 1 / b + 1 / c + 1 / d  # Woolf 1955 (metafor "LS")
        if measure in ("OR2DL", "OR2D"):
            # Hasselblad & Hedges 1995: d = sqrt(3)/pi log OR (metafor escalc.r OR2DL)
            yi, vi = np.sqrt(3) / np.pi * yi, 3 / np.pi**2 * vi
        elif measure == "OR2DN":
            # Cox & Snell 1989: d = log OR / 1.65 (metafor escalc.r OR2DN)
            yi, vi = yi / 1.65, vi / 1.65**2
    elif measure == "PBIT":
        # probit transformed risk difference (Sanchez-Meca et al. 2003; metafor escalc.r PBIT)
        z1, z2 = ndtri(p1), ndtri(p2)
        yi = z1 - z2
        vi = (2 * np.pi * p1 * (1 - p1) * np.exp(z1**2) / n1
              + 2 * np.pi * p2 * (1 - p2) * np.exp(z2**2) / n2)
    elif measure == "RR":
        yi = np.log(p1) - np.log(p2)  # metafor escalc.r: log risk ratio
        vi = 1 / a - 1 / n1 + 1 / c - 1 / n2  # Katz et al. 1978 (metafor "LS")
    elif measure == "RD":
        yi = p1 - p2  # metafor escalc.r: risk difference
        if vtype == "UB":
            vi = p1 * (1 - p1) / (n1 - 1) + p2 * (1 - p2) / (n2 - 1)  # metafor escalc.r RD "UB"
        else:
            vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2  # metafor escalc.r RD "LS"
    else:  # PETO
        n = n1 + n2
        xt = a + c
        yt = b + d
        e = xt * n1 / n  # Yusuf et al. 1985: expected events in group 1 (metafor escalc.r)
        v = xt * yt * (n1 / n) * (n2 / n) / (n - 1)  # hypergeometric variance (metafor escalc.r)
        yi = (a - e) / v  # Yusuf et al. 1985 one-step log OR, metafor escalc.r: (ai - Ei) / Vi
        vi = 1 / v  # metafor escalc.r: vi <- 1/Vi
    return yi, vi


def escalc_table(
    measure: str,
    df: pd.DataFrame,
    cols: dict[str, str],
    slab: str | None,
    vtype: str,
    add: float,
    to: str,
    drop00: bool,
) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, str]], np.ndarray]:
    """Read and check the 2x2 cells (or events and group sizes), apply the continuity
    correction and compute the measure; also returns the rows made undefined
    (``drop00``) and the rows corrected.
    """
    a = read_column(df, cols, "ai", slab, nonnegative=True)
    c = read_column(df, cols, "ci", slab, nonnegative=True)
    cells = {}
    for ev, ne, size, x in (("ai", "bi", "n1i", a), ("ci", "di", "n2i", c)):
        nonev = read_column(df, cols, ne, slab, nonnegative=True) if ne in cols else None
        n = read_column(df, cols, size, slab, positive=True) if size in cols else None
        if n is not None:
            fail_rows(df, x > n, cols[ev],
                  f"{column_name(cols, ev)} is larger than {column_name(cols, size)}",
                  lambda i, x=x, n=n, ev=ev, size=size:
                  f"{ev} = {fmt_g(x[i])}, {size} = {fmt_g(n[i])}",
                  slab)  # fmt: skip
        if nonev is not None and n is not None:
            fail_rows(df, np.abs(x + nonev - n) > 1e-8 * np.maximum(1, n), cols[size],
                  f"counts do not add up: {column_name(cols, size)} must equal "
                  f"{cols[ev]!r} + {cols[ne]!r} ({ev} + {ne})",
                  lambda i, x=x, ne_=nonev, n=n, ev=ev, ne=ne, size=size:
                  f"{size} = {fmt_g(n[i])} but {ev} + {ne} = {fmt_g(x[i] + ne_[i])}",
                  slab)  # fmt: skip
        if nonev is None:
            nonev = n - x
        elif n is None:
            fail_rows(df, x + nonev <= 0, cols[ne],
                  f"group is empty: {column_name(cols, ev)} + {column_name(cols, ne)} must be > 0",
                  lambda i, x=x, ne_=nonev, ev=ev, ne=ne:
                  f"{ev} = {fmt_g(x[i])}, {ne} = {fmt_g(ne_[i])}",
                  slab)  # fmt: skip
        cells[ne] = nonev
    b, d = cells["bi"], cells["di"]
    r = None
    if measure == "MPORM":
        role = "correlation of the paired outcomes"
        r = read_column(df, cols, "ri", slab, role=role)
        fail_rows(df, np.abs(r) > 1, cols["ri"],
              f"{column_name(cols, 'ri', role)} must be between -1 and 1",
              lambda i: f"value {fmt_g(r[i])}", slab)  # fmt: skip

    undefined: list[tuple[np.ndarray, str]] = []
    if drop00:
        # metafor escalc.r: id00 <- (ai == 0 & ci == 0) | (bi == 0 & di == 0); counts set to NA
        id00 = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
        if id00.any():
            a, b, c, d = (np.where(id00, np.nan, v) for v in (a, b, c, d))
            undefined.append((id00, "no events (or only events) in both groups and drop00=True"))
    (a, b, c, d), corrected = zero_adjust((a, b, c, d), (a, b, c, d), add, to)
    yv, vv = table_effects(measure, a, b, c, d, vtype, r)
    return yv, vv, undefined, corrected

"""Single proportions: PR, PLN, PLO, PAS, PFT from events and sample sizes
(metafor 3.8 escalc.r)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesma.effect_sizes.checks import column_name, fail_rows, fmt_g, read_column
from bayesma.effect_sizes.corrections import zero_adjust

__all__ = ["escalc_proportion", "proportion_effects"]


def proportion_effects(
    measure: str, x: np.ndarray, m: np.ndarray, vtype: str
) -> tuple[np.ndarray, np.ndarray]:
    """PR, PLN, PLO, PAS, PFT from (zero-adjusted) events ``x`` and non-events ``m``."""
    n = x + m
    p = x / n
    pav = np.sum(p * n) / np.sum(n)  # metafor escalc.r "AV": n-weighted mean proportion
    if measure == "PR":
        if vtype == "UB":
            return p, p * (1 - p) / (n - 1)  # metafor escalc.r PR vtype "UB"
        q = pav if vtype == "AV" else p
        return p, q * (1 - q) / n  # binomial variance (metafor escalc.r PR "LS"/"AV")
    if measure == "PLN":
        # log proportion, delta method (metafor escalc.r PLN)
        vi = 1 / (pav * n) - 1 / n if vtype == "AV" else 1 / x - 1 / n
        return np.log(p), vi
    if measure == "PLO":
        # logit, delta method (metafor escalc.r PLO)
        vi = 1 / (pav * n) + 1 / ((1 - pav) * n) if vtype == "AV" else 1 / x + 1 / m
        return np.log(p / (1 - p)), vi
    if measure == "PAS":
        return np.arcsin(np.sqrt(p)), 1 / (4 * n)  # arcsine square root (metafor escalc.r PAS)
    # Freeman & Tukey 1950 double arcsine (metafor escalc.r PFT)
    yi = 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))
    return yi, 1 / (4 * n + 2)


def escalc_proportion(
    measure: str,
    df: pd.DataFrame,
    cols: dict[str, str],
    slab: str | None,
    vtype: str,
    add: float,
    to: str,
) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, str]], np.ndarray]:
    """Read and check ``xi`` with ``ni`` or ``mi``, correct zero cells, compute the measure."""
    x = read_column(df, cols, "xi", slab, nonnegative=True)
    m = read_column(df, cols, "mi", slab, nonnegative=True) if "mi" in cols else None
    n = read_column(df, cols, "ni", slab, positive=True) if "ni" in cols else None
    if n is not None:
        fail_rows(df, x > n, cols["xi"],
              f"{column_name(cols, 'xi')} is larger than {column_name(cols, 'ni')}",
              lambda i: f"xi = {fmt_g(x[i])}, ni = {fmt_g(n[i])}", slab)  # fmt: skip
    if m is not None and n is not None:
        fail_rows(df, np.abs(x + m - n) > 1e-8 * np.maximum(1, n), cols["ni"],
              f"counts do not add up: {column_name(cols, 'ni')} must equal "
              f"{cols['xi']!r} + {cols['mi']!r} (xi + mi)",
              lambda i: f"ni = {fmt_g(n[i])} but xi + mi = {fmt_g(x[i] + m[i])}",
              slab)  # fmt: skip
    if m is None:
        m = n - x
    fail_rows(df, x + m <= 0, cols["xi"],
          f"the sample size is 0: {column_name(cols, 'xi')} plus the non-events must be > 0",
          lambda i: f"xi = {fmt_g(x[i])}, mi = {fmt_g(m[i])}", slab)  # fmt: skip
    # metafor escalc.r: id0 <- xi == 0 | mi == 0; add to xi and mi
    (x, m), corrected = zero_adjust((x, m), (x, m), add, to)
    yi, vi = proportion_effects(measure, x, m, vtype)
    return yi, vi, [], corrected

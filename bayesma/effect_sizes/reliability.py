"""Reliability: Cronbach's alpha raw (ARAW) and transformed (AHW: Hakstian & Whalen 1976;
ABT: Bonett 2002) (metafor 3.8 escalc.r)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesma.effect_sizes.checks import column_name, fail_rows, fmt_g, read_column
from bayesma.effect_sizes.registry import roles_for

__all__ = ["alpha_effects", "escalc_alpha"]


def alpha_effects(
    measure: str, a: np.ndarray, m: np.ndarray, n: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """ARAW, AHW, ABT from alpha ``a``, items ``m`` and sample size ``n`` (metafor escalc.r)."""
    if measure == "ARAW":
        return a, 2 * m * (1 - a) ** 2 / ((m - 1) * (n - 2))  # Bonett 2002 (metafor ARAW)
    if measure == "AHW":
        # Hakstian & Whalen 1976 (metafor escalc.r AHW)
        yi = 1 - (1 - a) ** (1 / 3)
        return yi, 18 * m * (n - 1) * (1 - a) ** (2 / 3) / ((m - 1) * (9 * n - 11) ** 2)
    return -np.log(1 - a), 2 * m / ((m - 1) * (n - 2))  # Bonett 2002 (metafor escalc.r ABT)


def escalc_alpha(
    measure: str, df: pd.DataFrame, cols: dict[str, str], slab: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """Read and check ``ai`` (alpha < 1), ``mi`` (>= 2 items), ``ni`` (> 2), then compute."""
    roles = roles_for(measure)
    a = read_column(df, cols, "ai", slab, role=roles["ai"], count=False)
    m = read_column(df, cols, "mi", slab, role=roles["mi"], count=True)
    n = read_column(df, cols, "ni", slab)
    fail_rows(df, a >= 1, cols["ai"],
          f"{column_name(cols, 'ai', roles['ai'])} must be < 1 (metafor: alpha > 1 is an "
          "error and alpha = 1 has no sampling variance)",
          lambda i: f"value {fmt_g(a[i])}", slab)  # fmt: skip
    fail_rows(df, m < 2, cols["mi"],
          f"{column_name(cols, 'mi', roles['mi'])} must be >= 2",
          lambda i: f"value {fmt_g(m[i])}", slab)  # fmt: skip
    fail_rows(df, n <= 2, cols["ni"], f"{column_name(cols, 'ni')} must be > 2",
          lambda i: f"value {fmt_g(n[i])}", slab)  # fmt: skip
    return alpha_effects(measure, a, m, n)

"""Effect sizes from correlations: COR, UCOR and ZCOR (Fisher 1921; Olkin & Pratt 1958;
metafor 3.8 escalc.r)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesma.effect_sizes.checks import column_name, fail_rows, fmt_g, read_column
from bayesma.effect_sizes.hypergeometric import hyp2f1_euler as hyp2f1

__all__ = ["cor_effects", "escalc_cor"]


def cor_effects(
    measure: str, r: np.ndarray, n: np.ndarray, vtype: str = "LS"
) -> tuple[np.ndarray, np.ndarray]:
    """COR, UCOR and ZCOR (metafor escalc.r)."""
    if measure == "ZCOR":
        return np.arctanh(r), 1 / (n - 3)  # Fisher 1921 r-to-z, var 1/(n-3) (metafor escalc.r)
    if measure == "UCOR":
        # Olkin & Pratt 1958 eq. 2.3: r * 2F1(1/2, 1/2; (n-2)/2; 1-r^2) (metafor escalc.r UCOR)
        yi = r * hyp2f1(0.5, 0.5, (n - 2) / 2, 1 - r**2)
    else:
        yi = r.copy()
    if vtype == "UB":
        # unbiased variance (Hedges 1989; metafor escalc.r UCOR vtype "UB")
        vi = yi**2 - (1 - (n - 3) / (n - 2) * (1 - r**2) * hyp2f1(1, 1, n / 2, 1 - r**2))
    elif vtype == "AV":
        mnw = np.sum(yi * n) / np.sum(n)  # metafor escalc.r "AV": n-weighted mean of yi
        vi = (1 - mnw**2) ** 2 / (n - 1)
    else:
        # large-sample variance (1 - yi^2)^2 / (n - 1), metafor escalc.r vtype "LS"
        vi = (1 - yi**2) ** 2 / (n - 1)
    return yi, vi


def escalc_cor(
    measure: str, df: pd.DataFrame, cols: dict[str, str], slab: str | None, vtype: str = "LS"
) -> tuple[np.ndarray, np.ndarray]:
    """Read and check ``ri``/``ni``, then compute COR, UCOR or ZCOR."""
    r = read_column(df, cols, "ri", slab)
    n = read_column(df, cols, "ni", slab)
    fail_rows(df, np.abs(r) > 1, cols["ri"], f"{column_name(cols, 'ri')} must be between -1 and 1",
          lambda i: f"value {fmt_g(r[i])}", slab)  # fmt: skip
    if measure == "ZCOR":
        fail_rows(df, np.abs(r) == 1, cols["ri"],
              f"{column_name(cols, 'ri')} must be strictly between -1 and 1 for ZCOR "
              "(Fisher's z of ±1 is infinite)",
              lambda i: f"value {fmt_g(r[i])}", slab)  # fmt: skip
    if measure == "UCOR":
        fail_rows(df, n <= 4, cols["ni"],
              f"{column_name(cols, 'ni')} must be > 4 for UCOR (metafor cannot compute the "
              "bias-corrected correlation when ni <= 4)",
              lambda i: f"value {fmt_g(n[i])}", slab)  # fmt: skip
    fail_rows(df, n <= 3, cols["ni"],
          f"{column_name(cols, 'ni')} must be > 3 (metafor cannot estimate the sampling "
          "variance of a correlation when ni <= 3)",
          lambda i: f"value {fmt_g(n[i])}", slab)  # fmt: skip
    return cor_effects(measure, r, n, vtype)

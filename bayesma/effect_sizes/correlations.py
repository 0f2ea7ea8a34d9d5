"""Effect sizes from correlations: COR and ZCOR (Fisher 1921; metafor 3.8 escalc.r)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesma.effect_sizes.checks import column_name, fail_rows, fmt_g, read_column

__all__ = ["cor_effects", "escalc_cor"]


def cor_effects(measure: str, r: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COR and ZCOR (metafor escalc.r)."""
    if measure == "COR":
        # large-sample variance (1 - r^2)^2 / (n - 1), metafor escalc.r COR vtype "LS"
        return r.copy(), (1 - r**2) ** 2 / (n - 1)
    return np.arctanh(r), 1 / (n - 3)  # Fisher 1921 r-to-z, var 1/(n-3) (metafor escalc.r)


def escalc_cor(
    measure: str, df: pd.DataFrame, cols: dict[str, str], slab: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """Read and check ``ri``/``ni``, then compute COR or ZCOR."""
    r = read_column(df, cols, "ri", slab)
    n = read_column(df, cols, "ni", slab)
    fail_rows(df, np.abs(r) > 1, cols["ri"], f"{column_name(cols, 'ri')} must be between -1 and 1",
          lambda i: f"value {fmt_g(r[i])}", slab)  # fmt: skip
    if measure == "ZCOR":
        fail_rows(df, np.abs(r) == 1, cols["ri"],
              f"{column_name(cols, 'ri')} must be strictly between -1 and 1 for ZCOR "
              "(Fisher's z of ±1 is infinite)",
              lambda i: f"value {fmt_g(r[i])}", slab)  # fmt: skip
    fail_rows(df, n <= 3, cols["ni"],
          f"{column_name(cols, 'ni')} must be > 3 (metafor cannot estimate the sampling "
          "variance of a correlation when ni <= 3)",
          lambda i: f"value {fmt_g(n[i])}", slab)  # fmt: skip
    return cor_effects(measure, r, n)

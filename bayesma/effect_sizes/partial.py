"""Partial and semi-partial correlations from regression t statistics: PCOR, ZPCOR, SPCOR
(metafor 3.8 escalc.r; Aloe & Becker 2012; Aloe & Thompson 2013)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesma.effect_sizes.checks import column_name, fail_rows, fmt_g, read_column
from bayesma.effect_sizes.registry import roles_for

__all__ = ["escalc_partial", "partial_effects"]


def partial_effects(
    measure: str,
    t: np.ndarray,
    n: np.ndarray,
    m: np.ndarray,
    r2: np.ndarray | None,
    vtype: str,
) -> tuple[np.ndarray, np.ndarray]:
    """PCOR, ZPCOR and SPCOR (metafor escalc.r); ``m`` predictors, ``r2`` the model's R²."""
    df_resid = n - m - 1
    if measure in ("PCOR", "ZPCOR"):
        yi = t / np.sqrt(t**2 + df_resid)  # partial r from t (metafor escalc.r PCOR)
        if measure == "ZPCOR":
            # Fisher's z of the partial r, var 1/(n - m - 1) (metafor escalc.r ZPCOR)
            return np.arctanh(yi), 1 / df_resid
        r = yi if vtype != "AV" else np.sum(yi * n) / np.sum(n)  # metafor "AV": weighted mean
        return yi, (1 - r**2) ** 2 / df_resid  # Olkin & Siotani 1976 (metafor escalc.r PCOR)
    # SPCOR: Aloe & Becker 2012 eq. 5 and 9 (metafor escalc.r SPCOR)
    yi = t * np.sqrt(1 - r2) / np.sqrt(df_resid)
    r = yi if vtype != "AV" else np.sum(yi * n) / np.sum(n)
    vi = (r2**2 - 2 * r2 + (r2 - r**2) + 1 - (r2 - r**2) ** 2) / n
    return yi, vi


def escalc_partial(
    measure: str, df: pd.DataFrame, cols: dict[str, str], slab: str | None, vtype: str
) -> tuple[np.ndarray, np.ndarray]:
    """Read and check ``ti``, ``ni``, ``mi`` (and ``r2i``), then compute the measure."""
    roles = roles_for(measure)
    t = read_column(df, cols, "ti", slab, role=roles["ti"])
    n = read_column(df, cols, "ni", slab, positive=True)
    m = read_column(df, cols, "mi", slab, role=roles["mi"], count=True, nonnegative=True)
    fail_rows(df, n - m - 1 <= 0, cols["ni"],
          f"{column_name(cols, 'ni')} must be larger than {column_name(cols, 'mi', roles['mi'])}"
          " + 1 (no residual degrees of freedom)",
          lambda i: f"ni = {fmt_g(n[i])}, mi = {fmt_g(m[i])}", slab)  # fmt: skip
    r2 = None
    if measure == "SPCOR":
        r2 = read_column(df, cols, "r2i", slab)
        fail_rows(df, (r2 < 0) | (r2 > 1), cols["r2i"],
              f"{column_name(cols, 'r2i')} must be between 0 and 1",
              lambda i: f"value {fmt_g(r2[i])}", slab)  # fmt: skip
    return partial_effects(measure, t, n, m, r2, vtype)

"""Single-group means and variability: MN, MNLN, CVLN, SDLN, SMN (metafor 3.8 escalc.r;
Nakagawa et al. 2015 for the bias-corrected log CV and log SD)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesma.effect_sizes.checks import column_name, fail_rows, fmt_g, read_column
from bayesma.effect_sizes.means import hedges_correction
from bayesma.effect_sizes.registry import roles_for

__all__ = ["escalc_single", "single_effects"]


def single_effects(
    measure: str, m: np.ndarray, sd: np.ndarray, n: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """MN, MNLN, CVLN, SDLN, SMN from a group's mean, SD and size (metafor escalc.r)."""
    if measure == "SMN":
        # single-group standardized mean, Hedges' correction c(n - 1) (metafor escalc.r SMN)
        yi = hedges_correction(n - 1) * m / sd
        return yi, 1 / n + yi**2 / (2 * n)
    if measure == "MN":
        return m, sd**2 / n  # metafor escalc.r MN
    if measure == "MNLN":
        return np.log(m), sd**2 / (n * m**2)  # delta method (metafor escalc.r MNLN)
    if measure == "CVLN":
        # Nakagawa et al. 2015 eq. 7 and 8 (metafor escalc.r CVLN)
        return np.log(sd / m) + 1 / (2 * (n - 1)), 1 / (2 * (n - 1)) + sd**2 / (n * m**2)
    return np.log(sd) + 1 / (2 * (n - 1)), 1 / (2 * (n - 1))  # metafor escalc.r SDLN


def escalc_single(
    measure: str, df: pd.DataFrame, cols: dict[str, str], slab: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """Read and check ``mi``, ``sdi``, ``ni``, then compute the measure."""
    roles = roles_for(measure)
    sd = read_column(df, cols, "sdi", slab, positive=True)
    n = read_column(df, cols, "ni", slab)
    # SMN: Hedges' c(n - 1) needs n - 1 > 1 (metafor .cmicalc: NA otherwise)
    low = {"MN": 1, "SMN": 3}.get(measure, 2)
    fail_rows(df, n < low, cols["ni"],
          f"{column_name(cols, 'ni')} must be >= {low} for {measure}",
          lambda i: f"value {fmt_g(n[i])}", slab)  # fmt: skip
    if "mi" in cols:
        m = read_column(df, cols, "mi", slab, role=roles["mi"], count=False)
    else:
        m = np.ones_like(sd)  # SDLN does not use the means
    if measure in ("MNLN", "CVLN"):
        fail_rows(df, m <= 0, cols["mi"],
              f"{column_name(cols, 'mi', roles['mi'])} must be > 0 for {measure} (a log of "
              "the mean)",
              lambda i: f"value {fmt_g(m[i])}", slab)  # fmt: skip
    return single_effects(measure, m, sd, n)

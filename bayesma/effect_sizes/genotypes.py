"""Genotype counts: the relative excess heterozygosity REH (metafor 3.8 escalc.r)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesma.effect_sizes.checks import column_name, fail_rows, read_column
from bayesma.effect_sizes.registry import roles_for

__all__ = ["escalc_genotypes", "reh_effects"]


def reh_effects(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log relative excess heterozygosity from genotype counts (metafor 3.8 escalc.r REH).

    ``a`` and ``c`` are the two homozygous counts, ``b`` the heterozygous one; the log of
    the observed heterozygote proportion over its Hardy-Weinberg value ``2 sqrt(p0 p2)``
    (Ziegler et al. 2011), with metafor's delta-method variance.
    """
    n = a + b + c
    p0, p1, p2 = a / n, b / n, c / n
    yi = np.log(p1) - np.log(2 * np.sqrt(p0 * p2))
    vi = ((1 - p1) / (4 * p0 * p2) + 1 / p1) / n
    return yi, vi


def escalc_genotypes(
    measure: str, df: pd.DataFrame, cols: dict[str, str], slab: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """Read and check the genotype counts ``ai``, ``bi``, ``ci`` (>= 0), then compute REH."""
    roles = roles_for(measure)
    a, b, c = (read_column(df, cols, x, slab, role=roles[x], nonnegative=True)
               for x in ("ai", "bi", "ci"))
    fail_rows(df, a + b + c <= 0, cols["ai"],
          f"no genotypes counted: {column_name(cols, 'ai', roles['ai'])} + bi + ci must be > 0",
          lambda i: "all three counts are 0", slab)  # fmt: skip
    return reh_effects(a, b, c)

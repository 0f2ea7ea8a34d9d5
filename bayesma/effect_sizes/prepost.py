"""Pre-post (matched) designs: MC, SMCC, SMCR, SMCRH, ROMC, CVRC, VRC from the means and SDs
at two time points, the sample size and their correlation (metafor 3.8 escalc.r)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesma.effect_sizes.checks import column_name, fail_rows, fmt_g, read_column
from bayesma.effect_sizes.means import hedges_correction
from bayesma.effect_sizes.registry import roles_for

__all__ = ["escalc_prepost", "prepost_effects"]


def prepost_effects(
    measure: str,
    m1: np.ndarray,
    m2: np.ndarray,
    sd1: np.ndarray,
    sd2: np.ndarray,
    n: np.ndarray,
    r: np.ndarray,
    vtype: str,
) -> tuple[np.ndarray, np.ndarray]:
    """The pre-post measures (metafor escalc.r); ``sd2`` is unused by SMCR."""
    cm = hedges_correction(n - 1)  # metafor escalc.r: mi <- ni - 1; cmi <- .cmicalc(mi)
    if measure == "MC":
        return m1 - m2, (sd1**2 + sd2**2 - 2 * r * sd1 * sd2) / n  # metafor escalc.r MC
    if measure == "SMCC":
        # Gibbons et al. 1993: change-score SD (metafor escalc.r SMCC)
        di = (m1 - m2) / np.sqrt(sd1**2 + sd2**2 - 2 * r * sd1 * sd2)
        yi = cm * di
        if vtype == "LS2":
            return yi, cm**2 * (1 / n + di**2 / (2 * n))  # metafor escalc.r SMCC "LS2"
        return yi, 1 / n + yi**2 / (2 * n)  # metafor escalc.r SMCC "LS"
    if measure == "SMCR":
        # Becker 1988: raw-score SD of time 1 (metafor escalc.r SMCR)
        di = (m1 - m2) / sd1
        yi = cm * di
        if vtype == "LS2":
            return yi, cm**2 * (2 * (1 - r) / n + di**2 / (2 * n))  # metafor SMCR "LS2"
        return yi, 2 * (1 - r) / n + yi**2 / (2 * n)  # metafor escalc.r SMCR "LS"
    if measure == "SMCRH":
        # Bonett 2008 (metafor 3.8 escalc.r SMCRH, with its cmi^2 factor)
        vardi = sd1**2 + sd2**2 - 2 * r * sd1 * sd2
        yi = cm * (m1 - m2) / sd1
        return yi, cm**2 * (vardi / (sd1**2 * (n - 1)) + yi**2 / (2 * (n - 1)))
    if measure == "ROMC":
        # Lajeunesse 2011 (metafor escalc.r ROMC)
        vi = sd1**2 / (n * m1**2) + sd2**2 / (n * m2**2) - 2 * r * sd1 * sd2 / (m1 * m2 * n)
        return np.log(m1 / m2), vi
    if measure == "CVRC":
        # metafor escalc.r CVRC
        vi = (1 - r**2) / (n - 1) + (m1**2 * sd2**2 + m2**2 * sd1**2
                                     - 2 * m1 * m2 * r * sd1 * sd2) / (m1**2 * m2**2 * n)
        return np.log(sd1 / m1) - np.log(sd2 / m2), vi
    return np.log(sd1 / sd2), (1 - r**2) / (n - 1)  # metafor escalc.r VRC


def escalc_prepost(
    measure: str, df: pd.DataFrame, cols: dict[str, str], slab: str | None, vtype: str
) -> tuple[np.ndarray, np.ndarray]:
    """Read and check the pre-post columns, then compute the measure."""
    roles = roles_for(measure)

    def col(arg: str, **checks: bool) -> np.ndarray:
        return read_column(df, cols, arg, slab, role=roles[arg], **checks)

    n = read_column(df, cols, "ni", slab)
    fail_rows(df, n < 2, cols["ni"], f"{column_name(cols, 'ni')} must be >= 2",
          lambda i: f"value {fmt_g(n[i])}", slab)  # fmt: skip
    r = col("ri")
    fail_rows(df, np.abs(r) > 1, cols["ri"],
          f"{column_name(cols, 'ri', roles['ri'])} must be between -1 and 1",
          lambda i: f"value {fmt_g(r[i])}", slab)  # fmt: skip
    sd1 = col("sd1i", positive=True)
    sd2 = col("sd2i", positive=True) if "sd2i" in cols else np.ones_like(sd1)
    if "m1i" in cols:
        m1, m2 = col("m1i"), col("m2i")
    else:  # VRC does not use the means
        m1 = m2 = np.ones_like(sd1)
    if measure in ("ROMC", "CVRC"):
        for arg, m in (("m1i", m1), ("m2i", m2)):
            fail_rows(df, m <= 0, cols[arg],
                  f"{column_name(cols, arg, roles[arg])} must be > 0 for {measure}",
                  lambda i, m=m: f"value {fmt_g(m[i])}", slab)  # fmt: skip
    return prepost_effects(measure, m1, m2, sd1, sd2, n, r, vtype)

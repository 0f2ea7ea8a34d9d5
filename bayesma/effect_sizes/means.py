"""Effect sizes from group means, SDs and sizes: MD, SMD, SMDH, ROM (metafor 3.8 escalc.r)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import gammaln

from bayesma.effect_sizes.checks import column_name, fail_rows, fmt_g, read_column

__all__ = ["escalc_means", "mean_effects"]


def _hedges_correction(m: np.ndarray) -> np.ndarray:
    """Exact small-sample correction c(m) of Hedges (1981) for m degrees of freedom."""
    # Hedges (1981), eq. 6.2; metafor .cmicalc: exp(lgamma(m/2) - log(sqrt(m/2)) - lgamma((m-1)/2))
    return np.exp(gammaln(m / 2) - 0.5 * np.log(m / 2) - gammaln((m - 1) / 2))


def mean_effects(
    measure: str,
    m1: np.ndarray,
    sd1: np.ndarray,
    n1: np.ndarray,
    m2: np.ndarray,
    sd2: np.ndarray,
    n2: np.ndarray,
    vtype: str,
) -> tuple[np.ndarray, np.ndarray]:
    """MD, SMD, SMDH and ROM from group means, SDs and sizes (metafor escalc.r)."""
    mi = n1 + n2 - 2
    # pooled SD, metafor escalc.r: sqrt(((n1i-1)*sd1i^2 + (n2i-1)*sd2i^2) / (n1i+n2i-2))
    sdp = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / mi)
    if measure == "MD":
        yi = m1 - m2  # metafor escalc.r: yi <- m1i - m2i
        if vtype == "HO":
            vi = sdp**2 * (1 / n1 + 1 / n2)  # metafor escalc.r vtype "HO": sdpi^2*(1/n1i+1/n2i)
        else:
            # metafor escalc.r vtype "LS"/"UB": sd1i^2/n1i + sd2i^2/n2i
            vi = sd1**2 / n1 + sd2**2 / n2
        return yi, vi
    if measure == "SMD":
        cm = _hedges_correction(mi)
        di = (m1 - m2) / sdp  # Cohen's d with pooled SD (Hedges & Olkin 1985)
        yi = cm * di  # Hedges' g, metafor escalc.r: yi <- cmi * di
        if vtype == "LS2":
            # Borenstein et al. 2009 eq. 12.17 (metafor vtype "LS2")
            vi = cm**2 * (1 / n1 + 1 / n2 + di**2 / (2 * (n1 + n2)))
        elif vtype == "UB":
            # Hedges 1983 eq. 9, unbiased (metafor vtype "UB")
            vi = 1 / n1 + 1 / n2 + (1 - (mi - 2) / (mi * cm**2)) * yi**2
        else:
            # Hedges & Olkin 1985 eq. 15 with g plugged in (metafor vtype "LS")
            vi = 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))
        return yi, vi
    if measure == "SMDH":
        cm = _hedges_correction(mi)
        sdh = np.sqrt((sd1**2 + sd2**2) / 2)  # Bonett 2008 eq. 7: average of the two variances
        yi = cm * (m1 - m2) / sdh  # metafor escalc.r SMDH: yi <- cmi * (m1i - m2i) / sdpi
        # Bonett 2008 eq. 8 with the corrected yi plugged in, times cmi^2, as metafor 3.8
        # escalc.r: vi <- cmi^2 * (yi^2*(sd1i^4/(n1i-1) + sd2i^4/(n2i-1)) / (2*(sd1i^2+sd2i^2)^2)
        #                          + (sd1i^2/(n1i-1) + sd2i^2/(n2i-1)) / ((sd1i^2+sd2i^2)/2))
        # (metafor >= 4.0 dropped the cmi^2 factor; we match 3.8, the reference version)
        vi = cm**2 * (
            yi**2 * (sd1**4 / (n1 - 1) + sd2**4 / (n2 - 1)) / (8 * sdh**4)
            + (sd1**2 / (n1 - 1) + sd2**2 / (n2 - 1)) / sdh**2
        )
        return yi, vi
    # ROM
    # Hedges, Gurevitch & Curtis 1999 eq. 1; metafor 3.8 escalc.r (no bias-correction term)
    yi = np.log(m1 / m2)
    if vtype == "HO":
        vi = sdp**2 / (n1 * m1**2) + sdp**2 / (n2 * m2**2)  # metafor escalc.r ROM vtype "HO"
    else:
        # Hedges et al. 1999 eq. 5 (metafor vtype "LS")
        vi = sd1**2 / (n1 * m1**2) + sd2**2 / (n2 * m2**2)
    return yi, vi


def escalc_means(
    measure: str, df: pd.DataFrame, cols: dict[str, str], slab: str | None, vtype: str
) -> tuple[np.ndarray, np.ndarray]:
    """Read and check the means, SDs and group sizes, then compute the measure."""
    m1 = read_column(df, cols, "m1i", slab)
    m2 = read_column(df, cols, "m2i", slab)
    sd1 = read_column(df, cols, "sd1i", slab, positive=True)
    sd2 = read_column(df, cols, "sd2i", slab, positive=True)
    n1 = read_column(df, cols, "n1i", slab)
    n2 = read_column(df, cols, "n2i", slab)
    for arg, n in (("n1i", n1), ("n2i", n2)):
        fail_rows(df, n < 2, cols[arg],
              f"{column_name(cols, arg)} must be >= 2 (an SD needs two observations)",
              lambda i, n=n: f"value {fmt_g(n[i])}", slab)  # fmt: skip
    if measure == "ROM":
        for arg, m in (("m1i", m1), ("m2i", m2)):
            fail_rows(df, m <= 0, cols[arg],
                  f"{column_name(cols, arg)} must be > 0 for the ratio of means (ROM is only "
                  "meaningful for ratio-scale outcomes)",
                  lambda i, m=m: f"value {fmt_g(m[i])}", slab)  # fmt: skip
    return mean_effects(measure, m1, sd1, n1, m2, sd2, n2, vtype)

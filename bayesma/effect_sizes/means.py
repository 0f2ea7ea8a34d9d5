"""Effect sizes from group means, SDs and sizes: MD, SMD, SMDH, SMD1, SMD1H, ROM, CVR, VR,
RPB, RBIS, D2OR, D2ORN, D2ORL (metafor 3.8 escalc.r); SMD also from t statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import gammaln, ndtri

from bayesma.effect_sizes.checks import column_name, fail_rows, fmt_g, read_column

__all__ = ["escalc_means", "hedges_correction", "mean_effects"]


def hedges_correction(m: np.ndarray) -> np.ndarray:
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
    """The two-group measures from means, SDs and sizes (metafor escalc.r).

    For VR the means are not used (pass any array), for SMD1 the SDs of group 1.
    """
    if measure in ("SMD1", "SMD1H", "RPB", "RBIS"):
        return _scaled_effects(measure, m1, sd1, n1, m2, sd2, n2, vtype)
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
        cm = hedges_correction(mi)
        di = (m1 - m2) / sdp  # Cohen's d with pooled SD (Hedges & Olkin 1985)
        yi = cm * di  # Hedges' g, metafor escalc.r: yi <- cmi * di
        if vtype == "LS2":
            # Borenstein et al. 2009 eq. 12.17 (metafor vtype "LS2")
            vi = cm**2 * (1 / n1 + 1 / n2 + di**2 / (2 * (n1 + n2)))
        elif vtype == "UB":
            # Hedges 1983 eq. 9, unbiased (metafor vtype "UB")
            vi = 1 / n1 + 1 / n2 + (1 - (mi - 2) / (mi * cm**2)) * yi**2
        elif vtype == "AV":
            # metafor escalc.r vtype "AV": the n-weighted mean of yi in place of yi
            mnw = np.sum(yi * (n1 + n2)) / np.sum(n1 + n2)
            vi = 1 / n1 + 1 / n2 + mnw**2 / (2 * (n1 + n2))
        else:
            # Hedges & Olkin 1985 eq. 15 with g plugged in (metafor vtype "LS")
            vi = 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))
        return yi, vi
    if measure == "SMDH":
        cm = hedges_correction(mi)
        sdh = np.sqrt((sd1**2 + sd2**2) / 2)  # Bonett 2008 eq. 7: average of the two variances
        yi = cm * (m1 - m2) / sdh  # metafor escalc.r SMDH: yi <- cmi * (m1i - m2i) / sdpi
        # Bonett 2008 eq. 8 with the corrected yi plugged in, times cmi^2, as metafor 3.8
        # escalc.r: vi <- cmi^2 * (yi^2*(sd1i^4/(n1i-1) + sd2i^4/(n2i-1)) / (2*(sd1i^2+sd2i^2)^2)
        #                          + (sd1i^2/(n1i-1) + sd2i^2/(n2i-1)) / ((sd1i^2+sd2i^2)/2))
        # (metafor >= 4.0 dropped the cmi^2 factor; we match 3.8, the reference version)
        if vtype == "LS2":
            # metafor 3.8 escalc.r SMDH vtype "LS2" (Bonett 2009)
            s2 = sd1**2 + sd2**2
            return yi, (yi**2 * sd1**2 / (2 * n1 * s2**2) + yi**2 * sd2**2 / (2 * n2 * s2**2)
                        + 2 * sd1**2 / (n1 * s2) + 2 * sd2**2 / (n2 * s2))
        vi = cm**2 * (
            yi**2 * (sd1**4 / (n1 - 1) + sd2**4 / (n2 - 1)) / (8 * sdh**4)
            + (sd1**2 / (n1 - 1) + sd2**2 / (n2 - 1)) / sdh**2
        )
        return yi, vi
    if measure in ("D2ORN", "D2ORL", "D2OR"):
        di = (m1 - m2) / sdp  # Cohen's d (no bias correction), metafor escalc.r
        vd = 1 / n1 + 1 / n2 + di**2 / (2 * (n1 + n2))
        # Cox & Snell 1989 (1.65 d) or Hasselblad & Hedges 1995 (pi/sqrt(3) d), metafor escalc.r
        f = 1.65 if measure == "D2ORN" else np.pi / np.sqrt(3)
        return f * di, f**2 * vd
    if measure == "CVR":
        # Nakagawa et al. 2015 eq. 12 and 13 (metafor escalc.r CVR)
        yi = np.log(sd1 / m1) + 1 / (2 * (n1 - 1)) - np.log(sd2 / m2) - 1 / (2 * (n2 - 1))
        vi = (1 / (2 * (n1 - 1)) + sd1**2 / (n1 * m1**2)
              + 1 / (2 * (n2 - 1)) + sd2**2 / (n2 * m2**2))
        return yi, vi
    if measure == "VR":
        # Nakagawa et al. 2015 eq. 5 and 6 (metafor escalc.r VR)
        yi = np.log(sd1 / sd2) + 1 / (2 * (n1 - 1)) - 1 / (2 * (n2 - 1))
        return yi, 1 / (2 * (n1 - 1)) + 1 / (2 * (n2 - 1))
    # ROM
    # Hedges, Gurevitch & Curtis 1999 eq. 1; metafor 3.8 escalc.r (no bias-correction term)
    yi = np.log(m1 / m2)
    if vtype == "HO":
        vi = sdp**2 / (n1 * m1**2) + sdp**2 / (n2 * m2**2)  # metafor escalc.r ROM vtype "HO"
    elif vtype == "AV":
        # metafor escalc.r ROM "AV": n-weighted mean CVs per group
        cv1 = np.sum(n1 * sd1 / m1) / np.sum(n1)
        cv2 = np.sum(n2 * sd2 / m2) / np.sum(n2)
        vi = cv1**2 / n1 + cv2**2 / n2
    elif vtype == "AVHO":
        # metafor escalc.r ROM "AVHO": one n-weighted mean CV over both groups
        cv = (np.sum(n1 * sd1 / m1) + np.sum(n2 * sd2 / m2)) / np.sum(n1 + n2)
        vi = cv**2 * (1 / n1 + 1 / n2)
    else:
        # Hedges et al. 1999 eq. 5 (metafor vtype "LS")
        vi = sd1**2 / (n1 * m1**2) + sd2**2 / (n2 * m2**2)
    return yi, vi


def _scaled_effects(
    measure: str,
    m1: np.ndarray,
    sd1: np.ndarray,
    n1: np.ndarray,
    m2: np.ndarray,
    sd2: np.ndarray,
    n2: np.ndarray,
    vtype: str,
) -> tuple[np.ndarray, np.ndarray]:
    """SMD1, SMD1H (SD of group 2), RPB, RBIS (point-biserial, biserial r) (metafor escalc.r)."""
    n = n1 + n2
    if measure in ("SMD1", "SMD1H"):
        # Glass's delta: the SD of group 2 scales the difference (metafor escalc.r:
        # mi <- n2i - 1, sdpi <- sd2i, npi <- n2i), with Hedges' correction c(n2 - 1)
        cm = hedges_correction(n2 - 1)
        di = (m1 - m2) / sd2
        yi = cm * di
        if measure == "SMD1H":
            # metafor escalc.r SMD1H: (sd1i^2/sd2i^2)/n1i + 1/n2i + yi^2/(2*n2i)
            return yi, (sd1**2 / sd2**2) / n1 + 1 / n2 + yi**2 / (2 * n2)
        if vtype == "UB":
            mi = n2 - 1
            return yi, 1 / n1 + 1 / n2 + (1 - (mi - 2) / (mi * cm**2)) * yi**2
        if vtype == "LS2":
            return yi, cm**2 * (1 / n1 + 1 / n2 + di**2 / (2 * n2))
        if vtype == "AV":
            mnw = np.sum(yi * n) / np.sum(n)  # metafor: n-weighted mean of yi
            return yi, 1 / n1 + 1 / n2 + mnw**2 / (2 * n2)
        return yi, 1 / n1 + 1 / n2 + yi**2 / (2 * n2)  # metafor escalc.r SMD1 "LS"
    mi = n - 2
    di = (m1 - m2) / np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / mi)  # Cohen's d
    hi = mi / n1 + mi / n2
    rpb = di / np.sqrt(di**2 + hi)  # point-biserial r from d (metafor escalc.r RPB/RBIS)
    if measure == "RPB":
        if vtype == "CS":
            # metafor escalc.r RPB "CS" (Tate 1954)
            return rpb, (1 - rpb**2) ** 2 * (n * rpb**2 / (4 * n1 * n2) + (2 - 3 * rpb**2)
                                            / (2 * n))
        # metafor escalc.r RPB "LS"/"ST": delta method on d
        return rpb, hi**2 / (hi + di**2) ** 3 * (1 / n1 + 1 / n2 + di**2 / (2 * n))
    # biserial r from the point-biserial (Jacobs & Viechtbauer 2017; metafor escalc.r RBIS)
    p1, p2 = n1 / n, n2 / n
    z = -ndtri(p1)  # qnorm(p1i, lower.tail = FALSE)
    fz = np.exp(-z**2 / 2) / np.sqrt(2 * np.pi)
    yi = np.sqrt(p1 * p2) / fz * rpb
    yt = np.where(np.abs(yi) > 1, np.sign(yi), yi)
    vi = 1 / (n - 1) * (p1 * p2 / fz**2 - (3 / 2 + (1 - p1 * z / fz) * (1 + p2 * z / fz)) * yt**2
                        + yt**4)
    return yi, vi


def escalc_means(
    measure: str, df: pd.DataFrame, cols: dict[str, str], slab: str | None, vtype: str
) -> tuple[np.ndarray, np.ndarray]:
    """Read and check the means, SDs and group sizes (or t statistics), then compute."""
    n1 = read_column(df, cols, "n1i", slab)
    n2 = read_column(df, cols, "n2i", slab)
    for arg, n in (("n1i", n1), ("n2i", n2)):
        fail_rows(df, n < 2, cols[arg],
              f"{column_name(cols, arg)} must be >= 2 (an SD needs two observations)",
              lambda i, n=n: f"value {fmt_g(n[i])}", slab)  # fmt: skip
    if measure in ("SMD1", "SMD1H"):
        # Hedges' c(n2 - 1) needs n2 - 1 > 1 (metafor .cmicalc: NA otherwise)
        fail_rows(df, n2 < 3, cols["n2i"],
              f"{column_name(cols, 'n2i')} must be >= 3 for {measure} (the SD of group 2 "
              "scales the difference)",
              lambda i: f"value {fmt_g(n2[i])}", slab)  # fmt: skip
    if "ti" in cols:
        # SMD from a two-sample t statistic (metafor 3.8 escalc.r: di <- ti * sqrt(1/n1i +
        # 1/n2i), then m1i = di, m2i = 0, sd1i = sd2i = 1)
        t = read_column(df, cols, "ti", slab, role="t statistic")
        one = np.ones_like(t)
        return mean_effects(measure, t * np.sqrt(1 / n1 + 1 / n2), one, n1, 0 * one, one, n2,
                            vtype)
    sd2 = read_column(df, cols, "sd2i", slab, positive=True)
    if measure == "SMD1" and "sd1i" not in cols:
        sd1 = np.ones_like(sd2)  # SMD1 scales by the SD of group 2 only
    else:
        sd1 = read_column(df, cols, "sd1i", slab, positive=True)
    if measure == "VR" and "m1i" not in cols:
        m1 = m2 = np.zeros_like(sd1)
    else:
        m1 = read_column(df, cols, "m1i", slab)
        m2 = read_column(df, cols, "m2i", slab)
    if measure in ("ROM", "CVR"):
        for arg, m in (("m1i", m1), ("m2i", m2)):
            fail_rows(df, m <= 0, cols[arg],
                  f"{column_name(cols, arg)} must be > 0 for the "
                  f"{'ratio of means' if measure == 'ROM' else 'coefficient of variation'} "
                  f"({measure} is only meaningful for ratio-scale outcomes)",
                  lambda i, m=m: f"value {fmt_g(m[i])}", slab)  # fmt: skip
    return mean_effects(measure, m1, sd1, n1, m2, sd2, n2, vtype)

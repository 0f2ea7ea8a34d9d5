"""RevMan 5's statistics: study effects, MH / Peto / inverse-variance pooling, DerSimonian-Laird.

Formulas from Deeks & Higgins (2010), *Statistical algorithms in Review Manager 5*
(Cochrane Statistical Methods Group), which RevMan 5 and RevMan Web implement:

* zero cells: 0.5 is added to every cell of a 2x2 table with a zero cell, for the study
  effects and for the Mantel-Haenszel sums; tables with no events (or only events) in
  both groups are left out for OR and RR (not RD); Peto uses the tables as they are.
* Mantel-Haenszel: OR with the Robins, Breslow & Greenland (1986) variance, RR and RD
  with the Greenland & Robins (1985) variances; heterogeneity
  ``Q = sum w_i (y_i - y_MH)^2`` with inverse-variance weights around the MH estimate.
* Peto: ``sum(O - E) / sum(V)``, ``Q = sum((O - E)^2 / V) - sum(O - E)^2 / sum(V)``.
* inverse variance: the weighted mean and Cochran's Q.
* random effects: DerSimonian & Laird (1986) tau² from that Q (for MH, the MH-based Q),
  then inverse-variance weights ``1 / (v_i + tau²)``.
* ``I² = max(0, (Q - df) / Q)`` (Higgins & Thompson 2002); normal-theory CI, z and p.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bayesma.effect_sizes.revman import revman_smd
from bayesma.errors import DataError
from bayesma.revman.outcome import CONTINUOUS, DICHOTOMOUS, GENERIC, OE
from bayesma.tails import chi2_sf, norm_isf, norm_sf

__all__ = ["Pooled", "pool", "study_effects", "subgroup_test"]


def _tables(df: pd.DataFrame) -> tuple[np.ndarray, ...]:
    a, n1 = df["ai"].to_numpy(float), df["n1i"].to_numpy(float)
    c, n2 = df["ci"].to_numpy(float), df["n2i"].to_numpy(float)
    return a, n1 - a, c, n2 - c


def _usable_tables(df: pd.DataFrame, measure: str) -> np.ndarray:
    a, b, c, d = _tables(df)
    ok = np.isfinite(a + b + c + d) & (a + b > 0) & (c + d > 0)
    if measure == "RR":  # no events in either group: left out (meta's RevMan 5 settings)
        ok &= ~((a == 0) & (c == 0))
    elif measure in ("OR", "PETO"):  # no events, or only events, in both groups: left out
        ok &= ~(((a == 0) & (c == 0)) | ((b == 0) & (d == 0)))
    return ok


def _corrected(a, b, c, d) -> tuple[np.ndarray, ...]:
    """0.5 added to all four cells of the tables with a zero cell (Deeks & Higgins 2010)."""
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    add = np.where(zero, 0.5, 0.0)
    return a + add, b + add, c + add, d + add


def study_effects(outcome_type: str, measure: str, method: str, df: pd.DataFrame
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Study effects ``yi``, variances ``vi`` and the mask of studies RevMan pools.

    ``yi`` is on the analysis scale (log for OR, RR, Peto OR; generic data as entered,
    which RevMan keeps on the log scale for ratio measures); rows that RevMan marks "not
    estimable" get NaN and ``False`` in the mask.
    """
    n = len(df)
    yi, vi = np.full(n, np.nan), np.full(n, np.nan)
    if outcome_type == DICHOTOMOUS:
        ok = _usable_tables(df, measure)
        a, b, c, d = (x[ok] for x in _tables(df))
        with np.errstate(divide="ignore", invalid="ignore"):
            if method == "PETO" or measure == "PETO":
                o_e, v = _peto_parts(a, b, c, d)
                keep = v > 0
                y, var = np.where(keep, o_e / v, np.nan), np.where(keep, 1 / v, np.nan)
            else:
                a, b, c, d = _corrected(a, b, c, d)
                n1, n2 = a + b, c + d
                if measure == "OR":  # Deeks & Higgins 2010: log OR and its variance
                    y, var = np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d
                elif measure == "RR":  # log RR, Greenland & Robins (1985)
                    y, var = np.log(a / n1) - np.log(c / n2), 1 / a - 1 / n1 + 1 / c - 1 / n2
                else:  # RD of the tables as they are, its variance from corrected cells
                    a0, n10 = (x[ok] for x in (df["ai"].to_numpy(float), df["n1i"].to_numpy(float)))
                    c0, n20 = (x[ok] for x in (df["ci"].to_numpy(float), df["n2i"].to_numpy(float)))
                    y, var = a0 / n10 - c0 / n20, a * b / n1**3 + c * d / n2**3
        yi[ok], vi[ok] = y, var
    elif outcome_type == CONTINUOUS:
        m1, s1, n1 = (df[c].to_numpy(float) for c in ("m1i", "sd1i", "n1i"))
        m2, s2, n2 = (df[c].to_numpy(float) for c in ("m2i", "sd2i", "n2i"))
        ok = (s1 > 0) & (s2 > 0) & (n1 > 0) & (n2 > 0) & np.isfinite(m1 + m2)
        with np.errstate(divide="ignore", invalid="ignore"):
            if measure == "SMD":  # RevMan's Hedges' g (Deeks & Higgins 2010)
                y, var = revman_smd(m1, s1, n1, m2, s2, n2)
                ok &= (n1 + n2 > 3.94)
            else:  # MD: Deeks & Higgins 2010
                y, var = m1 - m2, s1**2 / n1 + s2**2 / n2
        yi[ok], vi[ok] = y[ok], var[ok]
    elif outcome_type == GENERIC:
        y, se = df["yi"].to_numpy(float), df["sei"].to_numpy(float)
        ok = np.isfinite(y) & (se > 0)
        yi[ok], vi[ok] = y[ok], se[ok] ** 2
    elif outcome_type == OE:
        o_e, v = df["oe"].to_numpy(float), df["var_oe"].to_numpy(float)
        ok = np.isfinite(o_e) & (v > 0)
        yi[ok], vi[ok] = o_e[ok] / v[ok], 1 / v[ok]
    else:
        raise DataError(f"unknown RevMan data type {outcome_type!r}")
    mask = np.isfinite(yi) & np.isfinite(vi) & (vi > 0)
    return yi, vi, mask


def _peto_parts(a, b, c, d) -> tuple[np.ndarray, np.ndarray]:
    """O - E and the hypergeometric variance V of a 2x2 table (Yusuf et al. 1985)."""
    n1, n2 = a + b, c + d
    n = n1 + n2
    e = (a + c) * n1 / n
    v = n1 * n2 * (a + c) * (b + d) / (n**2 * (n - 1))
    return a - e, v


def _mh(measure: str, a, b, c, d, rd=None) -> tuple[float, float]:
    """Mantel-Haenszel estimate (log for OR, RR) and SE (Deeks & Higgins 2010) from the
    corrected tables (``rd``: the uncorrected risk differences, for RD)."""
    n1, n2 = a + b, c + d
    n = n1 + n2
    if measure == "OR":
        r, s = a * d / n, b * c / n
        big_r, big_s = r.sum(), s.sum()
        if big_r <= 0 or big_s <= 0:
            return math.nan, math.nan
        p, q = (a + d) / n, (b + c) / n
        # Robins, Breslow & Greenland (1986) variance of log OR_MH
        var = 0.5 * ((p * r).sum() / big_r**2 + (p * s + q * r).sum() / (big_r * big_s)
                     + (q * s).sum() / big_s**2)
        return math.log(big_r / big_s), math.sqrt(var)
    if measure == "RR":
        big_r, big_s = (a * n2 / n).sum(), (c * n1 / n).sum()
        if big_r <= 0 or big_s <= 0:
            return math.nan, math.nan
        p = (n1 * n2 * (a + c) / n**2 - a * c / n).sum()  # Greenland & Robins (1985)
        return math.log(big_r / big_s), math.sqrt(p / (big_r * big_s))
    # RD: weights n1 n2 / N of the corrected tables, applied to the studies' uncorrected
    # risk differences ``rd``; Greenland & Robins (1985) variance (meta's metabin, RevMan 5)
    w = n1 * n2 / n
    est = (w * rd).sum() / w.sum()
    j = (a * b * n2**3 + c * d * n1**3) / (n1 * n2 * n**2)
    return float(est), math.sqrt(j.sum() / w.sum() ** 2)


class Pooled(dict):
    """The pooled numbers of one analysis (or subgroup): a dict of the result fields."""


def _finish(est: float, se: float, q: float, k: int, tau2: float, level: float) -> Pooled:
    df = k - 1
    zc = float(norm_isf((1 - level) / 2))
    z = est / se if se > 0 else math.nan
    return Pooled(
        estimate=est, se=se, ci_low=est - zc * se, ci_high=est + zc * se, z=z,
        pval=2 * float(norm_sf(abs(z))) if np.isfinite(z) else math.nan,
        # RevMan stores p = 1 for Q = 0 on 0 df (a single study)
        q=q, q_df=df, q_pval=float(chi2_sf(q, df)) if df > 0 else (1.0 if df == 0 else math.nan),
        i2=max(0.0, 100 * (q - df) / q) if df > 0 and q > 0 else 0.0,
        tau2=tau2, k=k,
    )


_MEASURES_OF = {DICHOTOMOUS: ("OR", "RR", "RD", "PETO"), CONTINUOUS: ("MD", "SMD")}


def pool(outcome_type: str, measure: str, method: str, model: str, df: pd.DataFrame, *,
         level: float = 0.95) -> Pooled:
    """RevMan's pooled analysis of the study rows ``df`` (all of an outcome or a subgroup).

    Returns a :class:`Pooled` with ``estimate, se, ci_low, ci_high, z, pval, q, q_df,
    q_pval, i2, tau2, k`` and the study arrays ``yi, vi, used`` and ``weight`` (percent).
    """
    allowed = _MEASURES_OF.get(outcome_type, (measure,))
    if measure not in allowed:
        raise DataError(f"a RevMan {outcome_type} analysis with effect measure {measure!r}: "
                        f"bayesma recomputes {', '.join(allowed)}", column="measure")
    yi, vi, used = study_effects(outcome_type, measure, method, df)
    k = int(used.sum())
    if k == 0:
        nan = math.nan
        out = _finish(nan, nan, nan, 0, nan, level)
        out.update(yi=yi, vi=vi, used=used, weight=np.full(len(df), np.nan))
        return out
    y, v = yi[used], vi[used]
    w = 1 / v
    if outcome_type == DICHOTOMOUS and method == "MH":
        ok = _usable_tables(df, measure)
        est, se = _mh(measure, *_corrected(*(x[ok] for x in _tables(df))), rd=yi[ok])
    elif outcome_type == DICHOTOMOUS and method == "PETO":
        est, se = float((w * y).sum() / w.sum()), math.sqrt(1 / w.sum())  # sum(O-E) / sum(V)
    else:
        est, se = float((w * y).sum() / w.sum()), math.sqrt(1 / w.sum())
    q = float((w * (y - est) ** 2).sum())  # Deeks & Higgins 2010: Q around the fixed estimate
    tau2 = 0.0
    weight = np.full(len(df), np.nan)
    if model == "random":
        # DerSimonian & Laird (1986) with the Q above (the MH-based Q for MH analyses)
        tau2 = max(0.0, (q - (k - 1)) / (w.sum() - (w**2).sum() / w.sum())) if k > 1 else 0.0
        wr = 1 / (v + tau2)
        est, se = float((wr * y).sum() / wr.sum()), math.sqrt(1 / wr.sum())
        weight[used] = 100 * wr / wr.sum()
    else:
        weight[used] = 100 * w / w.sum()
    out = _finish(est, se, q, k, tau2, level)
    out.update(yi=yi, vi=vi, used=used, weight=weight)
    return out


def subgroup_test(estimates: np.ndarray, ses: np.ndarray) -> dict[str, float]:
    """RevMan's test for subgroup differences: Cochran's Q of the subgroup estimates around
    their inverse-variance mean, ``df = J - 1``, and its I² (Deeks & Higgins 2010)."""
    ok = np.isfinite(estimates) & np.isfinite(ses) & (ses > 0)
    est, w = estimates[ok], 1 / ses[ok] ** 2
    j = int(ok.sum())
    if j == 0:
        nan = math.nan
        return {"q_between": nan, "q_between_df": nan, "q_between_pval": nan, "i2_between": nan}
    if j == 1:  # RevMan stores Q = 0, p = 1, I² = 0 when one subgroup is estimable
        return {"q_between": 0.0, "q_between_df": 0, "q_between_pval": 1.0, "i2_between": 0.0}
    q = float((w * (est - (w * est).sum() / w.sum()) ** 2).sum())
    return {"q_between": q, "q_between_df": j - 1, "q_between_pval": float(chi2_sf(q, j - 1)),
            "i2_between": max(0.0, 100 * (q - (j - 1)) / q) if q > 0 else 0.0}

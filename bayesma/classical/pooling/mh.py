"""``rma_mh``: Mantel-Haenszel pooling of 2x2 tables and person-time data (metafor 3.8 ``rma.mh``).

Estimators: Mantel & Haenszel (1959) for OR, RR, RD; Rothman & Greenland (1998) for IRR
and IRD. Variances: Robins, Breslow & Greenland (1986) for log OR; Greenland & Robins
(1985) for log RR, RD, log IRR and IRD (the "Sato" RD variance is not used by metafor).
Tests: Cochran-Mantel-Haenszel (Mantel & Haenszel 1959, with continuity correction),
Breslow-Day (1980) and Tarone's (1985) tests of homogeneity of odds ratios. Q, I² and H²
come from the study yi/vi of :func:`bayesma.escalc`, as in metafor.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesma.classical.pooling.inputs import (
    ZERO_ADJUST,
    pair_option,
    pooled_rates,
    pooled_tables,
    read_rates,
    read_tables,
)
from bayesma.classical.pooling.result import PoolingResult, finish_pooling
from bayesma.classical.settings import parse_level
from bayesma.errors import SpecError
from bayesma.tails import chi2_sf

__all__ = ["rma_mh"]

MH_MEASURES = ("OR", "RR", "RD", "IRR", "IRD")


def _or(a, b, c, d, correct: bool) -> dict:
    """MH log OR with the Robins-Breslow-Greenland (1986) variance, CMH, Breslow-Day and
    Tarone tests (metafor 3.8 rma.mh, measure "OR")."""
    n1, n2 = a + b, c + d
    n = n1 + n2
    p_, q_ = a / n + d / n, b / n + c / n
    r_, s_ = (a / n) * d, (b / n) * c
    R, S = r_.sum(), s_.sum()
    out: dict = {}
    if R == 0 or S == 0:
        est = se = np.nan
    else:
        est = np.log(R / S)  # Mantel & Haenszel (1959)
        # Robins, Breslow & Greenland (1986) variance of the log MH odds ratio
        se = np.sqrt(0.5 * ((p_ * r_).sum() / R**2 + (p_ * s_ + q_ * r_).sum() / (R * S)
                            + (q_ * s_).sum() / S**2))
    xt, yt = a + c, b + d
    if xt.sum() == 0 or yt.sum() == 0:
        out.update(cmh=np.nan, cmh_pval=np.nan, cochran=np.nan, cochran_pval=np.nan)
    else:
        dev = (abs((a - (n1 / n) * xt).sum()) - (0.5 if correct else 0.0)) ** 2
        co = dev / ((n1 / n) * (n2 / n) * (xt * (yt / n))).sum()  # Cochran (1954)
        cmh = dev / ((n1 / n) * (n2 / n) * (xt * (yt / (n - 1)))).sum()  # Mantel & Haenszel
        out.update(cmh=cmh, cmh_pval=float(chi2_sf(cmh, 1)), cochran=co,
                   cochran_pval=float(chi2_sf(co, 1)))
    if np.isnan(est):
        out.update(breslow_day=np.nan, breslow_day_pval=np.nan, tarone=np.nan,
                   tarone_pval=np.nan, k_pos=0)
    else:
        psi = R / S
        if psi == 1:
            n11 = (n1 / n) * xt
        else:  # expected cell under the common OR: root of a quadratic (Breslow & Day 1980)
            aa = psi * (n1 + xt) + (n2 - xt)
            bb = np.sqrt(aa**2 - 4 * n1 * xt * psi * (psi - 1))
            n11 = (aa - bb) / (2 * (psi - 1))
        pos = (n11 > 0) & (xt > 0) & (yt > 0)
        kp = int(pos.sum())
        e11 = n11[pos]
        e12, e21 = n1[pos] - e11, xt[pos] - e11
        e22 = e11 - n1[pos] - xt[pos] + n[pos]
        w = 1 / (1 / e11 + 1 / e12 + 1 / e21 + 1 / e22)
        bd = max(0.0, float(((a[pos] - e11) ** 2 / w).sum()))  # Breslow & Day (1980)
        ta = max(0.0, bd - float((a[pos] - e11).sum()) ** 2 / float(w.sum()))  # Tarone (1985)
        ok = kp > 1
        out.update(breslow_day=bd, tarone=ta, k_pos=kp,
                   breslow_day_pval=float(chi2_sf(bd, kp - 1)) if ok else np.nan,
                   tarone_pval=float(chi2_sf(ta, kp - 1)) if ok else np.nan)
    return {"estimate": est, "se": se, **out}


def _rr(a, b, c, d) -> dict:
    """MH log RR with the Greenland & Robins (1985) variance (metafor 3.8 rma.mh, "RR")."""
    n1, n2 = a + b, c + d
    n = n1 + n2
    R, S = (a * (n2 / n)).sum(), (c * (n1 / n)).sum()
    if a.sum() == 0 or c.sum() == 0:
        return {"estimate": np.nan, "se": np.nan}
    se = np.sqrt(((n1 / n) * (n2 / n) * (a + c) - (a / n) * c).sum() / (R * S))
    return {"estimate": np.log(R / S), "se": se}


def _rd(a, b, c, d) -> dict:
    """MH RD with the Greenland & Robins (1985) variance (metafor 3.8 rma.mh, "RD")."""
    n1, n2 = a + b, c + d
    n = n1 + n2
    wsum = (n1 * (n2 / n)).sum()
    est = (a * (n2 / n) - c * (n1 / n)).sum() / wsum
    var = (est * (c * (n1 / n) ** 2 - a * (n2 / n) ** 2 + (n1 / n) * (n2 / n) * (n2 - n1) / 2).sum()
           + (a * (n2 - c) / n + c * (n1 - a) / n).sum() / 2) / wsum**2
    return {"estimate": est, "se": np.sqrt(var)}


def _irr(x1, x2, t1, t2, correct: bool) -> dict:
    """MH log IRR (Rothman & Greenland 1998) with its Greenland & Robins (1985) variance and
    the MH test (metafor 3.8 rma.mh, "IRR")."""
    t = t1 + t2
    R, S = (x1 * (t2 / t)).sum(), (x2 * (t1 / t)).sum()
    if x1.sum() == 0 or x2.sum() == 0:
        out = {"estimate": np.nan, "se": np.nan}
    else:
        out = {"estimate": np.log(R / S),
               "se": np.sqrt(((t1 / t) * (t2 / t) * (x1 + x2)).sum() / (R * S))}
    xt = x1 + x2
    if xt.sum() == 0:
        out.update(cmh=np.nan, cmh_pval=np.nan)
    else:
        cmh = ((abs((x1 - xt * (t1 / t)).sum()) - (0.5 if correct else 0.0)) ** 2
               / (xt * (t1 / t) * (t2 / t)).sum())
        out.update(cmh=cmh, cmh_pval=float(chi2_sf(cmh, 1)))
    return out


def _ird(x1, x2, t1, t2) -> dict:
    """MH IRD (Rothman & Greenland 1998) and its variance (metafor 3.8 rma.mh, "IRD")."""
    t = t1 + t2
    wsum = ((t1 / t) * t2).sum()
    est = ((x1 * t2 - x2 * t1) / t).sum() / wsum
    se = np.sqrt((((t1 / t) * t2) ** 2 * (x1 / t1**2 + x2 / t2**2)).sum()) / wsum
    return {"estimate": est, "se": se}


def rma_mh(
    data: pd.DataFrame,
    measure: str = "OR",
    *,
    ai: str | None = None,
    bi: str | None = None,
    ci: str | None = None,
    di: str | None = None,
    n1i: str | None = None,
    n2i: str | None = None,
    x1i: str | None = None,
    x2i: str | None = None,
    t1i: str | None = None,
    t2i: str | None = None,
    correct: bool = True,
    add: float | tuple[float, float] = 0.5,
    to: str | tuple[str, str] = "only0",
    drop00: bool | tuple[bool, bool] = True,
    level: float = 95,
    slab: str | None = None,
) -> PoolingResult:
    """Mantel-Haenszel equal-effects meta-analysis, as metafor 3.8's ``rma.mh``.

    Parameters
    ----------
    data : DataFrame
        The study table, a row per study.
    measure : {"OR", "RR", "RD", "IRR", "IRD"}
        Odds ratio, risk ratio, risk difference (2x2 tables: ``ai, bi, ci, di`` or
        ``ai, n1i, ci, n2i``) or incidence rate ratio/difference (``x1i, x2i, t1i, t2i``).
    ai, bi, ci, di, n1i, n2i : str, optional
        Columns of events/non-events (or group sizes) of groups 1 and 2.
    x1i, x2i, t1i, t2i : str, optional
        Columns of event counts and person-times of groups 1 and 2.
    correct : bool
        Continuity correction of the Cochran-Mantel-Haenszel test (metafor's default).
    add, to, drop00 : one value or a pair
        As metafor: the first value applies to the study yi/vi (by :func:`bayesma.escalc`,
        used for Q, I² and H²), the second to the tables the MH estimator pools (default
        ``0``, ``"none"``, ``False``: the MH estimator needs no correction). ``to`` is
        ``"all"``, ``"only0"``, ``"if0all"`` or ``"none"``.
    level : float
        Confidence level, 95 or 0.95.
    slab : str, optional
        Study label column.

    Returns
    -------
    PoolingResult
        ``estimate, se, zval, pval, ci_low, ci_high`` (log scale for OR, RR, IRR and their
        exponentiated ``estimate_exp, ci_low_exp, ci_high_exp``), ``q, q_pval, i2, h2``,
        ``cmh, cmh_pval`` (OR, IRR), ``tarone, tarone_pval`` and ``breslow_day`` (OR), ``k``.

    Raises
    ------
    DataError
        Negative or fractional counts, more events than patients, non-positive times
        (naming column and row).
    SpecError
        Unknown measure or options, or missing columns.
    """
    measure = str(measure).upper()
    if measure not in MH_MEASURES:
        raise SpecError(f"rma_mh: measure must be one of {', '.join(MH_MEASURES)}, got {measure!r}")
    add2 = pair_option(add, 0.0, "add")
    to2 = pair_option(to, "none", "to", ZERO_ADJUST)
    drop2 = pair_option(drop00, False, "drop00")
    lv = parse_level(level)
    data = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    if measure in ("OR", "RR", "RD"):
        cols = {"ai": ai, "bi": bi, "ci": ci, "di": di, "n1i": n1i, "n2i": n2i}
        # metafor: drop00[2] removes the double-zero tables from the MH fit
        a, b, c, d = pooled_tables(*read_tables(data, ai, bi, ci, di, n1i, n2i, slab),
                                   float(add2[1]), to2[1], bool(drop2[1]))
        if measure == "OR":
            fit = _or(a, b, c, d, correct)
        else:
            fit = _rr(a, b, c, d) if measure == "RR" else _rd(a, b, c, d)
        k = len(a)
    else:
        cols = {"x1i": x1i, "x2i": x2i, "t1i": t1i, "t2i": t2i}
        x1, x2, t1, t2 = pooled_rates(*read_rates(data, x1i, x2i, t1i, t2i, slab),
                                      float(add2[1]), to2[1], bool(drop2[1]))
        fit = _irr(x1, x2, t1, t2, correct) if measure == "IRR" else _ird(x1, x2, t1, t2)
        k = len(x1)
    return finish_pooling("MH", measure, fit, k, data, cols,
                          {"correct": correct, "add": add2, "to": to2, "drop00": drop2}, lv,
                          slab)


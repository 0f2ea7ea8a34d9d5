"""Effect sizes: metafor's ``escalc()`` measures and conversions between effect sizes.

:func:`escalc` turns arm-level data (means/SDs/ns, 2x2 counts, correlations) or given
estimates into a table with an effect size ``yi`` and its sampling variance ``vi`` per
row, with metafor's (3.8) formulas and defaults, so that its output matches
``metafor::escalc()`` to floating-point precision.

Differences from metafor, all deliberate (bad input is never silently coerced):

* Input that metafor would turn into ``NA`` is an error naming the column, the row and the
  study: missing values, SD <= 0, group sizes too small to estimate the variance,
  correlations of ±1 for ZCOR, ``ni <= 3`` for correlations, means <= 0 for ROM, and any
  computed sampling variance <= 0.
* Rows whose ``yi``/``vi`` are undefined by construction (double-zero tables with
  ``drop00=True``; zero cells with ``to="none"`` or ``add=0``) become NaN as in metafor,
  but always with an :class:`UndefinedEffectWarning` naming them. :func:`bayesma.rma`
  does not drop NaN rows on its own: remove them explicitly, e.g.
  ``dat.dropna(subset=["yi", "vi"])``.

The conversions (:func:`smd_to_logor`, :func:`logor_to_smd`, :func:`r_to_d`,
:func:`d_to_r`, :func:`r_to_z`, :func:`z_to_r`, and the dispatcher :func:`convert`)
follow Borenstein et al. (2009, ch. 7), Hasselblad & Hedges (1995) and Fisher (1921).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy.special import gammaln

from bayesma.data import describe_rows, numeric_column, require_columns
from bayesma.errors import BayesmaError, DataError, DroppedRowsWarning

__all__ = [
    "MEASURES",
    "Converted",
    "UndefinedEffectWarning",
    "convert",
    "d_to_r",
    "escalc",
    "logor_to_smd",
    "r_to_d",
    "r_to_z",
    "smd_to_logor",
    "z_to_r",
]


class UndefinedEffectWarning(DroppedRowsWarning):
    """Some rows got ``yi = vi = NaN`` from :func:`escalc` (the message names them).

    This happens only where metafor also returns ``NA``: double-zero tables with
    ``drop00=True`` and zero cells that were not corrected (``to="none"`` or ``add=0``).
    Downstream fits do not drop such rows silently; remove them explicitly.
    """


#: Measures computed by :func:`escalc`, with a one-line description.
MEASURES: dict[str, str] = {
    "MD": "raw mean difference",
    "SMD": "standardized mean difference (Hedges' g, exact bias correction)",
    "SMDH": "standardized mean difference with heteroscedastic SDs (Bonett 2008)",
    "ROM": "log ratio of means (response ratio)",
    "OR": "log odds ratio",
    "RR": "log risk ratio",
    "RD": "risk difference",
    "PETO": "log odds ratio, Peto's one-step method",
    "COR": "raw correlation coefficient",
    "ZCOR": "Fisher r-to-z transformed correlation",
    "GEN": "generic: given yi with vi (or sei)",
}

_MEAN_MEASURES = ("MD", "SMD", "SMDH", "ROM")
_TABLE_MEASURES = ("OR", "RR", "RD", "PETO")
_COR_MEASURES = ("COR", "ZCOR")

_MEAN_ARGS = ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")
_TABLE_ARGS = ("ai", "bi", "ci", "di", "n1i", "n2i")
_COR_ARGS = ("ri", "ni")
_GIVEN_ARGS = ("yi", "vi", "sei")
_ALL_ARGS = ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i", "ai", "bi", "ci", "di", "ri", "ni",
             "yi", "vi", "sei")  # fmt: skip

# argument order in messages about computed values (the first one is DataError.column)
_MESSAGE_ORDER = ("yi", "vi", "sei", "ri", "ni", "ai", "bi", "ci", "di",
                  "m1i", "sd1i", "m2i", "sd2i", "n1i", "n2i")  # fmt: skip

#: vtype values supported per measure ("LS" everywhere; metafor's default).
_VTYPES: dict[str, tuple[str, ...]] = {
    "MD": ("LS", "UB", "HO"),
    "SMD": ("LS", "LS2", "UB"),
    "SMDH": ("LS",),
    "ROM": ("LS", "HO"),
    "OR": ("LS",),
    "RR": ("LS",),
    "RD": ("LS", "UB"),
    "PETO": ("LS",),
    "COR": ("LS",),
    "ZCOR": ("LS",),
    "GEN": ("LS",),
}

_ROLES = {
    "m1i": "mean, group 1",
    "sd1i": "SD, group 1",
    "n1i": "sample size, group 1",
    "m2i": "mean, group 2",
    "sd2i": "SD, group 2",
    "n2i": "sample size, group 2",
    "ai": "events, group 1",
    "bi": "non-events, group 1",
    "ci": "events, group 2",
    "di": "non-events, group 2",
    "ri": "correlation",
    "ni": "sample size",
    "yi": "effect size",
    "vi": "sampling variance",
    "sei": "standard error",
}


# --------------------------------------------------------------------------- helpers


def _canonical_measure(measure: str) -> str:
    if not isinstance(measure, str) or measure.upper() not in MEASURES:
        valid = ", ".join(f"{m} ({d})" for m, d in MEASURES.items())
        raise BayesmaError(f"unknown measure {measure!r}; valid measures are: {valid}")
    return measure.upper()


def _fail(
    df: pd.DataFrame,
    mask: np.ndarray,
    column: str,
    message: str,
    detail: Any,
    slab: str | None,
) -> None:
    """Raise DataError for the rows in ``mask`` (if any); ``detail(i)`` describes row i."""
    if not mask.any():
        return
    pos = np.flatnonzero(mask)
    rows = list(df.index[pos])
    raise DataError(
        f"{message}; {describe_rows(df, rows, slab=slab)}: {detail(pos[0])}",
        column=column,
        rows=rows,
    )


def _col(
    df: pd.DataFrame, cols: dict[str, str], arg: str, slab: str | None, **checks: bool
) -> np.ndarray:
    """Read the column given for argument ``arg`` with numeric_column's checks."""
    return numeric_column(df, cols[arg], what=f"{arg}: {_ROLES[arg]}", slab=slab, **checks)


def _name(cols: dict[str, str], arg: str) -> str:
    return f"column {cols[arg]!r} ({arg}: {_ROLES[arg]})"


def _g(x: float) -> str:
    return f"{x:g}"


# --------------------------------------------------------------------------- measures


def _hedges_correction(m: np.ndarray) -> np.ndarray:
    """Exact small-sample correction c(m) of Hedges (1981) for m degrees of freedom."""
    # Hedges (1981), eq. 6.2; metafor .cmicalc: exp(lgamma(m/2) - log(sqrt(m/2)) - lgamma((m-1)/2))
    return np.exp(gammaln(m / 2) - 0.5 * np.log(m / 2) - gammaln((m - 1) / 2))


def _means(
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


def _zero_adjust(
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    d: np.ndarray,
    add: float,
    to: str,
) -> tuple[np.ndarray, ...]:
    """metafor's continuity correction: add ``add`` to the cells of the tables chosen by ``to``."""
    if to == "all":
        sel = np.ones(a.shape, dtype=bool)
    elif to in ("only0", "if0all"):
        # metafor escalc.r: id0 <- ai == 0 | ci == 0 | bi == 0 | di == 0 (NA -> FALSE)
        with np.errstate(invalid="ignore"):
            sel = (a == 0) | (b == 0) | (c == 0) | (d == 0)
        if to == "if0all":
            sel = np.full(a.shape, bool(sel.any()))
    else:  # "none"
        sel = np.zeros(a.shape, dtype=bool)
    inc = np.where(sel, add, 0.0)
    return a + inc, b + inc, c + inc, d + inc


def _table(
    measure: str,
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    d: np.ndarray,
    vtype: str,
) -> tuple[np.ndarray, np.ndarray]:
    """OR, RR, RD and PETO from (already zero-adjusted) 2x2 cells (metafor escalc.r)."""
    n1 = a + b
    n2 = c + d
    p1 = a / n1
    p2 = c / n2
    if measure == "OR":
        yi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))  # metafor escalc.r: log odds ratio
        vi = 1 / a + 1 / b + 1 / c + 1 / d  # Woolf 1955 (metafor "LS")
    elif measure == "RR":
        yi = np.log(p1) - np.log(p2)  # metafor escalc.r: log risk ratio
        vi = 1 / a - 1 / n1 + 1 / c - 1 / n2  # Katz et al. 1978 (metafor "LS")
    elif measure == "RD":
        yi = p1 - p2  # metafor escalc.r: risk difference
        if vtype == "UB":
            vi = p1 * (1 - p1) / (n1 - 1) + p2 * (1 - p2) / (n2 - 1)  # metafor escalc.r RD "UB"
        else:
            vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2  # metafor escalc.r RD "LS"
    else:  # PETO
        n = n1 + n2
        xt = a + c
        yt = b + d
        e = xt * n1 / n  # Yusuf et al. 1985: expected events in group 1 (metafor escalc.r)
        v = xt * yt * (n1 / n) * (n2 / n) / (n - 1)  # hypergeometric variance (metafor escalc.r)
        yi = (a - e) / v  # Yusuf et al. 1985 one-step log OR, metafor escalc.r: (ai - Ei) / Vi
        vi = 1 / v  # metafor escalc.r: vi <- 1/Vi
    return yi, vi


def _cor(measure: str, r: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COR and ZCOR (metafor escalc.r)."""
    if measure == "COR":
        # large-sample variance (1 - r^2)^2 / (n - 1), metafor escalc.r COR vtype "LS"
        return r.copy(), (1 - r**2) ** 2 / (n - 1)
    return np.arctanh(r), 1 / (n - 3)  # Fisher 1921 r-to-z, var 1/(n-3) (metafor escalc.r)


# --------------------------------------------------------------------------- escalc


def _measure_arguments(measure: str, given: dict[str, str]) -> str:
    """Check the argument combination; return the family ("means", "table", "cor", "given")."""
    if "yi" in given:
        extra = [a for a in given if a not in _GIVEN_ARGS]
        if extra:
            raise BayesmaError(
                f"escalc: give either yi with vi (or sei), or the arm-level columns for "
                f"{measure!r}, not both (also got {', '.join(extra)})"
            )
        if ("vi" in given) == ("sei" in given):
            raise BayesmaError(
                "escalc: given effect sizes yi need exactly one of vi (sampling variances) "
                "or sei (standard errors)"
            )
        return "given"
    if measure == "GEN":
        raise BayesmaError(
            "measure 'GEN' needs yi and vi (or sei): escalc('GEN', data, yi='yi', vi='vi')"
        )
    if measure in _MEAN_MEASURES:
        family, allowed = "means", _MEAN_ARGS
        missing = [a for a in _MEAN_ARGS if a not in given]
        needs = "m1i, sd1i, n1i, m2i, sd2i, n2i (means, SDs and sizes of both groups)"
    elif measure in _TABLE_MEASURES:
        family, allowed = "table", _TABLE_ARGS
        missing = [a for a in ("ai", "ci") if a not in given]
        if "bi" not in given and "n1i" not in given:
            missing.append("bi (or n1i)")
        if "di" not in given and "n2i" not in given:
            missing.append("di (or n2i)")
        needs = "ai, bi, ci, di (the four cells) or ai, n1i, ci, n2i (events and group sizes)"
    else:
        family, allowed = "cor", _COR_ARGS
        missing = [a for a in _COR_ARGS if a not in given]
        needs = "ri, ni (correlation and sample size)"
    if missing:
        raise BayesmaError(f"measure {measure!r} needs {needs}; missing: {', '.join(missing)}")
    extra = [a for a in given if a not in allowed]
    if extra:
        raise BayesmaError(f"measure {measure!r} does not use {', '.join(extra)}; it needs {needs}")
    return family


def escalc(
    measure: str,
    data: pd.DataFrame,
    *,
    m1i: str | None = None,
    sd1i: str | None = None,
    n1i: str | None = None,
    m2i: str | None = None,
    sd2i: str | None = None,
    n2i: str | None = None,
    ai: str | None = None,
    bi: str | None = None,
    ci: str | None = None,
    di: str | None = None,
    ri: str | None = None,
    ni: str | None = None,
    yi: str | None = None,
    vi: str | None = None,
    sei: str | None = None,
    add: float = 0.5,
    to: str = "only0",
    drop00: bool = False,
    vtype: str = "LS",
    var_names: Sequence[str] = ("yi", "vi"),
    slab: str | None = None,
) -> pd.DataFrame:
    """Compute effect sizes and sampling variances as metafor's ``escalc()``.

    Parameters
    ----------
    measure : str
        One of :data:`MEASURES` (case-insensitive): ``"MD"``, ``"SMD"`` (Hedges' g with
        the exact gamma-function bias correction), ``"SMDH"``, ``"ROM"`` (log ratio of
        means) from means; ``"OR"``, ``"RR"`` (both on the log scale), ``"RD"``,
        ``"PETO"`` from 2x2 tables; ``"COR"``, ``"ZCOR"`` from correlations; ``"GEN"``
        for given ``yi`` with ``vi`` or ``sei``. Any measure name may be combined with
        given ``yi``/``vi`` (e.g. log odds ratios reported by the studies); the values
        are then validated and copied, and the name is recorded.
    data : DataFrame
        The study table.
    m1i, sd1i, n1i, m2i, sd2i, n2i : str, optional
        Column names of the means, SDs and group sizes (group 1 is the treatment group;
        positive effects favour group 1 having the larger mean).
    ai, bi, ci, di : str, optional
        Columns of a 2x2 table: events and non-events of group 1 (``ai``, ``bi``) and of
        group 2 (``ci``, ``di``). Instead of ``bi``/``di`` give the group sizes ``n1i``
        / ``n2i``; when both are given they must agree.
    ri, ni : str, optional
        Columns of correlations and sample sizes (``ni > 3``).
    yi, vi, sei : str, optional
        Columns of given effect sizes and their sampling variances or standard errors.
    add : float
        Value added to the cells of 2x2 tables chosen by ``to`` (metafor: 1/2).
    to : {"only0", "all", "if0all", "none"}
        Which tables get ``add``: those with a zero cell (default), all tables, all
        tables if any has a zero cell, or none. As in metafor 3.8 this applies to OR,
        RR, RD and PETO alike; double-zero tables are kept and, with ``add > 0``, get
        finite values.
    drop00 : bool
        If True, tables with no events (or only events) in both groups get
        ``yi = vi = NaN`` (metafor's ``drop00=TRUE``); an :class:`UndefinedEffectWarning`
        names them.
    vtype : str
        Sampling-variance type. ``"LS"`` (metafor's default) for every measure; also
        ``"HO"`` and ``"UB"`` for MD, ``"LS2"`` and ``"UB"`` for SMD, ``"HO"`` for ROM and
        ``"UB"`` for RD, with metafor's formulas.
    var_names : (str, str)
        Names of the output columns for the effect sizes and variances.
    slab : str, optional
        Column of study labels used in error messages (by default the first of
        :data:`bayesma.data.LABEL_CANDIDATES` present).

    Returns
    -------
    DataFrame
        A copy of ``data`` with the columns ``var_names`` set (existing columns of that
        name are overwritten: the new measure wins); every other column is kept.
        ``out.attrs["measure"]`` is the measure.

    Raises
    ------
    BayesmaError
        Unknown measure, ``to`` or ``vtype``, or a wrong combination of arguments
        (the message says what the measure needs).
    DataError
        Invalid data, naming the column, the row and the study label: missing or
        non-numeric values, SD <= 0, group sizes < 2 (means), negative counts, events
        larger than the group size, ``n1i != ai + bi``, ``|ri| > 1`` (or ``|ri| = 1`` for
        ZCOR), ``ni <= 3``, means <= 0 for ROM, ``vi`` or ``sei`` <= 0, and any computed
        sampling variance <= 0.

    Warns
    -----
    UndefinedEffectWarning
        When some rows get ``yi = vi = NaN`` (``drop00=True`` double-zero tables, or
        uncorrected zero cells). Downstream fits do not drop these silently: remove them
        with ``dat.dropna(subset=["yi", "vi"])``.

    Notes
    -----
    Every formula follows metafor 3.8's ``escalc.r`` (cited next to each line of the
    source). Peto's method uses the zero-adjusted counts, as metafor does with its
    defaults (``to="only0"``), so double-zero tables get finite Peto estimates; pass
    ``to="none"`` for the textbook Peto estimator (double-zero tables then get NaN).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"m1i": [10.0], "sd1i": [2.0], "n1i": [20],
    ...                    "m2i": [9.0], "sd2i": [2.5], "n2i": [22]})
    >>> dat = escalc("SMD", df, m1i="m1i", sd1i="sd1i", n1i="n1i",
    ...              m2i="m2i", sd2i="sd2i", n2i="n2i")
    >>> round(float(dat["yi"].iloc[0]), 4)
    0.431
    """
    measure = _canonical_measure(measure)
    require_columns(data, [])
    if to not in ("only0", "all", "if0all", "none"):
        raise BayesmaError(f"unknown to={to!r}; use 'only0', 'all', 'if0all' or 'none'")
    if isinstance(add, bool) or not isinstance(add, int | float | np.integer | np.floating):
        raise BayesmaError(f"add must be a finite number >= 0, got {add!r}")
    if not np.isfinite(add) or add < 0:
        raise BayesmaError(f"add must be a finite number >= 0, got {add!r}")
    if (
        isinstance(var_names, str)
        or len(var_names) != 2
        or not all(isinstance(v, str) for v in var_names)
        or var_names[0] == var_names[1]
    ):
        raise BayesmaError(f"var_names must be two different column names, got {var_names!r}")
    raw = {
        "m1i": m1i, "sd1i": sd1i, "n1i": n1i, "m2i": m2i, "sd2i": sd2i, "n2i": n2i,
        "ai": ai, "bi": bi, "ci": ci, "di": di, "ri": ri, "ni": ni,
        "yi": yi, "vi": vi, "sei": sei,
    }  # fmt: skip
    cols: dict[str, str] = {}
    for arg in _ALL_ARGS:
        value = raw[arg]
        if value is None:
            continue
        if not isinstance(value, str):
            raise BayesmaError(
                f"escalc: {arg} must be a column name (str), got {type(value).__name__}; "
                "put the values in a column of data and pass its name"
            )
        cols[arg] = value
    family = _measure_arguments(measure, cols)
    vt = vtype if family != "given" else "LS"
    if vt not in _VTYPES[measure]:
        raise BayesmaError(
            f"vtype={vtype!r} is not available for measure {measure!r}; "
            f"use one of: {', '.join(_VTYPES[measure])}"
        )
    for arg, col in cols.items():
        require_columns(data, [col], what=f"{arg}: {_ROLES[arg]}")
    if len(data) == 0:
        raise DataError("escalc: data has no rows")
    if slab is not None:
        require_columns(data, [slab], what="study labels")

    undefined: list[tuple[np.ndarray, str]] = []
    with np.errstate(divide="ignore", invalid="ignore"):
        if family == "given":
            yv = _col(data, cols, "yi", slab)
            if "vi" in cols:
                vv = _col(data, cols, "vi", slab, positive=True)
            else:
                vv = _col(data, cols, "sei", slab, positive=True) ** 2  # vi = sei^2 (metafor)
        elif family == "means":
            yv, vv = _escalc_means(measure, data, cols, slab, vt)
        elif family == "cor":
            yv, vv = _escalc_cor(measure, data, cols, slab)
        else:
            yv, vv, undefined = _escalc_table(measure, data, cols, slab, vt, add, to, drop00)

    yv = np.array(yv, dtype=float)  # writable copies (numeric_column may return views)
    vv = np.array(vv, dtype=float)
    _finish_checks(measure, data, cols, slab, yv, vv, undefined)
    out = data.copy()
    out[var_names[0]] = yv
    out[var_names[1]] = vv
    out.attrs["measure"] = measure
    return out


def _escalc_means(
    measure: str, df: pd.DataFrame, cols: dict[str, str], slab: str | None, vtype: str
) -> tuple[np.ndarray, np.ndarray]:
    m1 = _col(df, cols, "m1i", slab)
    m2 = _col(df, cols, "m2i", slab)
    sd1 = _col(df, cols, "sd1i", slab, positive=True)
    sd2 = _col(df, cols, "sd2i", slab, positive=True)
    n1 = _col(df, cols, "n1i", slab)
    n2 = _col(df, cols, "n2i", slab)
    for arg, n in (("n1i", n1), ("n2i", n2)):
        _fail(df, n < 2, cols[arg],
              f"{_name(cols, arg)} must be >= 2 (an SD needs two observations)",
              lambda i, n=n: f"value {_g(n[i])}", slab)  # fmt: skip
    if measure == "ROM":
        for arg, m in (("m1i", m1), ("m2i", m2)):
            _fail(df, m <= 0, cols[arg],
                  f"{_name(cols, arg)} must be > 0 for the ratio of means (ROM is only "
                  "meaningful for ratio-scale outcomes)",
                  lambda i, m=m: f"value {_g(m[i])}", slab)  # fmt: skip
    return _means(measure, m1, sd1, n1, m2, sd2, n2, vtype)


def _escalc_cor(
    measure: str, df: pd.DataFrame, cols: dict[str, str], slab: str | None
) -> tuple[np.ndarray, np.ndarray]:
    r = _col(df, cols, "ri", slab)
    n = _col(df, cols, "ni", slab)
    _fail(df, np.abs(r) > 1, cols["ri"], f"{_name(cols, 'ri')} must be between -1 and 1",
          lambda i: f"value {_g(r[i])}", slab)  # fmt: skip
    if measure == "ZCOR":
        _fail(df, np.abs(r) == 1, cols["ri"],
              f"{_name(cols, 'ri')} must be strictly between -1 and 1 for ZCOR "
              "(Fisher's z of ±1 is infinite)",
              lambda i: f"value {_g(r[i])}", slab)  # fmt: skip
    _fail(df, n <= 3, cols["ni"],
          f"{_name(cols, 'ni')} must be > 3 (metafor cannot estimate the sampling "
          "variance of a correlation when ni <= 3)",
          lambda i: f"value {_g(n[i])}", slab)  # fmt: skip
    return _cor(measure, r, n)


def _escalc_table(
    measure: str,
    df: pd.DataFrame,
    cols: dict[str, str],
    slab: str | None,
    vtype: str,
    add: float,
    to: str,
    drop00: bool,
) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, str]]]:
    a = _col(df, cols, "ai", slab, nonnegative=True)
    c = _col(df, cols, "ci", slab, nonnegative=True)
    cells = {}
    for ev, ne, size, x in (("ai", "bi", "n1i", a), ("ci", "di", "n2i", c)):
        nonev = _col(df, cols, ne, slab, nonnegative=True) if ne in cols else None
        n = _col(df, cols, size, slab, positive=True) if size in cols else None
        if n is not None:
            _fail(df, x > n, cols[ev],
                  f"{_name(cols, ev)} is larger than {_name(cols, size)}",
                  lambda i, x=x, n=n, ev=ev, size=size: f"{ev} = {_g(x[i])}, {size} = {_g(n[i])}",
                  slab)  # fmt: skip
        if nonev is not None and n is not None:
            _fail(df, np.abs(x + nonev - n) > 1e-8 * np.maximum(1, n), cols[size],
                  f"counts do not add up: {_name(cols, size)} must equal "
                  f"{cols[ev]!r} + {cols[ne]!r} ({ev} + {ne})",
                  lambda i, x=x, ne_=nonev, n=n, ev=ev, ne=ne, size=size:
                  f"{size} = {_g(n[i])} but {ev} + {ne} = {_g(x[i] + ne_[i])}",
                  slab)  # fmt: skip
        if nonev is None:
            nonev = n - x
        elif n is None:
            _fail(df, x + nonev <= 0, cols[ne],
                  f"group is empty: {_name(cols, ev)} + {_name(cols, ne)} must be > 0",
                  lambda i, x=x, ne_=nonev, ev=ev, ne=ne: f"{ev} = {_g(x[i])}, {ne} = {_g(ne_[i])}",
                  slab)  # fmt: skip
        cells[ne] = nonev
    b, d = cells["bi"], cells["di"]

    undefined: list[tuple[np.ndarray, str]] = []
    if drop00:
        # metafor escalc.r: id00 <- (ai == 0 & ci == 0) | (bi == 0 & di == 0); counts set to NA
        id00 = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
        if id00.any():
            a, b, c, d = (np.where(id00, np.nan, v) for v in (a, b, c, d))
            undefined.append((id00, "no events (or only events) in both groups and drop00=True"))
    a, b, c, d = _zero_adjust(a, b, c, d, add, to)
    yv, vv = _table(measure, a, b, c, d, vtype)
    return yv, vv, undefined


def _finish_checks(
    measure: str,
    df: pd.DataFrame,
    cols: dict[str, str],
    slab: str | None,
    yv: np.ndarray,
    vv: np.ndarray,
    undefined: list[tuple[np.ndarray, str]],
) -> None:
    """Set non-finite results to NaN with a warning (as metafor's NA); vi <= 0 is an error."""
    done = np.zeros(len(yv), dtype=bool)
    reasons = []
    for mask, why in undefined:
        rows = list(df.index[mask])
        reasons.append(f"{describe_rows(df, rows, slab=slab, limit=len(rows))} ({why})")
        done |= mask
    bad = ~done & ~(np.isfinite(yv) & np.isfinite(vv))
    if bad.any():
        reasons.append(
            f"{describe_rows(df, list(df.index[bad]), slab=slab, limit=int(bad.sum()))} "
            "(zero cells without a "
            "continuity correction: the estimate is infinite or undefined; use add > 0 "
            "with to='only0')"
        )
        done |= bad
    yv[done] = np.nan
    vv[done] = np.nan
    if reasons:
        warnings.warn(
            f"escalc({measure!r}): yi and vi are NaN for {int(done.sum())} row(s): "
            f"{'; '.join(reasons)}. These rows are not dropped; remove them before fitting, "
            "e.g. dat.dropna(subset=['yi', 'vi']), and report the exclusion",
            UndefinedEffectWarning,
            stacklevel=3,
        )
    nonpos = ~done & (vv <= 0)
    if nonpos.any():
        order = [a for a in _MESSAGE_ORDER if a in cols]
        used = ", ".join(f"{cols[a]!r} ({a})" for a in order)
        _fail(df, nonpos, cols[order[0]],
              f"escalc({measure!r}): the computed sampling variance is <= 0 (from columns "
              f"{used}); such a study has no estimable uncertainty",
              lambda i: f"vi = {_g(vv[i])}", slab)  # fmt: skip


# --------------------------------------------------------------------------- conversions


class Converted(NamedTuple):
    """An effect size on a new scale: ``yi`` and its variance ``vi`` (None if not given)."""

    yi: Any
    vi: Any


def _arr(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _out(x: np.ndarray) -> Any:
    return float(x) if np.ndim(x) == 0 else x


def smd_to_logor(yi: Any, vi: Any = None) -> Converted:
    """Convert standardized mean differences to log odds ratios.

    Uses the logistic-distribution method of Hasselblad & Hedges (1995):
    ``logOR = d * pi / sqrt(3)``, ``v_logOR = v_d * pi^2 / 3``
    (Borenstein et al. 2009, eqs. 7.3-7.4; metafor's ``D2ORL``).

    Parameters
    ----------
    yi : float or array_like
        Standardized mean differences.
    vi : float or array_like, optional
        Their sampling variances.

    Returns
    -------
    Converted
        ``(yi, vi)`` on the log odds ratio scale (``vi`` None when not given).
    """
    d = _arr(yi)
    y = d * np.pi / np.sqrt(3)  # Hasselblad & Hedges 1995: logOR = d*pi/sqrt(3)
    v = None if vi is None else _out(_arr(vi) * np.pi**2 / 3)  # Borenstein 2009 eq. 7.4
    return Converted(_out(y), v)


def logor_to_smd(yi: Any, vi: Any = None) -> Converted:
    """Convert log odds ratios to standardized mean differences.

    Inverse of :func:`smd_to_logor` (Hasselblad & Hedges 1995; Chinn 2000):
    ``d = logOR * sqrt(3) / pi``, ``v_d = v_logOR * 3 / pi^2`` (metafor's ``OR2DL``).

    Parameters
    ----------
    yi : float or array_like
        Log odds ratios.
    vi : float or array_like, optional
        Their sampling variances.

    Returns
    -------
    Converted
        ``(yi, vi)`` on the SMD scale.
    """
    lor = _arr(yi)
    y = lor * np.sqrt(3) / np.pi  # Borenstein 2009 eq. 7.1: d = logOR*sqrt(3)/pi
    v = None if vi is None else _out(_arr(vi) * 3 / np.pi**2)  # Borenstein 2009 eq. 7.2
    return Converted(_out(y), v)


def r_to_d(yi: Any, vi: Any = None) -> Converted:
    """Convert correlations to standardized mean differences.

    ``d = 2 r / sqrt(1 - r^2)``, ``v_d = 4 v_r / (1 - r^2)^3``
    (Borenstein et al. 2009, eqs. 7.5-7.6).

    Parameters
    ----------
    yi : float or array_like
        Correlations, ``|r| < 1``.
    vi : float or array_like, optional
        Their sampling variances.

    Returns
    -------
    Converted
        ``(yi, vi)`` on the SMD scale.
    """
    r = _check_r(_arr(yi))
    y = 2 * r / np.sqrt(1 - r**2)  # Borenstein 2009 eq. 7.5
    v = None if vi is None else _out(4 * _arr(vi) / (1 - r**2) ** 3)  # Borenstein 2009 eq. 7.6
    return Converted(_out(y), v)


def d_to_r(yi: Any, vi: Any = None, *, n1i: Any = None, n2i: Any = None) -> Converted:
    """Convert standardized mean differences to (point-biserial) correlations.

    ``r = d / sqrt(d^2 + a)``, ``v_r = a^2 v_d / (d^2 + a)^3`` with
    ``a = (n1 + n2)^2 / (n1 n2)`` (Borenstein et al. 2009, eqs. 7.7-7.9); ``a = 4``
    (equal groups) when the group sizes are not given.

    Parameters
    ----------
    yi : float or array_like
        Standardized mean differences.
    vi : float or array_like, optional
        Their sampling variances.
    n1i, n2i : float or array_like, optional
        Group sizes (give both or neither).

    Returns
    -------
    Converted
        ``(yi, vi)`` on the correlation scale.
    """
    d = _arr(yi)
    if (n1i is None) != (n2i is None):
        raise BayesmaError("d_to_r: give both n1i and n2i, or neither (equal groups)")
    if n1i is None:
        a = np.asarray(4.0)
    else:
        n1, n2 = _arr(n1i), _arr(n2i)
        if np.any(~(n1 > 0)) or np.any(~(n2 > 0)):
            raise BayesmaError("d_to_r: group sizes n1i, n2i must be > 0")
        a = (n1 + n2) ** 2 / (n1 * n2)  # Borenstein 2009 eq. 7.8
    y = d / np.sqrt(d**2 + a)  # Borenstein 2009 eq. 7.7
    v = None if vi is None else _out(a**2 * _arr(vi) / (d**2 + a) ** 3)  # Borenstein 2009 eq. 7.9
    return Converted(_out(y), v)


def r_to_z(yi: Any, vi: Any = None) -> Converted:
    """Fisher's r-to-z transformation.

    ``z = atanh(r) = 0.5 log((1 + r) / (1 - r))`` (Fisher 1921); the variance by the
    delta method, ``v_z = v_r / (1 - r^2)^2``, which turns the large-sample
    ``v_r = (1 - r^2)^2 / (n - 1)`` into ``1 / (n - 1)`` (escalc's ZCOR uses the
    exact ``1 / (n - 3)`` from the sample size instead).

    Parameters
    ----------
    yi : float or array_like
        Correlations, ``|r| < 1``.
    vi : float or array_like, optional
        Their sampling variances.

    Returns
    -------
    Converted
        ``(yi, vi)`` on Fisher's z scale.
    """
    r = _check_r(_arr(yi))
    y = np.arctanh(r)  # Fisher 1921
    v = None if vi is None else _out(_arr(vi) / (1 - r**2) ** 2)  # delta method, dz/dr = 1/(1-r^2)
    return Converted(_out(y), v)


def z_to_r(yi: Any, vi: Any = None) -> Converted:
    """Back-transform Fisher's z to correlations: ``r = tanh(z)``.

    The variance by the delta method, ``v_r = v_z (1 - r^2)^2``. For pooled estimates
    and confidence limits, transform the limits rather than the variance.

    Parameters
    ----------
    yi : float or array_like
        Fisher z values.
    vi : float or array_like, optional
        Their sampling variances.

    Returns
    -------
    Converted
        ``(yi, vi)`` on the correlation scale.
    """
    r = np.tanh(_arr(yi))  # Fisher 1921 inverse (metafor transf.ztor)
    v = None if vi is None else _out(_arr(vi) * (1 - r**2) ** 2)  # delta method, dr/dz = 1-r^2
    return Converted(_out(r), v)


def _check_r(r: np.ndarray) -> np.ndarray:
    if np.any(~(np.abs(r) < 1)):
        raise BayesmaError("correlations must be strictly between -1 and 1 (and not missing)")
    return r


_SCALES = {"SMD": "SMD", "D": "SMD", "OR": "OR", "LOGOR": "OR", "COR": "COR", "R": "COR",
           "ZCOR": "ZCOR", "Z": "ZCOR"}  # fmt: skip
# the conversion graph: SMD is the hub (OR <-> SMD <-> COR <-> ZCOR)
_STEPS = {
    ("SMD", "OR"): "smd_to_logor",
    ("OR", "SMD"): "logor_to_smd",
    ("COR", "SMD"): "r_to_d",
    ("SMD", "COR"): "d_to_r",
    ("COR", "ZCOR"): "r_to_z",
    ("ZCOR", "COR"): "z_to_r",
}
_ORDER = ["OR", "SMD", "COR", "ZCOR"]


def _scale(name: Any, what: str) -> str:
    key = str(name).upper() if name is not None else ""
    if key not in _SCALES:
        raise BayesmaError(
            f"convert: unknown {what} scale {name!r}; use one of SMD (or 'd'), OR ('logOR', "
            "log odds ratio), COR ('r'), ZCOR ('z')"
        )
    return _SCALES[key]


def convert(
    yi: Any,
    vi: Any = None,
    *,
    from_: str | None = None,
    to: str,
    n1i: Any = None,
    n2i: Any = None,
    var_names: Sequence[str] = ("yi", "vi"),
) -> Any:
    """Convert effect sizes between the SMD, log OR, correlation and Fisher-z scales.

    Dispatches to :func:`smd_to_logor`, :func:`logor_to_smd`, :func:`r_to_d`,
    :func:`d_to_r`, :func:`r_to_z` and :func:`z_to_r`, chaining them when needed
    (e.g. ``OR -> SMD -> COR``).

    Parameters
    ----------
    yi : float, array_like or DataFrame
        Effect sizes, or an :func:`escalc` table (then ``vi`` is ignored, the columns
        ``var_names`` are converted in a copy and ``from_`` defaults to
        ``yi.attrs["measure"]``).
    vi : float or array_like, optional
        Sampling variances.
    from_, to : str
        Scales: ``"SMD"`` (or ``"d"``), ``"OR"`` (or ``"logOR"``; the log odds ratio as
        escalc's OR), ``"COR"`` (or ``"r"``), ``"ZCOR"`` (or ``"z"``).
    n1i, n2i : float, array_like or str, optional
        Group sizes for the d -> r step (column names when ``yi`` is a DataFrame);
        equal groups are assumed when omitted.
    var_names : (str, str)
        Effect-size and variance columns when ``yi`` is a DataFrame.

    Returns
    -------
    Converted or DataFrame
        ``(yi, vi)`` on the new scale, or a copy of the table with converted columns and
        ``attrs["measure"]`` set to ``to``.

    Examples
    --------
    >>> convert(0.5, 0.0205, from_="SMD", to="OR").yi  # Borenstein et al. 2009, ch. 7
    0.9068996821171089
    """
    if isinstance(yi, pd.DataFrame):
        df = yi
        if from_ is None:
            from_ = df.attrs.get("measure")
            if from_ is None:
                raise BayesmaError("convert: give from_= (the table has no attrs['measure'])")
        yname, vname = var_names
        y = numeric_column(df, yname, what="effect size", allow_nan=True)
        v = numeric_column(df, vname, what="sampling variance", allow_nan=True)
        n1 = numeric_column(df, n1i, what="group size") if isinstance(n1i, str) else n1i
        n2 = numeric_column(df, n2i, what="group size") if isinstance(n2i, str) else n2i
        res = convert(y, v, from_=from_, to=to, n1i=n1, n2i=n2)
        out = df.copy()
        out[yname] = res.yi
        out[vname] = res.vi
        out.attrs["measure"] = _scale(to, "target")
        return out
    if from_ is None:
        raise BayesmaError("convert: give from_= (the scale of yi)")
    src, dst = _scale(from_, "source"), _scale(to, "target")
    i, j = _ORDER.index(src), _ORDER.index(dst)
    step = 1 if j > i else -1
    res = Converted(_out(_arr(yi)), None if vi is None else _out(_arr(vi)))
    for k in range(i, j, step):
        fn = globals()[_STEPS[(_ORDER[k], _ORDER[k + step])]]
        if fn is d_to_r:
            res = fn(res.yi, res.vi, n1i=n1i, n2i=n2i)
        else:
            res = fn(res.yi, res.vi)
    return res

"""``escalc()``: effect sizes and sampling variances as metafor 3.8's ``escalc``.

The formulas are in ``means.py``, ``tables.py`` and ``correlations.py``; this module
validates the arguments, dispatches by measure and checks the results.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayesma.data import describe_rows, require_columns
from bayesma.effect_sizes.checks import fail_rows, fmt_g, read_column
from bayesma.effect_sizes.correlations import escalc_cor
from bayesma.effect_sizes.means import escalc_means
from bayesma.effect_sizes.registry import (
    ALL_ARGS,
    MESSAGE_ORDER,
    ROLES,
    VTYPES,
    UndefinedEffectWarning,
    canonical_measure,
    measure_arguments,
)
from bayesma.effect_sizes.tables import escalc_table
from bayesma.errors import BayesmaError, DataError

__all__ = ["escalc"]


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
        ``out.attrs["measure"]`` is the measure and ``out.attrs["columns"]`` maps
        metafor's argument names to the columns used (``{"ai": "tpos", ...}``).

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
    measure = canonical_measure(measure)
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
    for arg in ALL_ARGS:
        value = raw[arg]
        if value is None:
            continue
        if not isinstance(value, str):
            raise BayesmaError(
                f"escalc: {arg} must be a column name (str), got {type(value).__name__}; "
                "put the values in a column of data and pass its name"
            )
        cols[arg] = value
    family = measure_arguments(measure, cols)
    vt = vtype if family != "given" else "LS"
    if vt not in VTYPES[measure]:
        raise BayesmaError(
            f"vtype={vtype!r} is not available for measure {measure!r}; "
            f"use one of: {', '.join(VTYPES[measure])}"
        )
    for arg, col in cols.items():
        require_columns(data, [col], what=f"{arg}: {ROLES[arg]}")
    if len(data) == 0:
        raise DataError("escalc: data has no rows")
    if slab is not None:
        require_columns(data, [slab], what="study labels")

    undefined: list[tuple[np.ndarray, str]] = []
    with np.errstate(divide="ignore", invalid="ignore"):
        if family == "given":
            yv = read_column(data, cols, "yi", slab)
            if "vi" in cols:
                vv = read_column(data, cols, "vi", slab, positive=True)
            else:
                # vi = sei^2 (metafor)
                vv = read_column(data, cols, "sei", slab, positive=True) ** 2
        elif family == "means":
            yv, vv = escalc_means(measure, data, cols, slab, vt)
        elif family == "cor":
            yv, vv = escalc_cor(measure, data, cols, slab)
        else:
            yv, vv, undefined = escalc_table(measure, data, cols, slab, vt, add, to, drop00)

    yv = np.array(yv, dtype=float)  # writable copies (numeric_column may return views)
    vv = np.array(vv, dtype=float)
    _finish_checks(measure, data, cols, slab, yv, vv, undefined)
    out = data.copy()
    out[var_names[0]] = yv
    out[var_names[1]] = vv
    out.attrs["measure"] = measure
    # the column mapping, so tables and forest plots show the arm data by the user's names
    out.attrs["columns"] = dict(cols)
    return out


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
        order = [a for a in MESSAGE_ORDER if a in cols]
        used = ", ".join(f"{cols[a]!r} ({a})" for a in order)
        fail_rows(df, nonpos, cols[order[0]],
              f"escalc({measure!r}): the computed sampling variance is <= 0 (from columns "
              f"{used}); such a study has no estimable uncertainty",
              lambda i: f"vi = {fmt_g(vv[i])}", slab)  # fmt: skip

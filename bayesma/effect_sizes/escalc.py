"""``escalc()``: effect sizes and sampling variances as metafor 3.8's ``escalc``.

The formulas are in one module per family (``means.py``, ``tables.py``, ``association.py``,
``paired.py``, ``genotypes.py``, ``correlations.py``, ``partial.py``, ``proportions.py``,
``rates.py``, ``single.py``, ``prepost.py``, ``reliability.py``; RevMan's SMD in
``revman.py``); this module validates the arguments, dispatches by measure and checks the
results.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayesma.data import describe_rows, require_columns
from bayesma.effect_sizes.checks import fail_rows, fmt_g, read_column
from bayesma.effect_sizes.correlations import escalc_cor
from bayesma.effect_sizes.genotypes import escalc_genotypes
from bayesma.effect_sizes.means import escalc_means
from bayesma.effect_sizes.partial import escalc_partial
from bayesma.effect_sizes.prepost import escalc_prepost
from bayesma.effect_sizes.proportions import escalc_proportion
from bayesma.effect_sizes.rates import escalc_rate, escalc_rates2
from bayesma.effect_sizes.registry import (
    ADD_ZERO_DEFAULT,
    ALL_ARGS,
    COUNT_MEASURES,
    MESSAGE_ORDER,
    VTYPES,
    UndefinedEffectWarning,
    canonical_measure,
    measure_arguments,
    roles_for,
)
from bayesma.effect_sizes.reliability import escalc_alpha
from bayesma.effect_sizes.revman import FORMULAS, revman_smd
from bayesma.effect_sizes.single import escalc_single
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
    x1i: str | None = None,
    x2i: str | None = None,
    t1i: str | None = None,
    t2i: str | None = None,
    xi: str | None = None,
    mi: str | None = None,
    ti: str | None = None,
    sdi: str | None = None,
    r2i: str | None = None,
    yi: str | None = None,
    vi: str | None = None,
    sei: str | None = None,
    add: float | None = None,
    to: str = "only0",
    drop00: bool = False,
    vtype: str = "LS",
    formulas: str = "metafor",
    var_names: Sequence[str] = ("yi", "vi"),
    slab: str | None = None,
) -> pd.DataFrame:
    """Compute effect sizes and sampling variances as metafor's ``escalc()``.

    Parameters
    ----------
    measure : str
        One of :data:`MEASURES` (case-insensitive), metafor 3.8's codes:

        * two groups, means: ``"MD"``, ``"SMD"`` (Hedges' g, exact bias correction; also
          from a t statistic ``ti`` with ``n1i``, ``n2i``), ``"SMDH"``, ``"SMD1"``,
          ``"SMD1H"`` (scaled by the SD of group 2), ``"ROM"`` (log ratio of means),
          ``"CVR"``, ``"VR"`` (log CV / SD ratios), ``"RPB"``, ``"RBIS"`` (point-biserial
          and biserial r), ``"D2OR"``, ``"D2ORN"``, ``"D2ORL"`` (SMD as log odds ratio);
        * 2x2 tables: ``"OR"``, ``"RR"`` (log scale), ``"RD"``, ``"PETO"``, ``"AS"``
          (arcsine risk difference), ``"PHI"``, ``"YUQ"``, ``"YUY"``, ``"RTET"`` (phi,
          Yule's Q and Y, tetrachoric r), ``"PBIT"``, ``"OR2D"``, ``"OR2DN"``, ``"OR2DL"``
          (log odds ratio as SMD);
        * paired binary data: ``"MPRD"``, ``"MPRR"``, ``"MPOR"``, ``"MPORC"``,
          ``"MPPETO"`` (cells ``ai``..``di`` of the paired table), ``"MPORM"`` (the 2x2
          table with the correlation ``ri`` of the pairs);
        * genotype counts: ``"REH"`` (``ai``, ``bi``, ``ci``);
        * correlations: ``"COR"``, ``"UCOR"``, ``"ZCOR"`` (``ri``, ``ni``); partial and
          semi-partial ``"PCOR"``, ``"ZPCOR"``, ``"SPCOR"`` (``ti``, ``ni``, ``mi``, ``r2i``);
        * single proportions ``"PR"``, ``"PLN"``, ``"PLO"``, ``"PAS"``, ``"PFT"`` (``xi``
          with ``ni`` or ``mi``); incidence rates ``"IR"``, ``"IRLN"``, ``"IRS"``,
          ``"IRFT"`` (``xi``, ``ti``); two-group rates ``"IRR"``, ``"IRD"``, ``"IRSD"``
          (``x1i``, ``x2i``, ``t1i``, ``t2i``);
        * single means ``"MN"``, ``"MNLN"``, ``"CVLN"``, ``"SDLN"``, ``"SMN"`` (``mi``,
          ``sdi``, ``ni``);
        * pre-post designs ``"MC"``, ``"SMCC"``, ``"SMCR"``, ``"SMCRH"``, ``"ROMC"``,
          ``"CVRC"``, ``"VRC"`` (``m1i``, ``m2i``, ``sd1i``, ``sd2i``, ``ni``, ``ri``);
        * Cronbach's alpha ``"ARAW"``, ``"AHW"``, ``"ABT"`` (``ai``, ``mi``, ``ni``);
        * ``"GEN"`` for given ``yi`` with ``vi`` or ``sei``.

        Any measure name may be combined with given ``yi``/``vi`` (e.g. log odds ratios
        reported by the studies); the values are then validated and copied, and the name
        is recorded.
    data : DataFrame
        The study table.
    m1i, sd1i, n1i, m2i, sd2i, n2i : str, optional
        Column names of the means, SDs and group sizes (group 1 is the treatment group;
        positive effects favour group 1 having the larger mean). For pre-post measures
        ``m1i``/``sd1i`` are time 1 and ``m2i``/``sd2i`` time 2.
    ai, bi, ci, di : str, optional
        Columns of a 2x2 table: events and non-events of group 1 (``ai``, ``bi``) and of
        group 2 (``ci``, ``di``). Instead of ``bi``/``di`` give the group sizes ``n1i``
        / ``n2i``; when both are given they must agree. For ARAW/AHW/ABT ``ai`` is
        Cronbach's alpha (metafor's naming).
    ri, ni : str, optional
        Columns of correlations and sample sizes (``ni > 3``).
    x1i, x2i, t1i, t2i : str, optional
        Events and person-times of two groups (IRR, IRD, IRSD).
    xi, mi, ti, sdi, r2i : str, optional
        metafor's single-group and regression arguments: events ``xi`` (PR..., IR...),
        ``mi`` (non-events for proportions, the mean for MN..., the number of predictors
        for PCOR..., the number of items for ARAW...), ``ti`` (person-time for IR...,
        a t statistic for SMD and PCOR...), ``sdi`` (SD of one group), ``r2i`` (R² of the
        regression for SPCOR).
    yi, vi, sei : str, optional
        Columns of given effect sizes and their sampling variances or standard errors.
    add : float, optional
        Value added to the counts chosen by ``to`` (metafor: 1/2, but 0 for AS, PHI, RTET,
        PAS, PFT, IRS, IRFT and IRSD). Applies to the count measures (2x2 tables, paired
        tables, proportions, rates).
    to : {"only0", "all", "if0all", "none"}
        Which rows get ``add``: those with a zero count (default; for proportions a zero
        ``xi`` or ``mi``, for rates a zero ``xi``), all rows, all rows if any has a zero,
        or none. As in metafor 3.8 this applies to OR, RR, RD and PETO alike;
        double-zero tables are kept and, with ``add > 0``, get finite values. The rows
        corrected are listed in ``out.attrs["continuity_correction"]``
        (``{"add": ..., "to": ..., "rows": [index labels]}``).
    drop00 : bool
        If True, tables (and two-group rates) with no events (or only events) in both
        groups get ``yi = vi = NaN`` (metafor's ``drop00=TRUE``); an
        :class:`UndefinedEffectWarning` names them.
    vtype : str
        Sampling-variance type. ``"LS"`` (metafor's default) for every measure; also
        ``"HO"`` and ``"UB"`` for MD, ``"LS2"``, ``"UB"`` and ``"AV"`` for SMD and SMD1,
        ``"ST"`` and ``"CS"`` for PHI and RPB, ``"LS2"``
        for SMDH, SMCC and SMCR, ``"HO"``, ``"AV"`` and ``"AVHO"`` for ROM, ``"UB"`` for RD,
        ``"AV"`` for COR, PCOR, SPCOR, PLN, PLO, ``"UB"`` and ``"AV"`` for UCOR and PR,
        with metafor's formulas (:data:`VTYPES`).
    formulas : {"metafor", "revman"}
        ``"revman"`` computes SMD as RevMan 5 does (Hedges' g with ``J = 1 - 3/(4N - 9)``
        and variance ``N/(n1 n2) + g²/(2(N - 3.94))``; Deeks & Higgins 2010), to reproduce
        a RevMan review; only for SMD from means. ``out.attrs["formulas"]`` records it.
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
    if formulas not in FORMULAS:
        raise BayesmaError(f"unknown formulas={formulas!r}; use 'metafor' or 'revman'")
    if formulas == "revman" and measure != "SMD":
        raise BayesmaError(
            "formulas='revman' only changes measure 'SMD' (RevMan 5's other measures use "
            f"metafor's formulas); got measure {measure!r}"
        )
    if add is None:
        # metafor 3.8 escalc: add = 1/2, but 0 for AS, PHI, RTET, PAS, PFT, IRS, IRFT, IRSD
        add = 0.0 if measure in ADD_ZERO_DEFAULT else 0.5
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
        "x1i": x1i, "x2i": x2i, "t1i": t1i, "t2i": t2i, "xi": xi, "mi": mi, "ti": ti,
        "sdi": sdi, "r2i": r2i, "yi": yi, "vi": vi, "sei": sei,
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
    if formulas == "revman" and (family != "means" or "ti" in cols):
        raise BayesmaError("formulas='revman' needs the means, SDs and group sizes of SMD")
    roles = roles_for(measure)
    vt = vtype if family != "given" else "LS"
    if vt not in VTYPES[measure]:
        raise BayesmaError(
            f"vtype={vtype!r} is not available for measure {measure!r}; "
            f"use one of: {', '.join(VTYPES[measure])}"
        )
    for arg, col in cols.items():
        require_columns(data, [col], what=f"{arg}: {roles[arg]}")
    if len(data) == 0:
        raise DataError("escalc: data has no rows")
    if slab is not None:
        require_columns(data, [slab], what="study labels")

    undefined: list[tuple[np.ndarray, str]] = []
    corrected = np.zeros(len(data), dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        if family == "given":
            yv = read_column(data, cols, "yi", slab)
            if "vi" in cols:
                vv = read_column(data, cols, "vi", slab, positive=True)
            else:
                # vi = sei^2 (metafor)
                vv = read_column(data, cols, "sei", slab, positive=True) ** 2
        elif family == "means" and formulas == "revman":
            yv, vv = escalc_means("MD", data, cols, slab, "LS")  # validates the columns
            yv, vv = revman_smd(*(read_column(data, cols, a, slab) for a in
                                  ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")))
        elif family == "means":
            yv, vv = escalc_means(measure, data, cols, slab, vt)
        elif family == "cor":
            yv, vv = escalc_cor(measure, data, cols, slab, vt)
        elif family == "partial":
            yv, vv = escalc_partial(measure, data, cols, slab, vt)
        elif family == "single":
            yv, vv = escalc_single(measure, data, cols, slab)
        elif family == "prepost":
            yv, vv = escalc_prepost(measure, data, cols, slab, vt)
        elif family == "alpha":
            yv, vv = escalc_alpha(measure, data, cols, slab)
        elif family == "genotypes":
            yv, vv = escalc_genotypes(measure, data, cols, slab)
        elif family == "proportion":
            yv, vv, undefined, corrected = escalc_proportion(
                measure, data, cols, slab, vt, add, to)
        elif family == "rate":
            yv, vv, undefined, corrected = escalc_rate(measure, data, cols, slab, add, to)
        elif family == "rates2":
            yv, vv, undefined, corrected = escalc_rates2(
                measure, data, cols, slab, add, to, drop00)
        else:
            yv, vv, undefined, corrected = escalc_table(
                measure, data, cols, slab, vt, add, to, drop00)

    yv = np.array(yv, dtype=float)  # writable copies (numeric_column may return views)
    vv = np.array(vv, dtype=float)
    _finish_checks(measure, data, cols, slab, yv, vv, undefined)
    out = data.copy()
    out[var_names[0]] = yv
    out[var_names[1]] = vv
    out.attrs["measure"] = measure
    # the column mapping, so tables and forest plots show the arm data by the user's names
    out.attrs["columns"] = dict(cols)
    if measure in COUNT_MEASURES and family != "given":
        done = np.zeros(len(data), dtype=bool)
        for mask, _ in undefined:
            done |= mask
        rows = list(data.index[corrected & ~done])
        # which rows got the continuity correction (metafor's add/to), for reports
        out.attrs["continuity_correction"] = {"add": float(add), "to": to, "rows": rows}
    if formulas != "metafor":
        out.attrs["formulas"] = formulas
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

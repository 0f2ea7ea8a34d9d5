"""``conv_wald``: effect sizes and sampling variances from Wald-type CIs, z statistics or
p-values, as metafor's ``conv.wald`` (added in metafor 3.9/4.0; no 3.8.1 version exists).

For an estimate with a Wald-type CI ``(lb, ub)`` at level ``1 - alpha``:
``vi = ((ub - lb) / (2 z_{alpha/2}))^2``; from a two-sided p-value ``z = z_{p/2}`` and
``vi = (yi / z)^2`` (metafor ``conv.wald``; Altman & Bland 2011).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from bayesma.data import describe_rows, numeric_column
from bayesma.effect_sizes.checks import fail_rows, fmt_g
from bayesma.effect_sizes.conversion_log import ConversionWarning, record_conversions
from bayesma.errors import BayesmaError
from bayesma.tails import norm_isf
from bayesma.transforms import transf_exp, transf_logit, transf_rtoz

__all__ = ["WALD_TRANSFORMS", "conv_wald"]

#: Named transformations for ``conv_wald(transf=...)`` (never evaluated as code).
WALD_TRANSFORMS: dict[str, Callable] = {
    "log": np.log,  # ratios (OR, RR, HR) reported with their CIs -> log scale
    "exp": transf_exp,
    "logit": transf_logit,
    "rtoz": transf_rtoz,
}


def _level_alpha(level: np.ndarray) -> np.ndarray:
    """metafor ``.level``: 95 -> 0.05, 0.95 -> 0.05, 0.05 -> 0.05."""
    return np.where(level == 0, 1.0,
                    np.where(level >= 1, (100 - level) / 100,
                             np.where(level > 0.5, 1 - level, level)))  # fmt: skip


def conv_wald(
    df: pd.DataFrame,
    *,
    out: str | None = None,
    ci_lb: str | None = None,
    ci_ub: str | None = None,
    zval: str | None = None,
    pval: str | None = None,
    n: str | None = None,
    transf: str | Callable | None = None,
    level: float | str = 95,
    check: bool = True,
    var_names: Sequence[str] = ("yi", "vi"),
    replace: str = "ifna",
    slab: str | None = None,
) -> pd.DataFrame:
    """Fill ``yi``/``vi`` from reported estimates with CIs, z statistics or p-values.

    The numpy twin of metafor's ``conv.wald`` (metafor 4.0; the function is not in
    metafor 3.8.1): per row, ``vi`` comes from the CI if both bounds are given, else
    from ``zval``, else from the two-sided ``pval`` (with ``yi``).

    Parameters
    ----------
    df : DataFrame
        The study table (missing values are allowed in the columns named below: a row
        is converted from whatever it has).
    out, ci_lb, ci_ub : str, optional
        Columns of the reported estimates and their CI bounds.
    zval, pval : str, optional
        Columns of Wald z statistics and two-sided p-values (``0 < p <= 1``).
    n : str, optional
        Column of sample sizes, stored in ``attrs["ni"]`` (metafor's ``ni`` attribute).
    transf : {"log", "exp", "logit", "rtoz"} or callable, optional
        Applied to ``out``, ``ci_lb`` and ``ci_ub`` first, e.g. ``"log"`` for odds ratios
        reported with their CIs (analysed as log odds ratios).
    level : float or str
        Confidence level of the CIs in percent (95) or as a proportion (0.95), or the name
        of a column holding one level per row.
    check : bool
        Warn (:class:`ConversionWarning`) when ``yi`` is not about halfway between the CI
        bounds (more than 10% of the CI width off), a sign of a CI that is not Wald-type
        on this scale (e.g. forgot ``transf="log"``). Rows that already have ``vi`` are
        not checked (metafor).
    var_names : (str, str)
        The effect-size and variance columns (created if missing).
    replace : {"ifna", "all"}
        Fill only missing ``yi``/``vi`` values (default), or overwrite every row that
        can be converted.
    slab : str, optional
        Study-label column for messages.

    Returns
    -------
    DataFrame
        A copy of ``df`` with ``var_names`` filled; ``attrs["conversions"]`` (see
        :mod:`bayesma.effect_sizes.conversion_log`) lists every row converted and how.

    Raises
    ------
    DataError
        Naming column and row: non-numeric values, p-values outside (0, 1], a CI whose
        lower bound is not below the upper, levels outside (0, 100), a conversion giving
        a non-finite or zero variance (p = 1, a zero-width CI).
    BayesmaError
        Nothing to convert from, unknown ``transf``/``replace``, bad ``var_names``.
    """
    if all(a is None for a in (out, ci_lb, ci_ub, zval, pval)):
        raise BayesmaError("conv_wald needs some of out, ci_lb, ci_ub, zval, pval")
    if replace not in ("ifna", "all"):
        raise BayesmaError(f"replace must be 'ifna' or 'all', got {replace!r}")
    if isinstance(var_names, str) or len(var_names) != 2 or var_names[0] == var_names[1]:
        raise BayesmaError(f"var_names must be two different column names, got {var_names!r}")
    if isinstance(transf, str):
        if transf not in WALD_TRANSFORMS:
            raise BayesmaError(f"unknown transf={transf!r}; use one of {sorted(WALD_TRANSFORMS)} "
                               "or a function")
        fun = WALD_TRANSFORMS[transf]
    elif transf is None or callable(transf):
        fun = transf
    else:
        raise BayesmaError(f"transf must be a name or a function, got {transf!r}")
    k = len(df)
    args = {"out": out, "ci_lb": ci_lb, "ci_ub": ci_ub, "zval": zval, "pval": pval, "n": n}
    vals: dict[str, np.ndarray] = {}
    for arg, col in args.items():
        if col is None:
            vals[arg] = np.full(k, np.nan)
            continue
        if not isinstance(col, str):
            raise BayesmaError(f"conv_wald: {arg} must be a column name (str)")
        vals[arg] = np.array(numeric_column(df, col, what=arg, allow_nan=True, slab=slab))
    p = vals["pval"]
    fail_rows(df, (p <= 0) | (p > 1), str(pval), f"column {pval!r} (pval) must be in (0, 1]",
              lambda i: f"value {fmt_g(p[i])}", slab)
    lb_raw, ub_raw = vals["ci_lb"], vals["ci_ub"]
    fail_rows(df, lb_raw >= ub_raw, str(ci_lb),
              f"the CI lower bound ({ci_lb!r}) must be below the upper bound ({ci_ub!r})",
              lambda i: f"ci_lb = {fmt_g(lb_raw[i])}, ci_ub = {fmt_g(ub_raw[i])}", slab)
    if isinstance(level, str):
        lev = np.array(numeric_column(df, level, what="level", slab=slab))
    else:
        lev = np.full(k, float(level))
    fail_rows(df, (lev <= 0) | (lev >= 100), level if isinstance(level, str) else "level",
              "the confidence level must be in (0, 100) (percent) or (0, 1)",
              lambda i: f"value {fmt_g(lev[i])}", slab)
    crit = norm_isf(_level_alpha(lev) / 2)  # metafor: qnorm(level/2, lower.tail=FALSE)
    est, lb, ub = vals["out"], lb_raw, ub_raw
    if fun is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            est, lb, ub = (np.asarray(fun(v), dtype=float) for v in (est, lb, ub))
        fail_rows(df, ~np.isnan(lb_raw) & ~np.isnan(ub_raw) & ~(lb < ub), str(ci_lb),
                  "after transf the CI bounds are not finite and increasing",
                  lambda i: f"ci_lb = {fmt_g(lb_raw[i])}, ci_ub = {fmt_g(ub_raw[i])}", slab)

    yname, vname = var_names
    res = df.copy()
    y_old = (np.array(numeric_column(df, yname, what="effect size", allow_nan=True, slab=slab))
             if yname in df.columns else np.full(k, np.nan))
    v_old = (np.array(numeric_column(df, vname, what="sampling variance", allow_nan=True,
                                     slab=slab))
             if vname in df.columns else np.full(k, np.nan))
    fill_y = ~np.isnan(est) & (np.isnan(y_old) if replace == "ifna" else True)
    yi = np.where(fill_y, est, y_old)

    with np.errstate(divide="ignore", invalid="ignore"):
        v_ci = ((ub - lb) / (2 * crit)) ** 2  # metafor conv.wald: ((ci.ub-ci.lb)/(2*crit))^2
        if check:
            diffs = np.abs((ub + lb) / 2 - yi) / (ub - lb)
            off = (diffs > 0.1) & np.isnan(v_old)  # metafor: cifac = 0.1; skip rows with vi
            if off.any():
                warnings.warn(
                    "conv_wald: the estimate is not about halfway between the CI bounds in "
                    f"{describe_rows(df, list(df.index[off]), slab=slab)}: the CI may not be "
                    "a Wald-type CI on this scale (give transf='log' for ratios?)",
                    ConversionWarning, stacklevel=2)
        z = np.where(np.isnan(vals["zval"]), norm_isf(p / 2), vals["zval"])
        v_z = (yi / z) ** 2  # metafor conv.wald: (yi / zval)^2
    source = np.where(~np.isnan(v_ci), "ci", np.where(~np.isnan(v_z), "z", ""))
    vnew = np.where(~np.isnan(v_ci), v_ci, v_z)
    fill_v = ~np.isnan(vnew) & (np.isnan(v_old) if replace == "ifna" else True)
    bad = fill_v & ~(np.isfinite(vnew) & (vnew > 0))
    fail_rows(df, bad, vname,
              "conv_wald: the converted sampling variance is not finite and > 0 (a p-value "
              "of 1 or an estimate of 0 gives no information on the variance)",
              lambda i: f"vi = {fmt_g(vnew[i])}", slab)
    res[yname] = yi
    res[vname] = np.where(fill_v, vnew, v_old)
    if n is not None:
        res.attrs["ni"] = vals["n"].tolist()

    used = {a: c for a, c in args.items() if c is not None and a != "n"}
    entries = []
    for pos in np.flatnonzero(fill_v | fill_y):
        if source[pos] == "ci" and fill_v[pos]:
            how = f"CI ({fmt_g(lev[pos] if lev[pos] >= 1 else 100 * lev[pos])}%)"
            inputs = [a for a in ("ci_lb", "ci_ub") if a in used]
        elif fill_v[pos]:
            from_z = not np.isnan(vals["zval"][pos])
            how = "z statistic" if from_z else "p-value"
            inputs = ["zval" if from_z else "pval"]
        else:
            how, inputs = "estimate only", []
        if fill_y[pos]:
            inputs = ["out", *inputs]
        if fun is not None:
            how += f", transf={transf if isinstance(transf, str) else 'function'}"
        outs = [name for name, f in ((yname, fill_y[pos]), (vname, fill_v[pos])) if f]
        entries.append({"row": df.index[pos], "function": "conv_wald",
                        "inputs": ", ".join(f"{a}={used[a]}" for a in inputs),
                        "method": how, "outputs": ", ".join(outs), "note": ""})
    record_conversions(res, entries)
    return res

"""Pieces of the metafor-style printouts shared by ``rma``, ``rma_mv`` and ``robust``.

The layout follows R's ``print.rma.uni`` / ``print.rma.mv`` (metafor 3.8): coefficient
tables printed with ``print.gap = 2`` and a column of significance codes, p-values by
metafor's ``.pval()`` (:func:`bayesma.formatting.fmt_pval`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesma.formatting import fmt_pval, signif_stars

__all__ = ["coef_table_lines", "fmt_df", "p_phrase"]


def fmt_df(v) -> str:
    """Degrees of freedom: an integer as such, else two decimals (Satterthwaite df)."""
    v = float(v)
    if abs(v - round(v)) < 1e-9:
        return str(int(round(v)))
    return f"{v:.2f}"


def p_phrase(p) -> str:
    """``"= 0.0169"`` or ``"< .0001"``, as metafor prints ``p-val`` in test lines."""
    txt = fmt_pval(p)
    return "< .0001" if txt.startswith("<") else "= " + txt


def coef_table_lines(
    coef: pd.DataFrame,
    d: int,
    int_only: bool,
    *,
    with_df: bool,
    df=None,
    stat_name: str | None = None,
    mark: str = "",
) -> list[str]:
    """The coefficient table as R prints it (print.gap = 2, signif column).

    Parameters
    ----------
    coef : DataFrame
        Indexed by term, columns ``estimate, se, stat, pval, ci_low, ci_high`` (and
        ``df`` when each row has its own degrees of freedom).
    d : int
        Decimals.
    int_only : bool
        Intercept-only model: no term names in front of the rows (as metafor).
    with_df : bool
        Print a ``df`` column (t and knha tests).
    df : int, float or array_like, optional
        Degrees of freedom when ``coef`` has no ``df`` column.
    stat_name : str, optional
        Header of the test statistic (default ``tval`` with df, else ``zval``).
    mark : str
        Appended to the headers of robust quantities (metafor marks them with ``¹``).
    """
    sname = stat_name or ("tval" if with_df else "zval")
    cols = ["estimate", "se" + mark, sname + mark]
    if with_df:
        cols.append("df" + mark)
    cols += ["pval" + mark, "ci.lb" + mark, "ci.ub" + mark]
    cells, stars = [], []
    dfs = np.atleast_1d(df) if df is not None else None
    for i, (_, r) in enumerate(coef.iterrows()):
        row = [f"{r['estimate']:.{d}f}", f"{r['se']:.{d}f}", f"{r['stat']:.{d}f}"]
        if with_df:
            dv = r["df"] if "df" in coef.columns else dfs[min(i, dfs.size - 1)]
            row.append(fmt_df(dv))
        row += [fmt_pval(r["pval"]), f"{r['ci_low']:.{d}f}", f"{r['ci_high']:.{d}f}"]
        cells.append(row)
        stars.append(signif_stars(r["pval"]))
    widths = [max(len(c), *(len(row[j]) for row in cells)) for j, c in enumerate(cols)]
    sw = max(len(s) for s in stars) + 1
    names = [] if int_only else [str(t) for t in coef.index]
    nw = max((len(n) for n in names), default=0)

    def line(name: str, vals: list[str], star: str) -> str:
        body = "  ".join(v.rjust(w) for v, w in zip(vals, widths, strict=True))
        lead = (name.ljust(nw) + "  ") if names else ""
        return lead + body + "  " + star.ljust(sw)

    out = [line("", cols, "")]
    for i, row in enumerate(cells):
        out.append(line(names[i] if names else "", row, stars[i]))
    return out

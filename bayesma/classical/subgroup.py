"""Subgroup analysis: separate fits per level and two tests of subgroup differences.

``subgroup(dat, by="alloc")`` fits the model within each level of a categorical column
and tests whether the levels differ in two ways, as in metafor's documentation
("Tests of subgroup differences"; Viechtbauer, metafor's ``rma.uni`` help and the
metafor web site's "Subgrouping versus meta-regression"):

* **Q-between** over the separate fits, each level with its own tau²: the QE statistic of
  an equal-effects model of the level estimates with their standard errors,
  ``rma(yi=b_level, sei=se_level, method="FE")`` (Borenstein et al. 2009, ch. 19);
* the **omnibus moderator test** QM of the meta-regression ``rma(yi, vi,
  mods=~factor(by))``, which assumes one tau² common to all levels.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bayesma.classical.rma import RMAResult, rma
from bayesma.data import describe_rows, find_label_column, require_columns
from bayesma.errors import DataError, DroppedRowsWarning
from bayesma.formatting import fmt_plain, fmt_pval

__all__ = ["SubgroupResult", "factor_levels", "q_between", "subgroup"]

TABLE_COLUMNS = ["k", "estimate", "se", "ci_low", "ci_high", "pval", "tau2", "i2", "q", "q_pval"]


@dataclass(frozen=True, eq=False)
class SubgroupResult:
    """Result of :func:`subgroup`.

    Attributes
    ----------
    by : str
        The grouping column.
    levels : tuple
        Its levels, in sorted order (a ``Categorical``'s category order).
    fits : dict
        Level -> :class:`~bayesma.classical.rma.RMAResult` fitted within the level.
        A level with a single study gets an equal-effects fit (tau² = 0, the study
        itself), as metafor's ``rma`` does for k = 1.
    qb, qb_df, qb_pval : float, int, float
        Q-between over the separate fits (each level its own tau²): QE of the
        equal-effects model of the level estimates with their standard errors.
    qm, qm_df, qm_pval : float, int or tuple, float
        Omnibus test of the meta-regression on ``factor(by)`` with one common tau²
        (``qm_df`` is ``(m, k - p)`` and ``qm`` an F statistic under ``test="knha"``/"t").
    metareg : RMAResult
        That meta-regression.
    table : DataFrame
        A row per level: ``k, estimate, se, ci_low, ci_high, pval, tau2, i2, q, q_pval``.
    method, test, level
        Settings of all the fits.
    dropped : list
        Index labels of rows dropped because ``by`` was missing.
    single : tuple
        Levels with a single study.
    overall : RMAResult
        The model fitted to all rows used (same estimator, test and level): the pooled
        row of a subgroup forest plot, whose percent weights the plot shows.
    data : DataFrame
        The rows used (``by`` not missing), in the original order.
    measure : str or None
        The effect-size measure (``data.attrs["measure"]``).

    Everything a forest plot of subgroups shows is here (per-level fits, the overall
    fit, Q-between and the moderator test), so plots never refit.
    """

    by: str
    levels: tuple
    fits: dict[Any, RMAResult]
    qb: float
    qb_df: int
    qb_pval: float
    qm: float
    qm_df: int | tuple[int, int]
    qm_pval: float
    metareg: RMAResult
    table: pd.DataFrame
    method: str
    test: str
    level: float
    dropped: list = field(default_factory=list)
    single: tuple = ()
    overall: RMAResult | None = None
    data: pd.DataFrame | None = None
    measure: str | None = None

    def summary(self, digits: int = 4) -> str:
        """A report: the table of levels, then both tests of subgroup differences."""
        m = self.metareg
        lines = [
            f"Subgroup analysis by {self.by!r} (k = {m.k}; {len(self.levels)} levels; "
            f"tau^2 estimator: {self.method}; test: {self.test}; "
            f"{100 * self.level:g}% CI)",
            "",
        ]
        tab = self.table.copy()
        shown = pd.DataFrame(index=[str(lev) for lev in tab.index])
        shown["k"] = [str(int(v)) for v in tab["k"]]
        for col, name in [
            ("estimate", "estimate"),
            ("se", "se"),
            ("ci_low", "ci.lb"),
            ("ci_high", "ci.ub"),
            ("pval", "pval"),
            ("tau2", "tau^2"),
            ("i2", "I^2(%)"),
            ("q", "Q"),
            ("q_pval", "p(Q)"),
        ]:
            fmt = fmt_pval if col in ("pval", "q_pval") else (lambda v, d=digits: _fmt(v, d))
            shown[name] = [fmt(v) for v in tab[col]]
        width0 = max(len(self.by), *(len(s) for s in shown.index))
        widths = [max(len(c), *(len(v) for v in shown[c])) for c in shown.columns]
        lines.append(
            self.by.ljust(width0)
            + "  "
            + "  ".join(c.rjust(w) for c, w in zip(shown.columns, widths, strict=True))
        )
        for lab, row in shown.iterrows():
            lines.append(
                str(lab).ljust(width0)
                + "  "
                + "  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True))
            )
        if self.single:
            lines += [
                "",
                "Level(s) with a single study ("
                + ", ".join(map(str, self.single))
                + "): equal-effects fit, the estimate is the study itself (tau^2 = 0).",
            ]
        if self.dropped:
            lines += ["", f"{len(self.dropped)} row(s) with a missing {self.by!r} were dropped."]
        lines += [
            "",
            "Tests of subgroup differences:",
            f"  Separate fits (each level its own tau^2):  Q-between(df = {self.qb_df}) = "
            f"{self.qb:.{digits}f}, p-val = {fmt_pval(self.qb_pval)}",
        ]
        if isinstance(self.qm_df, tuple):
            lines.append(
                f"  Meta-regression (one common tau^2):        F(df1 = {self.qm_df[0]}, "
                f"df2 = {self.qm_df[1]}) = {self.qm:.{digits}f}, p-val = {fmt_pval(self.qm_pval)}"
            )
        else:
            lines.append(
                f"  Meta-regression (one common tau^2):        QM(df = {self.qm_df}) = "
                f"{self.qm:.{digits}f}, p-val = {fmt_pval(self.qm_pval)}"
            )
        lines += [
            "",
            "Q-between compares the pooled estimates of the separately fitted subgroups, each",
            "with its own between-study variance tau^2. The meta-regression test fits one",
            "model on factor(" + self.by + ") with a single tau^2 shared by all subgroups, so the",
            "two differ when heterogeneity differs between subgroups (and small subgroups",
            "borrow strength for tau^2 only in the meta-regression).",
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (
            f"SubgroupResult(by={self.by!r}, levels={list(self.levels)!r}, "
            f"qb={self.qb:.4g}, qb_pval={self.qb_pval:.4g}, qm={self.qm:.4g}, "
            f"qm_pval={self.qm_pval:.4g})"
        )


def _fmt(v: float, digits: int) -> str:
    """``fmt_plain`` with infinite values shown as ``NA`` too (as in the table so far)."""
    return "NA" if v is None or not np.isfinite(v) else fmt_plain(v, digits)


def _plain(v: Any) -> Any:
    """numpy scalar -> Python scalar; whole-valued floats -> int (a column made float by NaN)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def factor_levels(s: pd.Series) -> list:
    """Distinct values in R ``factor()`` order: sorted, or a Categorical's category order."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        present = set(s.dropna().unique())
        return [c for c in s.cat.categories if c in present]
    vals = list(pd.unique(s.dropna()))
    try:
        return sorted(vals)
    except TypeError:  # mixed types: sort by their text
        return sorted(vals, key=str)


def _quote(col: str) -> str:
    """A column name usable inside a formula (backticks unless a plain identifier)."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", col):
        return col
    return "`" + col.replace("`", "") + "`"


def q_between(estimates: np.ndarray, se: np.ndarray) -> tuple[float, int, float]:
    """Q-between of level estimates: QE of ``rma(yi=b, sei=se, method="FE")`` (metafor).

    ``Q = sum w (b - b_w)^2`` with ``w = 1/se^2`` and ``b_w`` the inverse-variance
    weighted mean (Cochran 1954), on ``L - 1`` degrees of freedom.
    """
    b = np.asarray(estimates, dtype=float)
    w = 1.0 / np.asarray(se, dtype=float) ** 2
    mean = float(np.sum(w * b) / np.sum(w))
    q = float(np.sum(w * (b - mean) ** 2))
    df = len(b) - 1
    return q, df, float(stats.chi2.sf(q, df))


def subgroup(
    dat: pd.DataFrame,
    yi: str = "yi",
    vi: str = "vi",
    by: str | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    slab: str | None = None,
) -> SubgroupResult:
    """Subgroup analysis: a fit within each level of ``by`` and tests of differences.

    Parameters
    ----------
    dat : DataFrame
        The study table (one row per study).
    yi, vi : str
        Columns of effect sizes and sampling variances.
    by : str
        Required. Categorical column defining the subgroups (levels sorted as R's ``factor()``;
        numbers numerically, a pandas ``Categorical`` in its category order).
    method : str
        tau² estimator for every fit (see :func:`bayesma.rma`).
    test : {"z", "t", "knha"}
        Inference for the estimates.
    level : float
        Confidence level.
    slab : str, optional
        Column of study labels.

    Returns
    -------
    SubgroupResult

    Raises
    ------
    DataError
        If ``by`` is not a column or has fewer than two levels.

    Warns
    -----
    DroppedRowsWarning
        Rows with a missing ``by`` are dropped, naming them.

    Notes
    -----
    A level with a single study is fitted as an equal-effects model (test "z"), as
    metafor's ``rma()`` does when k = 1: the estimate and SE are the study's own
    ``yi`` and ``sqrt(vi)``, tau² is 0, and it enters Q-between with that SE.
    Q-between uses each level's own SE (Hartung-Knapp-scaled under ``test="knha"``).
    """
    if by is None:
        raise DataError("subgroup() needs by=: the column that defines the subgroups")
    require_columns(dat, [yi, by], what="subgroup")
    label_col = find_label_column(dat, slab)
    measure = dat.attrs.get("measure")
    miss = dat[by].isna().to_numpy()
    dropped: list = []
    if miss.any():
        dropped = list(dat.index[miss])
        warnings.warn(
            f"dropped {len(dropped)} row(s) with a missing subgroup ({by!r}): "
            f"{describe_rows(dat, dropped, slab=label_col, limit=20)}",
            DroppedRowsWarning,
            stacklevel=2,
        )
        dat = dat.loc[~miss]
    levels = factor_levels(dat[by])
    if len(levels) < 2:
        found = f"only {levels[0]!r}" if levels else "no values"
        raise DataError(
            f"column {by!r} (subgroup) needs at least two levels to compare subgroups; "
            f"it has {found}",
            column=by,
        )

    fits: dict[Any, RMAResult] = {}
    single = []
    for lev in levels:
        part = dat.loc[(dat[by] == lev).to_numpy()]
        key = _plain(lev)
        if len(part) == 1:  # metafor's rma.uni: k = 1 -> equal-effects model, z test
            single.append(key)
            fits[key] = rma(
                part,
                yi=yi,
                vi=vi,
                method="EE",
                test="z",
                level=level,
                slab=label_col,
                measure=measure,
            )
        else:
            fits[key] = rma(
                part,
                yi=yi,
                vi=vi,
                method=method,
                test=test,
                level=level,
                slab=label_col,
                measure=measure,
            )

    est = np.array([f.estimate for f in fits.values()])
    ses = np.array([f.se for f in fits.values()])
    qb, qb_df, qb_p = q_between(est, ses)

    metareg = rma(
        dat,
        yi=yi,
        vi=vi,
        method=method,
        test=test,
        mods=f"~ C({_quote(by)})",
        level=level,
        slab=label_col,
        measure=measure,
    )

    table = pd.DataFrame(
        [
            [f.k, f.estimate, f.se, f.ci_low, f.ci_high, f.pval, f.tau2, f.i2, f.q, f.q_pval]
            for f in fits.values()
        ],
        index=pd.Index(list(fits), name=by),
        columns=TABLE_COLUMNS,
    )
    table["k"] = table["k"].astype(int)
    overall = rma(
        dat, yi=yi, vi=vi, method=method, test=test, level=level, slab=label_col,
        measure=measure,
    )

    return SubgroupResult(
        by=by,
        levels=tuple(fits),
        fits=fits,
        qb=qb,
        qb_df=qb_df,
        qb_pval=qb_p,
        qm=float(metareg.qm),
        qm_df=metareg.qm_df,
        qm_pval=float(metareg.qm_pval),
        metareg=metareg,
        table=table,
        method=metareg.method,
        test=metareg.test,
        level=metareg.level,
        dropped=dropped,
        single=tuple(single),
        overall=overall,
        data=dat,
        measure=measure,
    )

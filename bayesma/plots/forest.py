"""Forest plots: classical, and posterior with the classical twin beside it.

:func:`forest_plot` draws the table-and-graph figure that journals print (RevMan / R
``meta`` style) and adds what those cannot show: each study's Bayesian shrunken
estimate theta_i beneath its observed estimate, the Bayesian pooled mu beside the
classical pooled estimate, and both prediction intervals.

Layout (left to right): study label, optional per-arm data columns, observed estimate
[95% CI] | the graph | weight %, posterior estimate [95% CrI]. Column widths are
measured with the figure's renderer, so labels never overlap or run off the figure;
the figure height grows with the number of rows. Intervals that leave the axis range
end in an arrow head at the axis limit.

The returned figure carries a :class:`ForestLayout` as ``fig.forest_layout`` (rows,
columns, cell texts, x range) for inspection and tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator
from matplotlib.transforms import blended_transform_factory
from scipy import stats

from bayesma.errors import BayesmaError, DataError
from bayesma.plots import _style as st

__all__ = ["ForestLayout", "forest_plot"]

_SHOW = ("observed", "posterior", "pooled", "prediction")
_VALID_SHOW = frozenset({"observed", "posterior", "pooled", "prediction", "weights"})

# arrow heads with the base at the origin, pointing outwards past the axis limit
# (matplotlib keeps the origin of path markers)
_ARROW_RIGHT = MplPath([(0.0, 0.6), (1.0, 0.0), (0.0, -0.6), (0.0, 0.6)],
                       [MplPath.MOVETO, MplPath.LINETO, MplPath.LINETO, MplPath.CLOSEPOLY])
_ARROW_LEFT = MplPath([(0.0, 0.6), (-1.0, 0.0), (0.0, -0.6), (0.0, 0.6)],
                      [MplPath.MOVETO, MplPath.LINETO, MplPath.LINETO, MplPath.CLOSEPOLY])


# ====================================================================================
# layout records
# ====================================================================================


@dataclass
class Mark:
    """A graphical element of a row (display scale)."""

    kind: str  # "square", "ci", "post", "diamond", "bar"
    est: float
    lo: float
    hi: float
    dy: float
    color: str
    size: float = 0.0
    fill: str | None = None


@dataclass
class Row:
    """One row of the forest plot.

    ``kind`` is ``"study"``, ``"header"`` (subgroup section), ``"subtotal"``,
    ``"pooled"``, ``"prediction"``, ``"note"`` or ``"spacer"``; ``cells`` maps column
    keys to their text.
    """

    kind: str
    key: str
    cells: dict[str, str] = field(default_factory=dict)
    height: float = 1.0
    marks: list[Mark] = field(default_factory=list)
    text_dy: dict[str, float] = field(default_factory=dict)
    font: dict[str, dict[str, Any]] = field(default_factory=dict)
    span: str | None = None  # text spanning the left text area (header / note rows)
    span_font: dict[str, Any] = field(default_factory=dict)
    group: str | None = None
    y: float = 0.0  # top of the row, in row units from the top of the table


@dataclass
class Column:
    """A text column."""

    key: str
    header: str
    side: str  # "left" or "right" of the graph
    align: str = "right"
    group: str | None = None
    color: str = st.CLASSICAL
    width: float = 0.0
    x0: float = 0.0

    def anchor(self) -> tuple[float, str]:
        if self.align == "left":
            return self.x0, "left"
        if self.align == "center":
            return self.x0 + self.width / 2, "center"
        return self.x0 + self.width, "right"


@dataclass
class ForestLayout:
    """What :func:`forest_plot` drew (attached to the figure as ``fig.forest_layout``).

    Attributes
    ----------
    ax : Axes
        The graph panel (x in the displayed scale, y in row units, inverted).
    rows : list of Row
        All rows, top to bottom.
    columns : list of Column
        The text columns (left to right).
    texts : dict
        ``(row key, column key) -> Text`` for every table cell; footer lines under
        ``("footer", i)``.
    xlim : (float, float)
        The x range of the graph (displayed scale).
    scale : Scale
        The display scale (back-transformation, axis label).
    clipped : list of (row key, side)
        Intervals cut at the axis range and marked with an arrow.
    """

    ax: Axes
    rows: list[Row]
    columns: list[Column]
    texts: dict[tuple[str, Any], Text]
    xlim: tuple[float, float]
    scale: st.Scale
    clipped: list[tuple[str, str]]

    @property
    def study_rows(self) -> list[Row]:
        """The study rows, top to bottom."""
        return [r for r in self.rows if r.kind == "study"]

    def cell(self, row_key: str, col_key: str) -> str:
        """Text of a cell (``""`` when empty)."""
        t = self.texts.get((row_key, col_key))
        return t.get_text() if t is not None else ""


# ====================================================================================
# inputs
# ====================================================================================


@dataclass
class _Fit:
    """Numbers of one (sub)analysis, on the model scale."""

    labels: list[str]
    yi: np.ndarray
    vi: np.ndarray
    data: pd.DataFrame | None
    classical: Any | None  # RMAResult
    bayes: Any | None  # ExactPosterior / BayesFit


def _is_subgroup_result(obj: Any) -> bool:
    return hasattr(obj, "fits") and hasattr(obj, "qb") and hasattr(obj, "by")


def _is_rma(obj: Any) -> bool:
    return hasattr(obj, "yi") and hasattr(obj, "vi") and hasattr(obj, "tau2") and hasattr(
        obj, "weights")


def _classical_twin(bayes: Any, classical: Any, prob: float) -> Any | None:
    """The classical result drawn beside a Bayesian one (REML + HKSJ by default)."""
    if classical is False:
        return None
    if classical is not None and classical is not True:
        if not _is_rma(classical):
            raise BayesmaError("classical must be an RMAResult (from bm.rma), None or False")
        return classical
    twin = getattr(bayes, "classical", None)
    if twin is None:
        from bayesma.classical.rma import fit_arrays

        yi, vi, labels = _bayes_arrays(bayes)
        return fit_arrays(yi, vi, method="REML", test="knha", level=prob, labels=labels,
                          measure=st.result_measure(bayes))
    return twin


def _bayes_arrays(bayes: Any) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """yi, vi and labels of a Bayesian result."""
    for a, b in (("yi", "vi"),):
        if hasattr(bayes, a) and hasattr(bayes, b):
            return (np.asarray(getattr(bayes, a), dtype=float),
                    np.asarray(getattr(bayes, b), dtype=float), [str(x) for x in bayes.labels])
    twin = getattr(bayes, "classical", None)
    if twin is not None:
        return np.asarray(twin.yi, float), np.asarray(twin.vi, float), [str(x) for x in
                                                                         twin.labels]
    raise BayesmaError("cannot find the study data (yi, vi) of this result")


def _make_fit(result: Any, classical: Any, prob: float, data: pd.DataFrame | None) -> _Fit:
    if st.is_bayesian(result):
        if getattr(result, "p", 1) > 1:
            raise BayesmaError(
                "forest_plot draws intercept-only models; for a meta-regression use "
                "bm.regression_plot"
            )
        cres = _classical_twin(result, classical, prob)
        yi, vi, labels = _bayes_arrays(result)
        bayes = result
    elif _is_rma(result):
        cres, bayes = result, None
        if not result.int_only:
            raise BayesmaError(
                "forest_plot draws intercept-only models; for a meta-regression use "
                "bm.regression_plot"
            )
        yi, vi = np.asarray(result.yi, float), np.asarray(result.vi, float)
        labels = [str(x) for x in result.labels]
    else:
        raise BayesmaError(
            "forest_plot needs an RMAResult (bm.rma), an ExactPosterior "
            "(bm.exact_posterior), a BayesFit or a SubgroupResult (bm.subgroup); got "
            f"{type(result).__name__}"
        )
    if cres is not None and abs(cres.level - prob) > 1e-12:
        cres = cres.refit(level=prob)
    if data is None:
        data = getattr(result, "data", None)
        if data is None and cres is not None:
            data = cres.data
    if data is not None:
        if not isinstance(data, pd.DataFrame):
            raise DataError("data must be a pandas DataFrame with one row per study")
        if len(data) != len(yi):
            raise DataError(
                f"data has {len(data)} rows but the result has {len(yi)} studies; pass the "
                "rows used in the analysis, in the same order"
            )
    return _Fit(labels=labels, yi=yi, vi=vi, data=data, classical=cres, bayes=bayes)


def _bayes_subset(bayes: Any, idx: np.ndarray) -> Any:
    """The Bayesian model on a subset of the studies (exact engine, same priors)."""
    from bayesma.bayes.exact import exact_posterior_arrays

    yi, vi, labels = _bayes_arrays(bayes)
    pri = dict(getattr(bayes, "priors", {}) or {})
    kw = {k + "_prior": pri[k] for k in ("mu", "tau") if k in pri}
    return exact_posterior_arrays(yi[idx], vi[idx], labels=[labels[i] for i in idx],
                                  measure=st.result_measure(bayes), **kw)


# ====================================================================================
# the public function
# ====================================================================================


def forest_plot(
    result: Any,
    *,
    classical: Any = None,
    data: pd.DataFrame | None = None,
    subgroup: str | None = None,
    sort_by: str | None = None,
    ascending: bool | None = None,
    transform: Any = None,
    show: Sequence[str] = _SHOW,
    labels: tuple[str, str] | None = ("Favours treatment", "Favours control"),
    ref_line: float | str | None = "auto",
    title: str | None = None,
    columns: str | Sequence[Any] | None = "auto",
    arm_columns: dict[str, str] | None = None,
    arm_labels: tuple[str, str] = ("Treatment", "Control"),
    prob: float = 0.95,
    point: str = "median",
    digits: int = 2,
    xlim: tuple[float, float] | None = None,
    xlabel: str | None = None,
    study_header: str = "Study",
    fontsize: float = st.FONTSIZE,
    plot_width: float = 3.0,
    max_label_width: float = 3.0,
    pooled_line: bool = True,
    footer: bool = True,
    save: str | Path | None = None,
) -> Figure:
    """Forest plot of a classical or Bayesian meta-analysis.

    Parameters
    ----------
    result : RMAResult, ExactPosterior, BayesFit or SubgroupResult
        An :class:`~bayesma.classical.rma.RMAResult` gives the classical forest plot.
        A Bayesian result (exact posterior or MCMC fit) gives the posterior forest
        plot: each study's shrunken theta_i beneath its observed estimate, the
        posterior mu and predictive interval, and the classical twin beside them. A
        :class:`~bayesma.classical.subgroup.SubgroupResult` gives a classical forest
        plot with one section per level.
    classical : RMAResult, None or False
        The classical result drawn with a Bayesian one. ``None`` uses the result's
        classical twin (REML with the Hartung-Knapp-Sidik-Jonkman test unless the
        result was built otherwise; REML + HKSJ when it has none); ``False`` leaves
        the classical pooled rows out. Ignored for classical results.
    data : DataFrame, optional
        The study table (rows used, in order) for per-arm columns, sorting by a
        column and subgroups; default: the result's data.
    subgroup : str, optional
        Column of ``data`` defining subgroups: a section per level with its subtotal
        diamonds (each level fitted separately; Bayesian subtotals by the exact engine
        with the result's priors) and the test for subgroup differences (Q-between)
        in the footer.
    sort_by : str, optional
        ``"label"``, ``"effect"`` (observed estimate), ``"posterior"`` (theta_i),
        ``"weight"``, ``"precision"`` or a column of ``data`` (e.g. ``"year"``).
    ascending : bool, optional
        Sort order; default ascending, except weight and precision (largest first).
    transform : None, False, "exp", "ztor" or callable
        Display scale. ``None`` back-transforms ratio measures (OR, RR, ROM, PETO, HR)
        to the natural scale on a log axis; ``False`` keeps the model scale.
    show : sequence of str
        Which elements to draw: ``"observed"`` (study squares and CIs),
        ``"posterior"`` (shrunken theta_i), ``"pooled"`` (diamonds), ``"prediction"``
        (prediction intervals); ``"weights"`` is implied by ``"observed"``.
    labels : (str, str) or None
        Texts under the axis, left and right of the reference line.
    ref_line : "auto", float or None
        Position of the no-effect line on the displayed scale (``"auto"``: 0, or 1
        when back-transformed); ``None`` for none.
    title : str, optional
        Title above the table.
    columns : "auto", None or sequence
        Extra left columns. ``"auto"``: per-arm data when the table has metafor's
        column names (``ai, bi/n1i, ci, di/n2i``; ``m1i, sd1i, n1i, m2i, sd2i,
        n2i``; ``n1i, n2i``; ``ni``). A sequence of data column names (or
        ``(header, column)`` pairs, or ``"arms"`` for the per-arm columns).
    arm_columns : dict, optional
        Map metafor's names to the table's, e.g. ``{"ai": "tpos", "bi": "tneg",
        "ci": "cpos", "di": "cneg"}``.
    arm_labels : (str, str)
        Headers over the two arms' columns.
    prob : float
        Probability of all intervals (CI, CrI, prediction).
    point : {"median", "mean"}
        Posterior point estimate (the median back-transforms exactly).
    digits : int
        Decimals of the estimates.
    xlim : (float, float), optional
        x range on the displayed scale (default: all point estimates and, unless very
        wide, all intervals; wider intervals end in arrows).
    xlabel : str, optional
        Axis label (default: the measure's name, e.g. "Risk ratio (log scale)").
    study_header : str
        Header of the label column.
    fontsize : float
        Font size in points; rows and columns scale with it.
    plot_width : float
        Width of the graph panel in inches.
    max_label_width : float
        Longer study labels wrap onto several lines (their row grows).
    pooled_line : bool
        Dotted vertical line at the pooled estimate (Bayesian mu if present).
    footer : bool
        Heterogeneity line, subgroup test, priors and legend under the graph.
    save : str or Path, optional
        Also write the figure there (PNG, SVG or PDF by extension).

    Returns
    -------
    matplotlib.figure.Figure
        With ``fig.forest_layout`` (:class:`ForestLayout`).
    """
    show = tuple(show)
    bad = [s for s in show if s not in _VALID_SHOW]
    if bad:
        raise BayesmaError(f"show: unknown element(s) {bad}; choose from {sorted(_VALID_SHOW)}")
    if not 0 < prob < 1:
        raise BayesmaError(f"prob must be in (0, 1), got {prob}")
    if point not in ("median", "mean"):
        raise BayesmaError(f"point must be 'median' or 'mean', got {point!r}")

    sub_res = None
    if _is_subgroup_result(result):
        sub_res = result
        fit = _fit_from_subgroups(result, prob, data)
        subgroup = None
    else:
        fit = _make_fit(result, classical, prob, data)

    measure = st.result_measure(result) or (
        st.result_measure(fit.classical) if fit.classical is not None else None)
    if measure is None and fit.data is not None:
        measure = fit.data.attrs.get("measure")
    scale = st.resolve_scale(measure, transform)

    builder = _Builder(fit=fit, scale=scale, show=show, prob=prob, point=point, digits=digits,
                       columns=columns, arm_columns=arm_columns, arm_labels=arm_labels,
                       study_header=study_header)
    order = builder.order(sort_by, ascending)
    if sub_res is not None:
        groups = _groups_from_subgroup_result(sub_res, fit)
        builder.build_subgroups(groups, order, sub_res)
    elif subgroup is not None:
        builder.build_subgroups(_groups_from_column(fit, subgroup), order, None)
    else:
        builder.build_plain(order)

    fig = _render(builder, scale=scale, labels=labels, ref_line=ref_line, title=title,
                  xlim=xlim, xlabel=xlabel, fontsize=fontsize, plot_width=plot_width,
                  max_label_width=max_label_width, pooled_line=pooled_line, footer=footer)
    st.save_figure(fig, save)
    return fig


# ====================================================================================
# subgroups
# ====================================================================================


def _fit_from_subgroups(sub: Any, prob: float, data: pd.DataFrame | None) -> _Fit:
    from bayesma.classical.rma import fit_arrays

    fits = list(sub.fits.values())
    yi = np.concatenate([np.asarray(f.yi, float) for f in fits])
    vi = np.concatenate([np.asarray(f.vi, float) for f in fits])
    labels = [str(lab) for f in fits for lab in f.labels]
    frames = [f.data for f in fits]
    d = pd.concat(frames) if all(isinstance(x, pd.DataFrame) for x in frames) else None
    if data is not None:
        d = data
    measure = next((f.measure for f in fits if f.measure), None)
    cres = fit_arrays(yi, vi, method=sub.method, test=sub.test, level=prob, labels=labels,
                      measure=measure, data=d)
    return _Fit(labels=labels, yi=yi, vi=vi, data=d, classical=cres, bayes=None)


def _groups_from_subgroup_result(sub: Any, fit: _Fit) -> list[tuple[str, np.ndarray]]:
    out, start = [], 0
    for lev, f in sub.fits.items():
        out.append((str(lev), np.arange(start, start + f.k)))
        start += f.k
    return out


def _groups_from_column(fit: _Fit, column: str) -> list[tuple[str, np.ndarray]]:
    from bayesma.classical.subgroup import _levels

    if fit.data is None or column not in fit.data.columns:
        raise DataError(
            f"subgroup column {column!r} is not in the data"
            + ("" if fit.data is None else f"; available: {', '.join(map(str, fit.data))}"),
            column=column,
        )
    s = fit.data[column]
    if s.isna().any():
        raise DataError(f"subgroup column {column!r} has missing values; drop or fill them",
                        column=column)
    levels = _levels(s)
    vals = s.to_numpy()
    return [(str(lev), np.flatnonzero(vals == lev)) for lev in levels]


# ====================================================================================
# building rows
# ====================================================================================


@dataclass
class _Builder:
    fit: _Fit
    scale: st.Scale
    show: tuple[str, ...]
    prob: float
    point: str
    digits: int
    columns: Any
    arm_columns: dict[str, str] | None
    arm_labels: tuple[str, str]
    study_header: str

    rows: list[Row] = field(default_factory=list)
    cols: list[Column] = field(default_factory=list)
    footer_lines: list[str] = field(default_factory=list)
    legend: list[tuple[Any, str]] = field(default_factory=list)
    pooled_value: float | None = None

    def __post_init__(self) -> None:
        f = self.fit
        self.has_bayes = f.bayes is not None and "posterior" in self.show
        self.has_obs = "observed" in self.show
        self.k = len(f.yi)
        z = stats.norm.isf((1 - self.prob) / 2)
        se = np.sqrt(f.vi)
        self.obs_lo, self.obs_hi = f.yi - z * se, f.yi + z * se
        if f.classical is not None:
            self.weights = np.asarray(f.classical.weights, dtype=float)
        else:
            self.weights = 100 * (1 / f.vi) / np.sum(1 / f.vi)
        if f.bayes is not None:
            est, lo, hi = st.post_summary(f.bayes, "theta", self.prob, self.point)
            self.theta = (est, lo, hi)
        else:
            self.theta = None
        self.extra_cols = self._extra_columns()
        self._make_columns()

    # ---------------------------------------------------------------- formatting
    def t(self, x: Any) -> Any:
        return self.scale(x)

    def ci_text(self, est: float, lo: float, hi: float) -> str:
        return st.fmt_ci(self.t(est), self.t(lo), self.t(hi), self.digits)

    # ---------------------------------------------------------------- sorting
    def order(self, sort_by: str | None, ascending: bool | None) -> np.ndarray:
        idx = np.arange(self.k)
        if sort_by is None:
            return idx
        asc = ascending
        if sort_by == "label":
            key = np.array([s.casefold() for s in self.fit.labels], dtype=object)
        elif sort_by == "effect":
            key = self.fit.yi
        elif sort_by == "posterior":
            if self.theta is None:
                raise BayesmaError("sort_by='posterior' needs a Bayesian result")
            key = self.theta[0]
        elif sort_by in ("weight", "precision"):
            key = self.weights if sort_by == "weight" else 1 / self.fit.vi
            asc = False if ascending is None else ascending
        elif self.fit.data is not None and sort_by in self.fit.data.columns:
            key = self.fit.data[sort_by].to_numpy()
        else:
            raise BayesmaError(
                f"sort_by must be 'label', 'effect', 'posterior', 'weight', 'precision' or a "
                f"column of the data; got {sort_by!r}"
            )
        asc = True if asc is None else asc
        ser = pd.Series(list(key))
        o = ser.sort_values(ascending=asc, kind="stable", na_position="last").index
        return idx[o.to_numpy()]

    # ---------------------------------------------------------------- columns
    def _extra_columns(self) -> list[tuple[Column, list[str]]]:
        d = self.fit.data
        spec = self.columns
        if spec is None or spec is False or d is None:
            return []
        if isinstance(spec, str):
            if spec != "auto":
                spec = [spec]
            else:
                return _arm_columns(d, self.arm_columns, self.arm_labels)
        out: list[tuple[Column, list[str]]] = []
        for item in spec:
            if item == "arms":
                out += _arm_columns(d, self.arm_columns, self.arm_labels)
                continue
            header, col = (item if isinstance(item, tuple) else (str(item), item))
            if col not in d.columns:
                raise DataError(f"columns: {col!r} is not a column of the data", column=col)
            vals = [_fmt_cell(v) for v in d[col].to_numpy()]
            out.append((Column(key=f"col:{col}", header=header, side="left", align="right"),
                        vals))
        return out

    def _make_columns(self) -> None:
        s = self.scale.short
        lev = f"{100 * self.prob:g}%"
        cols = [Column("label", self.study_header, "left", align="left")]
        cols += [c for c, _ in self.extra_cols]
        if self.has_obs or self.fit.classical is not None:
            cols.append(Column("obs", f"{s} [{lev} CI]", "left",
                               group="Observed" if self.has_bayes else None))
        if self.has_obs:
            cols.append(Column("weight", "Weight", "right"))
        if self.has_bayes:
            cols.append(Column("post", f"{s} [{lev} CrI]", "right", group="Posterior",
                               color=st.BAYES))
        self.cols = cols

    # ---------------------------------------------------------------- rows
    def _study_row(self, i: int, group: str | None) -> Row:
        f = self.fit
        label = f.labels[i]
        row = Row("study", label, group=group)
        dy_obs = 0.5
        row.height = 1.5 if self.has_bayes else 1.0
        dy_post = 1.0 if self.has_obs else 0.5
        if not self.has_obs:
            row.height = 1.0
        row.cells["label"] = label
        row.text_dy["label"] = dy_obs if self.has_obs else dy_post
        for c, vals in self.extra_cols:
            row.cells[c.key] = vals[i]
            row.text_dy[c.key] = dy_obs
        if self.has_obs:
            row.cells["obs"] = self.ci_text(f.yi[i], self.obs_lo[i], self.obs_hi[i])
            row.text_dy["obs"] = dy_obs
            row.cells["weight"] = f"{self.weights[i]:.1f}%"
            row.text_dy["weight"] = dy_obs
            row.marks.append(Mark("ci", self.t(f.yi[i]), self.t(self.obs_lo[i]),
                                  self.t(self.obs_hi[i]), dy_obs, st.CLASSICAL))
            row.marks.append(Mark("square", self.t(f.yi[i]), np.nan, np.nan, dy_obs,
                                  st.CLASSICAL, size=self.weights[i]))
        if self.has_bayes:
            est, lo, hi = (a[i] for a in self.theta)
            row.cells["post"] = self.ci_text(est, lo, hi)
            row.text_dy["post"] = dy_post
            row.font["post"] = {"color": st.BAYES}
            row.marks.append(Mark("post", self.t(est), self.t(lo), self.t(hi), dy_post,
                                  st.BAYES))
        return row

    def _pooled_rows(self, cres: Any, bayes: Any, *, subtotal: bool, key: str,
                     weight: float | None) -> list[Row]:
        rows: list[Row] = []
        kind = "subtotal" if subtotal else "pooled"
        bold = {"weight": "bold"}
        half = 0.3 if subtotal else 0.36
        if "pooled" in self.show and cres is not None:
            r = Row(kind, f"{key}:classical", height=1.0)
            r.cells["label"] = (
                f"Subtotal, {_method_text(cres)}" if subtotal else
                _model_text(cres, bayes is not None and self.has_bayes))
            r.font["label"] = bold
            ok = np.isfinite(cres.ci_low) and np.isfinite(cres.ci_high)
            if "obs" in {c.key for c in self.cols}:
                r.cells["obs"] = self.ci_text(cres.estimate, cres.ci_low, cres.ci_high) \
                    if ok else st.fmt_num(self.t(cres.estimate), self.digits) + " [NA]"
                r.font["obs"] = bold
            if self.has_obs and weight is not None:
                r.cells["weight"] = f"{weight:.1f}%"
                r.font["weight"] = bold
            if ok:
                r.marks.append(Mark("diamond", self.t(cres.estimate), self.t(cres.ci_low),
                                    self.t(cres.ci_high), 0.5, st.CLASSICAL, size=half))
            rows.append(r)
        if "pooled" in self.show and bayes is not None and self.has_bayes:
            est, lo, hi = (a[0] for a in st.post_summary(bayes, "mu", self.prob, self.point))
            r = Row(kind, f"{key}:bayes", height=1.0)
            r.cells["label"] = "Subtotal, Bayesian (\u03bc)" if subtotal else \
                "Random effects, Bayesian (\u03bc)"
            r.font["label"] = {"weight": "bold", "color": st.BAYES}
            r.cells["post"] = self.ci_text(est, lo, hi)
            r.font["post"] = {"weight": "bold", "color": st.BAYES}
            r.marks.append(Mark("diamond", self.t(est), self.t(lo), self.t(hi), 0.5, st.BAYES,
                                size=half))
            rows.append(r)
        return rows

    def _prediction_row(self, cres: Any, bayes: Any, key: str) -> Row | None:
        if "prediction" not in self.show:
            return None
        has_c = cres is not None and cres.pi_low is not None
        has_b = bayes is not None and self.has_bayes
        if not (has_c or has_b):
            return None
        r = Row("prediction", f"{key}:prediction", height=1.5 if (has_c and has_b) else 1.0)
        r.cells["label"] = "Prediction interval (new study)"
        r.font["label"] = {"weight": "bold"}
        r.text_dy["label"] = 0.5
        dy_c, dy_b = 0.5, 1.0 if has_c else 0.5
        if has_c:
            ok = np.isfinite(cres.pi_low) and np.isfinite(cres.pi_high)
            r.cells["obs"] = st.fmt_interval(self.t(cres.pi_low), self.t(cres.pi_high),
                                             self.digits) if ok else "[NA]"
            r.text_dy["obs"] = dy_c
            if ok:
                r.marks.append(Mark("bar", self.t(cres.estimate), self.t(cres.pi_low),
                                    self.t(cres.pi_high), dy_c, st.CLASSICAL,
                                    fill=st.CLASSICAL_LIGHT))
        if has_b:
            est, lo, hi = (a[0] for a in st.post_summary(bayes, "theta_new", self.prob,
                                                         self.point))
            r.cells["post"] = st.fmt_interval(self.t(lo), self.t(hi), self.digits)
            r.text_dy["post"] = dy_b
            r.font["post"] = {"color": st.BAYES}
            r.marks.append(Mark("bar", self.t(est), self.t(lo), self.t(hi), dy_b, st.BAYES,
                                fill=st.BAYES_LIGHT))
        return r

    def _het_text(self, cres: Any, bayes: Any) -> str:
        parts = []
        if bayes is not None and self.has_bayes:
            est, lo, hi = (a[0] for a in st.post_summary(bayes, "tau", self.prob, self.point))
            lev = f"{100 * self.prob:g}%"
            parts.append(f"\u03c4 = {st.fmt_num(est, 2)} [{st.fmt_num(lo, 2)}, "
                         f"{st.fmt_num(hi, 2)}] (posterior {self.point} [{lev} CrI])")
        if cres is not None:
            parts.append(_classical_het(cres))
        return "; ".join(parts)

    def build_plain(self, order: np.ndarray) -> None:
        f = self.fit
        self.rows = [self._study_row(i, None) for i in order]
        self.rows.append(Row("spacer", "spacer:pooled", height=0.4))
        self.rows += self._pooled_rows(f.classical, f.bayes, subtotal=False, key="overall",
                                       weight=100.0)
        pr = self._prediction_row(f.classical, f.bayes, "overall")
        if pr is not None:
            self.rows.append(pr)
        self._pooled_value(f.classical, f.bayes)
        self.footer_lines = []
        het = self._het_text(f.classical, f.bayes)
        if het:
            self.footer_lines.append("Heterogeneity: " + het)
        self._prior_line()

    def build_subgroups(self, groups: list[tuple[str, np.ndarray]], order: np.ndarray,
                        sub_res: Any) -> None:
        f = self.fit
        rank = np.empty(self.k, dtype=int)
        rank[order] = np.arange(self.k)
        rows: list[Row] = []
        est, ses = [], []
        for name, idx in groups:
            idx = idx[np.argsort(rank[idx], kind="stable")]
            head = Row("header", f"group:{name}", height=1.2, span=name, group=name)
            head.span_font = {"weight": "bold"}
            rows.append(head)
            rows += [self._study_row(i, name) for i in idx]
            cres = None
            if f.classical is not None:
                if sub_res is not None:
                    cres = sub_res.fits[_level_key(sub_res, name)]
                    if abs(cres.level - self.prob) > 1e-12:
                        cres = cres.refit(level=self.prob)
                else:
                    cres = _subset_classical(f.classical, idx)
                est.append(cres.estimate)
                ses.append(cres.se)
            bayes = _bayes_subset(f.bayes, idx) if (f.bayes is not None and
                                                            self.has_bayes) else None
            w = float(np.sum(self.weights[idx]))
            rows += self._pooled_rows(cres, bayes, subtotal=True, key=f"group:{name}",
                                      weight=w)
            note = self._het_text(cres, bayes) if len(idx) > 1 else ""
            if note:
                nr = Row("note", f"group:{name}:note", height=1.0,
                         span="Heterogeneity: " + note, group=name)
                nr.span_font = {"style": "italic", "fontsize_scale": 0.9}
                rows.append(nr)
            rows.append(Row("spacer", f"group:{name}:spacer", height=0.5))
        rows += self._pooled_rows(f.classical, f.bayes, subtotal=False, key="overall",
                                  weight=100.0)
        pr = self._prediction_row(f.classical, f.bayes, "overall")
        if pr is not None:
            rows.append(pr)
        self.rows = rows
        self._pooled_value(f.classical, f.bayes)
        self.footer_lines = []
        het = self._het_text(f.classical, f.bayes)
        if het:
            self.footer_lines.append("Overall heterogeneity: " + het)
        if sub_res is not None:
            qb, qdf, qp = sub_res.qb, sub_res.qb_df, sub_res.qb_pval
        elif len(est) >= 2:
            from bayesma.classical.subgroup import q_between

            qb, qdf, qp = q_between(np.asarray(est), np.asarray(ses))
        else:
            qb = None
        if qb is not None:
            self.footer_lines.append(
                f"Test for subgroup differences (classical): Q = {qb:.2f}, "
                f"df = {st.fmt_df(qdf)}, {st.fmt_p(qp)}")
        self._prior_line()

    def _pooled_value(self, cres: Any, bayes: Any) -> None:
        if bayes is not None and self.has_bayes:
            self.pooled_value = self.t(st.post_summary(bayes, "mu", self.prob,
                                                       self.point)[0][0])
        elif cres is not None:
            self.pooled_value = self.t(cres.estimate)

    def _prior_line(self) -> None:
        b = self.fit.bayes
        if b is None or not self.has_bayes:
            return
        pri = getattr(b, "priors", {}) or {}
        parts = [f"{'\u03bc' if k == 'mu' else '\u03c4' if k == 'tau' else k} ~ "
                 f"{st.describe_prior(v)}" for k, v in pri.items() if k in ("mu", "tau")]
        engine = "exact posterior" if st.is_exact(b) else "MCMC"
        if parts:
            self.footer_lines.append(f"Bayesian model: {', '.join(parts)} ({engine}); "
                                     f"study estimates: posterior {self.point}s")


def _level_key(sub: Any, name: str) -> Any:
    for k in sub.fits:
        if str(k) == name:
            return k
    raise KeyError(name)


def _subset_classical(cres: Any, idx: np.ndarray) -> Any:
    mask = np.zeros(cres.k, dtype=bool)
    mask[idx] = True
    if len(idx) == 1:  # metafor (and bm.subgroup): k = 1 -> equal-effects model, z test
        return cres.refit(mask, method="EE", test="z")
    return cres.refit(mask)


def _method_text(cres: Any) -> str:
    m = cres.method
    if m == "EE":
        return "common effect"
    return f"{m}" + (", HKSJ" if cres.test == "knha" else "")


def _model_text(cres: Any, with_bayes: bool) -> str:
    if cres.method == "EE":
        name = "Common-effect model"
        return name + (", classical" if with_bayes else "")
    meth = _method_text(cres)
    if with_bayes:
        return f"Random effects, classical ({meth})"
    return f"Random-effects model ({meth})"


def _classical_het(cres: Any) -> str:
    lab = "" if cres.method == "EE" else f"{cres.method} "
    q = f"Q = {cres.q:.2f} (df = {st.fmt_df(cres.q_df)}, {st.fmt_p(cres.q_pval)})"
    if cres.method == "EE":
        return f"I\u00b2 = {cres.i2:.0f}%, {q}"
    return (f"{lab}\u03c4\u00b2 = {st.fmt_num(cres.tau2, _tau2_digits(cres.tau2))}, "
            f"I\u00b2 = {cres.i2:.0f}%, {q}")


def _tau2_digits(x: float) -> int:
    if not np.isfinite(x) or x == 0 or abs(x) >= 0.01:
        return 2 if (not np.isfinite(x) or abs(x) < 100) else 1
    return max(2, 1 - int(math.floor(math.log10(abs(x)))))


def _fmt_cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, int | float | np.integer | np.floating):
        return st.fmt_general(float(v))
    return str(v)


def _arm_columns(d: pd.DataFrame, mapping: dict[str, str] | None, arm_labels: tuple[str, str]
                 ) -> list[tuple[Column, list[str]]]:
    """Per-arm data columns in metafor's names (events/total, mean (SD), n)."""
    names = {k: k for k in ("ai", "bi", "ci", "di", "n1i", "n2i", "m1i", "sd1i", "m2i",
                            "sd2i", "ni")}
    if mapping:
        unknown = set(mapping) - set(names)
        if unknown:
            raise BayesmaError(f"arm_columns: unknown key(s) {sorted(unknown)}; use "
                               f"{', '.join(names)}")
        names.update(mapping)
        missing = [v for v in mapping.values() if v not in d.columns]
        if missing:
            raise DataError(f"arm_columns: {missing[0]!r} is not a column of the data",
                            column=missing[0])

    def has(*keys: str) -> bool:
        return all(names[k] in d.columns for k in keys)

    def num(key: str) -> np.ndarray:
        return pd.to_numeric(d[names[key]], errors="coerce").to_numpy(dtype=float)

    a1, a2 = arm_labels
    out: list[tuple[Column, list[str]]] = []
    if has("ai", "ci") and (has("n1i", "n2i") or has("bi", "di")):
        tot1 = num("n1i") if has("n1i", "n2i") else num("ai") + num("bi")
        tot2 = num("n2i") if has("n1i", "n2i") else num("ci") + num("di")
        for arm, ev, tot in ((a1, num("ai"), tot1), (a2, num("ci"), tot2)):
            out.append((Column(f"arm:{arm}:events", "Events", "left", group=arm),
                        [st.fmt_count(x) for x in ev]))
            out.append((Column(f"arm:{arm}:total", "Total", "left", group=arm),
                        [st.fmt_count(x) for x in tot]))
    elif has("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"):
        for arm, m, s, n in ((a1, "m1i", "sd1i", "n1i"), (a2, "m2i", "sd2i", "n2i")):
            out.append((Column(f"arm:{arm}:mean", "Mean (SD)", "left", group=arm),
                        [f"{st.fmt_general(a)} ({st.fmt_general(b)})"
                         for a, b in zip(num(m), num(s), strict=True)]))
            out.append((Column(f"arm:{arm}:n", "n", "left", group=arm),
                        [st.fmt_count(x) for x in num(n)]))
    elif has("n1i", "n2i"):
        for arm, n in ((a1, "n1i"), (a2, "n2i")):
            out.append((Column(f"arm:{arm}:n", "n", "left", group=arm),
                        [st.fmt_count(x) for x in num(n)]))
    elif has("ni"):
        out.append((Column("arm:ni", "N", "left"), [st.fmt_count(x) for x in num("ni")]))
    return out


# ====================================================================================
# rendering
# ====================================================================================

_PAD = 0.14  # outer margin (in)
_GAP = 0.16  # gap between text columns (in)
_PLOT_GAP = 0.18  # gap between the text columns and the graph (in)


def _render(b: _Builder, *, scale: st.Scale, labels: tuple[str, str] | None,
            ref_line: Any, title: str | None, xlim: Any, xlabel: str | None,
            fontsize: float, plot_width: float, max_label_width: float,
            pooled_line: bool, footer: bool) -> Figure:
    fig = st.new_figure((8, 6))
    meas = st.TextMeasure(fig, fontsize)
    unit = fontsize * 1.6 / 72.0  # one row unit (in)
    line_h = fontsize * 1.22 / 72.0
    small = fontsize * 0.9

    cols = b.cols
    rows = b.rows

    # ---- wrap study labels wider than max_label_width; grow those rows ------------
    lab_key = "label"
    for r in rows:
        txt = r.cells.get(lab_key)
        if not txt:
            continue
        weight = r.font.get(lab_key, {}).get("weight", "normal")
        wrapped = st.wrap_to_width(txt, max_label_width, meas, weight=weight)
        if wrapped != txt:
            r.cells[lab_key] = wrapped
            n = wrapped.count("\n") + 1
            need = (n * line_h + 0.35 * unit) / unit
            if need > r.height:
                extra = need - r.height
                r.height = need
                for k in list(r.text_dy):
                    r.text_dy[k] += extra / 2
                for m in r.marks:
                    m.dy += extra / 2
            r.text_dy[lab_key] = r.height / 2

    # ---- column widths ------------------------------------------------------------
    for c in cols:
        w = meas.width(c.header, weight="bold")
        for r in rows:
            s = r.cells.get(c.key)
            if s:
                w = max(w, meas.width(s, weight=r.font.get(c.key, {}).get("weight", "normal")))
        c.width = w
    # group headers wider than their columns widen the last column of the group
    for g, members in _groups(cols).items():
        span = sum(c.width for c in members) + _GAP * (len(members) - 1)
        gw = meas.width(g, weight="bold")
        if gw > span:
            members[-1].width += gw - span

    left = [c for c in cols if c.side == "left"]
    right = [c for c in cols if c.side == "right"]
    x = _PAD
    for c in left:
        c.x0 = x
        x += c.width + _GAP
    left_end = x - _GAP
    plot_x0 = left_end + _PLOT_GAP
    plot_x1 = plot_x0 + plot_width
    x = plot_x1 + _PLOT_GAP
    for c in right:
        c.x0 = x
        x += c.width + _GAP
    fig_w = (x - _GAP if right else plot_x1) + _PAD

    # spanning rows (subgroup headers, notes) must fit in the left text area
    span_w = left_end - _PAD
    for r in rows:
        if r.span:
            fs = fontsize * r.span_font.get("fontsize_scale", 1.0)
            kw = {"weight": r.span_font.get("weight", "normal"),
                  "style": r.span_font.get("style", "normal"), "fontsize": fs}
            wrapped = st.wrap_to_width(r.span, span_w, meas, separator="; ", **kw)
            if meas.width(wrapped, **kw) > span_w:
                wrapped = st.wrap_to_width(wrapped.replace("\n", " "), span_w, meas, **kw)
            r.span = wrapped
            n = wrapped.count("\n") + 1
            r.height = max(r.height, (n * fs * 1.22 / 72 + 0.3 * unit) / unit)

    # ---- vertical layout (inches from the top) -------------------------------------
    y_units = 0.0
    for r in rows:
        r.y = y_units
        y_units += r.height
    total_units = y_units

    title_h = 0.0
    title_txt = None
    if title:
        title_txt = st.wrap_to_width(title, fig_w - 2 * _PAD, meas, weight="bold",
                                     fontsize=fontsize * 1.25)
        title_h = (title_txt.count("\n") + 1) * fontsize * 1.25 * 1.25 / 72 + 0.1
    has_groups = any(c.group for c in cols)
    header_units = 2.3 if has_groups else 1.5

    # footer: tick labels, favours labels, axis label, legend, text lines
    tick_h = (3.5 + 3.5 + fontsize * 1.25) / 72.0
    fav_h = fontsize * 1.6 / 72.0 if labels else 0.0
    xl_h = fontsize * 1.6 / 72.0
    handles = _legend_handles(b) if footer else []
    legend_cols, _, legend_h = st.fit_legend(fig, [h for h, _ in handles],
                                             [s for _, s in handles], fig_w - 2 * _PAD,
                                             fontsize)
    legend_h += 0.16 if handles else 0.0
    foot_lines: list[str] = []
    if footer:
        for s in b.footer_lines:
            foot_lines += st.wrap_to_width(s, fig_w - 2 * _PAD, meas, separator="; ",
                                           fontsize=small).split("\n")
        foot_lines = [
            piece for s in foot_lines
            for piece in st.wrap_to_width(s, fig_w - 2 * _PAD, meas, fontsize=small).split("\n")
        ]
    foot_h = len(foot_lines) * small * 1.35 / 72.0 + (0.06 if foot_lines else 0.0)
    bottom_h = tick_h + fav_h + xl_h + legend_h + foot_h + _PAD
    top_h = _PAD + title_h + header_units * unit
    fig_h = top_h + total_units * unit + bottom_h
    fig.set_size_inches(fig_w, fig_h)

    ax = fig.add_axes((plot_x0 / fig_w, bottom_h / fig_h, plot_width / fig_w,
                       total_units * unit / fig_h))
    ax.set_ylim(total_units, 0.0)
    ax.set_facecolor("none")
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_linewidth(0.8)
    ax.yaxis.set_major_locator(NullLocator())
    ax.tick_params(axis="x", labelsize=fontsize, width=0.8, length=3.5, pad=3.5)

    # ---- x range -------------------------------------------------------------------
    lims = _x_range(b, scale, xlim, ref_line)
    if scale.log_axis:
        ax.set_xscale("log")
    ax.set_xlim(*lims)
    ticks = _thin_ticks(_ticks(lims, scale.log_axis), lims, scale.log_axis, plot_width, meas,
                        scale.null)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([st.fmt_tick(t) for t in ticks])

    blend = blended_transform_factory(fig.dpi_scale_trans, ax.transData)
    texts: dict[tuple[str, Any], Text] = {}

    # ---- header --------------------------------------------------------------------
    hdr_y = -0.45  # column header line (units above the first row), va=bottom
    for c in cols:
        xa, ha = c.anchor()
        t = ax.text(xa, -0.3, c.header, transform=blend, ha=ha, va="bottom",
                    fontsize=fontsize, fontweight="bold", color=c.color, clip_on=False)
        texts[("header", c.key)] = t
    if has_groups:
        for g, members in _groups(cols).items():
            x0 = members[0].x0
            x1 = members[-1].x0 + members[-1].width
            color = members[0].color
            t = ax.text((x0 + x1) / 2, -1.45, g, transform=blend, ha="center", va="bottom",
                        fontsize=fontsize, fontweight="bold", color=color, clip_on=False)
            texts[("group", g)] = t
            ax.plot([x0, x1], [-1.3, -1.3], transform=blend, color=color, lw=0.6,
                    clip_on=False, solid_capstyle="butt")
    del hdr_y
    ax.plot([_PAD, fig_w - _PAD], [-0.12, -0.12], transform=blend, color=st.CLASSICAL,
            lw=0.8, clip_on=False, solid_capstyle="butt")

    # ---- rows ----------------------------------------------------------------------
    colmap = {c.key: c for c in cols}
    clipped: list[tuple[str, str]] = []
    ms_max = 0.62 * unit * 72.0
    wmax = float(np.nanmax(b.weights)) if len(b.weights) else 1.0
    for r in rows:
        for key, s in r.cells.items():
            c = colmap.get(key)
            if c is None or not s:
                continue
            xa, ha = c.anchor()
            font = dict(r.font.get(key, {}))
            color = font.pop("color", st.CLASSICAL)
            t = ax.text(xa, r.y + r.text_dy.get(key, 0.5), s, transform=blend, ha=ha,
                        va="center", fontsize=fontsize, color=color, clip_on=False,
                        linespacing=1.1, **{f"font{k}": v for k, v in font.items()})
            texts[(r.key, key)] = t
        if r.span:
            fs = fontsize * r.span_font.get("fontsize_scale", 1.0)
            t = ax.text(_PAD, r.y + r.height / 2, r.span, transform=blend, ha="left",
                        va="center", fontsize=fs, fontweight=r.span_font.get("weight", "normal"),
                        fontstyle=r.span_font.get("style", "normal"), clip_on=False,
                        linespacing=1.1, color=st.CLASSICAL)
            texts[(r.key, "span")] = t
        for m in r.marks:
            clipped += _draw_mark(ax, m, r, lims, ms_max, wmax, scale.log_axis)

    # ---- reference and pooled lines -------------------------------------------------
    ref = scale.null if ref_line == "auto" else ref_line
    content = [r for r in rows if r.kind not in ("spacer", "header", "note")]
    y_top = 0.0
    y_bot = content[-1].y + content[-1].height if content else total_units
    if ref is not None and lims[0] < ref < lims[1]:
        ax.plot([ref, ref], [y_top, y_bot], color=st.REF, lw=0.8, zorder=0.5, clip_on=False)
    if pooled_line and b.pooled_value is not None and np.isfinite(b.pooled_value) and \
            lims[0] < b.pooled_value < lims[1]:
        color = st.BAYES if b.has_bayes else st.CLASSICAL
        ax.plot([b.pooled_value] * 2, [y_top, y_bot], color=color, lw=0.7, ls=(0, (1.5, 2.0)),
                zorder=0.4, alpha=0.8, clip_on=False)

    # ---- below the axis ---------------------------------------------------------------
    fig_trans = fig.dpi_scale_trans
    y = bottom_h - tick_h
    if labels:
        left_lab, right_lab = labels
        center = ref if (ref is not None and lims[0] < ref < lims[1]) else None
        px = _data_to_inch(ax, fig, center if center is not None else None, plot_x0, plot_x1)
        wl = meas.width(f"\u2190 {left_lab}")
        wr = meas.width(f"{right_lab} \u2192")
        xl = px - 0.06 - wl
        xr = px + 0.06
        xl = max(xl, _PAD)
        xr = min(xr, fig_w - _PAD - wr)
        if xl + wl > xr - 0.05:  # collide: split the panel in halves
            xl = max(_PAD, (plot_x0 + plot_x1) / 2 - 0.05 - wl)
            xr = min(fig_w - _PAD - wr, (plot_x0 + plot_x1) / 2 + 0.05)
        texts[("favours", 0)] = fig.text(xl, y - fav_h / 2, f"\u2190 {left_lab}",
                                         transform=fig_trans, ha="left", va="center",
                                         fontsize=fontsize, color="#333333")
        texts[("favours", 1)] = fig.text(xr, y - fav_h / 2, f"{right_lab} \u2192",
                                         transform=fig_trans, ha="left", va="center",
                                         fontsize=fontsize, color="#333333")
        y -= fav_h
    xlab = xlabel if xlabel is not None else scale.long
    wx = meas.width(xlab)
    xc = min(max((plot_x0 + plot_x1) / 2, _PAD + wx / 2), fig_w - _PAD - wx / 2)
    texts[("xlabel", 0)] = fig.text(xc, y - xl_h / 2, xlab, transform=fig_trans, ha="center",
                                    va="center", fontsize=fontsize)
    y -= xl_h
    if handles:
        y -= 0.06
        leg = fig.legend([h for h, _ in handles], [s for _, s in handles], loc="upper left",
                         bbox_to_anchor=(_PAD, y), bbox_transform=fig_trans,
                         ncols=legend_cols, fontsize=fontsize, **st.LEGEND_KW)
        leg.set_gid("legend")
        y -= legend_h - 0.06  # 0.06 above the legend, 0.10 below
    for i, s in enumerate(foot_lines):
        texts[("footer", i)] = fig.text(_PAD, y - (i + 0.5) * small * 1.35 / 72.0, s,
                                        transform=fig_trans, ha="left", va="center",
                                        fontsize=small, color="#333333")
    if title_txt:
        texts[("title", 0)] = fig.text(_PAD, fig_h - _PAD, title_txt, transform=fig_trans,
                                       ha="left", va="top", fontsize=fontsize * 1.25,
                                       fontweight="bold")

    fig.forest_layout = ForestLayout(ax=ax, rows=rows, columns=cols, texts=texts,
                                     xlim=tuple(lims), scale=scale, clipped=clipped)
    return fig


def _groups(cols: list[Column]) -> dict[str, list[Column]]:
    out: dict[str, list[Column]] = {}
    for c in cols:
        if c.group:
            out.setdefault(c.group, []).append(c)
    return out


def _data_to_inch(ax: Axes, fig: Figure, xval: float | None, x0: float, x1: float) -> float:
    """Horizontal position (in) of a data x value in the graph panel."""
    if xval is None:
        return (x0 + x1) / 2
    lo, hi = ax.get_xlim()
    if ax.get_xscale() == "log":
        f = (math.log(xval) - math.log(lo)) / (math.log(hi) - math.log(lo))
    else:
        f = (xval - lo) / (hi - lo)
    return x0 + f * (x1 - x0)


def _legend_handles(b: _Builder) -> list[tuple[Any, str]]:
    lev = f"{100 * b.prob:g}%"
    out: list[tuple[Any, str]] = []
    if b.has_obs:
        out.append((Line2D([], [], color=st.CLASSICAL, marker="s", ms=6, lw=1.0),
                    f"Observed estimate [{lev} CI]"))
    if b.has_bayes:
        out.append((Line2D([], [], color=st.BAYES, marker="o", ms=3.5, lw=1.4),
                    f"Posterior \u03b8\u1d62 [{lev} CrI]"))
    kinds = {m.kind + ":" + m.color for r in b.rows for m in r.marks}
    if f"diamond:{st.CLASSICAL}" in kinds:
        out.append((Line2D([], [], color=st.CLASSICAL, marker="D", ms=7, ls="none"),
                    "Classical pooled [CI]"))
    if f"diamond:{st.BAYES}" in kinds:
        out.append((Line2D([], [], color=st.BAYES, marker="D", ms=7, ls="none"),
                    "Bayesian \u03bc [CrI]"))
    if f"bar:{st.CLASSICAL}" in kinds:
        out.append((Patch(facecolor=st.CLASSICAL_LIGHT, edgecolor=st.CLASSICAL, lw=0.8),
                    "Prediction interval"))
    if f"bar:{st.BAYES}" in kinds:
        out.append((Patch(facecolor=st.BAYES_LIGHT, edgecolor=st.BAYES, lw=0.8),
                    "Posterior predictive (new study)"))
    return out


def _x_range(b: _Builder, scale: st.Scale, xlim: Any, ref_line: Any) -> tuple[float, float]:
    """The graph's x range (displayed scale)."""
    if xlim is not None:
        lo, hi = (float(v) for v in xlim)
        if not lo < hi or (scale.log_axis and lo <= 0):
            raise BayesmaError(f"xlim must be increasing (and > 0 on a log axis), got {xlim}")
        return lo, hi
    g = np.log if scale.log_axis else (lambda v: np.asarray(v, dtype=float))
    pts, ivs = [], []
    for r in b.rows:
        for m in r.marks:
            if np.isfinite(m.est):
                pts.append(m.est)
            if np.isfinite(m.lo) and np.isfinite(m.hi):
                ivs += [m.lo, m.hi]
    with np.errstate(divide="ignore", invalid="ignore"):
        P = g(np.asarray([p for p in pts if not scale.log_axis or p > 0], dtype=float))
        Iv = g(np.asarray([p for p in ivs if not scale.log_axis or p > 0], dtype=float))
    P, Iv = P[np.isfinite(P)], Iv[np.isfinite(Iv)]
    if P.size == 0:
        return (0.5, 2.0) if scale.log_axis else (-1.0, 1.0)
    pmin, pmax = float(P.min()), float(P.max())
    widths = []
    for r in b.rows:
        for m in r.marks:
            if m.kind in ("ci", "post") and np.isfinite(m.lo) and np.isfinite(m.hi) and (
                    not scale.log_axis or m.lo > 0):
                widths.append(float(g(m.hi) - g(m.lo)))
    typical = float(np.median(widths)) if widths else (pmax - pmin or 1.0)
    span = 1.2 * max(pmax - pmin, typical, 1e-8)
    allow_lo, allow_hi = pmin - span, pmax + span
    nat_lo = float(Iv.min()) if Iv.size else pmin
    nat_hi = float(Iv.max()) if Iv.size else pmax
    lo, hi = max(nat_lo, allow_lo), min(nat_hi, allow_hi)
    lo, hi = min(lo, pmin), max(hi, pmax)
    ref = scale.null if ref_line == "auto" else ref_line
    if ref is not None and (not scale.log_axis or ref > 0):
        r0 = float(g(ref))
        lo, hi = min(lo, r0), max(hi, r0)
    if hi - lo < 1e-8:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.04 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    if scale.log_axis:
        return math.exp(lo), math.exp(hi)
    # end the axis at a tick when that costs little room
    t = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
    step = float(t[1] - t[0]) if len(t) > 1 else hi - lo
    below = [v for v in t if v <= lo]
    above = [v for v in t if v >= hi]
    if below and lo - below[-1] < 0.35 * step:
        lo = float(below[-1])
    if above and above[0] - hi < 0.35 * step:
        hi = float(above[0])
    return lo, hi


def _ticks(lims: tuple[float, float], log: bool) -> list[float]:
    lo, hi = lims
    if log:
        return st.nice_log_ticks(lo, hi)
    loc = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10])
    t = loc.tick_values(lo, hi)
    return [float(v) for v in t if lo - 1e-9 * (hi - lo) <= v <= hi + 1e-9 * (hi - lo)]


def _thin_ticks(ticks: list[float], lims: tuple[float, float], log: bool, width: float,
                meas: st.TextMeasure, keep: float) -> list[float]:
    """Drop ticks whose labels would touch (greedy outwards from the no-effect tick)."""
    if len(ticks) < 3:
        return ticks
    f = (lambda v: math.log(v)) if log else (lambda v: v)
    a, b = f(lims[0]), f(lims[1])
    pos = [(f(t) - a) / (b - a) * width for t in ticks]
    half = [meas.width(st.fmt_tick(t)) / 2 for t in ticks]
    start = min(range(len(ticks)), key=lambda i: abs(ticks[i] - keep))
    kept = {start}
    for direction in (1, -1):
        last = start
        i = start + direction
        while 0 <= i < len(ticks):
            if abs(pos[i] - pos[last]) >= half[i] + half[last] + 0.08:
                kept.add(i)
                last = i
            i += direction
    return [ticks[i] for i in sorted(kept)]


def _draw_mark(ax: Axes, m: Mark, r: Row, lims: tuple[float, float], ms_max: float,
               wmax: float, log: bool) -> list[tuple[str, str]]:
    """Draw one mark; intervals beyond the axis range end in an arrow head."""
    a, bnd = lims
    y = r.y + m.dy
    clipped: list[tuple[str, str]] = []
    gid = f"{m.kind}|{r.key}"
    if m.kind == "square":
        if not (np.isfinite(m.est) and a <= m.est <= bnd):
            return clipped
        ms = max(3.0, ms_max * math.sqrt(max(m.size, 0.0) / wmax)) if wmax > 0 else 4.0
        ax.plot([m.est], [y], marker="s", ms=ms, color=m.color, mec=m.color, ls="none",
                zorder=3, clip_on=False, gid=gid)
        return clipped
    if not (np.isfinite(m.lo) and np.isfinite(m.hi)):
        return clipped
    lo, hi = max(m.lo, a), min(m.hi, bnd)
    cut_lo, cut_hi = m.lo < a, m.hi > bnd
    if m.kind in ("ci", "post"):
        lw = 1.0 if m.kind == "ci" else 1.4
        if lo < hi:
            ax.plot([lo, hi], [y, y], color=m.color, lw=lw, solid_capstyle="butt",
                    zorder=2, clip_on=False, gid=gid)
        if m.kind == "post" and np.isfinite(m.est) and a <= m.est <= bnd:
            ax.plot([m.est], [y], marker="o", ms=3.5, color=m.color, ls="none", zorder=3,
                    clip_on=False, gid=gid + "|point")
    elif m.kind == "diamond":
        est = min(max(m.est, a), bnd)
        poly = Polygon([[lo, y], [est, y - m.size], [hi, y], [est, y + m.size]], closed=True,
                       facecolor=m.color, edgecolor=m.color, lw=0.8, zorder=3, clip_on=False,
                       gid=gid)
        ax.add_patch(poly)
    elif m.kind == "bar":
        h = 0.26
        rect = Rectangle((lo, y - h / 2), hi - lo, h, facecolor=m.fill, edgecolor=m.color,
                         lw=0.8, zorder=2, clip_on=False, gid=gid)
        ax.add_patch(rect)
    for cut, pos, path, side in ((cut_lo, a, _ARROW_LEFT, "low"), (cut_hi, bnd, _ARROW_RIGHT,
                                                                  "high")):
        if cut:
            ax.plot([pos], [y], marker=path, ms=7.0, color=m.color, ls="none", zorder=3,
                    clip_on=False, gid=f"arrow|{r.key}|{m.kind}|{side}")
            clipped.append((r.key, f"{m.kind}:{side}"))
    return clipped

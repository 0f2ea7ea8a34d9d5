"""Sensitivity plots: intervals by prior or by subset, and leave-one-out side by side.

:func:`sensitivity_plot`
    One row per prior (a :class:`~bayesma.sensitivity.priors.PriorSensitivity`) or per
    analysis (a :class:`~bayesma.sensitivity.subsets.SensitivitySubsets`), with the
    posterior median and credible interval of mu and of tau in two panels, the
    classical twin as a reference row (or beside each Bayesian interval for subsets),
    and the values in text columns on the right.
:func:`leave1out_plot`
    One row per omitted study: the classical leave-one-out estimate and CI
    (``bm.leave1out``) beside the Bayesian posterior median and CrI without that study
    (``bm.bayes_leave1out``), with the all-studies estimates as vertical lines; studies
    flagged by the cross-validated predictive check are marked.

The layout is computed in inches from text measured with the figure's renderer, so
labels and values never overlap or leave the figure; the figure grows with the number
of rows. The returned figure carries a :class:`SensitivityLayout` as
``fig.sensitivity_layout`` for inspection and tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator

from bayesma.errors import BayesmaError
from bayesma.plots import _style as st

__all__ = ["SensitivityLayout", "leave1out_plot", "sensitivity_plot"]

_PAD = 0.15  # figure margin (in)
_GAP = 0.22  # between text columns / label column and panel (in)
_PANEL_GAP = 0.35  # between panels (in)
#: Row height and offsets of rows with a classical and a Bayesian line (row units): the
#: two value lines are one text line apart.
_TWO_HEIGHT = 1.75
_TWO_DY = 0.32
_MARKERS = {"bayes": ("o", st.BAYES), "classical": ("s", st.CLASSICAL)}


# ====================================================================================
# layout records
# ====================================================================================
@dataclass
class Mark:
    """An interval with its point estimate, on the model scale, in one panel."""

    panel: int
    est: float
    lo: float
    hi: float
    engine: str  # "bayes" or "classical"
    dy: float = 0.0  # offset from the row centre, in row units


@dataclass
class Cell:
    """Text of a value column in one row (one line per piece)."""

    text: str
    color: str = st.CLASSICAL
    dy: float = 0.0


@dataclass
class PlotRow:
    """One row: its label, marks and value cells."""

    key: str
    label: str
    kind: str  # "bayes", "classical", "analysis", "study", "separator"
    marks: list[Mark] = field(default_factory=list)
    cells: dict[str, list[Cell]] = field(default_factory=dict)
    color: str = st.CLASSICAL
    weight: str = "normal"
    height: float = 1.0
    y: float = 0.0  # top of the row in row units


@dataclass
class Panel:
    """A graph panel: title, axis label, display scale and vertical reference lines."""

    title: str
    xlabel: str
    scale: st.Scale
    vlines: list[tuple[float, str, str]] = field(default_factory=list)  # (x, colour, style)
    null: float | None = None  # no-effect line (model scale)


@dataclass
class SensitivityLayout:
    """What a sensitivity plot drew (``fig.sensitivity_layout``).

    Attributes
    ----------
    rows : list of PlotRow
        All rows top to bottom (``separator`` rows included).
    panels : list of Panel
    axes : list of Axes
        One per panel.
    texts : dict
        ``(row key, column) -> Text`` for row labels (column ``"label"``) and values.
    columns : list of str
        Headers of the value columns.
    clipped : list of (row key, panel, side)
        Intervals that leave the panel's range (drawn to the edge with an arrow head).
    """

    rows: list[PlotRow]
    panels: list[Panel]
    axes: list[Axes]
    texts: dict[tuple[str, str], Text]
    columns: list[str]
    clipped: list[tuple[str, int, str]]

    @property
    def row_labels(self) -> list[str]:
        """Labels of the rows with content, top to bottom."""
        return [r.label for r in self.rows if r.kind != "separator"]


# ====================================================================================
# rendering
# ====================================================================================
def _ticks(lo: float, hi: float, log: bool, null: float | None = None) -> list[float]:
    """Tick positions inside [lo, hi]; on a log axis the no-effect value is always one
    (neighbours closer than 12% of the axis' log-span are dropped)."""
    if log:
        ticks = st.nice_log_ticks(lo, hi)
        if null is not None and lo < null < hi and null not in ticks:
            span = math.log(hi / lo)
            ticks = sorted([t for t in ticks if abs(math.log(t / null)) > 0.12 * span]
                           + [null])
        return ticks
    loc = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10])
    return [float(t) for t in loc.tick_values(lo, hi) if lo - 1e-12 <= t <= hi + 1e-12]


def _panel_range(marks: list[Mark], panel: Panel, xlim: Any) -> tuple[float, float]:
    """x range on the display scale: every interval and reference line, 6% margin."""
    if xlim is not None:
        return float(xlim[0]), float(xlim[1])
    vals = []
    for m in marks:
        vals += [v for v in (m.est, m.lo, m.hi) if np.isfinite(v)]
    vals += [x for x, _, _ in panel.vlines if np.isfinite(x)]
    if panel.null is not None:
        vals.append(panel.null)
    d = np.asarray(panel.scale(np.asarray(vals, dtype=float)), dtype=float)
    d = d[np.isfinite(d)]
    if panel.scale.log_axis:
        d = d[d > 0]
    if d.size == 0:
        return (0.5, 2.0) if panel.scale.log_axis else (-1.0, 1.0)
    lo, hi = float(d.min()), float(d.max())
    if panel.scale.log_axis:
        llo, lhi = math.log(lo), math.log(hi)
        span = max(lhi - llo, 0.05)
        return math.exp(llo - 0.06 * span), math.exp(lhi + 0.06 * span)
    span = max(hi - lo, 1e-6 * max(1.0, abs(hi)))
    return lo - 0.06 * span, hi + 0.06 * span


def _render(rows: list[PlotRow], panels: list[Panel], columns: list[str], *,
            title: str | None, legend: list[tuple[Any, str]], notes: list[str],
            fontsize: float, panel_width: float, max_label_width: float,
            xlims: Sequence[Any] | None, label_header: str) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(8, 6), dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    meas = st.TextMeasure(fig, fontsize)
    unit = fontsize * 2.0 / 72.0  # one row (in)
    line_h = fontsize * 1.22 / 72.0

    # ---- label column (wrapped), row heights ----------------------------------------
    for r in rows:
        if r.kind == "separator":
            continue
        wrapped = st.wrap_to_width(r.label, max_label_width, meas, weight=r.weight)
        r.label = wrapped
        n = wrapped.count("\n") + 1
        r.height = max(r.height, (n * line_h + 0.3 * unit) / unit)
    label_w = max([meas.width(r.label, weight=r.weight) for r in rows if r.kind != "separator"]
                  + [meas.width(label_header, weight="bold")])
    # ---- value columns ----------------------------------------------------------------
    col_w = []
    for c in columns:
        w = meas.width(c, weight="bold")
        for r in rows:
            for cell in r.cells.get(c, []):
                w = max(w, meas.width(cell.text))
        col_w.append(w)

    # ---- x ranges and ticks (measured: edge tick labels may overhang the panel) -------
    ranges, ticks = [], []
    for j, p in enumerate(panels):
        marks = [m for r in rows for m in r.marks if m.panel == j]
        rng = _panel_range(marks, p, None if xlims is None else xlims[j])
        ranges.append(rng)
        null = float(p.scale(p.null)) if p.null is not None else None
        ticks.append(_ticks(rng[0], rng[1], p.scale.log_axis, null))
    tick_text = [[st.fmt_tick(t) for t in tk] for tk in ticks]
    overhang = max([meas.width(s) / 2 for tt in tick_text for s in tt] + [0.0])

    # ---- horizontal layout (in) --------------------------------------------------------
    # a panel is at least as wide as its title and axis label
    widths = [max(panel_width, meas.width(p.title, weight="bold") + 0.1,
                  meas.width(p.xlabel) + 0.1) for p in panels]
    x = _PAD
    label_x0 = x
    x += label_w + _GAP
    panel_x = []
    for j in range(len(panels)):
        panel_x.append(x)
        x += widths[j] + (_PANEL_GAP + overhang if j < len(panels) - 1 else 0.0)
    x += max(_GAP, overhang + 0.05)
    col_x = []
    for w in col_w:
        col_x.append(x)
        x += w + _GAP
    fig_w = (x - _GAP if columns else x) + _PAD

    # ---- vertical layout (in, from the top) --------------------------------------------
    y_units = 0.0
    for r in rows:
        r.y = y_units
        y_units += r.height
    title_h = (fontsize * 1.25 * 1.4 / 72.0 + 0.1) if title else 0.0
    head_h = line_h * (max([c.count("\n") + 1 for c in columns] + [1]) + 0.5)
    for p in panels:
        head_h = max(head_h, line_h * (p.title.count("\n") + 1.5))
    table_top = _PAD + title_h + head_h
    table_h = y_units * unit
    axis_h = line_h * 1.3 + line_h * 1.5  # tick labels + axis label
    legend_w = fig_w - 2 * _PAD
    ncol, _, leg_h = st.fit_legend(fig, [h for h, _ in legend], [lab for _, lab in legend],
                                   legend_w, fontsize)
    wrapped_notes = [st.wrap_to_width(n, legend_w, meas, fontsize=fontsize * 0.9)
                     for n in notes]
    notes_h = sum((w.count("\n") + 1) * fontsize * 0.9 * 1.3 / 72.0 for w in wrapped_notes)
    fig_h = table_top + table_h + axis_h + (0.12 + leg_h if legend else 0.0) + \
        (0.1 + notes_h if notes else 0.0) + _PAD
    fig.set_size_inches(fig_w, fig_h)

    def fx(xin: float) -> float:
        return xin / fig_w

    def fy(yin: float) -> float:  # inches from the top -> figure fraction
        return 1.0 - yin / fig_h

    texts: dict[tuple[str, str], Text] = {}
    if title:
        texts[("title", "title")] = fig.text(fx(_PAD), fy(_PAD), title, ha="left", va="top",
                                             fontsize=fontsize * 1.25, fontweight="bold")
    head_y = fy(table_top - 0.25 * line_h)
    texts[("header", "label")] = fig.text(fx(label_x0), head_y, label_header, ha="left",
                                          va="bottom", fontsize=fontsize, fontweight="bold")
    for c, cx in zip(columns, col_x, strict=True):
        texts[("header", c)] = fig.text(fx(cx), head_y, c, ha="left", va="bottom",
                                        fontsize=fontsize, fontweight="bold")
    for r in rows:
        if r.kind == "separator":
            continue
        yc = table_top + (r.y + r.height / 2) * unit
        texts[(r.key, "label")] = fig.text(fx(label_x0), fy(yc), r.label, ha="left",
                                           va="center", fontsize=fontsize, color=r.color,
                                           fontweight=r.weight)
        for c, cx in zip(columns, col_x, strict=True):
            for i, cell in enumerate(r.cells.get(c, [])):
                t = fig.text(fx(cx), fy(yc + cell.dy * unit), cell.text, ha="left",
                             va="center", fontsize=fontsize, color=cell.color)
                texts[(r.key, c if i == 0 else f"{c}#{i}")] = t

    # ---- panels --------------------------------------------------------------------------
    axes: list[Axes] = []
    clipped: list[tuple[str, int, str]] = []
    for j, p in enumerate(panels):
        ax = fig.add_axes((fx(panel_x[j]), fy(table_top + table_h), widths[j] / fig_w,
                           table_h / fig_h))
        axes.append(ax)
        lo, hi = ranges[j]
        if p.scale.log_axis:
            ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(y_units, 0.0)
        ax.yaxis.set_major_locator(NullLocator())
        ax.xaxis.set_major_locator(FixedLocator(ticks[j]))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels(tick_text[j], fontsize=fontsize)
        ax.set_xlabel(p.xlabel, fontsize=fontsize)
        ax.set_title(p.title, fontsize=fontsize, fontweight="bold", loc="center",
                     pad=0.25 * fontsize)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        ax.tick_params(axis="x", labelsize=fontsize, length=3)
        if p.null is not None:
            nv = float(p.scale(p.null))
            if lo < nv < hi:
                ax.axvline(nv, color=st.REF, lw=0.8, zorder=0.5)
        for xv, color, style in p.vlines:
            dv = float(p.scale(xv))
            if np.isfinite(dv) and lo < dv < hi:
                ax.axvline(dv, color=color, lw=0.9, ls=style, zorder=0.6, alpha=0.8)
        for r in rows:
            if r.kind == "separator":
                ax.axhline(r.y + r.height / 2, color=st.REF, lw=0.5, zorder=0.4)
                continue
            for m in r.marks:
                if m.panel != j:
                    continue
                clipped += _draw_mark(ax, m, r, p.scale, (lo, hi), fontsize)

    # ---- legend and notes -----------------------------------------------------------------
    y = table_top + table_h + axis_h
    if legend:
        y += 0.12
        fig.legend([h for h, _ in legend], [lab for _, lab in legend], ncols=ncol,
                   fontsize=fontsize, loc="upper center", bbox_to_anchor=(0.5, fy(y)),
                   **st.LEGEND_KW)
        y += leg_h
    if notes:
        y += 0.1
        for i, w in enumerate(wrapped_notes):
            texts[("note", str(i))] = fig.text(fx(_PAD), fy(y), w, ha="left", va="top",
                                               fontsize=fontsize * 0.9, color="#404040")
            y += (w.count("\n") + 1) * fontsize * 0.9 * 1.3 / 72.0
    fig.sensitivity_layout = SensitivityLayout(rows=rows, panels=panels, axes=axes,
                                               texts=texts, columns=list(columns),
                                               clipped=clipped)
    return fig


def _draw_mark(ax: Axes, m: Mark, r: PlotRow, scale: st.Scale, lims: tuple[float, float],
               fontsize: float) -> list[tuple[str, int, str]]:
    marker, color = _MARKERS[m.engine]
    yc = r.y + r.height / 2 + m.dy
    est, lo, hi = (float(scale(v)) if np.isfinite(v) else v for v in (m.est, m.lo, m.hi))
    clipped = []
    if np.isfinite(lo) and np.isfinite(hi):
        a, b = max(lo, lims[0]), min(hi, lims[1])
        if b > a:
            ax.plot([a, b], [yc, yc], color=color, lw=1.3, solid_capstyle="butt", zorder=2,
                    gid=f"ci|{r.key}|{m.engine}")
        for side, val, edge, mk in (("low", lo, lims[0], "<"), ("high", hi, lims[1], ">")):
            if (side == "low" and val < edge) or (side == "high" and val > edge):
                ax.plot([edge], [yc], marker=mk, color=color, ms=fontsize * 0.5, zorder=3,
                        clip_on=False)
                clipped.append((r.key, m.panel, side))
    if np.isfinite(est) and lims[0] <= est <= lims[1]:
        ax.plot([est], [yc], marker=marker, color=color, ms=fontsize * 0.55,
                markeredgecolor="white" if m.engine == "bayes" else color, mew=0.6, zorder=3,
                gid=f"est|{r.key}|{m.engine}")
    return clipped


def _handle(engine: str) -> Line2D:
    marker, color = _MARKERS[engine]
    return Line2D([], [], color=color, marker=marker, lw=1.3, ms=6,
                  markeredgecolor="white" if engine == "bayes" else color)


def _line_handle(color: str, style: str) -> Line2D:
    return Line2D([], [], color=color, lw=0.9, ls=style)


def _mu_panel(measure: str | None, transform: Any, prob: float, what: str) -> Panel:
    scale = st.resolve_scale(measure, transform)
    name = f"{scale.short} = exp(mu)" if scale.log_axis else "mu"
    return Panel(title=f"{name} ({what})", xlabel=scale.long, scale=scale, null=0.0)


def _tau_panel(measure: str | None) -> Panel:
    code = (measure or "").upper()
    unit = f" (log {code} scale)" if code in st.RATIO_MEASURES else ""
    ident = st.Scale(lambda x: x, False, "tau", "tau", 0.0)
    return Panel(title="tau (heterogeneity)", xlabel=f"Between-study SD tau{unit}",
                 scale=ident)


def _short(panel: Panel, param: str) -> str:
    """Column header of a parameter: ``mu``, ``tau``, or the measure when transformed."""
    transformed = panel.scale.log_axis or abs(float(panel.scale(0.3)) - 0.3) > 1e-12
    if param == "mu" and transformed:
        return panel.scale.short
    return param


def _ci_text(scale: st.Scale, est: float, lo: float, hi: float, digits: int) -> str:
    return st.fmt_ci(scale(est), scale(lo), scale(hi), digits)


# ====================================================================================
# sensitivity_plot
# ====================================================================================
def _is_prior_sensitivity(obj: Any) -> bool:
    return hasattr(obj, "tau_priors") and hasattr(obj, "mu_priors") and hasattr(obj, "table")


def _is_subsets(obj: Any) -> bool:
    return hasattr(obj, "excluded") and hasattr(obj, "rules") and hasattr(obj, "table")


def sensitivity_plot(
    result: Any,
    *,
    params: Sequence[str] = ("mu", "tau"),
    transform: Any = None,
    reference: bool = True,
    show_values: bool = True,
    title: str | None = None,
    digits: int = 2,
    fontsize: float = st.FONTSIZE,
    panel_width: float = 2.6,
    max_label_width: float = 3.2,
    xlim: Sequence[Any] | None = None,
    save: str | Path | None = None,
) -> Figure:
    """Intervals of mu and tau by prior (prior sensitivity) or by subset.

    Parameters
    ----------
    result : PriorSensitivity or SensitivitySubsets
        From :func:`bayesma.prior_sensitivity` (one row per prior combination, the
        classical twin as the last row) or :func:`bayesma.sensitivity_subsets` (one row
        per analysis, classical and Bayesian intervals in each).
    params : sequence of {"mu", "tau"}
        The panels, in order.
    transform : None, False, "exp" or callable
        Display scale of mu (``None`` back-transforms ratio measures onto a log axis;
        tau always stays on the model scale).
    reference : bool
        Draw the classical twin (reference row, vertical line at its estimate).
    show_values : bool
        Value columns (median [interval]) on the right.
    title : str, optional
        Title above the figure.
    digits : int
        Decimals of the values.
    fontsize : float
        Font size in points.
    panel_width : float
        Width of each panel in inches.
    max_label_width : float
        Longer row labels wrap (in inches).
    xlim : sequence of (lo, hi) or None, optional
        x range per panel on the displayed scale (None entries: automatic).
    save : str or Path, optional
        Also write the figure there (PNG, SVG or PDF by extension).

    Returns
    -------
    matplotlib.figure.Figure
        With ``fig.sensitivity_layout`` (:class:`SensitivityLayout`).
    """
    params = [params] if isinstance(params, str) else list(params)
    bad = [p for p in params if p not in ("mu", "tau")]
    if bad or not params:
        raise BayesmaError(f"params must be a non-empty selection of 'mu' and 'tau', got "
                           f"{params!r}")
    if _is_prior_sensitivity(result):
        rows, panels, columns, legend, notes, header = _prior_rows(
            result, params, transform, reference, show_values, digits)
        default_title = f"Prior sensitivity ({result.engine} engine, k = {result.k})"
    elif _is_subsets(result):
        rows, panels, columns, legend, notes, header = _subset_rows(
            result, params, transform, reference, show_values, digits)
        default_title = "Sensitivity analyses: subsets of studies"
    else:
        raise BayesmaError(
            "sensitivity_plot needs the result of bm.prior_sensitivity() or "
            f"bm.sensitivity_subsets(), got {type(result).__name__}")
    if xlim is not None and len(xlim) != len(panels):
        raise BayesmaError(f"xlim needs one entry per panel ({len(panels)})")
    fig = _render(rows, panels, columns, title=default_title if title is None else title,
                  legend=legend, notes=notes, fontsize=fontsize, panel_width=panel_width,
                  max_label_width=max_label_width, xlims=xlim, label_header=header)
    st.save_figure(fig, save)
    return fig


def _prior_rows(res: Any, params: list[str], transform: Any, reference: bool,
                show_values: bool, digits: int):
    t = res.table
    pct = f"{100 * res.level:g}%"
    panels = [(_mu_panel(res.measure, transform, res.level, "pooled effect") if p == "mu"
               else _tau_panel(res.measure)) for p in params]
    one_mu = len(res.mu_priors) == 1
    columns = []
    if show_values:
        columns = [f"{_short(panels[j], p)} [{pct} CrI]" for j, p in enumerate(params)]
    rows: list[PlotRow] = []
    bayes = t[t["kind"] == "bayes"]
    for i, (_, r) in enumerate(bayes.iterrows()):
        label = r["tau_prior"] if one_mu else f"tau ~ {r['tau_prior']}; mu ~ {r['mu_prior']}"
        row = PlotRow(key=f"prior{i}", label=label, kind="bayes")
        for j, p in enumerate(params):
            row.marks.append(Mark(j, r[f"{p}_median"], r[f"{p}_low"], r[f"{p}_high"], "bayes"))
            if show_values:
                row.cells[columns[j]] = [Cell(_ci_text(panels[j].scale, r[f"{p}_median"],
                                                       r[f"{p}_low"], r[f"{p}_high"], digits),
                                              st.BAYES)]
        rows.append(row)
    legend: list[tuple[Any, str]] = [(_handle("bayes"), f"Posterior median, {pct} CrI")]
    cl = t[t["kind"] == "classical"]
    if reference and len(cl):
        r = cl.iloc[0]
        rows.append(PlotRow(key="sep", label="", kind="separator", height=0.5))
        name = str(r["tau_prior"]).removeprefix("classical ")
        row = PlotRow(key="classical", label=f"Classical: {name}", kind="classical",
                      weight="bold")
        for j, p in enumerate(params):
            row.marks.append(Mark(j, r[f"{p}_median"], r[f"{p}_low"], r[f"{p}_high"],
                                  "classical"))
            panels[j].vlines.append((float(r[f"{p}_median"]), st.CLASSICAL, ":"))
            if show_values:
                row.cells[columns[j]] = [Cell(_ci_text(panels[j].scale, r[f"{p}_median"],
                                                       r[f"{p}_low"], r[f"{p}_high"], digits))]
        rows.append(row)
        legend.append((_handle("classical"), f"Classical estimate, {pct} CI "
                                             "(tau: Q-profile)"))
        legend.append((_line_handle(st.CLASSICAL, ":"), "Classical estimate"))
    header = "tau prior" if one_mu else "Priors"
    notes = []
    if one_mu:
        notes.append(f"mu ~ {next(iter(res.mu_priors))}.")
    notes += list(res.notes)
    return rows, panels, columns, legend, notes, header


def _subset_rows(res: Any, params: list[str], transform: Any, reference: bool,
                 show_values: bool, digits: int):
    t = res.table
    pct = f"{100 * res.level:g}%"
    panels = [(_mu_panel(res.measure, transform, res.level, "pooled effect") if p == "mu"
               else _tau_panel(res.measure)) for p in params]
    pcol = {"mu": ("estimate", "low", "high"), "tau": ("tau", "tau_low", "tau_high")}
    columns = ([f"{_short(panels[j], p)} [{pct} interval]" for j, p in enumerate(params)]
               if show_values else [])
    engines = ["classical", "bayes"] if reference else ["bayes"]
    dys = {"classical": -_TWO_DY, "bayes": _TWO_DY} if reference else {"bayes": 0.0}
    rows: list[PlotRow] = []
    for i, a in enumerate(res.analyses):
        k = int(t.loc[(a, "bayes"), "k"])
        row = PlotRow(key=f"analysis{i}", label=f"{a} (k = {k})", kind="analysis",
                      weight="bold" if i == 0 else "normal",
                      height=_TWO_HEIGHT if reference else 1.0)
        for j, p in enumerate(params):
            c_est, c_lo, c_hi = pcol[p]
            for e in engines:
                if (a, e) not in t.index:
                    continue
                r = t.loc[(a, e)]
                row.marks.append(Mark(j, r[c_est], r[c_lo], r[c_hi], e, dys[e]))
                if show_values:
                    row.cells.setdefault(columns[j], []).append(Cell(
                        _ci_text(panels[j].scale, r[c_est], r[c_lo], r[c_hi], digits),
                        _MARKERS[e][1], dys[e]))
        rows.append(row)
        if i == 0:
            for j, p in enumerate(params):
                for e in engines:
                    panels[j].vlines.append((float(t.loc[(a, e), pcol[p][0]]), _MARKERS[e][1],
                                             ":"))
            if len(res.analyses) > 1:
                rows.append(PlotRow(key="sep", label="", kind="separator", height=0.5))
    legend = [(_handle("bayes"), f"Bayesian: posterior median, {pct} CrI")]
    if reference:
        legend.insert(0, (_handle("classical"), f"Classical {res.method} ({res.test}), "
                                                f"{pct} CI (tau: Q-profile)"))
    legend.append((_line_handle(st.REF, ":"), "All studies"))
    notes = [f"Bayesian priors: mu ~ {res.priors['mu'].describe()}, tau ~ "
             f"{res.priors['tau'].describe()}."]
    notes += [f"{a}: {res.rules[a]}." for a in res.analyses[1:]]
    notes += list(res.notes)
    return rows, panels, columns, legend, notes, "Analysis"


# ====================================================================================
# leave1out_plot
# ====================================================================================
def leave1out_plot(
    res_or_data: Any,
    *,
    yi: str = "yi",
    vi: str = "vi",
    mu_prior: Any = None,
    tau_prior: Any = None,
    measure: str | None = None,
    params: Sequence[str] = ("mu", "tau"),
    classical: bool = True,
    transform: Any = None,
    show_values: bool = True,
    mark_flagged: bool = True,
    title: str | None = None,
    digits: int = 2,
    fontsize: float = st.FONTSIZE,
    panel_width: float = 2.6,
    max_label_width: float = 2.6,
    xlim: Sequence[Any] | None = None,
    save: str | Path | None = None,
    **loo_kwargs: Any,
) -> Figure:
    """Classical and Bayesian leave-one-out side by side.

    Parameters
    ----------
    res_or_data : BayesLeave1Out, DataFrame, ExactPosterior or RMAResult
        A :func:`bayesma.bayes_leave1out` result, or what it is computed from: a study
        table (with ``yi``, ``vi``, ``mu_prior``, ``tau_prior``, ``measure``), an exact
        posterior (its priors), or a classical fit (its studies, estimator and test;
        priors as given or the defaults).
    yi, vi : str
        Columns of a study table.
    mu_prior, tau_prior : Prior, optional
        Priors of the Bayesian leave-one-out (when it is computed here).
    measure : str, optional
        Effect measure (display scale).
    params : sequence of {"mu", "tau"}
        Panels: mu (estimate without each study) and tau.
    classical : bool
        Draw the classical leave-one-out beside the Bayesian one.
    transform : None, False, "exp" or callable
        Display scale of mu (``None`` back-transforms ratio measures onto a log axis).
    show_values : bool
        Value columns for mu (classical and Bayesian) on the right.
    mark_flagged : bool
        Mark (†, orange label) the studies whose cross-validated predictive p-value is
        below the result's alpha.
    title : str, optional
        Title (default "Leave-one-out analysis").
    digits, fontsize, panel_width, max_label_width, xlim, save
        As :func:`sensitivity_plot`.
    **loo_kwargs
        Further arguments of :func:`bayesma.bayes_leave1out` (``level``, ``alpha``,
        ``slab``...).

    Returns
    -------
    matplotlib.figure.Figure
        With ``fig.sensitivity_layout`` (:class:`SensitivityLayout`); rows in study order.
    """
    from bayesma.sensitivity.loo import bayes_leave1out

    params = [params] if isinstance(params, str) else list(params)
    if not params or any(p not in ("mu", "tau") for p in params):
        raise BayesmaError(f"params must be a non-empty selection of 'mu' and 'tau', got "
                           f"{params!r}")
    loo = res_or_data
    if not (hasattr(loo, "fits") and hasattr(loo, "full") and hasattr(loo, "alpha")):
        if hasattr(loo, "vcov") and hasattr(loo, "tau2") and hasattr(loo, "yi"):
            import pandas as pd

            rma_res = loo
            df = pd.DataFrame({"yi": np.asarray(rma_res.yi, float),
                               "vi": np.asarray(rma_res.vi, float),
                               "study": list(rma_res.labels)})
            loo_kwargs.setdefault("classical", rma_res.method)
            loo_kwargs.setdefault("classical_test", rma_res.test)
            loo_kwargs.setdefault("level", rma_res.level)
            loo = bayes_leave1out(df, "yi", "vi", mu_prior=mu_prior, tau_prior=tau_prior,
                                  measure=measure or rma_res.measure, slab="study",
                                  **loo_kwargs)
        else:
            loo = bayes_leave1out(res_or_data, yi, vi, mu_prior=mu_prior, tau_prior=tau_prior,
                                  measure=measure, **loo_kwargs)
    meas = measure or loo.measure
    pct = f"{100 * loo.level:g}%"
    panels = [(_mu_panel(meas, transform, loo.level, "without the study") if p == "mu"
               else _tau_panel(meas)) for p in params]
    t = loo.table
    cl = loo.classical if classical else None
    use_cl = cl is not None
    dys = {"classical": -0.2, "bayes": 0.2} if use_cl else {"bayes": 0.0}
    columns = []
    if show_values and "mu" in params:
        columns = ([f"Classical [{pct} CI]"] if use_cl else []) + [f"Bayesian [{pct} CrI]"]
    mu_j = params.index("mu") if "mu" in params else None
    rows: list[PlotRow] = []
    flagged = set(loo.flagged) if mark_flagged else set()
    for i, (lab, r) in enumerate(t.iterrows()):
        fl = lab in flagged
        row = PlotRow(key=f"study{i}", label=f"{lab} \u2020" if fl else str(lab), kind="study",
                      color=st.ACCENT if fl else st.CLASSICAL,
                      height=1.25 if use_cl else 1.0)
        for j, p in enumerate(params):
            row.marks.append(Mark(j, r[f"{p}_median"], r[f"{p}_low"], r[f"{p}_high"], "bayes",
                                  dys["bayes"]))
            if use_cl and lab in cl.index:
                c = cl.loc[lab]
                if p == "mu":
                    row.marks.append(Mark(j, c["estimate"], c["ci_low"], c["ci_high"],
                                          "classical", dys["classical"]))
                else:
                    tau_c = math.sqrt(c["tau2"]) if np.isfinite(c["tau2"]) else math.nan
                    row.marks.append(Mark(j, tau_c, math.nan, math.nan, "classical",
                                          dys["classical"]))
        if columns and mu_j is not None:
            sc = panels[mu_j].scale
            if use_cl and lab in cl.index:
                c = cl.loc[lab]
                row.cells[columns[0]] = [Cell(_ci_text(sc, c["estimate"], c["ci_low"],
                                                       c["ci_high"], digits), st.CLASSICAL)]
            row.cells[columns[-1]] = [Cell(_ci_text(sc, r["mu_median"], r["mu_low"],
                                                    r["mu_high"], digits), st.BAYES)]
        rows.append(row)
    # all-studies reference lines
    full = loo.full
    for j, p in enumerate(params):
        panels[j].vlines.append((float(full.median(p)), st.BAYES, "--"))
        if use_cl and loo.classical_fit is not None:
            ref = loo.classical_fit.estimate if p == "mu" else loo.classical_fit.tau
            panels[j].vlines.append((float(ref), st.CLASSICAL, ":"))
    legend: list[tuple[Any, str]] = []
    if use_cl:
        res = loo.classical_fit
        legend.append((_handle("classical"), f"Classical {res.method} ({res.test}), "
                                             f"{pct} CI (tau: estimate)"))
    legend.append((_handle("bayes"), f"Bayesian: posterior median, {pct} CrI"))
    if use_cl:
        legend.append((_line_handle(st.CLASSICAL, ":"), "Classical, all studies"))
    legend.append((_line_handle(st.BAYES, "--"), "Bayesian, all studies"))
    notes = [f"Bayesian priors: mu ~ {loo.priors['mu'].describe()}, tau ~ "
             f"{loo.priors['tau'].describe()}."]
    if flagged:
        notes.append(f"\u2020 Not predicted by the other studies: cross-validated posterior "
                     f"predictive p < {loo.alpha:g} (about {loo.alpha * loo.k:.1f} such flags "
                     f"are expected by chance among {loo.k} studies).")
    if xlim is not None and len(xlim) != len(panels):
        raise BayesmaError(f"xlim needs one entry per panel ({len(panels)})")
    fig = _render(rows, panels, columns,
                  title="Leave-one-out analysis" if title is None else title, legend=legend,
                  notes=notes, fontsize=fontsize, panel_width=panel_width,
                  max_label_width=max_label_width, xlims=xlim, label_header="Study omitted")
    st.save_figure(fig, save)
    return fig

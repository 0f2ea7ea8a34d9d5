"""Interval panels with a text table: the layout shared by the sensitivity plots.

Rows (one per prior, subset or omitted study) with their label, point estimates and
intervals in one or more panels (mu, tau) and value columns on the right. The layout is
computed in inches from text measured with the figure's renderer, so labels and values
never overlap or leave the figure; the figure grows with the number of rows. The figure
carries a :class:`SensitivityLayout` as ``fig.sensitivity_layout``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator

from bayesma.formatting import fmt_est_ci
from bayesma.measures import is_log_scale
from bayesma.plots import _style as st

__all__ = ["Cell", "Mark", "Panel", "PlotRow", "SensitivityLayout", "MARKERS", "TWO_DY",
           "TWO_HEIGHT", "ci_text", "engine_handle", "line_handle", "mu_panel",
           "param_header", "render_intervals", "tau_panel"]

_PAD = 0.15  # figure margin (in)
_GAP = 0.22  # between text columns / label column and panel (in)
_PANEL_GAP = 0.35  # between panels (in)
#: Row height and offsets of rows with a classical and a Bayesian line (row units): the
#: two value lines are one text line apart.
TWO_HEIGHT = 1.75
TWO_DY = 0.32
MARKERS = {"bayes": ("o", st.BAYES), "classical": ("s", st.CLASSICAL)}


# layout records
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


def render_intervals(rows: list[PlotRow], panels: list[Panel], columns: list[str], *,
            title: str | None, legend: list[tuple[Any, str]], notes: list[str],
            fontsize: float, panel_width: float, max_label_width: float,
            xlims: Sequence[Any] | None, label_header: str) -> Figure:
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
    marker, color = MARKERS[m.engine]
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


def engine_handle(engine: str) -> Line2D:
    marker, color = MARKERS[engine]
    return Line2D([], [], color=color, marker=marker, lw=1.3, ms=6,
                  markeredgecolor="white" if engine == "bayes" else color)


def line_handle(color: str, style: str) -> Line2D:
    return Line2D([], [], color=color, lw=0.9, ls=style)


def mu_panel(measure: str | None, transform: Any, prob: float, what: str) -> Panel:
    scale = st.resolve_scale(measure, transform)
    name = f"{scale.short} = exp(mu)" if scale.log_axis else "mu"
    return Panel(title=f"{name} ({what})", xlabel=scale.long, scale=scale, null=0.0)


def tau_panel(measure: str | None) -> Panel:
    code = (measure or "").upper()
    unit = f" (log {code} scale)" if is_log_scale(measure) else ""
    ident = st.Scale(lambda x: x, False, "tau", "tau", 0.0)
    return Panel(title="tau (heterogeneity)", xlabel=f"Between-study SD tau{unit}",
                 scale=ident)


def param_header(panel: Panel, param: str) -> str:
    """Column header of a parameter: ``mu``, ``tau``, or the measure when transformed."""
    transformed = panel.scale.log_axis or abs(float(panel.scale(0.3)) - 0.3) > 1e-12
    if param == "mu" and transformed:
        return panel.scale.short
    return param


def ci_text(scale: st.Scale, est: float, lo: float, hi: float, digits: int) -> str:
    return fmt_est_ci(scale(est), scale(lo), scale(hi), digits)

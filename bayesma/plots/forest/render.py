"""Drawing a forest plot: layout in inches, text measured with the renderer, marks.

:func:`render` takes the rows and columns of a
:class:`~bayesma.plots.forest.rows.RowBuilder` and draws them: column widths come from
the measured texts, long labels wrap (their row grows), the figure height follows the
rows, and intervals that leave the axis range end in an arrow head at the axis limit.
The returned figure carries a :class:`ForestLayout` as ``fig.forest_layout``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, NullLocator
from matplotlib.transforms import blended_transform_factory

from bayesma.plots import _style as st
from bayesma.plots.forest.axis import axis_ticks, thin_ticks, x_range
from bayesma.plots.forest.columns import Column
from bayesma.plots.forest.rows import Mark, Row, RowBuilder

__all__ = ["ForestLayout", "render"]

# arrow heads with the base at the origin, pointing outwards past the axis limit
# (matplotlib keeps the origin of path markers)
_ARROW_RIGHT = MplPath([(0.0, 0.6), (1.0, 0.0), (0.0, -0.6), (0.0, 0.6)],
                       [MplPath.MOVETO, MplPath.LINETO, MplPath.LINETO, MplPath.CLOSEPOLY])
_ARROW_LEFT = MplPath([(0.0, 0.6), (-1.0, 0.0), (0.0, -0.6), (0.0, 0.6)],
                      [MplPath.MOVETO, MplPath.LINETO, MplPath.LINETO, MplPath.CLOSEPOLY])


@dataclass
class ForestLayout:
    """What :func:`~bayesma.plots.forest_plot` drew (``fig.forest_layout``).

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


_PAD = 0.14  # outer margin (in)
_GAP = 0.16  # gap between text columns (in)
_PLOT_GAP = 0.18  # gap between the text columns and the graph (in)


def render(b: RowBuilder, *, scale: st.Scale, labels: tuple[str, str] | None,
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
    lims = x_range(b, scale, xlim, ref_line)
    if scale.log_axis:
        ax.set_xscale("log")
    ax.set_xlim(*lims)
    ticks = thin_ticks(axis_ticks(lims, scale.log_axis), lims, scale.log_axis, plot_width,
                       meas, scale.null)
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
            bbox = font.pop("bbox", None)  # risk-of-bias dots (forest/rob_columns.py)
            t = ax.text(xa, r.y + r.text_dy.get(key, 0.5), s, transform=blend, ha=ha,
                        va="center", fontsize=fontsize, color=color, clip_on=False, bbox=bbox,
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
        color = b.pooled_color
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


def _legend_handles(b: RowBuilder) -> list[tuple[Any, str]]:
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

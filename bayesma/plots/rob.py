"""Risk-of-bias figures as robvis draws them: the traffic-light plot and the summary bar plot.

:func:`rob_plot` takes a table with one row per study and one column of judgement words
per domain (plus an overall judgement) and draws either robvis's ``rob_traffic_light``
(a coloured circle with a symbol per study and domain, the domain key and the legend of
judgements underneath) or ``rob_summary`` (per domain, the proportion of studies, or of
the studies' weights, with each judgement, as a stacked horizontal bar). Domain names,
judgement levels, colours and symbols come from :mod:`bayesma.plots.rob_tools`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, Patch, Rectangle

from bayesma.data import describe_rows
from bayesma.errors import BayesmaError, DataError
from bayesma.plots import _style as st
from bayesma.plots.rob_tools import RobTool, get_tool, level_colours, parse_judgements

__all__ = ["RobLayout", "RobTable", "rob_plot", "rob_table"]

_STRIP = "#a9a9a9"  # robvis rob_tf_theme strip.background
_OVERALL_BG = "#d3d3d3"  # robvis rob_tf_theme: background of the overall column
_BORDER = "#bebebe"  # robvis panel.border "grey"


@dataclass
class RobTable:
    """Judgements read and checked: robvis codes per study (rows) and domain (columns)."""

    tool: RobTool
    studies: list[str]
    codes: list[str]  # domain short codes ("D1", ...), then "Overall" when present
    names: list[str]  # full domain names (summary plot and caption)
    columns: list[str]  # the data columns behind them
    judgements: list[list[str]]  # [study][domain] robvis codes
    has_overall: bool
    weights: np.ndarray


@dataclass
class RobLayout:
    """What :func:`rob_plot` drew (``fig.rob_layout``), for inspection and tests."""

    kind: str
    table: RobTable
    legend: list[str]
    caption: list[str] = field(default_factory=list)
    proportions: pd.DataFrame | None = None


def _find(d: pd.DataFrame, name: str) -> str | None:
    if name in d.columns:
        return name
    low = {str(c).lower(): c for c in d.columns}
    return low.get(str(name).lower())


def rob_table(data: pd.DataFrame, *, tool: str = "rob2", study: str = "study",
              domains: Sequence[str] | None = None, overall: str | None = "overall",
              weights: str | Sequence[float] | None = None) -> RobTable:
    """Read and check the judgements of a risk-of-bias table (see :func:`rob_plot`).

    Raises
    ------
    DataError
        A missing column, a wrong number of domain columns for the tool, an unknown
        judgement word (naming column and row) or bad weights.
    """
    if not isinstance(data, pd.DataFrame):
        raise BayesmaError(f"rob_plot needs a DataFrame; got {type(data).__name__}")
    rt = get_tool(tool)
    scol = _find(data, study)
    if scol is None:
        raise DataError(f"study column {study!r} is not in the data; available: "
                        f"{', '.join(map(str, data.columns))}", column=study)
    ocol = None
    if overall:
        ocol = _find(data, overall)
        if ocol is None:
            raise DataError(f"overall column {overall!r} is not in the data; pass "
                            "overall=None for a table without an overall judgement",
                            column=overall)
    wcol = weights if isinstance(weights, str) else None
    if wcol is not None and wcol not in data.columns:
        raise DataError(f"weights column {wcol!r} is not in the data", column=wcol)
    if domains is None:
        domains = _default_domains(data, rt, exclude={scol, ocol, wcol})
    domains = list(domains)
    missing = [c for c in domains if c not in data.columns]
    if missing:
        raise DataError(f"domain column {missing[0]!r} is not in the data", column=missing[0])
    if not domains:
        raise DataError("no domain columns: pass domains=[...]")
    if rt.domains and len(domains) != len(rt.domains):
        raise DataError(f"{rt.name} has {len(rt.domains)} domains "
                        f"({', '.join(c for c, _ in rt.domains)}); got {len(domains)} domain "
                        f"columns {domains}; pass domains=[...] or tool='generic'")
    if rt.domains:
        codes = [c for c, _ in rt.domains]
        names = [n for _, n in rt.domains]
    else:
        codes = [f"D{i + 1}" for i in range(len(domains))]
        names = [str(c) for c in domains]
    cols = list(domains) + ([ocol] if ocol is not None else [])
    per_col = [parse_judgements(data[c], rt, column=str(c), frame=data, slab=scol)
               for c in cols]
    judg = [list(r) for r in zip(*per_col, strict=True)] if len(data) else []
    if ocol is not None:
        codes.append("Overall")
        names.append(rt.overall_name)
    w = _weights(data, weights)
    studies = [str(s) for s in data[scol].to_numpy()]
    return RobTable(rt, studies, codes, names, [str(c) for c in cols], judg,
                    ocol is not None, w)


def _default_domains(d: pd.DataFrame, rt: RobTool, exclude: set[Any]) -> list[str]:
    """robvis's D1..Dn columns when present, else every other non-numeric column."""
    if rt.domains:
        found = [_find(d, c) for c, _ in rt.domains]
        if all(f is not None for f in found):
            return [str(f) for f in found]
    return [str(c) for c in d.columns if c not in exclude and
            not pd.api.types.is_numeric_dtype(d[c])]


def _weights(d: pd.DataFrame, weights: Any) -> np.ndarray:
    if weights is None:
        return np.ones(len(d))
    col = weights if isinstance(weights, str) else "weights"
    raw = d[weights] if isinstance(weights, str) else list(weights)
    if len(raw) != len(d):
        raise DataError(f"weights: {len(raw)} values for {len(d)} studies", column=col)
    raw = raw if isinstance(weights, str) else pd.Series(raw, index=d.index)
    w = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        rows = list(d.index[bad])
        raise DataError(f"weights: missing, non-numeric or negative values in "
                        f"{describe_rows(d, rows)}", column=col, rows=rows)
    if w.sum() <= 0:
        raise DataError("weights: all weights are zero", column=col)
    return w


def rob_plot(data: pd.DataFrame, *, tool: str = "rob2", kind: str = "traffic",
             study: str = "study", domains: Sequence[str] | None = None,
             overall: str | None = "overall", weights: str | Sequence[float] | None = None,
             colour: str | Sequence[str] = "cochrane", title: str | None = None,
             fontsize: float = st.FONTSIZE, psize: float = 0.3,
             save: str | Path | None = None) -> Figure:
    """Risk-of-bias traffic-light or summary plot (robvis's ``rob_traffic_light`` /
    ``rob_summary``).

    Parameters
    ----------
    data : DataFrame
        One row per study: a study label column, one column of judgement words per
        domain and (by default) an overall judgement.
    tool : {"rob2", "robins-i", "robins-e", "quadas-2", "generic"}
        The assessment tool: its domain names, judgement levels, colours and symbols
        as robvis draws them. ``"generic"`` takes the domains from the column names
        (robvis's ROB1 / generic template; "Serious" is read as High and "Some
        concerns" / "Moderate" as Unclear).
    kind : {"traffic", "summary"}
        Traffic-light plot (a circle per study and domain) or the summary bar plot.
    study : str
        Column of study labels (matched case-insensitively).
    domains : list of str, optional
        Domain columns in order. Default: robvis's ``D1``, ``D2``, ... columns when
        present, else every non-numeric column other than study, overall and weights.
        A named tool needs exactly its number of domains.
    overall : str or None
        Column of overall judgements (``None``: the table has none).
    weights : str or sequence of float, optional
        Summary plot only: weight of each study (e.g. its meta-analysis weight); default
        every study counts once (unweighted proportions).
    colour : "cochrane", "colourblind" or list of colours
        robvis's colour schemes, or one colour per judgement level of the tool.
    title : str, optional
        Title above the figure.
    fontsize : float
        Font size in points.
    psize : float
        Traffic-light circle diameter in inches.
    save : str or Path, optional
        Also write the figure there (PNG, SVG or PDF by extension).

    Returns
    -------
    matplotlib.figure.Figure
        With ``fig.rob_layout`` (:class:`RobLayout`).

    Raises
    ------
    DataError
        Missing columns, a wrong number of domains or an unknown judgement word (the
        message names the column and row).
    """
    if kind not in ("traffic", "summary"):
        raise BayesmaError(f"kind must be 'traffic' or 'summary', got {kind!r}")
    tab = rob_table(data, tool=tool, study=study, domains=domains, overall=overall,
                    weights=weights)
    colours = level_colours(tab.tool, colour)
    if kind == "traffic":
        fig = _traffic(tab, colours, title, fontsize, psize)
    else:
        fig = _summary(tab, colours, title, fontsize)
    st.save_figure(fig, save)
    return fig


def _present(tab: RobTable) -> list[str]:
    """Codes used in the table, in the tool's order of levels."""
    used = {c for row in tab.judgements for c in row}
    return [lv.code for lv in tab.tool.levels if lv.code in used]


def _traffic(tab: RobTable, colours: dict[str, str], title: str | None, fontsize: float,
             psize: float) -> Figure:
    fig = st.new_figure((6, 4))
    meas = st.TextMeasure(fig, fontsize)
    cell = max(psize * 1.35, fontsize * 2.2 / 72,
               max(meas.width(c) for c in tab.codes) + 0.12)
    n, m = len(tab.studies), len(tab.codes)
    pad = 0.14
    lab_w = max([meas.width(s) for s in tab.studies] + [meas.width("Study", weight="bold")])
    lab_w += 0.2
    grid_w, grid_h = m * cell, n * cell
    head_h = cell * 0.8
    xtitle_h = fontsize * 1.8 / 72
    title_h = fontsize * 1.25 * 1.6 / 72 if title else 0.0
    caption = ["Domains:"] + [f"{c}: {nm}." for c, nm in zip(tab.codes, tab.names,
                                                               strict=True) if c != "Overall"]
    present = _present(tab)
    legend = [tab.tool.level(c).label for c in present]
    line = fontsize * 1.3 / 72
    cap_w = max(meas.width(s) for s in caption)
    leg_w = max([meas.width(s) for s in legend] + [meas.width("Judgement", weight="bold")])
    leg_w += cell * 0.9 + 0.15
    fig_w = max(pad + lab_w + grid_w + pad, pad + cap_w + 0.3 + leg_w + pad)
    bottom_h = max(len(caption), len(legend) + 1) * line + 0.2
    fig_h = pad + title_h + xtitle_h + head_h + grid_h + bottom_h + pad
    fig.set_size_inches(fig_w, fig_h)

    x0 = pad + lab_w
    y_grid_top = fig_h - pad - title_h - xtitle_h - head_h
    ax = fig.add_axes((x0 / fig_w, (y_grid_top - grid_h) / fig_h, grid_w / fig_w,
                       grid_h / fig_h))
    ax.set_xlim(0, m)
    ax.set_ylim(n, 0)
    ax.set_axis_off()
    inch = fig.dpi_scale_trans
    # domain header strips and the study strip (robvis facet strips)
    for j, code in enumerate(tab.codes):
        fig.patches.append(Rectangle((x0 + j * cell, y_grid_top), cell, head_h,
                                     transform=inch, facecolor=_STRIP, edgecolor=_BORDER,
                                     lw=0.6))
        fig.text(x0 + (j + 0.5) * cell, y_grid_top + head_h / 2, code, transform=inch,
                 ha="center", va="center", fontsize=fontsize, gid=f"domain|{code}")
    fig.text(x0 + grid_w / 2, y_grid_top + head_h + xtitle_h / 2, "Risk of bias domains",
             transform=inch, ha="center", va="center", fontsize=fontsize)
    fig.patches.append(Rectangle((pad, y_grid_top - grid_h), lab_w - 0.06, grid_h,
                                 transform=inch, facecolor=_STRIP, edgecolor=_BORDER, lw=0.6))
    r = psize / 2 / cell  # circle radius in cell units
    for i, name in enumerate(tab.studies):
        fig.text(pad + lab_w - 0.12, y_grid_top - (i + 0.5) * cell, name, transform=inch,
                 ha="right", va="center", fontsize=fontsize, gid=f"study|{name}")
        for j, code in enumerate(tab.judgements[i]):
            bg = _OVERALL_BG if tab.codes[j] == "Overall" else "white"
            ax.add_patch(Rectangle((j, i), 1, 1, facecolor=bg, edgecolor=_BORDER, lw=0.6))
            lv = tab.tool.level(code)
            ax.add_patch(Circle((j + 0.5, i + 0.5), r, facecolor=colours[code],
                                edgecolor="black" if code != "x" else colours[code], lw=0.6,
                                gid=f"circle|{name}|{tab.codes[j]}|{code}"))
            if lv.symbol:
                ax.text(j + 0.5, i + 0.5, lv.symbol, ha="center", va="center_baseline",
                        fontsize=fontsize * 1.3, fontweight="bold", color="black")
    # domain key (robvis caption) and the judgement legend
    y = y_grid_top - grid_h - 0.2
    fig.text(pad, y, "\n".join(caption), transform=inch, ha="left", va="top",
             fontsize=fontsize, linespacing=1.3,
             gid="caption")
    handles = [Line2D([], [], marker="o", ms=psize * 72 * 0.6, ls="none",
                      markerfacecolor=colours[c], markeredgecolor="black", mew=0.6)
               for c in present]
    if handles:
        leg = fig.legend(handles, legend, title="Judgement", loc="upper right",
                         bbox_to_anchor=(fig_w - pad, y), bbox_transform=inch,
                         fontsize=fontsize, title_fontsize=fontsize, frameon=True,
                         edgecolor="black", fancybox=False, borderpad=0.5)
        leg.set_gid("legend")
        for h, c in zip(leg.legend_handles, present, strict=True):
            h.set_gid(f"legend|{c}")
    if title:
        fig.text(pad, fig_h - pad, title, transform=inch, ha="left", va="top",
                 fontsize=fontsize * 1.25, fontweight="bold")
    fig.rob_layout = RobLayout("traffic", tab, legend, caption)
    return fig


def _summary(tab: RobTable, colours: dict[str, str], title: str | None,
             fontsize: float) -> Figure:
    order = [c for c in tab.tool.summary_order if c in set(_present(tab))]
    w = tab.weights
    props = pd.DataFrame(0.0, index=tab.names, columns=[tab.tool.level(c).label
                                                        for c in order])
    for j, nm in enumerate(tab.names):
        for i in range(len(tab.studies)):
            props.loc[nm, tab.tool.level(tab.judgements[i][j]).label] += w[i]
    props = props.div(w.sum())
    fig = st.new_figure((8, 2.6))
    meas = st.TextMeasure(fig, fontsize)
    pad = 0.14
    lab_w = max(meas.width(s, weight="bold" if (tab.has_overall and j == len(tab.names) - 1)
                           else "normal") for j, s in enumerate(tab.names)) + 0.15
    bar_w = 4.5
    row_h = fontsize * 2.6 / 72
    n = len(tab.names)
    leg_h = 0.45
    title_h = fontsize * 1.25 * 1.6 / 72 if title else 0.0
    axis_h = fontsize * 4.0 / 72
    fig_w = pad + lab_w + bar_w + 0.3 + pad
    fig_h = pad + title_h + n * row_h + axis_h + leg_h + pad
    fig.set_size_inches(fig_w, fig_h)
    ax = fig.add_axes(((pad + lab_w) / fig_w, (pad + leg_h + axis_h) / fig_h, bar_w / fig_w,
                       n * row_h / fig_h))
    ypos = np.arange(n)
    left = np.zeros(n)
    for c in order:
        lab = tab.tool.level(c).label
        vals = props[lab].to_numpy()
        ax.barh(ypos, vals, left=left, height=0.7, color=colours[c], edgecolor="black",
                lw=0.6, label=lab, gid=f"bar|{c}")
        left += vals
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(0, 1)
    ax.set_yticks(ypos)
    ax.set_yticklabels(tab.names, fontsize=fontsize)
    if tab.has_overall:
        ax.get_yticklabels()[-1].set_fontweight("bold")
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xticklabels(["0%", "25%", "50%", "75%", "100%"], fontsize=fontsize)
    ax.tick_params(axis="y", length=0)
    weighted = not np.all(w == w[0])
    ax.set_xlabel("Proportion of the studies' weight" if weighted else
                  "Proportion of studies", fontsize=fontsize)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    legend = list(props.columns)
    handles = [Patch(facecolor=colours[c], edgecolor="black", lw=0.6) for c in order]
    leg = fig.legend(handles, legend, loc="lower center", ncols=max(1, len(legend)),
                     bbox_to_anchor=((pad + lab_w + bar_w / 2) / fig_w, pad / fig_h),
                     fontsize=fontsize, frameon=True, edgecolor="black", fancybox=False)
    leg.set_gid("legend")
    if title:
        fig.text(pad / fig_w, 1 - pad / fig_h, title, ha="left", va="top",
                 fontsize=fontsize * 1.25, fontweight="bold")
    fig.rob_layout = RobLayout("summary", tab, legend,
                               ["weighted" if weighted else "unweighted"], props)
    return fig

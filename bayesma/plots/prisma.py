"""The PRISMA 2020 flow diagram (Page et al. 2021, BMJ 372:n71) drawn from checked counts.

:func:`prisma_flow` lays out the boxes of the PRISMA 2020 template for new and updated
reviews (the layout of the PRISMA2020 R package / Shiny app, Haddaway et al. 2022): a
column "Identification of new studies via databases and registers" with its exclusion
boxes at the right, optionally "Previous studies" at the left and "Identification of new
studies via other methods" at the right, and the phase labels Identification, Screening
and Included. Counts are read and checked by :func:`~bayesma.plots.prisma_counts.prisma_counts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from bayesma.plots import _style as st
from bayesma.plots.prisma_counts import PrismaCounts, prisma_counts

__all__ = ["PrismaBox", "PrismaLayout", "prisma_flow"]

_HEAD_MAIN = "#ffc000"  # PRISMA 2020 template: header of the new-studies columns
_HEAD_OTHER = "#d9d9d9"  # previous studies / other methods headers
_PHASE = "#a6c8ea"  # phase labels at the left
_EDGE = "#1a1a1a"


@dataclass
class PrismaBox:
    """A box of the diagram: its name, text, counts shown and position (inches)."""

    name: str
    text: str
    counts: list[int]
    col: int
    row: int
    x: float = 0.0
    y: float = 0.0  # top edge
    w: float = 0.0
    h: float = 0.0


@dataclass
class PrismaLayout:
    """What :func:`prisma_flow` drew (``fig.prisma_layout``): boxes and arrows."""

    counts: PrismaCounts
    boxes: dict[str, PrismaBox]
    arrows: list[tuple[str, str]] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)


def _n(x: int | None) -> str:
    return "(n = )" if x is None else f"(n = {x:,})".replace(",", "\u2009")


def _sources(title: str, src: dict[str, int], default: str) -> tuple[str, list[int]]:
    lines = [title]
    vals = []
    for k, v in src.items():
        lines.append(f"    {k or default} {_n(v)}")
        vals.append(v)
    return "\n".join(lines), vals


def _boxes(c: PrismaCounts) -> list[PrismaBox]:
    """The boxes in (column, row) cells: columns 0 previous, 1-2 main, 3-4 other."""
    b: list[PrismaBox] = []
    if c.has_previous:
        b.append(PrismaBox("previous", "Studies included in previous version of review\n"
                           f"{_n(c.previous_studies)}\n\nReports of studies included in\n"
                           f"previous version of review\n{_n(c.previous_reports)}",
                           [x for x in (c.previous_studies, c.previous_reports)
                            if x is not None], 0, 0))
    src = dict(c.databases)
    if not src and not c.registers:
        src = {"Databases": None}  # type: ignore[dict-item]
    ident = ["Records identified from:"]
    vals: list[int] = []
    for group, d, default in (("Databases", src, "Databases"),
                              ("Registers", c.registers, "Registers")):
        if not d:
            continue
        if len(d) == 1 and next(iter(d)) in ("", group):
            v = next(iter(d.values()))
            ident.append(f"    {group} {_n(v)}")
            vals += [v] if v is not None else []
        else:
            ident.append(f"    {group} {_n(sum(d.values()))}:")
            vals.append(sum(d.values()))
            for k, v in d.items():
                ident.append(f"        {k or default} {_n(v)}")
                vals.append(v)
    b.append(PrismaBox("identified", "\n".join(ident), vals, 1, 0))
    removed = ["Records removed before screening:"]
    rv = []
    for label, v in (("Duplicate records removed", c.duplicates),
                     ("Records marked as ineligible\n    by automation tools", c.automation),
                     ("Records removed for other reasons", c.other_removed)):
        if v is not None:
            removed.append(f"    {label} {_n(v)}")
            rv.append(v)
    if len(removed) == 1:
        removed.append("    (none reported)")
    b.append(PrismaBox("removed", "\n".join(removed), rv, 2, 0))
    b.append(PrismaBox("screened", f"Records screened\n{_n(c.screened)}",
                       [c.screened] if c.screened is not None else [], 1, 1))
    b.append(PrismaBox("screen_excluded", f"Records excluded\n{_n(c.screen_excluded)}",
                       [c.screen_excluded] if c.screen_excluded is not None else [], 2, 1))
    b.append(PrismaBox("sought", f"Reports sought for retrieval\n{_n(c.sought)}",
                       [c.sought] if c.sought is not None else [], 1, 2))
    b.append(PrismaBox("not_retrieved", f"Reports not retrieved\n{_n(c.not_retrieved)}",
                       [c.not_retrieved] if c.not_retrieved is not None else [], 2, 2))
    b.append(PrismaBox("assessed", f"Reports assessed for eligibility\n{_n(c.assessed)}",
                       [c.assessed] if c.assessed is not None else [], 1, 3))
    text, vals = _sources("Reports excluded:", c.excluded_reasons, "Reports excluded")
    b.append(PrismaBox("excluded", text if c.excluded_reasons else
                       "Reports excluded:\n    (reasons not given)", vals, 2, 3))
    new_word = "New studies" if c.has_previous else "Studies"
    new_rep = "Reports of new included studies" if c.has_previous else \
        "Reports of included studies"
    b.append(PrismaBox("included", f"{new_word} included in review\n{_n(c.new_studies)}\n"
                       f"{new_rep}\n{_n(c.new_reports)}",
                       [x for x in (c.new_studies, c.new_reports) if x is not None], 1, 4))
    if c.has_previous:
        b.append(PrismaBox("total", f"Total studies included in review\n{_n(c.total_studies)}"
                           f"\nReports of total included studies\n{_n(c.total_reports)}",
                           [x for x in (c.total_studies, c.total_reports) if x is not None],
                           1, 5))
    if c.has_other:
        text, vals = _sources("Records identified from:", c.other_sources, "Other sources")
        b.append(PrismaBox("other_identified", text, vals, 3, 0))
        b.append(PrismaBox("other_sought", f"Reports sought for retrieval\n"
                           f"{_n(c.other_sought)}", [c.other_sought]
                           if c.other_sought is not None else [], 3, 2))
        b.append(PrismaBox("other_not_retrieved", f"Reports not retrieved\n"
                           f"{_n(c.other_not_retrieved)}", [c.other_not_retrieved]
                           if c.other_not_retrieved is not None else [], 4, 2))
        b.append(PrismaBox("other_assessed", f"Reports assessed for eligibility\n"
                           f"{_n(c.other_assessed)}", [c.other_assessed]
                           if c.other_assessed is not None else [], 3, 3))
        text, vals = _sources("Reports excluded:", c.other_excluded_reasons,
                              "Reports excluded")
        b.append(PrismaBox("other_excluded", text if c.other_excluded_reasons else
                           "Reports excluded:\n    (reasons not given)", vals, 4, 3))
    return b


_ARROWS = [("identified", "removed"), ("identified", "screened"),
           ("screened", "screen_excluded"), ("screened", "sought"),
           ("sought", "not_retrieved"), ("sought", "assessed"),
           ("assessed", "excluded"), ("assessed", "included"), ("included", "total"),
           ("previous", "total"), ("other_identified", "other_sought"),
           ("other_sought", "other_not_retrieved"), ("other_sought", "other_assessed"),
           ("other_assessed", "other_excluded"), ("other_assessed", "included")]


def prisma_flow(counts: Mapping[str, Any] | PrismaCounts, *, title: str | None = None,
                fontsize: float = st.FONTSIZE, save: str | Path | None = None) -> Figure:
    """PRISMA 2020 flow diagram of a systematic review.

    Parameters
    ----------
    counts : dict or PrismaCounts
        The counts of the boxes (keys in :func:`~bayesma.plots.prisma_counts.prisma_counts`),
        e.g. ``{"databases": {"MEDLINE": 412, "Embase": 380}, "duplicates": 210,
        "screen_excluded": 480, "not_retrieved": 4, "excluded_reasons": {"Wrong
        population": 40, "Wrong outcome": 25}, "new_studies": 15, "new_reports": 18}``.
        Counts that follow from the others are filled in; counts that contradict each
        other raise an error. ``previous_studies`` / ``previous_reports`` add the
        previous-studies column (updated reviews), ``other_sources`` and ``other_*`` the
        other-methods column.
    title : str, optional
        Title above the diagram.
    fontsize : float
        Font size in points.
    save : str or Path, optional
        Also write the figure there (PNG, SVG or PDF by extension).

    Returns
    -------
    matplotlib.figure.Figure
        With ``fig.prisma_layout`` (:class:`PrismaLayout`: boxes, arrows).

    Raises
    ------
    BayesmaError
        Unknown keys or counts that do not add up.
    """
    c = prisma_counts(counts)
    boxes = _boxes(c)
    fig = st.new_figure((8, 8))
    meas = st.TextMeasure(fig, fontsize)
    padx, pady, gapx, gapy, pad = 0.12, 0.09, 0.35, 0.3, 0.15
    phase_w = fontsize * 1.9 / 72
    ncol = 5
    width = [0.0] * ncol
    nrow = max(bx.row for bx in boxes) + 1
    height = [0.0] * nrow
    for bx in boxes:
        w, h = meas.size(bx.text)
        bx.w, bx.h = w + 2 * padx, h + 2 * pady
        width[bx.col] = max(width[bx.col], bx.w)
        height[bx.row] = max(height[bx.row], bx.h)
    xs, x = [0.0] * ncol, pad + phase_w + 0.12
    for j in range(ncol):
        xs[j] = x
        if width[j] > 0:
            x += width[j] + gapx
    fig_w = x - gapx + pad
    head_h = fontsize * 2.6 / 72
    title_h = fontsize * 1.25 * 1.8 / 72 if title else 0.0
    cite_h = fontsize * 0.85 * 1.6 / 72
    fig_h = pad + title_h + head_h + 0.15 + sum(height) + gapy * (nrow - 1) + cite_h + pad
    fig.set_size_inches(fig_w, fig_h)
    inch = fig.dpi_scale_trans
    ys, y = [0.0] * nrow, fig_h - pad - title_h - head_h - 0.15
    for i in range(nrow):
        ys[i] = y
        y -= height[i] + gapy
    by_name: dict[str, PrismaBox] = {}
    for bx in boxes:
        bx.w = width[bx.col]
        bx.x = xs[bx.col]
        bx.y = ys[bx.row] - (height[bx.row] - bx.h) / 2 if bx.col != 0 else ys[bx.row]
        fig.patches.append(FancyBboxPatch((bx.x, bx.y - bx.h), bx.w, bx.h,
                                          boxstyle="square,pad=0", transform=inch,
                                          facecolor="white", edgecolor=_EDGE, lw=0.8,
                                          gid=f"box|{bx.name}"))
        fig.text(bx.x + padx, bx.y - pady, bx.text, transform=inch, ha="left", va="top",
                 fontsize=fontsize, linespacing=1.2, gid=f"text|{bx.name}")
        by_name[bx.name] = bx
    headers = _headers(fig, c, xs, width, fig_h - pad - title_h, head_h, fontsize)
    phases = _phases(fig, c, ys, height, pad, phase_w, fontsize)
    arrows = [(a, b) for a, b in _ARROWS if a in by_name and b in by_name]
    for a, b in arrows:
        _arrow(fig, by_name[a], by_name[b])
    if title:
        fig.text(pad, fig_h - pad, title, transform=inch, ha="left", va="top",
                 fontsize=fontsize * 1.25, fontweight="bold")
    fig.text(pad, pad, "PRISMA 2020 flow diagram (Page MJ et al. BMJ 2021;372:n71)",
             transform=inch, ha="left", va="bottom", fontsize=fontsize * 0.85,
             color="#555555")
    fig.prisma_layout = PrismaLayout(c, by_name, arrows, headers, phases)
    st.save_figure(fig, save)
    return fig


def _headers(fig: Figure, c: PrismaCounts, xs: list[float], width: list[float], top: float,
             h: float, fontsize: float) -> list[str]:
    spans = [(1, 2, "Identification of new studies via databases and registers", _HEAD_MAIN)]
    if c.has_previous:
        spans.insert(0, (0, 0, "Previous studies", _HEAD_OTHER))
    if c.has_other:
        spans.append((3, 4, "Identification of new studies via other methods", _HEAD_OTHER))
    out = []
    for j0, j1, text, colour in spans:
        x0, x1 = xs[j0], xs[j1] + width[j1]
        fig.patches.append(FancyBboxPatch((x0, top - h), x1 - x0, h,
                                          boxstyle="round,pad=0,rounding_size=0.06",
                                          transform=fig.dpi_scale_trans, facecolor=colour,
                                          edgecolor=_EDGE, lw=0.8))
        fig.text((x0 + x1) / 2, top - h / 2, text, transform=fig.dpi_scale_trans,
                 ha="center", va="center", fontsize=fontsize, fontweight="bold",
                 gid=f"header|{text}")
        out.append(text)
    return out


def _phases(fig: Figure, c: PrismaCounts, ys: list[float], height: list[float], x: float,
            w: float, fontsize: float) -> list[str]:
    last = len(ys) - 1
    spans = [("Identification", 0, 0), ("Screening", 1, 3), ("Included", 4, last)]
    for text, r0, r1 in spans:
        top, bottom = ys[r0], ys[r1] - height[r1]
        fig.patches.append(FancyBboxPatch((x, bottom), w, top - bottom,
                                          boxstyle="round,pad=0,rounding_size=0.06",
                                          transform=fig.dpi_scale_trans, facecolor=_PHASE,
                                          edgecolor=_EDGE, lw=0.8))
        fig.text(x + w / 2, (top + bottom) / 2, text, transform=fig.dpi_scale_trans,
                 ha="center", va="center", rotation=90, fontsize=fontsize,
                 fontweight="bold", gid=f"phase|{text}")
    return [s[0] for s in spans]


def _arrow(fig: Figure, a: PrismaBox, b: PrismaBox) -> None:
    """An arrow from box ``a`` to box ``b``: right, down, or down then sideways."""
    if a.row == b.row:  # to the exclusion box at the right
        y = a.y - a.h / 2
        pts = [(a.x + a.w, y), (b.x, y)]
    elif a.col == b.col:  # straight down
        x = a.x + a.w / 2
        pts = [(x, a.y - a.h), (x, b.y)]
    else:  # down from a, then sideways into b's side
        x = a.x + a.w / 2
        y = b.y - b.h / 2
        pts = [(x, a.y - a.h), (x, y), (b.x + b.w if a.col > b.col else b.x, y)]
    inch = fig.dpi_scale_trans
    for p, q in zip(pts[:-2], pts[1:-1], strict=True):
        fig.add_artist(Line2D([p[0], q[0]], [p[1], q[1]], transform=inch, lw=0.9,
                              color=_EDGE))
    fig.patches.append(FancyArrowPatch(pts[-2], pts[-1], transform=inch, arrowstyle="-|>",
                                       mutation_scale=10, lw=0.9, color=_EDGE,
                                       shrinkA=0, shrinkB=0, gid=f"arrow|{a.name}|{b.name}"))


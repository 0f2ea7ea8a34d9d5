"""The x axis of a forest plot: its range from the marks, and readable ticks."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from bayesma.errors import BayesmaError
from bayesma.plots import _style as st
from bayesma.plots.forest.rows import RowBuilder

__all__ = ["axis_ticks", "thin_ticks", "x_range"]


def x_range(b: RowBuilder, scale: st.Scale, xlim: Any, ref_line: Any) -> tuple[float, float]:
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


def axis_ticks(lims: tuple[float, float], log: bool) -> list[float]:
    lo, hi = lims
    if log:
        return st.nice_log_ticks(lo, hi)
    loc = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10])
    t = loc.tick_values(lo, hi)
    return [float(v) for v in t if lo - 1e-9 * (hi - lo) <= v <= hi + 1e-9 * (hi - lo)]


def thin_ticks(ticks: list[float], lims: tuple[float, float], log: bool, width: float,
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

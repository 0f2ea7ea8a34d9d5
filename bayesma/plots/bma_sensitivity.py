"""Plot of ``bm.bma_sensitivity``: inclusion Bayes factors against the prior scales.

Two panels: the effect inclusion BF against the scale of mu's prior (one line per tau
scale) and the heterogeneity inclusion BF against the scale of tau's prior (one line per
mu scale), on a log BF axis with the usual evidence thresholds 1/10, 1/3, 1, 3, 10
(Jeffreys 1961, appendix B, as grouped by Lee & Wagenmakers 2013).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator

from bayesma.data import require_columns
from bayesma.errors import BayesmaError
from bayesma.plots import _style as st

__all__ = ["bma_sensitivity_plot"]

#: panel -> (x column, line column, title, x label, line name)
_PANELS = {
    "bf_effect": ("mu_scale", "tau_scale", "Effect (\u03bc \u2260 0)",
                  "Scale of the \u03bc prior", "\u03c4 scale"),
    "bf_heterogeneity": ("tau_scale", "mu_scale", "Heterogeneity (\u03c4 > 0)",
                         "Scale of the \u03c4 prior", "\u03bc scale"),
}
_THRESHOLDS = (1 / 10, 1 / 3, 3, 10)
_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


def _bf_label(v: float) -> str:
    """``1/3`` below 1, ``30`` above (BFs read as odds)."""
    return st.fmt_tick(v) if v >= 1 else f"1/{st.fmt_tick(round(1 / v, 6))}"


def _bf_ticks(lo: float, hi: float) -> list[float]:
    pows = [10.0 ** e for e in range(int(np.floor(np.log10(lo))),
                                     int(np.ceil(np.log10(hi))) + 1)]
    ticks = sorted({*pows, 3.0, 1 / 3})
    inside = [t for t in ticks if lo <= t <= hi]
    if len(inside) > 7:  # many decades: powers of 10 only
        inside = [t for t in inside if t in pows]
    return inside


def _log_x(x: np.ndarray, xlog: bool | None) -> bool:
    if xlog is not None:
        return bool(xlog)
    return bool(x.size > 1 and x.min() > 0 and x.max() / x.min() >= 8)


def bma_sensitivity_plot(
    table: pd.DataFrame,
    *,
    which: Sequence[str] = ("bf_effect", "bf_heterogeneity"),
    xlog: bool | None = None,
    thresholds: bool = True,
    figsize: tuple[float, float] | None = None,
    save: str | Path | None = None,
) -> Figure:
    """Inclusion Bayes factors of :func:`bayesma.bma_sensitivity` against the prior scales.

    Parameters
    ----------
    table : DataFrame
        The result of ``bm.bma_sensitivity`` (columns ``mu_scale``, ``tau_scale``,
        ``bf_effect``, ``bf_heterogeneity``).
    which : sequence of {"bf_effect", "bf_heterogeneity"}
        Panels to draw, left to right.
    xlog : bool or None
        Log scale for the prior-scale axis (None: when the scales span a factor 8 or
        more).
    thresholds : bool
        Shade BF = 1 and dot the thresholds 1/10, 1/3, 3 and 10.
    figsize : (float, float), optional
        Size in inches (default 4.2 inches per panel, 3.6 high).
    save : str or Path, optional
        Also write the figure there (PNG, SVG or PDF).

    Returns
    -------
    matplotlib.figure.Figure
        One axes per panel; the BF axis is logarithmic.

    Raises
    ------
    DataError
        A table without the columns.
    BayesmaError
        Unknown panels, an empty table, or Bayes factors that are not positive and finite.
    """
    which = [which] if isinstance(which, str) else list(which)
    unknown = [w for w in which if w not in _PANELS]
    if unknown or not which:
        raise BayesmaError(f"which must name panels among {', '.join(_PANELS)}; got {which!r}")
    require_columns(table, ["mu_scale", "tau_scale", *which], what="bma_sensitivity table")
    if len(table) == 0:
        raise BayesmaError("bma_sensitivity_plot: the table has no rows")
    fig = st.new_figure(figsize or (4.2 * len(which), 3.6))
    axes = fig.subplots(1, len(which), squeeze=False)[0]
    for ax, col in zip(axes, which, strict=True):
        xcol, lcol, title, xlabel, line_name = _PANELS[col]
        bf = table[col].to_numpy(dtype=float)
        if not np.all(np.isfinite(bf) & (bf > 0)):
            raise BayesmaError(f"{col}: Bayes factors must be positive and finite to be "
                               "drawn on a log axis (a prior model probability of 0 makes "
                               "them undefined)")
        groups = list(table.groupby(lcol, sort=True))
        for j, (val, g) in enumerate(groups):
            g = g.sort_values(xcol)
            ax.plot(g[xcol].to_numpy(float), g[col].to_numpy(float), marker="o", ms=3.5,
                    lw=1.5, color=_COLORS[j % len(_COLORS)],
                    label=f"{line_name} = {st.fmt_tick(float(f'{float(val):.3g}'))}",
                    gid=f"{col}_line")
        ax.set_yscale("log")
        lo, hi = min(float(bf.min()), 1 / 3) / 1.6, max(float(bf.max()), 3) * 1.6
        ax.set_ylim(lo, hi)
        ticks = _bf_ticks(lo, hi)
        ax.yaxis.set_major_locator(FixedLocator(ticks))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_yticklabels([_bf_label(t) for t in ticks])
        if thresholds:
            ax.axhline(1.0, color=st.REF, lw=0.9, zorder=0.5, gid="bf_one")
            for t in _THRESHOLDS:
                ax.axhline(t, color=st.REF, lw=0.6, ls=":", zorder=0.5)
        xs = np.unique(table[xcol].to_numpy(float))
        if _log_x(xs, xlog):
            ax.set_xscale("log")
        if xs.size <= 8:
            ax.xaxis.set_major_locator(FixedLocator(xs))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xticklabels([st.fmt_tick(float(f"{x:.3g}")) for x in xs])
        ax.set_xlabel(xlabel)
        ax.set_ylabel("Inclusion Bayes factor")
        ax.set_title(title, fontsize=st.FONTSIZE + 1)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        leg = ax.legend(fontsize=st.FONTSIZE - 1, frameon=False)
        leg.set_gid("legend")
    fig.tight_layout()
    st.save_figure(fig, save)
    return fig

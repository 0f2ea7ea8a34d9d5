"""Coverage plot: coverage of interval methods against the number of studies, by tau.

:func:`coverage_plot` draws a :func:`bayesma.simulation.coverage_study` result: one
line per method across k, a band of ±1.96 Monte Carlo standard errors around it, the
nominal level as a dashed line, one panel per value of tau (the presentation of
Friede et al. 2017, Biom J 59:658, fig. 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayesma.errors import DataError
from bayesma.plots import _style as st

__all__ = ["coverage_plot"]

#: colour-blind safe palette (Okabe & Ito 2008)
_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
           "#F0E442")
_SETTINGS = ("design", "mu", "vi", "n", "p_control", "log_or", "measure")


def coverage_plot(result: pd.DataFrame, *, methods: Sequence[str] | None = None,
                  x: str = "k", facet: str = "tau", level: float = 0.95,
                  band: float = 1.96, ylim: Sequence[float] | None = None,
                  title: str | None = None, panel_size: tuple[float, float] = (3.2, 2.8),
                  save: str | Path | None = None) -> Figure:
    """Coverage against k per method, with MCSE bands and the nominal line, faceted by tau.

    Parameters
    ----------
    result : DataFrame
        A :func:`bayesma.simulation.coverage_study` result (columns ``method``,
        ``coverage``, ``mcse``, ``x`` and ``facet``).
    methods : sequence of str, optional
        Methods to draw, in this order (default: all, in order of appearance).
    x : str
        Column on the horizontal axis (default ``"k"``).
    facet : str
        Column whose values get one panel each (default ``"tau"``).
    level : float
        Nominal coverage drawn as a dashed line.
    band : float
        Half-width of the band in Monte Carlo SEs (0: no band).
    ylim : (float, float), optional
        Limits of the coverage axis (default: fitted to the lines and the nominal level).
    title : str, optional
        Figure title.
    panel_size : (float, float)
        Width and height of one panel in inches.
    save : str or Path, optional
        Write the figure (PNG, SVG or PDF by the extension).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    DataError
        Missing columns, an unknown method, or several rows for one (panel, method, x):
        other settings vary too (filter ``result`` first; the message names them).
    """
    need = ["method", "coverage", "mcse", x, facet]
    missing = [c for c in need if c not in result.columns]
    if missing:
        raise DataError(f"coverage_plot needs columns {missing} (a coverage_study result)",
                        column=missing[0])
    present = list(dict.fromkeys(result["method"]))
    chosen = present if methods is None else list(methods)
    unknown = [m for m in chosen if m not in present]
    if unknown:
        raise DataError(f"methods {unknown} are not in the result; it has {present}",
                        column="method")
    df = result[result["method"].isin(chosen)]
    dup = df.duplicated(subset=[facet, "method", x], keep=False)
    if dup.any():
        varying = [c for c in _SETTINGS if c in df.columns and c not in (x, facet)
                   and df.loc[dup, c].nunique(dropna=True) > 1]
        raise DataError(f"several rows per ({facet}, method, {x}): the settings {varying} "
                        "vary too; filter the result to one value of each first",
                        column=varying[0] if varying else "method",
                        rows=list(df.index[dup][:5]))
    panels = sorted(df[facet].dropna().unique())
    n = max(1, len(panels))
    fig = st.new_figure((panel_size[0] * n, panel_size[1] + 0.9))
    axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
    lows = [level]
    highs = [level]
    for ax, value in zip(axes, panels, strict=False):
        sub = df[df[facet] == value]
        for j, name in enumerate(chosen):
            rows = sub[sub["method"] == name].sort_values(x)
            if rows.empty:
                continue
            xs = rows[x].to_numpy(float)
            cov = rows["coverage"].to_numpy(float)
            se = rows["mcse"].to_numpy(float)
            color = _COLORS[j % len(_COLORS)]
            if band > 0:
                ax.fill_between(xs, cov - band * se, cov + band * se, color=color, alpha=0.18,
                                linewidth=0)
            ax.plot(xs, cov, marker="o", markersize=3.5, color=color, label=name)
            lows.append(np.nanmin(cov - band * se))
            highs.append(np.nanmax(cov + band * se))
        ax.axhline(level, color="0.3", linestyle="--", linewidth=0.9)
        ax.set_title(f"{facet} = {st.fmt_general(float(value))}", fontsize=st.FONTSIZE)
        ax.set_xlabel(x)
        ax.set_xticks(sorted(sub[x].unique()))
        ax.grid(alpha=0.3, linewidth=0.5)
    axes[0].set_ylabel("Coverage")
    if ylim is None:
        pad = 0.02
        ylim = (max(0.0, min(lows) - pad), min(1.0, max(highs) + pad))
    axes[0].set_ylim(*ylim)
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)),
               fontsize=st.FONTSIZE - 1, frameon=False)
    fig.subplots_adjust(bottom=0.3 if len(labels) > 4 else 0.24, top=0.85, wspace=0.08)
    if title:
        fig.suptitle(title)
    st.save_figure(fig, save)
    return fig

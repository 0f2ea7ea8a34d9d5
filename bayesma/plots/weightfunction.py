"""Plot of RoBMA's model-averaged weight function over the one-sided p-value, with its band.

As RoBMA's ``plot(fit, parameter = "weightfunction")`` (Bartoš et al. 2023, R package
RoBMA): the relative probability that a study with one-sided p-value ``p`` is published,
averaged over the weight-function models (models without selection contribute
``omega = 1``), with its pointwise credible interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayesma.data import describe_rows, require_columns
from bayesma.errors import BayesmaError, DataError
from bayesma.plots import _style as st

__all__ = ["weightfunction_plot", "WEIGHTFUNCTION_COLUMNS"]

#: columns of a weight-function table
WEIGHTFUNCTION_COLUMNS = ("p", "mean", "low", "high")


def _table(obj: Any, conditional: bool) -> pd.DataFrame:
    if isinstance(obj, pd.DataFrame):
        tab = obj
    else:
        get = getattr(obj, "weightfunction", None)
        if not callable(get):
            raise BayesmaError("weightfunction_plot needs a RoBMA result (bm.RoBMA) or a "
                               "DataFrame with columns p, mean, low, high; got "
                               f"{type(obj).__name__}")
        tab = get(conditional=True) if conditional else get()
    require_columns(tab, WEIGHTFUNCTION_COLUMNS, what="weight-function table")
    out = pd.DataFrame({c: pd.to_numeric(tab[c], errors="coerce") for c in
                        WEIGHTFUNCTION_COLUMNS})
    for c in WEIGHTFUNCTION_COLUMNS:
        bad = out.index[~np.isfinite(out[c].to_numpy(dtype=float))].tolist()
        if bad:
            raise DataError(f"weight-function table: column {c!r} has missing or "
                            f"non-numeric values in {describe_rows(tab, bad)}", column=c,
                            rows=bad)
    p = out["p"].to_numpy()
    bad = out.index[(p < 0) | (p > 1)].tolist()
    if bad:
        raise DataError("weight-function table: p-values must be in [0, 1], not in "
                        f"{describe_rows(tab, bad)}", column="p", rows=bad)
    if len(out) < 2:
        raise DataError("weight-function table: needs at least two p-values", column="p")
    return out.sort_values("p", kind="stable")


def weightfunction_plot(
    result_or_table: Any,
    *,
    ax: Any = None,
    conditional: bool = False,
    cutoffs: Sequence[float] | None = (0.025, 0.05, 0.5),
    rescale_x: bool = False,
    title: str | None = None,
    figsize: tuple[float, float] = (6.0, 3.6),
    save: str | Path | None = None,
) -> Figure:
    """Model-averaged weight function with its credible band (RoBMA's weight-function
    plot).

    Parameters
    ----------
    result_or_table : RoBMAResult or DataFrame
        A ``bm.RoBMA`` fit (its ``.weightfunction()``) or a table with columns ``p``
        (one-sided p-value), ``mean`` and ``low``/``high`` (the pointwise interval).
    ax : matplotlib Axes, optional
        Draw into these axes; default a new figure.
    conditional : bool
        For a RoBMA result: average only the weight-function models (RoBMA's
        ``conditional = TRUE``); by default models without selection count as omega = 1.
    cutoffs : sequence of float or None
        p-values marked by dotted vertical lines (RoBMA's default steps .025, .05, .5).
    rescale_x : bool
        Stretch small p-values as RoBMA's ``rescale_x = TRUE`` does: the axis shows
        ``sqrt(p)`` with p-value tick labels, so the steps at .025 and .05 are visible.
    title : str, optional
        Title (default "Model-averaged weight function").
    figsize : (float, float)
        Size in inches of a new figure.
    save : str or Path, optional
        Also write the figure there (PNG, SVG or PDF).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    BayesmaError
        An object without a weight function.
    DataError
        A table without the columns, with missing values or p-values outside [0, 1]
        (naming the column and rows).
    """
    if conditional and isinstance(result_or_table, pd.DataFrame):
        raise BayesmaError("conditional=True needs a RoBMA result, not a table")
    cuts = [float(c) for c in cutoffs or ()]
    if any(not 0 < c < 1 for c in cuts):
        raise BayesmaError(f"cutoffs must be p-values in (0, 1), got {cutoffs!r}")
    tab = _table(result_or_table, conditional)
    p = tab["p"].to_numpy(float)
    xs = np.sqrt(p) if rescale_x else p
    fig, ax, own = st.figure_axes(ax, figsize)
    level = getattr(result_or_table, "level", None)
    band = f"{100 * level:g}% CrI" if isinstance(level, float) else "Credible interval"
    ax.fill_between(xs, tab["low"].to_numpy(float), tab["high"].to_numpy(float),
                    color=st.BAYES_LIGHT, alpha=0.6, lw=0, label=band, gid="band")
    ax.plot(xs, tab["mean"].to_numpy(float), color=st.BAYES, lw=2.0,
            label="Model-averaged weight", gid="weight")
    for c in cuts:
        cx = float(np.sqrt(c)) if rescale_x else float(c)
        ax.axvline(cx, color=st.REF, lw=0.7, ls=":", zorder=0.5, gid="cutoff")
    if rescale_x:
        ticks = [0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0]
        ax.set_xticks(np.sqrt(ticks))
        ax.set_xticklabels([st.fmt_tick(t) for t in ticks])
    ax.set_xlim(0.0, 1.0)
    top = float(np.nanmax(tab["high"].to_numpy(float)))
    ax.set_ylim(0, max(1.05, top * 1.05))
    ax.set_xlabel("One-sided p-value" + (" (square-root axis)" if rescale_x else ""))
    ax.set_ylabel("Relative publication probability (\u03c9)")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    leg = ax.legend(fontsize=st.FONTSIZE - 0.5, frameon=False, loc="upper center",
                    bbox_to_anchor=(0.5, -0.16), ncol=2)
    leg.set_gid("legend")
    if title is None:
        title = "Model-averaged weight function" + (
            " (weight-function models only)" if conditional else "")
    ax.set_title(title, fontsize=st.FONTSIZE + 1)
    return st.finish_figure(fig, own=own, save=save)

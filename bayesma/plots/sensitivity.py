"""Sensitivity plot: intervals of mu and tau by prior or by subset of studies.

:func:`sensitivity_plot` draws one row per prior (a
:class:`~bayesma.sensitivity.priors.PriorSensitivity`) or per analysis (a
:class:`~bayesma.sensitivity.subsets.SensitivitySubsets`), with the posterior median and
credible interval of mu and of tau in two panels, the classical twin as a reference row
(or beside each Bayesian interval for subsets), and the values in text columns on the
right. The rows come from the result's table; nothing is refitted. The leave-one-out
plot lives in :mod:`bayesma.plots.leave1out` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from bayesma.errors import BayesmaError
from bayesma.plots import _style as st
from bayesma.plots.intervals import (
    MARKERS,
    TWO_DY,
    TWO_HEIGHT,
    Cell,
    Mark,
    PlotRow,
    SensitivityLayout,
    ci_text,
    engine_handle,
    line_handle,
    mu_panel,
    param_header,
    render_intervals,
    tau_panel,
)
from bayesma.plots.leave1out import leave1out_plot
from bayesma.sensitivity.priors import PriorSensitivity
from bayesma.sensitivity.subsets import SensitivitySubsets

__all__ = ["SensitivityLayout", "leave1out_plot", "sensitivity_plot"]


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
    if isinstance(result, PriorSensitivity):
        rows, panels, columns, legend, notes, header = _prior_rows(
            result, params, transform, reference, show_values, digits)
        default_title = f"Prior sensitivity ({result.engine} engine, k = {result.k})"
    elif isinstance(result, SensitivitySubsets):
        rows, panels, columns, legend, notes, header = _subset_rows(
            result, params, transform, reference, show_values, digits)
        default_title = "Sensitivity analyses: subsets of studies"
    else:
        raise BayesmaError(
            "sensitivity_plot needs the result of bm.prior_sensitivity() or "
            f"bm.sensitivity_subsets(), got {type(result).__name__}")
    if xlim is not None and len(xlim) != len(panels):
        raise BayesmaError(f"xlim needs one entry per panel ({len(panels)})")
    fig = render_intervals(rows, panels, columns, title=default_title if title is None else title,
                  legend=legend, notes=notes, fontsize=fontsize, panel_width=panel_width,
                  max_label_width=max_label_width, xlims=xlim, label_header=header)
    st.save_figure(fig, save)
    return fig


def _prior_rows(res: Any, params: list[str], transform: Any, reference: bool,
                show_values: bool, digits: int):
    t = res.table
    pct = f"{100 * res.level:g}%"
    panels = [(mu_panel(res.measure, transform, res.level, "pooled effect") if p == "mu"
               else tau_panel(res.measure)) for p in params]
    one_mu = len(res.mu_priors) == 1
    columns = []
    if show_values:
        columns = [f"{param_header(panels[j], p)} [{pct} CrI]" for j, p in enumerate(params)]
    rows: list[PlotRow] = []
    bayes = t[t["kind"] == "bayes"]
    for i, (_, r) in enumerate(bayes.iterrows()):
        label = r["tau_prior"] if one_mu else f"tau ~ {r['tau_prior']}; mu ~ {r['mu_prior']}"
        row = PlotRow(key=f"prior{i}", label=label, kind="bayes")
        for j, p in enumerate(params):
            row.marks.append(Mark(j, r[f"{p}_median"], r[f"{p}_low"], r[f"{p}_high"], "bayes"))
            if show_values:
                row.cells[columns[j]] = [Cell(ci_text(panels[j].scale, r[f"{p}_median"],
                                                       r[f"{p}_low"], r[f"{p}_high"], digits),
                                              st.BAYES)]
        rows.append(row)
    legend: list[tuple[Any, str]] = [(engine_handle("bayes"), f"Posterior median, {pct} CrI")]
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
                row.cells[columns[j]] = [Cell(ci_text(panels[j].scale, r[f"{p}_median"],
                                                       r[f"{p}_low"], r[f"{p}_high"], digits))]
        rows.append(row)
        legend.append((engine_handle("classical"), f"Classical estimate, {pct} CI "
                                             "(tau: Q-profile)"))
        legend.append((line_handle(st.CLASSICAL, ":"), "Classical estimate"))
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
    panels = [(mu_panel(res.measure, transform, res.level, "pooled effect") if p == "mu"
               else tau_panel(res.measure)) for p in params]
    pcol = {"mu": ("estimate", "low", "high"), "tau": ("tau", "tau_low", "tau_high")}
    columns = ([f"{param_header(panels[j], p)} [{pct} interval]" for j, p in enumerate(params)]
               if show_values else [])
    engines = ["classical", "bayes"] if reference else ["bayes"]
    dys = {"classical": -TWO_DY, "bayes": TWO_DY} if reference else {"bayes": 0.0}
    rows: list[PlotRow] = []
    for i, a in enumerate(res.analyses):
        k = int(t.loc[(a, "bayes"), "k"])
        row = PlotRow(key=f"analysis{i}", label=f"{a} (k = {k})", kind="analysis",
                      weight="bold" if i == 0 else "normal",
                      height=TWO_HEIGHT if reference else 1.0)
        for j, p in enumerate(params):
            c_est, c_lo, c_hi = pcol[p]
            for e in engines:
                if (a, e) not in t.index:
                    continue
                r = t.loc[(a, e)]
                row.marks.append(Mark(j, r[c_est], r[c_lo], r[c_hi], e, dys[e]))
                if show_values:
                    row.cells.setdefault(columns[j], []).append(Cell(
                        ci_text(panels[j].scale, r[c_est], r[c_lo], r[c_hi], digits),
                        MARKERS[e][1], dys[e]))
        rows.append(row)
        if i == 0:
            for j, p in enumerate(params):
                for e in engines:
                    panels[j].vlines.append((float(t.loc[(a, e), pcol[p][0]]), MARKERS[e][1],
                                             ":"))
            if len(res.analyses) > 1:
                rows.append(PlotRow(key="sep", label="", kind="separator", height=0.5))
    legend = [(engine_handle("bayes"), f"Bayesian: posterior median, {pct} CrI")]
    if reference:
        legend.insert(0, (engine_handle("classical"), f"Classical {res.method} ({res.test}), "
                                                f"{pct} CI (tau: Q-profile)"))
    legend.append((line_handle(st.REF, ":"), "All studies"))
    notes = [f"Bayesian priors: mu ~ {res.priors['mu'].describe()}, tau ~ "
             f"{res.priors['tau'].describe()}."]
    notes += [f"{a}: {res.rules[a]}." for a in res.analyses[1:]]
    notes += list(res.notes)
    return rows, panels, columns, legend, notes, "Analysis"

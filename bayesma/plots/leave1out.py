"""Leave-one-out plot: classical and Bayesian estimates without each study.

:func:`leave1out_plot` draws one row per omitted study: the classical leave-one-out
estimate and CI (``bm.leave1out``) beside the Bayesian posterior median and CrI without
that study, both taken from a :func:`bayesma.bayes_leave1out` result, with the
all-studies estimates as vertical lines; studies flagged by the cross-validated
predictive check are marked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayesma.bayes.protocol import Posterior
from bayesma.classical.rma import RMAResult
from bayesma.errors import BayesmaError
from bayesma.plots import _style as st
from bayesma.plots.intervals import (
    Cell,
    Mark,
    PlotRow,
    ci_text,
    engine_handle,
    line_handle,
    mu_panel,
    render_intervals,
    tau_panel,
)
from bayesma.sensitivity.loo import BayesLeave1Out, bayes_leave1out

__all__ = ["leave1out_plot", "leave1out_result"]


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
        A :func:`bayesma.bayes_leave1out` result (drawn as is). As a convenience, what
        it is computed from is accepted too: a study table (with ``yi``, ``vi``,
        ``mu_prior``, ``tau_prior``, ``measure``), an exact posterior (its priors), or a
        classical fit (its studies, estimator and test; priors as given or the
        defaults); :func:`leave1out_result` then runs ``bm.bayes_leave1out`` before
        anything is drawn.
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
    params = [params] if isinstance(params, str) else list(params)
    if not params or any(p not in ("mu", "tau") for p in params):
        raise BayesmaError(f"params must be a non-empty selection of 'mu' and 'tau', got "
                           f"{params!r}")
    # the analysis to draw; the drawing below only reads it
    loo = leave1out_result(res_or_data, yi=yi, vi=vi, mu_prior=mu_prior, tau_prior=tau_prior,
                           measure=measure, **loo_kwargs)
    meas = measure or loo.measure
    pct = f"{100 * loo.level:g}%"
    panels = [(mu_panel(meas, transform, loo.level, "without the study") if p == "mu"
               else tau_panel(meas)) for p in params]
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
                row.cells[columns[0]] = [Cell(ci_text(sc, c["estimate"], c["ci_low"],
                                                       c["ci_high"], digits), st.CLASSICAL)]
            row.cells[columns[-1]] = [Cell(ci_text(sc, r["mu_median"], r["mu_low"],
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
        legend.append((engine_handle("classical"), f"Classical {res.method} ({res.test}), "
                                             f"{pct} CI (tau: estimate)"))
    legend.append((engine_handle("bayes"), f"Bayesian: posterior median, {pct} CrI"))
    if use_cl:
        legend.append((line_handle(st.CLASSICAL, ":"), "Classical, all studies"))
    legend.append((line_handle(st.BAYES, "--"), "Bayesian, all studies"))
    notes = [f"Bayesian priors: mu ~ {loo.priors['mu'].describe()}, tau ~ "
             f"{loo.priors['tau'].describe()}."]
    if flagged:
        notes.append(f"\u2020 Not predicted by the other studies: cross-validated posterior "
                     f"predictive p < {loo.alpha:g} (about {loo.alpha * loo.k:.1f} such flags "
                     f"are expected by chance among {loo.k} studies).")
    if xlim is not None and len(xlim) != len(panels):
        raise BayesmaError(f"xlim needs one entry per panel ({len(panels)})")
    fig = render_intervals(rows, panels, columns,
                  title="Leave-one-out analysis" if title is None else title, legend=legend,
                  notes=notes, fontsize=fontsize, panel_width=panel_width,
                  max_label_width=max_label_width, xlims=xlim, label_header="Study omitted")
    st.save_figure(fig, save)
    return fig


def leave1out_result(res_or_data: Any, *, yi: str = "yi", vi: str = "vi", mu_prior: Any = None,
                     tau_prior: Any = None, measure: str | None = None, **loo_kwargs: Any
                     ) -> BayesLeave1Out:
    """The :func:`bayesma.bayes_leave1out` result behind :func:`leave1out_plot`.

    A :class:`~bayesma.sensitivity.loo.BayesLeave1Out` is returned as is. A classical fit
    gives the analysis of its studies with its estimator, test and level for the
    classical part; a study table or an exact posterior is passed to
    :func:`bayesma.bayes_leave1out` with the other arguments.
    """
    if isinstance(res_or_data, BayesLeave1Out):
        return res_or_data
    if isinstance(res_or_data, RMAResult):
        res = res_or_data
        df = pd.DataFrame({"yi": np.asarray(res.yi, float), "vi": np.asarray(res.vi, float),
                           "study": list(res.labels)})
        loo_kwargs.setdefault("classical", res.method)
        loo_kwargs.setdefault("classical_test", res.test)
        loo_kwargs.setdefault("level", res.level)
        return bayes_leave1out(df, "yi", "vi", mu_prior=mu_prior, tau_prior=tau_prior,
                               measure=measure or res.measure, slab="study", **loo_kwargs)
    if isinstance(res_or_data, pd.DataFrame | Posterior):
        return bayes_leave1out(res_or_data, yi, vi, mu_prior=mu_prior, tau_prior=tau_prior,
                               measure=measure, **loo_kwargs)
    raise BayesmaError("leave1out_plot needs a bm.bayes_leave1out(...) result (or a study "
                       f"table, an exact posterior or an RMAResult); got "
                       f"{type(res_or_data).__name__}")

"""Forest plots: classical, and posterior with the classical twin beside it.

:func:`forest_plot` draws the table-and-graph figure that journals print (RevMan / R
``meta`` style) and adds what those cannot show: each study's Bayesian shrunken
estimate theta_i beneath its observed estimate, the Bayesian pooled mu beside the
classical pooled estimate, and both prediction intervals.

Layout (left to right): study label, optional per-arm data columns, observed estimate
[95% CI] | the graph | weight %, posterior estimate [95% CrI]. Column widths are
measured with the figure's renderer, so labels never overlap or run off the figure;
the figure height grows with the number of rows. Intervals that leave the axis range
end in an arrow head at the axis limit.

The package separates what is drawn from how:

* :mod:`~bayesma.plots.forest.inputs` reads the numbers from finished results (nothing
  is fitted there);
* :mod:`~bayesma.plots.forest.columns` and :mod:`~bayesma.plots.forest.rows` build the
  table (cells and marks);
* :mod:`~bayesma.plots.forest.render` lays it out and draws it.

The returned figure carries a :class:`ForestLayout` as ``fig.forest_layout`` (rows,
columns, cell texts, x range) for inspection and tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from bayesma.bayes.exact import ExactPosterior
from bayesma.bayes.fit import BayesFit
from bayesma.bayes.models.subgroups import Subgroups
from bayesma.bayes.protocol import Posterior
from bayesma.bayes.subgroups import ExactSubgroups, exact_subgroups
from bayesma.classical.rma import RMAResult
from bayesma.classical.subgroup import SubgroupResult
from bayesma.classical.subgroup import subgroup as classical_subgroup
from bayesma.errors import BayesmaError, DataError
from bayesma.plots import _style as st
from bayesma.plots.forest.columns import Column
from bayesma.plots.forest.dependent import dependent_cluster, read_dependent, relabel_dependent
from bayesma.plots.forest.inputs import SUBGROUP_HINT, read_result, study_arrays
from bayesma.plots.forest.multivariate import is_multivariate, multivariate_builder
from bayesma.plots.forest.render import ForestLayout, render
from bayesma.plots.forest.rob_columns import rob_key
from bayesma.plots.forest.rows import Mark, Row, RowBuilder

__all__ = ["Column", "ForestLayout", "Mark", "Row", "forest_plot"]

_SHOW = ("observed", "posterior", "pooled", "prediction")
_VALID_SHOW = frozenset({"observed", "posterior", "pooled", "prediction", "weights"})


def forest_plot(
    result: Any,
    *,
    classical: Any = None,
    data: pd.DataFrame | None = None,
    subgroup: str | None = None,
    sort_by: str | None = None,
    ascending: bool | None = None,
    transform: Any = None,
    show: Sequence[str] = _SHOW,
    labels: tuple[str, str] | None = ("Favours treatment", "Favours control"),
    ref_line: float | str | None = "auto",
    title: str | None = None,
    columns: str | Sequence[Any] | None = "auto",
    arm_columns: dict[str, str] | None = None,
    arm_labels: tuple[str, str] = ("Treatment", "Control"),
    prob: float = 0.95,
    point: str = "median",
    digits: int = 2,
    xlim: tuple[float, float] | None = None,
    xlabel: str | None = None,
    study_header: str = "Study",
    fontsize: float = st.FONTSIZE,
    plot_width: float = 3.0,
    max_label_width: float = 3.0,
    pooled_line: bool = True,
    footer: bool = True,
    save: str | Path | None = None,
    cluster: str | None = None,
    rob: bool | str | Sequence[str] | None = None,
    rob_tool: str = "generic",
) -> Figure:
    """Forest plot of a classical or Bayesian meta-analysis.

    Parameters
    ----------
    result : RMAResult, Posterior, SubgroupResult or ExactSubgroups
        An :class:`~bayesma.classical.rma.RMAResult` gives the classical forest plot.
        A Bayesian result (exact posterior or MCMC fit) gives the posterior forest
        plot: each study's shrunken theta_i beneath its observed estimate, the
        posterior mu and predictive interval, and the classical twin beside them. A
        :class:`~bayesma.classical.subgroup.SubgroupResult` (``bm.subgroup``) gives a
        classical forest plot with one section per level; ``bm.exact_subgroups(...)``
        the posterior one (per-level exact posteriors as subtotals). A ``bm.Multivariate``
        fit gives a section per outcome, each closed by its ``rma_mv(struct="UN")`` mean,
        posterior ``mu[<outcome>]`` and new-study prediction, and no overall row
        (:mod:`~bayesma.plots.forest.multivariate`).
    classical : RMAResult, None or False
        The classical result drawn with a Bayesian one. ``None`` uses the result's
        classical twin (REML with the Hartung-Knapp-Sidik-Jonkman test unless the
        result was built otherwise); ``False`` leaves the classical pooled rows out.
        Ignored for classical results.
    data : DataFrame, optional
        The study table (rows used, in order) for per-arm columns, sorting by a
        column and subgroups; default: the result's data.
    subgroup : str, optional
        Ignored when ``result`` is already a subgroup analysis by that column. Otherwise a
        convenience for a column of ``data``: the subgroup result is built here, before
        drawing, with the public functions (``bm.subgroup`` for a classical fit with its
        estimator and test; ``bm.exact_subgroups`` for an exact posterior with its priors
        and its twin's estimator and test) and then drawn like that result. An MCMC fit is
        never refitted: pass a Subgroups fit or ``bm.exact_subgroups(...)`` instead.
    sort_by : str, optional
        ``"label"``, ``"effect"`` (observed estimate), ``"posterior"`` (theta_i),
        ``"weight"``, ``"precision"`` or a column of ``data`` (e.g. ``"year"``).
    ascending : bool, optional
        Sort order; default ascending, except weight and precision (largest first).
    transform : None, False, "exp", "ztor" or callable
        Display scale. ``None`` back-transforms log-scale measures (OR, RR, ROM, PETO,
        HR, ...; :data:`bayesma.measures.LOG_SCALE_MEASURES`) to the natural scale on a
        log axis; ``False`` keeps the model scale.
    show : sequence of str
        Which elements to draw: ``"observed"`` (study squares and CIs),
        ``"posterior"`` (shrunken theta_i), ``"pooled"`` (diamonds), ``"prediction"``
        (prediction intervals); ``"weights"`` is implied by ``"observed"``.
    labels : (str, str) or None
        Texts under the axis, left and right of the reference line.
    ref_line : "auto", float or None
        Position of the no-effect line on the displayed scale (``"auto"``: 0, or 1
        when back-transformed); ``None`` for none.
    title : str, optional
        Title above the table.
    columns : "auto", None or sequence
        Extra left columns. ``"auto"``: per-arm data (events/total, mean (SD)/n, n, N)
        found through ``arm_columns``, else the mapping ``bm.escalc`` records in
        ``data.attrs["columns"]``, else metafor's column names (``ai, bi/n1i, ci,
        di/n2i``; ``m1i, sd1i, n1i, m2i, sd2i, n2i``; ``n1i, n2i``; ``ni``). A sequence
        of data column names (or ``(header, column)`` pairs, or ``"arms"`` for the
        per-arm columns).
    arm_columns : dict, optional
        Map metafor's names to the table's, e.g. ``{"ai": "tpos", "bi": "tneg",
        "ci": "cpos", "di": "cneg"}``.
    arm_labels : (str, str)
        Headers over the two arms' columns.
    prob : float
        Probability of all intervals (CI, CrI, prediction).
    point : {"median", "mean"}
        Posterior point estimate (the median back-transforms exactly).
    digits : int
        Decimals of the estimates.
    xlim : (float, float), optional
        x range on the displayed scale (default: all point estimates and, unless very
        wide, all intervals; wider intervals end in arrows).
    xlabel : str, optional
        Axis label (default: the measure's name, e.g. "Risk ratio (log scale)").
    study_header : str
        Header of the label column.
    fontsize : float
        Font size in points; rows and columns scale with it.
    plot_width : float
        Width of the graph panel in inches.
    max_label_width : float
        Longer study labels wrap onto several lines (their row grows).
    pooled_line : bool
        Dotted vertical line at the pooled estimate (Bayesian mu if present).
    footer : bool
        Heterogeneity, the test for overall effect (RevMan's "Z = 3.21 (P = 0.001)"),
        the subgroup test, priors and legend under the graph.
    save : str or Path, optional
        Also write the figure there (PNG, SVG or PDF by extension).
    cluster : str, optional
        Several effects per study: group the effects under their study (a column of
        the data), with the study's posterior summary as a diamond. A three-level
        posterior (``bm.exact_posterior(..., random="~ 1 | study/esid")`` or a
        ``bm.Multilevel`` fit) is grouped by its outer level without it.
    rob : True, str or list of str, optional
        Risk-of-bias dots in columns at the right (RevMan / ``meta::forest`` style): the
        named columns of judgement words, or ``True`` for every text column whose values
        are all judgements of ``rob_tool``; a key under the graph names them.
    rob_tool : str
        The risk-of-bias tool of those judgements (:func:`bayesma.plots.rob_plot`'s
        ``tool``; default ``"generic"`` accepts Low / Unclear / Some concerns / High ...).

    Returns
    -------
    matplotlib.figure.Figure
        With ``fig.forest_layout`` (:class:`ForestLayout`).

    Raises
    ------
    BayesmaError
        An unknown option, a meta-regression (use ``bm.regression_plot``), or a result
        that lacks what the plot needs (the message names the result to pass).
    """
    show = tuple(show)
    bad = [s for s in show if s not in _VALID_SHOW]
    if bad:
        raise BayesmaError(f"show: unknown element(s) {bad}; choose from {sorted(_VALID_SHOW)}")
    if not 0 < prob < 1:
        raise BayesmaError(f"prob must be in (0, 1), got {prob}")
    if point not in ("median", "mean"):
        raise BayesmaError(f"point must be 'median' or 'mean', got {point!r}")

    def draw(builder: RowBuilder, scale: Any) -> Any:
        fig = render(builder, scale=scale, labels=labels, ref_line=ref_line, title=title,
                     xlim=xlim, xlabel=xlabel, fontsize=fontsize, plot_width=plot_width,
                     max_label_width=max_label_width, pooled_line=pooled_line,
                     footer=footer)
        st.save_figure(fig, save)
        return fig

    if is_multivariate(result):  # a section per outcome (plots/forest/multivariate.py)
        builder, scale = multivariate_builder(
            result, classical=classical, prob=prob, point=point, data=data,
            transform=transform, sort_by=sort_by, ascending=ascending, subgroup=subgroup,
            cluster=cluster, show=show, digits=digits, columns=columns,
            arm_columns=arm_columns, arm_labels=arm_labels, study_header=study_header,
            rob=rob, rob_tool=rob_tool)
        builder.footer_lines += rob_key(builder.rob_cols)
        return draw(builder, scale)
    by_cluster = dependent_cluster(result, cluster)
    if by_cluster is not None:
        fit, have = read_dependent(result, by_cluster, prob=prob, point=point, data=data)
        scale = st.resolve_scale(fit.measure, transform)
        builder = RowBuilder(fit=fit, scale=scale, show=show, prob=prob, point=point,
                             digits=digits, columns=columns, arm_columns=arm_columns,
                             arm_labels=arm_labels, study_header=study_header, rob=rob,
                             rob_tool=rob_tool)
        builder.build_subgroups(builder.order(sort_by, ascending))
        builder.footer_lines += rob_key(builder.rob_cols)
        relabel_dependent(builder, result, by_cluster, have, prob, point)
        return draw(builder, scale)
    if subgroup is not None and subgroup != _grouped_by(result):
        # build the subgroup result first; drawing never fits
        result = subgroup_result(result, subgroup, data=data, classical=classical)
        data = None
    fit = read_result(result, classical=classical, prob=prob, point=point, data=data)
    measure = fit.measure
    if measure is None and fit.data is not None:
        measure = fit.data.attrs.get("measure")
    scale = st.resolve_scale(measure, transform)

    builder = RowBuilder(fit=fit, scale=scale, show=show, prob=prob, point=point,
                         digits=digits, columns=columns, arm_columns=arm_columns,
                         arm_labels=arm_labels, study_header=study_header, rob=rob,
                         rob_tool=rob_tool)
    order = builder.order(sort_by, ascending)
    if fit.sections is not None:
        builder.build_subgroups(order)
    else:
        builder.build_plain(order)
    builder.footer_lines += rob_key(builder.rob_cols)

    return draw(builder, scale)


def _grouped_by(result: Any) -> str | None:
    """The grouping column of a subgroup result (None for other results)."""
    if isinstance(result, SubgroupResult | ExactSubgroups):
        return result.by
    if isinstance(result, BayesFit) and isinstance(result.model, Subgroups):
        return result.model.by
    return None


def _unused_name(d: pd.DataFrame, base: str) -> str:
    name = base
    while name in d.columns:
        name = "_" + name
    return name


def subgroup_result(result: Any, column: str, *, data: pd.DataFrame | None = None,
                    classical: Any = None) -> SubgroupResult | ExactSubgroups:
    """The subgroup result behind ``forest_plot(result, subgroup=column)``.

    A classical fit gives ``bm.subgroup`` with the fit's estimator, test and level; an
    exact posterior gives ``bm.exact_subgroups`` with its priors, level and its twin's
    estimator and test (``classical`` when an RMAResult is given). The study table is
    ``data`` or the result's, in the result's row order.

    Raises
    ------
    BayesmaError
        For an MCMC fit (pass a Subgroups fit or ``bm.exact_subgroups(...)``) or a result
        that is already a subgroup analysis.
    DataError
        When ``column`` is not in the table or has missing values.
    """
    by = _grouped_by(result)
    if by is not None:
        raise BayesmaError(f"subgroup={column!r}: the result is already a subgroup analysis "
                           f"by {by!r}; leave subgroup= out")
    if isinstance(result, RMAResult):
        twin, post = result, None
    elif isinstance(result, ExactPosterior):
        twin = classical if isinstance(classical, RMAResult) else result.classical
        post = result
    elif isinstance(result, Posterior):
        raise BayesmaError(f"forest_plot(subgroup={column!r}) does not refit an MCMC fit per "
                           f"level; {SUBGROUP_HINT}")
    else:
        raise BayesmaError(f"forest_plot(subgroup=...) needs an RMAResult or a Bayesian "
                           f"result; got {type(result).__name__}")
    yi, vi, labels = (study_arrays(post, twin) if post is not None else
                      (result.yi, result.vi, [str(s) for s in result.labels]))
    d = data if data is not None else result.data
    if d is None or not isinstance(d, pd.DataFrame) or column not in d.columns:
        raise DataError(
            f"subgroup column {column!r} is not in the data"
            + ("" if not isinstance(d, pd.DataFrame) else
               f"; available: {', '.join(map(str, d.columns))}"), column=column)
    if len(d) != len(yi):
        raise DataError(f"data has {len(d)} rows but the result has {len(yi)} studies; pass "
                        "the rows used in the analysis, in the same order")
    if d[column].isna().any():
        raise DataError(f"subgroup column {column!r} has missing values; drop or fill them",
                        column=column)
    frame = d.copy()
    cy, cv, cl = (_unused_name(frame, n) for n in ("yi_", "vi_", "study_"))
    frame[cy], frame[cv], frame[cl] = yi, vi, labels
    measure = st.result_measure(result)
    if measure is not None:
        frame.attrs["measure"] = measure
    if post is None:
        return classical_subgroup(frame, yi=cy, vi=cv, by=column, method=twin.method,
                                  test=twin.test, level=twin.level, slab=cl)
    pri = post.priors or {}
    return exact_subgroups(frame, by=column, yi=cy, vi=cv, mu_prior=pri.get("mu"),
                           tau_prior=pri.get("tau"), measure=measure, slab=cl,
                           level=post.level, classical=twin.method if twin else "REML",
                           classical_test=twin.test if twin else "knha")

"""Figures of a meta-analysis: forest, funnel, prior/posterior, tau trace, bubble plots.

Every function takes keyword-only options, returns the matplotlib Figure and can write
it with ``save="figure.png"`` (PNG, SVG or PDF, chosen by the extension).

>>> import bayesma as bm
>>> post = bm.exact_posterior(bm.datasets.load("bcg"))
>>> fig = bm.forest_plot(post, subgroup="alloc", save="forest.png")
"""

from bayesma.plots.forest import forest_plot
from bayesma.plots.funnel import funnel_plot
from bayesma.plots.prior_posterior import prior_posterior_plot
from bayesma.plots.regression import regression_plot
from bayesma.plots.selection import selection_plot
from bayesma.plots.sensitivity import leave1out_plot, sensitivity_plot
from bayesma.plots.trace import tau_trace_plot
from bayesma.sensitivity.common import register_plotter

register_plotter("BayesLeave1Out", leave1out_plot)
register_plotter("PriorSensitivity", sensitivity_plot)
register_plotter("SensitivitySubsets", sensitivity_plot)

__all__ = [
    "selection_plot",
    "forest_plot",
    "funnel_plot",
    "leave1out_plot",
    "prior_posterior_plot",
    "regression_plot",
    "sensitivity_plot",
    "tau_trace_plot",
]

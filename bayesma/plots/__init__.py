"""Figures of a meta-analysis: forest, funnel, prior/posterior, tau trace, bubble plots.

Every function takes keyword-only options, returns the matplotlib Figure and can write
it with ``save="figure.png"`` (PNG, SVG or PDF, chosen by the extension).

>>> import bayesma as bm
>>> post = bm.exact_posterior(bm.datasets.load("bcg"))
>>> fig = bm.forest_plot(post, subgroup="alloc", save="forest.png")
"""

from bayesma.plots.averaged import averaged_posterior_plot
from bayesma.plots.bma_sensitivity import bma_sensitivity_plot
from bayesma.plots.coverage import coverage_plot
from bayesma.plots.forest import forest_plot
from bayesma.plots.funnel import funnel_plot
from bayesma.plots.prior_posterior import prior_posterior_plot
from bayesma.plots.prisma import prisma_flow
from bayesma.plots.regression import regression_plot
from bayesma.plots.rob import rob_plot
from bayesma.plots.selection import selection_plot
from bayesma.plots.sensitivity import leave1out_plot, sensitivity_plot
from bayesma.plots.trace import tau_trace_plot
from bayesma.plots.weightfunction import weightfunction_plot
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
    "prisma_flow",
    "regression_plot",
    "rob_plot",
    "sensitivity_plot",
    "tau_trace_plot",
    "averaged_posterior_plot",
    "bma_sensitivity_plot",
    "coverage_plot",
    "weightfunction_plot",
]

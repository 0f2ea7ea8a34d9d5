"""Simulation studies: simulated meta-analyses and coverage of interval methods.

``simulate`` draws replicates of the normal-normal model, ``simulate_binomial`` 2x2
tables through ``escalc``; ``coverage_study`` runs interval methods (classical
confidence and prediction intervals, Bayesian credible intervals) over simulated
scenarios through the batch engines; ``empirical_prior`` fits a predictive
distribution of tau² to a corpus of meta-analyses.
"""

from bayesma.simulation.coverage import COVERAGE_COLUMNS, coverage_study, default_mu_prior
from bayesma.simulation.empirical import (
    EmpiricalPriorFit,
    empirical_prior,
    empirical_prior_fit,
    marginal_log_lik,
    restricted_log_lik,
)
from bayesma.simulation.generate import VI_SCHEMES, draw_vi, simulate, simulate_binomial
from bayesma.simulation.methods import IntervalMethod, parse_method

__all__ = ["COVERAGE_COLUMNS", "VI_SCHEMES", "EmpiricalPriorFit", "IntervalMethod",
           "coverage_study", "default_mu_prior", "draw_vi", "empirical_prior",
           "empirical_prior_fit", "marginal_log_lik", "parse_method", "restricted_log_lik",
           "simulate", "simulate_binomial"]

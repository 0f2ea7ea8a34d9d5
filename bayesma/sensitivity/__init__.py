"""Sensitivity analyses: prior sweeps, power-scaling, Bayesian leave-one-out, subsets.

==============================  =======================================================
function                        what it does
==============================  =======================================================
:func:`prior_sensitivity`       refit under every combination of tau and mu priors
                                (ready-made sets: "weakly informative", "empirical",
                                "vague"), with the classical twin as a reference row
:func:`psense`                  power-scaling prior / likelihood sensitivity
                                (Kallioinen et al. 2024) of a BayesFit or an
                                ExactPosterior, with a plain-language verdict
:func:`bayes_leave1out`         exact posterior of mu and tau without each study, and
                                a cross-validated posterior predictive check per study
:func:`sensitivity_subsets`     before/after table (classical and exact Bayesian)
                                excluding high risk-of-bias studies, outliers or any
                                boolean rule
:func:`bma_sensitivity`         inclusion Bayes factors of model averaging (bm.bma)
                                across effect and heterogeneity prior scales
==============================  =======================================================
"""

from bayesma.sensitivity.averaging import bma_sensitivity
from bayesma.sensitivity.loo import BayesLeave1Out, bayes_leave1out
from bayesma.sensitivity.power import psense, psense_tree
from bayesma.sensitivity.prior_sets import PRIOR_SETS, tau_prior_set
from bayesma.sensitivity.priors import PriorSensitivity, prior_sensitivity
from bayesma.sensitivity.subsets import (
    ROB_VALUES,
    SensitivitySubsets,
    rob_columns,
    rob_judgements,
    sensitivity_subsets,
)

__all__ = [
    "PRIOR_SETS",
    "ROB_VALUES",
    "BayesLeave1Out",
    "PriorSensitivity",
    "SensitivitySubsets",
    "bayes_leave1out",
    "bma_sensitivity",
    "prior_sensitivity",
    "psense",
    "psense_tree",
    "rob_columns",
    "rob_judgements",
    "sensitivity_subsets",
    "tau_prior_set",
]

"""bayesma: Bayesian meta-analysis with PyMC, an exact engine and metafor-matching classics.

Public names are imported lazily, so ``import bayesma`` is fast and the classical
engine does not pay for importing PyMC.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    # data and effect sizes
    "escalc": "bayesma.effect_sizes",
    "convert": "bayesma.effect_sizes",
    # classical engine
    "rma": "bayesma.classical",
    "RMAResult": "bayesma.classical",
    "subgroup": "bayesma.classical",
    "SubgroupResult": "bayesma.classical",
    "leave1out": "bayesma.classical",
    "influence": "bayesma.classical",
    "cumul": "bayesma.classical",
    "trimfill": "bayesma.classical",
    "regtest": "bayesma.classical",
    "ranktest": "bayesma.classical",
    "fsn": "bayesma.classical",
    "rma_mv": "bayesma.classical",
    "RMAMVResult": "bayesma.classical",
    "robust": "bayesma.classical",
    "coef_test": "bayesma.classical",
    "wald_test": "bayesma.classical",
    "impute_covariance_matrix": "bayesma.classical",
    "qprofile": "bayesma.classical",
    # Bayesian engine
    "exact_posterior": "bayesma.bayes",
    "ExactPosterior": "bayesma.bayes",
    "exact_subgroups": "bayesma.bayes",
    "ExactSubgroups": "bayesma.bayes",
    "Posterior": "bayesma.bayes",
    "RandomEffects": "bayesma.bayes",
    "MetaRegression": "bayesma.bayes",
    "Subgroups": "bayesma.bayes",
    "CommonEffect": "bayesma.bayes",
    "RobustRandomEffects": "bayesma.bayes",
    "BayesFit": "bayesma.bayes",
    "load": "bayesma.bayes",
    # sensitivity
    "prior_sensitivity": "bayesma.sensitivity",
    "psense": "bayesma.sensitivity",
    "bayes_leave1out": "bayesma.sensitivity",
    "sensitivity_subsets": "bayesma.sensitivity",
    # plots
    "forest_plot": "bayesma.plots",
    "funnel_plot": "bayesma.plots",
    "prior_posterior_plot": "bayesma.plots",
    "tau_trace_plot": "bayesma.plots",
    "regression_plot": "bayesma.plots",
    "sensitivity_plot": "bayesma.plots",
    "leave1out_plot": "bayesma.plots",
    # --- helper A (issue 11: robumeta RVE, vcalc, datasets)
    "robu": "bayesma.classical.robu",
    "RobuResult": "bayesma.classical.robu",
    "vcalc": "bayesma.classical.vcalc",
    # --- end A
    # --- helper B (issue 11: rma_mv struct, Bayesian Multivariate)
    "Multivariate": "bayesma.bayes.models.multivariate",
    # --- end B
    # --- helper C (issue 11: Bayesian Multilevel, exact 2-D engine)
    "Multilevel": "bayesma.bayes.models.multilevel",
    # --- end C
    # --- helper D (issue 12 classical: selection models, PET-PEESE)
    "selmodel": "bayesma.classical.selection",
    "pet_peese": "bayesma.classical.bias",
    "selection_plot": "bayesma.plots",
    # --- end D
    # --- helper E (issue 12 Bayesian: model averaging, RoBMA)
    "bma": "bayesma.bayes.averaging",
    "RoBMA": "bayesma.bayes.averaging",
    # --- end E
    # --- helper F (issue 13: escalc measures, conversions)
    "conv_fivenum": "bayesma.effect_sizes",
    "conv_wald": "bayesma.effect_sizes",
    # --- end F
    # --- helper G (issue 13: MH, Peto, GLMM, binomial-normal)
    "rma_mh": "bayesma.classical.pooling",
    "rma_peto": "bayesma.classical.pooling",
    "rma_glmm": "bayesma.classical.pooling",
    "BinomialNormal": "bayesma.bayes.models.binomial",
    # --- end G
    # --- helper H (integration: spec, pipeline, report, forest)
    # --- end H
    # === session 19 ===
    # --- helper A (issue 12: RoBMA)
    "RoBMAResult": "bayesma.bayes.averaging",
    # --- end A
    # --- helper B (issue 12: bias extras)
    "bma_sensitivity": "bayesma.sensitivity",
    "averaged_posterior_plot": "bayesma.plots",
    "weightfunction_plot": "bayesma.plots",
    "bma_sensitivity_plot": "bayesma.plots",
    # --- end B
    # --- helper C (issue 11: Multivariate)
    "MultilevelPosterior": "bayesma.bayes.multilevel",
    # --- end C
    # --- helper F (issue 15: batch engines)
    "batch_rma": "bayesma.batch",
    "batch_exact": "bayesma.batch",
    "batch_from_arrays": "bayesma.batch",
    "batch_fit": "bayesma.batch",
    # --- end F
    # --- helper G (issue 15: simulation, coverage, empirical priors)
    "simulate": "bayesma.simulation",
    "simulate_binomial": "bayesma.simulation",
    "coverage_study": "bayesma.simulation",
    "coverage_plot": "bayesma.plots",
    "empirical_prior": "bayesma.simulation",
    "empirical_prior_fit": "bayesma.simulation",
    # --- end G
    # --- helper H (issue 14: RevMan)
    "read_revman": "bayesma.revman",
    "RevManReview": "bayesma.revman",
    "RevManResult": "bayesma.revman",
    "write_revman_csv": "bayesma.revman",
    # --- end H
    # --- helper I (issue 14: review figures and tables)
    "rob_plot": "bayesma.plots",
    "prisma_flow": "bayesma.plots",
    "summary_of_findings": "bayesma.grade",
    "export_table": "bayesma.export",
    # --- end I
}
_SUBMODULES = {
    "priors", "datasets", "errors", "data", "classical", "bayes", "plots", "spec", "sensitivity",
    "batch", "simulation", "revman", "grade", "export",
}

__all__ = sorted([*_LAZY, *_SUBMODULES, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"bayesma.{name}")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bayesma' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__

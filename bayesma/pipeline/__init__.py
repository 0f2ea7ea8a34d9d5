"""Running a spec: every number the report shows, computed through the public API.

:func:`run_analysis` takes a validated :class:`~bayesma.spec.Spec` and returns a
:class:`SpecResult` with one :class:`OutcomeResult` per outcome: the classical twin
(:func:`bayesma.rma`), the Bayesian model(s) with the spec's engine, the summary table,
the small-study checks, the sensitivity analyses (:mod:`bayesma.sensitivity`), the
posterior differences between subgroups and the caveats (warnings) raised on the way.
The report (:mod:`bayesma.report`) only renders these results; writing files is
:func:`bayesma.report.write_outputs` (and :func:`bayesma.spec.run_spec` does both).
"""

from bayesma.pipeline.bias_models import run_bias_models
from bayesma.pipeline.dependent import (
    DependentResult,
    dependent_overview,
    dependent_summary,
    run_dependent,
)
from bayesma.pipeline.models import fit_bayes, fit_classical, level_params, subgroup_differences
from bayesma.pipeline.pooling import run_pooling
from bayesma.pipeline.results import OutcomeResult, SpecResult
from bayesma.pipeline.run import run_analysis, run_outcome
from bayesma.pipeline.sensitivity import prior_shift, run_sensitivity
from bayesma.pipeline.tables import benefit_text, overview_row, summary_table

__all__ = [
    "DependentResult",
    "OutcomeResult",
    "SpecResult",
    "benefit_text",
    "dependent_overview",
    "dependent_summary",
    "fit_bayes",
    "fit_classical",
    "level_params",
    "overview_row",
    "prior_shift",
    "run_analysis",
    "run_bias_models",
    "run_dependent",
    "run_outcome",
    "run_pooling",
    "run_sensitivity",
    "subgroup_differences",
    "summary_table",
]

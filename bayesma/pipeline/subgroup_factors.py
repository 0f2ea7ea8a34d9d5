"""Subgroup analyses on every factor of ``[model] by = [...]``: classical test and Bayesian model.

For each factor column: the classical subgroup analysis (``bm.subgroup``: a fit per level
with the spec's estimator and test, and the tests for subgroup differences) and the
Bayesian subgroup model by the exact engine (``bm.exact_subgroups``: a posterior per level
with the outcome's priors, and the posterior differences between levels).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bayesma.bayes.subgroups import ExactSubgroups, exact_subgroups
from bayesma.classical.subgroup import SubgroupResult, subgroup
from bayesma.pipeline.results import OutcomeResult, Say, failure_text
from bayesma.spec import OutcomeSpec, Spec

__all__ = ["FactorResult", "level_differences", "run_subgroup_factors"]


@dataclass
class FactorResult:
    """One subgroup factor: the classical analysis, the exact Bayesian subgroup model and
    the posterior differences between its levels (``a, b, median, low, high,
    prob_greater``, exact)."""

    by: str
    classical: SubgroupResult
    bayes: ExactSubgroups
    differences: pd.DataFrame


def level_differences(post: ExactSubgroups, level: float) -> pd.DataFrame:
    """Posterior of ``mu_a - mu_b`` for every pair of levels, exact
    (:meth:`ExactSubgroups.differences`: a Normal mixture over pairs of tau nodes)."""
    tab = post.differences(level)
    return tab[["a", "b", "median", "low", "high", "prob_greater"]].reset_index(drop=True)


def run_subgroup_factors(spec: Spec, o: OutcomeSpec, res: OutcomeResult,
                         say: Say) -> dict[str, FactorResult]:
    """Fit every factor of ``o.model["factors"]``; a failure becomes a note."""
    factors = o.model.get("factors") or []
    out: dict[str, FactorResult] = {}
    if not factors:
        return out
    cls = spec.classical
    level = float(o.model["level"])
    if spec.engine != "exact":
        res.notes.append("subgroup factors (" + ", ".join(factors) + "): Bayesian subgroup "
                         "models by the exact engine (same priors)")
    for by in factors:
        say(f"subgroups by {by}")
        try:
            c = subgroup(o.data, by=by, method=cls["method"], test=cls["test"], level=level,
                         slab=o.label)
            b = exact_subgroups(o.data, by=by, mu_prior=o.priors["mu"],
                                tau_prior=o.priors["tau"], measure=o.measure, slab=o.label,
                                level=level, classical=cls["method"],
                                classical_test=cls["test"])
        except Exception as exc:  # noqa: BLE001 - one factor must not sink the outcome
            res.notes.append(f"subgroups by {by}: not computed ({failure_text(exc)})")
            continue
        out[by] = FactorResult(by, c, b, level_differences(b, level))
    return out

"""Result types of a spec run: :class:`OutcomeResult` per outcome, :class:`SpecResult`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bayesma.bayes.protocol import Posterior
from bayesma.errors import BayesmaError
from bayesma.spec import OutcomeSpec, Spec

__all__ = ["OutcomeResult", "Say", "SpecResult", "failure_text", "quiet"]

#: A progress callback: called with one line of text per step.
Say = Callable[[str], None]


def quiet(_msg: str) -> None:
    """A progress callback that says nothing."""
    return None


def failure_text(exc: BaseException) -> str:
    """One line on why a step failed (bayesma's own message, else type and message)."""
    text = str(exc).strip().splitlines()
    head = text[0] if text else ""
    return head if isinstance(exc, BayesmaError) else f"{type(exc).__name__}: {head}"


@dataclass
class OutcomeResult:
    """Everything computed for one outcome (filled by :func:`run_outcome`).

    Attributes
    ----------
    subgroup_differences : DataFrame or None
        Posterior of ``mu_a - mu_b`` for every pair of subgroup levels: columns ``a, b,
        median, low, high, prob_greater`` (P(mu_a > mu_b)).
    prior_shift : dict
        How far the posterior median of mu moves across the sensitivity priors, in
        posterior SDs (:func:`prior_shift`).
    dependent : DependentResult or None
        Multilevel, multivariate and RVE outcomes: the classical twin, RVE fit, rho
        sensitivity and I² per level (:mod:`bayesma.pipeline.dependent`); ``bayes`` is
        then the dependent-effects posterior.
    pooling : dict
        ``[classical] pooling``: method name ("MH", "Peto", "GLMM") -> its result.
    factors : dict
        ``[model] by = [...]``: factor column -> its subgroup analyses
        (:class:`~bayesma.pipeline.subgroup_factors.FactorResult`).
    """

    spec: OutcomeSpec
    classical: Any = None  # RMAResult of the random-effects model
    bayes: Any = None  # ExactPosterior or BayesFit of the random-effects model
    moderator_classical: Any = None  # RMAResult (meta-regression) or SubgroupResult
    moderator_bayes: Any = None  # a Posterior, or dict level -> Posterior
    summary: pd.DataFrame | None = None
    overview: dict[str, Any] = field(default_factory=dict)
    bias: dict[str, Any] = field(default_factory=dict)
    sensitivity: dict[str, Any] = field(default_factory=dict)
    diagnostics: pd.DataFrame | None = None
    figures: dict[str, Path] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    subgroup_differences: pd.DataFrame | None = None
    prior_shift: dict[str, Any] = field(default_factory=dict)
    dependent: Any = None
    pooling: dict[str, Any] = field(default_factory=dict)
    factors: dict[str, Any] = field(default_factory=dict)

    @property
    def main(self) -> Any:
        """The posterior of the spec's model (meta-regression/subgroups when asked for)."""
        mb = self.moderator_bayes
        return mb if isinstance(mb, Posterior) else self.bayes


@dataclass
class SpecResult:
    """The results of a spec run: one :class:`OutcomeResult` per outcome and the files."""

    spec: Spec
    outcomes: list[OutcomeResult]
    out_dir: Path | None = None
    files: list[Path] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def overview(self) -> pd.DataFrame:
        """One row per outcome: k, participants, pooled effect with CrI and CI, tau, I²,
        P(effect < 0), the direction of benefit and P(benefit)."""
        return pd.DataFrame([o.overview for o in self.outcomes])

    def __getitem__(self, name: str) -> OutcomeResult:
        for o in self.outcomes:
            if name in (o.spec.name, o.spec.slug):
                return o
        raise KeyError(name)


"""The classical twin of the multivariate model: ``rma_mv`` with ``struct="UN"`` (REML).

metafor's ``rma.mv(yi, V, mods = ~ 0 + outcome, random = ~ outcome | study,
struct = "UN")`` (Berkey et al. 1998, Stat Med 17:2537; bayesma's
:func:`~bayesma.classical.multilevel.rma_mv`): a mean, a between-study variance per
outcome and their correlations, shaped for the summary table (``mu[<outcome>]``,
``tau[<outcome>]``, ``tau2[<outcome>]``, ``rho[<o1>,<o2>]``; Wald z intervals for the
means, no intervals for the variance components). With one outcome the twin is the
two-level model ``rma_mv(random = ~ 1 | study)``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Any

from bayesma.bayes.models.multivariate_data import MultivariateData
from bayesma.classical.multilevel import rma_mv
from bayesma.errors import BayesmaError

__all__ = ["MultivariateTwin", "multivariate_twin"]


@dataclass(frozen=True)
class MultivariateTwin:
    """``rma_mv(struct="UN")`` fit of a multivariate model, labelled by outcome.

    Attributes
    ----------
    fit : RMAMVResult
        The classical fit.
    outcomes : list of str
        Outcome names (the fit's coefficient and variance-component order).
    level : float
        Confidence level of the intervals.
    method : str
        ``"REML"`` or ``"ML"``.
    """

    fit: Any
    outcomes: list[str]
    level: float
    method: str = "REML"
    args: tuple = ()

    @property
    def test(self) -> str:
        """The coefficients' test (``"z"``)."""
        return str(self.fit.test)

    @property
    def p(self) -> int:
        return int(self.fit.p)

    @property
    def int_only(self) -> bool:
        """Not a single pooled effect: readers that need one get a clear error rather
        than a wrong number (``bm.forest_plot`` draws one section per outcome)."""
        raise BayesmaError("the multivariate model pools one effect per outcome, not one "
                           "overall effect (see summary(), rho_matrix() and "
                           "bm.forest_plot, which draws a section per outcome)")

    @property
    def twin_label(self) -> str:
        """Label of the twin in summary tables, e.g. ``"rma_mv UN REML (z)"``."""
        return f"rma_mv UN {self.method} ({self.test})"

    def tau2(self) -> list[float]:
        """Between-study variance of each outcome."""
        if len(self.outcomes) == 1:
            return [float(self.fit.sigma2[0])]
        return [float(t) for t in self.fit.tau2]

    def rho(self) -> dict[str, float]:
        """Between-study correlation of each pair ``"<o1>,<o2>"``."""
        out: dict[str, float] = {}
        if len(self.outcomes) < 2:
            return out
        R = self.fit.rho
        for a, oa in enumerate(self.outcomes):
            for ob in self.outcomes[a + 1:]:
                out[f"{oa},{ob}"] = float(R.loc[oa, ob])
        return out

    def table_rows(self, rows: list[str]) -> dict[str, tuple[float, float, float]]:
        """``{row label: (estimate, low, high)}`` for the summary table."""
        nan = math.nan
        out: dict[str, tuple[float, float, float]] = {}
        coef = self.fit.coef
        for j, o in enumerate(self.outcomes):
            r = coef.iloc[j]
            out[f"mu[{o}]"] = (float(r["estimate"]), float(r["ci_low"]), float(r["ci_high"]))
        for o, t2 in zip(self.outcomes, self.tau2(), strict=True):
            out[f"tau[{o}]"] = (math.sqrt(max(t2, 0.0)), nan, nan)
            out[f"tau2[{o}]"] = (t2, nan, nan)
        for lab, r in self.rho().items():
            out[f"rho[{lab}]"] = (r, nan, nan)
        return {k: v for k, v in out.items() if k in rows}

    def with_settings(self, level: float | None = None, **_: Any) -> MultivariateTwin:
        """The twin at another confidence level."""
        if level is None or math.isclose(level, self.level):
            return self
        return replace(self, fit=_fit(*self.args, method=self.method, level=float(level)),
                       level=float(level))


def _fit(mv: MultivariateData, outcome: str, study: str, *, method: str, level: float):
    d = mv.data.copy()
    d["_yi"] = mv.yi
    d[outcome] = d[outcome].astype(str)  # a factor (numeric codes too), levels as mv.outcomes
    if mv.m == 1:
        random, mods, struct = f"~ 1 | {study}", None, None
    else:
        random, mods, struct = f"~ {outcome} | {study}", f"~ 0 + {outcome}", "UN"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rma_mv(d, "_yi", None, V=mv.V, random=random, struct=struct, mods=mods,
                      method=method, level=level, measure=mv.measure)


def multivariate_twin(mv: MultivariateData, *, outcome: str, study: str,
                      method: str = "REML", level: float = 0.95) -> MultivariateTwin:
    """Fit the classical twin (see the module documentation)."""
    method = str(method).upper()
    if method not in ("REML", "ML"):
        raise BayesmaError(f"the classical twin of the multivariate model is rma_mv with "
                           f"method 'REML' or 'ML', got {method!r}")
    fit = _fit(mv, outcome, study, method=method, level=float(level))
    return MultivariateTwin(fit=fit, outcomes=list(mv.outcomes), level=float(level),
                            method=method, args=(mv, outcome, study))

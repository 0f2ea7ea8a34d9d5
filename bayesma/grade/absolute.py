"""Anticipated absolute effects per 1,000 from a relative effect and an assumed control risk.

The formulas of the Cochrane Handbook (version 6.4, section 14.1.5.1, "Computation of
absolute effects"; GRADE Handbook, Schünemann et al. 2013, section 5.4.2): with an
assumed comparator risk ACR, the corresponding intervention risk is

* risk ratio: ``ACR * RR``;
* odds ratio: ``OR * ACR / (1 - ACR + OR * ACR)``;
* hazard ratio: ``1 - (1 - ACR) ** HR`` (event risk at a fixed time);
* risk difference: ``ACR + RD``;

each interval end of the relative effect gives the matching end of the absolute effect.
Standardized mean differences are read with Cohen's (1988) rule of thumb as the Cochrane
Handbook (section 15.5.3.1) suggests: about 0.2 small, 0.5 moderate, 0.8 large.
"""

from __future__ import annotations

import math

from bayesma.errors import BayesmaError

__all__ = ["ABSOLUTE_MEASURES", "intervention_risk", "smd_size", "per_1000"]

#: measures whose pooled effect gives an absolute effect for an assumed control risk
ABSOLUTE_MEASURES = ("RR", "OR", "PETO", "HR", "RD")


def intervention_risk(measure: str, effect: float, acr: float) -> float:
    """Risk with the intervention for a relative effect on its natural scale.

    ``effect`` is RR, OR (also Peto's OR) or HR (not their logs), or RD; ``acr`` the
    assumed control risk (0-1). Cochrane Handbook 6.4, section 14.1.5.1.
    """
    if not 0 <= acr <= 1:
        raise BayesmaError(f"assumed control risk must be between 0 and 1; got {acr}")
    if not math.isfinite(effect):
        return float("nan")
    code = measure.upper()
    if code == "RR":
        return min(acr * effect, 1.0)
    if code in ("OR", "PETO"):
        return effect * acr / (1 - acr + effect * acr)
    if code == "HR":
        return 1 - (1 - acr) ** effect
    if code == "RD":
        return min(max(acr + effect, 0.0), 1.0)
    raise BayesmaError(f"no absolute effect for measure {measure!r}; use one of "
                       f"{', '.join(ABSOLUTE_MEASURES)}")


def per_1000(risk: float) -> int:
    """A risk as a whole number per 1,000 (rounded half away from zero)."""
    return int(math.floor(1000 * risk + 0.5))


def smd_size(smd: float) -> str:
    """Cohen's rule of thumb for an SMD (Cochrane Handbook 6.4, 15.5.3.1): the size word."""
    a = abs(smd)
    if a < 0.2:
        return "less than small"
    if a < 0.5:
        return "small"
    if a < 0.8:
        return "moderate"
    return "large"

"""Helpers shared by the small-study / publication-bias tests (trimfill, regtest, ...)."""

from __future__ import annotations

import math

from bayesma.classical.checks import is_ee
from bayesma.errors import TooFewStudiesError

__all__ = ["check_estimable", "p_equals"]


def check_estimable(k: int, p: int, method: str, what: str) -> None:
    """metafor's rma.uni check: a tau² estimator needs k > p (k = 1 aside)."""
    # metafor rma.uni: stop("Number of parameters to be estimated is larger than the
    # number of observations.") when k - p < 1 for a random-effects estimator.
    if k < p or (k == p and k > 1 and not is_ee(method)):
        raise TooFewStudiesError(
            f"{what}: number of parameters to be estimated ({p}) is larger than the number "
            f"of observations minus one (k = {k}) for method {method!r}; metafor stops here "
            "too ('Number of parameters to be estimated is larger than the number of "
            "observations'). Use method='EE' or more studies."
        )


def p_equals(p: float | None, digits: int = 4) -> str:
    """``"p = 0.1234"``, ``"p < 0.0001"`` or ``"p = NA"`` (metafor's bias-test printouts).

    A variant of :func:`bayesma.formatting.fmt_pval` with the ``p =`` / ``p <`` prefix
    and a leading zero, as metafor's ``print.regtest`` and ``print.ranktest`` show it.
    """
    if p is None or math.isnan(p):
        return "p = NA"
    if p < 10.0 ** (-digits):
        return f"p < {10.0 ** (-digits):.{digits}f}"
    return f"p = {p:.{digits}f}"

"""The six selection (weight) functions of metafor 3.8's ``selmodel``: parameterisation,
bounds, starting values and null values, one :class:`SelectionType` each.

Weight functions w(p; delta) of the one-sided p-values, exactly as ``selmodel.rma.uni``
defines them (Vevea & Hedges 1995 for the step function; Citkowicz & Vevea 2017 for the
beta; Preston, Ashby & Smyth 2004 for the half-normal, negative-exponential, logistic and
power functions). ``steps[0]`` is the optional single cut point below which w = 1 (metafor's
``steps`` for the continuous types, default 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bayesma.errors import BayesmaError

__all__ = ["SELECTION_TYPES", "SelectionType", "get_type"]

WeightFun = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SelectionType:
    """One selection function (metafor 3.8 ``selmodel``, ``type = name``).

    Attributes
    ----------
    name : str
        metafor's ``type``.
    n_delta : int or None
        Number of selection parameters (None: one per step interval).
    delta_init, delta_min, delta_max, h0 : float
        Starting value, optimisation bounds and value under "no selection" of each delta.
    lb_exclusive : bool
        The lower bound 0 is excluded (beta: delta > 0).
    pval_min : float
        p-values are truncated to ``[pval_min, 1 - pval_min]`` (metafor's ``pval.min``).
    weight : callable
        ``weight(p, delta, steps) -> w``; the continuous types use ``steps[0]``.
    """

    name: str
    n_delta: int | None
    delta_init: float
    delta_min: float
    delta_max: float
    h0: float
    lb_exclusive: bool
    pval_min: float
    weight: WeightFun


def _beta(p, d, steps):
    # metafor: x^(delta[1] - 1) * (1 - x)^(delta[2] - 1)  (Citkowicz & Vevea 2017)
    return p ** (d[0] - 1.0) * (1.0 - p) ** (d[1] - 1.0)


def _cut(p, steps, f):
    # metafor: ifelse(x <= steps[1], 1, f(x) / f(steps[1]))
    step = float(steps[0])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return np.where(p <= step, 1.0, f(p) / f(step))


def _halfnorm(p, d, steps):
    # metafor: exp(-delta * x^2) / exp(-delta * steps^2)
    return _cut(p, steps, lambda x: np.exp(-d[0] * np.square(x)))


def _negexp(p, d, steps):
    # metafor: exp(-delta * x) / exp(-delta * steps)
    return _cut(p, steps, lambda x: np.exp(-d[0] * x))


def _logistic(p, d, steps):
    # metafor: 2 exp(-delta x) / (1 + exp(-delta x)), scaled to 1 at steps
    return _cut(p, steps, lambda x: 2.0 * np.exp(-d[0] * x) / (1.0 + np.exp(-d[0] * x)))


def _power(p, d, steps):
    # metafor: (1 - x)^delta / (1 - steps)^delta
    return _cut(p, steps, lambda x: (1.0 - x) ** d[0])


def _stepfun(p, d, steps):
    # metafor: delta[j] for the interval steps[j-1] < p <= steps[j] (Vevea & Hedges 1995)
    idx = np.searchsorted(np.asarray(steps, dtype=float), p, side="left")
    return np.asarray(d, dtype=float)[np.minimum(idx, len(d) - 1)]


SELECTION_TYPES: dict[str, SelectionType] = {
    "beta": SelectionType("beta", 2, 1.0, 1e-5, 100.0, 1.0, True, 1e-5, _beta),
    "halfnorm": SelectionType("halfnorm", 1, 1.0, 0.0, 100.0, 0.0, False, 0.0, _halfnorm),
    "negexp": SelectionType("negexp", 1, 1.0, 0.0, 100.0, 0.0, False, 0.0, _negexp),
    "logistic": SelectionType("logistic", 1, 1.0, 0.0, 100.0, 0.0, False, 0.0, _logistic),
    "power": SelectionType("power", 1, 1.0, 0.0, 100.0, 0.0, False, 1e-5, _power),
    "stepfun": SelectionType("stepfun", None, 1.0, 0.0, 100.0, 1.0, False, 0.0, _stepfun),
}


def get_type(name: str) -> SelectionType:
    """The :class:`SelectionType` called ``name`` (exact metafor names)."""
    try:
        return SELECTION_TYPES[name]
    except KeyError:
        raise BayesmaError(
            f"selmodel: unknown type {name!r}; choose one of {', '.join(SELECTION_TYPES)}"
        ) from None

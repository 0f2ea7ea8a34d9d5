"""tau, tau², I² and H² as transforms of tau (and back), with their Jacobians.

``I² = tau² / (tau² + s²)`` (in percent, as metafor) and ``H² = (tau² + s²) / s²``
(Higgins & Thompson 2002, Stat Med 21:1539, eq. 9-10), with ``s²`` metafor's typical
within-study variance ``(k - p) / tr(P)``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["TAU_LIKE", "from_tau", "to_tau", "log_dtau_dx", "log_dx_du"]

#: parameters that are monotone transforms of tau
TAU_LIKE = ("tau", "tau2", "i2", "h2")


def from_tau(kind: str, tau: np.ndarray, s2: float) -> np.ndarray:
    """tau -> ``kind`` (tau, tau2, i2 in percent, h2)."""
    if kind == "tau":
        return tau
    t2 = np.square(tau)
    if kind == "tau2":
        return t2
    if kind == "h2":  # H² = (tau² + s²) / s² (Higgins & Thompson 2002, eq. 9)
        return 1.0 + t2 / s2
    with np.errstate(invalid="ignore"):  # I² = tau² / (tau² + s²) (ibid., eq. 10)
        out = 100.0 * t2 / (t2 + s2)  # in percent, as metafor
    return np.where(np.isinf(tau), 100.0, out)


def to_tau(kind: str, x: np.ndarray, s2: float) -> np.ndarray:
    """``kind`` -> tau (NaN outside the range of the transform)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "tau":
            return x
        if kind == "tau2":
            return np.sqrt(np.where(x < 0, np.nan, x))
        if kind == "h2":
            return np.sqrt(np.where(x < 1, np.nan, s2 * (x - 1.0)))
        u = x / 100.0  # I² in percent
        return np.sqrt(s2 * u / (1.0 - u))


def log_dtau_dx(kind: str, x: np.ndarray, s2: float) -> np.ndarray:
    """log |d tau / d x| at ``x`` on the scale of ``kind``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "tau":
            return np.zeros_like(x)
        if kind == "tau2":  # tau = sqrt(x)
            return -math.log(2.0) - 0.5 * np.log(x)
        if kind == "h2":  # tau = sqrt(s2 (x - 1))
            return 0.5 * math.log(s2) - math.log(2.0) - 0.5 * np.log(x - 1.0)
        # I² in percent: tau = sqrt(s2 u / (1 - u)), u = x / 100
        u = x / 100.0
        return (0.5 * math.log(s2) - math.log(2.0) - 0.5 * np.log(u) - 1.5 * np.log1p(-u)
                - math.log(100.0))


def log_dx_du(kind: str, tau: np.ndarray, log_jac: np.ndarray, s2: float) -> np.ndarray:
    """log dx/du for x = tau, tau², I² or H² given tau(u) and log |dtau/du|."""
    if kind == "tau":
        return log_jac
    if kind == "tau2":
        return log_jac + math.log(2.0) + np.log(tau)
    if kind == "h2":
        return log_jac + math.log(2.0 / s2) + np.log(tau)
    return log_jac + math.log(2.0 * s2) + np.log(tau) - 2.0 * np.log(tau * tau + s2)

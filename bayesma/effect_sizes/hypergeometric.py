"""The Gauss hypergeometric function 2F1 for the unbiased correlation (UCOR).

``scipy.special.hyp2f1`` returns NaN for some arguments UCOR needs (x near 1 with
``c - a - b`` an integer, e.g. ``2F1(1/2, 1/2; 162; 0.9975)``), so 2F1 is summed here as
its Gauss series (A&S 15.1.1; all terms positive for a, b, c > 0 and 0 <= x < 1), with
Euler's integral (A&S 15.3.1, QUADPACK's QAWS rule for the endpoint singularities) when
the series converges too slowly, and Gauss's theorem (A&S 15.1.20) at x = 1. metafor 3.8
uses ``gsl::hyperg_2F1``; they agree to about 1e-13.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import quad
from scipy.special import gammaln

__all__ = ["hyp2f1_euler"]

_MAX_TERMS = 100_000


def _one(a: float, b: float, c: float, x: float) -> float:
    if x == 1.0:
        # Gauss's theorem, A&S 15.1.20 (needs c > a + b)
        return float(np.exp(gammaln(c) + gammaln(c - a - b) - gammaln(c - a) - gammaln(c - b)))
    # A&S 15.1.1: sum_k (a)_k (b)_k / ((c)_k k!) x^k, terms positive here
    term, total = 1.0, 1.0
    for k in range(_MAX_TERMS):
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * x
        total += term
        if term < 1e-17 * total:
            return total
    # A&S 15.3.1: Gamma(c)/(Gamma(b)Gamma(c-b)) * int_0^1 t^(b-1) (1-t)^(c-b-1) (1-xt)^(-a) dt
    val, _ = quad(lambda t: (1.0 - x * t) ** (-a), 0.0, 1.0, weight="alg",
                  wvar=(b - 1.0, c - b - 1.0), epsabs=0.0, epsrel=1e-13, limit=200)
    return float(np.exp(gammaln(c) - gammaln(b) - gammaln(c - b)) * val)


def hyp2f1_euler(a: float, b: float, c: np.ndarray, x: np.ndarray) -> np.ndarray:
    """2F1(a, b; c; x) elementwise for 0 <= x <= 1 and c > b > 0 (c > a + b at x = 1)."""
    cc, xx = np.broadcast_arrays(np.asarray(c, float), np.asarray(x, float))
    out = np.full(cc.shape, np.nan)
    for idx in np.ndindex(cc.shape):
        if np.isfinite(cc[idx]) and np.isfinite(xx[idx]):
            out[idx] = _one(a, b, float(cc[idx]), float(xx[idx]))
    return out

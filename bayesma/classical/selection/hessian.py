"""Numerical Hessian by Richardson extrapolation, the algorithm of R's
``numDeriv::hessian`` (``genD``), which metafor 3.8's ``selmodel`` uses for the standard
errors (``hessianCtrl = list(r = 6)``).

A port of ``numDeriv::genD`` (Gilbert & Varadhan, numDeriv 2016.8-1.1): central
differences with a starting step ``h0`` halved ``r - 1`` times, combined by Richardson
extrapolation; the cross terms use the diagonal as genD does. One deliberate difference:
genD starts from ``h0 = |d x|`` (d = 1e-4), so a parameter close to (but not below 1.8e-5
from) zero gets steps down to 1e-10 and the second differences drown in rounding error
(metafor's SEs of a coefficient near 0 can then be off). Here ``h0 = d * max(|x|, floor)``
(default d = 1e-3, floor = 0.1, r = 4: smallest step 1.25e-5 of the scale), and a
positive parameter with a lower bound at 0 (tau²) never steps below 0. Where metafor's
Hessian is well conditioned both agree to about 1e-7 (tests/classical/test_selmodel.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["numderiv_hessian"]

def _richardson(a: np.ndarray) -> float:
    # numDeriv genD: Daprox[k] <- (Daprox[k + 1] * 4^m - Daprox[k]) / (4^m - 1)
    a = a.copy()
    r = len(a)
    for m in range(1, r):
        for k in range(r - m):
            a[k] = (a[k + 1] * 4.0**m - a[k]) / (4.0**m - 1.0)
    return float(a[0])


def numderiv_hessian(
    func: Callable[[np.ndarray], float],
    x: np.ndarray,
    *,
    r: int = 4,
    d: float = 1e-3,
    floor: float = 0.1,
    nonnegative: np.ndarray | None = None,
) -> np.ndarray:
    """Hessian of the scalar ``func`` at ``x`` (genD's Richardson scheme, v = 2).

    ``nonnegative`` marks parameters bounded below by 0: their step is at most x / 4
    when x > 0, so no evaluation crosses the bound.
    """
    x = np.asarray(x, dtype=float)
    n = x.size
    f0 = float(func(x))
    h0 = d * np.maximum(np.abs(x), floor)
    if nonnegative is not None:
        nn = np.asarray(nonnegative, dtype=bool) & (x > 0)
        h0[nn] = np.minimum(h0[nn], x[nn] / 4.0)
    hdiag = np.zeros(n)
    H = np.zeros((n, n))
    for i in range(n):
        h = h0.copy()
        approx = np.zeros(r)
        for k in range(r):
            e = np.zeros(n)
            e[i] = h[i]
            f1, f2 = float(func(x + e)), float(func(x - e))
            approx[k] = (f1 - 2.0 * f0 + f2) / h[i] ** 2
            h = h / 2.0
        hdiag[i] = _richardson(approx)
        H[i, i] = hdiag[i]
    for i in range(n):
        for j in range(i):
            h = h0.copy()
            approx = np.zeros(r)
            for k in range(r):
                e = np.zeros(n)
                e[i] += h[i]
                e[j] += h[j]
                f1, f2 = float(func(x + e)), float(func(x - e))
                approx[k] = (
                    f1 - 2.0 * f0 + f2 - hdiag[i] * h[i] ** 2 - hdiag[j] * h[j] ** 2
                ) / (2.0 * h[i] * h[j])
                h = h / 2.0
            H[i, j] = H[j, i] = _richardson(approx)
    return H

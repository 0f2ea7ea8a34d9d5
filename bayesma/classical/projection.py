"""Traces and quadratic forms of the weighted projection ``P`` without k x k matrices.

``P = W - W X (X'WX)^-1 X'W`` (diagonal ``W``) is the matrix behind every tau²
estimator of metafor's ``rma.uni`` (Viechtbauer 2005, Journal of Educational and
Behavioral Statistics 30, 261-293); it enters only through traces and quadratic forms,
computed here in O(k p²) operations.
"""

from __future__ import annotations

import numpy as np

from bayesma.errors import DataError

__all__ = ["Proj", "inv_spd"]


class Proj:
    """Traces and quadratic forms of ``P = W - W X (X'WX)^-1 X'W`` for diagonal ``W``.

    With ``A = (X'WX)^-1`` and diagonal matrices ``D1, D2``:

    * ``tr(P D) = sum(w d) - tr(A X' diag(w² d) X)``
    * ``tr(P D1 P D2) = sum(w² d1 d2) - 2 tr(A X' diag(w³ d1 d2) X)
      + tr(A X' diag(w² d1) X A X' diag(w² d2) X)``
    * ``P y = w * (y - X b)`` with ``b`` the weighted least-squares fit.
    """

    def __init__(self, w: np.ndarray, X: np.ndarray) -> None:
        self.w = w
        self.X = X
        # intercept-only models (the common case) reduce to sums
        self.ones = X.shape[1] == 1 and bool(np.all(X == 1.0))
        self.A = inv_spd(self.xdx(w))

    def xdx(self, d: np.ndarray) -> np.ndarray:
        if self.ones:
            return np.array([[np.sum(d)]])
        return self.X.T @ (d[:, None] * self.X)

    def fit(self, y: np.ndarray) -> np.ndarray:
        """Weighted least-squares coefficients."""
        if self.ones:
            return self.A[0] * np.dot(self.w, y)
        return self.A @ (self.X.T @ (self.w * y))

    def resid(self, y: np.ndarray) -> np.ndarray:
        if self.ones:
            return y - self.fit(y)[0]
        return y - self.X @ self.fit(y)

    def Py(self, y: np.ndarray) -> np.ndarray:
        return self.w * self.resid(y)

    def quad(self, y: np.ndarray) -> float:
        """``y' P y``: the weighted residual sum of squares."""
        r = self.resid(y)
        return float(np.dot(self.w * r, r))

    def tr_PD(self, d: np.ndarray | None = None) -> float:
        w = self.w
        d = np.ones_like(w) if d is None else d
        return float(np.sum(w * d) - np.sum(self.A * self.xdx(w * w * d)))

    def tr_PDPD(self, d1: np.ndarray | None = None, d2: np.ndarray | None = None) -> float:
        w = self.w
        one = np.ones_like(w)
        d1 = one if d1 is None else d1
        d2 = one if d2 is None else d2
        w2 = w * w
        m1 = self.A @ self.xdx(w2 * d1)
        m2 = m1 if d2 is d1 else self.A @ self.xdx(w2 * d2)
        return float(
            np.sum(w2 * d1 * d2) - 2.0 * np.sum(self.A * self.xdx(w2 * w * d1 * d2))
            + np.sum(m1 * m2.T)
        )


def inv_spd(m: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite p x p matrix."""
    if m.shape == (1, 1):
        return 1.0 / m
    try:
        c = np.linalg.cholesky(m)
    except np.linalg.LinAlgError as exc:
        raise DataError(
            "the model matrix is not of full rank (X'WX is singular); "
            "remove redundant moderators"
        ) from exc
    ci = np.linalg.inv(c)
    return ci.T @ ci

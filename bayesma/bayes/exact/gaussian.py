"""The Gaussian part of the normal-normal model: everything given tau in closed form.

The model (Röver 2020, J Stat Softw 93(6), eq. 1-3; R's ``bayesmeta``)::

    y_i | theta_i ~ N(theta_i, v_i),    theta_i | beta, tau ~ N(x_i' beta, tau²),
    beta_j ~ N(m_j, s_j²) or flat

Given tau the marginal likelihood (beta integrated out) and the conditional moments of
beta and of each theta_i are Gaussian computations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["GaussianPart", "LOG2PI"]

LOG2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class GaussianPart:
    """Data and Normal/flat coefficient priors of the model; everything given tau.

    ``lam`` are the prior precisions (0 for flat components), ``m`` the prior means.
    """

    y: np.ndarray
    v: np.ndarray
    X: np.ndarray
    m: np.ndarray
    lam: np.ndarray

    @property
    def k(self) -> int:
        return self.y.shape[0]

    @property
    def p(self) -> int:
        return self.X.shape[1]

    def evaluate(self, tau: np.ndarray, *, cov: bool = False):
        """Log marginal likelihood, and ``b``, ``C`` (conditional mean/covariance of beta).

        ``log p(y | tau) = log ∫ N(y | X beta, V + tau² I) p(beta) d beta``, computed by
        completing the square (Röver 2020, sec. 2.3; bayesmeta's ``likelihood``):
        ``P = X'WX + Λ``, ``b = P⁻¹(X'Wy + Λm)``, with ``W = (V + tau²I)⁻¹`` and
        ``Λ`` the prior precisions; flat components have density 1 (restricted likelihood).

        Returns
        -------
        logL : (G,) ndarray
        b : (G, p) ndarray
        C : (G, p, p) ndarray or None
        """
        tau = np.asarray(tau, dtype=float)
        y, v, X, lam, m = self.y, self.v, self.X, self.lam, self.m
        k, p = X.shape
        W = 1.0 / (v[None, :] + np.square(tau)[:, None])
        if p == 1:
            x = X[:, 0]
            P = W @ (x * x) + lam[0]
            r = W @ (x * y) + lam[0] * m[0]
            b = (r / P)[:, None]
            logdet = np.log(P)
            resid = y[None, :] - b * x[None, :]
            C = (1.0 / P)[:, None, None] if cov else None
        else:
            XW = W[:, :, None] * X[None, :, :]
            P = np.einsum("gij,il->gjl", XW, X) + np.diag(lam)[None]
            r = np.einsum("gij,i->gj", XW, y) + (lam * m)[None]
            L = np.linalg.cholesky(P)
            logdet = 2.0 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
            b = np.linalg.solve(P, r[:, :, None])[:, :, 0]
            resid = y[None, :] - b @ X.T
            C = np.linalg.inv(P) if cov else None
        quad = np.sum(W * resid * resid, axis=1) + np.sum(lam * np.square(b - m), axis=1)
        normal = lam > 0
        logL = (-0.5 * k * LOG2PI + 0.5 * np.sum(np.log(W), axis=1)
                + 0.5 * np.sum(np.log(lam[normal] / (2.0 * np.pi)))  # prior normalisation
                + 0.5 * p * LOG2PI - 0.5 * logdet - 0.5 * quad)
        return logL, b, C

    def theta_moments(self, tau: np.ndarray, b: np.ndarray, C: np.ndarray):
        """Mean and variance of each theta_i given tau (beta integrated out).

        ``theta_i | beta, tau, y ~ N((1-B_i) y_i + B_i x_i'beta, (1-B_i) v_i)`` with
        ``B_i = v_i / (v_i + tau²)`` (Röver 2020, sec. 2.4); averaging over
        ``beta | tau, y ~ N(b, C)`` adds ``B_i² x_i' C x_i`` to the variance.
        """
        t2 = np.square(np.asarray(tau, dtype=float))[:, None]
        B = self.v[None, :] / (self.v[None, :] + t2)
        xb = b @ self.X.T
        if self.p == 1:
            xcx = C[:, 0, 0][:, None] * np.square(self.X[:, 0])[None, :]
        else:
            xcx = np.einsum("ij,gjl,il->gi", self.X, C, self.X)
        mean = (1.0 - B) * self.y[None, :] + B * xb
        var = (1.0 - B) * self.v[None, :] + np.square(B) * xcx
        return mean, var

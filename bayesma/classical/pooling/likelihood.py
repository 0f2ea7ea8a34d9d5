"""The marginal likelihood of binomial-normal GLMMs by adaptive Gauss-Hermite quadrature or
the Laplace approximation, per study, as lme4's ``glmer`` computes it (Bates et al. 2015).

Each study ``i`` has arms ``j`` with ``x_ij`` events out of ``n_ij`` and logit
``eta_ij = F_ij + sum_r Z_ijr * s_r * u_ir`` with ``u_i ~ N(0, I)``. The conditional mode
``u_hat`` of ``log p(x | u) + log phi(u)`` is found by Newton's method (lme4's PIRLS), its
curvature uses the binomial weights ``n p (1 - p)`` (equal to the observed information for
the logit link). With one random effect per study the integral is approximated by adaptive
Gauss-Hermite quadrature at ``u_hat`` with scale ``1 / sqrt(curvature)`` (Liu & Pierce 1994;
lme4's ``nAGQ``), with two by the Laplace approximation (lme4's ``nAGQ = 1``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import expit, gammaln

__all__ = ["binomial_constant", "conditional_loglik", "laplace2", "quadrature1"]

_MAX_NEWTON = 100


def binomial_constant(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """log binomial coefficients ``log C(n, x)`` summed over the arms of each study."""
    return (gammaln(n + 1) - gammaln(x + 1) - gammaln(n - x + 1)).sum(axis=1)


def conditional_loglik(eta: np.ndarray, x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``sum_j x log p + (n - x) log(1 - p)`` per study, with ``p = expit(eta)`` (no constant)."""
    return (x * eta - n * np.logaddexp(0.0, eta)).sum(axis=1)


@lru_cache(maxsize=16)
def _rule(nagq: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Hermite nodes for N(0, 1) and log weights times exp(node²/2) (lme4's GHrule)."""
    nodes, weights = hermegauss(nagq)
    return nodes, np.log(weights / np.sqrt(2 * np.pi)) + nodes**2 / 2


def _mode1(f, z, x, n, s, u):
    """Newton's method (with step halving) for the conditional mode of one random effect."""
    def obj(u):
        return conditional_loglik(f + s * z * u[:, None], x, n) - 0.5 * u**2

    cur = obj(u)
    done = False
    for _ in range(_MAX_NEWTON):
        p = expit(f + s * z * u[:, None])
        grad = s * (z * (x - n * p)).sum(axis=1) - u
        curv = 1.0 + s**2 * (z**2 * n * p * (1 - p)).sum(axis=1)
        step = grad / curv
        new_u = u + step
        new = obj(new_u)
        for _ in range(30):  # the objective is concave: halve steps that overshoot
            worse = new < cur - 1e-12 * np.abs(cur)
            if not worse.any():
                break
            step = np.where(worse, step / 2, step)
            new_u = u + step
            new = obj(new_u)
        u, cur = new_u, new
        if done:
            break
        done = bool(np.all(np.abs(step) <= 1e-9 * (1 + np.abs(u))))  # then one more step
    p = expit(f + s * z * u[:, None])
    curv = 1.0 + s**2 * (z**2 * n * p * (1 - p)).sum(axis=1)
    return u, curv


def quadrature1(
    f: np.ndarray, z: np.ndarray, x: np.ndarray, n: np.ndarray, s: float, nagq: int,
    u0: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-study log marginal likelihood (without the binomial constant) with one random
    effect of SD ``s``, by adaptive Gauss-Hermite quadrature with ``nagq`` nodes (1 = Laplace).

    Returns the log-likelihoods and the conditional modes.
    """
    u = np.zeros(f.shape[0]) if u0 is None else u0.copy()
    u, curv = _mode1(f, z, x, n, s, u)
    scale = 1.0 / np.sqrt(curv)
    nodes, logw = _rule(nagq)
    uu = u[:, None] + scale[:, None] * nodes[None, :]  # (k, nodes)
    eta = f[:, :, None] + s * z[:, :, None] * uu[:, None, :]
    cond = (x[:, :, None] * eta - n[:, :, None] * np.logaddexp(0.0, eta)).sum(axis=1)
    terms = cond - 0.5 * uu**2 + logw[None, :]
    top = terms.max(axis=1)
    return np.log(scale) + top + np.log(np.exp(terms - top[:, None]).sum(axis=1)), u


def laplace2(
    f: np.ndarray, z1: np.ndarray, z2: np.ndarray, x: np.ndarray, n: np.ndarray,
    s1: float, s2: float, u0: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-study Laplace log marginal likelihood (without the binomial constant) with two
    independent random effects of SDs ``s1``, ``s2`` and designs ``z1``, ``z2``.

    Returns the log-likelihoods and the conditional modes (k x 2).
    """
    k = f.shape[0]
    u = np.zeros((k, 2)) if u0 is None else u0.copy()

    def eta_of(u):
        return f + s1 * z1 * u[:, :1] + s2 * z2 * u[:, 1:]

    def obj(u):
        return conditional_loglik(eta_of(u), x, n) - 0.5 * (u**2).sum(axis=1)

    def curvature(p):
        w = n * p * (1 - p)
        h11 = 1.0 + s1**2 * (z1**2 * w).sum(axis=1)
        h12 = s1 * s2 * (z1 * z2 * w).sum(axis=1)
        h22 = 1.0 + s2**2 * (z2**2 * w).sum(axis=1)
        return h11, h12, h22

    cur = obj(u)
    done = False
    for _ in range(_MAX_NEWTON):
        p = expit(eta_of(u))
        r = x - n * p
        g1 = s1 * (z1 * r).sum(axis=1) - u[:, 0]
        g2 = s2 * (z2 * r).sum(axis=1) - u[:, 1]
        h11, h12, h22 = curvature(p)
        det = h11 * h22 - h12**2
        step = np.column_stack([(h22 * g1 - h12 * g2) / det, (h11 * g2 - h12 * g1) / det])
        new_u = u + step
        new = obj(new_u)
        for _ in range(30):
            worse = new < cur - 1e-12 * np.abs(cur)
            if not worse.any():
                break
            step = np.where(worse[:, None], step / 2, step)
            new_u = u + step
            new = obj(new_u)
        u, cur = new_u, new
        if done:
            break
        done = bool(np.all(np.abs(step) <= 1e-9 * (1 + np.abs(u))))  # then one more step
    h11, h12, h22 = curvature(expit(eta_of(u)))
    return obj(u) - 0.5 * np.log(h11 * h22 - h12**2), u

"""Exact marginal likelihoods of the PET and PEESE models (deterministic quadrature).

Model (Bartoš et al. 2023, eq. 3-4; Stanley & Doucouliagos 2014): ``y_i ~ N(mu + b x_i,
v_i + tau²)`` with ``x_i = se_i`` (PET) or ``v_i`` (PEESE), ``mu ~ N(m, s²)`` (or 0),
``b ~ half-Cauchy(0, c)``, ``tau ~ p(tau)`` (or 0).

Given tau the likelihood is Gaussian in (mu, b): with b given a flat prior the exact
engine's :class:`~bayesma.bayes.exact.gaussian.GaussianPart` integrates mu and returns
``L(b) = exp(logL) N(b | b̂, σ_b²)``. The half-Cauchy is a scale mixture of half-normals,
``b | g ~ N⁺(0, c²/g)``, ``g ~ Gamma(1/2, rate 1/2)`` (Cauchy as a normal scale mixture;
Gelman 2006, Bayesian Anal 1:515, sec. 5), and

    ∫_0^∞ 2 N(b | 0, w²) N(b | b̂, σ²) db = 2 N(b̂ | 0, w² + σ²) Phi(b̂ w / (σ sqrt(w² + σ²))),

so the b integral is a smooth one-dimensional integral over ``u = log g``, done by the
trapezoidal rule (step 0.2 on [-70, 6]; exponentially convergent for this analytic
integrand, Trefethen & Weideman 2014, SIAM Rev 56:385; error < 1e-12 relative). The tau
integral is the exact engine's adaptive Gauss-Kronrod :class:`TauQuadrature`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from bayesma.bayes.averaging.marginal import tau_marginal_quadrature
from bayesma.bayes.exact.gaussian import LOG2PI, GaussianPart
from bayesma.priors import Normal, Prior

__all__ = ["log_ml_pet_peese", "log_halfcauchy_gauss"]

_U = np.arange(-70.0, 6.0 + 1e-9, 0.2)
_G = np.exp(_U)
# log of Gamma(1/2, rate 1/2) density in u = log g, times the trapezoid step
_LOGW = (0.5 * _U - 0.5 * _G - special.gammaln(0.5) - 0.5 * math.log(2.0) + math.log(0.2))


def log_halfcauchy_gauss(bhat: np.ndarray, var: np.ndarray, scale: float) -> np.ndarray:
    """``log ∫_0^∞ halfCauchy(b | 0, scale) N(b | bhat, var) db`` (vectorised)."""
    bhat = np.asarray(bhat, dtype=float)[:, None]
    var = np.asarray(var, dtype=float)[:, None]
    w2 = scale ** 2 / _G[None, :]
    tot = w2 + var
    log_n = -0.5 * (LOG2PI + np.log(tot) + bhat ** 2 / tot)
    arg = bhat * np.sqrt(w2) / np.sqrt(var * tot)
    terms = _LOGW[None, :] + math.log(2.0) + log_n + special.log_ndtr(arg)
    m = np.max(terms, axis=1, keepdims=True)
    return (m + np.log(np.sum(np.exp(terms - m), axis=1, keepdims=True)))[:, 0]


def _gaussian_part(y: np.ndarray, v: np.ndarray, x: np.ndarray, effect: bool,
                   mu_prior: Normal) -> GaussianPart:
    if effect:
        X = np.column_stack([np.ones_like(y), x])
        return GaussianPart(y, v, X, np.array([float(mu_prior.mu), 0.0]),
                            np.array([1.0 / float(mu_prior.sigma) ** 2, 0.0]))
    return GaussianPart(y, v, x[:, None], np.array([0.0]), np.array([0.0]))


def log_ml_pet_peese(y: np.ndarray, v: np.ndarray, *, kind: str, scale: float, effect: bool,
                     heterogeneity: bool, mu_prior: Normal, tau_prior: Prior,
                     direction: int = 1) -> float:
    """Exact log marginal likelihood of a PET (``kind="PET"``) or PEESE model
    (``direction=-1``: the regressor is ``-se_i`` or ``-v_i``, bias towards negative
    effects)."""
    x = direction * (np.sqrt(v) if kind == "PET" else v)
    gp = _gaussian_part(y, v, x, effect, mu_prior)

    def log_given_tau(tau: np.ndarray) -> np.ndarray:
        logl, b, C = gp.evaluate(tau, cov=True)
        return logl + log_halfcauchy_gauss(b[:, -1], C[:, -1, -1], scale)

    if not heterogeneity:
        return float(log_given_tau(np.zeros(1))[0])
    q = tau_marginal_quadrature(log_given_tau, v, tau_prior)
    return float(q.log_z)

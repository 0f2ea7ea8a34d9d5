"""Exact log marginal likelihoods of the four meta_bma models (metaBMA's model space).

With ``y_i ~ N(theta_i, v_i)``, ``theta_i ~ N(mu, tau²)`` and ``mu ~ N(m, s²)``:

* ``fixed_H0`` (mu = 0, tau = 0): ``sum_i log N(y_i | 0, v_i)``, closed form;
* ``fixed_H1`` (tau = 0): ``log N(y | m 1, V + s² 11')``, closed form (mu integrated by
  completing the square, :class:`~bayesma.bayes.exact.gaussian.GaussianPart` at tau = 0);
* ``random_H0`` (mu = 0): ``log ∫ p(tau) prod_i N(y_i | 0, v_i + tau²) dtau`` by the exact
  engine's adaptive Gauss-Kronrod quadrature over tau (:class:`TauQuadrature`);
* ``random_H1``: the exact engine's ``log_marginal_likelihood`` (Röver 2020, J Stat Softw
  93(6), sec. 2.3: ``∫ p(tau) N(y | m 1, V + tau² I + s² 11') dtau``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bayesma.bayes.exact import ExactPosterior, exact_posterior_arrays
from bayesma.bayes.exact.gaussian import LOG2PI, GaussianPart
from bayesma.bayes.exact.quadrature import TauQuadrature
from bayesma.errors import BayesmaError
from bayesma.priors import Normal, Prior

__all__ = ["FourModels", "fit_four_models", "log_ml_fixed_h0", "fixed_h1_parts",
           "random_h0_quadrature", "tau_marginal_quadrature"]


def log_ml_fixed_h0(y: np.ndarray, v: np.ndarray) -> float:
    """``sum_i log N(y_i | 0, v_i)``: the model with mu = 0 and tau = 0."""
    return float(-0.5 * np.sum(LOG2PI + np.log(v) + y * y / v))


def fixed_h1_parts(y: np.ndarray, v: np.ndarray, mu_prior: Normal
                   ) -> tuple[float, float, float]:
    """``(log ml, posterior mean, posterior sd)`` of mu in the common-effect model with a
    Normal prior (conjugate: precision ``sum 1/v_i + 1/s²``)."""
    g = GaussianPart(y, v, np.ones((y.size, 1)), np.array([float(mu_prior.mu)]),
                     np.array([1.0 / float(mu_prior.sigma) ** 2]))
    log_l, b, c = g.evaluate(np.array([0.0]), cov=True)
    return float(log_l[0]), float(b[0, 0]), math.sqrt(float(c[0, 0, 0]))


def tau_marginal_quadrature(log_lik_given_tau: Callable[[np.ndarray], np.ndarray],
                            v: np.ndarray, tau_prior: Prior) -> TauQuadrature:
    """Quadrature over tau of ``p(tau) L(tau)`` (``log_lik_given_tau`` vectorised over
    tau); its ``log_z`` is the log marginal likelihood ``log ∫ p(tau) L(tau) dtau`` (the
    exact engine's adaptive Gauss-Kronrod rule, scale ``sqrt(median v)``)."""
    log_prior = tau_prior.log_density(v)

    def logpost(tau: np.ndarray) -> np.ndarray:
        tau = np.atleast_1d(np.asarray(tau, dtype=float))
        lp = log_prior(tau)
        out = np.full(tau.shape, -np.inf)
        ok = np.isfinite(lp) & np.isfinite(tau)
        if ok.any():
            out[ok] = lp[ok] + log_lik_given_tau(tau[ok])
        return out

    return TauQuadrature(logpost, tau_prior.support, scale=math.sqrt(float(np.median(v))))


def random_h0_quadrature(y: np.ndarray, v: np.ndarray, tau_prior: Prior) -> TauQuadrature:
    """Quadrature over tau of ``p(tau) prod_i N(y_i | 0, v_i + tau²)`` (mu fixed at 0);
    its ``log_z`` is the log marginal likelihood of ``random_H0`` and it carries the
    posterior of tau under that model (cdf, quantiles, moments)."""

    def log_lik(tau: np.ndarray) -> np.ndarray:
        s2 = v[None, :] + np.square(tau)[:, None]
        return -0.5 * np.sum(LOG2PI + np.log(s2) + y[None, :] ** 2 / s2, axis=1)

    return tau_marginal_quadrature(log_lik, v, tau_prior)


@dataclass(frozen=True)
class FourModels:
    """The fitted pieces of the four models (marginal likelihoods and posteriors)."""

    log_ml: dict[str, float]
    fixed_mean: float
    fixed_sd: float
    random_h0: TauQuadrature
    random_h1: ExactPosterior


def fit_four_models(y: np.ndarray, v: np.ndarray, mu_prior: Normal, tau_prior: Prior, *,
                    random_h1: ExactPosterior | None = None) -> FourModels:
    """Log marginal likelihoods and posteriors of the four models on arrays.

    ``random_h1`` reuses an already built exact posterior (same data and priors).
    """
    y = np.asarray(y, dtype=float)
    v = np.asarray(v, dtype=float)
    if random_h1 is None:
        random_h1 = exact_posterior_arrays(y, v, mu_prior=mu_prior, tau_prior=tau_prior)
    q0 = random_h0_quadrature(y, v, tau_prior)
    lf1, m1, s1 = fixed_h1_parts(y, v, mu_prior)
    log_ml = {"fixed_H0": log_ml_fixed_h0(y, v), "fixed_H1": lf1,
              "random_H0": float(q0.log_z),
              "random_H1": float(random_h1.log_marginal_likelihood)}
    bad = [m for m, val in log_ml.items() if not math.isfinite(val)]
    if bad:
        raise BayesmaError(f"the marginal likelihood of {bad} is not finite; check the "
                           "priors and the data")
    return FourModels(log_ml, m1, s1, q0, random_h1)

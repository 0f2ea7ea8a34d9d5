"""Priors on the pooled effect mu and on regression coefficients beta.

Closed forms are the standard densities (as in scipy.stats and PyMC); parameter names
follow PyMC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import special

from bayesma.priors.base import LOG2PI, Prior, check_finite, check_positive, scipy_stats

__all__ = ["Cauchy", "Flat", "Normal", "StudentT"]


@dataclass(frozen=True)
class Normal(Prior):
    """Normal prior N(mu, sigma²) on the pooled effect or a regression coefficient."""

    mu: float = 0.0
    sigma: float = 10.0
    is_normal: ClassVar[bool] = True

    @property
    def scale(self) -> float:
        return float(self.sigma)

    def __post_init__(self) -> None:
        check_finite("mu", self.mu, "Normal")
        check_positive("sigma", self.sigma, "Normal")

    def _log_kernel(self, **_: Any):  # -z²/2 - log sigma - log(2 pi)/2
        m, s = self.mu, self.sigma
        c = -math.log(s) - 0.5 * LOG2PI
        return lambda x: c - 0.5 * np.square((x - m) / s)

    def _scipy(self):
        return scipy_stats().norm(self.mu, self.sigma)

    def rvs(self, size: int | tuple[int, ...], rng: np.random.Generator | int | None = None
            ) -> np.ndarray:
        """Random draws: scipy's ``norm.rvs`` (``z * sigma + mu``, z standard normal from
        the generator), without importing scipy.stats (issue 16); the same numbers."""
        z = np.random.default_rng(rng).standard_normal(size)
        return z * self.sigma + self.mu

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.Normal(name, mu=hyper["mu"], sigma=hyper["sigma"], **kw)


@dataclass(frozen=True)
class StudentT(Prior):
    """Student-t prior t_nu(mu, sigma) on the pooled effect or a coefficient."""

    nu: float = 3.0
    mu: float = 0.0
    sigma: float = 1.0

    @property
    def scale(self) -> float:
        return float(self.sigma)

    def __post_init__(self) -> None:
        check_positive("nu", self.nu, "StudentT")
        check_finite("mu", self.mu, "StudentT")
        check_positive("sigma", self.sigma, "StudentT")

    def _log_kernel(self, **_: Any):  # log t_nu((x - mu)/sigma) - log sigma
        nu, m, s = self.nu, self.mu, self.sigma
        c = (special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2)
             - 0.5 * math.log(nu * math.pi) - math.log(s))
        return lambda x: c - 0.5 * (nu + 1) * np.log1p(np.square((x - m) / s) / nu)

    def _scipy(self):
        return scipy_stats().t(self.nu, self.mu, self.sigma)

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.StudentT(name, nu=hyper["nu"], mu=hyper["mu"], sigma=hyper["sigma"], **kw)


@dataclass(frozen=True)
class Cauchy(Prior):
    """Cauchy prior with location ``alpha`` and scale ``beta`` (PyMC's names)."""

    alpha: float = 0.0
    beta: float = 1.0

    @property
    def scale(self) -> float:
        return float(self.beta)

    def __post_init__(self) -> None:
        check_finite("alpha", self.alpha, "Cauchy")
        check_positive("beta", self.beta, "Cauchy")

    def _log_kernel(self, **_: Any):  # -log(pi beta (1 + ((x - alpha)/beta)²))
        a, b = self.alpha, self.beta
        c = -math.log(math.pi * b)
        return lambda x: c - np.log1p(np.square((x - a) / b))

    def _scipy(self):
        return scipy_stats().cauchy(self.alpha, self.beta)

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.Cauchy(name, alpha=hyper["alpha"], beta=hyper["beta"], **kw)


@dataclass(frozen=True)
class Flat(Prior):
    """Improper flat prior on mu or a coefficient (exact engine; PyMC ``Flat``)."""

    proper: ClassVar[bool] = False
    is_normal: ClassVar[bool] = True

    def _log_kernel(self, **_: Any):
        return lambda x: np.zeros(np.shape(x))

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.Flat(name, **kw)

"""Priors on the heterogeneity tau (the between-study standard deviation).

Densities are *of tau*; the families stated on tau² (``LogNormalTau2``,
``LogStudentTTau2``, ``InverseGammaTau2``) carry the change-of-variables Jacobian
``p(tau) = p_{tau²}(tau²) · 2 tau`` so that every tau prior is used the same way.
The closed forms are the standard densities (as in scipy.stats and PyMC);
``tests/priors/test_families.py`` checks each against scipy and PyMC.
Parameter names follow PyMC (``sigma``, ``beta``, ``lam``, ``alpha``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import special

from bayesma.errors import BayesmaError
from bayesma.priors.base import LOG2, LOG2PI, Prior, check_finite, check_positive, scipy_stats

__all__ = [
    "Exponential",
    "HalfCauchy",
    "HalfNormal",
    "HalfStudentT",
    "InverseGamma",
    "InverseGammaTau2",
    "Jeffreys",
    "LogNormal",
    "LogNormalTau2",
    "LogStudentTTau2",
    "Tau2Prior",
    "TauPrior",
    "Uniform",
    "UniformTau",
]

_gl = special.gammaln


def _t_log_const(nu: float, s: float) -> float:
    """log of the Student-t normalising constant Γ((nu+1)/2) / (Γ(nu/2) sqrt(nu pi) s)."""
    return _gl((nu + 1) / 2) - _gl(nu / 2) - 0.5 * math.log(nu * math.pi) - math.log(s)


@dataclass(frozen=True)
class TauPrior(Prior, register=False):
    """Base of the priors on tau (support [0, inf))."""

    param: ClassVar[str] = "tau"
    support: ClassVar[tuple[float, float]] = (0.0, math.inf)


@dataclass(frozen=True)
class HalfNormal(TauPrior):
    """Half-normal prior on tau with scale ``sigma`` (PyMC's ``HalfNormal``).

    Recommended weakly informative choice for log odds ratios with sigma = 0.5
    (Friede et al. 2017, Biom J 59:658; Röver et al. 2021, Res Synth Methods 12:448).
    """

    sigma: float = 0.5

    @property
    def scale(self) -> float:
        return float(self.sigma)

    def __post_init__(self) -> None:
        check_positive("sigma", self.sigma, "HalfNormal")

    def _log_kernel(self, **_: Any):  # log 2 + log N(x | 0, sigma²)
        s = self.sigma
        c = LOG2 - 0.5 * LOG2PI - math.log(s)
        return lambda x: c - 0.5 * np.square(x / s)

    def _kernel_terms(self):  # -tau²/(2 sigma²)
        return {"c3": -0.5 / self.sigma ** 2}

    def _scipy(self):
        return scipy_stats().halfnorm(scale=self.sigma)

    def rvs(self, size, rng=None) -> np.ndarray:
        """Draws as scipy's ``halfnorm.rvs`` (``|z| sigma``) without scipy.stats (issue 16)."""
        return np.abs(np.random.default_rng(rng).standard_normal(size)) * self.sigma + 0.0

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.HalfNormal(name, sigma=hyper["sigma"], **kw)


@dataclass(frozen=True)
class HalfCauchy(TauPrior):
    """Half-Cauchy prior on tau with scale ``beta`` (Gelman 2006, Bayesian Anal 1:515)."""

    beta: float = 0.5

    @property
    def scale(self) -> float:
        return float(self.beta)

    def __post_init__(self) -> None:
        check_positive("beta", self.beta, "HalfCauchy")

    def _log_kernel(self, **_: Any):  # log(2 / (pi beta (1 + (x/beta)²)))
        b = self.beta
        c = math.log(2.0 / (math.pi * b))
        return lambda x: c - np.log1p(np.square(x / b))

    def _kernel_terms(self):  # -log(1 + tau²/beta²)
        return {"c4": -1.0, "s4": self.beta ** 2}

    def _scipy(self):
        return scipy_stats().halfcauchy(scale=self.beta)

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.HalfCauchy(name, beta=hyper["beta"], **kw)


@dataclass(frozen=True)
class HalfStudentT(TauPrior):
    """Half-Student-t prior on tau with ``nu`` degrees of freedom and scale ``sigma``."""

    nu: float = 3.0
    sigma: float = 0.5

    @property
    def scale(self) -> float:
        return float(self.sigma)

    def __post_init__(self) -> None:
        check_positive("nu", self.nu, "HalfStudentT")
        check_positive("sigma", self.sigma, "HalfStudentT")

    def _log_kernel(self, **_: Any):  # log 2 + log t_nu(x | 0, sigma)
        nu, s = self.nu, self.sigma
        c = LOG2 + _t_log_const(nu, s)
        return lambda x: c - 0.5 * (nu + 1) * np.log1p(np.square(x / s) / nu)

    def _kernel_terms(self):  # -(nu + 1)/2 log(1 + tau²/(nu sigma²))
        return {"c4": -(self.nu + 1) / 2, "s4": self.nu * self.sigma ** 2}

    def _scipy(self):
        return HalfSymmetric(scipy_stats().t(self.nu, 0.0, self.sigma))

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.HalfStudentT(name, nu=hyper["nu"], sigma=hyper["sigma"], **kw)


@dataclass(frozen=True)
class Exponential(TauPrior):
    """Exponential prior on tau with rate ``lam`` (mean 1/lam)."""

    lam: float = 2.0

    def __post_init__(self) -> None:
        check_positive("lam", self.lam, "Exponential")

    def _log_kernel(self, **_: Any):  # log(lam) - lam x
        lam = self.lam
        c = math.log(lam)
        return lambda x: c - lam * x

    def _kernel_terms(self):  # -lam tau
        return {"c2": -self.lam}

    def _scipy(self):
        return scipy_stats().expon(scale=1.0 / self.lam)

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.Exponential(name, lam=hyper["lam"], **kw)


@dataclass(frozen=True)
class Uniform(TauPrior):
    """Uniform prior on tau on ``[lower, upper]``."""

    lower: float = 0.0
    upper: float = 10.0

    def __post_init__(self) -> None:
        check_finite("lower", self.lower, "Uniform")
        check_finite("upper", self.upper, "Uniform")
        if not 0 <= self.lower < self.upper:
            raise BayesmaError(
                f"Uniform: need 0 <= lower < upper for a prior on tau, got "
                f"lower={self.lower}, upper={self.upper}"
            )

    @property
    def support(self) -> tuple[float, float]:  # type: ignore[override]
        return (self.lower, self.upper)

    def _log_kernel(self, **_: Any):  # -log(upper - lower) on the support
        c = -math.log(self.upper - self.lower)
        return lambda x: np.full(np.shape(x), c)

    def _kernel_terms(self):  # 0 on [lower, upper]
        return {"lo": self.lower, "hi": self.upper}

    def _scipy(self):
        return scipy_stats().uniform(self.lower, self.upper - self.lower)

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.Uniform(name, lower=hyper["lower"], upper=hyper["upper"], **kw)


@dataclass(frozen=True)
class LogNormal(TauPrior):
    """Log-normal prior on tau: log(tau) ~ N(mu, sigma²)."""

    mu: float = -1.0
    sigma: float = 1.0

    def __post_init__(self) -> None:
        check_finite("mu", self.mu, "LogNormal")
        check_positive("sigma", self.sigma, "LogNormal")

    def _log_kernel(self, **_: Any):  # log N(log x | mu, sigma²) - log x
        m, s = self.mu, self.sigma
        c = -math.log(s) - 0.5 * LOG2PI
        return lambda x: c - np.log(x) - 0.5 * np.square((np.log(x) - m) / s)

    def _kernel_terms(self):  # -log tau - (log tau - mu)²/(2 sigma²)
        return {"c1": -1.0, "c5": -0.5 / self.sigma ** 2, "m5": self.mu}

    def _scipy(self):
        return scipy_stats().lognorm(s=self.sigma, scale=math.exp(self.mu))

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.LogNormal(name, mu=hyper["mu"], sigma=hyper["sigma"], **kw)


@dataclass(frozen=True)
class InverseGamma(TauPrior):
    """Inverse-gamma prior on tau with shape ``alpha`` and scale ``beta`` (PyMC's form)."""

    alpha: float = 1.0
    beta: float = 0.15

    def __post_init__(self) -> None:
        check_positive("alpha", self.alpha, "InverseGamma")
        check_positive("beta", self.beta, "InverseGamma")

    def _log_kernel(self, **_: Any):  # alpha log beta - log Γ(alpha) - (alpha+1) log x - beta/x
        a, b = self.alpha, self.beta
        c = a * math.log(b) - _gl(a)
        return lambda x: c - (a + 1) * np.log(x) - b / x

    def _kernel_terms(self):  # -(alpha + 1) log tau - beta/tau
        return {"c1": -(self.alpha + 1), "c7": -self.beta}

    def _scipy(self):
        return scipy_stats().invgamma(self.alpha, scale=self.beta)

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.InverseGamma(name, alpha=hyper["alpha"], beta=hyper["beta"], **kw)


@dataclass(frozen=True)
class Tau2Prior(TauPrior, register=False):
    """A prior stated on tau²; densities here are of tau (Jacobian 2 tau)."""

    def describe(self) -> str:
        return super().describe() + " on tau²"

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        return self._scipy_tau2().cdf(np.square(np.maximum(x, 0.0)))

    def ppf(self, q):
        return np.sqrt(self._scipy_tau2().ppf(np.asarray(q, dtype=float)))

    def rvs(self, size, rng=None):
        return np.sqrt(self._scipy_tau2().rvs(size=size, random_state=np.random.default_rng(rng)))

    def _scipy_tau2(self):
        raise NotImplementedError

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm
        from pymc.distributions.transforms import log as log_transform

        # tau = g(X) for a PyMC distribution X; PyMC derives the density of tau with the
        # Jacobian, and forward draws stay in compiled code.
        return pm.CustomDist(name, *hyper.values(), dist=self._pymc_dist,
                             transform=log_transform, **kw)


@dataclass(frozen=True)
class LogNormalTau2(Tau2Prior):
    """Log-normal prior on tau²: log(tau²) ~ N(mu, sigma²).

    The form of Turner et al. (2015, Stat Med 34:984) for log odds ratios; equivalently
    log(tau) ~ N(mu/2, (sigma/2)²).
    """

    mu: float = -2.56
    sigma: float = 1.74

    def __post_init__(self) -> None:
        check_finite("mu", self.mu, "LogNormalTau2")
        check_positive("sigma", self.sigma, "LogNormalTau2")

    def _log_kernel(self, **_: Any):  # log-normal density of tau² times 2 tau
        m, s = self.mu, self.sigma
        c = -math.log(s) - 0.5 * LOG2PI + LOG2
        return lambda x: c - np.log(x) - 0.5 * np.square((2 * np.log(x) - m) / s)

    def _kernel_terms(self):  # log tau ~ N(mu/2, (sigma/2)²)
        return {"c1": -1.0, "c5": -2.0 / self.sigma ** 2, "m5": self.mu / 2}

    def _scipy_tau2(self):
        return scipy_stats().lognorm(s=self.sigma, scale=math.exp(self.mu))

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        # log(tau) = log(tau²)/2 ~ N(mu/2, sigma/2): an exact log-normal on tau
        return pm.LogNormal(name, mu=hyper["mu"] / 2.0, sigma=hyper["sigma"] / 2.0, **kw)


@dataclass(frozen=True)
class LogStudentTTau2(Tau2Prior):
    """Log-Student-t prior on tau²: log(tau²) ~ t_nu(mu, sigma).

    The form of Rhodes et al. (2015, J Clin Epidemiol 68:52) for standardized mean
    differences, with nu = 5.
    """

    mu: float = -3.44
    sigma: float = 2.59
    nu: float = 5.0

    def __post_init__(self) -> None:
        check_finite("mu", self.mu, "LogStudentTTau2")
        check_positive("sigma", self.sigma, "LogStudentTTau2")
        check_positive("nu", self.nu, "LogStudentTTau2")

    def _log_kernel(self, **_: Any):  # log tau ~ t_nu(mu/2, sigma/2); p(tau) = t(log tau)/tau
        m, s, nu = self.mu / 2.0, self.sigma / 2.0, self.nu
        c = _t_log_const(nu, s)
        return lambda x: (c - 0.5 * (nu + 1) * np.log1p(np.square((np.log(x) - m) / s) / nu)
                          - np.log(x))

    def _kernel_terms(self):  # log tau ~ t_nu(mu/2, sigma/2)
        return {"c1": -1.0, "c6": -(self.nu + 1) / 2, "m6": self.mu / 2,
                "s6": self.nu * (self.sigma / 2) ** 2}

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            return scipy_stats().t.cdf(np.log(np.maximum(x, 0.0)), self.nu, self.mu / 2,
                                       self.sigma / 2)

    def ppf(self, q):
        return np.exp(scipy_stats().t.ppf(np.asarray(q, dtype=float), self.nu, self.mu / 2,
                                  self.sigma / 2))

    def rvs(self, size, rng=None):
        g = np.random.default_rng(rng)
        return np.exp(self.mu / 2 + self.sigma / 2 * g.standard_t(self.nu, size=size))

    @staticmethod
    def _pymc_dist(mu, sigma, nu, size):  # tau = exp(log tau), log tau ~ t_nu(mu/2, sigma/2)
        import pymc as pm
        import pytensor.tensor as pt

        return pt.exp(pm.StudentT.dist(nu=nu, mu=mu / 2.0, sigma=sigma / 2.0, size=size))


@dataclass(frozen=True)
class InverseGammaTau2(Tau2Prior):
    """Inverse-gamma prior on tau² with shape ``alpha`` and scale ``beta``.

    The classical conjugate-style choice (e.g. IG(0.001, 0.001) in early WinBUGS
    analyses; see Lambert et al. 2005, Stat Med 24:2401 for its pitfalls).
    """

    alpha: float = 1.0
    beta: float = 0.15

    def __post_init__(self) -> None:
        check_positive("alpha", self.alpha, "InverseGammaTau2")
        check_positive("beta", self.beta, "InverseGammaTau2")

    def _log_kernel(self, **_: Any):  # inverse-gamma density of tau² times 2 tau
        a, b = self.alpha, self.beta
        c = a * math.log(b) - _gl(a) + LOG2
        return lambda x: c - (2 * a + 1) * np.log(x) - b / np.square(x)

    def _kernel_terms(self):  # -(alpha + 1) log tau² - beta/tau² + log tau
        return {"c1": -2 * self.alpha - 1, "c8": -self.beta}

    def _scipy_tau2(self):
        return scipy_stats().invgamma(self.alpha, scale=self.beta)

    @staticmethod
    def _pymc_dist(alpha, beta, size):  # tau = sqrt(tau²), tau² ~ InverseGamma(alpha, beta)
        import pymc as pm
        import pytensor.tensor as pt

        return pt.sqrt(pm.InverseGamma.dist(alpha=alpha, beta=beta, size=size))


@dataclass(frozen=True)
class UniformTau(TauPrior):
    """Improper uniform prior on tau over [0, inf) (bayesmeta's ``"uniform"``).

    As tau grows the marginal likelihood decays like tau^-k (proper prior on mu) or
    tau^-(k-1) (flat prior on mu), so the posterior is proper for k >= 2 with a proper
    mu prior and for k >= 3 with a flat one (Röver 2020, J Stat Softw 93(6), sec. 2.5).
    """

    proper: ClassVar[bool] = False

    def _log_kernel(self, **_: Any):
        return lambda x: np.zeros(np.shape(x))

    def _kernel_terms(self):  # constant
        return {}

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.HalfFlat(name, **kw)


@dataclass(frozen=True)
class Jeffreys(TauPrior):
    """Jeffreys prior for tau in the normal-normal model (improper, data dependent).

    p(tau) ∝ sqrt(Σ_i (tau / (v_i + tau²))²): Tibshirani (1989, Biometrika 76:604);
    bayesmeta's ``tau.prior = "Jeffreys"`` (Röver 2020, J Stat Softw 93(6), sec. 2.5).
    Needs the sampling variances: ``logpdf(tau, vi=vi)``, ``log_density(vi)``.
    """

    proper: ClassVar[bool] = False
    data_free: ClassVar[bool] = False

    def _log_kernel(self, vi: Any = None, **_: Any):
        if vi is None:
            raise BayesmaError("Jeffreys prior needs the sampling variances: logpdf(tau, vi=vi)")
        v = np.asarray(vi, dtype=float)

        def f(x):
            x = np.asarray(x, dtype=float)
            return 0.5 * np.log(np.sum((x[..., None] / (v + x[..., None] ** 2)) ** 2, axis=-1))

        return f

    def to_pymc(self, name: str, *, as_data: bool = False, vi=None, **kwargs: Any):
        import pymc as pm
        import pytensor.tensor as pt

        if vi is None:
            raise BayesmaError("Jeffreys prior needs the sampling variances: to_pymc(name, vi=vi)")
        tau = pm.HalfFlat(name, **kwargs)
        pm.Potential(f"{name}_jeffreys", 0.5 * pt.log(pt.sum((tau / (pt.as_tensor(vi)
                                                                      + tau**2)) ** 2)))
        return tau


class HalfSymmetric:
    """|X| for a frozen symmetric-about-0 scipy distribution X."""

    def __init__(self, base) -> None:
        self.base = base

    def logpdf(self, x):
        return np.where(np.asarray(x) >= 0, LOG2 + self.base.logpdf(x), -np.inf)

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        return np.where(x >= 0, 2.0 * self.base.cdf(x) - 1.0, 0.0)

    def ppf(self, q):
        return self.base.ppf(0.5 + 0.5 * np.asarray(q, dtype=float))

    def rvs(self, size=None, random_state=None):
        return np.abs(self.base.rvs(size=size, random_state=random_state))

"""Prior distributions as objects.

Each prior knows its log density (numpy, used by the exact engine and by
prior/posterior plots), its PyMC form (``to_pymc``), its support, whether it is
proper, and a printable description with its source. Priors for the heterogeneity
``tau`` are densities *of tau*; those stated on tau² (``LogNormalTau2``,
``LogStudentTTau2``, ``InverseGammaTau2``) carry the change-of-variables Jacobian
``p(tau) = p_{tau²}(tau²) · 2 tau`` so that every tau prior is used the same way.

Parameter names follow PyMC (``sigma``, ``beta``, ``lam``, ``alpha``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

import numpy as np
from scipy import stats

from bayesma.errors import BayesmaError

__all__ = [
    "Prior",
    "HalfNormal",
    "HalfCauchy",
    "HalfStudentT",
    "Exponential",
    "Uniform",
    "LogNormal",
    "InverseGamma",
    "LogNormalTau2",
    "LogStudentTTau2",
    "InverseGammaTau2",
    "UniformTau",
    "Jeffreys",
    "Normal",
    "StudentT",
    "Cauchy",
    "Flat",
    "prior_from_spec",
    "PRIOR_FAMILIES",
]

_LOG2 = math.log(2.0)


def _positive(name: str, value: float, owner: str) -> None:
    if not (isinstance(value, int | float | np.floating | np.integer) and np.isfinite(value)):
        raise BayesmaError(f"{owner}: {name} must be a finite number, got {value!r}")
    if value <= 0:
        raise BayesmaError(f"{owner}: {name} must be > 0, got {value!r}")


def _finite(name: str, value: float, owner: str) -> None:
    if not (isinstance(value, int | float | np.floating | np.integer) and np.isfinite(value)):
        raise BayesmaError(f"{owner}: {name} must be a finite number, got {value!r}")


@dataclass(frozen=True)
class Prior:
    """Base class of all priors.

    Attributes
    ----------
    source : str
        Citation of the prior (empty for generic families). Keyword-only.
    """

    #: "tau" for priors on the heterogeneity SD, "mu" for location priors (mu, beta).
    param: ClassVar[str] = "mu"
    #: Support of the parameter.
    support: ClassVar[tuple[float, float]] = (-math.inf, math.inf)
    #: False for improper (flat) priors.
    proper: ClassVar[bool] = True
    #: True for priors under which mu/beta | tau is Gaussian (Normal, Flat).
    is_normal: ClassVar[bool] = False
    #: False for priors whose density depends on the data (Jeffreys).
    data_free: ClassVar[bool] = True

    source: str = field(default="", kw_only=True, compare=False, repr=False)

    # ---- interface -------------------------------------------------------------------
    def logpdf(self, x: Any, **data: Any) -> np.ndarray:
        """Log density at ``x`` (``-inf`` outside the support)."""
        x = np.asarray(x, dtype=float)
        lo, hi = self.support
        inside = (x >= lo) & (x <= hi)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = np.where(inside, self._logpdf(np.where(inside, x, self._safe_point()), **data),
                           -np.inf)
        return out if out.ndim else out[()]

    def pdf(self, x: Any, **data: Any) -> np.ndarray:
        """Density at ``x``."""
        return np.exp(self.logpdf(x, **data))

    def cdf(self, x: Any) -> np.ndarray:
        """Cumulative distribution function (proper priors only)."""
        self._require_proper("cdf")
        return self._scipy().cdf(np.asarray(x, dtype=float))

    def ppf(self, q: Any) -> np.ndarray:
        """Quantile function (proper priors only)."""
        self._require_proper("ppf")
        return self._scipy().ppf(np.asarray(q, dtype=float))

    def rvs(self, size: int | tuple[int, ...], rng: np.random.Generator | int | None = None
            ) -> np.ndarray:
        """Random draws (proper priors only)."""
        self._require_proper("rvs")
        return self._scipy().rvs(size=size, random_state=np.random.default_rng(rng))

    def to_pymc(self, name: str, *, as_data: bool = False, **kwargs: Any):
        """Create the PyMC random variable of the parameter in the current model.

        Parameters
        ----------
        name : str
            Variable name (e.g. ``"tau"``).
        as_data : bool
            Register the numeric hyperparameters as ``pm.Data`` named
            ``f"{name}_{hyper}"`` (e.g. ``tau_sigma``) so a compiled model can be
            re-fed other values of the same family without recompiling.
        **kwargs
            Passed to the PyMC distribution (``dims=``, ``shape=``).
        """
        import pymc as pm
        import pytensor.tensor as pt

        hyper = self.hyperparameters()
        if as_data:
            hyper = {k: pm.Data(f"{name}_{k}", float(v)) for k, v in hyper.items()}
        else:  # float64 constants (python floats can be narrowed in CustomDist graphs)
            hyper = {k: pt.as_tensor_variable(np.float64(v)) for k, v in hyper.items()}
        return self._to_pymc(name, hyper, **kwargs)

    def hyperparameters(self) -> dict[str, float]:
        """Numeric hyperparameters by PyMC name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "source"}

    def describe(self) -> str:
        """Short description, e.g. ``HalfNormal(sigma=0.5)`` plus ``[on tau²]`` if so."""
        args = ", ".join(f"{k}={_fmt(v)}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"

    def spec(self) -> dict[str, Any]:
        """JSON-serialisable specification; :func:`prior_from_spec` rebuilds the prior."""
        d = asdict(self)
        d["family"] = type(self).__name__
        return d

    def __str__(self) -> str:
        return self.describe()

    # ---- implementation hooks ------------------------------------------------------
    def _logpdf(self, x: np.ndarray, **data: Any) -> np.ndarray:
        return self._scipy().logpdf(x)

    def _scipy(self):  # frozen scipy distribution of the parameter
        raise NotImplementedError

    def _to_pymc(self, name: str, hyper: dict[str, Any], **kwargs: Any):
        raise NotImplementedError

    def _safe_point(self) -> float:
        lo, hi = self.support
        if np.isfinite(lo) and np.isfinite(hi):
            return 0.5 * (lo + hi)
        if np.isfinite(lo):
            return lo + 1.0
        return 0.0

    def _require_proper(self, what: str) -> None:
        if not self.proper:
            raise BayesmaError(f"{self.describe()} is improper: it has no {what}")


def _fmt(v: float) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


# ====================================================================================
# Priors on tau (the between-study standard deviation)
# ====================================================================================


@dataclass(frozen=True)
class _TauPrior(Prior):
    param: ClassVar[str] = "tau"
    support: ClassVar[tuple[float, float]] = (0.0, math.inf)


@dataclass(frozen=True)
class HalfNormal(_TauPrior):
    """Half-normal prior on tau with scale ``sigma`` (PyMC's ``HalfNormal``).

    Recommended weakly informative choice for log odds ratios with sigma = 0.5
    (Friede et al. 2017, Biom J 59:658; Röver et al. 2021, Res Synth Methods 12:448).
    """

    sigma: float = 0.5

    def __post_init__(self) -> None:
        _positive("sigma", self.sigma, "HalfNormal")

    def _logpdf(self, x, **_):  # log 2 + log N(x | 0, sigma²)
        return _LOG2 + stats.norm.logpdf(x, 0.0, self.sigma)

    def _scipy(self):
        return stats.halfnorm(scale=self.sigma)

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.HalfNormal(name, sigma=hyper["sigma"], **kw)


@dataclass(frozen=True)
class HalfCauchy(_TauPrior):
    """Half-Cauchy prior on tau with scale ``beta`` (Gelman 2006, Bayesian Anal 1:515)."""

    beta: float = 0.5

    def __post_init__(self) -> None:
        _positive("beta", self.beta, "HalfCauchy")

    def _logpdf(self, x, **_):  # log(2 / (pi beta (1 + (x/beta)²)))
        return _LOG2 + stats.cauchy.logpdf(x, 0.0, self.beta)

    def _scipy(self):
        return stats.halfcauchy(scale=self.beta)

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.HalfCauchy(name, beta=hyper["beta"], **kw)


@dataclass(frozen=True)
class HalfStudentT(_TauPrior):
    """Half-Student-t prior on tau with ``nu`` degrees of freedom and scale ``sigma``."""

    nu: float = 3.0
    sigma: float = 0.5

    def __post_init__(self) -> None:
        _positive("nu", self.nu, "HalfStudentT")
        _positive("sigma", self.sigma, "HalfStudentT")

    def _logpdf(self, x, **_):  # log 2 + log t_nu(x | 0, sigma)
        return _LOG2 + stats.t.logpdf(x, self.nu, 0.0, self.sigma)

    def _scipy(self):
        return _HalfSymmetric(stats.t(self.nu, 0.0, self.sigma))

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.HalfStudentT(name, nu=hyper["nu"], sigma=hyper["sigma"], **kw)


@dataclass(frozen=True)
class Exponential(_TauPrior):
    """Exponential prior on tau with rate ``lam`` (mean 1/lam)."""

    lam: float = 2.0

    def __post_init__(self) -> None:
        _positive("lam", self.lam, "Exponential")

    def _logpdf(self, x, **_):  # log(lam) - lam x
        return math.log(self.lam) - self.lam * x

    def _scipy(self):
        return stats.expon(scale=1.0 / self.lam)

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.Exponential(name, lam=hyper["lam"], **kw)


@dataclass(frozen=True)
class Uniform(_TauPrior):
    """Uniform prior on tau on ``[lower, upper]``."""

    lower: float = 0.0
    upper: float = 10.0

    def __post_init__(self) -> None:
        _finite("lower", self.lower, "Uniform")
        _finite("upper", self.upper, "Uniform")
        if not 0 <= self.lower < self.upper:
            raise BayesmaError(
                f"Uniform: need 0 <= lower < upper for a prior on tau, got "
                f"lower={self.lower}, upper={self.upper}"
            )

    @property
    def support(self) -> tuple[float, float]:  # type: ignore[override]
        return (self.lower, self.upper)

    def _logpdf(self, x, **_):  # -log(upper - lower) on the support
        return np.full_like(x, -math.log(self.upper - self.lower))

    def _scipy(self):
        return stats.uniform(self.lower, self.upper - self.lower)

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.Uniform(name, lower=hyper["lower"], upper=hyper["upper"], **kw)


@dataclass(frozen=True)
class LogNormal(_TauPrior):
    """Log-normal prior on tau: log(tau) ~ N(mu, sigma²)."""

    mu: float = -1.0
    sigma: float = 1.0

    def __post_init__(self) -> None:
        _finite("mu", self.mu, "LogNormal")
        _positive("sigma", self.sigma, "LogNormal")

    def _logpdf(self, x, **_):  # log N(log x | mu, sigma²) - log x
        return stats.norm.logpdf(np.log(x), self.mu, self.sigma) - np.log(x)

    def _scipy(self):
        return stats.lognorm(s=self.sigma, scale=math.exp(self.mu))

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.LogNormal(name, mu=hyper["mu"], sigma=hyper["sigma"], **kw)


@dataclass(frozen=True)
class InverseGamma(_TauPrior):
    """Inverse-gamma prior on tau with shape ``alpha`` and scale ``beta`` (PyMC's form)."""

    alpha: float = 1.0
    beta: float = 0.15

    def __post_init__(self) -> None:
        _positive("alpha", self.alpha, "InverseGamma")
        _positive("beta", self.beta, "InverseGamma")

    def _logpdf(self, x, **_):
        return stats.invgamma.logpdf(x, self.alpha, scale=self.beta)

    def _scipy(self):
        return stats.invgamma(self.alpha, scale=self.beta)

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.InverseGamma(name, alpha=hyper["alpha"], beta=hyper["beta"], **kw)


@dataclass(frozen=True)
class _Tau2Prior(_TauPrior):
    """A prior stated on tau²; densities here are of tau (Jacobian 2 tau)."""

    def describe(self) -> str:
        return super().describe() + " on tau²"

    def _logpdf_tau2(self, t2):
        raise NotImplementedError

    def _logpdf(self, x, **_):  # p(tau) = p_{tau²}(tau²) · 2 tau
        return self._logpdf_tau2(x * x) + _LOG2 + np.log(x)

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
class LogNormalTau2(_Tau2Prior):
    """Log-normal prior on tau²: log(tau²) ~ N(mu, sigma²).

    The form of Turner et al. (2015, Stat Med 34:984) for log odds ratios; equivalently
    log(tau) ~ N(mu/2, (sigma/2)²).
    """

    mu: float = -2.56
    sigma: float = 1.74

    def __post_init__(self) -> None:
        _finite("mu", self.mu, "LogNormalTau2")
        _positive("sigma", self.sigma, "LogNormalTau2")

    def _logpdf_tau2(self, t2):
        return stats.lognorm.logpdf(t2, s=self.sigma, scale=math.exp(self.mu))

    def _scipy_tau2(self):
        return stats.lognorm(s=self.sigma, scale=math.exp(self.mu))

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        # log(tau) = log(tau²)/2 ~ N(mu/2, sigma/2): an exact log-normal on tau
        return pm.LogNormal(name, mu=hyper["mu"] / 2.0, sigma=hyper["sigma"] / 2.0, **kw)


@dataclass(frozen=True)
class LogStudentTTau2(_Tau2Prior):
    """Log-Student-t prior on tau²: log(tau²) ~ t_nu(mu, sigma).

    The form of Rhodes et al. (2015, J Clin Epidemiol 68:52) for standardized mean
    differences, with nu = 5.
    """

    mu: float = -3.44
    sigma: float = 2.59
    nu: float = 5.0

    def __post_init__(self) -> None:
        _finite("mu", self.mu, "LogStudentTTau2")
        _positive("sigma", self.sigma, "LogStudentTTau2")
        _positive("nu", self.nu, "LogStudentTTau2")

    def _logpdf(self, x, **_):  # log(tau) ~ t_nu(mu/2, sigma/2): p(tau) = t(log tau)/tau
        return stats.t.logpdf(np.log(x), self.nu, self.mu / 2.0, self.sigma / 2.0) - np.log(x)

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            return stats.t.cdf(np.log(np.maximum(x, 0.0)), self.nu, self.mu / 2, self.sigma / 2)

    def ppf(self, q):
        return np.exp(stats.t.ppf(np.asarray(q, dtype=float), self.nu, self.mu / 2,
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
class InverseGammaTau2(_Tau2Prior):
    """Inverse-gamma prior on tau² with shape ``alpha`` and scale ``beta``.

    The classical conjugate-style choice (e.g. IG(0.001, 0.001) in early WinBUGS
    analyses; see Lambert et al. 2005, Stat Med 24:2401 for its pitfalls).
    """

    alpha: float = 1.0
    beta: float = 0.15

    def __post_init__(self) -> None:
        _positive("alpha", self.alpha, "InverseGammaTau2")
        _positive("beta", self.beta, "InverseGammaTau2")

    def _logpdf_tau2(self, t2):
        return stats.invgamma.logpdf(t2, self.alpha, scale=self.beta)

    def _scipy_tau2(self):
        return stats.invgamma(self.alpha, scale=self.beta)

    @staticmethod
    def _pymc_dist(alpha, beta, size):  # tau = sqrt(tau²), tau² ~ InverseGamma(alpha, beta)
        import pymc as pm
        import pytensor.tensor as pt

        return pt.sqrt(pm.InverseGamma.dist(alpha=alpha, beta=beta, size=size))


@dataclass(frozen=True)
class UniformTau(_TauPrior):
    """Improper uniform prior on tau over [0, inf) (bayesmeta's ``"uniform"``).

    As tau grows the marginal likelihood decays like tau^-k (proper prior on mu) or
    tau^-(k-1) (flat prior on mu), so the posterior is proper for k >= 2 with a proper
    mu prior and for k >= 3 with a flat one (Röver 2020, J Stat Softw 93(6), sec. 2.5).
    """

    proper: ClassVar[bool] = False

    def _logpdf(self, x, **_):
        return np.zeros_like(x)

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.HalfFlat(name, **kw)


@dataclass(frozen=True)
class Jeffreys(_TauPrior):
    """Jeffreys prior for tau in the normal-normal model (improper, data dependent).

    p(tau) ∝ sqrt(Σ_i (tau / (v_i + tau²))²): Tibshirani (1989, Biometrika 76:604);
    bayesmeta's ``tau.prior = "Jeffreys"`` (Röver 2020, J Stat Softw 93(6), sec. 2.5).
    Needs the sampling variances: ``logpdf(tau, vi=vi)``.
    """

    proper: ClassVar[bool] = False
    data_free: ClassVar[bool] = False

    def _logpdf(self, x, vi=None, **_):
        if vi is None:
            raise BayesmaError("Jeffreys prior needs the sampling variances: logpdf(tau, vi=vi)")
        v = np.asarray(vi, dtype=float)
        x = np.asarray(x, dtype=float)
        s = np.sum((x[..., None] / (v + x[..., None] ** 2)) ** 2, axis=-1)
        return 0.5 * np.log(s)

    def to_pymc(self, name: str, *, as_data: bool = False, vi=None, **kwargs: Any):
        import pymc as pm
        import pytensor.tensor as pt

        if vi is None:
            raise BayesmaError("Jeffreys prior needs the sampling variances: to_pymc(name, vi=vi)")
        tau = pm.HalfFlat(name, **kwargs)
        pm.Potential(f"{name}_jeffreys", 0.5 * pt.log(pt.sum((tau / (pt.as_tensor(vi)
                                                                      + tau**2)) ** 2)))
        return tau


# ====================================================================================
# Priors on mu and regression coefficients
# ====================================================================================


@dataclass(frozen=True)
class Normal(Prior):
    """Normal prior N(mu, sigma²) on the pooled effect or a regression coefficient."""

    mu: float = 0.0
    sigma: float = 10.0
    is_normal: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _finite("mu", self.mu, "Normal")
        _positive("sigma", self.sigma, "Normal")

    def _logpdf(self, x, **_):  # closed form: no frozen scipy object per call
        z = (x - self.mu) / self.sigma
        return -0.5 * z * z - math.log(self.sigma) - 0.5 * math.log(2 * math.pi)

    def _scipy(self):
        return stats.norm(self.mu, self.sigma)

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.Normal(name, mu=hyper["mu"], sigma=hyper["sigma"], **kw)


@dataclass(frozen=True)
class StudentT(Prior):
    """Student-t prior t_nu(mu, sigma) on the pooled effect or a coefficient."""

    nu: float = 3.0
    mu: float = 0.0
    sigma: float = 1.0

    def __post_init__(self) -> None:
        _positive("nu", self.nu, "StudentT")
        _finite("mu", self.mu, "StudentT")
        _positive("sigma", self.sigma, "StudentT")

    def _logpdf(self, x, **_):
        return stats.t.logpdf(x, self.nu, self.mu, self.sigma)

    def _scipy(self):
        return stats.t(self.nu, self.mu, self.sigma)

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.StudentT(name, nu=hyper["nu"], mu=hyper["mu"], sigma=hyper["sigma"], **kw)


@dataclass(frozen=True)
class Cauchy(Prior):
    """Cauchy prior with location ``alpha`` and scale ``beta`` (PyMC's names)."""

    alpha: float = 0.0
    beta: float = 1.0

    def __post_init__(self) -> None:
        _finite("alpha", self.alpha, "Cauchy")
        _positive("beta", self.beta, "Cauchy")

    def _logpdf(self, x, **_):
        return stats.cauchy.logpdf(x, self.alpha, self.beta)

    def _scipy(self):
        return stats.cauchy(self.alpha, self.beta)

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.Cauchy(name, alpha=hyper["alpha"], beta=hyper["beta"], **kw)


@dataclass(frozen=True)
class Flat(Prior):
    """Improper flat prior on mu or a coefficient (exact engine; PyMC ``Flat``)."""

    proper: ClassVar[bool] = False
    is_normal: ClassVar[bool] = True

    def _logpdf(self, x, **_):
        return np.zeros_like(x)

    def _to_pymc(self, name, hyper, **kw):
        import pymc as pm

        return pm.Flat(name, **kw)


class _HalfSymmetric:
    """|X| for a frozen symmetric-about-0 scipy distribution X."""

    def __init__(self, base) -> None:
        self.base = base

    def logpdf(self, x):
        return np.where(np.asarray(x) >= 0, _LOG2 + self.base.logpdf(x), -np.inf)

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        return np.where(x >= 0, 2.0 * self.base.cdf(x) - 1.0, 0.0)

    def ppf(self, q):
        return self.base.ppf(0.5 + 0.5 * np.asarray(q, dtype=float))

    def rvs(self, size=None, random_state=None):
        return np.abs(self.base.rvs(size=size, random_state=random_state))


PRIOR_FAMILIES: dict[str, type[Prior]] = {
    cls.__name__: cls
    for cls in (
        HalfNormal, HalfCauchy, HalfStudentT, Exponential, Uniform, LogNormal, InverseGamma,
        LogNormalTau2, LogStudentTTau2, InverseGammaTau2, UniformTau, Jeffreys,
        Normal, StudentT, Cauchy, Flat,
    )
}


def prior_from_spec(spec: dict[str, Any]) -> Prior:
    """Rebuild a prior from :meth:`Prior.spec` output (``{"family": ..., params}``)."""
    spec = dict(spec)
    family = spec.pop("family", None)
    if family not in PRIOR_FAMILIES:
        raise BayesmaError(
            f"unknown prior family {family!r}; known: {', '.join(PRIOR_FAMILIES)}"
        )
    try:
        return PRIOR_FAMILIES[family](**spec)
    except TypeError as exc:
        raise BayesmaError(f"{family}: {exc}") from exc

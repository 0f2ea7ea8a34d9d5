"""The :class:`Prior` base class, the family registry and shared validators.

Every prior family is one frozen dataclass subclassing :class:`Prior`; defining the
class registers it in :data:`PRIOR_FAMILIES` under its class name (abstract bases pass
``register=False``). A family holds all its knowledge:

- ``_log_kernel(**data)``: its numpy log density as a closure with the hyperparameters
  bound (the one definition; :meth:`Prior.logpdf` and :meth:`Prior.log_density` wrap it
  with the support check);
- ``kernel_coefficients()``: the coefficients of the PyMC tau kernel
  (:func:`bayesma.bayes.models.tau_kernel`) or None;
- ``_to_pymc``: its PyMC form;
- :meth:`Prior.from_spec`: its validated construction from a spec mapping.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from bayesma.errors import BayesmaError, SpecError

__all__ = [
    "KERNEL_DEFAULTS",
    "LOG2",
    "LOG2PI",
    "PRIOR_FAMILIES",
    "Prior",
    "check_finite",
    "check_positive",
    "closest_name",
    "scipy_stats",
    "prior_spec_error",
    "type_name",
]

def scipy_stats() -> Any:
    """``scipy.stats``, imported on first use: it takes 0.5-0.9 s to import and only the
    frozen distributions (``Prior.dist``) and a few quantiles need it (issue 16)."""
    from scipy import stats

    return stats


LOG2 = math.log(2.0)
LOG2PI = math.log(2.0 * math.pi)

#: Family name -> class; filled by :meth:`Prior.__init_subclass__` (class definition order).
PRIOR_FAMILIES: dict[str, type[Prior]] = {}

#: Coefficients of the PyMC tau kernel (:func:`bayesma.bayes.models.tau_kernel`) and their
#: neutral values. The kernel's log density of tau is::
#:
#:     c1 log tau + c2 tau + c3 tau² + c4 log(1 + tau²/s4) + c5 (log tau - m5)²
#:     + c6 log(1 + (log tau - m6)²/s6) + c7 / tau + c8 / tau²     on lo <= tau <= hi
KERNEL_DEFAULTS: dict[str, float] = {
    "c1": 0.0, "c2": 0.0, "c3": 0.0, "c4": 0.0, "s4": 1.0, "c5": 0.0, "m5": 0.0,
    "c6": 0.0, "m6": 0.0, "s6": 1.0, "c7": 0.0, "c8": 0.0, "lo": 0.0, "hi": math.inf,
}

LogDensity = Callable[[np.ndarray], np.ndarray]


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float | np.floating | np.integer)
            and not isinstance(value, bool | np.bool_))


def check_positive(name: str, value: float, owner: str) -> None:
    """Raise :class:`BayesmaError` unless ``value`` is a finite number > 0."""
    if not (_is_number(value) and np.isfinite(value)):
        raise BayesmaError(f"{owner}: {name} must be a finite number, got {value!r}")
    if value <= 0:
        raise BayesmaError(f"{owner}: {name} must be > 0, got {value!r}")


def check_finite(name: str, value: float, owner: str) -> None:
    """Raise :class:`BayesmaError` unless ``value`` is a finite number."""
    if not (_is_number(value) and np.isfinite(value)):
        raise BayesmaError(f"{owner}: {name} must be a finite number, got {value!r}")


def closest_name(word: str, candidates: list[str]) -> str | None:
    """The candidate closest to ``word`` (difflib, case-insensitive), or None."""
    lower = {c.lower(): c for c in candidates}
    hit = difflib.get_close_matches(str(word).lower(), list(lower), n=1, cutoff=0.6)
    return lower[hit[0]] if hit else None


def prior_spec_error(where: str, path: tuple[str, ...], reason: str,
                     hint: str = "") -> SpecError:
    """A :class:`SpecError` for a prior spec, naming the key path.

    The message reads ``"<where>.<path>: <reason>"``; the error also carries
    ``path`` (the keys below ``where``), ``reason`` and ``hint`` so that the spec layer
    can re-locate it (file and line) without parsing the message.
    """
    key = ".".join(p for p in (where, *path) if p)
    err = SpecError(f"{key}: {reason}" if key else reason)
    err.path = tuple(path)  # type: ignore[attr-defined]
    err.reason = reason  # type: ignore[attr-defined]
    err.hint = hint  # type: ignore[attr-defined]
    return err


def type_name(v: Any) -> str:
    """A short English name of a spec value's type (for messages)."""
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list | tuple):
        return "a list"
    if isinstance(v, Mapping):
        return "a table"
    return type(v).__name__


@dataclass(frozen=True)
class Prior:
    """Base class of all priors.

    Attributes
    ----------
    source : str
        Citation or rationale of the prior (empty for generic families). Keyword-only;
        a spec's ``source = "..."`` lands here.
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

    def __init_subclass__(cls, register: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if register and not cls.__name__.startswith("_"):
            PRIOR_FAMILIES.setdefault(cls.__name__, cls)

    # ---- densities -------------------------------------------------------------------
    def log_density(self, vi: Any = None) -> LogDensity:
        """A fast numpy closure equal to :meth:`logpdf`, hyperparameters bound.

        Parameters
        ----------
        vi : array_like, optional
            Sampling variances, for data-dependent priors (Jeffreys); ignored otherwise.

        Returns
        -------
        callable
            ``f(x) -> ndarray`` of the log density at ``x`` (vectorised, same shape as
            ``x``; ``-inf`` outside the support). The exact engine calls it many times
            per fit, so it avoids building scipy objects.
        """
        data = {} if self.data_free else {"vi": vi}
        kernel = self._log_kernel(**data)
        lo, hi = self.support
        safe = self._safe_point()

        def logpdf(x: Any) -> np.ndarray:
            x = np.asarray(x, dtype=float)
            inside = (x >= lo) & (x <= hi)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                val = np.asarray(kernel(np.where(inside, x, safe)), dtype=float)
                # nan inside the support only arises at a boundary where the density's
                # limit is 0 (e.g. log-normal or inverse-gamma at tau = 0): -inf
                return np.where(inside & ~np.isnan(val), np.broadcast_to(val, x.shape),
                                -np.inf)

        return logpdf

    def logpdf(self, x: Any, **data: Any) -> np.ndarray:
        """Log density at ``x`` (``-inf`` outside the support)."""
        if self.data_free:
            data = {}
        out = self.log_density(**data)(x)
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

    def kernel_coefficients(self) -> dict[str, float] | None:
        """Coefficients of the PyMC tau kernel reproducing :meth:`logpdf` up to a constant.

        Returns the full dict (keys of :data:`KERNEL_DEFAULTS`), or None for families the
        kernel does not cover (location priors, data-dependent priors).
        """
        own = self._kernel_terms()
        if own is None:
            return None
        return {**KERNEL_DEFAULTS, **{k: float(v) for k, v in own.items()}}

    @property
    def scale(self) -> float | None:
        """The family's scale hyperparameter (e.g. ``sigma`` of a Normal, ``beta`` of a
        Cauchy), or None for families without one (flat, log-scale, bounded)."""
        return None

    # ---- PyMC --------------------------------------------------------------------------
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

    # ---- description and spec ----------------------------------------------------------
    def hyperparameters(self) -> dict[str, float]:
        """Numeric hyperparameters by PyMC name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "source"}

    @classmethod
    def parameter_names(cls) -> list[str]:
        """Names of the hyperparameters a spec may give (in constructor order)."""
        return [f.name for f in fields(cls) if f.name != "source"]

    def describe(self) -> str:
        """Short description, e.g. ``HalfNormal(sigma=0.5)`` plus ``[on tau²]`` if so."""
        args = ", ".join(f"{k}={_fmt(v)}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"

    def spec(self) -> dict[str, Any]:
        """JSON-serialisable specification; :func:`prior_from_spec` rebuilds the prior."""
        d = asdict(self)
        d["family"] = type(self).__name__
        return d

    @classmethod
    def from_spec(cls, mapping: Mapping[str, Any], *, where: str = "") -> Prior:
        """Build and validate a prior of this family from a spec mapping.

        Parameters
        ----------
        mapping : mapping
            Hyperparameters by name (numbers), optionally ``family`` (must name this
            class) and ``source`` (text: the prior's citation or rationale).
        where : str
            Key path of the mapping for messages (e.g. ``"priors.tau"``).

        Returns
        -------
        Prior

        Raises
        ------
        SpecError
            Naming the key (``where.key``) for unknown parameters (with a "did you mean"
            suggestion), values that are not numbers, and values the family rejects.
        """
        name = cls.__name__
        params = cls.parameter_names()
        args: dict[str, float] = {}
        source = ""
        for k, v in mapping.items():
            if k == "family":
                if v != name:
                    raise prior_spec_error(where, ("family",),
                                           f"expected family {name!r}, got {v!r}")
                continue
            if k == "source":
                if not isinstance(v, str):
                    raise prior_spec_error(where, ("source",),
                                           f"must be a string, got {type_name(v)} ({v!r})")
                source = v
                continue
            if k not in params:
                guess = closest_name(str(k), params)
                hint = f"did you mean {guess!r}? " if guess else ""
                raise prior_spec_error(
                    where, (str(k),), f"{name} has no parameter {k!r}; {hint}parameters: "
                    + (", ".join(params) or "none"))
            if not _is_number(v):
                raise prior_spec_error(where, (str(k),),
                                       f"must be a number, got {type_name(v)} ({v!r})")
            args[k] = float(v)
        try:
            return cls(**args, source=source)
        except BayesmaError as exc:
            raise prior_spec_error(where, (), str(exc)) from None
        except TypeError as exc:
            raise prior_spec_error(where, (), f"{name}: {exc}") from None

    def __str__(self) -> str:
        return self.describe()

    # ---- implementation hooks ------------------------------------------------------
    def _log_kernel(self, **data: Any) -> LogDensity:
        """The log density on the support as a closure (hyperparameters bound).

        Only ever called with points inside the support. The default uses the frozen
        scipy distribution; families override it with their closed form.
        """
        dist = self._scipy()
        return dist.logpdf

    def _kernel_terms(self) -> dict[str, float] | None:
        return None

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

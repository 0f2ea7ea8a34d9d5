"""The base class of the PyMC models: study table, priors, structure, fitting, reuse.

Every model is built from the study table and prior objects (:mod:`bayesma.priors`),
exposes its priors as a CausalPy-style dict (``model.default_priors``, ``model.priors``),
``build()`` returns the ``pm.Model`` and ``fit()`` samples it and returns a
:class:`~bayesma.bayes.fit.BayesFit`. See :mod:`bayesma.bayes.models` for the
parameterizations and the compiled-model cache.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from bayesma.bayes.diagnostics import SMALL_K, diagnose, warn_if_problems
from bayesma.bayes.fit import BayesFit
from bayesma.bayes.models.derived import PosteriorDraws
from bayesma.bayes.models.graph import check_prior, hyper_data
from bayesma.bayes.models.serialization import table_to_json
from bayesma.bayes.models.settings import check_fit_settings
from bayesma.bayes.models.sweep import TauPriorSweep
from bayesma.bayes.sampling import run_sampler
from bayesma.data import effect_arrays, require_k, study_labels
from bayesma.errors import BayesmaError, DataError
from bayesma.priors import Prior, default_priors

__all__ = ["PARAMETERIZATIONS", "MetaModel"]

PARAMETERIZATIONS = ("marginal", "noncentered", "centered")


def _package_version() -> str:
    """The installed bayesma version (recorded in every fit)."""
    try:
        return version("bayesma")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


class MetaModel(PosteriorDraws, TauPriorSweep):
    """Base class: the study table, the priors and the machinery to fit them.

    Parameters
    ----------
    data : DataFrame
        One row per study.
    yi, vi : str
        Columns of effect sizes and sampling variances.
    mu_prior, tau_prior : Prior, optional
        Priors on the pooled effect and on the between-study SD tau; default
        ``bayesma.priors.default_priors(measure)`` (see ``model.default_priors``).
    sei : str, optional
        Column of standard errors, used instead of ``vi`` (``vi = sei**2``).
    slab : str, optional
        Column of study labels (default: the first of ``slab``, ``author``, ``study``...,
        else the row index); made unique and used as the ``study`` coordinate.
    measure : str, optional
        Effect measure ("OR", "SMD", ...); default ``data.attrs["measure"]``.
    parameterization : {"marginal", "noncentered", "centered"}
        How the study effects enter the sampler (see the module documentation).
    """

    #: Short model name (recorded in the fit).
    model_name: ClassVar[str] = "MetaModel"
    #: Parameterizations this class supports.
    parameterizations: ClassVar[tuple[str, ...]] = PARAMETERIZATIONS
    #: Default parameterization.
    default_parameterization: ClassVar[str] = "marginal"
    #: True when theta_i | rest is Gaussian (the exact engine's model).
    normal_model: ClassVar[bool] = True
    #: Whether the model has a between-study SD.
    has_tau: ClassVar[bool] = True
    #: Smallest number of studies accepted.
    min_k: ClassVar[int] = 2

    def __init__(
        self,
        data: pd.DataFrame,
        yi: str = "yi",
        vi: str = "vi",
        *,
        mu_prior: Prior | None = None,
        tau_prior: Prior | None = None,
        sei: str | None = None,
        slab: str | None = None,
        measure: str | None = None,
        parameterization: str | None = None,
    ) -> None:
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        parameterization = parameterization or self.default_parameterization
        if parameterization not in self.parameterizations:
            raise BayesmaError(
                f"{self.model_name}: parameterization must be one of "
                f"{', '.join(map(repr, self.parameterizations))}; got {parameterization!r}"
            )
        self._init_kwargs: dict[str, Any] = {
            "yi": yi, "vi": vi, "sei": sei, "slab": slab, "measure": measure,
            "parameterization": parameterization,
        }
        self.parameterization = parameterization
        self.yi_name, self.vi_name, self.sei_name, self.slab = yi, vi, sei, slab
        self.measure = measure if measure is not None else data.attrs.get("measure")
        self.source_data = data
        keep = self._select_rows(data)
        self.data = data.loc[keep] if keep is not None else data
        self.yi, self.vi = effect_arrays(self.data, yi, vi, sei=sei, slab=slab)
        self.labels = study_labels(self.data, slab)
        self.k = len(self.yi)
        require_k(self.k, self.min_k, method=self.model_name)
        self._setup()
        defaults = self.default_priors
        self.priors: dict[str, Any] = {}
        self.priors["mu"] = check_prior(mu_prior if mu_prior is not None else defaults["mu"],
                                         "mu_prior", "mu")
        if self.has_tau:
            self.priors["tau"] = check_prior(
                tau_prior if tau_prior is not None else defaults["tau"], "tau_prior", "tau")
        elif tau_prior is not None:
            raise BayesmaError(f"{self.model_name} has no tau (tau = 0); drop tau_prior")
        self._last_fit_kwargs: dict[str, Any] = {}
        #: prior families of a compiled prior-switch model (see :meth:`sweep`), or None
        self._tau_switch: tuple[str, ...] | None = None

    # ---- hooks for subclasses ---------------------------------------------------------
    def _select_rows(self, data: pd.DataFrame) -> np.ndarray | None:
        """Rows used (None = all); meta-regression drops rows with missing moderators."""
        return None

    def _setup(self) -> None:
        """Extra validation/preparation after yi, vi, labels are read."""

    # ---- priors -----------------------------------------------------------------------
    @property
    def default_priors(self) -> dict[str, Prior]:
        """Default priors for this measure and data (``bayesma.priors.default_priors``)."""
        d = dict(default_priors(self.measure, self.yi, self.vi))
        if not self.has_tau:
            d.pop("tau", None)
        return d

    def prior_text(self) -> dict[str, str]:
        """``{param: prior.describe()}`` (``beta[term]`` per coefficient; fixed values)."""
        out = {}
        for k, v in self.priors.items():
            if isinstance(v, Mapping):
                out.update({f"{k}[{t}]": p.describe() for t, p in v.items()})
            else:
                out[k] = v.describe() if isinstance(v, Prior) else f"{v:g} (fixed)"
        return out

    def _prior_vars(self) -> list[tuple[str, Prior]]:
        """(PyMC variable name, prior) of every parameter with a prior."""
        return [(k, v) for k, v in self.priors.items() if isinstance(v, Prior)]

    def prior_spec(self) -> dict[str, Any]:
        """JSON-serialisable priors (``Prior.spec()``; dicts by term; fixed numbers)."""
        out: dict[str, Any] = {}
        for k, v in self.priors.items():
            if isinstance(v, Mapping):
                out[k] = {t: p.spec() for t, p in v.items()}
            elif isinstance(v, Prior):
                out[k] = v.spec()
            else:
                out[k] = float(v)
        return out

    # ---- structure ------------------------------------------------------------------
    def coords(self) -> dict[str, list[str]]:
        """Model coordinates (``study`` and model-specific ones)."""
        return {"study": list(self.labels)}

    def signature(self) -> tuple:
        """Structural key of the compiled model (everything but data/hyperparameters)."""
        fam = tuple((name, ("switch", *self._tau_switch) if name == "tau" and
                      self._tau_switch else type(p).__name__)
                    for name, p in self._prior_vars())
        fam += tuple((k, "fixed") for k, v in self.priors.items()
                     if not isinstance(v, Prior | Mapping))
        k_part = None if self._k_free() else self.k
        return (type(self).__name__, self.parameterization, fam, k_part, self._extra_key())

    def _k_free(self) -> bool:
        """True when the sampled parameters do not grow with k (any k reuses a compile)."""
        return self.parameterization == "marginal"

    def _extra_key(self) -> tuple:
        return ()

    def data_values(self) -> dict[str, np.ndarray]:
        """Values of every ``pm.Data`` container of :meth:`build` (for ``with_data``)."""
        vals: dict[str, Any] = {"yi": self.yi, "vi": self.vi}
        for name, prior in self._prior_vars():
            if name == "tau" and self._tau_switch:
                vals.update(self._switch_data(prior))
            else:
                vals.update(hyper_data(name, prior))
        vals.update(self._extra_data())
        return {k: np.asarray(v) for k, v in vals.items()}

    def _extra_data(self) -> dict[str, Any]:
        return {}

    def _fast_spec(self) -> Any:
        """The disk-cached density of this model (:mod:`bayesma.bayes.fastpath`), or None
        to compile the PyMC graph."""
        return None

    # ---- model ----------------------------------------------------------------------
    def build(self):
        """The PyMC model (data and hyperparameters as ``pm.Data``)."""
        import pymc as pm

        with pm.Model(coords=self.coords()) as model:
            y = pm.Data("yi", self.yi, dims="study")
            v = pm.Data("vi", self.vi, dims="study")
            self._build_body(y, v)
        return model

    def _build_body(self, y, v) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _normal_likelihood(self, y, v, loc, tau) -> None:
        """Observation model for the three normal parameterizations."""
        import pymc as pm
        import pytensor.tensor as pt

        if self.parameterization == "marginal":
            pm.Normal("y", mu=loc, sigma=pt.sqrt(v + tau**2), observed=y, dims="study")
            return
        if self.parameterization == "noncentered":
            z = pm.Normal("z", 0.0, 1.0, dims="study")
            theta = pm.Deterministic("theta", loc + tau * z, dims="study")
        else:
            theta = pm.Normal("theta", mu=loc, sigma=tau, dims="study")
        pm.Normal("y", mu=theta, sigma=pt.sqrt(v), observed=y, dims="study")

    # ---- fitting --------------------------------------------------------------------
    def fit(
        self,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        cores: int | None = None,
        sampler: str = "nutpie",
        target_accept: float | None = None,
        random_seed: int | None = None,
        progressbar: bool | None = None,
        prior_predictive: bool = True,
        posterior_predictive: bool = True,
        log_likelihood: bool = True,
    ) -> BayesFit:
        """Sample the posterior and return a :class:`~bayesma.bayes.fit.BayesFit`.

        Parameters
        ----------
        draws, tune : int
            Draws kept (>= 1) and tuning iterations (>= 0), per chain.
        chains : int
            Number of chains (4: R-hat and ESS need several).
        cores : int, optional
            Chains run in parallel; default all cores (``os.cpu_count()``; PyMC 6 would
            use half of them).
        sampler : {"nutpie", "pymc", "numpyro"}
            NUTS implementation. nutpie (default) reuses compiled models.
        target_accept : float, optional
            NUTS target acceptance in (0, 1); default 0.95
            (:data:`~bayesma.bayes.models.settings.DEFAULT_TARGET_ACCEPT`), and 0.99
            when k <= 3 (a SamplingWarning then points to the exact engine).
        random_seed : int, optional
            Non-negative integer seed; a random one is drawn and recorded when None.
        progressbar : bool, optional
            Show the sampler's progress bar; None (default) shows it only when standard
            error is a terminal, so logs do not fill with bars.
        prior_predictive, posterior_predictive, log_likelihood : bool
            Add the ``prior``/``prior_predictive``, ``posterior_predictive`` and
            ``log_likelihood`` (+ ``log_prior``) groups (cheap: computed in numpy).

        Returns
        -------
        BayesFit

        Raises
        ------
        BayesmaError
            For invalid settings (``chains=0``, ``draws=0``, ``target_accept=1.5``,
            negative ``tune``, a non-integer seed, ...), before anything is compiled.

        Warns
        -----
        SamplingWarning
            Once, listing divergences, R-hat > 1.01, ESS < 400, or k <= 3.
        """
        small_k = self._small_k()
        st = check_fit_settings(draws=draws, tune=tune, chains=chains, cores=cores,
                                sampler=sampler, target_accept=target_accept,
                                random_seed=random_seed, progressbar=progressbar,
                                small_k=small_k)
        self._last_fit_kwargs = dict(
            draws=draws, tune=tune, chains=chains, cores=cores, sampler=sampler,
            target_accept=target_accept, random_seed=random_seed, progressbar=progressbar,
            prior_predictive=prior_predictive, posterior_predictive=posterior_predictive,
            log_likelihood=log_likelihood)
        run = run_sampler(
            key=(st.sampler, *self.signature()), build=self.build, data=self.data_values(),
            sampler=st.sampler, draws=st.draws, tune=st.tune, chains=st.chains,
            cores=st.cores, seed=st.random_seed, target_accept=st.target_accept,
            progressbar=st.progressbar, fast=self._fast_spec(),
        )
        rngs = [np.random.default_rng(s)
                for s in np.random.SeedSequence(st.random_seed).spawn(3)]
        posterior = self._posterior(run.posterior, rngs[0])
        groups: dict[str, xr.Dataset] = {"posterior": posterior,
                                         "sample_stats": run.sample_stats}
        groups["observed_data"] = self._observed_data()
        groups["constant_data"] = self._constant_data()
        if log_likelihood:
            groups["log_likelihood"] = self._log_likelihood(posterior)
            groups["log_prior"] = self._log_prior(posterior)
        if posterior_predictive:
            groups["posterior_predictive"] = self._posterior_predictive(posterior, rngs[1])
        prior_note = ""
        if prior_predictive:
            prior, prior_note = self._prior_groups(st.chains * st.draws, rngs[2])
            groups.update(prior)
        for name in ("posterior", "sample_stats"):
            groups[name].attrs = {k: v for k, v in run.attrs.items()
                                  if isinstance(v, str | int | float)}
        tree = xr.DataTree.from_dict({k: v for k, v in groups.items()})
        report = diagnose(
            posterior, run.sample_stats, var_names=self._check_vars(),
            k=self.k if small_k else None, parameterization=self.parameterization,
            alternatives=[p for p in self.parameterizations if p != self.parameterization],
            normal_model=self.normal_model, tune=st.tune, target_accept=st.target_accept)
        tree.attrs.update({
            "bayesma_version": _package_version(),
            "model": self.model_name,
            "model_spec": json.dumps(self.spec()),
            "parameterization": self.parameterization,
            "priors": json.dumps(self.prior_spec()),
            "priors_text": "; ".join(f"{k} ~ {v}" for k, v in self.prior_text().items()),
            "measure": self.measure or "",
            "k": self.k,
            "sampler": run.sampler,
            "inference_library": str(run.attrs.get("inference_library", run.sampler)),
            "draws": st.draws,
            "tune": st.tune,
            "chains": st.chains,
            "cores": st.cores,
            "target_accept": st.target_accept,
            "random_seed": st.random_seed,
            "compile_seconds": float(run.compile_seconds),
            "sampling_seconds": float(run.sampling_seconds),
            "compiled_model_reused": int(run.cached),
            "divergences": int(report.divergences),
            "prior_group": prior_note or "sampled from the priors",
            "data_table": table_to_json(self.data),
            **self._extra_attrs(),
        })
        fit = BayesFit(tree, model=self, report=report)
        warn_if_problems(report, model=self.describe())
        return fit

    def _observed_data(self) -> xr.Dataset:
        """The ``observed_data`` group: the effect sizes ``y`` (count models: the counts)."""
        return xr.Dataset({"y": ("study", self.yi)}, coords={"study": self.labels})

    def _posterior_predictive(self, posterior: xr.Dataset,
                              rng: np.random.Generator) -> xr.Dataset:
        """Replicated data: ``y_rep_i ~ N(theta_i, v_i)`` per draw (count models override)."""
        theta = posterior["theta"].values
        return xr.Dataset(
            {"y": (("chain", "draw", "study"),
                   theta + np.sqrt(self.vi) * rng.standard_normal(theta.shape))},
            coords={"chain": posterior.chain, "draw": posterior.draw, "study": self.labels})

    def _extra_attrs(self) -> dict[str, Any]:
        """Model-specific root attributes of the fit's tree (strings and numbers)."""
        return {}

    def _small_k(self) -> bool:
        return self.k <= SMALL_K

    def _check_vars(self) -> list[str]:
        """Posterior variables the diagnostics check (the sampled ones and theta)."""
        return ["mu", "tau", "beta", "nu", "w", "theta"]

    # ---- reuse ------------------------------------------------------------------------
    def with_priors(self, **priors: Any) -> MetaModel:
        """A copy of this model with some priors replaced (``tau_prior=...``)."""
        new = copy.copy(self)
        new.priors = dict(self.priors)
        for key, prior in priors.items():
            if prior is None:
                continue
            name = key.removesuffix("_prior")
            if name not in new.priors:
                raise BayesmaError(f"{self.model_name} has no prior {key!r}; it has "
                                   f"{', '.join(p + '_prior' for p in new.priors)}")
            if name == "nu" and not isinstance(prior, Prior):
                new.priors[name] = float(prior)
                continue
            if name == "beta":
                new.priors[name] = new._normalize_beta(prior)
                continue
            expect = "tau" if name == "tau" else ("mu" if name == "mu" else None)
            new.priors[name] = (check_prior(prior, key, expect) if expect
                                else check_prior(prior, key, prior.param))
        new._last_fit_kwargs = dict(self._last_fit_kwargs)
        tp = new.priors.get("tau")
        if new._tau_switch == ("kernel",):
            if tp.kernel_coefficients() is None:
                new._tau_switch = None
        elif new._tau_switch and type(tp).__name__ not in new._tau_switch:
            new._tau_switch = None
        return new

    def with_data(self, data: pd.DataFrame) -> MetaModel:
        """The same model (settings and priors) on another study table."""
        kwargs = {k: v for k, v in self._init_kwargs.items()}
        new = type(self)(data, **kwargs, **self._prior_kwargs())
        new._last_fit_kwargs = dict(self._last_fit_kwargs)
        return new

    def _prior_kwargs(self) -> dict[str, Any]:
        return {f"{k}_prior": v for k, v in self.priors.items()}

    def _normalize_beta(self, prior: Any) -> dict[str, Prior]:
        raise BayesmaError(f"{self.model_name} has no regression coefficients (beta)")

    def refit(self, data: pd.DataFrame | None = None, **kwargs: Any):
        """Fit again with new data and/or priors, reusing the compiled model.

        Parameters
        ----------
        data : DataFrame, optional
            A new study table (same columns).
        **kwargs
            Priors (``mu_prior=``, ``tau_prior=``, ``beta_prior=``, ``nu=``) and
            :meth:`fit` settings; unspecified fit settings are those of the last fit.

        Returns
        -------
        BayesFit
        """
        prior_keys = {k for k in kwargs if k.endswith("_prior") or k == "nu"}
        priors = {k: kwargs.pop(k) for k in prior_keys}
        model = self.with_data(data) if data is not None else self
        if priors:
            model = model.with_priors(**priors)
        settings = {**self._last_fit_kwargs, **kwargs}
        return model.fit(**settings)

    # ---- serialization ------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments (without the table)."""
        return {
            "class": type(self).__name__,
            "kwargs": {k: v for k, v in self._init_kwargs.items()},
            "priors": self.prior_spec(),
        }

    def describe(self) -> str:
        """One line: class, k, parameterization, priors."""
        pri = ", ".join(f"{k} ~ {v}" for k, v in self.prior_text().items())
        return f"{self.model_name}(k={self.k}, {self.parameterization}; {pri})"

    def __repr__(self) -> str:
        return self.describe()


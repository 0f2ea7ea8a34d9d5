"""PyMC model classes for Bayesian meta-analysis.

Every class is built from the study table and prior objects (:mod:`bayesma.priors`),
exposes its priors as a CausalPy-style dict (``model.default_priors``, ``model.priors``),
``build()`` returns the ``pm.Model`` and ``fit()`` samples it and returns a
:class:`~bayesma.bayes.fit.BayesFit`.

Models
------
:class:`RandomEffects`
    y_i ~ N(theta_i, v_i), theta_i ~ N(mu, tau²).
:class:`MetaRegression`
    theta_i ~ N(x_i' beta, tau²) with a moderator formula; ``mu`` is the intercept.
:class:`Subgroups`
    one mu per level of a grouping column; tau shared or one per level.
:class:`CommonEffect`
    tau = 0: y_i ~ N(mu, v_i).
:class:`RobustRandomEffects`
    Student-t random effects theta_i = mu + tau t_i, t_i ~ t_nu (nu fixed or with a prior).

Parameterizations of the normal models
--------------------------------------
``"marginal"`` (default)
    theta_i integrated out: y_i ~ N(x_i' beta, v_i + tau²) (e.g. Röver 2020, J Stat Softw
    93(6), eq. 3), so NUTS only sees (mu, beta, tau). The study effects are then drawn
    exactly from their Gaussian full conditionals, one per posterior draw
    (Gelman et al. 2013, Bayesian Data Analysis, 3rd ed., eq. 5.17; Röver 2020, eq. 8)::

        theta_i | mu, beta, tau, y ~ N( B_i x_i'beta + (1 - B_i) y_i,  (1 - B_i) v_i ),
        B_i = v_i / (v_i + tau²)

    which is the joint posterior of (theta, mu, beta, tau) sampled by composition.
    Measured on the 7 real public datasets (benchmarks/results/bayes_mcmc.txt, section 4)
    it had no divergences, a mean bulk ESS (min of mu, tau; 4 x 1000 draws) of 1700
    against 1145 non-centered and 850 centered (7 divergences), and a median ESS per
    second of sampling 2.6x the non-centered and 5.5x the centered one; it also compiles
    once for every k.
``"noncentered"``
    theta_i = mu + tau z_i, z_i ~ N(0, 1) (Papaspiliopoulos, Roberts & Sköld 2007,
    Stat Sci 22:59).
``"centered"``
    theta_i ~ N(mu, tau²) directly; funnel-prone when tau is small (stack-notes sec. 2).

Whatever the parameterization, the ``log_likelihood`` group holds the *marginal*
per-study likelihood p(y_i | mu, beta, tau) (theta_i integrated out), whose
leave-one-out (PSIS-LOO) predicts a new study and is numerically stable
(stack-notes section 5).

Compile once, refit fast
------------------------
Data (yi, vi, moderators, group index) and every prior hyperparameter are ``pm.Data``
containers; with the default nutpie sampler the compiled model is cached by its
structure (:mod:`bayesma.bayes.sampling`), so ``model.refit(tau_prior=HalfNormal(1.0))``,
``model.with_data(other_table).fit()`` or a fresh model of the same structure only
samples (about 0.1 s for k = 13 instead of 3-10 s with compilation).
"""

from __future__ import annotations

import copy
import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from bayesma.data import effect_arrays, require_columns, require_k, study_labels
from bayesma.errors import BayesmaError, DataError, SamplingWarning
from bayesma.priors import Prior, default_priors, prior_from_spec

__all__ = [
    "CommonEffect",
    "MetaModel",
    "MetaRegression",
    "RandomEffects",
    "RobustRandomEffects",
    "Subgroups",
    "model_from_spec",
]

PARAMETERIZATIONS = ("marginal", "noncentered", "centered")
#: Default NUTS target acceptance. At the samplers' 0.8 the marginal model had 1-4
#: divergences in 6 of 63 fits of the real datasets; at 0.9 and 0.95 none (3 priors x 7
#: datasets x 3 seeds; benchmarks/results/bayes_mcmc.txt). Sampling costs ~0.1 s anyway.
DEFAULT_TARGET_ACCEPT = 0.95
#: target_accept used automatically when k <= 3 (and the user gave none).
SMALL_K_TARGET_ACCEPT = 0.99
#: Nodes of the log-scale trapezoid rule for the Student-t marginal likelihood.
_T_NODES = 160


# ======================================================================================
# helpers
# ======================================================================================


def _check_prior(prior: Any, role: str, expect: str) -> Prior:
    if not isinstance(prior, Prior):
        raise BayesmaError(
            f"{role} must be a bayesma prior object (e.g. bm.priors.HalfNormal(0.5)), "
            f"got {prior!r}"
        )
    if prior.param != expect:
        raise BayesmaError(
            f"{role} = {prior.describe()} is a prior for {prior.param!r}, not for {expect!r}"
        )
    return prior


def _hyper_data(name: str, prior: Prior) -> dict[str, float]:
    """Values of the ``pm.Data`` containers ``prior.to_pymc(name, as_data=True)`` makes."""
    return {f"{name}_{k}": float(v) for k, v in prior.hyperparameters().items()}


def _to_pymc(prior: Prior, name: str, vi_data: Any, **kwargs: Any):
    """The PyMC variable of ``prior`` with its hyperparameters as ``pm.Data``."""
    if not prior.data_free:  # Jeffreys: density depends on the sampling variances
        return prior.to_pymc(name, as_data=True, vi=vi_data, **kwargs)
    return prior.to_pymc(name, as_data=True, **kwargs)


def _logpdf(prior: Prior, x: np.ndarray, vi: np.ndarray) -> np.ndarray:
    if not prior.data_free:
        return np.asarray(prior.logpdf(x, vi=vi))
    return np.asarray(prior.logpdf(x))


#: Coefficients of :func:`tau_kernel` and their neutral values.
KERNEL_DEFAULTS: dict[str, float] = {
    "c1": 0.0, "c2": 0.0, "c3": 0.0, "c4": 0.0, "s4": 1.0, "c5": 0.0, "m5": 0.0,
    "c6": 0.0, "m6": 0.0, "s6": 1.0, "c7": 0.0, "c8": 0.0, "lo": 0.0, "hi": math.inf,
}


def tau_kernel_coefficients(prior: Prior) -> dict[str, float] | None:
    """Coefficients of :func:`tau_kernel` reproducing ``prior.logpdf`` up to a constant.

    Returns None for families the kernel does not cover (and for data-dependent priors).
    Each line is the family's log density with terms constant in tau dropped (the
    densities of ``bayesma.priors.families``; for priors on tau² the Jacobian 2 tau is
    included, as there).
    """
    name = type(prior).__name__
    h = prior.hyperparameters()
    c: dict[str, float] = {}
    if name == "HalfNormal":  # -tau²/(2 sigma²)
        c["c3"] = -0.5 / h["sigma"] ** 2
    elif name == "HalfCauchy":  # -log(1 + tau²/beta²)
        c.update(c4=-1.0, s4=h["beta"] ** 2)
    elif name == "HalfStudentT":  # -(nu + 1)/2 log(1 + tau²/(nu sigma²))
        c.update(c4=-(h["nu"] + 1) / 2, s4=h["nu"] * h["sigma"] ** 2)
    elif name == "Exponential":  # -lam tau
        c["c2"] = -h["lam"]
    elif name == "Uniform":  # 0 on [lower, upper]
        c.update(lo=h["lower"], hi=h["upper"])
    elif name == "UniformTau":
        pass
    elif name == "LogNormal":  # -log tau - (log tau - mu)²/(2 sigma²)
        c.update(c1=-1.0, c5=-0.5 / h["sigma"] ** 2, m5=h["mu"])
    elif name == "LogNormalTau2":  # log tau ~ N(mu/2, (sigma/2)²)
        c.update(c1=-1.0, c5=-2.0 / h["sigma"] ** 2, m5=h["mu"] / 2)
    elif name == "LogStudentTTau2":  # log tau ~ t_nu(mu/2, sigma/2)
        c.update(c1=-1.0, c6=-(h["nu"] + 1) / 2, m6=h["mu"] / 2,
                 s6=h["nu"] * (h["sigma"] / 2) ** 2)
    elif name == "InverseGamma":  # -(alpha + 1) log tau - beta/tau
        c.update(c1=-(h["alpha"] + 1), c7=-h["beta"])
    elif name == "InverseGammaTau2":  # -(alpha + 1) log tau² - beta/tau² + log tau
        c.update(c1=-2 * h["alpha"] - 1, c8=-h["beta"])
    else:
        return None
    return {**KERNEL_DEFAULTS, **{k: float(v) for k, v in c.items()}}


def tau_kernel(dims: Any = None):
    """A tau whose prior is any family :func:`tau_kernel_coefficients` covers.

    ``log_tau`` is a flat free variable, ``tau = exp(log_tau)``, and a ``Potential`` adds
    the log-Jacobian ``log_tau`` and::

        c1 log tau + c2 tau + c3 tau² + c4 log(1 + tau²/s4) + c5 (log tau - m5)²
        + c6 log(1 + (log tau - m6)²/s6) + c7 / tau + c8 / tau²     on lo <= tau <= hi

    with the coefficients in one ``pm.Data`` vector ``tau_kernel`` (in the order of
    :data:`KERNEL_DEFAULTS`; one vector compiles about twice as fast as 14 scalar
    containers, measured with nutpie's numba backend). This one small graph covers
    the half-normal, half-Cauchy, half-t, exponential, uniform, log-normal, inverse-gamma
    families on tau and the log-normal, log-t and inverse-gamma families on tau², so a
    prior sweep across families compiles once (about as fast as a single-family model)
    and re-feeds the coefficients with nutpie's ``with_data``.
    """
    import pymc as pm
    import pytensor.tensor as pt

    vec = pm.Data("tau_kernel", np.array(list(KERNEL_DEFAULTS.values())))
    d = {k: vec[i] for i, k in enumerate(KERNEL_DEFAULTS)}
    lt = pm.Flat("log_tau", dims=dims)
    tau = pm.Deterministic("tau", pt.exp(lt), dims=dims)
    lp = (d["c1"] * lt + d["c2"] * tau + d["c3"] * tau**2
          + d["c4"] * pt.log1p(tau**2 / d["s4"]) + d["c5"] * (lt - d["m5"]) ** 2
          + d["c6"] * pt.log1p((lt - d["m6"]) ** 2 / d["s6"])
          + pt.switch(pt.neq(d["c7"], 0), d["c7"] * pt.exp(-lt), 0.0)
          + pt.switch(pt.neq(d["c8"], 0), d["c8"] * pt.exp(-2.0 * lt), 0.0))
    inside = pt.and_(pt.ge(tau, d["lo"]), pt.le(tau, d["hi"]))
    pm.Potential("tau_prior", pt.sum(pt.switch(inside, lp + lt, -np.inf)))
    return tau


def tau_switch(families: tuple[str, ...], vi_data: Any, dims: Any = None):
    """A tau whose prior family is chosen at run time by ``pm.Data("tau_prior_id")``.

    ``log_tau`` is a flat free variable, ``tau = exp(log_tau)`` and a ``Potential`` adds
    ``log p_j(tau) + log_tau`` (the log-Jacobian of the exp map) for the selected family
    ``j``, with every family's hyperparameters as ``pm.Data`` named ``tau{j}_{name}``.
    The logp and its gradient equal those of the separate models (stack-notes sec. 3), so
    one compiled model serves a sweep over priors of different families.
    Each family's log density is PyMC's own (``pm.logp`` of the variable its
    ``Prior.to_pymc`` creates in a scratch model), with the hyperparameters rewired to the
    main model's ``pm.Data``.
    """
    import pymc as pm
    import pytensor.tensor as pt
    from pytensor.graph.replace import graph_replace

    from bayesma.priors import PRIOR_FAMILIES

    pid = pm.Data("tau_prior_id", 0)
    log_tau = pm.Flat("log_tau", dims=dims)
    tau = pm.Deterministic("tau", pt.exp(log_tau), dims=dims)
    lps = []
    for j, fam in enumerate(families):
        placeholder = PRIOR_FAMILIES[fam]()
        with pm.Model(model=None) as scratch:
            rv = placeholder.to_pymc(f"tau{j}", as_data=True)
        value = tau.type()  # a free input of tau's type, replaced by tau below
        lp = pm.logp(rv, value)
        repl = {scratch[f"tau{j}_{h}"]: pm.Data(f"tau{j}_{h}", float(val))
                for h, val in placeholder.hyperparameters().items()}
        lps.append(graph_replace(lp, {value: tau, **repl}))
    lp = lps[-1]
    for j in range(len(lps) - 2, -1, -1):
        lp = pt.switch(pt.eq(pid, j), lps[j], lp)
    pm.Potential("tau_prior", pt.sum(lp + log_tau))
    return tau


def normal_marginal_loglik(y: np.ndarray, v: np.ndarray, loc: np.ndarray,
                           tau2: np.ndarray) -> np.ndarray:
    """log N(y_i | loc_i, v_i + tau²), broadcast over draws.

    The marginal likelihood of study i with theta_i integrated out of
    y_i ~ N(theta_i, v_i), theta_i ~ N(loc_i, tau²) (Röver 2020, eq. 3).
    """
    s2 = v + tau2
    return -0.5 * (np.log(2.0 * np.pi * s2) + (y - loc) ** 2 / s2)


def student_t_marginal_loglik(y: np.ndarray, v: np.ndarray, loc: np.ndarray,
                              tau: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """log p(y_i | loc_i, tau, nu) for theta_i = loc_i + tau t_i, t_i ~ t_nu.

    Uses the scale-mixture form of the Student t (Andrews & Mallows 1974, J R Stat Soc B
    36:99): t_i = z_i / sqrt(w_i), w_i ~ Gamma(nu/2, rate nu/2), so that

        p(y_i | loc, tau, nu) = ∫ N(y_i | loc_i, v_i + tau² / w) Gamma(w | nu/2, nu/2) dw,

    integrated by the trapezoid rule in u = log w over the Gamma's [1e-14, 1 - 1e-14]
    quantile range (160 nodes; exponentially convergent for this smooth integrand,
    checked against adaptive quadrature to ~1e-12).

    Parameters
    ----------
    y, v : ndarray, shape (k,)
    loc : ndarray, shape (n, k)
    tau, nu : ndarray, shape (n,)

    Returns
    -------
    ndarray, shape (n, k)
    """
    from scipy import special, stats

    nu = np.asarray(nu, dtype=float).reshape(-1)
    tau = np.asarray(tau, dtype=float).reshape(-1)
    a = nu / 2.0
    lo = np.log(stats.gamma.ppf(1e-14, a, scale=1.0 / a))
    hi = np.log(stats.gamma.isf(1e-14, a, scale=1.0 / a))
    t = np.linspace(0.0, 1.0, _T_NODES)
    u = lo[:, None] + (hi - lo)[:, None] * t[None, :]  # (n, m)
    h = hi - lo
    w = np.exp(u)
    # log Gamma(w | a, rate a) + log w (Jacobian of w = e^u)
    lg = (a[:, None] * np.log(a[:, None]) - special.gammaln(a)[:, None]
          + a[:, None] * u - a[:, None] * w)
    trap = np.full(_T_NODES, 1.0 / (_T_NODES - 1))
    trap[[0, -1]] *= 0.5
    lw = lg + np.log(trap)[None, :] + np.log(h)[:, None]  # (n, m)
    s2 = v[None, :, None] + (tau**2)[:, None, None] / w[:, None, :]  # (n, k, m)
    f = -0.5 * (np.log(2.0 * np.pi * s2) + (y[None, :, None] - loc[:, :, None]) ** 2 / s2)
    return special.logsumexp(f + lw[:, None, :], axis=-1)


def _draws(ds: xr.Dataset, name: str) -> np.ndarray:
    """Variable ``name`` as an array (n_draws, ...) with chain and draw stacked."""
    a = np.asarray(ds[name].values, dtype=float)
    return a.reshape((-1, *a.shape[2:]))


def _table_to_json(df: pd.DataFrame) -> str:
    """A JSON text of the study table that :func:`_table_from_json` restores."""
    cols = {}
    dtypes = {}
    for c in df.columns:
        s = df[c]
        dtypes[str(c)] = str(s.dtype)
        vals = []
        for x in s.tolist():
            if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
                vals.append(None)
            elif isinstance(x, np.generic):
                vals.append(x.item())
            elif isinstance(x, int | float | str | bool):
                vals.append(x)
            else:
                vals.append(str(x))
        cols[str(c)] = vals
    index = [x.item() if isinstance(x, np.generic) else
             (x if isinstance(x, int | float | str) else str(x)) for x in df.index]
    return json.dumps({"columns": [str(c) for c in df.columns], "index": index,
                       "data": cols, "dtypes": dtypes, "attrs":
                       {k: v for k, v in df.attrs.items() if isinstance(v, str | int | float)}})


def _table_from_json(text: str) -> pd.DataFrame:
    d = json.loads(text)
    df = pd.DataFrame({c: d["data"][c] for c in d["columns"]}, index=d["index"])
    for c, dt in d["dtypes"].items():
        if dt.startswith(("int", "float", "bool")):
            try:
                df[c] = df[c].astype(dt)
            except (TypeError, ValueError):
                pass
        elif dt == "category":
            df[c] = df[c].astype("category")
    df.attrs.update(d.get("attrs", {}))
    return df


# ======================================================================================
# base class
# ======================================================================================


class MetaModel:
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
        self.priors["mu"] = _check_prior(mu_prior if mu_prior is not None else defaults["mu"],
                                         "mu_prior", "mu")
        if self.has_tau:
            self.priors["tau"] = _check_prior(
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
                vals.update(_hyper_data(name, prior))
        vals.update(self._extra_data())
        return {k: np.asarray(v) for k, v in vals.items()}

    def _extra_data(self) -> dict[str, Any]:
        return {}

    def _switch_data(self, prior: Prior) -> dict[str, Any]:
        """``pm.Data`` values of :func:`tau_kernel` / :func:`tau_switch` for ``prior``."""
        from bayesma.priors import PRIOR_FAMILIES

        if self._tau_switch == ("kernel",):
            coef = tau_kernel_coefficients(prior)
            return {"tau_kernel": np.array([coef[k] for k in KERNEL_DEFAULTS])}
        fams = self._tau_switch or ()
        j = fams.index(type(prior).__name__)
        vals: dict[str, Any] = {"tau_prior_id": np.int64(j)}
        for i, fam in enumerate(fams):
            src = prior if i == j else PRIOR_FAMILIES[fam]()
            vals.update(_hyper_data(f"tau{i}", src))
        return vals

    def _tau_var(self, v: Any, **kwargs: Any):
        """The PyMC tau: its prior's own variable, or the prior switch of :meth:`sweep`."""
        if self._tau_switch == ("kernel",):
            return tau_kernel(dims=kwargs.get("dims"))
        if self._tau_switch:
            return tau_switch(self._tau_switch, v, dims=kwargs.get("dims"))
        return _to_pymc(self.priors["tau"], "tau", v, **kwargs)

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
        progressbar: bool = True,
        prior_predictive: bool = True,
        posterior_predictive: bool = True,
        log_likelihood: bool = True,
    ):
        """Sample the posterior and return a :class:`~bayesma.bayes.fit.BayesFit`.

        Parameters
        ----------
        draws, tune : int
            Draws kept and tuning iterations, per chain.
        chains : int
            Number of chains (4: R-hat and ESS need several).
        cores : int, optional
            Chains run in parallel; default all cores (``os.cpu_count()``; PyMC 6 would
            use half of them).
        sampler : {"nutpie", "pymc", "numpyro"}
            NUTS implementation. nutpie (default) reuses compiled models.
        target_accept : float, optional
            NUTS target acceptance; default 0.95 (:data:`DEFAULT_TARGET_ACCEPT`), and 0.99
            when k <= 3 (a SamplingWarning then points to the exact engine).
        random_seed : int, optional
            Seed; a random one is drawn and recorded when None.
        progressbar : bool
            Show the sampler's progress bar.
        prior_predictive, posterior_predictive, log_likelihood : bool
            Add the ``prior``/``prior_predictive``, ``posterior_predictive`` and
            ``log_likelihood`` (+ ``log_prior``) groups (cheap: computed in numpy).

        Returns
        -------
        BayesFit

        Warns
        -----
        SamplingWarning
            Once, listing divergences, R-hat > 1.01, ESS < 400, or k <= 3.
        """
        from bayesma import __version__
        from bayesma.bayes.diagnostics import diagnose, warn_if_problems
        from bayesma.bayes.fit import BayesFit
        from bayesma.bayes.sampling import run_sampler

        settings = dict(draws=draws, tune=tune, chains=chains, cores=cores, sampler=sampler,
                        target_accept=target_accept, random_seed=random_seed,
                        progressbar=progressbar, prior_predictive=prior_predictive,
                        posterior_predictive=posterior_predictive,
                        log_likelihood=log_likelihood)
        self._last_fit_kwargs = dict(settings)
        cores = (os.cpu_count() or 1) if cores is None else int(cores)
        small_k = self._small_k()
        if target_accept is None:
            target_accept = SMALL_K_TARGET_ACCEPT if small_k else DEFAULT_TARGET_ACCEPT
        if random_seed is None:
            random_seed = int(np.random.SeedSequence().entropy % (2**31 - 1))
        run = run_sampler(
            key=(sampler, *self.signature()),
            build=self.build,
            data=self.data_values(),
            sampler=sampler,
            draws=draws,
            tune=tune,
            chains=chains,
            cores=cores,
            seed=int(random_seed),
            target_accept=target_accept,
            progressbar=progressbar,
        )
        rngs = [np.random.default_rng(s)
                for s in np.random.SeedSequence(int(random_seed)).spawn(3)]
        posterior = self._posterior(run.posterior, rngs[0])
        groups: dict[str, xr.Dataset] = {"posterior": posterior,
                                         "sample_stats": run.sample_stats}
        groups["observed_data"] = xr.Dataset(
            {"y": ("study", self.yi)}, coords={"study": self.labels})
        groups["constant_data"] = self._constant_data()
        if log_likelihood:
            groups["log_likelihood"] = self._log_likelihood(posterior)
            groups["log_prior"] = self._log_prior(posterior)
        if posterior_predictive:
            theta = posterior["theta"].values
            groups["posterior_predictive"] = xr.Dataset(
                {"y": (("chain", "draw", "study"),
                       theta + np.sqrt(self.vi) * rngs[1].standard_normal(theta.shape))},
                coords={"chain": posterior.chain, "draw": posterior.draw,
                        "study": self.labels})
        prior_note = ""
        if prior_predictive:
            prior, prior_note = self._prior_groups(chains * draws, rngs[2])
            groups.update(prior)
        for name in ("posterior", "sample_stats"):
            groups[name].attrs = {k: v for k, v in run.attrs.items()
                                  if isinstance(v, str | int | float)}
        tree = xr.DataTree.from_dict({k: v for k, v in groups.items()})
        report = diagnose(
            posterior, run.sample_stats, var_names=self._check_vars(),
            k=self.k if small_k else None, parameterization=self.parameterization,
            alternatives=[p for p in self.parameterizations if p != self.parameterization],
            normal_model=self.normal_model, tune=tune, target_accept=target_accept)
        tree.attrs.update({
            "bayesma_version": __version__,
            "model": self.model_name,
            "model_spec": json.dumps(self.spec()),
            "parameterization": self.parameterization,
            "priors": json.dumps(self.prior_spec()),
            "priors_text": "; ".join(f"{k} ~ {v}" for k, v in self.prior_text().items()),
            "measure": self.measure or "",
            "k": self.k,
            "sampler": run.sampler,
            "inference_library": str(run.attrs.get("inference_library", run.sampler)),
            "draws": int(draws),
            "tune": int(tune),
            "chains": int(chains),
            "cores": int(cores),
            "target_accept": float(target_accept),
            "random_seed": int(random_seed),
            "compile_seconds": float(run.compile_seconds),
            "sampling_seconds": float(run.sampling_seconds),
            "compiled_model_reused": int(run.cached),
            "divergences": int(report.divergences),
            "prior_group": prior_note or "sampled from the priors",
            "data_table": _table_to_json(self.data),
        })
        fit = BayesFit(tree, model=self, report=report)
        warn_if_problems(report, model=self.describe())
        return fit

    def _small_k(self) -> bool:
        from bayesma.bayes.diagnostics import SMALL_K

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
            new.priors[name] = (_check_prior(prior, key, expect) if expect
                                else _check_prior(prior, key, prior.param))
        new._last_fit_kwargs = dict(self._last_fit_kwargs)
        tp = new.priors.get("tau")
        if new._tau_switch == ("kernel",):
            if tau_kernel_coefficients(tp) is None:
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

    def sweep(self, tau_priors: Sequence[Prior], **fit_kwargs: Any) -> list:
        """Fit the model under each tau prior, compiling one model for all of them.

        Priors of different families share one compiled model: the generic tau-prior
        kernel (:func:`tau_kernel`, all built-in data-free families; its coefficients are
        data) or, for other families, a switch over PyMC's own densities
        (:func:`tau_switch`). With nutpie a sweep costs one compilation plus ~0.1-0.3 s
        per prior. Data-dependent priors (Jeffreys) get their own compiled model.

        Parameters
        ----------
        tau_priors : sequence of Prior
            Priors on tau.
        **fit_kwargs
            :meth:`fit` settings (default: those of the last fit).

        Returns
        -------
        list of BayesFit
            In the order of ``tau_priors``.
        """
        priors = [_check_prior(p, "tau_prior", "tau") for p in tau_priors]
        free = [p for p in priors if p.data_free]
        fams = tuple(sorted({type(p).__name__ for p in free}))
        if len(fams) <= 1:
            mode = None  # one family: the ordinary compiled model is reused anyway
        elif all(tau_kernel_coefficients(p) is not None for p in free):
            mode = ("kernel",)
        else:
            mode = fams
        settings = {**self._last_fit_kwargs, **fit_kwargs}
        fits = []
        for p in priors:
            m = self.with_priors(tau_prior=p)
            m._tau_switch = mode if p.data_free else None
            fits.append(m.fit(**settings))
        return fits

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

    # ---- derived quantities ----------------------------------------------------------
    def _loc_draws(self, post: xr.Dataset) -> np.ndarray:
        """Mean of theta_i given the parameters, shape (n_draws, k)."""
        mu = _draws(post, "mu")
        return np.broadcast_to(mu[:, None], (mu.shape[0], self.k))

    def _tau_draws(self, post: xr.Dataset) -> np.ndarray:
        """tau per draw and study, shape (n_draws, k)."""
        tau = _draws(post, "tau")
        return np.broadcast_to(tau[:, None], (tau.shape[0], self.k))

    def _sample_theta(self, post: xr.Dataset, rng: np.random.Generator) -> np.ndarray:
        """theta_i from their full conditionals (BDA3 eq. 5.17), shape (n, k)."""
        loc = self._loc_draws(post)
        tau2 = self._tau_draws(post) ** 2
        b = self.vi / (self.vi + tau2)  # shrinkage factor B_i
        mean = b * loc + (1.0 - b) * self.yi
        sd = np.sqrt(self.vi * (1.0 - b))
        return mean + sd * rng.standard_normal(mean.shape)

    def _wrap(self, post: xr.Dataset, name: str, values: np.ndarray,
              dims: tuple[str, ...] = (), coords: Mapping[str, Any] | None = None
              ) -> xr.DataArray:
        nc, nd = post.sizes["chain"], post.sizes["draw"]
        arr = np.asarray(values, dtype=float).reshape((nc, nd, *np.shape(values)[1:]))
        c = {"chain": post["chain"].values, "draw": post["draw"].values}
        c.update(coords or {})
        return xr.DataArray(arr, dims=("chain", "draw", *dims), coords=c, name=name)

    #: Scalar sampled parameters copied from the sampler output besides mu and tau.
    _extra_params: ClassVar[tuple[str, ...]] = ()

    def _posterior(self, raw: xr.Dataset, rng: np.random.Generator) -> xr.Dataset:
        """Final posterior group: mu, tau, theta[study], theta_new (+ model extras)."""
        out = {"mu": self._wrap(raw, "mu", _draws(raw, "mu"))}
        if self.has_tau:
            out["tau"] = self._wrap(raw, "tau", _draws(raw, "tau"))
        for name in self._extra_params:
            if name in raw:
                out[name] = self._wrap(raw, name, _draws(raw, name))
        tmp = xr.Dataset(out)
        if "w" in raw:  # mixing weights of the robust model's marginal form
            tmp["w"] = raw["w"]
        theta = (_draws(raw, "theta") if "theta" in raw
                 else self._sample_theta(tmp, rng))
        out["theta"] = self._wrap(raw, "theta", theta, ("study",), {"study": self.labels})
        out["theta_new"] = self._wrap(raw, "theta_new", self._theta_new(tmp, rng))
        return xr.Dataset(out)

    def _theta_new(self, post: xr.Dataset, rng: np.random.Generator) -> np.ndarray | None:
        """Effect of a new study: mu + tau eps, eps ~ N(0, 1) (None if undefined)."""
        mu = _draws(post, "mu")
        tau = _draws(post, "tau") if self.has_tau else 0.0
        return mu + tau * rng.standard_normal(mu.shape)

    def _log_likelihood(self, post: xr.Dataset) -> xr.Dataset:
        """Marginal per-study log likelihood log N(y_i | loc_i, v_i + tau²)."""
        loc = self._loc_draws(post)
        tau2 = self._tau_draws(post) ** 2 if self.has_tau else 0.0
        ll = normal_marginal_loglik(self.yi, self.vi, loc, tau2)
        return xr.Dataset({"y": self._wrap(post, "y", ll, ("study",),
                                           {"study": self.labels})})

    def _log_prior(self, post: xr.Dataset) -> xr.Dataset:
        """log prior density of each parameter at the posterior draws (for psense)."""
        out = {}
        for name in ("mu", "tau", "nu"):
            prior = self.priors.get(name)
            if isinstance(prior, Prior) and name in post:
                out[name] = self._wrap(post, name, _logpdf(prior, _draws(post, name),
                                                           self.vi),
                                       post[name].dims[2:],
                                       {d: post[d].values for d in post[name].dims[2:]})
        return xr.Dataset(out)

    def _constant_data(self) -> xr.Dataset:
        return xr.Dataset({"vi": ("study", self.vi)}, coords={"study": self.labels})

    # ---- prior draws -----------------------------------------------------------------
    def _prior_params(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        out = {"mu": np.asarray(self.priors["mu"].rvs(n, rng=rng), dtype=float)}
        if self.has_tau:
            out["tau"] = np.asarray(self.priors["tau"].rvs(n, rng=rng), dtype=float)
        return out

    def _prior_groups(self, n: int, rng: np.random.Generator
                      ) -> tuple[dict[str, xr.Dataset], str]:
        """``prior`` and ``prior_predictive`` groups drawn in numpy from the priors."""
        improper = [f"{k} ~ {v.describe()}" for k, v in self._prior_vars() if not v.proper]
        if improper:
            return {}, f"omitted: improper prior ({', '.join(improper)})"
        params = self._prior_params(n, rng)
        fake = xr.Dataset({k: (("chain", "draw", *self._param_dims(k)), v.reshape(1, n,
                                                                                  *v.shape[1:]))
                           for k, v in params.items()},
                          coords={"chain": [0], "draw": np.arange(n), **self._param_coords()})
        loc = self._loc_draws(fake)
        if self.has_tau:
            theta = loc + self._theta_noise(fake, rng)
        else:
            theta = np.array(loc)
        prior = {k: fake[k] for k in fake.data_vars}
        prior["theta"] = self._wrap(fake, "theta", theta, ("study",), {"study": self.labels})
        tn = self._theta_new(fake, rng)
        if tn is not None:
            dims = ("level",) if tn.ndim == 2 else ()
            prior["theta_new"] = self._wrap(fake, "theta_new", tn, dims,
                                            {d: self.coords()[d] for d in dims})
        y = theta + np.sqrt(self.vi) * rng.standard_normal(theta.shape)
        pp = xr.Dataset({"y": self._wrap(fake, "y", y, ("study",), {"study": self.labels})})
        return {"prior": xr.Dataset(prior), "prior_predictive": pp}, ""

    def _theta_noise(self, post: xr.Dataset, rng: np.random.Generator) -> np.ndarray:
        tau = self._tau_draws(post)
        return tau * rng.standard_normal(tau.shape)

    def _param_dims(self, name: str) -> tuple[str, ...]:
        return ()

    def _param_coords(self) -> dict[str, Any]:
        return {}


# ======================================================================================
# the models
# ======================================================================================


class RandomEffects(MetaModel):
    """Normal-normal random-effects model.

    y_i ~ N(theta_i, v_i), theta_i ~ N(mu, tau²), mu ~ mu_prior, tau ~ tau_prior
    (Röver 2020, J Stat Softw 93(6), eq. 1-2; the model of ``bm.exact_posterior``).

    See :class:`MetaModel` for the parameters.

    Examples
    --------
    >>> fit = bm.RandomEffects(dat, tau_prior=bm.priors.HalfCauchy(0.5)).fit(random_seed=1)
    >>> fit.summary()
    """

    model_name = "RandomEffects"

    def _build_body(self, y, v) -> None:
        mu = _to_pymc(self.priors["mu"], "mu", v)
        tau = self._tau_var(v)
        self._normal_likelihood(y, v, mu, tau)


class CommonEffect(MetaModel):
    """Common-effect (fixed-effect) model: y_i ~ N(mu, v_i), i.e. tau = 0.

    Posterior ``theta`` equals ``mu`` for every study and ``theta_new`` is ``mu``.
    See :class:`MetaModel` for the parameters (no ``tau_prior``).
    """

    model_name = "CommonEffect"
    parameterizations = ("marginal",)
    has_tau = False
    min_k = 1

    def __init__(self, data: pd.DataFrame, yi: str = "yi", vi: str = "vi", *,
                 mu_prior: Prior | None = None, sei: str | None = None,
                 slab: str | None = None, measure: str | None = None,
                 parameterization: str | None = None) -> None:
        super().__init__(data, yi, vi, mu_prior=mu_prior, sei=sei, slab=slab,
                         measure=measure, parameterization=parameterization)

    def _build_body(self, y, v) -> None:
        import pymc as pm
        import pytensor.tensor as pt

        mu = _to_pymc(self.priors["mu"], "mu", v)
        pm.Normal("y", mu=mu, sigma=pt.sqrt(v), observed=y, dims="study")

    def _small_k(self) -> bool:
        return False  # no heterogeneity funnel

    def _sample_theta(self, post, rng):
        mu = _draws(post, "mu")
        return np.broadcast_to(mu[:, None], (mu.shape[0], self.k)).copy()


class MetaRegression(MetaModel):
    """Random-effects meta-regression.

    y_i ~ N(theta_i, v_i), theta_i ~ N(x_i' beta, tau²) with x_i the moderator row of
    ``mods`` (metafor's mixed-effects meta-regression; Thompson & Sharp 1999, Stat Med
    18:2693). As in ``bm.exact_posterior``: the intercept has ``mu_prior`` and is reported
    as ``mu`` (the effect at moderators = 0), each other coefficient has its
    ``beta_prior``; ``beta`` (dim ``term``, intercept ``"intrcpt"`` first, metafor's order
    and names from ``bayesma.classical.design``) holds all coefficients, and
    ``theta_new = mu + tau e`` is a new study with all moderators at 0.

    Parameters
    ----------
    data : DataFrame
    mods : str or list of str
        Moderator formula (``"~ ablat"``, ``"~ ablat + C(alloc)"``; ``"~ 0 + ..."`` drops
        the intercept) or list of columns. Rows with missing moderators are dropped with a
        DroppedRowsWarning.
    beta_prior : Prior, dict or list, optional
        Prior(s) of the non-intercept coefficients: one for all, a dict by term, or a list
        in term order (default: the default mu prior).
    **kwargs
        As :class:`MetaModel` (yi, vi, mu_prior, tau_prior, sei, slab, measure,
        parameterization).
    """

    model_name = "MetaRegression"

    def __init__(self, data: pd.DataFrame, mods: Any, yi: str = "yi", vi: str = "vi",
                 *, beta_prior: Prior | Mapping[str, Prior] | list | None = None,
                 **kwargs: Any) -> None:
        self.mods = mods
        super().__init__(data, yi, vi, **kwargs)
        self._init_kwargs["mods"] = mods if isinstance(mods, str) else list(mods)
        self.priors["beta"] = self._normalize_beta(beta_prior)
        if not self.intercept:
            self.priors.pop("mu")

    def _normalize_beta(self, prior: Any) -> dict[str, Prior]:
        """``beta_prior`` (one prior, dict by term, or list) -> ``{term: Prior}``."""
        if prior is None:
            prior = self.default_priors["beta"]
        if isinstance(prior, Prior):
            out = dict.fromkeys(self.slope_terms, prior)
        elif isinstance(prior, Mapping):
            missing = [t for t in self.slope_terms if t not in prior]
            if missing:
                raise BayesmaError(f"beta_prior has no prior for term(s) {missing}; "
                                   f"terms: {self.slope_terms}")
            out = {t: prior[t] for t in self.slope_terms}
        elif isinstance(prior, list | tuple):
            if len(prior) != self.n_slopes:
                raise BayesmaError(f"beta_prior: {len(prior)} priors for {self.n_slopes} "
                                   f"coefficients ({', '.join(self.slope_terms)})")
            out = dict(zip(self.slope_terms, prior, strict=True))
        else:
            raise BayesmaError(f"beta_prior must be a Prior, a dict by term or a list; "
                               f"got {prior!r}")
        return {t: _check_prior(p, f"beta_prior for {t!r}", "mu") for t, p in out.items()}

    def _select_rows(self, data):
        from bayesma.classical.design import build_design

        if not isinstance(self.mods, str | list | tuple):
            raise BayesmaError("MetaRegression: mods must be a formula string or a list of "
                               "column names")
        self.design = build_design(data, self.mods, slab=self.slab)
        return self.design.keep

    def _setup(self) -> None:
        from bayesma.classical.design import check_full_rank

        self.X = np.asarray(self.design.X, dtype=float)
        self.terms = list(self.design.terms)
        self.intercept = bool(self.design.intercept)
        check_full_rank(self.X, self.terms)
        self.p = self.X.shape[1]
        if self.k <= self.p:
            raise BayesmaError(
                f"MetaRegression needs more studies than coefficients: k = {self.k}, "
                f"p = {self.p} ({', '.join(self.terms)})"
            )
        self.slope_terms = self.terms[1:] if self.intercept else list(self.terms)
        self.Xs = self.X[:, 1:] if self.intercept else self.X
        self.n_slopes = len(self.slope_terms)
        if self.n_slopes == 0:
            raise BayesmaError(
                f"MetaRegression: mods={self.mods!r} has no moderator; use RandomEffects "
                "for an intercept-only model"
            )

    @property
    def default_priors(self) -> dict[str, Prior]:
        d = super().default_priors
        d.setdefault("beta", d["mu"])
        return d

    def _slope_names(self) -> list[str]:
        off = 1 if self.intercept else 0
        return [f"beta_{j + off}" for j in range(self.n_slopes)]

    def _prior_vars(self):
        out = [("mu", self.priors["mu"])] if self.intercept else []
        out += list(zip(self._slope_names(), self.priors["beta"].values(), strict=True))
        out.append(("tau", self.priors["tau"]))
        return out

    def with_data(self, data):
        kwargs = dict(self._init_kwargs)
        mods = kwargs.pop("mods")
        new = MetaRegression(data, mods, **kwargs, **self._prior_kwargs())
        new._last_fit_kwargs = dict(self._last_fit_kwargs)
        return new

    def coords(self):
        c = super().coords()
        c["term"] = list(self.terms)
        return c

    def _extra_key(self):
        return (self.intercept, self.n_slopes)

    def _extra_data(self):
        return {"X": self.Xs}

    def _build_body(self, y, v) -> None:
        import pymc as pm
        import pytensor.tensor as pt

        X = pm.Data("X", self.Xs)
        slopes = [_to_pymc(p, name, v) for name, p in
                  zip(self._slope_names(), self.priors["beta"].values(), strict=True)]
        b = pt.stack(slopes)
        loc = pt.dot(X, b)
        if self.intercept:
            mu = _to_pymc(self.priors["mu"], "mu", v)
            loc = mu + loc
            b = pt.concatenate([pt.atleast_1d(mu), b])
        pm.Deterministic("beta", b, dims="term")
        tau = self._tau_var(v)
        self._normal_likelihood(y, v, loc, tau)

    def _loc_draws(self, post):
        return _draws(post, "beta") @ self.X.T

    def _posterior(self, raw, rng):
        beta = _draws(raw, "beta")
        out = {}
        if self.intercept:
            out["mu"] = self._wrap(raw, "mu", beta[:, 0])
        out["tau"] = self._wrap(raw, "tau", _draws(raw, "tau"))
        out["beta"] = self._wrap(raw, "beta", beta, ("term",), {"term": self.terms})
        tmp = xr.Dataset(out)
        theta = _draws(raw, "theta") if "theta" in raw else self._sample_theta(tmp, rng)
        out["theta"] = self._wrap(raw, "theta", theta, ("study",), {"study": self.labels})
        tn = self._theta_new(tmp, rng)
        if tn is not None:
            out["theta_new"] = self._wrap(raw, "theta_new", tn)
        return xr.Dataset(out)

    def _theta_new(self, post, rng):
        """mu + tau e: a new study with all moderators at 0 (as ``bm.exact_posterior``)."""
        if not self.intercept:
            return None
        beta = _draws(post, "beta")
        return beta[:, 0] + _draws(post, "tau") * rng.standard_normal(beta.shape[0])

    def _check_vars(self):
        return ["beta", "tau", "theta"]

    def _log_prior(self, post):
        out = dict(super()._log_prior(post).data_vars)
        beta = _draws(post, "beta")[:, -self.n_slopes:]
        lp = np.column_stack([_logpdf(p, beta[:, j], self.vi)
                              for j, p in enumerate(self.priors["beta"].values())])
        out["beta"] = self._wrap(post, "beta", lp, ("term",), {"term": self.slope_terms})
        return xr.Dataset(out)

    def _constant_data(self):
        ds = super()._constant_data()
        ds["X"] = xr.DataArray(self.X, dims=("study", "term"),
                               coords={"study": self.labels, "term": self.terms})
        return ds

    def _prior_params(self, n, rng):
        out = {"tau": np.asarray(self.priors["tau"].rvs(n, rng=rng), dtype=float)}
        cols = []
        if self.intercept:
            cols.append(np.asarray(self.priors["mu"].rvs(n, rng=rng), dtype=float))
        cols += [np.asarray(p.rvs(n, rng=rng), dtype=float)
                 for p in self.priors["beta"].values()]
        out["beta"] = np.column_stack(cols)
        return out

    def _param_dims(self, name):
        return ("term",) if name == "beta" else ()

    def _param_coords(self):
        return {"term": self.terms}

    def _prior_groups(self, n, rng):
        groups, note = super()._prior_groups(n, rng)
        if "prior" in groups and self.intercept:
            pr = groups["prior"]
            pr["mu"] = pr["beta"].isel(term=0, drop=True)
            groups["prior"] = pr
        return groups, note


class Subgroups(MetaModel):
    """Subgroup model: one pooled effect per level of ``by``.

    y_i ~ N(theta_i, v_i), theta_i ~ N(mu_{g(i)}, tau_{g(i)}²) with tau shared across
    levels (``tau="shared"``, the Bayesian twin of metafor's ``rma(mods = ~ 0 + factor(by))``)
    or one tau per level (``tau="per_level"``, the twin of separate fits per level).
    Posterior ``mu`` and ``theta_new`` have dim ``level``; so does ``tau`` when per level.

    Parameters
    ----------
    data : DataFrame
    by : str
        Grouping column; levels sorted as ``bayesma.classical.design`` sorts them.
    tau : {"shared", "per_level"}
    **kwargs
        As :class:`MetaModel`.
    """

    model_name = "Subgroups"

    def __init__(self, data: pd.DataFrame, by: str = "alloc", yi: str = "yi", vi: str = "vi",
                 *, tau: str = "shared", **kwargs: Any) -> None:
        if tau not in ("shared", "per_level"):
            raise BayesmaError(f"Subgroups: tau must be 'shared' or 'per_level', got {tau!r}")
        self.by = by
        self.tau_mode = tau
        super().__init__(data, yi, vi, **kwargs)
        self._init_kwargs.update(by=by, tau=tau)

    def _setup(self) -> None:
        require_columns(self.data, [self.by], what="subgroup")
        col = self.data[self.by]
        if col.isna().any():
            bad = list(self.data.index[col.isna()])
            raise DataError(f"column {self.by!r} (subgroup) has missing values at rows "
                            f"{bad[:5]}; drop or fill them", column=self.by, rows=bad)
        if isinstance(col.dtype, pd.CategoricalDtype):
            levels = [lv for lv in col.cat.categories if (col == lv).any()]
        else:
            levels = sorted(col.unique().tolist(), key=lambda x: (str(type(x)), x))
        if len(levels) < 2:
            raise DataError(f"column {self.by!r} (subgroup) has a single level {levels}",
                            column=self.by)
        self.levels = [str(lv) for lv in levels]
        self.group = np.array([levels.index(x) for x in col.tolist()], dtype=np.int64)
        self.level_k = np.bincount(self.group, minlength=len(levels))

    def with_data(self, data):
        kwargs = dict(self._init_kwargs)
        new = Subgroups(data, **kwargs, **self._prior_kwargs())
        new._last_fit_kwargs = dict(self._last_fit_kwargs)
        return new

    def coords(self):
        c = super().coords()
        c["level"] = list(self.levels)
        return c

    def _extra_key(self):
        return (self.tau_mode, len(self.levels))

    def _extra_data(self):
        return {"group": self.group}

    def _small_k(self) -> bool:
        from bayesma.bayes.diagnostics import SMALL_K

        if self.tau_mode == "per_level":
            return bool(self.level_k.min() <= SMALL_K)
        return self.k <= SMALL_K

    def _build_body(self, y, v) -> None:
        import pymc as pm

        g = pm.Data("group", self.group, dims="study")
        mu = _to_pymc(self.priors["mu"], "mu", v, dims="level")
        if self.tau_mode == "per_level":
            tau = self._tau_var(v, dims="level")
            tau_i = tau[g]
        else:
            tau_i = self._tau_var(v)
        self._normal_likelihood(y, v, mu[g], tau_i)

    def _loc_draws(self, post):
        return _draws(post, "mu")[:, self.group]

    def _tau_draws(self, post):
        tau = _draws(post, "tau")
        if tau.ndim == 2:
            return tau[:, self.group]
        return np.broadcast_to(tau[:, None], (tau.shape[0], self.k))

    def _posterior(self, raw, rng):
        lev = {"level": self.levels}
        out = {"mu": self._wrap(raw, "mu", _draws(raw, "mu"), ("level",), lev)}
        tau = _draws(raw, "tau")
        out["tau"] = (self._wrap(raw, "tau", tau, ("level",), lev) if tau.ndim == 2
                      else self._wrap(raw, "tau", tau))
        tmp = xr.Dataset(out)
        theta = _draws(raw, "theta") if "theta" in raw else self._sample_theta(tmp, rng)
        out["theta"] = self._wrap(raw, "theta", theta, ("study",), {"study": self.labels})
        out["theta_new"] = self._wrap(raw, "theta_new", self._theta_new(tmp, rng),
                                      ("level",), lev)
        return xr.Dataset(out)

    def _theta_new(self, post, rng):
        mu = _draws(post, "mu")
        tau = _draws(post, "tau")
        if tau.ndim == 1:
            tau = tau[:, None]
        return mu + tau * rng.standard_normal(mu.shape)

    def _prior_params(self, n, rng):
        L = len(self.levels)
        out = {"mu": np.asarray(self.priors["mu"].rvs((n, L), rng=rng), dtype=float)}
        shape = (n, L) if self.tau_mode == "per_level" else n
        out["tau"] = np.asarray(self.priors["tau"].rvs(shape, rng=rng), dtype=float)
        return out

    def _param_dims(self, name):
        if name == "mu" or (name == "tau" and self.tau_mode == "per_level"):
            return ("level",)
        return ()

    def _param_coords(self):
        return {"level": self.levels}


class RobustRandomEffects(MetaModel):
    """Random effects with Student-t study effects (robust to outlying studies).

    y_i ~ N(theta_i, v_i), theta_i = mu + tau t_i, t_i ~ t_nu (Lee & Thompson 2008, Stat Med
    27:4745; Baker & Jackson 2008, Stat Med 27:2465). ``tau`` is the *scale* of the t
    (the between-study SD is tau sqrt(nu / (nu - 2)) for nu > 2). ``nu`` is fixed
    (default 4) or given a prior (a positive-support Prior object, e.g.
    ``bm.priors.Exponential(lam=1/29)``; then sampled).

    Parameterizations:

    ``"marginal"`` (default)
        The Student t as a scale mixture of normals (Andrews & Mallows 1974, J R Stat Soc B
        36:99): theta_i | w_i ~ N(mu, tau²/w_i), w_i ~ Gamma(nu/2, rate nu/2), with theta_i
        integrated out given w_i: y_i ~ N(mu, v_i + tau²/w_i). NUTS samples (mu, tau, w);
        theta_i is then drawn from its Gaussian full conditional given (mu, tau²/w_i)
        (BDA3 eq. 5.17). The posterior ``w`` (dim ``study``) flags outlying studies
        (small w_i; Lee & Thompson 2008). Measured on five real datasets: 2-10x the ESS of
        the t-distributed forms (benchmarks/results/bayes_mcmc.txt).
    ``"noncentered"``
        theta_i = mu + tau t_i, t_i ~ t_nu.
    ``"centered"``
        theta_i ~ t_nu(mu, tau).

    The ``log_likelihood`` group holds the marginal per-study likelihood p(y_i | mu, tau,
    nu), integrated numerically (:func:`student_t_marginal_loglik`).
    """

    model_name = "RobustRandomEffects"
    _extra_params = ("nu",)
    normal_model = False

    def _k_free(self) -> bool:
        return False  # one w_i (or t_i) per study

    def __init__(self, data: pd.DataFrame, yi: str = "yi", vi: str = "vi", *,
                 nu: float | Prior = 4.0, **kwargs: Any) -> None:
        super().__init__(data, yi, vi, **kwargs)
        if isinstance(nu, Prior):
            if nu.support[0] < 0:
                raise BayesmaError(f"nu's prior must have positive support, got {nu}")
            self.priors["nu"] = nu
        else:
            nu = float(nu)
            if not nu > 0 or not np.isfinite(nu):
                raise BayesmaError(f"nu must be a positive number, got {nu}")
            self.priors["nu"] = nu

    def with_data(self, data):
        kwargs = dict(self._init_kwargs)
        pri = self._prior_kwargs()
        nu = pri.pop("nu_prior")
        new = RobustRandomEffects(data, nu=nu, **kwargs, **pri)
        new._last_fit_kwargs = dict(self._last_fit_kwargs)
        return new

    def _extra_data(self):
        nu = self.priors["nu"]
        return {} if isinstance(nu, Prior) else {"nu": float(nu)}

    def _build_body(self, y, v) -> None:
        import pymc as pm
        import pytensor.tensor as pt

        mu = _to_pymc(self.priors["mu"], "mu", v)
        tau = self._tau_var(v)
        nu_p = self.priors["nu"]
        nu = (_to_pymc(nu_p, "nu", v) if isinstance(nu_p, Prior)
              else pm.Data("nu", float(nu_p)))
        if self.parameterization == "marginal":
            w = pm.Gamma("w", alpha=nu / 2.0, beta=nu / 2.0, dims="study")
            pm.Normal("y", mu=mu, sigma=pt.sqrt(v + tau**2 / w), observed=y, dims="study")
            return
        if self.parameterization == "noncentered":
            t = pm.StudentT("t", nu=nu, mu=0.0, sigma=1.0, dims="study")
            theta = pm.Deterministic("theta", mu + tau * t, dims="study")
        else:
            theta = pm.StudentT("theta", nu=nu, mu=mu, sigma=tau, dims="study")
        pm.Normal("y", mu=theta, sigma=pt.sqrt(v), observed=y, dims="study")

    def _posterior(self, raw, rng):
        if "w" not in raw:
            return super()._posterior(raw, rng)
        w = self._wrap(raw, "w", _draws(raw, "w"), ("study",), {"study": self.labels})
        raw = raw.assign(w=w)
        post = super()._posterior(raw, rng)
        post["w"] = w
        return post

    def _tau_draws(self, post):
        """Per-study SD of theta_i given w_i: tau / sqrt(w_i) (marginal form)."""
        tau = super()._tau_draws(post)
        if "w" in post:
            return tau / np.sqrt(_draws(post, "w"))
        return tau

    def _nu_draws(self, post: xr.Dataset) -> np.ndarray:
        nu = self.priors["nu"]
        n = post.sizes["chain"] * post.sizes["draw"]
        return _draws(post, "nu") if isinstance(nu, Prior) else np.full(n, float(nu))

    def _theta_new(self, post, rng):
        """mu + tau t, t ~ t_nu (nu per draw when it has a prior)."""
        mu = _draws(post, "mu")
        return mu + _draws(post, "tau") * rng.standard_t(self._nu_draws(post), size=mu.shape)

    def _theta_noise(self, post, rng):
        tau = self._tau_draws(post)
        nu = self._nu_draws(post)[:, None]
        return tau * rng.standard_t(np.broadcast_to(nu, tau.shape))

    def _prior_params(self, n, rng):
        out = super()._prior_params(n, rng)
        if isinstance(self.priors["nu"], Prior):
            out["nu"] = np.asarray(self.priors["nu"].rvs(n, rng=rng), dtype=float)
        return out

    def _log_likelihood(self, post):
        loc = self._loc_draws(post)
        ll = student_t_marginal_loglik(self.yi, self.vi, loc, _draws(post, "tau"),
                                       self._nu_draws(post))
        return xr.Dataset({"y": self._wrap(post, "y", ll, ("study",),
                                           {"study": self.labels})})


# ======================================================================================
# rebuild from a spec (bm.load)
# ======================================================================================

_CLASSES = {c.__name__: c for c in (RandomEffects, CommonEffect, MetaRegression, Subgroups,
                                    RobustRandomEffects)}


def model_from_spec(spec: Mapping[str, Any] | str, data: pd.DataFrame) -> MetaModel:
    """Rebuild a model from :meth:`MetaModel.spec` and its study table.

    Parameters
    ----------
    spec : dict or JSON str
        Output of ``model.spec()`` (stored in a fit's ``model_spec`` attribute).
    data : DataFrame
        The study table.
    """
    if isinstance(spec, str):
        spec = json.loads(spec)
    cls = _CLASSES.get(spec["class"])
    if cls is None:
        raise BayesmaError(f"unknown model class {spec['class']!r}")
    kwargs = dict(spec["kwargs"])
    priors = {}
    for key, p in spec["priors"].items():
        if key == "nu":
            priors["nu"] = prior_from_spec(p) if isinstance(p, dict) else float(p)
        elif key == "beta" and "family" not in p:
            priors["beta_prior"] = {t: prior_from_spec(s) for t, s in p.items()}
        else:
            priors[f"{key}_prior"] = prior_from_spec(p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        if cls is MetaRegression:
            mods = kwargs.pop("mods")
            return MetaRegression(data, mods, **kwargs, **priors)
        return cls(data, **kwargs, **priors)

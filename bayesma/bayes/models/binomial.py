"""Contrast-based binomial-normal model of 2x2 tables (Günhan, Röver & Friede 2020, Res Synth
Methods 11:74; the model of the R package MetaStan).

x_ci ~ Bin(n_ci, expit(alpha_i)), x_ti ~ Bin(n_ti, expit(alpha_i + theta_i)),
theta_i = mu + tau z_i, z_i ~ N(0, 1) (non-centred), alpha_i ~ N(0, alpha_sd²): the exact
binomial likelihood, no continuity correction; zero and double-zero studies are kept (a
double-zero study informs alpha_i and, through it, nothing else). Its classical twin is
:func:`bayesma.rma_glmm` (``model="UM.FS"``: fixed study intercepts), and its observed
data, prior and posterior predictive draws are the event counts ``x_t`` and ``x_c``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit, gammaln

from bayesma.bayes.models.base import MetaModel
from bayesma.bayes.models.derived import stacked_draws
from bayesma.bayes.models.graph import prior_to_pymc
from bayesma.classical.pooling.inputs import read_tables
from bayesma.effect_sizes import escalc
from bayesma.errors import BayesmaError
from bayesma.priors import Prior

__all__ = ["BinomialNormal"]


class BinomialNormal(MetaModel):
    """Binomial-normal random-effects model of log odds ratios from 2x2 tables.

    Parameters
    ----------
    data : DataFrame
        One row per study.
    ai, n1i, ci, n2i : str
        Events and sizes of the treatment (1) and control (2) groups; ``bi``/``di``
        (non-events) may replace ``n1i``/``n2i``.
    mu_prior, tau_prior : Prior, optional
        Priors on the mean log odds ratio and on tau (defaults of measure ``"OR"``).
    alpha_sd : float
        SD of the normal prior N(0, alpha_sd²) of the study baselines alpha_i (logit of
        the control risk); default 10, weakly informative on the logit scale.
    slab : str, optional
        Study label column.
    parameterization : {"noncentered", "centered"}
        How theta_i enters the sampler (default non-centred).

    Notes
    -----
    The model's ``yi``/``vi`` (log OR with 1/2 added to zero cells, by ``escalc``) only
    serve the default priors and the study rows of forest plots; the likelihood uses the
    counts. The classical twin (``fit.classical``, the summary table's ``classical``
    columns) is :func:`~bayesma.rma_glmm` with ``model="UM.FS"`` on the same counts (ML,
    Wald CI; tau without a CI). The ``observed_data``, ``prior_predictive`` and
    ``posterior_predictive`` groups hold the event counts ``x_t`` and ``x_c`` (the
    replicates drawn from Bin(n, expit(alpha_i [+ theta_i]))); the ``log_likelihood``
    group holds the per-study binomial log-likelihood of both arms given (alpha_i,
    theta_i).
    """

    model_name = "BinomialNormal"
    parameterizations = ("noncentered", "centered")
    default_parameterization = "noncentered"
    normal_model = False

    def __init__(self, data: pd.DataFrame, ai: str | None = None, n1i: str | None = None,
                 ci: str | None = None, n2i: str | None = None, *, bi: str | None = None,
                 di: str | None = None, mu_prior: Prior | None = None,
                 tau_prior: Prior | None = None, alpha_sd: float = 10.0,
                 slab: str | None = None, parameterization: str | None = None) -> None:
        if not isinstance(data, pd.DataFrame):
            raise BayesmaError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        a, b, c, d = read_tables(data, ai, bi, ci, di, n1i, n2i, slab)
        if not (np.isfinite(alpha_sd) and alpha_sd > 0):
            raise BayesmaError(f"alpha_sd must be a positive number, got {alpha_sd!r}")
        cols = {k: v for k, v in {"ai": ai, "bi": bi, "ci": ci, "di": di, "n1i": n1i,
                                  "n2i": n2i}.items() if v is not None}
        table = escalc("OR", data, **cols, slab=slab)
        super().__init__(table, "yi", "vi", mu_prior=mu_prior, tau_prior=tau_prior,
                         slab=slab, measure="OR", parameterization=parameterization)
        self.counts = {"x_t": a, "n_t": a + b, "x_c": c, "n_c": c + d}
        #: metafor's argument names -> the count columns (for the rma_glmm twin)
        self.count_columns = cols
        self.alpha_sd = float(alpha_sd)
        self._init_kwargs = {"ai": ai, "n1i": n1i, "ci": ci, "n2i": n2i, "bi": bi, "di": di,
                             "alpha_sd": self.alpha_sd, "slab": slab,
                             "parameterization": self.parameterization}

    def _k_free(self) -> bool:
        return False  # alpha_i and z_i per study

    def _extra_data(self) -> dict[str, Any]:
        return {**self.counts, "alpha_sd": self.alpha_sd}

    def data_values(self) -> dict[str, np.ndarray]:
        """Data of the compiled graph: the counts (yi and vi are not in the likelihood)."""
        vals = super().data_values()
        vals.pop("yi")
        if all(p.data_free for _, p in self._prior_vars()):
            vals.pop("vi")
        return vals

    def _build_body(self, y, v) -> None:
        import pymc as pm

        data = {k: pm.Data(k, val, dims="study") for k, val in self.counts.items()}
        alpha_sd = pm.Data("alpha_sd", self.alpha_sd)
        mu = prior_to_pymc(self.priors["mu"], "mu", v)
        tau = self._tau_var(v)
        alpha = pm.Normal("alpha", 0.0, alpha_sd, dims="study")
        if self.parameterization == "noncentered":
            z = pm.Normal("z", 0.0, 1.0, dims="study")
            theta = pm.Deterministic("theta", mu + tau * z, dims="study")
        else:
            theta = pm.Normal("theta", mu=mu, sigma=tau, dims="study")
        pm.Binomial("x_c_obs", n=data["n_c"], logit_p=alpha, observed=data["x_c"], dims="study")
        pm.Binomial("x_t_obs", n=data["n_t"], logit_p=alpha + theta, observed=data["x_t"],
                    dims="study")

    def _check_vars(self) -> list[str]:
        return ["mu", "tau", "theta", "alpha"]

    def _posterior(self, raw: xr.Dataset, rng: np.random.Generator) -> xr.Dataset:
        post = super()._posterior(raw, rng)
        post["alpha"] = self._wrap(raw, "alpha", stacked_draws(raw, "alpha"), ("study",),
                                   {"study": self.labels})
        return post

    def _observed_data(self) -> xr.Dataset:
        """The event counts of both arms (the data of the likelihood)."""
        return xr.Dataset({"x_t": ("study", self.counts["x_t"]),
                           "x_c": ("study", self.counts["x_c"])},
                          coords={"study": self.labels})

    def _constant_data(self) -> xr.Dataset:
        """Group sizes (and the normal-approximation vi used by data-dependent priors)."""
        ds = super()._constant_data()
        ds["n_t"] = ("study", self.counts["n_t"])
        ds["n_c"] = ("study", self.counts["n_c"])
        return ds

    def _replicate_counts(self, post: xr.Dataset, alpha: np.ndarray, theta: np.ndarray,
                          rng: np.random.Generator) -> xr.Dataset:
        """x_t ~ Bin(n_t, expit(alpha + theta)), x_c ~ Bin(n_c, expit(alpha)) per draw."""
        out = {}
        for name, n, eta in (("x_t", self.counts["n_t"], alpha + theta),
                             ("x_c", self.counts["n_c"], alpha)):
            draws = rng.binomial(np.broadcast_to(n, eta.shape).astype(np.int64), expit(eta))
            out[name] = self._wrap(post, name, draws, ("study",), {"study": self.labels})
        return xr.Dataset(out)

    def _posterior_predictive(self, posterior: xr.Dataset,
                              rng: np.random.Generator) -> xr.Dataset:
        """Replicated event counts of both arms given each draw's (alpha_i, theta_i)."""
        return self._replicate_counts(posterior, stacked_draws(posterior, "alpha"),
                                      stacked_draws(posterior, "theta"), rng)

    def _prior_groups(self, n: int, rng: np.random.Generator
                      ) -> tuple[dict[str, xr.Dataset], str]:
        """``prior`` (with alpha_i ~ N(0, alpha_sd²)) and the counts' ``prior_predictive``."""
        groups, note = super()._prior_groups(n, rng)
        if not groups:
            return groups, note
        prior = groups["prior"]
        alpha = self.alpha_sd * rng.standard_normal((n, self.k))
        prior["alpha"] = self._wrap(prior, "alpha", alpha, ("study",), {"study": self.labels})
        groups["prior_predictive"] = self._replicate_counts(
            prior, alpha, stacked_draws(prior, "theta"), rng)
        return groups, note

    def _log_likelihood(self, post: xr.Dataset) -> xr.Dataset:
        """Binomial log-likelihood of both arms per study given (alpha_i, theta_i)."""
        alpha = stacked_draws(post, "alpha")
        theta = stacked_draws(post, "theta")
        ll = 0.0
        for x, n, eta in ((self.counts["x_c"], self.counts["n_c"], alpha),
                          (self.counts["x_t"], self.counts["n_t"], alpha + theta)):
            ll = ll + (gammaln(n + 1) - gammaln(x + 1) - gammaln(n - x + 1)
                       + x * eta - n * np.logaddexp(0.0, eta))
        return xr.Dataset({"y": self._wrap(post, "y", ll, ("study",), {"study": self.labels})})

"""Random-effects models without moderators: normal, common-effect and robust (Student t).

:class:`RandomEffects`
    y_i ~ N(theta_i, v_i), theta_i ~ N(mu, tau²).
:class:`CommonEffect`
    tau = 0: y_i ~ N(mu, v_i).
:class:`RobustRandomEffects`
    Student-t random effects theta_i = mu + tau t_i, t_i ~ t_nu (nu fixed or with a prior).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesma.bayes.fastpath import fast_spec
from bayesma.bayes.models.base import MetaModel
from bayesma.bayes.models.derived import stacked_draws
from bayesma.bayes.models.graph import prior_to_pymc, student_t_marginal_loglik
from bayesma.errors import BayesmaError
from bayesma.priors import Prior

__all__ = ["CommonEffect", "RandomEffects", "RobustRandomEffects"]


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
        mu = prior_to_pymc(self.priors["mu"], "mu", v)
        tau = self._tau_var(v)
        self._normal_likelihood(y, v, mu, tau)

    def _fast_spec(self) -> Any:
        # the marginal form has a hand-written, disk-cached density (fastpath.py)
        if self.parameterization != "marginal" or self._tau_switch:
            return None
        return fast_spec(self.priors["mu"], self.priors["tau"], self.yi, self.vi)


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

        mu = prior_to_pymc(self.priors["mu"], "mu", v)
        pm.Normal("y", mu=mu, sigma=pt.sqrt(v), observed=y, dims="study")

    def _small_k(self) -> bool:
        return False  # no heterogeneity funnel

    def _sample_theta(self, post, rng):
        mu = stacked_draws(post, "mu")
        return np.broadcast_to(mu[:, None], (mu.shape[0], self.k)).copy()


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

        mu = prior_to_pymc(self.priors["mu"], "mu", v)
        tau = self._tau_var(v)
        nu_p = self.priors["nu"]
        nu = (prior_to_pymc(nu_p, "nu", v) if isinstance(nu_p, Prior)
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
        w = self._wrap(raw, "w", stacked_draws(raw, "w"), ("study",), {"study": self.labels})
        raw = raw.assign(w=w)
        post = super()._posterior(raw, rng)
        post["w"] = w
        return post

    def _tau_draws(self, post):
        """Per-study SD of theta_i given w_i: tau / sqrt(w_i) (marginal form)."""
        tau = super()._tau_draws(post)
        if "w" in post:
            return tau / np.sqrt(stacked_draws(post, "w"))
        return tau

    def _nu_draws(self, post: xr.Dataset) -> np.ndarray:
        nu = self.priors["nu"]
        n = post.sizes["chain"] * post.sizes["draw"]
        return stacked_draws(post, "nu") if isinstance(nu, Prior) else np.full(n, float(nu))

    def _theta_new(self, post, rng):
        """mu + tau t, t ~ t_nu (nu per draw when it has a prior)."""
        mu = stacked_draws(post, "mu")
        return mu + stacked_draws(post, "tau") * rng.standard_t(self._nu_draws(post), size=mu.shape)

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
        ll = student_t_marginal_loglik(self.yi, self.vi, loc, stacked_draws(post, "tau"),
                                       self._nu_draws(post))
        return xr.Dataset({"y": self._wrap(post, "y", ll, ("study",),
                                           {"study": self.labels})})


"""Posterior quantities every model derives in numpy after sampling.

:class:`PosteriorDraws` is the part of :class:`~bayesma.bayes.models.base.MetaModel`
that turns the sampler's raw draws into the fit's groups: study effects from their
Gaussian full conditionals, the predictive effect of a new study, the marginal
per-study log likelihood, the log prior at the draws, and the ``prior`` /
``prior_predictive`` groups drawn from the priors. Subclasses override the hooks
(``_loc_draws``, ``_tau_draws``, ``_theta_new``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import xarray as xr

from bayesma.bayes.models.graph import normal_marginal_loglik, prior_logpdf
from bayesma.priors import Prior

__all__ = ["PosteriorDraws", "stacked_draws"]


def stacked_draws(ds: xr.Dataset, name: str) -> np.ndarray:
    """Variable ``name`` as an array (n_draws, ...) with chain and draw stacked."""
    a = np.asarray(ds[name].values, dtype=float)
    return a.reshape((-1, *a.shape[2:]))


class PosteriorDraws:
    """Derived posterior and prior quantities (mixed into ``MetaModel``).

    Relies on the model attributes ``yi``, ``vi``, ``k``, ``labels``, ``priors``,
    ``has_tau`` and the methods ``coords()`` and ``_prior_vars()``.
    """

    yi: np.ndarray
    vi: np.ndarray
    k: int
    labels: list[str]
    priors: dict[str, Any]
    has_tau: ClassVar[bool] = True

    # ---- derived quantities ----------------------------------------------------------
    def _loc_draws(self, post: xr.Dataset) -> np.ndarray:
        """Mean of theta_i given the parameters, shape (n_draws, k)."""
        mu = stacked_draws(post, "mu")
        return np.broadcast_to(mu[:, None], (mu.shape[0], self.k))

    def _tau_draws(self, post: xr.Dataset) -> np.ndarray:
        """tau per draw and study, shape (n_draws, k)."""
        tau = stacked_draws(post, "tau")
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
        out = {"mu": self._wrap(raw, "mu", stacked_draws(raw, "mu"))}
        if self.has_tau:
            out["tau"] = self._wrap(raw, "tau", stacked_draws(raw, "tau"))
        for name in self._extra_params:
            if name in raw:
                out[name] = self._wrap(raw, name, stacked_draws(raw, name))
        tmp = xr.Dataset(out)
        if "w" in raw:  # mixing weights of the robust model's marginal form
            tmp["w"] = raw["w"]
        theta = (stacked_draws(raw, "theta") if "theta" in raw
                 else self._sample_theta(tmp, rng))
        out["theta"] = self._wrap(raw, "theta", theta, ("study",), {"study": self.labels})
        out["theta_new"] = self._wrap(raw, "theta_new", self._theta_new(tmp, rng))
        return xr.Dataset(out)

    def _theta_new(self, post: xr.Dataset, rng: np.random.Generator) -> np.ndarray | None:
        """Effect of a new study: mu + tau eps, eps ~ N(0, 1) (None if undefined)."""
        mu = stacked_draws(post, "mu")
        tau = stacked_draws(post, "tau") if self.has_tau else 0.0
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
                out[name] = self._wrap(post, name, prior_logpdf(prior, stacked_draws(post, name),
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


"""Draws, conditionals and predictions of the exact posterior.

Joint i.i.d. draws: tau by its inverse cdf (:mod:`.quadrature`), then the Gaussian
conditionals ``beta | tau, y`` and ``theta_i | beta, tau, y`` (Röver 2020, J Stat Softw
93(6), sec. 2.4). Coefficients are drawn on the centred scale and mapped to the user's
(:mod:`bayesma.bayes.centering`).
"""

from __future__ import annotations

import json
import math
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesma.bayes.exact.mixture import mixture_quantile
from bayesma.bayes.protocol import n_draws, resolve_prob
from bayesma.errors import BayesmaError

__all__ = ["DrawsMixin", "EXACT_LIBRARY", "DEFAULT_DRAWS"]

#: ``inference_library`` attribute of the exact engine's data trees
EXACT_LIBRARY = "bayesma-exact"
#: number of i.i.d. draws when none is asked for
DEFAULT_DRAWS = 4000


class DrawsMixin:
    """Draws and predictions; mixed into ``ExactPosterior``."""

    def sample(self, n: int = DEFAULT_DRAWS, random_seed=None) -> dict[str, np.ndarray]:
        """Joint i.i.d. posterior draws: tau by inverse cdf, then the Gaussian conditionals.

        Returns
        -------
        dict
            ``mu, tau, tau2, i2, theta_new`` of shape (n,), ``theta`` (n, k), ``beta``
            (n, p) on the user's scale, and ``mu_centered`` (n,) when centred.
        """
        n = n_draws(n, DEFAULT_DRAWS)
        rng = np.random.default_rng(random_seed)
        u01 = rng.random(n)
        tau = self._quad.map.tau(self._quad.quantile_u(u01))
        tau = np.where(np.isfinite(tau), tau, np.nan)
        _, b, C = self._gauss.evaluate(tau, cov=True)
        z = rng.standard_normal((n, self.p))
        if self.p == 1:
            beta_c = b + np.sqrt(C[:, 0, :]) * z
        else:
            Lc = np.linalg.cholesky(C)
            beta_c = b + np.einsum("nij,nj->ni", Lc, z)
        t2 = (tau * tau)[:, None]
        B = self.vi[None, :] / (self.vi[None, :] + t2)
        th_mean = (1 - B) * self.yi[None, :] + B * (beta_c @ self.centering.Xc.T)
        theta = th_mean + np.sqrt((1 - B) * self.vi[None, :]) * rng.standard_normal(
            (n, self.k))
        beta = self.centering.to_user(beta_c)
        theta_new = beta[:, 0] + tau * rng.standard_normal(n)
        out = {"mu": beta[:, 0], "tau": tau, "tau2": tau * tau,
               "i2": self._from_tau("i2", tau), "h2": self._from_tau("h2", tau),
               "theta_new": theta_new, "theta": theta, "beta": beta}
        if self.centered or self.p == 1:
            out["mu_centered"] = beta_c[:, 0]
        return out

    def draws(self, param: str, *, n: int | None = None, random_seed=None) -> np.ndarray:
        """i.i.d. posterior draws of one parameter ((n,) or (n, k) / (n, p) arrays).

        ``n=None`` draws :data:`DEFAULT_DRAWS`.
        """
        kind, idx, vec = self._parse(param)
        d = self.sample(n_draws(n, DEFAULT_DRAWS), random_seed)
        if kind in ("theta", "beta"):
            arr = d[kind][:, idx]
            return arr if vec else arr[:, 0]
        return d[kind]

    def to_datatree(self, n: int | None = None, *, random_seed=None, chains: int = 4
                    ) -> xr.DataTree:
        """i.i.d. draws packed as an ``xarray.DataTree`` (``posterior``, ``observed_data``,
        ``constant_data``), shaped ``chain x draw`` so ArviZ diagnostics apply.

        ``n=None`` draws :data:`DEFAULT_DRAWS`; ``random_seed=None`` uses seed 0 so the
        tree is reproducible. The attributes hold what :func:`bayesma.bayes.fit.load`
        needs to rebuild the posterior (arrays, prior specifications, settings).
        """
        n = n_draws(n, DEFAULT_DRAWS)
        chains = int(chains)
        per = n // chains if chains > 0 else 0
        if per < 1:
            raise BayesmaError(f"n = {n} draws cannot fill {chains} chains")
        d = self.sample(per * chains, 0 if random_seed is None else random_seed)
        coords = {"chain": np.arange(chains), "draw": np.arange(per),
                  "study": list(self.labels), "term": list(self.terms)}

        def cd(x):
            return x.reshape((chains, per) + x.shape[1:])

        post = {name: (("chain", "draw"), cd(d[name]))
                for name in ("mu", "tau", "tau2", "i2", "theta_new")}
        post["theta"] = (("chain", "draw", "study"), cd(d["theta"]))
        pcoords = {c: coords[c] for c in ("chain", "draw", "study")}
        if self.p > 1:
            post["beta"] = (("chain", "draw", "term"), cd(d["beta"]))
            pcoords["term"] = coords["term"]
        if self.centered:
            post["mu_centered"] = (("chain", "draw"), cd(d["mu_centered"]))
        attrs = self._attrs()
        posterior = xr.Dataset(post, coords=pcoords, attrs=attrs)
        observed = xr.Dataset({"y": (("study",), self.yi)}, coords={"study": self.labels},
                              attrs=attrs)
        const = xr.Dataset({"vi": (("study",), self.vi), "sigma": (("study",),
                                                                    np.sqrt(self.vi)),
                            "X": (("study", "term"), self.X)},
                           coords={"study": self.labels, "term": self.terms}, attrs=attrs)
        tree = xr.DataTree.from_dict({"posterior": posterior, "observed_data": observed,
                                      "constant_data": const})
        tree.attrs.update(attrs)
        return tree

    def _attrs(self) -> dict[str, Any]:
        a = {"inference_library": EXACT_LIBRARY, "bayesma_version": _version(),
             "model": "ExactPosterior", "model_description": self.model_description,
             "mu_prior": self.priors["mu"].describe(), "tau_prior": self._tau_prior.describe(),
             "priors": json.dumps({t: pr.spec() for t, pr in self.coef_priors.items()}
                                  | {"__tau__": self._tau_prior.spec()}),
             "log_marginal_likelihood": self.log_marginal_likelihood,
             "level": self.level, "center": int(self.centered)}
        if self.p > 1:
            a["beta_prior"] = "; ".join(f"{t}: {p.describe()}" for t, p in
                                        self.priors["beta"].items())
        if self.measure:
            a["measure"] = self.measure
        if self.formula:
            a["formula"] = str(self.formula)  # shown only; never evaluated on load
        if self.classical is not None:
            a["classical_method"] = str(self.classical.method)
            a["classical_test"] = str(self.classical.test)
        return a

    @property
    def model_description(self) -> str:
        """The model in one line."""
        if self.p == 1:
            return "y_i ~ N(theta_i, v_i); theta_i ~ N(mu, tau^2)"
        text = ("y_i ~ N(theta_i, v_i); theta_i ~ N(x_i'beta, tau^2); beta = ("
                + ", ".join(self.terms) + ")")
        if self.centered:
            text += "; intercept prior at the moderators' means"
        return text

    # ------------------------------------------------------------------ conditionals
    def conditional(self, tau) -> dict[str, pd.DataFrame]:
        """Conditional posterior means and sds given tau (bayesmeta's trace plot).

        Returns
        -------
        dict
            ``{"mean": DataFrame, "sd": DataFrame}`` indexed by tau, with columns ``mu``,
            ``beta[<term>]`` (meta-regression), ``theta_new`` and ``theta[<label>]``.
        """
        t = np.atleast_1d(np.asarray(tau, dtype=float))
        if np.any(t < 0) or not np.all(np.isfinite(t)):
            raise BayesmaError("tau values must be finite and >= 0")
        _, bc, Cc = self._gauss.evaluate(t, cov=True)
        tm, tv = self._gauss.theta_moments(t, bc, Cc)
        b, C = self.centering.to_user(bc), self.centering.to_user_cov(Cc)
        cols, means, sds = ["mu"], [b[:, 0]], [np.sqrt(C[:, 0, 0])]
        if self.p > 1:
            for j, term in enumerate(self.terms[1:], start=1):
                cols.append(f"beta[{term}]")
                means.append(b[:, j])
                sds.append(np.sqrt(C[:, j, j]))
        cols.append("theta_new")
        means.append(b[:, 0])
        sds.append(np.sqrt(C[:, 0, 0] + t * t))
        cols += [f"theta[{lab}]" for lab in self.labels]
        index = pd.Index(t, name="tau")
        mean = pd.DataFrame(np.column_stack(means + [tm]), index=index, columns=cols)
        sd = pd.DataFrame(np.column_stack(sds + [np.sqrt(tv)]), index=index, columns=cols)
        return {"mean": mean, "sd": sd}

    @property
    def tau_grid(self) -> np.ndarray:
        """A regular grid of tau for plotting (0 to the 99.5% quantile, or the bound)."""
        lo, hi = self._tau_prior.support
        top = float(self.quantile("tau", 0.995)) * 1.1
        top = min(top, hi) if math.isfinite(hi) else top
        return np.linspace(lo, top, 401)

    @property
    def tau_density(self) -> np.ndarray:
        """Posterior density of tau on :attr:`tau_grid`."""
        return self.pdf("tau", self.tau_grid)

    # ------------------------------------------------------------------ predictions
    def predict(self, newmods: Any = None, prob: float | None = None) -> pd.DataFrame:
        """Posterior of the mean effect ``x'beta`` and of a new study's effect at ``newmods``.

        ``x'beta | tau, y ~ N(x'b, x'Cx)`` and a new study's ``theta = x'beta + tau e``
        adds ``tau²`` (Röver 2020, sec. 2.4), mixed over the posterior of tau.

        Parameters
        ----------
        newmods : array, dict or DataFrame, optional
            Moderator values (as ``RMAResult.predict``; a table needs a formula or column
            design). None gives the pooled effect (intercept-only model) or the fitted
            values of the studies (meta-regression).
        prob : float, optional
            Interval probability (default :attr:`level`).

        Returns
        -------
        DataFrame
            ``mean, sd, eti_low, eti_high`` of ``x'beta`` and ``pi_low, pi_high`` (the
            equal-tailed interval of a new study's effect).
        """
        prob = resolve_prob(prob, self.level)
        X0, index = self._newmods_design(newmods)
        nd = self._node_data()
        w = nd["w"]
        M = X0 @ nd["b"].T  # (n, G)
        V = np.einsum("ij,gjl,il->ig", X0, nd["C"], X0)
        S = np.sqrt(V)
        Snew = np.sqrt(V + np.square(nd["tau"])[None, :])
        a = (1.0 - prob) / 2.0
        n = X0.shape[0]
        rows = np.repeat(np.arange(n), 2)
        qa = np.tile([a, 1.0 - a], n)
        ci = mixture_quantile(qa, M[rows], S[rows], w).reshape(n, 2)
        pi = mixture_quantile(qa, M[rows], Snew[rows], w).reshape(n, 2)
        mean = M @ w
        sd = np.sqrt((np.square(M - mean[:, None]) + V) @ w)
        if not math.isfinite(self._quad.moment(2)):  # flat coefficients: Var ~ tau²
            sd = np.where(np.abs(X0[:, self._flat]).sum(axis=1) > 0, np.inf, sd)
        return pd.DataFrame({"mean": mean, "sd": sd, "eti_low": ci[:, 0], "eti_high": ci[:, 1],
                             "pi_low": pi[:, 0], "pi_high": pi[:, 1]}, index=index)

    def _newmods_design(self, newmods: Any) -> tuple[np.ndarray, pd.Index]:
        if self.p == 1:
            if newmods is not None:
                raise BayesmaError("newmods needs a meta-regression (mods=...)")
            return np.ones((1, 1)), pd.Index(["pooled"])
        if newmods is None:
            return self.X, pd.Index(self.labels)
        if isinstance(newmods, pd.DataFrame | dict):
            if self.design is None:
                raise BayesmaError("a table of newmods needs a posterior built from a table "
                                   "with mods=; pass a numeric array instead")
            X0 = self.design.transform(newmods)
            return X0, pd.RangeIndex(X0.shape[0])
        Mx = np.atleast_2d(np.asarray(newmods, dtype=float))
        n_slopes = self.p - (1 if self.intercept else 0)
        if Mx.shape[1] != n_slopes and Mx.shape[0] == n_slopes:
            Mx = Mx.T
        if Mx.shape[1] != n_slopes:
            raise BayesmaError(f"newmods needs {n_slopes} column(s) (terms "
                               f"{self.terms[1 if self.intercept else 0:]})")
        X0 = np.column_stack([np.ones(Mx.shape[0]), Mx]) if self.intercept else Mx
        return X0, pd.RangeIndex(X0.shape[0])


def _version() -> str:
    try:
        return version("bayesma")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"

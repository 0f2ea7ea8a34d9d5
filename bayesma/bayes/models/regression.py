"""Random-effects meta-regression, with the intercept prior at the moderators' means.

A prior on the intercept of ``theta_i = x_i' beta`` applies where every moderator is 0;
for a raw-scale moderator such as publication year that pins the slope. As brms does
(Bürkner 2017, J Stat Softw 80(1), sec. 4), the model samples the coefficients of the
centred design ``Xc = X - 1 m'`` (:func:`bayesma.bayes.centering.center_design`), so
``mu_prior`` is the prior of the intercept at the moderators' means; the posterior holds
``beta`` and ``mu`` on the user's scale (comparable with REML) and ``mu_centered``, the
intercept at the means. ``center=False`` restores the prior at moderators = 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesma.bayes.centering import center_design, check_prior_scale
from bayesma.bayes.fastpath import fast_spec_regression
from bayesma.bayes.models.base import MetaModel
from bayesma.bayes.models.derived import stacked_draws
from bayesma.bayes.models.graph import check_prior, prior_logpdf, prior_to_pymc
from bayesma.classical.design import build_design, check_full_rank
from bayesma.errors import BayesmaError
from bayesma.priors import Prior

__all__ = ["MetaRegression"]


class MetaRegression(MetaModel):
    """Random-effects meta-regression.

    y_i ~ N(theta_i, v_i), theta_i ~ N(x_i' beta, tau²) with x_i the moderator row of
    ``mods`` (metafor's mixed-effects meta-regression; Thompson & Sharp 1999, Stat Med
    18:2693). The intercept has ``mu_prior``, each other coefficient its ``beta_prior``.
    With ``center=True`` (default) the intercept prior applies at the moderators' means
    (brms' convention, as ``bm.exact_posterior``): the posterior ``mu_centered`` is that
    intercept. ``mu`` is the intercept on the user's scale (the effect at moderators =
    0); ``beta`` (dim ``term``, intercept ``"intrcpt"`` first, metafor's order and names
    from ``bayesma.classical.design``) holds all coefficients on the user's scale, and
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
    center : bool
        Put ``mu_prior`` on the intercept at the moderators' means (default) rather than
        at moderators = 0.
    **kwargs
        As :class:`MetaModel` (yi, vi, mu_prior, tau_prior, sei, slab, measure,
        parameterization).

    Warns
    -----
    PriorScaleWarning
        When a prior is informative relative to a moderator's range
        (:func:`bayesma.bayes.centering.check_prior_scale`).
    """

    model_name = "MetaRegression"

    def __init__(self, data: pd.DataFrame, mods: Any, yi: str = "yi", vi: str = "vi",
                 *, beta_prior: Prior | Mapping[str, Prior] | list | None = None,
                 center: bool = True, **kwargs: Any) -> None:
        if not isinstance(center, bool | np.bool_):
            raise BayesmaError(f"MetaRegression: center must be True or False, got {center!r}")
        self.mods = mods
        self.center = bool(center)
        super().__init__(data, yi, vi, **kwargs)
        self._init_kwargs["mods"] = mods if isinstance(mods, str) else list(mods)
        self._init_kwargs["center"] = self.center
        self.priors["beta"] = self._normalize_beta(beta_prior)
        if not self.intercept:
            self.priors.pop("mu")
        check_prior_scale(self.priors.get("mu"), self.priors["beta"], self.X, self.terms,
                          yi=self.yi, centered=self.centering.centered, stacklevel=3)

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
        return {t: check_prior(p, f"beta_prior for {t!r}", "mu") for t, p in out.items()}

    def _select_rows(self, data):
        if not isinstance(self.mods, str | list | tuple):
            raise BayesmaError("MetaRegression: mods must be a formula string or a list of "
                               "column names")
        self.design = build_design(data, self.mods, slab=self.slab)
        return self.design.keep

    def _setup(self) -> None:
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
        self.n_slopes = len(self.slope_terms)
        if self.n_slopes == 0:
            raise BayesmaError(
                f"MetaRegression: mods={self.mods!r} has no moderator; use RandomEffects "
                "for an intercept-only model"
            )
        self.centering = center_design(self.X, self.terms, center=self.center)
        Xc = self.centering.Xc
        #: the sampled slopes' design columns (centred when ``centering.centered``)
        self.Xs = Xc[:, 1:] if self.intercept else Xc

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

    def _extra_attrs(self):
        return {"centered": int(self.centering.centered)}

    def _build_body(self, y, v) -> None:
        import pymc as pm
        import pytensor.tensor as pt

        X = pm.Data("X", self.Xs)
        slopes = [prior_to_pymc(p, name, v) for name, p in
                  zip(self._slope_names(), self.priors["beta"].values(), strict=True)]
        b = pt.stack(slopes)
        loc = pt.dot(X, b)
        if self.intercept:  # the intercept at the moderators' means when centred
            mu = prior_to_pymc(self.priors["mu"], "mu", v)
            loc = mu + loc
            b = pt.concatenate([pt.atleast_1d(mu), b])
        pm.Deterministic("beta", b, dims="term")  # sampled (centred) coefficients
        tau = self._tau_var(v)
        self._normal_likelihood(y, v, loc, tau)

    def _fast_spec(self) -> Any:
        # the marginal form has a hand-written, disk-cached density (fastpath.py): the
        # sampled coefficients [mu, slopes] of the design [1, Xs] (Xs centred or not)
        if self.parameterization != "marginal" or self._tau_switch:
            return None
        priors = ([self.priors["mu"]] if self.intercept else []) + list(
            self.priors["beta"].values())
        X = np.column_stack([np.ones(self.k), self.Xs]) if self.intercept else self.Xs
        return fast_spec_regression(priors, self.priors["tau"], self.yi, self.vi, X)

    def _mu_centered(self, beta: np.ndarray) -> np.ndarray:
        """The intercept at the moderators' means, ``x̄' beta`` (user-scale beta)."""
        return beta @ np.concatenate([[1.0], self.X[:, 1:].mean(axis=0)])

    def _loc_draws(self, post):
        return stacked_draws(post, "beta") @ self.X.T

    def _posterior(self, raw, rng):
        beta = self.centering.to_user(stacked_draws(raw, "beta"))
        out = {}
        if self.intercept:
            out["mu"] = self._wrap(raw, "mu", beta[:, 0])
            out["mu_centered"] = self._wrap(raw, "mu_centered", self._mu_centered(beta))
        out["tau"] = self._wrap(raw, "tau", stacked_draws(raw, "tau"))
        out["beta"] = self._wrap(raw, "beta", beta, ("term",), {"term": self.terms})
        tmp = xr.Dataset(out)
        theta = (stacked_draws(raw, "theta") if "theta" in raw
                 else self._sample_theta(tmp, rng))
        out["theta"] = self._wrap(raw, "theta", theta, ("study",), {"study": self.labels})
        tn = self._theta_new(tmp, rng)
        if tn is not None:
            out["theta_new"] = self._wrap(raw, "theta_new", tn)
        return xr.Dataset(out)

    def _theta_new(self, post, rng):
        """mu + tau e: a new study with all moderators at 0 (as ``bm.exact_posterior``)."""
        if not self.intercept:
            return None
        beta = stacked_draws(post, "beta")
        return beta[:, 0] + stacked_draws(post, "tau") * rng.standard_normal(beta.shape[0])

    def _check_vars(self):
        return ["beta", "tau", "theta"]

    def _log_prior(self, post):
        out = dict(super()._log_prior(post).data_vars)
        if self.intercept and self.centering.centered:  # mu_prior is on the centred intercept
            out["mu"] = self._wrap(post, "mu", prior_logpdf(
                self.priors["mu"], stacked_draws(post, "mu_centered"), self.vi))
        beta = stacked_draws(post, "beta")[:, -self.n_slopes:]
        lp = np.column_stack([prior_logpdf(p, beta[:, j], self.vi)
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
        out["beta"] = self.centering.to_user(np.column_stack(cols))
        if self.intercept:
            out["mu_centered"] = self._mu_centered(out["beta"])
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

"""Three-level model for dependent effect sizes: ``y_ij = x_ij'beta + u_i + w_ij + e_ij``.

The Bayesian twin of metafor's ``rma.mv(yi, V, random = ~ 1 | study/esid)``
(Konstantopoulos 2011, Res Synth Methods 2:61; brms ``(1 | study/esid)``)::

    u_i ~ N(0, tau_study²),  w_ij ~ N(0, tau_esid²),  e ~ N(0, V) block-diagonal by study

NUTS samples the marginal form (both random effects integrated out): study i's effects
are ``MvNormal(X_i beta, V_i + tau_esid² I + tau_study² 1 1')``. The log density of a
block uses the closed form of :mod:`bayesma.bayes.multilevel.blocks`: with
``V_i = Q diag(l) Q'`` rotated once (identity for a diagonal V) and ``a = Q'1``,
``log|Sigma_i| = sum log d + log(1 + tau_s² a'D⁻¹a)`` and the Sherman-Morrison inverse,
``d = l + tau_e²``, vectorised over every block by a study indicator matrix, so the
sampler sees only (mu, beta, tau_study, tau_esid) and one compiled model serves every
data set of the same structure. Measured against the non-centred latent form in
``benchmarks/multilevel_exact_vs_mcmc.py``.

After sampling the true effects ``theta_ij = x_ij'beta + u_i + w_ij`` are drawn exactly
from their Gaussian full conditional given each posterior draw (diagonal plus rank one
per study in the rotated basis), and ``tau2`` and metafor's multilevel ``i2``
(``100 tau_l² / (sum tau² + s²)``, s² the typical within-study variance of
``rma.mv``'s I² of Cheung 2014, Psychol Methods 19:211) are stored in the posterior.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesma.bayes.centering import center_design, check_prior_scale
from bayesma.bayes.fit import BayesFit
from bayesma.bayes.models.base import MetaModel
from bayesma.bayes.models.derived import stacked_draws
from bayesma.bayes.models.graph import check_prior, hyper_data, prior_logpdf, prior_to_pymc
from bayesma.bayes.multilevel import (
    BlockGaussian,
    MultilevelData,
    level_priors,
    multilevel_data,
    multilevel_twin,
)
from bayesma.bayes.table import posterior_table
from bayesma.classical.confint import typical_variance
from bayesma.errors import BayesmaError, DataError
from bayesma.priors import Prior, default_priors
from bayesma.priors.parsing import priors_from_specs

__all__ = ["Multilevel", "MultilevelFit"]

_LOG2PI = math.log(2.0 * math.pi)


class MultilevelFit(BayesFit):
    """A :class:`~bayesma.bayes.fit.BayesFit` of :class:`Multilevel` whose classical twin
    is ``rma_mv`` (REML) with CR2 robust inference clustered by the outer level."""

    def summary(self, prob: float | None = None, classical: str | None = "REML",
                classical_test: str = "CR2", theta: bool = True) -> pd.DataFrame:
        """Posterior summary with the classical twin (rma_mv ``classical`` = "REML" or
        "ML", CR2 inference) beside it; see :meth:`BayesFit.summary`."""
        return posterior_table(self, prob, theta=theta, classical=classical,
                               classical_test=classical_test)

    def classical_fit(self, method: str | None = "REML", test: str | None = "knha"):
        """The twin with ``method`` "REML" or "ML" (``test`` is ignored: always CR2)."""
        method = "REML" if method is None else str(method).upper()
        key = (method, "CR2")
        if key not in self._classical_cache:
            self._classical_cache[key] = multilevel_twin(self.model.ml, level=self.level,
                                                         method=method)
        return self._classical_cache[key]


class Multilevel(MetaModel):
    """Bayesian three-level meta-analysis (see the module documentation).

    Parameters
    ----------
    data : DataFrame
        One row per effect size with the cluster and effect-id columns of ``random``.
    yi, vi : str
        Effect sizes and sampling variances (``vi`` is not used when ``V`` is given).
    random : str
        ``"~ 1 | <cluster>/<effect>"`` (e.g. ``"~ 1 | study/esid"``).
    V : array_like, optional
        Sampling covariance (``len(data)`` square or a list of blocks), block-diagonal
        by cluster.
    mods : str or list, optional
        Moderators (formula or list of columns); the intercept prior applies at the
        moderators' means with ``center=True`` (as ``MetaRegression``).
    mu_prior : Prior, optional
        Prior of mu (the intercept).
    tau_prior : dict or Prior, optional
        ``{"<cluster>": Prior, "<effect>": Prior}`` keyed by the level names, or one
        prior for both; default per measure.
    beta_prior : Prior, dict or list, optional
        Priors of the moderator coefficients.
    slab, measure : str, optional
        Effect labels column; effect measure.
    center : bool
        Centre the moderators (intercept prior at their means).

    Notes
    -----
    The fit's posterior holds ``mu``, ``tau`` and ``tau2`` (dim ``level``: the outer
    then the inner level, so ``"tau[study]"``), ``i2`` (percent, metafor's multilevel
    I² per level), ``beta`` (dim ``term``, with moderators), ``mu_centered``,
    ``theta_new`` (a new effect in a new study) and ``theta`` (dim ``study``: one per
    effect, labelled ``"<cluster>/<effect>"``).
    """

    model_name = "Multilevel"
    parameterizations = ("marginal",)
    default_parameterization = "marginal"
    min_k = 3

    def __init__(self, data: pd.DataFrame, yi: str = "yi", vi: str | None = "vi", *,
                 random: Any = "~ 1 | study/esid", V: Any = None, mods: Any = None,
                 mu_prior: Prior | None = None, tau_prior: Any = None, beta_prior: Any = None,
                 slab: str | None = None, measure: str | None = None, center: bool = True,
                 parameterization: str | None = None) -> None:
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        if parameterization not in (None, "marginal"):
            raise BayesmaError(f"Multilevel samples the marginal form only; got "
                               f"parameterization={parameterization!r}")
        ml = multilevel_data(data, yi, vi, random=random, V=V, mods=mods, slab=slab,
                             measure=measure)
        self.ml: MultilevelData = ml
        self.parameterization = "marginal"
        self.yi_name, self.vi_name, self.sei_name, self.slab = yi, vi, None, slab
        self.measure = ml.measure
        self.source_data = data
        self.data = ml.data
        self.yi, self.vi = ml.yi, ml.vi
        self.labels = list(ml.labels)
        self.k = ml.k
        self.levels = ml.levels
        self.mods, self.center = mods, bool(center)
        self.X, self.terms = ml.X, list(ml.terms)
        self.p = self.X.shape[1]
        self.intercept = self.p == 1 or self.terms[0] == "intrcpt"
        self._init_kwargs: dict[str, Any] = {
            "yi": yi, "vi": vi, "random": ml.random, "slab": slab, "measure": measure,
            "center": self.center,
            "mods": mods if mods is None or isinstance(mods, str) else list(mods),
            "V": None if V is None else np.asarray(ml.V if ml.V is not None else
                                                   np.diag(ml.vi)).tolist()}
        if V is not None and len(ml.data) != len(data):
            raise BayesmaError("Multilevel with V= needs every row (no missing moderators)")
        self.centering = center_design(self.X, self.terms, center=self.center)
        defaults = self.default_priors
        self.priors: dict[str, Any] = {}
        if self.intercept:
            self.priors["mu"] = check_prior(mu_prior if mu_prior is not None
                                            else defaults["mu"], "mu_prior", "mu")
        self.priors["tau"] = level_priors(priors_from_specs(tau_prior), self.levels,
                                          defaults["tau"])
        for lv, pr in self.priors["tau"].items():
            check_prior(pr, f"tau_prior[{lv!r}]", "tau")
        slopes = self.terms[1:] if self.intercept else self.terms
        if slopes:
            self.priors["beta"] = self._normalize_beta(beta_prior)
            check_prior_scale(self.priors.get("mu"), self.priors["beta"], self.X, self.terms,
                              yi=self.yi, centered=self.centering.centered, stacklevel=3)
        self._gauss = BlockGaussian(self.yi, self.centering.Xc, self.vi, ml.V, ml.study,
                                    np.zeros(self.p), np.ones(self.p))
        self._last_fit_kwargs: dict[str, Any] = {}
        self._tau_switch = None
        self.s2 = typical_variance(self.vi, self.X)

    # ---- priors -----------------------------------------------------------------------
    @property
    def default_priors(self) -> dict[str, Prior]:
        d = dict(default_priors(self.measure, self.yi, self.vi))
        d.setdefault("beta", d["mu"])
        return d

    def _normalize_beta(self, prior: Any) -> dict[str, Prior]:
        slopes = self.terms[1:] if self.intercept else self.terms
        prior = priors_from_specs(prior)
        if prior is None:
            prior = self.default_priors["beta"]
        if isinstance(prior, Prior):
            out = dict.fromkeys(slopes, prior)
        elif isinstance(prior, Mapping):
            missing = [t for t in slopes if t not in prior]
            if missing:
                raise BayesmaError(f"beta_prior has no prior for term(s) {missing}")
            out = {t: prior[t] for t in slopes}
        elif isinstance(prior, list | tuple) and len(prior) == len(slopes):
            out = dict(zip(slopes, prior, strict=True))
        else:
            raise BayesmaError(f"beta_prior must be a Prior, a dict by term or a list of "
                               f"{len(slopes)}; got {prior!r}")
        return {t: check_prior(p, f"beta_prior for {t!r}", "mu") for t, p in out.items()}

    def _coef_vars(self) -> list[tuple[str, Prior]]:
        out = [("mu", self.priors["mu"])] if self.intercept else []
        off = 1 if self.intercept else 0
        out += [(f"beta_{j + off}", p) for j, p in enumerate(self.priors.get("beta", {})
                                                             .values())]
        return out

    def _prior_vars(self) -> list[tuple[str, Prior]]:
        taus = [(f"tau_{i}", self.priors["tau"][lv]) for i, lv in enumerate(self.levels)]
        return self._coef_vars() + taus

    def with_priors(self, **priors: Any) -> Multilevel:
        """A copy with some priors replaced (``tau_prior`` may name one level only)."""
        tp = priors.pop("tau_prior", None)
        new = super().with_priors(**priors)
        if tp is not None:
            tp = priors_from_specs(tp)
            cur = dict(self.priors["tau"])
            if isinstance(tp, Mapping):  # the levels not named keep their priors
                tau = level_priors({**cur, **tp}, self.levels, cur[self.levels[0]])
            else:
                tau = level_priors(tp, self.levels, tp)
            new.priors = {**new.priors, "tau": tau}
        return new

    def _prior_kwargs(self) -> dict[str, Any]:
        return {f"{k}_prior": v for k, v in self.priors.items()}

    def spec(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments; the tau priors (a dict by level) are
        stored with the settings so :func:`model_from_spec` hands them back as they were."""
        pri = self.prior_spec()
        tau = pri.pop("tau")
        return {"class": type(self).__name__,
                "kwargs": {**self._init_kwargs, "tau_prior": tau}, "priors": pri}

    # ---- structure ----------------------------------------------------------------------
    def coords(self) -> dict[str, list[str]]:
        return {"study": list(self.labels), "term": list(self.terms),
                "level": list(self.levels)}

    def _k_free(self) -> bool:
        return True

    def _extra_key(self) -> tuple:
        return (self.intercept, self.p)

    def data_values(self) -> dict[str, np.ndarray]:
        g = self._gauss
        order = g.order
        Zm = (np.arange(g.J)[:, None] == np.repeat(np.arange(g.J), g.sizes)[None, :])
        vals: dict[str, Any] = {"yr": g.Z[:, self.p], "Xr": g.Z[:, :self.p],
                                "lam_e": g.ev, "a_e": g.a, "Zm": Zm.astype(float)}
        if self._data_priors():  # Jeffreys-type priors read the sampling variances
            vals["vi"] = self.vi[order]
        for name, prior in self._prior_vars():
            vals.update(hyper_data(name, prior))
        return {k: np.asarray(v) for k, v in vals.items()}

    def _data_priors(self) -> bool:
        return any(not p.data_free for _, p in self._prior_vars())

    def _extra_attrs(self) -> dict[str, Any]:
        return {"random": self.ml.random, "centered": int(self.centering.centered),
                "levels": ",".join(self.levels)}

    def build(self):
        """The PyMC model: the marginal block likelihood as a ``pm.Potential``."""
        import pymc as pm
        import pytensor.tensor as pt

        vals = self.data_values()
        with pm.Model(coords=self.coords()) as model:
            v = pm.Data("vi", vals["vi"]) if "vi" in vals else None
            yr = pm.Data("yr", vals["yr"])
            Xr = pm.Data("Xr", vals["Xr"])
            lam = pm.Data("lam_e", vals["lam_e"])
            a = pm.Data("a_e", vals["a_e"])
            Zm = pm.Data("Zm", vals["Zm"])
            coefs = [prior_to_pymc(p, name, v) for name, p in self._coef_vars()]
            b = pt.stack(coefs)
            ts = prior_to_pymc(self.priors["tau"][self.levels[0]], "tau_0", v)
            te = prior_to_pymc(self.priors["tau"][self.levels[1]], "tau_1", v)
            r = yr - pt.dot(Xr, b)
            d = lam + te**2
            T = pt.dot(Zm, a * a / d)
            u = pt.dot(Zm, a * r / d)
            ts2 = ts**2
            ll = -0.5 * (r.shape[0] * _LOG2PI + pt.sum(pt.log(d)) + pt.sum(pt.log1p(ts2 * T))
                         + pt.sum(r * r / d) - pt.sum(ts2 * u * u / (1.0 + ts2 * T)))
            pm.Potential("loglik", ll)
        return model

    # ---- after sampling ---------------------------------------------------------------
    def _beta_draws(self, raw: xr.Dataset) -> np.ndarray:
        """Centred coefficients (n, p) in term order."""
        return np.column_stack([stacked_draws(raw, name) for name, _ in self._coef_vars()])

    def _posterior(self, raw: xr.Dataset, rng: np.random.Generator) -> xr.Dataset:
        bc = self._beta_draws(raw)
        beta = self.centering.to_user(bc)
        tau = np.column_stack([stacked_draws(raw, "tau_0"), stacked_draws(raw, "tau_1")])
        lv = {"level": list(self.levels)}
        out = {"tau": self._wrap(raw, "tau", tau, ("level",), lv),
               "tau2": self._wrap(raw, "tau2", tau**2, ("level",), lv),
               "i2": self._wrap(raw, "i2", 100 * tau**2 / (
                   np.sum(tau**2, axis=1, keepdims=True) + self.s2), ("level",), lv)}
        if self.intercept:
            out["mu"] = self._wrap(raw, "mu", beta[:, 0])
            new = beta[:, 0] + np.sqrt(np.sum(tau**2, axis=1)) * rng.standard_normal(
                beta.shape[0])
            out["theta_new"] = self._wrap(raw, "theta_new", new)
            if self.centering.centered:
                out["mu_centered"] = self._wrap(raw, "mu_centered", bc[:, 0])
        if self.p > 1 or not self.intercept:
            out["beta"] = self._wrap(raw, "beta", beta, ("term",), {"term": self.terms})
        theta = self._draw_theta(bc, tau, rng)
        out["theta"] = self._wrap(raw, "theta", theta, ("study",), {"study": self.labels})
        return xr.Dataset(out)

    def _draw_theta(self, bc: np.ndarray, tau: np.ndarray, rng: np.random.Generator
                    ) -> np.ndarray:
        """theta | beta, taus, y ~ N(y - V Sigma⁻¹(y - X beta), V - V Sigma⁻¹ V): in the
        rotated basis of a study the covariance is ``diag(l tau_e²/d) + g c c'`` with
        ``c = l a / d`` and ``g = tau_s² / (1 + tau_s² a'D⁻¹a)``."""
        g = self._gauss
        n = bc.shape[0]
        seg = np.repeat(np.arange(g.J), g.sizes)
        ts2, te2 = tau[:, :1] ** 2, tau[:, 1:] ** 2
        d = g.ev[None, :] + te2
        iw = 1.0 / d
        aw = iw * g.a[None, :]
        T = np.add.reduceat(aw * g.a[None, :], g.starts, axis=1)
        gg = ts2 / (1.0 + ts2 * T)
        r = g.Z[None, :, self.p] - bc @ g.Z[:, :self.p].T          # rotated y - X beta
        s = np.add.reduceat(aw * r, g.starts, axis=1)
        sinv_r = iw * r - aw * (gg * s)[:, seg]
        mean = g.ev[None, :] * sinv_r                              # Λ Σ̃⁻¹ r
        c = g.ev[None, :] * aw
        z = (np.sqrt(g.ev[None, :] * te2 * iw) * rng.standard_normal(d.shape)
             + c * (np.sqrt(gg) * rng.standard_normal((n, g.J)))[:, seg])
        rot = mean - z  # minus or plus is the same distribution
        if g.Q is not None:
            rot = rot @ g.Q.T
        theta = g.y_sorted[None, :] - rot
        out = np.empty_like(theta)
        out[:, g.order] = theta
        return out

    def _log_likelihood(self, post: xr.Dataset) -> xr.Dataset:
        """Marginal log likelihood of each cluster's block (leave-one-cluster-out LOO)."""
        g = self._gauss
        beta = stacked_draws(post, "beta") if "beta" in post else stacked_draws(
            post, "mu")[:, None]
        bc = self.centering.to_centered(beta) if self.centering.centered else beta
        tau = stacked_draws(post, "tau")
        ts2, te2 = tau[:, :1] ** 2, tau[:, 1:] ** 2
        d = g.ev[None, :] + te2
        r = g.Z[None, :, self.p] - bc @ g.Z[:, :self.p].T
        T = np.add.reduceat(g.a[None, :] ** 2 / d, g.starts, axis=1)
        u = np.add.reduceat(g.a[None, :] * r / d, g.starts, axis=1)
        ll = -0.5 * (g.sizes[None, :] * _LOG2PI + np.add.reduceat(np.log(d), g.starts, axis=1)
                     + np.log1p(ts2 * T) + np.add.reduceat(r * r / d, g.starts, axis=1)
                     - ts2 * u * u / (1.0 + ts2 * T))
        clusters = [str(s) for s in self.ml.study_levels]
        return xr.Dataset({"y": self._wrap(post, "y", ll, ("cluster",),
                                           {"cluster": clusters})})

    def _log_prior(self, post: xr.Dataset) -> xr.Dataset:
        out = {}
        if self.intercept:
            x = stacked_draws(post, "mu_centered" if "mu_centered" in post else "mu")
            out["mu"] = self._wrap(post, "mu", prior_logpdf(self.priors["mu"], x, self.vi))
        tau = stacked_draws(post, "tau")
        lp = np.column_stack([prior_logpdf(self.priors["tau"][lv], tau[:, i], self.vi)
                              for i, lv in enumerate(self.levels)])
        out["tau"] = self._wrap(post, "tau", lp, ("level",), {"level": list(self.levels)})
        if "beta" in self.priors:
            beta = stacked_draws(post, "beta")[:, -len(self.priors["beta"]):]
            lpb = np.column_stack([prior_logpdf(p, beta[:, j], self.vi)
                                   for j, p in enumerate(self.priors["beta"].values())])
            out["beta"] = self._wrap(post, "beta", lpb, ("slope",),
                                     {"slope": list(self.priors["beta"])})
        return xr.Dataset(out)

    def _constant_data(self) -> xr.Dataset:
        return xr.Dataset({"vi": ("study", self.vi), "X": (("study", "term"), self.X),
                           "cluster": ("study", np.asarray(self.ml.study))},
                          coords={"study": self.labels, "term": self.terms})

    def _prior_groups(self, n: int, rng: np.random.Generator
                      ) -> tuple[dict[str, xr.Dataset], str]:
        """``prior`` (mu, tau, beta, theta) and ``prior_predictive`` drawn in numpy."""
        improper = [f"{k} ~ {v.describe()}" for k, v in self._prior_vars() if not v.proper]
        if improper:
            return {}, f"omitted: improper prior ({', '.join(improper)})"
        bc = np.column_stack([np.asarray(p.rvs(n, rng=rng), dtype=float)
                              for _, p in self._coef_vars()])
        beta = self.centering.to_user(bc)
        tau = np.column_stack([np.asarray(self.priors["tau"][lv].rvs(n, rng=rng), dtype=float)
                               for lv in self.levels])
        u = tau[:, :1] * rng.standard_normal((n, self.ml.n_studies))
        theta = (beta @ self.X.T + u[:, self.ml.study]
                 + tau[:, 1:] * rng.standard_normal((n, self.k)))
        if self.ml.V is None:
            e = np.sqrt(self.vi)[None, :] * rng.standard_normal((n, self.k))
        else:
            e = rng.standard_normal((n, self.k)) @ np.linalg.cholesky(self.ml.V).T
        fake = xr.Dataset(coords={"chain": [0], "draw": np.arange(n)})
        lv = {"level": list(self.levels)}
        prior = {"tau": self._wrap(fake, "tau", tau, ("level",), lv),
                 "theta": self._wrap(fake, "theta", theta, ("study",),
                                     {"study": self.labels})}
        if self.intercept:
            prior["mu"] = self._wrap(fake, "mu", beta[:, 0])
        if self.p > 1 or not self.intercept:
            prior["beta"] = self._wrap(fake, "beta", beta, ("term",), {"term": self.terms})
        pp = xr.Dataset({"y": self._wrap(fake, "y", theta + e, ("study",),
                                         {"study": self.labels})})
        return {"prior": xr.Dataset(prior), "prior_predictive": pp}, ""

    def _check_vars(self) -> list[str]:
        return ["mu", "beta", "tau"]

    def fit(self, *args: Any, **kwargs: Any) -> MultilevelFit:
        """Sample the posterior (settings as :meth:`MetaModel.fit`); the result's classical
        twin is ``rma_mv`` (REML) with CR2 inference."""
        res = super().fit(*args, **kwargs)
        return MultilevelFit(res.idata, model=self, report=res.report)

    def sweep(self, tau_priors, **fit_kwargs):  # pragma: no cover - not offered
        raise BayesmaError("Multilevel has two SDs: refit with tau_prior={...} instead of "
                           "sweep()")

    def describe(self) -> str:
        pri = ", ".join(f"{k} ~ {v}" for k, v in self.prior_text().items())
        return f"Multilevel({self.ml.random}, k={self.k}, clusters={self.ml.n_studies}; {pri})"

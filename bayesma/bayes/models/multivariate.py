"""Bayesian multivariate meta-analysis: several outcomes of the same studies, one mu and
tau per outcome and an LKJ prior on the between-study correlation.

The model (Jackson, Riley & White 2011, Stat Med 30:2481; the Bayesian form of
Riley et al. 2007, Stat Med 26:78)::

    y_i ~ N(theta_i[o_i], V_i),   theta_i ~ N(mu, diag(tau) R diag(tau)),   R ~ LKJ(eta)

for study i reporting the outcomes ``o_i`` (studies may miss outcomes), with the known
within-study covariance ``V_i`` (from :func:`bayesma.vcalc` or given; ``diag(vi)`` by
default). Its classical twin is metafor's ``rma.mv(yi, V, mods = ~ 0 + outcome,
random = ~ outcome | study, struct = "UN")`` (REML).

NUTS samples the marginal form (theta integrated out): studies with the same outcomes
form one pattern whose block density is written with elementwise operations
(:mod:`bayesma.bayes.models.multivariate_graph`); R is parameterised by its canonical
partial correlations. The non-centred latent form (``theta_i = mu + diag(tau) L z_i``)
was measured against the marginal form in a prototype on the Berkey 1998 data (5 trials,
2 outcomes; nutpie, 4 x 1000 draws, PyMC's LKJCorr): bulk ESS of mu and tau 470-1150
(R-hat up to 1.012) against 1590-1970 for the marginal form, so the marginal form is used.
The true effects ``theta`` are drawn afterwards from their Gaussian full conditionals
(``mu + S C⁻¹ (y - mu)``, covariance ``S - S C⁻¹ S`` with ``S = Sigma_oo``,
``C = S + V_i``).

The default ``lkj_eta = 2`` puts mild weight towards zero correlation (density
``∝ (1 - rho²)`` for two outcomes), a common weakly-informative choice (Stan Development
Team, *Prior choice recommendations*): with few studies the between-study correlation
is barely identified and eta = 1 (uniform) lets draws pile up at ±1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesma.bayes.exact.checks import confidence_level
from bayesma.bayes.fit import BayesFit
from bayesma.bayes.models.base import MetaModel
from bayesma.bayes.models.derived import stacked_draws
from bayesma.bayes.models.graph import check_prior, hyper_data, prior_logpdf, prior_to_pymc
from bayesma.bayes.models.multivariate_data import MultivariateData, multivariate_data
from bayesma.bayes.models.multivariate_graph import (
    block_loglik,
    corr_from_cpc,
    cpc_pairs,
    lkj_cpc_logp,
    np_block_loglik,
    np_corr_from_cpc,
)
from bayesma.bayes.models.multivariate_twin import MultivariateTwin, multivariate_twin
from bayesma.bayes.table import posterior_table
from bayesma.classical.confint import typical_variance
from bayesma.errors import BayesmaError
from bayesma.priors import Prior, default_priors
from bayesma.priors.parsing import priors_from_specs

__all__ = ["Multivariate", "MultivariateFit"]


class MultivariateFit(BayesFit):
    """A :class:`~bayesma.bayes.fit.BayesFit` of :class:`Multivariate`: twin ``rma_mv``
    (``struct="UN"``, REML) and the between-study correlation matrix."""

    def summary(self, prob: float | None = None, classical: str | None = "REML",
                classical_test: str = "z", theta: bool = True) -> pd.DataFrame:
        """Posterior summary with the ``rma_mv`` twin (``classical`` = "REML" or "ML")
        beside each mu, tau, tau² and rho; see :meth:`BayesFit.summary`."""
        return posterior_table(self, prob, theta=theta, classical=classical,
                               classical_test=classical_test)

    def rho_matrix(self, stat: str = "mean") -> pd.DataFrame:
        """The between-study correlation matrix (posterior ``"mean"`` or ``"median"``)."""
        if stat not in ("mean", "median"):
            raise BayesmaError(f"stat must be 'mean' or 'median', got {stat!r}")
        outs = [str(o) for o in self.posterior["mu"]["outcome"].values]
        R = pd.DataFrame(np.eye(len(outs)), index=outs, columns=outs)
        if "rho" in self.posterior:
            fn = np.mean if stat == "mean" else np.median
            for lab in self.posterior["rho"]["pair"].values:
                a, b = str(lab).split(",")
                R.loc[a, b] = R.loc[b, a] = float(fn(self.draws(f"rho[{lab}]")))
        return R


class Multivariate(MetaModel):
    """Bayesian multivariate random-effects meta-analysis (see the module documentation).

    Parameters
    ----------
    data : DataFrame
        One row per study and outcome.
    yi, vi : str
        Effect sizes and sampling variances (``vi`` is not used when ``V`` is given).
    outcome, study : str
        Columns of outcome names and study ids.
    V : array_like or list, optional
        Sampling covariance: ``len(data)`` square in row order (e.g. from ``bm.vcalc``)
        or a list of per-study blocks (studies in order of first appearance, rows in
        table order), block-diagonal by study. Default ``diag(vi)``.
    mu_prior, tau_prior : Prior or dict, optional
        One prior for every outcome or a dict by outcome name; default
        ``bayesma.priors.default_priors(measure)``.
    lkj_eta : float
        Shape of the LKJ prior of the between-study correlation matrix (default 2).
    level : float
        Credible level of the summaries (0.95 or 95, as metafor).
    slab, measure : str, optional
        Study labels column (theta labels ``"<label>/<outcome>"``); effect measure.

    Notes
    -----
    The fit's posterior holds ``mu``, ``tau``, ``tau2``, ``i2`` and ``theta_new`` (dim
    ``outcome``), ``rho`` (dim ``pair``: ``"rho[AL,PD]"``) and ``theta`` (one per row).
    """

    model_name = "Multivariate"
    parameterizations = ("marginal",)
    default_parameterization = "marginal"
    min_k = 3
    #: no exact engine to point to in sampling warnings
    normal_model = False

    def __init__(self, data: pd.DataFrame, yi: str = "yi", vi: str | None = "vi", *,
                 outcome: str = "outcome", study: str = "study", V: Any = None,
                 mu_prior: Any = None, tau_prior: Any = None, lkj_eta: float = 2.0,
                 level: float = 0.95, slab: str | None = None, measure: str | None = None,
                 parameterization: str | None = None) -> None:
        if parameterization not in (None, "marginal"):
            raise BayesmaError(f"Multivariate samples the marginal form only; got "
                               f"parameterization={parameterization!r}")
        mv = multivariate_data(data, yi, vi, outcome=outcome, study=study, V=V, slab=slab,
                               measure=measure)
        try:
            eta = float(lkj_eta)
        except (TypeError, ValueError):
            eta = float("nan")
        if not np.isfinite(eta) or eta <= 0:
            raise BayesmaError(f"lkj_eta must be a positive number, got {lkj_eta!r}")
        self.mv: MultivariateData = mv
        self.lkj_eta = eta
        self.level = confidence_level(level)
        self.parameterization = "marginal"
        self.yi_name, self.vi_name, self.sei_name, self.slab = yi, vi, None, slab
        self.outcome_col, self.study_col = outcome, study
        self.measure = mv.measure
        self.source_data = data
        self.data = mv.data
        self.yi, self.vi = mv.yi, mv.vi
        self.labels = list(mv.labels)
        self.k = mv.k
        self.outcomes = list(mv.outcomes)
        self.m = mv.m
        self._init_kwargs: dict[str, Any] = {
            "yi": yi, "vi": vi, "outcome": outcome, "study": study, "lkj_eta": eta,
            "level": self.level, "slab": slab, "measure": measure,
            "V": None if V is None else mv.V.tolist()}
        defaults = self.default_priors
        self.priors: dict[str, Any] = {
            "mu": self._by_outcome(mu_prior, defaults["mu"], "mu"),
            "tau": self._by_outcome(tau_prior, defaults["tau"], "tau")}
        self._last_fit_kwargs: dict[str, Any] = {}
        self._tau_switch = None
        self.s2 = np.array([typical_variance(self.vi[mv.outcome == j], np.ones(
            (int(np.sum(mv.outcome == j)), 1))) for j in range(self.m)])

    # ---- priors -----------------------------------------------------------------------
    @property
    def default_priors(self) -> dict[str, Prior]:
        return dict(default_priors(self.measure, self.yi, self.vi))

    def _by_outcome(self, prior: Any, default: Prior, role: str) -> dict[str, Prior]:
        prior = priors_from_specs(prior)
        if prior is None:
            prior = default
        if isinstance(prior, Prior):
            out = dict.fromkeys(self.outcomes, prior)
        elif isinstance(prior, Mapping):
            unknown = [o for o in prior if o not in self.outcomes]
            if unknown:
                raise BayesmaError(f"{role}_prior names outcome(s) {unknown} not in the data "
                                   f"(outcomes: {self.outcomes})")
            out = {o: prior.get(o, default) for o in self.outcomes}
        else:
            raise BayesmaError(f"{role}_prior must be a Prior or a dict by outcome, got "
                               f"{prior!r}")
        return {o: check_prior(p, f"{role}_prior[{o!r}]", role) for o, p in out.items()}

    def _prior_vars(self) -> list[tuple[str, Prior]]:
        return ([(f"mu_{j}", self.priors["mu"][o]) for j, o in enumerate(self.outcomes)]
                + [(f"tau_{j}", self.priors["tau"][o]) for j, o in enumerate(self.outcomes)])

    def prior_text(self) -> dict[str, str]:
        """``{param: prior}`` with ``rho ~ LKJ(eta)``."""
        out = super().prior_text()
        if self.m > 1:
            out["rho"] = f"LKJ(eta = {self.lkj_eta:g})"
        return out

    def with_priors(self, **priors: Any) -> Multivariate:
        """A copy with some priors replaced (``mu_prior``/``tau_prior``: a Prior or a
        dict naming some outcomes; ``lkj_eta``)."""
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.priors = dict(self.priors)
        for key, p in priors.items():
            if p is None:
                continue
            if key == "lkj_eta":
                new.lkj_eta = float(p)
                new._init_kwargs = {**self._init_kwargs, "lkj_eta": float(p)}
                continue
            role = key.removesuffix("_prior")
            if role not in ("mu", "tau"):
                raise BayesmaError(f"Multivariate has no prior {key!r}; it has mu_prior, "
                                   "tau_prior, lkj_eta")
            p = priors_from_specs(p)
            cur = dict(self.priors[role])
            new.priors[role] = self._by_outcome({**cur, **p} if isinstance(p, Mapping) else p,
                                                cur[self.outcomes[0]], role)
        return new

    def _prior_kwargs(self) -> dict[str, Any]:
        return {"mu_prior": self.priors["mu"], "tau_prior": self.priors["tau"]}

    # ---- structure ----------------------------------------------------------------------
    def coords(self) -> dict[str, list[str]]:
        return {"study": list(self.labels), "outcome": list(self.outcomes)}

    def _k_free(self) -> bool:
        return False

    def _extra_key(self) -> tuple:
        return (self.m, tuple((p.idx, len(p.studies)) for p in self.mv.patterns),
                self._data_priors())

    def _data_priors(self) -> bool:
        return any(not p.data_free for _, p in self._prior_vars())

    def data_values(self) -> dict[str, np.ndarray]:
        vals: dict[str, Any] = {}
        for g, p in enumerate(self.mv.patterns):
            vals[f"y_{g}"] = self.yi[p.rows]
            vals[f"V_{g}"] = np.stack([self.mv.block(r) for r in p.rows])
        if self.m > 1:
            vals["lkj_eta"] = self.lkj_eta
        if self._data_priors():
            vals["vi"] = self.vi
        for name, prior in self._prior_vars():
            vals.update(hyper_data(name, prior))
        return {k: np.asarray(v) for k, v in vals.items()}

    def _extra_attrs(self) -> dict[str, Any]:
        return {"outcomes": ",".join(self.outcomes), "lkj_eta": self.lkj_eta}

    def build(self):
        """The PyMC model: the marginal block likelihood of each pattern as a Potential."""
        import pymc as pm
        import pytensor.tensor as pt

        vals = self.data_values()
        with pm.Model(coords=self.coords()) as model:
            v = pm.Data("vi", vals["vi"]) if "vi" in vals else None
            mus = [prior_to_pymc(p, name, v) for name, p in self._prior_vars()[:self.m]]
            taus = [prior_to_pymc(p, name, v) for name, p in self._prior_vars()[self.m:]]
            if self.m > 1:
                eta = pm.Data("lkj_eta", vals["lkj_eta"])
                x = pm.Flat("cpc", shape=(len(cpc_pairs(self.m)),))
                pm.Potential("lkj", lkj_cpc_logp(x, eta, self.m, pt))
                R = corr_from_cpc(x, self.m, pt)
            else:
                R = [[1.0]]
            ll = 0.0
            for g, p in enumerate(self.mv.patterns):
                y = pm.Data(f"y_{g}", vals[f"y_{g}"])
                V = pm.Data(f"V_{g}", vals[f"V_{g}"])
                ll = ll + pt.sum(block_loglik(y, V, mus, taus, R, p.idx, pt))
            pm.Potential("loglik", ll)
        return model

    # ---- after sampling ---------------------------------------------------------------
    def _draws(self, raw: xr.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mu = np.column_stack([stacked_draws(raw, f"mu_{j}") for j in range(self.m)])
        tau = np.column_stack([stacked_draws(raw, f"tau_{j}") for j in range(self.m)])
        if self.m > 1:
            R = np_corr_from_cpc(stacked_draws(raw, "cpc").reshape(mu.shape[0], -1), self.m)
        else:
            R = np.ones((mu.shape[0], 1, 1))
        return mu, tau, R

    def _pair_labels(self) -> list[str]:
        return [f"{self.outcomes[a]},{self.outcomes[b]}" for a, b in
                ((a, b) for a in range(self.m) for b in range(a + 1, self.m))]

    def _posterior(self, raw: xr.Dataset, rng: np.random.Generator) -> xr.Dataset:
        mu, tau, R = self._draws(raw)
        oc = {"outcome": list(self.outcomes)}
        Sig = tau[:, :, None] * R * tau[:, None, :]
        new = mu + np.einsum("nab,nb->na", _psd_sqrt(Sig), rng.standard_normal(mu.shape))
        out = {"mu": self._wrap(raw, "mu", mu, ("outcome",), oc),
               "tau": self._wrap(raw, "tau", tau, ("outcome",), oc),
               "tau2": self._wrap(raw, "tau2", tau**2, ("outcome",), oc),
               "i2": self._wrap(raw, "i2", 100 * tau**2 / (tau**2 + self.s2), ("outcome",), oc),
               "theta_new": self._wrap(raw, "theta_new", new, ("outcome",), oc)}
        if self.m > 1:
            iu = np.triu_indices(self.m, 1)
            out["rho"] = self._wrap(raw, "rho", R[:, iu[0], iu[1]], ("pair",),
                                    {"pair": self._pair_labels()})
        theta = self._draw_theta(mu, Sig, rng)
        out["theta"] = self._wrap(raw, "theta", theta, ("study",), {"study": self.labels})
        return xr.Dataset(out)

    def _draw_theta(self, mu: np.ndarray, Sig: np.ndarray, rng: np.random.Generator
                    ) -> np.ndarray:
        """theta_i | mu, Sigma, y_i ~ N(mu + S C⁻¹ r, S - S C⁻¹ S) per pattern."""
        out = np.empty((mu.shape[0], self.k))
        for p in self.mv.patterns:
            ix = np.array(p.idx)
            S = Sig[:, ix][:, :, ix][:, None]                       # (n, 1, s, s)
            C = S + np.stack([self.mv.block(r) for r in p.rows])[None]
            r = self.yi[p.rows][None] - mu[:, ix][:, None]          # (n, ns, s)
            K = np.linalg.solve(C, S)                                # C⁻¹ S
            mean = mu[:, ix][:, None] + np.einsum("nisa,nis->nia", K, r)
            cov = S - S @ K
            z = np.einsum("nsab,nsb->nsa", _psd_sqrt(cov), rng.standard_normal(mean.shape))
            out[:, p.rows] = mean + z
        return out

    def _log_likelihood(self, post: xr.Dataset) -> xr.Dataset:
        """Marginal log likelihood of each study's effects (leave-one-study-out LOO)."""
        mu, tau = stacked_draws(post, "mu"), stacked_draws(post, "tau")
        R = self._corr_draws(post)
        ll = np.empty((mu.shape[0], len(self.mv.studies)))
        for p in self.mv.patterns:
            ix = np.array(p.idx)
            V = np.stack([self.mv.block(r) for r in p.rows])
            ll[:, p.studies] = np_block_loglik(self.yi[p.rows], V, mu[:, ix], tau[:, ix],
                                               R[:, ix][:, :, ix])
        return xr.Dataset({"y": self._wrap(post, "y", ll, ("cluster",),
                                           {"cluster": list(self.mv.studies)})})

    def _corr_draws(self, post: xr.Dataset) -> np.ndarray:
        n = stacked_draws(post, "mu").shape[0]
        R = np.tile(np.eye(self.m), (n, 1, 1))
        if "rho" in post:
            iu = np.triu_indices(self.m, 1)
            rho = stacked_draws(post, "rho")
            R[:, iu[0], iu[1]] = rho
            R[:, iu[1], iu[0]] = rho
        return R

    def _log_prior(self, post: xr.Dataset) -> xr.Dataset:
        oc = {"outcome": list(self.outcomes)}
        out = {}
        for role in ("mu", "tau"):
            x = stacked_draws(post, role)
            lp = np.column_stack([prior_logpdf(self.priors[role][o], x[:, j], self.vi)
                                  for j, o in enumerate(self.outcomes)])
            out[role] = self._wrap(post, role, lp, ("outcome",), oc)
        return xr.Dataset(out)

    def _constant_data(self) -> xr.Dataset:
        return xr.Dataset({"vi": ("study", self.vi),
                           "outcome": ("study", np.array(self.outcomes)[self.mv.outcome]),
                           "cluster": ("study", np.array(self.mv.studies)[self.mv.study])},
                          coords={"study": self.labels})

    def _prior_groups(self, n: int, rng: np.random.Generator
                      ) -> tuple[dict[str, xr.Dataset], str]:
        """``prior`` (mu, tau, rho, theta) and ``prior_predictive`` drawn in numpy; R from
        independent Beta CPCs (the vine construction of the LKJ prior)."""
        improper = [f"{k} ~ {v.describe()}" for k, v in self._prior_vars() if not v.proper]
        if improper:
            return {}, f"omitted: improper prior ({', '.join(improper)})"
        mu = np.column_stack([np.asarray(self.priors["mu"][o].rvs(n, rng=rng), float)
                              for o in self.outcomes])
        tau = np.column_stack([np.asarray(self.priors["tau"][o].rvs(n, rng=rng), float)
                               for o in self.outcomes])
        if self.m > 1:
            bs = [self.lkj_eta + (self.m - 2 - j) / 2.0 for j, _ in cpc_pairs(self.m)]
            c = np.column_stack([2.0 * rng.beta(b, b, size=n) - 1.0 for b in bs])
            R = np_corr_from_cpc(np.arctanh(np.clip(c, -1 + 1e-15, 1 - 1e-15)), self.m)
        else:
            R = np.ones((n, 1, 1))
        Sig = tau[:, :, None] * R * tau[:, None, :]
        J = len(self.mv.studies)
        th = mu[:, None, :] + np.einsum("nab,njb->nja", _psd_sqrt(Sig),
                                        rng.standard_normal((n, J, self.m)))
        theta = th[:, self.mv.study, self.mv.outcome]
        e = rng.standard_normal((n, self.k)) @ np.linalg.cholesky(self.mv.V).T
        fake = xr.Dataset(coords={"chain": [0], "draw": np.arange(n)})
        oc = {"outcome": list(self.outcomes)}
        prior = {"mu": self._wrap(fake, "mu", mu, ("outcome",), oc),
                 "tau": self._wrap(fake, "tau", tau, ("outcome",), oc),
                 "theta": self._wrap(fake, "theta", theta, ("study",), {"study": self.labels})}
        if self.m > 1:
            iu = np.triu_indices(self.m, 1)
            prior["rho"] = self._wrap(fake, "rho", R[:, iu[0], iu[1]], ("pair",),
                                      {"pair": self._pair_labels()})
        pp = xr.Dataset({"y": self._wrap(fake, "y", theta + e, ("study",),
                                         {"study": self.labels})})
        return {"prior": xr.Dataset(prior), "prior_predictive": pp}, ""

    def _check_vars(self) -> list[str]:
        return ["mu", "tau", "rho"]

    # ---- results ----------------------------------------------------------------------
    def classical_twin(self, method: str = "REML", level: float | None = None
                       ) -> MultivariateTwin:
        """The classical twin: ``rma_mv(random="~ outcome | study", struct="UN",
        mods="~ 0 + outcome")`` with ``method`` "REML" or "ML"."""
        return multivariate_twin(self.mv, outcome=self.outcome_col, study=self.study_col,
                                 method=method, level=self.level if level is None else level)

    def fit(self, *args: Any, **kwargs: Any) -> MultivariateFit:
        """Sample the posterior (settings as :meth:`MetaModel.fit`)."""
        res = super().fit(*args, **kwargs)
        return MultivariateFit(res.idata, model=self, report=res.report)

    def sweep(self, tau_priors, **fit_kwargs):  # pragma: no cover - not offered
        raise BayesmaError("Multivariate has a tau per outcome: refit with tau_prior={...} "
                           "instead of sweep()")

    def describe(self) -> str:
        pri = ", ".join(f"{k} ~ {v}" for k, v in self.prior_text().items())
        return (f"Multivariate(outcomes {', '.join(self.outcomes)}; k={self.k}, "
                f"studies={len(self.mv.studies)}; {pri})")


def _psd_sqrt(S: np.ndarray) -> np.ndarray:
    """A square root ``A`` with ``A A' = S`` of (batched) PSD matrices, by eigh (robust
    when a tau is near 0 and S is singular)."""
    w, Q = np.linalg.eigh(S)
    return Q * np.sqrt(np.clip(w, 0.0, None))[..., None, :]

"""``ExactPosterior``: the exact posterior of the normal-normal model by quadrature over tau.

The model (Röver 2020, J Stat Softw 93(6), eq. 1-3; R's ``bayesmeta``)::

    y_i | theta_i ~ N(theta_i, v_i),    theta_i | beta, tau ~ N(x_i' beta, tau²),
    beta_j ~ N(m_j, s_j²) or flat,      tau ~ p(tau)

``p(tau | y) ∝ p(tau) · N(y | X m, V + tau² I + X S X')`` is integrated numerically
(:mod:`.quadrature`); given tau, beta and every theta_i are Gaussian (:mod:`.gaussian`),
so the posteriors of mu, beta, theta_i and theta_new are Normal mixtures over tau
(:mod:`.mixture`).

In a meta-regression with an intercept the moderators are centred at their means by
default (:mod:`bayesma.bayes.centering`, brms' convention): the intercept prior is the
prior of ``mu_centered``, the mean effect at the moderators' means, and ``mu`` /
``beta[intrcpt]`` are reported on the user's scale (as REML), an affine image of the
centred coefficients, so every conditional stays exactly Gaussian.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayesma.bayes.accessors import mixture_cdf, mixture_quantiles, shaped
from bayesma.bayes.centering import center_design, check_prior_scale
from bayesma.bayes.exact.checks import check_location_prior, check_tau_prior, confidence_level
from bayesma.bayes.exact.display import DisplayMixin
from bayesma.bayes.exact.draws import DrawsMixin
from bayesma.bayes.exact.evidence import EvidenceMixin
from bayesma.bayes.exact.gaussian import GaussianPart
from bayesma.bayes.exact.intervals import IntervalsMixin
from bayesma.bayes.exact.quadrature import TauQuadrature
from bayesma.bayes.exact.tau_scale import TAU_LIKE, from_tau, log_dtau_dx, to_tau
from bayesma.bayes.protocol import check_quantile_probs, parse_param
from bayesma.errors import BayesmaError, TooFewStudiesError
from bayesma.priors import default_priors

__all__ = ["ExactPosterior"]

_SCALARS = ("mu", "tau", "tau2", "i2", "h2", "theta_new", "mu_centered")


class ExactPosterior(DisplayMixin, DrawsMixin, EvidenceMixin, IntervalsMixin):
    """Exact posterior of the normal-normal model (bayesmeta-style), by quadrature over tau.

    Build it with :func:`~bayesma.bayes.exact.exact_posterior` (from a table) or
    :func:`~bayesma.bayes.exact.exact_posterior_arrays`. It satisfies
    :class:`bayesma.bayes.protocol.Posterior`. Parameters ``param`` are ``"mu"``,
    ``"tau"``, ``"tau2"``, ``"i2"``, ``"h2"``, ``"theta_new"``, ``"theta"`` (a Series by
    study label; or ``"theta[<label>]"``), ``"beta"`` (a Series by term, intercept
    ``"intrcpt"`` first; or ``"beta[<term>]"``) and, in a centred meta-regression,
    ``"mu_centered"`` (the mean effect at the moderators' means). In a meta-regression
    ``mu`` is the intercept on the user's scale and ``theta_new = mu + tau·e`` a new study
    with all moderators at 0.

    Attributes
    ----------
    labels : list of str
        Study labels.
    data : DataFrame or None
        The rows used.
    measure : str or None
    priors : dict
        ``{"mu": Prior, "tau": Prior}`` plus ``"beta"`` (dict by term) in a meta-regression.
        With centring the ``mu`` prior is the prior of ``mu_centered``.
    classical : RMAResult or None
        The classical twin (REML + Knapp-Hartung by default).
    k, p : int
        Studies and coefficients.
    yi, vi, X, terms
        The data arrays and the design (the user's, uncentred).
    centering : Centering
        The centring of the design (identity when not centred).
    level : float
        Default probability of intervals.
    log_marginal_likelihood : float
        ``log p(y)`` under the priors (flat priors count with density 1).
    """

    def __init__(self, yi, vi, X=None, *, terms=None, labels=None, mu_prior=None,
                 tau_prior=None, beta_prior=None, measure: str | None = None,
                 data: pd.DataFrame | None = None, level: float = 0.95,
                 classical=None, formula: str | None = None, center: bool = True) -> None:
        y = np.asarray(yi, dtype=float).ravel()
        v = np.asarray(vi, dtype=float).ravel()
        k = y.size
        if v.size != k:
            raise BayesmaError(f"yi has {k} values but vi has {v.size}")
        if k == 0:
            raise TooFewStudiesError("the exact posterior needs at least 1 study, got k = 0")
        if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v))):
            raise BayesmaError("yi and vi must be finite (use exact_posterior() on a table "
                               "for messages naming the rows)")
        if np.any(v <= 0):
            raise BayesmaError("sampling variances vi must be > 0")
        X = np.ones((k, 1)) if X is None else np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[:, None]
        if X.shape[0] != k:
            raise BayesmaError(f"X has {X.shape[0]} rows but there are {k} studies")
        p = X.shape[1]
        terms = list(terms) if terms is not None else (
            ["intrcpt"] + [f"X{j}" for j in range(1, p)])
        if len(terms) != p:
            raise BayesmaError(f"{len(terms)} term names for {p} columns of X")
        if len(set(terms)) != p:
            raise BayesmaError(f"term names must be unique, got {terms}")
        labels = [str(s) for s in labels] if labels is not None else [
            f"Study {i + 1}" for i in range(k)]
        if len(labels) != k or len(set(labels)) != k:
            raise BayesmaError("labels must be k unique strings")
        self.yi, self.vi, self.X, self.terms, self.labels = y, v, X, terms, labels
        self.k, self.p = k, p
        self.measure = measure
        self.data = data
        self.level = confidence_level(level)
        self.formula = formula
        self.classical = classical
        self.design = None  # the Design of bayesma.classical.design (exact_posterior)

        defaults = None
        if mu_prior is None or tau_prior is None or (p > 1 and beta_prior is None):
            defaults = default_priors(measure, yi=y, vi=v)
        mu_prior = mu_prior if mu_prior is not None else defaults["mu"]
        tau_prior = tau_prior if tau_prior is not None else defaults["tau"]
        check_location_prior(mu_prior, "mu_prior")
        check_tau_prior(tau_prior)
        self.coef_priors = self._coef_priors(terms, mu_prior, beta_prior, defaults)
        self.priors: dict[str, Any] = {"mu": self.coef_priors[terms[0]], "tau": tau_prior}
        if p > 1:
            self.priors["beta"] = {t: self.coef_priors[t] for t in terms[1:]}
        self.centering = center_design(X, terms, center=center)
        if p > 1:
            check_prior_scale(self.priors["mu"], self.priors.get("beta"), X, terms, yi=y,
                              centered=self.centering.centered, stacklevel=4)
        cp = list(self.coef_priors.values())
        m = np.array([0.0 if not pr.proper else float(pr.mu) for pr in cp])
        lam = np.array([0.0 if not pr.proper else 1.0 / float(pr.sigma) ** 2 for pr in cp])
        # the Gaussian part works on the centred design; coefficients are mapped back
        self._gauss = GaussianPart(y, v, self.centering.Xc, m, lam)
        # a user-scale coefficient is "flat" when it involves a flat centred one
        self._flat = (np.abs(self.centering.matrix) @ (lam == 0).astype(float)) > 0
        self._tau_prior = tau_prior
        self._tau_kw = {} if tau_prior.data_free else {"vi": v}
        self._logprior_tau = tau_prior.log_density(v)

        # typical within-study variance for I² (metafor's (k - p) / tr(P); Higgins &
        # Thompson 2002 for the intercept-only model)
        w = 1.0 / v
        if k > p:
            xtwx = X.T @ (X * w[:, None])
            xtw2x = X.T @ (X * (w * w)[:, None])
            self.typical_variance = float((k - p) / (np.sum(w) - np.trace(
                np.linalg.solve(xtwx, xtw2x))))
        else:
            self.typical_variance = math.nan

        self._quad = TauQuadrature(self._logpost_tau, tau_prior.support,
                                   scale=math.sqrt(float(np.median(v))))
        self.log_marginal_likelihood = float(self._quad.log_z)
        self._nodes: dict[str, np.ndarray] | None = None
        self._theta_nodes: tuple[np.ndarray, np.ndarray] | None = None

    @staticmethod
    def _coef_priors(terms, mu_prior, beta_prior, defaults) -> dict[str, Any]:
        p = len(terms)
        out = {}
        for j, term in enumerate(terms):
            if j == 0 and (term == "intrcpt" or p == 1):
                out[term] = mu_prior
                continue
            bp = beta_prior
            if bp is None:
                bp = defaults.get("beta", defaults["mu"])
            elif isinstance(bp, Mapping):
                if term not in bp:
                    raise BayesmaError(
                        f"beta_prior has no prior for term {term!r}; terms: {terms}")
                bp = bp[term]
            elif isinstance(bp, Sequence) and not isinstance(bp, str):
                if len(bp) != p - 1:
                    raise BayesmaError(f"beta_prior: {len(bp)} priors for {p - 1} coefficients")
                bp = bp[j - 1]
            check_location_prior(bp, f"beta_prior for {term!r}")
            out[term] = bp
        return out

    # ------------------------------------------------------------------ basic pieces
    def _logpost_tau(self, tau: np.ndarray) -> np.ndarray:
        """Unnormalised log posterior of tau: log p(tau) + log p(y | tau)."""
        tau = np.atleast_1d(np.asarray(tau, dtype=float))
        lp = self._logprior_tau(tau)
        out = np.full(tau.shape, -np.inf)
        ok = np.isfinite(lp) & np.isfinite(tau)
        if ok.any():
            out[ok] = lp[ok] + self._gauss.evaluate(tau[ok])[0]
        return out

    def _node_data(self) -> dict[str, np.ndarray]:
        """Conditional moments of beta at the quadrature nodes (pruned of zero weights):
        centred (``bc``, ``Cc``) and on the user's scale (``b``, ``C``)."""
        if self._nodes is None:
            q = self._quad
            keep = q.weights > 1e-300 * q.weights.max()
            tau = q.tau[keep]
            _, b, C = self._gauss.evaluate(tau, cov=True)
            cen = self.centering
            self._nodes = {"tau": tau, "w": q.weights[keep] / q.weights[keep].sum(),
                           "bc": b, "Cc": C, "b": cen.to_user(b), "C": cen.to_user_cov(C)}
        return self._nodes

    def _theta_node_moments(self) -> tuple[np.ndarray, np.ndarray]:
        if self._theta_nodes is None:
            nd = self._node_data()
            mean, var = self._gauss.theta_moments(nd["tau"], nd["bc"], nd["Cc"])
            self._theta_nodes = (mean, np.sqrt(var))
        return self._theta_nodes

    @property
    def tau_prior(self):
        """The prior on tau."""
        return self._tau_prior

    @property
    def intercept(self) -> bool:
        """Whether the first coefficient is an intercept (then it is ``mu``)."""
        return self.p == 1 or self.terms[0] == "intrcpt"

    @property
    def n_nodes(self) -> int:
        """Number of quadrature nodes over tau (accuracy/speed diagnostics)."""
        return int(self._quad.u.size)

    @property
    def centered(self) -> bool:
        """Whether the intercept prior applies at the moderators' means."""
        return self.centering.centered

    # ------------------------------------------------------------------ parameters
    def _parse(self, param: str) -> tuple[str, list[int] | None, bool]:
        """-> (kind, indices, is_vector). kind in mu/tau/tau2/i2/h2/theta_new/theta/beta/
        mu_centered."""
        name, sub = parse_param(param)
        if sub is not None and name in ("theta", "beta"):
            names = self.labels if name == "theta" else self.terms
            if sub not in names:
                raise BayesmaError(f"{param!r}: no {'study' if name == 'theta' else 'term'} "
                                   f"{sub!r}; known: {names}")
            return name, [names.index(sub)], False
        if sub is None and name in _SCALARS:
            if name == "mu_centered" and not (self.centered or self.p == 1):
                raise BayesmaError("mu_centered (the mean effect at the moderators' means) "
                                   "needs a centred meta-regression (center=True)")
            return name, None, False
        if sub is None and name == "theta":
            return "theta", list(range(self.k)), True
        if sub is None and name == "beta":
            return "beta", list(range(self.p)), True
        raise BayesmaError(
            f"unknown parameter {param!r}; use 'mu', 'tau', 'tau2', 'i2', 'h2', 'theta_new', "
            "'mu_centered', 'theta', 'theta[<label>]', 'beta' or 'beta[<term>]'"
        )

    def _mixture(self, kind: str, idx: list[int] | None):
        """(M, S) arrays (n_rows, G) of the Normal components of a mixture parameter."""
        nd = self._node_data()
        if kind in ("mu", "theta_new"):
            M = nd["b"][:, 0][None, :]
            var = nd["C"][:, 0, 0]
            if kind == "theta_new":  # theta_new | tau, y ~ N(b_0, C_00 + tau²) (Röver 2020,
                var = var + np.square(nd["tau"])  # sec. 2.4, predictive distribution)
            return M, np.sqrt(var)[None, :]
        if kind == "mu_centered":
            return nd["bc"][:, 0][None, :], np.sqrt(nd["Cc"][:, 0, 0])[None, :]
        if kind == "beta":
            M = nd["b"][:, idx].T
            S = np.sqrt(np.stack([nd["C"][:, j, j] for j in idx]))
            return M, S
        if kind == "theta":
            mean, sd = self._theta_node_moments()
            return mean[:, idx].T, sd[:, idx].T
        raise BayesmaError(f"{kind} is not a mixture parameter")

    def _is_flat(self, kind: str, idx: list[int] | None) -> np.ndarray:
        """Per row: whether the coefficient involves a flat prior component."""
        if kind in ("mu", "theta_new"):
            return self._flat[[0]]
        if kind == "mu_centered":
            return np.array([self._gauss.lam[0] == 0])
        if kind == "beta":
            return self._flat[idx]
        return np.zeros(len(idx or [0]), dtype=bool)

    def _wrap(self, kind: str, idx, is_vec: bool, values: np.ndarray):
        values = np.asarray(values, dtype=float)
        if not is_vec:
            return float(values.ravel()[0]) if values.ndim <= 1 else values[0]
        names = [self.labels[i] for i in idx] if kind == "theta" else [self.terms[i]
                                                                       for i in idx]
        name = "theta" if kind == "theta" else "beta"
        iname = "study" if kind == "theta" else "term"
        if values.ndim == 1:
            return pd.Series(values, index=pd.Index(names, name=iname), name=name)
        return pd.DataFrame(values, index=pd.Index(names, name=iname))

    def _from_tau(self, kind: str, tau: np.ndarray) -> np.ndarray:
        return from_tau(kind, tau, self.typical_variance)

    def _support(self, kind: str) -> tuple[float, float]:
        lo, hi = self._tau_prior.support
        return float(self._from_tau(kind, np.array([lo]))[0]), float(
            self._from_tau(kind, np.array([hi]))[0])

    # ------------------------------------------------------------------ summaries
    def mean(self, param: str):
        """Posterior mean (``inf`` if it does not exist)."""
        kind, idx, vec = self._parse(param)
        q = self._quad
        if kind == "tau":
            return q.moment(1)
        if kind == "tau2":
            return q.moment(2)
        if kind == "h2":
            return 1.0 + q.moment(2) / self.typical_variance
        if kind == "i2":
            return float(np.sum(q.weights * self._from_tau("i2", q.tau)))
        nd = self._node_data()
        M, _ = self._mixture(kind, idx)
        return self._wrap(kind, idx, vec, M @ nd["w"])

    def sd(self, param: str):
        """Posterior standard deviation (``inf`` if it does not exist)."""
        kind, idx, vec = self._parse(param)
        q = self._quad
        if kind in ("tau", "tau2"):
            r = 1 if kind == "tau" else 2
            m1, m2 = q.moment(r), q.moment(2 * r)
            if not math.isfinite(m2):
                return math.inf
            # centred second moment for accuracy
            x = np.power(q.tau, r)
            c = float(np.sum(q.weights * np.square(x - m1)))
            extra = (m2 - float(np.sum(q.weights * x * x)))  # tail correction of E[x²]
            return math.sqrt(max(c + extra, 0.0))
        if kind == "h2":
            return self.sd("tau2") / self.typical_variance
        if kind == "i2":
            x = self._from_tau("i2", q.tau)
            m1 = np.sum(q.weights * x)
            return float(math.sqrt(np.sum(q.weights * np.square(x - m1))))
        nd = self._node_data()
        w = nd["w"]
        if kind == "theta_new":
            M, _ = self._mixture("mu", None)
            m1 = M @ w
            var = (np.square(M - m1[:, None]) + nd["C"][:, 0, 0][None, :]) @ w
            et2 = q.moment(2)
            if not math.isfinite(et2):
                return math.inf
            return float(math.sqrt(var[0] + et2))
        M, S = self._mixture(kind, idx)
        m1 = M @ w
        sd = np.sqrt((np.square(M - m1[:, None]) + np.square(S)) @ w)
        if kind in ("mu", "beta", "mu_centered") and not math.isfinite(q.moment(2)):
            # a flat coefficient has Var(beta | tau, y) ~ tau²: infinite when E[tau²] is
            sd = np.where(self._is_flat(kind, idx), np.inf, sd)
        return self._wrap(kind, idx, vec, sd)

    def quantile(self, param: str, q):
        """Posterior quantile(s) ``q`` (a float or an array; Series/DataFrame for vectors).

        Raises
        ------
        BayesmaError
            When a probability is NaN or outside [0, 1].
        """
        kind, idx, vec = self._parse(param)
        qa = check_quantile_probs(q)
        if kind in TAU_LIKE:
            out = self._from_tau(kind, self._quad.map.tau(self._quad.quantile_u(qa)))
            return float(out[0]) if np.ndim(q) == 0 else out
        vals = self._mixture_quantiles(kind, idx, qa)  # (n_rows, nq)
        return shaped(vals, q, vec, lambda v: self._wrap(kind, idx, vec, v), qa)

    def _mixture_quantiles(self, kind, idx, qa, x0=None):
        M, S = self._mixture(kind, idx)
        return mixture_quantiles(M, S, self._node_data()["w"], qa, x0)

    def median(self, param: str):
        """Posterior median."""
        return self.quantile(param, 0.5)

    def cdf(self, param: str, x):
        """Posterior cdf at ``x`` (scalar or array)."""
        kind, idx, vec = self._parse(param)
        xa = np.atleast_1d(np.asarray(x, dtype=float))
        if kind in TAU_LIKE:
            lo, hi = self._support(kind)
            tau = to_tau(kind, np.clip(xa, lo, hi), self.typical_variance)
            out = self._quad.cdf_u(self._quad.map.u(tau))
            out = np.where(xa <= lo, 0.0, np.where(xa >= hi, 1.0, out))
            return float(out[0]) if np.ndim(x) == 0 else out
        M, S = self._mixture(kind, idx)
        F = mixture_cdf(M, S, self._node_data()["w"], xa)
        return shaped(F, x, vec, lambda v: self._wrap(kind, idx, vec, v), xa)

    def pdf(self, param: str, x):
        """Posterior density at ``x`` (scalar or array)."""
        kind, idx, vec = self._parse(param)
        xa = np.atleast_1d(np.asarray(x, dtype=float))
        if kind in TAU_LIKE:
            out = np.exp(self._logpdf_tau_like(kind, xa))
            return float(out[0]) if np.ndim(x) == 0 else out
        nd = self._node_data()
        M, S = self._mixture(kind, idx)
        z = (xa[None, :, None] - M[:, None, :]) / S[:, None, :]
        f = (np.exp(-0.5 * z * z) / S[:, None, :]) @ nd["w"] / math.sqrt(2 * math.pi)
        if np.ndim(x) == 0:
            return self._wrap(kind, idx, vec, f[:, 0])
        if not vec:
            return f[0]
        df = self._wrap(kind, idx, vec, f)
        df.columns = list(xa)
        return df

    def _logpdf_tau_like(self, kind: str, x: np.ndarray) -> np.ndarray:
        lo, hi = self._support(kind)
        inside = (x >= lo) & (x <= hi)
        out = np.full(x.shape, -np.inf)
        if inside.any():
            xi = x[inside]
            s2 = self.typical_variance
            tau = to_tau(kind, xi, s2)
            with np.errstate(divide="ignore", invalid="ignore"):
                val = self._logpost_tau(tau) - self._quad.log_z + log_dtau_dx(kind, xi, s2)
            out[inside] = np.where(np.isnan(val), np.inf, val)
        return out

    def predictive_mixture(self, v_new: float = 0.0
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Normal-mixture form ``(M, S, w)`` of a new study's observed effect with
        sampling variance ``v_new`` (``theta_new + e``, e ~ N(0, v_new)), moderators at 0:
        component means ``b_0(tau_g)``, sds ``sqrt(C_00(tau_g) + tau_g² + v_new)`` and
        weights over the quadrature nodes (Röver 2020, sec. 2.4)."""
        nd = self._node_data()
        var = nd["C"][:, 0, 0] + np.square(nd["tau"]) + float(v_new)
        return nd["b"][:, 0].copy(), np.sqrt(var), nd["w"].copy()

    def mu_mixture(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Normal-mixture form ``(M, S, w)`` of the posterior of mu (the first
        coefficient): component means ``b_0(tau_g)``, sds ``sqrt(C_00(tau_g))`` and weights
        over the quadrature nodes (Röver 2020, sec. 2.4)."""
        nd = self._node_data()
        return nd["b"][:, 0].copy(), np.sqrt(nd["C"][:, 0, 0]), nd["w"].copy()

    def prob_less(self, param: str, value: float = 0.0):
        """Posterior probability ``P(param < value)``."""
        return self.cdf(param, value)

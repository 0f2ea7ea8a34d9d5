"""``MultilevelPosterior``: the exact posterior of the three-level model by 2-D quadrature.

The model (Konstantopoulos 2011, Res Synth Methods 2:61; brms ``(1 | study/esid)``)::

    y_ij = x_ij' beta + u_i + w_ij + e_ij,   u_i ~ N(0, tau_study²),
    w_ij ~ N(0, tau_esid²),  e ~ N(0, V) (block-diagonal by study),
    beta_j ~ N(m_j, s_j²) or flat,  tau_study ~ p_s,  tau_esid ~ p_e

Given the two SDs, beta and every true effect ``theta_ij = x_ij'beta + u_i + w_ij`` are
Gaussian (:mod:`.blocks`), so only the integral over ``(tau_study, tau_esid)`` has no
closed form; it is done by tensor-product Gauss-Kronrod quadrature (:mod:`.quadrature2d`).
The posteriors of mu, beta, theta and a new effect are Normal mixtures over the nodes,
those of the SDs come from their marginal densities on the nodes. This extends
bayesmeta's exact approach (Röver 2020, J Stat Softw 93(6)) from one SD to two.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayesma.bayes.accessors import mixture_cdf, mixture_quantiles, shaped
from bayesma.bayes.centering import center_design, check_prior_scale
from bayesma.bayes.exact.checks import check_location_prior, confidence_level
from bayesma.bayes.exact.mixture import mixture_hdi
from bayesma.bayes.multilevel.blocks import BlockGaussian
from bayesma.bayes.multilevel.display import MultilevelDisplay
from bayesma.bayes.multilevel.inputs import MultilevelData, level_priors
from bayesma.bayes.multilevel.quadrature2d import TensorQuadrature
from bayesma.bayes.protocol import check_quantile_probs, parse_param, resolve_prob
from bayesma.errors import BayesmaError
from bayesma.priors import default_priors

__all__ = ["MultilevelPosterior"]

#: nodes whose weight is below this fraction of the largest are dropped from mixtures
PRUNE = 1e-15
#: largest SD value evaluated (beyond it the density is taken as 0)
_TAU_MAX = 1e50


class MultilevelPosterior(MultilevelDisplay):
    """Exact posterior of the three-level model (see the module documentation).

    Build it with :func:`bayesma.bayes.exact_posterior` (``random="~ 1 | study/esid"``)
    or :func:`bayesma.bayes.multilevel.exact_multilevel`. It satisfies
    :class:`bayesma.bayes.protocol.Posterior`. Parameters: ``"mu"``, ``"tau"`` (a Series
    by level), ``"tau[<level>]"``, ``"tau2"``, ``"tau2[<level>]"``, ``"theta_new"`` (a
    new effect in a new study), ``"beta"`` / ``"beta[<term>]"``, ``"theta"`` /
    ``"theta[<label>]"`` (the true effect of a row: ``x'beta + u_i + w_ij``) and, in a
    centred meta-regression, ``"mu_centered"``.

    Attributes
    ----------
    labels : list of str
        Effect labels (``"<study>/<esid>"`` unless ``slab`` names a column).
    levels : tuple of str
        The level names (outer, inner) of the random formula.
    priors : dict
        ``{"mu": Prior, "tau": {level: Prior}}`` and ``"beta"`` (dict by term).
    classical : MultilevelTwin or None
        rma_mv (REML) with CR2 robust inference clustered by the outer level.
    log_marginal_likelihood : float
        ``log p(y)`` under the priors (flat priors count with density 1).
    """

    def __init__(self, ml: MultilevelData, *, mu_prior=None, tau_prior=None,
                 beta_prior=None, level: float = 0.95, classical=None,
                 center: bool = True) -> None:
        self.ml = ml
        self.yi, self.vi, self.X, self.terms = ml.yi, ml.vi, ml.X, list(ml.terms)
        self.labels = list(ml.labels)
        self.levels = ml.levels
        self.k, self.p = ml.k, ml.X.shape[1]
        self.n_studies = ml.n_studies
        self.measure = ml.measure
        self.data = ml.data
        self.design = ml.design
        self.random = ml.random
        self.level = confidence_level(level)
        self.classical = classical
        defaults = default_priors(self.measure, yi=self.yi, vi=self.vi)
        mu_prior = mu_prior if mu_prior is not None else defaults["mu"]
        check_location_prior(mu_prior, "mu_prior")
        self.tau_priors = level_priors(tau_prior, self.levels, defaults["tau"])
        self.coef_priors = _coef_priors(self.terms, mu_prior, beta_prior, defaults)
        self.priors: dict[str, Any] = {"mu": self.coef_priors[self.terms[0]],
                                       "tau": dict(self.tau_priors)}
        if self.p > 1:
            self.priors["beta"] = {t: self.coef_priors[t] for t in self.terms[1:]}
        self.centering = center_design(self.X, self.terms, center=center)
        if self.p > 1:
            check_prior_scale(self.priors["mu"], self.priors.get("beta"), self.X,
                              self.terms, yi=self.yi, centered=self.centering.centered,
                              stacklevel=4)
        cp = list(self.coef_priors.values())
        m = np.array([0.0 if not pr.proper else float(pr.mu) for pr in cp])
        lam = np.array([0.0 if not pr.proper else 1.0 / float(pr.sigma) ** 2 for pr in cp])
        self._flat = (np.abs(self.centering.matrix) @ (lam == 0).astype(float)) > 0
        self._gauss = BlockGaussian(self.yi, self.centering.Xc, self.vi, ml.V, ml.study, m,
                                    lam)
        self._logprior = [self.tau_priors[lv].log_density(self.vi) for lv in self.levels]
        scale = math.sqrt(float(np.median(self.vi)))
        self._quad = TensorQuadrature(
            self._loggrid, [self.tau_priors[lv].support for lv in self.levels],
            (scale, scale))
        self.log_marginal_likelihood = float(self._quad.log_z)
        self._nodes: dict[str, np.ndarray] | None = None
        self._theta: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ pieces
    def _loggrid(self, t1: np.ndarray, t2: np.ndarray) -> np.ndarray:
        """log p(tau_s) + log p(tau_e) + log p(y | tau_s, tau_e) on a grid."""
        lp1 = self._logprior[0](t1)
        lp2 = self._logprior[1](t2)
        out = np.full((t1.size, t2.size), -np.inf)
        ok1 = np.isfinite(lp1) & (t1 < _TAU_MAX)
        ok2 = np.isfinite(lp2) & (t2 < _TAU_MAX)
        if ok1.any() and ok2.any():
            ll = self._gauss.grid(t1[ok1], self._gauss.inner(t2[ok2]))
            out[np.ix_(ok1, ok2)] = lp1[ok1][:, None] + lp2[ok2][None, :] + ll
        return out

    @property
    def log_ml(self) -> float:
        """The log marginal likelihood (alias of :attr:`log_marginal_likelihood`)."""
        return self.log_marginal_likelihood

    @property
    def n_nodes(self) -> int:
        """Quadrature nodes (tensor grid size)."""
        return int(self._quad.weights.size)

    @property
    def intercept(self) -> bool:
        """Whether the first coefficient is an intercept (then it is ``mu``)."""
        return self.p == 1 or self.terms[0] == "intrcpt"

    @property
    def centered(self) -> bool:
        """Whether the intercept prior applies at the moderators' means."""
        return self.centering.centered

    def _node_data(self) -> dict[str, np.ndarray]:
        """Nodes with non-negligible weight: SDs, weights, moments of beta."""
        if self._nodes is None:
            q = self._quad
            W = q.gauss_weights
            keep = W > PRUNE * W.max()
            rows, cols = np.flatnonzero(keep.any(axis=1)), np.flatnonzero(keep.any(axis=0))
            sub = keep[np.ix_(rows, cols)]
            t1, t2 = q.gauss_tau1, q.gauss_tau2
            # the moments on the tensor grid of the rows/columns used, then the nodes kept
            _, bc, Cc = self._gauss.grid(t1[rows], self._gauss.inner(t2[cols]), moments=True)
            bc, Cc = bc[sub], Cc[sub]
            i, j = np.nonzero(keep)
            ts, te = t1[i], t2[j]
            w = W[keep]
            cen = self.centering
            self._nodes = {"ts": ts, "te": te, "w": w / w.sum(), "bc": bc, "Cc": Cc,
                           "b": cen.to_user(bc), "C": cen.to_user_cov(Cc)}
        return self._nodes

    def _theta_moments(self) -> tuple[np.ndarray, np.ndarray]:
        if self._theta is None:
            nd = self._node_data()
            mean, var = self._gauss.theta_moments(nd["ts"], nd["te"], nd["bc"], nd["Cc"])
            self._theta = (mean, np.sqrt(var))
        return self._theta

    # ------------------------------------------------------------------ parameters
    def _parse(self, param: str) -> tuple[str, list[int] | None, bool]:
        """-> (kind, indices, is_vector)."""
        name, sub = parse_param(param)
        tables = {"theta": self.labels, "beta": self.terms, "tau": list(self.levels),
                  "tau2": list(self.levels)}
        if name in tables:
            names = tables[name]
            if sub is None:
                return name, list(range(len(names))), True
            if sub not in names:
                raise BayesmaError(f"{param!r}: no {sub!r}; known: {names[:10]}")
            return name, [names.index(sub)], False
        if sub is None and name in ("mu", "theta_new", "mu_centered"):
            if name == "mu" and not self.intercept:
                raise BayesmaError("the model has no intercept: use 'beta[<term>]'")
            if name == "mu_centered" and not (self.centered or self.p == 1):
                raise BayesmaError("mu_centered needs a centred meta-regression")
            return name, None, False
        raise BayesmaError(
            f"unknown parameter {param!r}; use 'mu', 'tau[{self.levels[0]}]', "
            f"'tau[{self.levels[1]}]', 'tau2[<level>]', 'theta_new', 'beta[<term>]', "
            "'theta[<label>]' or 'mu_centered'")

    def _mixture(self, kind: str, idx: list[int] | None) -> tuple[np.ndarray, np.ndarray]:
        """(M, S) (n_rows, G): the Normal components of a location parameter."""
        nd = self._node_data()
        if kind in ("mu", "theta_new"):
            var = nd["C"][:, 0, 0]
            if kind == "theta_new":  # a new effect in a new study: + tau_s² + tau_e²
                var = var + np.square(nd["ts"]) + np.square(nd["te"])
            return nd["b"][:, 0][None, :], np.sqrt(var)[None, :]
        if kind == "mu_centered":
            return nd["bc"][:, 0][None, :], np.sqrt(nd["Cc"][:, 0, 0])[None, :]
        if kind == "beta":
            return nd["b"][:, idx].T, np.sqrt(np.stack([nd["C"][:, j, j] for j in idx]))
        if kind == "theta":
            mean, sd = self._theta_moments()
            return mean[:, idx].T, sd[:, idx].T
        raise BayesmaError(f"{kind} is not a location parameter")

    def _wrap(self, kind: str, idx, vec: bool, values):
        values = np.asarray(values, dtype=float)
        if not vec:
            return float(values.ravel()[0]) if values.ndim <= 1 else values[0]
        names = {"theta": self.labels, "beta": self.terms, "tau": list(self.levels),
                 "tau2": list(self.levels)}[kind]
        iname = {"theta": "effect", "beta": "term"}.get(kind, "level")
        index = pd.Index([names[i] for i in idx], name=iname)
        if values.ndim == 1:
            return pd.Series(values, index=index, name=kind)
        return pd.DataFrame(values, index=index)

    def _sd_moments(self, kind: str, axis: int) -> tuple[float, float]:
        r = 1 if kind == "tau" else 2
        q = self._quad
        m1, m2 = q.moment(axis, r), q.moment(axis, 2 * r)
        if not math.isfinite(m2):
            return m1, math.inf
        x = np.power(q.tau(axis), r)
        w = q.marginal_weights(axis)
        return m1, math.sqrt(max(float(np.sum(w * np.square(x - m1))), 0.0))

    # ------------------------------------------------------------------ protocol
    def mean(self, param: str):
        """Posterior mean."""
        kind, idx, vec = self._parse(param)
        if kind in ("tau", "tau2"):
            return self._wrap(kind, idx, vec, [self._sd_moments(kind, a)[0] for a in idx])
        M, _ = self._mixture(kind, idx)
        return self._wrap(kind, idx, vec, M @ self._node_data()["w"])

    def sd(self, param: str):
        """Posterior standard deviation."""
        kind, idx, vec = self._parse(param)
        if kind in ("tau", "tau2"):
            return self._wrap(kind, idx, vec, [self._sd_moments(kind, a)[1] for a in idx])
        w = self._node_data()["w"]
        M, S = self._mixture(kind, idx)
        m1 = M @ w
        sd = np.sqrt((np.square(M - m1[:, None]) + np.square(S)) @ w)
        return self._wrap(kind, idx, vec, sd)

    def quantile(self, param: str, q):
        """Posterior quantile(s) ``q`` (float or array; Series/DataFrame for vectors)."""
        kind, idx, vec = self._parse(param)
        qa = check_quantile_probs(q)
        if kind in ("tau", "tau2"):
            r = 1 if kind == "tau" else 2
            vals = np.stack([np.power(self._quad.quantile(a, qa), r) for a in idx])
        else:
            vals = self._mixture_quantiles(kind, idx, qa)
        return shaped(vals, q, vec, lambda v: self._wrap(kind, idx, vec, v), qa)

    def _mixture_quantiles(self, kind, idx, qa: np.ndarray) -> np.ndarray:
        M, S = self._mixture(kind, idx)
        return mixture_quantiles(M, S, self._node_data()["w"], qa)

    def median(self, param: str):
        """Posterior median."""
        return self.quantile(param, 0.5)

    def cdf(self, param: str, x):
        """Posterior cdf at ``x`` (scalar or array)."""
        kind, idx, vec = self._parse(param)
        xa = np.atleast_1d(np.asarray(x, dtype=float))
        if kind in ("tau", "tau2"):
            base = np.sqrt(np.maximum(xa, 0.0)) if kind == "tau2" else xa
            F = np.stack([self._quad.cdf(a, base) for a in idx])
        else:
            M, S = self._mixture(kind, idx)
            F = mixture_cdf(M, S, self._node_data()["w"], xa)
        return shaped(F, x, vec, lambda v: self._wrap(kind, idx, vec, v), xa)

    def prob_less(self, param: str, value: float = 0.0):
        """Posterior probability ``P(param < value)``."""
        return self.cdf(param, value)

    def interval(self, param: str, prob: float | None = None, kind: str = "eti"):
        """Credible interval ``(low, high)``: equal-tailed (``"eti"``) or shortest
        (``"hdi"``); a DataFrame ``low, high`` for vector parameters."""
        if kind not in ("eti", "hdi"):
            raise BayesmaError(f"kind must be 'eti' or 'hdi', got {kind!r}")
        prob = resolve_prob(prob, self.level)
        pk, idx, vec = self._parse(param)
        a = (1.0 - prob) / 2.0
        if kind == "eti":
            vals = np.asarray(self.quantile(param, [a, 1.0 - a]), dtype=float)
            vals = vals.reshape(-1, 2)
        elif pk in ("tau", "tau2"):
            vals = np.stack([self._hdi_sd(pk, ax, prob) for ax in idx])
        else:
            M, S = self._mixture(pk, idx)
            vals = mixture_hdi(M, S, self._node_data()["w"], prob)
        if not vec:
            return float(vals[0, 0]), float(vals[0, 1])
        df = self._wrap(pk, idx, vec, vals)
        df.columns = ["low", "high"]
        return df

    def _hdi_sd(self, kind: str, axis: int, prob: float) -> np.ndarray:
        """Shortest interval of one SD (or its square): minimise Q(a + prob) - Q(a) over a."""
        r = 1 if kind == "tau" else 2

        def width(a: np.ndarray) -> np.ndarray:
            lo = np.power(self._quad.quantile(axis, a), r)
            hi = np.power(self._quad.quantile(axis, a + prob), r)
            return hi - lo

        lo, hi = 1e-12, 1.0 - prob - 1e-12
        for _ in range(6):  # nested grids: each round narrows the bracket 50-fold
            grid = np.linspace(lo, hi, 101)
            j = int(np.argmin(width(grid)))
            lo, hi = grid[max(j - 1, 0)], grid[min(j + 1, grid.size - 1)]
        a = 0.5 * (lo + hi)
        return np.power(self._quad.quantile(axis, np.array([a, a + prob])), r)


def _coef_priors(terms: Sequence[str], mu_prior, beta_prior, defaults) -> dict[str, Any]:
    """The prior of each coefficient (mu for the intercept; beta_prior one, a dict by
    term or a list in term order)."""
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
                raise BayesmaError(f"beta_prior has no prior for term {term!r}; terms: {terms}")
            bp = bp[term]
        elif isinstance(bp, Sequence) and not isinstance(bp, str):
            if len(bp) != p - 1:
                raise BayesmaError(f"beta_prior: {len(bp)} priors for {p - 1} coefficients")
            bp = bp[j - 1]
        check_location_prior(bp, f"beta_prior for {term!r}")
        out[term] = bp
    return out

"""``rma_glmm``: binomial-normal generalized linear mixed models, as metafor 3.8's ``rma.glmm``
(which fits them with lme4's ``glmer``), by our own likelihood (no R, no statsmodels).

Models (Stijnen, Hamza & Ozdemir 2010; Jackson et al. 2018; metafor ``rma.glmm`` help):

* ``measure="OR", model="UM.FS"``: ``logit p_ij = alpha_i + mu * trt_j + tau * u_i * g_j``
  with fixed study intercepts ``alpha_i``, ``g_j = +1/2`` (treatment) / ``-1/2`` (control)
  and ``u_i ~ N(0, 1)``: glmer ``cbind(x, n - x) ~ -1 + X + study + (group - 1 | study)``.
* ``measure="OR", model="UM.RS"``: one fixed intercept with random study intercepts, ``(group ||
  study)``: ``logit p_ij = alpha + sigma * v_i + mu * trt_j + tau * u_i * g_j``.
* ``measure="PLO"``: single groups, ``logit p_i = mu + tau * u_i``.

The estimates maximise the adaptive Gauss-Hermite (``nAGQ`` nodes) or Laplace (``nAGQ=1``)
approximation of the marginal likelihood, as lme4 does (metafor's default ``nAGQ=7``; UM.RS
is Laplace only, as in lme4). The study intercepts of UM.FS are profiled out (one Newton
problem per study). The standard errors invert the Hessian of the log-likelihood in all
parameters (lme4's ``vcov`` uses the finite-difference Hessian over (theta, beta) likewise).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from bayesma.classical.pooling.inputs import read_props, read_tables
from bayesma.classical.pooling.likelihood import binomial_constant, laplace2, quadrature1
from bayesma.classical.pooling.result import wald
from bayesma.classical.printout import coef_table_lines
from bayesma.classical.settings import parse_level
from bayesma.data import describe_rows, study_labels
from bayesma.errors import ConvergenceError, DroppedRowsWarning, SpecError, TooFewStudiesError

__all__ = ["GLMMResult", "rma_glmm"]

MODELS = {"OR": ("UM.FS", "UM.RS"), "PLO": ("UM.FS",)}


@dataclass(frozen=True)
class GLMMResult:
    """A binomial-normal GLMM fit, as metafor's ``rma.glmm``.

    Attributes
    ----------
    measure, model : str
        ``"OR"`` (``"UM.FS"`` or ``"UM.RS"``) or ``"PLO"``.
    estimate, se, zval, pval, ci_low, ci_high : float
        The pooled log odds ratio (OR) or logit proportion (PLO), its SE (inverse Hessian
        of the marginal log-likelihood), Wald z test and interval.
    tau2 : float
        Between-study variance of the log odds ratios (of the logits for PLO).
    sigma2 : float
        Variance of the random study intercepts (UM.RS; NaN otherwise).
    k : int
        Studies used (double-zero studies are left out when ``drop00=True``).
    ll : float
        The maximised (approximate) marginal log-likelihood, binomial constants included
        (lme4's ``logLik`` of the glmer fit for ``nAGQ=1``).
    converged : bool
        The optimiser reported success and the gradient vanished.
    nagq : int
        Quadrature nodes (1 = Laplace).
    level : float
        Confidence level (fraction).
    """

    measure: str
    model: str
    estimate: float
    se: float
    zval: float
    pval: float
    ci_low: float
    ci_high: float
    tau2: float
    sigma2: float
    k: int
    ll: float
    converged: bool
    nagq: int
    level: float
    labels: list[str] = field(repr=False)
    study_intercepts: np.ndarray = field(repr=False)

    @property
    def tau(self) -> float:
        """sqrt(tau2)."""
        return float(np.sqrt(self.tau2))

    @property
    def estimate_exp(self) -> float:
        """exp(estimate) for OR, the proportion expit(estimate) for PLO."""
        return _back(self.measure, self.estimate)

    @property
    def ci_low_exp(self) -> float:
        """Lower CI bound on the natural scale (OR or proportion)."""
        return _back(self.measure, self.ci_low)

    @property
    def ci_high_exp(self) -> float:
        """Upper CI bound on the natural scale (OR or proportion)."""
        return _back(self.measure, self.ci_high)

    def to_frame(self) -> pd.DataFrame:
        """A one-row table of the fit."""
        keys = ("estimate", "se", "zval", "pval", "ci_low", "ci_high", "tau2", "sigma2", "k",
                "ll", "converged")
        return pd.DataFrame([{k: getattr(self, k) for k in keys}], index=[self.model])

    def summary(self, digits: int = 4) -> str:
        """A printout in the layout of metafor's ``print.rma.glmm``."""
        d = digits
        model = {"UM.FS": "Unconditional Model with Fixed Study Effects",
                 "UM.RS": "Unconditional Model with Random Study Effects"}[self.model]
        head = f"Random-Effects Model (k = {self.k}; tau^2 estimator: ML)"
        out = ["", head]
        if self.measure == "OR":
            out.append(f"Model Type: {model}")
        out += ["", f"logLik: {self.ll:.{d}f} (marginal, nAGQ = {self.nagq})", ""]
        if self.model == "UM.RS":
            out.append(f"sigma^2 (random study intercepts):               {self.sigma2:.{d}f}")
        out.append(f"tau^2 (estimated amount of total heterogeneity): {self.tau2:.{d}f}")
        out.append(f"tau (square root of estimated tau^2 value):      {self.tau:.{d}f}")
        out.append("")
        coef = pd.DataFrame({"estimate": [self.estimate], "se": [self.se], "stat": [self.zval],
                             "pval": [self.pval], "ci_low": [self.ci_low],
                             "ci_high": [self.ci_high]}, index=["intrcpt"])
        out += ["Model Results:", ""] + coef_table_lines(coef, d, True, with_df=False) + [""]
        if not self.converged:
            out.append("Warning: the optimiser did not report convergence.")
        return "\n".join(out) + "\n"

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"<GLMMResult {self.measure} {self.model}: k={self.k}, "
                f"estimate={self.estimate:.4f}, tau2={self.tau2:.4f}>")


def _back(measure: str, v: float) -> float:
    return float(np.exp(v)) if measure == "OR" else float(1 / (1 + np.exp(-v)))


class _Problem:
    """The negative log-likelihood of one model over its outer parameters."""

    def __init__(self, model: str, x: np.ndarray, n: np.ndarray, nagq: int) -> None:
        self.model, self.x, self.n, self.nagq = model, x, n, nagq
        self.const = float(binomial_constant(x, n).sum())
        k = x.shape[0]
        self.z = np.tile([0.5, -0.5], (k, 1)) if x.shape[1] == 2 else np.ones((k, 1))
        self.trt = np.tile([1.0, 0.0], (k, 1)) if x.shape[1] == 2 else np.ones((k, 1))
        self.u = None
        # starting study intercepts: control-arm logits with 1/2 added
        xc, nc = x[:, -1], n[:, -1]
        self.alpha = np.log((xc + 0.5) / (nc - xc + 0.5))

    def study_ll(self, f: np.ndarray, s: float) -> np.ndarray:
        ll, self.u = quadrature1(f, self.z, self.x, self.n, abs(s), self.nagq, self.u)
        return ll

    def profile_alpha(self, mu: float, s: float) -> np.ndarray:
        """UM.FS: the per-study log-likelihoods maximised over each alpha_i (Newton, with
        central differences: each alpha_i moves only its own study's term)."""
        a = self.alpha.copy()
        base = self.trt * mu
        for _ in range(100):
            h = 1e-4 * (1 + np.abs(a))
            l0 = self.study_ll(base + a[:, None], s)
            lp = self.study_ll(base + (a + h)[:, None], s)
            lm = self.study_ll(base + (a - h)[:, None], s)
            d1 = (lp - lm) / (2 * h)
            d2 = (lp - 2 * l0 + lm) / h**2
            step = np.where(d2 < 0, -d1 / np.where(d2 < 0, d2, -1), np.sign(d1))
            step = np.clip(step, -5, 5)
            a = a + step
            if np.all(np.abs(step) < 1e-10 * (1 + np.abs(a))):
                break
        self.alpha = a
        return self.study_ll(base + a[:, None], s)

    def nll(self, theta: np.ndarray) -> float:
        """Minus the log-likelihood (binomial constants included)."""
        if self.model == "UM.FS" and self.x.shape[1] == 2:
            ll = self.profile_alpha(theta[0], theta[1])
        elif self.model == "UM.FS":  # PLO
            ll = self.study_ll(np.full_like(self.x, theta[0], dtype=float), theta[1])
        else:  # UM.RS: theta = (mu, alpha, sigma, tau)
            f = theta[1] + self.trt * theta[0]
            ll, self.u = laplace2(f, np.ones_like(self.z), self.z, self.x, self.n,
                                  abs(theta[2]), abs(theta[3]),
                                  self.u if self.u is not None and self.u.ndim == 2 else None)
        return -(float(ll.sum()) + self.const)


def _gradient(fun, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    g = np.empty_like(theta)
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = h * (1 + abs(theta[j]))
        g[j] = (fun(theta + e) - fun(theta - e)) / (2 * e[j])
    return g


def _hessian(fun, theta: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Central-difference Hessian (as lme4's ``deriv12``)."""
    p = theta.size
    steps = h * (1 + np.abs(theta))
    f0 = fun(theta)
    hess = np.empty((p, p))
    for i in range(p):
        ei = np.zeros(p)
        ei[i] = steps[i]
        hess[i, i] = (fun(theta + ei) - 2 * f0 + fun(theta - ei)) / steps[i] ** 2
        for j in range(i):
            ej = np.zeros(p)
            ej[j] = steps[j]
            hess[i, j] = hess[j, i] = (
                fun(theta + ei + ej) - fun(theta + ei - ej) - fun(theta - ei + ej)
                + fun(theta - ei - ej)) / (4 * steps[i] * steps[j])
    return hess


def _start(model: str, x: np.ndarray, n: np.ndarray) -> np.ndarray:
    lo = np.log((x + 0.5) / (n - x + 0.5))
    if x.shape[1] == 1:
        return np.array([float(np.mean(lo)), 0.5])
    mu = float(np.mean(lo[:, 0] - lo[:, 1]))
    if model == "UM.FS":
        return np.array([mu, 0.5])
    return np.array([mu, float(np.mean(lo[:, 1])), 1.0, 0.5])


def _fit(problem: _Problem, theta0: np.ndarray) -> tuple[np.ndarray, float, bool]:
    """Maximise the likelihood: L-BFGS-B (SDs >= 0) then Newton steps on the interior."""
    p = theta0.size
    bounds = [(None, None)] * (p - (2 if p == 4 else 1)) + [(0.0, None)] * (2 if p == 4 else 1)
    res = minimize(problem.nll, theta0, jac=lambda t: _gradient(problem.nll, t),
                   method="L-BFGS-B", bounds=bounds,
                   options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 1000})
    theta = res.x.copy()
    free = np.array([b[0] is None or t > 1e-6 for b, t in zip(bounds, theta, strict=True)])
    for _ in range(20):  # polish: Newton on the free parameters
        g = _gradient(problem.nll, theta)[free]
        if np.max(np.abs(g)) < 1e-9:
            break
        hess = _hessian(problem.nll, theta)[np.ix_(free, free)]
        try:
            step = np.linalg.solve(hess, g)
        except np.linalg.LinAlgError:
            break
        trial = theta.copy()
        trial[free] -= step
        if problem.nll(trial) > problem.nll(theta) + 1e-12:
            break
        theta = trial
    theta[p - (2 if p == 4 else 1):] = np.abs(theta[p - (2 if p == 4 else 1):])
    grad = _gradient(problem.nll, theta)[free]
    converged = bool(res.success or np.max(np.abs(grad)) < 1e-6)
    return theta, problem.nll(theta), converged


def rma_glmm(
    data: pd.DataFrame,
    measure: str = "OR",
    *,
    model: str = "UM.FS",
    ai: str | None = None,
    bi: str | None = None,
    ci: str | None = None,
    di: str | None = None,
    n1i: str | None = None,
    n2i: str | None = None,
    xi: str | None = None,
    ni: str | None = None,
    method: str = "ML",
    nAGQ: int | None = None,  # noqa: N803 (metafor's and lme4's argument name)
    drop00: bool = True,
    level: float = 95,
    slab: str | None = None,
) -> GLMMResult:
    """Binomial-normal GLMM meta-analysis, as metafor 3.8's ``rma.glmm`` (lme4 ``glmer``).

    Parameters
    ----------
    data : DataFrame
        The study table.
    measure : {"OR", "PLO"}
        Log odds ratio from 2x2 tables (``ai, bi, ci, di`` or ``ai, n1i, ci, n2i``) or logit
        proportion from single groups (``xi, ni``).
    model : {"UM.FS", "UM.RS"}
        Fixed (UM.FS, metafor's default) or random (UM.RS) study intercepts (OR only).
    ai, bi, ci, di, n1i, n2i, xi, ni : str, optional
        Count columns.
    method : {"ML"}
        Maximum likelihood (the only method offered).
    nAGQ : int, optional
        Adaptive Gauss-Hermite nodes; default 7 as metafor (1 = Laplace). UM.RS allows
        only 1 (as glmer with two random effects per study).
    drop00 : bool
        Leave out tables without events (or only events) in both groups (metafor's default).
    level : float
        Confidence level, 95 or 0.95.
    slab : str, optional
        Study label column.

    Returns
    -------
    GLMMResult
        ``estimate, se, zval, pval, ci_low, ci_high, tau2, sigma2, k, ll, converged``.

    Raises
    ------
    DataError
        Negative or fractional counts, more events than patients (naming column and row).
    SpecError
        Unknown measure, model, method or ``nAGQ``.
    TooFewStudiesError
        Fewer than two studies.
    ConvergenceError
        The likelihood could not be evaluated.

    Notes
    -----
    Agreement with R (tests/reference/pooling): the estimate, SE and tau² equal glmer's
    with tight optimiser tolerances to about 1e-5 relative; glmer's default optimiser
    (bobyqa then Nelder-Mead) stops earlier, so metafor's printed values can differ in the
    fourth significant digit on sparse data.
    """
    measure = str(measure).upper()
    model = str(model).upper()
    if measure not in MODELS:
        raise SpecError(f"rma_glmm: measure must be 'OR' or 'PLO', got {measure!r}")
    if model not in MODELS[measure]:
        raise SpecError(f"rma_glmm: model {model!r} is not available for measure {measure!r}; "
                        f"choose {' or '.join(MODELS[measure])}")
    if str(method).upper() != "ML":
        raise SpecError(f"rma_glmm: only method='ML' is available, got {method!r}")
    nagq = (7 if model == "UM.FS" else 1) if nAGQ is None else nAGQ
    if isinstance(nagq, bool) or not isinstance(nagq, int | np.integer) or nagq < 1:
        raise SpecError(f"nAGQ must be a positive integer, got {nAGQ!r}")
    if model == "UM.RS" and nagq != 1:
        raise SpecError("model='UM.RS' has two random effects per study: only nAGQ=1 "
                        "(Laplace) is possible, as in glmer")
    lv = parse_level(level)
    data = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    labels = study_labels(data, slab)
    if measure == "OR":
        a, b, c, d = read_tables(data, ai, bi, ci, di, n1i, n2i, slab)
        x = np.column_stack([a, c])
        n = np.column_stack([a + b, c + d])
        keep = ~(((a == 0) & (c == 0)) | ((b == 0) & (d == 0))) if drop00 else np.ones(len(a), bool)
    else:
        xs, ns = read_props(data, xi, ni, slab)
        x, n = xs[:, None], ns[:, None]
        keep = np.ones(len(xs), bool)
    if not keep.all():
        rows = list(data.index[np.flatnonzero(~keep)])
        warnings.warn(f"studies without events (or with only events) in both groups are left "
                      f"out (drop00=True, as metafor): {describe_rows(data, rows, slab=slab)}",
                      DroppedRowsWarning, stacklevel=2)
        x, n = x[keep], n[keep]
        labels = [lab for lab, kp in zip(labels, keep, strict=True) if kp]
    k = x.shape[0]
    if k < 2:
        raise TooFewStudiesError(f"rma_glmm needs at least 2 studies, got {k}")
    problem = _Problem(model, x.astype(float), n.astype(float), int(nagq))
    theta, nll, converged = _fit(problem, _start(model, x, n))
    if not np.isfinite(nll):
        raise ConvergenceError("rma_glmm: the likelihood could not be evaluated")
    hess = _hessian(problem.nll, theta)
    problem.nll(theta)  # leave the profiled intercepts at the optimum
    try:
        cov = np.linalg.inv(hess)
        se = float(np.sqrt(cov[0, 0])) if cov[0, 0] > 0 else float("nan")
    except np.linalg.LinAlgError:
        se = float("nan")
    est = float(theta[0])
    if model == "UM.RS":
        tau2, sigma2, intercepts = theta[3] ** 2, theta[2] ** 2, np.full(k, theta[1])
    else:
        tau2, sigma2 = theta[1] ** 2, float("nan")
        intercepts = problem.alpha.copy() if x.shape[1] == 2 else np.full(k, np.nan)
    return GLMMResult(
        measure=measure, model=model, estimate=est, se=se, **wald(est, se, lv),
        tau2=float(tau2), sigma2=float(sigma2), k=k, ll=-nll, converged=converged,
        nagq=int(nagq), level=lv, labels=labels, study_intercepts=intercepts,
    )

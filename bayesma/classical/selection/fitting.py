"""``selmodel``: maximum-likelihood fit of a selection model (metafor 3.8
``selmodel.rma.uni``).

Steps as metafor: the input model is refitted by ML (equal-effects fits stay EE); the
one-sided p-values are truncated to ``[pval_min, 1 - pval_min]``; non-dummy moderators are
standardised during the fit (``scaleX``) and the coefficients transformed back; starting
values are the ML coefficients, tau² + 0.001 and metafor's delta.init. The standard
errors come from the inverse Hessian of -ll at (beta, tau², delta), computed by
Richardson extrapolation as ``numDeriv::hessian`` does
(:func:`~bayesma.classical.selection.hessian.numderiv_hessian`, which says how its
steps differ). The LRT of no selection
compares ll with the ML log-likelihood of the input model (df = number of estimated
deltas); the LRT of tau² = 0 refits with tau² fixed at 0.

The optimiser differs from metafor's (``optim`` BFGS on log tau² and logit-mapped
deltas, reltol 1e-8): here L-BFGS-B on the natural parameters within metafor's bounds
(tau² >= 0, delta in [delta_min, delta_max]) with central-difference gradients and tight
tolerances, then a fallback (Nelder-Mead followed by BFGS on metafor's transformed
parameters) when L-BFGS-B does not reach a stationary point; the better of the two is
kept, and a :class:`SelectionModelWarning` says so when neither converged.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import optimize

from bayesma.classical.checks import is_ee
from bayesma.classical.rma import RMAResult, fit_arrays, require_rma_result
from bayesma.classical.selection.hessian import numderiv_hessian
from bayesma.classical.selection.likelihood import (
    SelectionData,
    log_likelihood,
    one_sided_pvalues,
)
from bayesma.classical.selection.result import SelectionModelWarning, SelModelResult
from bayesma.classical.selection.types import SelectionType, get_type
from bayesma.errors import BayesmaError, TooFewStudiesError
from bayesma.tails import chi2_sf, norm_isf

__all__ = ["selmodel"]

_ALTERNATIVES = ("greater", "less", "two.sided")


def _check_steps(stype: SelectionType, steps) -> np.ndarray:
    """metafor: steps sorted, unique, in [0, 1], 1 appended; stepfun needs them."""
    if steps is None:
        if stype.name == "stepfun":
            raise BayesmaError(
                "selmodel: type='stepfun' needs steps= (the p-value cut points, e.g. "
                "steps=[0.025] or [0.025, 0.5]); metafor stops here too"
            )
        return np.array([0.0])
    arr = np.atleast_1d(np.asarray(steps, dtype=float))
    if arr.size == 0 or np.any(~np.isfinite(arr)):
        raise BayesmaError("selmodel: steps must be finite numbers (no missing values)")
    if np.any((arr < 0) | (arr > 1)):
        raise BayesmaError(f"selmodel: steps must be between 0 and 1, got {arr.tolist()}")
    arr = np.unique(arr)
    if stype.name == "stepfun":
        return arr if arr[-1] == 1.0 else np.append(arr, 1.0)
    arr = arr[arr < 1.0]
    if arr.size != 1:
        raise BayesmaError(
            f"selmodel: type={stype.name!r} takes a single cut point in steps (below which "
            f"the weight is 1), got {np.atleast_1d(steps).tolist()}"
        )
    return arr


def _interval_labels(steps: np.ndarray) -> list[str]:
    """metafor's ptable row names: ``"0     < p <= 0.025"`` (left parts padded)."""
    left = ["0"] + [_num(s) for s in steps[:-1]]
    width = max(len(s) for s in left)
    return [f"{lft.ljust(width)} < p <= {_num(r)}" for lft, r in zip(left, steps, strict=True)]


def _num(x: float) -> str:
    return f"{x:.15g}"


def _scaling(X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """metafor's ``scaleX``: standardise non-dummy moderators; returns (X*, mX) with
    beta = mX beta*."""
    k, p = X.shape
    has_int = np.allclose(X[:, 0], 1.0)
    if p == 1 or not has_int:
        return X, None
    is_d = np.array([np.all(np.isin(X[:, j], (0.0, 1.0))) for j in range(p)])
    mean = X[:, 1:].mean(axis=0)
    sd = X[:, 1:].std(axis=0, ddof=1)
    mX = np.zeros((p, p))
    mX[0, 0] = 1.0
    mX[0, 1:] = np.where(is_d[1:], 0.0, -mean / sd)
    mX[1:, 1:] = np.diag(np.where(is_d[1:], 1.0, 1.0 / sd))
    Xs = X.copy()
    for j in range(1, p):
        if not is_d[j]:
            Xs[:, j] = (X[:, j] - mean[j - 1]) / sd[j - 1]
    return Xs, mX


class _Problem:
    """The free parameters (beta, [tau²], free deltas) and -ll on them."""

    def __init__(self, data: SelectionData, p: int, tau2_fixed: float | None,
                 delta_fixed: np.ndarray, delta_min: np.ndarray, delta_max: np.ndarray):
        self.data, self.p = data, p
        self.tau2_fixed = tau2_fixed
        self.delta_fixed = delta_fixed  # NaN = estimated
        self.free = np.isnan(delta_fixed)
        self.delta_min, self.delta_max = delta_min, delta_max

    def split(self, theta: np.ndarray):
        p = self.p
        beta = theta[:p]
        j = p
        if self.tau2_fixed is None:
            tau2 = theta[p]
            j += 1
        else:
            tau2 = self.tau2_fixed
        delta = self.delta_fixed.copy()
        delta[self.free] = theta[j:]
        return beta, tau2, delta

    def negll(self, theta: np.ndarray) -> float:
        beta, tau2, delta = self.split(np.asarray(theta, dtype=float))
        ll = log_likelihood(self.data, beta, max(float(tau2), 0.0), delta)
        return -ll if math.isfinite(ll) else 1e300

    def bounds(self) -> list[tuple[float | None, float | None]]:
        b: list[tuple[float | None, float | None]] = [(None, None)] * self.p
        if self.tau2_fixed is None:
            b.append((0.0, None))
        b += [(float(lo), float(hi)) for lo, hi in
              zip(self.delta_min[self.free], self.delta_max[self.free], strict=True)]
        return b

    def gradient(self, theta: np.ndarray) -> np.ndarray:
        """Central differences, one-sided (second order) at a bound."""
        theta = np.asarray(theta, dtype=float)
        g = np.zeros_like(theta)
        for j, (lo, hi) in enumerate(self.bounds()):
            h = 1e-6 * max(1.0, abs(theta[j]))
            e = np.zeros_like(theta)
            e[j] = h
            if lo is not None and theta[j] - h < lo:
                g[j] = (-3 * self.negll(theta) + 4 * self.negll(theta + e)
                        - self.negll(theta + 2 * e)) / (2 * h)
            elif hi is not None and theta[j] + h > hi:
                g[j] = (3 * self.negll(theta) - 4 * self.negll(theta - e)
                        + self.negll(theta - 2 * e)) / (2 * h)
            else:
                g[j] = (self.negll(theta + e) - self.negll(theta - e)) / (2 * h)
        return g

    def projected_gradient(self, theta: np.ndarray) -> float:
        g = self.gradient(theta)
        for j, (lo, hi) in enumerate(self.bounds()):
            if lo is not None and theta[j] <= lo + 1e-10 and g[j] > 0:
                g[j] = 0.0
            if hi is not None and theta[j] >= hi - 1e-10 and g[j] < 0:
                g[j] = 0.0
        return float(np.max(np.abs(g))) if g.size else 0.0

    # metafor's transformed scale: log tau², logit-mapped deltas (.mapfun)
    def to_transformed(self, theta: np.ndarray) -> np.ndarray:
        out = np.array(theta, dtype=float)
        j = self.p
        if self.tau2_fixed is None:
            out[j] = math.log(max(theta[j], 1e-300))
            j += 1
        lo, hi = self.delta_min[self.free], self.delta_max[self.free]
        d = np.clip(theta[j:], lo + 1e-12 * (hi - lo), hi - 1e-12 * (hi - lo))
        out[j:] = np.log((d - lo) / (hi - d))
        return out

    def from_transformed(self, u: np.ndarray) -> np.ndarray:
        out = np.array(u, dtype=float)
        j = self.p
        if self.tau2_fixed is None:
            out[j] = math.exp(min(u[j], 700.0))
            j += 1
        lo, hi = self.delta_min[self.free], self.delta_max[self.free]
        out[j:] = lo + (hi - lo) / (1.0 + np.exp(-u[j:]))
        return out


def _maximise(prob: _Problem, start: np.ndarray) -> tuple[np.ndarray, bool, str]:
    """L-BFGS-B within the bounds; fallback Nelder-Mead + BFGS on metafor's scale."""
    tol = 1e-5
    bounds = prob.bounds()
    lb = np.array([-np.inf if lo is None else lo for lo, _ in bounds])
    ub = np.array([np.inf if hi is None else hi for _, hi in bounds])
    x0 = np.clip(start, lb, ub)
    fit = optimize.minimize(prob.negll, x0, jac=prob.gradient, method="L-BFGS-B",
                            bounds=bounds,
                            options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-10})
    best, how = np.asarray(fit.x, dtype=float), "L-BFGS-B"
    if prob.projected_gradient(best) < tol:
        return best, True, how

    def neg_t(u):
        return prob.negll(prob.from_transformed(u))

    u0 = prob.to_transformed(x0)
    nm = optimize.minimize(neg_t, u0, method="Nelder-Mead",
                           options={"maxiter": 20000, "xatol": 1e-10, "fatol": 1e-12})
    bf = optimize.minimize(neg_t, nm.x, method="BFGS", options={"gtol": 1e-9, "maxiter": 5000})
    alt = prob.from_transformed(bf.x if bf.fun <= nm.fun else nm.x)
    if prob.negll(alt) < prob.negll(best):
        best, how = alt, "Nelder-Mead + BFGS"
    return best, prob.projected_gradient(best) < tol, how


def selmodel(
    res: RMAResult,
    type: str,  # noqa: A002 - metafor's argument name
    steps: Sequence[float] | float | None = None,
    alternative: str = "greater",
    *,
    level: float | None = None,
) -> SelModelResult:
    """Fit a selection model to a random- or equal-effects model (metafor 3.8 ``selmodel``).

    Parameters
    ----------
    res : RMAResult
        A fit from :func:`bayesma.rma` (with or without moderators). Random-effects fits
        are refitted by maximum likelihood, as metafor does; equal-effects fits keep
        tau² = 0; a fit with a fixed tau² keeps it.
    type : {"stepfun", "beta", "halfnorm", "negexp", "logistic", "power"}
        The selection function (metafor's parameterisations; see
        :mod:`bayesma.classical.selection.types`).
    steps : float or sequence of float, optional
        Cut points of the one-sided p-values. Required for "stepfun" (1 is appended);
        for the four one-parameter types a single value below which the weight is 1
        (default 0); not used by "beta".
    alternative : {"greater", "less", "two.sided"}
        Direction of the one-sided p-values (metafor's ``alternative``): "greater" when
        large positive effects are favoured for publication.
    level : float, optional
        Confidence level (default: that of ``res``).

    Returns
    -------
    SelModelResult

    Raises
    ------
    TooFewStudiesError
        When k < p + 1 (tau²) + number of deltas (metafor: "Number of studies is too
        small to fit the selection model").
    BayesmaError
        Unknown type or alternative, missing steps for "stepfun", steps outside [0, 1],
        models with custom weights, or a step interval without any observed p-value
        (metafor stops there too; "all p-values on one side of every step" is the
        extreme case).

    Warns
    -----
    SelectionModelWarning
        When the optimiser did not converge, a delta is (almost) at its bound, or the
        Hessian cannot be inverted (standard errors NaN), as metafor warns.
    """
    require_rma_result(res, "selmodel")
    stype = get_type(type)
    if alternative not in _ALTERNATIVES:
        raise BayesmaError(
            f"selmodel: alternative must be one of {', '.join(_ALTERNATIVES)}, got "
            f"{alternative!r}"
        )
    if getattr(res, "user_weights", None) is not None:
        raise BayesmaError(
            "selmodel: cannot fit a selection model to a model with custom weights "
            "(metafor stops here too)"
        )
    if stype.name == "beta" and steps is not None:
        warnings.warn("selmodel: steps are ignored by the beta selection model (as metafor)",
                      SelectionModelWarning, stacklevel=2)
        steps = None
    step_arr = _check_steps(stype, steps)
    lvl = float(res.level if level is None else level)
    lvl = lvl / 100.0 if lvl > 1 else lvl

    yi = np.asarray(res.yi, dtype=float)
    vi = np.asarray(res.vi, dtype=float)
    X = np.asarray(res.X, dtype=float)
    k, p = X.shape
    terms = list(res.terms)
    ee = is_ee(res.method)
    tau2_user = bool(getattr(res, "tau2_fixed", False))
    ml = fit_arrays(yi, vi, X, terms=terms, method="EE" if ee else "ML", test="z",
                    level=lvl, labels=list(res.labels),
                    tau2=res.tau2 if tau2_user and not ee else None)
    tau2_fixed = 0.0 if ee else (float(res.tau2) if tau2_user else None)

    n_delta = len(step_arr) if stype.name == "stepfun" else stype.n_delta
    delta_fixed = np.full(n_delta, np.nan)
    if stype.name == "stepfun":
        delta_fixed[0] = 1.0  # metafor: delta[1] <- 1
    n_free = int(np.isnan(delta_fixed).sum())
    n_par = p + (0 if tau2_fixed is not None else 1) + n_free
    if k < n_par:
        raise TooFewStudiesError(
            f"selmodel: number of studies (k = {k}) is too small to fit the {stype.name} "
            f"selection model, which estimates {n_par} parameters (metafor stops here too)"
        )

    pvals_raw = one_sided_pvalues(yi, vi, alternative)
    pmin = stype.pval_min
    pvals = np.clip(pvals_raw, pmin, 1.0 - pmin)
    pgrp = None
    ptable = None
    if stype.name == "stepfun" or steps is not None:
        pgrp = np.searchsorted(step_arr, pvals, side="left")
        counts = np.bincount(pgrp, minlength=len(step_arr))[: len(step_arr)]
        labels = _interval_labels(step_arr if stype.name == "stepfun"
                                  else np.append(step_arr, 1.0))
        if stype.name != "stepfun":
            counts = np.bincount((pvals > step_arr[0]).astype(int), minlength=2)
        ptable = dict(zip(labels, counts.tolist(), strict=True))
        empty = [lab for lab, c in ptable.items() if c == 0]
        if empty:
            side = ("all p-values on one side of every step; "
                    if int(np.count_nonzero(counts)) == 1 else "")
            raise BayesmaError(
                f"selmodel: {side}no observed p-value in the interval(s) "
                f"{'; '.join(e.strip() for e in empty)} (k per interval: {ptable}); "
                "the selection parameter of an empty interval is not estimable (metafor "
                "stops here too: 'One or more intervals do not contain any observed "
                "p-values'). Choose other steps."
            )

    Xs, mX = _scaling(X)
    data = SelectionData(yi=yi, vi=vi, X=Xs, pvals=pvals, steps=step_arr, pgrp=pgrp,
                         stype=stype, alternative=alternative)
    dmin = np.full(n_delta, stype.delta_min)
    dmax = np.full(n_delta, stype.delta_max)
    prob = _Problem(data, p, tau2_fixed, delta_fixed, dmin, dmax)

    beta0 = np.asarray(ml.beta, dtype=float)
    if mX is not None:
        beta0 = np.linalg.solve(mX, beta0)
    start = list(beta0)
    if tau2_fixed is None:
        start.append(float(ml.tau2) + 0.001)  # metafor: tau2.init = log(tau2 + 0.001)
    start += [stype.delta_init] * n_free
    theta, converged, optimiser = _maximise(prob, np.asarray(start, dtype=float))
    if not converged:
        warnings.warn(
            f"selmodel ({stype.name}): the optimiser did not reach a stationary point "
            "(L-BFGS-B and the Nelder-Mead + BFGS fallback); the estimates are the best "
            "point found and may be wrong. Try other steps or a simpler selection function.",
            SelectionModelWarning, stacklevel=2,
        )
    beta_s, tau2, delta = prob.split(theta)
    tau2 = 0.0 if tau2 < 10 * np.finfo(float).eps else float(tau2)
    ll = log_likelihood(data, beta_s, tau2, delta)

    free_d = np.isnan(delta_fixed)
    if np.any(delta[free_d] <= dmin[free_d] + np.finfo(float).eps ** 0.25) or np.any(
        delta[free_d] >= dmax[free_d] - 100 * np.finfo(float).eps ** 0.25
    ):
        warnings.warn(
            f"selmodel ({stype.name}): one or more delta estimates are (almost) equal to "
            f"their lower or upper bound ({stype.delta_min:g}, {stype.delta_max:g}); treat "
            "the results with caution (metafor warns here too)",
            SelectionModelWarning, stacklevel=2,
        )

    # Hessian of -ll on (beta, tau², delta) at the estimate (metafor: numDeriv::hessian)
    theta_hat = np.concatenate([beta_s, [tau2] if tau2_fixed is None else [], delta[free_d]])
    n_b = p
    vb = np.full((p, p), np.nan)
    se_tau2 = float("nan")
    vd = np.full((n_delta, n_delta), np.nan)
    nonneg = np.zeros(theta_hat.size, dtype=bool)
    if tau2_fixed is None:
        nonneg[p] = True
    hess = numderiv_hessian(prob.negll, theta_hat, nonnegative=nonneg)
    try:
        if not np.all(np.isfinite(hess)):
            raise np.linalg.LinAlgError
        chol = np.linalg.cholesky(hess)
        ci = np.linalg.inv(chol)
        inv = ci.T @ ci
        vb = inv[:n_b, :n_b]
        j = n_b
        if tau2_fixed is None:
            se_tau2 = float(math.sqrt(inv[j, j]))
            j += 1
        idx = np.flatnonzero(free_d)
        vd[np.ix_(idx, idx)] = inv[j:, j:]
    except np.linalg.LinAlgError:
        warnings.warn(
            f"selmodel ({stype.name}): the Hessian could not be inverted; standard errors, "
            "tests and confidence intervals are NaN (metafor: 'Error when trying to invert "
            "Hessian')", SelectionModelWarning, stacklevel=2,
        )
    if mX is not None:
        beta = mX @ beta_s
        vb = mX @ vb @ mX.T
    else:
        beta = np.asarray(beta_s, dtype=float)

    # LRT of no selection against the ML fit of the input model (metafor)
    ll0 = float(ml.fit_stats.loc["ll", "ML"])
    lrt = max(0.0, -2.0 * (ll0 - ll))
    lrt_df = n_free
    lrt_pval = float(chi2_sf(lrt, lrt_df)) if lrt_df > 0 else float("nan")

    # LRT of tau² = 0 (metafor: refit with tau2 = 0, same starting values)
    lrt_tau2 = lrt_tau2_pval = float("nan")
    if tau2_fixed is None:
        prob0 = _Problem(data, p, 0.0, delta_fixed, dmin, dmax)
        start0 = np.concatenate([beta0, [stype.delta_init] * n_free])
        th0, _, _ = _maximise(prob0, start0)
        ll_h0 = -prob0.negll(th0)
        lrt_tau2 = max(0.0, -2.0 * (ll_h0 - ll))
        lrt_tau2_pval = float(chi2_sf(lrt_tau2, 1))

    crit = float(norm_isf((1.0 - lvl) / 2.0))
    return SelModelResult.build(
        res=res, stype=stype, steps=step_arr, steps_given=steps is not None,
        alternative=alternative, level=lvl, crit=crit, beta=beta, vb=vb, terms=terms,
        tau2=tau2, se_tau2=se_tau2, tau2_fixed=tau2_fixed is not None, delta=delta, vd=vd,
        delta_fixed=~free_d, ll=ll, ll0=ll0, lrt=lrt, lrt_df=lrt_df, lrt_pval=lrt_pval,
        lrt_tau2=lrt_tau2, lrt_tau2_pval=lrt_tau2_pval, pvals=pvals, ptable=ptable,
        converged=converged, optimiser=optimiser, hessian=hess, n_par=n_par,
    )

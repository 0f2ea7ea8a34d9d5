"""Estimators of the between-study variance tau² (metafor 3.8 ``rma.uni`` semantics).

Every estimator accepts moderators (a k x p design matrix ``X``) and follows the code
of metafor 3.8-1 ``rma.uni()`` line by line, including its conventions:

* the estimators work on the centred outcomes ``yi - mean(yi)`` (metafor's ``Ymc``);
  this changes nothing when ``X`` has an intercept;
* estimates are truncated at 0 (metafor's ``tau2.min = 0``);
* ``se_tau2`` is the standard error metafor reports for each method (NaN where metafor
  gives NA, e.g. for EE).

Sources of the formulas:

* DL: DerSimonian & Laird (1986), Controlled Clinical Trials 7, 177-188; with moderators
  Raudenbush (2009), *The handbook of research synthesis*, eq. 16.43.
* HE: Hedges (1983), Psychological Bulletin 93, 388-395 (the "variance component" /
  method-of-moments estimator with unit weights).
* HS / HSk: Hunter & Schmidt (2004), *Methods of meta-analysis*; the k-corrected
  variant as in Viechtbauer (2005) and metafor.
* SJ: Sidik & Jonkman (2005), Journal of Biopharmaceutical Statistics 15, 823-838
  (initial value ``mean((yi - ybar)^2)`` as in metafor).
* ML / REML: Viechtbauer (2005), Journal of Educational and Behavioral Statistics 30,
  261-293, Fisher scoring with step halving at 0 (metafor's algorithm and its
  ``ll0check``); se from the inverse Fisher information.
* Fisher scoring can oscillate (metafor then stops with "Fisher scoring algorithm did
  not converge"); after 1000 steps without convergence the same estimating equation is
  solved by bracketed root-finding instead (ML/REML: the best point of a grid of the
  (restricted) likelihood refined by brentq on the score; EB: the root of
  ``y'Py = k - p``), so bayesma returns the estimate where metafor gives up.
* EB: Morris (1983), JASA 78, 47-55; Berkey et al. (1995), Statistics in Medicine 14,
  395-411 (metafor's Fisher-scoring-like update).
* PM: Paule & Mandel (1982), J. Res. Natl. Bur. Stand. 87, 377-385 (root of the
  generalized Q at k - p); PMM: the median-unbiased variant (root at the median of
  chi²(k - p)), Viechtbauer (2021, metafor documentation).
* GENQ: generalized Q-statistic estimator with user weights, DerSimonian & Kacker (2007),
  Contemporary Clinical Trials 28, 105-114; Jackson (2013).
* se of DL/HE/HS/GENQ/SJ: the delta-method expressions in metafor's rma.uni
  (Viechtbauer 2007, Statistics in Medicine 26, 37-52).

Everything is computed without k x k matrices: for diagonal weights ``w`` the projection
``P = W - W X (X'WX)^-1 X'W`` enters only through traces and quadratic forms, which
need O(k p²) operations (see :class:`_Proj`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from bayesma.errors import ConvergenceError, DataError, TooFewStudiesError

__all__ = ["METHODS", "Tau2Estimate", "canonical_method", "estimate_tau2"]

#: tau² estimators, in metafor's names ("FE" and "CE" are accepted as aliases of "EE").
METHODS = ("EE", "DL", "HE", "HS", "HSk", "SJ", "ML", "REML", "EB", "PM", "PMM", "GENQ")

_ALIASES = {"FE": "EE", "CE": "EE"}


def canonical_method(method: str) -> str:
    """Normalise a method name: case-insensitive, ``FE``/``CE`` -> ``EE``."""
    if not isinstance(method, str):
        raise DataError(f"method must be a string, one of {', '.join(METHODS)}; got {method!r}")
    up = method.strip().upper()
    up = _ALIASES.get(up, up)
    for m in METHODS:
        if m.upper() == up:
            return m
    raise DataError(
        f"unknown tau^2 estimator {method!r}; choose one of {', '.join(METHODS)} "
        "(FE is an alias of EE)"
    )


@dataclass(frozen=True)
class Tau2Estimate:
    """Result of :func:`estimate_tau2`.

    Attributes
    ----------
    tau2 : float
        The estimate (>= 0).
    se_tau2 : float
        Its standard error as metafor reports it (NaN where metafor gives NA).
    converged : bool
        False only if an iterative method hit ``maxiter``.
    iterations : int
        Fisher-scoring steps (ML, REML, EB) or root-finder iterations (PM, PMM); 0 for
        closed-form estimators.
    """

    tau2: float
    se_tau2: float
    converged: bool = True
    iterations: int = 0


class _Proj:
    """Traces and quadratic forms of ``P = W - W X (X'WX)^-1 X'W`` for diagonal ``W``.

    With ``A = (X'WX)^-1`` and diagonal matrices ``D1, D2``:

    * ``tr(P D) = sum(w d) - tr(A X' diag(w² d) X)``
    * ``tr(P D1 P D2) = sum(w² d1 d2) - 2 tr(A X' diag(w³ d1 d2) X)
      + tr(A X' diag(w² d1) X A X' diag(w² d2) X)``
    * ``P y = w * (y - X b)`` with ``b`` the weighted least-squares fit.
    """

    def __init__(self, w: np.ndarray, X: np.ndarray) -> None:
        self.w = w
        self.X = X
        # intercept-only models (the common case) reduce to sums
        self.ones = X.shape[1] == 1 and bool(np.all(X == 1.0))
        self.A = _inv_spd(self.xdx(w))

    def xdx(self, d: np.ndarray) -> np.ndarray:
        if self.ones:
            return np.array([[np.sum(d)]])
        return self.X.T @ (d[:, None] * self.X)

    def fit(self, y: np.ndarray) -> np.ndarray:
        """Weighted least-squares coefficients."""
        if self.ones:
            return self.A[0] * np.dot(self.w, y)
        return self.A @ (self.X.T @ (self.w * y))

    def resid(self, y: np.ndarray) -> np.ndarray:
        if self.ones:
            return y - self.fit(y)[0]
        return y - self.X @ self.fit(y)

    def Py(self, y: np.ndarray) -> np.ndarray:
        return self.w * self.resid(y)

    def quad(self, y: np.ndarray) -> float:
        """``y' P y``: the weighted residual sum of squares."""
        r = self.resid(y)
        return float(np.dot(self.w * r, r))

    def tr_PD(self, d: np.ndarray | None = None) -> float:
        w = self.w
        d = np.ones_like(w) if d is None else d
        return float(np.sum(w * d) - np.sum(self.A * self.xdx(w * w * d)))

    def tr_PDPD(self, d1: np.ndarray | None = None, d2: np.ndarray | None = None) -> float:
        w = self.w
        one = np.ones_like(w)
        d1 = one if d1 is None else d1
        d2 = one if d2 is None else d2
        w2 = w * w
        m1 = self.A @ self.xdx(w2 * d1)
        m2 = m1 if d2 is d1 else self.A @ self.xdx(w2 * d2)
        return float(
            np.sum(w2 * d1 * d2) - 2.0 * np.sum(self.A * self.xdx(w2 * w * d1 * d2))
            + np.sum(m1 * m2.T)
        )


def _inv_spd(m: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite p x p matrix."""
    if m.shape == (1, 1):
        return 1.0 / m
    try:
        c = np.linalg.cholesky(m)
    except np.linalg.LinAlgError as exc:
        raise DataError(
            "the model matrix is not of full rank (X'WX is singular); "
            "remove redundant moderators"
        ) from exc
    ci = np.linalg.inv(c)
    return ci.T @ ci


def _as_inputs(yi, vi, X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    if y.shape != v.shape:
        raise DataError(f"yi and vi differ in length ({y.size} vs {v.size})")
    if X is None:
        Xm = np.ones((y.size, 1))
    else:
        Xm = np.asarray(X, dtype=float)
        if Xm.ndim == 1:
            Xm = Xm[:, None]
        if Xm.shape[0] != y.size:
            raise DataError(f"X has {Xm.shape[0]} rows but there are {y.size} studies")
    return y, v, Xm


def _ll_boundary(y, v, X, tau2, reml):
    """(Restricted) log-likelihood up to the constant, for metafor's ``ll0check``."""
    w = 1.0 / (v + tau2)
    pr = _Proj(w, X)
    rss = pr.quad(y)
    ll = -0.5 * np.sum(np.log(v + tau2)) - 0.5 * rss
    if reml:
        ll -= 0.5 * np.linalg.slogdet(X.T @ (w[:, None] * X))[1]
    return ll


def estimate_tau2(
    yi,
    vi,
    X=None,
    method: str = "REML",
    *,
    weights=None,
    tol: float = 1e-12,
    maxiter: int = 10000,
) -> Tau2Estimate:
    """Estimate tau² with one of metafor's estimators.

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and sampling variances (vi > 0).
    X : array_like, optional
        k x p design matrix (default: intercept only).
    method : str
        One of :data:`METHODS` (``"FE"`` is an alias of ``"EE"``).
    weights : array_like, optional
        Weights of the generalized Q for ``GENQ`` (default ``1/vi``).
    tol : float
        Convergence threshold: change in tau² between Fisher-scoring steps (ML, REML,
        EB) and ``xtol`` of the bracketed root-finder (PM, PMM). metafor's defaults are
        1e-5 and eps^0.25; the default here matches metafor run with
        ``control=list(threshold=1e-12, tol=1e-12)``.
    maxiter : int
        Maximum number of iterations.

    Returns
    -------
    Tau2Estimate
    """
    method = canonical_method(method)
    y, v, X = _as_inputs(yi, vi, X)
    k, p = X.shape
    if method == "EE":
        return Tau2Estimate(0.0, float("nan"))
    if k == 1:
        # metafor: with k = 1, tau² is set to 0 and not estimated
        return Tau2Estimate(0.0, float("nan"))
    if k <= p:
        raise TooFewStudiesError(
            f"{method} needs more studies than coefficients (k = {k}, p = {p}): "
            "number of parameters to be estimated is larger than the number of observations"
        )
    if np.any(v <= 0):
        raise DataError("sampling variances must be > 0", column="vi")
    ymc = y - y.mean()
    kp = k - p
    nan = float("nan")

    if method in ("HS", "HSk"):
        w = 1.0 / v
        pr = _Proj(w, X)
        rss = pr.quad(ymc)
        sw = w.sum()
        if method == "HS":
            tau2 = (rss - k) / sw
            fac = 1.0
        else:
            tau2 = (k / kp * rss - k) / sw
            fac = k / kp
        tau2 = max(0.0, tau2)
        se = fac * np.sqrt(
            (2 * kp + 4 * tau2 * pr.tr_PD() + 2 * tau2**2 * pr.tr_PDPD()) / sw**2
        )
        return Tau2Estimate(tau2, float(se))

    if method == "HE":
        tau2, se = _he(ymc, v, X)
        return Tau2Estimate(max(0.0, tau2), se)

    if method in ("DL", "GENQ"):
        if method == "DL" or weights is None:
            a = 1.0 / v
        else:
            a = np.asarray(weights, dtype=float).ravel()
            if a.shape != v.shape or np.any(~np.isfinite(a)) or np.any(a <= 0):
                raise DataError("GENQ weights must be finite, > 0 and one per study")
        pr = _Proj(a, X)
        rss = pr.quad(ymc)
        trP = pr.tr_PD()
        if method == "DL":
            tau2 = max(0.0, (rss - kp) / trP)
            se = np.sqrt((2 * kp + 4 * tau2 * trP + 2 * tau2**2 * pr.tr_PDPD()) / trP**2)
        else:
            trPV = pr.tr_PD(v)
            tau2 = max(0.0, (rss - trPV) / trP)
            se = np.sqrt(
                (2 * pr.tr_PDPD(v, v) + 4 * tau2 * pr.tr_PDPD(v, None)
                 + 2 * tau2**2 * pr.tr_PDPD()) / trP**2
            )
        return Tau2Estimate(tau2, float(se))

    if method == "SJ":
        tau0 = float(np.mean(ymc**2))
        pr = _Proj(1.0 / (v + tau0), X)
        rss = pr.quad(ymc)
        tau2 = max(0.0, tau0 * rss / kp)
        se = np.sqrt(
            tau0**2 / kp**2
            * (2 * pr.tr_PDPD(v, v) + 4 * tau2 * pr.tr_PDPD(v, None) + 2 * tau2**2 * pr.tr_PDPD())
        )
        return Tau2Estimate(tau2, float(se))

    if method in ("PM", "PMM"):
        target = float(kp) if method == "PM" else float(stats.chi2.ppf(0.5, kp))

        def qfun(t: float) -> float:
            return _Proj(1.0 / (v + t), X).quad(ymc) - target

        if qfun(0.0) < 0:
            tau2, it = 0.0, 0
        else:
            # metafor brackets in [0, max(100, 10 mad(yi)^2)] and errors beyond;
            # the bracket here grows until it contains the root (same root when metafor
            # finds one).
            hi = max(100.0, 10.0 * _mad(y) ** 2)
            n = 0
            while qfun(hi) > 0:
                hi *= 10.0
                n += 1
                if n > 60:
                    raise ConvergenceError(f"{method}: no root of the generalized Q found")
            root, r = optimize.brentq(
                qfun, 0.0, hi, xtol=min(tol, 1e-12) * 1e-3, rtol=4 * np.finfo(float).eps,
                maxiter=maxiter, full_output=True, disp=False,
            )
            if not r.converged:
                raise ConvergenceError(f"{method}: root-finding did not converge")
            tau2, it = max(0.0, float(root)), int(r.iterations)
        w = 1.0 / (v + tau2)
        se = np.sqrt(2 * k**2 / kp / w.sum() ** 2)
        return Tau2Estimate(tau2, float(se), True, it)

    if method in ("ML", "REML", "EB"):
        he, _ = _he(ymc, v, X)
        tau2 = max(0.0, he)
        it = 0
        conv = True
        change = tol + 1.0
        fisher_max = min(maxiter, _FISHER_SWITCH)
        while change > tol:
            it += 1
            old = tau2
            w = 1.0 / (v + tau2)
            pr = _Proj(w, X)
            if method == "EB":
                adj = (pr.quad(ymc) * k / kp - k) / w.sum()
            else:
                py = pr.Py(ymc)
                ypp = float(py @ py)
                if method == "ML":
                    adj = (ypp - w.sum()) / np.sum(w * w)
                else:
                    adj = (ypp - pr.tr_PD()) / pr.tr_PDPD()
            if not np.isfinite(adj):
                adj = 0.0
            while tau2 + adj < 0:
                adj /= 2.0
            tau2 = tau2 + adj
            change = abs(old - tau2)
            if it > fisher_max:
                conv = False
                break
        if not conv:
            # Fisher scoring oscillates on some data (metafor then stops with "did not
            # converge"); solve the same estimating equation by bracketed root-finding.
            tau2, extra = _score_root(ymc, v, X, method, tol, maxiter)
            it += extra
            conv = True
        if method in ("ML", "REML") and tau2 > tol:
            # metafor's ll0check: fall back to 0 if the boundary has a higher likelihood
            reml = method == "REML"
            if _ll_boundary(ymc, v, X, 0.0, reml) - _ll_boundary(ymc, v, X, tau2, reml) > tol:
                tau2 = 0.0
        tau2 = max(0.0, tau2)
        w = 1.0 / (v + tau2)
        if method == "ML":
            se = np.sqrt(2 / np.sum(w * w))
        elif method == "REML":
            se = np.sqrt(2 / _Proj(w, X).tr_PDPD())
        else:
            se = np.sqrt(2 * k**2 / kp / w.sum() ** 2)
        return Tau2Estimate(float(tau2), float(se), conv, it)

    raise AssertionError(method)  # pragma: no cover
    return Tau2Estimate(nan, nan)  # pragma: no cover


#: Fisher-scoring steps before switching to bracketed root-finding of the score
_FISHER_SWITCH = 1000


def _score(y: np.ndarray, v: np.ndarray, X: np.ndarray, t: float, method: str) -> float:
    """Estimating equation of ML / REML / EB at tau² = t (zero at the estimate)."""
    w = 1.0 / (v + t)
    pr = _Proj(w, X)
    if method == "EB":  # y'Py = k - p (the Paule-Mandel equation)
        k, p = X.shape
        return pr.quad(y) - (k - p)
    py = pr.Py(y)
    ypp = float(py @ py)
    return ypp - (float(w.sum()) if method == "ML" else pr.tr_PD())


def _score_root(y, v, X, method, tol, maxiter) -> tuple[float, int]:
    """Maximiser of the (restricted) likelihood / root of the EB equation by brentq.

    ML/REML: the log-likelihood is evaluated on a grid over [0, upper]; the best grid
    point is refined by brentq on the score inside its neighbouring bracket.
    """
    k, p = X.shape
    upper = max(100.0, 10.0 * float(np.var(y)) * k, 10.0 * float(np.max(v)))
    grid = np.concatenate([[0.0], np.geomspace(1e-8 * upper, upper, 400)])
    if method == "EB":
        s0 = _score(y, v, X, 0.0, method)
        if s0 <= 0:
            return 0.0, 0
        lo, hi = 0.0, upper
        while _score(y, v, X, hi, method) > 0:
            hi *= 10
            if hi > 1e300:
                raise ConvergenceError("EB: no root of the estimating equation")
    else:
        reml = method == "REML"
        lls = np.array([_ll_boundary(y, v, X, t, reml) for t in grid])
        i = int(np.argmax(lls))
        if i == 0:
            return 0.0, 0
        if i == len(grid) - 1:
            raise ConvergenceError(f"{method}: the likelihood increases up to tau2 = {upper:g}")
        lo, hi = grid[i - 1], grid[i + 1]
        if _score(y, v, X, lo, method) <= 0 or _score(y, v, X, hi, method) >= 0:
            return float(grid[i]), len(grid)
    root, r = optimize.brentq(
        lambda t: _score(y, v, X, t, method), lo, hi, xtol=min(tol, 1e-12) * 1e-3,
        rtol=4 * np.finfo(float).eps, maxiter=maxiter, full_output=True, disp=False,
    )
    if not r.converged:
        raise ConvergenceError(f"{method}: root-finding of the score did not converge")
    return float(root), int(r.iterations) + len(grid)


def _he(ymc: np.ndarray, v: np.ndarray, X: np.ndarray) -> tuple[float, float]:
    """Hedges' estimator (unweighted method of moments) and its metafor se."""
    k, p = X.shape
    kp = k - p
    pr = _Proj(np.ones_like(v), X)
    rss = pr.quad(ymc)
    trPV = pr.tr_PD(v)
    tau2 = (rss - trPV) / kp
    t = max(0.0, tau2)
    se = np.sqrt((2 * pr.tr_PDPD(v, v) + 4 * t * trPV + 2 * t**2 * kp) / kp**2)
    return float(tau2), float(se)


def _mad(y: np.ndarray) -> float:
    """R's ``mad()``: median absolute deviation times 1.4826."""
    return float(1.4826 * np.median(np.abs(y - np.median(y))))

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
* ML / REML at the global maximum: after Fisher scoring (and metafor's ``ll0check``) the
  (restricted) profile likelihood is evaluated on a vectorised grid over tau² and every
  other local maximum is refined (:mod:`bayesma.classical.profile`); the highest mode is
  returned and a second mode close to it is recorded (``multimodal``, ``tau2_local``).
  Without moderators the score on that grid comes first: one mode there means its root,
  by Newton inside the grid interval (:mod:`bayesma.classical.intercept_reml`).
  metafor returns whichever mode Fisher scoring reaches. When Fisher scoring oscillates
  (metafor: "Fisher scoring algorithm did not converge") the same grid search gives the
  estimate; for EB the root of ``y'Py = k - p`` is found by brentq (one root: the
  generalized Q decreases in tau²).
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
need O(k p²) operations (see :class:`bayesma.classical.projection.Proj`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayesma.classical.intercept_reml import (
    fisher_intercept,
    he_intercept,
    intercept_estimate,
    se_intercept,
)
from bayesma.classical.profile import global_maximum, score, search_upper
from bayesma.classical.projection import Proj
from bayesma.data import check_effect_range
from bayesma.errors import ConvergenceError, DataError, TooFewStudiesError
from bayesma.tails import chi2_ppf

__all__ = ["FISHER_SWITCH", "METHODS", "Tau2Estimate", "canonical_method", "estimate_tau2",
           "estimate_tau2_checked"]

#: tau² estimators, in metafor's names ("FE" and "CE" are accepted as aliases of "EE").
METHODS = ("EE", "DL", "HE", "HS", "HSk", "SJ", "ML", "REML", "EB", "PM", "PMM", "GENQ")

_ALIASES = {"FE": "EE", "CE": "EE"}
#: upper-case name -> canonical name (aliases included)
_CANONICAL = {m.upper(): m for m in METHODS} | _ALIASES


def canonical_method(method: str) -> str:
    """Normalise a method name: case-insensitive, ``FE``/``CE`` -> ``EE``."""
    if not isinstance(method, str):
        raise DataError(f"method must be a string, one of {', '.join(METHODS)}; got {method!r}")
    m = _CANONICAL.get(method.strip().upper())
    if m is not None:
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
    multimodal : bool
        ML / REML only: the (restricted) likelihood has a second local maximum within
        :data:`bayesma.classical.profile.MODE_TOLERANCE` log-likelihood units of the
        global one (the estimate is always the global maximum).
    tau2_local : float or None
        That second local maximum (None when unimodal).
    """

    tau2: float
    se_tau2: float
    converged: bool = True
    iterations: int = 0
    multimodal: bool = False
    tau2_local: float | None = None


def _as_inputs(yi, vi, X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    if y.shape != v.shape:
        raise DataError(f"yi and vi differ in length ({y.size} vs {v.size})")
    if np.all(np.isfinite(y)) and np.all(np.isfinite(v)) and np.all(v > 0):
        check_effect_range(y, v)
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
    if X.shape[1] == 1 and bool(np.all(X == 1.0)):
        # intercept only: y'Py = sum w (y - ybar_w)², log|X'WX| = log sum w
        sw = w.sum()
        r = y - (w @ y) / sw
        ll = -0.5 * np.sum(np.log(v + tau2)) - 0.5 * float((w * r) @ r)
        return ll - 0.5 * np.log(sw) if reml else ll
    pr = Proj(w, X)
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
    return estimate_tau2_checked(y, v, X, method, weights=weights, tol=tol, maxiter=maxiter)


def estimate_tau2_checked(
    y: np.ndarray,
    v: np.ndarray,
    X: np.ndarray,
    method: str,
    *,
    weights=None,
    tol: float = 1e-12,
    maxiter: int = 10000,
    intercept_only: bool = False,
) -> Tau2Estimate:
    """:func:`estimate_tau2` on inputs checked already (as ``rma`` checks them).

    ``y`` and ``v`` are finite float arrays with ``v > 0`` within the accepted range,
    ``X`` a float k x p matrix with ``k > p``, ``method`` canonical (``EE`` and k = 1
    give tau² = 0); the estimate is the same as :func:`estimate_tau2`'s, without checking
    the input again. ``intercept_only=True`` states that ``X`` is a column of ones
    (as ``fit_arrays`` knows), which saves checking it.
    """
    k, p = X.shape
    if method == "EE" or k == 1:
        return Tau2Estimate(0.0, float("nan"))
    ymc = y - float(y.sum()) / k  # y - mean(y) (numpy: sum / k)
    kp = k - p
    nan = float("nan")

    if method in ("HS", "HSk"):
        w = 1.0 / v
        pr = Proj(w, X)
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
        pr = Proj(a, X)
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
        pr = Proj(1.0 / (v + tau0), X)
        rss = pr.quad(ymc)
        tau2 = max(0.0, tau0 * rss / kp)
        se = np.sqrt(
            tau0**2 / kp**2
            * (2 * pr.tr_PDPD(v, v) + 4 * tau2 * pr.tr_PDPD(v, None) + 2 * tau2**2 * pr.tr_PDPD())
        )
        return Tau2Estimate(tau2, float(se))

    if method in ("PM", "PMM"):
        from scipy import optimize  # slow import, needed by few calls

        target = float(kp) if method == "PM" else float(chi2_ppf(0.5, kp))

        def qfun(t: float) -> float:
            return Proj(1.0 / (v + t), X).quad(ymc) - target

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
        fisher_max = min(maxiter, FISHER_SWITCH)
        ones = intercept_only or (p == 1 and bool(np.all(X == 1.0)))
        if ones and method != "EB":
            return _intercept_ml_reml(ymc, v, X, method, tol, maxiter, fisher_max)
        he, _ = _he(ymc, v, X)
        tau2 = max(0.0, he)
        it = 0
        conv = True
        change = tol + 1.0
        while change > tol:
            it += 1
            old = tau2
            w = 1.0 / (v + tau2)
            pr = Proj(w, X)
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
        multimodal, tau2_local = False, None
        if method == "EB":
            if not conv:
                # Fisher scoring oscillates on some data (metafor then stops with "did
                # not converge"); the EB equation has one root: find it by brentq.
                tau2, extra = _eb_root(ymc, v, X, tol, maxiter)
                it += extra
                conv = True
        else:
            tau2, conv, it, multimodal, tau2_local = _global_check(
                ymc, v, X, method, tau2, conv, it, tol, maxiter)
        tau2 = max(0.0, tau2)
        w = 1.0 / (v + tau2)
        if method == "ML":
            se = np.sqrt(2 / np.sum(w * w))
        elif method == "REML":
            se = np.sqrt(2 / Proj(w, X).tr_PDPD())
        else:
            se = np.sqrt(2 * k**2 / kp / w.sum() ** 2)
        return Tau2Estimate(
            float(tau2), float(se), conv, it, multimodal=multimodal,
            tau2_local=None if tau2_local is None else float(tau2_local),
        )

    raise AssertionError(method)  # pragma: no cover
    return Tau2Estimate(nan, nan)  # pragma: no cover


#: Fisher-scoring steps before switching to the likelihood grid and bracketed
#: root-finding of the score (profile.global_maximum): Fisher scoring that has not met
#: ``tol`` in 100 steps oscillates or crawls, and the grid finds the same root.
FISHER_SWITCH = 100


def _global_check(y, v, X, method, tau2, conv, it, tol, maxiter):
    """ML / REML after Fisher scoring: metafor's ``ll0check``, then the global maximum.

    The likelihood may have several modes and Fisher scoring stops at the one nearest
    its start (metafor does too): the profile likelihood is checked on a grid and the
    global maximum returned (profile.py). Returns ``(tau2, converged, iterations,
    multimodal, tau2_local)``.
    """
    reml = method == "REML"
    if conv and tau2 > tol and (
        _ll_boundary(y, v, X, 0.0, reml) - _ll_boundary(y, v, X, tau2, reml) > tol
    ):
        tau2 = 0.0  # metafor's ll0check
    gm = global_maximum(
        y, v, X, method, start=max(tau2, 0.0) if conv else None, tol=tol, maxiter=maxiter,
    )
    it += 0 if conv else gm.evaluations
    return gm.tau2, True, it, gm.multimodal, gm.tau2_local


def _intercept_ml_reml(y, v, X, method, tol, maxiter, fisher_max) -> Tau2Estimate:
    """ML / REML with ``X = 1`` (``intercept_reml.py``): when the score on the likelihood
    grid shows one maximum, that maximum (0, or the score's root in its grid interval by
    Newton); otherwise metafor's Fisher scoring from the truncated HE start and
    :func:`_global_check`, as for any design."""
    reml = method == "REML"
    found = intercept_estimate(y, v, reml=reml, tol=tol, max_steps=fisher_max)
    multimodal, tau2_local = False, None
    if found is not None:
        tau2, it = found
        conv = True
    else:
        tau2, conv, it = fisher_intercept(
            y, v, max(0.0, he_intercept(y, v)), reml=reml, tol=tol, max_steps=fisher_max)
        tau2, conv, it, multimodal, tau2_local = _global_check(
            y, v, X, method, tau2, conv, it, tol, maxiter)
    tau2 = max(0.0, tau2)
    return Tau2Estimate(
        float(tau2), se_intercept(v, tau2, reml=reml), conv, it, multimodal=multimodal,
        tau2_local=None if tau2_local is None else float(tau2_local),
    )


def _eb_root(y, v, X, tol, maxiter) -> tuple[float, int]:
    """Root of the EB equation ``y'Py = k - p`` by brentq (decreasing in tau², one root)."""
    from scipy import optimize  # slow import, needed by few calls

    if score(y, v, X, 0.0, "EB") <= 0:
        return 0.0, 0
    hi = search_upper(y, v, X)
    while score(y, v, X, hi, "EB") > 0:
        hi *= 10
        if hi > 1e300:
            raise ConvergenceError("EB: no root of the estimating equation")
    root, r = optimize.brentq(
        lambda t: score(y, v, X, t, "EB"), 0.0, hi, xtol=min(tol, 1e-12) * 1e-3,
        rtol=4 * np.finfo(float).eps, maxiter=maxiter, full_output=True, disp=False,
    )
    if not r.converged:
        raise ConvergenceError("EB: root-finding of the estimating equation did not converge")
    return float(root), int(r.iterations)


def _he(ymc: np.ndarray, v: np.ndarray, X: np.ndarray) -> tuple[float, float]:
    """Hedges' estimator (unweighted method of moments) and its metafor se."""
    k, p = X.shape
    kp = k - p
    if p == 1 and bool(np.all(X == 1.0)):
        # intercept only (P = I - J/k): rss = sum (y - ybar)², tr(PV) = sum v - sum v / k,
        # tr(PVPV) = sum v² - 2 sum v² / k + (sum v / k)²
        sv, sv2 = float(v.sum()), float(v @ v)
        r = ymc - ymc.mean()
        trPV = sv - sv / k
        tau2 = (float(r @ r) - trPV) / kp
        t = max(0.0, tau2)
        trPVPV = sv2 - 2.0 * sv2 / k + (sv / k) ** 2
        se = np.sqrt((2 * trPVPV + 4 * t * trPV + 2 * t**2 * kp) / kp**2)
        return float(tau2), float(se)
    pr = Proj(np.ones_like(v), X)
    rss = pr.quad(ymc)
    trPV = pr.tr_PD(v)
    tau2 = (rss - trPV) / kp
    t = max(0.0, tau2)
    se = np.sqrt((2 * pr.tr_PDPD(v, v) + 4 * t * trPV + 2 * t**2 * kp) / kp**2)
    return float(tau2), float(se)


def _mad(y: np.ndarray) -> float:
    """R's ``mad()``: median absolute deviation times 1.4826."""
    return float(1.4826 * np.median(np.abs(y - np.median(y))))

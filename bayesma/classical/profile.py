"""The (restricted) profile log-likelihood of tau² and its global maximum.

The ML and REML estimators of tau² maximise

    ll_ML(tau²)   = -1/2 [sum log(v_i + tau²) + r'W r]
    ll_REML(tau²) = ll_ML(tau²) - 1/2 log|X'WX|

(up to constants; ``W = diag(1/(v_i + tau²))``, ``r = y - X b(tau²)`` with ``b`` the
weighted least-squares fit; Viechtbauer 2005, Journal of Educational and Behavioral
Statistics 30, 261-293, eqs. 5 and 8; Harville 1977, JASA 72, 320-338). These functions
need not be unimodal: with a few very precise and many imprecise studies the
likelihood can have a local maximum at tau² = 0 and a higher one inside
(Raudenbush 2009, *The handbook of research synthesis*, ch. 16; metafor's Fisher scoring
then stops at whichever mode is nearer its start value).

:func:`global_maximum` therefore evaluates the profile log-likelihood on a vectorised
grid over ``[0, upper]`` (0 plus log-spaced points), refines every local maximum of the
grid by bracketed root-finding of the score (Brent 1973), and returns the highest mode
together with the next-best distinct mode when it lies within ``MODE_TOLERANCE`` of the
global maximum (both inside the 95% profile-likelihood region:
``qchisq(0.95, 1) / 2 = 1.92``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bayesma.classical.projection import Proj
from bayesma.errors import ConvergenceError
from bayesma.tails import chi2_ppf

__all__ = [
    "GRID_POINTS",
    "MODE_TOLERANCE",
    "ProfileMaximum",
    "global_maximum",
    "grid_modes",
    "grid_size",
    "intercept_search_upper",
    "profile_loglik",
    "score",
    "search_upper",
    "tau2_grid",
]

#: log-spaced grid points (plus tau² = 0) of the profile log-likelihood
GRID_POINTS = 200
#: a second mode within this many log-likelihood units of the global one is reported
#: (half the 95% quantile of chi²(1): both modes lie in the 95% likelihood region)
MODE_TOLERANCE = float(chi2_ppf(0.95, 1) / 2.0)


def profile_loglik(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2, reml: bool) -> np.ndarray:
    """(Restricted) profile log-likelihood of tau², vectorised over ``tau2``.

    Parameters
    ----------
    y, v : ndarray
        Outcomes (k) and sampling variances (k).
    X : ndarray
        k x p design matrix.
    tau2 : float or array_like
        Values of tau² (>= 0).
    reml : bool
        Restricted (REML) instead of ML likelihood.

    Returns
    -------
    ndarray
        The log-likelihood up to an additive constant, one value per ``tau2``.
    """
    t = np.atleast_1d(np.asarray(tau2, dtype=float))
    out = np.empty(t.shape)
    # chunks keep the G x k work arrays small for large k
    step = max(1, 2_000_000 // max(1, y.size * X.shape[1]))
    for s in range(0, t.size, step):
        out[s:s + step] = _loglik_block(y, v, X, t[s:s + step], reml)
    return out


def _loglik_block(y, v, X, t, reml) -> np.ndarray:
    # one G x k work array: v + t, its log-sum, then (in place) the weights 1/(v + t);
    # the weighted residual sum of squares is y'Wy - b'X'Wy (b the WLS fit), so only
    # matrix-vector products over k remain
    p = X.shape[1]
    if p == 1 and bool(np.all(X == 1.0)):
        # intercept only: a k x G array, so that every sum over k adds whole rows
        work = v[:, None] + t[None, :]
        logsum = np.log(work).sum(axis=0)
        w = np.reciprocal(work, out=work)
        sw = w.sum(axis=0)
        swy = y @ w
        rss = (y * y) @ w - swy * swy / sw
        ll = -0.5 * logsum - 0.5 * np.maximum(rss, 0.0)
        return ll - 0.5 * np.log(sw) if reml else ll
    work = v[None, :] + t[:, None]
    logsum = np.log(work).sum(axis=1)
    w = np.reciprocal(work, out=work)
    wyy = w @ (y * y)
    # X'WX and X'Wy for every grid point
    xx = (X[:, :, None] * X[:, None, :]).reshape(X.shape[0], p * p)
    xwx = (w @ xx).reshape(-1, p, p)
    xwy = w @ (X * y[:, None])
    b = np.linalg.solve(xwx, xwy[..., None])[..., 0]
    rss = wyy - np.sum(b * xwy, axis=1)
    logdet = np.linalg.slogdet(xwx)[1]
    ll = -0.5 * logsum - 0.5 * np.maximum(rss, 0.0)
    if reml:
        ll = ll - 0.5 * logdet
    return ll


def score(y: np.ndarray, v: np.ndarray, X: np.ndarray, t: float, method: str) -> float:
    """Estimating equation of ML / REML / EB at tau² = t (zero at the estimate).

    ML: ``sum w² r² - sum w``; REML: ``y'PPy - tr(P)`` (Viechtbauer 2005, eqs. 6 and 9;
    twice the derivative of the log-likelihood); EB: ``y'Py - (k - p)`` (Morris 1983;
    the generalised Q at its expectation, decreasing in tau², hence one root).
    """
    w = 1.0 / (v + t)
    pr = Proj(w, X)
    if method == "EB":
        k, p = X.shape
        return pr.quad(y) - (k - p)
    py = pr.Py(y)
    ypp = float(py @ py)
    return ypp - (float(w.sum()) if method == "ML" else pr.tr_PD())


def search_upper(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """Upper end of the tau² search interval: beyond it the likelihood only falls.

    The (RE)ML score ``sum w² r² - sum w (+ ...)`` is negative once ``tau² >= max r_i²``
    (then ``w r² < 1`` for every study). With an intercept only, ``|r_i| <= range(y)``;
    with moderators the residuals of any weighted fit satisfy ``r_i² <= sum (y - ybar)²
    = k var(y)``. The bound used is ten times the larger of that and ``max(v)``;
    :func:`global_maximum` widens it if the likelihood still rises at its end.
    """
    if X.shape[1] == 1 and bool(np.all(X == 1.0)):
        return intercept_search_upper(y, v)
    return 10.0 * max(float(np.var(y)) * y.size, float(np.max(v)), 1e-300)


def intercept_search_upper(y: np.ndarray, v: np.ndarray) -> float:
    """:func:`search_upper` of an intercept-only model: ``10 max(range(y)², max v)``."""
    spread = (float(y.max()) - float(y.min())) ** 2
    return 10.0 * max(spread, float(v.max()), 1e-300)


def grid_size(k: int, n: int = GRID_POINTS) -> int:
    """Grid points for ``k`` studies: ``n`` up to k = 2000, then fewer (at least 60) so
    that the check costs about as much as 2000 studies do (a G x k evaluation)."""
    return n if k <= 2000 else max(60, int(n * 2000 / k))


@dataclass(frozen=True)
class ProfileMaximum:
    """Result of :func:`global_maximum`.

    Attributes
    ----------
    tau2, ll : float
        The global maximiser and the log-likelihood there.
    modes : list of (tau2, ll)
        Every distinct local maximum found, best first.
    multimodal : bool
        True when a second mode lies within :data:`MODE_TOLERANCE` of ``ll``.
    tau2_local : float or None
        That second mode (None when unimodal).
    evaluations : int
        Likelihood evaluations on the grid.
    """

    tau2: float
    ll: float
    modes: list
    multimodal: bool
    tau2_local: float | None
    evaluations: int


def tau2_grid(v: np.ndarray, upper: float, n: int) -> np.ndarray:
    """The tau² grid of :func:`global_maximum`: 0, then ``n`` log-spaced points from
    ``min(1e-5 min(v), 1e-6 upper)`` to ``upper`` (``np.geomspace``'s numbers)."""
    # below 1e-5 min(v) the likelihood is indistinguishable from its value at 0
    lo = min(1e-5 * float(v.min()), 1e-6 * upper)
    # np.geomspace(lo, upper, n) written out (the same numbers, without the generality
    # that makes np.geomspace cost more than the likelihood on the grid)
    log_lo, log_hi = math.log10(lo), math.log10(upper)
    g = np.empty(n + 1)
    g[0] = 0.0
    e = _steps(n) * ((log_hi - log_lo) / (n - 1))
    e += log_lo
    e[-1] = log_hi
    np.power(10.0, e, out=g[1:])
    g[1], g[-1] = lo, upper
    return g


_STEPS: dict[int, np.ndarray] = {}


def _steps(n: int) -> np.ndarray:
    """``np.arange(n, dtype=float)``, built once per ``n`` (read only)."""
    a = _STEPS.get(n)
    if a is None:
        a = np.arange(n, dtype=float)
        a.flags.writeable = False
        _STEPS[n] = a
    return a


def _refine(y, v, X, grid, ll, i, method, reml, tol, maxiter) -> tuple[float, float]:
    """Refine the grid's local maximum ``i`` by brentq on the score (or bounded Brent)."""
    from scipy import optimize  # slow import, needed by few calls

    lo = grid[max(i - 1, 0)]
    hi = grid[min(i + 1, grid.size - 1)]
    s_lo = score(y, v, X, lo, method)
    if i == 0 and s_lo <= 0:
        return 0.0, float(ll[0])
    s_hi = score(y, v, X, hi, method)
    if s_lo > 0 > s_hi:
        root, r = optimize.brentq(
            lambda t: score(y, v, X, t, method), lo, hi, xtol=min(tol, 1e-12) * 1e-3,
            rtol=4 * np.finfo(float).eps, maxiter=max(maxiter, 500), full_output=True,
            disp=False,
        )
        if r.converged:
            t = float(root)
            return t, float(profile_loglik(y, v, X, t, reml)[0])
    res = optimize.minimize_scalar(
        lambda t: -profile_loglik(y, v, X, t, reml)[0], bounds=(lo, hi), method="bounded",
        options={"xatol": max(1e-14, 1e-10 * hi)},
    )
    cand = [(float(res.x), -float(res.fun)), (float(grid[i]), float(ll[i]))]
    return max(cand, key=lambda c: c[1])


def _scan(y, v, X, method, n, start=None) -> tuple[np.ndarray, np.ndarray, int, float]:
    """The grid and its log-likelihoods; the upper end grows while the maximum is at it.

    The log-likelihood at ``start`` (if given) is evaluated with the first grid, in the
    same vectorised call, and returned last (NaN without ``start``).
    """
    reml = method == "REML"
    upper = search_upper(y, v, X)
    evals = 0
    ll_start = float("nan")
    for _ in range(30):
        grid = tau2_grid(v, upper, n)
        if start is not None and evals == 0:
            ll = profile_loglik(y, v, X, np.append(grid, start), reml)
            ll_start, ll = float(ll[-1]), ll[:-1]
        else:
            ll = profile_loglik(y, v, X, grid, reml)
        evals += grid.size
        if int(np.argmax(ll)) < grid.size - 1:
            return grid, np.where(np.isfinite(ll), ll, -np.inf), evals, ll_start
        upper *= 100.0
    raise ConvergenceError(f"{method}: the likelihood increases up to tau2 = {upper:g}")


def grid_modes(ll: np.ndarray) -> list[int]:
    """Indices of the local maxima of a grid of log-likelihoods (0 counts when it falls
    from there); maxima not separated by a real dip (flat stretches, rounding) are merged,
    keeping the higher one."""
    peak = np.ones(ll.size, dtype=bool)
    peak[1:] = ll[1:] > ll[:-1]  # rises into i
    peak[:-1] &= ll[:-1] >= ll[1:]  # and does not rise after it
    keep: list[int] = []
    for i in np.flatnonzero(peak).tolist():
        if keep:
            j = keep[-1]
            dip = float(np.min(ll[j:i + 1]))
            if min(ll[i], ll[j]) - dip <= 1e-8 * max(1.0, abs(dip)):
                if ll[i] > ll[j]:
                    keep[-1] = int(i)
                continue
        keep.append(int(i))
    return keep


def global_maximum(
    y: np.ndarray,
    v: np.ndarray,
    X: np.ndarray,
    method: str,
    *,
    start: float | None = None,
    tol: float = 1e-12,
    maxiter: int = 10000,
    n: int = GRID_POINTS,
) -> ProfileMaximum:
    """Global maximiser of the (restricted) profile log-likelihood over tau² >= 0.

    Parameters
    ----------
    y, v, X : ndarray
        Outcomes, sampling variances, design matrix.
    method : {"ML", "REML"}
    start : float, optional
        A local maximum found already (Fisher scoring). It is kept, exactly, unless
        another mode has a higher likelihood; only the grid's other modes are refined,
        so in the common unimodal case the check costs one vectorised grid evaluation.
    tol, maxiter : float, int
        Settings of the root-finder that refines each mode.
    n : int
        Log-spaced grid points (plus tau² = 0) for up to 2000 studies (see
        :func:`grid_size`).

    Returns
    -------
    ProfileMaximum
    """
    reml = method == "REML"
    if start is not None:
        start = max(0.0, float(start))
    grid, ll, evals, ll_start = _scan(y, v, X, method, grid_size(y.size, n), start)
    last = grid.size - 1
    modes: list[tuple[float, float]] = []
    if start is not None:
        modes.append((start, ll_start))
    for i in grid_modes(ll):
        if start is not None and grid[max(i - 1, 0)] <= start <= grid[min(i + 1, last)]:
            continue  # the mode the start value sits on
        m = _refine(y, v, X, grid, ll, i, method, reml, tol, maxiter)
        if all(abs(m[0] - t) > 1e-6 * max(1.0, t) for t, _ in modes):
            modes.append(m)
    best_t, best_ll = modes[0]
    for t, val in modes[1:]:
        if val > best_ll + 1e-10 * max(1.0, abs(best_ll)):
            best_t, best_ll = t, val
    others = sorted((m for m in modes if m[0] != best_t), key=lambda m: -m[1])
    second = others[0] if others else None
    multimodal = second is not None and best_ll - second[1] <= MODE_TOLERANCE
    return ProfileMaximum(
        tau2=max(0.0, best_t),
        ll=best_ll,
        modes=sorted(modes, key=lambda m: -m[1]),
        multimodal=multimodal,
        tau2_local=(max(0.0, second[0]) if multimodal else None),
        evaluations=evals,
    )

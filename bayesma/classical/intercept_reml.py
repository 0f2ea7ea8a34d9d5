"""ML / REML tau² of an intercept-only model in plain sums: Fisher scoring and a one-mode check.

With ``X = 1`` every quantity of metafor's Fisher scoring (``rma.uni``; Viechtbauer 2005,
Journal of Educational and Behavioral Statistics 30, 261-293, eqs. 6 and 9) is a sum over
the studies: with ``w = 1/(v + tau²)`` and ``m = sum w y / sum w``,

* ``y'PPy = sum w² (y - m)²``,
* ``tr P = sum w - sum w² / sum w``,
* ``tr PP = sum w² - 2 sum w³ / sum w + (sum w² / sum w)²``.

For a few studies these sums cost less as loops over Python floats than as numpy calls
(one numpy call on a short array costs about as much as a loop over 30 floats), so
:func:`fisher_intercept` runs the iteration in floats up to :data:`LOOP_MAX_K` studies
and in numpy beyond.

:func:`one_mode_at` is the cheap first look of
:func:`bayesma.classical.profile.global_maximum`: the score (twice the derivative of the
(restricted) log-likelihood, ``y'PPy - tr P`` for REML and ``y'PPy - sum w`` for ML) on the
same grid of tau² values, in one k x G pass without logarithms (a matrix product of
``[1, y, y²]`` with ``[W, W²]``). When its signs show one maximum and the Fisher-scoring
estimate lies in that maximum's grid interval, the estimate stands (as ``global_maximum``
would keep it); anything else goes to ``global_maximum``.
"""

from __future__ import annotations

import math

import numpy as np

from bayesma.classical.profile import grid_size, intercept_search_upper, tau2_grid

__all__ = ["LOOP_MAX_K", "fisher_intercept", "he_intercept", "one_mode_at", "se_intercept"]

#: studies up to which the sums run as loops over Python floats
LOOP_MAX_K = 30
#: elements of the k x G work array per block of studies in :func:`one_mode_at` (blocks
#: that fit the CPU cache: one k x G array for k = 1000 costs ten times as much)
_BLOCK = 32768
_POWERS = np.array([[0.0], [1.0], [2.0]])


def he_intercept(y: np.ndarray, v: np.ndarray) -> float:
    """Hedges' estimator with ``X = 1`` (metafor's HE, the start of Fisher scoring):
    ``(sum (y - ybar)² - (sum v - sum v / k)) / (k - 1)`` (Hedges 1983), not truncated."""
    k = y.size
    if k <= LOOP_MAX_K:
        yl = y.tolist()
        ybar = sum(yl) / k
        rss = 0.0
        for yi in yl:
            d = yi - ybar
            rss += d * d
        sv = sum(v.tolist())
    else:
        r = y - y.mean()
        rss = float(r @ r)
        sv = float(v.sum())
    return (rss - (sv - sv / k)) / (k - 1)


def _step_loop(yl: list, vl: list, t: float, reml: bool) -> float:
    """One ML / REML Fisher-scoring step from ``t`` (the sums of the module docstring)."""
    ws = [1.0 / (x + t) for x in vl]
    sw = sw2 = sw3 = swy = 0.0
    for w, yi in zip(ws, yl, strict=True):
        w2 = w * w
        sw += w
        sw2 += w2
        sw3 += w2 * w
        swy += w * yi
    m = swy / sw
    ypp = 0.0
    for w, yi in zip(ws, yl, strict=True):
        r = w * (yi - m)
        ypp += r * r
    try:
        if not reml:
            return (ypp - sw) / sw2
        a = sw2 / sw
        return (ypp - (sw - a)) / (sw2 - 2.0 * sw3 / sw + a * a)
    except ZeroDivisionError:  # numpy would give inf or nan: no step
        return float("nan")


def _step_numpy(y: np.ndarray, v: np.ndarray, t: float, reml: bool) -> float:
    """:func:`_step_loop` in numpy (many studies)."""
    w = 1.0 / (v + t)
    sw = float(w.sum())
    w2 = w * w
    sw2 = float(w2.sum())
    py = w * (y - float(w @ y) / sw)
    ypp = float(py @ py)
    if not reml:
        return (ypp - sw) / sw2
    a = sw2 / sw
    return (ypp - (sw - a)) / (sw2 - 2.0 * float(w2 @ w) / sw + a * a)


def fisher_intercept(
    y: np.ndarray, v: np.ndarray, start: float, *, reml: bool, tol: float, max_steps: int
) -> tuple[float, bool, int]:
    """metafor's Fisher scoring of ML / REML with ``X = 1`` from ``start`` (>= 0).

    Steps that would make tau² negative are halved (metafor); the iteration stops when
    tau² changes by at most ``tol`` or after ``max_steps + 1`` steps (not converged).

    Parameters
    ----------
    y, v : ndarray
        Centred outcomes and sampling variances.
    start : float
        Start value (metafor: the truncated HE estimate).
    reml : bool
        REML instead of ML.
    tol : float
        Convergence threshold on the change in tau².
    max_steps : int
        Steps after which Fisher scoring gives up.

    Returns
    -------
    (tau2, converged, steps)
    """
    loop = y.size <= LOOP_MAX_K
    yl, vl = (y.tolist(), v.tolist()) if loop else (None, None)
    tau2 = start
    it = 0
    change = tol + 1.0
    while change > tol:
        it += 1
        old = tau2
        if loop:
            adj = _step_loop(yl, vl, tau2, reml)
        else:
            adj = _step_numpy(y, v, tau2, reml)
        if not math.isfinite(adj):
            adj = 0.0
        while tau2 + adj < 0:
            adj /= 2.0
        tau2 = tau2 + adj
        change = abs(old - tau2)
        if it > max_steps:
            return tau2, False, it
    return tau2, True, it


def se_intercept(v: np.ndarray, tau2: float, *, reml: bool) -> float:
    """metafor's se of the ML / REML estimate with ``X = 1``: ``sqrt(2 / sum w²)`` (ML),
    ``sqrt(2 / tr PP)`` (REML), the inverse Fisher information (Viechtbauer 2005)."""
    if v.size <= LOOP_MAX_K:
        sw = sw2 = sw3 = 0.0
        for x in v.tolist():
            w = 1.0 / (x + tau2)
            w2 = w * w
            sw += w
            sw2 += w2
            sw3 += w2 * w
    else:
        w = 1.0 / (v + tau2)
        w2 = w * w
        sw, sw2, sw3 = float(w.sum()), float(w2.sum()), float(w2 @ w)
    with np.errstate(divide="ignore", invalid="ignore"):
        if not reml:
            return float(np.sqrt(2.0 / np.float64(sw2)))
        a = sw2 / sw
        return float(np.sqrt(2.0 / np.float64(sw2 - 2.0 * sw3 / sw + a * a)))


def one_mode_at(y: np.ndarray, v: np.ndarray, start: float, *, reml: bool, tol: float) -> bool:
    """True when the score on the grid of ``global_maximum`` shows one maximum whose grid
    interval contains ``start`` (the estimate then stands), False when the full search
    must decide.

    The maximum is at 0 when the score at 0 is <= 0, and inside ``(g_i, g_(i+1)]`` where
    the score turns from positive to non-positive. False also when the score is still
    positive at the grid's end (``global_maximum`` then widens the grid) or when the
    maximum is at 0 and ``start > tol`` (metafor's ``ll0check`` decides then).
    """
    k = y.size
    g = tau2_grid(v, intercept_search_upper(y, v), grid_size(k))
    n = g.size
    yc = y[None, :] ** _POWERS  # rows 1, y, y²
    step = max(16, _BLOCK // n)
    s1 = s2 = None
    if k <= step:  # one block (no slices)
        w = np.add.outer(v, g)
        np.reciprocal(w, out=w)
        s1 = yc @ w
        np.multiply(w, w, out=w)
        s2 = yc @ w
    for lo in range(0, k if s1 is None else 0, step):
        w = np.add.outer(v[lo:lo + step], g)
        np.reciprocal(w, out=w)
        yb = yc[:, lo:lo + step]
        a = yb @ w  # sums of w y^j
        np.multiply(w, w, out=w)
        b = yb @ w  # sums of w² y^j
        if s1 is None:
            s1, s2 = a, b
        else:
            s1 += a
            s2 += b
    sw, swy = s1[0], s1[1]
    sw2, sw2y, sw2yy = s2
    m = swy / sw
    score = sw2yy - m * (2.0 * sw2y - m * sw2)  # y'PPy = sum w² (y - m)²
    score -= (sw - sw2 / sw) if reml else sw
    if not math.isfinite(score.sum()):
        return False
    up = (score > 0).tobytes()  # one byte per grid point: 1 rising, 0 not
    if up[-1]:
        return False
    turns = up.count(b"\x01\x00")  # rising, then not: a maximum in between
    if not up[0]:  # a maximum at 0
        return turns == 0 and start <= tol
    if turns != 1:
        return False
    i = up.find(b"\x01\x00")
    return bool(g[i] <= start <= g[i + 1])

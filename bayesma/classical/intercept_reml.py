"""ML / REML tau² of an intercept-only model in plain sums: score grid, Newton, Fisher scoring.

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

:func:`intercept_estimate` looks first at the score (twice the derivative of the
(restricted) log-likelihood, ``y'PPy - tr P`` for REML and ``y'PPy - sum w`` for ML) on the
grid of :func:`bayesma.classical.profile.global_maximum`, in one k x G pass without
logarithms (a matrix product of ``[1, y, y²]`` with ``[W, W²]``). When its signs show one
maximum, the estimate is that maximum: 0, or the score's root in the one grid interval
where it turns from positive to non-positive, found by safeguarded Newton (what
``global_maximum`` would find, in a few steps). Anything else goes to metafor's Fisher
scoring from HE (:func:`fisher_intercept`), ``ll0check`` and ``global_maximum``.
"""

from __future__ import annotations

import math

import numpy as np

from bayesma.classical.profile import grid_size, intercept_search_upper, tau2_grid

__all__ = ["LOOP_MAX_K", "fisher_intercept", "grid_score", "he_intercept", "intercept_estimate",
           "newton_in_bracket", "se_intercept"]

#: studies up to which the sums run as loops over Python floats
LOOP_MAX_K = 30
#: elements of the k x G work array per block of studies in :func:`grid_score` (blocks
#: that fit the CPU cache: one k x G array for k = 1000 costs ten times as much)
_BLOCK = 32768


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


def grid_score(y: np.ndarray, v: np.ndarray, *, reml: bool) -> tuple[np.ndarray, np.ndarray]:
    """The tau² grid of :func:`~bayesma.classical.profile.global_maximum` and the score on
    it: twice the derivative of the (restricted) log-likelihood, ``y'PPy - tr P`` (REML)
    or ``y'PPy - sum w`` (ML), Viechtbauer 2005 eqs. 6 and 9, in one k x G pass without
    logarithms (a matrix product of ``[1, y, y²]`` with ``[W, W²]``)."""
    k = y.size
    g = tau2_grid(v, intercept_search_upper(y, v), grid_size(k))
    n = g.size
    yc = np.empty((3, k))  # rows 1, y, y²
    yc[0] = 1.0
    yc[1] = y
    np.multiply(y, y, out=yc[2])
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
    sw2, sw2y, sw2yy = s2[0], s2[1], s2[2]
    m = swy / sw
    score = sw2yy - m * (2.0 * sw2y - m * sw2)  # y'PPy = sum w² (y - m)²
    score -= (sw - sw2 / sw) if reml else sw
    return g, score


def _score_slope_loop(yl: list, vl: list, t: float, reml: bool) -> tuple[float, float]:
    """The score ``S`` at ``t`` and its derivative ``S'`` in sums (``r = y - m``):
    ``S' = -2 y'PPPy + tr PP`` (REML; ``dP/dtau² = -PP``) and
    ``-2 sum w³ r² + 2 (sum w² r)² / sum w + sum w²`` (ML), with
    ``y'PPPy = sum w³ r² - (sum w² r)² / sum w``. (The lists have equal lengths: ``zip``
    without ``strict``, whose check costs a sixth of the step.)"""
    ws = [1.0 / (x + t) for x in vl]
    sw = sw2 = sw3 = swy = 0.0
    for w, yi in zip(ws, yl):  # noqa: B905
        w2 = w * w
        sw += w
        sw2 += w2
        sw3 += w2 * w
        swy += w * yi
    m = swy / sw
    a2 = a3 = b = 0.0
    for w, yi in zip(ws, yl):  # noqa: B905
        wr = w * (yi - m)
        w2r = w * wr
        b += w2r
        a2 += wr * wr
        a3 += w2r * wr
    if reml:
        a = sw2 / sw
        return a2 - (sw - a), -2.0 * (a3 - b * b / sw) + sw2 - 2.0 * sw3 / sw + a * a
    return a2 - sw, -2.0 * a3 + 2.0 * b * b / sw + sw2


def _score_slope_numpy(y: np.ndarray, v: np.ndarray, t: float, reml: bool
                       ) -> tuple[float, float]:
    """:func:`_score_slope_loop` in numpy (many studies)."""
    w = 1.0 / (v + t)
    sw = float(w.sum())
    w2 = w * w
    sw2 = float(w2.sum())
    wr = w * (y - float(w @ y) / sw)
    w2r = w * wr
    b = float(w2r.sum())
    a2 = float(wr @ wr)
    a3 = float(w2r @ wr)
    if reml:
        a = sw2 / sw
        return (a2 - (sw - a),
                -2.0 * (a3 - b * b / sw) + sw2 - 2.0 * float(w2 @ w) / sw + a * a)
    return a2 - sw, -2.0 * a3 + 2.0 * b * b / sw + sw2


def newton_in_bracket(y: np.ndarray, v: np.ndarray, lo: float, hi: float, s_lo: float,
                      s_hi: float, *, reml: bool, tol: float, max_steps: int
                      ) -> tuple[float, int] | None:
    """The root of the ML / REML score between ``lo`` (score ``s_lo > 0``) and ``hi``
    (``s_hi <= 0``) by safeguarded Newton from the regula falsi point: a step leaving the
    bracket becomes a bisection (Press et al., Numerical Recipes, ``rtsafe``).

    Returns ``(tau2, steps)`` once the error of the new iterate is at most ``tol / 10``:
    when a step changes tau² by at most ``tol`` (or 4 ulp), or when two Newton steps in a
    row predict it (quadratic convergence: the next change is about
    ``d_n³ / d_(n-1)²`` for the changes ``d``). None after ``max_steps`` steps or when
    the score is not finite.
    """
    loop = y.size <= LOOP_MAX_K
    yl, vl = (y.tolist(), v.tolist()) if loop else (None, None)
    t = lo + (hi - lo) * (s_lo / (s_lo - s_hi))
    if not lo < t < hi:
        t = 0.5 * (lo + hi)
    last = math.inf  # the previous Newton change (inf: none yet, or a bisection)
    for it in range(1, max_steps + 1):
        if loop:
            s, ds = _score_slope_loop(yl, vl, t, reml)
        else:
            s, ds = _score_slope_numpy(y, v, t, reml)
        if not (math.isfinite(s) and math.isfinite(ds)):
            return None  # the full search decides
        if s > 0:
            lo = t
        elif s < 0:
            hi = t
        else:
            return t, it
        tn = t - s / ds if ds != 0 else math.nan
        if lo < tn < hi:  # a Newton step (NaN fails the test)
            d = abs(tn - t)
            if (d <= max(tol, 4.0 * math.ulp(t))
                    or (d < last < math.inf and d * d * d <= 0.1 * tol * last * last)):
                return tn, it
            last = d
        else:  # bisect
            tn = 0.5 * (lo + hi)
            last = math.inf
            if hi - lo <= tol:
                return tn, it
        t = tn
    return None


def intercept_estimate(y: np.ndarray, v: np.ndarray, *, reml: bool, tol: float,
                       max_steps: int) -> tuple[float, int] | None:
    """ML / REML tau² with ``X = 1`` when the score on the grid of ``global_maximum``
    (:func:`grid_score`) shows one maximum: at 0 when the score is <= 0 on the whole grid
    (the likelihood falls from 0; then metafor's Fisher scoring from HE, which ends within
    ``tol`` of 0, gives the number), else the root in the one interval
    ``(g_i, g_(i+1)]`` where the score turns from positive to non-positive
    (:func:`newton_in_bracket`), with its Newton steps. None when the grid shows anything
    else (several maxima, a score still positive at the grid's end, non-finite values)
    or Newton does not settle: the full search (Fisher scoring, metafor's ``ll0check``
    and ``global_maximum``) decides then.

    The estimate is the root of the same equation that metafor's Fisher scoring solves
    (``rma.uni``); Newton in the bracket reaches it in a few steps where Fisher scoring
    from HE takes 5-20 (and sometimes does not settle).
    """
    g, score = grid_score(y, v, reml=reml)
    if not math.isfinite(score.sum()):
        return None
    up = (score > 0).tobytes()  # one byte per grid point: 1 rising, 0 not
    if up[-1]:
        return None
    turns = up.count(b"\x01\x00")  # rising, then not: a maximum in between
    if not up[0]:  # the maximum at 0 when the score never rises
        if turns:
            return None
        # metafor's Fisher scoring from HE ends within tol of 0 here: keep its number
        # (which may be 1e-14 rather than 0), as rma.uni reports it
        t, conv, it = fisher_intercept(y, v, max(0.0, he_intercept(y, v)), reml=reml,
                                       tol=tol, max_steps=max_steps)
        return (t, it) if conv and t <= tol else None
    if turns != 1:
        return None
    i = up.find(b"\x01\x00")
    return newton_in_bracket(y, v, float(g[i]), float(g[i + 1]), float(score[i]),
                             float(score[i + 1]), reml=reml, tol=tol, max_steps=max_steps)

"""tau² estimators of many intercept-only meta-analyses at once (vectorised over groups).

Each estimator repeats, for all rows of a padded batch at once, the intercept-only
code path of :func:`bayesma.classical.tau2.estimate_tau2` (metafor 3.8-1 ``rma.uni``):
the same formulas, centred outcomes, truncation at 0, Fisher-scoring updates with step
halving, stopping rule ``|change| <= tol`` and switch after 100 steps, then Newton to
the score's root inside the likelihood's one mode (as ``rma`` solves it). Rows the
vectorised path cannot settle exactly as the per-call engine would (Fisher scoring not
converged; a likelihood with a second local maximum on the profile grid of
:func:`bayesma.classical.profile.global_maximum`; EB oscillating) are flagged so the
caller refits them one by one with ``estimate_tau2`` itself, which keeps every result
equal to ``bm.rma``.

Sources: DL: DerSimonian & Laird (1986); HE: Hedges (1983); HS/HSk: Hunter & Schmidt
(2004); SJ: Sidik & Jonkman (2005); ML/REML: Viechtbauer (2005), eqs. 6 and 9, with X = 1;
EB: Morris (1983), Berkey et al. (1995); PM: Paule & Mandel (1982) (see
:mod:`bayesma.classical.tau2`).
"""

from __future__ import annotations

import numpy as np

from bayesma.classical.profile import GRID_POINTS, grid_size
from bayesma.classical.tau2 import FISHER_SWITCH  # steps before the grid search

__all__ = ["BATCH_METHODS", "batch_tau2"]

#: estimators with a vectorised path
BATCH_METHODS = ("EE", "DL", "HE", "HS", "HSk", "SJ", "ML", "REML", "EB", "PM")


def _wsum(w: np.ndarray, x: np.ndarray | None = None) -> np.ndarray:
    return w.sum(axis=1) if x is None else np.einsum("rk,rk->r", w, x)


def _quad(w: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``y'Py`` of an intercept-only model: ``sum w (y - ybar_w)²`` (w zero on padding)."""
    sw = w.sum(axis=1)
    r = y - (_wsum(w, y) / sw)[:, None]
    return _wsum(w * r, r)


def _centred(y: np.ndarray, mask: np.ndarray, k: np.ndarray) -> np.ndarray:
    """metafor's ``Ymc``: outcomes minus their unweighted mean (0 on padding)."""
    return np.where(mask, y - (np.where(mask, y, 0.0).sum(axis=1) / k)[:, None], 0.0)


def _he(ymc, v, mask, k) -> np.ndarray:
    """Hedges' estimator (intercept-only branch of ``classical.tau2._he``), untruncated."""
    vm = np.where(mask, v, 0.0)
    sv = vm.sum(axis=1)
    r = np.where(mask, ymc - (ymc.sum(axis=1) / k)[:, None], 0.0)
    trPV = sv - sv / k
    return (_wsum(r, r) - trPV) / (k - 1)


def _mad(y, mask) -> np.ndarray:
    """R's ``mad()`` per row (padding excluded)."""
    ym = np.where(mask, y, np.nan)
    med = np.nanmedian(ym, axis=1)
    return 1.4826 * np.nanmedian(np.abs(ym - med[:, None]), axis=1)


def _ll_boundary(ymc, v, mask, t, reml) -> np.ndarray:
    """(Restricted) log-likelihood up to a constant (``classical.tau2._ll_boundary``)."""
    w = np.where(mask, 1.0 / (v + t[:, None]), 0.0)
    sw = w.sum(axis=1)
    r = ymc - (_wsum(w, ymc) / sw)[:, None]
    ll = -0.5 * np.where(mask, np.log(v + t[:, None]), 0.0).sum(axis=1) - 0.5 * _wsum(w * r, r)
    return ll - 0.5 * np.log(sw) if reml else ll


def _fisher(ymc, v, mask, k, method, tol):
    """Fisher scoring (ML, REML) or the EB update for all rows; -> (tau2, converged)."""
    R = ymc.shape[0]
    tau2 = np.maximum(0.0, _he(ymc, v, mask, k))
    conv = np.ones(R, dtype=bool)
    act = np.arange(R)
    it = 0
    kk = k.astype(float)
    while act.size:
        it += 1
        t = tau2[act]
        m = mask[act]
        w = np.where(m, 1.0 / (v[act] + t[:, None]), 0.0)
        y = ymc[act]
        sw = w.sum(axis=1)
        if method == "EB":
            ka = kk[act]
            adj = (_quad(w, y) * ka / (ka - 1) - ka) / sw
        else:
            w2 = w * w
            sw2 = w2.sum(axis=1)
            py = w * (y - (_wsum(w, y) / sw)[:, None])
            ypp = _wsum(py, py)
            if method == "ML":
                adj = (ypp - sw) / sw2
            else:
                a = sw2 / sw
                adj = (ypp - (sw - a)) / (sw2 - 2.0 * _wsum(w2, w) / sw + a * a)
        adj = np.where(np.isfinite(adj), adj, 0.0)
        neg = t + adj < 0
        while neg.any():
            adj = np.where(neg, adj / 2.0, adj)
            neg = t + adj < 0
        new = t + adj
        change = np.abs(t - new)
        tau2[act] = new
        if it > FISHER_SWITCH:
            conv[act] = False
            break
        act = act[change > tol]
    return tau2, conv


def _grid_scan(ymc, v, mask, k, reml, n=GRID_POINTS):
    """The profile-likelihood grid of :func:`bayesma.classical.profile.global_maximum`.

    For every row: the grid over ``[0, upper]`` (0 plus ``grid_size(k, n)`` log-spaced
    points, as ``global_maximum``) and its (restricted) log-likelihoods, computed in
    blocks of rows with equal k (no padding). Returns ``single`` (exactly one local
    maximum on the grid and not at its upper end) and that mode's bracket ``(blo, bhi)``
    (the neighbouring grid points).
    """
    R = ymc.shape[0]
    single = np.zeros(R, dtype=bool)
    blo = np.zeros(R)
    bhi = np.zeros(R)
    n_pts = n
    for kv in np.unique(k):
        rows_k = np.flatnonzero(k == kv)
        kv = int(kv)
        n = grid_size(kv, n_pts)  # fewer points beyond k = 2000, as global_maximum
        step = max(1, 2_000_000 // ((n + 1) * kv))
        for s in range(0, rows_k.size, step):
            rows = rows_k[s:s + step]
            y = ymc[rows, :kv]
            vv = v[rows, :kv]
            spread = (y.max(axis=1) - y.min(axis=1)) ** 2
            upper = 10.0 * np.maximum(np.maximum(spread, vv.max(axis=1)), 1e-300)
            lo = np.minimum(1e-5 * vv.min(axis=1), 1e-6 * upper)
            g = np.empty((rows.size, n + 1))
            g[:, 0] = 0.0
            g[:, 1:] = np.geomspace(lo, upper, n, axis=1)
            work = vv[:, None, :] + g[:, :, None]
            # sum of logs as the log of the product (one log per grid point: np.log
            # dominates the cost); rows where the product over- or underflows use logs
            with np.errstate(over="ignore", under="ignore", divide="ignore"):
                ll = np.log(np.prod(work, axis=2))
            bad = ~np.isfinite(ll).all(axis=1) | (ll.min(axis=1) < -700.0)
            if bad.any():
                ll[bad] = np.log(work[bad]).sum(axis=2)
            w = np.reciprocal(work, out=work)
            # sum w, sum w y, sum w y² in one batched matrix product
            sums = np.matmul(w, np.stack([np.ones_like(y), y, y * y], axis=2))
            sw, swy = sums[:, :, 0], sums[:, :, 1]
            rss = sums[:, :, 2] - swy * swy / sw
            ll = -0.5 * ll - 0.5 * np.maximum(rss, 0.0)
            if reml:
                ll -= 0.5 * np.log(sw)
            ll = np.where(np.isfinite(ll), ll, -np.inf)
            last = n
            top = np.argmax(ll, axis=1)
            modes = np.ones(ll.shape, dtype=bool)
            modes[:, 1:] &= ll[:, 1:] > ll[:, :-1]
            modes[:, :-1] &= ll[:, :-1] >= ll[:, 1:]
            i = np.argmax(modes, axis=1)
            r = np.arange(rows.size)
            single[rows] = (modes.sum(axis=1) == 1) & (top < last)
            blo[rows] = g[r, np.maximum(i - 1, 0)]
            bhi[rows] = g[r, np.minimum(i + 1, last)]
    return single, blo, bhi


def _score(ymc, v, mask, k, t, method) -> np.ndarray:
    """Estimating equation of ML / REML / EB at tau² = t per row
    (:func:`bayesma.classical.profile.score` with X = 1)."""
    w = np.where(mask, 1.0 / (v + t[:, None]), 0.0)
    sw = w.sum(axis=1)
    r = np.where(mask, ymc - (_wsum(w, ymc) / sw)[:, None], 0.0)
    if method == "EB":
        return _wsum(w * r, r) - (k - 1)
    py = w * r
    ypp = _wsum(py, py)
    return ypp - (sw if method == "ML" else sw - _wsum(w, w) / sw)


def _bisect(fun, lo, hi, maxiter=400):
    """Root of decreasing-through-zero ``fun`` in [lo, hi] per row (fun(lo) > 0 > fun(hi)),
    by bisection to a bracket of relative width 4 eps (brentq's ``rtol``)."""
    lo, hi = lo.copy(), hi.copy()
    act = np.arange(lo.size)
    eps4 = 4 * np.finfo(float).eps
    for _ in range(maxiter):
        mid = 0.5 * (lo[act] + hi[act])
        f = fun(mid, act)
        pos = f > 0
        lo[act] = np.where(pos, mid, lo[act])
        hi[act] = np.where(pos, hi[act], mid)
        hi[act] = np.where(f == 0, mid, hi[act])
        lo[act] = np.where(f == 0, mid, lo[act])
        act = act[hi[act] - lo[act] > eps4 * hi[act] + 1e-300]
        if act.size == 0:
            break
    return 0.5 * (lo + hi)


def _pm(y, ymc, v, mask, k, tol, maxiter=200) -> np.ndarray:
    """Paule-Mandel: the root of ``Q(tau²) = k - 1`` (decreasing), safeguarded Newton.

    Returns NaN for rows whose root was not bracketed (refitted one by one)."""
    R = y.shape[0]
    target = (k - 1).astype(float)

    def q_and_slope(t, rows):
        w = np.where(mask[rows], 1.0 / (v[rows] + t[:, None]), 0.0)
        sw = w.sum(axis=1)
        r = ymc[rows] - (_wsum(w, ymc[rows]) / sw)[:, None]
        wr = w * r
        # d/dt sum w r² = -sum w² r² (the derivative through ybar_w vanishes)
        return _wsum(wr, r) - target[rows], -_wsum(wr, wr)

    out = np.zeros(R)
    all_rows = np.arange(R)
    q0, _ = q_and_slope(np.zeros(R), all_rows)
    act = all_rows[q0 >= 0]
    if act.size == 0:
        return out
    hi = np.maximum(100.0, 10.0 * _mad(y[act], mask[act]) ** 2)
    for _ in range(61):
        qh, _ = q_and_slope(hi, act)
        grow = qh > 0
        if not grow.any():
            break
        hi = np.where(grow, hi * 10.0, hi)
    else:
        out[act[grow]] = np.nan
        keep = ~grow
        act, hi = act[keep], hi[keep]
    lo = np.zeros(act.size)
    t = 0.5 * (lo + hi)
    rows = np.arange(act.size)
    for _ in range(maxiter):
        q, dq = q_and_slope(t[rows], act[rows])
        lo[rows] = np.where(q > 0, t[rows], lo[rows])
        hi[rows] = np.where(q < 0, t[rows], hi[rows])
        with np.errstate(divide="ignore", invalid="ignore"):
            tn = t[rows] - q / dq
        bad = ~((tn > lo[rows]) & (tn < hi[rows]))
        tn = np.where(bad, 0.5 * (lo[rows] + hi[rows]), tn)
        done = (np.abs(tn - t[rows]) <= 4 * np.finfo(float).eps * np.abs(tn) + 1e-300) | (
            q == 0) | (hi[rows] - lo[rows] <= 4 * np.finfo(float).eps * hi[rows])
        t[rows] = np.where(q == 0, t[rows], tn)
        rows = rows[~done]
        if rows.size == 0:
            break
    t[rows] = np.nan
    out[act] = np.maximum(0.0, t)
    return out


def _global_check(ymc, v, mask, k, out, conv, method, tol):
    """ML / REML after Fisher scoring, as ``estimate_tau2`` + ``global_maximum``.

    Converged rows: metafor's ``ll0check``, then the start value stands when the grid
    has one mode whose bracket contains it. Rows where Fisher scoring did not converge:
    with one mode on the grid, the root of the score inside its bracket (bisection to
    the precision of brentq; tau² = 0 when the mode is at 0 and the score there is
    <= 0). Everything else is flagged for a refit one by one.
    """
    reml = method == "REML"
    zero = np.zeros(out.size)
    drop = conv & (out > tol) & (
        _ll_boundary(ymc, v, mask, zero, reml) - _ll_boundary(ymc, v, mask, out, reml) > tol)
    out = np.where(drop, 0.0, out)  # metafor's ll0check
    single, blo, bhi = _grid_scan(ymc, v, mask, k, reml)
    ok = conv & single & (blo <= out) & (out <= bhi)
    nc = np.flatnonzero(~conv & single)
    if nc.size:
        s_lo = _score(ymc[nc], v[nc], mask[nc], k[nc], blo[nc], method)
        at0 = (blo[nc] == 0.0) & (s_lo <= 0)
        s_hi = _score(ymc[nc], v[nc], mask[nc], k[nc], bhi[nc], method)
        br = ~at0 & (s_lo > 0) & (s_hi < 0)
        out[nc[at0]] = 0.0
        ok[nc[at0]] = True
        rows = nc[br]
        if rows.size:
            def fun(t, idx):
                rr = rows[idx]
                return _score(ymc[rr], v[rr], mask[rr], k[rr], t, method)

            out[rows] = _bisect(fun, blo[rows], bhi[rows])
            ok[rows] = True
    # converged rows inside a mode: Fisher scoring stops on a change of tol, some 1e-9
    # from the root when it crawls; rma solves to the root by Newton (classical
    # intercept_reml): the same Newton steps here, from the Fisher estimate
    pol = np.flatnonzero(conv & ok & (out > tol))
    if pol.size:
        out[pol] = _newton_polish(ymc[pol], v[pol], mask[pol], out[pol], blo[pol], bhi[pol],
                                  reml, tol)
    return out, ~ok


def _score_slope(ymc, v, mask, t, reml) -> tuple[np.ndarray, np.ndarray]:
    """The ML / REML score and its derivative per row
    (``classical.intercept_reml._score_slope_loop``: ``S' = -2 y'PPPy + tr PP``)."""
    w = np.where(mask, 1.0 / (v + t[:, None]), 0.0)
    sw = w.sum(axis=1)
    w2 = w * w
    sw2 = w2.sum(axis=1)
    wr = w * np.where(mask, ymc - (_wsum(w, ymc) / sw)[:, None], 0.0)
    w2r = w * wr
    b = w2r.sum(axis=1)
    a2 = _wsum(wr, wr)
    a3 = _wsum(w2r, wr)
    if reml:
        a = sw2 / sw
        return a2 - (sw - a), -2.0 * (a3 - b * b / sw) + sw2 - 2.0 * _wsum(w2, w) / sw + a * a
    return a2 - sw, -2.0 * a3 + 2.0 * b * b / sw + sw2


def _newton_polish(ymc, v, mask, t, lo, hi, reml, tol, maxiter=50) -> np.ndarray:
    """Safeguarded Newton on the score per row from ``t`` inside ``[lo, hi]`` until a step
    changes tau² by at most ``tol`` (or 4 ulp); bisection when a step leaves the bracket
    (rows that do not settle keep their last iterate; rows whose score is not finite
    keep ``t``)."""
    start = t
    t, lo, hi = t.copy(), lo.copy(), hi.copy()
    act = np.arange(t.size)
    for _ in range(maxiter):
        s, ds = _score_slope(ymc[act], v[act], mask[act], t[act], reml)
        bad = ~(np.isfinite(s) & np.isfinite(ds))
        if bad.any():  # a score that is not finite: keep the Fisher estimate
            t[act[bad]] = start[act[bad]]
            act, s, ds = act[~bad], s[~bad], ds[~bad]
        ta = t[act]
        lo[act] = np.where(s > 0, ta, lo[act])
        hi[act] = np.where(s < 0, ta, hi[act])
        with np.errstate(divide="ignore", invalid="ignore"):
            tn = ta - s / ds
        inside = (tn > lo[act]) & (tn < hi[act])
        tn = np.where(inside, tn, 0.5 * (lo[act] + hi[act]))
        tn = np.where(s == 0, ta, tn)
        done = (s == 0) | (np.abs(tn - ta) <= np.maximum(tol, 4.0 * np.spacing(ta)))
        t[act] = tn
        act = act[~done]
        if act.size == 0:
            break
    return t


def _eb_unconverged(ymc, v, mask, k, out, conv):
    """EB rows whose update did not settle: the root of ``y'Py = k - 1`` (decreasing in
    tau², one root) by bisection, as ``classical.tau2._eb_root`` does by brentq."""
    flag = ~conv
    nc = np.flatnonzero(~conv)
    if nc.size == 0:
        return out, flag
    s0 = _score(ymc[nc], v[nc], mask[nc], k[nc], np.zeros(nc.size), "EB")
    out[nc[s0 <= 0]] = 0.0
    flag[nc[s0 <= 0]] = False
    rows = nc[s0 > 0]
    if rows.size:
        ym = np.where(mask[rows], ymc[rows], np.nan)
        spread = (np.nanmax(ym, axis=1) - np.nanmin(ym, axis=1)) ** 2
        vmax = np.where(mask[rows], v[rows], -np.inf).max(axis=1)
        hi = 10.0 * np.maximum(np.maximum(spread, vmax), 1e-300)
        for _ in range(400):
            grow = _score(ymc[rows], v[rows], mask[rows], k[rows], hi, "EB") > 0
            if not grow.any():
                break
            hi = np.where(grow, hi * 10.0, hi)

        def fun(t, idx):
            rr = rows[idx]
            return _score(ymc[rr], v[rr], mask[rr], k[rr], t, "EB")

        out[rows] = _bisect(fun, np.zeros(rows.size), hi)
        flag[rows] = False
    return out, flag


def batch_tau2(y: np.ndarray, v: np.ndarray, mask: np.ndarray, k: np.ndarray, method: str,
               *, tol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """tau² of every row of a padded batch (intercept-only models).

    Parameters
    ----------
    y, v, mask : ndarray
        R x kmax padded effect sizes, variances and presence mask (see
        :class:`bayesma.batch.inputs.BatchData`).
    k : ndarray
        Studies per row.
    method : str
        One of :data:`BATCH_METHODS` (canonical spelling).
    tol : float
        Convergence threshold of the iterative estimators (as ``estimate_tau2``).

    Returns
    -------
    tau2 : ndarray
        The estimates (0 for k = 1 and EE, as metafor).
    refit : ndarray of bool
        Rows to be refitted one by one with ``estimate_tau2`` (see the module docstring).
    """
    R = y.shape[0]
    tau2 = np.zeros(R)
    refit = np.zeros(R, dtype=bool)
    if method == "EE":
        return tau2, refit
    sel = np.flatnonzero(k > 1)  # k = 1: tau² = 0 (metafor)
    if sel.size == 0:
        return tau2, refit
    y, v, mask, kk = y[sel], v[sel], mask[sel], k[sel]
    ymc = _centred(y, mask, kk)
    kp = (kk - 1).astype(float)
    if method in ("HS", "HSk", "DL"):
        w = np.where(mask, 1.0 / v, 0.0)
        rss = _quad(w, ymc)
        sw = w.sum(axis=1)
        if method == "HS":
            t = (rss - kk) / sw
        elif method == "HSk":
            t = (kk / kp * rss - kk) / sw
        else:
            t = (rss - kp) / (sw - _wsum(w, w) / sw)
        out, flag = np.maximum(0.0, t), np.zeros(sel.size, dtype=bool)
    elif method == "HE":
        out, flag = np.maximum(0.0, _he(ymc, v, mask, kk)), np.zeros(sel.size, dtype=bool)
    elif method == "SJ":
        tau0 = _wsum(ymc, ymc) / kk
        w = np.where(mask, 1.0 / (v + tau0[:, None]), 0.0)
        out = np.maximum(0.0, tau0 * _quad(w, ymc) / kp)
        flag = np.zeros(sel.size, dtype=bool)
    elif method == "PM":
        out = _pm(y, ymc, v, mask, kk, tol)
        flag = ~np.isfinite(out)
    elif method in ("ML", "REML", "EB"):
        out, conv = _fisher(ymc, v, mask, kk, method, tol)
        flag = ~conv
        if method == "EB":
            out, flag = _eb_unconverged(ymc, v, mask, kk, out, conv)
        else:
            out, flag = _global_check(ymc, v, mask, kk, out, conv, method, tol)
        out = np.maximum(0.0, out)
    else:
        raise ValueError(f"no vectorised path for {method!r}")  # pragma: no cover
    tau2[sel] = np.where(flag, np.nan, out)
    refit[sel] = flag
    return tau2, refit

"""Normal mixtures over the tau nodes: cdf, quantiles and shortest intervals.

Every posterior of mu, beta, theta_i and theta_new is a mixture of Normals over the
posterior of tau (Röver 2020, J Stat Softw 93(6), sec. 2.4); these routines work on
rows of component means ``M``, sds ``S`` and the common weights ``w``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import optimize, special

__all__ = ["mixture_cdf_pdf", "mixture_quantile", "rows_quantile", "newton2", "mixture_hdi"]


def mixture_cdf_pdf(x: np.ndarray, M: np.ndarray, S: np.ndarray, w: np.ndarray, *,
                    slope: bool = False):
    """cdf and pdf of Normal mixtures: row i is sum_g w_g N(M[i, g], S[i, g]²) at x[i];
    with ``slope=True`` also the pdf's derivative ``-sum_g w_g z phi(z) / S²``."""
    z = np.subtract(x[:, None], M, dtype=float)
    z /= S
    t = special.ndtr(z)
    F = t @ w
    np.multiply(z, -0.5, out=t)  # exp(-z²/2) / S in place: no temporaries of (rows, G)
    t *= z
    np.exp(t, out=t)
    t /= S
    f = t @ w / math.sqrt(2 * math.pi)
    if not slope:
        return F, f
    t *= z
    t /= S
    return F, f, -(t @ w) / math.sqrt(2 * math.pi)


def mixture_quantile(q: np.ndarray, M: np.ndarray, S: np.ndarray, w: np.ndarray,
                      x0: np.ndarray | None = None) -> np.ndarray:
    """Quantiles q[i] of the Normal mixtures (rows of M, S) by safeguarded Halley steps.

    Halley's step ``x - 2 r f / (2 f² - r f')`` for ``r = F(x) - q`` (Press et al.,
    Numerical Recipes, sec. 9.4; cubic convergence: 4 steps where Newton takes 6 on
    typical rows) costs one more matrix product than Newton's, from the same arrays; a
    step that leaves the bracket becomes a bisection. The rows still iterating are kept
    compacted (copies of their rows of M and S are made only when some rows converge),
    so each row follows its own path.
    """
    q = np.asarray(q, dtype=float)
    zq = special.ndtri(np.clip(q, 1e-300, 1 - 1e-16))[:, None]
    comp = M + S * zq
    lo = np.min(comp, axis=1)
    hi = np.max(comp, axis=1)
    if x0 is None:
        x = comp @ w
    else:
        x = np.clip(x0, lo, hi)
    x = np.where(np.isfinite(x), x, 0.5 * (lo + hi))
    scale = np.sqrt(np.maximum(np.square(S) @ w, 1e-300))
    lo = lo - 1e-12 * scale
    hi = hi + 1e-12 * scale
    out = x.copy()
    idx = np.arange(q.size)  # the rows still iterating, and their compacted state
    Ma, Sa, qa = M, S, q
    for _ in range(100):
        if idx.size == 0:
            break
        F, f, df = mixture_cdf_pdf(x, Ma, Sa, w, slope=True)
        r = F - qa
        lo = np.where(r < 0, x, lo)
        hi = np.where(r > 0, x, hi)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            xn = x - 2.0 * r * f / (2.0 * f * f - r * df)
        tol = 1e-14 * (np.abs(x) + scale)
        conv = (np.abs(xn - x) <= tol) | (r == 0) | (hi - lo <= tol)
        bad = ~((xn >= lo) & (xn <= hi))  # NaN steps too
        xn = np.where(bad & ~conv, 0.5 * (lo + hi), xn)
        x = np.where(conv & bad, x, xn)
        if conv.any():
            out[idx[conv]] = x[conv]
            keep = ~conv
            idx, x, lo, hi, scale = idx[keep], x[keep], lo[keep], hi[keep], scale[keep]
            Ma, Sa, qa = Ma[keep], Sa[keep], qa[keep]
    out[idx] = x  # rows that did not converge keep their last iterate
    return out


def rows_quantile(a: np.ndarray, M: np.ndarray, S: np.ndarray, w: np.ndarray,
                   x0: np.ndarray | None = None) -> np.ndarray:
    """Quantile a[i] of mixture row i (0 -> -inf, 1 -> inf)."""
    out = np.full(a.shape, np.nan)
    out[a <= 0] = -np.inf
    out[a >= 1] = np.inf
    inner = (a > 0) & (a < 1)
    if inner.any():
        out[inner] = mixture_quantile(a[inner], M[inner], S[inner], w,
                                       None if x0 is None else x0[inner])
    return out


def newton2(R1: Any, R2: Any, pl: Any, pr: Any, dl: Any, dr: Any):
    """Newton step for ``F(r) - F(l) - prob = R1``, ``log p(l) - log p(r) = R2``.

    Jacobian ``[[-p(l), p(r)], [(log p)'(l), -(log p)'(r)]]`` (Cramer's rule).
    """
    a, b, c, d = -pl, pr, dl, -dr
    with np.errstate(divide="ignore", invalid="ignore"):
        det = a * d - b * c
        return (-R1 * d + b * R2) / det, (-a * R2 + c * R1) / det


def mixture_hdi(M: np.ndarray, S: np.ndarray, w: np.ndarray, prob: float,
                 start: np.ndarray | None = None) -> np.ndarray:
    """Shortest intervals of Normal mixtures (rows): 2-D Newton on (l, r) solving
    ``F(r) - F(l) = prob`` and ``p(l) = p(r)`` (the HDI of a unimodal density), from the
    equal-tailed interval; rows that do not converge (or whose Newton step is not
    finite; the other rows go on) fall back to a search over the lower tail
    probability."""
    n = M.shape[0]
    if start is None:
        a = 0.5 * (1.0 - prob)
        start = np.stack([rows_quantile(np.full(n, a), M, S, w),
                          rows_quantile(np.full(n, 1 - a), M, S, w)], axis=1)
    l, r = start[:, 0].copy(), start[:, 1].copy()
    done = np.zeros(n, dtype=bool)
    c = 1.0 / math.sqrt(2 * math.pi)
    act = np.arange(n)  # the rows still iterating, and their compacted state
    la, ra = l.copy(), r.copy()
    MM, SS = np.concatenate([M, M]), np.concatenate([S, S])
    for _ in range(60):
        if act.size == 0:
            break
        x = np.concatenate([la, ra])
        z = np.subtract(x[:, None], MM, dtype=float)
        z /= SS
        phi = np.multiply(z, -0.5)  # in place below: fewer temporaries of (rows, G)
        phi *= z
        np.exp(phi, out=phi)
        phi /= SS
        p = c * (phi @ w)
        t = np.multiply(phi, z)
        t /= SS
        dp = -c * (t @ w)
        special.ndtr(z, out=t)
        F = t @ w
        m = act.size
        pl, pr = p[:m], p[m:]
        with np.errstate(divide="ignore", invalid="ignore"):
            R1 = F[m:] - F[:m] - prob
            R2 = np.log(pl) - np.log(pr)
            dl, dr = dp[:m] / pl, dp[m:] / pr
        conv = (np.abs(R1) < 1e-14) & (np.abs(R2) < 1e-10)
        sl, sr = newton2(R1, R2, pl, pr, dl, dr)
        with np.errstate(divide="ignore", invalid="ignore"):
            fac = np.minimum(1.0, 0.5 * (ra - la) / np.maximum(
                np.maximum(np.abs(sl), np.abs(sr)), 1e-300))
        finite = np.isfinite(sl) & np.isfinite(sr)
        ok = finite & ~conv
        la = np.where(ok, la + fac * sl, la)
        ra = np.where(ok, ra + fac * sr, ra)
        leave = ~ok  # converged, or a step that is not finite (-> the fallback)
        if leave.any():
            done[act[conv]] = True
            gone = act[leave]
            l[gone], r[gone] = la[leave], ra[leave]
            keep = ~leave
            act, la, ra = act[keep], la[keep], ra[keep]
            MM, SS = np.concatenate([M[act], M[act]]), np.concatenate([S[act], S[act]])
    l[act], r[act] = la, ra
    done &= l < r
    if not done.all():  # fallback for the rows left
        rows = np.flatnonzero(~done)
        res = _mixture_hdi_alpha(M[rows], S[rows], w, prob)
        l[rows], r[rows] = res[:, 0], res[:, 1]
    return np.stack([l, r], axis=1)


def _mixture_hdi_alpha(M, S, w, prob):
    """Fallback: minimise the width Q(a + prob) - Q(a) over a (bounded Brent per row)."""
    out = np.empty((M.shape[0], 2))
    for i in range(M.shape[0]):
        Mi, Si = M[i:i + 1], S[i:i + 1]

        def width(a, Mi=Mi, Si=Si):
            q = mixture_quantile(np.array([a, a + prob]), np.repeat(Mi, 2, 0),
                                  np.repeat(Si, 2, 0), w)
            return q[1] - q[0]

        res = optimize.minimize_scalar(width, bounds=(1e-12, 1 - prob - 1e-12),
                                       method="bounded", options={"xatol": 1e-13})
        a = float(res.x)
        out[i] = mixture_quantile(np.array([a, a + prob]), np.repeat(Mi, 2, 0),
                                   np.repeat(Si, 2, 0), w)
    return out

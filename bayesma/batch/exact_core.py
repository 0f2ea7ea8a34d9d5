"""Vectorised pieces of the exact posterior for many meta-analyses: Gaussian part and nodes.

The per-call engine (:mod:`bayesma.bayes.exact`) integrates ``p(tau | y)`` adaptively for
one data set. Here the same integrand -- ``log p(tau) + log p(y | tau)`` with mu
integrated out against its Normal or flat prior (Röver 2020, J Stat Softw 93(6), sec.
2.3; :class:`bayesma.bayes.exact.gaussian.GaussianPart` with X = 1) -- is evaluated for
all groups of a batch at once, on the same mapped axis ``u`` (:class:`TauMap`), with the
same Gauss-Kronrod (7, 15) rule (QUADPACK ``qk15``: :data:`XK`, :data:`WK`, :data:`WG`),
on panels laid out per group around its mode: ``n_side`` panels on each side, the first
one mode-scale ``sig`` wide and the next ones growing geometrically to the point where
the integrand has dropped ``TAIL_DROP`` below its peak.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import legendre as npleg

from bayesma.bayes.exact.gaussian import LOG2PI
from bayesma.bayes.exact.quadrature import TAIL_DROP, WG, WK, XK, TauMap

__all__ = ["GroupGaussian", "Panels", "cdf_quantile", "find_modes", "lay_panels"]

#: inverse Vandermonde of the Legendre basis at the 15 Kronrod nodes (interpolation)
VINV = np.linalg.inv(npleg.legvander(XK, 14))
_GIDX = np.arange(1, 15, 2)
#: log-density drop at the ends of the coarse scan below which the tails are negligible
REACH_DROP = 30.0


class GroupGaussian:
    """The Gaussian part given tau for R groups of one size k (dense R x k arrays).

    ``log p(y | tau) = log ∫ N(y | mu 1, V + tau² I) p(mu) dmu`` by completing the square
    (Röver 2020, sec. 2.3; ``GaussianPart.evaluate`` with X = 1): ``P = sum w + lam``,
    ``b = (sum w y + lam m) / P``, ``C = 1/P``; a flat prior (``lam = 0``) gives the
    restricted likelihood.
    """

    def __init__(self, y: np.ndarray, v: np.ndarray, m: float, lam: float) -> None:
        self.y, self.v, self.m, self.lam = y, v, float(m), float(lam)
        self.k = y.shape[1]
        self.const = (-0.5 * self.k * LOG2PI + 0.5 * LOG2PI
                      + (0.5 * math.log(lam / (2 * math.pi)) if lam > 0 else 0.0))

    def evaluate(self, tau: np.ndarray, rows: np.ndarray | None = None):
        """``logL, b, C`` at ``tau`` (R' x n) for the rows ``rows`` (default all)."""
        y = self.y if rows is None else self.y[rows]
        v = self.v if rows is None else self.v[rows]
        t2 = np.square(tau)
        work = v[:, None, :] + t2[:, :, None]
        with np.errstate(over="ignore", under="ignore", divide="ignore"):
            logdet_v = np.log(np.prod(work, axis=2))  # sum log(v + tau²), one log
        bad = ~np.isfinite(logdet_v) | (logdet_v < -700.0)
        if bad.any():
            logdet_v[bad] = np.log(work[bad]).sum(axis=1)
        w = np.reciprocal(work, out=work)
        P = w.sum(axis=2) + self.lam
        b = (np.einsum("gnk,gk->gn", w, y) + self.lam * self.m) / P
        # sum w (y - b)² = sum w y² - 2 b sum w y + b² sum w, written with residuals
        # for accuracy
        r = y[:, None, :] - b[:, :, None]
        quad = np.einsum("gnk,gnk->gn", w * r, r) + self.lam * np.square(b - self.m)
        logL = self.const - 0.5 * logdet_v - 0.5 * np.log(P) - 0.5 * quad
        return logL, b, 1.0 / P


def find_modes(logf, c: np.ndarray, tmap: TauMap):
    """Mode ``u0`` and local scale ``sig`` of ``logf`` (R x n -> R x n) for every row.

    A coarse scan (as ``TauQuadrature._find_mode``, coarser: ``c ± 45`` in steps of 1 for an
    unbounded support, ``[-40, 40]`` on the logit axis for a bounded one), a fine scan
    around the best point, then Newton steps with finite differences. Also returns the
    coarse scan (points and values) for laying out the integration range.
    """
    R = c.size
    if tmap.bounded:
        scan = np.broadcast_to(np.linspace(-40.0, 40.0, 81), (R, 81))
    else:
        scan = c[:, None] + np.linspace(-45.0, 45.0, 91)[None, :]
    lf = logf(scan)
    j = np.argmax(lf, axis=1)
    step = scan[0, 1] - scan[0, 0]
    u0 = scan[np.arange(R), j]
    fine = u0[:, None] + np.linspace(-step, step, 21)[None, :]
    lff = logf(fine)
    u0 = fine[np.arange(R), np.argmax(lff, axis=1)]
    d = np.full(R, 0.25 * (fine[0, 1] - fine[0, 0]))
    sig = np.ones(R)
    for _ in range(8):
        f3 = logf(u0[:, None] + d[:, None] * np.array([-1.0, 0.0, 1.0])[None, :])
        g = (f3[:, 2] - f3[:, 0]) / (2 * d)
        h = (f3[:, 2] - 2 * f3[:, 1] + f3[:, 0]) / (d * d)
        okh = np.isfinite(h) & (h < 0) & np.isfinite(g)
        sig = np.where(okh, 1.0 / np.sqrt(np.where(okh, -h, 1.0)), sig)
        du = np.where(okh, np.clip(-g / np.where(okh, h, -1.0), -2 * sig, 2 * sig), 0.0)
        u0 = u0 + du
        d = np.minimum(d, 0.05 * sig)
    return u0, np.clip(sig, 1e-6, 10.0), scan, lf


class Panels:
    """Gauss-Kronrod panels of every row: edges (R x (P+1)), nodes and weights."""

    def __init__(self, edges: np.ndarray) -> None:
        self.a = edges[:, :-1]
        self.b = edges[:, 1:]
        self.hw = 0.5 * (self.b - self.a)
        mid = 0.5 * (self.a + self.b)
        self.u = (mid[:, :, None] + self.hw[:, :, None] * XK[None, None, :])  # R x P x 15
        self.wk = self.hw[:, :, None] * WK[None, None, :]

    def take(self, rows) -> Panels:
        """The panels of some rows."""
        edges = np.concatenate([self.a[rows], self.b[rows][:, -1:]], axis=1)
        return Panels(edges)

    def error(self, lf: np.ndarray, tau: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Relative G7/K15 error of the density and its first moments (per row; as
        ``TauQuadrature._refine`` but summed over the panels)."""
        shift = lf.max(axis=(1, 2), keepdims=True)
        f = np.exp(lf - shift)
        ts = tau / scale[:, None, None]
        worst = np.zeros(lf.shape[0])
        for H in (f, f * ts, f * ts * ts, f / (1.0 + ts * ts)):
            K = np.einsum("rpn,n->rp", H, WK) * self.hw
            G = np.einsum("rpn,n->rp", H[:, :, _GIDX], WG) * self.hw
            tot = np.maximum(K.sum(axis=1), 1e-300)
            worst = np.maximum(worst, np.abs(K - G).sum(axis=1) / tot)
        return worst


def lay_panels(u0, sig, u_lo, u_hi, n_side: int) -> np.ndarray:
    """Edges of ``n_side`` panels on each side of ``u0``: first width ``sig`` (or less),
    then growing geometrically (ratio solved per row) to reach ``u_lo`` / ``u_hi``."""
    j = np.arange(n_side + 1, dtype=float)
    sides = []
    for L in (u0 - u_lo, u_hi - u0):
        L = np.maximum(L, 1e-3 * sig)
        ratio_target = L / sig
        # (rho^n - 1)/(rho - 1) = L/sig, rho >= 1; rho = 1 when L/sig <= n (uniform)
        lo, hi = np.ones_like(L), np.full_like(L, 10.0)
        for _ in range(50):
            mid = 0.5 * (lo + hi)
            with np.errstate(invalid="ignore", divide="ignore"):
                s = np.where(mid > 1.0, (mid ** n_side - 1.0) / (mid - 1.0), n_side)
            big = s > ratio_target
            hi = np.where(big, mid, hi)
            lo = np.where(big, lo, mid)
        rho = 0.5 * (lo + hi)
        uni = ratio_target <= n_side
        with np.errstate(invalid="ignore", divide="ignore"):
            geo = (rho[:, None] ** j[None, :] - 1.0) / (rho[:, None] - 1.0)
            geo = geo / geo[:, -1:] * L[:, None]
        d = np.where(uni[:, None], j[None, :] / n_side * L[:, None], geo)
        sides.append(d)
    left = u0[:, None] - sides[0][:, ::-1]
    right = u0[:, None] + sides[1][:, 1:]
    return np.concatenate([left, right], axis=1)


def range_from_scan(scan, lf, u0, extra_hi=None):
    """Integration range per row: where the coarse scan lies ``TAIL_DROP`` below its
    peak (one scan step further out), and whether the drop was reached on both sides."""
    val = lf if extra_hi is None else lf + extra_hi
    top = np.max(lf, axis=1, keepdims=True)
    inside = lf > top - TAIL_DROP
    R, n = lf.shape
    first = np.argmax(inside, axis=1)
    last = n - 1 - np.argmax(inside[:, ::-1], axis=1)
    if extra_hi is not None:
        inside2 = val > np.max(val, axis=1, keepdims=True) - TAIL_DROP
        last = np.maximum(last, n - 1 - np.argmax(inside2[:, ::-1], axis=1))
    # the scan must show the drop on both sides; a drop of REACH_DROP at its ends leaves
    # tails below e^-30 of the mass (what the per-call engine adds as tail corrections)
    top2 = top if extra_hi is None else np.max(val, axis=1, keepdims=True)
    reached = (lf[:, 0] < top[:, 0] - REACH_DROP) & (val[:, -1] < top2[:, 0] - REACH_DROP)
    rows = np.arange(R)
    u_lo = np.minimum(scan[rows, np.maximum(first - 1, 0)], u0 - 1e-3)
    u_hi = np.maximum(scan[rows, np.minimum(last + 1, n - 1)], u0 + 1e-3)
    return u_lo, u_hi, reached


def cdf_quantile(q: float, lf: np.ndarray, log_z: np.ndarray, panels: Panels) -> np.ndarray:
    """u with posterior cdf ``q`` per row, from the degree-14 Legendre interpolant of the
    density in each panel (as ``TauQuadrature.quantile_u``), by safeguarded Newton."""
    dens = np.exp(lf - log_z[:, None, None])
    coef = dens @ VINV.T  # R x P x 15 Legendre coefficients on [-1, 1]
    cint = npleg.legint(coef, lbnd=-1, axis=2)  # R x P x 16
    mass = 2.0 * panels.hw * coef[:, :, 0]
    F_edges = np.concatenate([np.zeros((lf.shape[0], 1)), np.cumsum(mass, axis=1)], axis=1)
    tot = F_edges[:, -1]
    target = q * tot  # the interpolant's total is 1 up to rounding
    R, P = mass.shape
    j = np.clip((F_edges[:, 1:-1] <= target[:, None]).sum(axis=1), 0, P - 1)
    rows = np.arange(R)
    Fa, Fb = F_edges[rows, j], F_edges[rows, j + 1]
    hw = panels.hw[rows, j]
    ci, co = cint[rows, j], coef[rows, j]
    t = np.clip(-1.0 + 2.0 * (target - Fa) / np.maximum(Fb - Fa, 1e-300), -1.0, 1.0)
    tlo, thi = -np.ones(R), np.ones(R)
    for _ in range(60):
        V = npleg.legvander(t, 15)
        F = Fa + hw * np.einsum("rm,rm->r", ci, V)
        f = hw * np.einsum("rm,rm->r", co, V[:, :15])
        r = F - target
        tlo = np.where(r < 0, t, tlo)
        thi = np.where(r > 0, t, thi)
        with np.errstate(divide="ignore", invalid="ignore"):
            tn = t - r / f
        bad = ~((tn >= tlo) & (tn <= thi))
        tn = np.where(bad, 0.5 * (tlo + thi), tn)
        done = np.abs(tn - t) < 1e-14
        t = tn
        if done.all():
            break
    mid = 0.5 * (panels.a[rows, j] + panels.b[rows, j])
    return mid + hw * t

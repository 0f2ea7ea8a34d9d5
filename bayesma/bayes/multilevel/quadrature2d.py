"""Tensor-product Gauss-Kronrod quadrature over (tau_study, tau_esid), refined per axis.

Each SD is mapped onto the real line (:class:`~bayesma.bayes.exact.quadrature.TauMap`:
``u = log(tau - lo)``, or a logit inside a bounded support). The joint mode is found by
a coarse scan and Newton's method; each axis then gets composite Gauss-Kronrod (7, 15)
panels (Piessens et al. 1983, QUADPACK ``qk15``): width about one posterior SD near the
mode, growing outwards, out to where the profile of the log density (its maximum over
the other axis) has fallen ``DROP_2D`` below the peak. A panel is split while its
G7/K15 error estimate, of the density integrated over the other axis (and of its first
moments), exceeds ``QUAD_TOL`` of the total. The tensor product of the two panel sets
gives the nodes; the marginal density of each SD on its axis nodes is interpolated by
the degree-14 polynomial of each panel for cdfs and quantiles, as in the 1-D engine
(:mod:`bayesma.bayes.exact.quadrature`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.polynomial import legendre as npleg

from bayesma.bayes.exact.quadrature import RATE_TOL, WG, WK, XK, TauMap, logsumexp
from bayesma.errors import ImproperPosteriorError

__all__ = ["TensorQuadrature", "AxisMarginal", "QUAD_TOL_2D"]

#: relative error target of each axis' panels
QUAD_TOL_2D = 1e-8
#: log-density drop (relative to the peak) at which each axis' range ends (e^-32 ~ 1e-14)
DROP_2D = 32.0
_GIDX = np.arange(1, 15, 2)
_VINV = np.linalg.inv(npleg.legvander(XK, 14))
_LEG2POLY = np.array([np.pad(npleg.leg2poly(np.eye(16)[m]), (0, 15 - m)) for m in range(16)])

LogGrid = Callable[[np.ndarray, np.ndarray], np.ndarray]


class AxisMarginal:
    """cdf and quantiles of one SD from its marginal density at the panel nodes on u."""

    def __init__(self, a: np.ndarray, b: np.ndarray, dens: np.ndarray, tmap: TauMap) -> None:
        self.a, self.b, self.map = a, b, tmap
        self.hw = 0.5 * (b - a)
        coef = dens.reshape(a.size, 15) @ _VINV.T
        cint = npleg.legint(coef, lbnd=-1, axis=1)
        self.mcoef = coef @ _LEG2POLY[:15, :15]
        self.mcint = cint @ _LEG2POLY
        mass = 2.0 * self.hw * coef[:, 0]
        total = float(np.sum(mass))
        self.mcoef, self.mcint, mass = self.mcoef / total, self.mcint / total, mass / total
        self.F_edges = np.concatenate([[0.0], np.cumsum(mass)])

    def _eval(self, j: np.ndarray, t: np.ndarray):
        T = np.vander(t, 16, increasing=True)
        pdf = np.einsum("nm,nm->n", self.mcoef[j], T[:, :15])
        F = self.F_edges[j] + self.hw[j] * np.einsum("nm,nm->n", self.mcint[j], T)
        return F, pdf

    def cdf_u(self, u: np.ndarray) -> np.ndarray:
        """Posterior cdf at u (0 / 1 outside the panels)."""
        u = np.atleast_1d(np.asarray(u, dtype=float))
        j = np.clip(np.searchsorted(self.a, u, side="right") - 1, 0, self.a.size - 1)
        t = np.clip((u - 0.5 * (self.a[j] + self.b[j])) / self.hw[j], -1.0, 1.0)
        out = self._eval(j, t)[0]
        out = np.where(u < self.a[0], 0.0, np.where(u > self.b[-1], 1.0, out))
        return np.clip(out, 0.0, 1.0)

    def pdf_u(self, u: np.ndarray) -> np.ndarray:
        """Posterior density on u (0 outside the panels)."""
        u = np.atleast_1d(np.asarray(u, dtype=float))
        j = np.clip(np.searchsorted(self.a, u, side="right") - 1, 0, self.a.size - 1)
        t = (u - 0.5 * (self.a[j] + self.b[j])) / self.hw[j]
        out = self._eval(j, np.clip(t, -1.0, 1.0))[1]
        return np.where((u < self.a[0]) | (u > self.b[-1]), 0.0, np.maximum(out, 0.0))

    def quantile_u(self, q: np.ndarray) -> np.ndarray:
        """u with cdf q (bisection + Newton inside the panel)."""
        q = np.atleast_1d(np.asarray(q, dtype=float))
        j = np.clip(np.searchsorted(self.F_edges, q, side="right") - 1, 0, self.a.size - 1)
        lo, hi = -np.ones_like(q), np.ones_like(q)
        t = np.zeros_like(q)
        for _ in range(200):
            F, f = self._eval(j, t)
            r = F - q
            lo = np.where(r < 0, t, lo)
            hi = np.where(r > 0, t, hi)
            with np.errstate(divide="ignore", invalid="ignore"):
                tn = t - r / (self.hw[j] * f)
            bad = ~((tn > lo) & (tn < hi))
            tn = np.where(bad, 0.5 * (lo + hi), tn)
            done = (np.abs(tn - t) < 1e-13) | (hi - lo < 1e-13) | (np.abs(r) < 1e-16)
            t = tn
            if np.all(done):
                break
        out = 0.5 * (self.a[j] + self.b[j]) + self.hw[j] * t
        return np.where(q <= 0, -np.inf, np.where(q >= 1, np.inf, out))


class TensorQuadrature:
    """Quadrature of a log density over two SDs (see the module documentation).

    Parameters
    ----------
    loggrid : callable
        ``loggrid(tau1 (n1,), tau2 (n2,)) -> (n1, n2)`` unnormalised log posterior.
    supports : tuple of two (lo, hi)
        Supports of the two SDs.
    scales : tuple of two floats
        Typical scales (``sqrt(median v)``) for the initial scan.
    """

    def __init__(self, loggrid: LogGrid, supports, scales) -> None:
        self.loggrid = loggrid
        self.maps = [TauMap(*supports[0]), TauMap(*supports[1])]
        self.scales = [float(scales[0]), float(scales[1])]
        self._build()

    # ------------------------------------------------------------------ integrand on u
    def logf(self, u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
        """log integrand on the (u1, u2) tensor grid (Jacobians included)."""
        m1, m2 = self.maps
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            out = (self.loggrid(m1.tau(u1), m2.tau(u2)) + m1.log_jac(u1)[:, None]
                   + m2.log_jac(u2)[None, :])
        return np.where(np.isnan(out), -np.inf, out)

    def _center(self, axis: int) -> float:
        m = self.maps[axis]
        return 0.0 if m.bounded else math.log(self.scales[axis])

    # ------------------------------------------------------------------ construction
    def _find_mode(self) -> tuple[np.ndarray, np.ndarray]:
        scans = [np.linspace(self._center(a) - 40.0, self._center(a) + 40.0, 161)
                 for a in (0, 1)]
        lf = self.logf(*scans)
        if not np.any(np.isfinite(lf)):
            raise ImproperPosteriorError("the posterior density of the two SDs is zero (or "
                                         "undefined) everywhere: check their priors and the data")
        i, j = np.unravel_index(int(np.argmax(lf)), lf.shape)
        u = np.array([scans[0][i], scans[1][j]])
        step = 0.5
        for _ in range(3):  # finer local scans around the best point
            g = [u[a] + np.linspace(-step, step, 21) for a in (0, 1)]
            lf = self.logf(*g)
            i, j = np.unravel_index(int(np.argmax(lf)), lf.shape)
            u = np.array([g[0][i], g[1][j]])
            step /= 10.0
        h = 1e-3
        H = -np.eye(2)
        for _ in range(50):  # Newton with a finite-difference gradient and Hessian
            g1 = u[0] + np.array([-h, 0.0, h])
            g2 = u[1] + np.array([-h, 0.0, h])
            f = self.logf(g1, g2)
            if not np.all(np.isfinite(f)):
                break
            grad = np.array([(f[2, 1] - f[0, 1]) / (2 * h), (f[1, 2] - f[1, 0]) / (2 * h)])
            H = np.array([[f[2, 1] - 2 * f[1, 1] + f[0, 1], (f[2, 2] - f[2, 0] - f[0, 2]
                                                             + f[0, 0]) / 4],
                          [0.0, f[1, 2] - 2 * f[1, 1] + f[1, 0]]]) / (h * h)
            H[1, 0] = H[0, 1]
            if np.all(np.linalg.eigvalsh(H) < 0):
                du = -np.linalg.solve(H, grad)
                lim = 2.0 * np.sqrt(np.diag(np.linalg.inv(-H)))
                du = np.clip(du, -lim, lim)
            else:
                du = np.clip(grad, -0.5, 0.5) * 0.1
            u = u + du
            if np.all(np.abs(du) < 1e-7):
                break
        if np.all(np.linalg.eigvalsh(H) < 0):
            sig = np.sqrt(np.diag(np.linalg.inv(-H)))
        else:
            sig = np.ones(2)
        return u, np.clip(sig, 1e-4, 10.0)

    def _tail_rate(self, axis: int, u0: np.ndarray) -> float:
        """Decay rate of the profile of logf per unit of u far out on the upper side."""
        m = self.maps[axis]
        if m.bounded:
            return math.inf
        far = np.array([50.0, 60.0]) + self._center(axis)
        other = u0[1 - axis] + np.linspace(-60.0, 60.0, 241)
        grid = self.logf(far, other) if axis == 0 else self.logf(other, far).T
        prof = np.max(grid, axis=1)
        if not np.all(np.isfinite(prof)):
            return math.inf
        return float(-(prof[1] - prof[0]) / 10.0)

    def _profile(self, axis: int, pts: np.ndarray, other: np.ndarray) -> np.ndarray:
        grid = self.logf(pts, other) if axis == 0 else self.logf(other, pts).T
        return np.max(grid, axis=1)

    def _ends(self, axis: int, u0: np.ndarray, sig: np.ndarray, peak: float) -> list[float]:
        """Lower and upper end of the axis' range (profile DROP_2D below the peak)."""
        other = np.concatenate([u0[1 - axis] + sig[1 - axis] * np.linspace(-8, 8, 33),
                                u0[1 - axis] + np.linspace(-45.0, 45.0, 91)])
        ends = []
        for direction in (-1, +1):
            steps = sig[axis] * 1.5 ** np.arange(0, 40)
            pts = u0[axis] + direction * steps
            cap = u0[axis] + direction * 400.0
            pts = pts[direction * (pts - cap) < 0]
            prof = self._profile(axis, pts, other)
            if direction > 0 and self.r_top[axis]:
                with np.errstate(divide="ignore", invalid="ignore"):
                    prof = prof + self.r_top[axis] * np.log(self.maps[axis].tau(pts)
                                                            / self.scales[axis])
            below = np.flatnonzero(~(prof > peak - DROP_2D))
            ends.append(float(pts[below[0]]) if below.size else float(pts[-1]))
        return ends

    def _edges(self, u0: float, sig: float, lo: float, hi: float) -> np.ndarray:
        edges = [u0]
        for direction, end in ((+1, hi), (-1, lo)):
            pos, w = u0, 2.0 * sig
            while direction * (end - pos) > 0:
                width = min(w, max(2.0, 0.25 * abs(pos - u0)))
                pos = pos + direction * width
                if direction * (pos - end) > -0.25 * width:
                    pos = end
                edges.append(pos)
                w *= 1.5 if abs(pos - u0) > 2 * sig else 1.0
        return np.unique(np.asarray(edges))

    def _build(self) -> None:
        u0, sig = self._find_mode()
        self.u_mode, self.sig_u = u0, sig
        self.rate_hi = [self._tail_rate(a, u0) for a in (0, 1)]
        for a, name in ((0, "first"), (1, "second")):
            if not (self.rate_hi[a] > RATE_TOL):
                raise ImproperPosteriorError(
                    f"the posterior of the {name} SD is improper: it does not decay as the SD "
                    "grows (use a proper prior on it or more clusters/effects)")
        self.r_top = [max([r for r in (0, 1, 2, 4) if self.rate_hi[a] > r + RATE_TOL])
                      for a in (0, 1)]
        peak = float(self.logf(u0[:1], u0[1:])[0, 0])
        panels = []
        for a in (0, 1):
            lo, hi = self._ends(a, u0, sig, peak)
            e = self._edges(u0[a], sig[a], lo, hi)
            panels.append((e[:-1], e[1:]))
        self._refine(panels)

    @staticmethod
    def _nodes(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hw = 0.5 * (b - a)
        u = (0.5 * (a + b))[:, None] + hw[:, None] * XK[None, :]
        w = hw[:, None] * WK[None, :]
        return u.ravel(), w.ravel()

    def _refine(self, panels) -> None:
        for _ in range(30):
            (a1, b1), (a2, b2) = panels
            u1, w1 = self._nodes(a1, b1)
            u2, w2 = self._nodes(a2, b2)
            lf = self.logf(u1, u2)
            top = float(np.max(lf))
            F = np.exp(lf - top)
            split = []
            for axis, (a, b), u, w_other, u_other in ((0, panels[0], u1, w2, u2),
                                                      (1, panels[1], u2, w1, u1)):
                G = F if axis == 0 else F.T
                t_other = self.maps[1 - axis].tau(u_other) / self.scales[1 - axis]
                ts = self.maps[axis].tau(u) / self.scales[axis]
                f = G @ w_other
                H = np.stack([f, f * ts, f * np.power(ts, max(self.r_top[axis], 1)),
                              f / (1 + ts * ts), G @ (w_other * t_other)])
                H = H.reshape(H.shape[0], a.size, 15)
                hw = 0.5 * (b - a)
                K = hw * (H @ WK)
                Gs = hw * (H[:, :, _GIDX] @ WG)
                tot = np.maximum(np.abs(K).sum(axis=1, keepdims=True), 1e-300)
                err = np.max(np.abs(K - Gs) / tot, axis=0)
                split.append(err > QUAD_TOL_2D)
            if not (split[0].any() or split[1].any()):
                break
            new = []
            for (a, b), bad in zip(panels, split, strict=True):
                mid = 0.5 * (a[bad] + b[bad])
                na = np.concatenate([a[~bad], a[bad], mid])
                nb = np.concatenate([b[~bad], mid, b[bad]])
                order = np.argsort(na)
                new.append((na[order], nb[order]))
            panels = new
        self.panels = panels
        self.u1, self.w1 = u1, w1
        self.u2, self.w2 = u2, w2
        lw = lf + np.log(w1)[:, None] + np.log(w2)[None, :]
        self.log_z = logsumexp(lw)
        self.weights = np.exp(lw - self.log_z)                 # (n1, n2), sums to 1
        self.tau1 = self.maps[0].tau(u1)
        self.tau2 = self.maps[1].tau(u2)
        # the Gauss (7-point) sub-grid: the refinement made its estimates agree with the
        # Kronrod ones to QUAD_TOL_2D, so the Normal mixtures of mu, beta and theta use it
        # (about 5x fewer nodes)
        g1 = (np.arange(panels[0][0].size)[:, None] * 15 + _GIDX[None, :]).ravel()
        g2 = (np.arange(panels[1][0].size)[:, None] * 15 + _GIDX[None, :]).ravel()
        wg1 = (0.5 * (panels[0][1] - panels[0][0]))[:, None] * WG[None, :]
        wg2 = (0.5 * (panels[1][1] - panels[1][0]))[:, None] * WG[None, :]
        lg = lf[np.ix_(g1, g2)] + np.log(wg1.ravel())[:, None] + np.log(wg2.ravel())[None, :]
        self.gauss_weights = np.exp(lg - logsumexp(lg))          # (n1 / 15 * 7, ...)
        self.gauss_tau1, self.gauss_tau2 = self.tau1[g1], self.tau2[g2]
        # marginal densities on u at the axis nodes
        dens = np.exp(lf - self.log_z)
        self.marginals = [
            AxisMarginal(*panels[0], dens @ w2, self.maps[0]),
            AxisMarginal(*panels[1], dens.T @ w1, self.maps[1]),
        ]

    # ------------------------------------------------------------------ summaries
    def tau(self, axis: int) -> np.ndarray:
        """The SD values of the axis' nodes."""
        return self.tau1 if axis == 0 else self.tau2

    def marginal_weights(self, axis: int) -> np.ndarray:
        """Posterior weights of the axis' nodes (the other axis summed out)."""
        return self.weights.sum(axis=1 - axis)

    def moment(self, axis: int, r: float) -> float:
        """E[tau^r] of one SD (``inf`` when the tail makes it infinite)."""
        if r > 0 and not (self.rate_hi[axis] > r + RATE_TOL):
            return math.inf
        return float(np.sum(self.marginal_weights(axis) * np.power(self.tau(axis), r)))

    def quantile(self, axis: int, q: np.ndarray) -> np.ndarray:
        """Quantiles of one SD."""
        return self.maps[axis].tau(self.marginals[axis].quantile_u(q))

    def cdf(self, axis: int, x: np.ndarray) -> np.ndarray:
        """cdf of one SD at x."""
        m = self.maps[axis]
        x = np.atleast_1d(np.asarray(x, dtype=float))
        out = self.marginals[axis].cdf_u(m.u(np.clip(x, m.lo, m.hi)))
        return np.where(x <= m.lo, 0.0, np.where(x >= m.hi, 1.0, out))

    def pdf(self, axis: int, x: np.ndarray) -> np.ndarray:
        """Density of one SD at x."""
        m = self.maps[axis]
        x = np.atleast_1d(np.asarray(x, dtype=float))
        inside = (x > m.lo) & (x < m.hi)
        out = np.zeros(x.shape)
        if inside.any():
            u = m.u(x[inside])
            out[inside] = self.marginals[axis].pdf_u(u) * np.exp(-m.log_jac(u))
        return out

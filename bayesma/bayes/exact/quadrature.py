"""Adaptive Gauss-Kronrod quadrature over tau: the one integral without a closed form.

The integral over tau is done on ``u``, a smooth map of tau onto the real line
(``u = log(tau - lo)``, or ``logit`` of the position inside a bounded support), with
adaptive composite Gauss-Kronrod (7, 15) panels (Piessens et al. 1983, QUADPACK ``qk15``)
refined until every panel's error estimate is below ``1e-10`` of the total for the
density and its first moments. Tails beyond the panels are bounded by their local decay
rate; the asymptotic decay rate of ``p(tau | y)`` (a power law for heavy-tailed or
improper priors) decides which moments are finite and whether the posterior is proper.
The posterior cdf of tau inside a panel comes from the integral of the degree-14
polynomial interpolating the density at the 15 Kronrod nodes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.polynomial import legendre as npleg
from scipy import special

from bayesma.errors import ImproperPosteriorError

__all__ = ["TauMap", "TauQuadrature", "logsumexp", "XK", "WK", "WG", "QUAD_TOL",
           "TAIL_DROP", "RATE_TOL"]

# ----------------------------------------------------------------------------------------
# Gauss-Kronrod (7, 15) rule on [-1, 1]: QUADPACK qk15 (Piessens et al. 1983)
# ----------------------------------------------------------------------------------------
_XGK = np.array([
    0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
    0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
    0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
    0.207784955007898467600689403773245, 0.0,
])
_WGK = np.array([
    0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
    0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
    0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
    0.204432940075298892414161999234649, 0.209482141084727828012999174891714,
])
_WG7 = np.array([
    0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
    0.381830050505118944950369775488975, 0.417959183673469387755102040816327,
])
#: the 15 Kronrod nodes in increasing order, their weights, and the 7-point Gauss weights
#: on the odd positions (1, 3, ..., 13)
XK = np.concatenate([-_XGK[:-1], _XGK[::-1]])
WK = np.concatenate([_WGK[:-1], _WGK[::-1]])
WG = np.concatenate([_WG7[:-1], _WG7[::-1]])
_GIDX = np.arange(1, 15, 2)
#: Legendre coefficients of the interpolating polynomial = _VINV @ values at XK
_VINV = np.linalg.inv(npleg.legvander(XK, 14))
_NLEG = 15
#: monomial coefficients of the Legendre polynomials P_0 .. P_15 (row m: P_m)
_LEG2POLY = np.array([np.pad(npleg.leg2poly(np.eye(16)[m]), (0, 15 - m)) for m in range(16)])

#: relative error target of the adaptive quadrature (per panel, on the G7/K15 estimate)
QUAD_TOL = 1e-10
#: log-density drop (relative to the peak) at which the integration range ends
TAIL_DROP = 40.0
#: a decay rate (per unit of log tau) below this counts as "not decaying"
RATE_TOL = 1e-3
#: up to this many quantiles of tau are solved with scalar Newton steps
_FEW = 16


# ========================================================================================
# The quadrature over tau
# ========================================================================================
class TauMap:
    """Smooth bijection between tau in its support and u on the real line."""

    def __init__(self, lo: float, hi: float) -> None:
        self.lo = float(lo)
        self.hi = float(hi)
        self.bounded = math.isfinite(self.hi)
        self.width = self.hi - self.lo if self.bounded else math.inf

    def tau(self, u: np.ndarray) -> np.ndarray:
        if self.bounded:
            return self.lo + self.width * special.expit(u)
        return self.lo + np.exp(u)

    def log_jac(self, u: np.ndarray) -> np.ndarray:
        """log |d tau / d u|."""
        if self.bounded:
            return math.log(self.width) + special.log_expit(u) + special.log_expit(-u)
        return np.asarray(u, dtype=float)

    def u(self, tau: np.ndarray) -> np.ndarray:
        tau = np.asarray(tau, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.bounded:
                z = (tau - self.lo) / self.width
                return np.log(z) - np.log1p(-z)
            return np.log(tau - self.lo)


class TauQuadrature:
    """Adaptive Gauss-Kronrod quadrature of a log-density over tau, on the mapped axis u.

    Parameters
    ----------
    logpost : callable
        Unnormalised log posterior density of tau (vectorised, ``-inf`` allowed).
    support : tuple
        Support of tau.
    scale : float
        Typical scale of tau (``sqrt(median v)``) for the initial search.
    """

    def __init__(self, logpost: Callable[[np.ndarray], np.ndarray],
                 support: tuple[float, float], scale: float) -> None:
        self.logpost = logpost
        self.map = TauMap(*support)
        self.scale = float(scale)
        self._build()

    # ---------------------------------------------------------------- the integrand
    def logf(self, u: np.ndarray) -> np.ndarray:
        """log of the integrand on the u axis: log p(tau(u)) + log L + log |dtau/du|."""
        u = np.asarray(u, dtype=float)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            out = self.logpost(self.map.tau(u)) + self.map.log_jac(u)
        return np.where(np.isnan(out), -np.inf, out)

    # ---------------------------------------------------------------- construction
    def _tail_rate(self, side: str) -> float:
        """Asymptotic decay rate of logf per unit of u (inf: faster than any power)."""
        m = self.map
        if side == "hi":
            if m.bounded:
                return math.inf
            t = m.lo + self.scale * np.exp([50.0, 60.0])
        else:
            t = m.lo + self.scale * np.exp([-60.0, -50.0])
        uu = m.u(t)
        lf = self.logf(uu)
        if not np.all(np.isfinite(lf)):
            return math.inf if np.all(lf == -np.inf) or (
                (side == "hi" and lf[1] == -np.inf) or (side == "lo" and lf[0] == -np.inf)
            ) else math.nan
        slope = (lf[1] - lf[0]) / (uu[1] - uu[0])
        return float(-slope if side == "hi" else slope)

    def _find_mode(self) -> tuple[float, float]:
        """Mode u* of logf and the local scale 1/sqrt(-logf'') (Newton on a scan)."""
        m = self.map
        if m.bounded:
            u_lo = float(m.u(m.lo + min(self.scale * math.exp(-40.0), 0.5 * m.width)))
            scan = np.linspace(min(u_lo, -40.0), 40.0, 161)
        else:
            c = math.log(self.scale)
            scan = np.linspace(c - 45.0, c + 45.0, 181)
        lf = self.logf(scan)
        if not np.any(np.isfinite(lf)):
            raise ImproperPosteriorError(
                "the posterior density of tau is zero (or undefined) everywhere: check the "
                "prior on tau and the data"
            )
        j = int(np.argmax(lf))
        u0 = float(scan[j])
        step = scan[1] - scan[0]
        # refine on a finer local scan, then Newton with finite differences
        fine = u0 + np.linspace(-step, step, 41)
        lff = self.logf(fine)
        u0 = float(fine[int(np.argmax(lff))])
        d = 0.25 * (fine[1] - fine[0])
        sig = 1.0
        for _ in range(60):
            f3 = self.logf(np.array([u0 - d, u0, u0 + d]))
            g = (f3[2] - f3[0]) / (2 * d)
            h = (f3[2] - 2 * f3[1] + f3[0]) / (d * d)
            if not np.all(np.isfinite(f3)):
                break
            if h < 0:
                sig = 1.0 / math.sqrt(-h)
                du = float(np.clip(-g / h, -2 * sig, 2 * sig))
            else:
                du = math.copysign(min(1.0, 10 * d), g)
            u0 += du
            if d > 0.05 * sig:
                d = 0.05 * sig
                continue
            if abs(du) < 1e-6 * sig:
                break
        return u0, min(max(sig, 1e-6), 10.0)

    def _march(self, u0: float, sig: float, direction: int, weight_r: float,
               cap: float) -> tuple[float, float]:
        """Walk from the mode in growing steps until the rest of the tail is negligible.

        The tail beyond a point u with local decay rate c of ``g = logf + r log tau`` is
        about ``exp(g(u)) / c``; the walk stops where that is ``TAIL_DROP`` below the
        peak, or at ``cap``. Returns the end point and the local decay rate there.
        """
        steps = sig * 1.6 ** np.arange(0, 60)
        pts = u0 + direction * steps
        pts = pts[direction * (pts - cap) < 0]
        pts = np.concatenate([[u0], pts, [cap]])
        g = self.logf(pts)
        if weight_r:
            with np.errstate(divide="ignore", invalid="ignore"):
                g = g + weight_r * np.log(self.map.tau(pts))
            g = np.where(np.isnan(g), -np.inf, g)
        gmax = np.maximum.accumulate(np.where(np.isfinite(g), g, -np.inf))
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = (g[:-1] - g[1:]) / np.abs(np.diff(pts))
            crit = g[1:] - np.log(np.where(rate > 0, rate, np.nan)) < gmax[1:] - TAIL_DROP
        stop = (g[1:] == -np.inf) | ((rate > 0) & crit)
        j = int(np.argmax(stop)) if stop.any() else pts.size - 2
        r = float(rate[j]) if np.isfinite(g[j + 1]) else math.inf
        return float(pts[j + 1]), r

    def _build(self) -> None:
        m = self.map
        # a power-law tail gives its exponent (per unit of log tau); lighter tails huge values
        self.rate_hi = self._tail_rate("hi")
        self.rate_lo = self._tail_rate("lo")
        if not (self.rate_hi > RATE_TOL):
            raise ImproperPosteriorError(
                "the posterior of tau is improper: p(tau | y) does not decay fast enough "
                f"as tau -> infinity (it behaves like tau^{-self.rate_hi - 1:+.3g}, which is "
                "not integrable). With an improper prior on tau (UniformTau, Jeffreys) the "
                "marginal likelihood must decay faster than 1/tau, which needs k >= 2 studies "
                "with a proper mu prior and k >= 3 with a flat one (Röver 2020, J Stat Softw "
                "93(6), sec. 2.5). Use a proper prior on tau or on mu, or more studies."
            )
        if not (self.rate_lo > RATE_TOL):
            raise ImproperPosteriorError(
                "the posterior of tau is improper at tau = 0: the prior density of tau is "
                "not integrable near zero. Use a prior on tau that is proper near 0."
            )
        u0, sig = self._find_mode()
        self.u_mode, self.sig_u = u0, sig
        # largest moment of tau we integrate (tau⁴ for the variance of tau²)
        self.r_top = max([r for r in (0, 1, 2, 4) if self.rate_hi > r + RATE_TOL])
        if m.bounded:
            cap_hi, cap_lo = u0 + 400.0, u0 - 400.0
        else:
            c = math.log(self.scale)
            cap_hi = max(min(c + 150.0, 170.0), u0 + 5 * sig)
            cap_lo = min(max(c - 300.0, -340.0), u0 - 5 * sig)
        u_hi, _ = self._march(u0, sig, +1, self.r_top, cap_hi)
        u_lo, _ = self._march(u0, sig, -1, 0.0, cap_lo)
        # initial breakpoints: width sig near the mode, growing outwards, at most 2
        # (far from the mode the integrand is analytic in a wide strip: wider panels)
        edges = [u0]
        for direction, end in ((+1, u_hi), (-1, u_lo)):
            pos, w = u0, sig
            while direction * (end - pos) > 0:
                width = min(w, max(2.0, 0.25 * abs(pos - u0)))
                pos = pos + direction * width
                if direction * (pos - end) > -0.25 * width:
                    pos = end
                edges.append(pos)
                w *= 1.5 if abs(pos - u0) > 3 * sig else 1.0
        edges = np.unique(np.asarray(edges))
        self._refine(edges)

    def _refine(self, edges: np.ndarray) -> None:
        """Split panels until each panel's G7/K15 error estimate is below QUAD_TOL."""
        m = self.map
        a, b = edges[:-1], edges[1:]
        lf = self._panel_logf(a, b)
        for _ in range(40):
            hw = 0.5 * (b - a)
            shift = np.max(lf)
            f = np.exp(lf - shift)
            tau = m.tau(0.5 * (a + b)[:, None] + hw[:, None] * XK[None, :])
            ts = tau / self.scale
            # the density, its tau-moments and a bounded shrinkage-like factor
            H = np.stack([f, f * np.power(ts, self.r_top if self.r_top else 1.0),
                          f * ts, f / (1.0 + ts * ts)])
            K = hw * (H @ WK)
            G = hw * (H[:, :, _GIDX] @ WG)
            tot = np.maximum(K.sum(axis=1, keepdims=True), 1e-300)
            err = np.max(np.abs(K - G) / tot, axis=0)
            bad = err > QUAD_TOL
            if not bad.any():
                break
            mid = 0.5 * (a[bad] + b[bad])
            na = np.concatenate([a[~bad], a[bad], mid])
            nb = np.concatenate([b[~bad], mid, b[bad]])
            nlf = np.concatenate([lf[~bad], self._panel_logf(a[bad], mid),
                                  self._panel_logf(mid, b[bad])])
            order = np.argsort(na)
            a, b, lf = na[order], nb[order], nlf[order]
        self.a, self.b = a, b
        self.hw = 0.5 * (b - a)
        self._mid = 0.5 * (a + b)
        self.u_nodes = 0.5 * (a + b)[:, None] + self.hw[:, None] * XK[None, :]
        self.lf_nodes = lf
        self._finish()

    def _panel_logf(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        u = 0.5 * (a + b)[:, None] + 0.5 * (b - a)[:, None] * XK[None, :]
        return self.logf(u.ravel()).reshape(u.shape)

    def _finish(self) -> None:
        m = self.map
        lw = np.log(self.hw)[:, None] + np.log(WK)[None, :] + self.lf_nodes
        lse = logsumexp(lw)
        # tails beyond the panels: integral of exp(logf) ~ exp(logf(end)) / rate
        u_lo, u_hi = self.a[0], self.b[-1]
        lf_ends = self.logf(np.array([u_lo, u_lo + 1e-3, u_hi - 1e-3, u_hi]))
        r_lo = (lf_ends[1] - lf_ends[0]) / 1e-3
        r_hi = (lf_ends[2] - lf_ends[3]) / 1e-3
        tail_lo = lf_ends[0] - math.log(r_lo) if r_lo > 0 and np.isfinite(lf_ends[0]) else -np.inf
        tail_hi = lf_ends[3] - math.log(r_hi) if r_hi > 0 and np.isfinite(lf_ends[3]) else -np.inf
        logZ = logsumexp(np.array([lse, tail_lo, tail_hi]))
        self.log_z = logZ
        self.tail_lo = math.exp(tail_lo - logZ)
        self.tail_hi = math.exp(tail_hi - logZ)
        self.rate_edge_lo, self.rate_edge_hi = r_lo, r_hi
        # normalised density on u at the nodes; Legendre coefficients per panel
        dens = np.exp(self.lf_nodes - logZ)
        self.coef = dens @ _VINV.T  # (n_panels, 15)
        # antiderivative from the panel's left end, in the Legendre basis (degree 15)
        self.cint = npleg.legint(self.coef, lbnd=-1, axis=1)
        # the same polynomials in the monomial basis of t (coefficients of P_m, m <= 15,
        # are below 1e4: rounding stays below ~1e-12 of the panel's density on [-1, 1])
        self.mcoef = self.coef @ _LEG2POLY[:_NLEG, :_NLEG]
        self.mcint = self.cint @ _LEG2POLY
        mass = 2.0 * self.hw * self.coef[:, 0]
        self.F_edges = self.tail_lo + np.concatenate([[0.0], np.cumsum(mass)])
        # flat node arrays, plus the two tail masses as extra nodes at the ends
        self.u = np.concatenate([self.u_nodes.ravel(), [u_lo, u_hi]])
        self.tau = m.tau(self.u)
        self.weights = np.concatenate([np.exp(lw.ravel() - logZ),
                                       [self.tail_lo, self.tail_hi]])

    # ---------------------------------------------------------------- moments
    def moment(self, r: float) -> float:
        """E[tau^r]; ``inf`` when the tail makes it infinite."""
        if r > 0 and not (self.rate_hi > r + RATE_TOL):
            return math.inf
        val = float(np.sum(self.weights * np.power(self.tau, r)))
        if r > 0 and not self.map.bounded and self.tail_hi > 0:
            # power-law tail beyond the last panel: ∫ e^{logf} tau^r du ≈ value / (rate - r)
            rate = self.rate_edge_hi
            th = self.tau[-1]
            if rate > r:
                val += self.tail_hi * th**r * (rate / (rate - r) - 1.0)
        return val

    # ---------------------------------------------------------------- cdf and quantiles
    def _locate(self, u: np.ndarray):
        # np.minimum/np.maximum: np.clip's wrapper costs more than the work here
        j = np.minimum(np.maximum(np.searchsorted(self.a, u, side="right") - 1, 0),
                       len(self.a) - 1)
        t = (u - self._mid[j]) / self.hw[j]
        return j, t

    def _panel_coefs(self, j: np.ndarray) -> tuple[np.ndarray, ...]:
        """Panel j's density and cdf polynomials, cdf at its left end and half-width."""
        return self.mcoef[j], self.mcint[j], self.F_edges[j], self.hw[j]

    def _cdf_pdf_in_panel(self, j: np.ndarray, t: np.ndarray, coefs=None):
        """cdf and density (on u) inside panel j at local coordinate t in [-1, 1]
        (``coefs``: :meth:`_panel_coefs` of j when already gathered)."""
        C, Ci, Fa, hw = self._panel_coefs(j) if coefs is None else coefs
        # 1, t, ..., t^15: np.vander(t, 16, increasing=True) without its wrapper
        T = np.empty((t.size, _NLEG + 1))
        T[:, 0] = 1.0
        T[:, 1:] = t[:, None]
        np.multiply.accumulate(T[:, 1:], out=T[:, 1:], axis=1)
        pdf = np.einsum("nm,nm->n", C, T[:, :_NLEG])
        F = Fa + hw * np.einsum("nm,nm->n", Ci, T)
        return F, pdf

    def cdf_pdf_u(self, u: np.ndarray):
        """cdf and density on u at points inside the panels (interpolants)."""
        j, t = self._locate(np.asarray(u, dtype=float))
        return self._cdf_pdf_in_panel(j, np.minimum(np.maximum(t, -1.0), 1.0))

    def cdf_u(self, u: np.ndarray) -> np.ndarray:
        """Posterior cdf of tau at tau(u)."""
        u = np.atleast_1d(np.asarray(u, dtype=float))
        out = np.empty_like(u)
        lo = u < self.a[0]
        hi = u > self.b[-1]
        mid = ~(lo | hi)
        out[lo] = self.tail_lo * np.exp(self.rate_edge_lo * (u[lo] - self.a[0]))
        out[hi] = 1.0 - self.tail_hi * np.exp(-self.rate_edge_hi * (u[hi] - self.b[-1]))
        if mid.any():
            j, t = self._locate(u[mid])
            out[mid] = self._cdf_pdf_in_panel(j, np.clip(t, -1.0, 1.0))[0]
        return np.clip(out, 0.0, 1.0)

    def quantile_u(self, q: np.ndarray) -> np.ndarray:
        """u such that the posterior cdf of tau(u) is q (Newton inside a panel)."""
        q = np.atleast_1d(np.asarray(q, dtype=float))
        out = np.empty_like(q)
        F0, F1 = self.F_edges[0], self.F_edges[-1]
        lo = q < F0
        hi = q > F1
        mid = ~(lo | hi)
        with np.errstate(divide="ignore"):
            out[lo] = self.a[0] + np.log(q[lo] / F0) / self.rate_edge_lo if F0 > 0 else -np.inf
            out[hi] = (self.b[-1] - np.log((1.0 - q[hi]) / (1.0 - F1)) / self.rate_edge_hi
                       if F1 < 1 else np.inf)
        out[q <= 0] = -np.inf
        out[q >= 1] = np.inf
        if mid.any():
            qm = q[mid]
            j = np.clip(np.searchsorted(self.F_edges, qm, side="right") - 1, 0, len(self.a) - 1)
            Fa, Fb = self.F_edges[j], self.F_edges[j + 1]
            t = np.clip(-1.0 + 2.0 * (qm - Fa) / np.maximum(Fb - Fa, 1e-300), -1.0, 1.0)
            coefs = self._panel_coefs(j)
            if t.size <= _FEW:
                t = self._newton_few(t, qm, coefs)
            else:
                t = self._newton_many(t, qm, coefs)
            out[mid] = 0.5 * (self.a[j] + self.b[j]) + self.hw[j] * t
        return out

    def _newton_many(self, t: np.ndarray, q: np.ndarray, coefs) -> np.ndarray:
        """Safeguarded Newton for the local coordinates t of the targets q inside their
        panels (``coefs``), on arrays; the unconverged targets' state kept compacted."""
        t = t.copy()
        act = np.arange(t.size)
        ta, qa = t.copy(), q
        C, Ci, Fa, hwa = coefs
        tlo, thi = -np.ones_like(t), np.ones_like(t)
        for _ in range(60):
            F, f = self._cdf_pdf_in_panel(None, ta, (C, Ci, Fa, hwa))
            r = F - qa
            tlo = np.where(r < 0, ta, tlo)
            thi = np.where(r > 0, ta, thi)
            with np.errstate(divide="ignore", invalid="ignore"):
                tn = ta - r / (hwa * f)
            done = (np.abs(tn - ta) < 1e-14) | (r == 0) | (thi - tlo < 1e-14)
            bad = ~((tn >= tlo) & (tn <= thi))
            tn = np.where(bad, 0.5 * (tlo + thi), tn)
            ta = np.where(done & bad, ta, tn)
            if done.any():
                t[act[done]] = ta[done]
                keep = ~done
                act, ta, qa, tlo, thi = act[keep], ta[keep], qa[keep], tlo[keep], thi[keep]
                C, Ci, Fa, hwa = C[keep], Ci[keep], Fa[keep], hwa[keep]
                if act.size == 0:
                    break
        t[act] = ta  # targets still iterating after 60 steps keep their last iterate
        return t

    def _newton_few(self, t: np.ndarray, q: np.ndarray, coefs) -> np.ndarray:
        """:meth:`_newton_many` for a few targets: the polynomials are evaluated on
        arrays, the steps and tests in float arithmetic (the same operations in the same
        order: the same numbers, without the cost of numpy calls on tiny arrays)."""
        ts, qs = t.tolist(), q.tolist()
        C, Ci, Fa, hwa = coefs
        hws = hwa.tolist()
        lo, hi = [-1.0] * len(ts), [1.0] * len(ts)
        act = list(range(len(ts)))
        for _ in range(60):
            F, f = self._cdf_pdf_in_panel(None, np.array([ts[i] for i in act]),
                                          (C, Ci, Fa, hwa))
            left = []
            for i, Fi, fi in zip(act, F.tolist(), f.tolist(), strict=True):
                ti = ts[i]
                r = Fi - qs[i]
                if r < 0:
                    lo[i] = ti
                if r > 0:
                    hi[i] = ti
                den = hws[i] * fi
                tn = ti - r / den if den != 0 else math.nan  # numpy: inf or nan
                done = abs(tn - ti) < 1e-14 or r == 0 or hi[i] - lo[i] < 1e-14
                bad = not (lo[i] <= tn <= hi[i])
                if bad:
                    tn = 0.5 * (lo[i] + hi[i])
                ts[i] = ti if (done and bad) else tn
                if not done:
                    left.append(i)
            if len(left) < len(act):
                if not left:
                    break
                keep = [act.index(i) for i in left]
                C, Ci, Fa, hwa = C[keep], Ci[keep], Fa[keep], hwa[keep]
                act = left
        return np.array(ts)


def logsumexp(x: np.ndarray) -> float:
    """log(sum(exp(x))) over all elements, stable for -inf entries."""
    m = float(np.max(x))
    if not math.isfinite(m):
        return m
    return m + math.log(float(np.sum(np.exp(x - m))))

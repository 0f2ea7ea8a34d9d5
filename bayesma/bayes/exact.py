"""Exact posterior of the normal-normal random-effects model by 1-D quadrature over tau.

The model (Röver 2020, J Stat Softw 93(6), eq. 1-3; R's ``bayesmeta``)::

    y_i | theta_i ~ N(theta_i, v_i),    theta_i | beta, tau ~ N(x_i' beta, tau²),
    beta_j ~ N(m_j, s_j²) or flat,      tau ~ p(tau)

(intercept-only: ``x_i = 1``, ``beta = mu``). Given tau everything is Gaussian, so the
only integral without a closed form is the one over tau:

* ``p(tau | y) ∝ p(tau) · N(y | X m, V + tau² I + X S X')`` (Röver 2020, sec. 2.3): the
  marginal likelihood with beta integrated out against its Normal prior; with flat
  components it is the restricted (REML-type) likelihood.
* ``beta | tau, y`` is Gaussian (mean ``b(tau)``, covariance ``C(tau)``) and
  ``theta_i | tau, y`` is Gaussian (Röver 2020, sec. 2.4 "shrinkage"), so every posterior
  of mu, beta, theta_i and the predictive theta_new is a mixture of Normals over tau.

The integral over tau is done on ``u``, a smooth map of tau onto the real line
(``u = log(tau - lo)``, or ``logit`` of the position inside a bounded support), with
adaptive composite Gauss-Kronrod (7, 15) panels (Piessens et al. 1983, QUADPACK ``qk15``)
refined until every panel's error estimate is below ``1e-10`` of the total for the
density and its first moments. Tails beyond the panels are bounded by their local decay
rate; the asymptotic decay rate of ``p(tau | y)`` (a power law for heavy-tailed or
improper priors) decides which moments are finite and whether the posterior is proper.
The posterior cdf of tau inside a panel comes from the integral of the degree-14
polynomial interpolating the density at the 15 Kronrod nodes.

Accuracy: ~1e-11 relative against ``../shared/bayes_reference`` (every dataset, three tau
priors); tested against brute-force 2-D integration for ten tau prior families, flat and
improper priors, and meta-regression against the covariance form. Speed: a full summary
for k = 13 takes ~6 ms (``benchmarks/bayes_exact.py``).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.polynomial import legendre as npleg
from scipy import optimize, special

from bayesma.data import (
    effect_arrays,
    find_label_column,
    require_columns,
    study_labels,
)
from bayesma.errors import BayesmaError, ImproperPosteriorError, TooFewStudiesError

__all__ = ["ExactPosterior", "exact_posterior", "exact_posterior_arrays"]

_LOG2PI = math.log(2.0 * math.pi)

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


# ========================================================================================
# The Gaussian part: marginal likelihood and conditional moments given tau
# ========================================================================================
@dataclass(frozen=True)
class _Gaussian:
    """Data and Normal/flat coefficient priors of the model; everything given tau.

    ``lam`` are the prior precisions (0 for flat components), ``m`` the prior means.
    """

    y: np.ndarray
    v: np.ndarray
    X: np.ndarray
    m: np.ndarray
    lam: np.ndarray

    @property
    def k(self) -> int:
        return self.y.shape[0]

    @property
    def p(self) -> int:
        return self.X.shape[1]

    def evaluate(self, tau: np.ndarray, *, cov: bool = False):
        """Log marginal likelihood, and ``b``, ``C`` (conditional mean/covariance of beta).

        ``log p(y | tau) = log ∫ N(y | X beta, V + tau² I) p(beta) d beta``, computed by
        completing the square (Röver 2020, sec. 2.3; bayesmeta's ``likelihood``):
        ``P = X'WX + Λ``, ``b = P⁻¹(X'Wy + Λm)``, with ``W = (V + tau²I)⁻¹`` and
        ``Λ`` the prior precisions; flat components have density 1 (restricted likelihood).

        Returns
        -------
        logL : (G,) ndarray
        b : (G, p) ndarray
        C : (G, p, p) ndarray or None
        """
        tau = np.asarray(tau, dtype=float)
        y, v, X, lam, m = self.y, self.v, self.X, self.lam, self.m
        k, p = X.shape
        W = 1.0 / (v[None, :] + np.square(tau)[:, None])
        if p == 1:
            x = X[:, 0]
            P = W @ (x * x) + lam[0]
            r = W @ (x * y) + lam[0] * m[0]
            b = (r / P)[:, None]
            logdet = np.log(P)
            resid = y[None, :] - b * x[None, :]
            C = (1.0 / P)[:, None, None] if cov else None
        else:
            XW = W[:, :, None] * X[None, :, :]
            P = np.einsum("gij,il->gjl", XW, X) + np.diag(lam)[None]
            r = np.einsum("gij,i->gj", XW, y) + (lam * m)[None]
            L = np.linalg.cholesky(P)
            logdet = 2.0 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
            b = np.linalg.solve(P, r[:, :, None])[:, :, 0]
            resid = y[None, :] - b @ X.T
            C = np.linalg.inv(P) if cov else None
        quad = np.sum(W * resid * resid, axis=1) + np.sum(lam * np.square(b - m), axis=1)
        normal = lam > 0
        logL = (-0.5 * k * _LOG2PI + 0.5 * np.sum(np.log(W), axis=1)
                + 0.5 * np.sum(np.log(lam[normal] / (2.0 * np.pi)))  # prior normalisation
                + 0.5 * p * _LOG2PI - 0.5 * logdet - 0.5 * quad)
        return logL, b, C

    def theta_moments(self, tau: np.ndarray, b: np.ndarray, C: np.ndarray):
        """Mean and variance of each theta_i given tau (beta integrated out).

        ``theta_i | beta, tau, y ~ N((1-B_i) y_i + B_i x_i'beta, (1-B_i) v_i)`` with
        ``B_i = v_i / (v_i + tau²)`` (Röver 2020, sec. 2.4); averaging over
        ``beta | tau, y ~ N(b, C)`` adds ``B_i² x_i' C x_i`` to the variance.
        """
        t2 = np.square(np.asarray(tau, dtype=float))[:, None]
        B = self.v[None, :] / (self.v[None, :] + t2)
        xb = b @ self.X.T
        if self.p == 1:
            xcx = C[:, 0, 0][:, None] * np.square(self.X[:, 0])[None, :]
        else:
            xcx = np.einsum("ij,gjl,il->gi", self.X, C, self.X)
        mean = (1.0 - B) * self.y[None, :] + B * xb
        var = (1.0 - B) * self.v[None, :] + np.square(B) * xcx
        return mean, var


# ========================================================================================
# The quadrature over tau
# ========================================================================================
class _TauMap:
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


class _TauQuadrature:
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
        self.map = _TauMap(*support)
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
        self.u_nodes = 0.5 * (a + b)[:, None] + self.hw[:, None] * XK[None, :]
        self.lf_nodes = lf
        self._finish()

    def _panel_logf(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        u = 0.5 * (a + b)[:, None] + 0.5 * (b - a)[:, None] * XK[None, :]
        return self.logf(u.ravel()).reshape(u.shape)

    def _finish(self) -> None:
        m = self.map
        lw = np.log(self.hw)[:, None] + np.log(WK)[None, :] + self.lf_nodes
        lse = _logsumexp(lw)
        # tails beyond the panels: integral of exp(logf) ~ exp(logf(end)) / rate
        u_lo, u_hi = self.a[0], self.b[-1]
        lf_ends = self.logf(np.array([u_lo, u_lo + 1e-3, u_hi - 1e-3, u_hi]))
        r_lo = (lf_ends[1] - lf_ends[0]) / 1e-3
        r_hi = (lf_ends[2] - lf_ends[3]) / 1e-3
        tail_lo = lf_ends[0] - math.log(r_lo) if r_lo > 0 and np.isfinite(lf_ends[0]) else -np.inf
        tail_hi = lf_ends[3] - math.log(r_hi) if r_hi > 0 and np.isfinite(lf_ends[3]) else -np.inf
        logZ = _logsumexp(np.array([lse, tail_lo, tail_hi]))
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
        j = np.clip(np.searchsorted(self.a, u, side="right") - 1, 0, len(self.a) - 1)
        t = (u - 0.5 * (self.a[j] + self.b[j])) / self.hw[j]
        return j, t

    def _cdf_pdf_in_panel(self, j: np.ndarray, t: np.ndarray):
        """cdf and density (on u) inside panel j at local coordinate t in [-1, 1]."""
        T = np.vander(t, _NLEG + 1, increasing=True)  # 1, t, ..., t^15
        pdf = np.einsum("nm,nm->n", self.mcoef[j], T[:, :_NLEG])
        F = self.F_edges[j] + self.hw[j] * np.einsum("nm,nm->n", self.mcint[j], T)
        return F, pdf

    def cdf_pdf_u(self, u: np.ndarray):
        """cdf and density on u at points inside the panels (interpolants)."""
        j, t = self._locate(np.asarray(u, dtype=float))
        return self._cdf_pdf_in_panel(j, np.clip(t, -1.0, 1.0))

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
            tlo, thi = -np.ones_like(t), np.ones_like(t)
            act = np.arange(t.size)
            for _ in range(60):  # safeguarded Newton, only on the unconverged targets
                ja, ta = j[act], t[act]
                F, f = self._cdf_pdf_in_panel(ja, ta)
                r = F - qm[act]
                tlo[act] = np.where(r < 0, ta, tlo[act])
                thi[act] = np.where(r > 0, ta, thi[act])
                with np.errstate(divide="ignore", invalid="ignore"):
                    tn = ta - r / (self.hw[ja] * f)
                done = (np.abs(tn - ta) < 1e-14) | (r == 0) | (thi[act] - tlo[act] < 1e-14)
                bad = ~((tn >= tlo[act]) & (tn <= thi[act]))
                tn = np.where(bad, 0.5 * (tlo[act] + thi[act]), tn)
                t[act] = np.where(done & bad, ta, tn)
                act = act[~done]
                if act.size == 0:
                    break
            out[mid] = 0.5 * (self.a[j] + self.b[j]) + self.hw[j] * t
        return out




def _logsumexp(x: np.ndarray) -> float:
    """log(sum(exp(x))) over all elements, stable for -inf entries."""
    m = float(np.max(x))
    if not math.isfinite(m):
        return m
    return m + math.log(float(np.sum(np.exp(x - m))))


# ========================================================================================
# Vectorised monotone root finding (quantiles of Normal mixtures)
# ========================================================================================
def _mixture_cdf_pdf(x: np.ndarray, M: np.ndarray, S: np.ndarray, w: np.ndarray):
    """cdf and pdf of Normal mixtures: row i is sum_g w_g N(M[i, g], S[i, g]²) at x[i]."""
    z = (x[:, None] - M) / S
    F = special.ndtr(z) @ w
    f = (np.exp(-0.5 * z * z) / S) @ w / math.sqrt(2 * math.pi)
    return F, f


def _mixture_quantile(q: np.ndarray, M: np.ndarray, S: np.ndarray, w: np.ndarray,
                      x0: np.ndarray | None = None) -> np.ndarray:
    """Quantiles q[i] of the Normal mixtures (rows of M, S) by safeguarded Newton."""
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
    active = np.ones(q.shape, dtype=bool)
    for _ in range(100):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        F, f = _mixture_cdf_pdf(x[idx], M[idx], S[idx], w)
        r = F - q[idx]
        lo[idx] = np.where(r < 0, x[idx], lo[idx])
        hi[idx] = np.where(r > 0, x[idx], hi[idx])
        with np.errstate(divide="ignore", invalid="ignore"):
            xn = x[idx] - r / f
        tol = 1e-14 * (np.abs(x[idx]) + scale[idx])
        conv = (np.abs(xn - x[idx]) <= tol) | (r == 0) | (hi[idx] - lo[idx] <= tol)
        bad = ~((xn >= lo[idx]) & (xn <= hi[idx]))
        xn = np.where(bad & ~conv, 0.5 * (lo[idx] + hi[idx]), xn)
        x[idx] = np.where(conv & bad, x[idx], xn)
        active[idx[conv]] = False
    return x


def _rows_quantile(a: np.ndarray, M: np.ndarray, S: np.ndarray, w: np.ndarray,
                   x0: np.ndarray | None = None) -> np.ndarray:
    """Quantile a[i] of mixture row i (0 -> -inf, 1 -> inf)."""
    out = np.full(a.shape, np.nan)
    out[a <= 0] = -np.inf
    out[a >= 1] = np.inf
    inner = (a > 0) & (a < 1)
    if inner.any():
        out[inner] = _mixture_quantile(a[inner], M[inner], S[inner], w,
                                       None if x0 is None else x0[inner])
    return out


def _newton2(R1: Any, R2: Any, pl: Any, pr: Any, dl: Any, dr: Any):
    """Newton step for ``F(r) - F(l) - prob = R1``, ``log p(l) - log p(r) = R2``.

    Jacobian ``[[-p(l), p(r)], [(log p)'(l), -(log p)'(r)]]`` (Cramer's rule).
    """
    a, b, c, d = -pl, pr, dl, -dr
    with np.errstate(divide="ignore", invalid="ignore"):
        det = a * d - b * c
        return (-R1 * d + b * R2) / det, (-a * R2 + c * R1) / det


def _mixture_hdi(M: np.ndarray, S: np.ndarray, w: np.ndarray, prob: float,
                 start: np.ndarray | None = None) -> np.ndarray:
    """Shortest intervals of Normal mixtures (rows): 2-D Newton on (l, r) solving
    ``F(r) - F(l) = prob`` and ``p(l) = p(r)`` (the HDI of a unimodal density), from the
    equal-tailed interval; rows that do not converge fall back to a search over the
    lower tail probability."""
    n = M.shape[0]
    if start is None:
        a = 0.5 * (1.0 - prob)
        start = np.stack([_rows_quantile(np.full(n, a), M, S, w),
                          _rows_quantile(np.full(n, 1 - a), M, S, w)], axis=1)
    l, r = start[:, 0].copy(), start[:, 1].copy()
    done = np.zeros(n, dtype=bool)
    c = 1.0 / math.sqrt(2 * math.pi)
    for _ in range(60):
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        x = np.concatenate([l[act], r[act]])
        MM = np.concatenate([M[act], M[act]])
        SS = np.concatenate([S[act], S[act]])
        z = (x[:, None] - MM) / SS
        phi = np.exp(-0.5 * z * z) / SS
        p = c * (phi @ w)
        dp = -c * ((phi * z / SS) @ w)
        F = special.ndtr(z) @ w
        m = act.size
        pl, pr = p[:m], p[m:]
        with np.errstate(divide="ignore", invalid="ignore"):
            R1 = F[m:] - F[:m] - prob
            R2 = np.log(pl) - np.log(pr)
            dl, dr = dp[:m] / pl, dp[m:] / pr
        conv = (np.abs(R1) < 1e-14) & (np.abs(R2) < 1e-10)
        done[act[conv]] = True
        sl, sr = _newton2(R1, R2, pl, pr, dl, dr)
        lim = 0.5 * (r[act] - l[act])
        with np.errstate(divide="ignore", invalid="ignore"):
            fac = np.minimum(1.0, lim / np.maximum(np.maximum(np.abs(sl), np.abs(sr)), 1e-300))
        ok = np.isfinite(sl) & np.isfinite(sr) & ~conv
        l[act] = np.where(ok, l[act] + fac * sl, l[act])
        r[act] = np.where(ok, r[act] + fac * sr, r[act])
        bad = ~np.isfinite(sl) | ~np.isfinite(sr)
        if bad.any():
            break
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
            q = _mixture_quantile(np.array([a, a + prob]), np.repeat(Mi, 2, 0),
                                  np.repeat(Si, 2, 0), w)
            return q[1] - q[0]

        res = optimize.minimize_scalar(width, bounds=(1e-12, 1 - prob - 1e-12),
                                       method="bounded", options={"xatol": 1e-13})
        a = float(res.x)
        out[i] = _mixture_quantile(np.array([a, a + prob]), np.repeat(Mi, 2, 0),
                                   np.repeat(Si, 2, 0), w)
    return out


# ========================================================================================
# The posterior object
# ========================================================================================
_TAU_LIKE = ("tau", "tau2", "i2", "h2")
_PARAM_RE = re.compile(r"^(theta|beta)\[(.*)\]$")


class ExactPosterior:
    """Exact posterior of the normal-normal model (bayesmeta-style), by quadrature over tau.

    Build it with :func:`exact_posterior` (from a table) or
    :func:`exact_posterior_arrays`. Parameters ``param`` are ``"mu"``, ``"tau"``,
    ``"tau2"``, ``"i2"``, ``"theta_new"``, ``"theta"`` (a Series by study label; or
    ``"theta[<label>]"``) and ``"beta"`` (a Series by term, intercept ``"intrcpt"`` first;
    or ``"beta[<term>]"``). In a meta-regression ``mu`` is the first coefficient (the
    intercept) and ``theta_new = mu + tau·e`` is a new study with all moderators at 0.

    Attributes
    ----------
    labels : list of str
        Study labels.
    data : DataFrame or None
        The rows used.
    measure : str or None
    priors : dict
        ``{"mu": Prior, "tau": Prior}`` plus ``"beta"`` (dict by term) in a meta-regression.
    classical : RMAResult or None
        The classical twin (REML + Knapp-Hartung by default).
    k, p : int
        Studies and coefficients.
    yi, vi, X, terms
        The data arrays and the design.
    level : float
        Default probability of intervals.
    log_marginal_likelihood : float
        ``log p(y)`` under the priors (flat priors count with density 1).
    """

    def __init__(self, yi, vi, X=None, *, terms=None, labels=None, mu_prior=None,
                 tau_prior=None, beta_prior=None, measure: str | None = None,
                 data: pd.DataFrame | None = None, level: float = 0.95,
                 classical=None, formula: str | None = None) -> None:
        from bayesma.priors import default_priors

        y = np.asarray(yi, dtype=float).ravel()
        v = np.asarray(vi, dtype=float).ravel()
        k = y.size
        if v.size != k:
            raise BayesmaError(f"yi has {k} values but vi has {v.size}")
        if k == 0:
            raise TooFewStudiesError("the exact posterior needs at least 1 study, got k = 0")
        if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v))):
            raise BayesmaError("yi and vi must be finite (use exact_posterior() on a table "
                               "for messages naming the rows)")
        if np.any(v <= 0):
            raise BayesmaError("sampling variances vi must be > 0")
        X = np.ones((k, 1)) if X is None else np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[:, None]
        if X.shape[0] != k:
            raise BayesmaError(f"X has {X.shape[0]} rows but there are {k} studies")
        p = X.shape[1]
        terms = list(terms) if terms is not None else (
            ["intrcpt"] + [f"X{j}" for j in range(1, p)])
        if len(terms) != p:
            raise BayesmaError(f"{len(terms)} term names for {p} columns of X")
        labels = [str(s) for s in labels] if labels is not None else [
            f"Study {i + 1}" for i in range(k)]
        if len(labels) != k or len(set(labels)) != k:
            raise BayesmaError("labels must be k unique strings")
        self.yi, self.vi, self.X, self.terms, self.labels = y, v, X, terms, labels
        self.k, self.p = k, p
        self.measure = measure
        self.data = data
        self.level = _confidence_level(level)
        self.formula = formula
        self.classical = classical
        self.design = None  # the Design of bayesma.classical.design (exact_posterior)

        defaults = None
        if mu_prior is None or tau_prior is None or (p > 1 and beta_prior is None):
            defaults = default_priors(measure, yi=y, vi=v)
        mu_prior = mu_prior if mu_prior is not None else defaults["mu"]
        tau_prior = tau_prior if tau_prior is not None else defaults["tau"]
        _check_location_prior(mu_prior, "mu_prior")
        _check_tau_prior(tau_prior)
        coef_priors = {}
        for j, term in enumerate(terms):
            if j == 0 and (term == "intrcpt" or p == 1):
                coef_priors[term] = mu_prior
                continue
            bp = beta_prior
            if bp is None:
                bp = defaults.get("beta", defaults["mu"])
            elif isinstance(bp, Mapping):
                if term not in bp:
                    raise BayesmaError(
                        f"beta_prior has no prior for term {term!r}; terms: {terms}")
                bp = bp[term]
            elif isinstance(bp, Sequence) and not isinstance(bp, str):
                if len(bp) != p - 1:
                    raise BayesmaError(f"beta_prior: {len(bp)} priors for {p - 1} coefficients")
                bp = bp[j - 1]
            _check_location_prior(bp, f"beta_prior for {term!r}")
            coef_priors[term] = bp
        self.coef_priors = coef_priors
        self.priors: dict[str, Any] = {"mu": coef_priors[terms[0]], "tau": tau_prior}
        if p > 1:
            self.priors["beta"] = {t: coef_priors[t] for t in terms[1:]}
        m = np.array([0.0 if not pr.proper else float(pr.mu) for pr in coef_priors.values()])
        lam = np.array([0.0 if not pr.proper else 1.0 / float(pr.sigma) ** 2
                        for pr in coef_priors.values()])
        self._gauss = _Gaussian(y, v, X, m, lam)
        self._tau_prior = tau_prior
        self._tau_kw = {} if getattr(tau_prior, "data_free", True) else {"vi": v}
        self._fast_logprior = _fast_tau_logprior(tau_prior, v)

        # typical within-study variance for I² (metafor's (k - p) / tr(P); Higgins &
        # Thompson 2002 for the intercept-only model)
        w = 1.0 / v
        if k > p:
            xtwx = X.T @ (X * w[:, None])
            xtw2x = X.T @ (X * (w * w)[:, None])
            self.typical_variance = float((k - p) / (np.sum(w) - np.trace(
                np.linalg.solve(xtwx, xtw2x))))
        else:
            self.typical_variance = math.nan

        self._quad = _TauQuadrature(self._logpost_tau, tau_prior.support,
                                    scale=math.sqrt(float(np.median(v))))
        self.log_marginal_likelihood = float(self._quad.log_z)
        self._nodes: dict[str, np.ndarray] | None = None
        self._theta_nodes: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ basic pieces
    def _logprior_tau(self, tau: np.ndarray) -> np.ndarray:
        return self._fast_logprior(tau)

    def _logpost_tau(self, tau: np.ndarray) -> np.ndarray:
        """Unnormalised log posterior of tau: log p(tau) + log p(y | tau)."""
        tau = np.atleast_1d(np.asarray(tau, dtype=float))
        lp = self._logprior_tau(tau)
        out = np.full(tau.shape, -np.inf)
        ok = np.isfinite(lp) & np.isfinite(tau)
        if ok.any():
            out[ok] = lp[ok] + self._gauss.evaluate(tau[ok])[0]
        return out

    def _node_data(self) -> dict[str, np.ndarray]:
        """Conditional moments of beta at the quadrature nodes (pruned of zero weights)."""
        if self._nodes is None:
            q = self._quad
            keep = q.weights > 1e-300 * q.weights.max()
            tau = q.tau[keep]
            _, b, C = self._gauss.evaluate(tau, cov=True)
            self._nodes = {"tau": tau, "w": q.weights[keep] / q.weights[keep].sum(),
                           "b": b, "C": C}
        return self._nodes

    def _theta_node_moments(self) -> tuple[np.ndarray, np.ndarray]:
        if self._theta_nodes is None:
            nd = self._node_data()
            mean, var = self._gauss.theta_moments(nd["tau"], nd["b"], nd["C"])
            self._theta_nodes = (mean, np.sqrt(var))
        return self._theta_nodes

    @property
    def tau_prior(self):
        return self._tau_prior

    # ------------------------------------------------------------------ parameters
    def _parse(self, param: str) -> tuple[str, list[int] | None, bool]:
        """-> (kind, indices, is_vector). kind in mu/tau/tau2/i2/theta_new/theta/beta."""
        if not isinstance(param, str):
            raise BayesmaError(f"param must be a string, got {param!r}")
        mt = _PARAM_RE.match(param)
        if mt:
            kind, name = mt.group(1), mt.group(2)
            names = self.labels if kind == "theta" else self.terms
            if name not in names:
                raise BayesmaError(f"{param!r}: no {'study' if kind == 'theta' else 'term'} "
                                   f"{name!r}; known: {names}")
            return kind, [names.index(name)], False
        if param in ("mu", "tau", "tau2", "i2", "h2", "theta_new"):
            return param, None, False
        if param == "theta":
            return "theta", list(range(self.k)), True
        if param == "beta":
            return "beta", list(range(self.p)), True
        raise BayesmaError(
            f"unknown parameter {param!r}; use 'mu', 'tau', 'tau2', 'i2', 'h2', 'theta_new', "
            "'theta', 'theta[<label>]', 'beta' or 'beta[<term>]'"
        )

    def _mixture(self, kind: str, idx: list[int] | None):
        """(M, S) arrays (n_rows, G) of the Normal components of a mixture parameter."""
        nd = self._node_data()
        if kind in ("mu", "theta_new"):
            M = nd["b"][:, 0][None, :]
            var = nd["C"][:, 0, 0]
            if kind == "theta_new":  # theta_new | tau, y ~ N(b_0, C_00 + tau²) (Röver 2020,
                var = var + np.square(nd["tau"])  # sec. 2.4, predictive distribution)
            return M, np.sqrt(var)[None, :]
        if kind == "beta":
            M = nd["b"][:, idx].T
            S = np.sqrt(np.stack([nd["C"][:, j, j] for j in idx]))
            return M, S
        if kind == "theta":
            mean, sd = self._theta_node_moments()
            return mean[:, idx].T, sd[:, idx].T
        raise AssertionError(kind)

    def _wrap(self, kind: str, idx, is_vec: bool, values: np.ndarray):
        values = np.asarray(values, dtype=float)
        if not is_vec:
            return float(values.ravel()[0]) if values.ndim <= 1 else values[0]
        names = [self.labels[i] for i in idx] if kind == "theta" else [self.terms[i]
                                                                       for i in idx]
        name = "theta" if kind == "theta" else "beta"
        if values.ndim == 1:
            return pd.Series(values, index=pd.Index(names, name="study" if kind == "theta"
                                                    else "term"), name=name)
        return pd.DataFrame(values, index=pd.Index(names, name="study" if kind == "theta"
                                                   else "term"))

    # transforms of tau for the tau-like parameters
    def _from_tau(self, kind: str, tau: np.ndarray) -> np.ndarray:
        if kind == "tau":
            return tau
        t2 = np.square(tau)
        if kind == "tau2":
            return t2
        s2 = self.typical_variance
        if kind == "h2":  # H² = (tau² + s²) / s² (Higgins & Thompson 2002, eq. 9)
            return 1.0 + t2 / s2
        with np.errstate(invalid="ignore"):  # I² = tau² / (tau² + s²) (ibid., eq. 10)
            out = 100.0 * t2 / (t2 + s2)  # in percent, as metafor
        return np.where(np.isinf(tau), 100.0, out)

    def _to_tau(self, kind: str, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            if kind == "tau":
                return x
            if kind == "tau2":
                return np.sqrt(np.where(x < 0, np.nan, x))
            s2 = self.typical_variance
            if kind == "h2":
                return np.sqrt(np.where(x < 1, np.nan, s2 * (x - 1.0)))
            u = x / 100.0  # I² in percent
            return np.sqrt(s2 * u / (1.0 - u))

    def _log_dtau_dx(self, kind: str, x: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            if kind == "tau":
                return np.zeros_like(x)
            if kind == "tau2":  # tau = sqrt(x)
                return -math.log(2.0) - 0.5 * np.log(x)
            s2 = self.typical_variance
            if kind == "h2":  # tau = sqrt(s2 (x - 1))
                return 0.5 * math.log(s2) - math.log(2.0) - 0.5 * np.log(x - 1.0)
            # I² in percent: tau = sqrt(s2 u / (1 - u)), u = x / 100
            u = x / 100.0
            return (0.5 * math.log(s2) - math.log(2.0) - 0.5 * np.log(u) - 1.5 * np.log1p(-u)
                    - math.log(100.0))

    def _support(self, kind: str) -> tuple[float, float]:
        lo, hi = self._tau_prior.support
        return float(self._from_tau(kind, np.array([lo]))[0]), float(
            self._from_tau(kind, np.array([hi]))[0])

    # ------------------------------------------------------------------ summaries
    def mean(self, param: str = "mu"):
        """Posterior mean (``inf`` if it does not exist)."""
        kind, idx, vec = self._parse(param)
        q = self._quad
        if kind == "tau":
            return q.moment(1)
        if kind == "tau2":
            return q.moment(2)
        if kind == "h2":
            return 1.0 + q.moment(2) / self.typical_variance
        if kind == "i2":
            return float(np.sum(q.weights * self._from_tau("i2", q.tau)))
        nd = self._node_data()
        M, _ = self._mixture(kind, idx)
        return self._wrap(kind, idx, vec, M @ nd["w"])

    def sd(self, param: str = "mu"):
        """Posterior standard deviation (``inf`` if it does not exist)."""
        kind, idx, vec = self._parse(param)
        q = self._quad
        if kind in ("tau", "tau2"):
            r = 1 if kind == "tau" else 2
            m1, m2 = q.moment(r), q.moment(2 * r)
            if not math.isfinite(m2):
                return math.inf
            # centred second moment for accuracy
            x = np.power(q.tau, r)
            c = float(np.sum(q.weights * np.square(x - m1)))
            extra = (m2 - float(np.sum(q.weights * x * x)))  # tail correction of E[x²]
            return math.sqrt(max(c + extra, 0.0))
        if kind == "h2":
            return self.sd("tau2") / self.typical_variance
        if kind == "i2":
            x = self._from_tau("i2", q.tau)
            m1 = np.sum(q.weights * x)
            return float(math.sqrt(np.sum(q.weights * np.square(x - m1))))
        nd = self._node_data()
        w = nd["w"]
        if kind == "theta_new":
            M, _ = self._mixture("mu", None)
            m1 = M @ w
            var = (np.square(M - m1[:, None]) + nd["C"][:, 0, 0][None, :]) @ w
            et2 = q.moment(2)
            if not math.isfinite(et2):
                return math.inf
            return float(math.sqrt(var[0] + et2))
        M, S = self._mixture(kind, idx)
        m1 = M @ w
        sd = np.sqrt((np.square(M - m1[:, None]) + np.square(S)) @ w)
        if kind in ("mu", "beta") and not math.isfinite(q.moment(2)):
            # a flat coefficient has Var(beta | tau, y) ~ tau²: infinite when E[tau²] is
            cols = [0] if kind == "mu" else idx
            sd = np.where(self._gauss.lam[cols] == 0, np.inf, sd)
        return self._wrap(kind, idx, vec, sd)

    def quantile(self, param: str, q):
        """Posterior quantile(s) ``q`` (a float or an array; Series/DataFrame for vectors)."""
        kind, idx, vec = self._parse(param)
        qa = np.atleast_1d(np.asarray(q, dtype=float))
        if np.any((qa < 0) | (qa > 1)):
            raise BayesmaError(f"quantile probabilities must be in [0, 1], got {q!r}")
        if kind in _TAU_LIKE:
            out = self._from_tau(kind, self._quad.map.tau(self._quad.quantile_u(qa)))
            return float(out[0]) if np.ndim(q) == 0 else out
        vals = self._mixture_quantiles(kind, idx, qa)  # (n_rows, nq)
        if np.ndim(q) == 0:
            return self._wrap(kind, idx, vec, vals[:, 0])
        if not vec:
            return vals[0]
        df = self._wrap(kind, idx, vec, vals)
        df.columns = list(qa)
        return df

    def _mixture_quantiles(self, kind, idx, qa, x0=None):
        nd = self._node_data()
        M, S = self._mixture(kind, idx)
        n, nq = M.shape[0], qa.size
        rows = np.repeat(np.arange(n), nq)
        qq = np.tile(qa, n)
        out = np.full(rows.size, np.nan)
        inner = (qq > 0) & (qq < 1)
        out[qq <= 0] = -np.inf
        out[qq >= 1] = np.inf
        if inner.any():
            out[inner] = _mixture_quantile(qq[inner], M[rows[inner]], S[rows[inner]], nd["w"],
                                           None if x0 is None else x0[inner])
        return out.reshape(n, nq)

    def median(self, param: str = "mu"):
        """Posterior median."""
        return self.quantile(param, 0.5)

    def cdf(self, param: str, x):
        """Posterior cdf at ``x`` (scalar or array)."""
        kind, idx, vec = self._parse(param)
        xa = np.atleast_1d(np.asarray(x, dtype=float))
        if kind in _TAU_LIKE:
            lo, hi = self._support(kind)
            tau = self._to_tau(kind, np.clip(xa, lo, hi))
            out = self._quad.cdf_u(self._quad.map.u(tau))
            out = np.where(xa <= lo, 0.0, np.where(xa >= hi, 1.0, out))
            return float(out[0]) if np.ndim(x) == 0 else out
        nd = self._node_data()
        M, S = self._mixture(kind, idx)
        F = special.ndtr((xa[None, :, None] - M[:, None, :]) / S[:, None, :]) @ nd["w"]
        if np.ndim(x) == 0:
            return self._wrap(kind, idx, vec, F[:, 0])
        if not vec:
            return F[0]
        df = self._wrap(kind, idx, vec, F)
        df.columns = list(xa)
        return df

    def pdf(self, param: str, x):
        """Posterior density at ``x`` (scalar or array)."""
        kind, idx, vec = self._parse(param)
        xa = np.atleast_1d(np.asarray(x, dtype=float))
        if kind in _TAU_LIKE:
            out = np.exp(self._logpdf_tau_like(kind, xa))
            return float(out[0]) if np.ndim(x) == 0 else out
        nd = self._node_data()
        M, S = self._mixture(kind, idx)
        z = (xa[None, :, None] - M[:, None, :]) / S[:, None, :]
        f = (np.exp(-0.5 * z * z) / S[:, None, :]) @ nd["w"] / math.sqrt(2 * math.pi)
        if np.ndim(x) == 0:
            return self._wrap(kind, idx, vec, f[:, 0])
        if not vec:
            return f[0]
        df = self._wrap(kind, idx, vec, f)
        df.columns = list(xa)
        return df

    def _logpdf_tau_like(self, kind: str, x: np.ndarray) -> np.ndarray:
        lo, hi = self._support(kind)
        inside = (x >= lo) & (x <= hi)
        out = np.full(x.shape, -np.inf)
        if inside.any():
            xi = x[inside]
            tau = self._to_tau(kind, xi)
            with np.errstate(divide="ignore", invalid="ignore"):
                val = self._logpost_tau(tau) - self._quad.log_z + self._log_dtau_dx(kind, xi)
            out[inside] = np.where(np.isnan(val), np.inf, val)
        return out

    def prob_less(self, param: str, value: float = 0.0):
        """Posterior probability ``P(param < value)``."""
        return self.cdf(param, value)

    def interval(self, param: str, prob: float | None = None, kind: str = "eti"):
        """Credible interval ``(low, high)``: equal-tailed (``"eti"``) or shortest (``"hdi"``).

        For vector parameters returns a DataFrame with columns ``low``, ``high``.
        """
        prob = self.level if prob is None else float(prob)
        if not 0 < prob < 1:
            raise BayesmaError(f"prob must be in (0, 1), got {prob}")
        pk, idx, vec = self._parse(param)
        if kind == "eti":
            a = (1.0 - prob) / 2.0
            lo_hi = np.atleast_2d(np.asarray(self._raw_quantiles(pk, idx, np.array([a, 1 - a]))))
        elif kind == "hdi":
            lo_hi = self._hdi(pk, idx, prob)
        else:
            raise BayesmaError(f"interval kind must be 'eti' or 'hdi', got {kind!r}")
        if not vec:
            return float(lo_hi[0, 0]), float(lo_hi[0, 1])
        df = self._wrap(pk, idx, vec, lo_hi)
        df.columns = ["low", "high"]
        return df

    def _raw_quantiles(self, kind, idx, qa, x0=None) -> np.ndarray:
        """(n_rows, nq) quantiles."""
        if kind in _TAU_LIKE:
            return self._from_tau(kind, self._quad.map.tau(self._quad.quantile_u(qa)))[None, :]
        return self._mixture_quantiles(kind, idx, qa, x0)

    def _raw_logpdf(self, kind, idx, x: np.ndarray) -> np.ndarray:
        """log density of row i at x[i, :] (x: (n_rows, m))."""
        if kind in _TAU_LIKE:
            return self._logpdf_tau_like(kind, x.ravel()).reshape(x.shape)
        nd = self._node_data()
        M, S = self._mixture(kind, idx)
        z = (x[:, :, None] - M[:, None, :]) / S[:, None, :]
        f = (np.exp(-0.5 * z * z) / S[:, None, :]) @ nd["w"]
        with np.errstate(divide="ignore"):
            return np.log(f) - 0.5 * _LOG2PI

    def _row_quantiles(self, kind, idx, a: np.ndarray, x0=None) -> np.ndarray:
        """Quantile a[i] of row i (tau-like parameters have one row)."""
        a = np.asarray(a, dtype=float)
        if kind in _TAU_LIKE:
            return self._from_tau(kind, self._quad.map.tau(self._quad.quantile_u(a)))
        M, S = self._mixture(kind, idx)
        return _rows_quantile(a, M, S, self._node_data()["w"], x0)

    def _hdi(self, kind, idx, prob: float, start: np.ndarray | None = None) -> np.ndarray:
        """Shortest intervals, shape (n_rows, 2), starting from the ETI ``start``."""
        if kind in _TAU_LIKE:
            return self._hdi_tau_like(kind, prob, start)[None, :]
        M, S = self._mixture(kind, idx)
        return _mixture_hdi(M, S, self._node_data()["w"], prob, start)

    def _hdi_tau_like(self, kind: str, prob: float, start=None) -> np.ndarray:
        """Shortest interval of tau, tau² or I²: the shorter of the intervals against a
        support bound and the interior solution of ``p(l) = p(r), F(r) - F(l) = prob``."""
        lo_s, hi_s = self._support(kind)
        quad = self._quad
        ends = quad.map.tau(quad.quantile_u(np.array([prob, 1.0 - prob])))
        ends = self._from_tau(kind, ends)
        cands = [np.array([lo_s, ends[0]])]
        if math.isfinite(hi_s):
            cands.append(np.array([ends[1], hi_s]))
        if start is None:
            a = 0.5 * (1.0 - prob)
            start = self._row_quantiles(kind, None, np.array([a, 1.0 - a]))
        inner = self._hdi_tau_newton(kind, prob, quad.map.u(self._to_tau(kind, start)))
        if inner is not None:
            cands.append(inner)
        widths = [c[1] - c[0] for c in cands]
        return cands[int(np.argmin(widths))]

    def _log_dx_du(self, kind: str, u: np.ndarray) -> np.ndarray:
        """log dx/du for x = tau, tau² or I² as a function of the quadrature variable u."""
        tau = self._quad.map.tau(u)
        lj = self._quad.map.log_jac(u)
        if kind == "tau":
            return lj
        if kind == "tau2":
            return lj + math.log(2.0) + np.log(tau)
        s2 = self.typical_variance
        if kind == "h2":
            return lj + math.log(2.0 / s2) + np.log(tau)
        return lj + math.log(2.0 * s2) + np.log(tau) - 2.0 * np.log(tau * tau + s2)

    def _hdi_tau_newton(self, kind, prob, u_start):
        """2-D Newton on (u_l, u_r) using the piecewise-polynomial cdf and density of u;
        None when it leaves the integration range or does not converge."""
        quad = self._quad
        ul, ur = float(u_start[0]), float(u_start[1])
        if not (np.isfinite(ul) and np.isfinite(ur)):
            return None
        d = 1e-5
        for _ in range(60):
            U = np.array([ul, ur, ul - d, ul + d, ur - d, ur + d])
            if U.min() < quad.a[0] or U.max() > quad.b[-1]:
                return None
            F, f = quad.cdf_pdf_u(U)
            if np.any(f <= 0):
                return None
            lp = np.log(f) - self._log_dx_du(kind, U)
            R1 = F[1] - F[0] - prob
            R2 = lp[0] - lp[1]
            if abs(R1) < 1e-14 and abs(R2) < 1e-10:
                x = self._from_tau(kind, quad.map.tau(np.array([ul, ur])))
                return x
            dl = (lp[3] - lp[2]) / (2 * d)
            dr = (lp[5] - lp[4]) / (2 * d)
            step_l, step_r = _newton2(R1, R2, f[0], f[1], dl, dr)
            if not (math.isfinite(step_l) and math.isfinite(step_r)):
                return None
            lim = min(0.5 * (ur - ul), 1.0)
            fac = min(1.0, lim / max(abs(step_l), abs(step_r), 1e-300))
            ul, ur = ul + fac * step_l, ur + fac * step_r
        return None

    def mode(self, param: str = "mu"):
        """Posterior mode (numerical maximisation of the density; may be a support bound).

        For tau², I² and H² with ``p(tau = 0 | y) > 0`` the density has an integrable
        spike at 0; the mode returned is the interior one when the main body has one.
        """
        kind, idx, vec = self._parse(param)
        rows = [None] if kind in _TAU_LIKE or idx is None else idx
        probs = np.linspace(0.0005, 0.9995, 201)
        res = []
        for i in rows:
            sub = None if i is None else [i]
            grid = self._raw_quantiles(kind, sub, probs)[0]

            def logp(x, sub=sub):
                x = np.atleast_1d(np.asarray(x, dtype=float))
                if kind in _TAU_LIKE:
                    return self._logpdf_tau_like(kind, x)
                return self._raw_logpdf(kind, sub, x[None, :])[0]

            lp = logp(grid)
            j = int(np.argmax(lp))
            if kind in _TAU_LIKE and j == 0:
                lo_s = self._support(kind)[0]
                if logp(lo_s)[0] >= lp[0]:
                    res.append(lo_s)
                    continue
                a = lo_s
            else:
                a = grid[max(j - 1, 0)]
            b = grid[min(j + 1, grid.size - 1)]
            r = optimize.minimize_scalar(
                lambda x, logp=logp: -float(logp(x)[0]) if np.isfinite(logp(x)[0]) else 1e300,
                bounds=(a, b), method="bounded", options={"xatol": 1e-12 * (abs(b) + 1.0)})
            res.append(float(r.x))
        if kind in _TAU_LIKE or not vec:
            return res[0]
        return self._wrap(kind, idx, vec, np.array(res))

    # ------------------------------------------------------------------ Bayes factors
    def prior_pdf(self, param: str, x) -> float | np.ndarray:
        """Prior density of mu, a coefficient (``"beta[<term>]"``) or tau at ``x``."""
        kind, idx, vec = self._parse(param)
        xa = np.asarray(x, dtype=float)
        if kind == "mu":
            return self.priors["mu"].pdf(xa)
        if kind == "beta" and not vec:
            return self.coef_priors[self.terms[idx[0]]].pdf(xa)
        if kind == "tau":
            return self._tau_prior.pdf(xa, **self._tau_kw)
        raise BayesmaError(f"prior_pdf is available for mu, beta[<term>] and tau, not {param!r}")

    def bayes_factor(self, param: str = "mu", value: float = 0.0) -> float:
        """Savage-Dickey Bayes factor BF01 for ``param == value`` (against ``!=``).

        ``BF01 = p(value | y) / p(value)``: posterior over prior density at the point
        (Dickey 1971; bayesmeta's ``bayesfactor``, Röver 2020, sec. 2.6). ``param`` is
        ``"mu"``, ``"beta[<term>]"`` or ``"tau"`` (typically ``value = 0``).

        Raises
        ------
        BayesmaError
            When the prior is improper, or its density at ``value`` is 0 or infinite
            (then the Savage-Dickey ratio is undefined).
        """
        kind, idx, vec = self._parse(param)
        if kind not in ("mu", "beta", "tau") or vec:
            raise BayesmaError("bayes_factor: param must be 'mu', 'beta[<term>]' or 'tau'")
        prior = (self.priors["mu"] if kind == "mu" else self._tau_prior if kind == "tau"
                 else self.coef_priors[self.terms[idx[0]]])
        if not prior.proper:
            raise BayesmaError(
                f"the Savage-Dickey Bayes factor needs a proper prior; {prior.describe()} is "
                "improper, so BF01 is undefined (arbitrary normalising constant)"
            )
        pr = float(self.prior_pdf(param, value))
        if kind == "tau":
            post = float(np.exp(self._logpost_tau(np.array([float(value)]))[0]
                                - self._quad.log_z))
        else:
            post = float(self.pdf(param, value))
        if pr == 0.0:
            raise BayesmaError(
                f"the prior {prior.describe()} has density 0 at {param} = {value:g}, so the "
                "Savage-Dickey Bayes factor is undefined there (the point hypothesis has no "
                "prior support; the posterior density is 0 too)"
            )
        if not math.isfinite(pr):
            raise BayesmaError(
                f"the prior {prior.describe()} has infinite density at {param} = {value:g}; "
                "the Savage-Dickey Bayes factor is undefined there"
            )
        return post / pr

    def densities(self) -> dict[str, float]:
        """Posterior and prior densities at mu = 0 and tau = 0 and the Savage-Dickey BF01s
        (the ``densities`` block of ``../shared/bayes_reference``); NaN where undefined."""
        out = {}
        for par in ("mu", "tau"):
            try:
                bf = self.bayes_factor(par, 0.0)
            except BayesmaError:
                bf = math.nan
            pr = float(self.prior_pdf(par, 0.0)) if (self.priors[par].proper) else math.nan
            post = (float(self.pdf("mu", 0.0)) if par == "mu" else float(
                np.exp(self._logpost_tau(np.array([0.0]))[0] - self._quad.log_z)))
            out[f"posterior_{par}_at_0"] = post
            out[f"prior_{par}_at_0"] = pr
            out[f"bf01_{par}_eq_0"] = bf
        return out

    # ------------------------------------------------------------------ conditionals
    def conditional(self, tau) -> dict[str, pd.DataFrame]:
        """Conditional posterior means and sds given tau (bayesmeta's trace plot).

        Returns
        -------
        dict
            ``{"mean": DataFrame, "sd": DataFrame}`` indexed by tau, with columns ``mu``,
            ``beta[<term>]`` (meta-regression), ``theta_new`` and ``theta[<label>]``.
        """
        t = np.atleast_1d(np.asarray(tau, dtype=float))
        if np.any(t < 0) or not np.all(np.isfinite(t)):
            raise BayesmaError("tau values must be finite and >= 0")
        _, b, C = self._gauss.evaluate(t, cov=True)
        tm, tv = self._gauss.theta_moments(t, b, C)
        cols, means, sds = ["mu"], [b[:, 0]], [np.sqrt(C[:, 0, 0])]
        if self.p > 1:
            for j, term in enumerate(self.terms[1:], start=1):
                cols.append(f"beta[{term}]")
                means.append(b[:, j])
                sds.append(np.sqrt(C[:, j, j]))
        cols.append("theta_new")
        means.append(b[:, 0])
        sds.append(np.sqrt(C[:, 0, 0] + t * t))
        cols += [f"theta[{lab}]" for lab in self.labels]
        index = pd.Index(t, name="tau")
        mean = pd.DataFrame(np.column_stack(means + [tm]), index=index, columns=cols)
        sd = pd.DataFrame(np.column_stack(sds + [np.sqrt(tv)]), index=index, columns=cols)
        return {"mean": mean, "sd": sd}

    @property
    def tau_grid(self) -> np.ndarray:
        """A regular grid of tau for plotting (0 to the 99.5% quantile, or the bound)."""
        lo, hi = self._tau_prior.support
        top = float(self.quantile("tau", 0.995)) * 1.1
        top = min(top, hi) if math.isfinite(hi) else top
        return np.linspace(lo, top, 401)

    @property
    def tau_density(self) -> np.ndarray:
        """Posterior density of tau on :attr:`tau_grid`."""
        return self.pdf("tau", self.tau_grid)

    # ------------------------------------------------------------------ predictions
    def predict(self, newmods: Any = None, prob: float | None = None) -> pd.DataFrame:
        """Posterior of the mean effect ``x'beta`` and of a new study's effect at ``newmods``.

        ``x'beta | tau, y ~ N(x'b, x'Cx)`` and a new study's ``theta = x'beta + tau e``
        adds ``tau²`` (Röver 2020, sec. 2.4), mixed over the posterior of tau.

        Parameters
        ----------
        newmods : array, dict or DataFrame, optional
            Moderator values (as ``RMAResult.predict``; a table needs a formula or column
            design). None gives the pooled effect (intercept-only model) or the fitted
            values of the studies (meta-regression).
        prob : float, optional
            Interval probability (default :attr:`level`).

        Returns
        -------
        DataFrame
            ``mean, sd, eti_low, eti_high`` of ``x'beta`` and ``pi_low, pi_high`` (the
            equal-tailed interval of a new study's effect).
        """
        prob = self.level if prob is None else float(prob)
        if self.p == 1:
            if newmods is not None:
                raise BayesmaError("newmods needs a meta-regression (mods=...)")
            X0, index = np.ones((1, 1)), pd.Index(["pooled"])
        elif newmods is None:
            X0, index = self.X, pd.Index(self.labels)
        elif isinstance(newmods, pd.DataFrame | dict):
            if self.design is None:
                raise BayesmaError("a table of newmods needs a posterior built from a table "
                                   "with mods=; pass a numeric array instead")
            X0 = self.design.transform(newmods)
            index = pd.RangeIndex(X0.shape[0])
        else:
            Mx = np.atleast_2d(np.asarray(newmods, dtype=float))
            n_slopes = self.p - (1 if self.intercept else 0)
            if Mx.shape[1] != n_slopes and Mx.shape[0] == n_slopes:
                Mx = Mx.T
            if Mx.shape[1] != n_slopes:
                raise BayesmaError(f"newmods needs {n_slopes} column(s) (terms "
                                   f"{self.terms[1 if self.intercept else 0:]})")
            X0 = np.column_stack([np.ones(Mx.shape[0]), Mx]) if self.intercept else Mx
            index = pd.RangeIndex(X0.shape[0])
        nd = self._node_data()
        w = nd["w"]
        M = X0 @ nd["b"].T  # (n, G)
        V = np.einsum("ij,gjl,il->ig", X0, nd["C"], X0)
        S = np.sqrt(V)
        Snew = np.sqrt(V + np.square(nd["tau"])[None, :])
        a = (1.0 - prob) / 2.0
        n = X0.shape[0]
        rows = np.repeat(np.arange(n), 2)
        qa = np.tile([a, 1.0 - a], n)
        ci = _mixture_quantile(qa, M[rows], S[rows], w).reshape(n, 2)
        pi = _mixture_quantile(qa, M[rows], Snew[rows], w).reshape(n, 2)
        mean = M @ w
        sd = np.sqrt((np.square(M - mean[:, None]) + V) @ w)
        if not math.isfinite(self._quad.moment(2)):  # flat coefficients: Var ~ tau²
            flat = self._gauss.lam == 0
            sd = np.where(np.abs(X0[:, flat]).sum(axis=1) > 0, np.inf, sd)
        return pd.DataFrame({"mean": mean, "sd": sd, "eti_low": ci[:, 0], "eti_high": ci[:, 1],
                             "pi_low": pi[:, 0], "pi_high": pi[:, 1]}, index=index)

    # ------------------------------------------------------------------ draws
    def sample(self, n: int = 4000, random_seed=None) -> dict[str, np.ndarray]:
        """Joint i.i.d. posterior draws: tau by inverse cdf, then the Gaussian conditionals.

        Returns
        -------
        dict
            ``mu, tau, tau2, i2, theta_new`` of shape (n,), ``theta`` (n, k), ``beta``
            (n, p).
        """
        n = int(n)
        if n < 1:
            raise BayesmaError(f"n must be >= 1, got {n}")
        rng = np.random.default_rng(random_seed)
        u01 = rng.random(n)
        tau = self._quad.map.tau(self._quad.quantile_u(u01))
        tau = np.where(np.isfinite(tau), tau, np.nan)
        _, b, C = self._gauss.evaluate(tau, cov=True)
        z = rng.standard_normal((n, self.p))
        if self.p == 1:
            beta = b + np.sqrt(C[:, 0, :]) * z
        else:
            Lc = np.linalg.cholesky(C)
            beta = b + np.einsum("nij,nj->ni", Lc, z)
        t2 = (tau * tau)[:, None]
        B = self.vi[None, :] / (self.vi[None, :] + t2)
        th_mean = (1 - B) * self.yi[None, :] + B * (beta @ self.X.T)
        theta = th_mean + np.sqrt((1 - B) * self.vi[None, :]) * rng.standard_normal(
            (n, self.k))
        theta_new = beta[:, 0] + tau * rng.standard_normal(n)
        return {"mu": beta[:, 0], "tau": tau, "tau2": tau * tau,
                "i2": self._from_tau("i2", tau), "theta_new": theta_new,
                "theta": theta, "beta": beta}

    def draws(self, param: str, n: int = 4000, random_seed=None) -> np.ndarray:
        """i.i.d. posterior draws of one parameter ((n,) or (n, k) / (n, p) arrays)."""
        kind, idx, vec = self._parse(param)
        d = self.sample(n, random_seed)
        if kind in ("theta", "beta"):
            arr = d[kind][:, idx]
            return arr if vec else arr[:, 0]
        return d[kind]

    def to_datatree(self, n: int = 4000, random_seed=0, chains: int = 4):
        """i.i.d. draws packed as an ``xarray.DataTree`` (``posterior``, ``observed_data``,
        ``constant_data``), shaped ``chain x draw`` so ArviZ diagnostics apply."""
        import xarray as xr

        chains = int(chains)
        per = int(n) // chains
        if per < 1:
            raise BayesmaError(f"n = {n} draws cannot fill {chains} chains")
        d = self.sample(per * chains, random_seed)
        coords = {"chain": np.arange(chains), "draw": np.arange(per),
                  "study": list(self.labels), "term": list(self.terms)}

        def cd(x):
            return x.reshape((chains, per) + x.shape[1:])

        post = {
            "mu": (("chain", "draw"), cd(d["mu"])),
            "tau": (("chain", "draw"), cd(d["tau"])),
            "tau2": (("chain", "draw"), cd(d["tau2"])),
            "i2": (("chain", "draw"), cd(d["i2"])),
            "theta_new": (("chain", "draw"), cd(d["theta_new"])),
            "theta": (("chain", "draw", "study"), cd(d["theta"])),
        }
        pcoords = {c: coords[c] for c in ("chain", "draw", "study")}
        if self.p > 1:
            post["beta"] = (("chain", "draw", "term"), cd(d["beta"]))
            pcoords["term"] = coords["term"]
        attrs = self._attrs()
        posterior = xr.Dataset(post, coords=pcoords, attrs=attrs)
        observed = xr.Dataset({"y": (("study",), self.yi)}, coords={"study": self.labels},
                              attrs=attrs)
        const = xr.Dataset({"vi": (("study",), self.vi), "sigma": (("study",),
                                                                    np.sqrt(self.vi)),
                            "X": (("study", "term"), self.X)},
                           coords={"study": self.labels, "term": self.terms}, attrs=attrs)
        return xr.DataTree.from_dict({"posterior": posterior, "observed_data": observed,
                                      "constant_data": const})

    def _attrs(self) -> dict[str, Any]:
        a = {"inference_library": "bayesma-exact", "model": self.model_description,
             "mu_prior": self.priors["mu"].describe(), "tau_prior": self._tau_prior.describe(),
             "log_marginal_likelihood": self.log_marginal_likelihood}
        if self.p > 1:
            a["beta_prior"] = "; ".join(f"{t}: {p.describe()}" for t, p in
                                        self.priors["beta"].items())
        if self.measure:
            a["measure"] = self.measure
        return a

    @property
    def model_description(self) -> str:
        if self.p == 1:
            return "y_i ~ N(theta_i, v_i); theta_i ~ N(mu, tau^2)"
        return ("y_i ~ N(theta_i, v_i); theta_i ~ N(x_i'beta, tau^2); beta = ("
                + ", ".join(self.terms) + ")")

    # ------------------------------------------------------------------ tables
    @property
    def intercept(self) -> bool:
        """Whether the first coefficient is an intercept (then it is ``mu``)."""
        return self.p == 1 or self.terms[0] == "intrcpt"

    def summary(self, prob: float | None = None, theta: bool = True) -> pd.DataFrame:
        """Posterior summary table (the layout of ``BayesFit.summary``).

        Parameters
        ----------
        prob : float, optional
            Interval probability (default :attr:`level`).
        theta : bool
            Include one row per study (``theta[label]``).

        Returns
        -------
        DataFrame
            Rows ``mu, tau, tau2, i2, theta_new, beta[<term>]..., theta[<label>]...``
            (a meta-regression without intercept has ``beta[...]`` for every term and
            no ``mu``/``theta_new``), then ``P(mu > 0)``, ``P(mu < 0)`` and the same for
            each coefficient (the probability in ``mean``). Columns ``mean, sd, median,
            eti_low, eti_high, hdi_low, hdi_high`` and the classical twin ``classical,
            classical_low, classical_high`` (estimate and CI; Q-profile CIs for tau,
            tau², I²; the prediction interval for theta_new; NaN without a twin); for
            ratio measures also ``exp_mean, exp_median, exp_eti_low, exp_eti_high,
            exp_classical, exp_classical_low, exp_classical_high``. ``i2`` is in
            percent, as metafor. ``attrs`` hold ``prob``, ``priors``, ``model`` and ``classical``.
        """
        prob = self.level if prob is None else float(prob)
        a = (1.0 - prob) / 2.0
        qs = np.array([a, 0.5, 1.0 - a])
        stats: dict[str, tuple] = {}
        # tau-like rows share one set of tau quantiles
        tq = self._quad.map.tau(self._quad.quantile_u(qs))
        for name in ("tau", "tau2", "i2"):
            q = self._from_tau(name, tq)
            h = self._hdi_tau_like(name, prob, q[[0, 2]])
            stats[name] = (self.mean(name), self.sd(name), q[1], q[0], q[2], h[0], h[1])
        # all mixture rows in one batch
        nd = self._node_data()
        w = nd["w"]
        first = 1 if self.intercept else 0
        loc = (["mu", "theta_new"] if self.intercept else []) + [
            f"beta[{t}]" for t in self.terms[first:]]
        names = loc + ([f"theta[{lab}]" for lab in self.labels] if theta else [])
        blocks = ([self._mixture("mu", None), self._mixture("theta_new", None)]
                  if self.intercept else [])
        if self.p > first:
            blocks.append(self._mixture("beta", list(range(first, self.p))))
        if theta:
            blocks.append(self._mixture("theta", list(range(self.k))))
        M = np.vstack([b[0] for b in blocks])
        S = np.vstack([b[1] for b in blocks])
        n = M.shape[0]
        rows = np.repeat(np.arange(n), 3)
        qv = _mixture_quantile(np.tile(qs, n), M[rows], S[rows], w).reshape(n, 3)
        hv = _mixture_hdi(M, S, w, prob, qv[:, [0, 2]])
        mean = M @ w
        sd = np.sqrt((np.square(M - mean[:, None]) + np.square(S)) @ w)
        n_loc = len(loc)
        sd[:n_loc] = [self.sd(nm) for nm in loc]  # tail-aware (infinite moments)
        for i, nm in enumerate(names):
            stats[nm] = (mean[i], sd[i], qv[i, 1], qv[i, 0], qv[i, 2], hv[i, 0], hv[i, 1])
        order = (["mu"] if self.intercept else []) + ["tau", "tau2", "i2"] + (
            ["theta_new"] if self.intercept else []) + [nm for nm in names if
                                                        nm not in ("mu", "theta_new")]
        cols = ["mean", "sd", "median", "eti_low", "eti_high", "hdi_low", "hdi_high"]
        recs = [stats[nm] for nm in order]
        index = list(order)
        for nm in [x for x in order if x == "mu" or x.startswith("beta[")]:
            p_less = float(self.prob_less(nm, 0.0))
            for sign, val in ((">", 1.0 - p_less), ("<", p_less)):
                index.append(f"P({nm} {sign} 0)")
                recs.append((val,) + (math.nan,) * (len(cols) - 1))
        df = pd.DataFrame(recs, index=pd.Index(index, name="param"), columns=cols,
                          dtype=float)
        twin = self._classical_columns(prob)
        for c in ("classical", "classical_low", "classical_high"):
            df[c] = np.nan if twin is None else twin[c].reindex(df.index)
        if self.measure and self.measure.upper() in _ratio_measures():
            df = self._add_exp(df, names)
        df.attrs.update(prob=prob, model="ExactPosterior",
                        priors="; ".join(f"{k}: {v}" for k, v in self._prior_texts()),
                        classical=(f"{self.classical.method} ({self.classical.test})"
                                   if self.classical is not None else ""))
        return df

    def _prior_texts(self) -> list[tuple[str, str]]:
        out = [("mu" if self.intercept else f"beta[{self.terms[0]}]",
                self.priors["mu"].describe())]
        out += [(f"beta[{t}]", pr.describe()) for t, pr in self.priors.get("beta", {}).items()]
        out.append(("tau", self._tau_prior.describe()))
        return out

    def _add_exp(self, df: pd.DataFrame, names: list[str]) -> pd.DataFrame:
        """Back-transformed columns for log-ratio measures: ``exp_mean`` is E[exp(x)] (a
        mixture of log-normal means, infinite when the tail of tau makes it so), the
        others the exp of the quantiles and classical bounds."""
        is_loc = np.array([nm in names for nm in df.index])
        for c in ("median", "eti_low", "eti_high", "classical", "classical_low",
                  "classical_high"):
            df[f"exp_{c}"] = np.where(is_loc, np.exp(df[c]), np.nan)
        df["exp_mean"] = np.nan
        nd = self._node_data()
        for nm in names:
            kind, idx, _ = self._parse(nm)
            M, S = self._mixture(kind, idx)
            # E[exp(N(m, s²))] = exp(m + s²/2), averaged over the tau nodes
            lg = M[0] + 0.5 * np.square(S[0]) + np.log(nd["w"])
            top = float(np.max(lg))
            # with a polynomial tail of tau, exp(s²/2) grows faster than p(tau) decays
            # when s² grows with tau²; check the last nodes carry no weight
            grows = kind == "theta_new" or (kind in ("mu", "beta") and self._gauss.lam[
                0 if kind == "mu" else idx[0]] == 0)
            if grows and (self._quad.rate_hi < 1e8 or lg[-1] > top - 30):
                val = math.inf
            else:
                val = math.exp(_logsumexp(lg))
            df.loc[nm, "exp_mean"] = val
        first = list(df.columns[:10])
        return df[first + ["exp_mean", "exp_median", "exp_eti_low", "exp_eti_high",
                           "exp_classical", "exp_classical_low", "exp_classical_high"]]

    def _classical_columns(self, prob: float) -> pd.DataFrame | None:
        res = self.classical
        if res is None:
            return None
        try:
            if abs(float(res.level) - prob) > 1e-12:
                res = res.refit(level=prob) if hasattr(res, "refit") else res
            out = {}
            first = 1 if self.intercept else 0
            if self.intercept:
                out["mu"] = (res.estimate, res.ci_low, res.ci_high)
            het = None
            try:
                het = res.confint(level=prob)
            except Exception:  # noqa: BLE001 - the twin is informative only
                het = None
            if het is not None:
                out["tau"] = het.tau
                out["tau2"] = het.tau2
                out["i2"] = tuple(het.i2)
            else:
                out["tau"] = (res.tau, math.nan, math.nan)
                out["tau2"] = (res.tau2, math.nan, math.nan)
                out["i2"] = (res.i2, math.nan, math.nan)
            if self.p == 1 and res.pi_low is not None:
                out["theta_new"] = (res.estimate, res.pi_low, res.pi_high)
            coef = res.coef
            for t in self.terms[first:]:
                if t in coef.index:
                    r = coef.loc[t]
                    out[f"beta[{t}]"] = (r["estimate"], r["ci_low"], r["ci_high"])
        except Exception:  # noqa: BLE001
            return None
        return pd.DataFrame.from_dict(out, orient="index",
                                      columns=["classical", "classical_low", "classical_high"])

    def __str__(self) -> str:
        prob = self.level
        lines = ["Exact posterior (normal-normal model, quadrature over tau)",
                 f"  {self.model_description}",
                 f"  k = {self.k} studies" + (f", measure {self.measure}" if self.measure else "")]
        lines.append("Priors:")
        lines.append(f"  mu:  {self.priors['mu'].describe()}")
        if self.p > 1:
            for t, pr in self.priors["beta"].items():
                lines.append(f"  beta[{t}]: {pr.describe()}")
        lines.append(f"  tau: {self._tau_prior.describe()}")
        s = self.summary(prob)
        show = s.loc[[r for r in s.index if not r.startswith(("theta[", "P("))]]
        cols = ["mean", "sd", "median", "eti_low", "eti_high"]
        extra = [c for c in ("classical", "classical_low", "classical_high") if c in s]
        lines.append(f"Posterior summary ({prob:.0%} equal-tailed intervals):")
        lines.append(show[cols + extra].to_string(float_format=lambda x: f"{x:.4f}"))
        for par in ["mu"] + [f"beta[{t}]" for t in self.terms[1:]]:
            lines.append(f"P({par} < 0) = {self.prob_less(par, 0.0):.4f}")
            try:
                bf = self.bayes_factor(par, 0.0)
                lines.append(f"BF01 ({par} = 0, Savage-Dickey) = {bf:.4g}")
            except BayesmaError as exc:
                lines.append(f"BF01 ({par} = 0): undefined ({exc})")
        lines.append(f"log marginal likelihood = {self.log_marginal_likelihood:.4f}")
        if self.classical is not None:
            c = self.classical
            lines.append(f"Classical twin: {c.method}, test {c.test}")
        lines.append("Shrunken study effects:")
        lines.append(s.loc[[r for r in s.index if r.startswith("theta[")], cols].to_string(
            float_format=lambda x: f"{x:.4f}"))
        if self.measure and self.measure.upper() in _ratio_measures():
            lines.append(f"(estimates on the log {self.measure} scale; summary() has exp_* "
                         "columns)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<ExactPosterior k={self.k} mu_prior={self.priors['mu'].describe()} "
                f"tau_prior={self._tau_prior.describe()}>")


def _ratio_measures() -> frozenset:
    from bayesma.bayes.fit import RATIO_MEASURES

    return RATIO_MEASURES


# ========================================================================================
# Fast closed-form tau prior densities (the quadrature evaluates them ~15 times)
# ========================================================================================
def _fast_tau_logprior(prior, vi: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A numpy closure equal to ``prior.logpdf`` for the library's tau families.

    The closed forms are the standard densities (as in scipy.stats / PyMC); the tau²
    families carry the Jacobian ``p(tau) = p_{tau²}(tau²) · 2 tau``. Unknown classes
    (and subclasses) fall back to ``prior.logpdf``. ``tests/bayes/test_exact.py`` checks
    each closure against ``prior.logpdf``.
    """
    from bayesma.priors import families as fam

    t = type(prior)
    lo, hi = prior.support
    log2 = math.log(2.0)
    gl = special.gammaln
    if t is fam.HalfNormal:
        s = prior.sigma
        c = log2 - 0.5 * _LOG2PI - math.log(s)
        f = lambda x: c - 0.5 * np.square(x / s)  # noqa: E731
    elif t is fam.HalfCauchy:
        b = prior.beta
        c = math.log(2.0 / (math.pi * b))
        f = lambda x: c - np.log1p(np.square(x / b))  # noqa: E731
    elif t is fam.HalfStudentT:
        nu, s = prior.nu, prior.sigma
        c = log2 + gl((nu + 1) / 2) - gl(nu / 2) - 0.5 * math.log(nu * math.pi) - math.log(s)
        f = lambda x: c - 0.5 * (nu + 1) * np.log1p(np.square(x / s) / nu)  # noqa: E731
    elif t is fam.Exponential:
        lam = prior.lam
        f = lambda x: math.log(lam) - lam * x  # noqa: E731
    elif t is fam.Uniform:
        c = -math.log(prior.upper - prior.lower)
        f = lambda x: np.full(np.shape(x), c)  # noqa: E731
    elif t is fam.LogNormal:
        m, s = prior.mu, prior.sigma
        c = -math.log(s) - 0.5 * _LOG2PI
        f = lambda x: c - np.log(x) - 0.5 * np.square((np.log(x) - m) / s)  # noqa: E731
    elif t is fam.InverseGamma:
        a, b = prior.alpha, prior.beta
        c = a * math.log(b) - gl(a)
        f = lambda x: c - (a + 1) * np.log(x) - b / x  # noqa: E731
    elif t is fam.LogNormalTau2:  # log-normal density of tau² times 2 tau
        m, s = prior.mu, prior.sigma
        c = -math.log(s) - 0.5 * _LOG2PI + log2
        f = lambda x: c - np.log(x) - 0.5 * np.square((2 * np.log(x) - m) / s)  # noqa: E731
    elif t is fam.LogStudentTTau2:  # log tau ~ t_nu(mu/2, sigma/2); p(tau) = t(log tau) / tau
        m, s, nu = prior.mu / 2.0, prior.sigma / 2.0, prior.nu
        c = gl((nu + 1) / 2) - gl(nu / 2) - 0.5 * math.log(nu * math.pi) - math.log(s)
        f = lambda x: (c - 0.5 * (nu + 1) * np.log1p(np.square((np.log(x) - m) / s) / nu)  # noqa: E731
                       - np.log(x))
    elif t is fam.InverseGammaTau2:  # inverse-gamma density of tau² times 2 tau
        a, b = prior.alpha, prior.beta
        c = a * math.log(b) - gl(a) + log2
        f = lambda x: c - (2 * a + 1) * np.log(x) - b / np.square(x)  # noqa: E731
    elif t is fam.UniformTau:
        f = lambda x: np.zeros(np.shape(x))  # noqa: E731
    else:
        kw = {} if getattr(prior, "data_free", True) else {"vi": vi}
        return lambda x: np.asarray(prior.logpdf(x, **kw), dtype=float)

    def logpdf(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        inside = (x >= lo) & (x <= hi)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.where(inside, f(np.where(inside, x, 1.0)), -np.inf)

    return logpdf


# ========================================================================================
# Prior checks and constructors
# ========================================================================================
def _check_location_prior(prior, what: str) -> None:
    from bayesma.priors import Prior

    if not isinstance(prior, Prior):
        raise BayesmaError(f"{what} must be a bayesma prior object, got {prior!r}")
    if getattr(prior, "param", "mu") == "tau":
        raise BayesmaError(f"{what}: {prior.describe()} is a prior for tau, not for a "
                           "location parameter")
    if not prior.is_normal:
        raise BayesmaError(
            f"{what}: the exact engine needs a Normal or Flat prior (then mu | tau is "
            f"Gaussian); {prior.describe()} is not. Use the MCMC models "
            "(bm.RandomEffects / bm.MetaRegression) for other priors."
        )


def _check_tau_prior(prior) -> None:
    from bayesma.priors import Prior

    if not isinstance(prior, Prior):
        raise BayesmaError(f"tau_prior must be a bayesma prior object, got {prior!r}")
    if getattr(prior, "param", "tau") != "tau":
        raise BayesmaError(f"tau_prior: {prior.describe()} is not a prior for tau (use "
                           "HalfNormal, HalfCauchy, Uniform, LogNormalTau2, ...)")


def _confidence_level(level: float) -> float:
    """``level`` as 0.95 or 95 (metafor's convention) -> a probability in (0, 1)."""
    try:
        lv = float(level)
    except (TypeError, ValueError):
        raise BayesmaError(f"level must be a number in (0, 1) (or a percentage), got {level!r}"
                           ) from None
    if lv > 1:
        lv /= 100.0
    if not 0 < lv < 1:
        raise BayesmaError(f"level must be in (0, 1) (or a percentage), got {level!r}")
    return lv


def exact_posterior_arrays(yi, vi, X=None, *, terms=None, labels=None, mu_prior=None,
                           tau_prior=None, beta_prior=None, measure: str | None = None,
                           level: float = 0.95) -> ExactPosterior:
    """Exact posterior from arrays (fast path for sensitivity sweeps; no classical twin).

    Parameters are those of :func:`exact_posterior`; ``X`` is the k x p design matrix
    (default intercept only) and ``terms`` its column names.
    """
    return ExactPosterior(yi, vi, X, terms=terms, labels=labels, mu_prior=mu_prior,
                          tau_prior=tau_prior, beta_prior=beta_prior, measure=measure,
                          level=level)


def exact_posterior(data: pd.DataFrame, yi: str = "yi", vi: str = "vi", *, mu_prior=None,
                    tau_prior=None, mods=None, beta_prior=None, measure: str | None = None,
                    slab: str | None = None, sei: str | None = None, level: float = 0.95,
                    classical: str | None = "REML",
                    classical_test: str = "knha") -> ExactPosterior:
    """Exact posterior of the random-effects model or meta-regression (bayesmeta's method).

    Parameters
    ----------
    data : DataFrame
        One row per study.
    yi, vi : str
        Columns of effect sizes and sampling variances.
    mu_prior : Prior, optional
        Normal or Flat prior of mu (the intercept in a meta-regression); default
        ``bayesma.priors.default_priors(measure)["mu"]``.
    tau_prior : Prior, optional
        Any prior on tau of :mod:`bayesma.priors` (default per measure).
    mods : str or list, optional
        Moderators (formula such as ``"~ ablat"`` or list of columns); see
        :mod:`bayesma.classical.design`.
    beta_prior : Prior, dict or list, optional
        Normal/Flat prior(s) of the moderator coefficients: one for all, a dict by term,
        or a list in term order (default: the default mu prior).
    measure : str, optional
        Effect measure (default ``data.attrs["measure"]``), for the default priors.
    slab : str, optional
        Column of study labels.
    sei : str, optional
        Column of standard errors used instead of ``vi``.
    level : float
        Default probability of credible intervals.
    classical : str or None
        tau² estimator of the classical twin (``None`` to skip it).
    classical_test : str
        Test of the classical twin (``"knha"``, ``"z"`` or ``"t"``).

    Returns
    -------
    ExactPosterior

    Raises
    ------
    DataError
        Missing or invalid values, naming the column and row.
    ImproperPosteriorError
        When the priors and data give an improper posterior.
    """
    from bayesma.classical.design import build_design

    require_columns(data, [yi], what="effect sizes")
    label_col = find_label_column(data, slab)
    if measure is None:
        measure = data.attrs.get("measure")
    design = build_design(data, mods, slab=label_col)
    d = data.loc[design.keep] if not design.keep.all() else data
    y, v = effect_arrays(d, yi, vi, sei=sei, slab=label_col)
    labels = study_labels(d, label_col)
    twin = None
    if classical:
        from bayesma.classical.rma import canonical_test
        from bayesma.classical.tau2 import canonical_method

        # a misspelt estimator or test is the caller's error, not a missing twin
        classical = canonical_method(classical)
        classical_test = canonical_test(classical_test)
        try:
            from bayesma.classical.rma import fit_arrays

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                twin = fit_arrays(y, v, design.X, terms=design.terms, method=classical,
                                  test=classical_test, level=level, labels=labels,
                                  measure=measure, formula=design.formula, data=d,
                                  dropped=design.dropped, design=design)
        except ImportError:
            twin = None
        except BayesmaError as exc:
            warnings.warn(f"classical twin not available: {exc}", stacklevel=2)
            twin = None
    post = ExactPosterior(y, v, design.X, terms=design.terms, labels=labels,
                          mu_prior=mu_prior, tau_prior=tau_prior, beta_prior=beta_prior,
                          measure=measure, data=d, level=level, classical=twin,
                          formula=design.formula)
    post.design = design
    return post

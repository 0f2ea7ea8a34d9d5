"""Credible intervals (equal-tailed and shortest) and modes of the exact posterior.

Equal-tailed intervals are quantiles. Shortest intervals (HDI) of the Normal mixtures
solve ``F(r) - F(l) = prob``, ``p(l) = p(r)`` by 2-D Newton (:mod:`.mixture`); for tau,
tau², I² and H² the same system is solved on the quadrature axis u, and compared with
the intervals against a support bound (Chen & Shao 1999, J Comput Graph Stat 8:69,
for the definition).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize

from bayesma.bayes.exact.mixture import mixture_hdi, rows_quantile
from bayesma.bayes.exact.tau_scale import TAU_LIKE, log_dx_du, to_tau
from bayesma.bayes.protocol import resolve_prob
from bayesma.errors import BayesmaError

__all__ = ["IntervalsMixin"]

#: Newton steps on the tau-like HDI before asking whether the bound's interval is shortest
_PATIENCE = 10


class IntervalsMixin:
    """Intervals and modes; mixed into :class:`~bayesma.bayes.exact.ExactPosterior`."""

    def interval(self, param: str, prob: float | None = None, kind: str = "eti"):
        """Credible interval ``(low, high)``: equal-tailed (``"eti"``) or shortest (``"hdi"``).

        For vector parameters returns a DataFrame with columns ``low``, ``high``.
        """
        prob = resolve_prob(prob, self.level)
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
        if kind in TAU_LIKE:
            return self._from_tau(kind, self._quad.map.tau(self._quad.quantile_u(qa)))[None, :]
        return self._mixture_quantiles(kind, idx, qa, x0)

    def _raw_logpdf(self, kind, idx, x: np.ndarray) -> np.ndarray:
        """log density of row i at x[i, :] (x: (n_rows, m))."""
        if kind in TAU_LIKE:
            return self._logpdf_tau_like(kind, x.ravel()).reshape(x.shape)
        nd = self._node_data()
        M, S = self._mixture(kind, idx)
        z = (x[:, :, None] - M[:, None, :]) / S[:, None, :]
        f = (np.exp(-0.5 * z * z) / S[:, None, :]) @ nd["w"]
        with np.errstate(divide="ignore"):
            return np.log(f) - 0.5 * math.log(2.0 * math.pi)

    def _row_quantiles(self, kind, idx, a: np.ndarray, x0=None) -> np.ndarray:
        """Quantile a[i] of row i (tau-like parameters have one row)."""
        a = np.asarray(a, dtype=float)
        if kind in TAU_LIKE:
            return self._from_tau(kind, self._quad.map.tau(self._quad.quantile_u(a)))
        M, S = self._mixture(kind, idx)
        return rows_quantile(a, M, S, self._node_data()["w"], x0)

    def _hdi(self, kind, idx, prob: float, start: np.ndarray | None = None) -> np.ndarray:
        """Shortest intervals, shape (n_rows, 2), starting from the ETI ``start``."""
        if kind in TAU_LIKE:
            return self._hdi_tau_like(kind, prob, start)[None, :]
        M, S = self._mixture(kind, idx)
        return mixture_hdi(M, S, self._node_data()["w"], prob, start)

    def _hdi_tau_like(self, kind: str, prob: float, start=None) -> np.ndarray:
        """Shortest interval of tau, tau² or I²: the shorter of the intervals against a
        support bound and the interior solution of ``p(l) = p(r), F(r) - F(l) = prob``."""
        starts = None if start is None else {kind: start}
        return self._hdi_tau_likes((kind,), prob, starts)[kind]

    def _hdi_tau_likes(self, kinds, prob: float, starts=None, ends_u=None) -> dict:
        """:meth:`_hdi_tau_like` of several tau-like ``kinds`` at once (their Newton
        iterations share the cdf evaluations; each kind's result is the one it has alone).

        ``starts`` maps kind -> equal-tailed interval (default: computed); ``ends_u`` are
        the u-quantiles at ``prob`` and ``1 - prob`` when already known.
        """
        quad = self._quad
        a = 0.5 * (1.0 - prob)
        if ends_u is None or starts is None:
            # one quantile call (per element: the same numbers as separate calls)
            qu = quad.quantile_u(np.array([prob, 1.0 - prob, a, 1.0 - a]))
            ends_u = qu[:2] if ends_u is None else ends_u
            if starts is None:
                tq = quad.map.tau(qu[2:])
                starts = {kind: self._from_tau(kind, tq) for kind in kinds}
        s2 = self.typical_variance
        u_starts = {kind: quad.map.u(to_tau(kind, starts[kind], s2)) for kind in kinds}
        inner = self._hdi_tau_newton(kinds, prob, u_starts, float(ends_u[0]))
        tau_ends = quad.map.tau(ends_u)
        out = {}
        for kind in kinds:
            lo_s, hi_s = self._support(kind)
            ends = self._from_tau(kind, tau_ends)
            cands = [np.array([lo_s, ends[0]])]
            if math.isfinite(hi_s):
                cands.append(np.array([ends[1], hi_s]))
            if inner[kind] is not None:
                cands.append(inner[kind])
            widths = [c[1] - c[0] for c in cands]
            out[kind] = cands[int(np.argmin(widths))]
        return out

    def _log_dx_du(self, kind: str, u: np.ndarray) -> np.ndarray:
        """log dx/du for x = tau, tau², I² or H² as a function of the quadrature variable u."""
        return log_dx_du(kind, self._quad.map.tau(u), self._quad.map.log_jac(u),
                         self.typical_variance)

    def _bound_is_level_set(self, kind: str, u_end: float, uf=None) -> bool:
        """True when the interval from the lower support bound to ``tau(u_end)`` is a level
        set of the density of ``kind``: at every quadrature node inside it the density is
        at least its value at the end, beyond it at most that. Such an interval is the
        shortest one of its probability (Neyman-Pearson), so no interior solution of the
        HDI equations is narrower. ``uf``: the nodes with ``u_end`` appended and the
        density of u there (:meth:`_level_points`), when already computed."""
        u, f = self._level_points(u_end) if uf is None else uf
        with np.errstate(divide="ignore", invalid="ignore"):  # interpolant <= 0 far out: 0
            lp = np.log(np.maximum(f, 0.0)) - self._log_dx_du(kind, u)
        cut, lp = lp[-1], lp[:-1]
        inside = u[:-1] <= u_end
        return bool(np.all(lp[inside] >= cut) and np.all(lp[~inside] <= cut))

    def _level_points(self, u_end: float) -> tuple[np.ndarray, np.ndarray]:
        """The quadrature nodes and ``u_end`` on the u axis, with the density of u there."""
        u = np.append(self._quad.u_nodes.ravel(), u_end)
        return u, self._quad.cdf_pdf_u(u)[1]

    def _hdi_tau_newton(self, kinds, prob: float, u_starts: dict, u_end: float) -> dict:
        """2-D Newton on (u_l, u_r) using the piecewise-polynomial cdf and density of u,
        for each of ``kinds`` at once: one evaluation of the cdf, density and log dx/du
        per step for the kinds still iterating, then each kind's own scalar step, tests
        and exits. A kind's answer is None when it leaves the integration range or does
        not converge. After :data:`_PATIENCE` steps without convergence a kind asks
        whether the interval from the support bound to ``tau(u_end)`` is a level set
        (:meth:`_bound_is_level_set`): then that interval is the shortest and the search
        ends."""
        quad = self._quad
        out: dict = dict.fromkeys(kinds)
        pos: dict = {}  # kind -> (u_l, u_r) while iterating
        for kind in kinds:
            ul, ur = float(u_starts[kind][0]), float(u_starts[kind][1])
            if math.isfinite(ul) and math.isfinite(ur):
                pos[kind] = (ul, ur)
        d = 1e-5
        s2 = self.typical_variance
        lo_u, hi_u = float(quad.a[0]), float(quad.b[-1])
        for it in range(60):
            if it == _PATIENCE and pos:
                level = self._level_points(u_end)
                for kind in [k for k in pos if self._bound_is_level_set(k, u_end, level)]:
                    del pos[kind]
            pts = []
            for kind, (ul, ur) in list(pos.items()):
                six = [ul, ur, ul - d, ul + d, ur - d, ur + d]
                if min(six) < lo_u or max(six) > hi_u:
                    del pos[kind]
                else:
                    pts.extend(six)
            if not pos:
                break
            U = np.array(pts)
            F, f = quad.cdf_pdf_u(U)
            tau, lj = quad.map.tau(U), quad.map.log_jac(U)
            with np.errstate(divide="ignore", invalid="ignore"):
                lf = np.log(f)
            lps, Fs, fs = [], F.tolist(), f.tolist()
            for j, kind in enumerate(pos):
                sl = slice(6 * j, 6 * j + 6)
                lps.append((lf[sl] - log_dx_du(kind, tau[sl], lj[sl], s2)).tolist())
            for j, (kind, lp) in enumerate(zip(list(pos), lps, strict=True)):
                F0, F1 = Fs[6 * j], Fs[6 * j + 1]
                f0, f1 = fs[6 * j], fs[6 * j + 1]
                ul, ur = pos[kind]
                if any(x <= 0 for x in fs[6 * j:6 * j + 6]):
                    del pos[kind]
                    continue
                R1 = F1 - F0 - prob
                R2 = lp[0] - lp[1]
                if abs(R1) < 1e-14 and abs(R2) < 1e-10:
                    out[kind] = self._from_tau(kind, quad.map.tau(np.array([ul, ur])))
                    del pos[kind]
                    continue
                dl = (lp[3] - lp[2]) / (2 * d)
                dr = (lp[5] - lp[4]) / (2 * d)
                step = _newton2_scalar(R1, R2, f0, f1, dl, dr)
                if step is None:
                    del pos[kind]
                    continue
                step_l, step_r = step
                lim = min(0.5 * (ur - ul), 1.0)
                fac = min(1.0, lim / max(abs(step_l), abs(step_r), 1e-300))
                pos[kind] = (ul + fac * step_l, ur + fac * step_r)
        return out

    def mode(self, param: str = "mu"):
        """Posterior mode (numerical maximisation of the density; may be a support bound).

        For tau², I² and H² with ``p(tau = 0 | y) > 0`` the density has an integrable
        spike at 0; the mode returned is the interior one when the main body has one.
        """
        kind, idx, vec = self._parse(param)
        rows = [None] if kind in TAU_LIKE or idx is None else idx
        probs = np.linspace(0.0005, 0.9995, 201)
        res = []
        for i in rows:
            sub = None if i is None else [i]
            grid = self._raw_quantiles(kind, sub, probs)[0]

            def logp(x, sub=sub):
                x = np.atleast_1d(np.asarray(x, dtype=float))
                if kind in TAU_LIKE:
                    return self._logpdf_tau_like(kind, x)
                return self._raw_logpdf(kind, sub, x[None, :])[0]

            lp = logp(grid)
            j = int(np.argmax(lp))
            if kind in TAU_LIKE and j == 0:
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
        if kind in TAU_LIKE or not vec:
            return res[0]
        return self._wrap(kind, idx, vec, np.array(res))


def _newton2_scalar(R1: float, R2: float, pl: float, pr: float, dl: float,
                    dr: float) -> tuple[float, float] | None:
    """:func:`~bayesma.bayes.exact.mixture.newton2` in float arithmetic (the same
    operations in the same order); None when the step is not finite."""
    a, b, c, d = -pl, pr, dl, -dr
    det = a * d - b * c
    if det == 0.0:  # numpy: a division by zero, a step that is not finite
        return None
    sl, sr = (-R1 * d + b * R2) / det, (-a * R2 + c * R1) / det
    if not (math.isfinite(sl) and math.isfinite(sr)):
        return None
    return sl, sr

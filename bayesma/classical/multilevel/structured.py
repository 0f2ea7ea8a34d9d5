"""Maximising the (restricted) likelihood of ``rma_mv(random="~ inner | outer", struct=...)``.

The marginal covariance is ``M = V + sum_{a <= b} G_ab E_ab`` with ``E_ab`` the indicator of
row pairs in the same outer cluster whose inner levels are ``a`` and ``b`` (symmetrised), so
the linear-components model of :mod:`~bayesma.classical.multilevel.likelihood` gives the
log-likelihood and its gradient in the entries of ``G`` (metafor 3.8 ``.ll.rma.mv``; Harville
1977). The unconstrained parameters of :class:`~bayesma.classical.multilevel.structures.Structure`
are optimised by BFGS with the analytic gradient from several starts, then polished by
Newton steps on a finite-difference Hessian of that gradient (to a gradient below 1e-9).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import optimize

from bayesma.classical.multilevel.likelihood import LOG2PI, Evaluation
from bayesma.classical.multilevel.structures import Structure
from bayesma.errors import ConvergenceError, DataError

__all__ = [
    "StructFit",
    "StructModel",
    "check_struct_levels",
    "fit_structure",
    "struct_dmats",
    "struct_starts",
]


def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.triu_indices(n)
    return rows, cols


def struct_dmats(
    inner: np.ndarray, outer: np.ndarray, n: int, blocks: list[np.ndarray]
) -> list[list[np.ndarray]]:
    """Per block, the matrices ``E_ab`` (``a <= b``, row-major upper triangle) of ``G_ab``."""
    rows, cols = _pairs(n)
    out = []
    for blk in blocks:
        ci, co = inner[blk], outer[blk]
        same = (co[:, None] == co[None, :]).astype(float)
        Z = (ci[:, None] == np.arange(n)[None, :]).astype(float)
        mats = []
        for a, b in zip(rows, cols, strict=True):
            E = np.outer(Z[:, a], Z[:, b])
            if a != b:
                E = E + E.T
            mats.append(E * same)
        out.append(mats)
    return out


class StructModel:
    """The (RE)ML log-likelihood and its gradient in ``w`` (the entries of ``G``), batched.

    Blocks with the same pattern (inner levels and cluster membership of their rows) share
    their matrices ``E_ab``, so each group of such blocks is one stack of small matrices and
    every product is a batched ``einsum`` (same formulas as
    :class:`~bayesma.classical.multilevel.likelihood.MVModel`).
    """

    def __init__(self, y, X, V, inner, outer, n: int, blocks: list[np.ndarray]):
        self.k, self.p = X.shape
        self.L = n * (n + 1) // 2
        self.logdet_xtx = float(np.linalg.slogdet(X.T @ X)[1])
        groups: dict[tuple, list[np.ndarray]] = {}
        for b in blocks:
            _, rel = np.unique(outer[b], return_inverse=True)
            groups.setdefault((tuple(inner[b]), tuple(rel)), []).append(b)
        self.groups = []
        for bl in groups.values():
            idx = np.stack(bl)  # (nb, s)
            E = np.stack(struct_dmats(inner, outer, n, [bl[0]])[0])  # (L, s, s)
            Vs = V[idx[:, :, None], idx[:, None, :]]
            self.groups.append((idx, E, Vs, X[idx], y[idx]))

    def evaluate(self, w: np.ndarray, *, reml: bool = True, grad: bool = False) -> Evaluation:
        """Log-likelihood at ``w`` (and, with ``grad``, its gradient in ``w``)."""
        p = self.p
        logdet = 0.0
        F = np.zeros((p, p))
        Xty = np.zeros(p)
        parts = []
        for _idx, E, Vs, Xs, ys in self.groups:
            M = Vs + np.einsum("l,lij->ij", w, E)[None]
            sign, ld = np.linalg.slogdet(M)
            if np.any(sign <= 0):
                raise np.linalg.LinAlgError("marginal covariance not positive definite")
            Mi = np.linalg.inv(M)
            logdet += float(np.sum(ld))
            Q = Mi @ Xs  # (nb, s, p)
            F += np.einsum("bsp,bsq->pq", Xs, Q)
            Xty += np.einsum("bsp,bs->p", Q, ys)
            parts.append((Mi, Q))
        A = np.linalg.inv(F)
        A = (A + A.T) / 2
        beta = A @ Xty
        rss = 0.0
        g = np.zeros(self.L) if grad else None
        for (_idx, E, _Vs, Xs, ys), (Mi, Q) in zip(self.groups, parts, strict=True):
            r = ys - Xs @ beta
            sv = np.einsum("bij,bj->bi", Mi, r)
            rss += float(np.sum(r * sv))
            if grad:
                trB = np.einsum("bij,lji->l", Mi, E)
                qf = np.einsum("bi,lij,bj->l", sv, E, sv)
                if reml:
                    S = np.einsum("bip,lij,bjq->lpq", Q, E, Q)
                    trB = trB - np.einsum("pq,lqp->l", A, S)
                g += -0.5 * trB + 0.5 * qf
        logdet_F = float(np.linalg.slogdet(F)[1])
        ll_ml = -0.5 * (self.k * LOG2PI + logdet + rss)
        ll_reml = -0.5 * ((self.k - p) * LOG2PI - self.logdet_xtx + logdet + logdet_F + rss)
        ev = Evaluation(ll_reml if reml else ll_ml, ll_ml, ll_reml, beta, A, rss)
        ev.grad = g
        return ev


def check_struct_levels(
    structure: Structure, inner: np.ndarray, outer: np.ndarray, levels: list, names: tuple
) -> None:
    """Errors for data that cannot identify the structure's parameters.

    ``names`` is ``(inner column, outer column)``.
    """
    inner_name, outer_name = names
    if len(levels) < 2 and structure.name != "ID":
        raise DataError(
            f"the inner factor {inner_name!r} has a single level ({levels[0]!r}): a "
            f"multivariate model needs two or more; a univariate model (rma, or rma_mv with "
            f"random='~ 1 | {outer_name}') suffices",
            column=inner_name,
        )
    if not structure.has_correlation:
        return
    n = len(levels)
    seen = np.zeros((n, n), dtype=bool)
    for o in np.unique(outer):
        lv = np.unique(inner[outer == o])
        seen[np.ix_(lv, lv)] = True
    if not (seen & ~np.eye(n, dtype=bool)).any():
        raise DataError(
            f"every cluster of {outer_name!r} has a single level of {inner_name!r}, so the "
            f"correlation of struct={structure.name!r} cannot be estimated; use "
            f"struct='DIAG' or 'ID' (or a two-level model)",
            column=inner_name,
        )
    if structure.name == "UN":
        miss = [(levels[a], levels[b]) for a in range(n) for b in range(a + 1, n) if not seen[a, b]]
        if miss:
            raise DataError(
                f"struct='UN' needs every pair of levels of {inner_name!r} in some cluster of "
                f"{outer_name!r}; never together: {miss[:5]}; use struct='HCS' or 'CS'",
                column=inner_name,
            )


def struct_starts(
    structure: Structure, resid: np.ndarray, vi: np.ndarray, inner: np.ndarray
) -> list[np.ndarray]:
    """Starting values: per level, the residual variance (around the fit with ``G = 0``) minus
    the mean sampling variance (floored), with correlations 0 and 0.5, and a tenth of it.
    """
    total = float(np.var(resid, ddof=1)) if resid.size > 1 else float(np.mean(vi))
    floor = max(0.01 * total, 1e-6 * float(np.mean(vi)), 1e-10)
    base = max(total - float(np.mean(vi)), floor)
    t2 = np.full(structure.n, base)
    for a in range(structure.n):
        r = resid[inner == a]
        if r.size > 2:
            t2[a] = max(float(np.mean(r**2)) - float(np.mean(vi[inner == a])), floor)
    return [
        structure.start(t2, 0.0),
        structure.start(t2, 0.5),
        structure.start(0.1 * t2, 0.0),
    ]


class StructFit:
    """The optimum: ``theta``, ``G``, the evaluation there, convergence and iterations."""

    def __init__(self, theta, G, ev: Evaluation, converged: bool, iterations: int):
        self.theta = theta
        self.G = G
        self.ev = ev
        self.converged = converged
        self.iterations = iterations


def _objective(model: StructModel, structure: Structure, reml: bool):
    rows, cols = _pairs(structure.n)

    def f(theta):
        G, J = structure.cov_and_jacobian(theta)
        try:
            ev = model.evaluate(G[rows, cols], reml=reml, grad=True)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros_like(theta)
        g = J[:, rows, cols] @ ev.grad
        return -ev.ll, -g

    return f


def _polish(f, theta: np.ndarray, maxiter: int = 50) -> tuple[np.ndarray, float, np.ndarray, int]:
    """Newton steps with a central-difference Hessian of the analytic gradient."""
    fx, g = f(theta)
    it = 0
    for it in range(1, maxiter + 1):  # noqa: B007 (returned)
        if np.max(np.abs(g)) < 1e-10:
            break
        m = theta.size
        H = np.empty((m, m))
        for j in range(m):
            h = 1e-5 * max(1.0, abs(theta[j]))
            e = np.zeros(m)
            e[j] = h
            H[:, j] = (f(theta + e)[1] - f(theta - e)[1]) / (2 * h)
        H = (H + H.T) / 2
        if not np.all(np.isfinite(H)) or np.min(np.linalg.eigvalsh(H)) <= 0:
            break
        step = np.linalg.solve(H, g)
        t = 1.0
        while t > 1e-6:
            cand = theta - t * step
            fc, gc = f(cand)
            if np.isfinite(fc) and fc <= fx + 1e-12 * max(1.0, abs(fx)):
                break
            t /= 2
        else:
            break
        theta, fx, g = cand, fc, gc
        if np.max(np.abs(t * step)) < 1e-12:
            break
    return theta, fx, g, it


def fit_structure(
    model: StructModel,
    structure: Structure,
    starts: list[np.ndarray],
    *,
    reml: bool,
    maxiter: int = 1000,
) -> StructFit:
    """Maximise the (RE)ML log-likelihood over the structure's parameters.

    Raises
    ------
    ConvergenceError
        No start gives a finite likelihood, or the optimum's gradient is not small.
    """
    f = _objective(model, structure, reml)
    best = None
    iters = 0
    for th0 in starts:
        if not np.isfinite(f(th0)[0]):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = optimize.minimize(
                f, th0, jac=True, method="BFGS", options={"gtol": 1e-9, "maxiter": maxiter}
            )
        iters += int(res.nit)
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    if best is None:
        raise ConvergenceError(
            "rma_mv: no starting value gives a positive definite marginal covariance"
        )
    theta, fx, g, it = _polish(f, np.asarray(best.x, dtype=float))
    iters += it
    G = structure.cov(theta)
    rows, cols = _pairs(structure.n)
    ev = model.evaluate(G[rows, cols], reml=reml)
    # at a boundary (a variance -> 0, a correlation -> +-1) theta runs off to infinity while
    # the gradient in theta vanishes; either way the gradient must be small
    converged = bool(np.max(np.abs(g)) < 1e-5)
    if not converged:
        raise ConvergenceError(
            f"the {'REML' if reml else 'ML'} estimation of struct={structure.name!r} did not "
            f"converge (largest gradient {float(np.max(np.abs(g))):.3g})"
        )
    return StructFit(theta, G, ev, converged, iters)

"""The (restricted) likelihood of the multilevel model and its maximisation.

Formulas and sources: :mod:`bayesma.classical.multilevel` (metafor's ``.ll.rma.mv``;
Harville 1977; Searle, Casella & McCulloch 1992, ch. 6).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from bayesma.errors import ConvergenceError

__all__ = [
    "Evaluation",
    "FixedComponents",
    "MVModel",
    "block_partition",
    "fit_variance_components",
]


LOG2PI = float(np.log(2 * np.pi))


# ---------------------------------------------------------------------- the model
@dataclass
class Evaluation:
    """The (restricted) log-likelihood at given variance components, with the GLS fit and, on
    request, its derivatives.
    """

    ll: float
    ll_ml: float
    ll_reml: float
    beta: np.ndarray
    vcov: np.ndarray
    rss: float
    grad: np.ndarray | None = None
    fisher: np.ndarray | None = None
    hess: np.ndarray | None = None


class MVModel:
    """Blocks of the marginal covariance and the (RE)ML likelihood with derivatives."""

    def __init__(
        self,
        y,
        X,
        V,
        codes: list[np.ndarray],
        blocks: list[np.ndarray],
        dmats: list[list[np.ndarray]] | None = None,
    ):
        """``codes``: one factor per variance component (``D_l = Z_l Z_l'``); or ``dmats``:
        the matrices ``D_l`` given directly per block (``M = V + sum_l s_l D_l``).
        """
        self.y = y
        self.X = X
        self.k, self.p = X.shape
        self.blocks = blocks
        self.Vb = [V[np.ix_(b, b)] for b in blocks]
        if dmats is None:
            self.L = len(codes)
            self.Db = [
                [(c[b][:, None] == c[b][None, :]).astype(float) for c in codes] for b in blocks
            ]
        else:
            self.L = len(dmats[0]) if dmats else 0
            self.Db = dmats
        self.Xb = [X[b] for b in blocks]
        self.yb = [y[b] for b in blocks]
        self.logdet_xtx = float(np.linalg.slogdet(X.T @ X)[1])

    def marginal(self, s2: np.ndarray) -> list[np.ndarray]:
        out = []
        for Vb, Db in zip(self.Vb, self.Db, strict=True):
            M = Vb.copy()
            for s, D in zip(s2, Db, strict=True):
                if s != 0:
                    M += s * D
            out.append(M)
        return out

    def evaluate(self, s2: np.ndarray, *, reml: bool = True, derivs: bool = False) -> Evaluation:
        """Log-likelihood at ``s2`` (and gradient, expected and observed information)."""
        p, L = self.p, self.L
        logdet = 0.0
        F = np.zeros((p, p))
        Xty = np.zeros(p)
        facs = []
        for M, Xb, yb in zip(self.marginal(s2), self.Xb, self.yb, strict=True):
            try:
                c = linalg.cho_factor(M, lower=True, check_finite=False)
            except linalg.LinAlgError as exc:
                raise np.linalg.LinAlgError("marginal covariance not positive definite") from exc
            facs.append(c)
            logdet += 2.0 * float(np.sum(np.log(np.diag(c[0]))))
            BX = linalg.cho_solve(c, Xb, check_finite=False)
            F += Xb.T @ BX
            Xty += BX.T @ yb
        A = np.linalg.inv(F)
        A = (A + A.T) / 2
        beta = A @ Xty
        rss = 0.0
        Q_list, s_list = [], []
        for c, Xb, yb in zip(facs, self.Xb, self.yb, strict=True):
            rb = yb - Xb @ beta
            sb = linalg.cho_solve(c, rb, check_finite=False)
            rss += float(rb @ sb)
            s_list.append(sb)
            if derivs:
                Q_list.append(linalg.cho_solve(c, Xb, check_finite=False))
        logdet_F = float(np.linalg.slogdet(F)[1])
        ll_ml = -0.5 * (self.k * LOG2PI + logdet + rss)
        ll_reml = -0.5 * ((self.k - p) * LOG2PI - self.logdet_xtx + logdet + logdet_F + rss)
        ev = Evaluation(ll_reml if reml else ll_ml, ll_ml, ll_reml, beta, A, rss)
        if not derivs or L == 0:
            return ev
        # traces and quadratic forms, block by block (P = B - Q A Q', B = M^-1, Q = B X)
        trB = np.zeros(L)
        S = np.zeros((L, p, p))  # Q' D_l Q
        qf = np.zeros(L)  # s' D_l s
        TBB = np.zeros((L, L))  # tr(B D_l B D_m)
        R = np.zeros((L, L, p, p))  # Q' D_l B D_m Q
        Ub = np.zeros((L, L))  # u_l' B u_m, u_l = D_l s
        Qu = np.zeros((L, p))  # Q' u_l
        for c, Db, Qb, sb in zip(facs, self.Db, Q_list, s_list, strict=True):
            n = sb.size
            B = linalg.cho_solve(c, np.eye(n), check_finite=False)
            BD = [B @ D for D in Db]
            DQ = [D @ Qb for D in Db]
            u = [D @ sb for D in Db]
            Bu = [B @ ui for ui in u]
            BDQ = [B @ dq for dq in DQ]
            for i in range(L):
                trB[i] += float(np.trace(BD[i]))
                S[i] += Qb.T @ DQ[i]
                qf[i] += float(sb @ u[i])
                Qu[i] += Qb.T @ u[i]
                for j in range(i, L):
                    t = float(np.sum(BD[i] * BD[j].T))
                    TBB[i, j] += t
                    Ub[i, j] += float(u[i] @ Bu[j])
                    R[i, j] += DQ[i].T @ BDQ[j]
        for i in range(L):
            for j in range(i):
                TBB[i, j] = TBB[j, i]
                Ub[i, j] = Ub[j, i]
                R[i, j] = R[j, i].T
        # s' D_l P D_m s = u_l'B u_m - (Q'u_l)' A (Q'u_m)
        uPu = Ub - Qu @ A @ Qu.T
        if reml:
            trP = trB - np.einsum("ab,lba->l", A, S)
            AS = np.einsum("ab,lbc->lac", A, S)
            TPP = TBB - 2.0 * np.einsum("ab,lmba->lm", A, R) + np.einsum("lab,mba->lm", AS, AS)
            TPP = (TPP + TPP.T) / 2
        else:
            trP = trB
            TPP = TBB
        ev.grad = -0.5 * trP + 0.5 * qf
        ev.fisher = 0.5 * TPP
        ev.hess = 0.5 * TPP - uPu  # second derivative of ll
        ev.hess = (ev.hess + ev.hess.T) / 2
        return ev


def block_partition(k: int, V: np.ndarray | None, codes: list[np.ndarray]) -> list[np.ndarray]:
    """Connected groups of rows (linked by a shared random-factor level or by V)."""

    rows, cols = [np.arange(k)], [np.arange(k)]
    for c in codes:
        first = {}
        anchor = np.empty(k, dtype=int)
        for i, v in enumerate(c):
            anchor[i] = first.setdefault(int(v), i)
        rows.append(np.arange(k))
        cols.append(anchor)
    if V is not None:
        r, cc = np.nonzero(V)
        rows.append(r)
        cols.append(cc)
    g = coo_matrix(
        (np.ones(sum(len(r) for r in rows)), (np.concatenate(rows), np.concatenate(cols))),
        shape=(k, k),
    )
    n, lab = connected_components(g, directed=False)
    order = np.argsort(lab, kind="stable")
    splits = np.flatnonzero(np.diff(lab[order])) + 1
    return [np.sort(b) for b in np.split(order, splits)]


def fit_variance_components(
    model: MVModel,
    init: np.ndarray,
    *,
    reml: bool,
    tol: float = 1e-12,
    maxiter: int = 1000,
) -> tuple[np.ndarray, Evaluation, bool, int]:
    """Maximise the (RE)ML likelihood over sigma² >= 0.

    Fisher scoring until the relative change falls below 1e-4, then Newton-Raphson
    with the observed information (falling back to Fisher scoring where it is not
    positive definite); step halving keeps the likelihood from decreasing, and
    components at the boundary with a negative gradient stay at zero.
    """
    s2 = np.maximum(np.asarray(init, dtype=float), 0.0)
    ev = model.evaluate(s2, reml=reml, derivs=True)
    newton = False
    converged = False
    it = 0
    for it in range(1, maxiter + 1):  # noqa: B007 (it is the count returned)
        g = ev.grad
        free = (s2 > 0) | (g > 0)
        if not free.any():
            converged = True
            break
        gf = g[free]
        step = None
        if newton:
            Hn = -ev.hess[np.ix_(free, free)]
            try:
                linalg.cholesky(Hn, lower=True)
                step = np.linalg.solve(Hn, gf)
            except (linalg.LinAlgError, np.linalg.LinAlgError):
                step = None
        if step is None:
            Fi = ev.fisher[np.ix_(free, free)]
            try:
                step = np.linalg.solve(Fi, gf)
            except np.linalg.LinAlgError:
                step = np.linalg.lstsq(Fi, gf, rcond=None)[0]
        t = 1.0
        accepted = False
        new = s2
        ev_new = ev
        while t > 1e-12:
            cand = s2.copy()
            cand[free] = np.maximum(s2[free] + t * step, 0.0)
            try:
                ev_c = model.evaluate(cand, reml=reml, derivs=True)
            except np.linalg.LinAlgError:
                t /= 2
                continue
            if ev_c.ll >= ev.ll - 1e-13 * max(1.0, abs(ev.ll)):
                new, ev_new, accepted = cand, ev_c, True
                break
            t /= 2
        if not accepted:
            # no ascent possible along this direction: at the optimum to working precision
            converged = bool(np.max(np.abs(gf) * np.maximum(s2[free], 1e-8)) < 1e-6)
            break
        delta = float(np.max(np.abs(new - s2)))
        change = float(np.max(np.abs(new - s2) / np.maximum(np.abs(new), 1e-10)))
        s2, ev = new, ev_new
        if change < 1e-4:
            newton = True
        if delta <= tol * max(float(np.max(s2)), 1e-10) or change <= tol:
            converged = True
            break
    if not converged:
        raise ConvergenceError(
            f"the {'REML' if reml else 'ML'} estimation of the variance components did "
            f"not converge in {maxiter} iterations (last values {s2.tolist()})"
        )
    return s2, ev, converged, it


class FixedComponents:
    """A view of a model with some variance components fixed (only the others vary)."""

    def __init__(self, model: MVModel, fixed: np.ndarray):
        self.model = model
        self.fixed = fixed
        self.est = np.isnan(fixed)

    def evaluate(self, s2e, *, reml: bool = True, derivs: bool = False) -> Evaluation:
        s2 = self.fixed.copy()
        s2[self.est] = s2e
        ev = self.model.evaluate(s2, reml=reml, derivs=derivs)
        if derivs:
            e = self.est
            ev.grad = ev.grad[e]
            ev.fisher = ev.fisher[np.ix_(e, e)]
            ev.hess = ev.hess[np.ix_(e, e)]
        return ev

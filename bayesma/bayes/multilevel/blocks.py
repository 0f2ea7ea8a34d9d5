"""The Gaussian part of the three-level model given both SDs, one study block at a time.

The model (Konstantopoulos 2011, Res Synth Methods 2:61; metafor's ``rma.mv`` with
``random = ~ 1 | study/esid``)::

    y = X beta + Z u + w + e,   u ~ N(0, tau_s² I_J),  w ~ N(0, tau_e² I_k),  e ~ N(0, V)
    beta_j ~ N(m_j, 1 / lam_j) or flat (lam_j = 0)

with ``V`` block-diagonal by study. Study ``s``'s marginal covariance is
``Sigma_s = V_s + tau_e² I + tau_s² 1 1'``. With the eigen-decomposition
``V_s = Q diag(l) Q'`` (done once) and ``a = Q' 1``, in the rotated basis
``Sigma_s = diag(d) + tau_s² a a'`` with ``d = l + tau_e²``, so the Sherman-Morrison
formula and the matrix determinant lemma give, per study,

    Sigma_s⁻¹ = D⁻¹ - g D⁻¹ a a' D⁻¹,   g = tau_s² / (1 + tau_s² a'D⁻¹a),
    log|Sigma_s| = sum log d + log(1 + tau_s² a'D⁻¹a)

(for a diagonal ``V`` the rotation is the identity and ``a = 1``). Everything that
depends on tau_e alone is an O(k) sum computed once per tau_e node; each
(tau_s, tau_e) pair then costs O(J p²) for J studies. Given the SDs, beta is Gaussian:
``P = X'Sigma⁻¹X + Lam``, ``b = m + P⁻¹ X'Sigma⁻¹(y - X m)``, ``C = P⁻¹``, and the log
marginal likelihood is completed as in Röver (2020, J Stat Softw 93(6), sec. 2.3;
bayesmeta's ``likelihood``), flat components having density 1 (restricted likelihood).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["BlockGaussian", "InnerSums", "LOG2PI"]

LOG2PI = math.log(2.0 * math.pi)
#: largest number of (pair x study x (p+1)²) elements held at once
_CHUNK = 4_000_000


class InnerSums:
    """The O(k) sums of the blocks at a set of tau_e values (see the module docstring)."""

    def __init__(self, logdet: np.ndarray, D: np.ndarray, T: np.ndarray, S: np.ndarray
                 ) -> None:
        self.logdet = logdet  # (n,)           sum log d
        self.D = D            # (n, q, q)      within-study part (see ``inner``)
        self.T = T            # (n, J)         a' D⁻¹ a per study
        self.S = S            # (n, J, q)      Z' D⁻¹ a per study


class BlockGaussian:
    """The data of the three-level model, rotated per study; evaluation given the SDs.

    Parameters
    ----------
    y, X : ndarray
        Effects (k,) and design (k, p) (centred when the intercept prior is centred).
    vi : ndarray
        Sampling variances (k,), used when ``V`` is None.
    V : ndarray or None
        Block-diagonal sampling covariance (k, k).
    study : ndarray of int
        Study code (0..J-1) of each row.
    m, lam : ndarray
        Prior means and precisions of beta (precision 0: flat).
    """

    def __init__(self, y, X, vi, V, study, m, lam) -> None:
        y = np.asarray(y, dtype=float)
        X = np.asarray(X, dtype=float)
        study = np.asarray(study, dtype=int)
        self.k, self.p = X.shape
        self.J = int(study.max()) + 1
        self.m = np.asarray(m, dtype=float)
        self.lam = np.asarray(lam, dtype=float)
        order = np.argsort(study, kind="stable")
        self.order = order
        counts = np.bincount(study, minlength=self.J)
        self.starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.sizes = counts
        r = y - X @ self.m
        ev = np.empty(self.k)
        a = np.empty(self.k)
        Zr = np.empty((self.k, self.p + 1))
        # Q of every block, as a dense block-diagonal matrix in sorted order (theta only)
        self.Q: np.ndarray | None = None if V is None else np.zeros((self.k, self.k))
        Z = np.column_stack([X, r])[order]
        for s in range(self.J):
            sl = slice(self.starts[s], self.starts[s] + counts[s])
            rows = order[sl]
            if V is None:
                ev[sl] = np.asarray(vi, dtype=float)[rows]
                a[sl] = 1.0
                Zr[sl] = Z[sl]
            else:
                lam_s, Q = np.linalg.eigh(np.asarray(V)[np.ix_(rows, rows)])
                ev[sl] = lam_s
                a[sl] = Q.sum(axis=0)
                Zr[sl] = Q.T @ Z[sl]
                self.Q[sl, sl] = Q
        self.ev, self.a, self.Z = ev, a, Zr
        self.y_sorted = y[order]
        self.X_sorted = X[order]
        self.vdiag = (np.asarray(vi, dtype=float) if V is None else np.diag(V))[order]
        normal = self.lam > 0
        self.const = (-0.5 * self.k * LOG2PI
                      + 0.5 * float(np.sum(np.log(self.lam[normal] / (2.0 * np.pi))))
                      + 0.5 * self.p * LOG2PI)

    # ------------------------------------------------------------------ tau_e part
    def inner(self, tau_e: np.ndarray) -> InnerSums:
        """The sums over effects at the values ``tau_e`` (n,)."""
        te = np.asarray(tau_e, dtype=float)
        d = self.ev[None, :] + np.square(te)[:, None]          # (n, k)
        iw = 1.0 / d
        logdet = np.sum(np.log(d), axis=1)
        aw = iw * self.a[None, :]
        T = np.add.reduceat(aw * self.a[None, :], self.starts, axis=1)
        S = np.add.reduceat(aw[:, :, None] * self.Z[None, :, :], self.starts, axis=1)
        # Z'D⁻¹Z - sum_s S_s S_s' / T_s as a sum of squares (no cancellation when tau_s is
        # large): sum_l iw_l (z_l - a_l S_s/T_s)(z_l - a_l S_s/T_s)'
        seg = np.repeat(np.arange(self.J), self.sizes)
        Zc = self.Z[None, :, :] - self.a[None, :, None] * (S / T[:, :, None])[:, seg, :]
        D = np.einsum("nk,nka,nkb->nab", iw, Zc, Zc)
        return InnerSums(logdet, D, T, S)

    # ------------------------------------------------------------------ both SDs
    def grid(self, tau_s: np.ndarray, inner: InnerSums, *, moments: bool = False):
        """Log marginal likelihood on the grid ``tau_s`` (n1,) x the tau_e of ``inner``
        (n2,): (n1, n2); with ``moments`` also ``b`` (n1, n2, p) and ``C`` (n1, n2, p, p)."""
        ts = np.asarray(tau_s, dtype=float)
        n2 = inner.logdet.size
        q = self.p + 1
        per_row = max(1, n2 * self.J * q * q)
        step = max(1, _CHUNK // per_row)
        out = [self._combine(ts[i:i + step, None], inner, moments)
               for i in range(0, ts.size, step)]
        if not moments:
            return np.concatenate([o[0] for o in out], axis=0)
        return tuple(np.concatenate([o[j] for o in out], axis=0) for j in range(3))

    def pairs(self, tau_s: np.ndarray, tau_e: np.ndarray, *, moments: bool = False):
        """Log marginal likelihood at the pairs ``(tau_s[i], tau_e[i])`` (n,)."""
        ts = np.asarray(tau_s, dtype=float).ravel()
        te = np.asarray(tau_e, dtype=float).ravel()
        res = self._combine(ts, self.inner(te), moments)
        return res if moments else res[0]

    def _combine(self, ts: np.ndarray, inner: InnerSums, moments: bool):
        """ts broadcasts against the leading axis of ``inner`` ((n1, 1) or (n,))."""
        p = self.p
        t2 = np.square(ts)[..., None]                            # (..., 1)
        tT = t2 * inner.T                                       # (..., J)
        # D⁻¹ - g D⁻¹aa'D⁻¹ with g = 1/T - 1/(T (1 + t² T)): within part + between part
        h = 1.0 / (inner.T * (1.0 + tT))
        M = inner.D + np.einsum("...s,...sa,...sb->...ab", h, inner.S, inner.S)
        logdet = inner.logdet + np.sum(np.log1p(tT), axis=-1)
        P = M[..., :p, :p] + np.diag(self.lam)
        rhs = M[..., :p, p]
        try:
            L = np.linalg.cholesky(P)
            bad = None
        except np.linalg.LinAlgError:  # numerically singular (flat prior, huge SDs)
            bad = ~(np.linalg.eigvalsh(P)[..., 0] > 0)
            P = np.where(bad[..., None, None], np.eye(p), P)
            L = np.linalg.cholesky(P)
        logdetP = 2.0 * np.sum(np.log(np.diagonal(L, axis1=-2, axis2=-1)), axis=-1)
        delta = np.linalg.solve(P, rhs[..., None])[..., 0]
        quad = M[..., p, p] - np.sum(delta * rhs, axis=-1)
        logL = self.const - 0.5 * (logdet + logdetP + quad)
        if bad is not None:
            logL = np.where(bad, -np.inf, logL)
        if not moments:
            return (logL,)
        C = np.linalg.inv(P)
        return logL, self.m + delta, C

    # ------------------------------------------------------------------ effect level
    def theta_moments(self, tau_s: np.ndarray, tau_e: np.ndarray, b: np.ndarray,
                      C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of each true effect ``theta = X beta + u + w`` given the
        SDs (pairs, (G,)) with beta integrated out against ``N(b, C)``, in the table's
        row order: ``E = y - V Sigma⁻¹ (y - X b)``, ``Var = diag(V - V Sigma⁻¹ V) +
        diag(A C A')`` with ``A = V Sigma⁻¹ X`` (the Gaussian conditional of
        ``theta | beta, y``, e.g. Searle, Casella & McCulloch 1992, sec. 7.4)."""
        ts2 = np.square(np.asarray(tau_s, dtype=float))
        te2 = np.square(np.asarray(tau_e, dtype=float))
        d = self.ev[None, :] + te2[:, None]                      # (G, k)
        iw = 1.0 / d
        aw = iw * self.a[None, :]
        T = np.add.reduceat(aw * self.a[None, :], self.starts, axis=1)  # (G, J)
        g = ts2[:, None] / (1.0 + ts2[:, None] * T)  # Sherman-Morrison factor
        seg = np.repeat(np.arange(self.J), self.sizes)

        def sigma_inv(U: np.ndarray) -> np.ndarray:
            """Sigma⁻¹ U in the rotated basis, U (G, k, c)."""
            s = np.add.reduceat(aw[:, :, None] * U, self.starts, axis=1)   # (G, J, c)
            return iw[:, :, None] * U - aw[:, :, None] * (g[:, :, None] * s)[:, seg, :]

        Xr = self.Z[:, :self.p]
        yr = self.Z[:, self.p] + Xr @ self.m                       # rotated y
        resid = yr[None, :] - np.einsum("ka,ga->gk", Xr, b)        # rotated y - X b
        h = self.ev[None, :] * sigma_inv(resid[:, :, None])[:, :, 0]          # Λ Σ̃⁻¹ r
        A = self.ev[None, :, None] * sigma_inv(np.broadcast_to(
            Xr, (b.shape[0],) + Xr.shape))                                        # Λ Σ̃⁻¹ X̃
        # diag(Λ - Λ Σ̃⁻¹ Λ) in the rotated basis is needed only for a diagonal V; in
        # general diag(V - V Σ⁻¹ V)_j = sum_l Q_jl² l_l (1 - l_l/d_l) + g (sum_l Q_jl l_l a_l/d_l)²
        lw = self.ev[None, :] * aw                                  # l a / d  (G, k)
        base = self.ev[None, :] * (1.0 - self.ev[None, :] * iw)     # l (1 - l/d)
        if self.Q is None:
            mean = self.y_sorted[None, :] - h
            cross = lw * np.sqrt(g)[:, seg]
            var0 = base + np.square(cross)
            Aq = A
        else:
            Q = self.Q
            mean = self.y_sorted[None, :] - h @ Q.T
            var0 = base @ np.square(Q).T + np.square((lw * np.sqrt(g)[:, seg]) @ Q.T)
            Aq = np.einsum("jl,gla->gja", Q, A)
        acov = np.einsum("gja,gab,gjb->gj", Aq, C, Aq)
        var = var0 + acov
        inv = np.empty_like(self.order)
        inv[self.order] = np.arange(self.k)
        return mean[:, inv], var[:, inv]

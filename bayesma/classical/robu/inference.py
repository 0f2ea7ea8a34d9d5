"""Coefficients, robust standard errors and df of an RVE fit (robumeta 2.0's ``robu``).

Given the final weights ``w`` (``W_j = diag(w_j)``), ``b = Q X'Wy`` with
``Q = (X'WX)^{-1}`` and residuals ``e = y - Xb``:

* **large sample** (``small = FALSE``; Hedges, Tipton & Johnson 2010, eq. 6):
  ``V^R = Q (sum_j X_j'W_j e_j e_j' W_j X_j) Q``, standard errors
  ``sqrt(diag V^R * N / (N - p))``, t tests on ``N - p`` df;
* **small sample** (``small = TRUE``; Tipton 2015, Psychological Methods 20:375, the
  CR2-type bias-reduced linearisation of McCaffrey, Bell & Botts 2001): residuals of
  cluster ``j`` are multiplied by ``A_j``: for CORR ``A_j = (I - H_jj)^{-1/2}`` with
  ``H_jj = X_j Q X_j' W_j``; for HIER ``A_j = W_j^{-1/2} [W_j^{-1/2} (I - H_jj)
  W_j^{-3/2}]^{-1/2} W_j^{-1/2}`` (inverse square roots by eigen-decomposition, an
  eigenvalue below 1e-10 giving 0, as robu.R); for user weights ``A_j = Vbar_j^{1/2}
  [(I - H)_j Vbar (I - H)_j']^{-1/2}`` with ``Vbar`` the cluster-mean variances on the
  diagonal (robu.R, not symmetric, and the meat is ``sum_j X_j'W_j A_j e_j e_j' A_j W_j
  X_j`` as written there). ``V^R = Q (sum_j X_j'W_j A_j e_j e_j'
  A_j W_j X_j) Q``. The Satterthwaite df of coefficient ``h`` is ``(tr B)² / tr(B²)``
  with ``B = G G'``, ``G`` the ``M x N`` matrix whose column ``j`` is
  ``W^{-1/2} (I - H)_j' A_j W_j X_j Q c_h`` (Tipton 2015, eq. 11-12; robu.R's ``dfs``),
  computed through the ``N x N`` matrix ``G'G``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayesma.classical.robu.working import Clusters

__all__ = ["RobuCoefficients", "robu_coefficients"]

#: robu.R: eigenvalues below this give 0 in the inverse square root
EIGEN_CUTOFF = 1e-10


@dataclass(frozen=True)
class RobuCoefficients:
    """``b``, its robust covariance (whose diagonal gives the SEs) and the df of each term."""

    beta: np.ndarray
    vcov: np.ndarray
    se: np.ndarray
    df: np.ndarray
    residuals: np.ndarray


def _inv_sqrt(a: np.ndarray) -> np.ndarray:
    """``a^{-1/2}`` of a symmetric matrix, eigenvalues < 1e-10 giving 0 (robu.R)."""
    vals, vecs = np.linalg.eigh(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(vals < EIGEN_CUTOFF, 0.0, 1.0 / np.sqrt(vals))
    return (vecs * inv) @ vecs.T


def _adjustments(X: np.ndarray, w: np.ndarray, Q: np.ndarray, cl: Clusters, working: str,
                 vbar: np.ndarray | None) -> list[np.ndarray]:
    """The adjustment matrices ``A_j`` of each cluster (robu.R ``A.MBB``)."""
    out = []
    if working == "USER":
        # robu.R, user weights: (I - H)_j diag(vbar) (I - H)_j' with H = X Q X' W, written
        # with p x p matrices: Vb_j - X_j Q X_j' W_j Vb_j - (.)' + X_j Q K Q X_j'
        k_mat = X.T @ ((w * w * vbar)[:, None] * X)
    for sl in cl.slices():
        xj, wj = X[sl], w[sl]
        hjj = (xj @ Q @ xj.T) * wj[None, :]
        if working == "HIER":
            we = 1.0 / wj  # the working variances v + tau² + omega²
            imh = np.eye(xj.shape[0]) - hjj
            inside = np.sqrt(we)[:, None] * imh * (we ** 1.5)[None, :]
            out.append(np.sqrt(we)[:, None] * _inv_sqrt(inside) * np.sqrt(we)[None, :])
        elif working == "CORR":
            out.append(_inv_sqrt(np.eye(xj.shape[0]) - hjj))
        else:
            vb = vbar[sl]
            hv = hjj * vb[None, :]
            inside = np.diag(vb) - hv - hv.T + xj @ Q @ k_mat @ Q @ xj.T
            # not symmetric: robu.R multiplies by sqrt(vbar) on the left only
            out.append(np.sqrt(vb)[:, None] * _inv_sqrt(inside))
    return out


def _satterthwaite(X: np.ndarray, w: np.ndarray, Q: np.ndarray, cl: Clusters,
                   awx: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Satterthwaite df of each coefficient (Tipton 2015; robu.R ``dfs``).

    ``awx`` stacks ``A_j W_j X_j`` over the clusters (``M x p``). Column ``j`` of ``G``
    is ``(I - H)_j' t_j = E_j t_j - U z_j`` with ``t_j = A_j W_j X_j Q c``,
    ``U = W X Q`` and ``z_j = X_j' t_j`` (``H = X Q X' W``); robu.R's ``B = S^{1/2} G G'
    S^{1/2}`` with ``S = W^{-1}`` (``scale = 1 / w``; user weights: ``S = I``) has
    ``tr B = tr C`` and ``tr B² = tr C²`` for ``C = G' S G = diag(a) - F z' - z F' +
    z (U' S U) z'``, ``a_j = t_j' S_j t_j``, ``F_j = t_j' S_j U_j``: an ``N x N`` matrix
    without any ``M x M`` or ``M x N`` one.
    """
    p = X.shape[1]
    t_all = awx @ Q  # row block j: A_j W_j X_j Q
    u = (w[:, None] * X) @ Q
    inv_w = scale
    k_mat = u.T @ (inv_w[:, None] * u)
    dfs = np.empty(p)
    for h in range(p):
        t = t_all[:, h]
        z = cl.sums(X * t[:, None])  # N x p: X_j' t_j
        f = cl.sums((t * inv_w)[:, None] * u)  # N x p
        fz = f @ z.T
        c = z @ k_mat @ z.T - fz - fz.T
        c[np.diag_indices_from(c)] += cl.sums(t * t * inv_w)
        dfs[h] = np.trace(c) ** 2 / np.sum(c * c)
    return dfs


def robu_coefficients(y: np.ndarray, X: np.ndarray, w: np.ndarray, cl: Clusters, *,
                      small: bool, working: str,
                      vbar: np.ndarray | None = None) -> RobuCoefficients:
    """Weighted estimates with robumeta's robust covariance and df (see the module notes).

    ``working`` is ``"CORR"``, ``"HIER"`` or ``"USER"`` (user weights; then ``vbar``, the
    mean variance of each row's cluster, enters the adjustment as in robu.R).
    """
    m, p = X.shape
    n = cl.n
    Q = np.linalg.inv(X.T @ (w[:, None] * X))
    b = Q @ (X.T @ (w * y))
    e = y - X @ b
    if not small:
        u = cl.sums((w * e)[:, None] * X)  # X_j' W_j e_j
        vcov = Q @ (u.T @ u) @ Q * (n / (n - p))
        se = np.sqrt(np.diag(vcov))
        return RobuCoefficients(b, vcov, se, np.full(p, float(n - p)), e)
    adj = _adjustments(X, w, Q, cl, working, vbar)
    awx = np.empty_like(X)
    u1 = np.empty((n, p))
    u2 = np.empty((n, p))
    for j, (sl, a) in enumerate(zip(cl.slices(), adj, strict=True)):
        wx = w[sl][:, None] * X[sl]
        awx[sl] = a @ wx
        u1[j] = wx.T @ (a @ e[sl])  # X_j' W_j A_j e_j
        u2[j] = wx.T @ (a.T @ e[sl]) if working == "USER" else u1[j]  # (e_j' A_j W_j X_j)'
    vcov = Q @ (u1.T @ u2) @ Q
    se = np.sqrt(np.diag(vcov))
    scale = np.ones_like(w) if working == "USER" else 1.0 / w
    return RobuCoefficients(b, vcov, se, _satterthwaite(X, w, Q, cl, awx, scale), e)

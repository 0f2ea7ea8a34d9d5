"""Pieces of the multivariate model's density: the LKJ prior by canonical partial
correlations and the per-pattern Gaussian block likelihood, in PyTensor and numpy.

**LKJ prior.** Under LKJ(eta) in dimension ``m`` the canonical partial correlations of
the C-vine are independent, the one at tree level ``l`` (``l = 1..m-1``) distributed as
Beta(b_l, b_l) on (-1, 1) with ``b_l = eta + (m - 1 - l) / 2`` (Lewandowski, Kurowicka &
Joe 2009, J Multivar Anal 100:1989, sec. 2.4 and 3.2). They are sampled unconstrained as
``cpc = tanh(x)``; the log density of ``x`` is ``b_l log(1 - cpc²)`` (Beta kernel plus the
tanh Jacobian). The Cholesky factor of R follows from the CPCs (Stan's
``read_corr_L``): ``L[i,0] = cpc[0,i]``, ``L[i,j] = cpc[j,i] sqrt(1 - sum_{l<j} L[i,l]²)``,
``L[i,i] = sqrt(1 - sum_{l<i} L[i,l]²)``.

**Likelihood.** Study i's observed outcomes ``o`` give ``y_i ~ N(mu_o, Sigma_oo + V_i)``
with ``Sigma = diag(tau) R diag(tau)`` (the random effects integrated out; Jackson,
Riley & White 2011, Stat Med 30:2481, eq. 2). Studies with the same outcomes share one
vectorised density: the Cholesky factor and forward substitution are written out entry
by entry (``s`` <= a few outcomes), so the graph holds only elementwise operations.
That compiles in a few seconds, whereas PyMC's batched ``MvNormal`` and ``LKJCorr`` took
minutes to compile with the Numba backend (measured on the project machine).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["cpc_pairs", "lkj_cpc_logp", "corr_from_cpc", "block_loglik", "np_corr_from_cpc",
           "np_lkj_cpc_logp", "np_block_loglik"]

_LOG2PI = math.log(2.0 * math.pi)


def cpc_pairs(m: int) -> list[tuple[int, int]]:
    """``(j, i)`` with ``j < i`` in the order of the CPC vector (by tree level j)."""
    return [(j, i) for j in range(m - 1) for i in range(j + 1, m)]


def lkj_cpc_logp(x: Any, eta: Any, m: int, xp: Any) -> Any:
    """log density of the unconstrained CPCs ``x`` (see the module documentation);
    ``xp`` is ``pytensor.tensor`` or numpy."""
    total = 0.0
    for n, (j, _) in enumerate(cpc_pairs(m)):
        b = eta + (m - 2 - j) / 2.0  # tree level l = j + 1
        c = xp.tanh(x[..., n])
        total = total + b * xp.log1p(-c * c)
    return total


def corr_from_cpc(x: Any, m: int, xp: Any) -> list[list[Any]]:
    """The correlation matrix (nested lists of scalars/arrays) from unconstrained CPCs."""
    pairs = cpc_pairs(m)
    cpc = {p: xp.tanh(x[..., n]) for n, p in enumerate(pairs)}
    L = [[None] * m for _ in range(m)]
    for i in range(m):
        ss = 0.0
        for j in range(i):
            w = cpc[(j, i)] if j == 0 else cpc[(j, i)] * xp.sqrt(1.0 - ss)
            L[i][j] = w
            ss = ss + w * w
        L[i][i] = xp.sqrt(1.0 - ss) if i else 1.0
    R = [[None] * m for _ in range(m)]
    for a in range(m):
        R[a][a] = 1.0
        for b in range(a):
            R[a][b] = R[b][a] = sum(L[a][c] * L[b][c] for c in range(b + 1))
    return R


def block_loglik(y: Any, V: Any, mu: list[Any], tau: list[Any], R: list[list[Any]],
                 idx: tuple[int, ...], xp: Any) -> Any:
    """Sum over the studies of one pattern of ``log N(y | mu_o, Sigma_oo + V)``.

    ``y`` (n, s) and ``V`` (n, s, s) hold the pattern's effects and sampling blocks;
    ``mu``, ``tau`` are per-outcome scalars (or arrays broadcasting against ``y[:, 0]``)
    and ``R`` the correlation matrix as nested lists; ``idx`` the pattern's outcomes.
    """
    s = len(idx)
    C = [[tau[idx[a]] * tau[idx[b]] * R[idx[a]][idx[b]] + V[..., a, b] for b in range(s)]
         for a in range(s)]
    L = [[None] * s for _ in range(s)]
    for a in range(s):
        for b in range(a + 1):
            acc = C[a][b]
            for c in range(b):
                acc = acc - L[a][c] * L[b][c]
            L[a][b] = xp.sqrt(acc) if a == b else acc / L[b][b]
    w: list[Any] = []
    quad, logdet = 0.0, 0.0
    for a in range(s):
        acc = y[..., a] - mu[idx[a]]
        for c in range(a):
            acc = acc - L[a][c] * w[c]
        w.append(acc / L[a][a])
        quad = quad + w[a] * w[a]
        logdet = logdet + xp.log(L[a][a])
    return -0.5 * (s * _LOG2PI + quad) - logdet


def np_corr_from_cpc(x: np.ndarray, m: int) -> np.ndarray:
    """Correlation matrices (n, m, m) from draws of the unconstrained CPCs (n, m(m-1)/2)."""
    R = corr_from_cpc(x, m, np)
    n = x.shape[0]
    return np.stack([np.stack([np.broadcast_to(np.asarray(R[a][b], float), (n,))
                               for b in range(m)], axis=-1) for a in range(m)], axis=-2)


def np_lkj_cpc_logp(x: np.ndarray, eta: float, m: int) -> np.ndarray:
    """numpy twin of :func:`lkj_cpc_logp` (per draw)."""
    return np.asarray(lkj_cpc_logp(x, eta, m, np))


def np_block_loglik(y: np.ndarray, V: np.ndarray, mu: np.ndarray, tau: np.ndarray,
                    R: np.ndarray) -> np.ndarray:
    """``log N(y_i | mu, diag(tau) R diag(tau) + V_i)`` per draw and study of a pattern.

    ``y`` (n_s, s), ``V`` (n_s, s, s); ``mu``, ``tau`` (n, s) and ``R`` (n, s, s) are the
    draws restricted to the pattern's outcomes. Returns (n, n_s).
    """
    S = tau[:, :, None] * R * tau[:, None, :]
    C = S[:, None, :, :] + V[None, :, :, :]
    Lc = np.linalg.cholesky(C)
    r = y[None, :, :] - mu[:, None, :]
    w = np.linalg.solve(Lc, r[..., None])[..., 0]
    logdet = np.sum(np.log(np.diagonal(Lc, axis1=-2, axis2=-1)), axis=-1)
    s = y.shape[1]
    return -0.5 * (s * _LOG2PI + np.sum(w * w, axis=-1)) - logdet

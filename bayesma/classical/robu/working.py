"""robumeta 2.0's working models: initial weights and the method-of-moments tau² (omega²).

Rows are sorted by cluster (``Clusters``); ``X`` is the ``M x p`` design, ``k_j`` the
number of effects of cluster ``j``, ``N`` the number of clusters. Every formula is the one
``robumeta::robu`` (version 2.0, R/robu.R) computes:

* **CORR** (correlated effects; Hedges, Tipton & Johnson 2010, eq. 10-11): working
  weights ``w_ij = 1 / (k_j * vbar_j)`` (``vbar_j`` the mean variance of cluster ``j``),
  ``tau² = max(0, term1 + rho * term2)`` with ``term1 = (Q_E - N + tr(V S_1)) / D``,
  ``term2 = tr(V S_2) / D``, ``D = sum w - tr(V sum X_j'w_j w_j'X_j)``,
  ``S_1 = sum X_j' diag(w_j / k_j) X_j``,
  ``S_2 = sum (w_j / k_j)(X_j'11'X_j - X_j'X_j)``, ``V = (X'WX)^{-1}``; robumeta's
  ``I² = max(0, (Q_E - df) / Q_E) * 100`` with ``df = N - tr(V S_1) - rho tr(V S_2)``;
  final weights ``1 / (k_j (vbar_j + tau²))``.
* **HIER** (hierarchical effects; Hedges, Tipton & Johnson 2010, eq. 6-7): working
  weights ``1 / v_ij``; ``Q_E = sum w e²`` and ``Q_A = sum_j (sum_i e_ij)²`` with their
  expectations linear in the between-cluster ``tau²`` and the within-cluster ``omega²``
  (coefficients ``A1, B1, C1`` and ``A2, B2, C2`` as robu.R); the two equations are
  solved, ``omega²`` truncated at 0 first; final weights ``1 / (v_ij + tau² + omega²)``.

Hedges, L. V., Tipton, E., & Johnson, M. C. (2010). Robust variance estimation in
meta-regression with dependent effect size estimates. Research Synthesis Methods, 1(1),
39-65.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayesma.errors import DataError

__all__ = ["Clusters", "CorrMoments", "HierMoments", "corr_moments", "hier_moments"]


@dataclass(frozen=True)
class Clusters:
    """Rows sorted by cluster: ``starts`` of each cluster's block and its size ``k``."""

    starts: np.ndarray
    k: np.ndarray

    @classmethod
    def from_sorted_codes(cls, codes: np.ndarray) -> Clusters:
        """Blocks of consecutive equal codes (``codes`` sorted)."""
        starts = np.concatenate([[0], np.flatnonzero(np.diff(codes)) + 1])
        k = np.diff(np.concatenate([starts, [codes.size]]))
        return cls(starts.astype(int), k.astype(int))

    @property
    def n(self) -> int:
        """Number of clusters."""
        return int(self.k.size)

    def per_row(self, values: np.ndarray) -> np.ndarray:
        """A per-cluster value repeated on each row of its cluster."""
        return np.repeat(values, self.k)

    def sums(self, a: np.ndarray) -> np.ndarray:
        """Per-cluster column sums of ``a`` (rows sorted by cluster)."""
        return np.add.reduceat(a, self.starts, axis=0)

    def slices(self) -> list[slice]:
        """The row slice of each cluster."""
        return [slice(int(s), int(s + k)) for s, k in zip(self.starts, self.k, strict=True)]


def _tr(a: np.ndarray, b: np.ndarray) -> float:
    """``tr(a @ b)`` without the product."""
    return float(np.sum(a * b.T))


def _wls(y: np.ndarray, X: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares: ``(X'WX)^{-1}`` and ``b``."""
    xtwx = X.T @ (w[:, None] * X)
    inv = np.linalg.inv(xtwx)
    return inv, inv @ (X.T @ (w * y))


@dataclass(frozen=True)
class CorrMoments:
    """The pieces of the CORR tau² that do not depend on rho (robu.R ``term1``, ``term2``)."""

    term1: float
    term2: float
    qe: float
    n: int
    term_a: float
    term_b: float

    def tau2(self, rho: float) -> float:
        """``max(0, term1 + rho * term2)`` (robu.R)."""
        return max(0.0, self.term1 + rho * self.term2)

    def i2(self, rho: float) -> float:
        """robumeta's I² in percent: ``max(0, (Q_E - df) / Q_E * 100)``."""
        df = self.n - self.term_a - rho * self.term_b
        if self.qe <= 0:
            return 0.0
        return max(0.0, (self.qe - df) / self.qe * 100.0)


def corr_moments(y: np.ndarray, v: np.ndarray, X: np.ndarray, cl: Clusters) -> CorrMoments:
    """Method-of-moments pieces of the correlated-effects model (robu.R, ``CORR``)."""
    k_row = cl.per_row(cl.k.astype(float))
    vbar_row = cl.per_row(cl.sums(v) / cl.k)
    w = 1.0 / (k_row * vbar_row)
    inv, b = _wls(y, X, w)
    e = y - X @ b
    qe = float(np.sum(w * e * e))
    s = cl.sums(w[:, None] * X)  # X_j' w_j, one row per cluster
    xs = cl.sums(X)  # X_j' 1
    wk_cluster = cl.sums(w) / cl.k / cl.k  # w_j / k_j (w is constant within a cluster)
    wk_row = w / k_row
    sum_xwjwx = s.T @ s
    wkxx = X.T @ (wk_row[:, None] * X)
    wk_xjx_xx = xs.T @ (wk_cluster[:, None] * xs) - wkxx
    denom = float(np.sum(w)) - _tr(inv, sum_xwjwx)
    if not (np.isfinite(denom) and denom > 0):
        raise DataError("the correlated-effects moment estimator of tau² is undefined for "
                        "these clusters (its denominator is not positive)")
    term_a = _tr(inv, wkxx)
    term_b = _tr(inv, wk_xjx_xx)
    return CorrMoments(term1=(qe - cl.n + term_a) / denom, term2=term_b / denom, qe=qe,
                       n=cl.n, term_a=term_a, term_b=term_b)


def corr_weights(v: np.ndarray, cl: Clusters, tau2: float) -> np.ndarray:
    """Final CORR weights ``1 / (k_j (vbar_j + tau²))`` (robu.R ``r.weights``)."""
    vbar = cl.sums(v) / cl.k
    return cl.per_row(1.0 / (cl.k * (vbar + tau2)))


@dataclass(frozen=True)
class HierMoments:
    """The HIER estimates: between-cluster ``tau2`` and within-cluster ``omega2``."""

    tau2: float
    omega2: float


def hier_moments(y: np.ndarray, v: np.ndarray, X: np.ndarray, cl: Clusters) -> HierMoments:
    """Method-of-moments tau² and omega² of the hierarchical-effects model (robu.R, ``HIER``)."""
    w = 1.0 / v
    m, p = X.shape
    inv, b = _wls(y, X, w)
    e = y - X @ b
    qe = float(np.sum(w * e * e))
    qa = float(np.sum(cl.sums(e) ** 2))
    s = cl.sums(w[:, None] * X)  # X_j' W_j 1
    xs = cl.sums(X)  # X_j' 1
    kf = cl.k.astype(float)
    sum_xjx = xs.T @ xs
    sum_xwjjx = s.T @ (kf[:, None] * xs)
    sum_xjjwx = xs.T @ (kf[:, None] * s)
    sum_xwwx = X.T @ ((w * w)[:, None] * X)
    sum_xjwx = xs.T @ s
    sum_xwjx = s.T @ xs
    sum_xwjwx = s.T @ s
    sum_w = float(np.sum(w))
    a1 = (float(np.sum(kf * kf)) - _tr(inv, sum_xjjwx) - _tr(inv, sum_xwjjx)
          + _tr(inv @ sum_xjx @ inv, sum_xwjwx))
    b1 = m - _tr(inv, sum_xwjx) - _tr(inv, sum_xjwx) + _tr(inv @ sum_xjx @ inv, sum_xwwx)
    c1 = float(np.sum(v)) - _tr(inv, sum_xjx)
    a2 = sum_w - _tr(inv, sum_xwjwx)
    b2 = sum_w - _tr(inv, sum_xwwx)
    c2 = m - p
    det = b1 * a2 - b2 * a1
    if not (np.isfinite(det) and det != 0 and a2 != 0):
        raise DataError("the hierarchical model's moment equations are singular for these "
                        "clusters (tau² and omega² cannot be separated); use "
                        "modelweights='CORR'")
    omega2 = max(0.0, ((qa - c1) * a2 - (qe - c2) * a1) / det)
    tau2 = max(0.0, (qe - c2) / a2 - omega2 * (b2 / a2))
    return HierMoments(tau2=tau2, omega2=omega2)

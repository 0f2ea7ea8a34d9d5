"""Begg & Mazumdar's rank correlation test (metafor 3.8 ``ranktest.rma``).

Kendall's tau between standardized effects and variances, exact p without ties (as R's
``cor.test``).

References
----------
Begg, C. B., & Mazumdar, M. (1994). Biometrics, 50(4), 1088-1101.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
from scipy import stats

from bayesma.classical.bias.common import p_equals
from bayesma.classical.rma import RMAResult, require_rma_result
from bayesma.errors import BayesmaWarning, TooFewStudiesError
from bayesma.formatting import fmt_plain

__all__ = ["RankTestResult", "ranktest"]


@dataclass(frozen=True)
class RankTestResult:
    """Begg & Mazumdar's rank correlation test (metafor's ``ranktest``).

    Attributes
    ----------
    tau : float
        Kendall's tau (tau-b) between standardized effects and sampling variances.
    pval : float
        Two-sided p-value: exact without ties, normal approximation with ties.
    exact : bool
        Whether the exact null distribution was used.
    ties : bool
        Whether there were ties.
    stat : float
        The statistic: the number of concordant pairs T (exact) or z (approximation).
    k : int
        Number of studies.
    """

    tau: float
    pval: float
    exact: bool
    ties: bool
    stat: float
    k: int

    def to_frame(self) -> pd.DataFrame:
        """One-row table: tau, pval, exact, ties, stat, k."""
        return pd.DataFrame(
            [
                {
                    "tau": self.tau,
                    "pval": self.pval,
                    "exact": self.exact,
                    "ties": self.ties,
                    "stat": self.stat,
                    "k": self.k,
                }
            ],
            index=pd.Index(["ranktest"]),
        )

    def summary(self, digits: int = 4) -> str:
        """A printout like metafor's ``print.ranktest``."""
        how = "exact" if self.exact else "normal approximation (ties present)"
        return "\n".join(
            [
                "Rank Correlation Test for Funnel Plot Asymmetry",
                "",
                f"Kendall's tau = {fmt_plain(self.tau, digits)}, "
                f"{p_equals(self.pval, digits)} ({how})",
            ]
        )

    def __str__(self) -> str:
        return self.summary()


@cache
def _kendall_counts(n: int) -> tuple[int, ...]:
    """Number of permutations of n items with j inversions, j = 0..n(n-1)/2 (Mahonian)."""
    counts = [1]
    for m in range(2, n + 1):
        new = [0] * (len(counts) + m - 1)
        # convolution with (1 + x + ... + x^(m-1)) via running window sums
        window = 0
        for j in range(len(new)):
            if j < len(counts):
                window += counts[j]
            if j - m >= 0 and j - m < len(counts):
                window -= counts[j - m]
            new[j] = window
        counts = new
    return tuple(counts)


def _pkendall(q: int, n: int) -> float:
    """P(T <= q) for the number T of concordant pairs under independence (R's pkendall)."""
    counts = _kendall_counts(n)
    if q < 0:
        return 0.0
    if q >= len(counts) - 1:
        return 1.0
    return sum(counts[: q + 1]) / math.factorial(n)


def _kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b (R's ``cor(x, y, method = "kendall")``)."""
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    iu = np.triu_indices(len(x), 1)
    sx, sy = dx[iu], dy[iu]
    s = float(np.sum(sx * sy))
    denom = math.sqrt(float(np.sum(sx != 0)) * float(np.sum(sy != 0)))
    return s / denom if denom > 0 else float("nan")


def _tie_counts(x: np.ndarray) -> np.ndarray:
    _, c = np.unique(x, return_counts=True)
    return c[c > 1].astype(float)


def ranktest(res: RMAResult, *, exact: bool = True) -> RankTestResult:
    """Rank correlation test for funnel plot asymmetry (Begg & Mazumdar 1994).

    As ``metafor::ranktest``: the effects are standardized as
    ``(yi - b) / sqrt(vi - vb)`` with ``b``, ``vb`` the equal-effects estimate and its
    variance, and Kendall's tau with the sampling variances ``vi`` is tested with R's
    ``cor.test(..., method = "kendall", exact = TRUE)``: the exact null distribution
    when there are no ties, otherwise the normal approximation with the tie-corrected
    variance of S (and a warning, as R).

    Parameters
    ----------
    res : RMAResult
        A fit from :func:`bayesma.rma` (only its ``yi`` and ``vi`` are used).
    exact : bool
        Use the exact p-value when there are no ties (R's default here).

    Returns
    -------
    RankTestResult

    Warns
    -----
    BayesmaWarning
        When ties prevent the exact p-value and the normal approximation is used.
    """
    require_rma_result(res, "ranktest")
    yi = np.asarray(res.yi, dtype=float)
    vi = np.asarray(res.vi, dtype=float)
    n = len(yi)
    if n < 2:
        raise TooFewStudiesError(f"ranktest needs at least 2 studies, got k = {n}")
    # equal-effects estimate and its variance (metafor ranktest: rma(yi, vi, method="EE"))
    w = 1.0 / vi
    b = float(np.sum(w * yi) / np.sum(w))
    vb = float(1.0 / np.sum(w))
    # standardized effects (Begg & Mazumdar 1994, eq. 1): (yi - b) / sqrt(vi - vb)
    ystar = (yi - b) / np.sqrt(vi - vb)
    tau = _kendall_tau_b(ystar, vi)
    ties = min(len(np.unique(ystar)), len(np.unique(vi))) < n
    if not np.isfinite(tau):
        return RankTestResult(
            tau=float("nan"), pval=float("nan"), exact=False, ties=ties, stat=float("nan"), k=n
        )
    if exact and not ties:
        # exact: q = round((r + 1) n (n - 1) / 4), two-sided (R cor.test, C_pKendall)
        q = int(round((tau + 1) * n * (n - 1) / 4))
        if q > n * (n - 1) / 4:
            p = 1 - _pkendall(q - 1, n)
        else:
            p = _pkendall(q, n)
        return RankTestResult(
            tau=tau, pval=min(2 * p, 1.0), exact=True, ties=False, stat=float(q), k=n
        )
    # normal approximation with tie-corrected var(S) (R cor.test, Kendall 1970)
    xt = _tie_counts(ystar)
    yt = _tie_counts(vi)
    t0 = n * (n - 1) / 2
    t1 = float(np.sum(xt * (xt - 1)) / 2)
    t2 = float(np.sum(yt * (yt - 1)) / 2)
    s = tau * math.sqrt((t0 - t1) * (t0 - t2))
    v0 = n * (n - 1) * (2 * n + 5)
    vt = float(np.sum(xt * (xt - 1) * (2 * xt + 5)))
    vu = float(np.sum(yt * (yt - 1) * (2 * yt + 5)))
    v1 = float(np.sum(xt * (xt - 1))) * float(np.sum(yt * (yt - 1)))
    v2 = float(np.sum(xt * (xt - 1) * (xt - 2))) * float(np.sum(yt * (yt - 1) * (yt - 2)))
    var_s = (v0 - vt - vu) / 18 + v1 / (2 * n * (n - 1))
    if n > 2:
        var_s += v2 / (9 * n * (n - 1) * (n - 2))
    z = s / math.sqrt(var_s)
    pval = float(2 * min(stats.norm.cdf(z), stats.norm.sf(z)))
    if exact and ties:
        warnings.warn(
            "ranktest: cannot compute the exact p-value with ties (R: 'Cannot compute exact "
            "p-value with ties'); using the normal approximation",
            BayesmaWarning,
            stacklevel=2,
        )
    return RankTestResult(tau=tau, pval=pval, exact=False, ties=ties, stat=z, k=n)


# --------------------------------------------------------------------------------------
# fail-safe N
# --------------------------------------------------------------------------------------

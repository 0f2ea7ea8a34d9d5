"""Association measures from 2x2 tables: AS, PHI, YUQ, YUY and the tetrachoric RTET (metafor
3.8 escalc.r)."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

__all__ = ["association_effects", "tetrachoric"]


def association_effects(
    measure: str,
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    d: np.ndarray,
    vtype: str,
) -> tuple[np.ndarray, np.ndarray]:
    """AS, PHI, YUQ, YUY, RTET from (zero-adjusted) 2x2 cells (metafor 3.8 escalc.r)."""
    n1, n2 = a + b, c + d
    p1, p2 = a / n1, c / n2
    if measure == "AS":
        # arcsine square root risk difference (Ruecker et al. 2009; metafor escalc.r AS)
        return (np.arcsin(np.sqrt(p1)) - np.arcsin(np.sqrt(p2)),
                1 / (4 * n1) + 1 / (4 * n2))
    if measure == "PHI":
        return _phi(a, b, c, d, vtype)
    if measure in ("YUQ", "YUY"):
        oddsr = (a / b) / (c / d)
        if measure == "YUQ":
            # Yule's Q = (OR - 1)/(OR + 1) (Yule 1900; metafor escalc.r YUQ)
            yi = (oddsr - 1) / (oddsr + 1)
            return yi, 1 / 4 * (1 - yi**2) ** 2 * (1 / a + 1 / b + 1 / c + 1 / d)
        # Yule's Y = (sqrt(OR) - 1)/(sqrt(OR) + 1) (Yule 1912; metafor escalc.r YUY)
        yi = (np.sqrt(oddsr) - 1) / (np.sqrt(oddsr) + 1)
        return yi, 1 / 16 * (1 - yi**2) ** 2 * (1 / a + 1 / b + 1 / c + 1 / d)
    # RTET
    out = [tetrachoric(*cells) for cells in zip(a, b, c, d, strict=True)]
    return np.array([o[0] for o in out]), np.array([o[1] for o in out])


def _phi(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray,
         vtype: str) -> tuple[np.ndarray, np.ndarray]:
    """The phi coefficient and its variance (metafor 3.8 escalc.r PHI)."""
    n1, n2 = a + b, c + d
    n = n1 + n2
    p1, p2 = a / n1, c / n2
    q1, q2 = 1 - p1, 1 - p2
    yi = (a * d - b * c) / np.sqrt((a + b) * (c + d) * (a + c) * (b + d))
    if vtype == "ST":
        # stratified sampling (Yule 1912 / Bishop et al. 1975; metafor escalc.r PHI "ST")
        vi = ((n1 + n2) ** 2 * (4 * n1**3 * p1**2 * p2 * q1**2 * q2
                                + 4 * n2**3 * p1 * p2**2 * q1 * q2**2
                                + n1 * n2**2 * p2 * q2 * (p2 * q1 + p1 * q2)
                                * (p2 * q1 + p1 * (4 * q1 + q2))
                                + n1**2 * n2 * p1 * q1 * (p2 * q1 + p1 * q2)
                                * (p1 * q2 + p2 * (q1 + 4 * q2))))
        return yi, vi / (4 * (a + c) ** 3 * (b + d) ** 3)
    # cross-sectional sampling (Bishop et al. 1975; metafor escalc.r PHI "LS"/"CS")
    r1, r2 = (a + b) / n, (c + d) / n
    s1, s2 = (a + c) / n, (b + d) / n
    vi = 1 / n * (1 - yi**2 + yi * (1 + 1 / 2 * yi**2) * (r1 - r2) * (s1 - s2)
                  / np.sqrt(r1 * r2 * s1 * s2)
                  - 3 / 4 * yi**2 * ((r1 - r2) ** 2 / (r1 * r2) + (s1 - s2) ** 2 / (s1 * s2)))
    return yi, vi


def _phi2(h: float, k: float, rho: float) -> float:
    """Bivariate normal CDF P(X < h, Y < k; rho) by Plackett's (1954) identity:
    Phi(h) Phi(k) + integral from 0 to rho of the bivariate density at (h, k)."""
    from scipy.integrate import quad

    def dens(r: float) -> float:
        s = 1 - r * r
        return float(np.exp(-(h * h - 2 * r * h * k + k * k) / (2 * s)) / (2 * np.pi * np.sqrt(s)))

    val, _ = quad(dens, 0.0, rho, epsabs=1e-15, epsrel=1e-13, limit=200)
    return float(ndtr(h) * ndtr(k) + val)


def tetrachoric(a: float, b: float, c: float, d: float,
                maxcor: float = 0.9999) -> tuple[float, float]:
    """Tetrachoric correlation of a 2x2 table and its sampling variance.

    metafor 3.8's ``.rtet`` maximises the bivariate-normal likelihood of the table in
    (rho, two cut points) with ``optim`` (Nelder-Mead) and inverts its numerical Hessian.
    The model is saturated, so the maximum is exact: the cut points are the normal
    quantiles of the margins and rho solves Phi2(h, k; rho) = a / n (Pearson 1900); the
    variance is the (1, 1) element of the inverse Fisher information of the multinomial
    (equal to the observed information at a saturated maximum). metafor's special cases
    are kept: an empty margin gives (0, inf), b = c = 0 gives (1, 0), a = d = 0 gives
    (-1, 0), and a zero in b or c (a or d) sets rho to 1 (-1) with an undefined variance.
    """
    from scipy.optimize import brentq

    if any(np.isnan(v) for v in (a, b, c, d)):
        return float("nan"), float("nan")
    n = a + b + c + d
    if a + b == 0 or c + d == 0 or a + c == 0 or b + d == 0:
        return 0.0, float("inf")  # metafor .rtet: list(yi = 0, vi = Inf)
    if b == 0 and c == 0:
        return 1.0, 0.0
    if a == 0 and d == 0:
        return -1.0, 0.0
    # metafor .rtet: cut.row = qnorm((ai+bi)/ni) (rows: group 1), cut.col = qnorm((ai+ci)/ni)
    h, k = float(ndtri((a + b) / n)), float(ndtri((a + c) / n))
    target = a / n
    f = lambda r: _phi2(h, k, r) - target  # noqa: E731  (increasing in r)
    lo, hi = -maxcor, maxcor
    if f(lo) >= 0:
        rho = lo
    elif f(hi) <= 0:
        rho = hi
    else:
        rho = brentq(f, lo, hi, xtol=1e-14, rtol=1e-14, maxiter=200)
    # Fisher information n * J' diag(1/p) J, J = d(pa, pb, pc, pd)/d(rho, h, k), p the
    # observed proportions (the fitted ones at the saturated maximum)
    s = np.sqrt(1 - rho * rho)
    dens = np.exp(-(h * h - 2 * rho * h * k + k * k) / (2 * s * s)) / (2 * np.pi * s)
    phi_h = np.exp(-h * h / 2) / np.sqrt(2 * np.pi)
    phi_k = np.exp(-k * k / 2) / np.sqrt(2 * np.pi)
    da_dh = phi_h * ndtr((k - rho * h) / s)
    da_dk = phi_k * ndtr((h - rho * k) / s)
    jac = np.array([
        [dens, da_dh, da_dk],  # pa = Phi2(h, k)
        [-dens, phi_h - da_dh, -da_dk],  # pb = Phi(h) - pa
        [-dens, -da_dh, phi_k - da_dk],  # pc = Phi(k) - pa
        [dens, -phi_h + da_dh, -phi_k + da_dk],  # pd = 1 - Phi(h) - Phi(k) + pa
    ])
    p = np.array([a, b, c, d]) / n
    if (p == 0).any():
        # the maximum is on the boundary |rho| = 1: no information matrix (metafor: "Could
        # not estimate sampling variance", NA) and rho = 1 (b or c zero) or -1 (a or d)
        return (1.0 if b == 0 or c == 0 else -1.0), float("nan")
    info = n * (jac.T * (1 / p)) @ jac
    try:
        vi = float(np.linalg.inv(info)[0, 0])
    except np.linalg.LinAlgError:
        vi = float("nan")
    return float(rho), vi

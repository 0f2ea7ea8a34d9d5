"""metafor 3.8's ``transf.*`` functions: effect sizes from the analysis to the natural scale.

Each function is the numpy twin of the metafor function of the same name (``transf_ilogit``
is ``metafor::transf.ilogit``), with the same clipping at the edges of the range. They are
what :meth:`bayesma.measures.Measure.back` applies, and can be used directly::

    >>> from bayesma.transforms import transf_ipft_hm
    >>> round(float(transf_ipft_hm(0.4, ni=[20, 30, 50])), 6)
    0.140036

The Freeman-Tukey back-transforms need the sample sizes (``transf_ipft``: one per value;
``transf_ipft_hm``: the harmonic mean of all study sizes, Miller 1978) or the person-times
(``transf_iirft``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayesma.errors import BayesmaError

__all__ = [
    "harmonic_mean",
    "transf_exp",
    "transf_iabt",
    "transf_iahw",
    "transf_iarcsin",
    "transf_identity",
    "transf_iirft",
    "transf_ilogit",
    "transf_ipft",
    "transf_ipft_hm",
    "transf_irft",
    "transf_isqrt",
    "transf_logit",
    "transf_pft",
    "transf_rtoz",
    "transf_ztor",
]


def _arr(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=float)


def transf_identity(x: Any) -> np.ndarray:
    """No transformation."""
    return _arr(x)


def transf_exp(x: Any) -> np.ndarray:
    """``exp(x)``: log ratios -> ratios (metafor ``exp`` / ``transf.exp.int``)."""
    with np.errstate(over="ignore"):
        return np.exp(_arr(x))


def transf_ilogit(x: Any) -> np.ndarray:
    """metafor ``transf.ilogit``: logit -> proportion, ``1 / (1 + exp(-x))``."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-_arr(x)))


def transf_logit(x: Any) -> np.ndarray:
    """metafor ``transf.logit``: ``log(x / (1 - x))``."""
    x = _arr(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(x / (1.0 - x))


def transf_ztor(x: Any) -> np.ndarray:
    """metafor ``transf.ztor``: Fisher's z -> correlation, ``tanh(x)`` (Fisher 1921)."""
    return np.tanh(_arr(x))


def transf_rtoz(x: Any) -> np.ndarray:
    """metafor ``transf.rtoz``: correlation -> Fisher's z, ``atanh(x)``."""
    with np.errstate(divide="ignore"):
        return np.arctanh(_arr(x))


def transf_iarcsin(x: Any) -> np.ndarray:
    """metafor ``transf.iarcsin``: ``sin(x)^2``, 0 below 0 and 1 above pi/2."""
    x = _arr(x)
    out = np.sin(x) ** 2
    return np.where(x < 0, 0.0, np.where(x > np.arcsin(1.0), 1.0, out))


def transf_isqrt(x: Any) -> np.ndarray:
    """metafor ``transf.isqrt``: ``x^2``, 0 below 0 (square-root rates IRS, IRSD)."""
    x = _arr(x)
    return np.where(x < 0, 0.0, x**2)


def transf_pft(x: Any, ni: Any) -> np.ndarray:
    """metafor ``transf.pft``: proportion -> Freeman-Tukey double arcsine (Freeman & Tukey 1950)."""
    xn = _arr(x) * _arr(ni)
    n = _arr(ni)
    return 0.5 * (np.arcsin(np.sqrt(xn / (n + 1))) + np.arcsin(np.sqrt((xn + 1) / (n + 1))))


def transf_ipft(x: Any, ni: Any) -> np.ndarray:
    """metafor ``transf.ipft``: Freeman-Tukey double arcsine -> proportion (Miller 1978).

    ``ni`` are the sample sizes (one per value, or one for all); values beyond the
    transforms of 0 and 1 are clipped to 0 and 1, as metafor does.
    """
    x, n = np.broadcast_arrays(_arr(x), _arr(ni))
    s = np.sin(2 * x)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Miller 1978, eq. 6 (metafor transf.ipft)
        z = 0.5 * (1 - np.sign(np.cos(2 * x)) * np.sqrt(1 - (s + (s - 1 / s) / n) ** 2))
    z = np.where(x > transf_pft(1.0, n), 1.0, z)
    z = np.where(x < transf_pft(0.0, n), 0.0, z)
    return z


def harmonic_mean(ni: Any, what: str = "ni") -> float:
    """Harmonic mean of positive sizes (metafor: ``1/mean(1/ni, na.rm=TRUE)``)."""
    n = _arr(ni).ravel()
    n = n[~np.isnan(n)]
    if n.size == 0 or np.any(n <= 0) or not np.all(np.isfinite(n)):
        raise BayesmaError(f"{what} must be finite numbers > 0 (got {n.tolist()!r})")
    return float(1.0 / np.mean(1.0 / n))


def transf_ipft_hm(x: Any, ni: Any) -> np.ndarray:
    """metafor ``transf.ipft.hm``: :func:`transf_ipft` with the harmonic mean of ``ni``.

    Used for pooled Freeman-Tukey estimates (measure PFT), whose back-transform needs one
    sample size: metafor takes the harmonic mean of the study sizes (Miller 1978).
    """
    return transf_ipft(x, harmonic_mean(ni))


def transf_irft(x: Any, ti: Any) -> np.ndarray:
    """metafor ``transf.irft``: rate -> Freeman-Tukey transformed rate."""
    x, t = _arr(x), _arr(ti)
    return 0.5 * (np.sqrt(x) + np.sqrt(x + 1 / t))


def transf_iirft(x: Any, ti: Any) -> np.ndarray:
    """metafor ``transf.iirft``: Freeman-Tukey transformed rate -> rate (``ti``: person-time)."""
    x, t = np.broadcast_arrays(_arr(x), _arr(ti))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (1 / t - 8 * x**2 + 16 * t * x**4) / (16 * x**2 * t)  # metafor transf.iirft
    z = np.where(x < transf_irft(0.0, t), 0.0, z)
    return np.where(z <= np.finfo(float).eps, 0.0, z)


def transf_iahw(x: Any) -> np.ndarray:
    """metafor ``transf.iahw``: Hakstian-Whalen transformed alpha -> alpha, ``1 - (1 - x)^3``."""
    x = _arr(x)
    z = 1 - (1 - x) ** 3
    return np.where(x > 1, 1.0, np.where(x < 0, 0.0, z))


def transf_iabt(x: Any) -> np.ndarray:
    """metafor ``transf.iabt``: Bonett transformed alpha -> alpha, ``1 - exp(-x)``."""
    x = _arr(x)
    with np.errstate(over="ignore"):
        z = 1 - np.exp(-x)
    return np.where(x < 0, 0.0, z)

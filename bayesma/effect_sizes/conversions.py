"""Conversions between effect sizes: SMD <-> log OR (Hasselblad & Hedges 1995), r <-> d
and r <-> z (Borenstein et al. 2009, ch. 7; Fisher 1921), and the dispatcher ``convert``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from bayesma.data import numeric_column
from bayesma.errors import BayesmaError

__all__ = [
    "Converted",
    "convert",
    "d_to_r",
    "logor_to_smd",
    "r_to_d",
    "r_to_z",
    "smd_to_logor",
    "z_to_r",
]


class Converted(NamedTuple):
    """An effect size on a new scale: ``yi`` and its variance ``vi`` (None if not given)."""

    yi: Any
    vi: Any


def _arr(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _out(x: np.ndarray) -> Any:
    return float(x) if np.ndim(x) == 0 else x


def smd_to_logor(yi: Any, vi: Any = None) -> Converted:
    """Convert standardized mean differences to log odds ratios.

    Uses the logistic-distribution method of Hasselblad & Hedges (1995):
    ``logOR = d * pi / sqrt(3)``, ``v_logOR = v_d * pi^2 / 3``
    (Borenstein et al. 2009, eqs. 7.3-7.4; metafor's ``D2ORL``).

    Parameters
    ----------
    yi : float or array_like
        Standardized mean differences.
    vi : float or array_like, optional
        Their sampling variances.

    Returns
    -------
    Converted
        ``(yi, vi)`` on the log odds ratio scale (``vi`` None when not given).
    """
    d = _arr(yi)
    y = d * np.pi / np.sqrt(3)  # Hasselblad & Hedges 1995: logOR = d*pi/sqrt(3)
    v = None if vi is None else _out(_arr(vi) * np.pi**2 / 3)  # Borenstein 2009 eq. 7.4
    return Converted(_out(y), v)


def logor_to_smd(yi: Any, vi: Any = None) -> Converted:
    """Convert log odds ratios to standardized mean differences.

    Inverse of :func:`smd_to_logor` (Hasselblad & Hedges 1995; Chinn 2000):
    ``d = logOR * sqrt(3) / pi``, ``v_d = v_logOR * 3 / pi^2`` (metafor's ``OR2DL``).

    Parameters
    ----------
    yi : float or array_like
        Log odds ratios.
    vi : float or array_like, optional
        Their sampling variances.

    Returns
    -------
    Converted
        ``(yi, vi)`` on the SMD scale.
    """
    lor = _arr(yi)
    y = lor * np.sqrt(3) / np.pi  # Borenstein 2009 eq. 7.1: d = logOR*sqrt(3)/pi
    v = None if vi is None else _out(_arr(vi) * 3 / np.pi**2)  # Borenstein 2009 eq. 7.2
    return Converted(_out(y), v)


def r_to_d(yi: Any, vi: Any = None) -> Converted:
    """Convert correlations to standardized mean differences.

    ``d = 2 r / sqrt(1 - r^2)``, ``v_d = 4 v_r / (1 - r^2)^3``
    (Borenstein et al. 2009, eqs. 7.5-7.6).

    Parameters
    ----------
    yi : float or array_like
        Correlations, ``|r| < 1``.
    vi : float or array_like, optional
        Their sampling variances.

    Returns
    -------
    Converted
        ``(yi, vi)`` on the SMD scale.
    """
    r = _check_r(_arr(yi))
    y = 2 * r / np.sqrt(1 - r**2)  # Borenstein 2009 eq. 7.5
    v = None if vi is None else _out(4 * _arr(vi) / (1 - r**2) ** 3)  # Borenstein 2009 eq. 7.6
    return Converted(_out(y), v)


def d_to_r(yi: Any, vi: Any = None, *, n1i: Any = None, n2i: Any = None) -> Converted:
    """Convert standardized mean differences to (point-biserial) correlations.

    ``r = d / sqrt(d^2 + a)``, ``v_r = a^2 v_d / (d^2 + a)^3`` with
    ``a = (n1 + n2)^2 / (n1 n2)`` (Borenstein et al. 2009, eqs. 7.7-7.9); ``a = 4``
    (equal groups) when the group sizes are not given.

    Parameters
    ----------
    yi : float or array_like
        Standardized mean differences.
    vi : float or array_like, optional
        Their sampling variances.
    n1i, n2i : float or array_like, optional
        Group sizes (give both or neither).

    Returns
    -------
    Converted
        ``(yi, vi)`` on the correlation scale.
    """
    d = _arr(yi)
    if (n1i is None) != (n2i is None):
        raise BayesmaError("d_to_r: give both n1i and n2i, or neither (equal groups)")
    if n1i is None:
        a = np.asarray(4.0)
    else:
        n1, n2 = _arr(n1i), _arr(n2i)
        if np.any(~(n1 > 0)) or np.any(~(n2 > 0)):
            raise BayesmaError("d_to_r: group sizes n1i, n2i must be > 0")
        a = (n1 + n2) ** 2 / (n1 * n2)  # Borenstein 2009 eq. 7.8
    y = d / np.sqrt(d**2 + a)  # Borenstein 2009 eq. 7.7
    v = None if vi is None else _out(a**2 * _arr(vi) / (d**2 + a) ** 3)  # Borenstein 2009 eq. 7.9
    return Converted(_out(y), v)


def r_to_z(yi: Any, vi: Any = None) -> Converted:
    """Fisher's r-to-z transformation.

    ``z = atanh(r) = 0.5 log((1 + r) / (1 - r))`` (Fisher 1921); the variance by the
    delta method, ``v_z = v_r / (1 - r^2)^2``, which turns the large-sample
    ``v_r = (1 - r^2)^2 / (n - 1)`` into ``1 / (n - 1)`` (escalc's ZCOR uses the
    exact ``1 / (n - 3)`` from the sample size instead).

    Parameters
    ----------
    yi : float or array_like
        Correlations, ``|r| < 1``.
    vi : float or array_like, optional
        Their sampling variances.

    Returns
    -------
    Converted
        ``(yi, vi)`` on Fisher's z scale.
    """
    r = _check_r(_arr(yi))
    y = np.arctanh(r)  # Fisher 1921
    v = None if vi is None else _out(_arr(vi) / (1 - r**2) ** 2)  # delta method, dz/dr = 1/(1-r^2)
    return Converted(_out(y), v)


def z_to_r(yi: Any, vi: Any = None) -> Converted:
    """Back-transform Fisher's z to correlations: ``r = tanh(z)``.

    The variance by the delta method, ``v_r = v_z (1 - r^2)^2``. For pooled estimates
    and confidence limits, transform the limits rather than the variance.

    Parameters
    ----------
    yi : float or array_like
        Fisher z values.
    vi : float or array_like, optional
        Their sampling variances.

    Returns
    -------
    Converted
        ``(yi, vi)`` on the correlation scale.
    """
    r = np.tanh(_arr(yi))  # Fisher 1921 inverse (metafor transf.ztor)
    v = None if vi is None else _out(_arr(vi) * (1 - r**2) ** 2)  # delta method, dr/dz = 1-r^2
    return Converted(_out(r), v)


def _check_r(r: np.ndarray) -> np.ndarray:
    if np.any(~(np.abs(r) < 1)):
        raise BayesmaError("correlations must be strictly between -1 and 1 (and not missing)")
    return r


_SCALES = {"SMD": "SMD", "D": "SMD", "OR": "OR", "LOGOR": "OR", "COR": "COR", "R": "COR",
           "ZCOR": "ZCOR", "Z": "ZCOR"}  # fmt: skip
# the conversion graph: SMD is the hub (OR <-> SMD <-> COR <-> ZCOR)
_STEPS = {
    ("SMD", "OR"): "smd_to_logor",
    ("OR", "SMD"): "logor_to_smd",
    ("COR", "SMD"): "r_to_d",
    ("SMD", "COR"): "d_to_r",
    ("COR", "ZCOR"): "r_to_z",
    ("ZCOR", "COR"): "z_to_r",
}
_ORDER = ["OR", "SMD", "COR", "ZCOR"]


def _scale(name: Any, what: str) -> str:
    key = str(name).upper() if name is not None else ""
    if key not in _SCALES:
        raise BayesmaError(
            f"convert: unknown {what} scale {name!r}; use one of SMD (or 'd'), OR ('logOR', "
            "log odds ratio), COR ('r'), ZCOR ('z')"
        )
    return _SCALES[key]


def convert(
    yi: Any,
    vi: Any = None,
    *,
    from_: str | None = None,
    to: str,
    n1i: Any = None,
    n2i: Any = None,
    var_names: Sequence[str] = ("yi", "vi"),
) -> Any:
    """Convert effect sizes between the SMD, log OR, correlation and Fisher-z scales.

    Dispatches to :func:`smd_to_logor`, :func:`logor_to_smd`, :func:`r_to_d`,
    :func:`d_to_r`, :func:`r_to_z` and :func:`z_to_r`, chaining them when needed
    (e.g. ``OR -> SMD -> COR``).

    Parameters
    ----------
    yi : float, array_like or DataFrame
        Effect sizes, or an :func:`escalc` table (then ``vi`` is ignored, the columns
        ``var_names`` are converted in a copy and ``from_`` defaults to
        ``yi.attrs["measure"]``).
    vi : float or array_like, optional
        Sampling variances.
    from_, to : str
        Scales: ``"SMD"`` (or ``"d"``), ``"OR"`` (or ``"logOR"``; the log odds ratio as
        escalc's OR), ``"COR"`` (or ``"r"``), ``"ZCOR"`` (or ``"z"``).
    n1i, n2i : float, array_like or str, optional
        Group sizes for the d -> r step (column names when ``yi`` is a DataFrame);
        equal groups are assumed when omitted.
    var_names : (str, str)
        Effect-size and variance columns when ``yi`` is a DataFrame.

    Returns
    -------
    Converted or DataFrame
        ``(yi, vi)`` on the new scale, or a copy of the table with converted columns and
        ``attrs["measure"]`` set to ``to``.

    Examples
    --------
    >>> convert(0.5, 0.0205, from_="SMD", to="OR").yi  # Borenstein et al. 2009, ch. 7
    0.9068996821171089
    """
    if isinstance(yi, pd.DataFrame):
        df = yi
        if from_ is None:
            from_ = df.attrs.get("measure")
            if from_ is None:
                raise BayesmaError("convert: give from_= (the table has no attrs['measure'])")
        yname, vname = var_names
        y = numeric_column(df, yname, what="effect size", allow_nan=True)
        v = numeric_column(df, vname, what="sampling variance", allow_nan=True)
        n1 = numeric_column(df, n1i, what="group size") if isinstance(n1i, str) else n1i
        n2 = numeric_column(df, n2i, what="group size") if isinstance(n2i, str) else n2i
        res = convert(y, v, from_=from_, to=to, n1i=n1, n2i=n2)
        out = df.copy()
        out[yname] = res.yi
        out[vname] = res.vi
        out.attrs["measure"] = _scale(to, "target")
        return out
    if from_ is None:
        raise BayesmaError("convert: give from_= (the scale of yi)")
    src, dst = _scale(from_, "source"), _scale(to, "target")
    i, j = _ORDER.index(src), _ORDER.index(dst)
    step = 1 if j > i else -1
    res = Converted(_out(_arr(yi)), None if vi is None else _out(_arr(vi)))
    for k in range(i, j, step):
        fn = globals()[_STEPS[(_ORDER[k], _ORDER[k + step])]]
        if fn is d_to_r:
            res = fn(res.yi, res.vi, n1i=n1i, n2i=n2i)
        else:
            res = fn(res.yi, res.vi)
    return res

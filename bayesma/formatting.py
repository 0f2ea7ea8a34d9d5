"""Number, interval and p-value formatting shared by printouts, plots and the report.

Two families of output:

* printouts (``summary()`` of classical fits) follow metafor's conventions: ASCII minus,
  ``"NA"`` for missing values and p-values as metafor's ``.pval()`` prints them
  (``"<.0001"``; see :func:`fmt_pval`);
* figures and the HTML report use a typographic minus sign (U+2212) and shorter p-values
  (:func:`fmt_p`, :func:`fmt_p_apa`).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "MINUS",
    "fmt_num",
    "fmt_plain",
    "fmt_interval",
    "fmt_est_ci",
    "fmt_pval",
    "fmt_p_apa",
    "fmt_p",
    "p_text",
    "fmt_prob",
    "signif_stars",
]

#: Typographic minus sign used in figures and the report.
MINUS = "\u2212"


def _as_float(x: Any) -> float | None:
    """``x`` as a float, or None when it is missing or not a number."""
    if x is None:
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def fmt_num(x: Any, digits: int = 2, *, missing: str = "NA") -> str:
    """Fixed decimals with a typographic minus; ``missing`` for None/NaN; ``∞`` for inf.

    ``-0.00`` is printed as ``0.00``. A value that is not a number is returned as text.
    """
    v = _as_float(x)
    if v is None:
        return missing if x is None else str(x)
    if math.isnan(v):
        return missing
    if math.isinf(v):
        return "\u221e" if v > 0 else MINUS + "\u221e"
    s = f"{v:.{digits}f}"
    if s.startswith("-") and float(s) == 0.0:
        s = s[1:]
    return s.replace("-", MINUS)


def fmt_plain(x: Any, digits: int = 4) -> str:
    """Fixed decimals with an ASCII minus and ``"NA"`` for missing values (printouts)."""
    v = _as_float(x)
    if v is None or math.isnan(v):
        return "NA"
    return f"{v:.{digits}f}"


def fmt_interval(low: Any, high: Any, digits: int = 2, *, missing: str = "NA") -> str:
    """``"[0.13, 1.26]"``."""
    return f"[{fmt_num(low, digits, missing=missing)}, {fmt_num(high, digits, missing=missing)}]"


def fmt_est_ci(est: Any, low: Any, high: Any, digits: int = 2, *, missing: str = "NA") -> str:
    """``"0.41 [0.13, 1.26]"``; just the estimate when an interval end is missing."""
    e = _as_float(est)
    if e is None or math.isnan(e):
        return missing
    lo, hi = _as_float(low), _as_float(high)
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return fmt_num(e, digits, missing=missing)
    return f"{fmt_num(e, digits, missing=missing)} {fmt_interval(lo, hi, digits, missing=missing)}"


def fmt_pval(p: Any, digits: int = 4) -> str:
    """A p-value as metafor's ``.pval()`` prints it: ``"<.0001"`` below 10^-digits."""
    v = _as_float(p)
    if v is None or math.isnan(v):
        return "NA"
    if v < 10.0 ** (-digits):
        return "<." + "0" * (digits - 1) + "1"
    return f"{v:.{digits}f}"


def fmt_p_apa(p: Any) -> str:
    """APA-style p-value: ``"p < 0.001"``, ``"p = 0.012"``, ``"p = 0.54"``."""
    v = _as_float(p)
    if v is None or not math.isfinite(v):
        return "p = NA"
    if v < 0.001:
        return "p < 0.001"
    if v < 0.01:
        return f"p = {v:.3f}"
    return f"p = {v:.2f}"


def fmt_p(p: Any, *, missing: str = "\u2013") -> str:
    """Report p-values: ``"< 0.001"`` or three decimals."""
    v = _as_float(p)
    if v is None or math.isnan(v):
        return missing
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def p_text(p: Any) -> str:
    """``"p < 0.001"`` or ``"p = 0.012"``."""
    t = fmt_p(p)
    return f"p {t}" if t.startswith("<") else f"p = {t}"


def fmt_prob(p: Any, *, missing: str = "\u2013") -> str:
    """Posterior probabilities: ``"> 0.999"``, ``"< 0.001"`` or three decimals."""
    v = _as_float(p)
    if v is None or math.isnan(v):
        return missing
    if v > 0.999:
        return "> 0.999"
    if v < 0.001:
        return "< 0.001"
    return f"{v:.3f}"


def signif_stars(p: Any) -> str:
    """R's significance codes: ``***`` < 0.001 < ``**`` < 0.01 < ``*`` < 0.05 < ``.`` < 0.1."""
    v = _as_float(p)
    if v is None or not math.isfinite(v):
        return ""
    for cut, s in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if v < cut:
            return s
    return ""

"""Small text helpers of the report: number formats with the report's missing sign,
measure names, package versions, and neutralising text for CSV and Markdown.

Numbers are formatted by :mod:`bayesma.formatting` (the one home of number, interval
and p-value formats); this module only fixes the report's conventions (``"–"`` for a
missing value).
"""

from __future__ import annotations

import html
import importlib.metadata
import platform
import re
from typing import Any

import numpy as np
import pandas as pd

from bayesma.formatting import MINUS, fmt_est_ci, fmt_num, fmt_p, fmt_prob, p_text
from bayesma.measures import get_measure

__all__ = [
    "DASH",
    "PACKAGES",
    "csv_safe",
    "digits",
    "fmt",
    "fmt_bf",
    "fmt_ci",
    "fmt_p",
    "fmt_prob",
    "md_escape",
    "measure_name",
    "p_text",
    "package_versions",
    "pct",
    "test_name",
]

#: The report's sign for a missing value.
DASH = "\u2013"
#: Packages listed in the reproducibility block.
PACKAGES = ("bayesma", "numpy", "scipy", "pandas", "xarray", "pymc", "pytensor", "arviz",
            "nutpie", "matplotlib", "formulaic", "h5netcdf", "jinja2")


def fmt(x: Any, digits: int = 2) -> str:
    """A number with a typographic minus; ``"–"`` for missing values."""
    return fmt_num(x, digits, missing=DASH)


def fmt_ci(est: Any, lo: Any, hi: Any, digits: int = 2) -> str:
    """``"0.49 [0.34, 0.71]"`` (``"–"`` when the estimate is missing)."""
    return fmt_est_ci(est, lo, hi, digits, missing=DASH)


def fmt_bf(x: Any) -> str:
    """A Bayes factor: three significant digits, scientific notation below 0.001."""
    if x is None or not np.isfinite(float(x)):
        return DASH
    x = float(x)
    return f"{x:.3g}" if x >= 0.001 else f"{x:.1e}".replace("-", MINUS)


def pct(level: float) -> str:
    """``0.95`` -> ``"95%"``."""
    return f"{100 * float(level):g}%"


def digits(measure: str | None) -> int:
    """Decimals of a measure's estimates (:attr:`bayesma.measures.Measure.digits`)."""
    return get_measure(measure).digits


def measure_name(measure: str | None) -> str:
    """Readable name of a measure (``"risk ratio"``)."""
    return get_measure(measure).name


def test_name(test: str) -> str:
    """Prose name of a classical test setting."""
    return {"knha": "the Hartung-Knapp-Sidik-Jonkman adjustment",
            "adhoc": "the modified Hartung-Knapp-Sidik-Jonkman adjustment (scale "
                     "factor at least 1; metafor's test = \"adhoc\")",
            "z": "Wald z tests", "t": "t tests"}.get(test, test)


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages bayesma's results depend on."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _neutral(v: Any) -> Any:
    if isinstance(v, str) and v.startswith(_FORMULA_START):
        return "'" + v
    return v


def csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells cannot start a spreadsheet formula.

    OWASP "CSV Injection": a text cell starting with ``=``, ``+``, ``-``, ``@``, tab or
    carriage return is prefixed with ``'`` so that spreadsheets show it as text. Numbers
    are never changed (a negative number stays a number); column names and the index
    are neutralised the same way.
    """
    out = df.copy()
    for c in out.columns:
        col = out[c]
        if col.dtype == object or isinstance(col.dtype, pd.StringDtype):
            out[c] = col.map(_neutral).astype(object)
    out.columns = _neutral_index(out.columns)
    out.index = _neutral_index(out.index)
    return out


def _neutral_index(idx: pd.Index) -> pd.Index:
    if isinstance(idx, pd.MultiIndex):
        return pd.MultiIndex.from_tuples([tuple(_neutral(v) for v in t) for t in idx],
                                         names=[_neutral(n) for n in idx.names])
    if not any(isinstance(v, str) for v in idx):
        return idx
    return pd.Index([_neutral(v) for v in idx], name=_neutral(idx.name), dtype=object)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|!])")


def md_escape(text: Any) -> str:
    """Text safe in Markdown: HTML escaped (``<`` -> ``&lt;``) and Markdown's special
    characters backslash-escaped, line breaks as spaces."""
    s = html.escape(str(text), quote=False).replace("\r", " ").replace("\n", " ")
    s = _MD_SPECIAL.sub(r"\\\1", s).replace("~~", "\\~\\~")
    if s.startswith(("-", "+")):  # would start a list
        s = "\\" + s
    return s

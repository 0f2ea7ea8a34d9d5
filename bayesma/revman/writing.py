"""``write_revman_csv``: study data (or a result's study effects) as a CSV that RevMan imports.

The columns are those of RevMan Web's analysis data rows (``*-data-rows.csv`` in a
Cochrane data package, the layout RevMan Web exports and its "Import data" step maps):
``Analysis group, Analysis number, Analysis name, Subgroup, Study, Study year`` and, per
data type, ``Experimental cases, Experimental N, Control cases, Control N``
(dichotomous), ``Experimental mean, Experimental SD, Experimental N, Control mean,
Control SD, Control N`` (continuous), ``GIV Mean, GIV SE`` (generic inverse variance:
log scale for ratio measures, as RevMan expects) or ``O-E, Variance``. RevMan 5's import
wizard reads the same file (its columns are mapped by name in the wizard).
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from bayesma.data import require_columns
from bayesma.errors import BayesmaError, DataError
from bayesma.revman.outcome import CONTINUOUS, DICHOTOMOUS, GENERIC, OE
from bayesma.revman.result import RevManResult

__all__ = ["HEADER", "write_revman_csv"]

HEADER = ["Analysis group", "Analysis number", "Analysis name", "Subgroup", "Study",
          "Study year"]
_COLUMNS = {
    DICHOTOMOUS: {"ai": "Experimental cases", "n1i": "Experimental N",
                  "ci": "Control cases", "n2i": "Control N"},
    CONTINUOUS: {"m1i": "Experimental mean", "sd1i": "Experimental SD", "n1i": "Experimental N",
                 "m2i": "Control mean", "sd2i": "Control SD", "n2i": "Control N"},
    GENERIC: {"yi": "GIV Mean", "sei": "GIV SE"},
    OE: {"oe": "O-E", "var_oe": "Variance"},
}


def _guess_type(df: pd.DataFrame) -> str:
    for kind in (DICHOTOMOUS, CONTINUOUS, OE):
        if all(c in df.columns for c in _COLUMNS[kind]):
            return kind
    if "yi" in df.columns and ("sei" in df.columns or "vi" in df.columns):
        return GENERIC
    raise DataError("write_revman_csv: the table has none of the column sets ai, n1i, ci, "
                    "n2i / m1i, sd1i, n1i, m2i, sd2i, n2i / yi, sei (or vi) / oe, var_oe")


def _from_result(result) -> pd.DataFrame:
    if isinstance(result, RevManResult):
        s = result.studies
        return pd.DataFrame({"study": s["study"], "subgroup": s["subgroup"], "yi": s["yi"],
                             "sei": np.sqrt(s["vi"].to_numpy(float))})
    yi, vi = getattr(result, "yi", None), getattr(result, "vi", None)
    if yi is None or vi is None:
        raise DataError(f"write_revman_csv: cannot take study effects from a "
                        f"{type(result).__name__}; pass a DataFrame or a result with yi, vi")
    labels = getattr(result, "labels", None) or getattr(result, "slab", None)
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)
    study = list(labels) if labels is not None and len(labels) == len(yi) else [
        f"Study {i + 1}" for i in range(len(yi))]
    return pd.DataFrame({"study": study, "yi": yi, "sei": np.sqrt(vi)})


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return str(int(v)) if v.is_integer() else repr(v)
    return str(value)


def write_revman_csv(
    data,
    path: str | os.PathLike,
    *,
    data_type: str | None = None,
    study: str = "study",
    year: str | None = "year",
    subgroup: str | None = "subgroup",
    analysis_name: str = "",
    analysis_group: int = 1,
    analysis_number: int = 1,
) -> Path:
    """Write study data as a CSV in RevMan's data-import layout.

    Parameters
    ----------
    data : DataFrame or result
        A study table with metafor's column names (``ai, n1i, ci, n2i``;
        ``m1i, sd1i, n1i, m2i, sd2i, n2i``; ``yi`` with ``sei`` or ``vi``; ``oe, var_oe``),
        e.g. from :meth:`RevManReview.data`; or a :class:`RevManResult` (or any result
        with ``yi``, ``vi``), written as generic inverse-variance data.
    path : str or path-like
        The CSV file to write (UTF-8, with a header row).
    data_type : str, optional
        ``"dichotomous"``, ``"continuous"``, ``"generic inverse variance"`` or ``"O-E"``;
        default: from the columns present.
    study, year, subgroup : str or None
        Columns of study labels, years and subgroup names (``year`` and ``subgroup`` may be
        absent).
    analysis_name : str
        Written in ``Analysis name``.
    analysis_group, analysis_number : int
        RevMan's comparison and outcome numbers for the rows.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    DataError
        Missing columns or an unknown data type.
    BayesmaError
        The folder of ``path`` does not exist.
    """
    df = data.copy() if isinstance(data, pd.DataFrame) else _from_result(data)
    kind = data_type or _guess_type(df)
    if kind not in _COLUMNS:
        raise DataError(f"write_revman_csv: data_type must be one of "
                        f"{', '.join(_COLUMNS)}, got {kind!r}")
    if kind == GENERIC and "sei" not in df.columns and "vi" in df.columns:
        df["sei"] = np.sqrt(pd.to_numeric(df["vi"], errors="coerce"))
    cols = _COLUMNS[kind]
    require_columns(df, [study, *cols], what="write_revman_csv")
    header = HEADER + list(cols.values())
    out = Path(path)
    if not out.parent.is_dir():
        raise BayesmaError(f"write_revman_csv: directory {str(out.parent)!r} does not exist")
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for _, row in df.iterrows():
            fixed = [analysis_group, analysis_number, analysis_name,
                     row[subgroup] if subgroup and subgroup in df.columns else "",
                     row[study], row[year] if year and year in df.columns else ""]
            writer.writerow([_cell(v) for v in fixed] + [_cell(row[c]) for c in cols])
    return out

"""Reading RevMan's CSV tables (RevMan 5's analysis export, RevMan Web's data packages) as text.

Both are comma-separated with a header row; RevMan writes UTF-8 (often with a byte-order
mark) or, in older versions, Windows Latin-1. Every cell is read as text, so nothing is
coerced before the readers check it.
"""

from __future__ import annotations

import csv
import io
import math

import pandas as pd

from bayesma.errors import DataError
from bayesma.revman.outcome import to_float

__all__ = ["csv_table", "number"]


def csv_table(data: bytes, *, source: str, required: tuple[str, ...] = ()) -> pd.DataFrame:
    """A CSV file's cells as strings (header from the first row).

    Raises
    ------
    DataError
        Undecodable text, ragged rows (naming the line) or missing columns.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise DataError(f"{source}: the file is empty")
    header = [h.strip() for h in rows[0]]
    body = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            raise DataError(f"{source}: line {line} has {len(row)} fields, the header "
                            f"{len(header)}", rows=[line])
        body.append([c.strip() for c in row] + [""] * (len(header) - len(row)))
    table = pd.DataFrame(body, columns=header, dtype=object)
    table.index = range(2, 2 + len(table))  # index = line number in the file
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(repr(m) for m in missing)}; "
                        f"is this a RevMan file?", column=missing[0])
    return table


def number(table: pd.DataFrame, line: int, column: str, source: str) -> float:
    """The number in ``column`` at file line ``line``; empty -> NaN, text -> DataError."""
    if column not in table.columns:
        return math.nan
    raw = table.at[line, column]
    value = to_float(str(raw).replace(",", ""))  # RevMan may write thousands separators
    if math.isnan(value) and str(raw).strip() not in ("", "NA", "#N/A", "NaN"):
        raise DataError(f"{source}: line {line}, column {column!r}: {raw!r} is not a number",
                        column=column, rows=[line])
    return value

"""Reading and checking the columns given to ``escalc``: errors and warnings name the
column, the row and the study."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bayesma.data import describe_rows, numeric_column, warn_non_integer
from bayesma.effect_sizes.registry import ROLES
from bayesma.errors import DataError

__all__ = ["column_name", "fail_rows", "fmt_g", "read_column"]


def fail_rows(
    df: pd.DataFrame,
    mask: np.ndarray,
    column: str,
    message: str,
    detail: Any,
    slab: str | None,
) -> None:
    """Raise DataError for the rows in ``mask`` (if any); ``detail(i)`` describes row i."""
    if not mask.any():
        return
    pos = np.flatnonzero(mask)
    rows = list(df.index[pos])
    raise DataError(
        f"{message}; {describe_rows(df, rows, slab=slab)}: {detail(pos[0])}",
        column=column,
        rows=rows,
    )


#: arguments holding counts or sample sizes (fractional values draw a warning)
COUNT_ARGS = frozenset({"n1i", "n2i", "ai", "bi", "ci", "di", "ni", "x1i", "x2i", "xi"})


def read_column(
    df: pd.DataFrame,
    cols: dict[str, str],
    arg: str,
    slab: str | None,
    *,
    role: str | None = None,
    count: bool | None = None,
    **checks: bool,
) -> np.ndarray:
    """Read the column given for argument ``arg`` with numeric_column's checks.

    ``role`` overrides the argument's default role in messages (metafor reuses names:
    ``mi`` is non-events for proportions, a mean for MN); ``count`` says whether
    fractional values draw a warning (default: ``arg`` in :data:`COUNT_ARGS`). Count
    columns with fractional values are accepted, as by metafor, with a
    :class:`~bayesma.errors.NonIntegerCountWarning` naming column and rows.
    """
    what = f"{arg}: {role or ROLES[arg]}"
    x = numeric_column(df, cols[arg], what=what, slab=slab, **checks)
    if (arg in COUNT_ARGS) if count is None else count:
        warn_non_integer(df, cols[arg], x, what=what, slab=slab, stacklevel=5)
    return x


def column_name(cols: dict[str, str], arg: str, role: str | None = None) -> str:
    """``column 'x' (arg: role)`` for messages."""
    return f"column {cols[arg]!r} ({arg}: {role or ROLES[arg]})"


def fmt_g(x: float) -> str:
    """A number in ``%g`` format for messages."""
    return f"{x:g}"

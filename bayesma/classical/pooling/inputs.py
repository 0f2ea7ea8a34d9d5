"""Reading and checking the counts of 2x2 tables, single groups and person-time tables."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayesma.data import describe_rows, numeric_column
from bayesma.effect_sizes.corrections import zero_adjust
from bayesma.errors import DataError, SpecError

__all__ = ["adjust_cells", "pair_option", "pooled_rates", "pooled_tables", "read_props",
           "read_rates", "read_tables"]

ZERO_ADJUST = ("all", "only0", "if0all", "none")


def _fail(df: pd.DataFrame, mask: np.ndarray, column: str, message: str, slab: str | None) -> None:
    """Raise a DataError naming ``column`` and the rows in ``mask`` (if any)."""
    if mask.any():
        rows = list(df.index[np.flatnonzero(mask)])
        where = describe_rows(df, rows, slab=slab)
        raise DataError(f"{message}; {where}", column=column, rows=rows)


def _count(df: pd.DataFrame, column: str, what: str, slab: str | None) -> np.ndarray:
    """A column of counts: numeric, no missing values, >= 0 and whole numbers."""
    return numeric_column(df, column, what=what, nonnegative=True, integer=True, slab=slab)


def read_tables(
    df: pd.DataFrame,
    ai: str | None,
    bi: str | None,
    ci: str | None,
    di: str | None,
    n1i: str | None,
    n2i: str | None,
    slab: str | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cells ``a, b, c, d`` of the 2x2 tables (events/non-events of groups 1 and 2).

    ``bi``/``di`` or the group sizes ``n1i``/``n2i`` may be given; events larger than the
    group size, negative or fractional counts raise a :class:`DataError` naming column and rows.
    """
    if ai is None or ci is None or (bi is None and n1i is None) or (di is None and n2i is None):
        raise SpecError("give the columns ai, bi, ci, di (or ai, n1i, ci, n2i) of the 2x2 tables")
    out = []
    for ev, nonev, size, grp in ((ai, bi, n1i, "1"), (ci, di, n2i, "2")):
        x = _count(df, ev, f"events in group {grp}", slab)
        if nonev is not None:
            m = _count(df, nonev, f"non-events in group {grp}", slab)
            if size is not None:
                n = _count(df, size, f"size of group {grp}", slab)
                _fail(df, x + m != n, size, f"counts do not add up: {size!r} must equal "
                      f"{ev!r} + {nonev!r}", slab)
        else:
            n = _count(df, size, f"size of group {grp}", slab)
            _fail(df, x > n, ev, f"more events ({ev!r}) than patients ({size!r})", slab)
            m = n - x
        _fail(df, x + m <= 0, ev, f"group {grp} is empty", slab)
        out += [x, m]
    return out[0], out[1], out[2], out[3]


def read_rates(
    df: pd.DataFrame,
    x1i: str | None,
    x2i: str | None,
    t1i: str | None,
    t2i: str | None,
    slab: str | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Event counts and person-times of two groups (``x1i, x2i, t1i, t2i``)."""
    if None in (x1i, x2i, t1i, t2i):
        raise SpecError("give the columns x1i, x2i, t1i, t2i (events and person-times)")
    x1 = _count(df, x1i, "events in group 1", slab)
    x2 = _count(df, x2i, "events in group 2", slab)
    t1 = numeric_column(df, t1i, what="person-time in group 1", positive=True, slab=slab)
    t2 = numeric_column(df, t2i, what="person-time in group 2", positive=True, slab=slab)
    return x1, x2, t1, t2


def read_props(
    df: pd.DataFrame, xi: str | None, ni: str | None, slab: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """Events and sizes of single groups (``xi, ni``): 0 <= xi <= ni, ni > 0, whole numbers."""
    if xi is None or ni is None:
        raise SpecError("give the columns xi (events) and ni (group sizes)")
    x = _count(df, xi, "events", slab)
    n = numeric_column(df, ni, what="group size", positive=True, integer=True, slab=slab)
    _fail(df, x > n, xi, f"more events ({xi!r}) than patients ({ni!r})", slab)
    return x, n


def pair_option(value, default2, name: str, check=None) -> tuple:
    """metafor's one-or-two-valued ``add``/``to``/``drop00``: (escalc value, pooling value)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise SpecError(f"{name} takes one or two values, got {value!r}")
        pair = (value[0], value[1])
    else:
        pair = (value, default2)
    if check is not None:
        for v in pair:
            if v not in check:
                raise SpecError(f"unknown {name} {v!r}; choose one of {', '.join(check)}")
    return pair


def adjust_cells(cells: Sequence[np.ndarray], add: float, to: str) -> list[np.ndarray]:
    """Add ``add`` to every cell of the tables chosen by ``to`` (metafor rma.mh's second
    ``add``/``to`` values: ``"all"``, ``"only0"``, ``"if0all"``, ``"none"``): escalc's
    :func:`~bayesma.effect_sizes.corrections.zero_adjust` with every cell a trigger."""
    cells = [np.asarray(c, dtype=float) for c in cells]
    return zero_adjust(cells, cells, add, to)[0]


def pooled_tables(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, add: float,
                  to: str, drop00: bool) -> list[np.ndarray]:
    """The 2x2 tables a pooling method uses (metafor rma.mh / rma.peto, the second values
    of ``add``, ``to``, ``drop00``): tables without events (or with only events) in both
    groups left out when ``drop00``, then the continuity correction."""
    if drop00:
        keep = ~(((a == 0) & (c == 0)) | ((b == 0) & (d == 0)))
        a, b, c, d = a[keep], b[keep], c[keep], d[keep]
    return adjust_cells((a, b, c, d), add, to)


def pooled_rates(x1: np.ndarray, x2: np.ndarray, t1: np.ndarray, t2: np.ndarray, add: float,
                 to: str, drop00: bool) -> list[np.ndarray]:
    """The person-time tables rma.mh pools: no events in both groups left out when
    ``drop00``, then the continuity correction of the counts (metafor 3.8 rma.mh)."""
    if drop00:
        keep = ~((x1 == 0) & (x2 == 0))
        x1, x2, t1, t2 = x1[keep], x2[keep], t1[keep], t2[keep]
    x1, x2 = adjust_cells((x1, x2), add, to)
    return [x1, x2, t1, t2]

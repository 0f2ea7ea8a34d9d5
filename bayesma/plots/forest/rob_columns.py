"""Risk-of-bias columns at the right of a forest plot: a coloured dot with its symbol per domain.

As RevMan and ``meta::forest`` with ``rob()`` draw them: one narrow column per domain
(and the overall judgement), a circle in robvis's colour of the judgement with its
symbol (:mod:`bayesma.plots.rob_tools`), and a key under the graph naming the domains
and the judgements. The columns come from the study table: ``rob=True`` takes every
text column whose values are all judgement words of the tool, ``rob=[...]`` the
columns named.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count
from typing import Any

import pandas as pd

from bayesma.errors import BayesmaError, DataError
from bayesma.plots.forest.columns import Column
from bayesma.plots.rob_tools import RobTool, get_tool, level_colours, parse_judgements

__all__ = ["RobColumn", "column_letters", "fill_rob_cells", "rob_columns", "rob_key"]

_MAX_HEADER = 7  # longer column names get a letter (A, B, ..., Z, AA, AB, ...) and a key line
_CIRCLE = {"boxstyle": "circle,pad=0.18", "linewidth": 0.6, "edgecolor": "black"}


@dataclass
class RobColumn:
    """A risk-of-bias column: its table column, header, tool and judgement codes."""

    column: Column
    source: str
    tool: RobTool
    codes: list[str]
    colours: dict[str, str]


def _is_judgement_column(s: pd.Series, tool: RobTool) -> bool:
    if pd.api.types.is_numeric_dtype(s) or s.notna().sum() == 0:
        return False
    try:
        parse_judgements(s, tool, column=str(s.name))
    except DataError:
        return False
    return True


def column_letters(n: int) -> str:
    """Spreadsheet-style label of the n-th column (0 -> ``A``, 25 -> ``Z``, 26 -> ``AA``)."""
    if n < 0:
        raise BayesmaError(f"column_letters: n must be >= 0, got {n}")
    out = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(ord("A") + r) + out
    return out


def rob_columns(d: pd.DataFrame | None, rob: bool | str | Sequence[str] | None,
                tool: str = "generic", *, exclude: Sequence[str] = ()) -> list[RobColumn]:
    """The risk-of-bias columns asked for by ``forest_plot(rob=...)``.

    Raises
    ------
    DataError
        A named column that is not in the table, or holds words that are not
        judgements of the tool (naming column and row).
    BayesmaError
        ``rob=True`` and no column of judgements found, or no study table.
    """
    if rob is None or rob is False:
        return []
    if d is None:
        raise BayesmaError("rob=: the result carries no study table; pass data=")
    rt = get_tool(tool)
    if rob is True:
        names = [str(c) for c in d.columns if c not in set(exclude)
                 and _is_judgement_column(d[c], rt)]
        if not names:
            raise BayesmaError(f"rob=True: no column of {rt.name} judgement words in the data "
                               "(e.g. 'Low', 'Some concerns', 'High'); name them with "
                               "rob=[...]")
    else:
        names = [rob] if isinstance(rob, str) else [str(c) for c in rob]
    colours = level_colours(rt, "cochrane")
    out: list[RobColumn] = []
    short = {name for name in names if len(name) <= _MAX_HEADER}  # shown as they are
    # letters for long names: A, B, ..., Z, AA, AB, ... skipping any a short name shows
    letters = (lab for lab in map(column_letters, count()) if lab not in short)
    for name in names:
        if name not in d.columns:
            raise DataError(f"rob: {name!r} is not a column of the data", column=name)
        codes = parse_judgements(d[name], rt, column=name, frame=d)
        header = name if name in short else next(letters)
        col = Column(f"rob:{name}", header, "right", align="center", group="Risk of bias")
        out.append(RobColumn(col, name, rt, codes, colours))
    return out


def fill_rob_cells(row: Any, i: int, cols: list[RobColumn], dy: float) -> None:
    """Put study ``i``'s judgements into ``row`` (symbol text in a coloured circle)."""
    for rc in cols:
        code = rc.codes[i]
        lv = rc.tool.level(code)
        row.cells[rc.column.key] = lv.symbol or "\u2009"
        row.text_dy[rc.column.key] = dy
        row.font[rc.column.key] = {"color": "black", "weight": "bold",
                                   "bbox": {**_CIRCLE, "facecolor": rc.colours[code]}}


def rob_key(cols: list[RobColumn]) -> list[str]:
    """Footer lines: the domains behind lettered headers and the judgement symbols."""
    if not cols:
        return []
    lines = []
    named = [f"({rc.column.header}) {rc.source}" for rc in cols
             if rc.column.header != rc.source]
    if named:
        lines.append("Risk of bias: " + "; ".join(named))
    rt = cols[0].tool
    used = {c for rc in cols for c in rc.codes}
    sym = [f"{lv.symbol} {lv.label}" if lv.symbol else lv.label for lv in rt.levels
           if lv.code in used]
    lines.append(f"Risk-of-bias judgements ({rt.name}): " + ", ".join(sym))
    return lines

"""Text columns of a forest plot taken from the study table (per-arm data, user columns).

Per-arm columns follow the column mapping of the effect sizes: an explicit
``arm_columns`` mapping, else the mapping :func:`bayesma.escalc` records in
``data.attrs["columns"]`` (metafor's argument name -> the table's column, e.g.
``{"ai": "tpos", ...}``), else metafor's literal names (``ai, bi, ci, di``,
``n1i, n2i``, ``m1i, sd1i, ...``, ``ni``).

Means and SDs are printed with fixed decimals per column (as RevMan does): the fewest
decimals (at most 3) that show every value of the column exactly, so a column never mixes
``55`` with ``47.5``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayesma.errors import BayesmaError, DataError
from bayesma.formatting import fmt_num
from bayesma.plots import _style as st

__all__ = ["Column", "arm_columns", "extra_columns", "column_decimals", "fmt_cell"]

ARM_KEYS = ("ai", "bi", "ci", "di", "n1i", "n2i", "m1i", "sd1i", "m2i", "sd2i", "ni")
_MAX_DECIMALS = 3


@dataclass
class Column:
    """A text column (``side`` is ``"left"`` or ``"right"`` of the graph)."""

    key: str
    header: str
    side: str
    align: str = "right"
    group: str | None = None
    color: str = st.CLASSICAL
    width: float = 0.0
    x0: float = 0.0

    def anchor(self) -> tuple[float, str]:
        """x position (in) and horizontal alignment of the column's texts."""
        if self.align == "left":
            return self.x0, "left"
        if self.align == "center":
            return self.x0 + self.width / 2, "center"
        return self.x0 + self.width, "right"


def fmt_cell(v: Any) -> str:
    """A table value as a cell text (numbers compact, missing as empty)."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, int | float | np.integer | np.floating):
        return st.fmt_general(float(v))
    return str(v)


def column_decimals(values: np.ndarray) -> int:
    """The fewest decimals (0 to 3) that show every finite value exactly."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    for d in range(_MAX_DECIMALS + 1):
        if np.all(np.abs(np.round(v, d) - v) <= 1e-9 * np.maximum(1.0, np.abs(v))):
            return d
    return _MAX_DECIMALS


def _fixed(x: float, d: int) -> str:
    return fmt_num(x, d) if np.isfinite(x) else "NA"


def resolve_mapping(d: pd.DataFrame, mapping: Mapping[str, str] | None) -> dict[str, str]:
    """metafor name -> column of ``d``: explicit mapping, else escalc's record, else literal."""
    names = {k: k for k in ARM_KEYS}
    given = mapping if mapping else d.attrs.get("columns")
    if not given:
        return names
    if not isinstance(given, Mapping):
        raise BayesmaError("arm_columns must be a dict such as {'ai': 'tpos', 'bi': 'tneg'}")
    unknown = set(given) - set(ARM_KEYS)
    if unknown and mapping:
        raise BayesmaError(f"arm_columns: unknown key(s) {sorted(unknown)}; use "
                           f"{', '.join(ARM_KEYS)}")
    known = {k: str(v) for k, v in given.items() if k in names and v is not None}
    if mapping:
        missing = [v for v in known.values() if v not in d.columns]
        if missing:
            raise DataError(f"arm_columns: {missing[0]!r} is not a column of the data",
                            column=missing[0])
    names.update(known)
    return names


def arm_columns(d: pd.DataFrame, mapping: Mapping[str, str] | None,
                arm_labels: tuple[str, str]) -> list[tuple[Column, list[str]]]:
    """Per-arm data columns: events/total, mean (SD)/n, n per arm, or N."""
    names = resolve_mapping(d, mapping)

    def has(*keys: str) -> bool:
        return all(names[k] in d.columns for k in keys)

    def num(key: str) -> np.ndarray:
        return pd.to_numeric(d[names[key]], errors="coerce").to_numpy(dtype=float)

    a1, a2 = arm_labels
    out: list[tuple[Column, list[str]]] = []
    if has("ai", "ci") and (has("n1i", "n2i") or has("bi", "di")):
        tot1 = num("n1i") if has("n1i", "n2i") else num("ai") + num("bi")
        tot2 = num("n2i") if has("n1i", "n2i") else num("ci") + num("di")
        for arm, ev, tot in ((a1, num("ai"), tot1), (a2, num("ci"), tot2)):
            out.append((Column(f"arm:{arm}:events", "Events", "left", group=arm),
                        [st.fmt_count(x) for x in ev]))
            out.append((Column(f"arm:{arm}:total", "Total", "left", group=arm),
                        [st.fmt_count(x) for x in tot]))
    elif has("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"):
        dm = column_decimals(np.concatenate([num("m1i"), num("m2i")]))
        ds = column_decimals(np.concatenate([num("sd1i"), num("sd2i")]))
        for arm, m, s, n in ((a1, "m1i", "sd1i", "n1i"), (a2, "m2i", "sd2i", "n2i")):
            out.append((Column(f"arm:{arm}:mean", "Mean (SD)", "left", group=arm),
                        [f"{_fixed(a, dm)} ({_fixed(b, ds)})"
                         for a, b in zip(num(m), num(s), strict=True)]))
            out.append((Column(f"arm:{arm}:n", "n", "left", group=arm),
                        [st.fmt_count(x) for x in num(n)]))
    elif has("n1i", "n2i"):
        for arm, n in ((a1, "n1i"), (a2, "n2i")):
            out.append((Column(f"arm:{arm}:n", "n", "left", group=arm),
                        [st.fmt_count(x) for x in num(n)]))
    elif has("ni"):
        out.append((Column("arm:ni", "N", "left"), [st.fmt_count(x) for x in num("ni")]))
    return out


def extra_columns(d: pd.DataFrame | None, spec: str | Sequence[Any] | None,
                  mapping: Mapping[str, str] | None, arm_labels: tuple[str, str]
                  ) -> list[tuple[Column, list[str]]]:
    """The left data columns asked for by ``columns=`` (``"auto"``: the per-arm data)."""
    if spec is None or spec is False or d is None:
        return []
    if isinstance(spec, str):
        if spec == "auto":
            return arm_columns(d, mapping, arm_labels)
        spec = [spec]
    out: list[tuple[Column, list[str]]] = []
    for item in spec:
        if item == "arms":
            out += arm_columns(d, mapping, arm_labels)
            continue
        header, col = (item if isinstance(item, tuple) else (str(item), item))
        if col not in d.columns:
            raise DataError(f"columns: {col!r} is not a column of the data", column=col)
        out.append((Column(key=f"col:{col}", header=header, side="left", align="right"),
                    [fmt_cell(v) for v in d[col].to_numpy()]))
    return out


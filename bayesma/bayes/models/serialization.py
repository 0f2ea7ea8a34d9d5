"""Study tables to and from JSON (stored in a fit's ``data_table`` attribute).

:func:`table_to_json` writes the rows a model used; :func:`table_from_json` restores
them (column order, index, numeric/boolean/categorical dtypes, string ``attrs``) so that
``bm.load`` can rebuild the model. Only plain values are written: reading never
evaluates anything.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

__all__ = ["table_from_json", "table_to_json"]


def table_to_json(df: pd.DataFrame) -> str:
    """A JSON text of the study table that :func:`table_from_json` restores."""
    cols = {}
    dtypes = {}
    for c in df.columns:
        s = df[c]
        dtypes[str(c)] = str(s.dtype)
        vals = []
        for x in s.tolist():
            if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
                vals.append(None)
            elif isinstance(x, np.generic):
                vals.append(x.item())
            elif isinstance(x, int | float | str | bool):
                vals.append(x)
            else:
                vals.append(str(x))
        cols[str(c)] = vals
    index = [x.item() if isinstance(x, np.generic) else
             (x if isinstance(x, int | float | str) else str(x)) for x in df.index]
    return json.dumps({"columns": [str(c) for c in df.columns], "index": index,
                       "data": cols, "dtypes": dtypes, "attrs":
                       {k: v for k, v in df.attrs.items() if isinstance(v, str | int | float)}})


def table_from_json(text: str) -> pd.DataFrame:
    """The study table written by :func:`table_to_json`."""
    d = json.loads(text)
    df = pd.DataFrame({c: d["data"][c] for c in d["columns"]}, index=d["index"])
    for c, dt in d["dtypes"].items():
        if dt.startswith(("int", "float", "bool")):
            try:
                df[c] = df[c].astype(dt)
            except (TypeError, ValueError):
                pass
        elif dt == "category":
            df[c] = df[c].astype("category")
    df.attrs.update(d.get("attrs", {}))
    return df

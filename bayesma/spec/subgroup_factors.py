"""Several subgroup factors of an outcome: ``[model] by = ["duration", "age_group"]``.

A list in ``by`` gives every column its own subgroup analysis beside the outcome's model
(the pipeline's :mod:`bayesma.pipeline.subgroup_factors`); with ``type = "subgroups"``
the first column is the model's own grouping and the others are added.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from bayesma.errors import SpecError
from bayesma.spec.lines import KeyPath, closest

__all__ = ["split_subgroup_factors"]


def split_subgroup_factors(model: dict[str, Any], by_path: KeyPath, dat: pd.DataFrame,
                           fail: Callable[..., SpecError]) -> None:
    """Normalise ``model["by"]``: the model's grouping column (a string or None) stays in
    ``by``; ``model["factors"]`` lists the columns that get an extra subgroup analysis.

    Raises
    ------
    SpecError
        A column that is not in the data, a duplicate, or a factor with one level or
        missing values.
    """
    by = model.get("by")
    if isinstance(by, list):
        cols = [str(c) for c in by]
        if not cols:
            raise fail(by_path, "is an empty list; give at least one column")
        dup = sorted({c for c in cols if cols.count(c) > 1})
        if dup:
            raise fail(by_path, f"column {dup[0]!r} is listed twice")
        for j, c in enumerate(cols):
            if c not in dat.columns:
                guess = closest(c, [str(x) for x in dat.columns])
                raise fail((*by_path, j), f"column {c!r} is not in the data"
                           + (f"; did you mean {guess!r}?" if guess else ""))
            if dat[c].isna().any():
                raise fail((*by_path, j), f"column {c!r} has missing values; filter the "
                           "rows or fill them")
            if dat[c].nunique() < 2:
                raise fail((*by_path, j), f"column {c!r} has a single level; a subgroup "
                           "analysis needs at least two")
        main = model.get("type") == "subgroups"
        model["by"] = cols[0] if main else None
        model["factors"] = cols[1:] if main else cols
    else:
        model["factors"] = []

"""The record of converted rows that :func:`conv_fivenum` and :func:`conv_wald` keep in
``df.attrs["conversions"]``, and the warning they give for rows they leave alone.

``attrs["conversions"]`` is a DataFrame with one line per converted (or refused) row:

* ``row``: the index label of the row;
* ``function``: ``"conv_fivenum"`` or ``"conv_wald"``;
* ``inputs``: the argument names used, with their columns (``"min=lo, median=med, max=hi,
  n=n"``);
* ``method``: how (``"luo2016 / wan2014"``, ``"CI (95%)"``, ``"p-value"``...);
* ``outputs``: the columns filled (``"mean, sd"``, ``"vi"``, ``"yi, vi"``);
* ``note``: empty, or why the row was not converted (skewness test, n < 5).

Successive conversions append to it, so a report can show every row converted and how.
"""

from __future__ import annotations

import pandas as pd

from bayesma.errors import BayesmaWarning

__all__ = ["CONVERSION_COLUMNS", "ConversionWarning", "record_conversions"]

#: Columns of ``attrs["conversions"]``.
CONVERSION_COLUMNS = ("row", "function", "inputs", "method", "outputs", "note")


class ConversionWarning(BayesmaWarning):
    """A conversion left rows unconverted or found them suspicious; the message names them."""


def record_conversions(out: pd.DataFrame, entries: list[dict]) -> None:
    """Append ``entries`` (dicts of :data:`CONVERSION_COLUMNS`) to ``attrs["conversions"]``."""
    new = pd.DataFrame(entries, columns=list(CONVERSION_COLUMNS))
    old = out.attrs.get("conversions")
    if isinstance(old, pd.DataFrame) and len(old):
        new = pd.concat([old, new], ignore_index=True)
    out.attrs["conversions"] = new

"""``rma_peto``: Peto's one-step pooled log odds ratio (Yusuf et al. 1985; metafor ``rma.peto``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesma.classical.pooling.inputs import ZERO_ADJUST, pair_option, pooled_tables, read_tables
from bayesma.classical.pooling.result import PoolingResult, finish_pooling
from bayesma.classical.settings import parse_level
from bayesma.errors import DataError

__all__ = ["rma_peto"]


def rma_peto(
    data: pd.DataFrame,
    *,
    ai: str | None = None,
    bi: str | None = None,
    ci: str | None = None,
    di: str | None = None,
    n1i: str | None = None,
    n2i: str | None = None,
    add: float | tuple[float, float] = 0.5,
    to: str | tuple[str, str] = "only0",
    drop00: bool | tuple[bool, bool] = True,
    level: float = 95,
    slab: str | None = None,
) -> PoolingResult:
    """Peto's (one-step, O - E) pooled log odds ratio, as metafor 3.8's ``rma.peto``.

    The estimate is ``sum(O - E) / sum(V)`` with the hypergeometric mean ``E`` and variance
    ``V`` of the events in group 1 (Yusuf et al. 1985), SE ``1 / sqrt(sum(V))``; Q is
    ``sum((O - E)² / V) - sum(O - E)² / sum(V)`` over the tables with ``V > 0``.

    Parameters
    ----------
    data : DataFrame
        The study table.
    ai, bi, ci, di, n1i, n2i : str, optional
        Columns of the 2x2 tables: events/non-events of groups 1 and 2 (or ``ai, n1i,
        ci, n2i``).
    add, to, drop00 : one value or a pair
        As metafor: the first value applies to the study yi/vi of :func:`bayesma.escalc`
        (measure ``"PETO"``), the second (default ``0``, ``"none"``, ``False``) to the
        tables that are pooled.
    level : float
        Confidence level, 95 or 0.95.
    slab : str, optional
        Study label column.

    Returns
    -------
    PoolingResult
        ``estimate, se, zval, pval, ci_low, ci_high`` (log OR), ``estimate_exp`` ...,
        ``q, q_pval, i2, h2, k``; ``cmh`` and ``tarone`` are NaN.

    Raises
    ------
    DataError
        Bad counts (naming column and row), or no table with both outcomes.
    """
    add2 = pair_option(add, 0.0, "add")
    to2 = pair_option(to, "none", "to", ZERO_ADJUST)
    drop2 = pair_option(drop00, False, "drop00")
    lv = parse_level(level)
    data = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    a, b, c, d = pooled_tables(*read_tables(data, ai, bi, ci, di, n1i, n2i, slab),
                               float(add2[1]), to2[1], bool(drop2[1]))
    n1, n2 = a + b, c + d
    n = n1 + n2
    xt, yt = a + c, b + d
    e = xt * n1 / n  # Yusuf et al. (1985): expected events in group 1 (metafor rma.peto)
    v = xt * yt * (n1 / n) * (n2 / n) / (n - 1)  # hypergeometric variance (metafor rma.peto)
    if v.sum() == 0:
        raise DataError("one of the two outcomes never occurred in any of the tables: Peto's "
                        "method cannot be used", column=ai)
    est = (a - e).sum() / v.sum()
    pos = v > 0
    q = max(0.0, float(((a - e)[pos] ** 2 / v[pos]).sum() - (a - e).sum() ** 2 / v[pos].sum()))
    cols = {"ai": ai, "bi": bi, "ci": ci, "di": di, "n1i": n1i, "n2i": n2i}
    fit = {"estimate": est, "se": 1 / np.sqrt(v.sum()), "q": q, "k_het": int(pos.sum()),
           "k_pos": int(pos.sum())}
    return finish_pooling("PETO", "PETO", fit, len(a), data, cols,
                          {"add": add2, "to": to2, "drop00": drop2}, lv, slab)

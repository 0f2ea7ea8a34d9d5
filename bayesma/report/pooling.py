"""Report tables for data extraction (issue 13): the pooling methods for count data
beside the inverse-variance model, and the conversions applied to the study table.

Only arranges numbers the pipeline computed (:mod:`bayesma.pipeline.pooling`) and the
conversion records of ``bm.conv_fivenum`` / ``bm.conv_wald``.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from bayesma.measures import get_measure
from bayesma.pipeline import OutcomeResult
from bayesma.report.tables import Table
from bayesma.report.text import DASH, fmt, fmt_ci, p_text, pct

__all__ = ["conversions_table", "pooling_section"]

_NAMES = {"MH": "Mantel-Haenszel", "Peto": "Peto (one-step)", "GLMM": "Binomial-normal GLMM"}


def _get(fit: Any, name: str) -> Any:
    """A numeric field of a pooling result, None when it lacks it or it is NaN."""
    v = getattr(fit, name, None)
    try:
        return None if v is None or not math.isfinite(float(v)) else float(v)
    except (TypeError, ValueError):
        return None


def pooling_section(res: OutcomeResult) -> dict[str, Any] | None:
    """The pooled estimate of every method (inverse variance first), or None."""
    pooled = getattr(res, "pooling", None) or {}
    if not pooled:
        return None
    o, c = res.spec, res.classical
    m = get_measure(o.measure)
    tr = m.back if m.log_scale or o.measure == "PETO" else (lambda x: x)
    d = max(m.digits, 2)
    rows = [[f"Inverse variance ({c.method}, {c.test})",
             fmt_ci(tr(c.estimate), tr(c.ci_low), tr(c.ci_high), d), p_text(c.pval),
             fmt(c.tau2, 4), f"{fmt(c.i2, 1)}%", f"{fmt(c.q, 2)}"]]
    for name, fit in pooled.items():
        est, lo, hi = (_get(fit, a) for a in ("estimate", "ci_low", "ci_high"))
        # MH and Peto are equal-effects methods: no tau²
        tau2 = _get(fit, "tau2") if name == "GLMM" else None
        i2, q = _get(fit, "i2"), _get(fit, "q")
        pv = _get(fit, "pval")
        ci = DASH if None in (est, lo, hi) else fmt_ci(tr(est), tr(lo), tr(hi), d)
        rows.append([_NAMES.get(name, name), ci, p_text(pv) if pv is not None else DASH,
                     fmt(tau2, 4) if tau2 is not None else DASH,
                     f"{fmt(i2, 1)}%" if i2 is not None else DASH,
                     fmt(q, 2) if q is not None else DASH])
    extra = []
    mh = pooled.get("MH")
    if mh is not None and _get(mh, "cmh") is not None:
        extra.append(f"Cochran-Mantel-Haenszel test: {fmt(mh.cmh, 2)}, {p_text(mh.cmh_pval)}")
    if mh is not None and _get(mh, "breslow_day") is not None:
        extra.append(f"Breslow-Day test: {fmt(mh.breslow_day, 2)}, "
                     f"{p_text(mh.breslow_day_pval)}")
    if mh is not None and _get(mh, "tarone") is not None:
        extra.append(f"Tarone's test for heterogeneity: {fmt(mh.tarone, 2)}, "
                     f"{p_text(mh.tarone_pval)}")
    scale = f" ({o.measure})" if m.log_scale else ""
    return {"table": Table(["Method", f"Pooled{scale} [{pct(float(o.model['level']))} CI]",
                            "p", "τ²", "I²", "Q"], rows, num_from=1),
            "note": "; ".join(extra) + ("." if extra else "")
            + " Mantel-Haenszel and Peto pool 2x2 tables without continuity corrections of "
              "the pooled estimate (metafor's rma.mh and rma.peto); the GLMM uses the exact "
              "binomial likelihood (metafor's rma.glmm)."}


def _value(data: pd.DataFrame, row: Any, col: str) -> str:
    """``col = value`` of one cell of the study table (integers without decimals)."""
    if col not in data.columns or row not in data.index:
        return f"{col} = {DASH}"
    v = data.at[row, col]
    try:
        x = float(v)
    except (TypeError, ValueError):
        return f"{col} = {v}"
    # as many decimals as the value has, up to 4 (7, 9.5, 4.1235)
    digits = next((d for d in range(4) if math.isfinite(x) and round(x, d) == x), 4)
    return f"{col} = {fmt(x, digits)}"


def conversions_table(res: OutcomeResult) -> Table | None:
    """Which rows were converted, from which values, how, and to what
    (``attrs["conversions"]`` of the study table, with the values of the study table)."""
    conv = res.spec.data.attrs.get("conversions")
    if conv is None or (isinstance(conv, pd.DataFrame) and conv.empty):
        return None
    df = (conv if isinstance(conv, pd.DataFrame) else pd.DataFrame(conv))
    o = res.spec
    data = o.data
    labels = o.label and o.label in data.columns
    rows = []
    for r in df.itertuples(index=False):
        rec = r._asdict()
        row = rec.get("row")
        # "q1=q1_1, median=med1, n=n1": metafor's argument = the column it came from
        cols = [part.split("=", 1)[1].strip() for part in str(rec.get("inputs", "")).split(",")
                if "=" in part]
        outs = [c.strip() for c in str(rec.get("outputs", "")).split(",") if c.strip()]
        study = (str(data.at[row, o.label]) if labels and row in data.index
                 else (DASH if labels else str(row)))
        note = str(rec.get("note") or "")
        rows.append([study, str(rec.get("function", "")),
                     ", ".join(_value(data, row, c) for c in cols),
                     str(rec.get("method", "")),
                     ", ".join(_value(data, row, c) for c in outs) if outs else DASH,
                     note])
    head = ["Study" if labels else "Row", "Conversion", "From", "Method", "Result", "Note"]
    if all(not r[-1] for r in rows):
        head, rows = head[:-1], [r[:-1] for r in rows]
    return Table(head, rows, num_from=len(head), text_cols=tuple(range(len(head))))

"""Running one RevMan analysis and comparing it with the numbers RevMan stored."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bayesma.revman.outcome import REPORTED_FIELDS, SUBGROUP_TEST_FIELDS, Outcome
from bayesma.revman.result import RevManResult
from bayesma.revman.statistics import pool, subgroup_test

__all__ = ["CHECK_COLUMNS", "analyse_outcome", "compare"]

CHECK_COLUMNS = ["id", "subgroup", "field", "analysed", "reported", "abs_diff", "rel_diff",
                 "tolerance", "ok"]
# RevMan's chi² tail areas (its own algorithm) differ from exact ones by up to 1.3e-5
# relative (and ~1e-15 absolute for p < 1e-12) in the reviews we checked, so p-values of
# chi² tests are compared at 2e-5 relative + 1e-12 absolute; everything else at 1e-6.
_RTOL = {"q_pval": 2e-5, "q_between_pval": 2e-5}
_ATOL = {"q_pval": 1e-12, "q_between_pval": 1e-12}
_NATURAL = ("estimate", "ci_low", "ci_high")


def _pooled(outcome: Outcome, rows: pd.DataFrame) -> dict:
    if outcome.swap_events and {"ai", "ci"} <= set(rows.columns):
        rows = rows.assign(ai=rows["n1i"] - rows["ai"], ci=rows["n2i"] - rows["ci"])
    return pool(outcome.data_type, outcome.measure, outcome.method, outcome.model, rows,
                level=outcome.level)


def analyse_outcome(outcome: Outcome) -> RevManResult:
    """The analysis of ``outcome`` with RevMan's settings (method, measure, model)."""
    main = _pooled(outcome, outcome.studies)
    fields = ("se", *REPORTED_FIELDS)
    subgroups = None
    test = dict.fromkeys(SUBGROUP_TEST_FIELDS, math.nan)
    if outcome.subgroups:
        rows = []
        for name in outcome.subgroups:
            part = _pooled(outcome, outcome.studies[outcome.studies["subgroup"] == name])
            rows.append({"subgroup": name, **{f: part[f] for f in fields}})
        subgroups = pd.DataFrame(rows, columns=["subgroup", *fields])
        test = subgroup_test(subgroups["estimate"].to_numpy(float),
                             subgroups["se"].to_numpy(float))
    studies = pd.DataFrame({
        "study": outcome.studies["study"].to_numpy(), "subgroup": outcome.studies["subgroup"],
        "yi": main["yi"], "vi": main["vi"], "weight": main["weight"], "used": main["used"],
    })
    return RevManResult(
        id=outcome.id, method=outcome.method, measure=outcome.measure, model=outcome.model,
        log_scale=outcome.log_scale, level=outcome.level, subgroups=subgroups,
        studies=studies, **{f: main[f] for f in fields}, **test,
    )


def _row(oid: str, sub: str, field: str, ours: float, theirs: float, log_scale: bool,
         decimals: int | None) -> dict:
    if decimals is not None and log_scale and field in _NATURAL:
        ours, theirs = math.exp(ours), math.exp(theirs)  # compared as stored: natural scale
    rtol = _RTOL.get(field, 1e-6)
    tol = rtol * abs(theirs) + _ATOL.get(field, 1e-12)
    if decimals is not None:
        tol = max(tol, 0.5 * 10.0**-decimals * (1 + 1e-9))
    diff = abs(ours - theirs)
    return {"id": oid, "subgroup": sub, "field": field, "analysed": ours, "reported": theirs,
            "abs_diff": diff, "rel_diff": diff / abs(theirs) if theirs else math.nan,
            "tolerance": tol, "ok": bool(diff <= tol)}


def compare(outcome: Outcome, result: RevManResult) -> list[dict]:
    """Rows of the check table: every number the file stores against ours.

    ``outcome.decimals`` is how many decimals the format stores (``None``: full
    precision); a number is ``ok`` within ``max(rtol * |reported|, half a unit of the
    last decimal)``.
    Fields the file does not store (NaN) are left out; a stored number we could not
    compute is not ok.
    """
    rows = []
    decimals = outcome.decimals
    mine = result.to_dict()
    for field in (*REPORTED_FIELDS, *SUBGROUP_TEST_FIELDS):
        theirs = float(outcome.reported.get(field, math.nan))
        if not math.isnan(theirs):
            rows.append(_row(outcome.id, "", field, float(mine[field]), theirs,
                             outcome.log_scale, decimals))
    rep = outcome.reported_subgroups
    if rep is not None and result.subgroups is not None and len(rep):
        ours = result.subgroups.set_index("subgroup")
        for _, stored in rep.iterrows():
            name = stored["subgroup"]
            for field in REPORTED_FIELDS:
                theirs = float(stored[field])
                if math.isnan(theirs):
                    continue
                value = float(ours.at[name, field]) if name in ours.index else math.nan
                rows.append(_row(outcome.id, name, field, value, theirs, outcome.log_scale,
                                 decimals))
    for r in rows:
        if np.isnan(r["analysed"]):
            r["ok"] = False
    return rows

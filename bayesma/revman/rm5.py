"""Reading RevMan 5 files (``.rm5``, XML): outcomes, study data, stored results, risk of bias.

The layout follows RevMan 5's schema as read by R package meta's ``read.rm5``
(Schwarzer): ``ANALYSES_AND_DATA/COMPARISON/{DICH,CONT,IV,IPD}_OUTCOME`` with optional
``*_SUBGROUP`` children and ``*_DATA`` rows whose ``STUDY_ID`` points into
``STUDIES/INCLUDED_STUDIES/STUDY``; risk-of-bias judgements are ``QUALITY_ITEM`` entries.
RevMan stores ``LOG_*`` attributes as log10; we use the natural log of ``EFFECT_SIZE``.
"""

from __future__ import annotations

import math

import pandas as pd

from bayesma.errors import DataError
from bayesma.measures import is_log_scale
from bayesma.revman.outcome import (
    CONTINUOUS,
    DICHOTOMOUS,
    GENERIC,
    OE,
    REPORTED_FIELDS,
    STUDY_COLUMNS,
    Outcome,
    measure_code,
    method_code,
    to_float,
)
from bayesma.revman.xmltree import Node, parse_xml

__all__ = ["read_rm5", "rob_judgement"]

_KINDS = {"DICH": DICHOTOMOUS, "CONT": CONTINUOUS, "IV": GENERIC, "IPD": OE}
# data-row attributes -> metafor's column names, per data type
_ATTRS = {
    DICHOTOMOUS: {"EVENTS_1": "ai", "TOTAL_1": "n1i", "EVENTS_2": "ci", "TOTAL_2": "n2i"},
    CONTINUOUS: {"MEAN_1": "m1i", "SD_1": "sd1i", "TOTAL_1": "n1i",
                 "MEAN_2": "m2i", "SD_2": "sd2i", "TOTAL_2": "n2i"},
    GENERIC: {"EFFECT_SIZE": "yi", "SE": "sei", "TOTAL_1": "n1i", "TOTAL_2": "n2i"},
    OE: {"O_E": "oe", "VAR": "var_oe", "TOTAL_1": "n1i", "TOTAL_2": "n2i"},
}
# RevMan 5's risk-of-bias results (Higgins et al. 2011 tool): YES = low risk
_ROB = {"YES": "Low", "NO": "High", "UNKNOWN": "Unclear", "UNCLEAR": "Unclear"}


def rob_judgement(result: str | None) -> str:
    """RevMan 5's ``RESULT`` of a risk-of-bias entry -> ``"Low"``, ``"High"`` or ``"Unclear"``."""
    text = (result or "").strip()
    return _ROB.get(text.upper(), text)


def _number(node: Node, attr: str, source: str, *, required: bool = False) -> float:
    raw = node.get(attr)
    value = to_float(raw)
    if math.isnan(value) and raw not in (None, "") and str(raw).strip().upper() not in (
            "NAN", "NA", "#N/A"):
        raise DataError(f"{source}: line {node.line}, element {node.tag}: attribute "
                        f"{attr}={raw!r} is not a number", column=attr)
    if required and math.isnan(value):
        raise DataError(f"{source}: line {node.line}, element {node.tag} has no {attr}",
                        column=attr)
    return value


def _studies(root: Node) -> dict[str, tuple[str, str]]:
    """Study id -> (name, year) of the included (and any other listed) studies."""
    out: dict[str, tuple[str, str]] = {}
    for study in root.iter("STUDY"):
        sid = study.get("ID")
        if sid:
            out[sid] = (study.get("NAME") or sid, study.get("YEAR") or "")
    return out


def _risk_of_bias(root: Node) -> pd.DataFrame:
    """One row per study id, one column per risk-of-bias domain (RevMan's item names)."""
    table: dict[str, dict[str, str]] = {}
    for item in root.iter("QUALITY_ITEM"):
        domain = item.findtext("NAME") or item.get("ID") or "domain"
        for entry in item.iter("QUALITY_ITEM_DATA_ENTRY"):
            sid = entry.get("STUDY_ID")
            if sid:  # group-level items: the first entry of a study is kept
                table.setdefault(sid, {}).setdefault(domain, rob_judgement(entry.get("RESULT")))
    return pd.DataFrame.from_dict(table, orient="index")


def _reported(node: Node, log_scale: bool, source: str) -> dict[str, float]:
    if node.get("ESTIMABLE") == "NO":  # RevMan stores zeros for analyses it cannot estimate
        return {**dict.fromkeys(REPORTED_FIELDS, math.nan), "k": 0.0}
    est, low, high = (_number(node, a, source) for a in ("EFFECT_SIZE", "CI_START", "CI_END"))
    if log_scale:
        est, low, high = (math.log(v) if v > 0 else math.nan for v in (est, low, high))
    df = _number(node, "DF", source)
    return {
        "estimate": est, "ci_low": low, "ci_high": high,
        "z": math.copysign(_number(node, "Z", source), est),  # RevMan stores |z|
        "pval": _number(node, "P_Z", source),
        "q": _number(node, "CHI2", source), "q_df": df,
        "q_pval": _number(node, "P_CHI2", source), "i2": _number(node, "I2", source),
        "tau2": _number(node, "TAU2", source), "k": df + 1 if not math.isnan(df) else math.nan,
    }


def _rows(parent: Node, kind: str, data_type: str, subgroup: str, studies: dict,
          source: str) -> list[dict]:
    rows = []
    for data in parent.findall(f"{kind}_DATA"):
        sid = data.get("STUDY_ID")
        if not sid:
            raise DataError(f"{source}: line {data.line}, element {data.tag} has no STUDY_ID",
                            column="STUDY_ID")
        name, year = studies.get(sid, (sid, ""))
        row = {"study": name, "year": year, "subgroup": subgroup, "study_id": sid}
        for attr, col in _ATTRS[data_type].items():
            row[col] = _number(data, attr, source)
        rows.append(row)
    return rows


def _outcome(node: Node, kind: str, comparison: Node, studies: dict, source: str) -> Outcome:
    data_type = _KINDS[kind]
    oid = node.get("ID")
    if not oid:
        raise DataError(f"{source}: line {node.line}, element {node.tag} has no ID",
                        column="ID")
    where = f"{source} ({oid}, line {node.line})"
    raw_measure = node.get("EFFECT_MEASURE") or node.findtext("EFFECT_MEASURE")
    measure = measure_code(raw_measure) or ("PETO" if data_type == OE else "")
    method = method_code(node.get("METHOD"), measure, "PETO" if data_type == OE else "IV",
                         where=f"{where}, outcome {node.findtext('NAME')!r}, attribute METHOD",
                         column="METHOD", data_type=data_type)
    if data_type == GENERIC:
        log_scale = node.get("LOG_DATA", "YES" if is_log_scale(measure) else "NO") == "YES"
    else:
        log_scale = is_log_scale(measure) or data_type == OE
    rows, subgroups, sub_reported = [], [], []
    for sub in node.findall(f"{kind}_SUBGROUP"):
        label = sub.findtext("NAME") or sub.get("ID") or f"subgroup {len(subgroups) + 1}"
        subgroups.append(label)
        rows += _rows(sub, kind, data_type, label, studies, where)
        sub_reported.append({"subgroup": label, **_reported(sub, log_scale, where)})
    rows += _rows(node, kind, data_type, "", studies, where)
    columns = ["study", "year", "subgroup", *STUDY_COLUMNS[data_type], "study_id"]
    reported = _reported(node, log_scale, where)
    if node.get("TOTALS", "YES") != "YES":  # subtotals only: RevMan pooled no overall effect
        reported = dict.fromkeys(REPORTED_FIELDS, math.nan)
    has_subgroups = node.get("SUBGROUPS") == "YES" and bool(subgroups)
    nan = math.nan
    reported.update({
        "q_between": _number(node, "Q", where) if has_subgroups else nan,
        "q_between_df": nan,
        "q_between_pval": _number(node, "P_Q", where) if has_subgroups else nan,
        "i2_between": _number(node, "I2_Q", where) if has_subgroups else nan,
    })
    return Outcome(
        id=oid, comparison=comparison.findtext("NAME"), name=node.findtext("NAME"),
        data_type=data_type, method=method, measure=measure,
        model="random" if node.get("RANDOM") == "YES" else "fixed", log_scale=log_scale,
        studies=pd.DataFrame(rows, columns=columns), subgroups=subgroups,
        reported=reported,
        reported_subgroups=pd.DataFrame(sub_reported, columns=["subgroup", *REPORTED_FIELDS]),
        level=(_number(node, "CI_TOTAL", where) / 100) if node.get("CI_TOTAL") else 0.95,
        source=where, swap_events=node.get("SWAP_EVENTS") == "YES",
    )


def read_rm5(data: bytes, *, source: str = "RevMan file"
             ) -> tuple[str, list[Outcome], pd.DataFrame]:
    """Parse a RevMan 5 file: ``(title, outcomes, risk_of_bias)``.

    Raises
    ------
    DataError
        Malformed XML, a file that is not a RevMan review, or a bad number (naming the
        element, attribute and line).
    """
    root = parse_xml(data, source=source)
    if root.tag != "COCHRANE_REVIEW":
        raise DataError(f"{source}: line {root.line}: the root element is <{root.tag}>, "
                        f"not <COCHRANE_REVIEW>: not a RevMan 5 file")
    analyses = next(root.iter("ANALYSES_AND_DATA"), None)
    if analyses is None:
        raise DataError(f"{source}: the review has no ANALYSES_AND_DATA element")
    studies = _studies(root)
    outcomes = []
    for comparison in analyses.findall("COMPARISON"):
        for node in comparison.children:
            kind = node.tag.removesuffix("_OUTCOME")
            if node.tag.endswith("_OUTCOME") and kind in _KINDS:
                outcomes.append(_outcome(node, kind, comparison, studies, source))
    title = next((t.text for t in root.iter("TITLE")), "")
    rob = _risk_of_bias(root)
    if not rob.empty:
        rob.index = [studies.get(i, (i, ""))[0] for i in rob.index]
    return title, outcomes, rob

"""Reading the CSV that RevMan 5 exports for its analyses ("Export > Data and analyses").

One row per comparison (outcome number 0), per outcome (a "Data Type" such as ``DIC``,
``CON``, ``IV``, ``OE``), per subgroup (subgroup number > 0 with pooled numbers) and per
study; numbers are written with 8 decimals, effect estimates of ratio measures on the
ratio scale. Columns as in R package meta's example ``Fleiss1993_CR.csv``.
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
    outcome_id,
)
from bayesma.revman.tables import csv_table, number

__all__ = ["read_revman_csv"]

_TYPES = {"DIC": DICHOTOMOUS, "CON": CONTINUOUS, "IV": GENERIC, "GIV": GENERIC,
          "IVO": GENERIC, "OE": OE, "O-E": OE, "IPD": OE}
_REQUIRED = ("Comparison Number", "Outcome Number", "Subgroup Number", "Name", "Data Type",
             "Statistical Method", "Effect Measure", "Analysis Model")
_STUDY = {"Events 1": "ai", "Mean 1": "m1i", "SD 1": "sd1i", "Total 1": "n1i",
          "Events 2": "ci", "Mean 2": "m2i", "SD 2": "sd2i", "Total 2": "n2i",
          "O-E": "oe", "Var": "var_oe"}
_LOG_ENTERED = "Entered data are on log scale (Generic Inverse Variance only)"


def _flag(table: pd.DataFrame, line: int, column: str, *, default: bool = False) -> bool:
    """A YES/NO (TRUE/FALSE) column of the export; absent or empty -> ``default``."""
    if column not in table.columns or not table.at[line, column]:
        return default
    return table.at[line, column].strip().upper() in ("YES", "TRUE", "Y", "1")


def _int(table: pd.DataFrame, line: int, column: str, source: str) -> int:
    value = number(table, line, column, source)
    if math.isnan(value) or value != int(value):
        raise DataError(f"{source}: line {line}, column {column!r} must be a whole number, "
                        f"got {table.at[line, column]!r}", column=column, rows=[line])
    return int(value)


def _reported(table, line, log_scale, source) -> dict[str, float]:
    def num(col):
        return number(table, line, col, source)

    est, low, high = num("Effect Estimate"), num("CI Start"), num("CI End")
    if log_scale:
        est, low, high = (math.log(v) if v > 0 else math.nan for v in (est, low, high))
    df = num("df")
    return {"estimate": est, "ci_low": low, "ci_high": high,
            "z": math.copysign(num("Z"), est) if not math.isnan(est) else num("Z"),
            "pval": num("P(Z)"), "q": num("Q"), "q_df": df, "q_pval": num("P(Q)"),
            "i2": num("I²(Q)"), "tau2": num("Tau²"), "k": df + 1}


def read_revman_csv(data: bytes, *, source: str = "RevMan CSV") -> tuple[str, list[Outcome]]:
    """Parse RevMan 5's analysis CSV: ``(title, outcomes)``.

    Raises
    ------
    DataError
        Missing columns, unknown data types, non-numeric cells (naming line and column).
    """
    table = csv_table(data, source=source, required=_REQUIRED)
    for alias, col in (("I2(Q)", "I²(Q)"), ("Tau2", "Tau²"), ("I2(Qint)", "I²(Qint)")):
        if alias in table.columns and col not in table.columns:
            table = table.rename(columns={alias: col})
    comparisons: dict[int, str] = {}
    outcomes: dict[str, dict] = {}
    for line in table.index:
        cmp_no = _int(table, line, "Comparison Number", source)
        out_no = _int(table, line, "Outcome Number", source)
        sub_no = _int(table, line, "Subgroup Number", source)
        name = table.at[line, "Name"]
        if out_no == 0:
            comparisons[cmp_no] = name
            continue
        oid = outcome_id(cmp_no, out_no)
        kind = table.at[line, "Data Type"].upper()
        if kind and kind not in _TYPES:
            raise DataError(f"{source}: line {line}: unknown Data Type {kind!r} (RevMan's "
                            f"are DIC, CON, IV, OE)", column="Data Type", rows=[line])
        if kind and oid not in outcomes:  # the outcome's own row
            measure = measure_code(table.at[line, "Effect Measure"])
            data_type = _TYPES[kind]
            method = method_code(table.at[line, "Statistical Method"], measure,
                                 "PETO" if data_type == OE else "IV",
                                 where=f"{source}: line {line}, outcome {oid} ({name!r}), "
                                       "column 'Statistical Method'",
                                 column="Statistical Method", data_type=data_type)
            entered_log = _flag(table, line, _LOG_ENTERED, default=True)
            outcomes[oid] = {"line": line, "cmp": cmp_no, "name": name, "type": data_type,
                             "method": method, "measure": measure,
                             "log": is_log_scale(measure) or data_type == OE,
                             "entered_log": entered_log,
                             "swap": _flag(table, line, "Swap event and non-event"),
                             "model": table.at[line, "Analysis Model"].lower(),
                             "subs": {}, "rows": []}
            continue
        if oid not in outcomes:
            raise DataError(f"{source}: line {line}: a row of outcome {oid} before the "
                            f"row that defines the outcome", rows=[line])
        spec = outcomes[oid]
        if kind:  # a subgroup's row: R package meta's read.rm5 tells them by the data type
            spec["subs"][sub_no] = (name, line)
            continue
        row = {"study": name, "year": table.get("Year of study", {}).get(line, ""),
               "sub_no": sub_no}
        for col, ours in _STUDY.items():
            row[ours] = number(table, line, col, source)
        est, se = number(table, line, "Effect Estimate", source), number(table, line, "SE", source)
        if spec["type"] == GENERIC and spec["log"] and not spec["entered_log"]:
            est = math.log(est) if est > 0 else math.nan  # entered as ratios: to the log scale
        elif spec["type"] != GENERIC and spec["log"]:
            est = math.log(est) if est > 0 else math.nan  # RevMan shows ratios
        row["yi"], row["sei"] = est, se
        spec["rows"].append(row)
    result = []
    for oid, spec in outcomes.items():
        subs = dict(sorted(spec["subs"].items()))
        names = {no: nm for no, (nm, _) in subs.items()}
        studies = pd.DataFrame(spec["rows"], columns=["study", "year", "sub_no",
                                                       *_STUDY.values(), "yi", "sei"])
        studies["subgroup"] = [names.get(n, "") for n in studies["sub_no"]]
        if spec["type"] == OE and studies["var_oe"].isna().all():
            # an export without the O-E and Var columns: back from the study effect and SE
            studies["var_oe"] = 1 / studies["sei"] ** 2
            studies["oe"] = studies["yi"] * studies["var_oe"]
        cols = ["study", "year", "subgroup", *STUDY_COLUMNS[spec["type"]]]
        reported = _reported(table, spec["line"], spec["log"], source)
        has_subs = bool(subs)
        reported.update({
            "q_between": number(table, spec["line"], "Qint", source) if has_subs else math.nan,
            "q_between_df": math.nan,
            "q_between_pval": number(table, spec["line"], "P(Qint)", source)
            if has_subs else math.nan,
            "i2_between": number(table, spec["line"], "I²(Qint)", source)
            if has_subs else math.nan,
        })
        sub_rep = [{"subgroup": nm, **_reported(table, ln, spec["log"], source)}
                   for nm, ln in subs.values()]
        result.append(Outcome(
            id=oid, comparison=comparisons.get(spec["cmp"], ""), name=spec["name"],
            data_type=spec["type"], method=spec["method"], measure=spec["measure"],
            model="random" if spec["model"].startswith("random") else "fixed",
            log_scale=spec["log"], studies=studies[cols].reset_index(drop=True),
            subgroups=list(names.values()), reported=reported,
            reported_subgroups=pd.DataFrame(sub_rep, columns=["subgroup", *REPORTED_FIELDS]),
            source=f"{source}, line {spec['line']}", decimals=8, swap_events=spec["swap"],
        ))
    title = next(iter(comparisons.values()), "")
    return title, result

"""Reading a RevMan Web / Cochrane Library data package (``.zip``) in memory, never extracting it.

A data package holds ``*-data-rows.csv`` (one row per study and analysis),
``*-overall-estimates-and-settings.csv`` (one row per analysis: settings and pooled
numbers, 6 decimals), ``*-subgroup-estimates.csv``, ``*-risk-of-bias.csv`` and
``*-study-information.csv``, either directly or inside a nested ``*-data.zip`` (the layout
R package meta's ``read.cdir`` reads). Members are read by name only, with limits on their
number, their sizes and the nesting, so a hostile archive cannot exhaust memory and no
path inside it is ever used on disk.
"""

from __future__ import annotations

import io
import math
import zipfile

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
    to_float,
)
from bayesma.revman.tables import csv_table, number

__all__ = ["MAX_MEMBER_BYTES", "MAX_MEMBERS", "read_data_package"]

MAX_MEMBERS = 2000  #: members per archive
MAX_MEMBER_BYTES = 50_000_000  #: uncompressed bytes per member read
_MAX_RATIO = 200  # uncompressed / compressed size: beyond it a member is a likely zip bomb

# RevMan Web's data types (R package meta's read.cdir: "Contrast level" is generic data)
_TYPES = {"dichotomous": DICHOTOMOUS, "continuous": CONTINUOUS, "contrast level": GENERIC,
          "generic inverse variance": GENERIC, "o-e": OE, "o-e and variance": OE}
_STUDY = {"Experimental cases": "ai", "Experimental N": "n1i", "Control cases": "ci",
          "Control N": "n2i", "Experimental mean": "m1i", "Experimental SD": "sd1i",
          "Control mean": "m2i", "Control SD": "sd2i", "GIV Mean": "yi", "GIV SE": "sei",
          "O-E": "oe", "Variance": "var_oe"}
_WANTED = ("data-rows.csv", "overall-estimates-and-settings.csv", "subgroup-estimates.csv",
           "risk-of-bias.csv", "study-information.csv")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: str) -> bytes:
    if info.file_size > MAX_MEMBER_BYTES or (
            info.compress_size and info.file_size / info.compress_size > _MAX_RATIO
            and info.file_size > 1_000_000):
        raise DataError(f"{source}: member {info.filename!r} would unpack to "
                        f"{info.file_size} bytes; refusing it (possible zip bomb)")
    with zf.open(info) as handle:
        data = handle.read(MAX_MEMBER_BYTES + 1)  # never trust the header's size alone
    if len(data) > MAX_MEMBER_BYTES:
        raise DataError(f"{source}: member {info.filename!r} is larger than "
                        f"{MAX_MEMBER_BYTES} bytes; refusing it")
    return data


def _members(data: bytes, source: str, depth: int = 0) -> dict[str, bytes]:
    """The wanted CSV members (by their name's ending), looking one nested zip deep."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as err:
        raise DataError(f"{source}: not a readable zip archive ({err})") from None
    found: dict[str, bytes] = {}
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise DataError(f"{source}: {len(infos)} members (more than {MAX_MEMBERS}); "
                            f"refusing the archive")
        for info in infos:
            name = info.filename.rsplit("/", 1)[-1].lower()
            if info.is_dir():
                continue
            key = next((w for w in _WANTED if name.endswith(w)), None)
            if key and key not in found:
                found[key] = _read_member(zf, info, source)
            elif name.endswith(".zip") and depth == 0:
                for k, v in _members(_read_member(zf, info, source),
                                     f"{source}:{info.filename}", depth + 1).items():
                    found.setdefault(k, v)
    return found


def _reported(table, line, log_scale, source, prefix="Heterogeneity ") -> dict[str, float]:
    def num(col):
        return number(table, line, col, source)

    est, low, high = num("Mean"), num("CI start"), num("CI end")
    if est == 0 and low == 0 and high == 0:  # RevMan Web writes zeros when it did not pool
        return {**dict.fromkeys(REPORTED_FIELDS, math.nan)}
    if log_scale:
        est, low, high = (math.log(v) if v > 0 else math.nan for v in (est, low, high))
    df = num(prefix + "df")
    z = num("Effect Z")
    return {"estimate": est, "ci_low": low, "ci_high": high,
            "z": math.copysign(z, est) if not math.isnan(est) else z, "pval": num("Effect P"),
            "q": num(prefix + "Chi²"), "q_df": df, "q_pval": num(prefix + "P"),
            "i2": num(prefix + "I²"), "tau2": num(prefix + "Tau²"), "k": df + 1}


def _key(table, line, source) -> tuple[int, int]:
    a, b = (number(table, line, c, source) for c in ("Analysis group", "Analysis number"))
    if math.isnan(a) or math.isnan(b):
        raise DataError(f"{source}: line {line}: no analysis group / number", rows=[line])
    return int(a), int(b)


def read_data_package(data: bytes, *, source: str = "RevMan data package"
                      ) -> tuple[str, list[Outcome], pd.DataFrame]:
    """Parse a RevMan Web data package: ``(title, outcomes, risk_of_bias)``.

    Raises
    ------
    DataError
        Not a zip, missing data files, oversized members, bad cells (naming file and line).
    """
    files = _members(data, source)
    for need in ("data-rows.csv", "overall-estimates-and-settings.csv"):
        if need not in files:
            raise DataError(f"{source}: no '*-{need}' in the archive: not a RevMan data package")
    src_o = f"{source}:overall-estimates-and-settings.csv"
    overall = csv_table(files["overall-estimates-and-settings.csv"], source=src_o,
                        required=("Analysis group", "Analysis number", "Data type",
                                  "Effect measure", "Analysis model"))
    src_d = f"{source}:data-rows.csv"
    rows = csv_table(files["data-rows.csv"], source=src_d,
                     required=("Analysis group", "Analysis number", "Study"))
    subs = (csv_table(files["subgroup-estimates.csv"], source=f"{source}:subgroup-estimates.csv")
            if "subgroup-estimates.csv" in files else pd.DataFrame())
    outcomes = []
    for line in overall.index:
        key = _key(overall, line, src_o)
        kind = overall.at[line, "Data type"].strip().lower()
        if kind not in _TYPES:
            raise DataError(f"{src_o}: line {line}: unknown data type {kind!r}",
                            column="Data type", rows=[line])
        data_type = _TYPES[kind]
        measure = measure_code(overall.at[line, "Effect measure"])
        label = overall.get("Analysis name", pd.Series(dtype=object)).get(line, "")
        method = method_code(overall.get("Statistical method", pd.Series(dtype=object))
                             .get(line, ""), measure, "PETO" if data_type == OE else "IV",
                             where=f"{src_o}: line {line}, outcome {outcome_id(*key)} "
                                   f"({label!r}), column 'Statistical method'",
                             column="Statistical method", data_type=data_type)
        log_flag = str(overall.get("Log-scale data", pd.Series(dtype=object)).get(line, ""))
        log_scale = is_log_scale(measure) or data_type == OE or (
            data_type == GENERIC and log_flag.lower() == "true")
        mine = [ln for ln in rows.index if _key(rows, ln, src_d) == key]
        table = []
        for ln in mine:
            row = {"study": rows.at[ln, "Study"], "year": rows.get("Study year", {}).get(ln, ""),
                   "subgroup": rows.get("Subgroup", {}).get(ln, "")}
            for col, ours in _STUDY.items():
                row[ours] = number(rows, ln, col, src_d)
            table.append(row)
        studies = pd.DataFrame(table, columns=["study", "year", "subgroup", *_STUDY.values()])
        order = list(dict.fromkeys(s for s in studies["subgroup"] if s))
        sub_rep = []
        if len(subs):
            src_s = f"{source}:subgroup-estimates.csv"
            for ln in subs.index:
                if _key(subs, ln, src_s) == key:
                    sub_rep.append({"subgroup": subs.at[ln, "Subgroup"],
                                    **_reported(subs, ln, log_scale, src_s)})
        reported = _reported(overall, line, log_scale, src_o)
        has = bool(order)
        reported.update({
            "q_between": number(overall, line, "Subgroup Chi²", src_o) if has else math.nan,
            "q_between_df": number(overall, line, "Subgroup df", src_o) if has else math.nan,
            "q_between_pval": number(overall, line, "Subgroup P", src_o) if has else math.nan,
            "i2_between": number(overall, line, "Subgroup I²", src_o) if has else math.nan,
        })
        ci = overall.get("Estimate CI", pd.Series(dtype=object)).get(line, "95%") or "95%"
        if not 0 < to_float(ci.rstrip("%")) < 100:
            raise DataError(f"{src_o}: line {line}, column 'Estimate CI': {ci!r} is not a "
                            f"confidence level such as '95%'", column="Estimate CI", rows=[line])
        outcomes.append(Outcome(
            id=outcome_id(*key), comparison=overall.get("Analysis group name",
                                                       pd.Series(dtype=object)).get(line, ""),
            name=overall.get("Analysis name", pd.Series(dtype=object)).get(line, ""),
            data_type=data_type, method=method, measure=measure,
            model="random" if overall.at[line, "Analysis model"].lower().startswith("random")
            else "fixed", log_scale=log_scale,
            studies=studies[["study", "year", "subgroup", *STUDY_COLUMNS[data_type]]],
            subgroups=order, reported=reported,
            reported_subgroups=pd.DataFrame(sub_rep, columns=["subgroup", *REPORTED_FIELDS]),
            level=float(ci.rstrip("%")) / 100, source=f"{src_o}, line {line}", decimals=6,
            swap_events=str(overall.get("Swap event and non-event", pd.Series(dtype=object))
                            .get(line, "")).lower() == "true",
        ))
    rob = pd.DataFrame()
    if "risk-of-bias.csv" in files:
        raw = csv_table(files["risk-of-bias.csv"], source=f"{source}:risk-of-bias.csv",
                        required=("Study",))
        cols = {c: c.split(":", 1)[1].strip() for c in raw.columns
                if c.lower().startswith("domain (judgement)")}
        rob = raw.set_index("Study")[list(cols)].rename(columns=cols)
    title = outcomes[0].comparison if outcomes else ""
    return title, outcomes, rob

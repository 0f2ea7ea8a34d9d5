"""RevMan reviews in all three formats: every stored number is reproduced by ``analyse``,
and the study tables equal the files' data.

References (tests/reference/revman/README.md): R package meta's Fleiss1993 example as
``.rm5``, RevMan 5 analysis CSV and RevMan Web data package; three Cochrane-style reviews
(``.rm5``, RevMan 5.0-5.4). Tolerances are RevMan's stored precision, stated in
``RevManReview.check``: 1e-6 relative for ``.rm5`` (full doubles; chi² p-values 2e-5,
RevMan's own tail-area algorithm), half a unit of the 8th / 6th decimal for the CSV /
data package.
"""

from __future__ import annotations

import csv
import io
import math
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesma as bm

REF = Path(__file__).resolve().parents[1] / "reference" / "revman"
FILES = {
    "fleiss_rm5": "Fleiss1993.rm5",
    "fleiss_csv": "Fleiss1993_CR.csv",
    "fleiss_zip": "Fleiss1993.zip",
    "sore_throat": "CD000023_antibiotics_sore_throat.rm5",
    "rotavirus": "CD008521_rotavirus_vaccines.rm5",
    "gad": "benzodiazepines_pregabalin_gad.rm5",
}
# numbers each file stores (overall + subgroups), so a reader that silently skips cannot pass
N_CHECKED = {"fleiss_rm5": 13, "fleiss_csv": 22, "fleiss_zip": 10, "sore_throat": 483,
             "rotavirus": 69, "gad": 176}


@pytest.fixture(scope="module")
def reviews():
    return {k: bm.read_revman(REF / f) for k, f in FILES.items()}


@pytest.mark.parametrize("key", list(FILES))
def test_every_stored_number_is_reproduced(reviews, key):
    check = reviews[key].check()
    assert len(check) == N_CHECKED[key]
    bad = check[~check["ok"]]
    assert bad.empty, bad.to_string()


def test_formats_and_outcomes(reviews):
    assert [reviews[k].format for k in ("fleiss_rm5", "fleiss_csv", "fleiss_zip")] == [
        "rm5", "csv", "data package"]
    out = reviews["sore_throat"].outcomes
    assert list(out.columns) == ["id", "comparison", "name", "data_type", "method", "measure",
                                 "model", "k", "subgroups"]
    assert len(out) == 21 and out["id"].str.fullmatch(r"CMP-\d{3}\.\d{2}").all()
    row = out.set_index("id").loc["CMP-001.04"]
    assert (row["method"], row["measure"], row["model"], row["data_type"]) == (
        "MH", "RR", "random", "dichotomous")
    assert len(row["subgroups"]) == 3
    for key in ("fleiss_rm5", "fleiss_csv", "fleiss_zip"):
        first = reviews[key].outcomes.iloc[0]
        assert (first["id"], first["method"], first["measure"], first["model"], first["k"]) \
            == ("CMP-001.01", "MH", "OR", "fixed", 7)
    rota = reviews["rotavirus"].outcomes.set_index("id")
    assert tuple(rota.loc["CMP-001.01", ["method", "measure", "model"]]) == ("IV", "OR", "random")


def test_pooled_estimate_matches_stored_ratio(reviews):
    # the Fleiss aspirin OR as RevMan printed it: 0.8968655609130709 [0.8405144, 0.9569947]
    res = reviews["fleiss_rm5"].analyse("CMP-001.01")
    assert math.isclose(res.estimate_exp, 0.8968655609130709, rel_tol=1e-9)
    assert math.isclose(res.ci_high_exp, 0.9569947088336491, rel_tol=1e-9)
    assert math.isclose(res.estimate, math.log(0.8968655609130709), rel_tol=1e-9)
    sub = reviews["sore_throat"].analyse("CMP-001.04")
    assert list(sub.subgroups["subgroup"]) == reviews["sore_throat"].outcome(
        "CMP-001.04").subgroups
    assert math.isclose(sub.q_between, 13.853972946994332, rel_tol=1e-9)
    assert sub.q_between_df == 2
    assert "test for subgroup differences: Chi² = 13.85, df = 2, p < 0.001" in str(sub)


def _rm5_rows(path: Path, oid: str) -> list[dict]:
    root = ET.parse(path).getroot()  # trusted reference file; independent of our parser
    names = {s.get("ID"): s.get("NAME") for s in root.iter("STUDY")}
    node = next(n for n in root.iter() if n.tag.endswith("_OUTCOME") and n.get("ID") == oid)
    return [{"study": names[d.get("STUDY_ID")], **d.attrib} for d in node.iter()
            if d.tag.endswith("_DATA")]


@pytest.mark.parametrize("key, oid", [("sore_throat", "CMP-004.03"), ("gad", "CMP-001.06"),
                                      ("rotavirus", "CMP-001.01"), ("fleiss_rm5", "CMP-001.02")])
def test_rm5_study_tables_equal_the_file(reviews, key, oid):
    table = reviews[key].data(oid)
    rows = _rm5_rows(REF / FILES[key], oid)
    assert list(table["study"]) == [r["study"] for r in rows]
    pairs = {"ai": "EVENTS_1", "n1i": "TOTAL_1", "ci": "EVENTS_2", "n2i": "TOTAL_2",
             "m1i": "MEAN_1", "sd1i": "SD_1", "m2i": "MEAN_2", "sd2i": "SD_2"}
    for col, attr in pairs.items():
        if col in table.columns:
            assert np.array_equal(table[col].to_numpy(float), [float(r[attr]) for r in rows])


def test_study_tables_agree_across_formats(reviews):
    tabs = [reviews[k].data("CMP-001.01").sort_values("study").reset_index(drop=True)
            for k in ("fleiss_rm5", "fleiss_csv", "fleiss_zip")]
    for t in tabs[1:]:
        assert list(t["study"]) == list(tabs[0]["study"])
        for col in ("ai", "n1i", "ci", "n2i"):
            assert np.array_equal(t[col].to_numpy(float), tabs[0][col].to_numpy(float))
        assert list(t["year"].astype(str)) == list(tabs[0]["year"].astype(str))
    cont = [reviews[k].data("CMP-001.02").sort_values("study").reset_index(drop=True)
            for k in ("fleiss_rm5", "fleiss_csv", "fleiss_zip")]
    for t in cont[1:]:
        for col in ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"):
            assert np.array_equal(t[col].to_numpy(float), cont[0][col].to_numpy(float))


def test_csv_and_package_tables_equal_their_files(reviews):
    with open(REF / FILES["fleiss_csv"], newline="", encoding="utf-8-sig") as fh:
        rows = [r for r in csv.DictReader(fh) if r["Outcome Number"] == "1"
                and not r["Data Type"]]
    table = reviews["fleiss_csv"].data("CMP-001.01")
    assert list(table["study"]) == [r["Name"] for r in rows]
    assert list(table["ai"]) == [float(r["Events 1"]) for r in rows]
    with zipfile.ZipFile(REF / FILES["fleiss_zip"]) as outer:
        inner_name = next(n for n in outer.namelist() if n.endswith("-data.zip"))
        with zipfile.ZipFile(io.BytesIO(outer.read(inner_name))) as inner:
            name = next(n for n in inner.namelist() if n.endswith("data-rows.csv"))
            raw = pd.read_csv(io.BytesIO(inner.read(name)), encoding="utf-8-sig")
    raw = raw[raw["Analysis number"] == 1]
    table = reviews["fleiss_zip"].data("CMP-001.01")
    assert list(table["study"]) == list(raw["Study"])
    assert np.array_equal(table["n2i"].to_numpy(float), raw["Control N"].to_numpy(float))


def test_risk_of_bias_columns(reviews):
    table = reviews["sore_throat"].data("CMP-001.01")
    domain = "Allocation concealment (selection bias)"
    assert domain in table.columns
    assert set(table[domain].dropna()) <= {"Low", "High", "Unclear"}
    assert table[domain].notna().all()
    pkg = reviews["fleiss_zip"].data("CMP-001.01")
    assert (pkg["Allocation concealment?"] == "Not applicable").all()

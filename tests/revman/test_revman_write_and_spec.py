"""``write_revman_csv`` writes RevMan's data-import layout; specs read a RevMan outcome."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

import bayesma as bm
from bayesma.errors import DataError, SpecError
from bayesma.spec import parse_spec

REF = Path(__file__).resolve().parents[1] / "reference" / "revman"
SORE = "CD000023_antibiotics_sore_throat.rm5"


@pytest.fixture(scope="module")
def review():
    return bm.read_revman(REF / SORE)


def _rows(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_dichotomous_table_round_trips(review, tmp_path):
    table = review.data("CMP-001.02")
    out = bm.write_revman_csv(table, tmp_path / "d.csv", analysis_name="Sore throat day 3",
                              analysis_number=2)
    rows = _rows(out)
    assert list(rows[0]) == ["Analysis group", "Analysis number", "Analysis name", "Subgroup",
                             "Study", "Study year", "Experimental cases", "Experimental N",
                             "Control cases", "Control N"]
    assert [r["Study"] for r in rows] == list(table["study"])
    assert [r["Subgroup"] for r in rows] == list(table["subgroup"])
    assert [int(r["Experimental cases"]) for r in rows] == list(table["ai"].astype(int))
    assert {r["Analysis number"] for r in rows} == {"2"}


def test_continuous_and_results(review, tmp_path):
    gad = bm.read_revman(REF / "benzodiazepines_pregabalin_gad.rm5")
    table = gad.data("CMP-001.06")
    rows = _rows(bm.write_revman_csv(table, tmp_path / "c.csv"))
    assert [float(r["Control SD"]) for r in rows] == list(table["sd2i"])
    res = review.analyse("CMP-001.01")
    rows = _rows(bm.write_revman_csv(res, tmp_path / "g.csv"))
    used = res.studies["used"].to_numpy()
    assert np.allclose([float(r["GIV Mean"]) for r in rows], res.studies["yi"][used], rtol=1e-15)
    assert np.allclose([float(r["GIV SE"]) for r in rows],
                       np.sqrt(res.studies["vi"][used]), rtol=1e-15)
    with pytest.raises(DataError, match="none of the column sets"):
        bm.write_revman_csv(table[["study", "year"]], tmp_path / "x.csv")


SPEC = """
title = "Antibiotics for sore throat"
[data]
path = "{path}"
{outcome}
[effect]
measure = "RR"
ai = "ai"
n1i = "n1i"
ci = "ci"
n2i = "n2i"
label = "study"
"""


def test_spec_reads_a_revman_outcome():
    spec = parse_spec(SPEC.format(path=SORE, outcome='outcome = "CMP-001.01"'), base_dir=REF)
    data = spec.outcomes[0].data
    assert len(data) == 15 and "yi" in data.columns
    assert math.isclose(float(data["yi"].iloc[0]),
                        math.log((119 / 277) / (129 / 198)), rel_tol=1e-12)


def test_spec_errors_name_the_outcomes():
    with pytest.raises(SpecError, match=r"21 RevMan analyses: choose one") as err:
        parse_spec(SPEC.format(path=SORE, outcome=""), base_dir=REF)
    assert 'outcome = "CMP-001.01"' in err.value.hint
    with pytest.raises(SpecError, match=r"no outcome 'CMP-099.01'") as err:
        parse_spec(SPEC.format(path=SORE, outcome='outcome = "CMP-099.01"'), base_dir=REF)
    assert "CMP-004.08" not in err.value.hint and "CMP-001.01" in err.value.hint


def test_spec_shorthand_data_and_outcome_at_the_top():
    """``data = "review.rm5"`` with ``outcome = "CMP-001.01"`` at the top of a spec is the
    ``[data]`` section with ``path`` and ``outcome``."""
    long = parse_spec(SPEC.format(path=SORE, outcome='outcome = "CMP-001.01"'), base_dir=REF)
    body = SPEC.split("[effect]", 1)[1]
    short = parse_spec(f'data = "{SORE}"\noutcome = "CMP-001.01"\n\n[effect]{body}',
                       base_dir=REF)
    assert short.outcomes[0].data["yi"].equals(long.outcomes[0].data["yi"])

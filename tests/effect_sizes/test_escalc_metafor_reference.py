"""escalc's new measures against metafor 3.8.1 (tests/reference/escalc/make_escalc.R).

Every case of escalc.json: a measure on a metadat (or constructed) table with metafor's
arguments and options; yi and vi must agree to 1e-8 relative (NA in R = NaN here, which
bayesma announces with an UndefinedEffectWarning).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesma.effect_sizes import escalc
from bayesma.errors import DataError

REF = Path(__file__).parent.parent / "reference" / "escalc"
CASES = json.loads((REF / "escalc.json").read_text())["cases"]


def _arr(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _case_id(case: dict) -> str:
    opts = case["options"] or {}
    extra = ",".join(f"{k}={v}" for k, v in opts.items())
    return f"{case['measure']}-{case['data']}" + (f"-{extra}" if extra else "")


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_escalc_matches_metafor(case: dict) -> None:
    data = pd.read_csv(REF / f"{case['data']}.csv")
    opts = dict(case["options"] or {})
    if any(v == 0 for v in case["vi"]):
        # metafor returns vi = 0 (e.g. PR of 0/n without correction); bayesma refuses a
        # study without uncertainty, naming the rows
        with pytest.raises(DataError, match="sampling variance is <= 0"):
            escalc(case["measure"], data, **case["args"], **opts)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NaN rows are announced; checked elsewhere
        out = escalc(case["measure"], data, **case["args"], **opts)
    for col in ("yi", "vi"):
        want = _arr(case[col])
        got = out[col].to_numpy(float)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=col)
        ok = ~np.isnan(want)
        np.testing.assert_allclose(got[ok], want[ok], rtol=1e-8, atol=0, err_msg=col)


def test_reference_covers_every_new_measure_on_two_datasets() -> None:
    new = {"SMCC", "SMCR", "SMCRH", "MC", "PR", "PLN", "PLO", "PAS", "PFT", "IR", "IRLN",
           "IRS", "IRFT", "IRR", "IRD", "IRSD", "UCOR", "PCOR", "ZPCOR", "SPCOR", "CVR",
           "VR", "MN", "MNLN", "CVLN", "SDLN", "PBIT", "OR2DN", "OR2DL", "ARAW", "AHW",
           "ABT", "ROMC", "CVRC", "VRC", "D2ORN", "D2ORL"}
    seen: dict[str, set[str]] = {}
    for c in CASES:
        seen.setdefault(c["measure"], set()).add(c["data"])
    assert {m for m in new if len(seen.get(m, ())) >= 2} == new
    smd_t = {c["data"] for c in CASES if c["measure"] == "SMD" and "ti" in c["args"]}
    assert len(smd_t) >= 2

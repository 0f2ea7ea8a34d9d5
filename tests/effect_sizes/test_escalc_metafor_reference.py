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

from bayesma.effect_sizes import MEASURES, escalc
from bayesma.errors import DataError

REF = Path(__file__).parent.parent / "reference" / "escalc"
_JSON = json.loads((REF / "escalc.json").read_text())
CASES = _JSON["cases"]
#: RTET solved exactly in R (uniroot on mvtnorm's bivariate normal, tol 1e-13)
RTET_EXACT = _JSON["rtet_exact"]


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
    if case["measure"] in ("SMD1", "SMD1H", "SMN") and any(v is None for v in case["yi"]):
        # metafor's NA for groups too small for Hedges' c(n - 1): bayesma names the rows
        with pytest.raises(DataError, match="must be >= 3"):
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
        if case["measure"] == "RTET":
            # metafor's .rtet stops Nelder-Mead at reltol 1e-8 of the log-likelihood and
            # inverts a finite-difference Hessian (ndeps 1e-3): rho is good to ~1e-4 and vi
            # to ~1e-4 relative; bayesma solves the saturated maximum exactly, checked
            # against R's exact solution to 1e-9 below
            tol = {"yi": dict(rtol=0, atol=1e-4), "vi": dict(rtol=1e-4, atol=0)}[col]
            np.testing.assert_allclose(got[ok], want[ok], err_msg=col, **tol)
            if col == "yi":
                np.testing.assert_allclose(got, RTET_EXACT[case["data"]], rtol=1e-9,
                                           atol=1e-12)
            continue
        np.testing.assert_allclose(got[ok], want[ok], rtol=1e-8, atol=0, err_msg=col)


def test_every_metafor_measure_is_computed() -> None:
    # metafor 3.8.1 escalc's list of measures (escalc.r: "Unknown 'measure' specified.")
    metafor = set("""RR OR PETO RD AS PHI YUQ YUY RTET PBIT OR2D OR2DN OR2DL MPRD MPRR MPOR
        MPORC MPPETO MPORM IRR IRD IRSD MD SMD SMDH SMD1 SMD1H ROM CVR VR RPB RBIS D2OR D2ORN
        D2ORL COR UCOR ZCOR PCOR ZPCOR SPCOR PR PLN PLO PAS PFT IR IRLN IRS IRFT MN MNLN CVLN
        SDLN SMN MC SMCC SMCR SMCRH ROMC CVRC VRC ARAW AHW ABT REH GEN""".split())
    assert metafor <= set(MEASURES)


def test_reference_covers_every_new_measure_on_two_datasets() -> None:
    new = {"SMCC", "SMCR", "SMCRH", "MC", "PR", "PLN", "PLO", "PAS", "PFT", "IR", "IRLN",
           "IRS", "IRFT", "IRR", "IRD", "IRSD", "UCOR", "PCOR", "ZPCOR", "SPCOR", "CVR",
           "VR", "MN", "MNLN", "CVLN", "SDLN", "PBIT", "OR2DN", "OR2DL", "ARAW", "AHW",
           "ABT", "ROMC", "CVRC", "VRC", "D2ORN", "D2ORL",
           # session 19: the rest of metafor 3.8.1's measures
           "AS", "PHI", "YUQ", "YUY", "RTET", "OR2D", "MPRD", "MPRR", "MPOR", "MPORC",
           "MPPETO", "MPORM", "SMD1", "SMD1H", "RPB", "RBIS", "D2OR", "SMN", "REH"}
    seen: dict[str, set[str]] = {}
    for c in CASES:
        if all(v is not None for v in c["yi"]):  # a dataset with values, not only NA
            seen.setdefault(c["measure"], set()).add(c["data"])
    assert {m for m in new if len(seen.get(m, ())) >= 2} == new
    smd_t = {c["data"] for c in CASES if c["measure"] == "SMD" and "ti" in c["args"]}
    assert len(smd_t) >= 2

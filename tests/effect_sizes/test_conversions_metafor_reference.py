"""conv_fivenum and conv_wald against metafor 4.0-0's conv.fivenum / conv.wald
(tests/reference/escalc/make_conversions.R; metafor 3.8.1 has neither function).

Everything agrees to 1e-8 relative, also walter2007, whose expected range of n normals is
a numerical integral (R's integrate() with rel.tol = 1.2e-4 against QUADPACK at 1e-12
here; measured difference 1.5e-10).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesma.effect_sizes import conv_fivenum, conv_wald

REF = Path(__file__).parent.parent / "reference" / "escalc"
DATA = json.loads((REF / "conversions.json").read_text())


def _arr(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _close(got: np.ndarray, want: np.ndarray, rtol: float, what: str) -> None:
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=what)
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=rtol, atol=0, err_msg=what)


def _fid(c: dict) -> str:
    return f"{c['data']}-" + ",".join(f"{k}={v}" for k, v in (c["options"] or {}).items())


@pytest.mark.parametrize("case", DATA["fivenum"], ids=[_fid(c) for c in DATA["fivenum"]])
def test_conv_fivenum_matches_metafor(case: dict) -> None:
    df = pd.read_csv(REF / f"{case['data']}.csv")
    opts = dict(case["options"] or {})
    if isinstance(opts.get("method"), list):
        opts["method"] = tuple(opts["method"])
    cols = {a: a for a in ("min", "q1", "median", "q3", "max", "n")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = conv_fivenum(df, **cols, **opts)
    _close(out["mean"].to_numpy(float), _arr(case["mean"]), 1e-8, "mean")
    _close(out["sd"].to_numpy(float), _arr(case["sd"]), 1e-8, "sd")
    test = out.attrs["fivenum_test"]
    _close(test["tval"].to_numpy(float), _arr(case["tval"]), 1e-8, "tval")
    _close(test["crit"].to_numpy(float), _arr(case["crit"]), 1e-8, "crit")
    assert test["sig"].tolist() == [bool(s) for s in case["sig"]]


@pytest.mark.parametrize("case", DATA["wald"], ids=[_fid(c) for c in DATA["wald"]])
def test_conv_wald_matches_metafor(case: dict) -> None:
    df = pd.read_csv(REF / f"{case['data']}.csv")
    opts = dict(case["options"] or {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = conv_wald(df, **case["args"], **opts, transf=case.get("transf") or None)
    _close(out["yi"].to_numpy(float), _arr(case["yi"]), 1e-8, "yi")
    _close(out["vi"].to_numpy(float), _arr(case["vi"]), 1e-8, "vi")

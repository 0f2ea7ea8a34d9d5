"""rma_peto against metafor 3.8.1's rma.peto (tests/reference/pooling/make_pooling.R), 1e-8."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesma as bm
from bayesma.errors import DataError, DroppedRowsWarning

REF_DIR = Path(__file__).parent.parent / "reference" / "pooling"
REF = json.loads((REF_DIR / "pooling_reference.json").read_text())
FIELDS = ("estimate", "se", "zval", "pval", "ci_low", "ci_high", "q", "q_pval", "i2", "h2")


@pytest.mark.parametrize("name", sorted(REF["peto"]))
def test_rma_peto_matches_metafor(name):
    case = REF["peto"][name]
    df = pd.read_csv(REF_DIR / case["data"])
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = bm.rma_peto(df, level=case["level"], **case["args"])
    dropped = [w for w in rec if issubclass(w.category, DroppedRowsWarning)]
    assert bool(dropped) == (case["k_yi"] < case["k"])
    for f in FIELDS:
        assert np.isclose(getattr(res, f), case[f], rtol=1e-8, atol=1e-12), (f, getattr(res, f))
    assert res.k == case["k"] and res.k_yi == case["k_yi"]
    np.testing.assert_allclose(res.yi, np.array(case["yi"], dtype=float), rtol=1e-10)
    assert np.isclose(res.estimate_exp, np.exp(case["estimate"]), rtol=1e-8)
    assert np.isnan(res.cmh) and np.isnan(res.tarone)


def test_peto_printout():
    df = pd.read_csv(REF_DIR / "bcg.csv")
    txt = bm.rma_peto(df, ai="tpos", bi="tneg", ci="cpos", di="cneg").summary()
    # metafor 3.8.1 print.rma.peto on dat.bcg
    assert "Q(df = 12) = 167.7302, p-val < .0001" in txt
    assert " -0.4744  0.0407  -11.6689  <.0001  -0.5541  -0.3948" in txt
    assert "  0.6222  0.5746  0.6738 " in txt
    assert "Model Results (OR scale):" in txt and "CMH" not in txt


def test_peto_no_outcome_variation_is_data_error():
    df = pd.DataFrame({"a": [0, 0], "n1": [10, 12], "c": [0, 0], "n2": [9, 11]})
    with pytest.raises(DataError, match="never occurred"):
        bm.rma_peto(df, ai="a", n1i="n1", ci="c", n2i="n2", drop00=False)


def test_peto_events_above_n():
    df = pd.DataFrame({"a": [3, 20], "n1": [10, 12], "c": [1, 2], "n2": [9, 11]})
    with pytest.raises(DataError, match="more events") as err:
        bm.rma_peto(df, ai="a", n1i="n1", ci="c", n2i="n2")
    assert err.value.rows == [1] and err.value.column == "a"

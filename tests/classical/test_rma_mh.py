"""rma_mh against metafor 3.8.1's rma.mh (tests/reference/pooling/make_pooling.R), 1e-8 relative."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesma as bm
from bayesma.errors import DataError, DroppedRowsWarning, SpecError

REF_DIR = Path(__file__).parent.parent / "reference" / "pooling"
REF = json.loads((REF_DIR / "pooling_reference.json").read_text())
FIELDS = ("estimate", "se", "zval", "pval", "ci_low", "ci_high", "q", "q_pval", "i2", "h2",
          "cmh", "cmh_pval", "cochran", "cochran_pval", "breslow_day", "breslow_day_pval",
          "tarone", "tarone_pval")


def close(a, b, rtol=1e-8, atol=1e-12):
    if b is None:
        return np.isnan(a)
    return np.isclose(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", sorted(REF["mh"]))
def test_rma_mh_matches_metafor(name):
    case = REF["mh"][name]
    df = pd.read_csv(REF_DIR / case["data"])
    kw = {k: case[k] for k in ("drop00", "to", "add") if k in case}
    with pytest.warns(DroppedRowsWarning) if case["k_yi"] < case["k"] else _no_warning():
        res = bm.rma_mh(df, case["measure"], correct=case["correct"], level=case["level"],
                        **case["args"], **kw)
    for f in FIELDS:
        if f not in case:
            continue
        assert close(getattr(res, f), case[f]), (f, getattr(res, f), case[f])
    assert res.k == case["k"] and res.k_yi == case["k_yi"]
    if case["measure"] == "OR":
        assert res.k_pos == case["k_pos"]
    np.testing.assert_allclose(res.yi, np.array(case["yi"], dtype=float), rtol=1e-10)
    np.testing.assert_allclose(res.vi, np.array(case["vi"], dtype=float), rtol=1e-10)
    if case["measure"] in ("OR", "RR", "IRR"):
        assert np.isclose(res.estimate_exp, np.exp(case["estimate"]), rtol=1e-8)
        assert np.isclose(res.ci_high_exp, np.exp(case["ci_high"]), rtol=1e-8)
    else:
        assert np.isnan(res.estimate_exp)


class _no_warning:
    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("error", DroppedRowsWarning)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def bcg():
    return pd.read_csv(REF_DIR / "bcg.csv")


def test_printout_like_metafor():
    res = bm.rma_mh(bcg(), "OR", ai="tpos", bi="tneg", ci="cpos", di="cneg")
    txt = res.summary()
    # the lines of metafor 3.8.1's print.rma.mh for dat.bcg
    assert "Equal-Effects Model (k = 13)" in txt
    assert "I^2 (total heterogeneity / total variability):  92.68%" in txt
    assert "Q(df = 12) = 163.9426, p-val < .0001" in txt
    assert " -0.4734  0.0410  -11.5444  <.0001  -0.5538  -0.3930" in txt
    assert "  0.6229  0.5748  0.6750 " in txt
    assert "Cochran-Mantel-Haenszel Test:    CMH = 135.6889, df = 1,  p-val < 0.0001" in txt
    assert "Tarone's Test for Heterogeneity: X^2 = 171.7567, df = 12, p-val < 0.0001" in txt
    assert str(res) == txt
    assert "MH OR" in repr(res)
    frame = res.to_frame()
    assert frame.loc["MH", "k"] == 13


def test_rd_printout_has_no_ratio_block():
    txt = bm.rma_mh(bcg(), "RD", ai="tpos", bi="tneg", ci="cpos", di="cneg").summary()
    assert "Model Results:" in txt and "scale" not in txt and "CMH" not in txt


def test_level_fraction_equals_percent():
    a = bm.rma_mh(bcg(), "RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", level=90)
    b = bm.rma_mh(bcg(), "RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", level=0.9)
    assert a.ci_low == b.ci_low and a.ci_low > a.estimate - 1.65 * a.se


def test_sizes_equal_cells():
    df = bcg().assign(n1=lambda d: d.tpos + d.tneg, n2=lambda d: d.cpos + d.cneg)
    a = bm.rma_mh(df, ai="tpos", bi="tneg", ci="cpos", di="cneg")
    b = bm.rma_mh(df, ai="tpos", n1i="n1", ci="cpos", n2i="n2")
    assert a.estimate == b.estimate and a.se == b.se and a.q == b.q


@pytest.mark.parametrize(
    ("change", "column", "match"),
    [
        ({"tpos": 600000}, "tpos", "more events"),
        ({"cpos": -1}, "cpos", "cpos"),
        ({"tpos": 2.5}, "tpos", "tpos"),
    ],
)
def test_bad_counts_name_column_and_row(change, column, match):
    df = bcg().assign(n1=lambda d: d.tpos + d.tneg, n2=lambda d: d.cpos + d.cneg)
    for col, val in change.items():
        df[col] = df[col].astype(float)
        df.loc[3, col] = val
    with pytest.raises(DataError, match=match) as err:
        bm.rma_mh(df, ai="tpos", n1i="n1", ci="cpos", n2i="n2")
    assert err.value.column == column and err.value.rows == [3]


def test_negative_time_is_data_error():
    df = pd.read_csv(REF_DIR / "hart1999.csv")
    df.loc[2, "t2i"] = -5.0
    with pytest.raises(DataError) as err:
        bm.rma_mh(df, "IRR", x1i="x1i", x2i="x2i", t1i="t1i", t2i="t2i")
    assert err.value.column == "t2i" and err.value.rows == [2]


def test_counts_that_do_not_add_up():
    df = bcg().assign(n1=lambda d: d.tpos + d.tneg + 1)
    with pytest.raises(DataError, match="do not add up"):
        bm.rma_mh(df, ai="tpos", bi="tneg", n1i="n1", ci="cpos", di="cneg")


def test_bad_options():
    with pytest.raises(SpecError, match="measure"):
        bm.rma_mh(bcg(), "SMD", ai="tpos", bi="tneg", ci="cpos", di="cneg")
    with pytest.raises(SpecError, match="to"):
        bm.rma_mh(bcg(), ai="tpos", bi="tneg", ci="cpos", di="cneg", to="sometimes")
    with pytest.raises(SpecError, match="ai, bi"):
        bm.rma_mh(bcg(), ai="tpos", ci="cpos")
    with pytest.raises(SpecError, match="x1i"):
        bm.rma_mh(bcg(), "IRR", x1i="tpos")


def test_drop00_second_value_removes_double_zero_tables():
    df = pd.read_csv(REF_DIR / "sparse.csv")
    with pytest.warns(DroppedRowsWarning):
        keep = bm.rma_mh(df, "RD", ai="ai", n1i="n1i", ci="ci", n2i="n2i")
    with pytest.warns(DroppedRowsWarning):
        drop = bm.rma_mh(df, "RD", ai="ai", n1i="n1i", ci="ci", n2i="n2i", drop00=(True, True))
    assert keep.k == 6 and drop.k == 5
    # a double-zero table carries MH weight for the RD (metafor keeps it by default)
    assert keep.estimate != drop.estimate

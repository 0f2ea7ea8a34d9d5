"""leave1out, influence and cumul against metafor 3.8 (../shared/reference)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import DATASETS, assert_close, reference, shared_data

from bayesma.classical.influence import cumul, influence, leave1out
from bayesma.classical.rma import rma
from bayesma.errors import BayesmaError, DataError, TooFewStudiesError

SUMMARY_FIELDS = {
    "estimate": "estimate",
    "se": "se",
    "stat": "zval",
    "pval": "pval",
    "ci_low": "ci.lb",
    "ci_high": "ci.ub",
    "q": "Q",
    "q_pval": "Qp",
    "tau2": "tau2",
    "i2": "I2",
    "h2": "H2",
}


def _fit(name: str, method: str, **kw):
    return rma(shared_data(name), yi="yi", vi="vi", method=method, **kw)


# ---------------------------------------------------------------- leave1out


@pytest.mark.parametrize("method", ["REML", "DL", "EE"])
@pytest.mark.parametrize("name", DATASETS)
def test_leave1out_matches_metafor(name, method):
    ref = reference(name)["leave1out"][method]
    res = _fit(name, method)
    out = leave1out(res)
    assert list(out.columns) == list(SUMMARY_FIELDS)
    assert list(out.index) == list(res.labels)
    assert len(out) == len(ref["omitted_row"])
    for col, key in SUMMARY_FIELDS.items():
        assert_close(out[col].to_numpy(), ref[key], what=f"{name} {method} leave1out {col}")
    assert out.attrs["stat"] == "z"


def test_leave1out_knha_uses_t():
    res = _fit("bcg", "REML", test="knha")
    out = leave1out(res)
    assert out.attrs["stat"] == "t"
    assert out.attrs["df"] == res.k - 2
    # each row is the knha refit without that study
    sub = rma(shared_data("bcg").iloc[1:], yi="yi", vi="vi", method="REML", test="knha")
    assert_close(out["estimate"].iloc[0], sub.estimate)
    assert_close(out["stat"].iloc[0], sub.stat)
    assert_close(out["ci_low"].iloc[0], sub.ci_low)


def test_leave1out_rejects_moderators():
    res = _fit("bcg", "REML", mods="~ ablat")
    with pytest.raises(BayesmaError, match="moderators"):
        leave1out(res)


# ---------------------------------------------------------------- influence

INFLUENCE_FIELDS = {
    "rstudent": "rstudent",
    "dffits": "dffits",
    "cook_d": "cook.d",
    "cov_r": "cov.r",
    "tau2_del": "tau2.del",
    "qe_del": "QE.del",
    "hat": "hat",
    "weight": "weight",
    "dfbs": "dfbs",
}


@pytest.mark.parametrize("name", DATASETS)
def test_influence_matches_metafor(name):
    ref = reference(name)["influence"]
    res = _fit(name, "REML")
    out = influence(res)
    assert list(out.columns) == [*INFLUENCE_FIELDS, "inf"]
    assert list(out.index) == list(res.labels)
    for col, key in INFLUENCE_FIELDS.items():
        assert_close(out[col].to_numpy(), ref[key], what=f"{name} influence {col}")
    assert out["inf"].dtype == bool
    assert out["inf"].tolist() == ref["inf"], f"{name} influence inf"


def test_influence_meta_regression_columns():
    res = _fit("bcg", "REML", mods="~ ablat")
    out = influence(res)
    assert [c for c in out.columns if c.startswith("dfbs")] == ["dfbs_intrcpt", "dfbs_ablat"]
    assert out.attrs["p"] == 2
    # hat values of a meta-regression sum to p
    assert_close(out["hat"].sum(), 2.0)
    # the deleted tau2 matches a refit without the first study
    sub = rma(shared_data("bcg").iloc[1:], yi="yi", vi="vi", method="REML", mods="~ ablat")
    assert_close(out["tau2_del"].iloc[0], sub.tau2)
    assert_close(out["qe_del"].iloc[0], sub.q)


# ---------------------------------------------------------------- cumul

CUMUL_CASES = [
    (name, method)
    for name in DATASETS
    for method in ("REML", "EE")
    if reference(name)["cumulative"] is not None
]


@pytest.mark.parametrize(("name", "method"), CUMUL_CASES)
def test_cumul_matches_metafor(name, method):
    ref = reference(name)["cumulative"][method]
    res = _fit(name, method)
    out = cumul(res, order=ref["order_by"])
    assert out["row"].tolist() == ref["row"]
    assert_close(out["order_value"].to_numpy(dtype=float), ref["order_value"], what="order")
    assert out["k"].tolist() == list(range(1, res.k + 1))
    for col, key in SUMMARY_FIELDS.items():
        assert_close(out[col].to_numpy(), ref[key], what=f"{name} {method} cumul {col}")
    assert out.attrs["order_by"] == ref["order_by"]


def test_cumul_order_array_and_none():
    dat = shared_data("bcg")
    res = rma(dat, yi="yi", vi="vi", method="REML")
    by_col = cumul(res, order="year")
    by_arr = cumul(res, order=dat["year"].to_numpy())
    pd.testing.assert_frame_equal(
        by_col.drop(columns="order_value"), by_arr.drop(columns="order_value")
    )
    plain = cumul(res, order=None)
    assert plain["row"].tolist() == list(range(1, res.k + 1))
    assert_close(plain["estimate"].iloc[-1], res.estimate)


def test_cumul_decreasing_keeps_ties_in_row_order():
    dat = shared_data("bcg")
    res = rma(dat, yi="yi", vi="vi", method="EE")
    out = cumul(res, order="year", decreasing=True)
    years = out["order_value"].to_numpy()
    assert np.all(np.diff(years) <= 0)
    # rows 5 and 7 are both 1973: row 5 first
    tied = out.loc[out["order_value"] == 1973, "row"].tolist()
    assert tied == [5, 7]


def test_cumul_errors():
    dat = shared_data("bcg")
    res = rma(dat, yi="yi", vi="vi", method="REML")
    with pytest.raises(DataError, match="nope"):
        cumul(res, order="nope")
    with pytest.raises(DataError, match="one entry per study"):
        cumul(res, order=[1, 2, 3])
    bad = dat["year"].to_numpy(dtype=float, copy=True)
    bad[3] = np.nan
    with pytest.raises(DataError, match="missing"):
        cumul(res, order=bad)


def test_too_few_studies():
    res = rma(shared_data("edge_k2").iloc[:1], yi="yi", vi="vi", method="EE")
    with pytest.raises(TooFewStudiesError):
        leave1out(res)
    with pytest.raises(TooFewStudiesError):
        influence(res)


@pytest.mark.parametrize("func", [leave1out, influence, cumul])
def test_non_fit_input_is_a_typed_error(func):
    with pytest.raises(BayesmaError, match=f"{func.__name__}\\(\\) needs a fitted model"):
        func(shared_data("bcg"))

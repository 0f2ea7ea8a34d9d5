"""Sensitivity subsets: risk-of-bias validation (errors name column and row), the rules,
and before/after numbers equal to separate fits on each subset."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import shared_data

import bayesma as bm
from bayesma.errors import BayesmaError, DataError
from bayesma.priors import HalfNormal, Normal
from bayesma.sensitivity import (
    SensitivitySubsets,
    rob_columns,
    rob_judgements,
    sensitivity_subsets,
)

MU, TAU = Normal(0, 10), HalfNormal(0.5)
OVERALL = ["Low", "some concerns", "HIGH", "Low", "high", "Some Concerns", "low", "low",
           "High", "some concerns", "Low", "low", "Some concerns"]


@pytest.fixture
def bcg_rob():
    d = shared_data("bcg")
    d.attrs["measure"] = "RR"
    for j in range(1, 6):
        d[f"D{j}"] = ["low", "Some concerns", "high", "Low", "low", "low", "high", "low",
                      "low", "low", "some concerns", "low", "low"]
    d["Overall"] = OVERALL
    return d


def test_rob_columns_and_canonical_values(bcg_rob):
    assert rob_columns(bcg_rob) == ["D1", "D2", "D3", "D4", "D5", "Overall"]
    j = rob_judgements(bcg_rob)
    assert set(np.unique(j.to_numpy())) <= {"low", "some concerns", "high"}
    assert list(j["Overall"])[:3] == ["low", "some concerns", "high"]


def test_rob_unknown_value_names_column_and_row(bcg_rob):
    bcg_rob.loc[5, "D3"] = "moderate"
    with pytest.raises(DataError) as ei:
        sensitivity_subsets(bcg_rob, rules={"rob": "rob"})
    err = ei.value
    assert err.column == "D3" and err.rows == [5]
    msg = str(err)
    assert "'D3'" in msg and "row 5" in msg and "Stein & Aronson" in msg
    assert "'moderate'" in msg and "some concerns" in msg


def test_rob_missing_value_and_missing_overall(bcg_rob):
    bcg_rob.loc[2, "Overall"] = np.nan
    with pytest.raises(DataError, match=r"'Overall'.*row 2.*missing judgement") as ei:
        rob_judgements(bcg_rob)
    assert ei.value.rows == [2]
    no_overall = bcg_rob.drop(columns="Overall")
    with pytest.raises(DataError, match="needs an 'Overall'"):
        sensitivity_subsets(no_overall, rules={"x": "rob"})
    with pytest.raises(DataError, match="no risk-of-bias columns"):
        rob_judgements(shared_data("bcg"))


def _separate(sub: pd.DataFrame):
    res = bm.rma(sub, method="REML", test="knha")
    post = bm.exact_posterior(sub, mu_prior=MU, tau_prior=TAU, classical=None)
    return res, post


def test_rob_rule_before_after_equal_separate_fits(bcg_rob):
    out = sensitivity_subsets(bcg_rob, rules={"exclude high risk of bias": "rob"},
                              mu_prior=MU, tau_prior=TAU)
    assert isinstance(out, SensitivitySubsets)
    assert out.analyses == ["all studies", "exclude high risk of bias"]
    high = np.array([str(v).lower() == "high" for v in OVERALL])
    np.testing.assert_array_equal(out.excluded["exclude high risk of bias"], high)
    t = out.table
    for name, keep in (("all studies", np.ones(13, bool)), ("exclude high risk of bias",
                                                             ~high)):
        res, post = _separate(bcg_rob[keep])
        c, b = t.loc[(name, "classical")], t.loc[(name, "bayes")]
        assert c["k"] == b["k"] == keep.sum()
        assert c["estimate"] == pytest.approx(res.estimate, rel=1e-10)
        assert (c["low"], c["high"]) == pytest.approx((res.ci_low, res.ci_high), rel=1e-10)
        assert c["tau"] == pytest.approx(math.sqrt(res.tau2), rel=1e-8)
        assert c["i2"] == pytest.approx(res.i2, rel=1e-10)
        assert b["estimate"] == pytest.approx(post.median("mu"), rel=1e-10)
        assert (b["low"], b["high"]) == pytest.approx(post.interval("mu"), rel=1e-10)
        assert b["tau"] == pytest.approx(post.median("tau"), rel=1e-10)
        assert (b["tau_low"], b["tau_high"]) == pytest.approx(post.interval("tau"), rel=1e-10)
        assert b["i2"] == pytest.approx(post.median("i2"), rel=1e-10)
    labels = bm.rma(bcg_rob).labels
    assert t.loc[("exclude high risk of bias", "bayes"), "excluded"] == ", ".join(
        np.asarray(labels)[high])
    # the default rules pick up the Overall column
    auto = sensitivity_subsets(bcg_rob)
    assert auto.analyses == ["all studies", "exclude high risk of bias", "exclude outliers"]


def test_outlier_rule_uses_influence_flags():
    d = shared_data("bangertdrowns2004")
    out = sensitivity_subsets(d, rules={"o": "outliers", "i": "influential", "r": "rstudent"})
    inf = bm.influence(bm.rma(d, method="REML", test="knha"))
    flag_inf = inf["inf"].to_numpy(bool)
    flag_rs = np.abs(inf["rstudent"].to_numpy(float)) > 1.96
    np.testing.assert_array_equal(out.excluded["i"], flag_inf)
    np.testing.assert_array_equal(out.excluded["r"], flag_rs)
    np.testing.assert_array_equal(out.excluded["o"], flag_inf | flag_rs)
    assert out.excluded["o"].any()
    res, _ = _separate(d[~out.excluded["o"]])
    assert out.table.loc[("o", "classical"), "estimate"] == pytest.approx(res.estimate,
                                                                         rel=1e-10)
    assert "|rstudent| > 1.96" in out.rules["o"]


def test_custom_column_mask_and_callable(bcg_rob):
    bcg_rob["random"] = bcg_rob["alloc"] == "random"
    bcg_rob["flag01"] = bcg_rob["random"].astype(int)
    mask = (bcg_rob["year"] < 1950).to_numpy()
    out = sensitivity_subsets(bcg_rob, rules={
        "col": "random", "int col": "flag01", "mask": mask,
        "series": pd.Series(mask, index=bcg_rob.index),
        "callable": lambda df: df["ablat"] < 30})
    np.testing.assert_array_equal(out.excluded["col"], bcg_rob["random"].to_numpy())
    np.testing.assert_array_equal(out.excluded["int col"], bcg_rob["random"].to_numpy())
    np.testing.assert_array_equal(out.excluded["mask"], mask)
    np.testing.assert_array_equal(out.excluded["series"], mask)
    np.testing.assert_array_equal(out.excluded["callable"],
                                  (bcg_rob["ablat"] < 30).to_numpy())
    text = out.summary()
    assert "col (column 'random' is True): excludes 7 studies" in text


def test_rule_errors(bcg_rob):
    bcg_rob["bad"] = ["yes"] + [False] * 12
    with pytest.raises(DataError, match=r"'bad'.*row 0.*'yes'") as ei:
        sensitivity_subsets(bcg_rob, rules={"x": "bad"})
    assert ei.value.column == "bad"
    with pytest.raises(BayesmaError, match="shape"):
        sensitivity_subsets(bcg_rob, rules={"x": np.array([True, False])})
    with pytest.raises(BayesmaError, match="neither"):
        sensitivity_subsets(bcg_rob, rules={"x": "no_such_rule"})
    with pytest.raises(BayesmaError, match="reserved"):
        sensitivity_subsets(bcg_rob, rules={"all studies": "rob"})


def test_rule_excluding_everything(bcg_rob):
    out = sensitivity_subsets(bcg_rob, rules={"none left": np.ones(13, bool)})
    row = out.table.loc[("none left", "bayes")]
    assert row["k"] == 0 and math.isnan(row["estimate"])
    assert any("excludes every study" in n for n in out.notes)
    assert "not available" in out.summary()

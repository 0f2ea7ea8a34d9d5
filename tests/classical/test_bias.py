"""trimfill, regtest, ranktest and fsn against metafor 3.8 (../shared/reference)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import DATASETS, assert_close, reference, shared_data

from bayesma.classical.bias import (
    FailSafeNResult,
    RankTestResult,
    RegTestResult,
    TrimFillResult,
    fsn,
    ranktest,
    regtest,
    trimfill,
)
from bayesma.classical.rma import rma
from bayesma.errors import BayesmaError, BayesmaWarning, DataError, TooFewStudiesError

#: datasets where R's cor.test warns about ties (reference README, "Known gaps")
TIES = {"bangertdrowns2004", "raudenbush1985", "molloy2014", "konstantopoulos2011"}


def _fit(name: str, method: str, **kw):
    return rma(shared_data(name), yi="yi", vi="vi", method=method, **kw)


# ---------------------------------------------------------------- trimfill

TRIMFILL_FIELDS = {
    "estimate": "b",
    "se": "se",
    "stat": "zval",
    "pval": "pval",
    "ci_low": "ci.lb",
    "ci_high": "ci.ub",
    "tau2": "tau2",
    "se_tau2": "se.tau2",
    "i2": "I2",
    "h2": "H2",
    "q": "QE",
    "q_df": "QEdf",
    "q_pval": "QEp",
    "k": "k",
}


@pytest.mark.parametrize("method", ["REML", "EE"])
@pytest.mark.parametrize("name", DATASETS)
def test_trimfill_matches_metafor(name, method):
    ref = reference(name)["trimfill"][method]
    res = _fit(name, method)
    if "error" in ref:
        with pytest.raises(TooFewStudiesError, match="parameters"):
            trimfill(res)
        return
    tf = trimfill(res)
    assert isinstance(tf, TrimFillResult)
    assert tf.k0 == ref["k0"]
    assert tf.side == ref["side"]
    assert tf.estimator == ref["estimator"]
    assert_close(tf.se_k0, ref["se.k0"], what="se.k0")
    for attr, key in TRIMFILL_FIELDS.items():
        assert_close(getattr(tf, attr), ref[key], what=f"{name} {method} trimfill {attr}")
    assert_close(math.sqrt(tf.tau2), ref["tau"], what="tau")
    assert_close(tf.filled["yi"].to_numpy(), ref["yi"], what="filled yi")
    assert_close(tf.filled["vi"].to_numpy(), ref["vi"], what="filled vi")
    assert tf.filled["fill"].tolist() == ref["fill"]
    n_filled = int(np.sum(ref["fill"]))
    assert list(tf.filled.index[len(tf.filled) - n_filled :]) == [
        f"Filled {j + 1}" for j in range(n_filled)
    ]
    assert "Trim-and-fill" in str(tf)
    assert tf.to_frame().loc["trimfill", "k0"] == ref["k0"]


def test_trimfill_side_and_r0():
    res = _fit("bcg", "EE")
    left = trimfill(res, side="left")
    assert left.side == "left"
    r0 = trimfill(res, estimator="R0")
    assert r0.estimator == "R0"
    assert_close(r0.se_k0, math.sqrt(2 * r0.k0 + 2))
    assert_close(r0.p_k0, 0.5 ** (r0.k0 + 1))
    assert math.isnan(trimfill(res).p_k0)
    with pytest.raises(BayesmaError):
        trimfill(res, estimator="Q9")
    with pytest.raises(BayesmaError):
        trimfill(_fit("bcg", "REML", mods="~ ablat"))


def test_trimfill_ilim():
    res = _fit("bcg", "EE")
    tf = trimfill(res, ilim=(-2.0, 0.9))
    filled = tf.filled.loc[tf.filled["fill"], "yi"].to_numpy()
    assert filled.max() <= 0.9


# ---------------------------------------------------------------- regtest

REG_CASES = [(name, key) for name in DATASETS for key in ("REML", "EE", "lm")]


@pytest.mark.parametrize(("name", "key"), REG_CASES)
def test_regtest_matches_metafor(name, key):
    ref = reference(name)["egger"][f"regtest_{key}"]
    method = "REML" if key == "lm" else key
    res = _fit(name, method)
    if "error" in ref:
        with pytest.raises(TooFewStudiesError, match="parameters"):
            regtest(res)
        return
    model = "lm" if key == "lm" else "rma"
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        rt = regtest(res, model=model)
    assert isinstance(rt, RegTestResult)
    if model == "lm":
        assert rt.stat_name == "t"
        assert rt.df == ref["df"]
        assert_close(rt.stat, ref["tval"], what="tval")
        fit_b, fit_se = rt.fit.beta, rt.fit.se
        if ref["tval"] is None:
            assert any("degrees of freedom" in str(w.message) for w in rec)
    else:
        assert rt.stat_name == "z"
        assert rt.df is None
        assert_close(rt.stat, ref["zval"], what="zval")
        fit_b = rt.fit.coef["estimate"].to_numpy()
        fit_se = rt.fit.coef["se"].to_numpy()
    assert_close(rt.pval, ref["pval"], what="pval")
    assert_close(rt.limit_estimate, ref["est"], what="est")
    assert_close(rt.ci_low, ref["ci.lb"], what="ci.lb")
    assert_close(rt.ci_high, ref["ci.ub"], what="ci.ub")
    assert_close(fit_b, ref["fit_b"], what="fit_b")
    assert_close(fit_se, ref["fit_se"], what="fit_se")
    assert "Funnel Plot Asymmetry" in str(rt)


def test_regtest_smd_warns_and_sample_size_predictors():
    dat = shared_data("normand1999")
    res = rma(dat, yi="yi", vi="vi", method="REML", measure="SMD")
    with pytest.warns(BayesmaWarning, match="sqrtninv"):
        rt = regtest(res)
    assert "Pustejovsky" in str(rt)
    n = (dat["n1i"] + dat["n2i"]).to_numpy(dtype=float)
    rt2 = regtest(res, predictor="sqrtninv")  # n1i + n2i found in the data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rt3 = regtest(res, predictor="sqrtninv", ni=n)
    assert_close(rt2.stat, rt3.stat)
    # same as a meta-regression on 1/sqrt(n)
    X = dat.assign(x=1 / np.sqrt(n))
    ref = rma(X, yi="yi", vi="vi", method="REML", mods=["x"])
    assert_close(rt2.stat, ref.coef["stat"].iloc[1])
    assert_close(rt2.limit_estimate, ref.coef["estimate"].iloc[0])
    # ni predictor has no limit estimate
    assert math.isnan(regtest(res, predictor="ni").limit_estimate)


def test_regtest_needs_sample_sizes():
    res = _fit("bcg", "REML")
    with pytest.raises(DataError, match="sample size"):
        regtest(res, predictor="ninv")
    with pytest.raises(BayesmaError):
        regtest(res, predictor="bogus")


def test_regtest_knha_gives_t():
    res = _fit("bcg", "REML", test="knha")
    rt = regtest(res)
    assert rt.stat_name == "t"
    assert rt.df == res.k - 2


# ---------------------------------------------------------------- ranktest


@pytest.mark.parametrize("name", DATASETS)
def test_ranktest_matches_metafor(name):
    ref = reference(name)["egger"]["ranktest"]
    res = _fit(name, "REML")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        rt = ranktest(res)
    tie_warnings = [w for w in rec if "ties" in str(w.message)]
    assert bool(tie_warnings) == (name in TIES)
    assert bool("warnings" in ref) == (name in TIES)
    assert isinstance(rt, RankTestResult)
    assert rt.exact == (name not in TIES)
    assert_close(rt.tau, ref["tau"], what="tau")
    assert_close(rt.pval, ref["pval"], what="pval")
    assert "Kendall" in str(rt)


def test_ranktest_exact_matches_scipy():
    from scipy import stats

    res = _fit("bcg", "REML")
    rt = ranktest(res)
    w = 1 / res.vi
    b = np.sum(w * res.yi) / np.sum(w)
    ystar = (res.yi - b) / np.sqrt(res.vi - 1 / np.sum(w))
    sc = stats.kendalltau(ystar, res.vi, method="exact")
    assert_close(rt.tau, sc.statistic)
    assert_close(rt.pval, sc.pvalue)


# ---------------------------------------------------------------- fsn


@pytest.mark.parametrize("name", DATASETS)
def test_fsn_matches_metafor(name):
    ref = reference(name)["egger"]["fsn"]
    out = fsn(shared_data(name))
    assert isinstance(out, FailSafeNResult)
    assert out.type == ref["type"]
    assert out.fsnum == ref["fsnum"]
    assert_close(out.pval, ref["pval"], what="pval")
    assert out.alpha == ref["alpha"]
    assert "Fail-safe N" in str(out)
    # an rma result works too
    assert fsn(_fit(name, "EE")).fsnum == ref["fsnum"]


def test_fsn_orwin_rosenberg():
    dat = shared_data("bcg")
    y, v = dat["yi"].to_numpy(), dat["vi"].to_numpy()
    k = len(y)
    orwin = fsn(dat, type="Orwin")
    assert_close(orwin.meanes, y.mean())
    assert orwin.fsnum == math.ceil(k * (y.mean() - y.mean() / 2) / (y.mean() / 2))
    assert fsn(dat, type="Orwin", target=0.1).fsnum == math.inf
    ros = fsn(dat, type="Rosenberg")
    w = 1 / v
    from scipy import stats

    wp = (np.sum(w * y) / stats.norm.isf(0.025)) ** 2 - np.sum(w)
    assert ros.fsnum == math.ceil(k * wp / np.sum(w))
    assert_close(ros.meanes, np.sum(w * y) / np.sum(w))
    sei = dat.assign(sei=np.sqrt(dat["vi"]))
    assert fsn(sei, sei="sei").fsnum == fsn(dat).fsnum
    with pytest.raises(DataError):
        fsn(dat, yi="nope")
    with pytest.raises(BayesmaError):
        fsn(dat, type="Other")


@pytest.mark.parametrize("func", [trimfill, regtest, ranktest])
@pytest.mark.parametrize("bad", [3.0, "fit"], ids=["float", "str"])
def test_non_fit_input_is_a_typed_error(func, bad):
    with pytest.raises(BayesmaError, match=f"{func.__name__}\\(\\) needs a fitted model"):
        func(bad)

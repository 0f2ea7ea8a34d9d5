"""Q-profile CI (bayesma/classical/confint.py) against metafor's confint.rma.uni."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from conftest import DATASETS, assert_close, reference, shared_data
from scipy import stats

from bayesma.classical.confint import (
    HeterogeneityCI,
    generalized_q,
    qprofile,
    typical_variance,
)
from bayesma.classical.rma import fit_arrays, rma
from bayesma.errors import BayesmaError, TooFewStudiesError

#: reference key -> HeterogeneityCI attribute
PARAMS = {"tau2": "tau2", "tau": "tau", "I2": "i2", "H2": "h2"}


@pytest.mark.parametrize("method", ["DL", "REML"])
@pytest.mark.parametrize("name", DATASETS)
def test_matches_metafor_confint_tight(name, method):
    """Every field and both signs, to 1e-6 (confint_tight: uniroot tol = 1e-12)."""
    ref = reference(name)["rma"]["confint_tight"][method]
    res = rma(shared_data(name), method=method)
    ci = qprofile(res)
    for key, attr in PARAMS.items():
        exp = [ref[key]["estimate"], ref[key]["ci.lb"], ref[key]["ci.ub"]]
        assert_close(getattr(ci, attr), exp, what=f"{name} {method} {key}")
    assert ci.lb_sign == ref["lb.sign"], name
    assert ci.ub_sign == ref["ub.sign"], name
    assert ci.level == pytest.approx(0.95)


def test_edge_k2_upper_bound_above_tau2_max():
    """Q(tau2) never reaches the lower chi²(1) quantile below tau2.max = 100."""
    ci = qprofile(rma(shared_data("edge_k2"), method="REML"))
    assert ci.tau2[1:] == (0.0, 100.0)
    assert (ci.lb_sign, ci.ub_sign) == ("", ">")
    assert not ci.ci_null
    assert ci.tau2_max == 100.0
    text = str(ci)
    assert ">100.0000" in text
    assert ">10.0000" in text  # tau
    assert "tau2.max = 100" in text


def test_edge_k3_homogeneous_empty_ci():
    ci = qprofile(rma(shared_data("edge_k3_homogeneous"), method="DL"))
    assert ci.ci_null
    assert ci.tau2 == (0.0, 0.0, 0.0)
    assert ci.h2 == (1.0, 1.0, 1.0)
    assert (ci.lb_sign, ci.ub_sign) == ("<", "<")
    assert "null/empty set" in str(ci)


def test_tau2_max_is_ten_times_estimate():
    """normand1999 DL: tau2.max = max(100, 10 tau2) = 2054.09 and ub.sign '>'."""
    res = rma(shared_data("normand1999"), method="DL")
    ci = qprofile(res)
    assert ci.tau2_max == pytest.approx(10 * res.tau2)
    assert ci.tau2[2] == pytest.approx(10 * res.tau2)
    assert ci.ub_sign == ">"


def test_method_on_result_and_frame():
    res = rma(shared_data("bcg"), method="REML")
    ci = res.confint()
    assert isinstance(ci, HeterogeneityCI)
    assert ci == qprofile(res)
    frame = ci.to_frame()
    assert list(frame.index) == ["tau^2", "tau", "I^2(%)", "H^2"]
    assert list(frame.columns) == ["estimate", "ci_low", "ci_high"]
    assert frame.loc["tau^2", "ci_low"] == ci.tau2[1]
    assert frame.loc["I^2(%)", "ci_high"] == ci.i2[2]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ci.lb_sign = ">"  # type: ignore[misc]
    text = ci.summary()
    assert text.splitlines()[0].startswith("Q-profile 95% confidence interval")
    for row in ("tau^2", "tau", "I^2(%)", "H^2", "estimate", "ci.lb", "ci.ub"):
        assert row in text


def test_level_argument():
    res = rma(shared_data("bcg"), method="DL")
    a = qprofile(res, level=0.90)
    b = qprofile(res, level=90)
    assert a == b
    assert a.level == pytest.approx(0.90)
    wide = qprofile(res)
    assert wide.tau2[1] < a.tau2[1] < a.tau2[2] < wide.tau2[2]
    # the bounds solve Q(tau2) = chi² quantiles at the chosen level
    yi, vi, X = res.yi, res.vi, res.X
    assert generalized_q(a.tau2[1], yi, vi, X) == pytest.approx(stats.chi2.ppf(0.95, 12))
    assert generalized_q(a.tau2[2], yi, vi, X) == pytest.approx(stats.chi2.ppf(0.05, 12))
    # res.level is the default
    res90 = rma(shared_data("bcg"), method="DL", level=0.9)
    assert qprofile(res90) == a


def test_independent_of_test_and_uses_estimates_of_fit():
    d = shared_data("bcg")
    z = qprofile(rma(d, method="REML"))
    kn = qprofile(rma(d, method="REML", test="knha"))
    assert z == dataclasses.replace(kn, method=z.method)
    pm = rma(d, method="PM")
    ci = qprofile(pm)
    assert ci.tau2[0] == pm.tau2 and ci.i2[0] == pm.i2 and ci.h2[0] == pm.h2
    assert ci.tau2[1:] == z.tau2[1:]  # same search interval: both tau2.max are 100


def test_with_moderators_residual_heterogeneity():
    """Meta-regression: chi²(k - p) and the residual generalized Q (Viechtbauer 2007)."""
    d = shared_data("bcg")
    res = rma(d, method="REML", mods="~ ablat")
    ci = qprofile(res)
    k, p = res.k, res.p
    assert (k, p) == (13, 2)
    # Q(0) is the residual QE of the equal-effects meta-regression
    ee = rma(d, method="EE", mods="~ ablat")
    assert_close(generalized_q(0.0, res.yi, res.vi, res.X), ee.q)
    assert_close(generalized_q(ci.tau2[1], res.yi, res.vi, res.X), stats.chi2.isf(0.025, k - p))
    assert_close(generalized_q(ci.tau2[2], res.yi, res.vi, res.X), stats.chi2.ppf(0.025, k - p))
    assert ci.tau2[1] < res.tau2 < ci.tau2[2]
    # I² bounds use the typical within-study variance of the regression
    vt = typical_variance(res.vi, res.X)
    assert_close(ci.i2[1:], [100 * t / (vt + t) for t in ci.tau2[1:]])
    assert_close(res.i2, 100 * res.tau2 / (vt + res.tau2))
    assert ci.p == 2


def test_typical_variance_intercept_only_closed_form():
    """Higgins & Thompson (2002): (k - 1) sum w / ((sum w)^2 - sum w^2)."""
    vi = shared_data("bcg")["vi"].to_numpy()
    w = 1 / vi
    expected = (len(vi) - 1) * w.sum() / (w.sum() ** 2 - (w**2).sum())
    assert_close(typical_variance(vi, np.ones((len(vi), 1))), expected)


def test_errors():
    d = shared_data("bcg")
    with pytest.raises(BayesmaError, match="random-effects"):
        qprofile(rma(d, method="EE"))
    with pytest.raises(BayesmaError, match="fixed"):
        qprofile(rma(d, method="REML", tau2=0.1))
    one = fit_arrays([0.2], [0.04], method="DL")
    with pytest.raises(TooFewStudiesError):
        qprofile(one)


def test_zero_estimate_lower_bound_zero_without_sign():
    """yusuf1985: tau2 = 0, Q(0) below the upper quantile -> lb = 0 with no sign."""
    ci = qprofile(rma(shared_data("yusuf1985"), method="REML"))
    assert ci.tau2[:2] == (0.0, 0.0)
    assert ci.lb_sign == "" and ci.ub_sign == ""
    assert ci.tau2[2] > 0


def test_frame_is_dataframe():
    assert isinstance(qprofile(rma(shared_data("molloy2014"))).to_frame(), pd.DataFrame)


@pytest.mark.parametrize("k", [3, 13, 30, 31, 80])
def test_q_function_loop_equals_generalized_q(k):
    # the Python-loop Q used by the root searches at small k is the same statistic
    from bayesma.classical.confint import Q_LOOP_MAX_K, _q_function

    rng = np.random.default_rng(k)
    v = rng.uniform(0.01, 0.5, k)
    y = rng.normal(0.2, np.sqrt(v + 0.1))
    X = np.ones((k, 1))
    q_of = _q_function(y, v, X)
    assert (q_of.__name__ == "q_loop") == (k <= Q_LOOP_MAX_K)
    for t in (0.0, 1e-4, 0.07, 2.0, 100.0):
        assert_close(q_of(t), generalized_q(t, y, v, X), rtol=1e-13, what=f"Q({t})")

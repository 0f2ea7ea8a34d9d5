"""rma() / fit_arrays() / RMAResult against metafor 3.8 (../shared/reference/*.json)."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import DATASETS, assert_close, reference, shared_data

from bayesma.classical.rma import RMAResult, fit_arrays, rma
from bayesma.errors import BayesmaError, BayesmaWarning, DataError, TooFewStudiesError

#: closed-form estimators: compared with ``rma.methods`` (metafor defaults are exact)
CLOSED = ["EE", "DL", "HE", "HS", "HSk", "SJ", "GENQ"]
#: iterative estimators: compared with ``rma.methods_tight``
ITERATIVE = ["ML", "REML", "EB", "PM", "PMM"]

#: reference field -> RMAResult attribute
FIELDS = {
    "b": "estimate",
    "se": "se",
    "zval": "stat",
    "tval": "stat",
    "pval": "pval",
    "ci.lb": "ci_low",
    "ci.ub": "ci_high",
    "tau2": "tau2",
    "se.tau2": "se_tau2",
    "tau": "tau",
    "I2": "i2",
    "H2": "h2",
    "QE": "q",
    "QEdf": "q_df",
    "QEp": "q_pval",
    "k": "k",
    "p": "p",
    "df": "df",
}


def _fit(name: str, method: str, **kw) -> RMAResult:
    return rma(shared_data(name), yi="yi", vi="vi", method=method, **kw)


def check_fit_stats(res: RMAResult, ref: dict, what: str) -> None:
    for col in ("ML", "REML"):
        for stat in ("ll", "dev", "AIC", "BIC", "AICc"):
            assert_close(
                res.fit_stats.loc[stat, col], ref["fit_stats"][col][stat],
                what=f"{what} fit_stats {col} {stat}",
            )


def check_fields(res: RMAResult, ref: dict, what: str) -> None:
    for field, attr in FIELDS.items():
        if field in ref:
            assert_close(getattr(res, attr), ref[field], what=f"{what} {field}")
    assert res.method == ref["method"]
    assert res.test == ref["test"]
    if "fit_stats" in ref:
        check_fit_stats(res, ref, what)


def _cases(section_methods):
    return [
        pytest.param(ds, m, id=f"{ds}-{m}") for ds in DATASETS for m in section_methods
    ]


# --------------------------------------------------------------------------- references
@pytest.mark.parametrize(("name", "method"), _cases(CLOSED + ITERATIVE))
def test_methods(name, method):
    section = "methods" if method in CLOSED else "methods_tight"
    ref = reference(name)["rma"][section][method]
    if "error" in ref:
        with pytest.raises(BayesmaError):
            _fit(name, method)
        return
    res = _fit(name, method)
    check_fields(res, ref, f"{name} {method}")
    if method == "EE":
        assert np.isnan(res.se_tau2)
        assert res.tau2 == 0


@pytest.mark.parametrize(("name", "method"), _cases(["DL", "REML"]))
def test_knha(name, method):
    ref = reference(name)["rma"]["knha"][method]
    if "error" in ref:
        with pytest.raises(BayesmaError):
            _fit(name, method, test="knha")
        return
    res = _fit(name, method, test="knha")
    check_fields(res, ref, f"{name} {method} knha")
    assert res.df == res.k - 1
    # metafor 3.8: the scale factor is not truncated at 1
    w = 1 / (res.vi + res.tau2)
    s2 = np.sum(w * (res.yi - res.estimate) ** 2) / (res.k - 1)
    assert_close(res.scale, s2, what="knha scale")


@pytest.mark.parametrize(("name", "key"), _cases(["DL", "REML", "DL_knha", "REML_knha"]))
def test_predict(name, key):
    ref = reference(name)["rma"]["predict"][key]
    method, _, knha = key.partition("_")
    test = "knha" if knha else "z"
    if "error" in ref:
        with pytest.raises(BayesmaError):
            _fit(name, method, test=test).predict()
        return
    res = _fit(name, method, test=test)
    pred = res.predict()
    assert len(pred) == 1
    row = pred.iloc[0]
    for field, col in [("pred", "pred"), ("se", "se"), ("ci.lb", "ci_low"), ("ci.ub", "ci_high"),
                       ("pi.lb", "pi_low"), ("pi.ub", "pi_high")]:
        assert_close(row[col], ref[field], what=f"{name} {key} {field}")
    assert_close(res.pi_low, ref["pi.lb"], what="pi_low attribute")
    assert_close(res.pi_high, ref["pi.ub"], what="pi_high attribute")


@pytest.mark.parametrize(("name", "method"), _cases(["REML", "DL", "EE"]))
def test_forest_weights(name, method):
    ref = reference(name)["forest_weights"][method]
    if isinstance(ref, dict) and "error" in ref:
        with pytest.raises(BayesmaError):
            _fit(name, method)
        return
    res = _fit(name, method)
    assert_close(res.weights, ref, what=f"{name} {method} weights")
    assert_close(res.weights.sum(), 100.0)


# --------------------------------------------------------------------------- extra values
# Computed with R 4.2.2 / metafor 3.8-1 on bcg, control=list(threshold=1e-12, tol=1e-12):
#   rma(yi, vi, data=d, method="REML", test="t"); predict() of it;
#   rma(yi, vi, data=d, method="REML", tau2=0.1)
def test_t_test_matches_metafor():
    res = _fit("bcg", "REML", test="t")
    assert res.df == 12
    assert_close(res.pval, 0.0018446472101383694)
    assert_close(res.ci_low, -1.1062426159851899)
    assert_close(res.pi_low, -1.995341958509115)
    assert_close(res.pi_high, 0.5662772741928358)
    assert res.scale == 1.0


def test_fixed_tau2_matches_metafor():
    res = _fit("bcg", "REML", tau2=0.1)
    assert res.tau2 == 0.1 and res.tau2_fixed
    assert np.isnan(res.se_tau2)
    assert_close(res.estimate, -0.6714120827811092)
    assert_close(res.se, 0.11689517170734499)
    assert_close(res.i2, 79.100662517052697)
    # a fixed tau² is not counted as a parameter
    assert_close(res.fit_stats.loc["AIC", "ML"], 31.586491913239506)
    assert_close(res.fit_stats.loc["AIC", "REML"], 31.476620917603007)


# --------------------------------------------------------------------------- the object
def test_result_contract_attributes():
    res = _fit("bcg", "REML")
    for attr in [
        "method", "test", "level", "formula", "measure", "yi", "vi", "X", "terms", "labels",
        "data", "dropped", "k", "p", "beta", "vcov", "coef", "estimate", "se", "stat", "pval",
        "ci_low", "ci_high", "df", "tau2", "se_tau2", "tau", "i2", "h2", "q", "q_df", "q_pval",
        "qm", "qm_df", "qm_pval", "r2", "pi_low", "pi_high", "weights", "fit_stats", "ll",
        "deviance", "aic", "bic", "aicc", "scale",
    ]:
        assert hasattr(res, attr), attr
    assert list(res.coef.columns) == ["estimate", "se", "stat", "pval", "ci_low", "ci_high"]
    assert list(res.coef.index) == ["intrcpt"]
    assert res.qm is None and res.r2 is None and res.df is None
    assert list(res.fit_stats.index) == ["ll", "dev", "AIC", "BIC", "AICc"]
    assert list(res.fit_stats.columns) == ["ML", "REML"]
    assert res.ll == res.fit_stats.loc["ll", "REML"]
    assert res.aic == res.fit_stats.loc["AIC", "REML"]
    ml = _fit("bcg", "DL")
    assert ml.ll == ml.fit_stats.loc["ll", "ML"]
    assert len(res.labels) == res.k and len(set(res.labels)) == res.k
    assert res.labels[0] == "Aronson"  # the 'author' column is the label column
    assert len(res.data) == res.k
    assert res.X.shape == (13, 1)
    with pytest.raises(AttributeError):
        res.tau2 = 1.0  # frozen


def test_fe_alias_and_case():
    a = _fit("bcg", "FE")
    assert a.method == "EE"
    assert _fit("bcg", "reml").method == "REML"
    with pytest.raises(DataError, match="unknown tau"):
        _fit("bcg", "XYZ")
    with pytest.raises(DataError, match="unknown test"):
        _fit("bcg", "REML", test="wald")


def test_summary_layout():
    text = str(_fit("bcg", "REML"))
    assert "Random-Effects Model (k = 13; tau^2 estimator: REML)" in text
    assert "Q(df = 12) = 152.2330, p-val < .0001" in text
    assert "tau^2 (estimated amount of total heterogeneity): 0.3132 (SE = 0.1664)" in text
    assert "I^2 (total heterogeneity / total variability):   92.22%" in text
    assert " -0.7145  0.1798  -3.9744  <.0001  -1.0669  -0.3622  ***" in text
    for h in ("logLik", "deviance", "AIC", "BIC", "AICc"):
        assert h in text
    ee = _fit("bcg", "EE").summary()
    assert "Equal-Effects Model (k = 13)" in ee
    assert "tau^2" not in ee
    kn = _fit("bcg", "DL", test="knha").summary()
    assert "tval  df    pval" in kn
    assert " -0.7141  0.1807  -3.9520  12  0.0019  -1.1078  -0.3204  **" in kn
    assert "logLik" not in kn


def test_to_frame_and_repr():
    res = _fit("bcg", "REML")
    tf = res.to_frame()
    assert len(tf) == 1
    assert tf.loc[0, "estimate"] == res.estimate
    assert tf.loc[0, "i2"] == res.i2
    assert "RMAResult" in repr(res)


def test_predict_level_and_fitted_values():
    res = _fit("bcg", "REML")
    p90 = res.predict(level=0.90).iloc[0]
    assert p90.ci_low > res.ci_low
    p = res.predict(level=90).iloc[0]  # percentages as metafor
    assert_close(p.ci_low, p90.ci_low)


def test_refit_mask_and_settings():
    res = _fit("bcg", "REML")
    mask = np.ones(res.k, dtype=bool)
    mask[0] = False
    sub = res.refit(mask)
    direct = rma(shared_data("bcg").iloc[1:], method="REML")
    assert_close(sub.estimate, direct.estimate)
    assert_close(sub.tau2, direct.tau2)
    assert sub.labels == res.labels[1:]
    assert len(sub.data) == 12
    dl = res.refit(method="DL", test="knha")
    ref = reference("bcg")["rma"]["knha"]["DL"]
    assert_close(dl.estimate, ref["b"])
    assert_close(dl.se, ref["se"])
    pos = res.refit([1, 2, 3])
    assert pos.k == 3
    with pytest.raises(DataError):
        res.refit(bogus=1)


def test_refit_mods():
    res = _fit("bcg", "REML")
    mr = res.refit(mods="~ ablat")
    ref = reference("bcg")["metareg"]["continuous"]
    assert_close(mr.beta, ref["b"])


def test_confint_delegates_to_qprofile(monkeypatch):
    calls = {}

    def qprofile(res, level=None):
        calls["args"] = (res, level)
        return "ci"

    # confint is imported at module top of classical/rma/fitting.py (no lazy import)
    monkeypatch.setattr(sys.modules["bayesma.classical.rma.fitting"], "qprofile", qprofile)
    res = _fit("bcg", "REML")
    assert res.confint(level=0.9) == "ci"
    assert calls["args"] == (res, 0.9)


# --------------------------------------------------------------------------- fit_arrays
def test_fit_arrays_equals_rma():
    d = shared_data("bcg")
    a = fit_arrays(d["yi"].to_numpy(), d["vi"].to_numpy(), method="REML")
    b = rma(d)
    assert_close(a.estimate, b.estimate)
    assert_close(a.tau2, b.tau2)
    assert a.labels[0] == "Study 1"
    assert list(a.data.columns) == ["slab", "yi", "vi"]


def test_sei_argument():
    d = shared_data("bcg")
    d["sei"] = np.sqrt(d["vi"])
    a = rma(d, yi="yi", sei="sei")
    assert_close(a.estimate, rma(d).estimate)


def test_measure_from_attrs():
    d = shared_data("bcg")
    d.attrs["measure"] = "RR"
    assert rma(d).measure == "RR"
    assert rma(d, measure="OR").measure == "OR"


def test_k1_is_equal_effects_like_metafor():
    # metafor (leave1out on k = 2): tau2 = 0, Q = 0, Qp = 1, I2 = 0, H2 = 1
    ref = reference("edge_k2")["leave1out"]["REML"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = fit_arrays([0.8], [0.09], method="REML")
    assert_close(res.estimate, ref["estimate"][0])
    assert_close(res.se, ref["se"][0])
    assert res.tau2 == 0 and res.q == 0 and res.q_pval == 1 and res.i2 == 0 and res.h2 == 1
    with pytest.warns(BayesmaWarning, match="test='z'"):
        kn = fit_arrays([0.8], [0.09], method="REML", test="knha")
    assert kn.test == "z"


def test_edge_k2_all_methods_fit():
    # metafor fits every estimator on k = 2 (no {"error": ...} in the reference)
    for m in CLOSED + ITERATIVE:
        res = _fit("edge_k2", m)
        assert res.k == 2


def test_too_few_studies_for_parameters():
    with pytest.raises(TooFewStudiesError, match="larger than the number"):
        fit_arrays([0.1, 0.2], [0.1, 0.1], np.column_stack([[1, 1], [0.0, 1.0]]), method="REML")
    # metafor allows EE with k = p (regtest on k = 2)
    ee = fit_arrays([0.1, 0.2], [0.1, 0.1], np.column_stack([[1, 1], [0.0, 1.0]]), method="EE")
    assert ee.q_df == 0 and ee.q == 0
    with pytest.raises(TooFewStudiesError):
        fit_arrays([], [], method="REML")


# --------------------------------------------------------------------------- validation
def _bcg_with(col, row, value):
    d = shared_data("bcg")
    d[col] = d[col].astype(float)
    d.loc[row, col] = value
    return d


@pytest.mark.parametrize("value", [-0.02, 0.0, np.nan])
def test_bad_vi_names_column_and_row(value):
    d = _bcg_with("vi", 3, value)
    with pytest.raises(DataError) as exc:
        rma(d)
    msg = str(exc.value)
    assert "'vi'" in msg and "row 3" in msg and "Hart & Sutherland" in msg
    assert exc.value.column == "vi" and exc.value.rows == [3]


def test_nan_yi_names_column_and_row():
    d = _bcg_with("yi", 5, np.nan)
    with pytest.raises(DataError, match=r"'yi'.*row 5 \(study 'Stein & Aronson'\)"):
        rma(d)


def test_missing_column():
    with pytest.raises(DataError, match="'effect' .*not in the data"):
        rma(shared_data("bcg"), yi="effect")
    with pytest.raises(DataError, match="'v'"):
        rma(shared_data("bcg"), vi="v")


def test_fit_arrays_validation_names_position():
    with pytest.raises(DataError, match="vi must be > 0; position 1 \\(study 'B'\\)"):
        fit_arrays([0.1, 0.2, 0.3], [0.1, -1.0, 0.2], labels=["A", "B", "C"])
    with pytest.raises(DataError, match="yi has a missing"):
        fit_arrays([0.1, np.nan, 0.3], [0.1, 0.1, 0.2])
    with pytest.raises(DataError, match="differ in length"):
        fit_arrays([0.1, 0.2], [0.1])


def test_weights_column_genq():
    d = shared_data("bcg")
    d["w"] = 1 / d["vi"]
    a = rma(d, method="GENQ", weights="w")
    ref = reference("bcg")["rma"]["methods"]["GENQ"]
    assert_close(a.estimate, ref["b"])
    assert_close(a.se, ref["se"])
    assert isinstance(a, RMAResult)
    pd.testing.assert_index_equal(a.coef.index, pd.Index(["intrcpt"], name="term"))


def test_with_settings_refits_level():
    res = _fit("bcg", "REML")
    r90 = res.with_settings(level=0.9)
    assert r90.level == 0.9
    assert r90.ci_low > res.ci_low
    assert_close(r90.estimate, res.estimate)
    assert res.with_settings(measure="RR").measure == "RR"


def test_predict_with_text_newmods_is_a_data_error():
    res = rma(shared_data("bcg"), mods="~ ablat")
    with pytest.raises(DataError, match="newmods must be numbers"):
        res.predict(newmods="x")


def test_require_rma_result_rejects_other_objects():
    from bayesma.classical.rma import require_rma_result

    with pytest.raises(BayesmaError, match=r"leave1out\(\) needs a fitted model from bm.rma"):
        require_rma_result(shared_data("bcg"), "leave1out")


# --------------------------------------------------------------- issue 9: typed errors
@pytest.mark.parametrize("level", ["95%", "0.95", True, None, [0.95]])
def test_level_must_be_a_number(level):
    from bayesma.errors import BayesmaError

    dat = shared_data("bcg")
    with pytest.raises(BayesmaError, match="level must be a number"):
        rma(dat, level=level)


def test_level_as_percentage_number_still_works():
    dat = shared_data("bcg")
    assert rma(dat, level=95).ci_low == pytest.approx(rma(dat, level=0.95).ci_low)


def test_fit_arrays_refuses_overflowing_values_naming_the_position():
    from bayesma.errors import DataError

    with pytest.raises(DataError, match=r"position 1 \(study 'b'\)") as err:
        fit_arrays([0.1, 0.2, 0.3], [0.1, 1e-300, 0.1], labels=["a", "b", "c"])
    assert err.value.column == "vi"
    with pytest.raises(DataError, match="too large"):
        fit_arrays([1e300, 0.2, 0.3], [0.1, 0.1, 0.1])

"""bm.robu against robumeta 2.0 (tests/reference/robumeta/make_robumeta.R), and its errors."""

from __future__ import annotations

import json
import re
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesma as bm
from bayesma.classical.robu import FewDfWarning
from bayesma.errors import DataError, SpecError, TooFewStudiesError

REF = Path(__file__).parent.parent / "reference" / "robumeta"
COLS = ["estimate", "se", "stat", "df", "pval", "ci_low", "ci_high"]


@cache
def reference() -> dict:
    return json.loads((REF / "robumeta_reference.json").read_text())


@cache
def dataset(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / f"{name}.csv")


def case_id(c: dict) -> str:
    reg = "reg" if c["mods"] else "int"
    size = "small" if c["small"] else "large"
    return f"{c['dataset']}-{c['modelweights']}-{size}-{reg}-rho{c['rho']}"


CASES = reference()["cases"]


#: the user weights of make_robumeta.R (R expressions there)
USER_WEIGHTS = {"1 / var": lambda d: 1 / d["var"],
                "1 / (var + 0.05)": lambda d: 1 / (d["var"] + 0.05),
                "1 / (vi + 0.1)": lambda d: 1 / (d["vi"] + 0.1)}


def fit_case(c: dict, **kw):
    data, weights = dataset(c["dataset"]), c["modelweights"]
    if weights == "USER":
        data = data.assign(uw=USER_WEIGHTS[c["userweights"]](data))
        kw, weights = {"userweights": "uw", **kw}, "CORR"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewDfWarning)
        return bm.robu(data, yi=c["yi"], vi=c["vi"], studynum=c["study"],
                       mods=list(c["mods"]) or None, modelweights=weights,
                       rho=c["rho"], small=c["small"], **kw)


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_matches_robumeta(case):
    res = fit_case(case)
    assert list(res.coef.columns) == COLS
    assert res.coef.index[0] == "intrcpt"
    for col in COLS:
        np.testing.assert_allclose(res.coef[col].to_numpy(), np.atleast_1d(case[col]),
                                   rtol=1e-6, atol=0, err_msg=col)
    if case["modelweights"] == "USER":
        assert res.tau2 is None and res.i2 is None and res.omega2 is None
        assert res.label.startswith("RVE: User Specified Weights")
    else:
        np.testing.assert_allclose(res.tau2, case["tau2"], rtol=1e-6, atol=1e-12)
    p = res.X.shape[1]
    scale = 1.0 if case["small"] else case["N"] / (case["N"] - p)  # robu's VR.r has no N/(N-p)
    np.testing.assert_allclose(res.vcov, np.array(case["vcov"], ndmin=2) * scale, rtol=1e-6)
    assert (res.n_clusters, res.k) == (case["N"], case["M"])
    if case["modelweights"] == "CORR":
        np.testing.assert_allclose(res.i2, case["i2"], rtol=1e-6)
        np.testing.assert_allclose([res.moments.term1, res.moments.term2],
                                   [case["term1"], case["term2"]], rtol=1e-6)
        assert res.omega2 is None and res.rho == case["rho"]
    elif case["modelweights"] == "HIER":
        np.testing.assert_allclose(res.omega2, case["omega2"], rtol=1e-6, atol=1e-12)
        assert res.i2 is None and res.rho is None


SENS = [c for c in CASES if "sensitivity" in c]


@pytest.mark.parametrize("case", SENS, ids=[case_id(c) for c in SENS])
def test_sensitivity_matches_robumeta(case):
    res = fit_case(case)
    s = res.sensitivity()
    assert s.index.name == "rho"
    assert list(s.columns[:3]) == ["estimate", "se", "tau2"]
    assert list(s.index) == [r["rho"] for r in case["sensitivity"]]
    for r in case["sensitivity"]:
        row = s.loc[r["rho"]]
        est = row[[f"estimate[{t}]" for t in res.terms]].to_numpy(dtype=float)
        se = row[[f"se[{t}]" for t in res.terms]].to_numpy(dtype=float)
        np.testing.assert_allclose(est, r["estimate"], rtol=1e-6)
        np.testing.assert_allclose(se, r["se"], rtol=1e-6)
        np.testing.assert_allclose(row["tau2"], r["tau2"], rtol=1e-6)
        assert row["estimate"] == est[0] and row["se"] == se[0]


def test_sensitivity_at_fitted_rho_repeats_the_fit():
    c = SENS[1]
    res = fit_case(c)
    s = res.sensitivity(rho=[res.rho])
    np.testing.assert_allclose(s.iloc[0]["estimate"], res.estimate, rtol=1e-13)
    np.testing.assert_allclose(s.iloc[0]["se"], res.se, rtol=1e-13)
    assert s.iloc[0]["tau2"] == res.tau2


def test_sensitivity_rejects_hier_user_weights_and_bad_rho():
    for kind in ("HIER", "USER"):
        case = next(c for c in CASES if c["modelweights"] == kind)
        with pytest.raises(SpecError, match="correlated-effects"):
            fit_case(case).sensitivity()
    with pytest.raises(SpecError, match=r"\[0, 1\]"):
        fit_case(SENS[0]).sensitivity(rho=[0.5, 1.2])


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace(" ,", ",").replace("( ", "(").replace(" )", ")"))


@pytest.mark.parametrize("case", [CASES[1], CASES[6], CASES[14], CASES[-3]], ids=case_id)
def test_printout_follows_print_robu(case):
    res = fit_case(case)
    text = res.summary()
    rprint = _norm(case["printout"])
    for line in text.split("\n")[:8]:
        line = _norm(line).strip()
        if line.startswith(("Number", "RVE", "Rho")):
            assert line in rprint, line
    if case["modelweights"] == "USER":
        assert "Tau.sq" not in text and "User Specified Weights" in text
    elif case["modelweights"] == "CORR":
        assert f"I.sq = {case['i2']:.7g}" in text and f"Tau.sq = {case['tau2']:.7g}" in text
    else:
        assert f"Omega.sq = {case['omega2']:.7g}" in text
    assert "Note: If df < 4, do not trust the results" in text
    for term in res.terms:
        assert term in text
    assert str(res) == text and "RobuResult" in repr(res)


def test_df_below_4_warns_and_prints():
    hier = dataset("hierdat")
    with pytest.warns(FewDfWarning, match="'followup' \\(df = 2.03\\)"):
        res = bm.robu(hier, yi="effectsize", vi="var", studynum="studyid",
                      mods=["binge", "followup", "sreport", "age"], modelweights="HIER")
    assert "Warning: df < 4 for" in res.summary()
    with warnings.catch_warnings():
        warnings.simplefilter("error", FewDfWarning)  # large-sample: no df warning
        bm.robu(hier, yi="effectsize", vi="var", studynum="studyid",
                mods=["binge", "followup", "sreport", "age"], modelweights="HIER", small=False)


def test_formula_and_column_list_agree_and_row_order_does_not_matter():
    dat = dataset("corrdat")
    a = bm.robu(dat, yi="effectsize", vi="var", studynum="studyid",
                mods=["males", "college", "binge"])
    b = bm.robu(dat, yi="effectsize", vi="var", studynum="studyid",
                mods="~ males + college + binge")
    pd.testing.assert_frame_equal(a.coef, b.coef)
    shuffled = dat.sample(frac=1.0, random_state=1)
    c = bm.robu(shuffled, yi="effectsize", vi="var", studynum="studyid",
                mods="males + college + binge")
    pd.testing.assert_frame_equal(a.coef, c.coef, rtol=1e-10)
    assert c.formula == "effectsize ~ males + college + binge"
    # weights are returned in the order of the rows given
    np.testing.assert_allclose(c.weights, pd.Series(a.weights, index=dat.index)
                               .loc[shuffled.index].to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("weights", ["CORR", "HIER"])
@pytest.mark.parametrize("small", [True, False])
def test_location_and_scale_equivariance(weights, small):
    """Shifting y moves only the intercept; scaling y and v by c² scales b, SE by c
    and tau² (omega²) by c², leaving df, t and p unchanged."""
    dat = dataset("corrdat")
    kw = dict(yi="effectsize", vi="var", studynum="studyid", mods=["males", "college"],
              modelweights=weights, small=small)
    base = bm.robu(dat, **kw)
    shifted = bm.robu(dat.assign(effectsize=dat["effectsize"] + 3.0), **kw)
    np.testing.assert_allclose(shifted.beta - base.beta, [3.0, 0.0, 0.0], atol=1e-10)
    np.testing.assert_allclose(shifted.coef["se"], base.coef["se"], rtol=1e-8)
    c = 2.5
    scaled = bm.robu(dat.assign(effectsize=c * dat["effectsize"], var=c * c * dat["var"]), **kw)
    np.testing.assert_allclose(scaled.beta, c * base.beta, rtol=1e-10)
    np.testing.assert_allclose(scaled.coef["se"], c * base.coef["se"], rtol=1e-10)
    np.testing.assert_allclose(scaled.tau2, c * c * base.tau2, rtol=1e-10)
    for col in ("df", "stat", "pval"):
        np.testing.assert_allclose(scaled.coef[col], base.coef[col], rtol=1e-8)
    if weights == "HIER":
        np.testing.assert_allclose(scaled.omega2, c * c * base.omega2, rtol=1e-10)
    assert base.p == 3 and base.terms == ["intrcpt", "males", "college"]


def test_categorical_moderator_terms():
    with pytest.warns(FewDfWarning, match=r"deltype\[T.overt\]"):
        res = bm.robu(dataset("assink2016"), mods="~ deltype + year")
    assert list(res.coef.index) == ["intrcpt", "deltype[T.general]", "deltype[T.overt]", "year"]
    assert res.formula == "yi ~ deltype + year"


def test_facade_names():
    assert bm.robu is bm.classical.robu.robu
    assert isinstance(bm.robu(dataset("assink2016")), bm.RobuResult)


@pytest.mark.parametrize("name,renamed", [("assink2016", False), ("corrdat", True),
                                          ("hierdat", True)])
def test_bundled_datasets_are_the_reference_data(name, renamed):
    bundled = bm.datasets.load(name)
    ref = dataset(name)
    if renamed:
        ref = ref.rename(columns={"effectsize": "yi", "var": "vi"})
    pd.testing.assert_frame_equal(bundled, ref, check_like=False)
    meta = bm.datasets.info(name)
    assert meta["cluster"] in bundled.columns and meta["effect_id"] in bundled.columns
    assert meta["citation"]


# ------------------------------------------------------------------ errors
def small_table() -> pd.DataFrame:
    return pd.DataFrame({"study": [1, 1, 2, 2, 3, 4, 4],
                         "yi": [0.1, 0.3, 0.2, 0.5, -0.1, 0.4, 0.2],
                         "vi": [0.02, 0.03, 0.04, 0.02, 0.05, 0.03, 0.02],
                         "x": [1.0, 2.0, 3.0, 1.0, 2.0, 5.0, 4.0]},
                        index=list("abcdefg"))


def test_missing_cluster_ids_name_the_rows():
    dat = small_table()
    dat.loc[["c", "f"], "study"] = np.nan
    with pytest.raises(DataError, match="'study'.*row 'c'.*row 'f'") as e:
        bm.robu(dat)
    assert e.value.column == "study" and e.value.rows == ["c", "f"]


def test_single_cluster_is_too_few():
    dat = small_table().assign(study=1)
    with pytest.raises(TooFewStudiesError, match="at least 2 clusters"):
        bm.robu(dat)


def test_more_coefficients_than_clusters():
    dat = small_table().assign(z=[0.0, 1.0, 3.0, 2.0, 7.0, 1.0, 1.0], u=[1, 2, 2, 3, 3, 9, 1])
    with pytest.raises(TooFewStudiesError, match="more clusters"):
        bm.robu(dat, mods=["x", "z", "u"])


@pytest.mark.parametrize("value", [0.0, -0.1])
def test_nonpositive_vi(value):
    dat = small_table()
    dat.loc["d", "vi"] = value
    with pytest.raises(DataError, match="'vi'.*row 'd'") as e:
        bm.robu(dat)
    assert e.value.column == "vi"


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nonfinite_yi(value):
    dat = small_table()
    dat.loc["e", "yi"] = value
    with pytest.raises(DataError, match="'yi'.*row 'e'"):
        bm.robu(dat)


@pytest.mark.parametrize("mods", [["x"], "~ x"])
def test_missing_moderator_is_an_error(mods):
    dat = small_table()
    dat.loc["b", "x"] = np.nan
    with pytest.raises(DataError, match="'x' missing at row 'b'") as e:
        bm.robu(dat, mods=mods)
    assert e.value.rows == ["b"] and e.value.column == "x"


def test_hier_with_one_effect_per_cluster():
    dat = small_table().assign(study=range(7))
    with pytest.raises(DataError, match="single effect size"):
        bm.robu(dat, modelweights="HIER")
    bm.robu(dat, modelweights="CORR")  # RVE for independent effects is fine


@pytest.mark.parametrize("kw,match", [({"modelweights": "AR"}, "CORR' or 'HIER"),
                                      ({"rho": 1.5}, r"\[0, 1\]"), ({"rho": "a"}, "number")])
def test_bad_arguments(kw, match):
    with pytest.raises(SpecError, match=match):
        bm.robu(small_table(), **kw)


@pytest.mark.parametrize("value", [0.0, -1.0, np.nan])
def test_bad_user_weights_name_the_row(value):
    dat = small_table().assign(w=[1.0, 2, 3, 4, 5, 6, 7])
    dat.loc["c", "w"] = value
    with pytest.raises(DataError, match="'w'.*row 'c'") as e:
        bm.robu(dat, userweights="w")
    assert e.value.column == "w"


def test_data_must_be_a_frame():
    with pytest.raises(DataError, match="DataFrame"):
        bm.robu(small_table().to_dict())

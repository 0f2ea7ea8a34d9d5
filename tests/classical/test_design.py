"""bayesma/classical/design.py: vetted formulas, intercept names, newmods, infinite values.

Issue 9: §1 (no code runs from a formula; ``^`` is a power inside ``I()``), §2 (a column
named ``Intercept`` / ``intrcpt``; an unseen category level in ``predict``), §4 (a
moderator containing inf).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import shared_data
from formulaic import Formula

import bayesma as bm
from bayesma.classical.design import build_design
from bayesma.classical.formula_context import SAFE_TRANSFORMS, SafeMaterializer
from bayesma.errors import DataError

HOSTILE = [
    "~ ablat + I(ablat**2 + 0*np.testing._private.utils.os.system('touch x'))",
    "~ ablat + C.__globals__['__builtins__']['__import__']('os').system('touch x')",
    "~ C(alloc, levels=__import__('os').system('touch x'))",
    "~ ablat.__class__.__init__.__globals__",
    "~ I(ablat.__class__.__bases__[0].__subclasses__())",
    "~ ablat + np.testing._private.utils.os.system('touch x')",
]


@pytest.fixture
def bcg():
    return shared_data("bcg")


@pytest.mark.parametrize("mods", HOSTILE)
def test_hostile_formula_runs_nothing_through_rma_and_build_design(mods, bcg, tmp_path,
                                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="cannot parse the moderator formula"):
        build_design(bcg, mods)
    with pytest.raises(DataError, match="cannot parse the moderator formula"):
        bm.rma(bcg, mods=mods)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("mods", HOSTILE[:2])
def test_hostile_formula_runs_nothing_through_exact_posterior(mods, bcg, tmp_path,
                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError):
        bm.exact_posterior(bcg, mods=mods)
    assert not (tmp_path / "x").exists()


def test_hostile_formula_in_a_stored_model_spec_runs_nothing(bcg, tmp_path, monkeypatch):
    """``bm.load(p).summary()`` rebuilds the model from the netCDF's ``model_spec``."""
    from bayesma.bayes.models import MetaRegression, model_from_spec

    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = MetaRegression(bcg, "~ ablat").spec()
    spec = json.loads(json.dumps(spec))
    spec["kwargs"]["mods"] = HOSTILE[0]
    with pytest.raises(DataError, match="cannot parse the moderator formula"):
        model_from_spec(json.dumps(spec), bcg)
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_hostile_formula_in_a_netcdf_file_runs_nothing_on_load_summary(bcg, tmp_path,
                                                                      monkeypatch):
    """The whole path of issue 9: a .nc whose ``model_spec`` carries a hostile formula."""
    import h5netcdf

    from bayesma.bayes.models import MetaRegression

    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = MetaRegression(bcg, "~ ablat").fit(draws=100, tune=100, chains=2,
                                                 random_seed=1, progressbar=False)
    path = fit.to_netcdf(tmp_path / "fit.nc")
    spec = json.loads(fit.attrs["model_spec"])
    spec["kwargs"]["mods"] = HOSTILE[0]
    with h5netcdf.File(path, "a") as f:
        f.attrs["model_spec"] = json.dumps(spec)
    with pytest.raises(DataError, match="cannot parse the moderator formula"):
        bm.load(path).summary()  # refused on load (bayes/loading.py) or on rebuilding
    assert not (tmp_path / "x").exists()


def test_safe_materializer_context_holds_only_the_allowed_functions(bcg, tmp_path,
                                                                      monkeypatch):
    """Defense in depth: even unvetted text given to the materializer cannot reach np."""
    monkeypatch.chdir(tmp_path)
    assert "np" not in SAFE_TRANSFORMS and "bs" not in SAFE_TRANSFORMS
    df = bcg[["ablat"]].astype(float)
    # formulaic's default context would run this
    with pytest.raises(Exception, match="np"):
        Formula("~ I(np.testing._private.utils.os.system('touch x'))").get_model_matrix(
            df, materializer=SafeMaterializer)
    with pytest.raises(Exception, match="bs"):
        Formula("~ bs(ablat)").get_model_matrix(df, materializer=SafeMaterializer)
    assert not (tmp_path / "x").exists()
    des = build_design(bcg, "~ ablat + C(alloc)")
    # newmods go the same way (formulaic stores the materializer by its registered name)
    assert des.spec.materializer in ("bayesma_safe", SafeMaterializer)
    assert type(des.spec.get_materializer(df)) is SafeMaterializer


# ----------------------------------------------------------------------------- ^ is a power
def test_caret_is_a_power_in_I():
    d = pd.DataFrame({"dose": [100, 200, 250, 300]})
    des = build_design(d, "~ I(dose^2)")
    # formulaic read ^ as XOR: 102, 202, 248 (issue 9)
    assert des.X[:, 1].tolist() == [10000.0, 40000.0, 62500.0, 90000.0]
    assert des.terms == ["intrcpt", "I(dose ** 2)"]
    np.testing.assert_array_equal(des.X, build_design(d, "~ I(dose**2)").X)
    # R's precedence: dose^2 + 1 is (dose^2) + 1, not dose^3 (Python's ^ is loosest)
    np.testing.assert_array_equal(build_design(d, "~ I(dose^2 + 1)").X[:, 1],
                                  d["dose"].to_numpy(float) ** 2 + 1)
    np.testing.assert_array_equal(build_design(d, "~ I(2 * dose^0.5)").X[:, 1],
                                  2 * np.sqrt(d["dose"].to_numpy(float)))


def test_integer_column_powers_do_not_overflow():
    d = pd.DataFrame({"year": np.array([1971, 1980, 1990, 2004], dtype=np.int64)})
    x = build_design(d, "~ I(year^6)").X[:, 1]
    np.testing.assert_allclose(x, d["year"].to_numpy(float) ** 6, rtol=1e-15)
    assert (x > 0).all()  # int64 would wrap around to negative numbers


def test_meta_regression_with_caret_equals_a_precomputed_square(bcg):
    a = bm.rma(bcg, mods="~ ablat + I(ablat^2)")
    b = bm.rma(bcg.assign(ablat2=bcg["ablat"] ** 2), mods="~ ablat + ablat2")
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-10)
    np.testing.assert_allclose(a.vcov, b.vcov, rtol=1e-10)
    assert a.tau2 == pytest.approx(b.tau2, rel=1e-10)
    assert list(a.coef.index) == ["intrcpt", "ablat", "I(ablat ** 2)"]
    ea = bm.exact_posterior(bcg, mods="~ ablat + I(ablat^2)")
    eb = bm.exact_posterior(bcg.assign(ablat2=bcg["ablat"] ** 2), mods="~ ablat + ablat2")
    np.testing.assert_allclose(ea.mean("beta").to_numpy(), eb.mean("beta").to_numpy(),
                               rtol=1e-8)


# ----------------------------------------------------------------------------- intercept names
def test_column_named_Intercept_is_an_ordinary_moderator(bcg):
    ref = bm.rma(bcg, mods="~ ablat")
    for mods in ("~ Intercept", ["Intercept"]):
        res = bm.rma(bcg.assign(Intercept=bcg["ablat"]), mods=mods)
        assert list(res.coef.index) == ["intrcpt", "Intercept"]
        np.testing.assert_allclose(res.beta, ref.beta, rtol=1e-10)
        assert res.tau2 == pytest.approx(ref.tau2, rel=1e-10)
    res = bm.rma(bcg.assign(Intercept=bcg["ablat"]), mods="~ Intercept * year")
    assert list(res.coef.index) == ["intrcpt", "Intercept", "year", "Intercept:year"]
    assert res.formula == "~ Intercept * year"  # the internal alias never shows
    post = bm.exact_posterior(bcg.assign(Intercept=bcg["ablat"]), mods="~ Intercept")
    ref_post = bm.exact_posterior(bcg, mods="~ ablat")
    assert list(post.mean("beta").index) == ["intrcpt", "Intercept"]
    assert post.mean("beta")["Intercept"] == pytest.approx(
        ref_post.mean("beta")["ablat"], rel=1e-8)
    assert post.mean("mu") == pytest.approx(ref_post.mean("mu"), rel=1e-8)


def test_column_named_Intercept_in_newmods(bcg):
    res = bm.rma(bcg.assign(Intercept=bcg["ablat"]), mods="~ Intercept")
    ref = bm.rma(bcg, mods="~ ablat")
    a = res.predict(pd.DataFrame({"Intercept": [10.0, 40.0]}))
    b = ref.predict(pd.DataFrame({"ablat": [10.0, 40.0]}))
    np.testing.assert_allclose(a["pred"], b["pred"], rtol=1e-10)


def test_column_named_intrcpt_is_a_data_error(bcg):
    d = bcg.assign(intrcpt=bcg["ablat"])
    for mods in ("~ intrcpt", "~ ablat + intrcpt", ["intrcpt"], d[["intrcpt"]]):
        with pytest.raises(DataError, match="named 'intrcpt'.*rename") as err:
            bm.rma(d, mods=mods)
        assert err.value.column == "intrcpt"
    with pytest.raises(DataError, match="named 'intrcpt'"):
        bm.exact_posterior(d, mods="~ intrcpt")


# ----------------------------------------------------------------------------- newmods
def test_predict_with_an_unseen_level_names_level_and_column(bcg):
    res = bm.rma(bcg, mods="~ ablat + C(alloc)")
    ok = res.predict(pd.DataFrame({"ablat": [30.0], "alloc": ["systematic"]}))
    assert np.isfinite(ok["pred"]).all()
    with pytest.raises(DataError, match=r"'alloc'.*level 'cluster'.*not seen in the fit") \
            as err:
        res.predict(pd.DataFrame({"ablat": [30.0, 40.0], "alloc": ["random", "cluster"]}))
    assert err.value.column == "alloc" and err.value.rows == [1]
    # a string column used bare (treatment-coded without C()) too
    res2 = bm.rma(bcg, mods=["ablat", "alloc"])
    with pytest.raises(DataError, match="level 'Random'"):
        res2.predict({"ablat": [30.0], "alloc": ["Random"]})
    post = bm.exact_posterior(bcg, mods="~ ablat + C(alloc)")
    with pytest.raises(DataError, match="level 'cluster'"):
        post.predict(pd.DataFrame({"ablat": [30.0], "alloc": ["cluster"]}))


def test_newmods_missing_column_or_value(bcg):
    res = bm.rma(bcg, mods="~ ablat + C(alloc)")
    with pytest.raises(DataError, match="'alloc'.*newmods"):
        res.predict(pd.DataFrame({"ablat": [30.0]}))
    with pytest.raises(DataError, match="'ablat'.*newmods.*missing"):
        res.predict(pd.DataFrame({"ablat": [np.nan], "alloc": ["random"]}))
    with pytest.raises(DataError, match="'ablat'.*newmods.*infinite"):
        res.predict(pd.DataFrame({"ablat": [np.inf], "alloc": ["random"]}))


# ----------------------------------------------------------------------------- infinite values
@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_moderator_names_column_and_row(bcg, value):
    d = bcg.assign(ablat=bcg["ablat"].astype(float).where(bcg.index != 3, value))
    for mods in ("~ ablat", ["ablat"], "~ I(ablat^2)"):
        with pytest.raises(DataError, match=r"'ablat'.*row 3 \(study 'Hart & Sutherland'\)"
                           r".*infinite") as err:
            bm.rma(d, mods=mods)
        assert err.value.column == "ablat" and err.value.rows == [3]
    with pytest.raises(DataError, match="infinite"):
        bm.rma(d, mods=d[["ablat"]])
    with pytest.raises(DataError, match="'ablat'.*infinite"):
        bm.exact_posterior(d, mods="~ ablat")


def test_transform_giving_inf_names_term_and_row(bcg):
    d = bcg.assign(ablat=bcg["ablat"].where(bcg.index != 3, 0))
    with pytest.raises(DataError, match=r"'log\(ablat\)' is not finite.*row 3") as err:
        bm.rma(d, mods="~ log(ablat)")
    assert err.value.rows == [3]


def test_backquoted_and_dotted_column_names(bcg):
    d = bcg.assign(**{"abs lat": bcg["ablat"], "abs.lat": bcg["ablat"] * 2})
    a = build_design(d, "~ `abs lat`")
    b = build_design(d, "~ abs.lat")
    assert a.terms == ["intrcpt", "abs lat"] and b.terms == ["intrcpt", "abs.lat"]
    np.testing.assert_array_equal(2 * a.X[:, 1], b.X[:, 1])
    d["abs.lat"] = d["year"]
    assert build_design(d, ["abs lat", "abs.lat"]).terms == ["intrcpt", "abs lat", "abs.lat"]


def test_reference_level_options(bcg):
    a = build_design(bcg, "~ C(alloc, ref='systematic')")
    b = build_design(bcg, "~ C(alloc, levels=['systematic', 'alternate', 'random'])")
    np.testing.assert_array_equal(a.X, b.X)
    assert a.X.shape == (13, 3)
    # the systematic rows are the reference: intercept only
    sysrows = (bcg["alloc"] == "systematic").to_numpy()
    assert (a.X[sysrows, 1:] == 0).all()

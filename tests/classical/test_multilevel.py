"""Multilevel / multivariate models (rma_mv) against metafor 3.8 ``rma.mv``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import assert_close, reference, shared_data

from bayesma.classical.multilevel import (
    RMAMVResult,
    impute_covariance_matrix,
    parse_random,
    rma_mv,
)
from bayesma.classical.multilevel.likelihood import MVModel as _MVModel
from bayesma.classical.rma import rma
from bayesma.errors import DataError, TooFewStudiesError

NAME = "konstantopoulos2011"
SECTIONS = ("three_level", "correlated_effects")
KINDS = ("intercept", "moderator")


def _fit(section: str, kind: str, **kw) -> RMAMVResult:
    rve = reference(NAME)["rve"]
    d = shared_data(NAME)
    ref = rve[section][kind]
    mods = None if kind == "intercept" else ref["mods"]
    if section == "three_level":
        return rma_mv(d, random=ref["random"], mods=mods, **kw)
    V = impute_covariance_matrix(d["vi"], d[rve["cluster"]], rve[section]["r"])
    return rma_mv(d, V=V, random=ref["random"], mods=mods, **kw)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("section", SECTIONS)
def test_rma_mv_matches_metafor(section, kind):
    ref = reference(NAME)["rve"][section][kind]
    fit = _fit(section, kind)
    assert fit.method == ref["method"]
    assert fit.k == ref["k"]
    assert fit.p == ref["p"]
    assert list(fit.coef.index) == ref["coef_names"]
    c = fit.coef
    assert_close(fit.beta, ref["b"], what="b")
    assert_close(c["se"], ref["se"], what="se")
    assert_close(c["stat"], ref["zval"], what="zval")
    assert_close(c["pval"], ref["pval"], what="pval")
    assert_close(c["ci_low"], ref["ci.lb"], what="ci.lb")
    assert_close(c["ci_high"], ref["ci.ub"], what="ci.ub")
    assert_close(fit.sigma2, ref["sigma2"], what="sigma2")
    assert fit.sigma2_names == ref["sigma2_names"]
    assert fit.sigma2_nlevels == ref["sigma2_nlevels"]
    assert_close(fit.q, ref["QE"], what="QE")
    assert fit.q_df == ref["QEdf"]
    assert_close(fit.q_pval, ref["QEp"], what="QEp")
    assert_close(fit.qm, ref["QM"], what="QM")
    assert [fit.qm_df] == ref["QMdf"]
    assert_close(fit.qm_pval, ref["QMp"], what="QMp")
    assert_close(fit.ll, ref["logLik"], what="logLik")
    assert_close(fit.fit_stats.loc["ll", "REML"], ref["logLik"], what="fit_stats ll")
    assert fit.converged


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("section", SECTIONS)
def test_rma_mv_is_at_the_optimum(section, kind):
    """Gradient zero and observed information positive definite at the estimate."""
    fit = _fit(section, kind)
    model = _MVModel(fit.yi, fit.X, fit.sampling_cov(), fit.components, fit.blocks)
    ev = model.evaluate(fit.sigma2, reml=True, derivs=True)
    assert np.all(np.abs(ev.grad) < 1e-6)
    assert np.all(np.linalg.eigvalsh(-ev.hess) > 0)


def test_analytic_derivatives_match_finite_differences():
    fit = _fit("three_level", "moderator")
    model = _MVModel(fit.yi, fit.X, fit.sampling_cov(), fit.components, fit.blocks)
    s0 = np.array([0.05, 0.04])
    for reml in (True, False):
        ev = model.evaluate(s0, reml=reml, derivs=True)
        h = 1e-6
        num_g = np.empty(2)
        num_h = np.empty((2, 2))
        for i in range(2):
            up, dn = s0.copy(), s0.copy()
            up[i] += h
            dn[i] -= h
            eu = model.evaluate(up, reml=reml, derivs=True)
            ed = model.evaluate(dn, reml=reml, derivs=True)
            num_g[i] = (eu.ll - ed.ll) / (2 * h)
            num_h[:, i] = (eu.grad - ed.grad) / (2 * h)
        np.testing.assert_allclose(ev.grad, num_g, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(ev.hess, num_h, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_one_effect_per_cluster_equals_rma(method):
    d = shared_data("bcg")
    d["id"] = np.arange(len(d))
    for mods in (None, "~ ablat"):
        mv = rma_mv(d, random="~ 1 | id", method=method, mods=mods)
        uni = rma(d, method=method, mods=mods)
        assert_close(mv.sigma2, [uni.tau2], what="sigma2 = tau2")
        assert_close(mv.beta, uni.beta, what="beta")
        assert_close(mv.coef["se"], uni.coef["se"], what="se")
        assert_close(mv.coef["pval"], uni.coef["pval"], what="pval")
        assert_close(mv.q, uni.q, what="QE")
        for col in ("ML", "REML"):
            assert_close(mv.fit_stats[col], uni.fit_stats[col], what=f"fit_stats {col}")
        if mods is not None:
            assert_close(mv.qm, uni.qm, what="QM")


def test_t_test_matches_rma_t():
    d = shared_data("bcg")
    d["id"] = np.arange(len(d))
    mv = rma_mv(d, random="~ 1 | id", mods="~ ablat", test="t")
    uni = rma(d, mods="~ ablat", test="t")
    assert mv.df == uni.df == d.shape[0] - 2
    assert_close(mv.coef["pval"], uni.coef["pval"])
    assert_close(mv.coef["ci_low"], uni.coef["ci_low"])
    assert mv.qm_df == uni.qm_df
    assert_close(mv.qm, uni.qm)


def test_random_specifications_are_equivalent():
    d = shared_data(NAME)
    a = rma_mv(d, random="~ 1 | district/school")
    for spec in ("district/school", ("district", "school"), ["~ 1 | district/school"]):
        b = rma_mv(d, random=spec)
        assert b.sigma2_names == a.sigma2_names
        assert_close(b.sigma2, a.sigma2)
    assert parse_random("~1|a") == [("a", ["a"])]
    assert parse_random(["~ 1 | a", "~ 1 | b"]) == [("a", ["a"]), ("b", ["b"])]
    with pytest.raises(DataError, match="random intercepts"):
        parse_random("~ x | a")


def test_crossed_random_effects_and_fixed_sigma2():
    d = shared_data(NAME)
    fit = rma_mv(d, random=["~ 1 | district", "~ 1 | school"])
    assert fit.sigma2_names == ["district", "school"]
    assert fit.converged
    # fixing a component at its estimate reproduces the fit
    full = rma_mv(d, random="~ 1 | district/school")
    fixed = rma_mv(d, random="~ 1 | district/school", sigma2=[np.nan, full.sigma2[1]])
    assert_close(fixed.sigma2, full.sigma2)
    assert_close(fixed.beta, full.beta)
    assert fixed.fit_stats.loc["AIC", "REML"] == pytest.approx(
        full.fit_stats.loc["AIC", "REML"] - 2
    )


def test_boundary_estimate_is_zero():
    rng = np.random.default_rng(3)
    n = rng.integers(1, 5, 15)
    cl = np.repeat(np.arange(15), n)
    vi = rng.uniform(0.05, 0.2, cl.size)
    y = 0.2 + rng.normal(0, np.sqrt(vi))
    d = pd.DataFrame({"yi": y, "vi": vi, "study": cl, "es": np.arange(cl.size)})
    fit = rma_mv(d, random="~ 1 | study/es")
    assert fit.converged
    assert np.all(fit.sigma2 >= 0)
    model = _MVModel(fit.yi, fit.X, fit.sampling_cov(), fit.components, fit.blocks)
    g = model.evaluate(fit.sigma2, derivs=True).grad
    # Kuhn-Tucker: zero gradient where positive, non-positive gradient at zero
    assert np.all(np.where(fit.sigma2 > 0, np.abs(g) < 1e-6, g <= 1e-8))


def test_impute_covariance_matrix():
    vi = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    cl = np.array(["b", "a", "b", "a", "c"])
    V = impute_covariance_matrix(vi, cl, 0.5)
    np.testing.assert_allclose(np.diag(V), vi)
    assert V[0, 2] == pytest.approx(0.5 * np.sqrt(0.1 * 0.3))
    assert V[1, 3] == pytest.approx(0.5 * np.sqrt(0.2 * 0.4))
    assert V[0, 1] == 0 and V[2, 4] == 0
    np.testing.assert_allclose(V, V.T)
    # one r per cluster, in sorted cluster order (a, b, c)
    V2 = impute_covariance_matrix(vi, cl, [0.1, 0.9, 0.0])
    assert V2[1, 3] == pytest.approx(0.1 * np.sqrt(0.2 * 0.4))
    assert V2[0, 2] == pytest.approx(0.9 * np.sqrt(0.1 * 0.3))
    with pytest.raises(DataError):
        impute_covariance_matrix(vi, cl, [0.1, 0.2])
    with pytest.raises(DataError, match="cluster"):
        impute_covariance_matrix(vi, [1, 2, None, 1, 2], 0.5)


def test_row_order_does_not_matter():
    d = shared_data(NAME)
    V = impute_covariance_matrix(d["vi"], d["district"], 0.8)
    a = rma_mv(d, V=V, random="~ 1 | district", mods="~ year")
    perm = np.random.default_rng(0).permutation(len(d))
    dp = d.iloc[perm]
    Vp = impute_covariance_matrix(dp["vi"], dp["district"], 0.8)
    np.testing.assert_allclose(Vp, V[np.ix_(perm, perm)])
    b = rma_mv(dp, V=Vp, random="~ 1 | district", mods="~ year")
    assert_close(b.sigma2, a.sigma2)
    assert_close(b.beta, a.beta)
    # V given as blocks in data order gives the same fit
    blocks = [
        V[np.ix_(ix, ix)]
        for ix in np.split(np.arange(len(d)), np.flatnonzero(np.diff(d["district"].to_numpy())) + 1)
    ]
    c = rma_mv(d, V=blocks, random="~ 1 | district", mods="~ year")
    assert_close(c.sigma2, a.sigma2)


def test_missing_moderator_rows_are_dropped_with_v():
    d = shared_data(NAME)
    V = impute_covariance_matrix(d["vi"], d["district"], 0.8)
    d2 = d.copy()
    d2.loc[3, "year"] = np.nan
    with pytest.warns(Warning, match="dropped 1 row"):
        fit = rma_mv(d2, V=V, random="~ 1 | district", mods="~ year")
    keep = np.ones(len(d), dtype=bool)
    keep[3] = False
    ref = rma_mv(d.loc[keep], V=V[np.ix_(keep, keep)], random="~ 1 | district", mods="~ year")
    assert fit.k == len(d) - 1
    assert fit.dropped == [3]
    assert_close(fit.beta, ref.beta)


def test_input_validation():
    d = shared_data(NAME)
    bad = d.copy()
    bad.loc[5, "school"] = np.nan
    with pytest.raises(DataError, match="'school'.*row 5") as exc:
        rma_mv(bad, random="~ 1 | district/school")
    assert exc.value.column == "school"
    assert exc.value.rows == [5]
    with pytest.raises(DataError, match="'nope'"):
        rma_mv(d, random="~ 1 | nope")
    bad = d.copy()
    bad.loc[2, "vi"] = -1
    with pytest.raises(DataError, match="'vi'"):
        rma_mv(bad, random="~ 1 | district")
    bad = d.copy()
    bad.loc[7, "yi"] = np.nan
    with pytest.raises(DataError, match="'yi'.*row 7"):
        rma_mv(bad, random="~ 1 | district")
    with pytest.raises(DataError, match="56 x 56"):
        rma_mv(d, V=np.eye(3), random="~ 1 | district")
    with pytest.raises(DataError, match="method"):
        rma_mv(d, random="~ 1 | district", method="DL")
    with pytest.raises(DataError, match="test"):
        rma_mv(d, random="~ 1 | district", test="knha")
    with pytest.raises(TooFewStudiesError):
        rma_mv(d.iloc[:1], random="~ 1 | district")


def test_summary_and_helpers():
    fit = _fit("three_level", "moderator")
    text = str(fit)
    assert "Multivariate Meta-Analysis Model (k = 56; method: REML)" in text
    assert "sigma^2.1" in text and "district/school" in text
    assert "Test for Residual Heterogeneity:" in text
    assert "QE(df = 54) = 550.2597, p-val < .0001" in text
    assert "Test of Moderators (coefficient 2):" in text
    assert "year" in text
    text0 = str(_fit("three_level", "intercept"))
    assert "Test for Heterogeneity:" in text0
    assert "Q(df = 55) = 578.8640" in text0
    assert "Test of Moderators" not in text0
    assert "RMAMVResult" in repr(fit)
    pr = _fit("three_level", "intercept").predict()
    fit0 = _fit("three_level", "intercept")
    assert pr["pred"].iloc[0] == pytest.approx(fit0.estimate)
    half = pr["pi_high"].iloc[0] - pr["pred"].iloc[0]
    assert half == pytest.approx(1.959963984540054 * np.sqrt(fit0.se**2 + fit0.sigma2.sum()))
    nd = fit.predict(newmods=[1980, 1990])
    assert_close(nd["pred"], fit.beta[0] + fit.beta[1] * np.array([1980, 1990]))
    row = fit.to_frame()
    assert row.loc[0, "sigma2.district"] == fit.sigma2[0]
    M = fit.marginal_cov()
    np.testing.assert_allclose(fit.solve_marginal(M[:, :3]), np.eye(len(M))[:, :3], atol=1e-10)


def test_overflowing_values_are_data_errors():
    # issue 9: yi = 1e300 gave a raw LinAlgError, vi = 1e-300 a meaningless fit
    df = pd.DataFrame({"study": [1, 1, 2, 2, 3, 3], "es": [1, 2, 3, 4, 5, 6],
                       "yi": [0.1, 0.2, 0.3, 0.5, 0.2, 0.4],
                       "vi": [0.01, 0.02, 0.03, 0.04, 0.02, 0.03]})
    for col, value in (("yi", 1e300), ("vi", 1e-300)):
        bad = df.copy()
        bad.loc[2, col] = value
        with pytest.raises(DataError, match=f"column '{col}': row 2") as err:
            rma_mv(bad, yi="yi", vi="vi", random="~ 1 | study/es")
        assert err.value.column == col


def test_i2_levels_match_metafor_faq():
    """Multilevel I² per level (metafor FAQ; Cheung 2014) against R on konstantopoulos2011."""
    ref = json.loads(
        (Path(__file__).parent.parent / "reference" / "rma_mv" / "rma_mv_reference.json")
        .read_text()
    )["i2_konstantopoulos2011"]
    d = shared_data(NAME)
    for kind, mods in (("intercept", None), ("moderator", ref["moderator"]["mods"])):
        fit = rma_mv(d, random="~ 1 | district/school", mods=mods)
        np.testing.assert_allclose(fit.sigma2, ref[kind]["sigma2"], rtol=1e-6)
        np.testing.assert_allclose(fit.i2_levels.to_numpy(), ref[kind]["i2"], rtol=1e-6)
        assert list(fit.i2_levels.index) == ["district", "district/school"]

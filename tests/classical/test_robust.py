"""Cluster-robust variance estimation against metafor 3.8 robust() and clubSandwich 0.5.8."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import assert_close, reference, shared_data

from bayesma.classical.multilevel import impute_covariance_matrix, rma_mv
from bayesma.classical.rma import rma
from bayesma.classical.robust import RobustResult, coef_test, robust, vcov_cr, wald_test
from bayesma.errors import DataError

NAME = "konstantopoulos2011"
SECTIONS = ("three_level", "correlated_effects")
KINDS = ("intercept", "moderator")


def _fit(section: str, kind: str):
    rve = reference(NAME)["rve"]
    d = shared_data(NAME)
    ref = rve[section][kind]
    mods = None if kind == "intercept" else ref["mods"]
    if section == "three_level":
        return rma_mv(d, random=ref["random"], mods=mods)
    V = impute_covariance_matrix(d["vi"], d[rve["cluster"]], rve[section]["r"])
    return rma_mv(d, V=V, random=ref["random"], mods=mods)


def _cases():
    return [pytest.param(s, k, id=f"{s}-{k}") for s in SECTIONS for k in KINDS]


@pytest.mark.parametrize(("section", "kind"), _cases())
def test_cr2_coef_test(section, kind):
    ref = reference(NAME)["rve"][section][kind]["CR2_coef_test"]
    cluster = reference(NAME)["rve"]["cluster"]
    ct = coef_test(_fit(section, kind), cluster, vcov="CR2", test="Satterthwaite")
    assert list(ct.index) == ref["coef_names"]
    for col in ("beta", "SE", "tstat", "df", "p"):
        assert_close(ct[col], ref[col], what=col)


@pytest.mark.parametrize("section", SECTIONS)
def test_cr2_wald_test(section):
    ref = reference(NAME)["rve"][section]["moderator"]["CR2_wald_test"]
    fit = _fit(section, "moderator")
    for constraints in (None, ["year"], [1], np.array([[0.0, 1.0]])):
        w = wald_test(fit, "district", constraints=constraints, vcov="CR2", test="HTZ")
        assert w.test == ref["test"]
        assert_close(w.Fstat, ref["Fstat"], what="Fstat")
        assert w.df_num == ref["df_num"]
        assert_close(w.df_denom, ref["df_denom"], what="df_denom")
        assert_close(w.p_val, ref["p_val"], what="p_val")
    assert "HTZ" in str(w)


def _check_robust(rb: RobustResult, ref: dict):
    assert list(rb.coef.index) == ref["coef_names"]
    c = rb.coef
    assert_close(rb.beta, ref["b"], what="b")
    assert_close(c["se"], ref["se"], what="se")
    assert_close(c["stat"], ref["tval"], what="tval")
    assert_close(c["df"], ref["df"], what="df")
    assert_close(c["pval"], ref["pval"], what="pval")
    assert_close(c["ci_low"], ref["ci.lb"], what="ci.lb")
    assert_close(c["ci_high"], ref["ci.ub"], what="ci.ub")
    assert_close(rb.qm, ref["QM"], what="QM")
    assert_close(list(rb.qm_df), ref["QMdf"], what="QMdf")
    assert_close(rb.qm_pval, ref["QMp"], what="QMp")
    assert rb.n_clusters == ref["n_clusters"]


@pytest.mark.parametrize(("section", "kind"), _cases())
def test_metafor_robust_clubsandwich(section, kind):
    ref = reference(NAME)["rve"][section][kind]["metafor_robust_clubSandwich"]
    rb = robust(_fit(section, kind), "district", clubSandwich=True)
    assert rb.vcov_type == "CR2"
    _check_robust(rb, ref)


@pytest.mark.parametrize(("section", "kind"), _cases())
def test_metafor_robust_default(section, kind):
    ref = reference(NAME)["rve"][section][kind]["metafor_robust_default"]
    rb = robust(_fit(section, kind), "district")
    assert rb.vcov_type == "CR1"
    _check_robust(rb, ref)


def test_cluster_given_as_array_or_series():
    fit = _fit("three_level", "moderator")
    d = shared_data(NAME)
    a = robust(fit, "district", clubSandwich=True)
    b = robust(fit, d["district"].to_numpy(), clubSandwich=True)
    c = robust(fit, d["district"], clubSandwich=True)
    np.testing.assert_allclose(b.vcov, a.vcov)
    np.testing.assert_allclose(c.vcov, a.vcov)


def test_adjust_factor_and_vcov_cr():
    fit = _fit("three_level", "moderator")
    adj = robust(fit, "district")
    raw = robust(fit, "district", adjust=False)
    n, p = 11, 2
    np.testing.assert_allclose(adj.vcov, raw.vcov * n / (n - p))
    cr0 = vcov_cr(fit, "district", type="CR0")
    np.testing.assert_allclose(cr0.to_numpy(), raw.vcov, rtol=1e-10)
    cr1 = vcov_cr(fit, "district", type="CR1")
    np.testing.assert_allclose(cr1.to_numpy(), raw.vcov * n / (n - 1), rtol=1e-10)
    cr2 = vcov_cr(fit, "district")
    ref = reference(NAME)["rve"]["three_level"]["moderator"]["CR2_coef_test"]
    assert_close(np.sqrt(np.diag(cr2.to_numpy())), ref["SE"])
    assert list(cr2.index) == ["intrcpt", "year"]


def test_htz_two_constraints_is_invariant_to_reparametrisation():
    """HTZ with q = 2: same F and df for C and T C (T invertible); q = 1 equals Satterthwaite."""
    d = shared_data(NAME)
    d["year2"] = (d["year"] - d["year"].mean()) ** 2
    fit = rma_mv(d, random="~ 1 | district/school", mods="~ year + year2")
    w = wald_test(fit, "district")
    assert w.df_num == 2
    C = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    T = np.array([[2.0, 1.0], [0.5, -3.0]])
    w2 = wald_test(fit, "district", constraints=T @ C)
    assert_close(w2.Fstat, w.Fstat)
    assert_close(w2.df_denom, w.df_denom)
    assert_close(w2.p_val, w.p_val)
    ct = coef_test(fit, "district")
    w1 = wald_test(fit, "district", constraints=["year2"])
    assert_close(w1.df_denom, ct.loc["year2", "df"])
    assert_close(w1.Fstat, ct.loc["year2", "tstat"] ** 2)
    chi = wald_test(fit, "district", test="chi-sq")
    assert_close(chi.Q, w.Q)
    naive = wald_test(fit, "district", test="Naive-F")
    assert naive.df_denom == 10


def test_robust_on_rma_fit():
    """Each study its own cluster: CR0 is the HC0 sandwich of the weighted regression."""
    d = shared_data("bcg")
    fit = rma(d, mods="~ ablat")
    rb = robust(fit, "trial", adjust=False)
    w = 1 / (fit.vi + fit.tau2)
    X = fit.X
    bread = np.linalg.inv(X.T @ (X * w[:, None]))
    e = fit.yi - X @ fit.beta
    meat = (X * (w * e)[:, None]).T @ (X * (w * e)[:, None])
    np.testing.assert_allclose(rb.vcov, bread @ meat @ bread, rtol=1e-10)
    # with one effect per cluster, rma_mv and rma give the same robust results
    d["id"] = np.arange(len(d))
    mv = rma_mv(d, random="~ 1 | id", mods="~ ablat")
    for cs in (False, True):
        a = robust(fit, "trial", clubSandwich=cs)
        b = robust(mv, "trial", clubSandwich=cs)
        assert_close(a.coef["se"], b.coef["se"])
        assert_close(a.coef["df"], b.coef["df"])
        assert_close(a.qm, b.qm)


def test_robust_summary():
    rb = robust(_fit("three_level", "moderator"), "district", clubSandwich=True)
    text = str(rb)
    assert "Number of clusters:    11" in text
    assert "Estimates per cluster: 3-11 (mean: 5.09, median: 4)" in text
    assert "var-cov estimator: CR2" in text
    assert "Test of Moderators (coefficient 2)" in text
    assert "df2 = 4.19" in text
    text1 = str(robust(_fit("three_level", "intercept"), "district"))
    assert "var-cov estimator: CR1" in text1
    assert "Test of Moderators" not in text1
    assert isinstance(rb.to_frame(), pd.DataFrame)
    text2 = str(robust(rma(shared_data("bcg"), mods="~ ablat"), "trial"))
    assert "Number of clusters:    13" in text2


def test_robust_validation():
    fit = _fit("three_level", "moderator")
    d = shared_data(NAME)
    cl = d["district"].astype(float).copy()
    cl.iloc[4] = np.nan
    with pytest.raises(DataError, match="cluster.*row 4") as exc:
        robust(fit, cl.to_numpy())
    assert exc.value.rows == [4]
    with pytest.raises(DataError, match="'nope'"):
        robust(fit, "nope")
    with pytest.raises(DataError, match="56"):
        robust(fit, np.arange(10))
    with pytest.raises(DataError, match="vcov"):
        coef_test(fit, "district", vcov="CR7")
    with pytest.raises(DataError, match="term 'x'"):
        wald_test(fit, "district", constraints=["x"])
    with pytest.raises(DataError, match="out of range"):
        wald_test(fit, "district", constraints=[5])


def test_robust_on_user_weighted_fit():
    """GENQ (weights 1/vi): CR1 uses the fit's own weights; CR2 is refused."""
    d = shared_data("bcg")
    fit = rma(d, method="GENQ", mods="~ ablat")
    rb = robust(fit, "trial", adjust=False)
    X, a = fit.X, 1 / fit.vi
    bread = np.linalg.inv(X.T @ (X * a[:, None]))
    s = X * (a * (fit.yi - X @ fit.beta))[:, None]
    np.testing.assert_allclose(rb.vcov, bread @ s.T @ s @ bread, rtol=1e-10)
    with pytest.raises(DataError, match="inverse-variance"):
        robust(fit, "trial", clubSandwich=True)

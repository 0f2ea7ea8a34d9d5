"""BayesFit: the exact/MCMC protocol, summary table, diagnostics, netCDF round trip."""

from __future__ import annotations

import json
import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import shared_data

from bayesma.bayes.exact import exact_posterior
from bayesma.bayes.fit import BayesFit, hdi, load
from bayesma.bayes.models import MetaRegression, RandomEffects, normal_marginal_loglik
from bayesma.classical.rma import rma
from bayesma.errors import BayesmaError
from bayesma.priors import HalfNormal, Normal, prior_from_spec

pytestmark = pytest.mark.slow

PRIORS = dict(mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))
STAT_COLS = ["mean", "sd", "median", "eti_low", "eti_high", "hdi_low", "hdi_high"]
DIAG_COLS = ["mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat"]
TWIN_COLS = ["classical", "classical_low", "classical_high"]


@pytest.fixture(scope="module")
def bcg() -> pd.DataFrame:
    df = shared_data("bcg")
    df.attrs["measure"] = "RR"
    return df


@pytest.fixture(scope="module")
def fit(bcg) -> BayesFit:
    return RandomEffects(bcg, **PRIORS).fit(draws=1000, tune=1000, random_seed=11,
                                             progressbar=False)


@pytest.fixture(scope="module")
def mr_fit(bcg) -> BayesFit:
    return MetaRegression(bcg, "~ ablat", beta_prior=Normal(0, 10), **PRIORS).fit(
        draws=500, tune=500, random_seed=12, progressbar=False)


# ------------------------------------------------------------------ tree contents
def test_groups_and_variables(fit):
    tree = fit.idata
    assert isinstance(tree, xr.DataTree)
    assert {"posterior", "sample_stats", "prior", "prior_predictive",
            "posterior_predictive", "log_likelihood", "log_prior", "observed_data",
            "constant_data"} <= set(tree.children)
    post = fit.posterior
    assert set(post.data_vars) == {"mu", "tau", "theta", "theta_new"}
    assert post["theta"].dims == ("chain", "draw", "study")
    assert post.sizes == {"chain": 4, "draw": 1000, "study": 13}
    assert list(post["study"].values) == fit.labels
    assert tree["prior"]["theta"].dims == ("chain", "draw", "study")
    assert tree["sample_stats"]["diverging"].dtype == bool
    a = fit.attrs
    for key in ("bayesma_version", "model", "parameterization", "priors", "priors_text",
                "sampler", "draws", "tune", "chains", "cores", "target_accept",
                "random_seed", "model_spec", "data_table"):
        assert key in a, key
    assert a["chains"] == 4 and a["random_seed"] == 11 and a["sampler"] == "nutpie"
    pri = json.loads(a["priors"])
    assert prior_from_spec(pri["tau"]) == HalfNormal(0.5)
    assert "tau ~ HalfNormal(sigma=0.5)" in a["priors_text"]


def test_log_likelihood_is_marginal(fit):
    ll = fit.idata["log_likelihood"]["y"].values.reshape(-1, fit.k)
    mu, tau = fit.draws("mu"), fit.draws("tau")
    ref = normal_marginal_loglik(fit.model.yi, fit.model.vi, mu[:, None], tau[:, None] ** 2)
    np.testing.assert_allclose(ll, ref, rtol=1e-12)
    loo = az.loo(fit.idata)
    assert np.max(loo.pareto_k.values) < 0.7
    lp = fit.idata["log_prior"]
    np.testing.assert_allclose(lp["tau"].values.ravel(),
                               HalfNormal(0.5).logpdf(fit.draws("tau")))


def test_psense_runs(fit):
    out = az.psense_summary(fit.idata, var_names=["mu", "tau"],
                            prior_var_names=["mu", "tau"])
    assert list(out.index) == ["mu", "tau"]


# ------------------------------------------------------------------ protocol
def test_protocol_scalars(fit):
    mu = fit.draws("mu")
    assert mu.shape == (4000,)
    assert fit.mean("mu") == pytest.approx(mu.mean())
    assert fit.sd("mu") == pytest.approx(mu.std(ddof=1))
    assert fit.median("mu") == pytest.approx(np.median(mu))
    assert fit.quantile("mu", 0.975) == pytest.approx(np.quantile(mu, 0.975))
    assert fit.quantile("mu", [0.1, 0.9]).shape == (2,)
    lo, hi = fit.interval("mu")
    assert (lo, hi) == pytest.approx(tuple(np.quantile(mu, [0.025, 0.975])))
    hlo, hhi = fit.interval("mu", kind="hdi")
    assert hhi - hlo <= hi - lo + 1e-12
    assert fit.prob_less("mu", 0.0) == pytest.approx(np.mean(mu < 0))
    np.testing.assert_allclose(fit.draws("tau2"), fit.draws("tau") ** 2)
    with pytest.raises(BayesmaError, match="unknown parameter"):
        fit.mean("sigma")
    with pytest.raises(BayesmaError, match="kind"):
        fit.interval("mu", kind="bci")


def test_protocol_vectors(fit):
    th = fit.mean("theta")
    assert isinstance(th, pd.Series) and list(th.index) == fit.labels
    assert fit.draws("theta").shape == (4000, 13)
    iv = fit.interval("theta")
    assert list(iv.columns) == ["low", "high"] and (iv["low"] < iv["high"]).all()
    q = fit.quantile("theta", [0.25, 0.75])
    assert q.shape == (13, 2)
    assert fit.mean("theta[Aronson]") == pytest.approx(th["Aronson"])
    with pytest.raises(BayesmaError, match="not a study"):
        fit.mean("theta[Nobody]")


def test_i2_uses_metafor_typical_variance(fit, bcg):
    res = rma(bcg, method="REML")
    # metafor: I² = tau² / (tau² + s²); recover s² from the REML fit
    s2 = res.tau2 * (100 - res.i2) / res.i2
    t2 = fit.draws("tau2")
    np.testing.assert_allclose(fit.draws("i2"), 100 * t2 / (t2 + s2), rtol=1e-10)  # percent


def test_agrees_with_exact_protocol(fit):
    ex = exact_posterior(fit.data, classical=None, **PRIORS)
    for p in ("mu", "tau", "theta_new", "i2"):
        x = fit.draws(p).reshape(4, -1)
        mcse = float(az.mcse(x[None] if x.ndim == 1 else xr.DataArray(
            x, dims=("chain", "draw"))))
        assert abs(fit.mean(p) - ex.mean(p)) < 4 * mcse, p
    # summary tables share the layout
    s_ex, s_mc = ex.summary(), fit.summary()
    common = [r for r in s_ex.index if r in s_mc.index]
    assert common[:5] == ["mu", "tau", "tau2", "i2", "theta_new"]
    assert set(STAT_COLS + TWIN_COLS) <= set(s_ex.columns) | set(TWIN_COLS)
    assert set(STAT_COLS) <= set(s_mc.columns)


# ------------------------------------------------------------------ summary
def test_summary_layout(fit, bcg):
    s = fit.summary()
    assert s.index.name == "param"
    assert list(s.index[:5]) == ["mu", "tau", "tau2", "i2", "theta_new"]
    assert "theta[Aronson]" in s.index and "P(mu > 0)" in s.index
    assert s.columns[:12].tolist() == STAT_COLS + DIAG_COLS
    assert set(TWIN_COLS) <= set(s.columns)
    # RR is a ratio measure: exp() columns
    assert {"exp_mean", "exp_median", "exp_eti_low", "exp_eti_high",
            "exp_classical"} <= set(s.columns)
    assert s.loc["mu", "exp_median"] == pytest.approx(np.exp(s.loc["mu", "median"]))
    assert np.isnan(s.loc["tau", "exp_median"])
    assert s.loc["P(mu > 0)", "mean"] + s.loc["P(mu < 0)", "mean"] == pytest.approx(1.0)
    # the classical twin: REML + Hartung-Knapp (metafor: -0.7145 [-1.1084, -0.3206])
    res = rma(bcg, method="REML", test="knha")
    assert s.loc["mu", TWIN_COLS].tolist() == pytest.approx(
        [res.estimate, res.ci_low, res.ci_high])
    assert s.loc["tau", "classical"] == pytest.approx(res.tau)
    assert s.loc["i2", "classical"] == pytest.approx(res.i2)
    assert s.loc["theta_new", "classical_low"] == pytest.approx(res.pi_low)
    # a different level and twin
    s90 = fit.summary(prob=0.9, classical="DL", classical_test="z", theta=False)
    assert not any(r.startswith("theta[") for r in s90.index)
    assert s90.loc["mu", "eti_low"] > s.loc["mu", "eti_low"]
    dl = rma(bcg, method="DL", level=0.9)
    assert s90.loc["mu", "classical_low"] == pytest.approx(dl.ci_low)
    assert s90.attrs["prob"] == 0.9
    s_none = fit.summary(classical=None)
    assert s_none["classical"].isna().all()


def test_summary_not_ratio(bcg):
    df = shared_data("molloy2014")  # no measure attribute: no exp columns
    f = RandomEffects(df, **PRIORS).fit(draws=300, tune=300, random_seed=1, progressbar=False)
    assert "exp_median" not in f.summary().columns


def test_meta_regression_summary(mr_fit):
    s = mr_fit.summary()
    assert list(s.index[:6]) == ["mu", "tau", "tau2", "i2", "theta_new", "beta[ablat]"]
    assert "P(beta[ablat] < 0)" in s.index
    assert s.loc["mu", "mean"] == pytest.approx(mr_fit.mean("beta[intrcpt]"))
    assert list(mr_fit.mean("beta").index) == ["intrcpt", "ablat"]
    pred = mr_fit.predict(np.array([[10.0], [50.0]]))
    assert pred.shape == (2, 6)
    assert pred["mean"].iloc[1] < pred["mean"].iloc[0]  # vaccine works better far north
    assert (pred["pi_low"] < pred["eti_low"]).all()


def test_str_and_diagnostics(fit):
    text = str(fit)
    assert "Priors: mu ~ Normal(mu=0, sigma=10); tau ~ HalfNormal(sigma=0.5)" in text
    assert "classical" in text and "REML (knha)" in text
    assert "ratio scale" in text
    d = fit.diagnostics()
    assert {"ess_bulk", "ess_tail", "r_hat", "mcse_mean", "ok"} <= set(d.columns)
    assert d.attrs["divergences"] == 0
    assert d.loc["mu", "ok"] and fit.report.ok
    assert repr(fit).startswith("<BayesFit RandomEffects k=13")


def test_hdi_helper():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(200_000)
    lo, hi = hdi(x, 0.95)
    assert lo == pytest.approx(-1.96, abs=0.03) and hi == pytest.approx(1.96, abs=0.03)
    e = rng.exponential(size=200_000)  # shortest interval starts at 0: [0, -log 0.05]
    lo, hi = hdi(e, 0.95)
    assert lo == pytest.approx(0.0, abs=1e-3) and hi == pytest.approx(-np.log(0.05), abs=0.05)


# ------------------------------------------------------------------ I/O
@pytest.mark.parametrize("which", ["fit", "mr_fit"])
def test_netcdf_round_trip(which, request, tmp_path):
    f = request.getfixturevalue(which)
    path = f.to_netcdf(tmp_path / "fit.nc")
    g = load(path)
    assert set(g.idata.children) == set(f.idata.children)
    for grp in f.idata.children:
        xr.testing.assert_identical(f.idata[grp].to_dataset(), g.idata[grp].to_dataset())
    assert dict(g.idata.attrs) == dict(f.idata.attrs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pd.testing.assert_frame_equal(f.summary(), g.summary())
    assert g.priors == f.priors
    assert g.labels == f.labels and g.measure == f.measure
    pd.testing.assert_frame_equal(g.data.reset_index(drop=True),
                                  f.data.reset_index(drop=True), check_dtype=False)
    assert g.model.describe() == f.model.describe()


def test_refit_after_load(fit, tmp_path):
    g = load(fit.to_netcdf(tmp_path / "fit.nc"))
    h = g.refit(tau_prior=HalfNormal(1.0), random_seed=2)
    assert h.priors["tau"] == HalfNormal(1.0)
    assert h.attrs["draws"] == 1000 and h.attrs["compiled_model_reused"] == 1
    assert h.mean("tau") > fit.mean("tau")  # a wider prior lets tau grow


def test_load_rejects_foreign_file(tmp_path):
    xr.DataTree(xr.Dataset({"a": ("x", [1.0])})).to_netcdf(tmp_path / "x.nc",
                                                          engine="h5netcdf")
    with pytest.raises(BayesmaError, match="not a bayesma fit"):
        load(tmp_path / "x.nc")

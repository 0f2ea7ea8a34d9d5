"""``bm.Multilevel``: the PyMC three-level model, its pieces in numpy, and MCMC against the
exact 2-D engine (data: metadat's dat.konstantopoulos2011 and dat.assink2016)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

import bayesma as bm
from bayesma.bayes.models import MODEL_CLASSES, model_from_spec
from bayesma.bayes.models.multilevel import Multilevel, MultilevelFit
from bayesma.classical.multilevel import impute_covariance_matrix
from bayesma.errors import BayesmaError, DataError, SpecError
from bayesma.priors import HalfCauchy, HalfNormal, Normal

REF = Path(__file__).resolve().parents[1] / "reference" / "multilevel"
LEVELS = {"konstantopoulos2011": ("district", "school"), "assink2016": ("study", "esid")}


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / f"{name}.csv")


def _model(name: str = "konstantopoulos2011", **kw) -> Multilevel:
    lv = LEVELS[name]
    kw.setdefault("mu_prior", Normal(0, 10))
    kw.setdefault("tau_prior", {lv[0]: HalfNormal(0.5), lv[1]: HalfNormal(0.5)})
    return Multilevel(_data(name), random=f"~ 1 | {lv[0]}/{lv[1]}", **kw)


def _fake(**arrays) -> xr.Dataset:
    """A posterior-like Dataset (1 chain) from arrays (n, ...)."""
    n = len(next(iter(arrays.values())))
    out = {}
    for k, v in arrays.items():
        v = np.asarray(v, dtype=float)
        dims = ("chain", "draw") + (("level",) if k == "tau" else ("term",) if k == "beta"
                                    else ())
        out[k] = (dims, v.reshape((1, n) + v.shape[1:]))
    return xr.Dataset(out, coords={"chain": [0], "draw": np.arange(n)})


# ---------------------------------------------------------------------- structure
def test_registered_and_priors():
    m = _model()
    assert MODEL_CLASSES["Multilevel"] is Multilevel
    assert bm.Multilevel is Multilevel
    assert m.levels == ("district", "school")
    assert set(m.priors) == {"mu", "tau"}
    assert m.prior_text()["tau[district]"] == HalfNormal(0.5).describe()
    assert [n for n, _ in m._prior_vars()] == ["mu", "tau_0", "tau_1"]
    new = m.with_priors(tau_prior={"school": HalfCauchy(0.2)})
    assert new.priors["tau"]["school"] == HalfCauchy(0.2)
    assert new.priors["tau"]["district"] == HalfNormal(0.5)
    assert m.priors["tau"]["school"] == HalfNormal(0.5)  # the original is unchanged


def test_spec_round_trip():
    d = _data("assink2016")
    m = _model("assink2016", mods="~ year", beta_prior=Normal(0, 1))
    spec = json.loads(json.dumps(m.spec()))  # JSON-serialisable
    back = model_from_spec(spec, d)
    assert isinstance(back, Multilevel)
    assert back.priors["tau"] == m.priors["tau"]
    assert back.priors["beta"] == m.priors["beta"]
    assert back.terms == ["intrcpt", "year"] and back.signature() == m.signature()
    assert all(np.array_equal(a, back.data_values()[k]) for k, a in m.data_values().items())


def test_block_log_likelihood_matches_mvnormal():
    """The per-cluster marginal log likelihood equals scipy's MvNormal of each block, with
    a non-diagonal V and a moderator."""
    d = _data("assink2016")
    V = impute_covariance_matrix(d["vi"], d["study"], 0.5)
    m = _model("assink2016", V=V, mods="~ year", beta_prior=Normal(0, 1))
    rng = np.random.default_rng(3)
    beta = np.column_stack([rng.normal(0.4, 0.1, 5), rng.normal(0.0, 0.02, 5)])
    tau = rng.uniform(0.1, 0.6, (5, 2))
    ll = m._log_likelihood(_fake(beta=beta, tau=tau))["y"].values[0]
    y = d["yi"].to_numpy()
    X = m.X
    codes = pd.factorize(d["study"], sort=True)[0]
    for g in range(5):
        for s in (0, 7, 16):
            r = np.flatnonzero(codes == s)
            cov = (V[np.ix_(r, r)] + tau[g, 1] ** 2 * np.eye(r.size)
                   + tau[g, 0] ** 2 * np.ones((r.size, r.size)))
            ref = stats.multivariate_normal(X[r] @ beta[g], cov).logpdf(y[r])
            assert ll[g, s] == pytest.approx(ref, rel=1e-10)


def test_theta_draws_follow_the_conditional():
    """theta | beta, taus, y ~ N(y - V S⁻¹(y - X beta), V - V S⁻¹ V) per block."""
    d = _data("konstantopoulos2011")
    V = impute_covariance_matrix(d["vi"], d["district"], 0.4)
    m = _model(V=V)
    n = 20000
    beta_c = np.full((n, 1), 0.2)
    tau = np.tile([0.25, 0.15], (n, 1))
    th = m._draw_theta(beta_c, tau, np.random.default_rng(5))
    y = d["yi"].to_numpy()
    codes = pd.factorize(d["district"], sort=True)[0]
    r = np.flatnonzero(codes == np.bincount(codes).argmax())
    S = V[np.ix_(r, r)] + 0.15**2 * np.eye(r.size) + 0.25**2 * np.ones((r.size, r.size))
    VS = V[np.ix_(r, r)] @ np.linalg.inv(S)
    mean = y[r] - VS @ (y[r] - 0.2)
    cov = V[np.ix_(r, r)] - VS @ V[np.ix_(r, r)]
    se = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(th[:, r].mean(0) - mean) < 5 * se)
    emp = np.cov(th[:, r].T)
    assert np.allclose(emp, cov, atol=6 * np.max(np.diag(cov)) / math.sqrt(n))


def test_posterior_group_from_raw_draws():
    m = _model("assink2016", mods="~ year", beta_prior=Normal(0, 1))
    raw = xr.Dataset({k: (("chain", "draw"), np.full((2, 3), v)) for k, v in
                      {"mu": 0.4, "beta_1": 0.01, "tau_0": 0.4, "tau_1": 0.3}.items()},
                     coords={"chain": [0, 1], "draw": [0, 1, 2]})
    post = m._posterior(raw, np.random.default_rng(0))
    assert post["tau"].sel(level="study").values.ravel() == pytest.approx(0.4)
    assert post["tau2"].sel(level="esid").values.ravel() == pytest.approx(0.09)
    i2 = post["i2"].values[0, 0]
    assert i2 == pytest.approx(100 * np.array([0.16, 0.09]) / (0.25 + m.s2))
    assert list(post["theta"].coords["study"].values[:2]) == ["1/1", "1/2"]
    # mu is the intercept on the user's scale: centred 0.4 minus slope x mean(year)
    assert post["mu"].values[0, 0] == pytest.approx(0.4 - 0.01 * m.X[:, 1].mean())
    assert post["mu_centered"].values[0, 0] == pytest.approx(0.4)


# ---------------------------------------------------------------------- errors
def test_errors():
    d = _data("assink2016")
    with pytest.raises(DataError, match="two-level model suffices"):
        Multilevel(d.drop_duplicates("study"), random="~ 1 | study/esid")
    bad = d.copy()
    bad.loc[[5], "study"] = np.nan
    with pytest.raises(DataError, match="row 5") as exc:
        Multilevel(bad, random="~ 1 | study/esid")
    assert exc.value.column == "study"
    with pytest.raises(SpecError, match="not levels of the random formula"):
        Multilevel(d, random="~ 1 | study/esid", tau_prior={"trial": HalfNormal(1)})
    V = impute_covariance_matrix(d["vi"], d["study"], 0.5)
    r = np.flatnonzero(d["study"].to_numpy() == 3)
    V[r[0], r[1]] = V[r[1], r[0]] = 10.0
    with pytest.raises(DataError, match="block of study 3"):
        Multilevel(d, random="~ 1 | study/esid", V=V)
    with pytest.raises(BayesmaError, match="marginal"):
        Multilevel(d, random="~ 1 | study/esid", parameterization="noncentered")


# ---------------------------------------------------------------------- MCMC (slow)
@pytest.mark.slow
def test_pymc_logp_equals_numpy_block_likelihood():
    m = _model("assink2016")
    model = m.build()
    logp = model.compile_logp(jacobian=False, sum=False)
    point = {"mu": 0.3, "tau_0_log__": math.log(0.4), "tau_1_log__": math.log(0.3)}
    terms = dict(zip([v.name for v in model.value_vars + model.potentials], logp(point),
                     strict=False))
    ll = m._log_likelihood(_fake(mu=[0.3], tau=[[0.4, 0.3]]))["y"].values.sum()
    pot = [float(v) for k, v in terms.items() if "loglik" in k]
    assert pot and pot[0] == pytest.approx(ll, rel=1e-10)


@pytest.mark.slow
def test_mcmc_agrees_with_exact_engine_within_4_mcse():
    """Two datasets x two prior pairs (same families: one compiled model serves all four
    fits); posterior means of mu and both SDs within 4 MCSE of the exact engine, and the
    fit's summary carries the rma_mv + CR2 twin."""
    pairs = [(HalfNormal(0.5), HalfNormal(0.5)), (HalfNormal(1.0), HalfNormal(0.2))]
    reused = []
    for name, lv in LEVELS.items():
        d = _data(name)
        for ps, pe in pairs:
            pri = dict(mu_prior=Normal(0, 10), tau_prior={lv[0]: ps, lv[1]: pe})
            fit = Multilevel(d, random=f"~ 1 | {lv[0]}/{lv[1]}", **pri).fit(
                draws=1000, tune=700, chains=2, random_seed=11, progressbar=False)
            assert isinstance(fit, MultilevelFit) and isinstance(fit, bm.bayes.Posterior)
            exact = bm.exact_posterior(d, random=f"~ 1 | {lv[0]}/{lv[1]}", **pri)
            diag = fit.diagnostics()
            for param in ("mu", f"tau[{lv[0]}]", f"tau[{lv[1]}]"):
                err = abs(fit.mean(param) - exact.mean(param))
                assert err < 4 * diag.loc[param, "mcse_mean"], (name, ps, param, err)
            reused.append(int(fit.attrs["compiled_model_reused"]))
            assert fit.divergences == 0
    assert sum(reused[1:]) == 3  # compiled once
    tab = fit.summary(theta=False)
    ref = json.loads((REF / "multilevel_reference.json").read_text())["assink2016"]
    assert tab.loc["mu", "classical"] == pytest.approx(ref["estimate"], rel=1e-6)
    assert tab.loc["mu", "classical_low"] == pytest.approx(ref["robust_ci"][0], rel=1e-6)
    assert "REML (CR2)" in str(fit)

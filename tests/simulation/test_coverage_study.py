"""Coverage studies: summaries equal a hand computation on the same replicates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import assert_close
from scipy.special import ndtr

import bayesma as bm
from bayesma.batch import batch_from_arrays
from bayesma.errors import DataError
from bayesma.parallel import chunk_seeds
from bayesma.priors import HalfNormal, Normal
from bayesma.simulation import COVERAGE_COLUMNS, parse_method
from bayesma.simulation.generate import simulate_arrays

METHODS = ["REML-knha", "DL-z", "PI-REML", "Bayes-HalfNormal(0.5)",
           "PI-Bayes-HalfNormal(0.5)"]
SCENARIOS = [{"k": 3, "mu": 0.2, "tau": 0.5}, {"k": 4, "tau": 0.0, "vi": "fixed(0.1)"}]


@pytest.fixture(scope="module")
def study():
    return bm.coverage_study(SCENARIOS, METHODS, n_rep=30, seed=5)


def test_layout(study):
    assert len(study) == len(SCENARIOS) * len(METHODS)
    assert list(study.columns[-len(COVERAGE_COLUMNS):]) == list(COVERAGE_COLUMNS)
    assert study["method"].tolist() == METHODS * 2
    assert study["target"].tolist()[:5] == ["mu", "mu", "theta_new", "mu", "theta_new"]
    assert (study["n_rep"] == 30).all() and (study["n_fail"] == 0).all()


def test_summaries_equal_a_hand_computation(study):
    for i, s in enumerate(SCENARIOS):
        seed = chunk_seeds(5, len(SCENARIOS))[i]
        y, v, _ = simulate_arrays(k=s["k"], mu=s.get("mu", 0.0), tau=s["tau"],
                                  vi=s.get("vi", "uniform(0.05, 0.5)"), n_rep=30, seed=seed)
        mu, tau = s.get("mu", 0.0), s["tau"]
        batch = batch_from_arrays(y, v)
        with pytest.warns(bm.errors.SmallKWarning):
            dlz = bm.batch_rma(batch, method="DL", test="z")
        knha = bm.batch_rma(batch, method="REML", test="knha")
        ex = bm.batch_exact(batch, mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))
        row = study[study["scenario"] == i].set_index("method")
        # REML-knha: the interval of bm.rma on the first replicate
        fit = bm.rma(pd.DataFrame({"yi": y[0], "vi": v[0]}), method="REML", test="knha")
        assert_close([knha["ci_low"].iloc[0], knha["ci_high"].iloc[0]],
                     [fit.ci_low, fit.ci_high], rtol=1e-8)
        for name, lo, hi in (("REML-knha", knha.ci_low, knha.ci_high),
                             ("DL-z", dlz.ci_low, dlz.ci_high),
                             ("Bayes-HalfNormal(0.5)", ex.mu_low, ex.mu_high)):
            hit = ((lo <= mu) & (mu <= hi)).to_numpy(float)
            p = hit.mean()
            assert_close(row.loc[name, "coverage"], p, what=name)
            assert_close(row.loc[name, "mcse"], np.sqrt(p * (1 - p) / 30), what=name)
            assert_close(row.loc[name, "median_width"], np.median(hi - lo), what=name)
        est = dlz["estimate"].to_numpy()
        assert_close(row.loc["DL-z", "bias"], np.mean(est - mu))
        assert_close(row.loc["DL-z", "rmse"], np.sqrt(np.mean((est - mu) ** 2)))
        assert_close(row.loc["Bayes-HalfNormal(0.5)", "bias"], np.mean(ex.mu_median - mu))
        with pytest.warns(bm.errors.SmallKWarning):
            rma_pi = bm.batch_rma(batch, method="REML", test="z")
        pi_lo, pi_hi = rma_pi.pi_low.to_numpy(), rma_pi.pi_high.to_numpy()
        pb_lo, pb_hi = ex.theta_new_low.to_numpy(), ex.theta_new_high.to_numpy()
        if tau > 0:
            # prediction: P(new theta inside), averaged over replicates
            cond = ndtr((pi_hi - mu) / tau) - ndtr((pi_lo - mu) / tau)
            assert_close(row.loc["PI-REML", "coverage"], cond.mean())
            assert_close(row.loc["PI-REML", "mcse"], cond.std(ddof=1) / np.sqrt(30))
            condb = ndtr((pb_hi - mu) / tau) - ndtr((pb_lo - mu) / tau)
            assert_close(row.loc["PI-Bayes-HalfNormal(0.5)", "coverage"], condb.mean())
        else:
            # tau = 0: a new theta equals mu
            assert_close(row.loc["PI-REML", "coverage"], ((pi_lo <= mu) & (mu <= pi_hi)).mean())
            hit = ((pb_lo <= mu) & (mu <= pb_hi)).mean()
            assert_close(row.loc["PI-Bayes-HalfNormal(0.5)", "coverage"], hit)


def test_wald_undercovers_with_two_studies_and_hksj_does_not():
    res = bm.coverage_study({"k": 2, "tau": 1.0}, ["REML-z", "REML-knha", "PI-REML"],
                            n_rep=400, seed=1)
    cov = res.set_index("method")["coverage"]
    # Friede et al. 2017: Wald ~ 0.7-0.8 at k = 2 with large tau (MCSE ~ 0.02)
    assert cov["REML-z"] < 0.85
    assert cov["REML-knha"] > 0.9
    assert cov["PI-REML"] < 0.8


def test_resumes_from_the_folder(tmp_path):
    kw = {"n_rep": 20, "seed": 3, "out": tmp_path}
    first = bm.coverage_study(SCENARIOS, ["DL-knha"], **kw)
    files = sorted(tmp_path.glob("scenario_*.csv"))
    assert len(files) == 2
    # a finished scenario is read back, not recomputed: change a stored number
    stored = pd.read_csv(files[1])
    stored.loc[0, "coverage"] = 0.123
    stored.to_csv(files[1], index=False)
    again = bm.coverage_study(SCENARIOS, ["DL-knha"], **kw)
    assert again["coverage"].iloc[1] == 0.123
    pd.testing.assert_series_equal(again["coverage"].iloc[:1], first["coverage"].iloc[:1])
    # other settings are a different study: new files, fresh numbers
    other = bm.coverage_study(SCENARIOS, ["DL-knha"], n_rep=20, seed=4, out=tmp_path)
    assert len(list(tmp_path.glob("scenario_*.csv"))) == 4
    assert other["coverage"].iloc[1] != 0.123


def test_binomial_scenarios():
    res = bm.coverage_study([{"k": 3, "n": 30, "p_control": 0.1, "log_or": 0.5, "tau": 0.2}],
                            ["REML-z", "Bayes-HalfNormal(1)"], n_rep=20, seed=8)
    assert (res["design"] == "binomial").all() and (res["log_or"] == 0.5).all()
    sim = bm.simulate_binomial(k=3, n=30, p_control=0.1, log_or=0.5, tau=0.2, n_rep=20,
                               seed=chunk_seeds(8, 1)[0])
    with pytest.warns(bm.errors.SmallKWarning):
        fits = bm.batch_rma(sim, by="rep", method="REML", test="z")
    hit = ((fits.ci_low <= 0.5) & (fits.ci_high >= 0.5)).mean()
    assert_close(res.loc[0, "coverage"], hit)


def test_parse_method():
    m = parse_method("pm-HKSJ")
    assert (m.engine, m.estimator, m.test, m.predict) == ("rma", "PM", "knha", False)
    m = parse_method("PI-REML")
    assert (m.engine, m.test, m.predict) == ("rma", "z", True)
    m = parse_method("PI-Bayes-HalfCauchy(0.5)")
    assert m.engine == "exact" and m.predict and m.tau_prior == bm.priors.HalfCauchy(0.5)


@pytest.mark.parametrize("methods, words", [
    (["REML-wald"], "expected '<estimator>-<test>'"), (["XX-z"], "unknown tau"),
    (["Bayes-Gamma(1)"], "unknown tau prior family"), (["Bayes-HalfNormal(-1)"], "sigma"),
    (["Bayes HalfNormal"], "write a Bayesian method"), (["DL-z", "DL-z"], "repeated"),
    ([], "at least one method"),
])
def test_bad_methods(methods, words):
    with pytest.raises(DataError, match=words):
        bm.coverage_study({"k": 2}, methods, n_rep=5)


def test_bad_scenarios():
    with pytest.raises(DataError, match="unknown settings") as err:
        bm.coverage_study([{"k": 2}, {"k": 3, "sd": 1}], ["DL-z"], n_rep=5)
    assert err.value.rows == [1]
    with pytest.raises(DataError, match="k must be an integer >= 2"):
        bm.coverage_study({"k": 1}, ["DL-z"], n_rep=5)
    with pytest.raises(DataError, match="no k"):
        bm.coverage_study({"tau": 1}, ["DL-z"], n_rep=5)
    with pytest.raises(DataError, match="n_rep"):
        bm.coverage_study({"k": 2}, ["DL-z"], n_rep=1)


def test_small_k_guidance_halfnormal_1_in_the_log_or_sensitivity_set():
    from bayesma.sensitivity.prior_sets import tau_prior_set

    priors = tau_prior_set("weakly informative", "OR")
    assert bm.priors.HalfNormal(1.0) in list(priors.values())

"""Prior sensitivity sweeps: every row equals an individual exact fit, the classical
reference row equals rma(), ready-made prior sets for OR and SMD data, verdicts, errors.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import shared_data

import bayesma as bm
from bayesma.bayes.exact import exact_posterior_arrays
from bayesma.errors import BayesmaError
from bayesma.priors import (
    Flat,
    HalfCauchy,
    HalfNormal,
    InverseGamma,
    LogNormalTau2,
    LogStudentTTau2,
    Normal,
    Prior,
    StudentT,
    Uniform,
)
from bayesma.sensitivity import PriorSensitivity, prior_sensitivity, tau_prior_set


@pytest.fixture(scope="module")
def bcg():
    d = shared_data("bcg")
    d.attrs["measure"] = "RR"
    return d


@pytest.fixture(scope="module")
def writing():
    d = shared_data("bangertdrowns2004")
    d.attrs["measure"] = "SMD"
    return d


def test_sweep_equals_individual_fits(bcg):
    taus = {"hn": HalfNormal(0.5), "hc": HalfCauchy(0.3), "u": Uniform(0, 4)}
    mus = {"wide": Normal(0, 10), "tight": Normal(-0.5, 0.5)}
    res = prior_sensitivity(bcg, tau_priors=taus, mu_priors=mus, progress=False)
    assert isinstance(res, PriorSensitivity)
    b = res.bayes_table
    assert len(b) == 6 and list(b["tau_prior"].unique()) == ["hn", "hc", "u"]
    for _, row in b.iterrows():
        mp, tp = mus[row["mu_prior"]], taus[row["tau_prior"]]
        post = exact_posterior_arrays(bcg["yi"], bcg["vi"], mu_prior=mp, tau_prior=tp)
        lo, hi = post.interval("mu", 0.95)
        tlo, thi = post.interval("tau", 0.95)
        expect = {"mu_mean": post.mean("mu"), "mu_sd": post.sd("mu"),
                  "mu_median": post.median("mu"), "mu_low": lo, "mu_high": hi,
                  "tau_mean": post.mean("tau"), "tau_median": post.median("tau"),
                  "tau_low": tlo, "tau_high": thi, "i2_median": post.median("i2"),
                  "p_mu_lt_0": post.prob_less("mu", 0.0),
                  "bf01_mu": post.bayes_factor("mu", 0.0)}
        for col, val in expect.items():
            assert row[col] == pytest.approx(val, rel=1e-9, abs=1e-12), col
        fit = res.fit(tau=row["tau_prior"], mu=row["mu_prior"])
        assert fit.median("mu") == pytest.approx(row["mu_median"], rel=1e-12)


def test_bf01_matches_reference(bcg):
    """The exact reference (../shared/bayes_reference): BF01(mu = 0) under N(0, 10²)."""
    from conftest import bayes_reference

    ref = bayes_reference("bcg")["results"]["halfnormal_0.5"]
    res = prior_sensitivity(bcg, tau_priors=HalfNormal(0.5), mu_priors=Normal(0, 10),
                            progress=False)
    row = res.bayes_table.iloc[0]
    assert row["bf01_mu"] == pytest.approx(ref["densities"]["bf01_mu_eq_0"], rel=1e-6)
    assert row["mu_median"] == pytest.approx(ref["mu"]["q50"], rel=1e-6)
    assert row["tau_high"] == pytest.approx(ref["tau"]["q975"], rel=1e-6)


def test_classical_reference_row(bcg):
    res = prior_sensitivity(bcg, tau_priors=HalfNormal(0.5), progress=False)
    c = res.table[res.table["kind"] == "classical"].iloc[0]
    fit = bm.rma(bcg, method="REML", test="knha")
    ci = fit.confint()
    assert c["mu_median"] == pytest.approx(fit.estimate, rel=1e-10)
    assert (c["mu_low"], c["mu_high"]) == pytest.approx((fit.ci_low, fit.ci_high), rel=1e-10)
    assert c["tau_median"] == pytest.approx(ci.tau[0], rel=1e-10)
    assert (c["tau_low"], c["tau_high"]) == pytest.approx(ci.tau[1:], rel=1e-8)
    assert c["i2_median"] == pytest.approx(fit.i2, rel=1e-10)
    assert math.isnan(c["p_mu_lt_0"]) and math.isnan(c["bf01_mu"])
    assert res.classical.method == "REML"
    none = prior_sensitivity(bcg, tau_priors=HalfNormal(0.5), classical=None, progress=False)
    assert (none.table["kind"] == "bayes").all() and none.classical is None


def test_result_from_exact_posterior_uses_its_data_and_mu_prior(bcg):
    post = bm.exact_posterior(bcg, mu_prior=Normal(0, 3), tau_prior=HalfNormal(0.5))
    res = prior_sensitivity(post, tau_priors=[HalfNormal(0.5)], progress=False)
    assert list(res.mu_priors) == ["Normal(mu=0, sigma=3)"]
    assert res.bayes_table.iloc[0]["mu_median"] == pytest.approx(post.median("mu"), rel=1e-9)
    assert res.labels == post.labels


# ------------------------------------------------------------------------------------
# ready-made sets
# ------------------------------------------------------------------------------------


def _scales(priors, family):
    return sorted(getattr(p, "sigma", getattr(p, "beta", None)) for p in priors.values()
                  if isinstance(p, family))


def test_weakly_informative_sets_scale_with_the_measure():
    or_set = tau_prior_set("weakly informative", "OR")
    smd_set = tau_prior_set("weakly informative", "SMD")
    assert _scales(or_set, HalfNormal) == [0.25, 0.5, 1.0]
    assert _scales(or_set, HalfCauchy) == [0.25, 0.5, 1.0]
    assert _scales(smd_set, HalfNormal) == [0.15, 0.3, 0.6]
    assert _scales(smd_set, HalfCauchy) == [0.15, 0.3, 0.6]
    for p in [*or_set.values(), *smd_set.values()]:
        assert isinstance(p, Prior) and p.param == "tau" and p.proper and p.source
    # scale-dependent measures use the data-scaled default
    gen = tau_prior_set("weakly informative", "MD", yi=[1.0, 5.0, 9.0], vi=[1.0, 1.0, 1.0])
    assert _scales(gen, HalfNormal) == [2.0, 4.0, 8.0]
    with pytest.raises(BayesmaError, match="no natural scale"):
        tau_prior_set("weakly informative", "MD")


def test_empirical_sets_for_or_and_smd():
    gen = tau_prior_set("empirical", "OR")
    assert [type(p) for p in gen.values()] == [LogNormalTau2, InverseGamma]
    turner = next(iter(gen.values()))
    assert (turner.mu, turner.sigma) == (-2.56, 1.74)
    cell = tau_prior_set("empirical", "OR", outcome="all-cause mortality",
                         comparison="pharmacological vs placebo")
    assert len(cell) == 3
    assert list(cell.values())[0] == bm.priors.turner2015("all-cause mortality",
                                                          "pharmacological vs placebo")
    smd = tau_prior_set("empirical", "SMD")
    assert [type(p) for p in smd.values()] == [LogStudentTTau2, InverseGamma]
    assert list(smd.values())[0] == bm.priors.rhodes2015()
    assert list(smd.values())[1] == bm.priors.bartos2021("SMD")["tau"]
    smd_cell = tau_prior_set("empirical", "SMD", outcome="mental health",
                             comparison="non-pharmacological vs placebo", area="cancer")
    assert list(smd_cell.values())[0] == bm.priors.rhodes2015(
        "mental health", "non-pharmacological vs placebo", area="cancer")
    with pytest.raises(BayesmaError, match="no published empirical prior"):
        tau_prior_set("empirical", "MD", yi=[0, 1], vi=[1, 1])
    with pytest.raises(BayesmaError, match="unknown prior set"):
        tau_prior_set("informed", "OR")


def test_vague_set():
    v = tau_prior_set("vague", "OR")
    assert list(v) == ["Uniform(lower=0, upper=5)", "HalfCauchy(beta=2.5)", "UniformTau()",
                       "Jeffreys()"]


@pytest.mark.parametrize("name", ["hackshaw1998", "bangertdrowns2004"])
def test_every_ready_made_set_fits(name):
    """OR data (hackshaw1998) and SMD data (bangertdrowns2004): all sets give proper,
    finite posteriors; the empirical set without a cell says it used the general one."""
    d = bm.datasets.load(name)
    res = prior_sensitivity(d, tau_priors=["weakly informative", "empirical", "vague"],
                            progress=False)
    b = res.bayes_table
    assert len(b) == 6 + (2 if name == "hackshaw1998" else 2) + 4
    cols = ["mu_median", "mu_low", "mu_high", "tau_median", "tau_low", "tau_high"]
    assert np.all(np.isfinite(b[cols].to_numpy(float)))
    assert (b["tau_low"] < b["tau_median"]).all() and (b["mu_low"] < b["mu_high"]).all()
    assert any("general" in n for n in res.notes)


def test_rr_empirical_note(bcg):
    res = prior_sensitivity(bcg, tau_priors="empirical", progress=False)
    assert any("approximation" in n for n in res.notes)


def test_improper_posterior_is_dropped_with_a_note():
    d = shared_data("edge_k2")
    res = prior_sensitivity(d, tau_priors="vague", mu_priors=[Flat(), Normal(0, 1)],
                            progress=False)
    assert ("UniformTau()", "Flat()") not in res.fits
    assert ("UniformTau()", "Normal(mu=0, sigma=1)") in res.fits
    assert any("UniformTau()" in n and "improper" in n for n in res.notes)
    assert math.isnan(res.table.set_index(["tau_prior", "mu_prior"]).loc[
        ("Jeffreys()", "Flat()"), "bf01_mu"])


# ------------------------------------------------------------------------------------
# verdicts
# ------------------------------------------------------------------------------------


def test_verdict_robust_for_large_k(writing):
    res = prior_sensitivity(writing, tau_priors="weakly informative", progress=False)
    v = res.verdict()
    assert v["word"] == "robust" and v["same_conclusion"]
    assert v["relative_shift"] < 0.1
    text = res.summary()
    assert "robust to the choice of prior" in text and "lies above 0" in text
    assert str(res) == text


def test_verdict_sensitive_when_priors_dominate():
    d = shared_data("edge_k2")
    res = prior_sensitivity(d, tau_priors=[HalfNormal(0.3)],
                            mu_priors={"skeptical": Normal(0, 0.1), "vague": Normal(0, 10)},
                            progress=False)
    v = res.verdict()
    assert v["word"] == "sensitive" and v["relative_shift"] > 0.33
    assert "sensitive to the choice of prior" in res.summary()


def test_conclusion_change_is_reported(bcg):
    res = prior_sensitivity(bcg, tau_priors=[HalfNormal(0.5)],
                            mu_priors={"vague": Normal(0, 10), "sceptic": Normal(0, 0.05)},
                            progress=False)
    v = res.verdict()
    assert not v["same_conclusion"]
    assert "The conclusion changes with the prior" in res.summary()


# ------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------


def test_errors(bcg):
    with pytest.raises(BayesmaError, match="exact engine needs"):
        prior_sensitivity(bcg, mu_priors=StudentT(3, 0, 1), progress=False)
    with pytest.raises(BayesmaError, match="engine='mcmc'"):
        prior_sensitivity(bcg, draws=100, progress=False)
    with pytest.raises(BayesmaError, match="engine must be"):
        prior_sensitivity(bcg, engine="laplace", progress=False)
    with pytest.raises(BayesmaError, match="not a prior for tau"):
        prior_sensitivity(bcg, tau_priors={"x": Normal(0, 1)}, progress=False)
    with pytest.raises(BayesmaError, match="ready-made sets exist for tau only"):
        prior_sensitivity(bcg, mu_priors="vague", progress=False)
    res = prior_sensitivity(bcg, tau_priors=[HalfNormal(0.5), HalfNormal(1.0)],
                            progress=False)
    with pytest.raises(BayesmaError, match="no fit"):
        res.fit(tau="HalfNormal(sigma=2)")
    with pytest.raises(BayesmaError, match="select one"):
        res.fit()


def test_twenty_priors_are_fast(bcg):
    import time

    taus = {f"hn{s}": HalfNormal(s) for s in np.linspace(0.1, 2, 10)}
    taus |= {f"hc{s}": HalfCauchy(s) for s in np.linspace(0.1, 2, 10)}
    prior_sensitivity(bcg, tau_priors=taus, progress=False)  # warm-up
    t0 = time.perf_counter()
    res = prior_sensitivity(bcg, tau_priors=taus, progress=False)
    assert len(res.bayes_table) == 20
    # target: well under a second (benchmarks/results/sensitivity.txt); lenient here
    assert time.perf_counter() - t0 < 3.0


def test_table_is_a_dataframe(bcg):
    res = prior_sensitivity(bcg, tau_priors=[HalfNormal(0.5)], progress=False)
    assert isinstance(res.table, pd.DataFrame)
    assert res.table.attrs["engine"] == "exact"
    assert "PriorSensitivity" in repr(res)

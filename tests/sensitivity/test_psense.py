"""Power-scaling sensitivity: a dominating prior (k = 2) is flagged, a weak prior with
k = 48 is not; the groups built from exact draws; one small MCMC run (slow)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import shared_data

import bayesma as bm
from bayesma.errors import BayesmaError
from bayesma.priors import Flat, HalfCauchy, HalfNormal, Normal, UniformTau
from bayesma.sensitivity import psense, psense_tree


def test_k2_strong_prior_is_flagged():
    d = shared_data("edge_k2")
    post = bm.exact_posterior(d, mu_prior=Normal(0, 0.1), tau_prior=HalfNormal(0.1))
    tab = psense(post)
    assert list(tab.index) == ["mu", "tau"]
    assert list(tab.columns) == ["prior", "likelihood", "diagnosis", "verdict"]
    assert (tab["prior"] > 0.05).all()
    assert (tab["diagnosis"] != "\u2713").all()
    assert tab.loc["tau", "diagnosis"] == "potential strong prior / weak likelihood"
    assert tab.loc["tau", "verdict"].startswith("prior dominates")
    assert tab.attrs["prior_var_names"] == ["mu", "tau"]


def test_k48_weak_prior_is_not_flagged():
    d = shared_data("bangertdrowns2004")
    post = bm.exact_posterior(d, mu_prior=Normal(0, 10), tau_prior=HalfCauchy(1.0))
    tab = psense(post)
    assert (tab["prior"] < 0.05).all()
    assert (tab["likelihood"] > 0.05).all()
    assert (tab["diagnosis"] == "\u2713").all()
    assert all(v.startswith("not prior-sensitive") for v in tab["verdict"])


def test_reproducible_and_seeded():
    d = shared_data("bcg")
    post = bm.exact_posterior(d, mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))
    a = psense(post, random_seed=3)
    b = psense(post, random_seed=3)
    assert a.equals(b)


def test_tree_from_exact_draws():
    d = shared_data("bcg")
    post = bm.exact_posterior(d, mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))
    tree = psense_tree(post, draws=400, random_seed=1)
    mu = tree["posterior"]["mu"].values
    tau = tree["posterior"]["tau"].values
    assert mu.shape == (4, 100)
    np.testing.assert_allclose(tree["log_prior"]["mu"].values, Normal(0, 10).logpdf(mu))
    np.testing.assert_allclose(tree["log_prior"]["tau"].values, HalfNormal(0.5).logpdf(tau))
    ll = tree["log_likelihood"]["y"].values
    s2 = post.vi + tau[..., None] ** 2
    np.testing.assert_allclose(
        ll, -0.5 * (np.log(2 * np.pi * s2) + (post.yi - mu[..., None]) ** 2 / s2))
    # the draws are the exact posterior's
    assert np.mean(mu) == pytest.approx(post.mean("mu"), abs=4 * post.sd("mu") / 20)


def test_flat_prior_verdict_and_errors():
    d = shared_data("bcg")
    # with improper flat priors on both, power-scaling the prior changes nothing
    post = bm.exact_posterior(d, mu_prior=Flat(), tau_prior=UniformTau())
    tab = psense(post, var_names="mu")
    assert tab.loc["mu", "prior"] == pytest.approx(0.0, abs=1e-12)
    assert tab.loc["mu", "likelihood"] > 0.05
    with pytest.raises(BayesmaError, match="not in the posterior"):
        psense(post, var_names=("mu", "nu"))
    with pytest.raises(BayesmaError, match="BayesFit or an ExactPosterior"):
        psense_tree(d)


@pytest.mark.slow
def test_mcmc_sweep_reuses_compiled_model_and_psense():
    """One small MCMC run: a two-prior sweep (same family: one compilation) and psense of
    the fit, which agrees with the exact-engine route."""
    from bayesma.sensitivity import prior_sensitivity

    d = shared_data("bcg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = prior_sensitivity(d, tau_priors=[HalfNormal(0.5), HalfNormal(1.0)],
                                mu_priors=Normal(0, 10), engine="mcmc", progress=False,
                                draws=500, tune=500, chains=2, cores=1, random_seed=1)
    fits = list(res.fits.values())
    assert fits[1].attrs["compiled_model_reused"] == 1
    ex = prior_sensitivity(d, tau_priors=[HalfNormal(0.5), HalfNormal(1.0)],
                           mu_priors=Normal(0, 10), progress=False)
    for (_, r), (_, e) in zip(res.bayes_table.iterrows(), ex.bayes_table.iterrows(),
                              strict=True):
        assert r["mu_median"] == pytest.approx(e["mu_median"], abs=0.06)
        assert r["tau_median"] == pytest.approx(e["tau_median"], abs=0.08)
        assert r["bf01_mu"] == pytest.approx(e["bf01_mu"], rel=0.3)  # Rao-Blackwellised
    tab = psense(fits[0])
    assert list(tab.index) == ["mu", "tau"]
    assert tab.loc["mu", "prior"] < 0.05
    assert np.all(np.isfinite(tab[["prior", "likelihood"]].to_numpy(float)))
    assert tab.attrs["notes"] == []

"""Empirical tau priors: restricted likelihood vs metafor, quadrature, recovery on corpora."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import assert_close
from scipy import integrate

import bayesma as bm
from bayesma.batch import batch_from_arrays
from bayesma.errors import DataError
from bayesma.priors import LogNormalTau2
from bayesma.simulation.empirical import (
    empirical_prior_fit,
    marginal_log_lik,
    restricted_log_lik,
)

REF = Path(__file__).parents[1] / "reference" / "simulation" / "restricted_loglik.json"


def corpus(R: int, m: dict, s: float, seed: int) -> pd.DataFrame:
    """R meta-analyses, k ~ U{3..12}; log tau² ~ N(m[level], s²); levels alternate."""
    rng = np.random.default_rng(seed)
    levels = list(m)
    rows = []
    for j in range(R):
        lev = levels[j % len(levels)]
        k = int(rng.integers(3, 13))
        tau = np.exp(rng.normal(m[lev], s) / 2)
        v = rng.uniform(0.02, 0.3, k)
        y = 0.2 + rng.normal(0, tau, k) + rng.normal(0, np.sqrt(v))
        rows.append(pd.DataFrame({"ma": j, "yi": y, "vi": v, "outcome": lev}))
    return pd.concat(rows, ignore_index=True)


def test_restricted_log_lik_equals_metafor():
    ref = json.loads(REF.read_text())
    batch = batch_from_arrays(ref["yi"], ref["vi"])
    k = len(ref["yi"])
    ll = restricted_log_lik(batch, np.array(ref["tau2"]))[0]
    # metafor's REML log-likelihood adds -(k-1)/2 log(2 pi) + 1/2 log|X'X| (X'X = k)
    const = -(k - 1) / 2 * np.log(2 * np.pi) + 0.5 * np.log(k)
    assert_close(ll + const, ref["loglik_reml"], what="REML logLik")


@pytest.fixture(scope="module")
def single():
    return corpus(150, {"all": -2.0}, 1.0, seed=3)


def test_marginal_likelihood_equals_adaptive_quadrature(single):
    five = single[single["ma"] < 5]
    m, s = -1.7, 0.9
    total = 0.0
    for j in range(5):
        g = five[five["ma"] == j]
        b = batch_from_arrays(g["yi"].to_numpy(), g["vi"].to_numpy())

        def f(u, b=b):
            ll = restricted_log_lik(b, np.array([np.exp(u)]))[0, 0]
            return np.exp(ll - 0.5 * ((u - m) / s) ** 2) / (s * np.sqrt(2 * np.pi))

        total += np.log(integrate.quad(f, m - 12 * s, m + 12 * s, epsabs=0, epsrel=1e-10,
                                       limit=200)[0])
    # trapezoid rule on the 801-point grid (step ~0.03) vs adaptive quadrature
    assert_close(marginal_log_lik(five, "ma", m=m, s=s), total, rtol=1e-6)


def test_fit_maximises_the_marginal_likelihood(single):
    fit = empirical_prior_fit(single, "ma")
    m, s = float(fit.m["all"]), fit.s
    assert fit.converged and fit.n_groups["all"] == 150
    assert_close(marginal_log_lik(single, "ma", m=m, s=s), fit.log_lik, rtol=1e-10)
    for dm, ds in ((0.05, 0), (-0.05, 0), (0, 0.05), (0, -0.05)):
        assert marginal_log_lik(single, "ma", m=m + dm, s=s + ds) < fit.log_lik


def test_recovers_the_generating_distribution(single):
    prior = bm.empirical_prior(single, by="ma")
    assert isinstance(prior, LogNormalTau2)
    # 150 meta-analyses: SE of m ~ 0.12, of s ~ 0.1 (statistical check, seeded)
    assert abs(prior.mu - (-2.0)) < 0.4
    assert abs(prior.sigma - 1.0) < 0.35
    assert "Turner" in prior.source


def test_covariate_levels_get_their_own_mean():
    data = corpus(160, {"mortality": -3.0, "subjective": -0.8}, 0.8, seed=9)
    priors = bm.empirical_prior(data, by="ma", covariates="outcome")
    assert set(priors) == {"mortality", "subjective"}
    assert abs(priors["mortality"].mu + 3.0) < 0.5
    assert abs(priors["subjective"].mu + 0.8) < 0.5
    assert priors["mortality"].sigma == priors["subjective"].sigma
    # the prior is usable everywhere: the exact posterior of one meta-analysis
    one = data[data["ma"] == 1]
    post = bm.exact_posterior(one, mu_prior=bm.priors.Normal(0, 4),
                              tau_prior=priors["subjective"])
    assert np.isfinite(post.summary().loc["tau", "mean"])


def test_bad_inputs(single):
    mixed = single.copy()
    mixed.loc[mixed.index[:2], "outcome"] = ["a", "b"]
    with pytest.raises(DataError, match="constant within a meta-analysis"):
        bm.empirical_prior(mixed, by="ma", covariates="outcome")
    with pytest.raises(DataError, match="not in the table"):
        bm.empirical_prior(single, by="ma", covariates="design")
    with pytest.raises(DataError, match="at least 3 meta-analyses"):
        bm.empirical_prior(single[single["ma"] < 2], by="ma")

"""bma_sensitivity: metaBMA's meta_sensitivity over prior scales, checked row by row
against bm.bma and against an independent brute-force integration of the four models."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import bayesma as bm
from bayesma.errors import SpecError
from bayesma.sensitivity.averaging import BMA_SENSITIVITY_COLUMNS


@pytest.fixture(scope="module")
def small():
    d = bm.datasets.load("hackshaw1998").iloc[:8].copy()
    d.attrs["measure"] = "OR"
    return d


@pytest.fixture(scope="module")
def table(small):
    return bm.bma_sensitivity(small, mu_scales=[0.5, 2.0], tau_scales=[0.1, 0.4])


def _brute_force_log_ml(y, v, mu_sd, tau_pdf):
    """Four log marginal likelihoods of meta_bma by scipy quad and closed-form Gaussians
    (independent of bayesma's engine): mu integrated as a multivariate normal,
    y ~ N(0, diag(v + tau²) + mu_sd² 11'), tau by adaptive quadrature."""
    k = len(y)
    one = np.ones((k, k))

    def mvn(tau, with_mu):
        cov = np.diag(v + tau * tau) + (mu_sd ** 2 * one if with_mu else 0.0)
        _, logdet = np.linalg.slogdet(cov)
        return -0.5 * (k * math.log(2 * math.pi) + logdet + y @ np.linalg.solve(cov, y))

    out = {"fixed_H0": mvn(0.0, False), "fixed_H1": mvn(0.0, True)}
    for name, with_mu in (("random_H0", False), ("random_H1", True)):
        ref = mvn(0.1, with_mu)  # scale out the magnitude before integrating
        val, _ = integrate.quad(lambda t, w=with_mu, r=ref: math.exp(mvn(t, w) - r)
                                * tau_pdf(t), 0, np.inf, epsabs=0, epsrel=1e-11, limit=200)
        out[name] = ref + math.log(val)
    return out


def test_table_shape_and_rows_equal_bma(small, table):
    assert list(table.columns) == BMA_SENSITIVITY_COLUMNS
    assert len(table) == 4
    assert table[["mu_scale", "tau_scale"]].values.tolist() == [
        [0.5, 0.1], [0.5, 0.4], [2.0, 0.1], [2.0, 0.4]]
    probs = table[["prob_fixed_H0", "prob_fixed_H1", "prob_random_H0", "prob_random_H1"]]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
    row = table.iloc[3]
    fit = bm.bma(small, mu_prior=bm.priors.Normal(0, 2.0),
                 tau_prior=bm.priors.InverseGamma(1.0, 0.4))
    assert row["bf_effect"] == pytest.approx(fit.bf_effect, rel=1e-12)
    assert row["bf_heterogeneity"] == pytest.approx(fit.bf_heterogeneity, rel=1e-12)
    assert row["mu_mean"] == pytest.approx(fit.mean("mu"), rel=1e-12)
    assert (row["mu_low"], row["mu_high"]) == pytest.approx(fit.interval("mu"), rel=1e-10)
    assert row["tau_prior"] == "InverseGamma(alpha=1, beta=0.4)"
    assert table.attrs["tau_prior_family"] == "InverseGamma"


@pytest.mark.parametrize("i", [0, 3])
def test_bayes_factors_equal_brute_force_integration(small, table, i):
    row = table.iloc[i]
    y, v = small["yi"].to_numpy(float), small["vi"].to_numpy(float)
    ig = stats.invgamma(1.0, scale=row["tau_scale"])
    lml = pd.Series(_brute_force_log_ml(y, v, row["mu_scale"], ig.pdf))
    post = np.exp(lml - lml.max())
    post /= post.sum()  # equal prior model probabilities
    bf_e = (post["fixed_H1"] + post["random_H1"]) / (post["fixed_H0"] + post["random_H0"])
    bf_h = (post["random_H0"] + post["random_H1"]) / (post["fixed_H0"] + post["fixed_H1"])
    assert row["bf_effect"] == pytest.approx(bf_e, rel=1e-6)
    assert row["bf_heterogeneity"] == pytest.approx(bf_h, rel=1e-6)
    for m in post.index:
        assert row[f"prob_{m}"] == pytest.approx(post[m], rel=1e-6, abs=1e-12)


def test_wider_effect_prior_lowers_the_effect_bf(table):
    # Lindley: with the same data, a 4x wider Normal prior on mu dilutes the evidence
    narrow = table[table.mu_scale == 0.5].bf_effect.to_numpy()
    wide = table[table.mu_scale == 2.0].bf_effect.to_numpy()
    assert np.all(wide < narrow)


def test_default_scales_follow_the_measure(small):
    tab = bm.bma_sensitivity(small, mu_scales=[1.0], tau_prior_family="HalfNormal")
    c = math.pi / math.sqrt(3)  # d -> log OR (Hasselblad & Hedges 1995)
    np.testing.assert_allclose(tab["tau_scale"], 0.15 * c * np.array([0.25, 0.5, 1, 2]))
    assert tab["tau_prior"].iloc[0].startswith("HalfNormal(")


@pytest.mark.parametrize("kw, msg", [
    ({"mu_prior_family": "Cauchy"}, "must be 'Normal'"),
    ({"tau_prior_family": "Gamma"}, "tau_prior_family must be one of"),
    ({"mu_scales": [1.0, -1.0]}, "finite and > 0"),
    ({"tau_scales": []}, "is empty"),
    ({"tau_scales": "0.2"}, "sequence of positive numbers"),
    ({"tau_shape": 0}, "tau_shape must be a positive"),
])
def test_bad_options_raise(small, kw, msg):
    with pytest.raises(SpecError, match=msg):
        bm.bma_sensitivity(small, **kw)


def test_unknown_measure_needs_scales(small):
    d = small.copy()
    d.attrs["measure"] = "MD"
    with pytest.raises(SpecError, match="give mu_scales= and tau_scales="):
        bm.bma_sensitivity(d)

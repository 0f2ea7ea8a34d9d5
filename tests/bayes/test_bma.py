"""bm.bma (metaBMA's meta_bma): exact marginal likelihoods against brute-force integration,
posterior model probabilities, inclusion Bayes factors and the model-averaged posterior."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import bayesma as bm
from bayesma.bayes.protocol import Posterior
from bayesma.errors import DataError, SpecError

DATA = Path(__file__).parent.parent / "reference" / "data"

# (csv, measure, mu prior sd, tau prior): metadat's dat.bcg (log OR), dat.raudenbush1985
# (SMD), dat.hackshaw1998 (log OR)
CASES = [
    ("bcg.csv", "OR", bm.priors.Normal(0, 1.5), bm.priors.HalfNormal(0.5)),
    ("raudenbush1985.csv", "SMD", bm.priors.Normal(0, 1), bm.priors.InverseGamma(1, 0.15)),
    ("hackshaw1998.csv", "OR", bm.priors.Normal(0.1, 0.5), bm.priors.HalfCauchy(0.3)),
]


def _load(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / name)


def _brute_force(y, v, mu_prior, tau_prior) -> dict[str, float]:
    """Independent log marginal likelihoods: scipy quad / dblquad of the likelihood times the
    prior densities (scipy.stats), shifted by a constant against underflow."""
    def loglik(mu, tau):
        return float(np.sum(stats.norm.logpdf(y, mu, np.sqrt(v + tau * tau))))

    pm = stats.norm(mu_prior.mu, mu_prior.sigma)
    out = {"fixed_H0": loglik(0.0, 0.0)}
    # fixed_H1: int N(y | mu, V) p(mu) dmu
    grid = np.linspace(-5, 5, 2001)
    c1 = float(np.max(stats.norm.logpdf(y[:, None], grid, np.sqrt(v)[:, None]).sum(axis=0)
                      + pm.logpdf(grid)))
    val, _ = integrate.quad(lambda m: math.exp(loglik(m, 0.0) + pm.logpdf(m) - c1),
                            -np.inf, np.inf, epsabs=0, epsrel=1e-12, limit=500,
                            points=None)
    out["fixed_H1"] = c1 + math.log(val)

    def tau_logpdf(t):
        return float(tau_prior.logpdf(t))

    # random_H0: int N(y | 0, V + tau² I) p(tau) dtau
    tg = np.linspace(1e-4, 3, 3001)
    c0 = float(np.max(stats.norm.logpdf(y[:, None], 0.0, np.sqrt(v[:, None] + tg * tg))
                      .sum(axis=0) + tau_prior.logpdf(tg)))
    val, _ = integrate.quad(lambda t: math.exp(loglik(0.0, t) + tau_logpdf(t) - c0),
                            0, np.inf, epsabs=0, epsrel=1e-12, limit=500)
    out["random_H0"] = c0 + math.log(val)
    # random_H1: double integral over (mu, tau): adaptive quad over tau of an inner
    # integral over mu by composite Gauss-Legendre (60 panels x 20 nodes over +-14 sd of
    # the widest conditional posterior of mu; the integrand is smooth, error << 1e-12)
    gx, gw = np.polynomial.legendre.leggauss(20)

    def inner(t):
        w_i = 1.0 / (v + t * t)
        m0, s0 = float(np.sum(w_i * y) / np.sum(w_i)), float(np.sqrt(1.0 / np.sum(w_i)))
        edges = np.linspace(m0 - 14 * max(s0, 1e-3), m0 + 14 * max(s0, 1e-3), 61)
        half = 0.5 * np.diff(edges)
        m = (0.5 * (edges[:-1] + edges[1:])[:, None] + half[:, None] * gx).ravel()
        wq = (half[:, None] * gw).ravel()
        ll = stats.norm.logpdf(y[:, None], m, np.sqrt(v + t * t)[:, None]).sum(axis=0)
        return float(np.sum(wq * np.exp(ll + pm.logpdf(m) - c2)))

    mg, tgr = np.meshgrid(np.linspace(-3, 3, 121), np.linspace(1e-3, 2, 81))
    mg, tgr = mg.ravel(), tgr.ravel()
    grid_ll = stats.norm.logpdf(y[:, None], mg, np.sqrt(v[:, None] + tgr * tgr)).sum(axis=0)
    c2 = float(np.max(grid_ll + pm.logpdf(mg) + tau_prior.logpdf(tgr)))
    val, _ = integrate.quad(lambda t: inner(t) * math.exp(tau_logpdf(t)), 0, np.inf,
                            epsabs=0, epsrel=1e-11, limit=500)
    out["random_H1"] = c2 + math.log(val)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_log_ml_equals_brute_force_integration(case):
    name, measure, mp, tp = case
    d = _load(name)
    res = bm.bma(d, mu_prior=mp, tau_prior=tp, measure=measure)
    ref = _brute_force(d["yi"].to_numpy(), d["vi"].to_numpy(), mp, tp)
    for model, want in ref.items():
        assert res.log_ml[model] == pytest.approx(want, abs=1e-6), model


def test_posterior_probs_and_inclusion_bfs_by_hand():
    d = _load("raudenbush1985.csv")
    prior = [1, 2, 3, 4]
    res = bm.bma(d, measure="SMD", prior_probs=prior)
    assert list(res.posterior_probs.index) == ["fixed_H0", "fixed_H1", "random_H0",
                                               "random_H1"]
    p = np.array(prior, float) / 10
    post = p * np.exp(res.log_ml.to_numpy() - res.log_ml.max())
    post /= post.sum()
    np.testing.assert_allclose(res.posterior_probs.to_numpy(), post, rtol=1e-12)
    np.testing.assert_allclose(res.prior_probs.to_numpy(), p, rtol=1e-15)
    bf_eff = (post[1] + post[3]) / (post[0] + post[2]) / ((p[1] + p[3]) / (p[0] + p[2]))
    bf_het = (post[2] + post[3]) / (post[0] + post[1]) / ((p[2] + p[3]) / (p[0] + p[1]))
    assert res.bf_effect == pytest.approx(bf_eff, rel=1e-12)
    assert res.bf_heterogeneity == pytest.approx(bf_het, rel=1e-12)
    assert res.models["bf_inclusion"]["random_H1"] == pytest.approx(
        post[3] / (1 - post[3]) / (p[3] / (1 - p[3])), rel=1e-12)
    # a dict gives the same probabilities; missing models count 0
    res2 = bm.bma(d, measure="SMD", prior_probs=dict(zip(res.prior_probs.index, prior,
                                                         strict=True)))
    np.testing.assert_allclose(res2.posterior_probs, res.posterior_probs, rtol=1e-14)


def test_savage_dickey_agrees_with_marginal_likelihood_ratio():
    """random_H1 vs random_H0 has the same mu prior, so its BF01 is the Savage-Dickey ratio
    of the exact random-effects posterior (an independent route through densities)."""
    d = _load("hackshaw1998.csv")
    mp, tp = bm.priors.Normal(0, 0.5), bm.priors.HalfNormal(0.3)
    res = bm.bma(d, mu_prior=mp, tau_prior=tp, measure="OR")
    sd01 = res.fits["random_H1"].bayes_factor("mu", 0.0)
    assert res.log_ml["random_H0"] - res.log_ml["random_H1"] == pytest.approx(
        math.log(sd01), abs=1e-8)


def test_averaged_posterior_of_mu_mixes_spike_and_h1():
    d = _load("raudenbush1985.csv")
    res = bm.bma(d, measure="SMD")
    assert isinstance(res, Posterior)
    pp = res.posterior_probs
    p0 = pp["fixed_H0"] + pp["random_H0"]
    assert res.prob_zero("mu") == pytest.approx(p0, rel=1e-14)
    # E[mu] = (1 - p0) E[mu | H1]: the spike contributes 0
    assert res.mean("mu") == pytest.approx((1 - p0) * res.mean("mu", conditional=True),
                                           rel=1e-12)
    # the spike holds the median here (P(mu = 0 | y) > 0.5) and the cdf jumps by p0 at 0
    assert p0 > 0.5
    assert res.median("mu") == 0.0
    assert res.cdf("mu", 0.0) - res.prob_less("mu", 0.0) == pytest.approx(p0, rel=1e-10)
    # quantiles invert the cdf off the spike
    q = np.array([0.01, 0.99, 0.999])
    x = res.quantile("mu", q)
    for qi, xi in zip(q, x, strict=True):
        if xi != 0.0:
            assert res.cdf("mu", xi) == pytest.approx(qi, abs=1e-10)
    # the model-averaged mean and sd against hand mixing of the component posteriors
    r1 = res.fits["random_H1"]
    fixed_prec = np.sum(1 / d["vi"]) + 1.0
    fixed_mean = np.sum(d["yi"] / d["vi"]) / fixed_prec
    m = pp["fixed_H1"] * fixed_mean + pp["random_H1"] * r1.mean("mu")
    m2 = (pp["fixed_H1"] * (1 / fixed_prec + fixed_mean**2)
          + pp["random_H1"] * (r1.sd("mu") ** 2 + r1.mean("mu") ** 2))
    assert res.mean("mu") == pytest.approx(m, rel=1e-10)
    assert res.sd("mu") == pytest.approx(math.sqrt(m2 - m * m), rel=1e-10)
    draws = res.draws("mu", n=40000, random_seed=3)
    assert np.mean(draws == 0.0) == pytest.approx(p0, abs=0.01)
    assert np.mean(draws) == pytest.approx(res.mean("mu"), abs=4 * res.sd("mu") / 200)


def test_averaged_posterior_of_tau_off_the_spike():
    d = _load("bcg.csv")
    res = bm.bma(d, measure="OR")
    assert res.prob_zero("tau") < 1e-10  # fixed models are hopeless for BCG
    lo, hi = res.interval("tau")
    assert res.cdf("tau", lo) == pytest.approx(0.025, abs=1e-9)
    assert res.cdf("tau", hi) == pytest.approx(0.975, abs=1e-9)
    pp = res.posterior_probs
    r1 = res.fits["random_H1"]
    # tau under random_H0 is fitted separately; its weight here is small but > 0
    assert 0 < pp["random_H0"] < 0.1
    assert res.mean("tau", conditional=True) == pytest.approx(res.mean("tau"), rel=1e-9)
    assert abs(res.mean("tau") - r1.mean("tau")) < 0.05
    with pytest.raises(bm.errors.BayesmaError, match="eti"):
        res.interval("tau", kind="hdi")
    with pytest.raises(bm.errors.BayesmaError, match="'mu' and 'tau'"):
        res.mean("theta")


def test_summary_printout_and_datatree():
    d = _load("raudenbush1985.csv")
    res = bm.bma(d, measure="SMD")
    s = res.summary()
    assert list(s.index) == ["mu", "tau"]
    assert s.loc["mu", "p_zero"] == pytest.approx(res.prob_zero("mu"))
    text = str(res)
    for word in ("fixed_H0", "random_H1", "BF10", "Model-averaged"):
        assert word in text
    tree = res.to_datatree(n=400, random_seed=1)
    assert tree["posterior"]["mu"].shape == (4, 100)


def test_zero_prior_probability_gives_undefined_bf():
    d = _load("raudenbush1985.csv")
    res = bm.bma(d, measure="SMD", prior_probs=[0, 0, 1, 1])
    assert math.isnan(res.bf_heterogeneity)
    assert res.posterior_probs[["fixed_H0", "fixed_H1"]].sum() == 0.0
    assert math.isfinite(res.bf_effect)
    assert "undefined" in str(res)


def test_default_priors_scale_with_the_measure():
    d = _load("bcg.csv")
    res = bm.bma(d, measure="OR")
    assert res.priors["mu"].sigma == pytest.approx(math.pi / math.sqrt(3))
    assert res.priors["tau"].beta == pytest.approx(0.15 * math.pi / math.sqrt(3))
    z = bm.bma(d, measure="ZCOR")
    assert z.priors["mu"].sigma == 0.5
    with pytest.raises(SpecError, match="no default priors"):
        bm.bma(d, measure="RR")
    with pytest.raises(SpecError, match="no default priors"):
        bm.bma(d)  # measure unknown


@pytest.mark.parametrize("kw, match", [
    ({"mu_prior": bm.priors.Flat()}, "Normal"),
    ({"mu_prior": bm.priors.Cauchy(0, 0.7)}, "Normal"),
    ({"tau_prior": bm.priors.Jeffreys()}, "improper"),
    ({"prior_probs": [1, 1, 1]}, "3 values for 4"),
    ({"prior_probs": [1, -1, 1, 1]}, ">= 0"),
    ({"prior_probs": {"fixed": 1}}, "unknown model"),
])
def test_bad_priors_are_spec_errors(kw, match):
    d = _load("bcg.csv")
    kw = {"mu_prior": bm.priors.Normal(0, 1), "tau_prior": bm.priors.HalfNormal(0.5)} | kw
    with pytest.raises(SpecError, match=match):
        bm.bma(d, **kw)


def test_bad_data_names_the_row():
    d = _load("bcg.csv")
    d.loc[3, "yi"] = np.nan
    with pytest.raises(DataError, match="yi"):
        bm.bma(d, measure="OR")

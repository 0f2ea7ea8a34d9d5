"""Bayesian leave-one-out: refits of the exact engine, the predictive check against
Monte Carlo, a planted outlier flagged, the classical table beside it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import shared_data
from scipy import stats

import bayesma as bm
from bayesma.bayes.exact import exact_posterior_arrays
from bayesma.errors import BayesmaError, TooFewStudiesError
from bayesma.priors import HalfCauchy, HalfNormal, Normal
from bayesma.sensitivity import BayesLeave1Out, bayes_leave1out
from bayesma.sensitivity.loo import predictive_mixture

MU, TAU = Normal(0, 10), HalfNormal(0.5)


@pytest.fixture(scope="module")
def bcg():
    d = shared_data("bcg")
    d.attrs["measure"] = "RR"
    return d


@pytest.fixture(scope="module")
def loo(bcg):
    return bayes_leave1out(bcg, mu_prior=MU, tau_prior=TAU)


def test_rows_equal_individual_refits(bcg, loo):
    assert isinstance(loo, BayesLeave1Out)
    t = loo.table
    labels = list(bm.rma(bcg).labels)
    assert list(t.index) == labels
    y, v = bcg["yi"].to_numpy(), bcg["vi"].to_numpy()
    full_med = exact_posterior_arrays(y, v, mu_prior=MU, tau_prior=TAU).median("mu")
    for i, lab in enumerate(labels):
        keep = np.arange(len(y)) != i
        post = exact_posterior_arrays(y[keep], v[keep], mu_prior=MU, tau_prior=TAU)
        r = t.loc[lab]
        assert r["mu_median"] == pytest.approx(post.median("mu"), rel=1e-10)
        assert r["mu_mean"] == pytest.approx(post.mean("mu"), rel=1e-10)
        assert (r["mu_low"], r["mu_high"]) == pytest.approx(post.interval("mu"), rel=1e-10)
        assert r["tau_median"] == pytest.approx(post.median("tau"), rel=1e-10)
        assert (r["tau_low"], r["tau_high"]) == pytest.approx(post.interval("tau"), rel=1e-10)
        assert r["mu_shift"] == pytest.approx(post.median("mu") - full_med, abs=1e-12)
        assert loo.fits[lab].k == len(y) - 1


def test_predictive_check_against_monte_carlo(bcg, loo):
    rng = np.random.default_rng(11)
    y, v = bcg["yi"].to_numpy(), bcg["vi"].to_numpy()
    for i in (0, 3, 11):
        lab = loo.table.index[i]
        d = loo.fits[lab].sample(40_000, random_seed=rng)
        ynew = d["mu"] + d["tau"] * rng.standard_normal(d["mu"].size) + np.sqrt(
            v[i]) * rng.standard_normal(d["mu"].size)
        F = float(np.mean(ynew <= y[i]))
        assert loo.table.loc[lab, "ppc_cdf"] == pytest.approx(F, abs=0.01)
        lo, hi = np.quantile(ynew, [0.025, 0.975])
        assert loo.table.loc[lab, "pred_low"] == pytest.approx(lo, abs=0.05)
        assert loo.table.loc[lab, "pred_high"] == pytest.approx(hi, abs=0.05)
        p = loo.table.loc[lab, "ppc_p"]
        assert p == pytest.approx(2 * min(F, 1 - F), abs=0.02)


def test_mixture_fallback_agrees_with_nodes(loo):
    """The public-API route (quantiles of tau, Gauss-Legendre) equals the node route."""
    post = loo.fits[loo.table.index[0]]

    class Public:
        def quantile(self, p, q):
            return post.quantile(p, q)

        def conditional(self, tau):
            return post.conditional(tau)

    y0 = -0.9
    M, S, w = predictive_mixture(post, 0.3)
    M2, S2, w2 = predictive_mixture(Public(), 0.3)
    F1 = stats.norm.cdf((y0 - M) / S) @ w
    F2 = stats.norm.cdf((y0 - M2) / S2) @ w2
    assert F2 == pytest.approx(F1, abs=2e-4)


def test_planted_outlier_is_flagged(bcg):
    d = bcg.copy()
    d.loc[4, "yi"] = 2.5  # Frimodt-Moller et al: a large harmful effect, small variance
    res = bayes_leave1out(d, mu_prior=MU, tau_prior=TAU)
    lab = res.table.index[4]
    assert res.flagged == [lab]
    assert res.table.loc[lab, "ppc_p"] < 0.001
    assert res.table.loc[lab, "p_holm"] < 0.05
    assert res.table["ppc_p"].idxmin() == lab
    text = res.summary()
    assert repr(lab) in text and "Multiplicity" in text and "remains flagged" in text
    # the classical route agrees that it is outlying
    assert abs(res.classical.loc[lab, "rstudent"]) > 1.96


def test_adjustments_and_flags(loo):
    t = loo.table
    k = len(t)
    np.testing.assert_allclose(t["p_adj"], np.minimum(1, k * t["ppc_p"]))
    assert (t["p_holm"] <= t["p_adj"] + 1e-15).all() and (t["p_holm"] >= t["ppc_p"]).all()
    assert (t["flag"] == (t["ppc_p"] < 0.05)).all()
    assert loo.flagged == []
    assert "every study is predicted by the others" in loo.summary()


def test_classical_table_is_metafor_leave1out(bcg, loo):
    cl = bm.leave1out(bm.rma(bcg, method="REML", test="knha"))
    pd.testing.assert_frame_equal(loo.classical[cl.columns], cl, check_exact=False,
                                  rtol=1e-12)
    assert "rstudent" in loo.classical and "inf" in loo.classical


def test_from_exact_posterior_and_errors(bcg):
    post = bm.exact_posterior(bcg, mu_prior=Normal(0, 2), tau_prior=HalfCauchy(0.3))
    res = bayes_leave1out(post)
    assert res.full is post
    assert res.priors["tau"] == HalfCauchy(0.3)
    with pytest.raises(TooFewStudiesError):
        bayes_leave1out(bcg.iloc[:1])
    with pytest.raises(BayesmaError, match="alpha"):
        bayes_leave1out(bcg, alpha=1.5)
    k2 = bayes_leave1out(shared_data("edge_k2"))
    assert len(k2.table) == 2 and np.all(np.isfinite(k2.table["ppc_p"]))

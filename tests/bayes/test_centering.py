"""Tests of bayesma/bayes/centering.py and of centred meta-regression in the exact engine."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import assert_close, shared_data

import bayesma as bm
from bayesma.bayes.centering import center_design, check_prior_scale
from bayesma.bayes.exact import exact_posterior, exact_posterior_arrays
from bayesma.errors import BayesmaError, PriorScaleWarning

P = bm.priors


@pytest.fixture(scope="module")
def bcg():
    return shared_data("bcg")


def _design(bcg, *cols):
    X = np.column_stack([np.ones(len(bcg))] + [bcg[c].to_numpy(float) for c in cols])
    return X, ["intrcpt", *cols]


# ------------------------------------------------------------------ the map itself
def test_center_design_map(bcg):
    X, terms = _design(bcg, "year", "ablat")
    c = center_design(X, terms)
    assert c.centered and c.intercept
    assert_close(c.means, [0.0, bcg["year"].mean(), bcg["ablat"].mean()], rtol=1e-14)
    assert_close(c.Xc[:, 1:].mean(axis=0), [0.0, 0.0], rtol=0, atol=1e-10)
    assert_close(c.Xc[:, 0], np.ones(len(bcg)), rtol=0)
    rng = np.random.default_rng(1)
    bc = rng.standard_normal((5, 3))
    # the linear predictor is unchanged: Xc beta_c = X T beta_c
    assert_close(bc @ c.Xc.T, c.to_user(bc) @ X.T, rtol=1e-12)
    assert_close(c.to_centered(c.to_user(bc)), bc, rtol=1e-12)
    assert_close(c.to_user(bc)[:, 1:], bc[:, 1:], rtol=0)  # slopes unchanged
    T = c.matrix
    cov = np.stack([np.eye(3) * (i + 1.0) for i in range(4)])
    assert_close(c.to_user_cov(cov), T @ cov @ T.T, rtol=1e-14)
    assert_close(c.center_row @ c.to_user(bc).T, bc[:, 0], rtol=1e-12)
    with pytest.raises(BayesmaError, match="terms"):
        c.to_user(np.zeros(2))


def test_center_design_identity_cases(bcg):
    X, terms = _design(bcg, "ablat")
    for c in (center_design(X, terms, center=False),
              center_design(X[:, 1:], ["ablat"]),                 # no intercept
              center_design(np.ones((5, 1)), ["intrcpt"])):       # no slopes
        assert not c.centered
        assert_close(c.matrix, np.eye(c.p), rtol=0)
        assert_close(c.Xc, c.X, rtol=0)
    with pytest.raises(BayesmaError, match="term names"):
        center_design(X, ["intrcpt"])


# ------------------------------------------------------------------ prior-scale warnings
def test_check_prior_scale(bcg):
    X, terms = _design(bcg, "year")
    y = bcg["yi"].to_numpy()
    with pytest.warns(PriorScaleWarning, match="applies at year = 0"):
        msgs = check_prior_scale(P.Normal(0, 4), P.Normal(0, 4), X, terms, yi=y,
                                 centered=False)
    assert len(msgs) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_prior_scale(P.Normal(0, 4), P.Normal(0, 4), X, terms, yi=y) == []
        assert check_prior_scale(P.Normal(0, 4), None, np.ones((3, 1)), ["intrcpt"]) == []
    # a slope prior that allows almost no change across the moderator's range
    Xa, ta = _design(bcg, "ablat")
    with pytest.warns(PriorScaleWarning, match=r"beta\[ablat\].*informative"):
        check_prior_scale(P.Normal(0, 4), {"ablat": P.Normal(0, 1e-4)}, Xa, ta, yi=y)


# ------------------------------------------------------------------ the exact engine
def test_raw_scale_moderator_slope_matches_reml(bcg):
    """Issue 9: `~ year` under default priors pinned the slope to ~0 (0.00003 where REML
    gives 0.027 [-0.005, 0.059]); with the intercept prior at the mean year it is free."""
    reml = bm.rma(bcg, mods="~ year").coef.loc["year"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", PriorScaleWarning)  # centred: nothing to warn about
        post = exact_posterior(bcg, mods="~ year")
    slope = post.mean("beta[year]")
    assert abs(slope - reml["estimate"]) < 0.003
    lo, hi = post.interval("beta[year]")
    assert abs(lo - reml["ci_low"]) < 0.01 and abs(hi - reml["ci_high"]) < 0.01
    # the intercept on the user's scale, as REML reports it
    assert post.terms == ["intrcpt", "year"]
    assert abs(post.mean("mu") - bm.rma(bcg, mods="~ year").coef.loc["intrcpt", "estimate"]
               ) < 0.2 * post.sd("mu")
    # mu_centered is the mean effect at the mean year
    m = bcg["year"].mean()
    assert_close(post.mean("mu_centered"), post.mean("mu") + m * slope, rtol=1e-10)
    s = post.summary(theta=False)
    assert "mu_centered" in s.index and "beta[year]" in s.index
    # the old behaviour is still available, with a warning
    with pytest.warns(PriorScaleWarning, match="year = 0"):
        raw = exact_posterior(bcg, mods="~ year", center=False)
    assert abs(raw.mean("beta[year]")) < 0.002
    with pytest.raises(BayesmaError, match="center=True"):
        raw.mean("mu_centered")


def test_centred_posterior_is_the_posterior_of_the_centred_design(bcg):
    """center=True equals the uncentred engine run on the centred design, mapped back."""
    X, terms = _design(bcg, "ablat", "year")
    y, v = bcg["yi"].to_numpy(), bcg["vi"].to_numpy()
    pri = dict(mu_prior=P.Normal(-0.5, 2.0), beta_prior=[P.Normal(0, 0.1), P.Normal(0, 0.3)],
               tau_prior=P.HalfCauchy(0.5))
    cen = exact_posterior_arrays(y, v, X, terms=terms, **pri)
    c = center_design(X, terms)
    ref = exact_posterior_arrays(y, v, c.Xc, terms=terms, center=False, **pri)
    assert cen.centered and not ref.centered
    assert_close(cen.log_marginal_likelihood, ref.log_marginal_likelihood, rtol=1e-12)
    assert_close(cen.mean("mu_centered"), ref.mean("mu"), rtol=1e-10)
    assert_close(cen.sd("mu_centered"), ref.sd("mu"), rtol=1e-10)
    assert_close(cen.mean("beta").to_numpy(), c.to_user(ref.mean("beta").to_numpy()),
                 rtol=1e-10)
    assert_close(cen.quantile("beta[year]", [0.1, 0.9]), ref.quantile("beta[year]", [0.1, 0.9]),
                 rtol=1e-10)
    assert_close(cen.mean("theta").to_numpy(), ref.mean("theta").to_numpy(), rtol=1e-10)
    assert_close(cen.quantile("tau", 0.5), ref.quantile("tau", 0.5), rtol=1e-12)
    # the slopes' Savage-Dickey Bayes factors are untouched by centring
    assert_close(cen.bayes_factor("beta[ablat]"), ref.bayes_factor("beta[ablat]"), rtol=1e-10)
    # i.i.d. draws are on the user's scale too
    d = cen.sample(100_000, random_seed=3)
    sd = cen.sd("beta").to_numpy()
    assert np.all(np.abs(d["beta"].mean(0) - cen.mean("beta").to_numpy()) < 5 * sd / 300)
    assert_close(d["mu_centered"], d["beta"] @ c.center_row, rtol=1e-9, atol=1e-12)

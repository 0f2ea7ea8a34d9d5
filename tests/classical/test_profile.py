"""The global maximum of the (restricted) likelihood of tau² (issue 9: ML stopped at a
local maximum; the grid fallback skipped the optimum and depended on row order)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from bayesma.classical.profile import MODE_TOLERANCE, global_maximum, profile_loglik
from bayesma.classical.rma import fit_arrays
from bayesma.classical.tau2 import estimate_tau2

# the data of issue 9: a local maximum at tau² = 0 and the global one near 63.9
YI = np.array([8.96, 20.96, 33.32, 4.64, -3.18, 22.4, 2.1, -2.97])
VI = np.array([781.38, 50.7, 713.29, 272.43, 22.86, 165.38, 88.74, 1.2])


def _brute_force(y, v, reml):
    """Maximiser of the profile likelihood by a dense grid plus bounded Brent."""
    X = np.ones((y.size, 1))
    grid = np.concatenate([[0.0], np.geomspace(1e-6, 1e5, 20001)])
    ll = profile_loglik(y, v, X, grid, reml)
    i = int(np.argmax(ll))
    if i == 0:
        return 0.0, float(ll[0])
    res = optimize.minimize_scalar(
        lambda t: -profile_loglik(y, v, X, t, reml)[0], bounds=(grid[i - 1], grid[i + 1]),
        method="bounded", options={"xatol": 1e-12},
    )
    return float(res.x), -float(res.fun)


def test_ml_returns_the_global_maximum_not_the_boundary():
    res = fit_arrays(YI, VI, method="ML")
    t_best, ll_best = _brute_force(YI, VI, reml=False)
    assert res.tau2 == pytest.approx(t_best, rel=1e-6)
    assert res.tau2 == pytest.approx(63.84, abs=0.05)
    assert res.estimate == pytest.approx(5.37, abs=0.01)  # not -2.14 (the tau² = 0 fit)
    # the likelihood at the returned estimate is the highest
    ll0 = fit_arrays(YI, VI, method="ML", tau2=0.0).fit_stats.loc["ll", "ML"]
    assert res.ll > ll0


def test_multimodality_is_recorded_and_printed():
    res = fit_arrays(YI, VI, method="ML")
    assert res.multimodal is True
    assert res.tau2_local == 0.0
    text = res.summary()
    assert "multimodal" in text and "second local maximum lies at tau^2 = 0.0000" in text
    est = estimate_tau2(YI, VI, None, "ML")
    assert est.multimodal and est.tau2_local == 0.0


def test_unimodal_fits_carry_no_flag():
    for method in ("REML", "EB", "DL"):
        res = fit_arrays(YI, VI, method=method)
        assert res.multimodal is False and res.tau2_local is None
        assert "multimodal" not in res.summary()


def test_reml_matches_a_brute_force_maximum():
    res = fit_arrays(YI, VI, method="REML")
    t_best, _ = _brute_force(YI - YI.mean(), VI, reml=True)
    assert res.tau2 == pytest.approx(t_best, rel=1e-6)


@pytest.mark.parametrize("method", ["ML", "REML", "EB"])
def test_row_order_invariance(method):
    base = estimate_tau2(YI, VI, None, method).tau2
    rng = np.random.default_rng(20261205)
    for _ in range(10):
        p = rng.permutation(YI.size)
        assert estimate_tau2(YI[p], VI[p], None, method).tau2 == pytest.approx(base, rel=1e-9)


def test_grid_search_reaches_small_optima():
    # the old fallback grid started at 1e-8 x its upper bound: with tiny variances the
    # optimum (here about 1e-6) lay below its first positive point
    rng = np.random.default_rng(3)
    v = rng.uniform(1e-7, 2e-7, 30)
    y = rng.normal(0, np.sqrt(v + 1e-6))
    gm = global_maximum(y - y.mean(), v, np.ones((30, 1)), "REML")
    t_best, _ = _brute_force(y - y.mean(), v, reml=True)
    assert gm.tau2 == pytest.approx(t_best, rel=1e-5, abs=1e-15)
    assert estimate_tau2(y, v, None, "REML").tau2 == pytest.approx(t_best, rel=1e-5)


def test_global_maximum_with_moderators_matches_brute_force():
    rng = np.random.default_rng(7)
    k = 25
    x = rng.normal(size=k)
    X = np.column_stack([np.ones(k), x])
    v = rng.uniform(0.01, 0.5, k)
    y = 0.2 + 0.3 * x + rng.normal(0, np.sqrt(v + 0.1))
    est = estimate_tau2(y, v, X, "REML")
    ymc = y - y.mean()
    grid = np.concatenate([[0.0], np.geomspace(1e-6, 100, 20001)])
    ll = profile_loglik(ymc, v, X, grid, True)
    assert profile_loglik(ymc, v, X, est.tau2, True)[0] >= ll.max() - 1e-9


def test_vectorised_loglik_equals_the_scalar_one():
    from bayesma.classical.tau2 import _ll_boundary

    X = np.column_stack([np.ones(8), np.arange(8.0)])
    t = np.array([0.0, 0.5, 10.0, 300.0])
    for reml in (False, True):
        vec = profile_loglik(YI, VI, X, t, reml)
        one = [_ll_boundary(YI, VI, X, ti, reml) for ti in t]
        np.testing.assert_allclose(vec, one, rtol=1e-12)


def test_mode_tolerance_is_half_the_chi2_quantile():
    assert MODE_TOLERANCE == pytest.approx(3.841458820694124 / 2)


@pytest.mark.parametrize("method", ["ML", "REML", "EB"])
def test_fallback_after_fisher_scoring_finds_small_optima_in_any_row_order(method):
    # maxiter=3 stops Fisher scoring at once, so the bracketed search decides. The old
    # grid started at 1e-8 x max(100, ...) = 1e-6 and returned 0 for an optimum of ~1e-8.
    rng = np.random.default_rng(11)
    v = rng.uniform(1e-9, 3e-9, 40)
    y = rng.normal(0, np.sqrt(v + 2e-8))
    full = estimate_tau2(y, v, None, method)
    assert full.tau2 > 0
    for _ in range(5):
        p = rng.permutation(y.size)
        fb = estimate_tau2(y[p], v[p], None, method, maxiter=3)
        assert fb.tau2 == pytest.approx(full.tau2, rel=1e-6)


def test_global_maximum_with_many_studies_uses_a_coarser_grid():
    # the data repeated 300 times (k = 2400 > 2000): the likelihood is 300 times
    # the original one, with the same two modes, so the ML estimate stays at 63.84
    from bayesma.classical.profile import grid_size

    y, v = np.tile(YI, 300), np.tile(VI, 300)
    assert grid_size(y.size) < 200
    est = estimate_tau2(y, v, None, "ML")
    assert est.tau2 == pytest.approx(fit_arrays(YI, VI, method="ML").tau2, rel=1e-8)
    assert est.multimodal is False  # the modes now differ by 300 x 1.65 log-lik units

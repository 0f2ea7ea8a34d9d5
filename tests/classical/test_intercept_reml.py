"""The intercept-only fast path of rma (issue 16): the score on the likelihood grid, Newton
in the one maximum's interval, Fisher scoring in sums, the model's numbers in sums and the
result built at once."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from conftest import assert_close, shared_data

from bayesma.classical import intercept_reml
from bayesma.classical.intercept_reml import (
    fisher_intercept,
    grid_score,
    he_intercept,
    intercept_estimate,
    newton_in_bracket,
)
from bayesma.classical.profile import global_maximum, profile_loglik
from bayesma.classical.rma import RMAResult, fit_arrays, rma
from bayesma.classical.rma.estimation import model_numbers
from bayesma.classical.tau2 import estimate_tau2
from bayesma.data import study_labels

# issue 9's data: a local maximum of the ML likelihood at 0 and the global one near 63.9
YI9 = np.array([8.96, 20.96, 33.32, 4.64, -3.18, 22.4, 2.1, -2.97])
VI9 = np.array([781.38, 50.7, 713.29, 272.43, 22.86, 165.38, 88.74, 1.2])


def _data(k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.005, 0.5, k) * 10 ** rng.uniform(-1, 1, k)
    return rng.normal(0.3, np.sqrt(v + 0.1)), v


@pytest.mark.parametrize("k", [5, 25, 40, 300])  # loops up to 30 studies, numpy beyond
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_fast_path_finds_the_grid_and_brent_maximum(k, method):
    # the fast path keeps the Fisher-scoring estimate; the full search (grid plus
    # bracketed root-finding of the score, no start value) must land on the same root
    y, v = _data(k, k)
    est = estimate_tau2(y, v, None, method)
    ymc = y - y.mean()
    gm = global_maximum(ymc, v, np.ones((k, 1)), method, start=None)
    assert est.converged and est.iterations >= 1 and not est.multimodal
    assert_close(est.tau2, gm.tau2, rtol=1e-9, atol=1e-14, what="tau2")


def test_loop_and_numpy_fisher_steps_agree(monkeypatch):
    y, v = _data(20, 3)
    y = y - y.mean()
    start = max(0.0, he_intercept(y, v))
    loop = fisher_intercept(y, v, start, reml=True, tol=1e-12, max_steps=100)
    monkeypatch.setattr(intercept_reml, "LOOP_MAX_K", 0)
    assert he_intercept(y, v) == pytest.approx(start, rel=1e-13)
    vec = fisher_intercept(y, v, start, reml=True, tol=1e-12, max_steps=100)
    assert loop[1] and vec[1]
    assert_close(loop[0], vec[0], rtol=1e-10, what="tau2")


def _fisher_from_he(y, v, reml):
    return fisher_intercept(y, v, max(0.0, he_intercept(y, v)), reml=reml, tol=1e-12,
                            max_steps=1000)


@pytest.mark.parametrize("reml", [True, False])
def test_newton_in_the_grid_interval_equals_fisher_scoring(reml):
    # the same root of the ML / REML equation as metafor's Fisher scoring from HE, in a
    # few Newton steps (Fisher scoring is stopped at a change of 1e-12 here, so agreement
    # to about 1e-10 relative is what both iterations allow)
    d = shared_data("bcg")
    cases = [(d["yi"].to_numpy(float), d["vi"].to_numpy(float))]
    cases += [_data(k, 100 + k) for k in (4, 12, 29, 31, 80)]
    for y, v in cases:
        y = y - y.mean()
        found = intercept_estimate(y, v, reml=reml, tol=1e-12, max_steps=100)
        assert found is not None
        t, steps = found
        ref, conv, fisher_steps = _fisher_from_he(y, v, reml)
        assert conv
        if ref <= 1e-12:  # the maximum at 0: metafor's Fisher number itself
            assert (t, steps) == (ref, fisher_steps)
            continue
        assert 1 <= steps <= 6 and steps < fisher_steps
        assert_close(t, ref, rtol=1e-10, what="tau2")


def test_newton_stops_only_at_a_root():
    # the stopping rule (a small change, or a small predicted change) must not stop early:
    # the score at the estimate is zero to rounding, relative to its terms
    y, v = _data(20, 4)
    y = y - y.mean()
    g, s = grid_score(y, v, reml=True)
    i = int(np.flatnonzero((s[:-1] > 0) & (s[1:] <= 0))[0])
    t, _ = newton_in_bracket(y, v, g[i], g[i + 1], s[i], s[i + 1], reml=True, tol=1e-12,
                             max_steps=100)
    w = 1.0 / (v + t)
    m = (w @ y) / w.sum()
    ypp = float(np.sum((w * (y - m)) ** 2))
    score = ypp - (w.sum() - (w @ w) / w.sum())
    assert abs(score) <= 1e-10 * ypp
    # a bracket without a Newton-friendly start still converges (bisection steps)
    t2, steps = newton_in_bracket(y, v, 0.0, 1e3, 1.0, -1.0, reml=True, tol=1e-12,
                                  max_steps=200)
    assert_close(t2, t, rtol=1e-10, what="tau2 from a wide bracket")


def test_grid_shows_one_mode_or_hands_over():
    d = shared_data("bcg")
    y, v = d["yi"].to_numpy(float), d["vi"].to_numpy(float)
    y = y - y.mean()
    assert intercept_estimate(y, v, reml=True, tol=1e-12, max_steps=100) is not None
    # two modes (issue 9, ML): the grid hands over and the full search flags them
    y9 = YI9 - YI9.mean()
    assert intercept_estimate(y9, VI9, reml=False, tol=1e-12, max_steps=100) is None
    res = fit_arrays(YI9, VI9, method="ML")
    assert res.multimodal and res.tau2_local == 0.0
    # a score <= 0 on the whole grid: the maximum at 0, as the full search finds
    yh, vh = np.array([0.1, 0.12, 0.09, 0.11]), np.array([0.05, 0.04, 0.06, 0.05])
    yh = yh - yh.mean()
    t0, _ = intercept_estimate(yh, vh, reml=True, tol=1e-12, max_steps=100)
    assert t0 == _fisher_from_he(yh, vh, True)[0] and 0.0 <= t0 <= 1e-12
    gm = global_maximum(yh, vh, np.ones((4, 1)), "REML", start=None)
    assert gm.tau2 == 0.0 and not gm.multimodal


def test_grid_score_in_blocks_matches_one_block(monkeypatch):
    y, v = _data(300, 9)
    y = y - y.mean()
    g, one = grid_score(y, v, reml=True)
    monkeypatch.setattr(intercept_reml, "_BLOCK", 1)  # 16 studies per block
    g2, blocks = grid_score(y, v, reml=True)
    assert np.array_equal(g, g2)
    np.testing.assert_allclose(blocks, one, rtol=1e-9, atol=1e-9 * np.abs(one).max())


@pytest.mark.parametrize("test", ["z", "t", "knha", "adhoc"])
@pytest.mark.parametrize("k", [1, 6, 45])
def test_intercept_numbers_equal_the_general_formulas(test, k):
    # with user weights equal to the random-effects weights the general (matrix) path gives
    # the same model: compare every number of the sums path with it
    y, v = _data(k, 11)
    t2 = 0.07
    X = np.ones((k, 1))
    kw = dict(method="REML", test=test, level=0.95, intercept=True, tau2_fixed=False)
    fast = model_numbers(y, v, X, t2, uw=None, **kw)
    full = model_numbers(y, v, X, t2, uw=1.0 / (v + t2), **kw)
    np.testing.assert_allclose(fast["coef_values"], full["coef_values"], rtol=1e-12)
    np.testing.assert_allclose(fast["fit_stats_values"], full["fit_stats_values"], rtol=1e-12)
    np.testing.assert_allclose(fast["weights"], full["weights"], rtol=1e-12)
    for key in ("q", "q_pval", "i2", "h2", "pi_low", "pi_high", "scale"):
        assert_close(fast[key], full[key], rtol=1e-12, atol=1e-300, what=key)
    assert fast["df"] == full["df"] and fast["qm"] is None and fast["r2"] is None


def test_from_fields_builds_the_same_result():
    res = fit_arrays(*_data(8, 5), method="DL", test="knha")
    values = {f.name: getattr(res, f.name) for f in dataclasses.fields(RMAResult)}
    made = RMAResult(**values)
    fast = RMAResult.from_fields(**values)
    assert type(fast) is RMAResult
    for name in values:
        a, b = getattr(made, name), getattr(fast, name)
        assert a is b or a == b or (isinstance(a, np.ndarray) and np.array_equal(a, b))
    assert fast.coef.equals(made.coef) and fast.summary() == made.summary()
    values.pop("k")
    with pytest.raises(TypeError, match="misses the field 'k'"):
        RMAResult.from_fields(**values)
    with pytest.raises(TypeError, match="unknown fields"):
        RMAResult.from_fields(k=1, nonsense=2, **values)


def test_rma_without_moderators_equals_fit_arrays_and_the_profile_maximum():
    d = shared_data("bcg")
    res = rma(d)
    arr = fit_arrays(d["yi"].to_numpy(float), d["vi"].to_numpy(float))
    assert res.tau2 == arr.tau2 and res.estimate == arr.estimate
    ymc = d["yi"].to_numpy(float) - d["yi"].mean()
    grid = np.concatenate([[0.0], np.geomspace(1e-6, 10, 2001)])
    ll = profile_loglik(ymc, d["vi"].to_numpy(float), np.ones((len(d), 1)), grid, True)
    assert profile_loglik(ymc, d["vi"].to_numpy(float), np.ones((len(d), 1)), res.tau2,
                          True)[0] >= ll.max() - 1e-12


def test_string_labels_with_duplicates_and_missing_values():
    s = pd.array(["A", "B", "A", "", None], dtype="string")
    df = pd.DataFrame({"study": s, "yi": np.arange(5.0)})
    assert study_labels(df) == ["A", "B", "A (2)", "Study 4", "Study 5"]
    df2 = pd.DataFrame({"study": pd.array(["x", "y"], dtype="string"), "yi": [1.0, 2.0]})
    assert study_labels(df2) == ["x", "y"]


def test_newton_hands_over_when_the_score_overflows():
    # squares of 1e200 overflow: Newton must not step on an infinite score
    y = np.array([1e200, -1e200, 3e199, -2e199])
    v = np.ones(4)
    assert newton_in_bracket(y, v, 0.0, 1.0, 1.0, -1.0, reml=True, tol=1e-10,
                             max_steps=50) is None

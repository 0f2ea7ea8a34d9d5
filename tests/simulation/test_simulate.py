"""Simulated meta-analyses: streams, schemes, binomial tables through escalc."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import assert_close

import bayesma as bm
from bayesma.errors import DataError
from bayesma.simulation import draw_vi


def test_simulate_reproduces_the_documented_streams():
    sim = bm.simulate(k=4, mu=0.3, tau=0.5, vi="uniform(0.1, 0.4)", n_rep=6, seed=11)
    assert list(sim.columns) == ["rep", "study", "yi", "vi", "theta"]
    assert sim["rep"].tolist() == list(np.repeat(np.arange(6), 4))
    assert sim["study"].tolist() == [1, 2, 3, 4] * 6
    # by hand: three SeedSequence children for vi, theta and the sampling errors
    g_v, g_t, g_e = (np.random.default_rng(s) for s in np.random.SeedSequence(11).spawn(3))
    v = 0.1 + 0.3 * g_v.uniform(size=(6, 4))
    theta = 0.3 + 0.5 * g_t.standard_normal((6, 4))
    y = theta + np.sqrt(v) * g_e.standard_normal((6, 4))
    assert_close(sim["vi"], v.ravel(), rtol=1e-14, what="vi")
    assert_close(sim["theta"], theta.ravel(), rtol=1e-14, what="theta")
    assert_close(sim["yi"], y.ravel(), rtol=1e-14, what="yi")


def test_replicates_do_not_depend_on_n_rep_and_tau_shares_the_errors():
    few = bm.simulate(k=3, tau=0.2, n_rep=5, seed=3)
    many = bm.simulate(k=3, tau=0.2, n_rep=50, seed=3)
    pd.testing.assert_frame_equal(few, many.iloc[:15], check_like=False)
    other = bm.simulate(k=3, tau=0.9, n_rep=5, seed=3)
    # common random numbers: same vi and sampling errors, theta scaled by tau
    assert_close(other["vi"], few["vi"], rtol=1e-15)
    assert_close(other["yi"] - other["theta"], few["yi"] - few["theta"], rtol=1e-12)
    assert_close(other["theta"] / 0.9, few["theta"] / 0.2, rtol=1e-12)
    assert not np.allclose(bm.simulate(k=3, n_rep=5, seed=4)["yi"], few["yi"])


def test_moments_of_the_normal_normal_model():
    sim = bm.simulate(k=1, mu=1.0, tau=0.5, vi=0.25, n_rep=40000, seed=1)
    # Var(yi) = tau² + vi = 0.5; MC SE of the variance ~ 0.5 * sqrt(2/40000) = 0.0035
    assert abs(sim["yi"].var() - 0.5) < 0.015
    assert abs(sim["yi"].mean() - 1.0) < 0.015


def test_vi_schemes():
    rng = np.random.default_rng(0)
    u = draw_vi("uniform(0.05, 0.5)", rng, (200, 3))
    assert u.shape == (200, 3) and u.min() >= 0.05 and u.max() <= 0.5
    lu = draw_vi("logUniform(0.01, 1)", rng, (2000, 1))
    # log vi uniform on (log 0.01, 0): median near 0.1
    assert 0.08 < np.median(lu) < 0.125 and lu.min() >= 0.01
    assert np.all(draw_vi("fixed(0.2)", rng, (2, 2)) == 0.2)
    assert np.all(draw_vi(0.3, rng, (2, 2)) == 0.3)
    assert_close(draw_vi([0.1, 0.2], rng, (3, 2))[2], [0.1, 0.2])
    got = draw_vi(lambda g, size: g.gamma(2.0, 0.1, size=size), np.random.default_rng(5), (4, 2))
    assert_close(got, np.random.default_rng(5).gamma(2.0, 0.1, size=(4, 2)))


@pytest.mark.parametrize("vi, words", [
    ("normal(1, 2)", "unknown vi scheme"), ("uniform(0.5, 0.1)", "below"),
    ("uniform(0.1)", "2 positive"), ([0.1, 0.2, 0.3], "k = 2"), (-0.1, "> 0"),
    (lambda g, size: np.zeros(3), "shape"),
])
def test_bad_vi_is_a_data_error(vi, words):
    with pytest.raises(DataError, match=words) as err:
        bm.simulate(k=2, vi=vi, n_rep=2, seed=1)
    assert err.value.column == "vi"


def test_bad_settings_are_data_errors():
    with pytest.raises(DataError, match="k must be an integer"):
        bm.simulate(k=0, n_rep=2)
    with pytest.raises(DataError, match="tau"):
        bm.simulate(k=2, tau=-1, n_rep=2)
    with pytest.raises(DataError, match="p_control"):
        bm.simulate_binomial(k=2, p_control=1.0)


def test_binomial_tables_go_through_escalc():
    sim = bm.simulate_binomial(k=5, n=(8, 40), p_control=0.08, log_or=0.4, tau=0.3,
                               n_rep=30, seed=7)
    assert sim.attrs["measure"] == "OR"
    assert {"ai", "n1i", "ci", "n2i"} <= set(sim.columns)
    es = bm.escalc("OR", sim, ai="ai", n1i="n1i", ci="ci", n2i="n2i")
    assert_close(sim["yi"], es["yi"], rtol=1e-14, what="yi")
    assert_close(sim["vi"], es["vi"], rtol=1e-14, what="vi")
    assert sim["n1i"].between(8, 40).all() and (sim["n1i"] == sim["n2i"]).all()
    # zero cells: metafor's default adds 1/2 to the four cells of that table
    zero = sim[(sim["ai"] == 0) | (sim["ci"] == 0)]
    assert len(zero) > 0
    r = zero.iloc[0]
    a, b = r["ai"] + 0.5, r["n1i"] - r["ai"] + 0.5
    c, d = r["ci"] + 0.5, r["n2i"] - r["ci"] + 0.5
    assert_close(r["yi"], np.log(a * d / (b * c)))
    assert_close(r["vi"], 1 / a + 1 / b + 1 / c + 1 / d)
    # the same seed and the first replicates are stable
    again = bm.simulate_binomial(k=5, n=(8, 40), p_control=0.08, log_or=0.4, tau=0.3,
                                 n_rep=3, seed=7)
    pd.testing.assert_frame_equal(again, sim.iloc[:15])


def test_binomial_true_effects_and_event_rates():
    sim = bm.simulate_binomial(k=1, n=400, p_control=0.3, log_or=0.0, tau=0.0, n_rep=400,
                               seed=2)
    assert np.all(sim["theta"] == 0.0)
    # both arms ~ Binomial(400, 0.3): mean 120, SE of the mean over 400 reps ~ 0.46
    assert abs(sim["ci"].mean() - 120) < 2.5 and abs(sim["ai"].mean() - 120) < 2.5
    rr = bm.simulate_binomial(k=2, n=[20, 30], n_rep=2, seed=2, measure="RR")
    assert rr.attrs["measure"] == "RR" and rr["n1i"].tolist() == [20, 30, 20, 30]

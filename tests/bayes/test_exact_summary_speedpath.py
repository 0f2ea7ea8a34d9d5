"""The exact engine's summary fast path (issue 16) gives the numbers of the accessors.

The summary solves every location row (mu, theta_new, beta, mu_centered, theta) in one
stacked Newton per chunk and the tau-like rows' shortest intervals jointly; these tests
compare each row with the parameter's own accessor (``quantile``, ``interval``, ``mean``,
``sd``). Tau-like rows must be bit-identical (the same elementwise arithmetic); location
rows agree to 1e-12 relative (the stacked matrix products over the nodes may round
differently from a one-row product, ~1e-15).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesma as bm
from bayesma.bayes import accessors
from bayesma.bayes.exact import mixture

RTOL = 1e-12
PROB = 0.95
A = (1.0 - PROB) / 2.0


@pytest.fixture(scope="module")
def bcg():
    return bm.datasets.load("bcg")


def _row(table: pd.DataFrame, name: str) -> np.ndarray:
    return table.loc[name, ["median", "eti_low", "eti_high", "hdi_low", "hdi_high"]].to_numpy(
        float)


def _accessor_row(post, name: str) -> np.ndarray:
    q = np.asarray(post.quantile(name, [0.5, A, 1.0 - A]), dtype=float)
    h = post.interval(name, PROB, kind="hdi")
    return np.array([*q, *h], dtype=float)


@pytest.mark.parametrize("chunk", [512, 4])  # 4: chunks that span mu, theta_new, theta
@pytest.mark.parametrize("mods", [None, "~ ablat"])
def test_stacked_location_rows_equal_per_parameter_accessors(bcg, monkeypatch, chunk, mods):
    monkeypatch.setattr(accessors, "CHUNK_ROWS", chunk)
    post = bm.exact_posterior(bcg, mods=mods, classical=None)
    table = post.summary(PROB)
    names = ["mu", "theta_new"] + (["beta[ablat]", "mu_centered"] if mods else [])
    for name in names:
        np.testing.assert_allclose(_row(table, name), _accessor_row(post, name), rtol=RTOL,
                                   err_msg=name)
        np.testing.assert_allclose(table.loc[name, "mean"], post.mean(name), rtol=RTOL)
        np.testing.assert_allclose(table.loc[name, "sd"], post.sd(name), rtol=RTOL)
    # every study row, against the vector accessors (one call for all studies)
    q = post.quantile("theta", [0.5, A, 1.0 - A]).to_numpy(float)
    h = post.interval("theta", PROB, kind="hdi").to_numpy(float)
    rows = [f"theta[{lab}]" for lab in post.labels]
    got = table.loc[rows, ["median", "eti_low", "eti_high", "hdi_low", "hdi_high"]]
    np.testing.assert_allclose(got.to_numpy(float), np.column_stack([q, h]), rtol=RTOL)
    np.testing.assert_allclose(table.loc[rows, "mean"].to_numpy(float),
                               post.mean("theta").to_numpy(float), rtol=RTOL)
    np.testing.assert_allclose(table.loc[rows, "sd"].to_numpy(float),
                               post.sd("theta").to_numpy(float), rtol=RTOL)


@pytest.mark.parametrize("dataset", ["bcg", "edge_k3_homogeneous"])
def test_tau_like_rows_are_bit_identical_to_single_kind_answers(dataset):
    # edge_k3_homogeneous: the posterior of tau peaks at 0, the Newton search gives up
    # after _PATIENCE steps and the interval against the support bound is the HDI
    post = bm.exact_posterior(bm.datasets.load(dataset), classical=None)
    table = post.summary(PROB)
    for kind in ("tau", "tau2", "i2"):
        expected = _accessor_row(post, kind)
        assert np.array_equal(_row(table, kind), expected), kind
    if dataset == "edge_k3_homogeneous":
        assert table.loc["tau", "hdi_low"] == 0.0


@pytest.mark.parametrize("dataset", ["bcg", "edge_k3_homogeneous"])
def test_quantile_u_is_elementwise_on_both_newton_paths(dataset):
    """A few probabilities take scalar Newton steps, many the array path: the same
    numbers, whichever probabilities are asked together."""
    quad = bm.exact_posterior(bm.datasets.load(dataset), classical=None)._quad
    probs = np.concatenate([np.linspace(0.0, 1.0, 41), [1e-9, 0.999999, quad.F_edges[3]]])
    assert probs.size > 16  # the array path
    together = quad.quantile_u(probs)
    alone = np.array([quad.quantile_u(np.array([p]))[0] for p in probs])
    five = quad.quantile_u(probs[10:15])
    assert np.array_equal(together, alone)
    assert np.array_equal(five, together[10:15])


def test_mixture_hdi_nonfinite_step_leaves_only_that_row(bcg, monkeypatch):
    post = bm.exact_posterior(bcg, classical=None)
    w = post._node_data()["w"]
    M, S = post._mixture("theta", [0, 1, 2])
    eti = post.interval("theta", PROB).to_numpy(float)[:3]
    good = mixture.mixture_hdi(M, S, w, PROB, eti)
    start = eti.copy()
    start[1] = [-1e6, 1e6]  # zero density at both ends: the Newton step is NaN
    sent = []
    fallback = mixture._mixture_hdi_alpha

    def spy(Mr, Sr, wr, prob):
        sent.append(Mr.copy())
        return fallback(Mr, Sr, wr, prob)

    monkeypatch.setattr(mixture, "_mixture_hdi_alpha", spy)
    got = mixture.mixture_hdi(M, S, w, PROB, start)
    # only the row with the non-finite step went to the fallback search ...
    assert len(sent) == 1 and np.array_equal(sent[0], M[[1]])
    # ... the others kept their Newton solutions
    np.testing.assert_allclose(got[[0, 2]], good[[0, 2]], rtol=RTOL)
    # and the fallback found the same interval (to its own tolerance)
    np.testing.assert_allclose(got[1], good[1], rtol=1e-6)


def test_table_from_arrays_equals_the_dataframe_path(bcg, monkeypatch):
    """A column of another type than float takes the DataFrame path: same table."""
    post = bm.exact_posterior(bcg, measure="RR", classical=None)
    fast = post.summary(PROB)
    original = type(post).summary_stats

    def with_object_column(self, prob, *, theta=True):
        df = original(self, prob, theta=theta)
        df["sd"] = df["sd"].astype(object)
        return df

    monkeypatch.setattr(type(post), "summary_stats", with_object_column)
    slow = post.summary(PROB)
    assert "exp_mean" in fast.columns and "P(mu < 0)" in fast.index
    pd.testing.assert_frame_equal(slow.astype(float), fast, check_exact=True)

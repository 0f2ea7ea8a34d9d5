"""Property-based checks of the classical engine (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bayesma.classical.rma import fit_arrays, rma
from bayesma.classical.tau2 import METHODS
from bayesma.errors import DataError

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def studies(draw, min_k=3, max_k=25):
    k = draw(st.integers(min_k, max_k))
    vi = np.array(draw(st.lists(st.floats(0.005, 1.0), min_size=k, max_size=k)))
    yi = np.array(draw(st.lists(st.floats(-2.0, 2.0), min_size=k, max_size=k)))
    return yi, vi


def _close(a, b, rtol=1e-6, atol=1e-9):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.mark.filterwarnings("ignore:the Knapp & Hartung method:bayesma.errors.BayesmaWarning")
@SETTINGS
@given(data=studies(), method=st.sampled_from(METHODS), test=st.sampled_from(["z", "knha"]),
       seed=st.integers(0, 2**32 - 1))
def test_permuting_studies_changes_nothing(data, method, test, seed):
    yi, vi = data
    perm = np.random.default_rng(seed).permutation(len(yi))
    a = fit_arrays(yi, vi, method=method, test=test)
    b = fit_arrays(yi[perm], vi[perm], method=method, test=test)
    for attr in ("estimate", "se", "pval", "ci_low", "ci_high", "q", "h2"):
        _close(getattr(b, attr), getattr(a, attr))
    _close(b.tau2, a.tau2, atol=1e-9)
    _close(b.i2, a.i2, atol=1e-6)
    _close(b.weights, a.weights[perm])
    _close(b.fit_stats.to_numpy(), a.fit_stats.to_numpy(), atol=1e-7)


@SETTINGS
@given(data=studies(), method=st.sampled_from(METHODS), c=st.floats(0.2, 5.0))
def test_scaling(data, method, c):
    """yi -> c yi, vi -> c² vi scales the estimate by c and tau² by c² (I², Q unchanged)."""
    yi, vi = data
    a = fit_arrays(yi, vi, method=method)
    b = fit_arrays(c * yi, c * c * vi, method=method)
    _close(b.estimate, c * a.estimate, atol=1e-8 * c)
    _close(b.se, c * a.se)
    _close(b.tau2, c * c * a.tau2, rtol=1e-6, atol=1e-9 * c * c)
    _close(b.q, a.q)
    _close(b.i2, a.i2, atol=1e-6)
    _close(b.weights, a.weights)


@SETTINGS
@given(k=st.integers(2, 20), seed=st.integers(0, 2**32 - 1), mu=st.floats(-1, 1))
def test_ee_equals_dl_when_tau2_is_zero(k, seed, mu):
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.5, k)
    yi = mu + 0.3 * np.sqrt(vi) * rng.standard_normal(k)  # little heterogeneity
    dl = fit_arrays(yi, vi, method="DL")
    assume(dl.tau2 == 0)
    ee = fit_arrays(yi, vi, method="EE")
    for attr in ("estimate", "se", "stat", "pval", "ci_low", "ci_high", "q", "q_pval"):
        _close(getattr(dl, attr), getattr(ee, attr))
    _close(dl.weights, ee.weights)
    assert dl.i2 == ee.i2 == 0


@st.composite
def table_with_bad_cell(draw):
    k = draw(st.integers(3, 12))
    labels = [f"Study {chr(65 + i)}" for i in range(k)]
    df = pd.DataFrame(
        {
            "author": labels,
            "yi": draw(st.lists(st.floats(-1, 1), min_size=k, max_size=k)),
            "vi": draw(st.lists(st.floats(0.01, 1), min_size=k, max_size=k)),
        },
        index=pd.Index([10 * i + 1 for i in range(k)]),
    )
    row = draw(st.integers(0, k - 1))
    column = draw(st.sampled_from(["yi", "vi"]))
    value = draw(
        st.sampled_from([np.nan, -0.5, 0.0]) if column == "vi" else st.just(np.nan)
    )
    df.iloc[row, df.columns.get_loc(column)] = value
    return df, df.index[row], labels[row], column


@SETTINGS
@given(case=table_with_bad_cell())
def test_input_errors_name_column_and_row(case):
    df, label, study, column = case
    with pytest.raises(DataError) as exc:
        rma(df)
    msg = str(exc.value)
    assert f"'{column}'" in msg
    assert f"row {label}" in msg
    assert f"'{study}'" in msg
    assert exc.value.column == column
    assert label in exc.value.rows


@SETTINGS
@given(name=st.sampled_from(["yi", "vi", "effect"]))
def test_missing_column_is_named(name):
    df = pd.DataFrame({"a": [0.1, 0.2, 0.3], "b": [0.1, 0.1, 0.1]})
    with pytest.raises(DataError, match=f"'{name}'"):
        rma(df, yi=name if name != "vi" else "a", vi=name if name == "vi" else "b")

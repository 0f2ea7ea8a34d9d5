"""batch_rma equals bm.rma group by group (vectorised tau² estimators, tests, k = 1)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesma.batch import batch_from_arrays, batch_rma
from bayesma.batch.rma import rma_chunk
from bayesma.batch.tau2 import BATCH_METHODS, batch_tau2
from bayesma.classical.rma import fit_arrays
from bayesma.errors import DataError, SmallKWarning

REF = Path(__file__).parents[1] / "reference" / "batch" / "batch_rma.json"
COLS = ("estimate", "se", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2", "q",
        "q_pval")


def _corpus():
    """60 random groups (k = 1..20) plus rows of a 20000-group corpus that exercise the
    slow paths: Fisher scoring not converged (REML rows 51, 52), a second grid mode
    (REML 1230, 3061; ML 279, 907, 1139: multimodal likelihood)."""
    rng = np.random.default_rng(1)
    R, kmax = 20000, 20
    k = rng.integers(2, 21, R)
    v = rng.uniform(0.01, 0.5, (R, kmax))
    tau = rng.choice([0, 0.1, 0.3, 0.8], R)
    y = rng.normal(0, np.sqrt(v + tau[:, None] ** 2))
    rows = np.r_[np.arange(60), [51, 52, 1230, 3061, 279, 907, 1139]]
    k = k[rows]
    k[:4] = [1, 2, 2, 3]
    mask = np.arange(kmax)[None, :] < k[:, None]
    return batch_from_arrays(y[rows], v[rows], mask)


@pytest.fixture(scope="module")
def corpus():
    return _corpus()


def _per_call(batch, r, method, test):
    y, v = batch.group(r)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_arrays(y, v, method=method, test=test)


def _check(res, batch, method, test, rows):
    for r in rows:
        f = _per_call(batch, r, method, test)
        row = res.iloc[r]
        for c in COLS:
            # iterative estimators stop at |change| <= 1e-12: tau² agrees to ~1e-13
            np.testing.assert_allclose(row[c], getattr(f, c), rtol=1e-10, atol=1e-12,
                                       err_msg=f"{method} {test} row {r} {c}")
        assert bool(row["converged"]) is bool(f.converged)


@pytest.mark.parametrize("method", BATCH_METHODS)
def test_every_method_equals_rma(corpus, method):
    res = rma_chunk(corpus, method=method, test="z", level=0.95)
    rows = range(corpus.n_groups) if method in ("REML", "ML") else range(0, 40)
    _check(res, corpus, method, "z", rows)


@pytest.mark.parametrize("test", ["knha", "t"])
def test_tests_equal_rma(corpus, test):
    res = rma_chunk(corpus, method="REML", test=test, level=0.9)
    for r in range(20):
        f = _per_call(corpus, r, "REML", test)
        f = f.with_settings(level=0.9)
        for c in ("se", "ci_low", "ci_high", "pi_low", "pi_high", "pval"):
            np.testing.assert_allclose(res.iloc[r][c], getattr(f, c), rtol=1e-10,
                                       atol=1e-12, err_msg=f"{test} row {r} {c}")
        if corpus.k[r] > 1:
            assert res.iloc[r]["df"] == corpus.k[r] - 1


def test_slow_paths_are_taken(corpus):
    """The extra rows really go through the non-converged and refit paths."""
    _, refit = batch_tau2(corpus.y, corpus.v, corpus.mask, corpus.k, "ML")
    assert refit[-3:].all()
    _, refit = batch_tau2(corpus.y, corpus.v, corpus.mask, corpus.k, "REML")
    assert refit[62:64].all() and not refit[60:62].any()


def test_k1_mirrors_rma(corpus):
    res = rma_chunk(corpus, method="REML", test="knha", level=0.95)
    row = res.iloc[0]
    f = _per_call(corpus, 0, "REML", "knha")  # rma sets test = "z" for k = 1
    assert row["tau2"] == 0 and row["q"] == 0 and row["q_pval"] == 1 and np.isnan(row["df"])
    np.testing.assert_allclose([row["ci_low"], row["ci_high"]], [f.ci_low, f.ci_high],
                               rtol=1e-12)
    assert "k = 1" in row["note"]


def test_against_metafor_including_adhoc():
    ref = json.loads(REF.read_text())
    long = pd.DataFrame(ref["data"])
    for method in ("REML", "DL", "PM"):
        for test in ("z", "knha", "adhoc"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SmallKWarning)  # the k = 2 groups
                res = batch_rma(long, by="group", method=method, test=test, backend="serial")
            for fit in ref["fits"]:
                if fit["method"] != method or fit["test"] != test:
                    continue
                row = res.loc[fit["group"]]
                for c in COLS:
                    # metafor at threshold 1e-12: agreement to 1e-8 relative
                    np.testing.assert_allclose(row[c], fit[c], rtol=1e-8, atol=1e-10,
                                               err_msg=f"{fit['group']} {method} {test} {c}")


def test_adhoc_equals_rma(corpus):
    res = rma_chunk(corpus, method="PM", test="adhoc", level=0.95)
    _check(res, corpus, "PM", "adhoc", range(4, 30))


def test_adhoc_is_knha_with_scale_at_least_one(corpus):
    t = rma_chunk(corpus, method="DL", test="t", level=0.95)
    kn = rma_chunk(corpus, method="DL", test="knha", level=0.95)
    ad = rma_chunk(corpus, method="DL", test="adhoc", level=0.95)
    many = corpus.k > 1
    np.testing.assert_allclose(ad["se"][many], np.maximum(t["se"], kn["se"])[many],
                               rtol=1e-12)


def test_long_table_order_and_sei():
    long = pd.DataFrame({"rid": ["b", "a", "b", "a", "b"], "yi": [0.1, 0.3, -0.2, 0.5, 0.0],
                         "sei": [0.2, 0.3, 0.25, 0.4, 0.3]})
    with pytest.warns(SmallKWarning, match="2 of 2 meta-analyses"):
        res = batch_rma(long, by="rid", sei="sei", method="DL")
    assert list(res.index) == ["b", "a"] and res.index.name == "rid"
    assert list(res["k"]) == [3, 2]
    f = fit_arrays([0.3, 0.5], [0.09, 0.16], method="DL")
    np.testing.assert_allclose(res.loc["a", "estimate"], f.estimate, rtol=1e-12)


def test_bad_input_names_column_and_row():
    long = pd.DataFrame({"rid": ["a", None, "b"], "yi": [0.1, 0.2, 0.3],
                         "vi": [0.1, 0.1, 0.1]})
    with pytest.raises(DataError, match="rid") as e:
        batch_rma(long, by="rid")
    assert e.value.rows == [1]
    long["rid"] = ["a", "a", "b"]
    long.loc[2, "vi"] = -1.0
    with pytest.raises(DataError, match="vi"):
        batch_rma(long, by="rid")
    with pytest.raises(DataError, match="by="):
        batch_rma(long)
    with pytest.raises(DataError, match="vectorised"):
        batch_rma(long.assign(vi=0.1), by="rid", method="GENQ")
    with pytest.raises(DataError, match="test"):
        batch_rma(long.assign(vi=0.1), by="rid", test="wald")


def test_newton_polish_keeps_the_start_of_rows_whose_score_is_not_finite():
    from bayesma.batch.tau2 import _newton_polish

    rng = np.random.default_rng(3)
    v = rng.uniform(0.05, 0.3, (2, 8))
    y = rng.normal(0.0, 0.6, (2, 8))
    y[1] = np.array([1e200, -1e200] * 4)  # its squares overflow
    ymc = y - y.mean(axis=1, keepdims=True)
    mask = np.ones_like(y, dtype=bool)
    start = np.array([0.2, 0.5])
    out = _newton_polish(ymc, v, mask, start, np.zeros(2), np.full(2, 100.0), True, 1e-10)
    assert out[1] == start[1]
    assert np.isfinite(out[0]) and out[0] != start[0]

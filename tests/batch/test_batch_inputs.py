"""Batch inputs: long tables and padded arrays, their validation and chunking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesma.batch import BatchData, batch_from_arrays, batch_from_long
from bayesma.errors import BayesmaError, DataError


def test_long_table_to_padded_arrays():
    long = pd.DataFrame({"id": [3, 1, 3, 3, 1], "yi": [0.1, 0.2, 0.3, 0.4, 0.5],
                         "vi": [1.0, 2.0, 3.0, 4.0, 5.0]})
    b = batch_from_long(long, by="id")
    assert list(b.ids) == [3, 1] and list(b.k) == [3, 2]
    np.testing.assert_array_equal(b.y, [[0.1, 0.3, 0.4], [0.2, 0.5, 0.0]])
    np.testing.assert_array_equal(b.v, [[1.0, 3.0, 4.0], [2.0, 5.0, 1.0]])
    np.testing.assert_array_equal(b.mask, [[True] * 3, [True, True, False]])
    y, v = b.group(1)
    np.testing.assert_array_equal(y, [0.2, 0.5])
    parts = b.chunks(1)
    assert [p.ids[0] for p in parts] == [3, 1] and parts[1].y.shape == (1, 2)


def test_arrays_with_mask_and_ids():
    y = np.array([[0.1, 0.2, np.nan], [0.3, np.nan, np.nan]])
    v = np.array([[0.1, 0.2, -1.0], [0.3, 0.0, 0.0]])
    b = batch_from_arrays(y, v, ~np.isnan(y), ids=["a", "b"])
    assert isinstance(b, BatchData) and list(b.k) == [2, 1]
    assert b.y[1, 1] == 0.0 and b.v[1, 1] == 1.0  # finite padding


@pytest.mark.parametrize("y, v, mask, match", [
    ([[0.1, 0.2]], [[0.1, 0.0]], None, "vi must be > 0; row 0, position 1"),
    ([[0.1, np.nan]], [[0.1, 0.1]], None, "yi is missing"),
    ([[0.1, 0.2]], [[0.1, 0.1]], [[False, False]], "no studies"),
    ([[0.1, 0.2]], [[0.1, 0.1]], [[False, True]], "first k cells"),
    ([[0.1, 0.2]], [[0.1, 0.1, 0.1]], None, "same shape"),
])
def test_array_errors(y, v, mask, match):
    with pytest.raises(DataError, match=match):
        batch_from_arrays(y, v, mask)


def test_long_errors_name_rows():
    long = pd.DataFrame({"id": [1, 1, 2], "yi": [0.1, "x", 0.3], "vi": [0.1, 0.1, 0.1]})
    with pytest.raises(DataError, match="yi") as e:
        batch_from_long(long, by="id")
    assert e.value.column == "yi"
    with pytest.raises(DataError, match="not in the data"):
        batch_from_long(long.assign(yi=0.1), by="nope")
    with pytest.raises(DataError, match="ids must be unique"):
        batch_from_arrays([[0.1], [0.2]], [[0.1], [0.1]], ids=["a", "a"])


# --- options shared by every batch engine: chunk_size and level ---------------------------

SMALL = pd.DataFrame({"g": ["a", "a", "a", "b", "b", "b"],
                      "yi": [0.1, 0.4, -0.2, 0.5, 0.9, 0.2],
                      "vi": [0.05, 0.08, 0.1, 0.1, 0.2, 0.05]})


class _Captured(Exception):
    """Stops batch_fit at run_chunks (no sampling) and carries the parsed options."""


def _engines(monkeypatch):
    """The three batch entry points, batch_fit stopped before any MCMC runs."""
    import bayesma.batch.mcmc as mcmc
    from bayesma.batch import batch_exact, batch_fit, batch_rma

    def fake_run_chunks(_call, items, **_):
        raise _Captured(items[0][0].keywords["level"], len(items))

    monkeypatch.setattr(mcmc, "run_chunks", fake_run_chunks)
    return {
        "rma": lambda **kw: batch_rma(SMALL, by="g", test="knha", backend="serial", **kw),
        "exact": lambda **kw: batch_exact(SMALL, by="g", measure="SMD", backend="serial",
                                          **kw),
        "fit": lambda **kw: batch_fit(SMALL, by="g", backend="serial", **kw),
    }


@pytest.mark.parametrize("bad", [0, -3, 2.5, float("nan"), "abc", "2", True])
def test_chunk_size_must_be_a_positive_integer_in_every_engine(monkeypatch, bad):
    for name, run in _engines(monkeypatch).items():
        with pytest.raises(BayesmaError, match=r"chunk_size must be a positive integer") as e:
            run(chunk_size=bad)
        assert repr(bad) in str(e.value), name


@pytest.mark.parametrize("bad", ["0.95", "95%", True, 0, 1, 100, -0.5, float("nan"), None])
def test_level_is_parsed_alike_by_every_engine(monkeypatch, bad):
    for run in _engines(monkeypatch).values():
        with pytest.raises(BayesmaError, match="level must be"):
            run(level=bad)


def test_valid_chunk_size_and_level_agree_across_engines(monkeypatch):
    engines = _engines(monkeypatch)
    for level in (0.9, 90, np.float64(0.9), np.int64(90)):
        with pytest.raises(_Captured) as e:
            engines["fit"](level=level, chunk_size=np.int64(1))
        assert e.value.args == (pytest.approx(0.9), 2)  # 2 chunks of one group each
    ref_rma = engines["rma"](level=0.9)
    ref_exact = engines["exact"](level=0.9)
    for level, size in ((90, 1), (np.float64(0.9), 1.0), (np.int64(90), np.int64(2))):
        pd.testing.assert_frame_equal(engines["rma"](level=level, chunk_size=size), ref_rma)
        pd.testing.assert_frame_equal(engines["exact"](level=level, chunk_size=size),
                                      ref_exact)

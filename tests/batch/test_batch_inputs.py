"""Batch inputs: long tables and padded arrays, their validation and chunking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesma.batch import BatchData, batch_from_arrays, batch_from_long
from bayesma.errors import DataError


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

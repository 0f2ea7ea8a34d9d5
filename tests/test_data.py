"""Validated column access (bayesma/data.py): errors name the column and the row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import shared_data

from bayesma.data import effect_arrays, numeric_column
from bayesma.errors import DataError


def test_duplicate_column_is_a_data_error():
    dat = shared_data("bcg")
    dup = pd.concat([dat[["author", "yi", "vi"]], dat[["vi"]]], axis=1)
    with pytest.raises(DataError, match="column 'vi' appears 2 times") as err:
        effect_arrays(dup)
    assert err.value.column == "vi"


@pytest.mark.parametrize(
    "values",
    [
        lambda y: y.astype(complex),
        lambda y: pd.Series(pd.Timestamp("2020-01-01"), index=y.index),
        lambda y: pd.to_timedelta(y, unit="D"),
    ],
    ids=["complex", "datetime", "timedelta"],
)
def test_non_real_dtype_is_rejected_not_coerced(values):
    dat = shared_data("bcg")
    dat["yi"] = values(dat["yi"])
    with pytest.raises(DataError, match=r"column 'yi'.*real numbers.*row 0 \(study 'Aronson'\)"):
        numeric_column(dat, "yi", what="effect sizes")


def test_categorical_column_reads_numbers_and_names_bad_rows():
    dat = shared_data("bcg")
    dat["yi"] = dat["yi"].astype("category")
    np.testing.assert_allclose(numeric_column(dat, "yi"), shared_data("bcg")["yi"])
    dat["yi"] = dat["yi"].astype(object).where(dat.index != 2, "abc").astype("category")
    with pytest.raises(DataError, match=r"row 2 \(study 'Rosenthal et al'\) has value 'abc'"):
        numeric_column(dat, "yi")

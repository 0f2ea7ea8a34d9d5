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


# --------------------------------------------------------------- issue 9: typed errors
def _small():
    return pd.DataFrame(
        {"study": ["A", "B", "C", "D"], "yi": [0.1, 0.2, 0.3, 0.5], "vi": [0.01, 0.02, 0.03, 0.04]}
    )


def test_multiindex_columns_are_a_data_error():
    import bayesma as bm

    dat = _small()
    dat.columns = pd.MultiIndex.from_tuples([("x", c) for c in dat.columns])
    with pytest.raises(DataError, match="MultiIndex"):
        effect_arrays(dat)
    with pytest.raises(DataError, match="MultiIndex"):
        bm.rma(dat)
    with pytest.raises(DataError, match="MultiIndex"):
        bm.escalc("MD", data=dat, m1i="a", sd1i="b", n1i="c", m2i="d", sd2i="e", n2i="f")


@pytest.mark.parametrize("method", ["EE", "DL", "REML", "ML", "PM", "SJ", "HE", "EB"])
def test_tiny_variances_are_a_data_error_naming_the_row(method):
    import bayesma as bm

    dat = _small()
    dat.loc[2, "vi"] = 1e-300
    with pytest.raises(DataError, match=r"row 2 \(study 'C'\).*1e-300") as err:
        bm.rma(dat, method=method)
    assert err.value.column == "vi" and err.value.rows == [2]


def test_huge_effect_sizes_are_a_data_error_naming_the_row():
    import bayesma as bm

    dat = _small()
    dat.loc[0, "yi"] = 1e300
    with pytest.raises(DataError, match=r"row 0 \(study 'A'\).*1e\+300") as err:
        bm.rma(dat)
    assert err.value.column == "yi"
    dat.loc[0, "yi"] = -1e300
    with pytest.raises(DataError, match="too large"):
        bm.rma(dat, method="DL")


def test_all_tiny_two_by_two_tables_are_a_data_error_when_pooled():
    import bayesma as bm

    tiny = pd.DataFrame({c: [1e-300, 2e-300] for c in ("ai", "bi", "ci", "di")})
    for measure in ("OR", "RR", "RD"):
        dat = bm.escalc(measure, data=tiny, ai="ai", bi="bi", ci="ci", di="di")
        with pytest.raises(DataError, match="column 'vi'"):
            bm.rma(dat, method="DL")


def test_header_only_table_is_a_clear_error():
    import io

    import bayesma as bm

    empty = pd.read_csv(io.StringIO("study,yi,vi\n"))
    with pytest.raises(DataError, match="no rows"):
        effect_arrays(empty)
    with pytest.raises(DataError, match="no rows"):
        bm.rma(empty)


def test_warn_non_integer_names_column_and_row():
    from bayesma.data import warn_non_integer
    from bayesma.errors import NonIntegerCountWarning

    dat = pd.DataFrame({"study": ["A", "B"], "n": [10.0, 12.5]})
    with pytest.warns(NonIntegerCountWarning, match=r"column 'n'.*row 1 \(study 'B'\).*12.5"):
        warn_non_integer(dat, "n", dat["n"].to_numpy(), slab="study")

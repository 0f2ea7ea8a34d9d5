"""Tests for bayesma/effect_sizes.py: escalc against metafor 3.8, validation, conversions."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import DATASETS, assert_close, reference, shared_data
from hypothesis import given, settings
from hypothesis import strategies as st

import bayesma as bm
from bayesma.effect_sizes import (
    MEASURES,
    Converted,
    UndefinedEffectWarning,
    convert,
    d_to_r,
    escalc,
    logor_to_smd,
    r_to_d,
    r_to_z,
    smd_to_logor,
    z_to_r,
)
from bayesma.errors import BayesmaError, DataError, DroppedRowsWarning

# --------------------------------------------------------------------------- metafor reference

CASES = [
    pytest.param(name, measure, id=f"{name}-{measure}")
    for name in DATASETS
    if reference(name)["escalc"] is not None
    for measure in reference(name)["escalc"]["measures"]
]


def _call_args(call: str) -> dict[str, str]:
    """Column arguments of an R call such as ``escalc(measure="RR", ai=tpos, ..., data=d)``."""
    args = dict(re.findall(r"(\w+)=(\w+)", call))
    args.pop("data", None)
    return args


@pytest.mark.parametrize(("name", "measure"), CASES)
def test_escalc_matches_metafor(name: str, measure: str) -> None:
    ref = reference(name)
    spec = ref["escalc"]["measures"][measure]
    df = shared_data(name)
    before = df.copy()
    if spec["source"] == "given":
        cols = ref["columns"]
        out = escalc(measure, df, yi=cols["yi"], vi=cols["vi"])
    else:
        out = escalc(
            measure,
            df,
            **_call_args(spec["call"]),
            add=spec["add"],
            to=spec["to"],
            drop00=spec["drop00"],
            vtype=spec["vtype"],
        )
    assert_close(out["yi"], spec["yi"], what=f"{name} {measure} yi")
    assert_close(out["vi"], spec["vi"], what=f"{name} {measure} vi")
    assert out.attrs["measure"] == measure
    # a copy: the input is untouched and every other column is kept as it was
    pd.testing.assert_frame_equal(df, before)
    assert list(out.columns) == list(df.columns)
    other = [c for c in df.columns if c not in ("yi", "vi")]
    pd.testing.assert_frame_equal(out[other], df[other])


def test_every_reference_measure_is_supported() -> None:
    for name in DATASETS:
        esc = reference(name)["escalc"]
        if esc is not None:
            assert set(esc["measures"]) <= set(MEASURES), name


# --------------------------------------------------------------------------- zero cells

YUSUF = dict(ai="ai", n1i="n1i", ci="ci", n2i="n2i")


def _yusuf_ref(measure: str) -> dict:
    return reference("yusuf1985")["escalc"]["measures"][measure]


def _double_zero(df: pd.DataFrame) -> np.ndarray:
    return ((df.ai == 0) & (df.ci == 0)).to_numpy()


def test_double_zero_studies_are_kept_by_default() -> None:
    df = shared_data("yusuf1985")
    dz = _double_zero(df)
    assert dz.sum() >= 3
    for measure in ("OR", "RR", "RD", "PETO"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = escalc(measure, df, **YUSUF)
        assert np.isfinite(out.loc[dz, "yi"]).all()
        assert (out.loc[dz, "vi"] > 0).all()


@pytest.mark.parametrize("measure", ["OR", "RR", "RD", "PETO"])
def test_drop00_gives_nan_with_warning_naming_the_studies(measure: str) -> None:
    df = shared_data("yusuf1985")
    dz = _double_zero(df)
    with pytest.warns(UndefinedEffectWarning) as rec:
        out = escalc(measure, df, **YUSUF, drop00=True)
    msg = str(rec[0].message)
    for row in np.flatnonzero(dz)[:5]:
        assert f"row {row}" in msg
    assert "'Waagstein'" in msg and "drop00" in msg and "dropna" in msg
    assert out.loc[dz, ["yi", "vi"]].isna().all().all()
    ref = _yusuf_ref(measure)
    assert_close(out.loc[~dz, "yi"], np.asarray(ref["yi"])[~dz])
    assert_close(out.loc[~dz, "vi"], np.asarray(ref["vi"])[~dz])
    assert issubclass(UndefinedEffectWarning, DroppedRowsWarning)


def test_to_none_zero_cells_become_nan_with_warning() -> None:
    df = shared_data("yusuf1985")
    anyzero = ((df.ai == 0) | (df.ci == 0)).to_numpy()
    with pytest.warns(UndefinedEffectWarning, match="continuity correction"):
        out = escalc("OR", df, **YUSUF, to="none")
    assert out.loc[anyzero, "yi"].isna().all()
    ref = _yusuf_ref("OR")
    assert_close(out.loc[~anyzero, "yi"], np.asarray(ref["yi"])[~anyzero])
    # add=0 is the same as to="none"
    with pytest.warns(UndefinedEffectWarning):
        out0 = escalc("OR", df, **YUSUF, add=0)
    pd.testing.assert_frame_equal(out, out0)


def test_peto_without_correction_handles_single_zero_cells() -> None:
    df = shared_data("yusuf1985")
    dz = _double_zero(df)
    single = (((df.ai == 0) | (df.ci == 0)).to_numpy()) & ~dz
    with pytest.warns(UndefinedEffectWarning):
        out = escalc("PETO", df, **YUSUF, to="none")
    assert out.loc[dz, "yi"].isna().all()
    assert np.isfinite(out.loc[single, "yi"]).all()
    # Peto by hand for one single-zero table (Yusuf et al. 1985)
    i = int(np.flatnonzero(single)[0])
    a, n1, c, n2 = (float(df.loc[i, k]) for k in ("ai", "n1i", "ci", "n2i"))
    n, xt = n1 + n2, a + c
    v = xt * (n - xt) * n1 * n2 / (n**2 * (n - 1))
    assert out.loc[i, "yi"] == pytest.approx((a - xt * n1 / n) / v)
    assert out.loc[i, "vi"] == pytest.approx(1 / v)


def test_to_all_and_if0all() -> None:
    df = pd.DataFrame({"a": [2, 0], "b": [8, 10], "c": [4, 3], "d": [6, 7]})
    cells = dict(ai="a", bi="b", ci="c", di="d")
    out_all = escalc("OR", df, **cells, to="all")
    out_if0 = escalc("OR", df, **cells, to="if0all")
    out_only0 = escalc("OR", df, **cells)
    lor = math.log(2.5 * 6.5 / (8.5 * 4.5))
    assert out_all.loc[0, "yi"] == pytest.approx(lor)
    assert out_if0.loc[0, "yi"] == pytest.approx(lor)  # table 1 has a zero: all get 1/2
    assert out_only0.loc[0, "yi"] == pytest.approx(math.log(2 * 6 / (8 * 4)))
    assert out_all.loc[0, "vi"] == pytest.approx(1 / 2.5 + 1 / 8.5 + 1 / 4.5 + 1 / 6.5)
    no_zero = df.iloc[[0]]
    assert escalc("OR", no_zero, **cells, to="if0all").loc[0, "yi"] == pytest.approx(
        math.log(2 * 6 / (8 * 4))
    )


def test_zero_non_events_also_trigger_the_correction() -> None:
    df = pd.DataFrame({"a": [10], "b": [0], "c": [4], "d": [6]})
    out = escalc("OR", df, ai="a", bi="b", ci="c", di="d")
    assert out.loc[0, "yi"] == pytest.approx(math.log(10.5 * 6.5 / (0.5 * 4.5)))


def test_cells_and_group_sizes_are_equivalent() -> None:
    df = shared_data("bcg")
    df["n1"] = df.tpos + df.tneg
    df["n2"] = df.cpos + df.cneg
    a = escalc("RR", df, ai="tpos", bi="tneg", ci="cpos", di="cneg")
    b = escalc("RR", df, ai="tpos", n1i="n1", ci="cpos", n2i="n2")
    c = escalc("RR", df, ai="tpos", bi="tneg", n1i="n1", ci="cpos", di="cneg", n2i="n2")
    assert_close(a["yi"], b["yi"].to_numpy())
    assert_close(a["vi"], c["vi"].to_numpy())


# --------------------------------------------------------------------------- output table


def test_output_is_a_copy_overwriting_yi_vi() -> None:
    df = shared_data("normand1999")  # already holds the MD yi/vi
    means = dict(m1i="m1i", sd1i="sd1i", n1i="n1i", m2i="m2i", sd2i="sd2i", n2i="n2i")
    out = bm.escalc("SMD", data=df, **means)
    ref = reference("normand1999")["escalc"]["measures"]["SMD"]
    assert_close(out["yi"], ref["yi"])
    assert out is not df
    assert_close(df["yi"], reference("normand1999")["escalc"]["measures"]["MD"]["yi"])
    assert out.attrs["measure"] == "SMD"


def test_var_names_and_case_insensitive_measure() -> None:
    df = shared_data("normand1999")
    means = dict(m1i="m1i", sd1i="sd1i", n1i="n1i", m2i="m2i", sd2i="sd2i", n2i="n2i")
    out = escalc("smd", df, **means, var_names=("g", "var_g"))
    assert out.attrs["measure"] == "SMD"
    assert_close(out["g"], reference("normand1999")["escalc"]["measures"]["SMD"]["yi"])
    assert list(out.columns[-2:]) == ["g", "var_g"]
    assert_close(out["yi"], df["yi"].to_numpy())  # untouched


def test_given_sei_is_squared() -> None:
    df = pd.DataFrame({"y": [0.1, -0.3], "se": [0.2, 0.5], "study": ["A", "B"]})
    out = escalc("GEN", df, yi="y", sei="se")
    assert_close(out["vi"], [0.04, 0.25])
    assert_close(out["yi"], [0.1, -0.3])
    out_or = escalc("OR", df, yi="y", sei="se")
    assert out_or.attrs["measure"] == "OR"


def test_integer_index_and_string_index_are_kept() -> None:
    df = shared_data("molloy2014").set_index("authors", drop=False)
    df.index = [f"s{i}" for i in range(len(df))]
    out = escalc("ZCOR", df, ri="ri", ni="ni")
    assert list(out.index) == list(df.index)


# --------------------------------------------------------------------------- other vtypes


def _one_means_row() -> pd.DataFrame:
    return pd.DataFrame(
        {"m1i": [12.0], "sd1i": [3.0], "n1i": [15], "m2i": [10.0], "sd2i": [4.0], "n2i": [20]}
    )


MEANS = dict(m1i="m1i", sd1i="sd1i", n1i="n1i", m2i="m2i", sd2i="sd2i", n2i="n2i")


def test_smd_exact_bias_correction() -> None:
    df = _one_means_row()
    out = escalc("SMD", df, **MEANS)
    m = 15 + 20 - 2
    j = math.gamma(m / 2) / (math.sqrt(m / 2) * math.gamma((m - 1) / 2))
    assert j == pytest.approx(1 - 3 / (4 * m - 1), abs=1e-4)  # Hedges' approximation
    sp = math.sqrt((14 * 9 + 19 * 16) / m)
    g = j * 2 / sp
    assert out.loc[0, "yi"] == pytest.approx(g, rel=1e-12)
    assert out.loc[0, "vi"] == pytest.approx(1 / 15 + 1 / 20 + g**2 / 70, rel=1e-12)


def test_other_vtypes() -> None:
    df = _one_means_row()
    m = 33
    j = math.gamma(m / 2) / (math.sqrt(m / 2) * math.gamma((m - 1) / 2))
    sp2 = (14 * 9 + 19 * 16) / m
    d = 2 / math.sqrt(sp2)
    g = j * d
    ho = escalc("MD", df, **MEANS, vtype="HO")
    assert ho.loc[0, "vi"] == pytest.approx(sp2 * (1 / 15 + 1 / 20))
    ub = escalc("MD", df, **MEANS, vtype="UB")
    assert ub.loc[0, "vi"] == pytest.approx(9 / 15 + 16 / 20)
    ls2 = escalc("SMD", df, **MEANS, vtype="LS2")
    assert ls2.loc[0, "vi"] == pytest.approx(j**2 * (1 / 15 + 1 / 20 + d**2 / 70))
    smd_ub = escalc("SMD", df, **MEANS, vtype="UB")
    assert smd_ub.loc[0, "vi"] == pytest.approx(1 / 15 + 1 / 20 + (1 - (m - 2) / (m * j**2)) * g**2)
    rom = escalc("ROM", df, **MEANS, vtype="HO")
    assert rom.loc[0, "vi"] == pytest.approx(sp2 / (15 * 144) + sp2 / (20 * 100))
    tab = pd.DataFrame({"a": [3], "b": [7], "c": [5], "d": [5]})
    rd = escalc("RD", tab, ai="a", bi="b", ci="c", di="d", vtype="UB")
    assert rd.loc[0, "vi"] == pytest.approx(0.3 * 0.7 / 9 + 0.5 * 0.5 / 9)


def test_cor_measure() -> None:
    df = pd.DataFrame({"r": [0.3, -0.5], "n": [50, 20]})
    out = escalc("COR", df, ri="r", ni="n")
    assert_close(out["yi"], [0.3, -0.5])
    assert_close(out["vi"], [(1 - 0.09) ** 2 / 49, (1 - 0.25) ** 2 / 19])


# --------------------------------------------------------------------------- argument errors


def test_unknown_measure_lists_valid_ones() -> None:
    with pytest.raises(BayesmaError, match="unknown measure 'XYZ'") as err:
        escalc("XYZ", _one_means_row(), **MEANS)
    for m in MEASURES:
        assert m in str(err.value)


def test_smd_without_sd2i_says_what_it_needs() -> None:
    means = {k: v for k, v in MEANS.items() if k != "sd2i"}
    with pytest.raises(BayesmaError, match=r"'SMD' needs m1i, sd1i, n1i.*missing: sd2i"):
        escalc("SMD", _one_means_row(), **means)


def test_table_without_bi_or_n1i() -> None:
    df = pd.DataFrame({"a": [1], "c": [2], "d": [5]})
    with pytest.raises(BayesmaError, match=r"missing: bi \(or n1i\)"):
        escalc("OR", df, ai="a", ci="c", di="d")


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (dict(ri="r", ni="n", ai="a"), "does not use ai"),
        (dict(yi="y"), "exactly one of vi"),
        (dict(yi="y", vi="v", sei="v"), "exactly one of vi"),
        (dict(yi="y", vi="v", ri="r"), "not both"),
    ],
)
def test_wrong_argument_combinations(kwargs: dict, pattern: str) -> None:
    df = pd.DataFrame({"r": [0.2], "n": [30], "a": [1], "y": [0.1], "v": [0.1]})
    with pytest.raises(BayesmaError, match=pattern):
        escalc("COR", df, **kwargs)


def test_gen_without_yi() -> None:
    with pytest.raises(BayesmaError, match="'GEN' needs yi and vi"):
        escalc("GEN", _one_means_row(), **MEANS)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (dict(to="sometimes"), "unknown to="),
        (dict(add=-1), "add must be"),
        (dict(add=float("nan")), "add must be"),
        (dict(vtype="XX"), "vtype='XX' is not available for measure 'OR'"),
        (dict(var_names=("yi",)), "var_names"),
        (dict(var_names=("yi", "yi")), "var_names"),
    ],
)
def test_bad_settings(kwargs: dict, pattern: str) -> None:
    df = pd.DataFrame({"a": [1], "b": [9], "c": [2], "d": [8]})
    with pytest.raises(BayesmaError, match=pattern):
        escalc("OR", df, ai="a", bi="b", ci="c", di="d", **kwargs)


def test_column_argument_must_be_a_name() -> None:
    df = pd.DataFrame({"r": [0.2], "n": [30]})
    with pytest.raises(BayesmaError, match="ri must be a column name"):
        escalc("COR", df, ri=df["r"], ni="n")  # type: ignore[arg-type]


def test_data_must_be_a_dataframe() -> None:
    with pytest.raises(DataError, match="DataFrame"):
        escalc("COR", {"r": [0.2], "n": [30]}, ri="r", ni="n")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- data errors


def _labelled(**columns) -> pd.DataFrame:
    """A three-study table with labels 'Alpha', 'Beta', 'Gamma'."""
    return pd.DataFrame({"study": ["Alpha", "Beta", "Gamma"], **columns})


def _assert_names(err: pytest.ExceptionInfo, column: str, row: int, label: str | None) -> None:
    msg = str(err.value)
    assert isinstance(err.value, DataError)
    assert f"'{column}'" in msg, msg
    assert f"row {row}" in msg, msg
    if label is not None:
        assert f"'{label}'" in msg, msg
    assert err.value.column == column
    assert row in err.value.rows


def _means_table(**override) -> pd.DataFrame:
    base = dict(
        mt=[10.0, 11.0, 12.0],
        st=[2.0, 2.5, 3.0],
        nt=[20, 25, 30],
        mc=[9.0, 9.5, 10.0],
        sc=[2.0, 2.0, 2.5],
        nc=[20, 24, 31],
    )
    base.update(override)
    return _labelled(**base)


MEANS_T = dict(m1i="mt", sd1i="st", n1i="nt", m2i="mc", sd2i="sc", n2i="nc")


@pytest.mark.parametrize(
    ("override", "column", "pattern"),
    [
        (dict(sc=[2.0, 0.0, 2.5]), "sc", "must be > 0"),
        (dict(st=[2.0, -1.0, 3.0]), "st", "must be > 0"),
        (dict(nt=[20, 1, 30]), "nt", "must be >= 2"),
        (dict(mt=[10.0, np.nan, 12.0]), "mt", "missing values"),
        (dict(mc=[9.0, "n/a", 10.0]), "mc", "must be numeric"),
        (dict(nc=[20, np.inf, 31]), "nc", "infinite"),
    ],
)
@pytest.mark.parametrize("measure", ["MD", "SMD", "SMDH", "ROM"])
def test_means_data_errors(measure: str, override: dict, column: str, pattern: str) -> None:
    df = _means_table(**override)
    with pytest.raises(DataError, match=pattern) as err:
        escalc(measure, df, **MEANS_T)
    _assert_names(err, column, 1, "Beta")


def test_missing_column() -> None:
    df = _means_table()
    with pytest.raises(DataError, match=r"'sdc' \(sd2i: SD, group 2\) is not in the data") as err:
        escalc("SMD", df, **{**MEANS_T, "sd2i": "sdc"})
    assert err.value.column == "sdc"


def test_rom_needs_positive_means() -> None:
    df = _means_table(mc=[9.0, 9.5, -1.0])
    with pytest.raises(DataError, match="must be > 0 for the ratio of means") as err:
        escalc("ROM", df, **MEANS_T)
    _assert_names(err, "mc", 2, "Gamma")


def _table(**override) -> pd.DataFrame:
    base = dict(ev1=[3, 5, 0], n1=[20, 25, 30], ev2=[4, 6, 0], n2=[20, 24, 31])
    base.update(override)
    return _labelled(**base)


TABLE_T = dict(ai="ev1", n1i="n1", ci="ev2", n2i="n2")


@pytest.mark.parametrize(
    ("override", "column", "row", "pattern"),
    [
        (dict(ev1=[3, 30, 0]), "ev1", 1, "is larger than"),
        (dict(ev2=[4, 6, 32]), "ev2", 2, "is larger than"),
        (dict(ev1=[3, -1, 0]), "ev1", 1, "must be >= 0"),
        (dict(n2=[20, 0, 31]), "n2", 1, "must be > 0"),
        (dict(ev2=[4, np.nan, 0]), "ev2", 1, "missing values"),
    ],
)
@pytest.mark.parametrize("measure", ["OR", "RR", "RD", "PETO"])
def test_table_data_errors(measure: str, override: dict, column: str, row: int, pattern: str):
    df = _table(**override)
    with pytest.raises(DataError, match=pattern) as err:
        escalc(measure, df, **TABLE_T)
    _assert_names(err, column, row, ["Alpha", "Beta", "Gamma"][row])


def test_negative_non_events() -> None:
    df = _labelled(a=[1, 2, 3], b=[9, -2, 7], c=[1, 2, 3], d=[9, 8, 7])
    with pytest.raises(DataError, match="must be >= 0") as err:
        escalc("OR", df, ai="a", bi="b", ci="c", di="d")
    _assert_names(err, "b", 1, "Beta")


def test_counts_that_do_not_add_up() -> None:
    df = _labelled(a=[1, 2, 3], b=[9, 8, 7], n=[10, 11, 10], c=[1, 2, 3], d=[9, 8, 7])
    with pytest.raises(DataError, match="counts do not add up") as err:
        escalc("OR", df, ai="a", bi="b", n1i="n", ci="c", di="d")
    _assert_names(err, "n", 1, "Beta")
    assert "n1i = 11 but ai + bi = 10" in str(err.value)


def test_empty_group_from_cells() -> None:
    df = _labelled(a=[1, 0, 3], b=[9, 0, 7], c=[1, 2, 3], d=[9, 8, 7])
    with pytest.raises(DataError, match="group is empty") as err:
        escalc("RR", df, ai="a", bi="b", ci="c", di="d")
    _assert_names(err, "b", 1, "Beta")


def test_rd_uncorrected_double_zero_has_zero_variance() -> None:
    df = _table()
    with pytest.raises(DataError, match="sampling variance is <= 0") as err:
        escalc("RD", df, **TABLE_T, to="none")
    _assert_names(err, "ev1", 2, "Gamma")


@pytest.mark.parametrize(
    ("measure", "r", "n", "column", "pattern"),
    [
        ("ZCOR", [0.2, 1.2, 0.1], [30, 40, 50], "r", "between -1 and 1"),
        ("COR", [0.2, -1.01, 0.1], [30, 40, 50], "r", "between -1 and 1"),
        ("ZCOR", [0.2, -1.0, 0.1], [30, 40, 50], "r", "strictly between -1 and 1 for ZCOR"),
        ("ZCOR", [0.2, 0.3, 0.1], [30, 3, 50], "n", "must be > 3"),
        ("COR", [0.2, 0.3, 0.1], [30, 2, 50], "n", "must be > 3"),
        ("COR", [0.2, 1.0, 0.1], [30, 40, 50], "r", "sampling variance is <= 0"),
        ("ZCOR", [0.2, None, 0.1], [30, 40, 50], "r", "missing values"),
    ],
)
def test_correlation_data_errors(measure, r, n, column, pattern) -> None:
    df = _labelled(r=r, n=n)
    with pytest.raises(DataError, match=pattern) as err:
        escalc(measure, df, ri="r", ni="n")
    _assert_names(err, column, 1, "Beta")


@pytest.mark.parametrize(
    ("kwargs", "values", "column", "pattern"),
    [
        (dict(yi="y", sei="s"), dict(s=[0.1, 0.0, 0.2]), "s", "must be > 0"),
        (dict(yi="y", sei="s"), dict(s=[0.1, -0.3, 0.2]), "s", "must be > 0"),
        (dict(yi="y", vi="v"), dict(v=[0.1, -0.01, 0.2]), "v", "must be > 0"),
        (dict(yi="y", vi="v"), dict(y=[0.1, np.nan, 0.2]), "y", "missing values"),
    ],
)
def test_given_data_errors(kwargs, values, column, pattern) -> None:
    cols = dict(y=[0.1, 0.2, 0.3], v=[0.1, 0.1, 0.1], s=[0.3, 0.3, 0.3])
    cols.update(values)
    df = _labelled(**cols)
    with pytest.raises(DataError, match=pattern) as err:
        escalc("GEN", df, **kwargs)
    _assert_names(err, column, 1, "Beta")


def test_explicit_slab_and_string_index_in_messages() -> None:
    df = _means_table(sc=[2.0, 0.0, 2.5])
    df["name"] = ["X1", "X2", "X3"]
    df.index = ["a", "b", "c"]
    with pytest.raises(DataError) as err:
        escalc("MD", df, **MEANS_T, slab="name")
    assert "row 'b'" in str(err.value) and "'X2'" in str(err.value)
    assert err.value.rows == ["b"]


def test_no_rows() -> None:
    with pytest.raises(DataError, match="no rows"):
        escalc("SMD", _means_table().iloc[:0], **MEANS_T)


# --------------------------------------------------------------------------- conversions


def test_conversions_published_values() -> None:
    # Borenstein, Hedges, Higgins & Rothstein (2009), Introduction to Meta-Analysis, ch. 7
    lor = smd_to_logor(0.5, 0.0205)
    assert lor.yi == pytest.approx(0.9069, abs=5e-5)
    assert lor.vi == pytest.approx(0.0674, abs=5e-5)
    d = r_to_d(0.5, 0.0058)
    assert d.yi == pytest.approx(1.1547, abs=5e-5)
    assert d.vi == pytest.approx(0.0550, abs=5e-5)
    r = d_to_r(1.1547, 0.0550, n1i=50, n2i=50)
    assert r.yi == pytest.approx(0.5000, abs=5e-5)
    assert r.vi == pytest.approx(0.0058, abs=5e-5)
    # Fisher: z(0.5) = 0.5493
    assert r_to_z(0.5).yi == pytest.approx(0.549306, abs=1e-6)


def test_conversion_round_trips() -> None:
    d = np.array([-1.2, -0.1, 0.0, 0.4, 2.0])
    v = np.array([0.05, 0.1, 0.2, 0.04, 0.3])
    back = logor_to_smd(*smd_to_logor(d, v))
    assert_close(back.yi, d, rtol=1e-12)
    assert_close(back.vi, v, rtol=1e-12)
    r = np.array([-0.9, -0.2, 0.0, 0.35, 0.8])
    vr = np.array([0.01, 0.02, 0.03, 0.01, 0.005])
    back = d_to_r(*r_to_d(r, vr))  # equal groups: a = 4
    assert_close(back.yi, r, rtol=1e-12, atol=1e-14)
    assert_close(back.vi, vr, rtol=1e-12)
    back = z_to_r(*r_to_z(r, vr))
    assert_close(back.yi, r, rtol=1e-12, atol=1e-14)
    assert_close(back.vi, vr, rtol=1e-12)
    assert r_to_z(0.3).vi is None
    assert isinstance(r_to_z(0.3), Converted)
    assert isinstance(r_to_z(0.3).yi, float)


def test_d_to_r_with_unequal_groups() -> None:
    a = (10 + 40) ** 2 / (10 * 40)
    r = d_to_r(0.8, 0.1, n1i=10, n2i=40)
    assert r.yi == pytest.approx(0.8 / math.sqrt(0.64 + a))
    assert r.vi == pytest.approx(a**2 * 0.1 / (0.64 + a) ** 3)
    with pytest.raises(BayesmaError, match="both n1i and n2i"):
        d_to_r(0.8, n1i=10)


def test_z_of_r_variance_matches_zcor() -> None:
    # the delta method turns COR's (1-r^2)^2/(n-1) into 1/(n-1)
    r, n = 0.4, 53
    assert r_to_z(r, (1 - r**2) ** 2 / (n - 1)).vi == pytest.approx(1 / (n - 1))


def test_r_outside_range() -> None:
    with pytest.raises(BayesmaError, match="strictly between -1 and 1"):
        r_to_d([0.2, 1.0])
    with pytest.raises(BayesmaError, match="strictly between -1 and 1"):
        r_to_z(np.nan)


def test_convert_dispatches_and_chains() -> None:
    res = convert(0.5, 0.0205, from_="SMD", to="OR")
    assert res == smd_to_logor(0.5, 0.0205)
    res = convert([0.9, -0.3], [0.1, 0.2], from_="logOR", to="r", n1i=30, n2i=50)
    step = logor_to_smd([0.9, -0.3], [0.1, 0.2])
    want = d_to_r(step.yi, step.vi, n1i=30, n2i=50)
    assert_close(res.yi, want.yi)
    assert_close(res.vi, want.vi)
    res = convert(0.3, 0.01, from_="z", to="OR")
    r = z_to_r(0.3, 0.01)
    want = smd_to_logor(*r_to_d(r.yi, r.vi))
    assert res.yi == pytest.approx(want.yi)
    assert res.vi == pytest.approx(want.vi)
    assert convert(0.2, from_="SMD", to="SMD") == (0.2, None)
    with pytest.raises(BayesmaError, match="unknown target scale"):
        convert(0.2, from_="SMD", to="RR")
    with pytest.raises(BayesmaError, match="from_"):
        convert(0.2, to="OR")
    assert bm.convert is convert


def test_convert_table() -> None:
    dat = escalc("ZCOR", shared_data("molloy2014"), ri="ri", ni="ni")
    out = convert(dat, to="COR")
    assert out.attrs["measure"] == "COR"
    assert_close(out["yi"], dat["ri"].to_numpy(), rtol=1e-12)
    assert dat.attrs["measure"] == "ZCOR"
    assert_close(out["vi"], (dat["vi"] * (1 - dat["ri"] ** 2) ** 2).to_numpy())
    norm = escalc("SMD", shared_data("normand1999"), **MEANS)
    lor = convert(norm, to="OR")
    assert_close(lor["yi"], (norm["yi"] * math.pi / math.sqrt(3)).to_numpy())
    r = convert(norm, to="COR", n1i="n1i", n2i="n2i")
    want = d_to_r(norm["yi"].to_numpy(), norm["vi"].to_numpy(),
                  n1i=norm["n1i"].to_numpy(), n2i=norm["n2i"].to_numpy())  # fmt: skip
    assert_close(r["yi"], want.yi)


# --------------------------------------------------------------------------- properties

pos = st.floats(0.5, 50, allow_nan=False)
mean = st.floats(1, 100, allow_nan=False)
size = st.integers(2, 500)


@settings(max_examples=40, deadline=None)
@given(m1=mean, m2=mean, s1=pos, s2=pos, n1=size, n2=size)
def test_swapping_groups_flips_the_sign(m1, m2, s1, s2, n1, n2) -> None:
    df = pd.DataFrame({"m1": [m1], "s1": [s1], "n1": [n1], "m2": [m2], "s2": [s2], "n2": [n2]})
    fwd = dict(m1i="m1", sd1i="s1", n1i="n1", m2i="m2", sd2i="s2", n2i="n2")
    rev = dict(m1i="m2", sd1i="s2", n1i="n2", m2i="m1", sd2i="s1", n2i="n1")
    for measure in ("MD", "SMD", "SMDH", "ROM"):
        a = escalc(measure, df, **fwd)
        b = escalc(measure, df, **rev)
        assert b.loc[0, "yi"] == pytest.approx(-a.loc[0, "yi"], rel=1e-9, abs=1e-12)
        assert b.loc[0, "vi"] == pytest.approx(a.loc[0, "vi"], rel=1e-9)
        assert a.loc[0, "vi"] > 0
    g = escalc("SMD", df, **fwd).loc[0, "yi"]
    sp = math.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))
    assert abs(g) <= abs((m1 - m2) / sp) + 1e-12  # the correction shrinks d


counts = st.integers(0, 60)


@settings(max_examples=40, deadline=None)
@given(a=counts, b=counts, c=counts, d=counts)
def test_swapping_table_groups_flips_the_sign(a, b, c, d) -> None:
    if a + b == 0 or c + d == 0:
        return
    df = pd.DataFrame({"a": [a], "b": [b], "c": [c], "d": [d]})
    for measure in ("OR", "RR", "RD", "PETO"):
        x = escalc(measure, df, ai="a", bi="b", ci="c", di="d")
        y = escalc(measure, df, ai="c", bi="d", ci="a", di="b")
        assert y.loc[0, "yi"] == pytest.approx(-x.loc[0, "yi"], rel=1e-9, abs=1e-12)
        assert y.loc[0, "vi"] == pytest.approx(x.loc[0, "vi"], rel=1e-9)
    # OR: swapping events and non-events flips the sign too
    x = escalc("OR", df, ai="a", bi="b", ci="c", di="d")
    y = escalc("OR", df, ai="b", bi="a", ci="d", di="c")
    assert y.loc[0, "yi"] == pytest.approx(-x.loc[0, "yi"], rel=1e-9, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    r=st.floats(-0.99, 0.99, allow_nan=False),
    v=st.floats(1e-4, 1.0, allow_nan=False),
    n1=st.integers(2, 300),
    n2=st.integers(2, 300),
)
def test_conversion_round_trip_property(r, v, n1, n2) -> None:
    z = r_to_z(r, v)
    back = z_to_r(*z)
    assert back.yi == pytest.approx(r, abs=1e-12)
    assert back.vi == pytest.approx(v, rel=1e-9)
    d = logor_to_smd(*smd_to_logor(r * 3, v))
    assert d.yi == pytest.approx(r * 3, abs=1e-12)
    # d -> r is monotone and keeps the sign, whatever the group sizes
    rr = d_to_r(r * 3, v, n1i=n1, n2i=n2)
    assert abs(rr.yi) < 1 and np.sign(rr.yi) == np.sign(r)
    assert rr.vi > 0


# --------------------------------------------------------------- issue 9: fractional counts
@pytest.mark.parametrize(
    ("measure", "table", "args", "column"),
    [
        ("OR", {"ai": [1.5, 2], "bi": [10, 10], "ci": [2, 3], "di": [10, 10]},
         {"ai": "ai", "bi": "bi", "ci": "ci", "di": "di"}, "ai"),
        ("RR", {"ai": [1, 2], "n1i": [11, 12.25], "ci": [2, 3], "n2i": [12, 13]},
         {"ai": "ai", "n1i": "n1i", "ci": "ci", "n2i": "n2i"}, "n1i"),
        ("SMD", {"m1i": [1, 2], "sd1i": [1, 1], "n1i": [10, 10], "m2i": [0, 0],
                 "sd2i": [1, 1], "n2i": [10, 9.5]},
         {"m1i": "m1i", "sd1i": "sd1i", "n1i": "n1i", "m2i": "m2i", "sd2i": "sd2i",
          "n2i": "n2i"}, "n2i"),
        ("ZCOR", {"ri": [0.1, 0.3], "ni": [20.5, 30]}, {"ri": "ri", "ni": "ni"}, "ni"),
    ],
)  # fmt: skip
def test_fractional_counts_are_used_with_a_warning(measure, table, args, column):
    from bayesma.errors import NonIntegerCountWarning

    df = pd.DataFrame(table)
    with pytest.warns(NonIntegerCountWarning, match=f"column '{column}'.*row [01]"):
        out = bm.escalc(measure, data=df, **args)
    assert np.isfinite(out["yi"]).all()  # used as given, as metafor


def test_whole_counts_give_no_fraction_warning():
    from bayesma.errors import NonIntegerCountWarning

    df = pd.DataFrame({"ai": [1.0, 2], "bi": [10, 10], "ci": [2, 3], "di": [10, 10]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonIntegerCountWarning)
        bm.escalc("OR", data=df, ai="ai", bi="bi", ci="ci", di="di")


def test_escalc_records_its_column_mapping():
    """Forest plots and tables read the arm data by the user's column names."""
    import bayesma as bm

    dat = bm.escalc("RR", data=bm.datasets.load("bcg"), ai="tpos", bi="tneg", ci="cpos",
                    di="cneg")
    assert dat.attrs["columns"] == {"ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}

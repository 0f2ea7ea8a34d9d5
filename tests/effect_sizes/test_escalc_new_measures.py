"""escalc's new measures: argument checks, bad input, zero-count corrections, RevMan's SMD."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from bayesma.effect_sizes import UndefinedEffectWarning, escalc
from bayesma.errors import BayesmaError, DataError


def _props(**kw: list) -> pd.DataFrame:
    base = {"study": ["A", "B", "C"], "x": [3, 0, 10], "n": [10, 12, 10]}
    base.update(kw)
    return pd.DataFrame(base)


def test_events_larger_than_n_name_column_and_row() -> None:
    with pytest.raises(DataError, match=r"'x' \(xi: events\) is larger than.*study 'B'") as e:
        escalc("PLO", _props(x=[3, 13, 1]), xi="x", ni="n")
    assert e.value.column == "x" and e.value.rows == [1]


def test_negative_person_time_is_a_data_error() -> None:
    df = pd.DataFrame({"study": ["A", "B"], "x": [2, 3], "t": [100.0, -5.0]})
    with pytest.raises(DataError, match=r"'t'.*study 'B'") as e:
        escalc("IRLN", df, xi="x", ti="t")
    assert e.value.column == "t" and e.value.rows == [1]
    df2 = pd.DataFrame({"x1": [1, 2], "x2": [3, 4], "t1": [10.0, 0.0], "t2": [5.0, 6.0]})
    with pytest.raises(DataError, match="'t1'"):
        escalc("IRR", df2, x1i="x1", x2i="x2", t1i="t1", t2i="t2")


def test_proportions_outside_0_1_are_data_errors() -> None:
    df = pd.DataFrame({"study": ["A", "B"], "t": [2.0, 1.5], "n": [50, 60], "m": [2, 3],
                       "r2": [0.3, 1.2]})
    with pytest.raises(DataError, match=r"'r2' \(r2i: R²\) must be between 0 and 1") as e:
        escalc("SPCOR", df, ti="t", ni="n", mi="m", r2i="r2")
    assert e.value.rows == [1]
    alpha = pd.DataFrame({"a": [0.8, 1.05], "items": [10, 10], "n": [100, 100]})
    with pytest.raises(DataError, match=r"Cronbach's alpha\) must be < 1") as e:
        escalc("ARAW", alpha, ai="a", mi="items", ni="n")
    assert e.value.column == "a" and e.value.rows == [1]


def test_counts_that_do_not_add_up_and_missing_arguments() -> None:
    df = _props(m=[7, 12, 1])
    with pytest.raises(DataError, match="counts do not add up"):
        escalc("PR", df, xi="x", mi="m", ni="n")
    with pytest.raises(BayesmaError, match=r"needs xi with ni.*missing: mi \(or ni\)"):
        escalc("PR", df, xi="x")
    with pytest.raises(BayesmaError, match="does not use sdi"):
        escalc("PR", df, xi="x", ni="n", sdi="n")
    with pytest.raises(BayesmaError, match="vtype='UB' is not available for measure 'PLO'"):
        escalc("PLO", df, xi="x", ni="n", vtype="UB")


def test_partial_correlation_needs_residual_df() -> None:
    df = pd.DataFrame({"t": [2.0, 1.0], "n": [10, 5], "m": [3, 4]})
    with pytest.raises(DataError, match=r"number of predictors\) \+ 1") as e:
        escalc("PCOR", df, ti="t", ni="n", mi="m")
    assert e.value.rows == [1]


def test_log_measures_need_positive_means() -> None:
    df = pd.DataFrame({"m": [5.0, -1.0], "sd": [1.0, 1.0], "n": [10, 10]})
    with pytest.raises(DataError, match=r"'m' \(mi: mean\) must be > 0 for MNLN"):
        escalc("MNLN", df, mi="m", sdi="sd", ni="n")
    out = escalc("MN", df, mi="m", sdi="sd", ni="n")  # raw means may be negative
    np.testing.assert_allclose(out["vi"], [0.1, 0.1])


def test_continuity_correction_is_reported() -> None:
    out = escalc("PLO", _props(), xi="x", ni="n")
    cc = out.attrs["continuity_correction"]
    assert cc == {"add": 0.5, "to": "only0", "rows": [1, 2]}  # 0 events and 0 non-events
    assert out["yi"].iloc[1] == pytest.approx(math.log(0.5 / 12.5))
    # metafor's default add is 0 for PFT (and PAS, IRS, IRFT, IRSD): nothing corrected
    pft = escalc("PFT", _props(), xi="x", ni="n")
    assert pft.attrs["continuity_correction"]["rows"] == []
    assert escalc("PLO", _props(), xi="x", ni="n", to="all").attrs[
        "continuity_correction"]["rows"] == [0, 1, 2]


def test_uncorrected_zero_counts_are_nan_with_a_warning() -> None:
    with pytest.warns(UndefinedEffectWarning, match=r"study 'B'.*study 'C'"):
        out = escalc("PLO", _props(), xi="x", ni="n", to="none")
    assert out["yi"].isna().tolist() == [False, True, True]


def test_drop00_for_two_group_rates() -> None:
    df = pd.DataFrame({"study": ["A", "B"], "x1": [0, 2], "x2": [0, 3], "t1": [10.0, 20.0],
                       "t2": [12.0, 25.0]})
    with pytest.warns(UndefinedEffectWarning, match="no events in both groups"):
        out = escalc("IRR", df, x1i="x1", x2i="x2", t1i="t1", t2i="t2", drop00=True)
    assert np.isnan(out["yi"].iloc[0]) and out.attrs["continuity_correction"]["rows"] == []
    kept = escalc("IRR", df, x1i="x1", x2i="x2", t1i="t1", t2i="t2")
    assert kept["yi"].iloc[0] == pytest.approx(math.log(0.5 / 10) - math.log(0.5 / 12))


def test_smd_from_t_equals_smd_from_means() -> None:
    df = pd.DataFrame({"m1": [10.0, 3.0], "sd1": [2.0, 1.5], "n1": [20, 31],
                       "m2": [9.0, 3.6], "sd2": [2.5, 1.2], "n2": [22, 28]})
    means = escalc("SMD", df, m1i="m1", sd1i="sd1", n1i="n1", m2i="m2", sd2i="sd2", n2i="n2")
    sdp = np.sqrt(((df.n1 - 1) * df.sd1**2 + (df.n2 - 1) * df.sd2**2) / (df.n1 + df.n2 - 2))
    df["t"] = (df.m1 - df.m2) / sdp / np.sqrt(1 / df.n1 + 1 / df.n2)
    from_t = escalc("SMD", df, ti="t", n1i="n1", n2i="n2")
    np.testing.assert_allclose(from_t["yi"], means["yi"], rtol=1e-13)
    np.testing.assert_allclose(from_t["vi"], means["vi"], rtol=1e-13)
    with pytest.raises(BayesmaError, match="does not use m1i"):
        escalc("SMD", df, ti="t", n1i="n1", n2i="n2", m1i="m1")


def test_revman_smd_follows_deeks_higgins_2010() -> None:
    df = pd.DataFrame({"m1": [10.0, 3.0], "sd1": [2.0, 1.5], "n1": [20, 31],
                       "m2": [9.0, 3.6], "sd2": [2.5, 1.2], "n2": [22, 28]})
    cols = {"m1i": "m1", "sd1i": "sd1", "n1i": "n1", "m2i": "m2", "sd2i": "sd2", "n2i": "n2"}
    rm = escalc("SMD", df, **cols, formulas="revman")
    assert rm.attrs["formulas"] == "revman"
    # row 0 by hand: N = 42, s = sqrt((19*4 + 21*6.25)/40), J = 1 - 3/(4*42 - 9)
    s = math.sqrt((19 * 4 + 21 * 6.25) / 40)
    g = (10 - 9) / s * (1 - 3 / 159)
    se = math.sqrt(42 / (20 * 22) + g**2 / (2 * (42 - 3.94)))
    assert rm["yi"].iloc[0] == pytest.approx(g, rel=1e-14)
    assert rm["vi"].iloc[0] == pytest.approx(se**2, rel=1e-14)
    # the approximate J is close to metafor's exact correction, but not equal
    mf = escalc("SMD", df, **cols)
    assert not np.allclose(rm["yi"], mf["yi"], rtol=1e-8)
    np.testing.assert_allclose(rm["yi"], mf["yi"], rtol=1e-3)
    with pytest.raises(BayesmaError, match="only changes measure 'SMD'"):
        escalc("MD", df, **cols, formulas="revman")
    with pytest.raises(BayesmaError, match="unknown formulas"):
        escalc("SMD", df, **cols, formulas="RevMan5")


def test_ucor_needs_more_than_four() -> None:
    df = pd.DataFrame({"r": [0.3, 0.2], "n": [30, 4]})
    with pytest.raises(DataError, match="must be > 4 for UCOR"):
        escalc("UCOR", df, ri="r", ni="n")


def test_existing_add_default_is_unchanged_for_tables() -> None:
    df = pd.DataFrame({"a": [0], "b": [10], "c": [3], "d": [7]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = escalc("OR", df, ai="a", bi="b", ci="c", di="d")
    assert out["yi"].iloc[0] == pytest.approx(math.log(0.5 / 10.5) - math.log(3.5 / 7.5))
    assert out.attrs["continuity_correction"]["rows"] == [0]

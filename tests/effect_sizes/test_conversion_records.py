"""conv_fivenum and conv_wald: bad input, and the record of converted rows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import bayesma as bm
from bayesma.effect_sizes import ConversionWarning, conv_fivenum, conv_wald
from bayesma.errors import BayesmaError, DataError

FIVE = {"min": "lo", "q1": "q1", "median": "med", "q3": "q3", "max": "hi", "n": "n"}


def _five() -> pd.DataFrame:
    return pd.DataFrame({
        "study": ["A", "B", "C", "D"],
        "lo": [2.0, np.nan, 1.0, np.nan],
        "q1": [np.nan, 4.0, 3.0, np.nan],
        "med": [6.0, 6.0, 5.0, np.nan],
        "q3": [np.nan, 8.5, 7.0, np.nan],
        "hi": [11.0, np.nan, 9.0, np.nan],
        "n": [20, 30, 40, 25],
        "mean": [np.nan, np.nan, np.nan, 7.5],
        "sd": [np.nan, np.nan, np.nan, 2.0],
    })


def test_fivenum_records_rows_inputs_and_methods() -> None:
    out = bm.conv_fivenum(_five(), **FIVE)
    conv = out.attrs["conversions"]
    assert conv["row"].tolist() == [0, 1, 2]
    assert conv["inputs"].iloc[0] == "min=lo, median=med, max=hi, n=n"
    assert conv["inputs"].iloc[1] == "q1=q1, median=med, q3=q3, n=n"
    assert set(conv["method"]) == {"luo/wan/shi"} and set(conv["outputs"]) == {"mean, sd"}
    assert out["mean"].iloc[3] == 7.5 and out["sd"].iloc[3] == 2.0  # kept (replace="ifna")
    # Luo et al. 2018, case 1 by hand
    w = 4 / (4 + 20**0.75)
    assert out["mean"].iloc[0] == pytest.approx(w * 6.5 + (1 - w) * 6.0, rel=1e-14)


def test_fivenum_skewed_and_small_rows_are_reported() -> None:
    df = _five()
    df.loc[0, "hi"] = 60.0  # very skewed
    df.loc[1, "n"] = 4  # metafor leaves n < 5 alone
    with pytest.warns(ConversionWarning) as rec:
        out = conv_fivenum(df, **FIVE)
    text = " ".join(str(w.message) for w in rec)
    assert "skewness test significant" in text and "n < 5" in text and "study 'A'" in text
    assert np.isnan(out["mean"].iloc[0]) and np.isnan(out["mean"].iloc[1])
    notes = out.attrs["conversions"].set_index("row")["note"]
    assert notes[0].startswith("not converted: skewness") and notes[1] == "not converted: n < 5"
    assert bool(out.attrs["fivenum_test"]["sig"].iloc[0])
    with pytest.warns(ConversionWarning, match="n < 5"):
        forced = conv_fivenum(df, **FIVE, test=False)
    assert np.isfinite(forced["mean"].iloc[0])


def test_fivenum_quartiles_out_of_order_name_column_and_row() -> None:
    df = _five()
    df.loc[2, "q3"] = 4.0  # below the median 5
    with pytest.raises(DataError, match=r"column 'q3' \(q3 = 4\) is below column 'med'.*"
                                        r"study 'C'") as e:
        conv_fivenum(df, **FIVE)
    assert e.value.column == "q3" and e.value.rows == [2]


def test_fivenum_rejects_unknown_and_unavailable_methods() -> None:
    with pytest.raises(BayesmaError, match="unknown mean method"):
        conv_fivenum(_five(), **FIVE, method="median")
    with pytest.raises(BayesmaError, match="needs the R package estmeansd"):
        conv_fivenum(_five(), **FIVE, method="qe")
    with pytest.raises(DataError, match="positive values"):
        df = _five()
        df.loc[0, "lo"] = 0.0
        conv_fivenum(df, **FIVE, dist="lnorm")


def _wald() -> pd.DataFrame:
    return pd.DataFrame({"study": ["A", "B", "C"], "or": [1.5, 0.8, 2.0],
                         "lb": [1.1, 0.5, np.nan], "ub": [2.05, 1.28, np.nan],
                         "p": [np.nan, np.nan, 0.04]})


def test_wald_records_ci_and_pvalue_rows() -> None:
    out = conv_wald(_wald(), out="or", ci_lb="lb", ci_ub="ub", pval="p", transf="log")
    assert out["vi"].iloc[0] == pytest.approx(
        ((math.log(2.05) - math.log(1.1)) / (2 * 1.959963984540054)) ** 2, rel=1e-12)
    conv = out.attrs["conversions"]
    assert conv["method"].tolist() == ["CI (95%), transf=log", "CI (95%), transf=log",
                                       "p-value, transf=log"]
    assert conv["inputs"].iloc[2] == "out=or, pval=p" and set(conv["outputs"]) == {"yi, vi"}
    # a second conversion appends to the record
    both = conv_fivenum(out.assign(lo=1.0, med=2.0, hi=3.0, n=30), min="lo", median="med",
                        max="hi", n="n")
    assert both.attrs["conversions"]["function"].tolist() == ["conv_wald"] * 3 + [
        "conv_fivenum"] * 3


def test_wald_bad_input_names_column_and_row() -> None:
    df = _wald()
    df.loc[1, "lb"] = 1.5  # above the upper bound 1.28
    with pytest.raises(DataError, match=r"lower bound \('lb'\).*study 'B'") as e:
        conv_wald(df, out="or", ci_lb="lb", ci_ub="ub", transf="log")
    assert e.value.column == "lb" and e.value.rows == [1]
    for bad in (0.0, 1.2, -0.1):
        df = _wald()
        df.loc[2, "p"] = bad
        with pytest.raises(DataError, match=r"column 'p' \(pval\) must be in \(0, 1\]"):
            conv_wald(df, out="or", pval="p", transf="log")
    df = _wald()
    df.loc[2, "p"] = 1.0  # allowed, but gives no variance
    with pytest.raises(DataError, match="not finite and > 0"):
        conv_wald(df, out="or", pval="p", transf="log")
    with pytest.raises(BayesmaError, match="unknown transf"):
        conv_wald(_wald(), out="or", ci_lb="lb", ci_ub="ub", transf="np.log")


def test_wald_warns_when_the_ci_is_not_symmetric() -> None:
    with pytest.warns(ConversionWarning, match=r"not about halfway.*study 'B'"):
        conv_wald(_wald(), out="or", ci_lb="lb", ci_ub="ub")  # forgot transf="log"

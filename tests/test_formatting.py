"""Shared formatters: the strings printouts, plots and the report rely on."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bayesma.formatting import (
    MINUS,
    fmt_est_ci,
    fmt_interval,
    fmt_num,
    fmt_p,
    fmt_p_apa,
    fmt_plain,
    fmt_prob,
    fmt_pval,
    p_text,
    signif_stars,
)


@pytest.mark.parametrize(("p", "text"), [(0.0, "<.0001"), (9.99e-5, "<.0001"),
                                          (1e-4, "0.0001"), (0.04567, "0.0457"),
                                          (1.0, "1.0000"), (math.nan, "NA"), (None, "NA")])
def test_fmt_pval_is_metafor_pval(p, text):
    assert fmt_pval(p) == text


def test_fmt_pval_digits():
    assert fmt_pval(1e-4, digits=3) == "<.001"
    assert fmt_pval(0.5, digits=2) == "0.50"


def test_fmt_num_minus_zero_and_missing():
    assert fmt_num(-1.234) == f"{MINUS}1.23"
    assert fmt_num(-0.001) == "0.00"
    assert fmt_num(None) == "NA" and fmt_num(np.nan, missing="\u2013") == "\u2013"
    assert fmt_num(np.inf) == "\u221e" and fmt_num(-np.inf) == MINUS + "\u221e"
    assert fmt_num(np.float64(2.0), 1) == "2.0"


def test_plain_interval_and_estimates():
    assert fmt_plain(-0.5, 2) == "-0.50" and fmt_plain(None) == "NA"
    assert fmt_interval(0.13, 1.26) == "[0.13, 1.26]"
    assert fmt_est_ci(0.41, 0.13, 1.26) == "0.41 [0.13, 1.26]"
    assert fmt_est_ci(0.41, None, 1.0) == "0.41"
    assert fmt_est_ci(math.nan, 0, 1, missing="\u2013") == "\u2013"


def test_p_values_for_figures_and_report():
    assert fmt_p_apa(0.0004) == "p < 0.001"
    assert fmt_p_apa(0.0023) == "p = 0.002"
    assert fmt_p_apa(0.0123) == "p = 0.01"
    assert fmt_p_apa(0.543) == "p = 0.54"
    assert fmt_p_apa(None) == "p = NA"
    assert fmt_p(0.0004) == "< 0.001" and fmt_p(0.01234) == "0.012"
    assert p_text(0.0004) == "p < 0.001" and p_text(0.2) == "p = 0.200"
    assert fmt_prob(0.9999) == "> 0.999" and fmt_prob(0.0001) == "< 0.001"
    assert fmt_prob(0.5) == "0.500" and fmt_prob(None) == "\u2013"


def test_signif_stars():
    assert [signif_stars(p) for p in (0.0001, 0.005, 0.02, 0.07, 0.5, None)] == [
        "***", "**", "*", ".", "", ""]

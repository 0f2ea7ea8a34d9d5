"""GRADE summary of findings: absolute effects, optimal information size, proposed ratings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import bayesma as bm
from bayesma.errors import BayesmaError
from bayesma.grade.absolute import intervention_risk, per_1000, smd_size
from bayesma.grade.certainty import optimal_information_size, sample_size_per_group

REF = json.loads((Path(__file__).parents[1] / "reference" / "grade" /
                  "grade_reference.json").read_text())


@pytest.fixture(scope="module")
def bcg():
    d = bm.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg",
                  data=bm.datasets.load("bcg"))
    return bm.rma(d)


def test_intervention_risk_formulas():
    # Cochrane Handbook 6.4, 14.1.5.1
    assert intervention_risk("RR", 0.5, 0.2) == pytest.approx(0.1, rel=1e-15)
    assert intervention_risk("OR", 0.5, 0.2) == pytest.approx(0.1 / 0.9, rel=1e-15)
    assert intervention_risk("HR", 0.5, 0.2) == pytest.approx(1 - 0.8 ** 0.5, rel=1e-15)
    assert intervention_risk("RD", -0.05, 0.2) == pytest.approx(0.15, rel=1e-15)
    assert per_1000(0.0165) == 17 and per_1000(0.0164) == 16
    assert [smd_size(x) for x in (0.1, -0.3, 0.6, -1.2)] == \
        ["less than small", "small", "moderate", "large"]
    with pytest.raises(BayesmaError):
        intervention_risk("RR", 0.5, 1.5)


def test_optimal_information_size_matches_power_prop_test():
    # R stats::power.prop.test, tol = 1e-12 (tests/reference/grade/make_grade.R)
    for case in REF["prop"]:
        n = sample_size_per_group(case["p1"], case["p2"])
        assert n == pytest.approx(case["n"], rel=1e-6)
        acr = case["p1"]
        assert optimal_information_size(binary=True, acr=acr) == 2 * int(np.ceil(case["n"]))
    c = REF["continuous"]
    assert optimal_information_size(binary=False, smd=c["d"]) == 2 * int(np.ceil(c["n"]))


def test_sof_row_of_a_classical_fit(bcg):
    sof = bm.summary_of_findings({"Tuberculosis": bcg}, assumed_risk=0.02)
    row = sof.table.iloc[0]
    rr, lo, hi = np.exp([bcg.estimate, bcg.ci_low, bcg.ci_high])
    assert row["Relative effect"] == f"RR {rr:.2f} (95% CI {lo:.2f} to {hi:.2f})"
    assert row["Risk with control"] == "20 per 1,000"
    want = [per_1000(0.02 * x) for x in (rr, lo, hi)]
    assert row["Risk with intervention"] == f"{want[0]} per 1,000 ({want[1]} to {want[2]})"
    assert row["Absolute effect"] == (f"{20 - want[0]} fewer per 1,000 (from {20 - want[1]} "
                                      f"fewer to {20 - want[2]} fewer)")
    d = bcg.data
    n = int((d.tpos + d.tneg + d.cpos + d.cneg).sum())
    assert row["Participants (studies)"] == f"{n:,} (13)"
    r = sof.ratings.set_index("Domain")
    # I² = 92% with a prediction interval crossing 1: very serious, proposed
    assert r.loc["Inconsistency", "Rating"] == "very serious"
    assert r.loc["Inconsistency", "Source"] == "proposed"
    assert "I\u00b2 = 92%" in r.loc["Inconsistency", "Reason"]
    # Egger's test on the same fit
    eg = bm.regtest(bcg)
    assert f"p = {eg.pval:.2f}" in r.loc["Publication bias", "Reason"]
    assert r.loc["Publication bias", "Rating"] == ("serious" if eg.pval < 0.1 else
                                                   "not serious")
    # CI 0.34-0.70 below the 0.75 threshold, far above the information size: not serious
    assert r.loc["Imprecision", "Rating"] == "not serious"
    assert r.loc["Risk of bias", "Source"] == "not rated"
    assert row["Certainty"].startswith("\u2295\u2295\u25ef\u25ef Low")


def test_user_ratings_override_and_default_control_risk(bcg):
    sof = bm.summary_of_findings(
        [bcg], outcomes=["TB"],
        ratings={"risk_of_bias": ("serious", "alternate allocation"),
                 "inconsistency": "serious", "indirectness": 0})
    r = sof.ratings.set_index("Domain")
    assert r.loc["Inconsistency", "Rating"] == "serious"
    assert r.loc["Inconsistency", "Source"] == "user"
    assert r.loc["Inconsistency", "bayesma proposal"] == "very serious"
    assert r.loc["Risk of bias", "Reason"] == "alternate allocation"
    # high - 1 (risk of bias) - 1 (inconsistency) = low
    assert "Low" in sof.table.loc[0, "Certainty"]
    # default assumed risk: the median control-group risk of the studies
    d = bcg.data
    acr = float(np.median(d.cpos / (d.cpos + d.cneg)))
    assert sof.table.loc[0, "Risk with control"] == f"{per_1000(acr)} per 1,000"
    with pytest.raises(BayesmaError, match="not a GRADE level"):
        bm.summary_of_findings([bcg], ratings={"imprecision": "bad"})
    with pytest.raises(BayesmaError, match="unknown outcome"):
        bm.summary_of_findings({"A": bcg}, ratings={"B": {"imprecision": 0}})


def test_a_single_outcome_name_as_a_string(bcg):
    # a plain string is one outcome name, not one name per character
    listed = bm.summary_of_findings([bcg], outcomes=["TB"]).table
    for results in (bcg, [bcg], {"TB": bcg}):
        sof = bm.summary_of_findings(results, outcomes="TB")
        assert len(sof.table) == 1
        assert sof.table.equals(listed)
        assert set(sof.ratings["Outcome"]) == {"TB"}


def test_smd_interpretation_and_outputs(tmp_path):
    import pandas as pd

    t = pd.DataFrame({"m1i": [10.0, 11.0, 12.5, 9.8], "sd1i": [3.0, 3.5, 2.8, 3.1],
                      "n1i": [40, 55, 60, 35], "m2i": [11.5, 12.0, 13.0, 11.0],
                      "sd2i": [3.2, 3.0, 3.1, 2.9], "n2i": [42, 50, 58, 38]})
    d = bm.escalc("SMD", data=t, m1i="m1i", sd1i="sd1i", n1i="n1i", m2i="m2i",
                  sd2i="sd2i", n2i="n2i")
    res = bm.rma(d, test="knha")
    sof = bm.summary_of_findings({"Pain": res}, title="Drug versus placebo for pain")
    row = sof.table.iloc[0]
    assert row["Relative effect"] == "\u2013"
    word = "lower" if res.estimate < 0 else "higher"
    assert row["Absolute effect"].startswith(f"SMD {abs(res.estimate):.2f} {word}")
    assert "small effect by Cohen's rule of thumb" in row["Absolute effect"]
    # 378 participants < optimal information size 786 (0.2 SD): imprecision serious
    r = sof.ratings.set_index("Domain")
    assert "378 participants, fewer than the optimal information size (786)" in \
        r.loc["Imprecision", "Reason"]
    md = sof.to_markdown()
    assert "| Pain | 378 (4) |" in md and "Table: Drug versus placebo for pain" in md
    html = sof.to_html()
    assert "<caption>Drug versus placebo for pain</caption>" in html
    path = sof.to_docx(tmp_path / "sof.docx")
    import docx
    doc = docx.Document(str(path))
    assert doc.tables[0].rows[1].cells[0].text == "Pain"
    assert doc.tables[1].rows[0].cells[1].text == "Domain"


def test_bayesian_outcome_uses_the_posterior(bcg):
    post = bm.exact_posterior(bcg.data, measure="RR")
    sof = bm.summary_of_findings({"TB": post}, assumed_risk=0.02)
    lo, hi = np.exp(post.interval("mu"))
    med = float(np.exp(post.median("mu")))
    assert sof.table.loc[0, "Relative effect"] == \
        f"RR {med:.2f} (95% CrI {lo:.2f} to {hi:.2f})"
    assert "CrI" in sof.ratings.set_index("Domain").loc["Imprecision", "Reason"]

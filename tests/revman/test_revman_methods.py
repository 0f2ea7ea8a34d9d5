"""RevMan's methods that the reference reviews do not use (Peto, RD, SMD, generic inverse
variance, O-E), checked against bayesma's metafor-matched engines on small made-up
reviews (1e-10 relative: the same closed forms), and the zero-cell rules."""

from __future__ import annotations

import io
import math
import zipfile

import numpy as np
import pandas as pd
import pytest

import bayesma as bm
from bayesma.errors import DroppedRowsWarning
from bayesma.revman.statistics import pool

# the reference fits use bm.rma's z test on few studies, which warns about it; not our subject
pytestmark = pytest.mark.filterwarnings("ignore:test='z' with k")

STUDIES = [("A", 3, 20, 6, 21), ("B", 5, 30, 9, 28), ("C", 0, 25, 2, 24), ("D", 7, 40, 7, 38),
           ("E", 0, 15, 0, 16)]
MEANS = [("A", 5.0, 4.7, 13, 6.5, 3.8, 13), ("B", 4.9, 1.71, 30, 6.1, 2.3, 50),
         ("C", 22.5, 3.44, 35, 24.9, 10.65, 35), ("D", 12.5, 1.47, 20, 12.3, 1.66, 20)]
GIV = [("A", -0.2, 0.15), ("B", 0.1, 0.3), ("C", -0.5, 0.25), ("D", 0.05, 0.1)]
OE_ROWS = [("A", -2.1, 4.0), ("B", 0.8, 2.5), ("C", -3.5, 6.1)]


def _review(body: str) -> str:
    studies = "".join(f'<STUDY ID="STD-{s}" NAME="{s}" YEAR="2000"/>' for s in "ABCDE")
    return (f'<?xml version="1.0"?><COCHRANE_REVIEW><STUDIES_AND_REFERENCES><STUDIES>'
            f'<INCLUDED_STUDIES>{studies}</INCLUDED_STUDIES></STUDIES></STUDIES_AND_REFERENCES>'
            f'<ANALYSES_AND_DATA><COMPARISON ID="CMP-001" NO="1"><NAME>c</NAME>{body}'
            f'</COMPARISON></ANALYSES_AND_DATA></COCHRANE_REVIEW>')


def _dich(no: int, method: str, measure: str, random: str) -> str:
    rows = "".join(f'<DICH_DATA STUDY_ID="STD-{s}" EVENTS_1="{a}" TOTAL_1="{n1}" '
                   f'EVENTS_2="{c}" TOTAL_2="{n2}"/>' for s, a, n1, c, n2 in STUDIES)
    return (f'<DICH_OUTCOME ID="CMP-001.{no:02d}" METHOD="{method}" EFFECT_MEASURE="{measure}" '
            f'RANDOM="{random}"><NAME>d{no}</NAME>{rows}</DICH_OUTCOME>')


@pytest.fixture(scope="module")
def review(tmp_path_factory):
    cont = "".join(f'<CONT_DATA STUDY_ID="STD-{s}" MEAN_1="{m1}" SD_1="{s1}" TOTAL_1="{n1}" '
                   f'MEAN_2="{m2}" SD_2="{s2}" TOTAL_2="{n2}"/>'
                   for s, m1, s1, n1, m2, s2, n2 in MEANS)
    giv = "".join(f'<IV_DATA STUDY_ID="STD-{s}" EFFECT_SIZE="{y}" SE="{se}"/>'
                  for s, y, se in GIV)
    oe = "".join(f'<IPD_DATA STUDY_ID="STD-{s}" O_E="{o}" VAR="{v}"/>' for s, o, v in OE_ROWS)
    body = (_dich(1, "PETO", "PETO_OR", "NO") + _dich(2, "MH", "RD", "NO")
            + _dich(3, "IV", "RD", "YES") + _dich(4, "MH", "OR", "YES")
            + f'<CONT_OUTCOME ID="CMP-001.05" EFFECT_MEASURE="SMD" RANDOM="NO"><NAME>s</NAME>'
            f'{cont}</CONT_OUTCOME>'
            f'<IV_OUTCOME ID="CMP-001.06" LOG_DATA="YES" RANDOM="YES"><NAME>g</NAME>'
            f'<EFFECT_MEASURE>Hazard Ratio</EFFECT_MEASURE>{giv}</IV_OUTCOME>'
            f'<IPD_OUTCOME ID="CMP-001.07" RANDOM="NO"><NAME>o</NAME>{oe}</IPD_OUTCOME>')
    path = tmp_path_factory.mktemp("revman") / "made_up.rm5"
    path.write_text(_review(body))
    return bm.read_revman(path)


def close(a, b, rel=1e-10):
    assert math.isclose(a, b, rel_tol=rel, abs_tol=1e-13), (a, b)


def test_outcome_settings(review):
    out = review.outcomes.set_index("id")
    assert list(out["method"]) == ["PETO", "MH", "IV", "MH", "IV", "IV", "PETO"]
    assert list(out["measure"]) == ["PETO", "RD", "RD", "OR", "SMD", "HR", "PETO"]
    assert list(out["data_type"]) == ["dichotomous"] * 4 + [
        "continuous", "generic inverse variance", "O-E"]


def test_peto_matches_rma_peto(review):
    res = review.analyse("CMP-001.01")
    with pytest.warns(DroppedRowsWarning):  # study E: no events in either group
        ref = bm.rma_peto(review.data("CMP-001.01"), ai="ai", n1i="n1i", ci="ci", n2i="n2i")
    close(res.estimate, ref.estimate)
    close(res.se, ref.se)
    close(res.q, ref.q)
    assert res.k == 4  # the table without events is left out


def test_mh_risk_difference(review):
    df = review.data("CMP-001.02")
    res = review.analyse("CMP-001.02")
    assert res.k == 5  # RD keeps the table without events
    a, n1, c, n2 = (df[x].to_numpy(float) for x in ("ai", "n1i", "ci", "n2i"))
    zero = (a == 0) | (c == 0) | (a == n1) | (c == n2)
    inc = np.where(zero, 0.5, 0.0)  # RevMan: 0.5 in every cell of a table with a zero
    a2, c2, n12, n22 = a + inc, c + inc, n1 + 2 * inc, n2 + 2 * inc
    big = n12 + n22
    w = n12 * n22 / big
    close(res.estimate, float(np.sum(w * (a / n1 - c / n2)) / w.sum()))
    var = sum((a2[i] * (n12[i] - a2[i]) * n22[i] ** 3 + c2[i] * (n22[i] - c2[i]) * n12[i] ** 3)
              / (n12[i] * n22[i] * big[i] ** 2) for i in range(len(a))) / w.sum() ** 2
    close(res.se, math.sqrt(var))  # Greenland & Robins (1985)
    no_zero = df[~zero]
    ref = bm.rma_mh(no_zero, "RD", ai="ai", n1i="n1i", ci="ci", n2i="n2i")
    rows = review.outcome("CMP-001.02").studies[~zero].reset_index(drop=True)
    mine = pool("dichotomous", "RD", "MH", "fixed", rows)  # same MH estimator as metafor
    close(mine["estimate"], ref.estimate)


def test_iv_random_and_mh_random(review):
    df = review.data("CMP-001.03")
    res = review.analyse("CMP-001.03")
    yi = df["ai"] / df["n1i"] - df["ci"] / df["n2i"]
    zero = (df["ai"] == 0) | (df["ci"] == 0)
    inc = np.where(zero, 0.5, 0.0)
    a, c, n1, n2 = df["ai"] + inc, df["ci"] + inc, df["n1i"] + 2 * inc, df["n2i"] + 2 * inc
    vi = a * (n1 - a) / n1**3 + c * (n2 - c) / n2**3
    ref = bm.rma(pd.DataFrame({"yi": yi, "vi": vi}), method="DL")
    for f in ("estimate", "se", "tau2", "q"):
        close(getattr(res, f), getattr(ref, f))
    # MH random effects: DL tau² from the Q around the MH (not the IV) estimate
    mh = review.analyse("CMP-001.04")
    fixed = pool("dichotomous", "OR", "MH", "fixed", review.outcome("CMP-001.04").studies)
    used = fixed["used"]
    y, v = fixed["yi"][used], fixed["vi"][used]
    q = float(np.sum((y - fixed["estimate"]) ** 2 / v))
    close(mh.q, q)
    w = 1 / v
    close(mh.tau2, max(0.0, (q - (len(y) - 1)) / (w.sum() - (w**2).sum() / w.sum())))


def test_smd_uses_revmans_formula(review):
    res = review.analyse("CMP-001.05")
    es = bm.escalc("SMD", review.data("CMP-001.05"), m1i="m1i", sd1i="sd1i", n1i="n1i",
                   m2i="m2i", sd2i="sd2i", n2i="n2i", formulas="revman")
    ref = bm.rma(es, method="EE")
    close(res.estimate, ref.estimate)
    close(res.se, ref.se)
    close(res.q, ref.q)


def test_generic_and_oe(review):
    res = review.analyse("CMP-001.06")
    assert res.log_scale and res.model == "random"
    df = pd.DataFrame(GIV, columns=["s", "yi", "sei"])
    ref = bm.rma(df, "yi", sei="sei", method="DL")
    close(res.estimate, ref.estimate)
    close(res.tau2, ref.tau2)
    close(res.estimate_exp, math.exp(ref.estimate))
    oe = review.analyse("CMP-001.07")
    o, v = np.array([r[1] for r in OE_ROWS]), np.array([r[2] for r in OE_ROWS])
    close(oe.estimate, o.sum() / v.sum())  # Peto's O-E pooling (Yusuf et al. 1985)
    close(oe.se, 1 / math.sqrt(v.sum()))
    close(oe.q, float(np.sum(o**2 / v) - o.sum() ** 2 / v.sum()))


def test_swapped_events_pool_the_non_events(tmp_path):
    body = _dich(1, "MH", "RR", "NO").replace('RANDOM="NO"', 'RANDOM="NO" SWAP_EVENTS="YES"')
    path = tmp_path / "swap.rm5"
    path.write_text(_review(body))
    rv = bm.read_revman(path)
    df = rv.data("CMP-001.01")
    assert list(df["ai"]) == [s[1] for s in STUDIES]  # the table keeps the events
    flipped = df.assign(ai=df["n1i"] - df["ai"], ci=df["n2i"] - df["ci"])
    ref = pool("dichotomous", "RR", "MH", "fixed", flipped)
    close(rv.analyse("CMP-001.01").estimate, ref["estimate"])


def test_data_package_with_generic_data_and_subgroups(tmp_path):
    settings = ("Analysis group,Analysis number,Analysis name,Analysis group name,Data type,"
                "Log-scale data,Statistical method,Effect measure,Analysis model,Estimate CI,"
                "Mean,CI start,CI end,Heterogeneity Tau²,Heterogeneity Chi²,Heterogeneity df,"
                "Heterogeneity P,Heterogeneity I²,Effect Z,Effect P,Subgroup Chi²,Subgroup df,"
                "Subgroup P,Subgroup I²\n"
                "2,3,Death,Drug vs placebo,Contrast level,true,IV,Hazard Ratio,Random effects,"
                "95%,0.9,0.8,1.1,0.01,3.0,3,0.39,0,1.2,0.23,0.5,1,0.48,0\n")
    rows = "Analysis group,Analysis number,Subgroup,Study,Study year,GIV Mean,GIV SE\n" + "".join(
        f"2,3,{'Adults' if i < 2 else 'Children'},{s},200{i},{y},{se}\n"
        for i, (s, y, se) in enumerate(GIV))
    subs = ("Analysis group,Analysis number,Subgroup,Subgroup number,Mean,CI start,CI end\n"
            "2,3,Adults,1,0.9,0.7,1.2\n2,3,Children,2,0.8,0.5,1.3\n")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("CD1/CD1-analysis-data/CD1-overall-estimates-and-settings.csv", settings)
        zf.writestr("CD1/CD1-analysis-data/CD1-data-rows.csv", rows)
        zf.writestr("CD1/CD1-analysis-data/CD1-subgroup-estimates.csv", subs)
    path = tmp_path / "pkg.zip"
    path.write_bytes(buf.getvalue())
    rv = bm.read_revman(path)
    out = rv.outcomes.iloc[0]
    assert (out["id"], out["data_type"], out["measure"], out["model"]) == (
        "CMP-002.03", "generic inverse variance", "HR", "random")
    assert out["subgroups"] == ["Adults", "Children"]
    res = rv.analyse("CMP-002.03")
    ref = bm.rma(pd.DataFrame(GIV, columns=["s", "yi", "sei"]), "yi", sei="sei", method="DL")
    close(res.estimate, ref.estimate)
    assert list(res.subgroups["k"]) == [2, 2]
    rep = rv.reported_subgroups("CMP-002.03")
    close(rep["estimate"].iloc[1], math.log(0.8))
    close(rv.reported("CMP-002.03")["q_between"], 0.5)

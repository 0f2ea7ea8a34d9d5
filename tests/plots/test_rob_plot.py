"""Risk-of-bias figures: traffic-light and summary plots (robvis's layout), forest RoB dots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesma as bm
from bayesma.errors import DataError
from bayesma.plots.forest.rob_columns import column_letters, rob_columns, rob_key
from bayesma.plots.rob_tools import ROB_TOOLS, get_tool, parse_judgements

ROB = Path(__file__).parents[1] / "reference" / "rob"


@pytest.fixture(scope="module")
def rob2() -> pd.DataFrame:
    return pd.read_csv(ROB / "robvis_data_rob2.csv")


@pytest.fixture(scope="module")
def robins() -> pd.DataFrame:
    return pd.read_csv(ROB / "robvis_data_robins.csv")


def _circles(fig):
    return [p.get_gid() for ax in fig.axes for p in ax.patches
            if (p.get_gid() or "").startswith("circle|")]


def test_traffic_light_draws_every_study_and_domain(rob2):
    fig = bm.rob_plot(rob2, tool="rob2")
    lay = fig.rob_layout
    assert lay.table.codes == ["D1", "D2", "D3", "D4", "D5", "Overall"]
    circles = _circles(fig)
    assert len(circles) == 9 * 6
    # one circle per study and domain, coloured by the judgement of the table
    for _, row in rob2.iterrows():
        for col, code in zip(["D1", "D2", "D3", "D4", "D5", "Overall"], lay.table.codes,
                             strict=True):
            want = {"Low": "l", "Some concerns": "s", "High": "h", "No information": "n"}
            assert f"circle|{row['Study']}|{code}|{want[row[col]]}" in circles
    drawn = {t.get_gid() for t in fig.texts if t.get_gid()}
    assert {f"study|Study {i}" for i in range(1, 10)} <= drawn
    assert {f"domain|{c}" for c in lay.table.codes} <= drawn
    # legend: every judgement used, in robvis's order, and nothing else
    assert lay.legend == ["High", "Some concerns", "Low", "No information"]
    leg = [t.get_text() for t in fig.legends[0].get_texts()]
    assert leg == lay.legend
    # domain key names the five RoB 2 domains
    assert lay.caption[1] == "D1: Bias arising from the randomization process."
    assert len(lay.caption) == 6


def test_robins_i_symbols_and_colours(robins):
    fig = bm.rob_plot(robins, tool="ROBINS-I", domains=[f"D{i}" for i in range(1, 8)])
    assert len(_circles(fig)) == 12 * 8
    tool = get_tool("robins-i")
    assert [lv.label for lv in tool.levels][:4] == ["Critical", "Serious", "Moderate", "Low"]
    # robvis cochrane colours (R/helpers.R get_colour)
    face = {p.get_gid().split("|")[-1]: p.get_facecolor() for ax in fig.axes
            for p in ax.patches if (p.get_gid() or "").startswith("circle|")}
    from matplotlib.colors import to_rgba
    assert face["c"] == to_rgba("#820000") and face["l"] == to_rgba("#02C100")
    assert fig.rob_layout.legend == ["Critical", "Serious", "Moderate", "Low"]


def test_summary_unweighted_proportions(rob2):
    fig = bm.rob_plot(rob2, kind="summary")
    p = fig.rob_layout.proportions
    d1 = p.loc["Bias arising from the randomization process"]
    # counts of robvis_data_rob2.csv column D1: 6 Low, 1 Some concerns, 1 High, 1 NI
    assert d1["Low"] == pytest.approx(6 / 9, rel=1e-12)
    assert d1[["Some concerns", "High", "No information"]].tolist() == pytest.approx([1 / 9] * 3)
    ov = p.loc["Overall risk of bias"]
    assert ov[["Low", "Some concerns", "High"]].tolist() == pytest.approx([1 / 9, 3 / 9, 5 / 9])
    assert np.allclose(p.sum(axis=1), 1.0)
    # bars from best to worst, as robvis stacks them
    assert list(p.columns) == ["Low", "Some concerns", "High", "No information"]
    bars = [b for b in fig.axes[0].patches if b.get_gid() == "bar|l"]
    assert len(bars) == 6


def test_summary_weighted_proportions(robins):
    fig = bm.rob_plot(robins, tool="robins-i", kind="summary", weights="Weight")
    p = fig.rob_layout.proportions
    w = robins.groupby("Overall")["Weight"].sum() / robins["Weight"].sum()
    for word in ("Low", "Moderate", "Serious", "Critical"):
        assert p.loc["Overall risk of bias", word] == pytest.approx(w[word], rel=1e-12)
    assert fig.rob_layout.caption == ["weighted"]


def test_judgement_words_case_and_synonyms():
    tool = ROB_TOOLS["rob2"]
    got = parse_judgements(["low", "SOME CONCERNS", " High risk ", "no information", None,
                            "+", "?"], tool, column="D1")
    assert got == ["l", "s", "h", "n", "x", "l", "n"]
    gen = get_tool("generic")
    assert parse_judgements(["Unclear", "Serious", "moderate"], gen, column="A") == \
        ["s", "h", "s"]


def test_unknown_judgement_names_column_and_row(rob2):
    bad = rob2.copy()
    bad.loc[4, "D3"] = "Dunno"
    with pytest.raises(DataError, match=r"'D3'.*'Dunno'.*row 4 \(study 'Study 5'\)") as e:
        bm.rob_plot(bad)
    assert e.value.column == "D3" and e.value.rows == [4]


def test_wrong_domain_count_and_missing_columns(rob2):
    with pytest.raises(DataError, match="RoB 2 has 5 domains"):
        bm.rob_plot(rob2.drop(columns="D5").rename(columns={"D4": "X"}), domains=["D1", "X"])
    with pytest.raises(DataError, match="overall column"):
        bm.rob_plot(rob2.drop(columns="Overall"))
    fig = bm.rob_plot(rob2.drop(columns="Overall"), overall=None)
    assert "Overall" not in fig.rob_layout.table.codes
    with pytest.raises(DataError, match="weights"):
        bm.rob_plot(rob2, kind="summary", weights=[1, 2])
    with pytest.raises(bm.errors.BayesmaError, match="unknown risk-of-bias tool"):
        bm.rob_plot(rob2, tool="cochrane-1")


def test_generic_tool_takes_domains_from_columns(tmp_path):
    d = pd.DataFrame({"study": ["A", "B"], "Random sequence": ["Low", "Unclear"],
                      "Blinding": ["High", "Low"], "overall": ["High", "Unclear"]})
    fig = bm.rob_plot(d, tool="generic", save=tmp_path / "rob.svg")
    assert fig.rob_layout.table.names[:2] == ["Random sequence", "Blinding"]
    assert fig.rob_layout.caption[1:] == ["D1: Random sequence.", "D2: Blinding."]
    assert (tmp_path / "rob.svg").read_text().startswith("<?xml")


def test_forest_plot_rob_columns(rob2):
    d = bm.datasets.load("bcg").iloc[:9].reset_index(drop=True)
    for c in ("D1", "D2", "Overall"):
        d[c] = rob2[c].to_numpy()
    d["Allocation concealment"] = rob2["D3"].to_numpy()
    res = bm.rma(bm.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=d,
                           slab="author"))
    fig = bm.forest_plot(res, rob=True)
    lay = fig.forest_layout
    keys = [c.key for c in lay.columns if c.key.startswith("rob:")]
    assert keys == ["rob:D1", "rob:D2", "rob:Overall", "rob:Allocation concealment"]
    headers = [c.header for c in lay.columns if c.key.startswith("rob:")]
    assert headers == ["D1", "D2", "Overall", "A"]
    sym = {"Low": "+", "Some concerns": "\u2212", "High": "\u00d7", "No information": "?"}
    for i, r in enumerate(lay.study_rows):
        assert lay.cell(r.key, "rob:D1") == sym[rob2["D1"][i]]
        t = lay.texts[(r.key, "rob:Overall")]
        assert t.get_bbox_patch() is not None
    foot = [lay.cell("footer", i) for i in range(10) if ("footer", i) in lay.texts]
    assert any("(A) Allocation concealment" in s for s in foot)
    with pytest.raises(DataError, match="'nope' is not a column"):
        bm.forest_plot(res, rob=["nope"])


def test_rob_column_letters_continue_past_z():
    # 28 long domain names (headers are letters) and a short column literally named "A"
    names = [f"Domain number {i}" for i in range(28)]
    d = pd.DataFrame({"A": ["Low", "High"], **{n: ["Low", "High"] for n in names}})
    cols = rob_columns(d, ["A", *names])
    headers = [rc.column.header for rc in cols]
    # "A" is taken by the short column, so the lettered ones start at B
    assert headers == ["A", *"BCDEFGHIJKLMNOPQRSTUVWXYZ", "AA", "AB", "AC"]
    assert len(set(headers)) == len(headers)
    assert "(AC) Domain number 27" in rob_key(cols)[0]
    assert [column_letters(i) for i in (0, 25, 26, 51, 52, 701, 702)] == [
        "A", "Z", "AA", "AZ", "BA", "ZZ", "AAA"]

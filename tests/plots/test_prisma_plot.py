"""PRISMA 2020 flow diagram: counts completed and checked, every box and arrow drawn."""

from __future__ import annotations

import pytest

import bayesma as bm
from bayesma.errors import BayesmaError
from bayesma.plots.prisma_counts import prisma_counts

COUNTS = {
    "databases": {"MEDLINE": 412, "Embase": 380}, "registers": {"ClinicalTrials.gov": 35},
    "duplicates": 210, "automation": 12, "screen_excluded": 480, "not_retrieved": 4,
    "excluded_reasons": {"Wrong population": 40, "Wrong outcome": 25, "Not randomised": 41},
    "new_studies": 12, "new_reports": 15,
}
FULL = {**COUNTS, "previous_studies": 10, "previous_reports": 12,
        "other_sources": {"Websites": 8, "Citation searching": 14}, "other_sought": 22,
        "other_not_retrieved": 2, "other_excluded_reasons": {"Wrong design": 16},
        "new_reports": 19}


def _texts(fig):
    return {t.get_gid().split("|", 1)[1]: t.get_text() for t in fig.texts
            if (t.get_gid() or "").startswith("text|")}


def test_counts_follow_from_each_other():
    c = prisma_counts(COUNTS)
    assert c.identified == 827 and c.removed == 222
    assert (c.screened, c.sought, c.assessed) == (605, 125, 121)
    # the other way round: given screened and sought, the exclusions follow
    c2 = prisma_counts({"screened": 100, "sought": 30, "assessed": 28,
                        "excluded_reasons": {"a": 20}, "new_studies": 8})
    assert (c2.screen_excluded, c2.not_retrieved, c2.new_reports) == (70, 2, 8)


@pytest.mark.parametrize("change, message", [
    ({"screened": 600}, r"screened = 600 but identified \(827\) - removed before screening "
                        r"\(222\) = 605"),
    ({"new_reports": 20}, r"new_reports = 20 but reports assessed - reports excluded with "
                          r"reasons = 15"),
    ({"sought": 126}, r"sought = 126 but screened \(605\) - excluded \(480\) = 125"),
    ({"new_studies": 16}, r"new_studies \(16\) exceeds new_reports \(15\)"),
    ({"duplicates": -1}, r"duplicates must be a whole number >= 0"),
    ({"duplicate": 3}, r"unknown key\(s\) \['duplicate'\]"),
])
def test_inconsistent_counts_are_named(change, message):
    with pytest.raises(BayesmaError, match=message):
        prisma_counts({**COUNTS, **change})


def test_every_box_has_its_count_and_arrows_connect_the_right_boxes(tmp_path):
    fig = bm.prisma_flow(COUNTS, save=tmp_path / "prisma.png")
    lay = fig.prisma_layout
    t = _texts(fig)
    expect = {"identified": ["MEDLINE (n = 412)", "Embase (n = 380)", "Databases (n = 792)",
                             "ClinicalTrials.gov (n = 35)"],
              "removed": ["Duplicate records removed (n = 210)", "(n = 12)"],
              "screened": ["Records screened\n(n = 605)"],
              "screen_excluded": ["Records excluded\n(n = 480)"],
              "sought": ["(n = 125)"], "not_retrieved": ["(n = 4)"],
              "assessed": ["Reports assessed for eligibility\n(n = 121)"],
              "excluded": ["Wrong population (n = 40)", "Wrong outcome (n = 25)",
                           "Not randomised (n = 41)"],
              "included": ["Studies included in review\n(n = 12)", "(n = 15)"]}
    assert set(t) == set(expect)
    for name, parts in expect.items():
        for p in parts:
            assert p in t[name], (name, p)
    assert lay.arrows == [("identified", "removed"), ("identified", "screened"),
                          ("screened", "screen_excluded"), ("screened", "sought"),
                          ("sought", "not_retrieved"), ("sought", "assessed"),
                          ("assessed", "excluded"), ("assessed", "included")]
    # each arrow leaves its source box and ends on the edge of its target box
    for a, b in lay.arrows:
        arrow = next(p for p in fig.patches if p.get_gid() == f"arrow|{a}|{b}")
        (x0, y0), (x1, y1) = arrow._posA_posB
        ba, bb = lay.boxes[a], lay.boxes[b]
        assert ba.x <= x0 <= ba.x + ba.w and ba.y - ba.h - 1e-9 <= y0 <= ba.y + 1e-9
        on_left = abs(x1 - bb.x) < 1e-9 and bb.y - bb.h <= y1 <= bb.y
        on_top = abs(y1 - bb.y) < 1e-9 and bb.x <= x1 <= bb.x + bb.w
        assert on_left or on_top, (a, b)
    assert lay.phases == ["Identification", "Screening", "Included"]
    assert (tmp_path / "prisma.png").stat().st_size > 10_000


def test_previous_and_other_methods_columns(tmp_path):
    fig = bm.prisma_flow(FULL, save=tmp_path / "prisma.svg")
    lay = fig.prisma_layout
    t = _texts(fig)
    assert "New studies included in review\n(n = 12)" in t["included"]
    assert "Total studies included in review\n(n = 22)" in t["total"]
    assert "Reports of total included studies\n(n = 31)" in t["total"]
    assert "Citation searching (n = 14)" in t["other_identified"]
    assert "(n = 20)" in t["other_assessed"]
    assert ("previous", "total") in lay.arrows and ("included", "total") in lay.arrows
    assert ("other_assessed", "included") in lay.arrows
    assert lay.headers == ["Previous studies",
                           "Identification of new studies via databases and registers",
                           "Identification of new studies via other methods"]
    assert (tmp_path / "prisma.svg").read_text().startswith("<?xml")

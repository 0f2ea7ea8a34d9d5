"""Review outputs of a spec: several subgroup factors, [prisma], [rob], [grade] in the report.

Uses a real Cochrane review kept by the RevMan tests (antibiotics for sore throat,
CD000023, analysis CMP-001.02: blinded versus unblinded trials, with RoB 1 judgements);
the PRISMA counts are illustrative (the file holds none).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import bayesma as bm
from bayesma.errors import SpecError
from bayesma.spec import parse_spec

RM5 = Path(__file__).parent / "reference" / "revman" / "CD000023_antibiotics_sore_throat.rm5"
DOMAINS = ["Random sequence generation (selection bias)",
           "Allocation concealment (selection bias)",
           "Blinding (performance bias and detection bias)",
           "Incomplete outcome data (attrition bias)",
           "Selective reporting (reporting bias)", "Other bias"]

SPEC = f'''
title = "Antibiotics for sore throat"
[data]
path = "{RM5.name}"
outcome = "CMP-001.02"
[effect]
measure = "RR"
ai = "ai"
n1i = "n1i"
ci = "ci"
n2i = "n2i"
label = "study"
[model]
by = ["subgroup", "Allocation concealment (selection bias)"]
[sensitivity]
leave1out = false
psense = false
[bias]
trimfill = false
ranktest = false
funnel = false
[outputs]
prior_posterior = false
posterior = false
formats = ["png"]
[rob]
tool = "generic"
domains = {DOMAINS!r}
overall = ""
[prisma]
databases = {{MEDLINE = 412, Embase = 380}}
duplicates = 210
screen_excluded = 480
not_retrieved = 4
excluded_reasons = {{"Not randomised" = 57, "Wrong comparator" = 35}}
new_studies = 6
new_reports = 6
[grade]
assumed_risk = 0.5
[grade.ratings]
risk_of_bias = "serious"
'''.replace("'", '"')


def _spec(text: str = SPEC):
    return parse_spec(text, base_dir=RM5.parent, path="review.toml")


def test_subgroup_factors_are_read():
    s = _spec()
    m = s.outcomes[0].model
    assert m["by"] is None
    assert m["factors"] == ["subgroup", "Allocation concealment (selection bias)"]
    s2 = _spec(SPEC.replace('[model]\n', '[model]\ntype = "subgroups"\n'))
    assert s2.outcomes[0].model["by"] == "subgroup"
    assert s2.outcomes[0].model["factors"] == ["Allocation concealment (selection bias)"]
    with pytest.raises(SpecError,
                       match=r"line 14: model.by\[0\]: column 'agegroup' is not in the data"):
        _spec(SPEC.replace('by = ["subgroup",', 'by = ["agegroup",'))


@pytest.mark.parametrize("old, new, message", [
    ("new_reports = 6", "new_reports = 7",
     r"line \d+: .*new_reports = 7 but reports assessed - reports excluded with reasons = 6"),
    ('tool = "generic"', 'tool = "rob2"', r"line 26: rob: RoB 2 has 5 domains"),
    ('risk_of_bias = "serious"', 'risk_of_bias = "grave"', r"'grave' is not a GRADE level"),
    ('risk_of_bias = "serious"', 'bias = "serious"', "unknown GRADE domain"),
])
def test_review_sections_are_checked(old, new, message):
    with pytest.raises(SpecError, match=message):
        _spec(SPEC.replace(old, new))


def test_unknown_judgement_word_names_column_and_row(tmp_path):
    d = bm.read_revman(RM5).data("CMP-001.02")
    d.loc[3, "Other bias"] = "Maybe"
    study = d.loc[3, "study"]
    d.to_csv(tmp_path / "t.csv", index=False)
    text = SPEC.replace(f'path = "{RM5.name}"\noutcome = "CMP-001.02"', 'path = "t.csv"')
    with pytest.raises(SpecError, match=rf"line 27: rob.domains: column 'Other bias'.*"
                                        rf"'Maybe'.*row 3 \(study '{study}'\)"):
        parse_spec(text, base_dir=tmp_path, path="review.toml")


MODELS = Path(__file__).parents[1] / "models"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The shipped multi-outcome review spec, run with its outputs written."""
    from bayesma.report.run import run_spec

    out = tmp_path_factory.mktemp("review")
    return run_spec(MODELS / "review_sore_throat.toml", out=out / "out")


def test_each_factor_gets_its_classical_and_bayesian_subgroup_analysis(run):
    res = run.outcomes[0]
    o = res.spec
    assert list(res.factors) == ["blinding", "era"]
    fr = res.factors["era"]
    ref = bm.subgroup(o.data, by="era", method="REML", test="knha", slab="study")
    assert fr.classical.qb == pytest.approx(ref.qb, rel=1e-12)
    assert fr.classical.qm_pval == pytest.approx(ref.qm_pval, rel=1e-12)
    post = bm.exact_subgroups(o.data, by="era", mu_prior=o.priors["mu"],
                              tau_prior=o.priors["tau"], measure="RR", slab="study")
    for lv in post.levels:
        assert fr.bayes.fits[lv].median("mu") == pytest.approx(post.fits[lv].median("mu"),
                                                               rel=1e-12)
    assert len(fr.bayes.levels) == 2
    # posterior difference of the level means: exact (ExactSubgroups.differences)
    from bayesma.pipeline.subgroup_factors import level_differences

    a, b = fr.bayes.levels
    d = fr.differences.iloc[0]
    exact = fr.bayes.difference(a, b)
    assert d["median"] == pytest.approx(exact.median(), rel=1e-12)
    assert (d["low"], d["high"]) == pytest.approx(exact.interval(0.95), rel=1e-12)
    assert d["prob_greater"] == pytest.approx(exact.prob_greater(0.0), rel=1e-12)
    assert d["low"] < d["median"] < d["high"]
    assert level_differences(fr.bayes, 0.95).equals(fr.differences)


def test_report_of_a_multi_outcome_spec_has_every_review_part(run):
    out = run.out_dir
    names = {str(Path(f).relative_to(out)) for f in run.files}
    assert {"prisma.png", "prisma.svg", "summary_of_findings.docx",
            "summary_of_findings.md", "summary_of_findings.csv", "report.html"} <= names
    for o in run.outcomes:
        for f in ("rob_traffic.png", "rob_summary.png", "forest.png",
                  "forest_by_blinding.png", "forest_by_era.png"):
            assert f"{o.spec.slug}/{f}" in names, (o.spec.slug, f)
    html = (out / "report.html").read_text()
    for text in ("Study selection (PRISMA 2020)", "Summary of findings", "GRADE ratings",
                 "Subgroups by blinding", "Subgroups by era", "Risk of bias",
                 "Tests for subgroup differences (classical)", "Fever on day 3"):
        assert text in html, text
    assert html.count("Subgroups by era</h3>") == 2
    sof = run.meta["sof"]
    assert list(sof.table["Outcome"]) == ["Sore throat on day 3", "Fever on day 3"]
    row = sof.table.iloc[0]
    post = run.outcomes[0].bayes
    assert row["Relative effect"].startswith(f"RR {np.exp(post.median('mu')):.2f} (95% CrI")
    d = run.outcomes[0].spec.data
    acr = float(np.median(d["ci"] / d["n2i"]))
    assert row["Risk with control"] == f"{int(np.floor(1000 * acr + 0.5))} per 1,000"
    r = sof.ratings[sof.ratings["Outcome"] == "Fever on day 3"].set_index("Domain")
    assert r.loc["Risk of bias", "Source"] == "user"
    assert r.loc["Risk of bias", "Reason"].startswith("3 of 7 trials")
    assert r.loc["Inconsistency", "Source"] == "proposed"
    assert r.loc["Publication bias", "Reason"].startswith("k = 7")

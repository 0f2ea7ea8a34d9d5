"""Outputs and the HTML report (bayesma/report.py): every file, every section, embedded
images, reproducibility block, and numbers that match the engines they came from."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayesma as bm
from bayesma.report import fmt, fmt_ci, fmt_p, fmt_prob, p_text
from bayesma.spec import load_spec, parse_spec, run_spec

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
# the full run of models/bcg_latitude.toml lives here (test_examples.py runs the others)


@pytest.fixture(scope="module")
def bcg_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "bcg_latitude"
    result = run_spec(MODELS / "bcg_latitude.toml", out=out)
    return result, out


@pytest.fixture(scope="module")
def html(bcg_run):
    return (bcg_run[1] / "report.html").read_text(encoding="utf-8")


def test_all_output_files_written(bcg_run):
    result, out = bcg_run
    for name in ("summary.csv", "summary.md", "forest.png", "forest.pdf", "funnel.png",
                 "prior_posterior.png", "regression.png", "sensitivity.csv", "leave1out.csv",
                 "subsets.csv", "posterior.nc", "posterior_overall.nc", "spec.toml",
                 "report.html"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "forest.pdf").read_bytes()[:4] == b"%PDF"
    assert (out / "forest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {Path(f).name for f in result.files} >= {"summary.csv", "report.html"}


def test_report_has_every_section(bcg_run, html):
    result, _ = bcg_run
    slug = result.outcomes[0].spec.slug
    for sid in ("overview", f"{slug}-summary", f"{slug}-forest", f"{slug}-heterogeneity",
                f"{slug}-moderators", f"{slug}-priorpost", f"{slug}-sensitivity",
                f"{slug}-bias", f"{slug}-diagnostics", "reproducibility"):
        assert f'id="{sid}"' in html, sid
    for text in ("Main result", "Summary: Bayesian and classical", "Heterogeneity",
                 "Meta-regression", "Prior sensitivity", "Leave-one-out", "Subsets",
                 "Publication bias", "Egger", "Trim-and-fill", "Convergence diagnostics",
                 "Reproducibility", "Package versions", "Spec as run"):
        assert text in html, text


def test_report_is_self_contained(html):
    images = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) >= 5  # forest, regression, prior/posterior, funnel, sensitivity...
    assert all(len(b) > 1000 for b in images)
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script" not in html and "<link" not in html
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")


def test_reproducibility_block(bcg_run, html):
    result, _ = bcg_run
    raw = (ROOT / "bayesma" / "datasets" / "data" / "bcg.csv").read_bytes()
    assert hashlib.sha256(raw).hexdigest() in html
    assert "20240611" in html  # the spec's seed
    import numpy
    import pymc

    assert f"numpy</b> {numpy.__version__}" in html
    assert f"pymc</b> {pymc.__version__}" in html
    assert "Colditz" in html  # data citation


def test_summary_csv_matches_the_engines(bcg_run):
    _, out = bcg_run
    s = pd.read_csv(out / "summary.csv").set_index("parameter")
    dat = bm.escalc("RR", data=bm.datasets.load("bcg"), ai="tpos", bi="tneg", ci="cpos",
                    di="cneg")
    mu_p, tau_p = bm.priors.Normal(0, 4), bm.priors.HalfNormal(0.5)
    post = bm.exact_posterior(dat, mu_prior=mu_p, tau_prior=tau_p, slab="author")
    res = bm.rma(dat, method="REML", test="knha")
    np.testing.assert_allclose(s.loc["mu", "bayes_median"], post.median("mu"), rtol=1e-9)
    np.testing.assert_allclose(s.loc["mu", ["bayes_low", "bayes_high"]],
                               post.interval("mu"), rtol=1e-9)
    np.testing.assert_allclose(s.loc["mu", "p_below_0"], post.prob_less("mu", 0), rtol=1e-9)
    np.testing.assert_allclose(s.loc["mu", ["classical", "classical_low", "classical_high"]],
                               [res.estimate, res.ci_low, res.ci_high], rtol=1e-9)
    np.testing.assert_allclose(s.loc["mu", "exp_bayes_median"], np.exp(post.median("mu")))
    # I² in percent for both engines
    assert 50 < s.loc["i2", "bayes_median"] < 100 and 50 < s.loc["i2", "classical"] < 100
    reg = bm.exact_posterior(dat, mods="~ ablat", mu_prior=mu_p, tau_prior=tau_p,
                             beta_prior=bm.priors.Normal(0, 1))
    mreg = bm.rma(dat, mods="~ ablat", method="REML", test="knha")
    np.testing.assert_allclose(s.loc["meta_regression|beta[ablat]", "bayes_median"],
                               reg.median("beta[ablat]"), rtol=1e-9)
    np.testing.assert_allclose(s.loc["meta_regression|beta[ablat]", "classical"],
                               mreg.coef.loc["ablat", "estimate"], rtol=1e-9)


def test_summary_markdown(bcg_run):
    _, out = bcg_run
    md = (out / "summary.md").read_text()
    assert md.startswith("# BCG vaccine")
    assert "| Outcome | k | Participants |" in md
    assert "| Slope: ablat |" in md
    assert "\u2212" not in md  # plain ASCII minus in Markdown


def test_posterior_and_spec_round_trip(bcg_run):
    result, out = bcg_run
    tree = xr.open_datatree(out / "posterior.nc", engine="h5netcdf")
    post = tree["posterior"]
    assert {"mu", "tau", "theta", "beta"} <= set(post.data_vars)
    assert post.sizes["chain"] == 4 and post.sizes["draw"] == 1000
    assert list(post["term"].values) == ["intrcpt", "ablat"]
    tree.close()
    again = load_spec(out / "spec.toml")
    assert again.raw["model"] == result.spec.raw["model"]
    assert again.sampler["seed"] == 20240611


def test_sensitivity_csv(bcg_run):
    _, out = bcg_run
    t = pd.read_csv(out / "sensitivity.csv")
    assert (t["kind"] == "bayes").sum() >= 4 and (t["kind"] == "classical").sum() == 1
    assert t["tau_prior"].iloc[0].startswith("spec: HalfNormal")
    assert t["tau_prior"].is_unique
    loo = pd.read_csv(out / "leave1out.csv")
    assert len(loo) == 13


MULTI = """\
title = "Two outcomes"
[data]
path = "{path}"
[effect]
measure = "SMD"
m1i = "m1i"
sd1i = "sd1i"
n1i = "n1i"
m2i = "m2i"
sd2i = "sd2i"
n2i = "n2i"
label = "study"
[sensitivity]
leave1out = false
psense = false
[bias]
funnel = false
egger = false
trimfill = false
ranktest = false
[outputs]
prior_posterior = false
posterior = false
[[outcomes]]
name = "Anxiety"
filter = "outcome == 'anxiety'"
[[outcomes]]
name = "Quality of life"
filter = "outcome == 'quality_of_life'"
[outcomes.model]
type = "subgroups"
by = "duration"
tau = "shared"
"""


def test_multi_outcome_report(tmp_path):
    data = MODELS / "data" / "ehealth_cancer.csv"
    sp = parse_spec(MULTI.format(path=data.as_posix()))
    result = run_spec(sp, out=tmp_path)
    ov = pd.read_csv(tmp_path / "overview.csv")
    assert list(ov["outcome"]) == ["Anxiety", "Quality of life"]
    table = pd.read_csv(data, comment="#")
    for name, key in (("Anxiety", "anxiety"), ("Quality of life", "quality_of_life")):
        rows = table[table["outcome"] == key]
        r = ov.set_index("outcome").loc[name]
        assert r["k"] == len(rows)
        assert r["participants"] == int(rows[["n1i", "n2i"]].to_numpy().sum())
        assert 0 <= r["p_below_0"] <= 1
    for slug in ("anxiety", "quality_of_life"):
        assert (tmp_path / slug / "forest.png").exists()
    html = (tmp_path / "report.html").read_text()
    assert "Results across outcomes" in html
    assert html.count('<section id="anxiety"') == 1
    assert "Subgroups by duration" in html and "Q-between" in html
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert set(summary["outcome"]) == {"Anxiety", "Quality of life"}
    sub = summary[summary["parameter"].str.startswith("subgroup|")]
    assert sub["parameter"].is_unique and len(sub) == 2
    assert result["Quality of life"].spec.model["by"] == "duration"


def test_formatting_helpers():
    assert fmt(-0.5) == "\u22120.50" and fmt(None) == "–" and fmt(float("nan")) == "–"
    assert fmt(-0.0001, 2) == "0.00"
    assert fmt_ci(0.5, 0.1, 0.9) == "0.50 [0.10, 0.90]"
    assert fmt_p(0.0001) == "< 0.001" and fmt_p(0.0123) == "0.012"
    assert p_text(0.0001) == "p < 0.001" and p_text(0.5) == "p = 0.500"
    assert fmt_prob(0.9999) == "> 0.999" and fmt_prob(0.5) == "0.500"


# ------------------------------------------------------------------------ issue 9


HOSTILE_TEXT = '<script>alert(1)</script> **bold** [link](http://x) | pipe'

INJECT = """\
title = "{title}"
description = "{title}"
[data]
path = "{path}"
[effect]
measure = "RR"
ai = "tpos"
bi = "tneg"
ci = "cpos"
di = "cneg"
label = "author"
lower_is_better = true
[model]
type = "meta_regression"
mods = "~ ablat"
[priors]
tau = {{ family = "HalfNormal", sigma = 0.5, source = "Roever et al. 2021, <b>not bold</b>" }}
[sampler]
seed = 1
[sensitivity]
psense = false
prior_sets = ["weakly informative"]
[bias]
funnel = false
egger = false
trimfill = false
ranktest = false
[outputs]
forest = false
prior_posterior = false
regression = false
posterior = false
"""


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    dat = bm.datasets.load("bcg").drop(columns=["yi", "vi"])
    dat.loc[0, "author"] = "=HYPERLINK(\"http://evil\",\"x\")"
    dat.loc[1, "author"] = "-2+3"
    dat.loc[2, "author"] = "@SUM(1,2)"
    dat.loc[3, "author"] = "<img src=x onerror=alert(1)>"
    (tmp / "d.csv").write_text(dat.to_csv(index=False))
    text = INJECT.format(title=HOSTILE_TEXT.replace('"', "'"), path=(tmp / "d.csv").as_posix())
    out = tmp / "out"
    result = run_spec(parse_spec(text), out=out)
    return result, out


def test_written_csvs_neutralise_formula_cells(hostile_run):
    _, out = hostile_run
    loo = pd.read_csv(out / "leave1out.csv", index_col=0)
    labels = [str(x) for x in loo.index]
    assert "'=HYPERLINK(\"http://evil\",\"x\")" in labels
    assert "'-2+3" in labels and "'@SUM(1,2)" in labels
    assert not any(lab.startswith(("=", "+", "-", "@")) for lab in labels)
    # numbers are never touched: negative estimates stay numbers
    assert (loo.select_dtypes("number") < 0).any().any()
    s = pd.read_csv(out / "summary.csv")
    assert pd.api.types.is_float_dtype(s["bayes_median"]) and (s["bayes_median"] < 0).any()


def test_csv_safe_unit():
    from bayesma.report import csv_safe

    df = pd.DataFrame({"label": ["=1+1", "+x", "-y", "@z", "\tq", "\rr", "ok", None],
                       "v": [-1.0, 2, 3, 4, 5, 6, 7, 8]})
    got = csv_safe(df)
    assert list(got["label"][:7]) == ["'=1+1", "'+x", "'-y", "'@z", "'\tq", "'\rr", "ok"]
    assert got["v"].tolist() == df["v"].tolist() and pd.isna(got["label"].iloc[7])
    assert df["label"].iloc[0] == "=1+1"  # the input is not modified


def test_summary_md_escapes_html_and_markdown(hostile_run):
    _, out = hostile_run
    md = (out / "summary.md").read_text()
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert "**bold**" not in md and "[link](" not in md
    assert "<img" not in md
    assert "| Slope: ablat |" in md


def test_report_escapes_text_and_shows_prior_source(hostile_run):
    _, out = hostile_run
    html = (out / "report.html").read_text()
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html and "<b>not bold</b>" not in html
    assert "Roever et al. 2021, &lt;b&gt;not bold&lt;/b&gt;" in html  # prior rationale shown


def test_overview_states_the_direction_of_benefit(hostile_run, tmp_path):
    result, _ = hostile_run
    row = result.outcomes[0].overview
    assert row["benefit"] == "RR < 1 (Favours treatment)"
    assert row["p_benefit"] == pytest.approx(row["p_below_0"])
    data = MODELS / "data" / "ehealth_cancer.csv"
    text = MULTI.format(path=data.as_posix()).replace(
        'filter = "outcome == \'quality_of_life\'"',
        'filter = "outcome == \'quality_of_life\'"\n[outcomes.effect]\nlower_is_better = false')
    text = text.replace('filter = "outcome == \'anxiety\'"',
                        'filter = "outcome == \'anxiety\'"\n[outcomes.effect]\n'
                        'lower_is_better = true')
    res = run_spec(parse_spec(text), out=tmp_path)
    ov = pd.read_csv(tmp_path / "overview.csv").set_index("outcome")
    assert ov.loc["Anxiety", "benefit"].startswith("SMD < 0")
    assert ov.loc["Quality of life", "benefit"].startswith("SMD > 0")
    q = res["Quality of life"].overview
    assert q["p_benefit"] == pytest.approx(1 - q["p_below_0"])
    html = (tmp_path / "report.html").read_text()
    assert "Benefit" in html and "P(benefit)" in html


def test_sensitivity_verdict_uses_the_shift_in_posterior_sds(hostile_run):
    from bayesma.pipeline import prior_shift

    result, out = hostile_run
    r = result.outcomes[0]
    sh = r.prior_shift
    t = r.sensitivity["priors"].table
    b = t[t["kind"] == "bayes"]
    want = np.max(np.abs(b["mu_median"] - r.bayes.median("mu"))) / r.bayes.sd("mu")
    assert sh["shift_in_sd"] == pytest.approx(want)
    assert "posterior SDs of μ" in (out / "report.html").read_text()

    class Post:
        def median(self, p):
            return 0.0

        def sd(self, p):
            return 0.2

    def table(medians):
        return pd.DataFrame({"kind": "bayes", "tau_prior": [f"p{i}" for i in range(len(
            medians))], "mu_median": medians, "mu_low": [m - 0.4 for m in medians],
            "mu_high": [m + 0.4 for m in medians]})

    # identical interval widths (a width-ratio verdict says "robust"), but the estimate
    # moves by half a posterior SD: sensitive
    assert prior_shift(table([0.0, 0.1]), Post(), 0.95)["word"] == "sensitive"
    assert prior_shift(table([0.0, 0.02]), Post(), 0.95)["word"] == "robust"


def test_warnings_while_running_are_repeated_in_the_report(tmp_path):
    dat = bm.datasets.load("bcg")
    dat.loc[4, "alloc"] = None
    (tmp_path / "d.csv").write_text(dat.to_csv(index=False))
    text = INJECT.format(title="caveats", path=(tmp_path / "d.csv").as_posix()).replace(
        'type = "meta_regression"\nmods = "~ ablat"', 'type = "subgroups"\nby = "alloc"')
    result = run_spec(parse_spec(text), out=tmp_path / "out")
    notes = result.outcomes[0].notes
    assert any("missing subgroup" in n for n in notes), notes
    html = (tmp_path / "out" / "report.html").read_text()
    assert "missing subgroup" in html

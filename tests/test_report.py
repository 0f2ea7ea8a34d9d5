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
                 "Small-study effects", "Egger", "Trim-and-fill", "Convergence diagnostics",
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

"""Every shipped spec end to end (exact engine; one with MCMC, few draws) and every
example script with BAYESMA_QUICK=1."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pandas as pd
import pytest

import bayesma as bm
from bayesma.spec import load_spec, run_spec

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
EXAMPLES = ROOT / "examples"
SPECS = sorted(MODELS.glob("*.toml"))
#: full runs made in test_report.py (not repeated here to keep the suite fast)
RUN_IN_TEST_REPORT = {"bcg_latitude"}
#: specs of issues 11-13 run with their outputs (and checked against the public API and
#: R's references) in test_pipeline_extensions.py
RUN_IN_TEST_PIPELINE_EXTENSIONS = {"konstantopoulos2011_multilevel", "rve_corrdat",
                                   "bias_hackshaw1998", "yusuf1985_pooling"}
#: MCMC specs run (with few draws) by the tests of their model, file relative to tests/
RUN_IN_MODEL_TESTS = {"berkey1998_multivariate": "bayes/test_multivariate_model.py",
                      "review_sore_throat": "test_review_outputs.py"}
#: public functions an example needs that are built in parallel (issues 11-13)
NEEDS = {"publication_bias_smoking": ("pet_peese", "selmodel", "selection_plot", "bma",
                                      "averaged_posterior_plot", "conv_wald")}
#: examples that sample with PyMC
MCMC_EXAMPLES = {"bcg_meta_regression"}


def test_every_shipped_spec_is_run_somewhere():
    for name, stems in (("test_report.py", RUN_IN_TEST_REPORT),
                        ("test_pipeline_extensions.py", RUN_IN_TEST_PIPELINE_EXTENSIONS)):
        text = (Path(__file__).with_name(name)).read_text()
        for stem in stems:
            assert f'run_spec(MODELS / "{stem}.toml", out=' in text, stem
        assert stems <= {p.stem for p in SPECS}
    for stem, name in RUN_IN_MODEL_TESTS.items():
        assert f'"{stem}.toml"' in (Path(__file__).parent / name).read_text(), stem
        assert stem in {p.stem for p in SPECS}


@pytest.mark.parametrize("path", [p for p in SPECS if p.stem not in (
    RUN_IN_TEST_REPORT | RUN_IN_TEST_PIPELINE_EXTENSIONS | set(RUN_IN_MODEL_TESTS))],
    ids=lambda p: p.stem)
def test_shipped_spec_exact(path, tmp_path):
    result = run_spec(path, out=tmp_path)
    sp = result.spec
    assert sp.engine == "exact"
    assert (tmp_path / "report.html").exists() and (tmp_path / "summary.csv").exists()
    ov = result.overview
    assert list(ov["outcome"]) == [o.name for o in sp.outcomes]
    for o, row, res in zip(sp.outcomes, ov.itertuples(), result.outcomes, strict=True):
        assert row.k == o.k
        assert row.mu_low < row.mu_median < row.mu_high
        if o.dependent is None:
            assert row.tau_low <= row.tau_median <= row.tau_high
        else:  # several effects per study: one tau per level, in the summary table
            taus = res.summary[res.summary["parameter"].str.startswith("tau")]
            assert len(taus) >= 1
            assert (taus["bayes_low"] <= taus["bayes_median"]).all()
            assert (taus["bayes_median"] <= taus["bayes_high"]).all()
        folder = tmp_path / o.slug if len(sp.outcomes) > 1 else tmp_path
        assert (folder / "forest.png").exists(), o.name
    # no figure failed to draw
    for o in result.outcomes:
        assert not [n for n in o.notes if "plot not drawn" in n], o.notes


@pytest.mark.slow
def test_shipped_spec_mcmc(tmp_path):
    sp = load_spec(MODELS / "bcg.toml",
                   overrides={"engine": "mcmc", "draws": 150, "tune": 150, "chains": 2})
    result = run_spec(sp, out=tmp_path)
    fit = result.outcomes[0].bayes
    assert type(fit).__name__ == "BayesFit"
    html = (tmp_path / "report.html").read_text()
    assert "R-hat" in html and "ESS bulk" in html and "divergent" in html
    assert "Power-scaling" in html
    from bayesma.bayes.fit import load

    again = load(tmp_path / "posterior.nc")
    assert again.k == 13
    s = pd.read_csv(tmp_path / "summary.csv").set_index("parameter")
    # MCMC agrees with the exact engine to Monte Carlo error
    o = sp.outcomes[0]
    post = bm.exact_posterior(o.data, mu_prior=o.priors["mu"], tau_prior=o.priors["tau"])
    assert abs(s.loc["mu", "bayes_median"] - post.median("mu")) < 0.1
    assert abs(s.loc["tau", "bayes_median"] - post.median("tau")) < 0.15


def _run_example(path: Path, out: Path, monkeypatch) -> None:
    monkeypatch.setenv("BAYESMA_QUICK", "1")
    monkeypatch.setenv("BAYESMA_OUT", str(out))
    monkeypatch.setattr(sys, "argv", [str(path)])
    runpy.run_path(str(path), run_name="__main__")


@pytest.mark.filterwarnings("ignore::bayesma.errors.SamplingWarning")
@pytest.mark.parametrize(
    "name",
    [pytest.param(p.stem, marks=pytest.mark.slow) if p.stem in MCMC_EXAMPLES else p.stem
     for p in sorted(EXAMPLES.glob("*.py"))])
def test_example_runs(name, tmp_path, monkeypatch, capsys):
    needs = NEEDS.get(name, ())
    missing = [n for n in needs if not hasattr(bm, n)]
    if missing:
        pytest.skip(f"engine(s) not available yet: {', '.join(missing)}")
    _run_example(EXAMPLES / f"{name}.py", tmp_path, monkeypatch)
    printed = capsys.readouterr().out
    assert "Figures written to" in printed
    pngs = list((tmp_path / name).glob("*.png"))
    assert pngs, f"{name} wrote no figure"


def test_required_examples_exist():
    assert {"bcg_meta_regression", "smd_review_subgroups", "choosing_empirical_prior",
            "three_level_school_calendars"} <= {p.stem for p in EXAMPLES.glob("*.py")}


def test_required_specs_of_issues_11_to_13_exist():
    stems = {p.stem for p in SPECS}
    assert {"konstantopoulos2011_multilevel", "bias_hackshaw1998",
            "yusuf1985_pooling"} <= stems

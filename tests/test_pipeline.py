"""bayesma/pipeline: runs a spec through the public API and returns every number the
report shows; the layers spec -> pipeline -> report import one way only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesma as bm
from bayesma.bayes.protocol import Posterior
from bayesma.bayes.subgroups import exact_subgroups
from bayesma.pipeline import OutcomeResult, SpecResult, run_analysis
from bayesma.spec import parse_spec

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "bayesma"

SUB = """\
title = "subgroups"
[data]
dataset = "bcg"
[effect]
measure = "RR"
ai = "tpos"
bi = "tneg"
ci = "cpos"
di = "cneg"
label = "author"
[model]
type = "subgroups"
by = "alloc"
tau = "{tau}"
[priors]
tau = {{ family = "HalfNormal", sigma = 0.5 }}
mu = {{ family = "Normal", mu = 0, sigma = 4 }}
[sampler]
seed = 1
[sensitivity]
leave1out = false
psense = false
[bias]
funnel = false
egger = false
trimfill = false
ranktest = false
"""


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _modules(path: Path) -> set[str]:
    """Every module a file imports at run time (top level and inside functions; imports
    for type checkers only, under ``if TYPE_CHECKING:``, are not run-time edges)."""
    tree = ast.parse(path.read_text())
    skip = {id(n) for t in ast.walk(tree) if _is_type_checking(t)
            for b in t.body for n in ast.walk(b)}
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


@pytest.mark.parametrize("layer, forbidden", [
    ("spec", ("bayesma.pipeline", "bayesma.report", "bayesma.cli")),
    ("pipeline", ("bayesma.report", "bayesma.cli")),
    ("report", ("bayesma.cli",)),
])
def test_layers_import_one_way(layer, forbidden):
    for f in sorted((PKG / layer).rglob("*.py")):
        bad = {m for m in _modules(f) if m.startswith(forbidden)}
        assert not bad, f"{f.relative_to(ROOT)} imports {bad}"


def test_importing_a_layer_loads_no_layer_above():
    code = ("import sys, bayesma.spec, bayesma.pipeline; "
            "print(sorted(m for m in sys.modules if m.startswith(('bayesma.report', "
            "'bayesma.cli'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
    code = ("import sys, bayesma.spec; print(sorted(m for m in sys.modules "
            "if m.startswith(('bayesma.pipeline', 'bayesma.report'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_old_names_still_import_from_spec():
    from bayesma.spec import OutcomeResult as OR
    from bayesma.spec import SpecResult as SR
    from bayesma.spec import run_spec

    assert OR is OutcomeResult and SR is SpecResult
    assert run_spec.__module__ == "bayesma.report.run"


def test_run_analysis_computes_without_writing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_analysis(parse_spec(SUB.format(tau="per_level")))
    assert list(tmp_path.iterdir()) == []
    (r,) = result.outcomes
    assert isinstance(r.bayes, Posterior) and r.classical.k == 13
    assert r.summary is not None and r.overview["k"] == 13


def test_exact_subgroup_differences_come_from_the_results():
    sp = parse_spec(SUB.format(tau="per_level"))
    (r,) = run_analysis(sp).outcomes
    o = sp.outcomes[0]
    ref = exact_subgroups(o.data, "alloc", mu_prior=o.priors["mu"], tau_prior=o.priors["tau"],
                          measure="RR", slab="author").differences(0.95)
    d = r.subgroup_differences
    assert len(d) == len(ref) == 3  # alternate, random, systematic
    np.testing.assert_allclose(d["median"], ref["median"], rtol=1e-9)
    np.testing.assert_allclose(d[["low", "high"]], ref[["low", "high"]], rtol=1e-9)
    np.testing.assert_allclose(d["prob_greater"], ref["prob_greater"], rtol=1e-9)
    assert set(r.moderator_bayes) == {"alternate", "random", "systematic"}


def test_shared_tau_differences_from_the_joint_posterior():
    sp = parse_spec(SUB.format(tau="shared"))
    (r,) = run_analysis(sp).outcomes
    d = r.subgroup_differences.set_index(["a", "b"])
    mb = r.moderator_bayes
    assert isinstance(mb, Posterior)
    term_a, term_b = "beta[C(alloc)[alternate]]", "beta[C(alloc)[random]]"
    diff = mb.draws(term_a, random_seed=1) - mb.draws(term_b, random_seed=1)
    got = d.loc[("alternate", "random")]
    assert got["median"] == pytest.approx(np.median(diff))
    # the mean of the difference is the difference of the means (to Monte Carlo error)
    assert abs(np.mean(diff) - (mb.mean(term_a) - mb.mean(term_b))) < 0.02


def test_notes_start_with_the_spec_caveats():
    sp = parse_spec(SUB.format(tau="per_level"))
    sp.outcomes[0].caveats.append("a caveat from reading the spec")
    (r,) = run_analysis(sp).outcomes
    assert r.notes[0] == "a caveat from reading the spec"


def test_overview_has_benefit_columns():
    sp = parse_spec(SUB.format(tau="per_level").replace('label = "author"',
                                                        'label = "author"\nlower_is_better = '
                                                        'true'))
    result = run_analysis(sp)
    ov = result.overview
    assert isinstance(ov, pd.DataFrame)
    assert ov.loc[0, "benefit"] == "RR < 1 (Favours treatment)"
    assert ov.loc[0, "p_benefit"] == pytest.approx(ov.loc[0, "p_below_0"])
    assert bm.datasets.load("bcg").shape[0] == ov.loc[0, "k"]


def test_separate_subgroup_fits_carry_their_classical_twin():
    sp = parse_spec(SUB.format(tau="per_level"))
    (r,) = run_analysis(sp).outcomes
    s = r.summary[r.summary["parameter"].str.startswith("subgroup|")].set_index("label")
    ref = bm.subgroup(sp.outcomes[0].data, by="alloc", method="REML", test="knha").table
    for lv, row in ref.iterrows():
        got = s.loc[f"Subgroup alloc = {lv}"]
        np.testing.assert_allclose(
            got[["classical", "classical_low", "classical_high"]].astype(float),
            row[["estimate", "ci_low", "ci_high"]].astype(float), rtol=1e-9)
        np.testing.assert_allclose(float(got["exp_classical"]), np.exp(row["estimate"]),
                                   rtol=1e-9)
        assert got["classical_pval"] == pytest.approx(row["pval"])

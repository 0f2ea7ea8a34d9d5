"""The ``bayesma`` command line (bayesma/cli.py) through typer's CliRunner: exit codes,
one-line errors without tracebacks, --version, datasets, escalc, check and fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import bayesma as bm
from bayesma.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("error: "), result.stderr
    assert len(lines) <= 2 and all(ln.startswith(("error: ", "hint: ")) for ln in lines)
    for n in needles:
        assert n in result.stderr, result.stderr


def test_version():
    r = invoke("--version")
    assert r.exit_code == 0
    assert r.stdout.strip() == f"bayesma {bm.__version__}"


def test_help_and_version_import_no_fitting_or_plotting_code():
    # the commands import what they need when they run: --help stays instant
    import subprocess
    import sys

    code = ("import sys; from typer.testing import CliRunner; from bayesma.cli import app; "
            "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; "
            "r = CliRunner().invoke(app, ['--version']); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in sys.modules if m.startswith(('bayesma.pipeline', "
            "'bayesma.report', 'bayesma.spec', 'bayesma.bayes', 'matplotlib', 'scipy', "
            "'pymc'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_no_arguments_shows_help():
    r = invoke()
    assert "fit" in r.output and "escalc" in r.output and "datasets" in r.output


def test_datasets_lists_and_shows():
    r = invoke("datasets")
    assert r.exit_code == 0
    for name in bm.datasets.names():
        assert name in r.stdout
    r = invoke("datasets", "bcg")
    assert r.exit_code == 0
    assert "Colditz" in r.stdout and "k = 13" in r.stdout


def test_datasets_unknown_is_one_line():
    assert_one_line_error(invoke("datasets", "bgc"), "unknown dataset 'bgc'")


def test_escalc_matches_python_api(tmp_path):
    df = bm.datasets.load("normand1999").drop(columns=["yi", "vi"])
    src, dst = tmp_path / "in.csv", tmp_path / "sub" / "out.csv"
    df.to_csv(src, index=False)
    r = invoke("escalc", "SMD", src, dst, "--m1i", "m1i", "--sd1i", "sd1i", "--n1i", "n1i",
               "--m2i", "m2i", "--sd2i", "sd2i", "--n2i", "n2i")
    assert r.exit_code == 0, r.output
    got = pd.read_csv(dst)
    ref = bm.escalc("SMD", data=df, m1i="m1i", sd1i="sd1i", n1i="n1i", m2i="m2i",
                    sd2i="sd2i", n2i="n2i")
    np.testing.assert_allclose(got["yi"], ref["yi"], rtol=1e-12)
    np.testing.assert_allclose(got["vi"], ref["vi"], rtol=1e-12)
    assert list(got.columns) == list(ref.columns)


def test_escalc_2x2_with_var_names(tmp_path):
    df = bm.datasets.load("bcg").drop(columns=["yi", "vi"])
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    df.to_csv(src, index=False)
    r = invoke("escalc", "OR", src, dst, "--ai", "tpos", "--bi", "tneg", "--ci", "cpos",
               "--di", "cneg", "--var-names", "lor,v")
    assert r.exit_code == 0, r.output
    got = pd.read_csv(dst)
    ref = bm.escalc("OR", data=df, ai="tpos", bi="tneg", ci="cpos", di="cneg")
    np.testing.assert_allclose(got["lor"], ref["yi"], rtol=1e-12)
    np.testing.assert_allclose(got["v"], ref["vi"], rtol=1e-12)


def test_escalc_errors_are_one_line(tmp_path):
    assert_one_line_error(invoke("escalc", "SMD", tmp_path / "missing.csv", tmp_path / "o.csv",
                                 "--m1i", "a"), "file not found", "missing.csv")
    df = bm.datasets.load("normand1999")
    src = tmp_path / "in.csv"
    df.to_csv(src, index=False)
    r = invoke("escalc", "SMD", src, tmp_path / "o.csv", "--m1i", "mean1", "--sd1i", "sd1i",
               "--n1i", "n1i", "--m2i", "m2i", "--sd2i", "sd2i", "--n2i", "n2i")
    assert_one_line_error(r, "mean1")
    assert_one_line_error(invoke("escalc", "XYZ", src, tmp_path / "o.csv", "--yi", "yi",
                                 "--vi", "vi"), "XYZ")
    assert_one_line_error(invoke("escalc", "SMD", src, tmp_path / "o.csv"), "no columns given")


def test_check_valid_and_invalid(tmp_path):
    r = invoke("check", ROOT / "models" / "bcg_latitude.toml")
    assert r.exit_code == 0 and "ok" in r.stdout and "meta_regression" in r.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text((ROOT / "models" / "bcg.toml").read_text().replace(
        'family = "HalfNormal"', 'family = "HalfNormol"'))
    assert_one_line_error(invoke("check", bad), "bad.toml, line", "priors.tau.family",
                          "did you mean 'HalfNormal'?")


def test_fit_errors_are_one_line(tmp_path):
    assert_one_line_error(invoke("fit", tmp_path / "nope.toml"), "spec file not found")
    bad = tmp_path / "bad.toml"
    text = (ROOT / "models" / "bcg.toml").read_text().replace('measure = "RR"',
                                                              'measur = "RR"')
    bad.write_text(text)
    r = invoke("fit", bad, "--out", tmp_path / "out")
    assert_one_line_error(r, "line", "effect.measur", "did you mean 'measure'?")
    assert not (tmp_path / "out").exists()
    assert_one_line_error(invoke("fit", ROOT / "models" / "bcg.toml", "--engine", "gibbs"),
                          "--engine")
    assert_one_line_error(invoke("fit", tmp_path), "is a directory")


SLIM = """\
title = "BCG, slim"
[data]
dataset = "bcg"
[effect]
measure = "RR"
ai = "tpos"
bi = "tneg"
ci = "cpos"
di = "cneg"
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
[outputs]
forest = false
prior_posterior = false
"""


def test_fit_writes_outputs_with_progress(tmp_path):
    spec = tmp_path / "slim.toml"
    spec.write_text(SLIM)
    out = tmp_path / "slim"
    r = invoke("fit", spec, "--out", out, "--seed", "3")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == str(out / "report.html")
    assert "· BCG, slim" in r.stderr and "done in" in r.stderr  # progress lines
    for name in ("report.html", "summary.csv", "summary.md", "posterior.nc", "spec.toml"):
        assert (out / name).exists(), name
    assert not (out / "forest.png").exists()
    assert "seed = 3" in (out / "spec.toml").read_text()
    assert "--seed 3" in (out / "report.html").read_text()
    # quiet: nothing on stderr; default output directory out/<spec name>
    r = invoke("fit", spec, "-q", "--engine", "exact")
    assert r.exit_code == 0, r.output
    assert r.stderr.strip() == ""
    assert Path(r.stdout.strip()) == Path("out") / "slim" / "report.html"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("opt", ["--draws", "--chains"])
def test_fit_rejects_bad_numbers(tmp_path, opt):
    r = invoke("fit", ROOT / "models" / "bcg.toml", opt, "0", "--out", tmp_path / "x")
    assert_one_line_error(r, "must be >= 1")


# ------------------------------------------------------------------------ issue 9: data safety


def _slim(tmp_path: Path, text: str = SLIM) -> Path:
    spec = tmp_path / "slim.toml"
    spec.write_text(text)
    return spec


def test_check_never_evaluates_a_hostile_filter(tmp_path):
    marker = tmp_path / "pwned"
    spec = _slim(tmp_path, SLIM.replace(
        'dataset = "bcg"', f"dataset = \"bcg\"\nfilter = \"year > "
        f"@pd.io.common.os.system('touch {marker}')\""))
    r = invoke("check", spec)
    assert_one_line_error(r, "data.filter")
    assert not marker.exists()
    r = invoke("fit", spec, "--out", tmp_path / "o")
    assert_one_line_error(r, "data.filter")
    assert not marker.exists() and not (tmp_path / "o").exists()


def test_fit_refuses_a_foreign_folder_unless_overwrite(tmp_path):
    spec = _slim(tmp_path)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.docx").write_text("years of work")
    assert_one_line_error(invoke("fit", spec, "--out", out), "--out", "not empty",
                          "--overwrite")
    assert sorted(p.name for p in out.iterdir()) == ["thesis.docx"]
    r = invoke("fit", spec, "--out", out, "--overwrite", "-q")
    assert r.exit_code == 0, r.output
    assert (out / "thesis.docx").read_text() == "years of work"
    assert (out / "report.html").exists()


def test_refit_leaves_no_stale_outputs_and_no_temporary_folders(tmp_path):
    out = tmp_path / "res"
    spec = _slim(tmp_path, SLIM.replace("forest = false\n", ""))
    r = invoke("fit", spec, "--out", out, "-q")
    assert r.exit_code == 0, r.output
    assert (out / "forest.png").exists() and (out / ".bayesma-manifest.json").exists()
    spec = _slim(tmp_path)  # forest = false now
    r = invoke("fit", spec, "--out", out, "-q")
    assert r.exit_code == 0, r.output
    assert not (out / "forest.png").exists() and not (out / "forest.pdf").exists()
    assert (out / "report.html").exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".res.")]
    assert leftovers == []


def test_ctrl_c_exits_130_and_leaves_no_partial_folder(tmp_path, monkeypatch):
    import bayesma.report.files as files

    spec = _slim(tmp_path)
    out = tmp_path / "res"
    assert invoke("fit", spec, "--out", out, "-q").exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(files, "summary_markdown", interrupted)  # mid-way through writing
    r = invoke("fit", spec, "--out", out, "--seed", "9")
    assert r.exit_code == 130
    assert "interrupted" in r.stderr and "Traceback" not in r.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # old run intact
    assert [p.name for p in tmp_path.iterdir() if ".bayesma-" in p.name] == []
    new = tmp_path / "new"
    assert invoke("fit", spec, "--out", new).exit_code == 130
    assert not new.exists()


def test_a_lock_stops_a_second_run_into_the_same_folder(tmp_path):
    import os

    spec = _slim(tmp_path)
    out = tmp_path / "res"
    lock = tmp_path / ".res.bayesma.lock"
    lock.write_text(f"{os.getpid()}\n")  # a live process holds it
    assert_one_line_error(invoke("fit", spec, "--out", out), "another bayesma run")
    assert not out.exists()
    lock.write_text("999999999\n")  # a dead process: stale lock, taken over
    r = invoke("fit", spec, "--out", out, "-q")
    assert r.exit_code == 0, r.output
    assert not lock.exists()


def test_out_at_a_file_or_under_a_file_is_one_line(tmp_path):
    spec = _slim(tmp_path)
    f = tmp_path / "taken.txt"
    f.write_text("x")
    for target in (f, f / "sub"):
        r = invoke("fit", spec, "--out", target)
        assert_one_line_error(r, "--out")
        assert "unexpected" not in r.stderr and "bug" not in r.stderr
    assert f.read_text() == "x"


def test_binary_spec_is_one_line(tmp_path):
    p = tmp_path / "data.toml"
    p.write_bytes(bytes(range(256)))
    for cmd in ("check", "fit"):
        r = invoke(cmd, p)
        assert_one_line_error(r, "not a text file")
        assert "unexpected" not in r.stderr


def test_escalc_refuses_to_overwrite_its_input(tmp_path):
    df = bm.datasets.load("bcg").drop(columns=["yi", "vi"])
    src = tmp_path / "in.csv"
    df.to_csv(src, index=False)
    before = src.read_bytes()
    r = invoke("escalc", "RR", src, src, "--ai", "tpos", "--bi", "tneg", "--ci", "cpos",
               "--di", "cneg")
    assert_one_line_error(r, "input")
    assert src.read_bytes() == before
    (tmp_path / "sub").mkdir()
    r = invoke("escalc", "RR", src, tmp_path / "sub" / ".." / "in.csv", "--ai", "tpos",
               "--bi", "tneg", "--ci", "cpos", "--di", "cneg")
    assert_one_line_error(r, "input")
    assert src.read_bytes() == before


def test_escalc_output_neutralises_formula_cells(tmp_path):
    df = bm.datasets.load("bcg").drop(columns=["yi", "vi"])
    df.loc[0, "author"] = "=HYPERLINK(\"http://x\")"
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    df.to_csv(src, index=False)
    r = invoke("escalc", "RR", src, dst, "--ai", "tpos", "--bi", "tneg", "--ci", "cpos",
               "--di", "cneg")
    assert r.exit_code == 0, r.output
    got = pd.read_csv(dst)
    assert got.loc[0, "author"].startswith("'=")
    assert (got["yi"] < 0).any()  # numbers stay numbers


def test_bad_command_line_value_blames_the_command_line(tmp_path):
    r = invoke("fit", ROOT / "models" / "bcg.toml", "--draws", "0", "--out", tmp_path / "x")
    assert_one_line_error(r, "command line", "--draws")
    assert "bcg.toml" not in r.stderr


def test_check_lists_the_tau_prior_of_each_level():
    r = invoke("check", ROOT / "models" / "konstantopoulos2011_multilevel.toml")
    assert r.exit_code == 0, r.output
    assert "multilevel" in r.output
    assert "tau[district] ~ HalfNormal(sigma=0.5); tau[school] ~ HalfNormal(sigma=0.5)" in (
        r.output)

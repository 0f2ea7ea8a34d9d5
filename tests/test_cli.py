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

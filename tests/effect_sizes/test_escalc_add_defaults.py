"""metafor's per-measure default of ``add`` (1/2, or 0 for AS, PHI, RTET, PAS, PFT, IRS,
IRFT, IRSD) reaches escalc from the spec and the command line when they give no ``add``."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import bayesma as bm
from bayesma.cli import app
from bayesma.spec import parse_spec

#: a table with a zero cell (row 2) and one without
TABLES = "study,ai,n1i,ci,n2i\nS1,4,50,9,52\nS2,0,40,5,41\nS3,7,60,12,58\n"
COLS = dict(ai="ai", n1i="n1i", ci="ci", n2i="n2i")


def _spec(measure: str, extra: str = "") -> str:
    return (f'[data]\npath = "t.csv"\n[effect]\nmeasure = "{measure}"\nai = "ai"\n'
            f'n1i = "n1i"\nci = "ci"\nn2i = "n2i"\nlabel = "study"\n{extra}'
            '[sampler]\nengine = "exact"\n')


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    f = tmp_path_factory.mktemp("add")
    (f / "t.csv").write_text(TABLES)
    return f


@pytest.mark.parametrize(("measure", "default"), [("AS", 0.0), ("OR", 0.5), ("YUQ", 0.5)])
def test_spec_without_add_uses_metafors_default(folder, measure, default):
    df = pd.read_csv(folder / "t.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = parse_spec(_spec(measure), base_dir=folder).outcomes[0].data
    want = bm.escalc(measure, df, **COLS)
    np.testing.assert_allclose(got["yi"].to_numpy(float), want["yi"].to_numpy(float),
                               rtol=1e-14)
    assert want.attrs["continuity_correction"]["add"] == default
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # add = 0 leaves S2's log OR undefined
        other = bm.escalc(measure, df, **COLS, add=0.5 - default)
    assert not np.allclose(other["yi"].to_numpy(float)[1], want["yi"].to_numpy(float)[1])


def test_spec_add_to_drop00_still_apply(folder):
    df = pd.read_csv(folder / "t.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = parse_spec(_spec("AS", 'add = 0.5\nto = "all"\n'),
                         base_dir=folder).outcomes[0].data
    want = bm.escalc("AS", df, **COLS, add=0.5, to="all")
    np.testing.assert_allclose(got["yi"].to_numpy(float), want["yi"].to_numpy(float),
                               rtol=1e-14)
    assert not np.allclose(want["yi"], bm.escalc("AS", df, **COLS)["yi"])


def test_cli_without_add_uses_metafors_default(folder, tmp_path):
    dst = tmp_path / "out.csv"
    r = CliRunner().invoke(app, ["escalc", "AS", str(folder / "t.csv"), str(dst), "--ai", "ai",
                                 "--n1i", "n1i", "--ci", "ci", "--n2i", "n2i"])
    assert r.exit_code == 0, r.output
    want = bm.escalc("AS", pd.read_csv(folder / "t.csv"), **COLS)  # add = 0
    np.testing.assert_allclose(pd.read_csv(dst)["yi"], want["yi"], rtol=1e-12)

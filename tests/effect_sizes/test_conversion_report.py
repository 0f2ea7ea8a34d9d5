"""``[[effect.convert]]`` through a spec: the report's table of converted inputs names the
study, the values converted, the method and the values they became."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bayesma as bm
from bayesma.report.pooling import conversions_table
from bayesma.spec import parse_spec, run_spec

STUDIES = """study,m1,sd1,n1,m2,sd2,n2,med1,q1_1,q3_1,med2,q1_2,q3_2
Adams,10.2,3.1,40,8.9,3.4,42,,,,,,
Baker,,,35,,,33,9.5,7.0,12.5,8.0,6.0,10.5
Clark,11.0,2.8,60,9.7,3.0,58,,,,,,
Dunn,,,28,,,30,10.0,8.0,13.0,9.0,7.5,11.0
Evans,9.8,3.3,50,9.1,3.1,49,,,,,,
"""

SPEC = """title = "Conversions"
[data]
path = "studies.csv"
[effect]
measure = "MD"
m1i = "m1"
sd1i = "sd1"
n1i = "n1"
m2i = "m2"
sd2i = "sd2"
n2i = "n2"
label = "study"
[[effect.convert]]
type = "fivenum"
median = "med1"
q1 = "q1_1"
q3 = "q3_1"
n = "n1"
into = ["m1", "sd1"]
[[effect.convert]]
type = "fivenum"
median = "med2"
q1 = "q1_2"
q3 = "q3_2"
n = "n2"
into = ["m2", "sd2"]
[sampler]
engine = "exact"
seed = 1
[sensitivity]
leave1out = false
psense = false
"""


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conv")
    (folder / "studies.csv").write_text(STUDIES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_spec(parse_spec(SPEC, base_dir=folder)).outcomes[0], folder


def test_spec_conversions_equal_conv_fivenum(converted):
    res, folder = converted
    df = pd.read_csv(folder / "studies.csv")
    step = bm.conv_fivenum(df, median="med1", q1="q1_1", q3="q3_1", n="n1",
                           var_names=("m1", "sd1"))
    step = bm.conv_fivenum(step, median="med2", q1="q1_2", q3="q3_2", n="n2",
                           var_names=("m2", "sd2"))
    dat = res.spec.data
    for c in ("m1", "sd1", "m2", "sd2"):
        np.testing.assert_allclose(dat[c].to_numpy(float), step[c].to_numpy(float), rtol=1e-12)
    direct = bm.escalc("MD", step, m1i="m1", sd1i="sd1", n1i="n1", m2i="m2", sd2i="sd2",
                       n2i="n2")
    np.testing.assert_allclose(dat["yi"].to_numpy(float), direct["yi"].to_numpy(float),
                               rtol=1e-12)


def test_report_table_shows_converted_inputs_and_results(converted):
    res, _ = converted
    table = conversions_table(res)
    assert table.head == ["Study", "Conversion", "From", "Method", "Result"]
    assert [r[0] for r in table.rows] == ["Baker", "Dunn", "Baker", "Dunn"]
    baker = table.rows[0]
    assert baker[1] == "conv_fivenum" and baker[3] == "luo/wan/shi"
    assert baker[2] == "q1_1 = 7, med1 = 9.5, q3_1 = 12.5, n1 = 35"
    dat = res.spec.data
    assert baker[4] == (f"m1 = {dat.at[1, 'm1']:.4f}, sd1 = {dat.at[1, 'sd1']:.4f}")
    assert table.rows[3][2] == "q1_2 = 7.5, med2 = 9, q3_2 = 11, n2 = 30"
    # studies that reported means and SDs are not listed
    assert not {"Adams", "Clark", "Evans"} & {r[0] for r in table.rows}

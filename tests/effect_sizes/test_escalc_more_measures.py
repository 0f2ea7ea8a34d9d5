"""The rest of metafor 3.8.1's measures (session 19): argument checks, bad input naming the
column and row, metafor's special cases, and the back-transforms of the measures registry."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from bayesma.effect_sizes import UndefinedEffectWarning, escalc
from bayesma.effect_sizes.association import tetrachoric
from bayesma.errors import BayesmaError, DataError
from bayesma.measures import get_measure

PAIRS = pd.DataFrame({"study": ["A", "B"], "a": [12, 5], "b": [7, 3], "c": [3, 6],
                      "d": [40, 25], "r": [0.3, 0.45]})
CELLS = dict(ai="a", bi="b", ci="c", di="d")


def test_mporm_needs_ri_and_checks_it() -> None:
    with pytest.raises(BayesmaError, match=r"'MPORM' needs .*ri.*missing: ri"):
        escalc("MPORM", PAIRS, **CELLS)
    bad = PAIRS.assign(r=[0.3, 1.4])
    with pytest.raises(DataError, match=r"'r'.*between -1 and 1.*study 'B'") as e:
        escalc("MPORM", bad, **CELLS, ri="r")
    assert e.value.column == "r" and e.value.rows == [1]
    with pytest.raises(BayesmaError, match="'MPOR' does not use ri"):
        escalc("MPOR", PAIRS, **CELLS, ri="r")


def test_reh_counts_are_checked() -> None:
    df = pd.DataFrame({"study": ["G1", "G2"], "aa": [120, 45], "ab": [90, -1], "bb": [15, 12]})
    with pytest.raises(DataError, match=r"'ab'.*study 'G2'") as e:
        escalc("REH", df, ai="aa", bi="ab", ci="bb")
    assert e.value.column == "ab"
    with pytest.raises(BayesmaError, match="'REH' needs ai, bi, ci"):
        escalc("REH", df, ai="aa", bi="ab")


def test_smd1_uses_only_the_sd_of_group_2_and_small_groups_are_errors() -> None:
    df = pd.DataFrame({"study": ["A", "B"], "m1": [10.0, 12.0], "m2": [8.0, 11.0],
                       "s1": [2.0, 3.0], "s2": [2.5, 2.0], "n1": [20, 30], "n2": [22, 2]})
    args = dict(m1i="m1", m2i="m2", sd2i="s2", n1i="n1", n2i="n2")
    with pytest.raises(DataError, match=r"'n2'.*>= 3 for SMD1.*study 'B'"):
        escalc("SMD1", df, **args)
    ok = df.iloc[:1]
    a = escalc("SMD1", ok, **args)
    b = escalc("SMD1", ok, **args, sd1i="s1")
    assert a["yi"].iloc[0] == b["yi"].iloc[0]  # sd1i is optional and unused
    with pytest.raises(BayesmaError, match="'SMD1H' needs"):
        escalc("SMD1H", ok, **args)


def test_tetrachoric_special_cases_follow_metafor() -> None:
    assert tetrachoric(0, 0, 5, 7) == (0.0, float("inf"))  # an empty margin
    assert tetrachoric(5, 0, 0, 7) == (1.0, 0.0)
    assert tetrachoric(0, 5, 7, 0) == (-1.0, 0.0)
    r, v = tetrachoric(10, 0, 4, 12)  # a zero off-diagonal cell: rho = 1, vi NA (metafor)
    assert r == 1.0 and np.isnan(v)
    # vi = 0 is a study without uncertainty: escalc refuses it, naming the row
    df = pd.DataFrame({"study": ["A", "B"], "a": [5, 6], "b": [0, 3], "c": [0, 4],
                       "d": [7, 9]})
    with pytest.raises(DataError, match=r"sampling variance is <= 0.*study 'A'"):
        escalc("RTET", df, **CELLS)
    # an empty margin: metafor's Inf variance becomes NaN with a warning
    df = pd.DataFrame({"study": ["A", "B"], "a": [0, 6], "b": [10, 3], "c": [0, 4],
                       "d": [7, 9]})
    with pytest.warns(UndefinedEffectWarning, match="study 'A'"):
        out = escalc("RTET", df, **CELLS)
    assert np.isnan(out["yi"].iloc[0]) and np.isfinite(out["yi"].iloc[1])


def test_association_measures_default_to_no_correction() -> None:
    df = pd.DataFrame({"study": ["A", "B"], "a": [0, 6], "b": [10, 3], "c": [4, 4],
                       "d": [7, 9]})
    for m in ("AS", "PHI"):
        out = escalc(m, df, **CELLS)
        assert out.attrs["continuity_correction"] == {"add": 0.0, "to": "only0", "rows": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = escalc("YUQ", df, **CELLS)
    assert out.attrs["continuity_correction"]["rows"] == [0]  # add = 1/2 (metafor)
    assert np.isfinite(out["yi"]).all()


@pytest.mark.parametrize("vtype", ["ST", "CS"])
def test_vtypes_of_phi_and_rpb(vtype: str) -> None:
    df = pd.DataFrame({"a": [12, 5], "b": [7, 3], "c": [3, 6], "d": [40, 25]})
    assert np.isfinite(escalc("PHI", df, **CELLS, vtype=vtype)["vi"]).all()
    with pytest.raises(BayesmaError, match="vtype='ST' is not available for measure 'YUQ'"):
        escalc("YUQ", df, **CELLS, vtype="ST")


def test_back_transforms_of_the_new_ratio_measures() -> None:
    for code in ("MPRR", "MPOR", "MPORC", "MPPETO", "MPORM", "REH", "D2OR"):
        m = get_measure(code)
        assert m.log_scale and m.back(np.log(2.0)) == pytest.approx(2.0)
    for code in ("AS", "PHI", "YUQ", "YUY", "RTET", "RPB", "RBIS", "SMN", "SMD1H", "OR2D",
                 "MPRD"):
        m = get_measure(code)
        assert not m.log_scale and m.back(0.3) == 0.3 and m.code == code

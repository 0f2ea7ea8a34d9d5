"""bm.subgroup (bayesma/classical/subgroup.py) against metafor's subgroup references."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from conftest import DATASETS, assert_close, reference, shared_data
from scipy import stats

from bayesma.classical.rma import rma
from bayesma.classical.subgroup import SubgroupResult, q_between, subgroup
from bayesma.errors import DataError, DroppedRowsWarning

#: datasets whose reference has a subgroup section
SUBGROUP = [d for d in DATASETS if reference(d)["subgroup"] is not None]

#: reference field -> RMAResult attribute (fields as in rma.methods)
FIELDS = {
    "b": "estimate",
    "se": "se",
    "zval": "stat",
    "pval": "pval",
    "ci.lb": "ci_low",
    "ci.ub": "ci_high",
    "tau2": "tau2",
    "se.tau2": "se_tau2",
    "tau": "tau",
    "I2": "i2",
    "H2": "h2",
    "QE": "q",
    "QEdf": "q_df",
    "QEp": "q_pval",
    "k": "k",
    "p": "p",
}


def _sub(name: str, **kw) -> SubgroupResult:
    ref = reference(name)["subgroup"]
    return subgroup(shared_data(name), yi="yi", vi="vi", by=ref["moderator"], **kw)


def test_reference_datasets_present():
    assert set(SUBGROUP) >= {
        "bcg",
        "bangertdrowns2004",
        "raudenbush1985",
        "hackshaw1998",
        "molloy2014",
    }


@pytest.mark.parametrize("name", SUBGROUP)
def test_fits_match_metafor(name):
    ref = reference(name)["subgroup"]
    sub = _sub(name)
    assert [str(lev) for lev in sub.levels] == ref["levels"]
    assert [str(lev) for lev in sub.fits] == ref["levels"]
    for lev, fit in sub.fits.items():
        r = ref["fits"][str(lev)]
        for field, attr in FIELDS.items():
            assert_close(getattr(fit, attr), r[field], what=f"{name} {lev} {field}")
        assert fit.method == r["method"]
        assert fit.test == r["test"]


@pytest.mark.parametrize("name", SUBGROUP)
def test_metareg_test_matches_metafor(name):
    ref = reference(name)["subgroup"]["test_metareg"]
    sub = _sub(name)
    assert_close(sub.qm, ref["QM"], what=f"{name} QM")
    assert_close(sub.qm_df, ref["QMdf"], what=f"{name} QMdf")
    assert_close(sub.qm_pval, ref["QMp"], what=f"{name} QMp")
    assert sub.metareg.qm == sub.qm
    assert sub.metareg.k == sum(f.k for f in sub.fits.values())
    assert sub.metareg.p == len(sub.levels)


@pytest.mark.parametrize("name", SUBGROUP)
def test_separate_test_matches_metafor(name):
    ref = reference(name)["subgroup"]["test_separate"]
    sub = _sub(name)
    assert [str(lev) for lev in sub.levels] == ref["levels_used"]
    assert_close(sub.qb, ref["Qb"], what=f"{name} Qb")
    assert sub.qb_df == ref["df"]
    assert_close(sub.qb_pval, ref["pval"], what=f"{name} Qb pval")


@pytest.mark.parametrize("name", SUBGROUP)
def test_table_rows_are_the_fits(name):
    sub = _sub(name)
    tab = sub.table
    assert list(tab.columns) == [
        "k",
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "pval",
        "tau2",
        "i2",
        "q",
        "q_pval",
    ]
    assert list(tab.index) == list(sub.levels)
    assert tab.index.name == sub.by
    for lev, fit in sub.fits.items():
        row = tab.loc[lev]
        assert row["k"] == fit.k
        for col, attr in [
            ("estimate", "estimate"),
            ("se", "se"),
            ("ci_low", "ci_low"),
            ("ci_high", "ci_high"),
            ("pval", "pval"),
            ("tau2", "tau2"),
            ("i2", "i2"),
            ("q", "q"),
            ("q_pval", "q_pval"),
        ]:
            assert row[col] == getattr(fit, attr)


def test_qb_is_qe_of_equal_effects_fit():
    """Q-between = QE of rma(yi=b, sei=se, method='FE') over the level fits."""
    sub = _sub("bcg")
    levels = pd.DataFrame({"b": sub.table["estimate"], "se": sub.table["se"]})
    ee = rma(levels, yi="b", sei="se", method="EE")
    assert_close(sub.qb, ee.q)
    assert_close(sub.qb_pval, ee.q_pval)
    q, df, p = q_between([0.0, 1.0], [1.0, 1.0])
    assert (q, df) == (0.5, 1)
    assert p == pytest.approx(stats.chi2.sf(0.5, 1))


def test_contract_example_and_summary():
    sub = subgroup(shared_data("bcg"), yi="yi", vi="vi", by="alloc", method="REML")
    assert sub.fits["random"].k == 7
    assert sub.method == "REML" and sub.test == "z" and sub.level == 0.95
    with pytest.raises(dataclasses.FrozenInstanceError):
        sub.qb = 0.0  # type: ignore[misc]
    text = str(sub)
    assert text == sub.summary()
    for part in (
        "alternate",
        "random",
        "systematic",
        "Q-between(df = 2) = 1.8614",
        "QM(df = 2) = 1.7675",
        "own between-study variance",
        "single tau^2",
    ):
        assert part in text
    # the table comes before the tests
    assert text.index("systematic") < text.index("Tests of subgroup differences")
    assert "SubgroupResult(by='alloc'" in repr(sub)


def test_knha_gives_f_test():
    d = shared_data("bcg")
    sub = subgroup(d, by="alloc", test="knha")
    reg = rma(d, mods="~ factor(alloc)", test="knha")
    assert sub.qm_df == (2, 10)
    assert_close(sub.qm, reg.qm)
    assert_close(sub.qm_pval, reg.qm_pval)
    assert sub.fits["random"].test == "knha"
    assert "F(df1 = 2, df2 = 10)" in str(sub)
    # Q-between uses the knha-scaled SEs of the level fits
    assert_close(sub.qb, q_between(sub.table["estimate"], sub.table["se"])[0])


def test_method_and_level_passed_to_every_fit():
    d = shared_data("bcg")
    sub = subgroup(d, by="alloc", method="DL", level=0.9)
    for lev, fit in sub.fits.items():
        alone = rma(d[d["alloc"] == lev], method="DL", level=0.9)
        assert_close(fit.estimate, alone.estimate)
        assert_close(fit.ci_low, alone.ci_low)
        assert_close(fit.tau2, alone.tau2)
        assert fit.method == "DL"
    assert sub.metareg.method == "DL"


def test_single_study_level_is_equal_effects_fit():
    """A level with k = 1 is the study itself (metafor's rma: k = 1 -> EE, z test)."""
    d = shared_data("bcg")
    d.loc[12, "alloc"] = "zzz"  # last study alone in its level
    sub = subgroup(d, by="alloc")
    one = sub.fits["zzz"]
    assert sub.single == ("zzz",)
    assert one.k == 1 and one.method == "EE" and one.test == "z"
    assert_close(one.estimate, d.loc[12, "yi"])
    assert_close(one.se, np.sqrt(d.loc[12, "vi"]))
    assert one.tau2 == 0.0
    assert sub.qb_df == 3
    assert_close(sub.qb, q_between(sub.table["estimate"], sub.table["se"])[0])
    assert sub.metareg.p == 4 and sub.metareg.k == 13
    assert "single study" in str(sub)


def test_missing_by_dropped_with_warning_naming_rows():
    d = shared_data("bcg")
    d["alloc"] = d["alloc"].astype(object)
    d.loc[3, "alloc"] = None
    with pytest.warns(DroppedRowsWarning, match=r"row 3") as rec:
        sub = subgroup(d, by="alloc")
    assert "alloc" in str(rec[0].message)
    assert sub.dropped == [3]
    assert sub.metareg.k == 12
    expected = subgroup(d.drop(index=3), by="alloc")
    assert_close(sub.qb, expected.qb)
    assert_close(sub.qm, expected.qm)
    assert "dropped" in str(sub)


def test_missing_by_names_study_label():
    d = shared_data("bcg")
    d["study"] = [f"S{i}" for i in range(len(d))]
    d["alloc"] = d["alloc"].astype(object)
    d.loc[5, "alloc"] = np.nan
    with pytest.warns(DroppedRowsWarning, match=r"row 5 \(study 'S5'\)"):
        subgroup(d, by="alloc", slab="study")


def test_numeric_levels_with_nan_become_integers():
    d = shared_data("bangertdrowns2004")
    d.loc[0, "grade"] = np.nan  # the column becomes float
    with pytest.warns(DroppedRowsWarning):
        sub = subgroup(d, by="grade")
    assert sub.levels == (1, 2, 3, 4)
    assert all(type(lev) is int for lev in sub.levels)
    assert sub.fits[4].k == 20


def test_categorical_order_is_kept():
    d = shared_data("bcg")
    d["alloc"] = pd.Categorical(d["alloc"], categories=["systematic", "random", "alternate"])
    sub = subgroup(d, by="alloc")
    assert sub.levels == ("systematic", "random", "alternate")
    assert_close(sub.qb, _sub("bcg").qb)
    assert_close(sub.qm, _sub("bcg").qm)


def test_one_level_is_an_error():
    d = shared_data("bcg")
    d["alloc"] = "random"
    with pytest.raises(DataError, match="at least two levels") as exc:
        subgroup(d, by="alloc")
    assert exc.value.column == "alloc"


def test_all_missing_is_an_error():
    d = shared_data("bcg")
    d["alloc"] = np.nan
    with pytest.warns(DroppedRowsWarning), pytest.raises(DataError, match="no values"):
        subgroup(d, by="alloc")


def test_unknown_column_is_an_error():
    with pytest.raises(DataError, match="'nope'") as exc:
        subgroup(shared_data("bcg"), by="nope")
    assert exc.value.column == "nope"


def test_column_name_needing_quotes():
    d = shared_data("bcg").rename(columns={"alloc": "allocation method"})
    sub = subgroup(d, by="allocation method")
    assert_close(sub.qm, _sub("bcg").qm)


def test_result_holds_everything_a_subgroup_forest_plot_needs():
    # issue 10: plots draw results and never refit; the overall fit is on the result
    dat = shared_data("bcg")
    sub = subgroup(dat, by="alloc", method="REML")
    ref = rma(dat, method="REML")
    assert sub.overall is not None
    assert sub.overall.estimate == pytest.approx(ref.estimate)
    assert sub.overall.tau2 == pytest.approx(ref.tau2)
    np.testing.assert_allclose(sub.overall.weights, ref.weights)
    assert len(sub.data) == len(dat)
    assert set(sub.fits) == set(sub.levels)
    assert sub.qb_df == len(sub.levels) - 1 and sub.qm_pval is not None

"""bm.pet_peese against R's lm() (tests/reference/selmodel/make_pet_peese.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesma as bm
from bayesma.errors import BayesmaError, TooFewStudiesError

REF = Path(__file__).parent.parent / "reference" / "selmodel"
CASES = json.loads((REF / "pet_peese_reference.json").read_text())["cases"]


def _fit(name: str):
    d = pd.read_csv(REF / f"{name}.csv")
    return bm.rma(d, yi="yi", vi="vi")


@pytest.mark.parametrize("name", sorted(CASES))
def test_pet_and_peese_match_lm(name):
    pp = bm.pet_peese(_fit(name))
    for part, fit in (("pet", pp.pet), ("peese", pp.peese)):
        r = CASES[name][part]
        got = [fit.estimate, fit.se, fit.stat, fit.pval, fit.slope, fit.slope_se,
               fit.slope_pval, fit.ci_low, fit.ci_high, fit.sigma, fit.df]
        want = [r["intercept"], r["se"], r["tval"], r["pval"], r["slope"], r["slope_se"],
                r["slope_pval"], r["ci_lb"], r["ci_ub"], r["sigma"], r["df"]]
        np.testing.assert_allclose(got, want, rtol=1e-8, err_msg=f"{name} {part}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_conditional_rule(name):
    pp = bm.pet_peese(_fit(name))
    # Stanley & Doucouliagos 2014: PEESE when PET's intercept is significant one-sided
    t = pp.pet.stat if pp.direction == "greater" else -pp.pet.stat
    expect = "PEESE" if t > 0 and pp.pet_one_sided_pval < 0.05 else "PET"
    assert pp.chosen == expect
    assert pp.estimate == (pp.peese.estimate if expect == "PEESE" else pp.pet.estimate)
    assert pp.pet_one_sided_pval == pytest.approx(
        pp.pet.pval / 2 if t > 0 else 1 - pp.pet.pval / 2, rel=1e-10)


def test_peese_chosen_when_pet_intercept_significant():
    rng = np.random.default_rng(3)
    vi = rng.uniform(0.01, 0.2, 30)
    yi = 0.5 + 0.3 * np.sqrt(vi) + rng.normal(0, np.sqrt(vi))
    res = bm.rma(pd.DataFrame({"yi": yi, "vi": vi}), yi="yi", vi="vi")
    pp = bm.pet_peese(res)
    assert pp.pet_one_sided_pval < 0.05 and pp.chosen == "PEESE"
    assert pp.estimate == pp.peese.estimate
    # the opposite direction makes PET's intercept "non-significant" -> PET
    assert bm.pet_peese(res, direction="less").chosen == "PET"
    line = pp.pet.estimate + pp.pet.slope * np.array([0, 0.1])
    assert np.allclose(pp.pet.predict([0.0, 0.1]), line)
    assert np.allclose(pp.peese.predict([0.2]), pp.peese.estimate + pp.peese.slope * 0.04)


def test_printout_and_frame():
    pp = bm.pet_peese(_fit("hackshaw1998"))
    text = str(pp)
    assert "PET" in text and "PEESE" in text and "Conditional estimate" in text
    tab = pp.to_frame()
    assert list(tab.index) == ["PET", "PEESE"] and tab["chosen"].sum() == 1


def test_errors():
    d = pd.read_csv(REF / "hahn2001.csv")
    with pytest.raises(TooFewStudiesError):
        bm.pet_peese(bm.rma(d.iloc[:2], yi="yi", vi="vi", method="EE"))
    with pytest.raises(BayesmaError, match="intercept-only"):
        bm.pet_peese(bm.rma(d.assign(x=np.arange(len(d))), yi="yi", vi="vi", mods=["x"]))
    with pytest.raises(BayesmaError, match="direction"):
        bm.pet_peese(bm.rma(d, yi="yi", vi="vi"), direction="up")
    same = pd.DataFrame({"yi": [0.1, 0.2, 0.3, 0.4], "vi": [0.1] * 4})
    with pytest.raises(BayesmaError, match="same standard error"):
        bm.pet_peese(bm.rma(same, yi="yi", vi="vi"))
    with pytest.raises(BayesmaError):
        bm.pet_peese("not a fit")

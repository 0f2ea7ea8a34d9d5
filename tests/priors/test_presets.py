"""Published prior presets: values against the papers' tables, densities, errors.

Expected numbers are typed in from the published tables (Turner et al. 2015 Table IV;
Rhodes et al. 2015 Table 3 / A.3.1 / A.3.2; Bartoš et al. 2021 / 2023 Cochrane-wide
priors), not read from bayesma's CSV files.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from bayesma.errors import BayesmaError
from bayesma.priors.families import (
    HalfNormal,
    InverseGamma,
    LogNormalTau2,
    LogStudentTTau2,
    StudentT,
)
from bayesma.priors.presets import (
    bartos2021,
    bartos2021_table,
    list_presets,
    rhodes2015,
    rhodes2015_table,
    turner2015,
    turner2015_table,
)

# ---------------------------------------------------------------------------------------
# Turner et al. (2015), Table IV: (outcome, comparison) -> (mu, sigma) of log(tau²)
# ---------------------------------------------------------------------------------------
TURNER_CELLS = [
    ("all-cause mortality", "pharmacological vs placebo / control", -3.95, 1.34),
    ("obstetric outcomes", "pharmacological vs placebo / control", -3.52, 1.74),
    ("withdrawals / drop-outs", "pharmacological vs pharmacological", -3.23, 1.79),
    ("adverse events", "non-pharmacological vs placebo / control", -2.10, 1.71),
    ("pain", "non-pharmacological vs pharmacological", -0.80, 1.25),
    ("biological markers (dichotomized)", "non-pharmacological vs pharmacological", -0.74, 1.24),
    ("subjective outcomes (various)", "non-pharmacological vs non-pharmacological", -2.26, 1.45),
    ("all-cause mortality", "non-pharmacological vs pharmacological", -2.92, 1.02),
    ("internal / structure-related outcomes", "non-pharmacological vs placebo / control",
     -2.93, 1.92),
]


@pytest.mark.parametrize(("outcome", "comparison", "mu", "sigma"), TURNER_CELLS)
def test_turner_cells(outcome, comparison, mu, sigma):
    p = turner2015(outcome, comparison)
    assert isinstance(p, LogNormalTau2)
    assert (p.mu, p.sigma) == (mu, sigma)
    assert "Stat Med 2015;34(6):984-998" in p.source
    assert outcome in p.source and comparison in p.source and "Table IV" in p.source


def test_turner_general_setting():
    p = turner2015()
    assert (p.mu, p.sigma) == (-2.56, 1.74)
    assert "general healthcare setting" in p.source


@pytest.mark.parametrize("comparison", [
    "pharma vs placebo", "placebo vs pharmacological", "Pharmacological versus control",
    ("placebo / control", "pharmacological"), ["drug", "placebo"],
])
def test_turner_comparison_spellings(comparison):
    assert turner2015("all-cause mortality", comparison).mu == -3.95


@pytest.mark.parametrize(("outcome", "mu"), [
    ("All-cause mortality", -3.95), ("obstetric", -3.52), ("mental health", -2.12),
    ("quality of life", -2.54), ("subjective", -2.70), ("cause-specific mortality", -3.71),
    ("biomarkers", -1.77), ("QoL", -2.54),
])
def test_turner_outcome_spellings(outcome, mu):
    assert turner2015(outcome, "pharmacological vs placebo").mu == mu


def test_turner_table_is_additive():
    # Turner et al.'s model is additive in outcome and comparison type on log(tau²):
    # a transcription error would show up as a residual.
    df = turner2015_table()
    df = df[df["outcome"] != "any"]
    m = df.pivot(index="outcome", columns="comparison", values="mu").to_numpy()
    assert m.shape == (16, 5)
    r = m - m.mean(0) - m.mean(1)[:, None] + m.mean()
    assert np.abs(r).max() < 0.011


# ---------------------------------------------------------------------------------------
# Rhodes et al. (2015), Tables 3, A.3.1, A.3.2: (outcome, comparison, area) -> (mu, sigma)
# ---------------------------------------------------------------------------------------
RHODES_CELLS = [
    ("obstetric outcome", "pharmacological vs placebo / control", "other", -4.13, 2.34),
    ("resource use and hospital stay / process", "pharmacological vs pharmacological",
     "other", -2.83, 2.70),
    ("general physical health and adverse event and pain and quality of life / functioning",
     "pharmacological vs pharmacological", "other", -3.44, 2.44),
    ("various subjectively measured outcomes", "non-pharmacological (any)", "other", -2.62,
     2.41),
    ("mental health outcome", "pharmacological vs placebo / control", "respiratory", -4.90,
     2.17),
    ("resource use and hospital stay / process", "pharmacological vs pharmacological",
     "respiratory", -4.73, 2.70),
    ("internal and external structure-related outcome", "non-pharmacological (any)",
     "respiratory", -4.19, 2.33),
    ("resource use and hospital stay / process", "pharmacological vs placebo / control",
     "cancer", 0.01, 2.83),
    ("mental health outcome", "non-pharmacological (any)", "cancer", -0.29, 2.08),
    ("biological marker", "pharmacological vs pharmacological", "cancer", -1.13, 2.87),
]


@pytest.mark.parametrize(("outcome", "comparison", "area", "mu", "sigma"), RHODES_CELLS)
def test_rhodes_cells(outcome, comparison, area, mu, sigma):
    p = rhodes2015(outcome, comparison, area)
    assert isinstance(p, LogStudentTTau2)
    assert (p.mu, p.sigma, p.nu) == (mu, sigma, 5.0)
    assert "J Clin Epidemiol" in p.source and outcome in p.source and area in p.source


def test_rhodes_general_setting():
    p = rhodes2015()
    assert (p.mu, p.sigma, p.nu) == (-3.44, 2.59, 5.0)


def test_rhodes_anomalous_cells_kept_as_published():
    a = rhodes2015("mental health", "non-pharmacological vs placebo", "other")
    assert (a.mu, a.sigma) == (-3.85, 1.93)
    assert "additive pattern" in a.source
    b = rhodes2015("internal and external structure", "pharmacological vs placebo", "cancer")
    assert (b.mu, b.sigma) == (-0.13, 2.61)
    assert "additive pattern" in b.source
    doc = rhodes2015.__doc__
    assert "-3.85" in doc and "-0.13" in doc


def test_rhodes_table_additive_except_two_cells():
    df = rhodes2015_table()
    df = df[df["area"] != "any"].copy()
    assert len(df) == 72
    # fit log(tau²) location = area + outcome + comparison by least squares
    x = np.column_stack(
        [np.ones(len(df))]
        + [(df[c] == lev).to_numpy(float) for c in ("area", "outcome", "comparison")
           for lev in sorted(df[c].unique())[1:]]
    )
    flagged = (df["note"] != "").to_numpy()
    assert flagged.sum() == 2
    beta, *_ = np.linalg.lstsq(x[~flagged], df["mu"].to_numpy()[~flagged], rcond=None)
    resid = df["mu"].to_numpy() - x @ beta
    assert np.abs(resid[~flagged]).max() < 0.02
    assert np.abs(resid[flagged]).min() > 0.2


def test_rhodes_comparisons_collapse_non_pharmacological():
    ref = rhodes2015("pain", "non-pharmacological (any)", "other")
    for c in ["non-pharma vs placebo", "pharmacological vs non-pharmacological",
              "non-pharmacological", ("non-pharmacological", "non-pharmacological")]:
        assert rhodes2015("pain", c, "other") == ref
    assert ref.mu == -3.02


# ---------------------------------------------------------------------------------------
# Bartoš et al.: Cochrane-wide priors per measure
# ---------------------------------------------------------------------------------------
BARTOS = {
    "SMD": (5, 0.43, InverseGamma(1.71, 0.40)),
    "OR": (4, 0.58, InverseGamma(1.77, 0.55)),
    "RR": (3, 0.32, InverseGamma(1.51, 0.23)),
    "RD": (1, 0.034, HalfNormal(0.099)),
    "HR": (2, 0.13, InverseGamma(2.42, 0.30)),
}


@pytest.mark.parametrize("measure", list(BARTOS))
def test_bartos(measure):
    nu, scale, tau = BARTOS[measure]
    pri = bartos2021(measure)
    assert set(pri) == {"mu", "tau"}
    assert pri["mu"] == StudentT(nu, 0.0, scale)
    assert pri["tau"] == tau
    for p in pri.values():
        assert "Bartoš" in p.source
    expected_ref = "Stat Med 2021" if measure == "SMD" else "arXiv:2306.11468"
    assert expected_ref in pri["mu"].source and expected_ref in pri["tau"].source


def test_bartos_aliases():
    assert bartos2021("logOR") == bartos2021("or") == bartos2021("odds ratio")
    assert bartos2021() == bartos2021("SMD")


# ---------------------------------------------------------------------------------------
# Densities: proper on tau, median on tau² at exp(mu)
# ---------------------------------------------------------------------------------------
DENSITY_PRIORS = [
    turner2015(),
    turner2015("all-cause mortality", "pharmacological vs placebo"),
    turner2015("pain", "non-pharmacological vs pharmacological"),
    rhodes2015(),
    rhodes2015("mental health", "non-pharmacological", "other"),
    rhodes2015("internal", "pharma vs placebo", "cancer"),
    bartos2021("SMD")["tau"],
    bartos2021("RD")["tau"],
]


def _mass(prior, lo=0.0, hi=math.inf):
    # integrate the density of tau over (lo, hi) via u = log(tau)
    def f(u: float) -> float:
        if abs(u) > 500:  # tau = exp(u) under/overflows; the density there is ~0
            return 0.0
        return math.exp(float(prior.logpdf(math.exp(u))) + u)

    ulo = -math.inf if lo == 0 else math.log(lo)
    uhi = math.inf if hi == math.inf else math.log(hi)
    return integrate.quad(f, ulo, uhi, limit=200, epsabs=1e-12, epsrel=1e-10)[0]


@pytest.mark.parametrize("prior", DENSITY_PRIORS, ids=str)
def test_density_of_tau_integrates_to_one(prior):
    assert _mass(prior) == pytest.approx(1.0, abs=1e-7)
    # also directly over tau (no substitution) for the proper-tailed part
    direct = integrate.quad(lambda t: float(prior.pdf(t)), 0, 50, limit=400)[0]
    assert direct == pytest.approx(prior.cdf(50.0), abs=1e-6)


@pytest.mark.parametrize("prior", [p for p in DENSITY_PRIORS if hasattr(p, "nu") or
                                   isinstance(p, LogNormalTau2)], ids=str)
def test_median_of_tau2_is_exp_mu(prior):
    median_tau = math.exp(prior.mu / 2)
    assert float(prior.ppf(0.5)) ** 2 == pytest.approx(math.exp(prior.mu), rel=1e-10)
    assert _mass(prior, 0.0, median_tau) == pytest.approx(0.5, abs=1e-8)


def test_lognormal_tau2_matches_closed_form():
    p = turner2015("all-cause mortality", "pharmacological vs placebo")
    t = np.array([0.01, 0.1, 0.3, 1.0])
    # log(tau²) ~ N(-3.95, 1.34²)  =>  tau ~ LogNormal(-3.95/2, 1.34/2)
    mu, s = -3.95 / 2, 1.34 / 2
    expected = -np.log(t * s * math.sqrt(2 * math.pi)) - (np.log(t) - mu) ** 2 / (2 * s * s)
    np.testing.assert_allclose(p.logpdf(t), expected, rtol=1e-12)


# ---------------------------------------------------------------------------------------
# Every table cell builds a valid prior
# ---------------------------------------------------------------------------------------
def test_every_turner_cell_constructs():
    df = turner2015_table()
    assert len(df) == 1 + 16 * 5
    for row in df.itertuples():
        p = (turner2015() if row.outcome == "any"
             else turner2015(row.outcome, row.comparison))
        assert (p.mu, p.sigma) == (row.mu, row.sigma)
        assert np.isfinite(p.logpdf(0.2)) and p.proper and p.param == "tau"


def test_every_rhodes_cell_constructs():
    df = rhodes2015_table()
    assert len(df) == 1 + 8 * 3 * 3
    for row in df.itertuples():
        p = (rhodes2015() if row.area == "any"
             else rhodes2015(row.outcome, row.comparison, row.area))
        assert (p.mu, p.sigma, p.nu) == (row.mu, row.sigma, row.nu)
        assert np.isfinite(p.logpdf(0.2)) and p.proper and p.param == "tau"


def test_every_bartos_row_constructs():
    for m in bartos2021_table()["measure"]:
        pri = bartos2021(m)
        assert pri["mu"].param == "mu" and pri["tau"].param == "tau"
        assert np.isfinite(pri["mu"].logpdf(0.1)) and np.isfinite(pri["tau"].logpdf(0.1))


def test_tables_cite_their_sources():
    for fn, words in [(turner2015_table, ["Stat Med 2015", "Table IV", "bayesmeta"]),
                      (rhodes2015_table, ["J Clin Epidemiol 2015", "Table 3", "A.3.2"]),
                      (bartos2021_table, ["Stat Med 2021", "arXiv:2306.11468", "BayesTools"])]:
        header = " ".join(fn().attrs["source"])
        for w in words:
            assert w in header


def test_list_presets():
    df = list_presets()
    assert list(df["preset"]) == ["turner2015", "rhodes2015", "bartos2021"]
    assert df.set_index("preset").loc["turner2015", "cells"] == 81


def test_tables_are_copies():
    a = turner2015_table()
    a.loc[0, "mu"] = 99.0
    assert turner2015().mu == -2.56


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------
def test_unknown_outcome_lists_valid_and_suggests():
    with pytest.raises(BayesmaError, match="Did you mean 'pain'") as exc:
        turner2015("pian", "pharma vs placebo")
    assert "all-cause mortality" in str(exc.value) and "Valid outcomes" in str(exc.value)
    with pytest.raises(ValueError, match="unknown outcome 'anxiety'.*Valid outcomes"):
        rhodes2015("anxiety", "pharma vs placebo", "cancer")


def test_ambiguous_outcome():
    with pytest.raises(BayesmaError, match="ambiguous.*all-cause mortality.*cause-specific"):
        turner2015("mortality", "pharma vs placebo")


def test_bad_comparisons():
    with pytest.raises(BayesmaError, match="not one of Turner et al.'s comparison types"):
        turner2015("pain", "non-pharmacological vs any")
    with pytest.raises(BayesmaError, match="not one of Rhodes et al.'s comparison types"):
        rhodes2015("pain", "placebo vs control", "other")
    with pytest.raises(BayesmaError, match="unknown comparator 'surgery'"):
        turner2015("pain", "surgery vs placebo")
    with pytest.raises(BayesmaError, match="cannot read comparison"):
        turner2015("pain", 3)


def test_missing_arguments():
    with pytest.raises(BayesmaError, match="missing: area"):
        rhodes2015("mental health", "non-pharmacological")
    with pytest.raises(BayesmaError, match="missing: comparison"):
        turner2015("pain")


def test_unknown_area_and_measure():
    with pytest.raises(BayesmaError, match="unknown area 'lung'.*'other'; 'respiratory'"):
        rhodes2015("pain", "pharma vs placebo", "lung")
    with pytest.raises(BayesmaError, match="Did you mean 'SMD'.*Valid measures"):
        bartos2021("SMDH")
    with pytest.raises(BayesmaError, match="Valid measures"):
        bartos2021("ZCOR")

"""Specs of issues 11-13 end to end: every number the pipeline reports equals the public
function called directly (multilevel, RVE, selection models, PET-PEESE, model averaging,
MH / Peto / GLMM pooling, conversions), and the report shows them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import bayesma as bm
from bayesma.report.text import fmt_bf as bm_fmt_bf
from bayesma.spec import parse_spec, run_spec

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"

# ------------------------------------------------------------------ three-level model
@pytest.fixture(scope="module")
def multilevel(tmp_path_factory):
    out = tmp_path_factory.mktemp("ml")
    return run_spec(MODELS / "konstantopoulos2011_multilevel.toml", out=out), out


def test_multilevel_spec_equals_the_public_api(multilevel):
    result, _ = multilevel
    res = result.outcomes[0]
    dat = bm.datasets.load("konstantopoulos2011")
    random = "~ 1 | district/school"
    ml = bm.rma_mv(dat, yi="yi", vi="vi", random=random)
    assert res.dependent.classical.sigma2 == pytest.approx(ml.sigma2, rel=1e-10)
    cr2 = bm.robust(ml, cluster=dat["district"].to_numpy(), clubSandwich=True)
    post = bm.exact_posterior(dat, yi="yi", vi="vi", random=random,
                              mu_prior=bm.priors.Normal(0, 1),
                              tau_prior={"district": bm.priors.HalfNormal(0.5),
                                         "school": bm.priors.HalfNormal(0.5)})
    s = res.summary.set_index("parameter")
    assert list(s.index) == ["mu", "tau[district]", "tau[school]"]
    assert s.loc["mu", "bayes_median"] == pytest.approx(post.median("mu"), rel=1e-10)
    lo, hi = post.interval("tau[school]", prob=0.95)
    assert (s.loc["tau[school]", "bayes_low"], s.loc["tau[school]", "bayes_high"]) == (
        pytest.approx(lo, rel=1e-10), pytest.approx(hi, rel=1e-10))
    c = cr2.coef.loc["intrcpt"]
    assert s.loc["mu", "classical"] == pytest.approx(c["estimate"], rel=1e-12)
    assert s.loc["mu", "classical_low"] == pytest.approx(c["ci_low"], rel=1e-12)
    assert s.loc["tau[district]", "classical"] == pytest.approx(math.sqrt(ml.sigma2[0]))
    assert s.loc["tau[school]", "classical"] == pytest.approx(math.sqrt(ml.sigma2[1]))
    # metafor 3.8 rma.mv(yi, vi, random = ~ 1 | district/school, data=dat.konstantopoulos2011)
    assert ml.estimate == pytest.approx(0.1847, abs=5e-5)
    assert ml.sigma2 == pytest.approx([0.0651, 0.0327], abs=5e-5)
    ov = result.overview.iloc[0]
    assert ov["mu_median"] == pytest.approx(post.median("mu"), rel=1e-10)


def test_multilevel_report(multilevel):
    result, out = multilevel
    html = (out / "report.html").read_text()
    for text in ("Variance components", "τ[district]", "τ[school]", "I² (classical)",
                 "three-level random effects", "CR2"):
        assert text in html, text
    assert (out / "forest.png").exists() and (out / "posterior.nc").exists()
    res = result.outcomes[0]
    assert not [n for n in res.notes if "not drawn" in n or "not written" in n], res.notes
    i2 = res.dependent.i2_levels
    if i2 is not None:  # metafor's multilevel I² per level, shown in the table
        assert f"{float(np.asarray(i2, float)[0]):.1f}%".replace("-", "−") in html


def test_multilevel_with_moderators_and_within_study_correlation():
    text = (MODELS / "konstantopoulos2011_multilevel.toml").read_text().replace(
        'random = "~ 1 | district/school"',
        'random = "~ 1 | district/school"\nmods = "~ year"')
    sp = parse_spec(text, base_dir=MODELS)
    res = run_spec(sp).outcomes[0]
    s = res.summary.set_index("parameter")
    assert "beta[year]" in s.index
    dat = bm.datasets.load("konstantopoulos2011")
    ml = bm.rma_mv(dat, yi="yi", vi="vi", random="~ 1 | district/school", mods="~ year")
    assert res.dependent.classical.coef.loc["year", "estimate"] == pytest.approx(
        ml.coef.loc["year", "estimate"], rel=1e-10)


# ------------------------------------------------------------------ publication bias
@pytest.fixture(scope="module")
def bias(tmp_path_factory):
    # the one run of the publication-bias spec (RoBMA's 36 models included) shared by
    # every bias test below
    out = tmp_path_factory.mktemp("bias")
    return run_spec(MODELS / "bias_hackshaw1998.toml", out=out), out


def test_conversion_from_confidence_intervals(bias):
    result, _ = bias
    o = result.spec.outcomes[0]
    dat = bm.datasets.load("hackshaw1998")
    # metadat's yi/vi are computed from the same ORs and CIs (log scale, 95% CI)
    assert o.data["yi"].to_numpy() == pytest.approx(dat["yi"].to_numpy(), rel=1e-10)
    assert o.data["vi"].to_numpy() == pytest.approx(dat["vi"].to_numpy(), rel=1e-10)
    assert o.data.attrs.get("conversions") is not None


def test_bias_models_equal_the_public_api(bias):
    result, _ = bias
    res = result.outcomes[0]
    c = res.classical
    for t in ("stepfun", "beta", "halfnorm"):
        direct = bm.selmodel(c, type=t, steps=[0.025, 1.0] if t == "stepfun" else None)
        got = res.bias["selmodel"][t]
        assert got.estimate == pytest.approx(direct.estimate, rel=1e-10)
        assert got.lrt == pytest.approx(direct.lrt, rel=1e-10)
    pp = bm.pet_peese(c)
    assert res.bias["pet_peese"].estimate == pytest.approx(pp.estimate, rel=1e-12)
    o = res.spec
    ba = bm.bma(o.data, yi="yi", vi="vi", mu_prior=o.priors["mu"], tau_prior=o.priors["tau"])
    assert res.bias["bma"].bf_effect == pytest.approx(ba.bf_effect, rel=1e-10)
    assert res.bias["egger"].pval == pytest.approx(bm.regtest(c).pval, rel=1e-12)
    # RoBMA on the same data and measure: its four no-bias models are bm.bma's models
    # under RoBMA's default priors (exact marginal likelihoods)
    rb = res.bias["robma"]
    assert rb.measure == "OR" and rb.k == 37
    default = bm.bma(o.data, yi="yi", vi="vi", measure="OR")
    none = rb.models[rb.models["bias"] == "none"]
    got = {(bool(e), bool(h)): v for e, h, v in zip(none["effect"], none["heterogeneity"],
                                                    none["log_ml"], strict=True)}
    for (e, h), name in {(False, False): "fixed_H0", (True, False): "fixed_H1",
                         (False, True): "random_H0", (True, True): "random_H1"}.items():
        assert got[(e, h)] == pytest.approx(default.log_ml[name], rel=1e-10)
    assert rb.components["post_prob"]["bias"] == pytest.approx(
        rb.models.loc[rb.models["bias"] != "none", "post_prob"].sum(), rel=1e-12)


def test_bias_report(bias):
    result, out = bias
    notes = result.outcomes[0].notes
    assert not [n for n in notes if "not drawn" in n or "not computed" in n], notes
    html = (out / "report.html").read_text()
    for text in ("Publication bias", "Selection models", "stepfun", "PET-PEESE",
                 "Inclusion BF: effect", "Converted inputs", "Egger",
                 "Adjusted estimates side by side", "RoBMA-PSMA (bias-adjusted model averaging)",
                 "Robust Bayesian model averaging", "Publication bias</td>",
                 "most probable models", "PEESE (yi on variance)"):
        assert text in html, text
    for f in ("funnel.png", "selection.png", "averaged_mu.png", "weightfunction.png"):
        assert (out / f).exists(), f
    rb = result.outcomes[0].bias["robma"]
    # the bias BF in the side-by-side table is the RoBMA result's
    assert f"BF bias = {bm_fmt_bf(rb.bf_bias)}" in html


def test_robma_figures_from_the_pipeline_fit(bias):
    # the RoBMA result of the shared run, drawn by the public plots (structure only)
    result, _ = bias
    rb = result.outcomes[0].bias["robma"]
    fig = bm.averaged_posterior_plot(rb, "mu")
    ax, ax2 = fig.axes
    spike = next(ln for ln in ax2.get_lines() if ln.get_gid() == "posterior_spike")
    assert spike.get_ydata()[1] == pytest.approx(rb.prob_zero("mu"), rel=1e-12)
    prior = next(ln for ln in ax2.get_lines() if ln.get_gid() == "prior_spike")
    assert prior.get_ydata()[1] == pytest.approx(1 - rb.components.loc["effect",
                                                                       "prior_prob"])
    dens = next(ln for ln in ax.get_lines() if ln.get_gid() == "posterior_density")
    area = np.trapezoid(dens.get_ydata(), dens.get_xdata())
    assert area == pytest.approx(1 - rb.prob_zero("mu"), abs=0.02)  # kernel density
    wf = rb.weightfunction()
    fig = bm.weightfunction_plot(rb)
    line = next(ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "weight")
    np.testing.assert_allclose(line.get_ydata(), wf["mean"], rtol=1e-12)
    fig = bm.weightfunction_plot(rb, conditional=True)
    line = next(ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "weight")
    np.testing.assert_allclose(line.get_ydata(), rb.weightfunction(conditional=True)["mean"],
                               rtol=1e-12)
    assert "weight-function models only" in fig.axes[0].get_title()


# ------------------------------------------------------------------ count data
def test_pooling_methods_beside_inverse_variance(tmp_path):
    result = run_spec(MODELS / "yusuf1985_pooling.toml", out=tmp_path)
    res = result.outcomes[0]
    assert not [n for n in res.notes if "not drawn" in n or "not computed" in n], res.notes
    dat = bm.datasets.load("yusuf1985")
    cols = dict(ai="ai", n1i="n1i", ci="ci", n2i="n2i")
    assert res.pooling["MH"].estimate == pytest.approx(
        bm.rma_mh(dat, measure="OR", **cols).estimate, rel=1e-12)
    assert res.pooling["Peto"].estimate == pytest.approx(
        bm.rma_peto(dat, **cols).estimate, rel=1e-12)
    assert res.pooling["GLMM"].estimate == pytest.approx(
        bm.rma_glmm(dat, measure="OR", model="UM.FS", **cols).estimate, rel=1e-8)
    html = (tmp_path / "report.html").read_text()
    assert "Mantel-Haenszel" in html and "Peto" in html and "GLMM" in html


def _robumeta_case(dataset: str, formula: str, weights: str, small: bool, rho: float):
    ref = json.loads((ROOT / "tests" / "reference" / "robumeta" /
                      "robumeta_reference.json").read_text())
    return next(c for c in ref["cases"] if c["dataset"] == dataset and c["formula"] == formula
                and c["modelweights"] == weights and c["small"] is small and c["rho"] == rho)


@pytest.fixture(scope="module")
def rve(tmp_path_factory):
    out = tmp_path_factory.mktemp("rve")
    return run_spec(MODELS / "rve_corrdat.toml", out=out), out


def test_rve_spec_reproduces_robumeta(rve):
    """models/rve_corrdat.toml = robumeta 2.0's corrdat example (reference JSON made with
    R by tests/reference/robumeta/make_robumeta.R), 1e-6 relative."""
    result, _ = rve
    res = result.outcomes[0]
    case = _robumeta_case("corrdat", "effectsize ~ males + college + binge", "CORR", True, 0.8)
    coef = res.dependent.robu.coef
    assert list(coef.index) == ["intrcpt", "males", "college", "binge"]
    for col in ("estimate", "se", "df", "pval", "ci_low", "ci_high"):
        assert coef[col].to_numpy() == pytest.approx(case[col], rel=1e-6), col
    assert res.dependent.robu.tau2 == pytest.approx(case["tau2"], rel=1e-6)
    assert res.dependent.robu.i2 == pytest.approx(case["i2"], rel=1e-6)
    s = res.summary.set_index("parameter")
    assert s.loc["mu", "classical"] == pytest.approx(case["estimate"][0], rel=1e-6)
    assert s.loc["beta[college]", "classical_pval"] == pytest.approx(case["pval"][2], rel=1e-6)
    # the rho sensitivity table: robumeta's sensitivity()
    table = res.dependent.rho_table
    for row in case["sensitivity"]:
        got = table.loc[row["rho"]] if row["rho"] in table.index else table[
            table["rho"] == row["rho"]].iloc[0]
        assert got["tau2"] == pytest.approx(row["tau2"], rel=1e-6)
        assert got["estimate"] == pytest.approx(row["estimate"][0], rel=1e-6)
        assert got["se"] == pytest.approx(row["se"][0], rel=1e-6)


def test_rve_spec_other_working_model_and_rho():
    text = (MODELS / "rve_corrdat.toml").read_text()
    for weights, rho in (("HIER", 0.8), ("CORR", 0.5)):
        sp = parse_spec(text.replace('modelweights = "CORR"', f'modelweights = "{weights}"')
                        .replace("rho = 0.8", f"rho = {rho}"), base_dir=MODELS)
        res = run_spec(sp).outcomes[0]
        case = _robumeta_case("corrdat", "effectsize ~ males + college + binge", weights,
                              True, rho)
        coef = res.dependent.robu.coef
        assert coef["estimate"].to_numpy() == pytest.approx(case["estimate"], rel=1e-6)
        assert coef["se"].to_numpy() == pytest.approx(case["se"], rel=1e-6)
        assert res.dependent.robu.tau2 == pytest.approx(case["tau2"], rel=1e-6)
        if weights == "HIER":
            assert res.dependent.robu.omega2 == pytest.approx(case["omega2"], rel=1e-6)
            assert res.dependent.rho_table is None


def test_rve_report(rve):
    result, out = rve
    notes = result.outcomes[0].notes
    assert not [n for n in notes if "not drawn" in n or "not written" in n], notes
    html = (out / "report.html").read_text()
    for text in ("Variance components", "Robust variance estimation (robumeta)",
                 "Sensitivity to ρ", "CORR working model", "14.90"):
        assert text in html, text
    assert (out / "forest.png").exists()


@pytest.mark.parametrize("codes", [{"AL": "AL", "PD": "PD"}, {"AL": 2, "PD": 1}])
def test_multivariate_twin_treats_outcome_codes_as_a_factor(tmp_path, monkeypatch, codes):
    # outcomes coded by numbers were read as one slope by the classical twin: the pooled
    # effect per outcome must not depend on how the outcomes are coded
    from bayesma.pipeline import dependent
    from bayesma.pipeline.results import OutcomeResult
    from bayesma.spec import parse_spec as parse

    monkeypatch.setattr(dependent, "Multivariate", lambda *a, **k: type(
        "NoMCMC", (), {"fit": lambda self, **kw: None})())  # the classical twin only
    d = bm.datasets.load("berkey1998")
    d = d.assign(outcome=d["outcome"].map(codes))
    (tmp_path / "mv.csv").write_text(d.to_csv(index=False))
    spec = parse("""\
[data]
path = "mv.csv"
[effect]
measure = "MD"
yi = "yi"
vi = "vi"
label = "trial"
[model]
type = "multivariate"
cluster = "trial"
outcome = "outcome"
[sampler]
engine = "mcmc"
seed = 1
""", base_dir=tmp_path)
    o = spec.outcomes[0]
    res = OutcomeResult(spec=o)
    dependent.run_dependent(spec, o, res, lambda *_: None, False)
    coef = res.dependent.classical.coef
    ref = bm.rma_mv(bm.datasets.load("berkey1998"), yi="yi", vi="vi",
                    random="~ outcome | trial", struct="UN", mods="~ 0 + outcome")
    est = dict(zip([str(codes[t.split("[")[1].rstrip("]")]) for t in ref.coef.index],
                   ref.coef["estimate"], strict=True))
    assert len(coef) == 2
    for term, value in coef["estimate"].items():
        level = term.split("[")[1].rstrip("]")
        assert value == pytest.approx(est[level], rel=1e-8)

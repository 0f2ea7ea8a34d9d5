"""bm.RoBMA (RoBMA-PSMA): the 36-model ensemble, its prior model probabilities (RoBMA's
defaults), posterior probabilities, inclusion Bayes factors, agreement with bm.bma on the
no-bias models, the weight-function check by importance sampling, model-averaged
posteriors and errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesma.bayes.averaging import RoBMA, RoBMAResult, bma
from bayesma.bayes.protocol import Posterior
from bayesma.errors import BayesmaWarning, DataError, SpecError

DATA = Path(__file__).parent.parent / "reference" / "data"


@pytest.fixture(scope="module")
def dat() -> pd.DataFrame:
    d = pd.read_csv(DATA / "raudenbush1985.csv").iloc[:12].reset_index(drop=True)
    d.attrs["measure"] = "SMD"
    return d


@pytest.fixture(scope="module")
def fit(dat) -> RoBMAResult:
    return RoBMA(dat, seed=7)


def test_model_space_and_prior_probabilities(fit):
    m = fit.models
    assert len(m) == 36 and m.index.is_unique
    assert m["prior_prob"].sum() == pytest.approx(1.0, abs=1e-12)
    # RoBMA-PSMA: 1/2 x 1/2 x (1/2 none, 1/12 x 1/2 per weight function, 1/4 x 1/2 PET/PEESE)
    by_bias = m.groupby("bias")["prior_prob"].first()
    assert by_bias["none"] == pytest.approx(1 / 8)
    assert by_bias["PET"] == pytest.approx(1 / 32)
    assert by_bias["one-sided (0.025, 0.05, 0.5)"] == pytest.approx(1 / 96)
    assert (m.groupby("bias").size() == 4).all() and m["bias"].nunique() == 9
    assert np.allclose(fit.components["prior_prob"], 0.5)


def test_posterior_probabilities_and_inclusion_bfs(fit):
    m = fit.models
    assert m["post_prob"].sum() == pytest.approx(1.0, abs=1e-12)
    lp = m["log_ml"] + np.log(m["prior_prob"])
    post = np.exp(lp - lp.max())
    post /= post.sum()
    assert np.allclose(m["post_prob"], post, rtol=1e-10)
    for comp, mask in [("effect", m["effect"]), ("heterogeneity", m["heterogeneity"]),
                       ("bias", m["bias"] != "none")]:
        pin, ppr = post[mask].sum(), m["prior_prob"][mask].sum()
        bf = (pin / (1 - pin)) / (ppr / (1 - ppr))
        assert fit.components.loc[comp, "bf_inclusion"] == pytest.approx(bf, rel=1e-9)
        assert fit.components.loc[comp, "post_prob"] == pytest.approx(pin, rel=1e-12)
    assert fit.bf_effect == fit.components.loc["effect", "bf_inclusion"]
    row = m.iloc[5]
    odds = (row["post_prob"] / (1 - row["post_prob"])) / (row["prior_prob"]
                                                            / (1 - row["prior_prob"]))
    assert row["bf"] == pytest.approx(odds, rel=1e-9)


def test_no_bias_models_equal_bma(dat, fit):
    b = bma(dat, mu_prior=fit.priors["mu"], tau_prior=fit.priors["tau"])
    none = fit.models[fit.models["bias"] == "none"]
    for (_, row), key in zip(none.iterrows(), ["fixed_H0", "random_H0", "fixed_H1",
                                               "random_H1"], strict=True):
        assert row["log_ml"] == pytest.approx(b.log_ml[key], abs=1e-8)
        assert row["error"] == 0.0 and row["method"] == "exact"


def test_weight_function_models_agree_with_importance_sampling(fit):
    # second, independent method: importance sampling (t proposal); tolerance = 4 combined
    # standard errors (IS standard error and the quadrature's own error estimate)
    wf = fit.models[fit.models["method"] == "aghq"]
    assert len(wf) == 24
    tol = 4 * np.sqrt(wf["se_is"] ** 2 + wf["error"] ** 2) + 1e-4
    assert ((wf["log_ml"] - wf["log_ml_is"]).abs() <= tol).all()
    assert (wf["error"] < 0.1).all()
    pp = fit.models[fit.models["bias"].isin(["PET", "PEESE"])]
    assert (pp["error"] == 0).all()
    assert ((pp["log_ml"] - pp["log_ml_is"]).abs() <= 4 * pp["se_is"] + 1e-3).all()


def test_model_averaged_posteriors(fit):
    assert isinstance(fit, Posterior)
    m = fit.models
    assert fit.prob_zero("mu") == pytest.approx(m["post_prob"][~m["effect"]].sum())
    assert fit.prob_zero("tau") == pytest.approx(m["post_prob"][~m["heterogeneity"]].sum())
    avg = fit.averaged("mu")
    assert avg.spike == pytest.approx(fit.prob_zero("mu"))
    cond = fit.mean("mu", conditional=True)
    assert fit.mean("mu") == pytest.approx((1 - fit.prob_zero("mu")) * cond, rel=1e-10)
    lo, hi = fit.interval("mu")
    assert lo <= fit.median("mu") <= hi
    assert fit.quantile("tau", 0.001) == 0.0 or fit.prob_zero("tau") < 0.001
    d = fit.draws("mu", n=2000, random_seed=1)
    assert d.shape == (2000,)
    assert np.mean(d == 0) == pytest.approx(fit.prob_zero("mu"), abs=0.05)
    s = fit.summary()
    assert list(s.index) == ["mu", "tau", "PET", "PEESE"]
    assert s.loc["PET", "p_zero"] == pytest.approx(1 - m["post_prob"][m["bias"] == "PET"].sum())
    assert fit.pet["low"] <= fit.pet["mean"] <= fit.pet["high"]
    assert fit.prob_less("mu", 0.0) <= fit.cdf("mu", 0.0)
    with pytest.raises(Exception, match="eti"):
        fit.interval("mu", kind="hdi")
    tree = fit.to_datatree(n=400)
    assert tree["posterior"]["mu"].shape == (4, 100)


def test_weightfunction(fit):
    wf = fit.weightfunction()
    assert list(wf.columns) == ["p", "mean", "low", "high"]
    # omega = 1 for the most significant interval of every weight function
    small = wf[wf["p"] < 0.025]
    assert np.allclose(small["mean"], 1.0) and np.allclose(small["low"], 1.0)
    assert (wf["low"] <= wf["mean"] + 1e-12).all() and (wf["mean"] <= wf["high"] + 1e-12).all()
    assert (wf["mean"] <= 1 + 1e-12).all()
    pw = fit.models["post_prob"][fit.models["bias"].str.contains("sided")].sum()
    assert (wf["mean"] >= 1 - pw - 1e-12).all()
    cond = fit.weightfunction([0.3], conditional=True)
    assert cond["mean"].iloc[0] <= wf.loc[wf["p"].sub(0.3).abs().idxmin(), "mean"] + 1e-12
    with pytest.raises(SpecError):
        fit.weightfunction([1.5])


def test_printout(fit):
    text = str(fit)
    assert "Components summary" in text and "Inclusion BF" in text
    assert "Model-averaged estimates" in text and "Conditional estimates" in text
    assert "RoBMAResult" in repr(fit)


def test_reproducible_with_seed_and_prior_weights(dat):
    # a reduced ensemble (bias: none or two-sided (0.05)); zero weights drop the models
    off = {b: 0 for b in ("PET", "PEESE", "one-sided (0.05)", "one-sided (0.025, 0.05)",
                          "one-sided (0.05, 0.5)", "one-sided (0.025, 0.05, 0.5)",
                          "two-sided (0.05, 0.1)")}
    a = RoBMA(dat.iloc[:6], prior_weights={**off, "effect": 0.3}, seed=3)
    b = RoBMA(dat.iloc[:6], prior_weights={**off, "effect": 0.3}, seed=3)
    assert len(a.models) == 8
    assert a.mean("mu") == b.mean("mu")
    assert a.components.loc["effect", "prior_prob"] == pytest.approx(0.3)
    # relative bias weights: none 1, two-sided (0.05) 1/12
    assert a.components.loc["bias", "prior_prob"] == pytest.approx(1 / 13)
    assert math.isfinite(a.bf_bias)
    with pytest.raises(Exception, match="PET"):
        a.interval("PET", conditional=True)


def test_negative_direction_mirrors_positive(dat):
    # RoBMA(-y, effect_direction="negative") = RoBMA(y) mirrored: the same marginal
    # likelihoods (the mu prior is symmetric), mu negated, PET magnitudes unchanged
    keep = {b: 0 for b in ("PEESE", "one-sided (0.05)", "two-sided (0.05)",
                           "one-sided (0.05, 0.5)", "one-sided (0.025, 0.05, 0.5)",
                           "two-sided (0.05, 0.1)")}
    d = dat.iloc[:6].copy()
    pos = RoBMA(d, prior_weights=keep, seed=5)
    d["yi"] = -d["yi"]
    nobias = {b: 0 for b in ("PET", "PEESE", "one-sided (0.05)", "two-sided (0.05)",
                             "one-sided (0.025, 0.05)", "one-sided (0.05, 0.5)",
                             "one-sided (0.025, 0.05, 0.5)", "two-sided (0.05, 0.1)")}
    with pytest.warns(BayesmaWarning, match="effect_direction"):
        RoBMA(d, prior_weights=nobias)
    neg = RoBMA(d, prior_weights=keep, effect_direction="negative", seed=5)
    assert np.allclose(neg.models["log_ml"], pos.models["log_ml"], rtol=0, atol=1e-9)
    # posteriors of the bias models are importance samples (not mirrored draw by draw)
    assert neg.mean("mu") == pytest.approx(-pos.mean("mu"), abs=2e-3)
    assert neg.pet["mean"] == pytest.approx(pos.pet["mean"], rel=0.05)
    assert "negative" in str(neg)
    with pytest.raises(SpecError):
        RoBMA(d, effect_direction="up")


def test_disagreeing_integration_methods_warn(fit):
    from bayesma.bayes.averaging.robma.ensemble import ModelFit
    from bayesma.bayes.averaging.robma.fit import check_integration

    spec = fit.fits[3].spec
    ok = ModelFit(spec, -5.0, 0.001, "aghq", log_ml_is=-5.01, se_is=0.01)
    check_integration([ok])  # no warning
    bad = ModelFit(spec, -5.0, 0.001, "aghq", log_ml_is=-4.5, se_is=0.01)
    with pytest.warns(BayesmaWarning, match="disagree"):
        check_integration([ok, bad])


def test_prior_scaling_for_log_odds_ratios(dat):
    from bayesma.bayes.averaging.robma.defaults import default_robma_priors

    p = default_robma_priors("OR")
    c = math.pi / math.sqrt(3)
    assert p["mu"].sigma == pytest.approx(c)
    assert p["tau"].beta == pytest.approx(0.15 * c)
    assert p["pet"] == 1.0 and p["peese"] == pytest.approx(5 / c)
    assert default_robma_priors(None)["peese"] == 5.0
    with pytest.raises(SpecError):
        default_robma_priors("MD")


def test_errors(dat):
    with pytest.raises(DataError, match="at least 3"):
        RoBMA(dat.iloc[:2])
    bad = dat.copy()
    bad.loc[3, "vi"] = 0.0
    with pytest.raises(DataError):
        RoBMA(bad)
    with pytest.raises(SpecError):
        RoBMA(dat, priors={"mu": 1.0})
    with pytest.raises(SpecError):
        RoBMA(dat, priors={"rho": 1.0})
    with pytest.raises(SpecError):
        RoBMA(dat, prior_weights={"PETT": 1.0})
    with pytest.raises(SpecError):
        RoBMA(dat, prior_weights={"effect": 1.5})
    with pytest.raises(SpecError):
        RoBMA(dat, priors={"pet": -1.0})

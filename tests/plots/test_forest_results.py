"""Forest plots draw results and never fit (issue 10), and the RevMan-style details of
issue 9: arm columns from escalc's column mapping, posterior text on the study's line,
the weight column's method, fixed decimals in Mean (SD) cells, the test for overall
effect."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from plot_checks import fmt_ci

import bayesma as bm
from bayesma.bayes.exact import ExactPosterior, exact_posterior
from bayesma.bayes.protocol import Posterior
from bayesma.bayes.subgroups import exact_subgroups
from bayesma.classical.rma import RMAResult
from bayesma.errors import BayesmaError
from bayesma.plots import forest_plot
from bayesma.priors import HalfNormal, Normal

BCG_ARMS = {"ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")


@pytest.fixture(scope="module")
def bcg():
    return bm.datasets.load("bcg")


@pytest.fixture(scope="module")
def bcg_post(bcg):
    return exact_posterior(bcg, mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))


def footer_text(fig) -> str:
    lay = fig.forest_layout
    return " ".join(t.get_text() for k, t in lay.texts.items() if k[0] == "footer")


class McmcLike:
    """A Bayesian result that is not an exact posterior (the protocol, from draws)."""

    def __init__(self, exact: ExactPosterior, n: int = 4000):
        self._d = exact.sample(n, random_seed=5)
        self.labels, self.data, self.measure = exact.labels, exact.data, exact.measure
        self.priors, self.classical, self.level = exact.priors, exact.classical, exact.level

    def draws(self, param, *, n=None, random_seed=None):
        return self._d[param]

    def _vec(self, x):
        return pd.Series(x, index=self.labels) if np.ndim(x) else float(x)

    def mean(self, param):
        return self._vec(np.mean(self._d[param], axis=0))

    def sd(self, param):
        return self._vec(np.std(self._d[param], axis=0))

    def median(self, param):
        return self._vec(np.median(self._d[param], axis=0))

    def quantile(self, param, q):
        return np.quantile(self._d[param], q, axis=0)

    def interval(self, param, prob=None, kind="eti"):
        a = (1 - (self.level if prob is None else prob)) / 2
        lo, hi = np.quantile(self._d[param], [a, 1 - a], axis=0)
        if np.ndim(lo):
            return pd.DataFrame({"low": lo, "high": hi}, index=self.labels)
        return float(lo), float(hi)

    def prob_less(self, param, value=0.0):
        return self._vec(np.mean(self._d[param] < value, axis=0))

    def summary(self, prob=None):
        raise NotImplementedError

    def to_datatree(self, *, n=None, random_seed=None):
        raise NotImplementedError


# ------------------------------------------------------------------------------------
# issue 10: plots only draw
# ------------------------------------------------------------------------------------


def test_drawing_never_fits(bcg, bcg_post, monkeypatch):
    """Once the results exist, forest_plot builds no posterior and refits nothing."""
    es = exact_subgroups(bcg, by="alloc", mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))
    sub = bm.subgroup(bcg, by="alloc")
    res = bm.rma(bcg)

    def boom(*a, **k):
        raise AssertionError("a plot fitted a model")

    monkeypatch.setattr(ExactPosterior, "__init__", boom)
    monkeypatch.setattr(RMAResult, "refit", boom)
    monkeypatch.setattr(RMAResult, "__init__", boom)
    for result in (bcg_post, es, sub, res):
        fig = forest_plot(result)
        assert len(fig.forest_layout.study_rows) == 13


def test_exact_subgroups_result_is_drawn(bcg):
    es = exact_subgroups(bcg, by="alloc", mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))
    fig = forest_plot(es)
    lay = fig.forest_layout
    assert [r.span for r in lay.rows if r.kind == "header"] == list(es.levels)
    for lev in es.levels:
        p = es.fits[lev]
        lo, hi = p.interval("mu", 0.95)
        assert lay.cell(f"group:{lev}:bayes", "post") == fmt_ci(
            np.exp(p.median("mu")), np.exp(lo), np.exp(hi))
        f = es.classical.fits[lev]
        assert lay.cell(f"group:{lev}:classical", "obs") == fmt_ci(
            np.exp(f.estimate), np.exp(f.ci_low), np.exp(f.ci_high))
        # a study's shrunken estimate comes from its own level's model
        lab = p.labels[0]
        tlo, thi = p.interval(f"theta[{lab}]", 0.95)
        assert lay.cell(lab, "post") == fmt_ci(np.exp(p.median(f"theta[{lab}]")),
                                               np.exp(tlo), np.exp(thi))
    assert f"Q = {es.classical.qb:.2f}" in footer_text(fig)


def test_mcmc_fit_is_not_refitted_per_level(bcg_post):
    mc = McmcLike(bcg_post)
    assert isinstance(mc, Posterior)
    forest_plot(mc)  # the plain posterior forest plot works from the protocol
    with pytest.raises(BayesmaError, match="exact_subgroups"):
        forest_plot(mc, subgroup="alloc")


def test_wrong_result_names_what_to_pass():
    with pytest.raises(BayesmaError, match="exact_subgroups"):
        forest_plot(object())


# ------------------------------------------------------------------------------------
# issue 9: RevMan-style details
# ------------------------------------------------------------------------------------


def test_arm_columns_follow_the_escalc_mapping(bcg):
    d = bcg.copy()
    d.attrs["columns"] = dict(BCG_ARMS)  # what escalc(ai="tpos", ...) records
    fig = forest_plot(bm.rma(d))
    lay = fig.forest_layout
    first, row = lay.study_rows[0].key, d.iloc[0]
    assert lay.cell(first, "arm:Treatment:events") == str(row.tpos)
    assert lay.cell(first, "arm:Treatment:total") == str(row.tpos + row.tneg)
    assert lay.cell(first, "arm:Control:events") == str(row.cpos)


def test_posterior_text_sits_on_the_study_line(bcg_post):
    fig = forest_plot(bcg_post, arm_columns=BCG_ARMS)
    lay = fig.forest_layout
    for r in lay.study_rows:
        y_label = lay.texts[(r.key, "label")].get_position()[1]
        for col in ("obs", "weight", "post", "arm:Treatment:events"):
            assert lay.texts[(r.key, col)].get_position()[1] == pytest.approx(y_label), col
        # the posterior mark stays below the observed one
        dys = {m.kind: m.dy for m in r.marks}
        assert dys["post"] > dys["ci"]
    pred = "overall:prediction"
    assert lay.texts[(pred, "post")].get_position()[1] == pytest.approx(
        lay.texts[(pred, "label")].get_position()[1])


def test_weight_column_names_its_method(bcg, bcg_post):
    lay = forest_plot(bm.rma(bcg, method="DL")).forest_layout
    assert lay.texts[("header", "weight")].get_text() == "Weight (DL)"
    lay = forest_plot(bcg_post).forest_layout
    assert lay.texts[("header", "weight")].get_text() == "Weight (REML)"
    lay = forest_plot(bcg_post, classical=False).forest_layout
    assert lay.texts[("header", "weight")].get_text() == "Weight (inverse variance)"


def test_mean_sd_cells_have_fixed_decimals():
    d = pd.DataFrame({"study": ["A", "B", "C"],
                      "m1i": [55.0, 47.5, 60.25], "sd1i": [10.0, 12.0, 11.0],
                      "n1i": [20, 25, 30],
                      "m2i": [50.0, 45.0, 58.0], "sd2i": [9.5, 11.0, 10.0],
                      "n2i": [21, 24, 31]})
    dat = bm.escalc("MD", data=d, m1i="m1i", sd1i="sd1i", n1i="n1i", m2i="m2i",
                    sd2i="sd2i", n2i="n2i")
    lay = forest_plot(bm.rma(dat)).forest_layout
    assert lay.cell("A", "arm:Treatment:mean") == "55.00 (10.0)"
    assert lay.cell("B", "arm:Treatment:mean") == "47.50 (12.0)"
    assert lay.cell("C", "arm:Control:mean") == "58.00 (10.0)"


def test_test_for_overall_effect_line(bcg, bcg_post):
    res = bm.rma(bcg)
    assert (f"Test for overall effect: Z = {abs(res.stat):.2f} (P < 0.001)"
            in footer_text(forest_plot(res)))
    tw = bcg_post.classical
    assert tw.test == "knha"
    assert (f"Test for overall effect: t = {abs(tw.stat):.2f}, df = {tw.df} "
            f"(P = {tw.pval:.3f})" in footer_text(forest_plot(bcg_post)))


def test_subgroup_keyword_builds_the_result_before_drawing(bcg, bcg_post):
    """forest_plot(post, subgroup=...) equals drawing bm.exact_subgroups(...) itself."""
    es = exact_subgroups(bcg, by="alloc", mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))
    a = forest_plot(bcg_post, subgroup="alloc").forest_layout
    b = forest_plot(es).forest_layout
    for lev in es.levels:
        key = f"group:{lev}:bayes"
        assert a.cell(key, "post") == b.cell(key, "post")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::bayesma.errors.SamplingWarning")
def test_mcmc_subgroups_fit_is_drawn_from_its_draws(bcg):
    from bayesma.bayes.models import Subgroups

    fit = Subgroups(bcg, by="alloc", tau="per_level").fit(draws=300, tune=300, chains=2,
                                                          random_seed=1)
    sub = bm.subgroup(bcg, by="alloc")
    lay = forest_plot(fit, classical=sub, subgroup="alloc").forest_layout
    for lev in fit.model.levels:
        lo, hi = fit.interval(f"mu[{lev}]", prob=0.95)
        assert lay.cell(f"group:{lev}:bayes", "post") == fmt_ci(
            np.exp(fit.median(f"mu[{lev}]")), np.exp(lo), np.exp(hi))
        f = sub.fits[lev]
        assert lay.cell(f"group:{lev}:classical", "obs") == fmt_ci(
            np.exp(f.estimate), np.exp(f.ci_low), np.exp(f.ci_high))
    assert f"Q = {sub.qb:.2f}" in " ".join(
        t.get_text() for k, t in lay.texts.items() if k[0] == "footer")


"""Funnel, prior/posterior, tau trace and bubble plots: what they draw, that nothing is
clipped or overlapping, the MCMC (draws-only) path, and saving."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Annotation, Text
from plot_checks import drawn_texts

import bayesma as bm
from bayesma.bayes.exact import exact_posterior
from bayesma.errors import BayesmaError
from bayesma.plots import (
    funnel_plot,
    prior_posterior_plot,
    regression_plot,
    tau_trace_plot,
)
from bayesma.plots.prior_posterior import posterior_density
from bayesma.priors import Flat, HalfCauchy, HalfNormal, Jeffreys, Normal


def check_figure(fig, *, overlap: bool = True) -> None:
    """Every text (and legend) inside the figure; texts other than annotations disjoint."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    fb = fig.bbox
    texts = drawn_texts(fig)
    for t in texts:
        bb = t.get_window_extent(r)
        assert bb.x0 >= fb.x0 - 1 and bb.x1 <= fb.x1 + 1, f"{t.get_text()!r} clipped (x)"
        assert bb.y0 >= fb.y0 - 1 and bb.y1 <= fb.y1 + 1, f"{t.get_text()!r} clipped (y)"
    for leg in fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend()]:
        bb = leg.get_window_extent(r)
        assert bb.x0 >= fb.x0 - 1 and bb.x1 <= fb.x1 + 1 and bb.y0 >= fb.y0 - 1, "legend"
    if overlap:
        plain = [(t, t.get_window_extent(r).shrunk(0.97, 0.85)) for t in texts
                 if not isinstance(t, Annotation)]
        for (t1, b1), (t2, b2) in itertools.combinations(plain, 2):
            assert not b1.overlaps(b2), f"{t1.get_text()!r} overlaps {t2.get_text()!r}"



@pytest.fixture(autouse=True)
def _close_figures():
    """Figures are pyplot-managed once pyplot is imported: close them after each test."""
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


@pytest.fixture(scope="module")
def bcg_reg(bcg):
    return exact_posterior(bcg, mods="~ ablat", mu_prior=Normal(0, 10),
                           tau_prior=HalfNormal(0.5))


class DrawsOnly:
    """An MCMC-like result: the shared protocol (bayesma.bayes.protocol.Posterior),
    answered from a fixed set of draws."""

    def __init__(self, exact, n: int = 6000):
        self._d = exact.sample(n, random_seed=3)
        self.labels = exact.labels
        self.data = exact.data
        self.measure = exact.measure
        self.priors = exact.priors
        self.classical = exact.classical
        self.level = exact.level

    def draws(self, param, *, n=None, random_seed=None):
        return self._d[param]

    def sd(self, param):
        return float(np.std(self._d[param]))

    def prob_less(self, param, value=0.0):
        return float(np.mean(self._d[param] < value))

    def summary(self, prob=None):
        return pd.DataFrame({p: [np.mean(v)] for p, v in self._d.items() if v.ndim == 1})

    def to_datatree(self, *, n=None, random_seed=None):
        raise NotImplementedError

    def median(self, param):
        x = self._d[param]
        return np.median(x, axis=0) if x.ndim == 1 else pd.Series(np.median(x, axis=0),
                                                                   index=self.labels)

    def mean(self, param):
        return float(np.mean(self._d[param]))

    def quantile(self, param, q):
        return np.quantile(self._d[param], q)

    def interval(self, param, prob=None, kind="eti"):
        a = (1 - (self.level if prob is None else prob)) / 2
        lo, hi = np.quantile(self._d[param], [a, 1 - a], axis=0)
        if np.ndim(lo):
            return pd.Series(lo, index=self.labels), pd.Series(hi, index=self.labels)
        return float(lo), float(hi)


# ------------------------------------------------------------------------------------
# funnel
# ------------------------------------------------------------------------------------


def test_funnel_points_and_region(bcg):
    res = bm.rma(bcg)
    fig = funnel_plot(res)
    ax = fig.axes[0]
    pts = next(c for c in ax.collections if c.get_gid() == "studies")
    xy = pts.get_offsets()
    np.testing.assert_allclose(xy[:, 0], np.exp(res.yi))
    np.testing.assert_allclose(xy[:, 1], np.sqrt(res.vi))
    assert ax.get_xscale() == "log"
    lo, hi = ax.get_ylim()
    assert lo > hi == 0.0  # inverted: SE 0 at the top
    x0, x1 = ax.get_xlim()
    assert x0 <= np.exp(res.yi).min() and np.exp(res.yi).max() <= x1
    check_figure(fig)


def test_funnel_trimfill_and_contours():
    h = bm.datasets.load("hackshaw1998")
    res = bm.rma(h)
    tf = bm.trimfill(res)
    assert tf.k0 > 0
    fig = funnel_plot(res, trimfill=tf, contours=(0.10, 0.05, 0.01))
    ax = fig.axes[0]
    filled = next(c for c in ax.collections if c.get_gid() == "filled")
    assert len(filled.get_offsets()) == tf.k0
    f = tf.filled[tf.filled["fill"].astype(bool)]
    np.testing.assert_allclose(np.sort(filled.get_offsets()[:, 0]), np.sort(np.exp(f["yi"])))
    # open markers
    assert np.allclose(filled.get_facecolors()[0][:3], 1.0)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "p < 0.01" in texts and "0.05 < p < 0.1" in texts
    assert any("trim-and-fill" in s for s in texts)
    center = next(ln for ln in ax.lines if ln.get_gid() == "center")
    assert np.isclose(center.get_xdata()[0], np.exp(tf.estimate))
    check_figure(fig)


@pytest.mark.parametrize("yaxis", ["sei", "vi", "seinv", "vinv"])
def test_funnel_yaxes(yaxis):
    res = bm.rma(bm.datasets.load("bangertdrowns2004"))
    fig = funnel_plot(res, yaxis=yaxis, contours=(0.05, 0.01))
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear"
    check_figure(fig)


def test_funnel_k2_bayes_and_errors(bcg_post):
    d = bm.datasets.load("edge_k2")
    check_figure(funnel_plot(bm.rma(d), labels=True), overlap=False)
    fig = funnel_plot(bcg_post)  # a Bayesian result: its classical twin
    assert len(fig.axes[0].collections[-1].get_offsets()) == 13
    with pytest.raises(BayesmaError, match="yaxis"):
        funnel_plot(bm.rma(d), yaxis="ni")
    with pytest.raises(BayesmaError, match="contours"):
        funnel_plot(bm.rma(d), contours=(5,))


# ------------------------------------------------------------------------------------
# prior / posterior
# ------------------------------------------------------------------------------------


def test_prior_posterior_exact(bcg_post):
    fig = prior_posterior_plot(bcg_post)
    assert len(fig.axes) == 2
    for ax, param in zip(fig.axes, ("tau", "mu"), strict=True):
        post_line = next(ln for ln in ax.lines if ln.get_gid() == f"posterior|{param}")
        x, y = post_line.get_xdata(), post_line.get_ydata()
        np.testing.assert_allclose(y, bcg_post.pdf(param, x))
        assert np.trapezoid(y, x) == pytest.approx(1.0, abs=2e-3)
        prior_line = next(ln for ln in ax.lines if ln.get_gid() == f"prior|{param}")
        np.testing.assert_allclose(prior_line.get_ydata(),
                                   bcg_post.priors[param].pdf(prior_line.get_xdata()))
    assert "HalfNormal(sigma=0.5)" in fig.axes[0].get_title(loc="left")
    check_figure(fig)


def test_prior_posterior_improper_and_regression(bcg, bcg_reg):
    post = exact_posterior(bcg, mu_prior=Flat(), tau_prior=Jeffreys())
    fig = prior_posterior_plot(post)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("improper" in s for s in texts)
    check_figure(fig)
    fig = prior_posterior_plot(bcg_reg, params=("tau", "mu", "beta[ablat]"))
    assert len(fig.axes) == 3
    assert "ablat" in fig.axes[2].get_xlabel()
    check_figure(fig)
    with pytest.raises(BayesmaError, match="params"):
        prior_posterior_plot(bcg_reg, params=("theta",))
    with pytest.raises(BayesmaError, match="Bayesian"):
        prior_posterior_plot(bm.rma(bcg))


def test_prior_posterior_mcmc_path_uses_kde(bcg_post):
    mc = DrawsOnly(bcg_post)
    x = np.linspace(0, 1.5, 300)
    kde = posterior_density(mc, "tau", x)
    exact = bcg_post.pdf("tau", x)
    assert np.trapezoid(kde, x) == pytest.approx(1.0, abs=0.02)
    assert np.max(np.abs(kde - exact)) < 0.15 * np.max(exact)
    fig = prior_posterior_plot(mc)
    assert "MCMC" in fig.texts[0].get_text() or "MCMC" in fig._suptitle.get_text()
    check_figure(fig)


# ------------------------------------------------------------------------------------
# tau trace
# ------------------------------------------------------------------------------------


def test_tau_trace_exact(bcg_post):
    fig = tau_trace_plot(bcg_post)
    ax1, ax2 = fig.axes[:2]
    mu = next(ln for ln in ax1.lines if ln.get_gid() == "mu")
    grid = mu.get_xdata()
    cond = bcg_post.conditional(grid)["mean"]
    np.testing.assert_allclose(mu.get_ydata(), cond["mu"])
    for lab in bcg_post.labels:
        ln = next(ln for ln in ax1.lines if ln.get_gid() == f"theta|{lab}")
        np.testing.assert_allclose(ln.get_ydata(), cond[f"theta[{lab}]"])
    # at tau = 0 every study is pooled to the common-effect estimate
    ee = bm.rma(bcg_post.data, method="EE")
    np.testing.assert_allclose(cond.filter(like="theta[").iloc[0], ee.estimate, rtol=1e-2)
    dens = next(ln for ln in ax2.lines if ln.get_gid() == "tau_density")
    np.testing.assert_allclose(dens.get_ydata(), bcg_post.pdf("tau", grid))
    labels = [a for a in ax1.texts if (a.get_gid() or "").startswith("label|")]
    assert len(labels) == 13
    check_figure(fig, overlap=False)
    # the labels at the right end do not overlap each other
    r = fig.canvas.get_renderer()
    # the text itself (an Annotation's extent also covers its leader line)
    boxes = [Text.get_window_extent(a, r).shrunk(0.98, 0.9) for a in labels]
    assert not any(b1.overlaps(b2) for b1, b2 in itertools.combinations(boxes, 2))


def test_tau_trace_k48_k2_and_mcmc(bcg_post):
    big = exact_posterior(bm.datasets.load("bangertdrowns2004"))
    fig = tau_trace_plot(big, tau_max=0.6)
    assert len([ln for ln in fig.axes[0].lines if (ln.get_gid() or "").startswith("theta|")]) \
        == 48
    check_figure(fig)
    k2 = exact_posterior(bm.datasets.load("edge_k2"), tau_prior=HalfCauchy(0.5))
    check_figure(tau_trace_plot(k2), overlap=False)
    # a draws-only (MCMC) result is recomputed exactly from its data and priors
    fig = tau_trace_plot(DrawsOnly(bcg_post))
    mu = next(ln for ln in fig.axes[0].lines if ln.get_gid() == "mu")
    np.testing.assert_allclose(mu.get_ydata(),
                               bcg_post.conditional(mu.get_xdata())["mean"]["mu"], rtol=1e-8)
    with pytest.raises(BayesmaError, match="tau_max"):
        tau_trace_plot(bcg_post, tau_max=-1)


# ------------------------------------------------------------------------------------
# regression (bubble) plot
# ------------------------------------------------------------------------------------


def test_regression_plot_bayes_and_classical(bcg_reg):
    fig = regression_plot(bcg_reg, show=("studies", "bayes", "classical", "prediction"))
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    bub = next(c for c in ax.collections if c.get_gid() == "bubbles")
    tw = bcg_reg.classical
    np.testing.assert_allclose(bub.get_offsets()[:, 0], tw.X[:, 1])
    np.testing.assert_allclose(bub.get_offsets()[:, 1], np.exp(tw.yi))
    sizes = bub.get_sizes()
    assert np.argmax(sizes) == np.argmax(tw.weights)
    # classical line = metafor predict
    cl = next(ln for ln in ax.lines if ln.get_gid() == "classical_line")
    x = cl.get_xdata()
    pred = tw.predict(x)
    np.testing.assert_allclose(cl.get_ydata(), np.exp(pred["pred"]))
    # Bayesian line: posterior median of beta0 + beta1 x (Monte Carlo from exact draws)
    bl = next(ln for ln in ax.lines if ln.get_gid() == "bayes_line")
    b = bcg_reg.median("beta")
    np.testing.assert_allclose(np.log(bl.get_ydata()), b.iloc[0] + b.iloc[1] * x, atol=0.03)
    footer = " ".join(t.get_text() for t in fig.texts)
    assert "Bayesian slope of ablat" in footer and "Classical slope" in footer
    check_figure(fig)


def test_regression_plot_classical_only_and_errors(bcg):
    res = bm.rma(bcg, mods="~ ablat + year")
    fig = regression_plot(res, moderator="year", transform=False, labels=True)
    assert fig.axes[0].get_yscale() == "linear"
    check_figure(fig, overlap=False)
    with pytest.raises(BayesmaError, match="moderator"):
        regression_plot(res)
    with pytest.raises(BayesmaError, match="categorical"):
        regression_plot(bm.rma(bcg, mods="~ C(alloc)"), moderator="C(alloc)[T.random]")
    with pytest.raises(BayesmaError, match="meta-regression|moderator"):
        regression_plot(bm.rma(bcg))


def test_regression_plot_mcmc_path(bcg_reg):
    mc = DrawsOnly(bcg_reg)
    mc.priors = bcg_reg.priors
    fig = regression_plot(mc)
    check_figure(fig)


# ------------------------------------------------------------------------------------
# saving
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["png", "svg", "pdf"])
def test_save_all(tmp_path, bcg, bcg_post, bcg_reg, ext):
    makers = {
        "funnel": lambda p: funnel_plot(bm.rma(bcg), contours=(0.1, 0.05, 0.01), save=p),
        "pp": lambda p: prior_posterior_plot(bcg_post, save=p),
        "trace": lambda p: tau_trace_plot(bcg_post, save=p),
        "reg": lambda p: regression_plot(bcg_reg, save=p),
    }
    magic = {"png": b"\x89PNG", "pdf": b"%PDF", "svg": b"<?xml"}[ext]
    for name, make in makers.items():
        path = tmp_path / f"{name}.{ext}"
        fig = make(path)
        assert fig is not None
        assert magic in path.read_bytes()[:8], name


def test_figures_follow_pyplot_when_imported(bcg_post):
    import matplotlib.pyplot as plt

    fig = bm.forest_plot(bcg_post)
    assert fig.number in plt.get_fignums()  # plt.show() and notebooks display it
    plt.close(fig)


class RegressionDraws(DrawsOnly):
    """An MCMC-like meta-regression: ``mean("beta")`` is a Series by term."""

    def mean(self, param):
        x = self._d[param]
        return pd.Series(x.mean(axis=0)) if x.ndim == 2 else float(np.mean(x))


def test_prior_posterior_centred_regression_puts_the_mu_prior_on_mu_centered(bcg_reg):
    """With a centred intercept the mu prior belongs to mu_centered: an MCMC fit must not
    draw it over the intercept at moderators = 0 (a different parameter)."""
    fig = prior_posterior_plot(bcg_reg, params=("mu_centered", "mu"))
    gids = {ln.get_gid() for ax in fig.axes for ln in ax.get_lines()}
    assert "prior|mu_centered" in gids
    assert "moderator means" in fig.axes[0].get_xlabel()
    assert "at moderator means" in fig.axes[1].get_title(loc="left")
    check_figure(fig)
    mc = RegressionDraws(bcg_reg)
    fig = prior_posterior_plot(mc, params=("mu", "mu_centered"))
    gids = {ln.get_gid() for ax in fig.axes for ln in ax.get_lines()}
    assert "prior|mu" not in gids and "prior|mu_centered" in gids
    assert "Normal" in fig.axes[1].get_title(loc="left")
    check_figure(fig)

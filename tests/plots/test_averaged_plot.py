"""averaged_posterior_plot: the spike at 0 on a probability axis plus the density of the
models where the parameter is free (checked against the result's own mixture)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

import bayesma as bm
from bayesma.errors import BayesmaError
from bayesma.plots.averaged import _weighted_kde


@pytest.fixture(scope="module")
def fit():
    d = bm.datasets.load("hackshaw1998").iloc[:10].copy()
    return bm.bma(d, measure="OR")


def _line(ax, gid):
    return next(ln for ln in ax.get_lines() if ln.get_gid() == gid)


def test_spike_and_density_of_mu(fit):
    fig = bm.averaged_posterior_plot(fit, "mu")
    ax, ax2 = fig.axes
    assert ax.get_ylabel() == "Density" and ax2.get_ylabel() == "Probability"
    assert ax.get_xlabel() == "\u03bc (log OR)"
    spike = _line(ax2, "posterior_spike")
    np.testing.assert_allclose(spike.get_ydata(), [0.0, fit.prob_zero("mu")], rtol=1e-12)
    np.testing.assert_allclose(spike.get_xdata(), [0.0, 0.0])
    # the density integrates to the probability of the models with an effect
    dens = _line(ax, "posterior_density")
    area = integrate.trapezoid(dens.get_ydata(), dens.get_xdata())
    assert area == pytest.approx(1 - fit.prob_zero("mu"), abs=2e-3)
    # its mode sits where the conditional posterior's cdf rises fastest
    x = dens.get_xdata()
    cdf = fit.averaged("mu", conditional=True).cdf(x)
    assert x[np.argmax(dens.get_ydata())] == pytest.approx(x[np.argmax(np.gradient(cdf, x))],
                                                           abs=2 * (x[1] - x[0]))
    # prior: spike at P(no effect) = 1/2 and the prior density times 1/2
    prior = _line(ax2, "prior_spike")
    assert prior.get_ydata()[1] == pytest.approx(0.5)
    pd_line = _line(ax, "prior_density")
    np.testing.assert_allclose(pd_line.get_ydata(), 0.5 * fit.priors["mu"].pdf(x), rtol=1e-12)
    labels = [t.get_text() for t in fig.legends[0].get_texts()] if fig.legends else [
        t.get_text() for t in ax2.get_legend().get_texts()]
    assert labels == ["Posterior (\u03bc \u2260 0 models)", "Prior",
                      "Posterior P(\u03bc = 0) (right axis)"]
    assert any(t.get_text().startswith("P(\u03bc = 0) = ") for t in ax2.texts)


def test_tau_starts_at_zero_and_conditional_has_no_spike(fit):
    fig = bm.averaged_posterior_plot(fit, "tau", prior=False)
    ax = fig.axes[0]
    assert ax.get_xlim()[0] == 0.0 and ax.get_xlabel() == "\u03c4"
    assert not [ln for ln in fig.axes[-1].get_lines() if ln.get_gid() == "prior_spike"]
    fig = bm.averaged_posterior_plot(fit, "mu", conditional=True, prior=False)
    assert len(fig.axes) == 1  # no spike, no probability axis
    assert "Conditional" in fig.axes[0].get_title()


def test_draws_into_given_axes(fit):
    from matplotlib.figure import Figure

    f = Figure()
    ax = f.add_subplot()
    assert bm.averaged_posterior_plot(fit, ax=ax, xlim=(-0.5, 1.0)) is f
    assert ax.get_xlim() == (-0.5, 1.0)


def test_weighted_kde_integrates_to_one_and_reflects():
    rng = np.random.default_rng(1)
    x = rng.exponential(0.2, 2000)
    w = rng.uniform(0.5, 1.5, 2000)
    grid = np.linspace(0, 2, 401)
    dens = _weighted_kde(x, w, grid, (0.0, np.inf))
    assert integrate.trapezoid(dens, grid) == pytest.approx(1.0, abs=5e-3)
    assert dens[0] > 3.0  # reflected at 0: no drop to half the density at the boundary


def test_errors(fit):
    with pytest.raises(BayesmaError, match="needs a model-averaged result"):
        bm.averaged_posterior_plot(bm.rma(bm.datasets.load("bcg")))
    with pytest.raises(BayesmaError, match="xlim must be"):
        bm.averaged_posterior_plot(fit, xlim=(1, 0))
    with pytest.raises(BayesmaError, match="parameters 'mu' and 'tau'"):
        bm.averaged_posterior_plot(fit, "theta")


def test_bma_components_table(fit):
    comp = fit.components
    pp = fit.posterior_probs
    assert list(comp.index) == ["effect", "heterogeneity"]
    assert comp.loc["effect", "post_prob"] == pytest.approx(pp["fixed_H1"] + pp["random_H1"])
    assert comp.loc["heterogeneity", "post_prob"] == pytest.approx(
        pp["random_H0"] + pp["random_H1"])
    assert comp.loc["effect", "bf_inclusion"] == fit.bf_effect
    assert comp["prior_prob"].tolist() == [0.5, 0.5]
    assert fit.averaged("mu").spike == fit.prob_zero("mu")

"""bma_sensitivity_plot: inclusion Bayes factors against the prior scales, a line per
scale of the other prior, log BF axis."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesma as bm
from bayesma.errors import BayesmaError, DataError


@pytest.fixture(scope="module")
def table():
    # a synthetic table in bma_sensitivity's layout (the engine is tested on its own)
    mu, tau = np.meshgrid([0.25, 0.5, 1.0, 2.0], [0.05, 0.1, 0.2], indexing="ij")
    mu, tau = mu.ravel(), tau.ravel()
    return pd.DataFrame({"mu_scale": mu, "tau_scale": tau, "bf_effect": 20 / mu * (1 + tau),
                         "bf_heterogeneity": 0.2 + tau * 10 + 0 * mu})


def test_two_panels_with_a_line_per_other_scale(table):
    fig = bm.bma_sensitivity_plot(table)
    ax1, ax2 = fig.axes
    assert ax1.get_yscale() == "log" and ax2.get_yscale() == "log"
    lines = [ln for ln in ax1.get_lines() if ln.get_gid() == "bf_effect_line"]
    assert len(lines) == 3  # one per tau scale
    first = table[table.tau_scale == 0.05].sort_values("mu_scale")
    np.testing.assert_array_equal(lines[0].get_xdata(), first["mu_scale"])
    np.testing.assert_array_equal(lines[0].get_ydata(), first["bf_effect"])
    assert len([ln for ln in ax2.get_lines() if ln.get_gid() == "bf_heterogeneity_line"]) == 4
    assert ax1.get_xlabel() == "Scale of the \u03bc prior"
    assert ax2.get_xlabel() == "Scale of the \u03c4 prior"
    assert ax1.get_xscale() == "log"  # scales span a factor 8
    assert [t.get_text() for t in ax1.get_legend().get_texts()][0] == "\u03c4 scale = 0.05"
    assert "1/3" in [t.get_text() for t in ax2.get_yticklabels()]
    assert [ln for ln in ax1.get_lines() if ln.get_gid() == "bf_one"]


def test_one_panel_and_from_bma_sensitivity():
    d = bm.datasets.load("hackshaw1998").iloc[:6].copy()
    tab = bm.bma_sensitivity(d, mu_scales=[0.5, 1.0], tau_scales=[0.2], measure="OR")
    fig = bm.bma_sensitivity_plot(tab, which="bf_heterogeneity", xlog=False)
    assert len(fig.axes) == 1 and fig.axes[0].get_xscale() == "linear"


def test_errors(table):
    with pytest.raises(BayesmaError, match="which must name panels"):
        bm.bma_sensitivity_plot(table, which=["bf_bias"])
    with pytest.raises(DataError, match="'tau_scale'"):
        bm.bma_sensitivity_plot(table.drop(columns="tau_scale"))
    bad = table.copy()
    bad.loc[0, "bf_effect"] = np.nan
    with pytest.raises(BayesmaError, match="positive and finite"):
        bm.bma_sensitivity_plot(bad)

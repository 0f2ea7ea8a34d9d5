"""selection_plot: the estimated selection function of bm.selmodel with its band."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesma as bm
from bayesma.classical.selection import SelectionModelWarning
from bayesma.errors import BayesmaError
from bayesma.plots import selection_plot

REF = Path(__file__).parent.parent / "reference" / "selmodel"


@pytest.fixture(scope="module")
def fits():
    d = pd.read_csv(REF / "hahn2001.csv")
    res = bm.rma(d, yi="yi", vi="vi", method="EE")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SelectionModelWarning)
        return {
            "stepfun": bm.selmodel(res, "stepfun", steps=[0.025], alternative="less"),
            "halfnorm": bm.selmodel(res, "halfnorm", alternative="less"),
            "beta": bm.selmodel(res, "beta", alternative="less"),
        }


@pytest.mark.parametrize("kind", ["stepfun", "halfnorm", "beta"])
def test_curve_is_the_weight_function(fits, kind):
    sel = fits[kind]
    fig = selection_plot(sel, ci="boot", seed=1, reps=200)
    ax = fig.axes[0]
    line = next(ln for ln in ax.get_lines() if ln.get_label() == "estimated w(p)")
    x, y = line.get_xdata(), line.get_ydata()
    mid = len(x) // 2
    if kind == "stepfun":
        # right-continuous staircase: value just right of each x
        np.testing.assert_allclose(y[mid], sel.weight(min(x[mid] + 1e-12, 1.0)))
    else:
        np.testing.assert_allclose(y, sel.weight(x))
    assert ax.get_xlabel().startswith("one-sided p-value")
    assert len(ax.collections) >= 1  # the band


def test_wald_band_contains_curve(fits):
    sel = fits["halfnorm"]
    fig = selection_plot(sel, ci="wald")
    band = fig.axes[0].collections[0].get_paths()[0].vertices
    y = sel.weight(np.array([0.5]))[0]
    ys = band[np.isclose(band[:, 0], 0.5, atol=1e-3), 1]
    assert ys.min() <= y + 1e-9 and ys.max() >= y - 1e-9


def test_no_band_and_errors(fits):
    fig = selection_plot(fits["stepfun"], ci=None, rug=False)
    assert len(fig.axes[0].collections) == 0
    with pytest.raises(BayesmaError):
        selection_plot("x")
    with pytest.raises(BayesmaError, match="ci must be"):
        selection_plot(fits["stepfun"], ci="profile")
    assert bm.selection_plot is selection_plot

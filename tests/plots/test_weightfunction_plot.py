"""weightfunction_plot: RoBMA's model-averaged weight function with its band, from a
table (the RoBMA result itself is drawn in tests/test_pipeline_extensions.py, which fits
the ensemble once)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesma as bm
from bayesma.errors import BayesmaError, DataError


@pytest.fixture(scope="module")
def table():
    p = np.linspace(0.001, 0.999, 200)
    mean = np.where(p < 0.025, 1.0, np.where(p < 0.05, 0.7, 0.4))
    return pd.DataFrame({"p": p, "mean": mean, "low": 0.5 * mean,
                         "high": np.minimum(1.3 * mean, 1.0)})


def test_curve_band_and_cutoffs(table):
    fig = bm.weightfunction_plot(table)
    ax = fig.axes[0]
    line = next(ln for ln in ax.get_lines() if ln.get_gid() == "weight")
    np.testing.assert_array_equal(line.get_xdata(), table["p"])
    np.testing.assert_array_equal(line.get_ydata(), table["mean"])
    band = next(c for c in ax.collections if c.get_gid() == "band")
    verts = band.get_paths()[0].vertices
    assert verts[:, 1].min() == pytest.approx(table["low"].min())
    assert verts[:, 1].max() == pytest.approx(table["high"].max())
    cut = [ln.get_xdata()[0] for ln in ax.get_lines() if ln.get_gid() == "cutoff"]
    assert cut == [0.025, 0.05, 0.5]
    assert ax.get_xlabel() == "One-sided p-value" and ax.get_xlim() == (0.0, 1.0)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "Credible interval", "Model-averaged weight"]


def test_square_root_axis(table):
    fig = bm.weightfunction_plot(table, rescale_x=True, cutoffs=None)
    ax = fig.axes[0]
    line = next(ln for ln in ax.get_lines() if ln.get_gid() == "weight")
    np.testing.assert_allclose(line.get_xdata(), np.sqrt(table["p"]))
    assert "0.05" in [t.get_text() for t in ax.get_xticklabels()]
    assert not [ln for ln in ax.get_lines() if ln.get_gid() == "cutoff"]


def test_table_errors(table):
    with pytest.raises(DataError, match="column 'high'"):
        bm.weightfunction_plot(table.drop(columns="high"))
    bad = table.copy()
    bad.loc[3, "mean"] = np.nan
    with pytest.raises(DataError, match="'mean' has missing") as e:
        bm.weightfunction_plot(bad)
    assert e.value.rows == [3]
    bad = table.copy()
    bad.loc[5, "p"] = 1.5
    with pytest.raises(DataError, match="must be in \\[0, 1\\]"):
        bm.weightfunction_plot(bad)
    with pytest.raises(BayesmaError, match="needs a RoBMA result"):
        bm.weightfunction_plot(bm.rma(bm.datasets.load("bcg")))
    with pytest.raises(BayesmaError, match="needs a RoBMA result, not a table"):
        bm.weightfunction_plot(table, conditional=True)
    with pytest.raises(BayesmaError, match="cutoffs must be"):
        bm.weightfunction_plot(table, cutoffs=[1.5])

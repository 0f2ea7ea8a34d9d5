"""Coverage plot: one line per method and panel, MCSE bands, nominal line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesma as bm
from bayesma.errors import DataError


def _result() -> pd.DataFrame:
    rows = []
    for tau in (0.0, 0.5):
        for k in (2, 3, 5):
            for j, m in enumerate(("REML-z", "REML-knha")):
                cov = 0.80 + 0.03 * k + 0.01 * j - 0.1 * tau
                rows.append({"scenario": 0, "design": "normal", "k": k, "mu": 0.0, "tau": tau,
                             "vi": "uniform(0.05, 0.5)", "method": m, "coverage": cov,
                             "mcse": 0.01})
    return pd.DataFrame(rows)


def test_lines_bands_and_nominal(tmp_path):
    res = _result()
    fig = bm.coverage_plot(res, save=tmp_path / "cov.png")
    assert (tmp_path / "cov.png").stat().st_size > 0
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["tau = 0", "tau = 0.5"]
    for ax, tau in zip(axes, (0.0, 0.5), strict=True):
        lines = [ln for ln in ax.get_lines() if ln.get_label() in ("REML-z", "REML-knha")]
        assert [ln.get_label() for ln in lines] == ["REML-z", "REML-knha"]
        want = res[(res.tau == tau) & (res.method == "REML-knha")]["coverage"].to_numpy()
        np.testing.assert_allclose(lines[1].get_ydata(), want)
        np.testing.assert_allclose(lines[1].get_xdata(), [2, 3, 5])
        nominal = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
        assert len(nominal) == 1 and nominal[0].get_ydata()[0] == 0.95
        # one band per method: coverage ± 1.96 MCSE
        bands = ax.collections
        assert len(bands) == 2
        ys = bands[0].get_paths()[0].vertices[:, 1]
        first = res[(res.tau == tau) & (res.method == "REML-z")]["coverage"]
        assert np.isclose(ys.max(), first.max() + 1.96 * 0.01)


def test_method_selection_and_errors():
    res = _result()
    fig = bm.coverage_plot(res, methods=["REML-knha"], band=0)
    ax = [a for a in fig.axes if a.get_title()][0]
    assert [ln.get_label() for ln in ax.get_lines()][0] == "REML-knha"
    assert len(ax.collections) == 0
    with pytest.raises(DataError, match="not in the result"):
        bm.coverage_plot(res, methods=["DL-z"])
    with pytest.raises(DataError, match="needs columns"):
        bm.coverage_plot(res.drop(columns="mcse"))
    two = pd.concat([res, res.assign(vi="fixed(0.1)")], ignore_index=True)
    with pytest.raises(DataError, match=r"\['vi'\] vary"):
        bm.coverage_plot(two)


def test_draws_a_coverage_study_result():
    res = bm.coverage_study([{"k": k, "tau": 0.3} for k in (2, 4)], ["DL-knha", "PI-DL"],
                            n_rep=20, seed=1)
    fig = bm.coverage_plot(res, title="DL")
    assert fig._suptitle.get_text() == "DL"

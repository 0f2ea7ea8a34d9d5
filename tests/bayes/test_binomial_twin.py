"""BinomialNormal's classical twin is rma_glmm (UM.FS) on the same counts, and the summary
table shows it; its data groups hold event counts (the fit itself is checked, slow, in
test_binomial_normal.py)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayesma as bm
from bayesma.bayes.glmm_twin import GLMMTwin
from bayesma.bayes.mcmc_parts import classical_twin
from bayesma.bayes.table import twin_columns
from bayesma.effect_sizes import UndefinedEffectWarning
from bayesma.errors import BayesmaError

SPARSE = Path(__file__).parent.parent / "reference" / "pooling" / "sparse.csv"
COLS = dict(ai="ai", n1i="n1i", ci="ci", n2i="n2i")


@pytest.fixture(scope="module")
def twin():
    df = pd.read_csv(SPARSE)
    model = bm.BinomialNormal(df, **COLS, slab="study")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glmm = bm.rma_glmm(df, "OR", model="UM.FS", **COLS, slab="study")
        glmm90 = bm.rma_glmm(df, "OR", model="UM.FS", **COLS, slab="study", level=90)
    return model, classical_twin(model, "BinomialNormal", "REML", "knha"), glmm, glmm90


def test_twin_is_rma_glmm_not_an_inverse_variance_rma(twin):
    model, tw, glmm, _ = twin
    assert isinstance(tw, GLMMTwin) and tw.twin_label == "rma_glmm UM.FS (ML)"
    for f in ("estimate", "se", "ci_low", "ci_high", "pval", "tau2"):
        assert getattr(tw, f) == getattr(glmm, f), f
    assert tw.k == 5  # the double-zero study is left out, as metafor's rma.glmm
    ivw = bm.rma(model.data, yi="yi", vi="vi")
    assert abs(tw.estimate - ivw.estimate) > 1e-3
    # the study rows of forest plots: escalc's log ORs of every study
    assert len(tw.yi) == 6 and tw.labels == list(pd.read_csv(SPARSE)["study"])
    assert np.nansum(tw.weights) == pytest.approx(100.0)
    # I² as metafor's rma.glmm: tau² over tau² + the typical variance of the escalc vi
    # (1/2 added to zero cells, double-zero studies dropped) = rma's I² at that tau²
    with pytest.warns(UndefinedEffectWarning, match="S 3"):
        dat = bm.escalc("OR", pd.read_csv(SPARSE), **COLS, drop00=True)
    dat = dat.dropna(subset=["yi"])
    assert tw.i2 == pytest.approx(bm.rma(dat, yi="yi", vi="vi", tau2=tw.tau2).i2, rel=1e-12)


def test_twin_columns_at_the_tables_level(twin):
    _, tw, glmm, glmm90 = twin
    rows = ["mu", "tau", "tau2", "i2", "theta_new", "theta[S 1]"]
    cols = twin_columns(tw, rows, 0.95)
    assert tuple(cols.loc["mu"]) == (glmm.estimate, glmm.ci_low, glmm.ci_high)
    assert cols.loc["tau", "classical"] == pytest.approx(math.sqrt(glmm.tau2), rel=1e-15)
    assert np.isnan(cols.loc["tau", "classical_low"])  # rma.glmm gives no CI for tau²
    # metafor predict.rma: estimate ± z sqrt(se² + tau²)
    half = 1.959963984540054 * math.sqrt(glmm.se**2 + glmm.tau2)
    assert cols.loc["theta_new", "classical_low"] == pytest.approx(glmm.estimate - half,
                                                                   rel=1e-12)
    assert np.isnan(cols.loc["theta[S 1]", "classical"])
    at90 = twin_columns(tw, rows, 0.9).loc["mu"]
    assert at90["classical_low"] == pytest.approx(glmm90.ci_low, rel=1e-12)
    assert at90["classical_high"] == pytest.approx(glmm90.ci_high, rel=1e-12)
    with pytest.raises(BayesmaError, match="no confidence interval"):
        tw.confint()


def test_observed_and_replicated_data_are_counts(twin):
    model, *_ = twin
    obs = model._observed_data()
    assert set(obs.data_vars) == {"x_t", "x_c"}
    np.testing.assert_array_equal(obs["x_t"].values, pd.read_csv(SPARSE)["ai"].to_numpy())
    k = model.k
    post = bm.BinomialNormal(pd.read_csv(SPARSE), **COLS)._constant_data()
    assert {"n_t", "n_c"} <= set(post.data_vars)
    alpha = np.zeros((1, 50, k))
    theta = np.full((1, 50, k), 0.5)
    ds = xr.Dataset({"alpha": (("chain", "draw", "study"), alpha),
                     "theta": (("chain", "draw", "study"), theta)},
                    coords={"chain": [0], "draw": np.arange(50), "study": model.labels})
    rep = model._posterior_predictive(ds, np.random.default_rng(1))
    n_t = model.counts["n_t"]
    assert rep["x_t"].shape == (1, 50, k)
    assert np.all((rep["x_t"].values >= 0) & (rep["x_t"].values <= n_t))
    assert np.all(rep["x_t"].values == np.round(rep["x_t"].values))

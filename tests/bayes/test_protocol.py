"""Every Bayesian engine satisfies bayesma.bayes.protocol.Posterior, through one set of
assertions (exact, exact meta-regression, MCMC RandomEffects, MetaRegression, Subgroups);
plus bayesma/bayes/table.py and the loading of stored results."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import assert_close, shared_data

import bayesma as bm
from bayesma.bayes.exact import ExactPosterior, exact_posterior
from bayesma.bayes.fit import BayesFit, load
from bayesma.bayes.protocol import STAT_COLUMNS, Posterior, SummarySource
from bayesma.bayes.table import posterior_table
from bayesma.errors import BayesmaError

P = bm.priors
PRIORS = dict(mu_prior=P.Normal(0, 10), tau_prior=P.HalfNormal(0.5))
FAST = dict(draws=300, tune=300, chains=2, random_seed=3, progressbar=False)
# short chains: the SamplingWarning about their ESS is expected here
pytestmark = pytest.mark.filterwarnings("ignore::bayesma.errors.SamplingWarning")


@pytest.fixture(scope="module")
def bcg():
    df = shared_data("bcg")
    df.attrs["measure"] = "RR"
    return df


def _exact(bcg):
    return exact_posterior(bcg, **PRIORS), "mu"


def _exact_mr(bcg):
    return exact_posterior(bcg, mods="~ ablat", beta_prior=P.Normal(0, 1), **PRIORS), \
        "beta[ablat]"


def _mcmc_re(bcg):
    return bm.RandomEffects(bcg, **PRIORS).fit(**FAST), "mu"


def _mcmc_mr(bcg):
    return bm.MetaRegression(bcg, "~ ablat", beta_prior=P.Normal(0, 1), **PRIORS).fit(
        **FAST), "beta[ablat]"


def _mcmc_sub(bcg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bm.Subgroups(bcg, by="alloc", tau="per_level", **PRIORS).fit(**FAST)
    return fit, "mu[random]"


ENGINES = [
    pytest.param(_exact, id="exact"),
    pytest.param(_exact_mr, id="exact-metaregression"),
    pytest.param(_mcmc_re, id="mcmc-random-effects", marks=pytest.mark.slow),
    pytest.param(_mcmc_mr, id="mcmc-metaregression", marks=pytest.mark.slow),
    pytest.param(_mcmc_sub, id="mcmc-subgroups", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("make", ENGINES)
def test_conformance(make, bcg):
    post, par = make(bcg)
    assert isinstance(post, Posterior) and isinstance(post, SummarySource)
    # attributes
    assert isinstance(post.labels, list) and all(isinstance(s, str) for s in post.labels)
    assert len(post.labels) == len(bcg)
    assert isinstance(post.data, pd.DataFrame) and post.measure == "RR"
    assert "tau" in post.priors and 0 < post.level < 1
    assert post.classical is not None
    # scalar summaries, bracket syntax
    for f in (post.mean, post.sd, post.median):
        assert math.isfinite(f(par))
    th0 = f"theta[{post.labels[0]}]"
    assert post.mean(th0) == pytest.approx(post.mean("theta").iloc[0])
    q = post.quantile(par, [0.25, 0.75])
    assert q.shape == (2,) and q[0] < q[1]
    for bad in (math.nan, 1.5, -0.1, [0.5, math.nan]):
        with pytest.raises(BayesmaError, match="quantile"):
            post.quantile(par, bad)
    # intervals: prob=None means level
    assert post.interval(par) == pytest.approx(post.interval(par, prob=post.level))
    lo, hi = post.interval(par, 0.5)
    lo95, hi95 = post.interval(par)
    assert lo95 < lo < hi < hi95
    assert isinstance(post.interval("theta"), pd.DataFrame)
    with pytest.raises(BayesmaError):
        post.interval(par, prob=1.5)
    assert 0.0 <= post.prob_less(par, 0.0) <= 1.0
    # draws and trees
    d = post.draws(par, n=200, random_seed=1)
    assert d.shape == (200,)
    np.testing.assert_array_equal(d, post.draws(par, n=200, random_seed=1))
    assert post.draws("theta", n=50, random_seed=2).shape == (50, len(bcg))
    tree = post.to_datatree(n=400, random_seed=0)
    assert isinstance(tree, xr.DataTree) and "tau" in tree["posterior"]
    # the summary
    s = post.summary()
    assert s.index.name == "param" and list(s.columns[:7]) == STAT_COLUMNS
    assert s.attrs["prob"] == post.level
    assert f"P({par} < 0)" in s.index
    assert {"exp_median", "classical"} <= set(s.columns)
    s90 = posterior_table(post, 0.9, theta=False)
    assert s90.attrs["prob"] == 0.9 and not any(r.startswith("theta[") for r in s90.index)
    assert s90.loc[par, "eti_low"] > s.loc[par, "eti_low"]
    # the compact display
    text = str(post)
    lines = text.splitlines()
    assert len(lines) <= 40 and max(map(len, lines)) <= 120
    assert "Priors:" in text and "tau" in text and "classical" in text


def test_exact_rejects_unknown_index(bcg):
    post = exact_posterior(bcg, classical=None, **PRIORS)
    with pytest.raises(BayesmaError, match="unknown parameter"):
        post.mean("tau[study]")
    with pytest.raises(BayesmaError):
        post.draws("mu", n=0)
    with pytest.raises(BayesmaError, match="prob"):
        post.interval("mu", prob=math.nan)


def test_table_needs_a_posterior():
    with pytest.raises(BayesmaError, match="posterior"):
        posterior_table(object())


def test_summary_keeps_the_wide_table_and_print_is_compact(bcg):
    post = exact_posterior(bcg, **PRIORS)
    wide = post.summary()
    assert wide.shape[1] == 17  # the export table keeps every column
    text = str(post)
    assert repr(post) == text
    for key in ("mu", "tau", "theta_new", "I² (%)", "k = 13", "REML (knha)",
                "HalfNormal(sigma=0.5)", "ratio scale"):
        assert key in text, key
    assert "exp_classical_high" not in text


# ------------------------------------------------------------------ loading stored results
def test_load_reads_the_exact_posterior(bcg, tmp_path):
    post = exact_posterior(bcg, mods="~ ablat", beta_prior=P.Normal(0, 1), **PRIORS)
    path = tmp_path / "posterior.nc"
    post.to_datatree(n=400, random_seed=0).to_netcdf(path, engine="h5netcdf")
    back = bm.load(path)
    assert isinstance(back, ExactPosterior)
    assert back.priors["tau"] == post.priors["tau"] and back.terms == post.terms
    assert back.centered == post.centered
    pd.testing.assert_frame_equal(back.summary(), post.summary())


def _hostile_fit_file(tmp_path, bcg, formula):
    cols = [str(c) for c in bcg.columns]
    table = {"columns": cols, "index": list(range(len(bcg))),
             "data": bcg.astype(object).where(bcg.notna(), None).values.tolist()}
    spec = {"class": "MetaRegression", "kwargs": {"mods": formula, "yi_name": "yi"},
            "priors": {}}
    post = xr.Dataset({"mu": (("chain", "draw"), np.zeros((1, 4))),
                       "tau": (("chain", "draw"), np.ones((1, 4)))})
    tree = xr.DataTree.from_dict({"posterior": post})
    tree.attrs.update(bayesma_version="0.1.0", model="MetaRegression",
                      model_spec=json.dumps(spec), data_table=json.dumps(table))
    path = tmp_path / "fit.nc"
    tree.to_netcdf(path, engine="h5netcdf")
    return path


def test_load_never_evaluates_a_stored_formula(bcg, tmp_path):
    """Issue 9: a .nc whose model_spec carries a hostile formula ran it on load()."""
    marker = tmp_path / "pwned"
    hostile = ("~ ablat + I(ablat**2 + 0*np.testing._private.utils.os.system("
               f"'touch {marker}'))")
    path = _hostile_fit_file(tmp_path, bcg, hostile)
    with pytest.raises(BayesmaError):
        load(path)
    assert not marker.exists()
    # an exact posterior's tree: the formula is display text, never evaluated
    post = exact_posterior(bcg, mods="~ ablat", classical=None, **PRIORS)
    tree = post.to_datatree(n=40)
    tree.attrs["formula"] = hostile
    tree.attrs["model_spec"] = json.dumps({"class": "MetaRegression",
                                           "kwargs": {"mods": hostile}, "priors": {}})
    p2 = tmp_path / "exact.nc"
    tree.to_netcdf(p2, engine="h5netcdf")
    back = load(p2)
    back.summary()
    assert not marker.exists()


def test_load_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(BayesmaError, match="does not exist"):
        load(tmp_path / "nothing.nc")
    (tmp_path / "text.nc").write_text("not netcdf")
    with pytest.raises(BayesmaError):
        load(tmp_path / "text.nc")


@pytest.mark.slow
def test_bayesfit_display_and_load(bcg, tmp_path):
    fit = bm.RandomEffects(bcg, **PRIORS).fit(**FAST)
    assert isinstance(fit, BayesFit)
    text = str(fit)
    assert "Diagnostics: max R-hat" in text and len(text.splitlines()) <= 40
    assert fit.summary().shape[1] > 12
    g = load(fit.to_netcdf(tmp_path / "fit.nc"))
    assert isinstance(g, BayesFit)
    assert_close(g.mean("mu"), fit.mean("mu"), rtol=1e-14)

"""R-hat, ESS and MCSE of ``bayes.mcmc_diagnostics`` equal ``arviz.summary`` (1e-10 relative).

ArviZ is the reference (arviz-stats 1.3; imported only here). Both compute the same
floating-point formulas in a different order (vectorised sums, cumulative sums instead of
lag loops), so they agree to a few ulps; 1e-10 leaves room for that and nothing else.
NaN patterns (NaN draws, 1 chain, constant draws) must match exactly.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayesma.bayes.diagnostics import diagnostics_table
from bayesma.bayes.mcmc_diagnostics import DIAGNOSTIC_COLUMNS, mcmc_diagnostics, next_fast_len

RTOL = 1e-10


def arviz_table(ds: xr.Dataset) -> pd.DataFrame:
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return pd.DataFrame(az.summary(ds, kind="diagnostics", round_to="none")).astype(float)


def assert_same_table(mine: pd.DataFrame, ref: pd.DataFrame) -> None:
    assert list(mine.index) == list(ref.index)
    assert list(mine.columns) == list(ref.columns) == list(DIAGNOSTIC_COLUMNS)
    assert all(str(d) == "float64" for d in mine.dtypes)
    np.testing.assert_allclose(mine.to_numpy(), ref.to_numpy(), rtol=RTOL, atol=0,
                               equal_nan=True)


def ar1(rng: np.random.Generator, chains: int, draws: int, n_par: int, phi: float
        ) -> np.ndarray:
    """AR(1) chains x_t = phi x_{t-1} + e_t, shape (chains, draws, n_par)."""
    e = rng.normal(size=(chains, draws, n_par))
    x = np.empty_like(e)
    x[:, 0] = e[:, 0]
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


def awkward_draws(chains: int, draws: int, seed: int) -> np.ndarray:
    """Seven parameters: AR(1) with phi 0.5, 0.95 and -0.6 (antithetic), rounded (ties),
    discrete {0, 1, 2}, constant, and one with a NaN draw."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([ar1(rng, chains, draws, 1, phi) for phi in (0.5, 0.95, -0.6)]
                       + [ar1(rng, chains, draws, 1, 0.3)] * 4, axis=2)
    x[..., 3] = np.round(x[..., 3])
    x[..., 4] = rng.integers(0, 3, size=(chains, draws))
    x[..., 5] = 3.0
    x[0, draws // 2, 6] = np.nan
    return x


@pytest.mark.parametrize(("chains", "draws"),
                         [(2, 100), (4, 101), (2, 4), (4, 5), (1, 60), (3, 7), (2, 3)])
def test_random_chains_equal_arviz(chains, draws):
    x = awkward_draws(chains, draws, seed=chains * 1000 + draws)
    ds = xr.Dataset({"v": (("chain", "draw", "par"), x)})
    assert_same_table(diagnostics_table(ds), arviz_table(ds))
    out = mcmc_diagnostics(x)
    if draws >= 4:
        assert np.isnan(out["ess_bulk"][6])  # the NaN draw
        assert out["ess_bulk"][5] == chains * 2 * (draws // 2)  # constant: ESS = size
        assert np.isnan(out["r_hat"][5])
        assert np.isnan(out["r_hat"]).all() == (chains == 1)
    else:
        assert all(np.isnan(v).all() for v in out.values())


def test_long_autocorrelated_chains_equal_arviz():
    rng = np.random.default_rng(7)
    x = np.concatenate([ar1(rng, 4, 1000, 2, 0.9), ar1(rng, 4, 1000, 2, 0.2)], axis=2)
    x[1] += 0.3  # one shifted chain: R-hat well above 1
    ds = xr.Dataset({"x": (("chain", "draw", "k"), x)})
    mine, ref = diagnostics_table(ds), arviz_table(ds)
    assert_same_table(mine, ref)
    assert (mine["r_hat"] > 1.01).any()


def test_labels_and_order_of_vector_and_matrix_variables():
    rng = np.random.default_rng(3)
    ds = xr.Dataset(
        {"mu": (("chain", "draw"), rng.normal(size=(2, 30))),
         "theta": (("chain", "draw", "study"), rng.normal(size=(2, 30, 3))),
         "nocoord": (("chain", "draw", "j"), rng.normal(size=(2, 30, 2))),
         "m": (("chain", "draw", "a", "b"), rng.normal(size=(2, 30, 2, 3))),
         "swapped": (("draw", "chain"), rng.normal(size=(30, 2)))},
        coords={"study": ["Aronson 1948", "B", "C"], "a": ["p", "q"], "b": [0.5, 1.0, 2.0]})
    mine, ref = diagnostics_table(ds), arviz_table(ds)
    assert_same_table(mine, ref)
    assert mine.index[1] == "theta[Aronson 1948]"
    assert "m[q, 0.5]" in mine.index and "nocoord[1]" in mine.index
    sub = diagnostics_table(ds, ["theta", "absent", "mu"])
    assert list(sub.index) == [*mine.index[1:4], "mu"]


def test_infinite_tiny_and_integer_draws_equal_arviz():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 20, 2))
    x[0, 3, 0] = np.inf  # ranks fine, moments not: MCSE NaN as in ArviZ
    x[:, :, 1] *= 1e-20  # below ArviZ's absolute "constant" threshold only in range
    ds = xr.Dataset({"v": (("chain", "draw", "k"), x),
                     "i": (("chain", "draw"), rng.integers(0, 5, size=(2, 20)))})
    mine = diagnostics_table(ds)
    assert_same_table(mine, arviz_table(ds))
    assert np.isnan(mine.loc["v[0]", "mcse_mean"]) and np.isfinite(mine.loc["v[0]", "ess_bulk"])
    assert diagnostics_table(ds, ["absent"]).shape == (0, 5)


def test_vectorised_blocks_equal_one_by_one(monkeypatch):
    x = ar1(np.random.default_rng(5), 2, 40, 9, 0.6)
    whole = mcmc_diagnostics(x)
    import bayesma.bayes.mcmc_diagnostics as md

    monkeypatch.setattr(md, "_BLOCK", 100)  # 1 parameter per block
    for c in DIAGNOSTIC_COLUMNS:
        np.testing.assert_allclose(mcmc_diagnostics(x)[c], whole[c], rtol=RTOL)
    np.testing.assert_allclose(mcmc_diagnostics(x[:, :, 4])["r_hat"], whole["r_hat"][4],
                               rtol=RTOL)


def test_next_fast_len_is_scipys():
    from scipy.fftpack import next_fast_len as scipy_len

    assert [next_fast_len(n) for n in range(1, 3000)] == [scipy_len(n) for n in range(1, 3000)]


@pytest.fixture(scope="module")
def re_fit():
    import bayesma as bm
    from bayesma.errors import SamplingWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # 200 draws: ESS < 400
        return bm.RandomEffects(bm.datasets.load("bcg")).fit(
            draws=200, tune=200, chains=2, random_seed=1, progressbar=False)


@pytest.mark.slow
def test_real_fit_equals_arviz(re_fit):
    post = re_fit.posterior
    mine = diagnostics_table(post)
    assert_same_table(mine, arviz_table(post))
    assert "theta[Aronson]" in mine.index
    diag = re_fit.diagnostics()
    assert_same_table(diag[list(DIAGNOSTIC_COLUMNS)], arviz_table(
        post[[n for n in ("mu", "tau", "theta", "theta_new") if n in post]]))


NO_SLOW_IMPORTS = r"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("mcmc_diagnostics", {path!r})
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
import numpy as np
mod.mcmc_diagnostics(np.random.default_rng(0).normal(size=(2, 50, 3)))
bad = [m for m in ("arviz", "arviz_stats", "matplotlib", "scipy.stats", "scipy.fft")
       if m in sys.modules]
assert not bad, bad
import xarray as xr
from bayesma.bayes.diagnostics import diagnostics_table
# (the first xr.Dataset imports dask.array and scipy.fftpack: xarray's, not ours)
ds = xr.Dataset({{"mu": (("chain", "draw"), np.random.default_rng(1).normal(size=(2, 50)))}})
before = set(sys.modules)
t = diagnostics_table(ds)
assert t.shape == (1, 5), t
new = [m for m in set(sys.modules) - before if m.startswith(("arviz", "matplotlib", "scipy"))]
assert not new, new
bad = [m for m in ("arviz", "arviz_stats", "matplotlib") if m in sys.modules]
assert not bad, bad
"""


def test_no_arviz_scipy_stats_or_matplotlib_imported():
    import bayesma.bayes.mcmc_diagnostics as md

    code = NO_SLOW_IMPORTS.format(path=md.__file__)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]

"""The fast path of the marginal random-effects and meta-regression models (bayes/fastpath.py,
bayes/fast_density.py): the compiled density, its sampler and its cold start."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import numpy as np
import pytest

import bayesma as bm
from bayesma.bayes.fastpath import ENV_SWITCH, fast_spec, fast_spec_regression
from bayesma.bayes.models.graph import normal_marginal_loglik
from bayesma.priors import (
    Cauchy,
    Flat,
    HalfCauchy,
    HalfNormal,
    HalfStudentT,
    InverseGamma,
    LogNormal,
    LogNormalTau2,
    LogStudentTTau2,
    Normal,
    StudentT,
    Uniform,
)

fd = pytest.importorskip("bayesma.bayes.fast_density")

PTR = ctypes.POINTER(ctypes.c_double)


def _call(buf: np.ndarray, x: np.ndarray) -> tuple[int, float, np.ndarray]:
    grad = np.zeros(2)
    out = np.zeros(1)
    fn = fd.logp_function()
    code = fn(2, x.ctypes.data_as(PTR), grad.ctypes.data_as(PTR), out.ctypes.data_as(PTR),
              buf.ctypes.data_as(PTR))
    return int(code), float(out[0]), grad


def _numpy_logp(mu_prior, tau_prior, y, v, x) -> float:
    """The same posterior density from the priors' own numpy log densities."""
    mu, lt = x
    tau = np.exp(lt)
    lp_mu = 0.0 if isinstance(mu_prior, Flat) else float(mu_prior.log_density(v)(np.array([mu]))[0])
    lp_tau = float(tau_prior.log_density(v)(np.array([tau]))[0])
    ll = float(normal_marginal_loglik(y, v, np.full_like(y, mu), tau**2).sum())
    return lp_mu + lp_tau + lt + ll


PRIORS = [
    (Normal(0.0, 4.0), HalfNormal(0.5)),
    (StudentT(3.0, 0.2, 1.5), HalfCauchy(0.3)),
    (Cauchy(0.0, 1.0), LogNormal(-1.0, 1.2)),
    (Flat(), InverseGamma(1.0, 0.15)),
    (Normal(0.0, 1.0), HalfStudentT(3.0, 0.5)),
    (Normal(0.0, 1.0), LogStudentTTau2(-3.44, 2.59, 5.0)),
    (Normal(0.0, 1.0), LogNormalTau2(-2.0, 1.5)),
]


@pytest.mark.parametrize("mu_prior,tau_prior", PRIORS)
def test_density_equals_the_priors_and_likelihood_up_to_a_constant(mu_prior, tau_prior):
    dat = bm.datasets.load("bcg")
    y, v = dat["yi"].to_numpy(float), dat["vi"].to_numpy(float)
    spec = fast_spec(mu_prior, tau_prior, y, v)
    assert spec is not None
    rng = np.random.default_rng(3)
    pts = np.column_stack([rng.normal(-0.5, 0.8, 12), rng.normal(-1.0, 1.0, 12)])
    fast = np.array([_call(spec.buffer, p)[1] for p in pts])
    ref = np.array([_numpy_logp(mu_prior, tau_prior, y, v, p) for p in pts])
    diff = fast - ref  # normalising constants only
    np.testing.assert_allclose(diff, diff[0], rtol=0, atol=1e-9)


@pytest.mark.parametrize("mu_prior,tau_prior", PRIORS)
def test_gradient_equals_finite_differences(mu_prior, tau_prior):
    dat = bm.datasets.load("normand1999")
    y, v = dat["yi"].to_numpy(float), dat["vi"].to_numpy(float)
    spec = fast_spec(mu_prior, tau_prior, y, v)
    for x in ([-10.0, 1.5], [-3.0, 2.5], [0.5, -0.5]):
        x = np.array(x)
        code, _, g = _call(spec.buffer, x)
        assert code == 0
        h = 1e-6
        num = [(_call(spec.buffer, x + h * e)[1] - _call(spec.buffer, x - h * e)[1]) / (2 * h)
               for e in np.eye(2)]
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-6)


def test_uncovered_priors_fall_back_to_the_pymc_graph():
    dat = bm.datasets.load("bcg")
    y, v = dat["yi"].to_numpy(float), dat["vi"].to_numpy(float)
    assert fast_spec(Normal(0, 1), Uniform(0.0, 10.0), y, v) is None  # interval transform
    m = bm.RandomEffects(dat, parameterization="noncentered")
    assert m._fast_spec() is None
    assert bm.RandomEffects(dat)._fast_spec() is not None


def test_return_codes_follow_nutpie():
    dat = bm.datasets.load("bcg")
    y, v = dat["yi"].to_numpy(float), dat["vi"].to_numpy(float)
    spec = fast_spec(Normal(0.0, 4.0), HalfNormal(0.5), y, v)
    x = np.array([0.1, -1.0])
    grad, out = np.zeros(3), np.zeros(1)
    args = (x.ctypes.data_as(PTR), grad.ctypes.data_as(PTR), out.ctypes.data_as(PTR),
            spec.buffer.ctypes.data_as(PTR))
    assert fd.logp_function()(3, *args) == -1  # dimension does not match the buffer
    assert _call(spec.buffer, np.array([0.1, 800.0]))[:2] == (4, -np.inf)  # tau = inf
    code, val, g = _call(spec.buffer, np.array([0.1, -800.0]))  # tau = 0: outside too
    assert (code, val) == (4, -np.inf) and not g.any()
    expanded = np.zeros(2)
    assert fd.expand_function()(2, 2, x.ctypes.data_as(PTR), expanded.ctypes.data_as(PTR),
                                spec.buffer.ctypes.data_as(PTR)) == 0
    np.testing.assert_array_equal(expanded, [0.1, np.exp(-1.0)])


def test_a_new_process_fits_without_numba_arviz_or_nutpies_python_layer():
    # the cold start of issue 16: the density is compiled by llvmlite in milliseconds and
    # nutpie's extension is driven directly, so none of the slow imports happen
    code = ("import sys, warnings; warnings.simplefilter('ignore'); import bayesma as bm; "
            "d = bm.datasets.load('bcg'); "
            "f = bm.RandomEffects(d).fit(draws=50, tune=50, chains=2, random_seed=1, "
            "progressbar=False); "
            "print(f.attrs['compiled_model_reused'], f.posterior['mu'].shape, "
            "*[m in sys.modules for m in ('numba', 'nutpie.sample', 'arviz', "
            "'matplotlib.pyplot', 'pymc', 'scipy.stats', 'scipy.optimize')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["0", "(2,", "50)", *["False"] * 7], out.stdout + out.stderr


def test_compiled_density_is_kept_on_disk_between_processes(tmp_path):
    code = ("import numpy as np; from bayesma.bayes import fast_density as fd; "
            "f = fd.compiled(); y = np.array([0.3, -0.2, 0.5]); v = np.array([0.1, 0.2, 0.05]); "
            "from bayesma.bayes.fastpath import fast_spec; from bayesma.priors import "
            "Normal, HalfNormal; s = fast_spec(Normal(0, 4), HalfNormal(0.5), y, v); "
            "import ctypes; P = ctypes.POINTER(ctypes.c_double); x = np.array([0.1, -1.0]); "
            "g = np.zeros(2); o = np.zeros(1); fd.logp_function()(2, x.ctypes.data_as(P), "
            "g.ctypes.data_as(P), o.ctypes.data_as(P), s.buffer.ctypes.data_as(P)); "
            "print(f.from_cache, repr(o[0]), repr(g[1]))")

    def run(folder: str) -> list[str]:
        env = dict(os.environ, **{fd.CACHE_ENV: folder})
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env=env)
        return out.stdout.split()

    first = run(str(tmp_path))
    files = list(tmp_path.glob("density-*.o"))
    assert first[0] == "False" and len(files) == 1
    second = run(str(tmp_path))
    assert second == ["True", *first[1:]]  # loaded, and the same machine code
    files[0].write_bytes(files[0].read_bytes()[:-7] + b"garbage")  # damaged: recompiled
    assert run(str(tmp_path)) == first
    assert run(str(tmp_path))[0] == "True"  # and stored again
    assert run("")[0] == "False" and run("")[0] == "False"  # switched off: never stored


def test_nutpie_imports_after_the_fast_path_loaded_its_extension():
    code = ("import warnings; warnings.simplefilter('ignore'); import sys, bayesma as bm; "
            "from bayesma.bayes.fastpath import nutpie_lib; lib = nutpie_lib(); "
            "import nutpie; from nutpie import _lib; "
            "print(lib is _lib, nutpie.__version__ == lib.__version__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["True", "True"], out.stdout + out.stderr


@pytest.mark.slow
def test_fast_and_compiled_paths_sample_the_same_posterior(monkeypatch):
    import arviz as az

    dat = bm.datasets.load("bcg")
    exact = bm.exact_posterior(dat)
    kw = dict(draws=1500, tune=1000, chains=4, random_seed=7, progressbar=False)
    fast = bm.RandomEffects(dat).fit(**kw)
    again = bm.RandomEffects(dat).fit(**kw)
    np.testing.assert_array_equal(fast.posterior["mu"].values,
                                  again.posterior["mu"].values)  # seeded: same draws
    monkeypatch.setenv(ENV_SWITCH, "0")
    compiled = bm.RandomEffects(dat).fit(**kw)
    assert not np.array_equal(fast.posterior["mu"].values, compiled.posterior["mu"].values)
    for fit in (fast, compiled):
        assert fit.divergences == 0
        for p in ("mu", "tau"):
            x = fit.posterior[p]
            z_mean = (fit.mean(p) - exact.mean(p)) / float(az.mcse(x, method="mean"))
            z_sd = (fit.sd(p) - exact.sd(p)) / float(az.mcse(x, method="sd"))
            assert abs(z_mean) < 4 and abs(z_sd) < 4, (p, z_mean, z_sd)


# ---------------------------------------------------------------- meta-regression
def _call_mr(buf: np.ndarray, x: np.ndarray) -> tuple[int, float, np.ndarray]:
    grad = np.zeros(x.size)
    out = np.zeros(1)
    code = fd.logp_function()(x.size, x.ctypes.data_as(PTR), grad.ctypes.data_as(PTR),
                             out.ctypes.data_as(PTR), buf.ctypes.data_as(PTR))
    return int(code), float(out[0]), grad


MR_PRIORS = [
    ([Normal(0.0, 4.0), Normal(0.0, 1.0)], HalfNormal(0.5)),
    ([Flat(), StudentT(3.0, 0.1, 0.5), Cauchy(0.0, 2.0)], LogNormalTau2(-2.0, 1.5)),
]


def _design(p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dat = bm.datasets.load("bcg")
    y, v = dat["yi"].to_numpy(float), dat["vi"].to_numpy(float)
    cols = [np.ones(y.size), dat["ablat"].to_numpy(float) - 33.0,
            dat["year"].to_numpy(float) - 1966.0][:p]
    return y, v, np.column_stack(cols)


@pytest.mark.parametrize("priors,tau_prior", MR_PRIORS)
def test_regression_density_and_gradient(priors, tau_prior):
    y, v, X = _design(len(priors))
    spec = fast_spec_regression(priors, tau_prior, y, v, X)
    assert spec is not None and spec.n_dim == len(priors) + 1
    rng = np.random.default_rng(5)
    pts = np.column_stack([rng.normal(0.0, 0.3, (8, len(priors))), rng.normal(-1, 1, 8)])
    fast, ref = [], []
    for x in pts:
        b, tau = x[:-1], np.exp(x[-1])
        lp = sum(0.0 if isinstance(pr, Flat) else float(pr.log_density(v)(np.array([bj]))[0])
                 for pr, bj in zip(priors, b, strict=True))
        lp += float(tau_prior.log_density(v)(np.array([tau]))[0]) + x[-1]
        ref.append(lp + float(normal_marginal_loglik(y, v, X @ b, tau**2).sum()))
        code, val, g = _call_mr(spec.buffer, x)
        assert code == 0
        fast.append(val)
        h = 1e-6
        num = [(_call_mr(spec.buffer, x + h * e)[1] - _call_mr(spec.buffer, x - h * e)[1])
               / (2 * h) for e in np.eye(x.size)]
        np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-5)
    diff = np.array(fast) - np.array(ref)  # normalising constants only
    np.testing.assert_allclose(diff, diff[0], rtol=0, atol=1e-9)


def test_regression_fast_spec_follows_the_model():
    dat = bm.datasets.load("bcg")
    m = bm.MetaRegression(dat, mods="~ ablat")
    spec = m._fast_spec()
    assert spec is not None and spec.names == ("beta", "tau") and spec.shapes == ((2,), ())
    assert bm.MetaRegression(dat, mods="~ ablat", tau_prior=Uniform(0, 5))._fast_spec() is None
    assert bm.MetaRegression(dat, mods="~ ablat",
                             parameterization="noncentered")._fast_spec() is None


@pytest.mark.slow
def test_regression_fast_path_samples_the_exact_posterior():
    import arviz as az

    dat = bm.datasets.load("bcg")
    exact = bm.exact_posterior(dat, mods="~ ablat")
    fit = bm.MetaRegression(dat, mods="~ ablat").fit(draws=1000, tune=600, chains=2,
                                                     random_seed=11, progressbar=False)
    assert fit.divergences == 0
    for p in ("mu", "tau", "beta[ablat]"):
        x = fit.posterior["beta"].sel(term="ablat") if p == "beta[ablat]" else fit.posterior[p]
        z = (fit.mean(p) - exact.mean(p)) / float(az.mcse(x, method="mean"))
        assert abs(z) < 4, (p, z)


def test_a_density_that_cannot_compile_falls_back_to_the_pymc_model(monkeypatch):
    import bayesma.bayes.fastpath as fp
    import bayesma.bayes.sampling as sampling

    def broken():
        raise RuntimeError("LLVM failed")

    monkeypatch.setattr(fp, "load_functions", broken)
    dat = bm.datasets.load("bcg")
    m = bm.RandomEffects(dat)
    with pytest.raises(fp.FastPathUnsupported, match="LLVM failed"):
        fp.sample_fast(m._fast_spec(), draws=10, tune=10, chains=1, cores=1, seed=1,
                       progress_bar=False)

    class Compiled(Exception):
        pass

    def compile_instead(key, build):  # stands for compiling the PyMC model
        raise Compiled

    monkeypatch.setattr(sampling, "compiled_nutpie", compile_instead)
    with pytest.raises(Compiled):
        m.fit(draws=10, tune=10, chains=1, random_seed=1, progressbar=False)

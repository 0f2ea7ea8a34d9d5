"""nutpie's compiled PyMC models with disk-cached wrappers (bayesma/bayes/compile_cache.py):
the same numbers as ``nutpie.compile_pymc_model``, ``with_data``, the cache across
processes, and the fall-back."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from bayesma.bayes import compile_cache as cc

pytestmark = pytest.mark.slow  # compiles PyMC models

PTR = ctypes.POINTER(ctypes.c_double)

# a model with every kind of shared data bayesma uses: float and integer vectors, a
# matrix and a scalar hyperparameter (pm.Data of rank 0)
MODEL = textwrap.dedent("""
    import numpy as np, pymc as pm

    def model(k=7, seed=3):
        rng = np.random.default_rng(seed)
        with pm.Model() as m:
            y = pm.Data("y", rng.normal(size=k))
            v = pm.Data("v", rng.uniform(0.05, 0.3, size=k))
            g = pm.Data("g", np.arange(k) % 2)
            X = pm.Data("X", rng.normal(size=(k, 2)))
            s = pm.Data("s", 0.5)
            mu = pm.Normal("mu", 0.0, 2.0, shape=2)
            b = pm.Normal("b", 0.0, 1.0, shape=2)
            tau = pm.HalfNormal("tau", s)
            theta = pm.Normal("theta", mu[g] + X @ b, tau, shape=k)
            pm.Normal("obs", theta, pm.math.sqrt(v), observed=y)
        return m
""")


def _model(k: int = 7, seed: int = 3):
    ns: dict = {}
    exec(MODEL, ns)  # test fixture code, written above
    return ns["model"](k, seed)


def _logp(compiled, x: np.ndarray) -> tuple[int, float, np.ndarray]:
    grad = np.zeros(x.size)
    out = np.zeros(1)
    code = compiled.compiled_logp_func.ctypes(
        x.size, x.ctypes.data_as(PTR), grad.ctypes.data_as(PTR), out.ctypes.data_as(PTR),
        ctypes.c_void_p(compiled.user_data.ctypes.data))
    return int(code), float(out[0]), grad


def _expand(compiled, x: np.ndarray) -> tuple[int, np.ndarray]:
    out = np.zeros(compiled.n_expanded)
    code = compiled.compiled_expand_func.ctypes(
        x.size, compiled.n_expanded, x.ctypes.data_as(PTR), out.ctypes.data_as(PTR),
        ctypes.c_void_p(compiled.user_data.ctypes.data))
    return int(code), out


def _same(ours, theirs, rng) -> None:
    assert ours.n_dim == theirs.n_dim and ours.n_expanded == theirs.n_expanded
    assert ours.shape_info[0] == theirs.shape_info[0]
    for _ in range(5):
        x = rng.normal(size=ours.n_dim)
        a, b = _logp(ours, x), _logp(theirs, x)
        assert a[0] == b[0] == 0 and a[1] == b[1]
        np.testing.assert_array_equal(a[2], b[2])
        ea, eb = _expand(ours, x), _expand(theirs, x)
        assert ea[0] == eb[0] == 0
        np.testing.assert_array_equal(ea[1], eb[1])
    x = np.full(ours.n_dim, np.nan)  # nutpie's return codes: 3 for a non-finite gradient
    assert _logp(ours, x)[0] == _logp(theirs, x)[0] == 3
    assert _logp(ours, x[:-1])[0] == -1  # a dimension that does not match


@pytest.fixture(scope="module")
def both():
    """(ours, nutpie's) compiled models of the same model."""
    import nutpie

    return cc.compile_pymc_model(_model()), nutpie.compile_pymc_model(_model())


def test_wrappers_compute_what_nutpies_compute(both):
    rng = np.random.default_rng(0)
    ours, theirs = both
    _same(ours, theirs, rng)
    # new data (with_data writes nutpie's record, which the wrappers read at fixed offsets)
    new = {"y": rng.normal(size=7), "v": rng.uniform(0.05, 0.3, 7), "g": np.arange(7) % 2,
           "X": rng.normal(size=(7, 2)), "s": 0.8}
    ours_new, theirs_new = ours.with_data(**new), theirs.with_data(**new)
    _same(ours_new, theirs_new, rng)
    assert _logp(ours_new, np.zeros(ours.n_dim))[1] != _logp(ours, np.zeros(ours.n_dim))[1]


def test_seeded_sampling_gives_nutpies_draws(both):
    import nutpie

    kw = dict(draws=60, tune=60, chains=2, seed=11, progress_bar=False)
    a, b = (nutpie.sample(c, **kw) for c in both)
    for name in ("mu", "b", "tau", "theta"):
        np.testing.assert_array_equal(a.posterior[name].values, b.posterior[name].values)


def test_a_second_process_loads_the_wrappers_from_disk(tmp_path):
    code = MODEL + textwrap.dedent("""
        import warnings; warnings.simplefilter("ignore")
        from bayesma.bayes.compile_cache import compile_pymc_model
        import ctypes
        c = compile_pymc_model(model())
        P = ctypes.POINTER(ctypes.c_double)

        def logp(c):
            x, g, o = np.full(c.n_dim, 0.1), np.zeros(c.n_dim), np.zeros(1)
            code = c.compiled_logp_func.ctypes(c.n_dim, x.ctypes.data_as(P),
                                               g.ctypes.data_as(P), o.ctypes.data_as(P),
                                               ctypes.c_void_p(c.user_data.ctypes.data))
            return code, repr(o[0])

        # data that do not fit the compiled shapes: the graph raises, the wrapper says 1
        bad = c.with_data(y=np.zeros(9), v=np.ones(9), g=np.zeros(9, dtype=int),
                          X=np.zeros((9, 2)))
        print(c.compiled_logp_func.cache_hits, c.compiled_expand_func.cache_hits,
              *logp(c), logp(bad)[0])
    """)
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={tmp_path}")

    def run() -> list[str]:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env)
        assert out.returncode == 0, out.stderr[-3000:]
        return out.stdout.split()

    first = run()
    assert first[:2] == ["0", "0"] and first[2] == "0" and first[4] == "1"  # stored
    assert run() == ["1", "1", *first[2:]]  # loaded (nothing compiled): the same numbers
    assert any((tmp_path / "numba").glob("*.nbc"))


def test_a_failure_falls_back_to_nutpies_compile(monkeypatch):
    import nutpie

    def broken(model):
        raise AttributeError("nutpie changed")

    monkeypatch.setattr(cc, "_compile", broken)
    monkeypatch.setattr(nutpie, "compile_pymc_model", lambda model: "nutpie's")
    with pytest.warns(RuntimeWarning, match="could not build disk-cached nutpie wrappers"):
        assert cc.compile_pymc_model(_model()) == "nutpie's"


def test_switched_off_by_the_environment(monkeypatch):
    import nutpie

    monkeypatch.setenv(cc.ENV_SWITCH, "0")
    assert not cc.enabled()
    monkeypatch.setattr(nutpie, "compile_pymc_model", lambda model: "nutpie's")
    assert cc.compile_pymc_model(_model()) == "nutpie's"
    monkeypatch.setenv(cc.ENV_SWITCH, "1")
    assert cc.enabled()

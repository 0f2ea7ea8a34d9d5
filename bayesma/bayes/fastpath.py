"""Disk-cached log densities of the marginal random-effects and meta-regression models.

nutpie compiles a PyMC model into numba machine code that lives only as long as the
process: every new process (a CLI run, a notebook restart, a worker) pays 3-6 s before
its first draw (issue 16). The marginal normal random-effects model, the one most fits
use, has a two-dimensional posterior whose log density and gradient are short enough to
write by hand. They are compiled once by numba with ``cache=True``: numba keeps the
machine code in its cache folder (beside this file, or the user's cache folder when the
package is read-only), keyed by this file's contents, the signature and the numba
version, written atomically so concurrent runs are safe; later processes load it in
milliseconds.

The density is that of :class:`bayesma.bayes.models.RandomEffects` with
``parameterization="marginal"`` (Röver 2020, J Stat Softw 93(6), eq. 3)::

    log p(mu, log tau | y) = log p_mu(mu) + log p_tau(tau) + log tau
                             + sum_i log N(y_i | mu, v_i + tau²)  + const

in the sampler's coordinates ``x = (mu, log tau)``; the tau prior enters through the
same kernel coefficients as the PyMC graph (:func:`bayesma.bayes.models.tau_kernel`,
:meth:`bayesma.priors.Prior.kernel_coefficients`), the mu prior is Normal, Student t,
Cauchy or flat. Normalising constants are dropped, so the ``logp`` sample statistic
differs from PyMC's by a constant; the posterior is the same (tested against the exact
engine in ``tests/bayes/test_fastpath.py``).

:class:`bayesma.bayes.models.MetaRegression` (marginal) has one too: the same with
``y_i ~ N(x_i' b, v_i + tau²)`` in the coordinates ``(b, log tau)``, each coefficient
with its Normal, Student t, Cauchy or flat prior (:func:`fast_spec_regression`); its
posterior variables are ``beta`` (the sampled, centred coefficients) and ``tau``.

The sampler is nutpie's, driven through its compiled-model interface (the same entry
points :func:`nutpie.compile_pymc_model` returns). :func:`available` says whether this
nutpie has them; otherwise, or for any model it does not cover, the fit compiles the
PyMC model as before.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bayesma.priors import KERNEL_DEFAULTS, Prior

__all__ = ["ENV_SWITCH", "FastSpec", "available", "fast_path_enabled", "fast_spec",
           "fast_spec_regression", "load_functions", "sample_fast"]

#: Environment variable that switches the fast path off (``BAYESMA_FAST_DENSITY=0``): every
#: model is then compiled from its PyMC graph, as before.
ENV_SWITCH = "BAYESMA_FAST_DENSITY"

#: mu prior families of the fast density and their codes in the data buffer
MU_FAMILIES = {"Normal": 0, "StudentT": 1, "Cauchy": 2, "Flat": 3}
#: layout of the data buffer: k, mu family code, 3 mu hyperparameters, the kernel
#: (KERNEL_DEFAULTS order), then y and v (see fast_density.py)
HEAD = 5


@dataclass(frozen=True)
class FastSpec:
    """What the fast density needs: the data buffer and the starting point's centre.

    ``kind`` names the density (``"re"``: random effects, ``"mr"``: meta-regression);
    ``names`` and ``shapes`` are the posterior variables it expands to.
    """

    buffer: np.ndarray
    init: tuple[float, ...]
    names: tuple[str, ...] = field(default=("mu", "tau"))
    shapes: tuple[tuple[int, ...], ...] = field(default=((), ()))
    kind: str = "re"

    @property
    def n_dim(self) -> int:
        """Dimension of the sampler's space."""
        return len(self.init)


def _mu_code(prior: Prior) -> tuple[int, tuple[float, float, float]] | None:
    name = type(prior).__name__
    if name not in MU_FAMILIES:
        return None
    h = prior.hyperparameters()
    if name == "Normal":
        return 0, (float(h["mu"]), float(h["sigma"]), 0.0)
    if name == "StudentT":
        return 1, (float(h["mu"]), float(h["sigma"]), float(h["nu"]))
    if name == "Cauchy":
        return 2, (float(h["alpha"]), float(h["beta"]), 0.0)
    return 3, (0.0, 1.0, 0.0)


def fast_spec(mu_prior: Prior, tau_prior: Prior, yi: np.ndarray, vi: np.ndarray,
              ) -> FastSpec | None:
    """The fast density's inputs for a marginal random-effects model, or None when the
    priors are not covered (data-dependent tau priors, other mu families)."""
    mu = _mu_code(mu_prior)
    kern = tau_prior.kernel_coefficients() if tau_prior.data_free else None
    if mu is None or kern is None or kern["lo"] > 0 or math.isfinite(kern["hi"]):
        # bounded tau priors (uniform) need PyMC's interval transform, not log tau
        return None
    code, (a, b, c) = mu
    y = np.asarray(yi, dtype=float)
    v = np.asarray(vi, dtype=float)
    buf = np.concatenate([[float(y.size), float(code), a, b, c],
                          [float(kern[k]) for k in KERNEL_DEFAULTS], y, v])
    # start near the tau prior's scale (PyMC starts at the support point; any start in
    # the typical set gives the same posterior)
    t0 = max(float(tau_prior.scale or 0.5), 1e-3)
    return FastSpec(np.ascontiguousarray(buf), (a if code != 3 else float(np.mean(y)),
                                                math.log(t0)))


def fast_spec_regression(priors: list[Prior], tau_prior: Prior, yi: np.ndarray,
                         vi: np.ndarray, X: np.ndarray) -> FastSpec | None:
    """The fast density's inputs for a marginal meta-regression ``y ~ N(X b, v + tau²)``
    (``priors``: one per column of ``X``), or None when a prior is not covered."""
    codes = [_mu_code(pr) for pr in priors]
    kern = tau_prior.kernel_coefficients() if tau_prior.data_free else None
    if (any(c is None for c in codes) or kern is None or kern["lo"] > 0
            or math.isfinite(kern["hi"])):
        return None
    y = np.asarray(yi, dtype=float)
    v = np.asarray(vi, dtype=float)
    Xm = np.asarray(X, dtype=float)
    k, p = Xm.shape
    if p != len(priors) or y.size != k:
        return None
    block = [float(x) for code, hyper in codes for x in (code, *hyper)]
    buf = np.concatenate([[float(k), float(p)], [float(kern[n]) for n in KERNEL_DEFAULTS],
                          block, y, v, Xm.ravel()])
    t0 = max(float(tau_prior.scale or 0.5), 1e-3)
    # the start: each prior's location (a flat intercept: the mean effect, a flat slope: 0)
    ones = np.all(Xm == 1.0, axis=0)
    init = [a if code != 3 else (float(np.mean(y)) if ones[j] else 0.0)
            for j, (code, (a, _, _)) in enumerate(codes)]
    return FastSpec(np.ascontiguousarray(buf), (*init, math.log(t0)), ("beta", "tau"),
                    ((p,), ()), "mr")


def load_functions() -> tuple[Any, float]:
    """The module holding the compiled log density and expansion (loaded from numba's
    disk cache after the first process), and the seconds it took in this process."""
    t0 = time.perf_counter()
    import bayesma.bayes.fast_density as fd  # numba: compiles once, then loads from disk

    return fd, time.perf_counter() - t0


def fast_path_enabled() -> bool:
    """True unless ``BAYESMA_FAST_DENSITY=0`` or this nutpie lacks the entry points."""
    return os.environ.get(ENV_SWITCH, "1") != "0" and available()


def available() -> bool:
    """True when this nutpie exposes the compiled-model entry points the fast path uses."""
    try:
        from nutpie import _lib
        from nutpie.sample import CompiledModel  # noqa: F401
    except ImportError:  # pragma: no cover
        return False
    return all(hasattr(_lib, n) for n in ("LogpFunc", "ExpandFunc", "PyMcModel",
                                          "PyVariable", "PySampler"))


def _model_class():
    from nutpie import _lib
    from nutpie.sample import CompiledModel

    @dataclass(frozen=True)
    class FastModel(CompiledModel):
        """A nutpie compiled model whose logp/expand are bayesma's cached cfuncs."""

        spec: FastSpec
        funcs: Any

        @property
        def n_dim(self) -> int:
            return self.spec.n_dim

        @property
        def shapes(self) -> dict[str, tuple[int, ...]]:
            return dict(zip(self.spec.names, self.spec.shapes, strict=True))

        @property
        def coords(self) -> dict:
            return {d: [str(i) for i in range(n)] for d, n in self._dim_sizes().items()}

        def _var_dims(self) -> dict[str, list[str]]:
            # vector variables get dimensions named as nutpie names them (beta_dim_0)
            return {name: [f"{name}_dim_{i}" for i in range(len(shape))]
                    for name, shape in zip(self.spec.names, self.spec.shapes, strict=True)
                    if shape}

        def _dim_sizes(self) -> dict[str, int]:
            return {f"{name}_dim_{i}": n
                    for name, shape in zip(self.spec.names, self.spec.shapes, strict=True)
                    for i, n in enumerate(shape)}

        def _init_point(self, seed: int) -> np.ndarray:
            # PyMC/nutpie's default: the start point jittered by U(-1, 1)
            rng = np.random.default_rng(seed)
            return np.array(self.spec.init) + rng.uniform(-1.0, 1.0, self.spec.n_dim)

        def _make_model(self, init_mean):
            n, buf, kind = self.spec.n_dim, self.spec.buffer, self.spec.kind
            expand = _lib.ExpandFunc(n, n, getattr(self.funcs, f"expand_{kind}").address,
                                     buf.ctypes.data, self)
            logp = _lib.LogpFunc(getattr(self.funcs, f"logp_{kind}").address,
                                 buf.ctypes.data, self)
            names = list(self.spec.names)
            variables = _lib.PyVariable.new_variables(
                names, ["float64"] * len(names), list(self.spec.shapes), self._dim_sizes(),
                self._var_dims())
            return _lib.PyMcModel(logp, expand, variables, n, self._dim_sizes(), self.coords,
                                  self._init_point, None)

        def _make_sampler(self, settings, init_mean, cores, progress_type, extra_callback,
                          extra_callback_rate, store):
            model = self._make_model(init_mean)
            return _lib.PySampler.from_pymc(settings, cores, model, progress_type,
                                            extra_callback, extra_callback_rate, store)

    return FastModel


def sample_fast(spec: FastSpec, **sample_kwargs: Any) -> tuple[Any, float, bool]:
    """Sample the fast density with :func:`nutpie.sample`.

    Returns the sampler's trace, the seconds spent getting the compiled functions, and
    whether they were already loaded in this process.
    """
    import nutpie

    cached = "bayesma.bayes.fast_density" in sys.modules
    funcs, seconds = load_functions()
    seconds = 0.0 if cached else seconds  # nothing loaded: already in this process
    model = _model_class()(dims={}, spec=spec, funcs=funcs)
    return nutpie.sample(model, **sample_kwargs), seconds, cached

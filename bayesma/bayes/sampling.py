"""Sampler dispatch and the compiled-model cache.

PyMC 6 recompiles the model on every ``pm.sample`` call (about 1 s with PyMC's NUTS,
3-5 s with nutpie, measured in ../shared/docs/stack-notes.md, section 3). nutpie can
instead compile a model once (``nutpie.compile_pymc_model``; here
:func:`bayesma.bayes.compile_cache.compile_pymc_model`, the same with its wrappers kept in
numba's disk cache, so a new process compiles a known structure in about 1.3 s) and
re-feed it new values of its ``pm.Data`` containers (``CompiledModel.with_data``), which
samples a k = 13 random-effects model in about 0.1 s. bayesma builds every model with its
data *and its prior hyperparameters* as ``pm.Data`` and keeps compiled models in a
process-wide cache keyed by the model's *structure* (model class, parameterization, prior
families, number of coefficients...), so a refit with new data or new hyperparameters of
the same prior families skips compilation, whichever model object asks for it.

``with_data`` only checks the rank of each array, so arrays may change length. Models
whose sampled parameters do not grow with k (the marginal parameterization: mu, tau,
beta only) can therefore reuse one compiled model for any number of studies; models with
one latent variable per study put k in their cache key.

The marginal random-effects and meta-regression models skip PyMC and this cache
altogether when their priors allow (:mod:`bayesma.bayes.fastpath`): their density is
machine code built by llvmlite and kept in the user's cache folder (loaded in about 2 ms
by a new process), and nutpie's sampler is driven directly, so a new process's first fit
costs what a refit costs (issue 16).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from bayesma.bayes.compile_cache import compile_pymc_model
from bayesma.bayes.fastpath import (
    FastPathUnsupported,
    FastSpec,
    fast_path_enabled,
    sample_fast,
)
from bayesma.errors import BayesmaError

__all__ = [
    "SAMPLERS",
    "SamplerRun",
    "cache_clear",
    "cache_info",
    "compiled_nutpie",
    "resolve_progressbar",
    "run_sampler",
]

#: Samplers understood by :func:`run_sampler`.
SAMPLERS = ("nutpie", "pymc", "numpyro")

#: Most compiled models kept (each holds nutpie's numba-compiled logp/gradient functions).
CACHE_SIZE = 32

_CACHE: OrderedDict[Hashable, Any] = OrderedDict()
_STATS = {"hits": 0, "misses": 0}


@dataclass
class SamplerRun:
    """Raw output of one sampler run.

    Attributes
    ----------
    posterior : xarray.Dataset
        Draws of the model's free and deterministic variables, dims (chain, draw, ...).
    sample_stats : xarray.Dataset
        Numeric sampler statistics (``diverging`` always present).
    sampler : str
        "nutpie", "pymc" or "numpyro".
    compile_seconds, sampling_seconds : float
        Wall time spent compiling (0 when the compiled model came from the cache) and
        sampling.
    cached : bool
        True when a cached compiled model was reused.
    attrs : dict
        Attributes of the sampler's posterior group (library, versions).
    """

    posterior: xr.Dataset
    sample_stats: xr.Dataset
    sampler: str
    compile_seconds: float
    sampling_seconds: float
    cached: bool
    attrs: dict[str, Any] = field(default_factory=dict)


def cache_info() -> dict[str, int]:
    """Hits, misses and current size of the compiled-model cache."""
    return {**_STATS, "size": len(_CACHE), "maxsize": CACHE_SIZE}


def cache_clear() -> None:
    """Drop every cached compiled model (the next fit of each structure recompiles)."""
    _CACHE.clear()
    _STATS.update(hits=0, misses=0)


def compiled_nutpie(key: Hashable, build: Callable[[], Any]) -> tuple[Any, float, bool]:
    """The nutpie ``CompiledModel`` for a model structure, compiling it on first use.

    Parameters
    ----------
    key : hashable
        Structural signature of the model (see ``bayesma.bayes.models``).
    build : callable
        Returns the ``pm.Model`` to compile when ``key`` is not cached.

    Returns
    -------
    compiled, seconds, cached
        The compiled model, the compile time (0.0 on a cache hit) and whether it was a
        hit.
    """
    if key in _CACHE:
        _CACHE.move_to_end(key)
        _STATS["hits"] += 1
        return _CACHE[key], 0.0, True
    _STATS["misses"] += 1
    t0 = time.perf_counter()
    compiled = compile_pymc_model(build())  # nutpie's, with its wrappers cached on disk
    seconds = time.perf_counter() - t0
    _CACHE[key] = compiled
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return compiled, seconds, False


def _numeric_stats(ds: xr.Dataset) -> xr.Dataset:
    """Sampler statistics that are numbers or booleans (netCDF-safe)."""
    keep = [
        name
        for name, var in ds.data_vars.items()
        if var.dtype.kind in "biuf" and name not in ("divergence_message",)
    ]
    out = ds[keep]
    if "diverging" in out:
        out["diverging"] = out["diverging"].astype(bool)
    return out


def _default_cores() -> int:
    return os.cpu_count() or 1


def resolve_progressbar(progressbar: bool | None) -> bool:
    """``progressbar`` as a bool: None means "only when standard error is a terminal".

    tqdm-style bars written into a log file or a CI log are hundreds of lines of
    carriage returns; the samplers draw them on ``sys.stderr``.
    """
    if progressbar is not None:
        return bool(progressbar)
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


def _run_fast(fast: FastSpec, *, draws: int, tune: int, chains: int, cores: int,
              seed: int, progressbar: bool, target_accept: float | None) -> SamplerRun:
    """nutpie's NUTS on a disk-cached density (:mod:`bayesma.bayes.fastpath`), its trace
    wrapped in the same datasets as a compiled PyMC model's."""
    t0 = time.perf_counter()
    trace, t_compile, cached = sample_fast(
        fast, draws=int(draws), tune=int(tune), chains=int(chains), cores=cores,
        seed=int(seed), progress_bar=progressbar, target_accept=target_accept)
    _STATS["hits" if cached else "misses"] += 1
    n_chains, n_draws = next(iter(trace.sample_stats.values())).shape
    coords: dict[str, Any] = {"chain": np.arange(n_chains), "draw": np.arange(n_draws)}
    for name, dims in trace.dims.items():
        for i, dim in enumerate(dims):
            coords[dim] = [str(j) for j in range(trace.posterior[name].shape[2 + i])]
    post = xr.Dataset(
        {name: (("chain", "draw", *trace.dims.get(name, [])), values)
         for name, values in trace.posterior.items()}, coords=coords)
    stats = xr.Dataset({name: (("chain", "draw"), values)
                        for name, values in trace.sample_stats.items()},
                       coords={"chain": coords["chain"], "draw": coords["draw"]})
    if "diverging" in stats:
        stats["diverging"] = stats["diverging"].astype(bool)
    t_sample = time.perf_counter() - t0 - t_compile
    return SamplerRun(post, stats, "nutpie", t_compile, t_sample, cached, dict(trace.attrs))


def run_sampler(
    *,
    key: Hashable,
    build: Callable[[], Any],
    data: Mapping[str, Any],
    sampler: str = "nutpie",
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    cores: int | None = None,
    seed: int = 0,
    target_accept: float | None = None,
    progressbar: bool | None = None,
    fast: FastSpec | None = None,
) -> SamplerRun:
    """Sample a model with the chosen NUTS implementation.

    Parameters
    ----------
    key : hashable
        Structural signature used by the nutpie cache.
    build : callable
        Returns a fresh ``pm.Model`` holding ``data`` (used for compiling with nutpie and
        on every call for PyMC's and numpyro's NUTS, which always recompile).
    data : mapping
        Values of every ``pm.Data`` container of the model (fed to nutpie's
        ``with_data``; ``build`` already holds them).
    sampler : {"nutpie", "pymc", "numpyro"}
        NUTS implementation.
    draws, tune, chains : int
        Draws kept per chain, tuning iterations per chain, number of chains.
    cores : int, optional
        Chains run in parallel; default all cores (``os.cpu_count()``).
    seed : int
        Random seed.
    target_accept : float, optional
        NUTS target acceptance rate (sampler default 0.8 when None).
    progressbar : bool, optional
        Show the sampler's progress bar; None (default) only when standard error is a
        terminal (:func:`resolve_progressbar`).
    fast : FastSpec, optional
        The model's disk-cached density (:mod:`bayesma.bayes.fastpath`): with nutpie it
        replaces compiling ``build()`` (no per-process compilation).

    Returns
    -------
    SamplerRun
    """
    if sampler not in SAMPLERS:
        raise BayesmaError(f"sampler must be one of {', '.join(SAMPLERS)}; got {sampler!r}")
    cores = _default_cores() if cores is None else int(cores)
    progressbar = resolve_progressbar(progressbar)
    if sampler == "nutpie":
        if fast is not None and fast_path_enabled():
            try:
                return _run_fast(fast, draws=draws, tune=tune, chains=chains, cores=cores,
                                 seed=seed, progressbar=progressbar,
                                 target_accept=target_accept)
            except FastPathUnsupported:  # another nutpie version, or no compiled density
                pass  # the PyMC model, compiled below, samples the same posterior
        import nutpie

        kwargs: dict[str, Any] = dict(draws=int(draws), tune=int(tune), chains=int(chains),
                                      cores=cores, seed=int(seed), progress_bar=progressbar,
                                      save_warmup=False)
        if target_accept is not None:
            kwargs["target_accept"] = float(target_accept)
        compiled, t_compile, cached = compiled_nutpie(key, build)
        t0 = time.perf_counter()
        tree = nutpie.sample(
            compiled.with_data(**{k: np.asarray(v) for k, v in data.items()}), **kwargs)
        t_sample = time.perf_counter() - t0
        post = tree["posterior"].to_dataset()
        stats = tree["sample_stats"].to_dataset()
        attrs = dict(post.attrs)
        attrs.setdefault("inference_library", "nutpie")
        return SamplerRun(
            post, _numeric_stats(stats), "nutpie", t_compile, t_sample, cached, attrs
        )

    import pymc as pm

    if sampler == "numpyro":
        try:
            import numpyro  # noqa: F401
        except ImportError as exc:
            raise BayesmaError(
                "sampler='numpyro' needs numpyro and jax: pip install numpyro"
            ) from exc
    model = build()
    kwargs = {}
    if target_accept is not None:
        kwargs["target_accept"] = float(target_accept)
    t0 = time.perf_counter()
    with model, warnings.catch_warnings():
        # PyMC/numpyro chatter that bayesma's own diagnostics replace
        warnings.filterwarnings("ignore", message=".*fork\\(\\) may lead to deadlocks.*")
        tree = pm.sample(
            draws=int(draws),
            tune=int(tune),
            chains=int(chains),
            cores=cores,
            random_seed=int(seed),
            nuts_sampler=sampler,
            progressbar=progressbar,
            compute_convergence_checks=False,
            **kwargs,
        )
    t_total = time.perf_counter() - t0
    post = tree["posterior"].to_dataset()
    stats = tree["sample_stats"].to_dataset()
    attrs = dict(post.attrs)
    # pm.sample compiles inside the call: the split is not observable, report it all as
    # sampling time and flag the fit as uncached
    return SamplerRun(post, _numeric_stats(stats), sampler, 0.0, t_total, False, attrs)

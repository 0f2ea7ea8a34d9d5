"""A fast path for MCMC on the marginal random-effects and meta-regression models.

nutpie compiles a PyMC model into numba machine code that lives only as long as the
process: every new process (a CLI run, a notebook restart, a worker) paid 3-6 s before its
first draw (issue 16). The marginal normal random-effects model and meta-regression, the
models most fits use, have posteriors of dimension p + 1 whose log density and gradient
are short enough to write by hand. :mod:`bayesma.bayes.fast_density` writes them in LLVM's
intermediate representation, compiles them once (about 0.1 s) and keeps the object code in
the user's cache folder (keyed by its source, the LLVM version and the CPU, written
atomically and checked on reading), so a new process loads it in about 2 ms.

The density is that of :class:`bayesma.bayes.models.MetaRegression` with
``parameterization="marginal"`` (Röver 2020, J Stat Softw 93(6), eq. 3, with covariates)::

    log p(b, log tau | y) = sum_j log p_j(b_j) + log p_tau(tau) + log tau
                            + sum_i log N(y_i | x_i' b, v_i + tau²)  + const

in the sampler's coordinates ``x = (b, log tau)``; :class:`~bayesma.bayes.models.RandomEffects`
is the case ``X = 1`` (b = mu). The tau prior enters through the same kernel coefficients
as the PyMC graph (:func:`bayesma.bayes.models.tau_kernel`,
:meth:`bayesma.priors.Prior.kernel_coefficients`); each coefficient's prior is Normal,
Student t, Cauchy or flat. Normalising constants are dropped, so the ``logp`` sample
statistic differs from PyMC's by a constant; the posterior is the same (tested against the
exact engine in ``tests/bayes/test_fastpath.py``).

The sampler is nutpie's NUTS, driven through its compiled extension (:func:`nutpie_lib`,
the entry points ``nutpie.compile_pymc_model`` uses) without importing nutpie's Python
layer, which pulls in ArviZ, arviz-plots and matplotlib. :func:`available` says whether
this nutpie has them; otherwise, or for any model it does not cover, the fit compiles the
PyMC model as before.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from bayesma.priors import KERNEL_DEFAULTS, Prior

__all__ = ["ENV_SWITCH", "FastPathUnsupported", "FastSpec", "FastTrace", "available",
           "fast_path_enabled", "fast_spec", "fast_spec_regression", "load_functions",
           "nutpie_lib", "sample_fast"]

#: Environment variable that switches the fast path off (``BAYESMA_FAST_DENSITY=0``): every
#: model is then compiled from its PyMC graph, as before.
ENV_SWITCH = "BAYESMA_FAST_DENSITY"

#: coefficient prior families of the fast density and their codes in the data buffer
#: (layout: :mod:`bayesma.bayes.fast_density`)
MU_FAMILIES = {"Normal": 0, "StudentT": 1, "Cauchy": 2, "Flat": 3}


@dataclass(frozen=True)
class FastSpec:
    """What the fast density needs: the data buffer and the starting point's centre.

    ``kind`` names the model (``"re"``: random effects, ``"mr"``: meta-regression; both
    use the same density); ``names`` and ``shapes`` are the posterior variables it
    expands to.
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
    """The fast density's inputs for a marginal random-effects model (the meta-regression
    density with one column of ones), or None when the priors are not covered
    (data-dependent tau priors, other mu families)."""
    y = np.asarray(yi, dtype=float)
    base = fast_spec_regression([mu_prior], tau_prior, y, vi, np.ones((y.size, 1)))
    return None if base is None else FastSpec(base.buffer, base.init)


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
    """The compiled log density and expansion (:func:`bayesma.bayes.fast_density.compiled`:
    addresses of machine code built in this process) and the seconds it took here."""
    t0 = time.perf_counter()
    from bayesma.bayes.fast_density import compiled

    return compiled(), time.perf_counter() - t0


def fast_path_enabled() -> bool:
    """True unless ``BAYESMA_FAST_DENSITY=0`` or this nutpie lacks the entry points."""
    return os.environ.get(ENV_SWITCH, "1") != "0" and available()


_LIB_LOCK = threading.Lock()

#: what :func:`nutpie_lib` needs from nutpie's compiled extension
LIB_NAMES = ("LogpFunc", "ExpandFunc", "PyMcModel", "PyVariable", "PySampler",
             "PyNutsSettings", "PyStorage", "ProgressType")


def nutpie_lib() -> Any | None:
    """nutpie's compiled extension ``nutpie._lib``, without nutpie's Python layer.

    ``import nutpie`` imports ArviZ, arviz-plots, matplotlib and scipy.stats (about 3.5 s
    in a new process, issue 16) only to convert the trace; the sampler itself is the
    extension. It is loaded from nutpie's folder and registered as ``nutpie._lib`` in
    ``sys.modules``, so a later ``import nutpie`` finds and reuses it (a PyO3 module can
    be initialised once per process). None when nutpie or its extension is missing.
    """
    with _LIB_LOCK:  # an extension module can be initialised only once
        return _load_nutpie_lib()


def _load_nutpie_lib() -> Any | None:
    mod = sys.modules.get("nutpie._lib")
    if mod is None and "nutpie" in sys.modules:  # pragma: no cover - nutpie half imported
        mod = getattr(sys.modules["nutpie"], "_lib", None)
    if mod is None:
        try:
            spec = importlib.util.find_spec("nutpie")
        except (ImportError, ValueError):  # pragma: no cover
            return None
        folders = list(spec.submodule_search_locations or []) if spec else []
        paths = [os.path.join(f, "_lib" + suffix) for f in folders
                 for suffix in importlib.machinery.EXTENSION_SUFFIXES]
        path = next((q for q in paths if os.path.exists(q)), None)
        if path is None:  # pragma: no cover
            return None
        loader = importlib.machinery.ExtensionFileLoader("nutpie._lib", path)
        lib_spec = importlib.util.spec_from_file_location("nutpie._lib", path,
                                                          loader=loader)
        if lib_spec is None:  # pragma: no cover
            return None
        mod = importlib.util.module_from_spec(lib_spec)
        sys.modules["nutpie._lib"] = mod
        try:
            loader.exec_module(mod)
        except Exception:  # pragma: no cover - leave nothing half loaded behind
            sys.modules.pop("nutpie._lib", None)
            return None
    return mod


def available() -> bool:
    """True when this nutpie exposes the compiled-model entry points the fast path uses."""
    lib = nutpie_lib()
    return lib is not None and all(hasattr(lib, n) for n in LIB_NAMES)


def _dim_names(spec: FastSpec) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Sizes and per-variable names of the dimensions (nutpie's ``beta_dim_0`` style)."""
    sizes = {f"{name}_dim_{i}": n
             for name, shape in zip(spec.names, spec.shapes, strict=True)
             for i, n in enumerate(shape)}
    dims = {name: [f"{name}_dim_{i}" for i in range(len(shape))]
            for name, shape in zip(spec.names, spec.shapes, strict=True) if shape}
    return sizes, dims


class FastPathUnsupported(RuntimeError):
    """The fast path cannot run here: this nutpie's extension does not take its calls
    (another version's interface) or the density could not be compiled (llvmlite
    missing or failing); the fit then compiles the PyMC model instead."""


@dataclass
class FastTrace:
    """Draws and sampler statistics of one fast-path run, as plain arrays.

    ``posterior`` maps each variable to an array (chain, draw, *shape); ``sample_stats``
    maps each scalar statistic nutpie records (``diverging``, ``logp``, ``n_steps``...)
    to an array (chain, draw); ``dims`` gives the vector variables' dimension names.
    """

    posterior: dict[str, np.ndarray]
    sample_stats: dict[str, np.ndarray]
    dims: dict[str, list[str]]
    attrs: dict[str, Any]


def _column(batch: Any, name: str, *, scalar: bool) -> np.ndarray | None:
    """One arrow column of a chain's record batch as a (rows, *shape) numpy array, or
    None for text and (when ``scalar``) for vector-valued statistics. Nulls become NaN
    (floats), 0 (integers) or False (booleans), as in nutpie's own conversion; the item
    shape comes from the field's metadata, as nutpie records it."""
    col = batch.column(name)
    meta = col.field.metadata or {}
    shape = tuple(int(s) for s in meta.get(b"shape", b"").decode().split(",") if s)
    arr = pa.array(col)
    typ = arr.type
    if pa.types.is_list(typ) or pa.types.is_large_list(typ) or \
            pa.types.is_fixed_size_list(typ):
        if scalar or arr.null_count:
            return None
        values = arr.flatten()
        typ = values.type
    else:
        values = arr
    if pa.types.is_floating(typ):
        fill: Any = float("nan")
    elif pa.types.is_integer(typ):
        fill = 0
    elif pa.types.is_boolean(typ):
        fill = False
    else:
        return None
    if values.null_count:
        values = values.fill_null(fill)
    return values.to_numpy(zero_copy_only=False).reshape((len(arr), *shape))


def _trace_arrays(batches: list[Any], keep: list[int], names: list[str], *,
                  scalar: bool) -> dict[str, np.ndarray]:
    """(chain, draw, ...) arrays of the last ``keep[c]`` rows (the draws after tuning)
    of each chain's record batch."""
    out: dict[str, np.ndarray] = {}
    n_keep = max(keep) if keep else 0
    for c, batch in enumerate(batches):
        for name in names:
            values = _column(batch, name, scalar=scalar)
            if values is None:
                continue
            if name not in out:
                fill = np.nan if values.dtype.kind == "f" else 0
                out[name] = np.full((len(batches), n_keep, *values.shape[1:]), fill,
                                    dtype=values.dtype)
            out[name][c, : keep[c]] = values[values.shape[0] - keep[c]:]
    return out


def sample_fast(spec: FastSpec, *, draws: int, tune: int, chains: int, cores: int,
                seed: int, progress_bar: bool, target_accept: float | None = None,
                ) -> tuple[FastTrace, float, bool]:
    """Sample the fast density with nutpie's NUTS, driving its extension directly.

    The same sampler, settings and defaults as ``nutpie.sample`` (diagonal mass-matrix
    adaptation, ``save_warmup=False``), without nutpie's Python layer (see
    :func:`nutpie_lib`); the trace is converted to numpy arrays here.

    Returns
    -------
    trace, seconds, cached
        The draws, the seconds spent getting the compiled functions, and whether they
        were already loaded in this process.
    """
    lib = nutpie_lib()
    if lib is None:  # pragma: no cover - callers check fast_path_enabled()
        raise ImportError("nutpie's compiled extension is not available")
    fd = sys.modules.get("bayesma.bayes.fast_density")
    cached = fd is not None and getattr(fd, "_COMPILED", None) is not None
    try:
        funcs, seconds = load_functions()
    except (ImportError, OSError, RuntimeError) as exc:  # no llvmlite / LLVM failed here
        raise FastPathUnsupported(f"the compiled density is not available: {exc}") from exc
    seconds = 0.0 if cached else seconds  # nothing compiled: already in this process
    n, buf = spec.n_dim, spec.buffer
    sizes, dims = _dim_names(spec)
    coords = {d: [str(i) for i in range(m)] for d, m in sizes.items()}

    def init_point(chain_seed: int) -> np.ndarray:
        # PyMC/nutpie's default: the start point jittered by U(-1, 1)
        rng = np.random.default_rng(chain_seed)
        return np.array(spec.init) + rng.uniform(-1.0, 1.0, n)

    # the buffer must outlive the sampler: the functions hold its address (keep-alive: spec)
    expand = lib.ExpandFunc(n, n, funcs.expand, buf.ctypes.data, spec)
    logp = lib.LogpFunc(funcs.logp, buf.ctypes.data, spec)
    names = list(spec.names)
    variables = lib.PyVariable.new_variables(names, ["float64"] * len(names),
                                             list(spec.shapes), sizes, dims)
    updates: dict[str, Any] = {"num_tune": int(tune), "num_draws": int(draws),
                               "num_chains": int(chains)}
    if target_accept is not None:
        updates["target_accept"] = float(target_accept)
    try:
        model = lib.PyMcModel(logp, expand, variables, n, sizes, coords, init_point, None)
        settings = lib.PyNutsSettings.Diag(int(seed))
        settings.update(updates)
        progress = (lib.ProgressType.indicatif(100) if progress_bar
                    else lib.ProgressType.none())
        sampler = lib.PySampler.from_pymc(settings, int(cores), model, progress, None, 100,
                                          lib.PyStorage.arrow())
    except (TypeError, AttributeError) as exc:  # another nutpie's extension interface
        raise FastPathUnsupported(f"nutpie {getattr(lib, '__version__', '?')}: {exc}"
                                  ) from exc
    try:
        sampler.wait(None)
    except BaseException:
        sampler.abort()
        raise
    draw_batches, stat_batches = sampler.take_results().get_arrow_trace()
    tuning = [int(np.sum(_column(b, "tuning", scalar=True))) for b in stat_batches]
    keep = [b.num_rows - t for b, t in zip(stat_batches, tuning, strict=True)]
    posterior = _trace_arrays(draw_batches, keep, names, scalar=False)
    stat_names = [name for name in stat_batches[0].column_names
                  if name not in ("chain", "draw")]
    stats = _trace_arrays(stat_batches, keep, stat_names, scalar=True)
    attrs = {"inference_library": "nutpie",
             "inference_library_version": str(getattr(lib, "__version__", ""))}
    return FastTrace(posterior, stats, dims, attrs), seconds, cached

"""nutpie's compiled PyMC models, with their machine code kept on disk between processes.

``nutpie.compile_pymc_model`` turns a PyMC model into two C-callable functions (log
density with gradient, and the expansion of a draw into every model variable) by
wrapping PyTensor's numba-compiled graph functions in ``numba.cfunc`` wrappers. PyTensor
keeps its graph functions in numba's disk cache, but nutpie's wrappers cannot be cached
(they hold run-time addresses), so every new process spent 3-8 s compiling them: the
whole first fit of any model outside :mod:`bayesma.bayes.fastpath` (issue 16).

:func:`compile_pymc_model` builds the same :class:`nutpie.compile_pymc.CompiledPyMCModel`
with nutpie's own graph functions, initial points, shared-data record and ``with_data``,
but writes the two wrappers as source text that reads the shared arrays from nutpie's
record at fixed offsets and calls the graph function: no run-time address in the code,
so numba caches the compiled wrapper. The cache entry sits in PyTensor's numba cache
folder under a key that hashes the wrapper's source (dimensions, offsets, dtypes) and
PyTensor's own keys of the graph functions (their graphs), and numba's index adds its
version, the Python version and the CPU; numba writes its files atomically, so concurrent
processes are safe. A model whose graph function PyTensor does not cache gets an
uncached wrapper (as nutpie's). Any failure of this path (e.g. a nutpie whose internals
changed) falls back to ``nutpie.compile_pymc_model``; ``BAYESMA_COMPILE_CACHE=0``
switches it off.

The numbers are nutpie's: the wrappers compute what nutpie's compute (the same graph
function, the same return codes), so a seeded fit gives the same draws either way
(tested in ``tests/bayes/test_compile_cache.py``).
"""

from __future__ import annotations

import hashlib
import os
import sys
import types
import warnings
from typing import Any

import numpy as np

__all__ = ["ENV_SWITCH", "compile_pymc_model", "enabled"]

#: Environment variable that switches the disk-cached wrappers off
#: (``BAYESMA_COMPILE_CACHE=0``): models are then compiled by ``nutpie.compile_pymc_model``.
ENV_SWITCH = "BAYESMA_COMPILE_CACHE"
#: Version of the generated source; part of the cache key.
_FORMAT = "bayesma-nutpie-wrapper-1"
#: Module that owns the generated wrappers (numba rebuilds a function's environment from
#: its module when it loads the function from the cache).
_MODULE = "bayesma.bayes._nutpie_wrappers"


def enabled() -> bool:
    """True unless ``BAYESMA_COMPILE_CACHE=0``."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def compile_pymc_model(model: Any) -> Any:
    """A nutpie ``CompiledPyMCModel`` of ``model`` whose wrappers numba keeps on disk.

    Parameters
    ----------
    model : pymc.Model
        The model, as ``nutpie.compile_pymc_model`` takes it (numba backend, defaults).

    Returns
    -------
    nutpie.compile_pymc.CompiledPyMCModel
        What ``nutpie.compile_pymc_model(model)`` returns, ready for ``nutpie.sample``
        and ``with_data``.
    """
    import nutpie

    if not enabled():
        return nutpie.compile_pymc_model(model)
    try:
        return _compile(model)
    except Exception as exc:  # noqa: BLE001 - nutpie's internals are not a public API
        warnings.warn(f"bayesma could not build disk-cached nutpie wrappers "
                      f"({type(exc).__name__}: {exc}); compiling with nutpie instead",
                      RuntimeWarning, stacklevel=2)
        return nutpie.compile_pymc_model(model)


def _compile(model: Any) -> Any:
    """``nutpie.compile_pymc._compile_pymc_model_numba`` with cacheable wrappers."""
    from nutpie import compile_pymc as cp
    from pymc.initial_point import make_initial_point_fn

    # nutpie.compile_pymc_model's defaults: support points, jittered free variables
    initial = cp._wrap_with_lock(make_initial_point_fn(
        model=model, overrides=None, default_strategy="support_point",
        jitter_rvs=set(model.free_RVs), return_transformed=True))
    n_dim, n_expanded, logp_pt, expand_pt, initial_point_fn, shape_info, reparam = (
        cp._make_functions(model, mode="NUMBA", compute_grad=True, join_expanded=True,
                           pymc_initial_point_fn=initial, var_names=None))
    shared_data: dict[str, np.ndarray] = {}
    shared_keys: dict[Any, str] = {}
    for i, val in enumerate(dict.fromkeys([*logp_pt.get_shared(), *expand_pt.get_shared()])):
        key = f"s{i}"
        shared_data[key] = np.array(val.get_value(), order="C", copy=True)
        shared_data[key].flags.writeable = False
        shared_keys[val] = key
    user_data = cp.make_user_data(shared_keys, shared_data)
    logp_c = _cfunc("logp", n_dim, n_expanded, logp_pt, shared_keys, shared_data, user_data)
    expand_c = _cfunc("expand", n_dim, n_expanded, expand_pt, shared_keys, shared_data,
                      user_data)
    dims, coords = cp._prepare_dims_and_coords(model, shape_info, reparam)
    return cp.CompiledPyMCModel(
        _n_dim=n_dim, dims=dims, _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=logp_c, compiled_expand_func=expand_c,
        initial_point_func=initial_point_fn, shared_data=shared_data,
        shared_var_keys=shared_keys, user_data=user_data, n_expanded=n_expanded,
        shape_info=shape_info, logp_func=logp_pt, expand_func=expand_pt,
        reparameterized_names=reparam)


def _offsets(user_data: np.ndarray, key: str) -> tuple[int, int]:
    """Word offsets (8 bytes) of a shared array's data pointer and first shape entry in
    nutpie's record (``nutpie.compile_pymc.make_user_data``)."""
    shared = user_data.dtype["shared"]
    base = user_data.dtype.fields["shared"][1]
    data_off = base + shared.fields["data"][1] + shared["data"].fields[key][1]
    shape_off = base + shared.fields["shape"][1] + shared["shape"].fields[key][1]
    sizes = (shared["data"].fields[key][0].itemsize,
             shared["shape"].fields[key][0].base.itemsize)
    if data_off % 8 or shape_off % 8 or sizes != (8, 8):
        raise TypeError("nutpie's shared-data record is not made of 8-byte words")
    return data_off // 8, shape_off // 8


def _source(kind: str, n_dim: int, n_expanded: int, fn_pt: Any,
            shared_keys: dict[Any, str], shared_data: dict[str, np.ndarray],
            user_data: np.ndarray) -> str:
    """Source of a wrapper in nutpie's C signature (the body of nutpie's ``logp_numba`` /
    ``expand_numba``), reading the shared arrays at fixed offsets of the record."""
    words = user_data.dtype.itemsize // 8
    if words * 8 != user_data.dtype.itemsize:
        raise TypeError("nutpie's shared-data record is not made of 8-byte words")
    head = ("def wrapper(dim, x_, out_, logp_, user_data_):" if kind == "logp" else
            "def wrapper(dim, expanded, x_, out_, user_data_):")
    lines = [head, f"    if dim != {n_dim}:", "        return -1"]
    if kind == "expand":
        lines += [f"    if expanded != {n_expanded}:", "        return -1"]
    args = []
    if fn_pt.get_shared():
        lines.append(f"    ud = numba.carray(user_data_, ({words},), np.uint64)")
    for i, var in enumerate(fn_pt.get_shared()):
        key = shared_keys[var]
        arr = shared_data[key]
        data_off, shape_off = _offsets(user_data, key)
        dtype = np.dtype(arr.dtype).name
        if not hasattr(np, dtype):
            raise TypeError(f"shared array of dtype {dtype}")
        size = "*".join(f"ud[{shape_off + j}]" for j in range(arr.ndim)) or "1"
        shape = "".join(f"ud[{shape_off + j}], " for j in range(arr.ndim))
        lines.append(f"    a{i} = numba.carray(as_void_pointer(ud[{data_off}]), ({size},), "
                     f"np.{dtype}).reshape(({shape}))")
        args.append(f"a{i}")
    call = "inner(x" + "".join(f", {a}" for a in args) + ")"
    if kind == "logp":
        lines += ["    try:",
                  f"        x = numba.carray(x_, ({n_dim},))",
                  f"        out = numba.carray(out_, ({n_dim},))",
                  "        logp = numba.carray(logp_, ())",
                  f"        logp_val, grad = {call}",
                  "        logp[()] = logp_val",
                  "        out[...] = grad",
                  "        if not np.all(np.isfinite(out)):",
                  "            return 3",
                  "        if not np.isfinite(logp_val):",
                  "            return 4",
                  "    except Exception:",
                  "        return 1",
                  "    return 0"]
    else:
        lines += ["    try:",
                  f"        x = numba.carray(x_, ({n_dim},))",
                  f"        out = numba.carray(out_, ({n_expanded},))",
                  f"        (values,) = {call}",
                  "        out[...] = values",
                  "    except Exception:",
                  "        return -2",
                  "    return 0"]
    return "\n".join(lines) + "\n"


def _cfunc(kind: str, n_dim: int, n_expanded: int, fn_pt: Any, shared_keys: dict,
           shared_data: dict, user_data: np.ndarray) -> Any:
    """The compiled wrapper (loaded from numba's cache when an earlier process built it)."""
    import numba
    from nutpie.compile_pymc import address_as_void_pointer
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS, compile_numba_function_src

    inner = fn_pt.vm.jit_fn
    src = _source(kind, n_dim, n_expanded, fn_pt, shared_keys, shared_data, user_data)
    inner_key = CACHED_SRC_FUNCTIONS.get(getattr(inner, "py_func", None))
    key = None
    if inner_key is not None:  # PyTensor caches the graph function: cache the wrapper
        import nutpie
        import pytensor

        versions = f"{numba.__version__} {pytensor.__version__} {nutpie.__version__}"
        h = hashlib.sha256(f"{_FORMAT}\0{versions}\0{kind}\0{inner_key}\0{src}".encode())
        key = h.hexdigest()
    sys.modules.setdefault(_MODULE, types.ModuleType(_MODULE))
    env = {"__name__": _MODULE, "numba": numba, "np": np, "inner": inner,
           "as_void_pointer": address_as_void_pointer}
    py = compile_numba_function_src(src, "wrapper", global_env=env, cache_key=key)
    u64, f64p = numba.types.uint64, numba.types.CPointer(numba.types.double)
    sig = (numba.types.int64(u64, f64p, f64p, f64p, numba.types.voidptr) if kind == "logp"
           else numba.types.int64(u64, u64, f64p, f64p, numba.types.voidptr))
    return numba.cfunc(sig, cache=key is not None)(py)


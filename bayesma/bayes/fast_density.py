"""Machine code of the marginal meta-regression log density and gradient, built with llvmlite.

nutpie samples any model given as two C functions (its compiled-model interface)::

    int64 logp(uint64 dim, double *x, double *grad, double *logp, double *data)
    int64 expand(uint64 dim, uint64 n_expanded, double *x, double *out, double *data)

This module writes those two functions for the marginal model ``y_i ~ N(x_i' b, v_i + tau²)``
in LLVM's intermediate representation and has LLVM compile them for this CPU (llvmlite, the
code generator numba itself uses). Building and compiling take about 0.1 s; the object code
is then kept in the user's cache folder (:func:`cache_folder`, keyed by this file, the
LLVM version and the CPU, written atomically and checked on reading), so later processes
load it in about 2 ms after a 0.05 s import. numba, which compiled the same density from
Python source before (issue 16), needed 0.7-1.0 s in every new process just to load its
cached machine code (its typing and target context), more than the whole cold-start
budget. The random-effects model is the case ``X = 1`` (one coefficient, mu).

Data buffer (float64), one per model::

    k, p, kernel[14], prior[p][4], y[k], v[k], X[k][p]

* ``kernel``: the 14 tau-prior coefficients of :data:`bayesma.priors.KERNEL_DEFAULTS` in
  order (``c1 c2 c3 c4 s4 c5 m5 c6 m6 s6 c7 c8 lo hi``); the log density of tau plus the
  Jacobian ``log tau`` is (:func:`bayesma.bayes.models.tau_kernel`)::

      c1 lt + c2 tau + c3 tau² + c4 log1p(tau²/s4) + c5 (lt - m5)² + c6 log1p((lt - m6)²/s6)
      + c7/tau + c8/tau² + lt,        lt = log tau, tau in [lo, hi];

* ``prior[j] = (code, a, b, c)``: coefficient j's prior up to its constant, Normal(a, b)
  (code 0), Student t with nu = c, location a, scale b (1), Cauchy(a, b) (2) or flat (3);
* the design ``X`` row by row.

The sampler's coordinates are ``(b_0 .. b_{p-1}, log tau)``; ``expand`` returns
``(b_0 .. b_{p-1}, tau)``. The log posterior (Röver 2020, J Stat Softw 93(6), eq. 3, with
covariates) drops the normalising constants::

    sum_j log p_j(b_j) + kernel(lt) - 1/2 sum_i [log(v_i + tau²) + r_i²/(v_i + tau²)],
    r_i = y_i - x_i' b.

Return codes follow nutpie: 0 success, 3 non-finite gradient, 4 outside the support
(the log density is then -inf), -1 a dimension that does not match the buffer.
The arithmetic is written in the order of the numba version it replaces, so the draws of a
seeded fit did not change.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llvmlite
import llvmlite.binding as llvm
import llvmlite.ir as ir

__all__ = ["CACHE_ENV", "DensityFunctions", "cache_folder", "compiled", "expand_function",
           "llvm_version", "logp_function"]

_F64 = ir.DoubleType()
_I64 = ir.IntType(64)
_PTR = _F64.as_pointer()
_LOCK = threading.Lock()
_COMPILED: DensityFunctions | None = None


@dataclass(frozen=True)
class DensityFunctions:
    """Addresses of the compiled ``logp`` and ``expand`` functions.

    ``engine`` owns the machine code: the addresses are valid while it lives (this module
    keeps the one it compiles for the life of the process). ``from_cache`` says whether the
    object code was read from :func:`cache_folder` rather than compiled in this process.
    """

    logp: int
    expand: int
    engine: Any
    from_cache: bool = False


class _Builder:
    """Small helpers over an llvmlite IRBuilder (constants, loads, math intrinsics)."""

    def __init__(self, module: ir.Module, fn: ir.Function) -> None:
        self.b = ir.IRBuilder(fn.append_basic_block("entry"))
        self.fn = fn
        self.intr = {name: module.declare_intrinsic(f"llvm.{name}", [_F64])
                     for name in ("exp", "log", "fabs")}
        # log1p has no LLVM intrinsic: the C library's, as numba calls it
        self.log1p_fn = module.globals.get("log1p") or ir.Function(
            module, ir.FunctionType(_F64, [_F64]), name="log1p")

    def c(self, value: float) -> ir.Constant:
        return ir.Constant(_F64, value)

    def i(self, value: int) -> ir.Constant:
        return ir.Constant(_I64, value)

    def at(self, ptr: ir.Value, index: ir.Value | int) -> ir.Value:
        idx = self.i(index) if isinstance(index, int) else index
        return self.b.load(self.b.gep(ptr, [idx]))

    def put(self, ptr: ir.Value, index: ir.Value | int, value: ir.Value) -> None:
        idx = self.i(index) if isinstance(index, int) else index
        self.b.store(value, self.b.gep(ptr, [idx]))

    def exp(self, x: ir.Value) -> ir.Value:
        return self.b.call(self.intr["exp"], [x])

    def log(self, x: ir.Value) -> ir.Value:
        return self.b.call(self.intr["log"], [x])

    def log1p(self, x: ir.Value) -> ir.Value:
        return self.b.call(self.log1p_fn, [x])

    def isfinite(self, x: ir.Value) -> ir.Value:
        return self.b.fcmp_ordered("<", self.b.call(self.intr["fabs"], [x]),
                                   self.c(float("inf")))

    def add(self, *xs: ir.Value) -> ir.Value:
        """Left-to-right sum (as Python evaluates ``a + b + c``)."""
        out = xs[0]
        for x in xs[1:]:
            out = self.b.fadd(out, x)
        return out

    def mul(self, *xs: ir.Value) -> ir.Value:
        """Left-to-right product."""
        out = xs[0]
        for x in xs[1:]:
            out = self.b.fmul(out, x)
        return out

    def var(self, init: ir.Value, typ: ir.Type = _F64) -> ir.AllocaInstr:
        """A stack slot holding ``init`` (LLVM's mem2reg turns it into a register)."""
        with self.b.goto_entry_block():
            slot = self.b.alloca(typ)
        self.b.store(init, slot)
        return slot

    def loop(self, n: ir.Value, body) -> None:
        """``for i in range(n): body(i)`` with ``i`` an i64."""
        b = self.b
        i = self.var(self.i(0), _I64)
        head = self.fn.append_basic_block("head")
        work = self.fn.append_basic_block("body")
        done = self.fn.append_basic_block("done")
        b.branch(head)
        b.position_at_end(head)
        iv = b.load(i)
        b.cbranch(b.icmp_signed("<", iv, n), work, done)
        b.position_at_end(work)
        body(iv)
        b.store(b.add(b.load(i), self.i(1)), i)
        b.branch(head)
        b.position_at_end(done)


def _tau_kernel(h: _Builder, lt: ir.Value, d: ir.Value, o: int) -> tuple[ir.Value, ir.Value]:
    """(log p_tau(tau) + log tau, its derivative in log tau) from the 14 coefficients at
    ``d[o:o + 14]`` (:data:`bayesma.priors.KERNEL_DEFAULTS`)."""
    b = h.b
    c1, c2, c3, c4, s4, c5, m5, c6, m6, s6, c7, c8 = (h.at(d, o + j) for j in range(12))
    tau = h.exp(lt)
    t2 = b.fmul(tau, tau)
    u5 = b.fsub(lt, m5)
    u6 = b.fsub(lt, m6)
    two = h.c(2.0)
    lp = h.add(b.fmul(c1, lt), b.fmul(c2, tau), b.fmul(c3, t2),
               b.fmul(c4, h.log1p(b.fdiv(t2, s4))), h.mul(c5, u5, u5),
               b.fmul(c6, h.log1p(b.fdiv(b.fmul(u6, u6), s6))), lt)
    gl = h.add(c1, b.fmul(c2, tau), h.mul(two, c3, t2),
               b.fdiv(h.mul(c4, two, t2), b.fadd(s4, t2)), h.mul(two, c5, u5),
               b.fdiv(h.mul(c6, two, u6), b.fadd(s6, b.fmul(u6, u6))), h.c(1.0))
    zero = h.c(0.0)
    # c7/tau and c8/tau² only when present (the numba version's branches: same rounding)
    has7 = b.fcmp_unordered("!=", c7, zero)
    lp = b.select(has7, b.fadd(lp, b.fdiv(c7, tau)), lp)
    gl = b.select(has7, b.fsub(gl, b.fdiv(c7, tau)), gl)
    has8 = b.fcmp_unordered("!=", c8, zero)
    lp = b.select(has8, b.fadd(lp, b.fdiv(c8, t2)), lp)
    gl = b.select(has8, b.fsub(gl, b.fdiv(b.fmul(two, c8), t2)), gl)
    return lp, gl


def _location_prior(h: _Builder, x: ir.Value, code: ir.Value, a: ir.Value, bb: ir.Value,
                    c: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(log density up to its constant, derivative) of a coefficient's prior; ``code``
    is the family's number as a double (0 Normal, 1 Student t, 2 Cauchy, 3 flat)."""
    b = h.b
    z = b.fdiv(b.fsub(x, a), bb)
    zz = b.fmul(z, z)
    one = h.c(1.0)
    # Normal(a, bb)
    lp0 = h.mul(h.c(-0.5), z, z)
    g0 = b.fdiv(b.fneg(z), bb)
    # Student t (nu = c, location a, scale bb)
    cp1 = b.fadd(c, one)
    lp1 = b.fmul(b.fmul(h.c(-0.5), cp1), h.log1p(b.fdiv(zz, c)))
    g1 = b.fdiv(b.fmul(b.fneg(cp1), z), b.fmul(bb, b.fadd(c, zz)))
    # Cauchy(a, bb)
    lp2 = b.fneg(h.log1p(zz))
    g2 = b.fdiv(b.fmul(h.c(-2.0), z), b.fmul(bb, b.fadd(one, zz)))
    zero = h.c(0.0)
    lp, g = zero, zero
    for value, lpv, gv in ((2.0, lp2, g2), (1.0, lp1, g1), (0.0, lp0, g0)):
        is_code = b.fcmp_ordered("==", code, h.c(value))
        lp = b.select(is_code, lpv, lp)
        g = b.select(is_code, gv, g)
    return lp, g


def _build_logp(module: ir.Module) -> None:
    fn = ir.Function(module, ir.FunctionType(_I64, [_I64, _PTR, _PTR, _PTR, _PTR]),
                     name="bayesma_logp")
    dim, x, g, out, d = fn.args
    h = _Builder(module, fn)
    b = h.b
    k = b.fptosi(h.at(d, 0), _I64)
    p = b.fptosi(h.at(d, 1), _I64)
    with b.if_then(b.icmp_signed("!=", dim, b.add(p, h.i(1))), likely=False):
        b.ret(h.i(-1))
    lt = h.at(x, p)
    tau = h.exp(lt)
    t2 = b.fmul(tau, tau)
    lo, hi = h.at(d, 14), h.at(d, 15)
    outside = b.or_(b.or_(b.fcmp_unordered("<=", tau, h.c(0.0)),
                          b.fcmp_ordered("<", tau, lo)),
                    b.or_(b.fcmp_ordered(">", tau, hi), b.not_(h.isfinite(tau))))
    with b.if_then(outside, likely=False):
        h.put(out, 0, h.c(float("-inf")))
        h.loop(b.add(p, h.i(1)), lambda j: h.put(g, j, h.c(0.0)))
        b.ret(h.i(4))
    lp0, gl0 = _tau_kernel(h, lt, d, 2)
    lp = h.var(lp0)
    gl = h.var(gl0)

    def prior(j: ir.Value) -> None:
        o = b.add(h.i(16), b.mul(h.i(4), j))
        lpj, gj = _location_prior(h, h.at(x, j), h.at(d, o), h.at(d, b.add(o, h.i(1))),
                                  h.at(d, b.add(o, h.i(2))), h.at(d, b.add(o, h.i(3))))
        b.store(b.fadd(b.load(lp), lpj), lp)
        h.put(g, j, gj)

    h.loop(p, prior)
    oy = b.add(h.i(16), b.mul(h.i(4), p))
    ov = b.add(oy, k)
    ox = b.add(ov, k)

    def study(i: ir.Value) -> None:
        s2 = b.fadd(h.at(d, b.add(ov, i)), t2)
        r = h.var(h.at(d, b.add(oy, i)))
        row = b.add(ox, b.mul(i, p))
        h.loop(p, lambda j: b.store(
            b.fsub(b.load(r), b.fmul(h.at(d, b.add(row, j)), h.at(x, j))), r))
        rv = b.load(r)
        q = b.fdiv(b.fmul(rv, rv), s2)
        b.store(b.fadd(b.load(lp), b.fmul(h.c(-0.5), b.fadd(h.log(s2), q))), lp)
        h.loop(p, lambda j: h.put(g, j, b.fadd(
            h.at(g, j), b.fdiv(b.fmul(rv, h.at(d, b.add(row, j))), s2))))
        b.store(b.fadd(b.load(gl), b.fdiv(b.fmul(b.fsub(q, h.c(1.0)), t2), s2)), gl)

    h.loop(k, study)
    lpv = b.load(lp)
    h.put(out, 0, lpv)
    h.put(g, p, b.load(gl))
    with b.if_then(b.not_(h.isfinite(lpv)), likely=False):
        b.ret(h.i(4))
    bad = h.var(ir.Constant(ir.IntType(1), 0), ir.IntType(1))
    h.loop(b.add(p, h.i(1)), lambda j: b.store(
        b.or_(b.load(bad), b.not_(h.isfinite(h.at(g, j)))), bad))
    b.ret(b.select(b.load(bad), h.i(3), h.i(0)))


def _build_expand(module: ir.Module) -> None:
    fn = ir.Function(module, ir.FunctionType(_I64, [_I64, _I64, _PTR, _PTR, _PTR]),
                     name="bayesma_expand")
    dim, n_expanded, x, out, _ = fn.args
    h = _Builder(module, fn)
    b = h.b
    with b.if_then(b.icmp_signed("!=", n_expanded, dim), likely=False):
        b.ret(h.i(-1))
    last = b.sub(dim, h.i(1))
    h.loop(last, lambda j: h.put(out, j, h.at(x, j)))
    h.put(out, last, h.exp(h.at(x, last)))
    b.ret(h.i(0))


def _module_ir() -> str:
    module = ir.Module(name="bayesma_density")
    module.triple = llvm.get_process_triple()
    _build_logp(module)
    _build_expand(module)
    return str(module)


#: environment variable naming the folder of compiled densities (default: the user's
#: cache folder, :func:`cache_folder`); ``BAYESMA_CACHE_DIR=""`` switches the cache off
CACHE_ENV = "BAYESMA_CACHE_DIR"
_MAGIC = b"bayesma-density-1\n"


def cache_folder() -> Path | None:
    """Where compiled densities are kept between processes: ``$BAYESMA_CACHE_DIR``, else
    the platform's user cache folder (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux,
    ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows) + ``bayesma``; None when
    switched off (``BAYESMA_CACHE_DIR=""``)."""
    env = os.environ.get(CACHE_ENV)
    if env is not None:
        return Path(env) if env else None
    try:
        if sys.platform == "win32":
            base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        elif sys.platform == "darwin":
            base = str(Path.home() / "Library" / "Caches")
        else:
            base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    except (RuntimeError, KeyError):  # no home directory: compile in every process
        return None
    return Path(base) / "bayesma"


def _cache_key() -> str:
    """Hash of what the machine code depends on: this module's source, llvmlite (and so
    LLVM) version, the target triple and the host CPU with its features."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    for part in (llvm_version(), llvm.get_process_triple(), llvm.get_host_cpu_name(),
                 llvm.get_host_cpu_features().flatten()):
        h.update(b"\0" + part.encode())
    return h.hexdigest()[:32]


def llvm_version() -> str:
    """llvmlite's version and the LLVM it wraps."""
    return f"llvmlite {llvmlite.__version__}, LLVM {'.'.join(map(str, llvm.llvm_version_info))}"


def _read_cached(path: Path) -> bytes | None:
    """The object code stored at ``path`` if it is complete and intact (its SHA-256 is
    stored in front of it), else None."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head = len(_MAGIC) + 32
    if len(data) <= head or not data.startswith(_MAGIC):
        return None
    digest, obj = data[len(_MAGIC):head], data[head:]
    return obj if hashlib.sha256(obj).digest() == digest else None


def _write_cached(path: Path, obj: bytes) -> None:
    """Store ``obj`` atomically (a temporary file renamed into place, so concurrent
    processes never read a partial file); a cache that cannot be written is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(_MAGIC + hashlib.sha256(obj).digest() + obj)
        os.replace(tmp, path)
    except OSError:  # read-only home, full disk: compile again next time
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(tmp)


def _object_code(tm: Any) -> bytes:
    """Compile the module (LLVM's -O2 pipeline) to object code for this CPU."""
    mod = llvm.parse_assembly(_module_ir())
    mod.verify()
    if hasattr(llvm, "create_pass_builder"):  # LLVM's -O2 (mem2reg, loops...)
        pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=2))
        pb.getModulePassManager().run(mod, pb)
    return tm.emit_object(mod)


def compiled() -> DensityFunctions:
    """The compiled ``logp`` and ``expand``, kept for the life of the process.

    The first call in a process loads the object code from :func:`cache_folder` (about
    2 ms), or builds and compiles it (about 0.1 s) and stores it there for the next
    process.
    """
    global _COMPILED
    with _LOCK:
        if _COMPILED is None:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            tm = llvm.Target.from_triple(llvm.get_process_triple()).create_target_machine(
                opt=2)
            folder = cache_folder()
            path = folder / f"density-{_cache_key()}.o" if folder is not None else None
            obj = _read_cached(path) if path is not None else None
            from_cache = obj is not None
            if obj is None:
                obj = _object_code(tm)
                if path is not None:
                    _write_cached(path, obj)
            engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), tm)
            engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
            engine.finalize_object()
            _COMPILED = DensityFunctions(engine.get_function_address("bayesma_logp"),
                                         engine.get_function_address("bayesma_expand"),
                                         engine, from_cache)
        return _COMPILED


_DP = ctypes.POINTER(ctypes.c_double)


def logp_function() -> Any:
    """``logp`` as a ctypes function (for tests and checks; nutpie calls the address)."""
    proto = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_uint64, _DP, _DP, _DP, _DP)
    return proto(compiled().logp)


def expand_function() -> Any:
    """``expand`` as a ctypes function (for tests and checks)."""
    proto = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_uint64, ctypes.c_uint64, _DP, _DP, _DP)
    return proto(compiled().expand)

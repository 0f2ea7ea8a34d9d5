"""Batch engines against the per-call loop: batch_rma (REML) and batch_exact on R meta-analyses.

A corpus of R meta-analyses with k ~ U{2..20} studies, v_i ~ U(0.01, 0.5),
tau ~ {0, 0.1, 0.3, 0.8}, y_i ~ N(0, v_i + tau²). Timed in one run (wall clock):

* ``bm.batch_rma(method="REML")`` and ``bm.batch_exact(HalfNormal(0.5), Normal(0, 1))``
  on all R groups, serially (one process) and with local processes (every CPU);
* the per-call loop (``fit_arrays`` / ``ExactPosterior`` + the same summaries) on a
  random subsample of ``n_loop`` groups, scaled to R; the ratio is loop / batch.

Run:  .venv/bin/python benchmarks/batch_engines.py [R] [n_loop]
(writes benchmarks/results/batch_engines.txt; default R = 100000, n_loop = 400).
"""

from __future__ import annotations

import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import bayesma as bm
from bayesma.batch import batch_from_arrays, exact_row
from bayesma.classical.rma import fit_arrays
from bayesma.parallel import worker_count
from bayesma.priors import HalfNormal, Normal

OUT = Path(__file__).parent / "results" / "batch_engines.txt"


def corpus(R: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    kmax = 20
    k = rng.integers(2, kmax + 1, R)
    mask = np.arange(kmax)[None, :] < k[:, None]
    v = rng.uniform(0.01, 0.5, (R, kmax))
    tau = rng.choice([0.0, 0.1, 0.3, 0.8], R)
    y = rng.normal(0.0, np.sqrt(v + tau[:, None] ** 2))
    return batch_from_arrays(y, v, mask)


def clock(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main(R: int = 100_000, n_loop: int = 400) -> str:
    b = corpus(R)
    rng = np.random.default_rng(2)
    sample = rng.choice(R, size=min(n_loop, R), replace=False)
    priors = {"mu_prior": Normal(0, 1), "tau_prior": HalfNormal(0.5)}
    lines = [f"batch engines: R = {R} meta-analyses, k = 2..20 (python "
             f"{platform.python_version()}, {worker_count()} CPUs available, shared machine)",
             ""]

    def loop_rma():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for r in sample:
                fit_arrays(*b.group(int(r)), method="REML")

    def loop_exact():
        for r in sample:
            exact_row(*b.group(int(r)), **priors)

    rows = [("batch_rma REML", lambda be: bm.batch_rma(b, method="REML", backend=be),
             loop_rma),
            ("batch_exact", lambda be: bm.batch_exact(b, **priors, backend=be), loop_exact)]
    for name, run, loop in rows:
        t_loop, _ = clock(loop)
        t_loop_all = t_loop / sample.size * R
        t_ser, res = clock(lambda run=run: run("serial"))
        t_loc, res2 = clock(lambda run=run: run("local"))
        same = res.equals(res2)
        lines.append(f"{name:16s} serial {t_ser:8.2f} s   local processes {t_loc:8.2f} s   "
                     f"per-call loop {t_loop_all:8.1f} s (from {sample.size} groups)   "
                     f"loop/serial {t_loop_all / t_ser:6.1f}x   loop/local "
                     f"{t_loop_all / t_loc:6.1f}x   serial == local: {same}")
    text = "\n".join(lines) + "\n"
    return text


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    text = main(*args)
    print(text)
    if not args or args[0] == 100_000:
        OUT.write_text(text)
    else:
        OUT.write_text(text + f"(smaller run: R = {args[0]}; the machine was shared)\n")

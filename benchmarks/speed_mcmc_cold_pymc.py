"""MCMC cold start of the models nutpie compiles from their PyMC graph (issue 16 follow-up).

``speed_mcmc_cold.py`` measures the marginal random-effects and meta-regression models,
which skip PyMC (:mod:`bayesma.bayes.fastpath`). Every other model is compiled by nutpie
from its PyMC graph; :mod:`bayesma.bayes.compile_cache` now keeps nutpie's wrappers in
numba's disk cache. Each measurement is one fresh Python process that fits once a model
structure an earlier process has fitted; recorded are the seconds of the ``fit()`` call,
the compile seconds the fit reports, and from before the first import ("total").
Every configuration runs one warm-up process and then ``REPS`` processes (median).

Compared in the same run, this tree:

* "now": the wrappers from the disk cache (:mod:`bayesma.bayes.compile_cache`);
* "nutpie": ``BAYESMA_COMPILE_CACHE=0``, i.e. ``nutpie.compile_pymc_model`` as before
  (what the code did until this change, and what a user compiling the PyMC model with
  nutpie gets).

Models: ``Multivariate`` on berkey1998 (two outcomes per trial, LKJ correlation),
``Multilevel`` on konstantopoulos2011 (schools in districts), ``BinomialNormal`` on bcg
(a latent log odds per study); 1000 draws + 1000 tuning steps, 2 chains, seed 1. The
draws are the same either way (tests/bayes/test_compile_cache.py).

Run from the repository root::

    .venv/bin/python benchmarks/speed_mcmc_cold_pymc.py

The output goes to ``benchmarks/results/speed_mcmc_cold_pymc.txt``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from _timing import cold_processes

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "speed_mcmc_cold_pymc.txt"
DRAWS = dict(draws=1000, tune=1000, chains=2)
REPS = 3
MODELS = {"mv": "Multivariate (berkey1998)", "ml": "Multilevel (konstantopoulos2011)",
          "bn": "BinomialNormal (bcg)"}


def worker(model: str) -> None:
    """One fit in this process; prints the seconds of fit(), its compile seconds and the
    seconds since the start."""
    t0 = time.perf_counter()
    import warnings

    import bayesma as bm
    from bayesma.priors import HalfNormal, Normal

    warnings.simplefilter("ignore")
    if model == "mv":
        d = bm.datasets.load("berkey1998")
        m = bm.Multivariate(d, outcome="outcome", study="trial", mu_prior=Normal(0, 1),
                            tau_prior=HalfNormal(0.5))
    elif model == "ml":
        d = bm.datasets.load("konstantopoulos2011")
        m = bm.Multilevel(d, random="~ 1 | district/school", mu_prior=Normal(0, 10),
                          tau_prior={"district": HalfNormal(0.5), "school": HalfNormal(0.5)})
    else:
        d = bm.datasets.load("bcg")
        m = bm.BinomialNormal(d, ai="tpos", bi="tneg", ci="cpos", di="cneg")
    t1 = time.perf_counter()
    fit = m.fit(**DRAWS, random_seed=1, progressbar=False)
    t2 = time.perf_counter()
    print(json.dumps({"fit": t2 - t1, "compile": float(fit.attrs["compile_seconds"]),
                      "total": t2 - t0}))


def _cold(model: str, cached: bool) -> dict:
    """Medians over REPS second processes (after one warm-up that fills the caches)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), BAYESMA_COMPILE_CACHE="1" if cached else "0")
    return cold_processes(__file__, [model], env, REPS)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker")
    a = ap.parse_args()
    if a.worker:
        worker(a.worker)
        return
    res = {(m, c): _cold(m, c) for m in MODELS for c in (True, False)}
    load = os.getloadavg()
    lines = [
        f"bayesma speed_mcmc_cold_pymc  (python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} cores shared)",
        f"a second process's first fit, seconds (median of {REPS} processes after a warm-up); "
        "1000 draws + 1000 tune, 2 chains",
        "now = nutpie's compiled model with its wrappers from numba's disk cache "
        "(bayesma/bayes/compile_cache.py); nutpie = BAYESMA_COMPILE_CACHE=0 "
        "(nutpie.compile_pymc_model, as before)",
        "",
        f"  {'model':<34}{'':>8}{'now':>9}{'nutpie':>9}{'nutpie/now':>12}",
    ]
    for m, name in MODELS.items():
        for what in ("compile", "fit", "total"):
            now, old = res[(m, True)][what], res[(m, False)][what]
            lines.append(f"  {name:<34}{what:>8}{now:9.2f}{old:9.2f}{old / now:12.2f}")
    lines += ["", "compile = the compile seconds the fit reports (part of fit); total = from "
              "before the first import",
              f"load average during the run: {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}"]
    text = "\n".join(lines) + "\n"
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

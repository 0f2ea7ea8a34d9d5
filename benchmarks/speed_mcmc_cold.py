"""MCMC cold start (issue 16): a new process's first fit of a model structure seen before.

Each measurement is one fresh Python process that imports what it needs and fits once:
``RandomEffects`` and ``MetaRegression`` (``~ ablat``) on bcg, 1000 draws + 1000 tuning
steps, 2 chains. It records the seconds of the ``fit()`` call itself ("fit": what the goal
is about, the fit of a structure seen in an earlier process) and from before the first
import to the fit's end ("total"). Every configuration runs one warm-up process (which
fills any disk cache) and then ``REPS`` processes; the median is reported. Compared in
the same run:

* "now": this tree (the marginal models use the llvmlite-compiled density of
  ``bayesma/bayes/fast_density.py`` and drive nutpie's extension directly);
* "stop 19": commit ``c6f892e`` (``--mid``), the numba density loaded from numba's disk
  cache and sampled through ``nutpie.sample``;
* "before": commit ``c77db32`` (``--old``), which compiles the PyMC model with nutpie in
  every process;
* "nutpie by hand": the same marginal model written in PyMC by hand and compiled with
  ``nutpie.compile_pymc_model`` (what a user without bayesma would run); its "fit" is
  compile + sample.

Two environments: with dask importable (the ``bayesma[dask]`` extra: xarray then imports
``dask.array``, about 0.5 s, the first time it wraps any array) and without (the default
install; simulated by making ``import dask`` fail in the worker).

Goal: under 1.5 s for a second process's first fit. Run from the repository root::

    git worktree add /tmp/bm_old c77db32; git worktree add /tmp/bm_mid c6f892e
    .venv/bin/python benchmarks/speed_mcmc_cold.py [--old /tmp/bm_old] [--mid /tmp/bm_mid]

The output goes to ``benchmarks/results/speed_mcmc_cold.txt``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from _timing import cold_processes

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "speed_mcmc_cold.txt"
DRAWS = dict(draws=1000, tune=1000, chains=2)
REPS = 3


def worker(model: str) -> None:
    """One cold fit in this process; prints the seconds of fit() and since the start."""
    if os.environ.get("BENCH_NO_DASK") == "1":
        sys.modules["dask"] = None  # type: ignore[assignment]  # "not installed"
    t0 = time.perf_counter()
    if model in ("re", "mr"):
        import warnings

        import bayesma as bm

        warnings.simplefilter("ignore")
        d = bm.datasets.load("bcg")
        m = bm.RandomEffects(d) if model == "re" else bm.MetaRegression(d, mods="~ ablat")
        t1 = time.perf_counter()
        m.fit(**DRAWS, random_seed=1, progressbar=False)
    else:  # the hand-written PyMC model compiled by nutpie
        import nutpie
        import pandas as pd
        import pymc as pm

        d = pd.read_csv(ROOT / "bayesma" / "datasets" / "data" / "bcg.csv")
        y, v = d["yi"].to_numpy(), d["vi"].to_numpy()
        t1 = time.perf_counter()
        with pm.Model() as pmodel:
            mu = pm.Normal("mu", 0.0, 4.0)
            tau = pm.HalfNormal("tau", 0.5)
            loc = mu
            if model == "hand_mr":
                x = d["ablat"].to_numpy(float)
                b = pm.Normal("b", 0.0, 4.0)
                loc = mu + b * (x - x.mean())
            pm.Normal("y", loc, pm.math.sqrt(v + tau**2), observed=y)
        compiled = nutpie.compile_pymc_model(pmodel)
        nutpie.sample(compiled, **DRAWS, seed=1, progress_bar=False)
    t2 = time.perf_counter()
    print(json.dumps({"fit": t2 - t1, "total": t2 - t0}))


def _cold(tree: Path, model: str, no_dask: bool) -> dict:
    """Median fit and total seconds of REPS second processes (after one warm-up)."""
    env = dict(os.environ, PYTHONPATH=str(tree), BENCH_NO_DASK="1" if no_dask else "0")
    return cold_processes(__file__, [model], env, REPS)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker")
    ap.add_argument("--old", default="/tmp/bm_old")
    ap.add_argument("--mid", default="/tmp/bm_mid")
    a = ap.parse_args()
    if a.worker:
        worker(a.worker)
        return
    trees = {"now": ROOT, "stop 19": Path(a.mid), "before": Path(a.old)}
    nan = {"fit": float("nan"), "total": float("nan")}
    results: dict[tuple[str, str, bool], dict] = {}
    for no_dask in (True, False):
        for model, hand in (("re", "hand_re"), ("mr", "hand_mr")):
            for label, tree in trees.items():
                ok = (tree / "bayesma" / "__init__.py").is_file()
                results[(model, label, no_dask)] = _cold(tree, model, no_dask) if ok else nan
            results[(model, "nutpie by hand", no_dask)] = _cold(ROOT, hand, no_dask)
    load = os.getloadavg()
    cols = ("now", "stop 19", "before", "nutpie by hand")
    lines = [
        f"bayesma speed_mcmc_cold  (python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores shared)",
        "a second process's first fit, seconds (median of 3 processes after a warm-up); bcg, "
        "1000 draws + 1000 tune, 2 chains",
        "'stop 19' = commit c6f892e (numba density from numba's disk cache + nutpie.sample); "
        "'before' = commit c77db32 (PyMC model compiled by nutpie); 'nutpie by hand' = the "
        "same model in PyMC, nutpie.compile_pymc_model + nutpie.sample",
        "fit = the fit() call (hand: compile + sample); total = from before the first import",
    ]
    names = {"re": "RandomEffects", "mr": "MetaRegression ~ ablat"}
    for no_dask in (True, False):
        lines += ["", "without dask (default install)" if no_dask else
                  "with dask installed (bayesma[dask]: xarray imports dask.array, ~0.5 s)"]
        lines.append(f"  {'model':<24}{'':>6}" + "".join(f"{c:>16}" for c in cols)
                     + f"{'stop19/now':>12}{'before/now':>12}{'hand/now':>10}")
        for model in ("re", "mr"):
            for what in ("fit", "total"):
                vals = [results[(model, c, no_dask)][what] for c in cols]
                now = vals[0]
                lines.append(f"  {names[model]:<24}{what:>6}"
                             + "".join(f"{v:16.2f}" for v in vals)
                             + f"{vals[1] / now:12.2f}{vals[2] / now:12.2f}"
                             f"{vals[3] / now:10.2f}")
    lines += ["", "goal (issue 16): a second process's first fit under 1.5 s",
              f"load average during the run: {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}"]
    text = "\n".join(lines) + "\n"
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

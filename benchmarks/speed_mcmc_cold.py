"""MCMC cold start (issue 16): a new process's first fit of a model structure seen before.

Each measurement is one fresh Python process that imports what it needs and fits once
(wall time from before the first import to the fit's end): ``RandomEffects`` and
``MetaRegression`` (``~ ablat``) on bcg, 1000 draws + 1000 tuning steps, 2 chains. Every
configuration runs twice and the second process is reported (the first fills any disk
cache; a user's second session sees the second number). Compared in the same run:

* "now": this tree (the marginal models use the disk-cached numba densities of
  ``bayesma/bayes/fast_density.py``);
* "before": commit ``c77db32`` (a ``git worktree`` at ``--old``), which compiles the
  PyMC model with nutpie in every process;
* "nutpie by hand": the same marginal model written in PyMC by hand and compiled with
  ``nutpie.compile_pymc_model`` (what a user without bayesma would run).

Goal: under 1.5 s for "now". Run from the repository root::

    .venv/bin/python benchmarks/speed_mcmc_cold.py [--old /tmp/bm_old]

The output goes to ``benchmarks/results/speed_mcmc_cold.txt``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "speed_mcmc_cold.txt"
DRAWS = dict(draws=1000, tune=1000, chains=2)


def worker(model: str) -> None:
    """One cold fit in this process; prints the seconds since before the imports."""
    t0 = time.perf_counter()
    parts = {}
    if model in ("re", "mr"):
        import bayesma as bm

        d = bm.datasets.load("bcg")
        m = bm.RandomEffects(d) if model == "re" else bm.MetaRegression(d, mods="~ ablat")
        parts["model"] = time.perf_counter() - t0  # imports and the model object
        fit = m.fit(**DRAWS, random_seed=1, progressbar=False)
        parts["load"] = float(fit.attrs["compile_seconds"])  # density from disk / compile
        parts["sample"] = float(fit.attrs["sampling_seconds"])
    else:  # the hand-written PyMC model compiled by nutpie
        import nutpie
        import pandas as pd
        import pymc as pm

        d = pd.read_csv(ROOT / "bayesma" / "datasets" / "data" / "bcg.csv")
        y, v = d["yi"].to_numpy(), d["vi"].to_numpy()
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
    parts["total"] = time.perf_counter() - t0
    print(json.dumps(parts))


def _cold(tree: Path, model: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    runs = []
    for _ in range(2):
        r = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", model],
                           env=env, capture_output=True, text=True, cwd="/")
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-3000:])
        runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return runs[-1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker")
    ap.add_argument("--old", default="/tmp/bm_old")
    a = ap.parse_args()
    if a.worker:
        worker(a.worker)
        return
    old = Path(a.old)
    have_old = (old / "bayesma" / "__init__.py").is_file()
    rows = []
    for name, model, hand in (("RandomEffects", "re", "hand_re"),
                              ("MetaRegression ~ ablat", "mr", "hand_mr")):
        now = _cold(ROOT, model)
        before = _cold(old, model)["total"] if have_old else float("nan")
        peer = _cold(ROOT, hand)["total"]
        rows.append((name, now, before, peer))
    load = os.getloadavg()
    lines = [
        f"bayesma speed_mcmc_cold  (python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores shared)",
        "a second process's first fit (imports included), seconds; bcg, 1000 draws + 1000 "
        "tune, 2 chains",
        "'before' = commit c77db32; 'nutpie by hand' = the same model in PyMC compiled by "
        "nutpie.compile_pymc_model",
        "",
        f"  {'model':<24}{'now':>8}{'before':>9}{'nutpie by hand':>16}{'before/now':>12}"
        f"{'hand/now':>10}",
    ]
    for name, now, before, peer in rows:
        t = now["total"]
        lines.append(f"  {name:<24}{t:8.2f}{before:9.2f}{peer:16.2f}{before / t:12.2f}"
                     f"{peer / t:10.2f}")
    lines += ["", "where 'now' goes (s): imports + model object / density loaded from disk / "
              "sampling / the rest of fit() (derived draws, predictive groups, diagnostics)"]
    for name, now, _, _ in rows:
        rest = now["total"] - now["model"] - now["load"] - now["sample"]
        lines.append(f"  {name:<24}{now['model']:8.2f}{now['load']:8.2f}{now['sample']:8.2f}"
                     f"{rest:8.2f}")
    lines += ["", "goal (issue 16): under 1.5 s for 'now' (on an idle machine)",
              f"load average during the run: {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}"]
    text = "\n".join(lines) + "\n"
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

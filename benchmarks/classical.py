"""Speed of the classical engine: ``rma(method="REML")`` for k = 13, 1 000 and 100 000.

Run from the repository root::

    .venv/bin/python benchmarks/classical.py

The results go to ``benchmarks/results/classical.txt``. Timings are the median of
several repetitions (wall time) after one warm-up run. The target: k = 100 000 under 1 s
(the engine never forms k x k matrices).

When ``Rscript`` with metafor is on the PATH, metafor's ``rma(yi, vi, method="REML")`` is
timed on the same data in the same way (median of repetitions inside one R session);
metafor builds k x k matrices, so k = 100 000 (80 GB per matrix) is not run there.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import bayesma as bm
from bayesma.classical.rma import rma

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bayesma" / "datasets" / "data"
OUT = ROOT / "benchmarks" / "results" / "classical.txt"
REPEATS = {13: 50, 1_000: 20, 100_000: 7}
METAFOR_MAX_K = 5_000


def _data(k: int) -> pd.DataFrame:
    if k == 13:
        return pd.read_csv(DATA / "bcg.csv")[["yi", "vi"]]
    rng = np.random.default_rng(20240101 + k)
    vi = rng.uniform(0.005, 0.5, k)
    yi = rng.normal(0.3, np.sqrt(vi + 0.05))
    return pd.DataFrame({"yi": yi, "vi": vi})


def _median_time(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _metafor_version() -> str | None:
    if shutil.which("Rscript") is None:
        return None
    r = subprocess.run(
        ["Rscript", "-e", 'cat(as.character(packageVersion("metafor")))'],
        capture_output=True, text=True,
    )
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def _metafor_time(d: pd.DataFrame, repeat: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.csv"
        d.to_csv(path, index=False, float_format="%.17g")
        script = f"""
suppressMessages(library(metafor))
d <- read.csv("{path}")
f <- function() rma(d$yi, d$vi, method="REML")
invisible(f())
t <- replicate({repeat}, system.time(f())[["elapsed"]])
cat(sprintf("%.17g %.17g", median(t), f()$tau2))
"""
        r = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        t, tau2 = (float(x) for x in r.stdout.split())
        return t, tau2


def main() -> None:
    mf = _metafor_version()
    lines = [
        f"bayesma {bm.__version__}, numpy {np.__version__}, Python "
        f"{platform.python_version()}, {platform.machine()}",
        "rma(data, method='REML'), median wall time of repeated runs after a warm-up",
        "metafor " + (mf if mf else "not installed in this run"),
        "",
        f"{'k':>8}  {'repeats':>7}  {'bayesma (s)':>12}  {'metafor (s)':>12}  "
        f"{'tau2':>12}  {'iterations':>10}",
    ]
    for k, repeat in REPEATS.items():
        d = _data(k)
        t = _median_time(lambda d=d: rma(d, method="REML"), repeat)
        res = rma(d, method="REML")
        if mf is None:
            mtxt = "-"
        elif k > METAFOR_MAX_K:
            mtxt = "not run"
        else:
            mt, mtau2 = _metafor_time(d, repeat)
            mtxt = f"{mt:.5f}"
            # metafor's default threshold is 1e-5, so compare loosely
            assert abs(mtau2 - res.tau2) <= 1e-4 * max(1.0, res.tau2), (mtau2, res.tau2)
        lines.append(
            f"{k:>8}  {repeat:>7}  {t:>12.5f}  {mtxt:>12}  {res.tau2:>12.6g}  "
            f"{res.iterations:>10}"
        )
    if mf is not None:
        lines += ["", f"metafor is not run for k > {METAFOR_MAX_K}: it forms k x k matrices "
                  "(k = 100 000 would need 80 GB per matrix)."]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines += ["", f"load average during the run: {load} ({os.cpu_count()} cores)"]
    text = "\n".join(lines) + "\n"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()

"""Wall time of RoBMA's full 36-model ensemble (``bm.RoBMA``) on a k = 30 dataset.

Dataset: the first 30 studies of metadat's dat.bangertdrowns2004 (SMD, writing-to-learn).
Timed in one run: the full ``RoBMA()`` call (data checks, 36 models, result), and the time
per model class (no bias: exact, from ``fit_four_models``; PET/PEESE: exact marginal
likelihood + importance sampling for the posterior; weight functions: adaptive
Gauss-Hermite + importance sampling), plus the printout (all summaries). RoBMA in R
(JAGS + bridge sampling) takes minutes for the same ensemble (Bartoš et al. 2023 report
fitting times of minutes to hours); the goal here is < 60 s on 2 cores. Wall clock on a
shared machine (the load average is recorded).

Run:  .venv/bin/python benchmarks/robma_ensemble.py  (writes
benchmarks/results/robma_ensemble.txt)
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

import bayesma as bm
from bayesma.bayes.averaging.marginal import fit_four_models
from bayesma.bayes.averaging.robma.defaults import model_space, resolve_priors
from bayesma.bayes.averaging.robma.ensemble import fit_bias_model

OUT = Path(__file__).parent / "results" / "robma_ensemble.txt"


def main() -> None:
    dat = bm.datasets.load("bangertdrowns2004").dropna(subset=["yi", "vi"]).iloc[:30]
    dat = dat.reset_index(drop=True)
    y, v = dat["yi"].to_numpy(float), dat["vi"].to_numpy(float)
    lines = [f"bm.RoBMA 36-model ensemble, k = {len(dat)} (dat.bangertdrowns2004[1:30], SMD)",
             f"python {sys.version.split()[0]}, {platform.machine()}, "
             f"{os.cpu_count()} CPUs, load average before: "
             f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}", ""]

    t0 = time.perf_counter()
    fit = bm.RoBMA(dat, seed=1, progress=False)
    t_full = time.perf_counter() - t0
    t0 = time.perf_counter()
    str(fit)
    t_print = time.perf_counter() - t0

    pri = resolve_priors(None, "SMD")
    per: dict[str, list[float]] = defaultdict(list)
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    fit_four_models(y, v, pri["mu"], pri["tau"])
    per["no bias (4 models, exact)"].append(time.perf_counter() - t0)
    for spec in model_space(pri):
        if spec.bias.kind == "none":
            continue
        label = ("weight function (AGHQ + IS)" if spec.bias.kind == "weightfunction"
                 else f"{spec.bias.kind} (exact + IS)")
        t0 = time.perf_counter()
        fit_bias_model(spec, y, v, pri, rng)
        per[label].append(time.perf_counter() - t0)

    lines.append(f"full RoBMA() call (36 models + result): {t_full:6.2f} s   "
                 f"(goal < 60 s)")
    lines.append(f"printout (summaries, weight function):  {t_print:6.2f} s")
    lines.append("")
    lines.append(f"{'model class':<32} {'models':>6} {'total s':>8} {'per model s':>12}")
    for label, ts in per.items():
        n = 4 if label.startswith("no bias") else len(ts)
        lines.append(f"{label:<32} {n:>6} {sum(ts):>8.2f} {sum(ts) / n:>12.3f}")
    lines.append("")
    lines.append(f"components: effect BF = {fit.bf_effect:.4g}, heterogeneity BF = "
                 f"{fit.bf_heterogeneity:.4g}, bias BF = {fit.bf_bias:.4g}")
    wf = fit.models[fit.models["method"] == "aghq"]
    z = (wf["log_ml"] - wf["log_ml_is"]).abs() / np.sqrt(wf["se_is"] ** 2 + wf["error"] ** 2)
    lines.append(f"weight-function models: max AGHQ error estimate {wf['error'].max():.4f}; "
                 f"|AGHQ - IS| / combined error: median {z.median():.2f}, max {z.max():.2f}")
    text = "\n".join(lines) + "\n"
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

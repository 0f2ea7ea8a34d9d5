"""Speed of the sensitivity analyses with the exact engine.

Run from the repository root::

    .venv/bin/python benchmarks/sensitivity.py

and the results are written to ``benchmarks/results/sensitivity.txt``. The target of
issue 5: a sweep of 20 priors with the exact engine takes well under a second. With
``--mcmc`` it also times an MCMC sweep of three HalfNormal priors on BCG (nutpie, 4
chains x 1000 draws), where only the first fit compiles.
Timings are the best of five repetitions (wall time), after one warm-up run that pays
for the imports.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import pandas as pd

import bayesma as bm
from bayesma.priors import HalfCauchy, HalfNormal, Normal
from bayesma.sensitivity import bayes_leave1out, prior_sensitivity, psense, sensitivity_subsets

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bayesma" / "datasets" / "data"
OUT = ROOT / "benchmarks" / "results" / "sensitivity.txt"
REPEAT = 5


def _best(fn) -> float:
    fn()  # warm-up
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    lines = [f"bayesma {bm.__version__}, Python {platform.python_version()}, "
             f"{platform.machine()}; best of {REPEAT} runs (seconds)", ""]
    twenty = {f"HalfNormal({s:g})": HalfNormal(s) for s in
              (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)}
    twenty |= {f"HalfCauchy({s:g})": HalfCauchy(s) for s in
               (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)}
    for name in ("bcg", "bangertdrowns2004", "edge_k2"):
        d = pd.read_csv(DATA / f"{name}.csv")
        k = len(d)

        def sweep(d=d):
            return prior_sensitivity(d, tau_priors=twenty, mu_priors=Normal(0, 10),
                                     progress=False)

        def sweep_no_twin(d=d):
            return prior_sensitivity(d, tau_priors=twenty, mu_priors=Normal(0, 10),
                                     classical=None, progress=False)

        def sets(d=d):
            return prior_sensitivity(d, tau_priors=["weakly informative", "vague"],
                                     mu_priors=Normal(0, 10), progress=False)

        lines.append(f"{name} (k = {k})")
        lines.append(f"  prior_sensitivity, 20 tau priors + classical twin : "
                     f"{_best(sweep):.3f}")
        lines.append(f"  prior_sensitivity, 20 tau priors, no twin         : "
                     f"{_best(sweep_no_twin):.3f}")
        lines.append(f"  prior_sensitivity, weakly informative + vague     : {_best(sets):.3f}")
        lines.append(f"  bayes_leave1out ({k} refits + predictive checks)   : "
                     f"{_best(lambda d=d: bayes_leave1out(d, mu_prior=Normal(0, 10))):.3f}")
        if k > 2:
            lines.append(f"  sensitivity_subsets (outliers rule, both engines) : "
                         f"{_best(lambda d=d: sensitivity_subsets(d)):.3f}")
        post = bm.exact_posterior(d, mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))
        lines.append(f"  psense of the exact posterior (8000 draws)       : "
                     f"{_best(lambda post=post: psense(post)):.3f}")
        lines.append("")
    if "--mcmc" in sys.argv:
        import warnings

        d = pd.read_csv(DATA / "bcg.csv")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            res = prior_sensitivity(d, tau_priors=[HalfNormal(0.25), HalfNormal(0.5),
                                                   HalfNormal(1.0)],
                                    mu_priors=Normal(0, 10), engine="mcmc", progress=False,
                                    draws=1000, tune=1000, chains=4, cores=2, random_seed=1)
            total = time.perf_counter() - t0
        lines.append("MCMC sweep, bcg, 3 HalfNormal priors (nutpie, 4 x 1000 draws)")
        for (tau, _), fit in res.fits.items():
            a = fit.attrs
            lines.append(f"  {tau:24s} compile {a['compile_seconds']:6.2f}  sampling "
                         f"{a['sampling_seconds']:5.2f}  reused {a['compiled_model_reused']}")
        lines.append(f"  total (with table, classical twin)              : {total:.2f}")
        lines.append("")
    text = "\n".join(lines)
    OUT.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()

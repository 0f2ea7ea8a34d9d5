"""Speed of the exact engine (bayesma/bayes/exact.py): full summary for k = 13, 200, 2000.

"Full summary" = building the posterior (adaptive quadrature over tau) plus
``summary()`` without the classical twin: mean, sd, median, 95% ETI and HDI of mu, tau,
tau², I², theta_new and every theta_i. Also timed: construction alone, the summary with
the classical twin (REML + Knapp-Hartung, Q-profile CI), and 4000 i.i.d. draws packed as
a DataTree. Median of repeats (wall clock, on a shared machine).

Run:  .venv/bin/python benchmarks/bayes_exact.py  (writes benchmarks/results/bayes_exact.txt)
"""

from __future__ import annotations

import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import bayesma as bm
from bayesma.bayes.exact import ExactPosterior

OUT = Path(__file__).parent / "results" / "bayes_exact.txt"


def synthetic(k: int, seed: int = 1) -> pd.DataFrame:
    """k studies: v_i ~ U(0.01, 0.3), theta_i ~ N(-0.4, 0.3²), y_i ~ N(theta_i, v_i)."""
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.01, 0.3, k)
    y = rng.normal(-0.4, 0.3, k) + rng.normal(0, np.sqrt(v))
    return pd.DataFrame({"study": [f"S{i + 1}" for i in range(k)], "yi": y, "vi": v})


def timed(fn, repeats: int) -> float:
    fn()  # warm up
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def accuracy() -> str:
    """Worst relative error over every reference number (moments, quantiles, theta_i,
    log marginal likelihood, densities, Bayes factors)."""
    import json

    shared = Path(__file__).resolve().parents[1] / "tests" / "reference"
    ref_dir = shared / "bayes"
    if not ref_dir.is_dir():
        return "  (tests/reference/bayes not found)"
    priors = {"halfnormal_0.5": bm.priors.HalfNormal(0.5),
              "halfcauchy_0.5": bm.priors.HalfCauchy(0.5),
              "uniform_0_10": bm.priors.Uniform(0.0, 10.0)}
    worst, where, n = 0.0, "", 0
    for f in sorted(ref_dir.glob("*.json")):
        ref = json.loads(f.read_text())
        df = pd.read_csv(shared / "data" / ref["source_csv"])
        for pname, res in ref["results"].items():
            post = ExactPosterior(df["yi"], df["vi"], mu_prior=bm.priors.Normal(0, 10),
                                  tau_prior=priors[pname])
            got, exp = [], []
            for par in ("tau", "tau2", "mu", "theta_new"):
                q = post.quantile(par, [0.025, 0.5, 0.975])
                got += [post.mean(par), post.sd(par), *q]
                exp += [res[par][s] for s in ("mean", "sd", "q025", "q50", "q975")]
            tq = post.quantile("theta", [0.025, 0.5, 0.975]).to_numpy()
            tm, ts = post.mean("theta").to_numpy(), post.sd("theta").to_numpy()
            for i, th in enumerate(res["theta"]):
                got += [tm[i], ts[i], *tq[i]]
                exp += [th[s] for s in ("mean", "sd", "q025", "q50", "q975")]
            got += [post.log_marginal_likelihood, post.prob_less("mu", 0.0)]
            exp += [res["log_marginal_likelihood"], res["prob_mu_lt_0"]]
            dens = post.densities()
            got += [dens[key] for key in res["densities"]]
            exp += list(res["densities"].values())
            for g, e in zip(got, exp, strict=True):
                if e is None:
                    continue
                n += 1
                err = abs(g - e) / max(abs(e), 1e-300)
                if err > worst:
                    worst, where = err, f"{ref['dataset']}/{pname}"
    return f"  {n} numbers, worst relative error {worst:.2e} ({where})"


def main() -> None:
    priors = {"mu_prior": bm.priors.Normal(0, 10), "tau_prior": bm.priors.HalfNormal(0.5)}
    cases = [("bcg (k=13)", bm.datasets.load("bcg"), 50),
             ("synthetic k=200", synthetic(200), 20),
             ("synthetic k=2000", synthetic(2000), 5)]
    lines = [f"bayesma exact engine benchmark  ({time.strftime('%Y-%m-%d')}, "
             f"python {sys.version.split()[0]}, {platform.machine()}, numpy {np.__version__})",
             "priors: mu ~ Normal(0, 10), tau ~ HalfNormal(0.5); median wall time of repeats",
             "(2 shared vCPUs: expect +-30% between runs; 'full summary' = build + summary()"
             " without the twin, '+classical' adds the REML/knha twin with Q-profile CIs)",
             "",
             f"{'data':18s} {'nodes':>6s} {'build':>9s} {'full summary':>13s} "
             f"{'+classical':>11s} {'draws+tree':>11s}"]
    for name, df, rep in cases:
        y, v = df["yi"].to_numpy(), df["vi"].to_numpy()

        def build(y=y, v=v):
            return ExactPosterior(y, v, **priors)

        def full(y=y, v=v):
            return ExactPosterior(y, v, **priors).summary()

        def with_twin(df=df):
            return bm.exact_posterior(df, **priors).summary()

        post = build()
        t_build = timed(build, rep)
        t_full = timed(full, rep)
        t_twin = timed(with_twin, max(rep // 5, 3))
        t_tree = timed(lambda post=post: post.to_datatree(4000, random_seed=0),
                       max(rep // 5, 3))
        lines.append(f"{name:18s} {post.n_nodes:6d} {t_build * 1e3:7.2f}ms "
                     f"{t_full * 1e3:11.2f}ms {t_twin * 1e3:9.1f}ms {t_tree * 1e3:9.1f}ms")
        print(lines[-1], flush=True)
    lines += ["", "accuracy against tests/reference/bayes (all datasets x 3 tau priors):"]
    lines.append(accuracy())
    text = "\n".join(lines) + "\n"
    OUT.write_text(text)
    print(f"written to {OUT}")


if __name__ == "__main__":
    main()

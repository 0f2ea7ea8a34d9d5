"""Coverage of every interval bayesma reports, on log-odds-ratio-like meta-analyses.

Scenarios: k = 2, 3, 5, 10 studies; tau = 0, 0.25, 0.5, 1; mu = 0; sampling variances
vi ~ Uniform(0.05, 0.5) (log odds ratios of trials with roughly 20 to 200 patients per
arm). Methods: REML, DL and PM with Wald (z), Hartung-Knapp-Sidik-Jonkman (knha) and
metafor's modified Knapp-Hartung (adhoc) intervals, the REML prediction interval, and
exact Bayesian intervals with bayesma's defaults for OR (mu ~ Normal(0, 4),
tau ~ HalfNormal(0.5)) and with HalfNormal(1). Every method sees the same replicates
(``bm.coverage_study``, seed 2017). Prediction-interval coverage is the probability that
a new study's true effect falls inside (averaged over replicates).

Run:  .venv/bin/python benchmarks/coverage_table.py [n_rep]
(writes benchmarks/results/coverage_table.txt and the tables of docs/guide/coverage.md
between its coverage-table markers; default n_rep = 5000).
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import pandas as pd

import bayesma as bm
from bayesma.priors import Normal

OUT = Path(__file__).parent / "results" / "coverage_table.txt"
DOC = Path(__file__).parents[1] / "docs" / "guide" / "coverage.md"
START, END = "<!-- coverage-table:start -->", "<!-- coverage-table:end -->"
METHODS = ["REML-z", "DL-z", "REML-knha", "PM-knha", "REML-adhoc", "PI-REML",
           "Bayes-HalfNormal(0.5)", "Bayes-HalfNormal(1)", "PI-Bayes-HalfNormal(0.5)"]
KS = (2, 3, 5, 10)
TAUS = (0.0, 0.25, 0.5, 1.0)


def table(res: pd.DataFrame, value: str, fmt: str) -> str:
    """Markdown table: one row per method, one column per (tau, k)."""
    cols = [(t, k) for t in TAUS for k in KS]
    head = "| method | " + " | ".join(f"τ={t:g} k={k}" for t, k in cols) + " |"
    sep = "|---|" + "---:|" * len(cols)
    lines = [head, sep]
    for m in METHODS:
        sub = res[res["method"] == m].set_index(["tau", "k"])
        cells = [format(sub.loc[(t, k), value], fmt) for t, k in cols]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(n_rep: int = 5000) -> str:
    scenarios = [{"k": k, "tau": t, "mu": 0.0, "vi": "uniform(0.05, 0.5)"}
                 for t in TAUS for k in KS]
    t0 = time.perf_counter()
    res = bm.coverage_study(scenarios, METHODS, n_rep=n_rep, seed=2017,
                            mu_prior=Normal(0.0, 4.0))
    secs = time.perf_counter() - t0
    cov = res.assign(coverage=100 * res["coverage"], mcse=100 * res["mcse"])
    worst = cov["mcse"].max()
    text = "\n\n".join([
        f"coverage_table: n_rep = {n_rep} per scenario, {len(scenarios)} scenarios, "
        f"{len(METHODS)} methods; {secs:.1f} s on {platform.machine()} "
        f"(Python {platform.python_version()}, serial)",
        f"Coverage (%) of nominal 95% intervals; Monte Carlo SE at most {worst:.1f} points "
        f"({100 * (0.95 * 0.05 / n_rep) ** 0.5:.2f} at 95% coverage)",
        table(cov, "coverage", ".1f"),
        "Median width",
        table(res, "median_width", ".2f"),
        f"Failures (no finite interval): {int(res['n_fail'].sum())}; flagged fits: "
        f"{int(res['n_warn'].sum())}",
    ])
    OUT.write_text(text + "\n", encoding="utf-8")
    doc = "\n\n".join([
        f"{n_rep} replicates per scenario, {len(scenarios)} scenarios, {len(METHODS)} "
        f"methods ({secs:.0f} s on one core).\n"
        f"Coverage (%) of nominal 95% intervals; Monte Carlo SE at most {worst:.1f} points "
        f"({100 * (0.95 * 0.05 / n_rep) ** 0.5:.2f} at 95% coverage).",
        table(cov, "coverage", ".1f"),
        "Median width of the intervals (log odds ratio scale):",
        table(res, "median_width", ".2f"),
        f"Failures (no finite interval): {int(res['n_fail'].sum())}; flagged fits: "
        f"{int(res['n_warn'].sum())}.",
    ])
    page = DOC.read_text(encoding="utf-8")
    head, rest = page.split(START, 1)
    DOC.write_text(head + START + "\n" + doc + "\n" + END + rest.split(END, 1)[1],
                   encoding="utf-8")
    return text


if __name__ == "__main__":
    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))

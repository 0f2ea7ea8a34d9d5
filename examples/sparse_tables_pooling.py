"""Sparse 2x2 tables: inverse variance, Mantel-Haenszel, Peto and binomial-normal models.

The beta-blocker trials of Yusuf et al. (1985, table 9) have few deaths, and several
trials have no death in one or both arms. Inverse-variance pooling of log odds ratios
needs a continuity correction for those tables and is biased towards the null; RevMan
users expect Mantel-Haenszel or Peto pooling; a binomial-normal model uses the exact
binomial likelihood (no correction, double-zero trials kept).

1. the inverse-variance random-effects model (log OR, 1/2 added to zero cells);
2. Mantel-Haenszel (metafor's ``rma.mh``), Peto's one-step OR (``rma.peto``) and the
   binomial-normal GLMM (``rma.glmm``, UM.FS);
3. the Bayesian binomial-normal model (``bm.BinomialNormal``, MCMC) beside the normal
   approximation, unless BAYESMA_QUICK=1.

Run:  python examples/sparse_tables_pooling.py
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import bayesma as bm  # noqa: E402

OUT = Path(os.environ.get("BAYESMA_OUT", "out")) / "sparse_tables_pooling"
QUICK = os.environ.get("BAYESMA_QUICK") == "1"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    raw = bm.datasets.load("yusuf1985")
    cols = dict(ai="ai", n1i="n1i", ci="ci", n2i="n2i")
    dat = bm.escalc("OR", raw, **cols)
    zero = int(((raw["ai"] == 0) | (raw["ci"] == 0)).sum())
    print(f"{len(raw)} trials, {zero} with a zero cell")

    rows = []
    iv = bm.rma(dat, yi="yi", vi="vi", measure="OR", slab="trial")
    rows.append(("inverse variance (REML)", iv.estimate, iv.ci_low, iv.ci_high))
    for name, fit in (("Mantel-Haenszel", bm.rma_mh(raw, measure="OR", **cols)),
                      ("Peto", bm.rma_peto(raw, **cols)),
                      ("GLMM (UM.FS)", bm.rma_glmm(raw, measure="OR", model="UM.FS",
                                                   **cols))):
        print(fit)
        rows.append((name, fit.estimate, fit.ci_low, fit.ci_high))
    if not QUICK:
        fit = bm.BinomialNormal(raw, ai="ai", n1i="n1i", ci="ci", n2i="n2i",
                                tau_prior=bm.priors.HalfNormal(0.5)).fit(
            draws=1000, chains=4, random_seed=1)
        lo, hi = fit.interval("mu", prob=0.95)
        rows.append(("Bayesian binomial-normal", fit.median("mu"), lo, hi))
    table = pd.DataFrame(rows, columns=["method", "log OR", "low", "high"]).set_index("method")
    table["OR"] = np.exp(table["log OR"])
    print(table.round(3).to_string())

    fig, ax = plt.subplots(figsize=(6, 0.5 * len(table) + 1))
    y = np.arange(len(table))[::-1]
    ax.errorbar(np.exp(table["log OR"]), y, xerr=[np.exp(table["log OR"]) - np.exp(
        table["low"]), np.exp(table["high"]) - np.exp(table["log OR"])], fmt="s", color="k")
    ax.set_yticks(y, table.index)
    ax.axvline(1, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("pooled odds ratio of death (95% interval)")
    fig.tight_layout()
    fig.savefig(OUT / "pooling_methods.png", dpi=120)
    plt.close(fig)
    print(f"\nFigures written to {OUT}")


if __name__ == "__main__":
    main()

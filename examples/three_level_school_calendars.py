"""Several effects per study: a three-level meta-analysis of schools within districts.

Konstantopoulos (2011) pooled 56 standardised mean differences in achievement between
schools on a modified (year-round) calendar and schools on a traditional calendar; the
schools come from 11 districts, and schools of one district resemble each other. A
two-level model treats the 56 effects as independent and understates the uncertainty
of the pooled effect; the three-level model separates the variation between districts
from the variation between schools within a district.

1. The classical three-level model (metafor's ``rma.mv(yi, vi, random = ~ 1 |
   district/school)``) with CR2 cluster-robust inference and the multilevel I² per level.
2. Robust variance estimation as robumeta computes it (correlated-effects weights) and its
   sensitivity to the assumed within-study correlation rho.
3. The Bayesian three-level model by the exact 2-D engine (no MCMC): posterior of mu and
   of the two SDs, and the forest plot with the schools grouped under their district.
4. The same analysis as a spec (``models/konstantopoulos2011_multilevel.toml``), the way
   ``bayesma fit`` runs it.

Run:  python examples/three_level_school_calendars.py   (the exact engine takes about a
second; BAYESMA_QUICK=1 changes nothing)
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

import bayesma as bm  # noqa: E402
from bayesma.spec import run_spec  # noqa: E402

OUT = Path(os.environ.get("BAYESMA_OUT", "out")) / "three_level_school_calendars"
SPEC = Path(__file__).resolve().parents[1] / "models" / "konstantopoulos2011_multilevel.toml"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    pd.set_option("display.width", 140)
    dat = bm.datasets.load("konstantopoulos2011")
    print(f"{len(dat)} effects in {dat['district'].nunique()} districts")

    # ---- 1. classical three-level model and CR2 robust inference
    ml = bm.rma_mv(dat, yi="yi", vi="vi", random="~ 1 | district/school")
    print(ml.summary())
    cr2 = bm.robust(ml, cluster="district", clubSandwich=True)
    print("\nCR2 cluster-robust coefficients (Pustejovsky & Tipton 2018):")
    print(cr2.coef.round(4).to_string())
    i2 = getattr(ml, "i2_levels", None)
    if i2 is not None:
        print("\nmultilevel I² per level (%):")
        print(pd.Series(i2).round(1).to_string())

    # ---- 2. robust variance estimation (robumeta) and its rho sensitivity
    rb = bm.robu(dat, yi="yi", vi="vi", studynum="district", modelweights="CORR", rho=0.8)
    print("\n", rb, sep="")
    print("\nsensitivity to rho:")
    print(rb.sensitivity(rho=[0, 0.2, 0.4, 0.6, 0.8, 1]).round(4).to_string())

    # ---- 3. Bayesian three-level model, exact engine
    post = bm.exact_posterior(dat, yi="yi", vi="vi", random="~ 1 | district/school",
                              mu_prior=bm.priors.Normal(0, 1),
                              tau_prior={"district": bm.priors.HalfNormal(0.5),
                                         "school": bm.priors.HalfNormal(0.5)})
    print("\nposterior (exact 2-D quadrature):")
    for p in ("mu", "tau[district]", "tau[school]"):
        lo, hi = post.interval(p, prob=0.95)
        print(f"  {p:14s} median {post.median(p):.3f}  95% CrI [{lo:.3f}, {hi:.3f}]")
    fig = bm.forest_plot(post, labels=("Favours traditional", "Favours modified"),
                         title="Modified school calendars: schools within districts")
    fig.savefig(OUT / "forest_by_district.png", dpi=120)
    plt.close(fig)

    # ---- 4. the same analysis as a spec
    result = run_spec(SPEC, out=OUT / "spec_output", overwrite=True)
    print("\nspec summary:")
    print(result.outcomes[0].summary[["parameter", "bayes_median", "bayes_low", "bayes_high",
                                      "classical"]].round(3).to_string(index=False))
    print(f"\nFigures written to {OUT}")


if __name__ == "__main__":
    main()

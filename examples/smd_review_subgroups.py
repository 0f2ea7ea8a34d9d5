"""An SMD review: subgroups, a prior sensitivity analysis and a posterior forest plot.

The workflow of a systematic review of e-health interventions for adults with cancer
(depression at the end of the intervention), with the Python API:

1. Hedges' g from each trial's means, SDs and group sizes (``bm.escalc("SMD", ...)``);
2. the classical random-effects model and a subgroup analysis by delivery mode
   (web, app, telephone/video) with the tests of subgroup differences;
3. the Bayesian random-effects model with the Rhodes et al. (2015) empirical prior for
   mental-health outcomes of non-pharmacological interventions in cancer;
4. a prior sensitivity analysis over that prior, weakly informative and vague priors;
5. the posterior forest plot with a section per delivery mode, and the sensitivity plot.

!! The data are CONSTRUCTED for illustration (models/data/ehealth_cancer.csv, simulated by
!! models/data/make_ehealth_cancer.py): the trials EH-01 ... EH-16 do not exist.

Run:  python examples/smd_review_subgroups.py       (BAYESMA_QUICK=1 for a fast check)
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

import bayesma as bm

# BAYESMA_QUICK=1 (CI) changes nothing here: the exact engine takes milliseconds.
QUICK = os.environ.get("BAYESMA_QUICK", "") not in ("", "0")
OUT = Path(os.environ.get("BAYESMA_OUT", "out")) / "smd_review_subgroups"
DATA = Path(__file__).resolve().parents[1] / "models" / "data" / "ehealth_cancer.csv"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    table = pd.read_csv(DATA, comment="#")
    depression = table[table["outcome"] == "depression"].reset_index(drop=True)

    # 1. Hedges' g (group 1 = e-health, group 2 = usual care; negative = less depression)
    dat = bm.escalc("SMD", data=depression, m1i="m1i", sd1i="sd1i", n1i="n1i",
                    m2i="m2i", sd2i="sd2i", n2i="n2i")

    # 2. classical random effects and subgroups by delivery mode
    res = bm.rma(dat, method="REML", test="knha", slab="study")
    print(res)
    sub = bm.subgroup(dat, by="delivery", method="REML", test="knha", slab="study")
    print(sub.summary())

    # 3. Bayesian random effects with an empirical prior on tau
    tau_prior = bm.priors.rhodes2015("mental health", "non-pharmacological vs placebo",
                                     area="cancer")
    mu_prior = bm.priors.Normal(0, 1)
    post = bm.exact_posterior(dat, mu_prior=mu_prior, tau_prior=tau_prior, slab="study")
    lo, hi = post.interval("mu")
    print(f"\nPooled SMD: posterior median {post.median('mu'):.2f} [{lo:.2f}, {hi:.2f}], "
          f"P(SMD < 0) = {post.prob_less('mu', 0):.3f}")
    print(f"tau: median {post.median('tau'):.2f}; prior {tau_prior}")
    print(f"source: {tau_prior.source}")

    # 4. prior sensitivity: the chosen prior, the ready-made sets, a sceptical mu prior
    sens = bm.prior_sensitivity(
        dat, slab="study", progress=False,
        tau_priors=[{"Rhodes 2015, mental health, cancer": tau_prior},
                    "weakly informative", "vague"],
        mu_priors={"Normal(0, 1)": mu_prior,
                   "Normal(0, 0.3), sceptical": bm.priors.Normal(0, 0.3)})
    print()
    print(sens.summary())

    # 5. figures: posterior forest plot with subgroup sections, sensitivity plot
    bm.forest_plot(post, subgroup="delivery", labels=("Favours e-health", "Favours usual care"),
                   title="Depression (illustrative data)", save=OUT / "forest.png")
    bm.forest_plot(post, subgroup="delivery", labels=("Favours e-health", "Favours usual care"),
                   title="Depression (illustrative data)", save=OUT / "forest.pdf")
    bm.sensitivity_plot(sens, save=OUT / "sensitivity.png")
    print(f"\nFigures written to {OUT}/")


if __name__ == "__main__":
    main()

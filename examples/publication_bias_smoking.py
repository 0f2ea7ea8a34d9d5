"""Publication bias, classical and Bayesian: passive smoking and lung cancer.

Hackshaw et al. (1997) pooled 37 studies of lung cancer in never-smoking women living
with a smoker; the data are the example of metafor's ``selmodel()``. Funnel-plot tests
and trim-and-fill are unreliable under heterogeneity, so this script puts several views
side by side:

1. the log odds ratios and their variances from the published odds ratios and 95% CIs
   (``bm.conv_wald``, metafor's ``conv.wald``);
2. the classical random-effects model, Egger's test and trim-and-fill;
3. selection models (step function and beta; metafor's ``selmodel``) and PET-PEESE
   (Stanley & Doucouliagos 2014), with the PET-PEESE lines on the funnel plot;
4. Bayesian model averaging over effect and heterogeneity (metaBMA's ``meta_bma``) with
   inclusion Bayes factors and the model-averaged posterior of mu;
5. RoBMA-PSMA (Bartoš et al. 2023), unless BAYESMA_QUICK=1.

Run:  python examples/publication_bias_smoking.py
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import bayesma as bm  # noqa: E402

OUT = Path(os.environ.get("BAYESMA_OUT", "out")) / "publication_bias_smoking"
QUICK = os.environ.get("BAYESMA_QUICK") == "1"


def save(fig, name: str) -> None:
    fig.savefig(OUT / name, dpi=120)
    plt.close(fig)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    raw = bm.datasets.load("hackshaw1998")
    dat = bm.conv_wald(raw, out="or", ci_lb="or.lb", ci_ub="or.ub", transf="log")
    print("log OR from the reported ORs and 95% CIs; largest difference from metadat's yi:",
          f"{np.max(np.abs(dat['yi'] - raw['yi'])):.2e}")

    res = bm.rma(dat, yi="yi", vi="vi", measure="OR", slab="author")
    print(res)
    print(bm.regtest(res))
    print(bm.trimfill(res))

    for t, steps in (("stepfun", [0.025, 1]), ("beta", None)):
        sel = bm.selmodel(res, type=t, steps=steps)
        print(sel)
        save(bm.selection_plot(sel), f"selection_{t}.png")
    pp = bm.pet_peese(res)
    print(pp)
    save(bm.funnel_plot(res, pet_peese=pp), "funnel_pet_peese.png")

    ba = bm.bma(dat, yi="yi", vi="vi", mu_prior=bm.priors.Normal(0, 1),
                tau_prior=bm.priors.HalfNormal(0.5), measure="OR")
    print(ba.posterior_probs.round(4).to_string())
    print(f"inclusion BF, effect: {ba.bf_effect:.3g}; heterogeneity: "
          f"{ba.bf_heterogeneity:.3g}")
    save(bm.averaged_posterior_plot(ba, param="mu"), "bma_mu.png")

    if not QUICK:
        rb = bm.RoBMA(dat, yi="yi", vi="vi", measure="OR")
        print(rb)
        save(bm.weightfunction_plot(rb), "robma_weightfunction.png")
    print(f"\nFigures written to {OUT}")


if __name__ == "__main__":
    main()

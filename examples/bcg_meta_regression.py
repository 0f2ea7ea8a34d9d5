"""BCG vaccine: meta-regression of the log risk ratio on latitude, in both engines.

Colditz et al. (1994) pooled 13 trials of the BCG vaccine against tuberculosis; the
vaccine protects better far from the equator. This script

1. computes log risk ratios from the 2x2 tables (metafor's ``escalc("RR", ...)``),
2. fits the classical mixed-effects meta-regression (REML, Knapp-Hartung),
3. fits the same Bayesian model twice with the same priors: exactly, by quadrature
   over tau (bayesmeta's method), and by MCMC with PyMC/nutpie,
4. prints the three side by side and predicts the risk ratio at several latitudes,
5. writes a forest plot and a bubble plot to ``out/bcg_meta_regression/``.

Run:  python examples/bcg_meta_regression.py       (BAYESMA_QUICK=1 for a fast check)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

import bayesma as bm

QUICK = os.environ.get("BAYESMA_QUICK", "") not in ("", "0")
OUT = Path(os.environ.get("BAYESMA_OUT", "out")) / "bcg_meta_regression"
DRAWS = 300 if QUICK else 2000


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    dat = bm.escalc("RR", data=bm.datasets.load("bcg"), ai="tpos", bi="tneg", ci="cpos",
                    di="cneg")

    # --- classical: metafor's rma(yi, vi, mods = ~ ablat, data = dat, test = "knha")
    res = bm.rma(dat, mods="~ ablat", method="REML", test="knha", slab="author")
    print(res)

    # --- the priors, stated once and used by both engines
    priors = dict(
        mu_prior=bm.priors.Normal(0, 4),        # intercept: log RR at latitude 0
        beta_prior=bm.priors.Normal(0, 1),      # change in log RR per degree of latitude
        tau_prior=bm.priors.HalfNormal(0.5),    # residual heterogeneity (Friede et al. 2017)
    )

    # --- exact posterior (quadrature over tau; milliseconds)
    exact = bm.exact_posterior(dat, mods="~ ablat", slab="author", **priors)
    print(exact)

    # --- the same model by MCMC (nutpie); compiled once, cached for refits
    fit = bm.MetaRegression(dat, "~ ablat", slab="author", **priors).fit(
        draws=DRAWS, tune=DRAWS, chains=4, random_seed=1, progressbar=False)
    print(fit.summary(theta=False)[["mean", "sd", "eti_low", "eti_high", "r_hat", "ess_bulk",
                                    "classical", "classical_low", "classical_high"]])

    # --- side by side: slope of latitude and residual tau
    rows = {}
    for name, post in (("exact", exact), ("MCMC", fit)):
        for param in ("beta[ablat]", "tau"):
            lo, hi = post.interval(param, prob=0.95)
            rows[(param, name)] = {"median": post.median(param), "low": lo, "high": hi}
    c = res.coef.loc["ablat"]
    rows[("beta[ablat]", "classical")] = {"median": c["estimate"], "low": c["ci_low"],
                                          "high": c["ci_high"]}
    ci = res.confint()
    rows[("tau", "classical")] = {"median": ci.tau[0], "low": ci.tau[1], "high": ci.tau[2]}
    table = pd.DataFrame(rows).T
    print("\nSlope of latitude and residual tau (median or estimate, 95% interval):")
    print(table.round(4).to_string())

    # --- predicted risk ratio at 10, 30 and 50 degrees (classical and MCMC)
    lat = np.array([10.0, 30.0, 50.0])
    pc = res.predict(newmods=lat)
    pb = fit.predict(newmods=lat)
    pred = pd.DataFrame({
        "latitude": lat,
        "RR classical": np.exp(pc["pred"]).round(2),
        "95% CI": [f"[{a:.2f}, {b:.2f}]" for a, b in np.exp(pc[["ci_low", "ci_high"]].values)],
        "RR posterior mean": np.exp(pb["mean"]).round(2),
        "95% CrI": [f"[{a:.2f}, {b:.2f}]" for a, b in np.exp(pb[["eti_low", "eti_high"]].values)],
    })
    print("\nPredicted risk ratio by latitude:")
    print(pred.to_string(index=False))

    # --- figures
    overall = bm.exact_posterior(dat, slab="author", mu_prior=priors["mu_prior"],
                                 tau_prior=priors["tau_prior"])
    bm.forest_plot(overall, labels=("Favours vaccine", "Favours control"),
                   save=OUT / "forest.png")
    bm.regression_plot(exact, save=OUT / "regression.png")
    print(f"\nFigures written to {OUT}/")


if __name__ == "__main__":
    main()

"""Choosing an empirical prior for tau (Turner et al. 2015, Rhodes et al. 2015).

With few studies the between-study SD tau is poorly estimated, and its prior matters.
Turner et al. (2015, log odds ratios) and Rhodes et al. (2015, SMDs) analysed thousands
of Cochrane meta-analyses and published predictive distributions of tau² by outcome
type, intervention comparison and (Rhodes) medical area: ready-made priors for a new
review. This script shows how to pick one and what it implies.

1. Browse the tables and pick the cell of a new review (here: beta-blockers after a
   myocardial infarction, all-cause mortality, pharmacological vs placebo, log OR; and
   an e-health review of depression in cancer, SMD).
2. Translate each prior into statements about tau a clinician can check (median, 95%
   range, P(tau > 0.5)), against the general-setting and weakly informative priors.
3. Draw the candidate densities.
4. Fit the review with each candidate (exact engine) to see how much the choice matters.

Run:  python examples/choosing_empirical_prior.py    (BAYESMA_QUICK=1 changes nothing:
the exact engine takes milliseconds)
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

OUT = Path(os.environ.get("BAYESMA_OUT", "out")) / "choosing_empirical_prior"
DATA = Path(__file__).resolve().parents[1] / "models" / "data" / "ehealth_cancer.csv"


def describe(priors: dict[str, bm.priors.Prior]) -> pd.DataFrame:
    """What each tau prior says, in numbers a reader can judge."""
    rows = []
    for name, p in priors.items():
        q = np.asarray(p.ppf([0.025, 0.5, 0.975]), dtype=float)
        rows.append({"prior": name, "family": str(p), "median tau": q[1],
                     "95% range": f"[{q[0]:.3f}, {q[2]:.2f}]",
                     "P(tau > 0.5)": float(1 - p.cdf(0.5))})
    return pd.DataFrame(rows).set_index("prior")


def plot(priors: dict[str, bm.priors.Prior], title: str, path: Path, xmax: float) -> None:
    x = np.linspace(1e-4, xmax, 600)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, p in priors.items():
        ax.plot(x, p.pdf(x), lw=1.8, label=name)
    ax.set(xlabel="tau", ylabel="prior density", title=title, xlim=(0, xmax))
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    pd.set_option("display.width", 140)
    print(bm.priors.list_presets())

    # ---- binary outcome: beta-blockers and mortality (Yusuf et al. 1985), log OR
    print("\nTurner et al. (2015), Table IV (first rows):")
    print(bm.priors.turner2015_table().head(8).to_string())
    binary = {
        "Turner: mortality, drug vs placebo": bm.priors.turner2015(
            "all-cause mortality", "pharmacological vs placebo"),
        "Turner: general setting": bm.priors.turner2015(),
        "HalfNormal(0.5), weakly informative": bm.priors.HalfNormal(0.5),
    }
    print("\nCandidate tau priors for a log odds ratio of all-cause mortality:")
    print(describe(binary).round(3).to_string())
    plot(binary, "tau priors for log OR (mortality)", OUT / "tau_priors_or.png", 1.5)

    dat = bm.datasets.load("yusuf1985")          # yi, vi: log odds ratios (escalc "OR")
    sens = bm.prior_sensitivity(dat, tau_priors=binary, mu_priors=bm.priors.Normal(0, 4),
                                slab="trial", progress=False)
    print(f"\nBeta-blockers, all-cause mortality (k = {len(dat)}):")
    print(sens.summary())

    # ---- continuous outcome: depression in an e-health review for cancer, SMD
    smd = {
        "Rhodes: mental health, non-drug, cancer": bm.priors.rhodes2015(
            "mental health", "non-pharmacological vs placebo", area="cancer"),
        "Rhodes: mental health, non-drug, other areas": bm.priors.rhodes2015(
            "mental health", "non-pharmacological vs placebo", area="other"),
        "Rhodes: general setting": bm.priors.rhodes2015(),
        "HalfNormal(0.3), bayesma default for SMD": bm.priors.HalfNormal(0.3),
    }
    print("\nCandidate tau priors for an SMD of a mental-health outcome:")
    print(describe(smd).round(3).to_string())
    print("\nNote the area: cancer reviews expect far more heterogeneity (Rhodes et al., "
          "Appendix Table A.3.2) than other areas (Table 3).")
    plot(smd, "tau priors for SMD (mental health)", OUT / "tau_priors_smd.png", 1.5)

    # illustrative (constructed) data: depression outcome of models/data/ehealth_cancer.csv
    table = pd.read_csv(DATA, comment="#")
    dep = bm.escalc("SMD", data=table[table["outcome"] == "depression"], m1i="m1i",
                    sd1i="sd1i", n1i="n1i", m2i="m2i", sd2i="sd2i", n2i="n2i")
    few = dep.head(5)                             # a new review with only 5 trials
    for label, d in (("all 16 trials", dep), ("first 5 trials", few)):
        s = bm.prior_sensitivity(d, tau_priors=smd, mu_priors=bm.priors.Normal(0, 1),
                                 slab="study", progress=False)
        t = s.table[["tau_prior", "mu_median", "mu_low", "mu_high", "tau_median"]]
        print(f"\nDepression SMD, {label} (illustrative data):")
        print(t.round(3).to_string(index=False))
    print("\nWith 16 trials the data dominate; with 5 the prior moves tau and the width of "
          "the credible interval of mu: report the prior and its source, and a sensitivity "
          "analysis.")
    print(f"\nFigures written to {OUT}/")


if __name__ == "__main__":
    main()

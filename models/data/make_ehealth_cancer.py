"""Generate ``ehealth_cancer.csv``: CONSTRUCTED, ILLUSTRATIVE data (not a real review).

The table imitates a systematic review of e-health interventions (web-based programmes,
smartphone apps, telephone/video sessions) for adults with cancer, with several
outcomes per trial in long format: anxiety, depression, health-related quality of life
and distress, each measured on a common instrument, post-intervention means, SDs and
group sizes per arm, plus study characteristics used for subgroups and sensitivity
analyses (delivery mode, programme duration, mean age group, overall risk of bias).

Every number is simulated from a random-effects model with the seed below; the trial
labels (EH-01 ... EH-16) are invented. Use the file to try bayesma, never as evidence.

    python models/data/make_ehealth_cancer.py      # rewrites ehealth_cancer.csv
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240611
#: outcome -> (true pooled SMD, true tau, instrument, control mean, SD, lower is better)
OUTCOMES = {
    "anxiety": (-0.30, 0.15, "HADS-A (0-21)", 8.2, 4.1, True),
    "depression": (-0.24, 0.18, "HADS-D (0-21)", 6.6, 4.0, True),
    "quality_of_life": (0.20, 0.12, "EORTC QLQ-C30 global health (0-100)", 61.0, 21.0, False),
    "distress": (-0.20, 0.10, "NCCN Distress Thermometer (0-10)", 4.9, 2.4, True),
}


def main() -> None:
    rng = np.random.default_rng(SEED)
    rows = []
    for i in range(16):
        study = f"EH-{i + 1:02d}"
        year = int(rng.integers(2012, 2024))
        delivery = str(rng.choice(["web", "app", "telephone/video"], p=[0.45, 0.3, 0.25]))
        weeks = int(rng.choice([4, 6, 8, 10, 12, 16]))
        age = str(rng.choice(["< 60 years", ">= 60 years"], p=[0.6, 0.4]))
        rob = str(rng.choice(["low", "some concerns", "high"], p=[0.4, 0.35, 0.25]))
        n_arm = int(rng.integers(25, 160))
        # each trial reports 2 to 4 of the outcomes (anxiety and depression most often)
        reported = [o for o, p in zip(OUTCOMES, (0.9, 0.85, 0.6, 0.45), strict=True)
                    if rng.random() < p]
        if len(reported) < 2:
            reported = ["anxiety", "depression"]
        # a trial-level random effect shared by its outcomes (correlated outcomes)
        u = rng.normal(0.0, 1.0)
        for outcome in reported:
            mu, tau, instrument, m_c, sd, _lower = OUTCOMES[outcome]
            # high risk of bias trials exaggerate the effect a little
            bias = (-0.12 if mu < 0 else 0.12) if rob == "high" else 0.0
            theta = mu + bias + tau * (0.6 * u + 0.8 * rng.normal())
            n1 = max(15, int(n_arm * rng.uniform(0.85, 1.0)))  # drop-out
            n2 = max(15, int(n_arm * rng.uniform(0.85, 1.0)))
            m2 = m_c + rng.normal(0, 0.1 * sd)
            m1 = m2 + theta * sd
            m1o = m1 + rng.normal(0, sd / np.sqrt(n1))
            m2o = m2 + rng.normal(0, sd / np.sqrt(n2))
            sd1 = sd * np.sqrt(rng.chisquare(n1 - 1) / (n1 - 1))
            sd2 = sd * np.sqrt(rng.chisquare(n2 - 1) / (n2 - 1))
            rows.append({
                "study": f"{study} ({year})", "year": year, "outcome": outcome,
                "instrument": instrument, "delivery": delivery, "weeks": weeks,
                "duration": "<= 8 weeks" if weeks <= 8 else "> 8 weeks", "age_group": age,
                "rob": rob, "n1i": n1, "m1i": round(float(m1o), 1),
                "sd1i": round(float(sd1), 1), "n2i": n2, "m2i": round(float(m2o), 1),
                "sd2i": round(float(sd2), 1),
            })
    df = pd.DataFrame(rows)
    out = Path(__file__).with_name("ehealth_cancer.csv")
    header = ("# CONSTRUCTED ILLUSTRATIVE DATA - simulated by make_ehealth_cancer.py "
              f"(seed {SEED}); not real trials. Group 1 = e-health, group 2 = usual care.\n")
    out.write_text(header + df.to_csv(index=False), encoding="utf-8")
    print(f"wrote {out} ({len(df)} rows, {df['study'].nunique()} trials)")


if __name__ == "__main__":
    main()

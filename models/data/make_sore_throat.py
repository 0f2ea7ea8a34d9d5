"""Write models/data/sore_throat.csv from the Cochrane review kept in tests/reference/revman.

Spinks A, Glasziou PP, Del Mar CB. Antibiotics for treatment of sore throat in children
and adults. Cochrane Database of Systematic Reviews 2021; CD000023 (the RevMan 5 file
tests/reference/revman/CD000023_antibiotics_sore_throat.rm5; see its README). Three
analyses are stacked (column ``outcome``) with the review's own 2x2 counts and its
Cochrane risk-of-bias (RoB 1) judgements; ``era`` (trials before 1975 or from 1975) and
``blinding`` (the RoB judgement of blinding: low, or high/unclear) are derived from the
file's columns. Nothing is invented. Run from the repository root.
"""

from pathlib import Path

import pandas as pd

import bayesma as bm

ROOT = Path(__file__).resolve().parents[2]
RM5 = ROOT / "tests" / "reference" / "revman" / "CD000023_antibiotics_sore_throat.rm5"
OUTCOMES = {"CMP-001.01": "sore_throat_day3", "CMP-001.05": "sore_throat_week1",
            "CMP-002.01": "fever_day3"}

rv = bm.read_revman(RM5)
parts = []
for oid, name in OUTCOMES.items():
    d = rv.data(oid).drop(columns=["subgroup"])
    d.insert(0, "outcome", name)
    d.insert(3, "era", ["before 1975" if int(y) < 1975 else "1975 on" for y in d["year"]])
    blind = d["Blinding (performance bias and detection bias)"]
    d.insert(4, "blinding", ["low risk" if b == "Low" else "high or unclear risk"
                             for b in blind])
    parts.append(d)
out = pd.concat(parts, ignore_index=True)
for c in ("ai", "n1i", "ci", "n2i"):
    out[c] = out[c].astype(int)
out.to_csv(Path(__file__).with_name("sore_throat.csv"), index=False)

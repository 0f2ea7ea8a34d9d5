"""Render the review figures of docs/gallery.md (run from the repository root).

Risk-of-bias judgements and 2x2 counts are the Cochrane review CD000023's (antibiotics
for sore throat; tests/reference/revman) and robvis's example table ``data_rob2``
(tests/reference/rob); the PRISMA counts are illustrative.
"""

import pandas as pd

import bayesma as bm

OUT = "docs/gallery/"
RM5 = "tests/reference/revman/CD000023_antibiotics_sore_throat.rm5"
d = bm.read_revman(RM5).data("CMP-001.02")
domains = ["Random sequence generation (selection bias)",
           "Allocation concealment (selection bias)",
           "Blinding (performance bias and detection bias)",
           "Incomplete outcome data (attrition bias)",
           "Selective reporting (reporting bias)", "Other bias"]
res = bm.rma(bm.escalc("RR", ai="ai", n1i="n1i", ci="ci", n2i="n2i", data=d, slab="study"))

bm.rob_plot(d, tool="generic", domains=domains, overall=None,
            save=OUT + "rob_traffic_generic.png")
bm.rob_plot(d, tool="generic", domains=domains, overall=None, kind="summary",
            weights=list(res.weights), save=OUT + "rob_summary_weighted.png")
rob2 = pd.read_csv("tests/reference/rob/robvis_data_rob2.csv")
bm.rob_plot(rob2, tool="rob2", save=OUT + "rob_traffic_rob2.png")
bm.rob_plot(rob2, tool="rob2", kind="summary", save=OUT + "rob_summary_rob2.png")

post = bm.exact_posterior(res.data, measure="RR", slab="study")
bm.forest_plot(post, subgroup="subgroup", rob=domains,
               labels=("Favours antibiotics", "Favours placebo"),
               title="Antibiotics for sore throat: symptoms on day 3 (CD000023)",
               save=OUT + "forest_rob.png")

counts = {"databases": {"CENTRAL": 412, "MEDLINE": 655, "Embase": 721},
          "registers": {"WHO ICTRP": 96}, "duplicates": 702, "screen_excluded": 980,
          "not_retrieved": 6,
          "excluded_reasons": {"Not randomised": 41, "No placebo or control arm": 38,
                               "Other outcomes": 29},
          "new_studies": 27, "new_reports": 88}
bm.prisma_flow(counts, title="PRISMA 2020 flow diagram (illustrative counts)",
               save=OUT + "prisma.png")
bm.prisma_flow({**counts, "new_reports": 93, "previous_studies": 20, "previous_reports": 25,
                "other_sources": {"Citation searching": 14, "Trial authors": 3},
                "other_sought": 17, "other_not_retrieved": 1,
                "other_excluded_reasons": {"Not randomised": 11}},
               title="Updated review with other search methods (illustrative counts)",
               save=OUT + "prisma_update.png")

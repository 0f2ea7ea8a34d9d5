"""Render the docs/img figures of bayesma.plots (run from the repository root).

bayesma draws on a standalone Agg canvas unless pyplot is imported, so no backend is set.
"""

import bayesma as bm
from bayesma.bayes.exact import exact_posterior
from bayesma.bayes.subgroups import exact_subgroups
from bayesma.priors import HalfNormal, Normal

OUT = "docs/img/"
bcg = bm.datasets.load("bcg")
post = exact_posterior(bcg, mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))
arms = {"ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}
bm.forest_plot(post, arm_columns=arms, arm_labels=("Vaccinated", "Not vaccinated"),
               labels=("Favours vaccine", "Favours control"),
               title="BCG vaccine and tuberculosis: posterior forest plot",
               save=OUT + "forest_bcg.png")
by_alloc = exact_subgroups(bcg, by="alloc", mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))
bm.forest_plot(by_alloc, sort_by="year", columns=[("Year", "year")],
               labels=("Favours vaccine", "Favours control"),
               title="BCG vaccine by treatment allocation",
               save=OUT + "forest_subgroups.png")
k2 = exact_posterior(bm.datasets.load("edge_k2"), mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))
bm.forest_plot(k2, title="Two studies: the classical HKSJ interval has 1 df",
               save=OUT + "forest_k2.png")
bd = bm.datasets.load("bangertdrowns2004")
pbd = exact_posterior(bd)
bm.forest_plot(pbd, columns=[("Year", "year"), ("N", "ni")], sort_by="year",
               title="Writing-to-learn interventions (Bangert-Drowns et al. 2004)",
               labels=("Favours control", "Favours writing"),
               save=OUT + "forest_bangertdrowns.png")
h = bm.datasets.load("hackshaw1998")
rh = bm.rma(h)
bm.funnel_plot(rh, trimfill=bm.trimfill(rh), contours=(0.10, 0.05, 0.01),
               title="Passive smoking and lung cancer: contour-enhanced funnel",
               save=OUT + "funnel_trimfill.png")
bm.prior_posterior_plot(post, save=OUT + "prior_posterior.png")
bm.tau_trace_plot(post, save=OUT + "tau_trace.png")
reg = exact_posterior(bcg, mods="~ ablat", mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))
bm.regression_plot(reg, show=("studies", "bayes", "classical", "prediction"),
                   xlabel="Absolute latitude (degrees)",
                   title="BCG vaccine efficacy and latitude", save=OUT + "regression_bcg.png")
sweep = bm.prior_sensitivity(bcg, tau_priors="weakly informative", progress=False)
bm.sensitivity_plot(sweep, save=OUT + "sensitivity_priors.png")
bm.leave1out_plot(bm.bayes_leave1out(bcg, mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5)),
                  save=OUT + "leave1out.png")

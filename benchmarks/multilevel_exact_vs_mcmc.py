"""Three-level model on k = 100 effects in 17 studies: the exact 2-D engine against MCMC.

Data: metadat's dat.assink2016 (Assink et al. 2016; 100 effects in 17 studies,
``tests/reference/multilevel/assink2016.csv``), ``random = ~ 1 | study/esid``, priors
mu ~ N(0, 10), tau_study ~ HalfNormal(0.5), tau_esid ~ HalfNormal(0.5).

Measured side by side in one run (wall clock, shared 2-core machine):

1. exact engine: building the posterior (2-D quadrature), and building + the full
   summary (mean, sd, median, 95% ETI and HDI of mu, both SDs and their squares,
   theta_new and all 100 theta) without / with the classical twin (rma_mv + CR2);
2. ``bm.Multilevel`` (marginal block likelihood, nutpie): first fit (compile + sample)
   and a refit reusing the compiled model, 4 chains x 1000 draws (tune 1000);
3. the same model with the random effects as latent variables (non-centred
   ``u = tau_study z_u``, ``w = tau_esid z_w``; 119 sampled parameters), written here
   in PyMC, to justify the marginal form: bulk ESS per second of sampling (min over mu
   and the two SDs);
4. the agreement of the MCMC means with the exact ones, in MCSE units.

Run:  .venv/bin/python benchmarks/multilevel_exact_vs_mcmc.py
      (writes benchmarks/results/multilevel_exact_vs_mcmc.txt)
"""

from __future__ import annotations

import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayesma as bm
from bayesma.priors import HalfNormal, Normal

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "reference" / "multilevel" / "assink2016.csv"
OUT = Path(__file__).parent / "results" / "multilevel_exact_vs_mcmc.txt"
PRI = dict(mu_prior=Normal(0, 10),
           tau_prior={"study": HalfNormal(0.5), "esid": HalfNormal(0.5)})
PARAMS = ["mu", "tau[study]", "tau[esid]"]


def timed(fn, repeats: int) -> float:
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def latent_fit(d: pd.DataFrame, seed: int):
    """Non-centred latent-variable form (u, w sampled), nutpie, compile + sample timed."""
    import arviz as az
    import nutpie
    import pymc as pm

    study = pd.factorize(d["study"], sort=True)[0]
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 10)
        ts = pm.HalfNormal("ts", 0.5)
        te = pm.HalfNormal("te", 0.5)
        zu = pm.Normal("zu", 0, 1, shape=int(study.max()) + 1)
        zw = pm.Normal("zw", 0, 1, shape=len(d))
        theta = mu + ts * zu[study] + te * zw
        pm.Normal("y", theta, sigma=np.sqrt(d["vi"].to_numpy()), observed=d["yi"].to_numpy())
    t0 = time.perf_counter()
    cm = nutpie.compile_pymc_model(model)
    t1 = time.perf_counter()
    tree = nutpie.sample(cm, draws=1000, tune=1000, chains=4, cores=2, seed=seed,
                         progress_bar=False, save_warmup=False)
    t2 = time.perf_counter()
    ess = az.ess(tree, var_names=["mu", "ts", "te"])
    ess_min = min(float(ess["posterior"][v].values) if "posterior" in ess.children
                  else float(ess[v].values) for v in ("mu", "ts", "te"))
    div = int(np.asarray(tree["sample_stats"]["diverging"]).sum())
    return t1 - t0, t2 - t1, ess_min, div


def main() -> None:
    warnings.simplefilter("ignore")
    d = pd.read_csv(DATA)
    lines = [
        "Three-level model, k = 100 effects in 17 studies (dat.assink2016), "
        "~ 1 | study/esid",
        f"python {sys.version.split()[0]}, numpy {np.__version__}, "
        f"{platform.machine()}, {platform.system()}",
        "",
        "exact 2-D engine (median of 5)",
    ]

    def build():
        return bm.exact_posterior(d, random="~ 1 | study/esid", classical=None, **PRI)

    t_build = timed(build, 5)
    t_sum = timed(lambda: build().summary(classical=None), 5)
    t_twin = timed(lambda: bm.exact_posterior(d, random="~ 1 | study/esid", **PRI).summary(), 3)
    post = build()
    lines += [f"  build (quadrature, {post.n_nodes} nodes)           {t_build:8.3f} s",
              f"  build + full summary (100 theta)        {t_sum:8.3f} s",
              f"  build + twin (rma_mv + CR2) + summary   {t_twin:8.3f} s", ""]

    model = bm.Multilevel(d, random="~ 1 | study/esid", **PRI)
    t0 = time.perf_counter()
    fit = model.fit(draws=1000, tune=1000, chains=4, random_seed=1, progressbar=False)
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit2 = model.refit(random_seed=2)
    t_refit = time.perf_counter() - t0
    diag = fit2.diagnostics()
    ess_marg = float(diag.loc[PARAMS, "ess_bulk"].min())
    samp = float(fit2.attrs["sampling_seconds"])
    lines += ["bm.Multilevel, marginal block likelihood (nutpie, 4 x 1000, tune 1000)",
              f"  first fit: compile {fit.attrs['compile_seconds']:.2f} s + sampling "
              f"{fit.attrs['sampling_seconds']:.2f} s, end to end {t_first:8.3f} s",
              f"  refit (compiled model reused)           {t_refit:8.3f} s",
              f"  min bulk ESS (mu, 2 SDs) {ess_marg:.0f}, sampling {samp:.2f} s, "
              f"ESS/s {ess_marg / samp:.0f}, divergences {fit2.divergences}", ""]
    c_lat, s_lat, ess_lat, div_lat = latent_fit(d, 2)
    lines += ["latent non-centred form (u, w sampled; nutpie, 4 x 1000, tune 1000)",
              f"  compile {c_lat:.2f} s, sampling {s_lat:.2f} s",
              f"  min bulk ESS (mu, 2 SDs) {ess_lat:.0f}, ESS/s {ess_lat / s_lat:.0f}, "
              f"divergences {div_lat}", "",
              "ratios",
              f"  MCMC refit / exact build + summary      {t_refit / t_sum:8.1f} x",
              f"  MCMC first fit / exact build + summary  {t_first / t_sum:8.1f} x",
              f"  ESS/s marginal / latent                 "
              f"{(ess_marg / samp) / (ess_lat / s_lat):8.1f} x", "",
              "MCMC (refit) vs exact: |mean difference| / MCSE"]
    for p in PARAMS:
        dif = abs(fit2.mean(p) - post.mean(p))
        lines.append(f"  {p:<11} exact {post.mean(p):.5f}  MCMC {fit2.mean(p):.5f}  "
                     f"{dif / diag.loc[p, 'mcse_mean']:.2f} MCSE")
    text = "\n".join(lines) + "\n"
    print(text)
    OUT.write_text(text)


if __name__ == "__main__":
    main()

"""MCMC benchmarks: cold vs warm fits, samplers, parameterizations, prior sweeps.

Run from the repository root::

    .venv/bin/python benchmarks/bayes_mcmc.py [--quick]

and the results are written to ``benchmarks/results/bayes_mcmc.txt``. All fits use
4 chains x 1000 draws (1000 tuning) on all cores, bayesma's default target_accept
(0.95) unless stated.

Sections
--------
1. Cold vs warm fit (BCG, nutpie): a *cold* fit compiles its model structure (first use in
   the process), a *warm* refit re-feeds new data / hyperparameters to the cached
   compiled model (``model.refit``). Target: warm >= 5x faster than cold.
2. Samplers (BCG, marginal model): nutpie, PyMC's NUTS, numpyro (if installed): wall
   time, compile and sampling time, divergences, ESS/s.
3. Sweep over 8 tau priors (BCG): one compile for all (``model.sweep``) vs a compile per
   prior. Target: the sweep within 2x one cold fit.
4. Parameterizations of the normal random-effects model on every real dataset
   (marginal / non-centered / centered) and of the robust model: divergences, ESS, ESS
   per second of sampling, agreement with the exact engine.
5. Divergences of the marginal model on the real datasets at target_accept 0.8 / 0.9 /
   0.95 (the reason for bayesma's default of 0.95).

Wall times on a shared 2-core machine vary with the load of other processes: the load
average is printed with the results.
"""

from __future__ import annotations

import os
import platform
import sys
import time
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bayesma.bayes import sampling  # noqa: E402
from bayesma.bayes.exact import exact_posterior  # noqa: E402
from bayesma.bayes.models import RandomEffects, RobustRandomEffects  # noqa: E402
from bayesma.priors import (  # noqa: E402
    Exponential,
    HalfCauchy,
    HalfNormal,
    HalfStudentT,
    LogNormalTau2,
    Normal,
    Uniform,
)

DATA = ROOT / "tests" / "reference" / "data"
OUT = ROOT / "benchmarks" / "results" / "bayes_mcmc.txt"
REAL = ["bangertdrowns2004", "bcg", "hackshaw1998", "molloy2014", "normand1999",
        "raudenbush1985", "yusuf1985"]
MU = Normal(0.0, 10.0)
FIT = dict(draws=1000, tune=1000, progressbar=False)

lines: list[str] = []


def out(text: str = "") -> None:
    print(text, flush=True)
    lines.append(text)


def data(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{name}.csv")


def ess_min(fit, names=("mu", "tau")) -> float:
    d = fit.diagnostics()
    return float(d.loc[[n for n in names if n in d.index], "ess_bulk"].min())


def timed(fn):
    t0 = time.perf_counter()
    res = fn()
    return res, time.perf_counter() - t0


def section_cold_warm() -> float:
    out("## 1. Cold vs warm fit (BCG, RandomEffects marginal, nutpie)")
    bcg = data("bcg")
    # the very first fit of the process also pays numba/nutpie start-up
    m = RandomEffects(bcg, mu_prior=MU, tau_prior=HalfNormal(0.5))
    f0, t_first = timed(lambda: m.fit(random_seed=1, **FIT))
    out(f"first fit in the process : {t_first:6.2f} s  (compile {f0.attrs['compile_seconds']:.2f}"
        f" s, sampling {f0.attrs['sampling_seconds']:.2f} s)")
    # cold: a structure not compiled yet (HalfCauchy family), after the start-up costs
    mc = RandomEffects(bcg, mu_prior=MU, tau_prior=HalfCauchy(0.5))
    fc, t_cold = timed(lambda: mc.fit(random_seed=2, **FIT))
    out(f"cold fit (new structure) : {t_cold:6.2f} s  (compile {fc.attrs['compile_seconds']:.2f}"
        f" s, sampling {fc.attrs['sampling_seconds']:.2f} s)")
    warm = []
    for i, (df, prior) in enumerate([(bcg, HalfCauchy(1.0)), (data("molloy2014"),
                                                              HalfCauchy(0.5)),
                                     (bcg, HalfCauchy(0.25))]):
        fw, t = timed(lambda df=df, prior=prior, i=i: mc.refit(df, tau_prior=prior,
                                                                random_seed=3 + i))
        warm.append(t)
        out(f"warm refit {i + 1} (k={fw.k:2d}, {prior}): {t:6.3f} s  (compile "
            f"{fw.attrs['compile_seconds']:.2f} s, sampling {fw.attrs['sampling_seconds']:.3f} s,"
            f" reused={fw.attrs['compiled_model_reused']})")
    w = float(np.median(warm))
    out(f"warm / cold speed-up: {t_cold / w:.1f}x  (target >= 5x) -> "
        f"{'OK' if t_cold / w >= 5 else 'MISSED'}")
    out()
    return t_cold


def section_samplers() -> None:
    out("## 2. Samplers (BCG, marginal model, HalfNormal(0.5); ESS = min bulk ESS of mu, tau)")
    bcg = data("bcg")
    out(f"{'sampler':8s} {'wall s':>7s} {'compile':>8s} {'sample':>7s} {'div':>4s} "
        f"{'ESS':>6s} {'ESS/s(sample)':>14s} {'ESS/s(wall)':>12s}")
    samplers = ["nutpie", "pymc"]
    try:
        import numpyro  # noqa: F401

        samplers.append("numpyro")
    except ImportError:
        pass
    for smp in samplers:
        m = RandomEffects(bcg, mu_prior=MU, tau_prior=HalfNormal(0.5))
        for label in (["cold", "warm"] if smp == "nutpie" else ["(always compiles)"]):
            if smp == "nutpie" and label == "cold":
                sampling.cache_clear()
            f, t = timed(lambda smp=smp, m=m: m.fit(sampler=smp, random_seed=5, **FIT))
            e = ess_min(f)
            ts = f.attrs["sampling_seconds"]
            out(f"{smp:8s} {t:7.2f} {f.attrs['compile_seconds']:8.2f} {ts:7.2f} "
                f"{f.divergences:4d} {e:6.0f} {e / ts:14.0f} {e / t:12.0f}  {label}")
    if "numpyro" not in samplers:
        out("numpyro: not installed (pip install numpyro) - skipped")
    out("(pymc: pm.sample compiles inside the call, so its 'sample' time includes compiling)")
    out()


def section_parameterizations(quick: bool) -> None:
    out("## 4. Parameterizations (HalfNormal(0.5) on tau, mu ~ N(0, 10²), nutpie, seed 7)")
    out("ESS = min bulk ESS of (mu, tau); z = max |MCMC - exact| / MCSE over the mean and sd"
        " of mu and tau")
    out(f"{'dataset':18s} {'k':>3s} {'param.':12s} {'div':>4s} {'ESS':>6s} {'sample s':>8s} "
        f"{'ESS/s':>7s} {'compile s':>9s} {'max z':>6s}")
    pars = ["marginal", "noncentered"] if quick else ["marginal", "noncentered", "centered"]
    totals = {p: [0, 0.0, 0.0, []] for p in pars}
    for name in REAL:
        df = data(name)
        ex = exact_posterior(df, mu_prior=MU, tau_prior=HalfNormal(0.5), classical=None)
        for par in pars:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                f = RandomEffects(df, mu_prior=MU, tau_prior=HalfNormal(0.5),
                                  parameterization=par).fit(random_seed=7, **FIT)
            e = ess_min(f)
            ts = f.attrs["sampling_seconds"]
            z = 0.0
            for p in ("mu", "tau"):
                x = f.posterior[p]
                z = max(z, abs(f.mean(p) - ex.mean(p)) / float(az.mcse(x)),
                        abs(f.sd(p) - ex.sd(p)) / float(az.mcse(x, method="sd")))
            tt = totals[par]
            tt[0] += f.divergences
            tt[1] += e
            tt[2] += ts
            tt[3].append(e / ts)
            out(f"{name:18s} {f.k:3d} {par:12s} {f.divergences:4d} {e:6.0f} {ts:8.3f} "
                f"{e / ts:7.0f} {f.attrs['compile_seconds']:9.2f} {z:6.1f}")
    out("totals over the real datasets:")
    for par, (div, ess, _ts, rates) in totals.items():
        out(f"  {par:12s} divergences {div:3d}, mean min-ESS {ess / len(REAL):6.0f}, "
            f"median ESS/s {np.median(rates):7.0f}")
    out("The marginal form (compiled once for every k) is the default.")
    out()
    out("Robust model (Student-t effects, nu = 4): scale-mixture marginal vs t forms")
    out(f"{'dataset':18s} {'param.':12s} {'div':>4s} {'ESS':>6s} {'sample s':>8s} "
        f"{'ESS/s':>7s}")
    for name in (["bcg", "hackshaw1998"] if quick else
                 ["bcg", "hackshaw1998", "molloy2014", "raudenbush1985"]):
        df = data(name)
        for par in ("marginal", "noncentered", "centered"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                f = RobustRandomEffects(df, mu_prior=MU, tau_prior=HalfNormal(0.5),
                                        parameterization=par).fit(random_seed=7, **FIT)
            e = ess_min(f)
            ts = f.attrs["sampling_seconds"]
            out(f"{name:18s} {par:12s} {f.divergences:4d} {e:6.0f} {ts:8.3f} {e / ts:7.0f}")
    out()


def section_sweep(t_cold: float) -> None:
    out("## 3. Sweep over 8 tau priors (BCG, nutpie)")
    priors = [HalfNormal(0.25), HalfNormal(0.5), HalfNormal(1.0), HalfCauchy(0.5),
              HalfStudentT(3.0, 0.5), Exponential(2.0), Uniform(0.0, 10.0),
              LogNormalTau2(-2.56, 1.74)]
    bcg = data("bcg")
    m = RandomEffects(bcg, mu_prior=MU, tau_prior=HalfNormal(0.5))
    # with reuse: one prior-switch model for all families
    sampling.cache_clear()
    fits, t_sweep = timed(lambda: m.sweep(priors, random_seed=11, **FIT))
    comp = sum(f.attrs["compile_seconds"] for f in fits)
    out(f"with reuse (model.sweep): {t_sweep:6.2f} s  (compile {comp:.2f} s, "
        f"{sum(f.divergences for f in fits)} divergences)")
    # without reuse: every prior compiles its own model
    t0 = time.perf_counter()
    comp2 = 0.0
    for i, p in enumerate(priors):
        sampling.cache_clear()
        f = m.with_priors(tau_prior=p).fit(random_seed=11 + i, **FIT)
        comp2 += f.attrs["compile_seconds"]
    t_noreuse = time.perf_counter() - t0
    out(f"without reuse            : {t_noreuse:6.2f} s  (compile {comp2:.2f} s)")
    out(f"one cold fit (section 1) : {t_cold:6.2f} s")
    out(f"sweep / cold fit = {t_sweep / t_cold:.2f}  (target <= 2) -> "
        f"{'OK' if t_sweep <= 2 * t_cold else 'MISSED'}")
    ex = [exact_posterior(bcg, mu_prior=MU, tau_prior=p, classical=None) for p in priors]
    out("posterior mean of tau, MCMC (sweep) vs exact:")
    for p, f, e in zip(priors, fits, ex, strict=True):
        z = (f.mean("tau") - e.mean("tau")) / float(az.mcse(f.posterior["tau"]))
        out(f"  {str(p):42s} {f.mean('tau'):.4f}  exact {e.mean('tau'):.4f}  z {z:+.1f}")
    out()


def section_target_accept() -> None:
    out("## 5. Default target_accept (marginal model, 7 real datasets x 3 tau priors x 3 seeds)")
    priors = [HalfNormal(0.5), HalfCauchy(0.5), Uniform(0.0, 10.0)]
    for ta in (0.8, 0.9, 0.95):
        n_fits = n_bad = n_div = 0
        ess = []
        t0 = time.perf_counter()
        for name in REAL:
            df = data(name)
            for prior in priors:
                for seed in range(3):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        f = RandomEffects(df, mu_prior=MU, tau_prior=prior).fit(
                            random_seed=seed, target_accept=ta, prior_predictive=False,
                            posterior_predictive=False, log_likelihood=False, **FIT)
                    n_fits += 1
                    n_bad += f.divergences > 0
                    n_div += f.divergences
                    ess.append(ess_min(f))
        out(f"target_accept {ta:4.2f}: {n_bad:2d} of {n_fits} fits with divergences "
            f"({n_div} in all); median min-ESS {np.median(ess):5.0f}; "
            f"{time.perf_counter() - t0:5.1f} s for all fits")
    out("bayesma uses 0.95 (0.99 when k <= 3).")
    out()


def main() -> None:
    quick = "--quick" in sys.argv
    import nutpie
    import pymc

    warnings.simplefilter("ignore", DeprecationWarning)
    out("bayesma MCMC benchmarks (benchmarks/bayes_mcmc.py)")
    out(f"python {platform.python_version()}, pymc {pymc.__version__}, nutpie "
        f"{nutpie.__version__}, arviz {az.__version__}, {os.cpu_count()} cores, "
        f"load average at start {os.getloadavg()[0]:.1f}")
    out(f"fits: 4 chains x {FIT['draws']} draws, tune {FIT['tune']}, all cores, "
        "target_accept 0.95 (bayesma default)")
    out()
    t_all = time.perf_counter()
    t_cold = section_cold_warm()
    section_samplers()
    section_sweep(t_cold)
    section_parameterizations(quick)
    section_target_accept()
    out(f"total benchmark time {time.perf_counter() - t_all:.0f} s; load average at end "
        f"{os.getloadavg()[0]:.1f}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

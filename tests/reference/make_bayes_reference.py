"""Regenerate the exact-posterior reference values in tests/reference/bayes/*.json.

    python tests/reference/make_bayes_reference.py [OUTDIR]
    python tests/reference/compare_reference.py OUTDIR --shipped tests/reference/bayes

OUTDIR defaults to a new temporary folder (the shipped files are never overwritten).
Needs only numpy and scipy; it does not use bayesma, so it checks the package's exact
engine independently.

Model (the normal-normal random-effects model, as R's bayesmeta)::

    y_i ~ N(theta_i, v_i),  theta_i ~ N(mu, tau^2),  mu ~ N(0, 10^2)

under three priors on tau: HalfNormal(0.5), HalfCauchy(0.5), Uniform(0, 10) (PyMC's
parametrisations). Method (Roever 2020, "Bayesian random-effects meta-analysis using the
bayesmeta R package", J Stat Softw 93(6), sections 2-3):

* mu is integrated out analytically: given tau, with w_i = 1 / (v_i + tau^2) and the prior
  precision p0 = 1/100, mu | tau, y ~ N(m, 1/P) with P = sum(w) + p0 and
  m = sum(w y) / P, and the marginal likelihood is
  log p(y | tau) = -k/2 log(2 pi) - 1/2 sum log(v_i + tau^2) - 1/2 log(100 P)
                   - 1/2 (sum(w y^2) - P m^2).
* tau is integrated numerically: composite Gauss-Legendre (``N_PANELS`` panels of
  ``N_NODES`` nodes) in u = log tau from 1e-14 to an upper bound where the integrand has
  fallen by e^-60, also when weighted by tau^4 (the prior's support end for the uniform
  prior), Jacobian tau.
* Every summary is a weighted sum over the tau nodes of closed-form conditional moments or
  normal CDFs: mu | tau (above); theta_new | tau ~ N(m, 1/P + tau^2); the shrunken study
  effect theta_i | tau ~ N((1 - B_i) y_i + B_i m, v_i tau^2 / (v_i + tau^2) + B_i^2 / P) with
  B_i = v_i / (v_i + tau^2). Quantiles of these mixtures are found with brentq; quantiles
  of tau (and tau^2) by inverting the CDF: cumulative panel masses, then brentq on the
  Gauss-Legendre integral over part of one panel.
* Savage-Dickey Bayes factors: BF01(mu = 0) = p(mu = 0 | y) / p(mu = 0) and
  BF01(tau = 0) = p(tau = 0 | y) / p(tau = 0).
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
N_PANELS = 128
N_NODES = 16
TAU_LOW = 1e-14
MU_PRIOR_SD = 10.0
PRIORS = {
    "halfnormal_0.5": ("halfnormal", 0.5),
    "halfcauchy_0.5": ("halfcauchy", 0.5),
    "uniform_0_10": ("uniform", 10.0),
}
LABEL_COLUMNS = ("study", "author", "trial")


def log_prior_tau(dist: str, par: float, tau: np.ndarray) -> np.ndarray:
    """Log density of tau (PyMC parametrisations)."""
    if dist == "halfnormal":
        return np.log(2.0) + stats.norm.logpdf(tau, scale=par)
    if dist == "halfcauchy":
        return np.log(2.0 / (np.pi * par)) - np.log1p((tau / par) ** 2)
    if dist == "uniform":
        return np.where(tau <= par, -np.log(par), -np.inf)
    raise ValueError(dist)


def conditional(y: np.ndarray, v: np.ndarray, tau: np.ndarray):
    """mu | tau, y ~ N(m, 1/P) and log p(y | tau), vectorised over tau."""
    t2 = np.asarray(tau, dtype=float)[:, None] ** 2
    s2 = v[None, :] + t2
    w = 1.0 / s2
    p = w.sum(axis=1) + 1.0 / MU_PRIOR_SD**2
    m = (w * y[None, :]).sum(axis=1) / p
    k = len(y)
    loglik = (
        -0.5 * k * np.log(2 * np.pi)
        - 0.5 * np.log(s2).sum(axis=1)
        - 0.5 * np.log(MU_PRIOR_SD**2 * p)
        - 0.5 * ((w * y[None, :] ** 2).sum(axis=1) - p * m**2)
    )
    return m, p, loglik


def upper_bound(y, v, dist, par) -> float:
    if dist == "uniform":
        return par
    grid = np.exp(np.linspace(np.log(1e-6), np.log(1e14), 6000))
    lp = conditional(y, v, grid)[2] + log_prior_tau(dist, par, grid) + np.log(grid)
    if dist == "halfcauchy" and len(y) + 1 > 4:  # the tail of E[tau^4] (tau2.sd) too
        lp = np.maximum(lp, lp + 4 * np.log(grid) - 4 * np.log(grid[lp.argmax()]))
    top = lp.max()
    above = np.nonzero(lp > top - 60.0)[0]
    return float(grid[min(above[-1] + 1, len(grid) - 1)])


def nodes(y, v, dist, par, n_panels=N_PANELS):
    """tau nodes, normalised posterior weights, log evidence, quadrature info."""
    x, wx = np.polynomial.legendre.leggauss(N_NODES)
    hi = upper_bound(y, v, dist, par)
    edges = np.linspace(np.log(TAU_LOW), np.log(hi), n_panels + 1)
    half = np.diff(edges)[:, None] / 2
    u = (edges[:-1, None] + half * (x[None, :] + 1)).ravel()
    wu = (half * wx[None, :]).ravel()
    tau = np.exp(u)
    m, p, loglik = conditional(y, v, tau)
    logf = loglik + log_prior_tau(dist, par, tau) + u  # Jacobian d tau = tau du
    top = logf.max()
    raw = wu * np.exp(logf - top)
    z = raw.sum()
    info = {"n_panels": n_panels, "n_nodes": int(len(tau)), "tau_range": [TAU_LOW, hi]}
    return tau, raw / z, top + math.log(z), m, p, info, edges


def mixture_quantile(q, weights, means, sds) -> float:
    def f(x):
        return float((weights * special.ndtr((x - means) / sds)).sum()) - q

    lo = float((means - 12 * sds).min())
    hi = float((means + 12 * sds).max())
    return optimize.brentq(f, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)


def summary_mixture(weights, means, sds) -> dict:
    mean = float((weights * means).sum())
    var = float((weights * (sds**2 + (means - mean) ** 2)).sum())
    out = {"mean": mean, "sd": math.sqrt(var)}
    for name, q in (("q025", 0.025), ("q50", 0.5), ("q975", 0.975)):
        out[name] = mixture_quantile(q, weights, means, sds)
    return out


def tau_quantile(q, y, v, dist, par, edges) -> float:
    """Invert the posterior CDF of tau: integrate panel by panel, then within a panel."""
    x, wx = np.polynomial.legendre.leggauss(N_NODES)

    def mass(a, b):  # unnormalised mass on [exp(a), exp(b)]
        half = (b - a) / 2
        u = a + half * (x + 1)
        lf = conditional(y, v, np.exp(u))[2] + log_prior_tau(dist, par, np.exp(u)) + u
        return half * (wx * np.exp(lf - shift)).sum()

    probe = np.exp(np.linspace(edges[0], edges[-1], 2000))
    shift = float(
        (conditional(y, v, probe)[2] + log_prior_tau(dist, par, probe) + np.log(probe)).max()
    )
    panel = np.array([mass(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)])
    total = panel.sum()
    cum = np.concatenate([[0.0], np.cumsum(panel)]) / total
    j = int(np.searchsorted(cum, q) - 1)
    j = min(max(j, 0), len(panel) - 1)
    a = edges[j]

    def f(b):
        return cum[j] + mass(a, b) / total - q

    u = optimize.brentq(f, a, edges[j + 1], xtol=1e-15, rtol=4 * np.finfo(float).eps)
    return float(np.exp(u))


def labels(d: pd.DataFrame) -> list[str]:
    for c in LABEL_COLUMNS:
        if c in d.columns:
            return [str(x) for x in d[c]]
    return [str(i + 1) for i in range(len(d))]


def posterior(d: pd.DataFrame, prior: str) -> dict:
    dist, par = PRIORS[prior]
    y = d["yi"].to_numpy(float)
    v = d["vi"].to_numpy(float)
    tau, w, log_z, m, p, info, edges = nodes(y, v, dist, par)
    sd_mu = 1 / np.sqrt(p)
    out: dict = {"k": len(y), "model": "y_i ~ N(theta_i, v_i); theta_i ~ N(mu, tau^2)",
                 "mu_prior": {"dist": "normal", "mu": 0.0, "sigma": MU_PRIOR_SD},
                 "tau_prior": {"dist": dist, "params": [par]}}
    t_mean = float((w * tau).sum())
    t2_mean = float((w * tau**2).sum())
    t4_mean = float((w * tau**4).sum())
    # A half-Cauchy prior leaves a posterior tail ~ tau^-(k+2) (p(y | tau) ~ tau^-k for
    # large tau), so E[tau^n] is finite only for n < k + 1: tau2.sd needs k > 3.
    decay = len(y) + 1 if dist == "halfcauchy" else None
    if decay is not None and 4 >= decay:
        t4_mean = math.nan
    info["upper_tail_decay_rate"] = float(decay) if decay is not None else None
    tq = {n: tau_quantile(q, y, v, dist, par, edges)
          for n, q in (("q025", 0.025), ("q50", 0.5), ("q975", 0.975))}
    out["tau"] = {"mean": t_mean, "sd": math.sqrt(t2_mean - t_mean**2), **tq}
    t2_sd = math.sqrt(t4_mean - t2_mean**2) if math.isfinite(t4_mean) else None
    out["tau2"] = {"mean": t2_mean, "sd": t2_sd,
                   **{n: x**2 for n, x in tq.items()}}
    out["mu"] = summary_mixture(w, m, sd_mu)
    out["prob_mu_lt_0"] = float((w * special.ndtr(-m / sd_mu)).sum())
    out["theta_new"] = summary_mixture(w, m, np.sqrt(sd_mu**2 + tau**2))
    theta = []
    for lab, yi, vi in zip(labels(d), y, v, strict=True):
        b = vi / (vi + tau**2)
        mean_i = (1 - b) * yi + b * m
        sd_i = np.sqrt(vi * tau**2 / (vi + tau**2) + b**2 / p)
        theta.append({"study": lab, "yi": float(yi), "vi": float(vi),
                      **summary_mixture(w, mean_i, sd_i)})
    out["theta"] = theta
    out["log_marginal_likelihood"] = log_z
    post_mu0 = float((w * stats.norm.pdf(0.0, m, sd_mu)).sum())
    prior_mu0 = float(stats.norm.pdf(0.0, 0.0, MU_PRIOR_SD))
    m0, p0, ll0 = conditional(y, v, np.array([0.0]))
    prior_tau0 = float(np.exp(log_prior_tau(dist, par, np.array([0.0])))[0])
    post_tau0 = float(np.exp(ll0[0] + np.log(prior_tau0) - log_z))
    out["densities"] = {
        "posterior_mu_at_0": post_mu0, "prior_mu_at_0": prior_mu0,
        "bf01_mu_eq_0": post_mu0 / prior_mu0,
        "prior_tau_at_0": prior_tau0, "posterior_tau_at_0": post_tau0,
        "bf01_tau_eq_0": post_tau0 / prior_tau0,
    }
    # accuracy: the same integral with half the panels
    half = nodes(y, v, dist, par, n_panels=N_PANELS // 2)[2]
    info["rel_err_estimate"] = abs(half - log_z) / max(abs(log_z), 1.0)
    out["quadrature"] = info
    out["software"] = "tests/reference/make_bayes_reference.py"
    return out


def main(argv: list[str]) -> int:
    outdir = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="bayes_reference_"))
    outdir.mkdir(parents=True, exist_ok=True)
    for csv in sorted(DATA.glob("*.csv")):
        d = pd.read_csv(csv)
        res = {"dataset": csv.stem, "source_csv": csv.name, "k": len(d),
               "mu_prior": {"dist": "normal", "mu": 0.0, "sigma": MU_PRIOR_SD},
               "results": {name: posterior(d, name) for name in PRIORS}}
        (outdir / f"{csv.stem}.json").write_text(json.dumps(res, indent=1))
        print("wrote", csv.stem)
    print("output in", outdir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Power-scaling prior and likelihood sensitivity (Kallioinen et al. 2024).

The posterior is perturbed by raising the prior, or the likelihood, to a power alpha
close to 1 (``p(theta)^alpha p(y | theta)`` and ``p(theta) p(y | theta)^alpha``); the
perturbed posteriors are obtained from the draws by Pareto-smoothed importance sampling
and the sensitivity of a quantity is the derivative of the cumulative Jensen-Shannon
distance between the perturbed and the original posterior with respect to log alpha
(Kallioinen, Paananen, Bürkner & Vehtari 2024, Stat Comput 34:57, sec. 3). Values
above 0.05 count as sensitive; a prior-sensitive quantity with low likelihood
sensitivity suggests a strong prior or weak likelihood, both sensitivities high a
prior-data conflict (ibid., sec. 4). The computation is ArviZ's
``arviz_stats.psense_summary``.

It needs the draws together with the log prior density of the *real* priors (mu, tau,
and beta/nu where the model has them: not the auxiliary standard normals of a
non-centred model, stack-notes section 6) and the per-study log likelihood. For the
random-effects model the likelihood used is the marginal one, theta_i integrated out,
``log N(y_i | mu, v_i + tau²)`` (Röver 2020, J Stat Softw 93(6), eq. 3), as in the
``log_likelihood`` group of :class:`~bayesma.bayes.fit.BayesFit`.

* For a :class:`~bayesma.bayes.fit.BayesFit` the log prior is recomputed from the prior
  objects at the posterior draws (PyMC's ``compute_log_prior`` ignores Potentials, so
  it would be wrong for priors such as Jeffreys that the model adds as a Potential).
* For an :class:`~bayesma.bayes.exact.ExactPosterior` both groups are computed from
  i.i.d. posterior draws, so no MCMC is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesma.errors import BayesmaError

__all__ = ["psense", "psense_tree", "THRESHOLD"]

#: Sensitivity above which a quantity counts as sensitive (Kallioinen et al. 2024).
THRESHOLD = 0.05

_PRIOR_VARS = ("mu", "tau", "beta", "nu")


def _marginal_loglik(y: np.ndarray, v: np.ndarray, loc: np.ndarray, tau: np.ndarray
                     ) -> np.ndarray:
    """log N(y_i | loc, v_i + tau²) per draw and study (Röver 2020, eq. 3)."""
    s2 = v[None, :] + np.square(tau)[:, None]
    return -0.5 * (np.log(2.0 * np.pi * s2) + np.square(y[None, :] - loc[:, None]) / s2)


def _logpdf(prior: Any, x: np.ndarray, vi: np.ndarray) -> np.ndarray:
    if not getattr(prior, "data_free", True):
        return np.asarray(prior.logpdf(x, vi=vi), dtype=float)
    return np.asarray(prior.logpdf(x), dtype=float)


def _exact_tree(post: Any, draws: int, random_seed: Any, chains: int = 4) -> xr.DataTree:
    """posterior / log_prior / log_likelihood groups from i.i.d. exact-posterior draws."""
    if post.p != 1:
        raise BayesmaError("psense of an exact posterior supports intercept-only models")
    per = int(draws) // chains
    d = post.sample(per * chains, random_seed)
    mu, tau = d["mu"], d["tau"]
    coords = {"chain": np.arange(chains), "draw": np.arange(per)}

    def cd(x: np.ndarray) -> np.ndarray:
        return x.reshape((chains, per) + x.shape[1:])

    posterior = xr.Dataset({"mu": (("chain", "draw"), cd(mu)),
                            "tau": (("chain", "draw"), cd(tau))}, coords=coords)
    lp = {"mu": (("chain", "draw"), cd(_logpdf(post.priors["mu"], mu, post.vi))),
          "tau": (("chain", "draw"), cd(_logpdf(post.priors["tau"], tau, post.vi)))}
    ll = _marginal_loglik(post.yi, post.vi, mu, tau)
    log_lik = xr.Dataset({"y": (("chain", "draw", "study"), cd(ll))},
                         coords={**coords, "study": list(post.labels)})
    return xr.DataTree.from_dict({"posterior": posterior,
                                  "log_prior": xr.Dataset(lp, coords=coords),
                                  "log_likelihood": log_lik})


def _fit_tree(fit: Any) -> tuple[xr.DataTree, list[str]]:
    """The fit's posterior and log likelihood with a log prior recomputed from its priors."""
    idata = fit.idata
    if "log_likelihood" not in idata.children:
        raise BayesmaError("psense needs the log_likelihood group: fit with "
                           "log_likelihood=True (the default)")
    post = idata["posterior"].to_dataset()
    old = idata["log_prior"].to_dataset() if "log_prior" in idata.children else xr.Dataset()
    priors = fit.priors
    vi = np.asarray(fit.model.vi, dtype=float)
    lp: dict[str, xr.DataArray] = {}
    notes = []
    for name in _PRIOR_VARS:
        prior = priors.get(name)
        if prior is None or not hasattr(prior, "logpdf") or name not in post:
            continue
        if name == "beta":
            # the slopes only (the intercept's prior is mu's); keep the model's own group
            if "beta" in old:
                lp["beta"] = old["beta"]
            continue
        x = np.asarray(post[name].values, dtype=float)
        val = _logpdf(prior, x, vi)
        lp[name] = xr.DataArray(val, dims=post[name].dims, coords=post[name].coords)
        if name in old and not np.allclose(np.asarray(old[name].values), val,
                                           rtol=1e-6, atol=1e-8, equal_nan=True):
            notes.append(f"the fit's log_prior for {name} did not match the density of "
                         f"{prior.describe()} (a Potential or CustomDist?); recomputed")
    tree = xr.DataTree.from_dict({"posterior": post, "log_prior": xr.Dataset(lp),
                                  "log_likelihood": idata["log_likelihood"].to_dataset()})
    return tree, notes


def _constant_log_prior(tree: xr.DataTree, names: list[str]) -> bool:
    """True when the summed log prior is the same at every draw (flat priors only)."""
    if not names:
        return True
    lp = tree["log_prior"]
    total = 0.0
    for n in names:
        a = lp[n]
        extra = [d for d in a.dims if d not in ("chain", "draw")]
        total = total + (a.sum(extra) if extra else a)
    vals = np.asarray(total.values if hasattr(total, "values") else total, dtype=float)
    return bool(np.all(np.isfinite(vals)) and np.ptp(vals) == 0.0)


def psense_tree(fit: Any, *, draws: int = 8000, random_seed: Any = 0) -> xr.DataTree:
    """The DataTree (posterior, log_prior, log_likelihood) that :func:`psense` analyses.

    Useful for ArviZ's own plots, e.g. ``az.plot_psense_dist(psense_tree(post),
    var_names=["mu", "tau"])``.
    """
    if hasattr(fit, "idata"):
        return _fit_tree(fit)[0]
    if hasattr(fit, "sample") and hasattr(fit, "priors"):
        return _exact_tree(fit, draws, random_seed)
    raise BayesmaError(f"psense needs a BayesFit or an ExactPosterior, got {type(fit).__name__}")


def _verdict(param: str, prior: float, lik: float, threshold: float, proper: bool) -> str:
    """Plain-language reading of one row (Kallioinen et al. 2024, sec. 4, Table 1)."""
    hp, hl = prior >= threshold, lik >= threshold
    if hp and hl:
        return (f"prior-data conflict possible: the posterior of {param} moves when either "
                "the prior or the likelihood is made stronger, so prior and data pull in "
                "different directions; check the prior against the data and report "
                "results under other priors")
    if hp:
        return (f"prior dominates: the posterior of {param} follows the prior and the data "
                "say little about it; report it as prior-driven and show a prior "
                "sensitivity analysis")
    if hl:
        return (f"not prior-sensitive: the posterior of {param} is driven by the data "
                "(the likelihood), as it should be")
    if not proper:
        return (f"no sensitivity detected, but the prior of {param} is improper (flat), "
                "so power-scaling it cannot change anything; compare proper priors "
                "with prior_sensitivity()")
    return (f"weakly identified: neither prior nor likelihood scaling moves {param}; "
            "this can happen when both are weak; check with prior_sensitivity()")


def psense(fit: Any, var_names: Sequence[str] = ("mu", "tau"), *,
           threshold: float = THRESHOLD, alphas: tuple[float, float] = (0.99, 1.01),
           draws: int = 8000, random_seed: Any = 0) -> pd.DataFrame:
    """Power-scaling prior and likelihood sensitivity, with a plain-language verdict.

    Parameters
    ----------
    fit : BayesFit or ExactPosterior
        An MCMC fit (with its ``log_likelihood`` group) or an exact posterior (the groups
        are computed from i.i.d. draws: no MCMC).
    var_names : sequence of str
        Posterior quantities to check.
    threshold : float
        Sensitivity above which a quantity counts as sensitive (0.05, Kallioinen et al.
        2024).
    alphas : (float, float)
        The power-scaling perturbations (ArviZ's default (0.99, 1.01)).
    draws : int
        Exact posterior only: number of i.i.d. draws.
    random_seed : int, optional
        Exact posterior only: seed of the draws.

    Returns
    -------
    DataFrame
        Index ``var_names``; columns ``prior`` and ``likelihood`` (the sensitivities),
        ``diagnosis`` (ArviZ's), ``verdict`` (plain language). ``attrs`` holds the
        priors that were power-scaled, the threshold and notes.
    """
    import arviz_stats

    var_names = [var_names] if isinstance(var_names, str) else list(var_names)
    notes: list[str] = []
    if hasattr(fit, "idata"):
        tree, notes = _fit_tree(fit)
    else:
        tree = psense_tree(fit, draws=draws, random_seed=random_seed)
    post = tree["posterior"]
    missing = [v for v in var_names if v not in post]
    if missing:
        raise BayesmaError(f"psense: {missing} not in the posterior; available: "
                           f"{list(post.data_vars)}")
    prior_vars = [v for v in _PRIOR_VARS if v in tree["log_prior"]]
    priors = getattr(fit, "priors", {})
    kw = {"var_names": var_names, "alphas": alphas}
    sens_l = arviz_stats.psense(tree, group="likelihood", **kw)
    if _constant_log_prior(tree, prior_vars):
        # only flat (improper) priors: power-scaling them leaves the posterior unchanged
        sens_p = xr.zeros_like(sens_l)
        notes.append("every prior is flat (constant log density): prior sensitivity is 0")
    else:
        sens_p = arviz_stats.psense(tree, group="prior", group_var_names=prior_vars, **kw)
    names, vp, vl = [], [], []
    for v in var_names:
        a, b = sens_p[v], sens_l[v]
        if a.ndim == 0:
            names.append(v)
            vp.append(float(a))
            vl.append(float(b))
            continue
        flat_a = a.stack(_i=a.dims)
        flat_b = b.stack(_i=b.dims)
        for j in range(flat_a.sizes["_i"]):
            idx = flat_a["_i"].values[j]
            idx = idx if isinstance(idx, tuple) else (idx,)
            names.append(f"{v}[{', '.join(map(str, idx))}]")
            vp.append(float(flat_a.values[j]))
            vl.append(float(flat_b.values[j]))
    table = pd.DataFrame({"prior": vp, "likelihood": vl}, index=pd.Index(names, name="param"))
    # ArviZ's diagnosis (arviz_stats.psense_summary; Kallioinen et al. 2024, sec. 4)
    table["diagnosis"] = [
        "potential prior-data conflict" if p >= threshold and q >= threshold else
        "potential strong prior / weak likelihood" if p > threshold > q else "✓"
        for p, q in zip(vp, vl, strict=True)]
    verdicts = []
    for name, r in table.iterrows():
        base = str(name).split("[")[0]
        pr = priors.get(base) if isinstance(priors, dict) else None
        proper = bool(getattr(pr, "proper", True))
        verdicts.append(_verdict(str(name), float(r["prior"]), float(r["likelihood"]),
                                 threshold, proper))
    table["verdict"] = verdicts
    table.attrs.update(threshold=threshold, alphas=alphas, prior_var_names=prior_vars,
                       priors={v: priors[v].describe() for v in prior_vars
                               if isinstance(priors, dict) and hasattr(priors.get(v),
                                                                       "describe")},
                       notes=notes,
                       reference="Kallioinen et al. 2024, Stat Comput 34:57")
    if not np.all(np.isfinite(table[["prior", "likelihood"]].to_numpy(float))):
        table.attrs["notes"] = [*notes, "some sensitivities are not finite "
                                "(too few effective draws?)"]
    return table

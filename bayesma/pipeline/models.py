"""Fitting an outcome's models with the spec's engine, through the public API."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from bayesma.bayes.exact import exact_posterior
from bayesma.bayes.models import MetaRegression, RandomEffects, Subgroups
from bayesma.bayes.protocol import Posterior
from bayesma.bayes.subgroups import exact_subgroups
from bayesma.classical import rma
from bayesma.spec import OutcomeSpec, Spec

__all__ = ["fit_bayes", "fit_classical", "level_params", "subgroup_differences"]


def fit_classical(o: OutcomeSpec, spec: Spec, **kw: Any) -> Any:
    """The classical twin (:func:`bayesma.rma`) with the spec's estimator and test."""
    return rma(o.data, method=spec.classical["method"], test=spec.classical["test"],
               level=o.model["level"], slab=o.label, measure=o.measure, **kw)


def fit_bayes(spec: Spec, o: OutcomeSpec, kind: str = "random_effects", *,
              data: pd.DataFrame | None = None, progressbar: bool = False,
              tau_prior: Any = None, mu_prior: Any = None) -> Any:
    """Fit the Bayesian model of an outcome with the spec's engine.

    Parameters
    ----------
    spec : Spec
    o : OutcomeSpec
    kind : {"random_effects", "meta_regression", "subgroups"}
    data : DataFrame, optional
        Rows to use (default the outcome's table).
    progressbar : bool
        MCMC progress bar.
    tau_prior, mu_prior : Prior, optional
        Replace the spec's priors.

    Returns
    -------
    Posterior
        For exact subgroups with ``tau = "per_level"``, an
        :class:`~bayesma.bayes.subgroups.ExactSubgroups`.
    """
    dat = o.data if data is None else data
    level = float(o.model["level"])
    mu = mu_prior if mu_prior is not None else o.priors["mu"]
    tau = tau_prior if tau_prior is not None else o.priors["tau"]
    beta = o.priors.get("beta", mu)
    cls = spec.classical
    if spec.engine == "exact":
        common = dict(mu_prior=mu, tau_prior=tau, slab=o.label, measure=o.measure,
                      level=level, classical=cls["method"], classical_test=cls["test"])
        if kind == "random_effects":
            return exact_posterior(dat, **common)
        if kind == "meta_regression":
            return exact_posterior(dat, mods=o.model["mods"], beta_prior=beta, **common)
        by = o.model["by"]
        if o.model["tau"] == "shared":
            return exact_posterior(dat, mods=f"~ 0 + C({by})", beta_prior=mu, **common)
        return exact_subgroups(dat, by, **common)
    common = dict(mu_prior=mu, tau_prior=tau, slab=o.label, measure=o.measure,
                  parameterization=o.model["parameterization"])
    if kind == "random_effects":
        model = RandomEffects(dat, **common)
    elif kind == "meta_regression":
        model = MetaRegression(dat, o.model["mods"], beta_prior=beta, **common)
    else:
        model = Subgroups(dat, by=o.model["by"], tau=o.model["tau"], **common)
    s = spec.sampler
    return model.fit(draws=int(s["draws"]), tune=int(s["tune"]), chains=int(s["chains"]),
                     cores=s.get("cores"), sampler=s["sampler"],
                     target_accept=s.get("target_accept"), random_seed=int(s["seed"]),
                     progressbar=progressbar)


def level_params(post: Any, engine: str, by: str) -> dict[str, str]:
    """Map subgroup level -> parameter name in a subgroup posterior.

    ``post`` is a dict level -> Posterior (separate fits: ``"mu"`` in each), the exact
    engine's shared-tau meta-regression ``~ 0 + C(by)`` (``"beta[C(by)[level]]"``) or the
    MCMC Subgroups fit (``"mu[level]"``).
    """
    if isinstance(post, dict):
        return {lv: "mu" for lv in post}
    terms = list(post.mean("beta").index)
    prefix = f"C({by})["
    levels = [t[len(prefix):-1] if t.startswith(prefix) and t.endswith("]") else t
              for t in terms]
    if engine == "exact":
        return {lv: f"beta[{t}]" for lv, t in zip(levels, terms, strict=True)}
    return {lv: f"mu[{lv}]" for lv in levels}


def subgroup_differences(mb: Any, params: dict[str, str], level: float, *,
                         exact: Any = None) -> pd.DataFrame | None:
    """Posterior of ``mu_a - mu_b`` for every pair of subgroup levels.

    Separate exact fits use :meth:`ExactSubgroups.differences` (quadrature); a shared-tau
    model (either engine) uses the joint posterior draws of the two level means.
    """
    if exact is not None:
        d = exact.differences(level)
        return d[["a", "b", "median", "low", "high", "prob_greater"]].reset_index(drop=True)
    if mb is None or len(params) < 2 or not isinstance(mb, Posterior):
        return None
    rows = []
    q = [(1 - level) / 2, 0.5, (1 + level) / 2]
    for a, b in combinations(params, 2):
        d = (np.asarray(mb.draws(params[a], random_seed=1), dtype=float)
             - np.asarray(mb.draws(params[b], random_seed=1), dtype=float))
        lo, med, hi = np.quantile(d, q)
        rows.append({"a": a, "b": b, "median": float(med), "low": float(lo),
                     "high": float(hi), "prob_greater": float(np.mean(d > 0))})
    return pd.DataFrame(rows)

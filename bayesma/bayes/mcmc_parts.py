"""Pieces of an MCMC fit's result that depend on the model family: the classical twin and
the quantities derived from the draws (tau², I², H²)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesma.classical.confint import typical_variance
from bayesma.classical.rma import rma
from bayesma.errors import BayesmaError

__all__ = ["classical_twin", "binomial_twin", "typical_variances", "derived_array",
           "design_rows", "summary_rows", "subsample_tree",
           "predict_from_draws", "DERIVED"]

#: quantities computed from tau (not stored in the posterior group)
DERIVED = ("tau2", "i2", "h2")


def classical_twin(model: Any, model_name: str, method: str, test: str) -> Any:
    """The classical fit of the same model and data.

    BinomialNormal: :func:`binomial_twin` (``rma_glmm``, UM.FS; ``method``/``test`` do not
    apply). RandomEffects, RobustRandomEffects: ``rma(method, test)``; MetaRegression: with the
    same ``mods``; CommonEffect: ``method="EE"`` (``test="z"`` in place of knha, a
    random-effects device); Subgroups with a shared tau: ``mods="~ 0 + C(by)"``; with a
    tau per level: a dict ``{level: RMAResult or None}`` of separate fits; Multilevel:
    ``rma_mv`` with CR2 (:func:`~bayesma.bayes.multilevel.multilevel_twin`; ``test`` is
    ignored), and a model with a ``classical_twin(method=)`` method (Multivariate) its own.
    """
    m = model
    if model_name == "BinomialNormal":
        return binomial_twin(model)
    if model_name == "Multilevel":  # rma_mv (REML or ML) with CR2, as MultilevelFit
        meth = str(method).upper()
        from bayesma.bayes.multilevel import multilevel_twin  # rma_mv: scipy.optimize

        return multilevel_twin(m.ml, method=meth if meth in ("REML", "ML") else "REML")
    if hasattr(m, "classical_twin"):  # a model that knows its twin (Multivariate)
        meth = str(method).upper()
        return m.classical_twin(method=meth if meth in ("REML", "ML") else "REML")
    kw: dict[str, Any] = {"yi": m.yi_name, "vi": m.vi_name, "sei": m.sei_name,
                          "slab": m.slab, "measure": m.measure, "test": test,
                          "method": method}
    if model_name == "CommonEffect":
        kw["method"] = "EE"
        kw["test"] = "z" if test == "knha" else test
    if model_name == "MetaRegression":
        return rma(m.data, mods=m.mods, **kw)
    if model_name == "Subgroups" and m.tau_mode == "per_level":
        res = {}
        col = m.data[m.by].astype(str)
        for lv in m.levels:
            sub = m.data[(col == lv).to_numpy()]
            try:
                res[lv] = rma(sub, **kw)
            except BayesmaError:  # e.g. k = 1 with knha
                res[lv] = None
        return res
    if model_name == "Subgroups":
        by = m.by if m.by.isidentifier() else f"`{m.by}`"
        return rma(m.data, mods=f"~ 0 + C({by})", **kw)
    return rma(m.data, **kw)


def binomial_twin(model: Any) -> Any:
    """BinomialNormal's twin: metafor's ``rma.glmm`` (UM.FS, the same counts and measure),
    not an inverse-variance rma of the continuity-corrected log odds ratios."""
    from bayesma.bayes.glmm_twin import glmm_twin  # loads scipy.optimize

    return glmm_twin(model)


def typical_variances(model: Any, model_name: str) -> np.ndarray:
    """metafor's typical within-study variance s² (one per level for per-level tau)."""
    m = model
    if model_name == "MetaRegression":
        return np.array(typical_variance(m.vi, m.X))
    if model_name == "Subgroups":
        if m.tau_mode == "per_level":
            out = []
            for j in range(len(m.levels)):
                v = m.vi[m.group == j]
                out.append(typical_variance(v, np.ones((v.size, 1))) if v.size > 1
                           else np.nan)
            return np.array(out)
        X = np.eye(len(m.levels))[m.group]
        return np.array(typical_variance(m.vi, X))
    return np.array(typical_variance(m.vi, np.ones((m.k, 1))))


def derived_array(post: xr.DataTree | xr.Dataset, name: str, model_name: str, *,
                  nu: Any, s2: Callable[[], np.ndarray]) -> xr.DataArray:
    """A posterior quantity as a DataArray (chain, draw, ...), derived ones included.

    ``I² = tau² / (tau² + s²)`` and ``H² = (tau² + s²) / s²`` (Higgins & Thompson 2002,
    Stat Med 21:1539, eq. 9-10) with ``s²`` metafor's typical within-study variance (I² in
    percent, as metafor and ExactPosterior); for the robust model tau² is replaced by the
    variance of ``tau * t_nu``, ``tau² nu / (nu - 2)``. ``nu`` is the draws of nu or its
    fixed value (None when the model has none); ``s2`` returns the typical variance(s).
    """
    if name in post:
        return post[name]
    if name == "mu_centered" and "mu" in post and "beta" not in post:
        return post["mu"]  # no moderators: the mean effect is already "at the means"
    if name in ("tau", *DERIVED) and "tau" not in post:
        if model_name != "CommonEffect":
            raise BayesmaError(f"{model_name} has no {name}")
        zero = xr.zeros_like(post["mu"])
        return zero + (0.0 if name != "h2" else 1.0)
    if name == "tau2":
        return post["tau"] ** 2
    if name in ("i2", "h2"):
        var = post["tau"] ** 2
        if nu is not None:
            var = xr.where(nu > 2, var * nu / (nu - 2), np.inf)
        s = s2()
        if s.ndim:
            s = xr.DataArray(s, dims=("level",), coords={"level": post["level"].values})
        if name == "i2":
            return xr.where(np.isinf(var), 100.0, 100.0 * var / (var + s))
        return (var + s) / s
    raise BayesmaError(
        f"unknown parameter {name!r}; available: "
        f"{', '.join([*map(str, post.data_vars), *DERIVED])}"
    )


def design_rows(model: Any, newmods: Any, labels: list[str]) -> tuple[np.ndarray, pd.Index]:
    """Rows of the design for a meta-regression's predictions (as ``RMAResult.predict``):
    the studies' own rows, a table/dict of moderators (through the model's design), or a
    numeric array of the non-intercept moderators."""
    m = model
    if newmods is None:
        return m.X, pd.Index(labels)
    if isinstance(newmods, pd.DataFrame | dict):
        X = m.design.transform(newmods)
        return X, pd.RangeIndex(X.shape[0])
    M = np.atleast_2d(np.asarray(newmods, dtype=float))
    if M.shape[0] == 1 and M.shape[1] != m.n_slopes:
        M = M.T
    X = np.column_stack([np.ones(M.shape[0]), M]) if m.intercept else M
    return X, pd.RangeIndex(X.shape[0])


def predict_from_draws(mean_draws: np.ndarray, tau: np.ndarray, prob: float,
                       rng: np.random.Generator, index: pd.Index) -> pd.DataFrame:
    """``mean, sd, eti_low, eti_high`` of the draws of x'beta and ``pi_low, pi_high``, the
    equal-tailed interval of a new study's effect ``x'beta + tau e`` (Higgins et al. 2009,
    J R Stat Soc A 172:137, the predictive distribution)."""
    tau_b = tau[:, None] if tau.ndim == 1 else tau
    new = mean_draws + tau_b * rng.standard_normal(mean_draws.shape)
    a = ((1 - prob) / 2, (1 + prob) / 2)
    q = np.quantile(mean_draws, a, axis=0)
    qn = np.quantile(new, a, axis=0)
    return pd.DataFrame({"mean": mean_draws.mean(0), "sd": mean_draws.std(0, ddof=1),
                         "eti_low": q[0], "eti_high": q[1], "pi_low": qn[0],
                         "pi_high": qn[1]}, index=index)


def summary_rows(posterior: Any, index: Callable[[str], pd.Index | None]
                 ) -> list[tuple[str, str]]:
    """(row label, param) pairs of a fit's summary, in ``ExactPosterior.summary`` order:
    mu (or every coefficient without intercept), tau, tau2, i2, rho (between-outcome
    correlations), theta_new, the slopes,
    mu_centered, nu, theta[study]; ``index(name)`` gives a vector parameter's labels."""
    rows: list[tuple[str, str]] = []

    def add(name: str, skip: Sequence[str] = ()) -> None:
        if name not in posterior and not (name in ("tau2", "i2") and "tau" in posterior):
            return
        idx = index(name)
        if idx is None:
            rows.append((name, name))
        else:
            rows.extend((f"{name}[{lab}]", f"{name}[{lab}]") for lab in idx
                        if lab not in skip)

    add("mu")
    if "mu" not in posterior:  # meta-regression without intercept
        add("beta")
    for name in ("tau", "tau2", "i2", "rho", "theta_new"):
        add(name)
    if "mu" in posterior and "beta" in posterior:
        add("beta", skip=[str(posterior["term"].values[0])])
    for name in ("mu_centered", "nu", "theta"):
        add(name)
    return rows


def subsample_tree(idata: xr.DataTree, n: int, random_seed: Any) -> xr.DataTree:
    """The tree with ``n // chains`` randomly chosen draws of every chain in its
    ``posterior`` group (the tree itself when that is all of them)."""
    post = idata["posterior"]
    chains, per = int(post.sizes["chain"]), int(post.sizes["draw"])
    keep = min(per, max(1, n // chains))
    if keep == per:
        return idata
    rng = np.random.default_rng(random_seed)
    idx = np.sort(rng.choice(per, size=keep, replace=False))
    tree = idata.copy()
    tree["posterior"] = xr.DataTree(post.to_dataset().isel(draw=idx))
    return tree

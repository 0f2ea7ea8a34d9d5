"""Subgroup model: one pooled effect per level of a grouping column.

The fit carries what plots and reports need, so neither computes it: ``mu`` per level
(dim ``level``) and ``mu_diff``, the draws of every pairwise difference ``mu_a - mu_b``
(dim ``contrast``); :meth:`Subgroups.level_table` and :meth:`Subgroups.differences`
tabulate them with the columns of :class:`bayesma.bayes.subgroups.ExactSubgroups`.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesma.bayes.diagnostics import SMALL_K
from bayesma.bayes.models.base import MetaModel
from bayesma.bayes.models.derived import stacked_draws
from bayesma.bayes.models.graph import prior_to_pymc
from bayesma.data import require_columns
from bayesma.errors import BayesmaError, DataError

__all__ = ["Subgroups"]

#: Credible level of the tables when neither ``prob`` nor the fit's ``level`` is given.
DEFAULT_PROB = 0.95


class Subgroups(MetaModel):
    """Subgroup model: one pooled effect per level of ``by``.

    y_i ~ N(theta_i, v_i), theta_i ~ N(mu_{g(i)}, tau_{g(i)}²) with tau shared across
    levels (``tau="shared"``, the Bayesian twin of metafor's ``rma(mods = ~ 0 + factor(by))``)
    or one tau per level (``tau="per_level"``, the twin of separate fits per level).
    Posterior ``mu`` and ``theta_new`` have dim ``level``; so does ``tau`` when per level.
    ``mu_diff`` (dim ``contrast``, labels ``"a - b"`` for every pair of levels, a before b
    in level order) holds the draws of ``mu_a - mu_b``; :meth:`level_table` and
    :meth:`differences` summarise a fit as ``ExactSubgroups`` does for the exact engine.

    Parameters
    ----------
    data : DataFrame
    by : str
        Grouping column; levels sorted as ``bayesma.classical.design`` sorts them.
    tau : {"shared", "per_level"}
    **kwargs
        As :class:`MetaModel`.
    """

    model_name = "Subgroups"

    def __init__(self, data: pd.DataFrame, by: str = "alloc", yi: str = "yi", vi: str = "vi",
                 *, tau: str = "shared", **kwargs: Any) -> None:
        if tau not in ("shared", "per_level"):
            raise BayesmaError(f"Subgroups: tau must be 'shared' or 'per_level', got {tau!r}")
        self.by = by
        self.tau_mode = tau
        super().__init__(data, yi, vi, **kwargs)
        self._init_kwargs.update(by=by, tau=tau)

    def _setup(self) -> None:
        require_columns(self.data, [self.by], what="subgroup")
        col = self.data[self.by]
        if col.isna().any():
            bad = list(self.data.index[col.isna()])
            raise DataError(f"column {self.by!r} (subgroup) has missing values at rows "
                            f"{bad[:5]}; drop or fill them", column=self.by, rows=bad)
        if isinstance(col.dtype, pd.CategoricalDtype):
            levels = [lv for lv in col.cat.categories if (col == lv).any()]
        else:
            levels = sorted(col.unique().tolist(), key=lambda x: (str(type(x)), x))
        if len(levels) < 2:
            raise DataError(f"column {self.by!r} (subgroup) has a single level {levels}",
                            column=self.by)
        self.levels = [str(lv) for lv in levels]
        self.group = np.array([levels.index(x) for x in col.tolist()], dtype=np.int64)
        self.level_k = np.bincount(self.group, minlength=len(levels))

    def with_data(self, data):
        kwargs = dict(self._init_kwargs)
        new = Subgroups(data, **kwargs, **self._prior_kwargs())
        new._last_fit_kwargs = dict(self._last_fit_kwargs)
        return new

    def coords(self):
        c = super().coords()
        c["level"] = list(self.levels)
        return c

    def _extra_key(self):
        return (self.tau_mode, len(self.levels))

    def _extra_data(self):
        return {"group": self.group}

    def _small_k(self) -> bool:
        if self.tau_mode == "per_level":
            return bool(self.level_k.min() <= SMALL_K)
        return self.k <= SMALL_K

    def _build_body(self, y, v) -> None:
        import pymc as pm

        g = pm.Data("group", self.group, dims="study")
        mu = prior_to_pymc(self.priors["mu"], "mu", v, dims="level")
        if self.tau_mode == "per_level":
            tau = self._tau_var(v, dims="level")
            tau_i = tau[g]
        else:
            tau_i = self._tau_var(v)
        self._normal_likelihood(y, v, mu[g], tau_i)

    def _loc_draws(self, post):
        return stacked_draws(post, "mu")[:, self.group]

    def _tau_draws(self, post):
        tau = stacked_draws(post, "tau")
        if tau.ndim == 2:
            return tau[:, self.group]
        return np.broadcast_to(tau[:, None], (tau.shape[0], self.k))

    def _posterior(self, raw, rng):
        lev = {"level": self.levels}
        out = {"mu": self._wrap(raw, "mu", stacked_draws(raw, "mu"), ("level",), lev)}
        tau = stacked_draws(raw, "tau")
        out["tau"] = (self._wrap(raw, "tau", tau, ("level",), lev) if tau.ndim == 2
                      else self._wrap(raw, "tau", tau))
        tmp = xr.Dataset(out)
        theta = stacked_draws(raw, "theta") if "theta" in raw else self._sample_theta(tmp, rng)
        out["theta"] = self._wrap(raw, "theta", theta, ("study",), {"study": self.labels})
        out["theta_new"] = self._wrap(raw, "theta_new", self._theta_new(tmp, rng),
                                      ("level",), lev)
        mu = stacked_draws(raw, "mu")
        pairs = self.contrasts()
        out["mu_diff"] = self._wrap(
            raw, "mu_diff", np.column_stack([mu[:, i] - mu[:, j] for _, i, j in pairs]),
            ("contrast",), {"contrast": [name for name, _, _ in pairs]})
        return xr.Dataset(out)

    def _theta_new(self, post, rng):
        mu = stacked_draws(post, "mu")
        tau = stacked_draws(post, "tau")
        if tau.ndim == 1:
            tau = tau[:, None]
        return mu + tau * rng.standard_normal(mu.shape)

    def _prior_params(self, n, rng):
        L = len(self.levels)
        out = {"mu": np.asarray(self.priors["mu"].rvs((n, L), rng=rng), dtype=float)}
        shape = (n, L) if self.tau_mode == "per_level" else n
        out["tau"] = np.asarray(self.priors["tau"].rvs(shape, rng=rng), dtype=float)
        return out

    def _param_dims(self, name):
        if name == "mu" or (name == "tau" and self.tau_mode == "per_level"):
            return ("level",)
        return ()

    def _param_coords(self):
        return {"level": self.levels}

    # ---- per-level summaries of a fit ---------------------------------------------------
    def contrasts(self) -> list[tuple[str, int, int]]:
        """``(label, i, j)`` of every pair of levels, ``label = "a - b"`` (a before b)."""
        return [(f"{self.levels[i]} - {self.levels[j]}", i, j)
                for i, j in combinations(range(len(self.levels)), 2)]

    def level_table(self, fit: Any, prob: float | None = None) -> pd.DataFrame:
        """Per-level posterior of mu: ``k, mean, sd, median, low, high`` (model scale).

        Parameters
        ----------
        fit : BayesFit
            A fit of this model (anything with a ``posterior`` Dataset).
        prob : float, optional
            Equal-tailed credible level; default the fit's ``level`` (else 0.95).

        Returns
        -------
        DataFrame
            Indexed by level (index name: the grouping column).
        """
        prob = _prob(fit, prob)
        mu = stacked_draws(fit.posterior, "mu")
        lo, hi = np.quantile(mu, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
        return pd.DataFrame({"k": self.level_k.astype(int), "mean": mu.mean(axis=0),
                             "sd": mu.std(axis=0, ddof=1), "median": np.median(mu, axis=0),
                             "low": lo, "high": hi},
                            index=pd.Index(list(self.levels), name=self.by))

    def differences(self, fit: Any, prob: float | None = None) -> pd.DataFrame:
        """Every pairwise difference ``mu_a - mu_b`` (a before b in level order).

        Columns ``a, b, mean, sd, median, low, high, prob_greater`` (P(mu_a > mu_b)),
        indexed ``"a - b"`` (index name ``difference``), from the fit's ``mu_diff`` draws.
        """
        prob = _prob(fit, prob)
        post = fit.posterior
        d = (stacked_draws(post, "mu_diff") if "mu_diff" in post else np.column_stack(
            [stacked_draws(post, "mu")[:, i] - stacked_draws(post, "mu")[:, j]
             for _, i, j in self.contrasts()]))
        lo, hi = np.quantile(d, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
        pairs = self.contrasts()
        return pd.DataFrame(
            {"a": [self.levels[i] for _, i, _ in pairs],
             "b": [self.levels[j] for _, _, j in pairs],
             "mean": d.mean(axis=0), "sd": d.std(axis=0, ddof=1),
             "median": np.median(d, axis=0), "low": lo, "high": hi,
             "prob_greater": (d > 0).mean(axis=0)},
            index=pd.Index([name for name, _, _ in pairs], name="difference"))


def _prob(fit: Any, prob: float | None) -> float:
    if prob is None:
        prob = getattr(fit, "level", None) or DEFAULT_PROB
    prob = float(prob)
    if not 0.0 < prob < 1.0:
        raise BayesmaError(f"prob must be strictly between 0 and 1, got {prob!r}")
    return prob

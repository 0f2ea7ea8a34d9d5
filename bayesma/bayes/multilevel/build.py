"""Building the exact posterior of the three-level model from a table."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd

from bayesma.bayes.multilevel.inputs import multilevel_data
from bayesma.bayes.multilevel.posterior import MultilevelPosterior
from bayesma.bayes.multilevel.twin import multilevel_twin
from bayesma.errors import BayesmaError

__all__ = ["exact_multilevel"]


def exact_multilevel(data: pd.DataFrame, yi: str = "yi", vi: str | None = "vi", *,
                     random: Any = "~ 1 | study/esid", V: Any = None, mods: Any = None,
                     mu_prior=None, tau_prior=None, beta_prior=None,
                     measure: str | None = None, slab: str | None = None,
                     level: float = 0.95, classical: str | None = "REML",
                     center: bool = True) -> MultilevelPosterior:
    """Exact posterior of the three-level model ``y_ij = x_ij'beta + u_i + w_ij + e_ij``.

    Parameters
    ----------
    data : DataFrame
        One row per effect size, with the cluster and effect-id columns of ``random``.
    yi, vi : str
        Columns of effect sizes and sampling variances (``vi`` unused with ``V``).
    random : str
        ``"~ 1 | <cluster>/<effect>"``, e.g. ``"~ 1 | study/esid"``.
    V : array_like, optional
        Sampling covariance matrix (``len(data)`` square, or a list of blocks),
        block-diagonal by cluster; default ``diag(vi)``.
    mods : str or list, optional
        Moderators (formula such as ``"~ year"`` or a list of columns).
    mu_prior : Prior, optional
        Normal or Flat prior of mu (with moderators and ``center=True``: the intercept
        at the moderators' means); default per measure.
    tau_prior : dict or Prior, optional
        ``{"<cluster>": Prior, "<effect>": Prior}`` (keys: the level names of
        ``random``) or one prior for both; default per measure.
    beta_prior : Prior, dict or list, optional
        Normal/Flat prior(s) of the moderator coefficients.
    measure, slab : str, optional
        Effect measure (default ``data.attrs["measure"]``) and a column of effect labels.
    level : float
        Default probability of intervals.
    classical : {"REML", "ML"} or None
        Estimator of the classical twin (rma_mv, CR2 robust inference); None skips it.
    center : bool
        Centre the moderators so the intercept prior applies at their means.

    Returns
    -------
    MultilevelPosterior

    Raises
    ------
    DataError
        Missing cluster ids (naming the rows), V not positive definite (naming the
        cluster), every cluster with one effect (a two-level model suffices).
    SpecError
        A random formula that is not ``~ 1 | a/b``, or tau prior keys that are not its
        levels.
    """
    ml = multilevel_data(data, yi, vi, random=random, V=V, mods=mods, slab=slab,
                         measure=measure)
    twin = None
    if classical:
        try:
            twin = multilevel_twin(ml, level=level, method=classical)
        except BayesmaError as exc:
            if str(classical).upper() not in ("REML", "ML"):
                raise
            warnings.warn(f"classical twin not available: {exc}", stacklevel=2)
    return MultilevelPosterior(ml, mu_prior=mu_prior, tau_prior=tau_prior,
                               beta_prior=beta_prior, level=level, classical=twin,
                               center=center)

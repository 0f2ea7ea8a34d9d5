"""Building an exact posterior: from a table, from arrays, or from a stored data tree."""

from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesma.bayes.exact.draws import EXACT_LIBRARY
from bayesma.bayes.exact.posterior import ExactPosterior
from bayesma.classical.design import build_design
from bayesma.classical.rma import canonical_test, fit_arrays
from bayesma.classical.tau2 import canonical_method
from bayesma.data import effect_arrays, find_label_column, require_columns, study_labels
from bayesma.errors import BayesmaError
from bayesma.priors import prior_from_spec

if TYPE_CHECKING:  # pragma: no cover
    from bayesma.bayes.multilevel import MultilevelPosterior

__all__ = ["exact_posterior", "exact_posterior_arrays", "exact_from_datatree",
           "is_exact_datatree"]


def exact_posterior_arrays(yi, vi, X=None, *, terms=None, labels=None, mu_prior=None,
                           tau_prior=None, beta_prior=None, measure: str | None = None,
                           level: float = 0.95, center: bool = True) -> ExactPosterior:
    """Exact posterior from arrays (fast path for sensitivity sweeps; no classical twin).

    Parameters are those of :func:`exact_posterior`; ``X`` is the k x p design matrix
    (default intercept only) and ``terms`` its column names.
    """
    return ExactPosterior(yi, vi, X, terms=terms, labels=labels, mu_prior=mu_prior,
                          tau_prior=tau_prior, beta_prior=beta_prior, measure=measure,
                          level=level, center=center)


def exact_posterior(data: pd.DataFrame, yi: str = "yi", vi: str = "vi", *, mu_prior=None,
                    tau_prior=None, mods=None, beta_prior=None, measure: str | None = None,
                    slab: str | None = None, sei: str | None = None, level: float = 0.95,
                    classical: str | None = "REML", classical_test: str = "knha",
                    center: bool = True, random: Any = None, V: Any = None
                    ) -> ExactPosterior | MultilevelPosterior:
    """Exact posterior of the random-effects model or meta-regression (bayesmeta's method).

    Parameters
    ----------
    data : DataFrame
        One row per study.
    yi, vi : str
        Columns of effect sizes and sampling variances.
    mu_prior : Prior, optional
        Normal or Flat prior of mu (the intercept in a meta-regression: with
        ``center=True`` the intercept at the moderators' means); default
        ``bayesma.priors.default_priors(measure)["mu"]``.
    tau_prior : Prior, optional
        Any prior on tau of :mod:`bayesma.priors` (default per measure).
    mods : str or list, optional
        Moderators (formula such as ``"~ ablat"`` or list of columns); see
        :mod:`bayesma.classical.design`.
    beta_prior : Prior, dict or list, optional
        Normal/Flat prior(s) of the moderator coefficients: one for all, a dict by term,
        or a list in term order (default: the default mu prior).
    measure : str, optional
        Effect measure (default ``data.attrs["measure"]``), for the default priors.
    slab : str, optional
        Column of study labels.
    sei : str, optional
        Column of standard errors used instead of ``vi``.
    level : float
        Default probability of credible intervals.
    classical : str or None
        tau² estimator of the classical twin (``None`` to skip it).
    classical_test : str
        Test of the classical twin (``"knha"``, ``"z"`` or ``"t"``).
    center : bool
        Meta-regression with an intercept: centre the moderators at their means so the
        intercept prior applies there (brms' convention; :mod:`bayesma.bayes.centering`).
        ``mu`` and ``beta`` are reported on the data's scale either way; ``mu_centered``
        is the mean effect at the means. False puts the prior on the intercept at
        moderators = 0 (a raw-scale moderator such as year then pins the slope).
    random : str, optional
        ``"~ 1 | study/esid"``: the three-level model, computed by the exact 2-D engine
        (:func:`bayesma.bayes.multilevel.exact_multilevel`; ``tau_prior`` is then a dict
        keyed by the level names, the twin rma_mv with CR2 inference). None: the
        random-effects model above.
    V : array_like, optional
        Sampling covariance (block-diagonal by cluster), with ``random`` only.

    Returns
    -------
    ExactPosterior or MultilevelPosterior

    Raises
    ------
    DataError
        Missing or invalid values, naming the column and row.
    ImproperPosteriorError
        When the priors and data give an improper posterior.
    """
    if random is not None or V is not None:  # three-level model: the exact 2-D engine
        if sei is not None:
            raise BayesmaError("the three-level model takes vi= (or V=), not sei=")
        # the three-level engine builds on this package's pieces: imported on use
        from bayesma.bayes.multilevel import exact_multilevel

        return exact_multilevel(data, yi, vi,
                                random=random if random is not None else "~ 1 | study/esid",
                                V=V, mods=mods, mu_prior=mu_prior, tau_prior=tau_prior,
                                beta_prior=beta_prior, measure=measure, slab=slab,
                                level=level, classical=classical, center=center)
    require_columns(data, [yi], what="effect sizes")
    label_col = find_label_column(data, slab)
    if measure is None:
        measure = data.attrs.get("measure")
    design = build_design(data, mods, slab=label_col)
    d = data.loc[design.keep] if not design.keep.all() else data
    y, v = effect_arrays(d, yi, vi, sei=sei, slab=label_col)
    labels = study_labels(d, label_col)
    twin = None
    if classical:
        # a misspelt estimator or test is the caller's error, not a missing twin
        classical = canonical_method(classical)
        classical_test = canonical_test(classical_test)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                twin = fit_arrays(y, v, design.X, terms=design.terms, method=classical,
                                  test=classical_test, level=level, labels=labels,
                                  measure=measure, formula=design.formula, data=d,
                                  dropped=design.dropped, design=design)
        except BayesmaError as exc:
            warnings.warn(f"classical twin not available: {exc}", stacklevel=2)
            twin = None
    post = ExactPosterior(y, v, design.X, terms=design.terms, labels=labels,
                          mu_prior=mu_prior, tau_prior=tau_prior, beta_prior=beta_prior,
                          measure=measure, data=d, level=level, classical=twin,
                          formula=design.formula, center=center)
    post.design = design
    return post


def is_exact_datatree(tree: xr.DataTree) -> bool:
    """Whether ``tree`` was written by ``ExactPosterior.to_datatree``."""
    for node in (tree, *(tree[c] for c in tree.children if c == "posterior")):
        if node.attrs.get("inference_library") == EXACT_LIBRARY:
            return True
    return False


def exact_from_datatree(tree: xr.DataTree) -> ExactPosterior:
    """Rebuild the exact posterior from a tree of ``ExactPosterior.to_datatree``.

    Only stored numbers and prior specifications are read: the data arrays
    (``observed_data.y``, ``constant_data.vi`` and ``X``), the study and term labels, the
    priors (JSON specs rebuilt by :func:`bayesma.priors.prior_from_spec`) and the
    settings. A stored formula is display text and is never evaluated; the classical twin
    is refitted from the arrays.

    Raises
    ------
    BayesmaError
        When the tree lacks what is needed (e.g. written by an older bayesma).
    """
    attrs = dict(tree["posterior"].attrs) if "posterior" in tree.children else {}
    attrs.update(tree.attrs)
    try:
        y = np.asarray(tree["observed_data"]["y"].values, dtype=float)
        const = tree["constant_data"]
        v = np.asarray(const["vi"].values, dtype=float)
        X = np.asarray(const["X"].values, dtype=float)
        labels = [str(s) for s in const["study"].values]
        terms = [str(t) for t in const["term"].values]
        specs = json.loads(attrs["priors"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BayesmaError(f"the stored exact posterior lacks {exc}: it cannot be rebuilt "
                           "(written by an older bayesma?)") from None
    if not isinstance(specs, dict) or "__tau__" not in specs:
        raise BayesmaError("the stored exact posterior has no prior specifications")
    coef = {t: prior_from_spec(specs[t]) for t in terms if t in specs}
    if len(coef) != len(terms):
        raise BayesmaError("the stored priors do not match the stored terms")
    beta = {t: coef[t] for t in terms[1:]} if len(terms) > 1 else None
    measure = attrs.get("measure") or None
    level = float(attrs.get("level", 0.95))
    twin = None
    method, test = attrs.get("classical_method"), attrs.get("classical_test")
    if method:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                twin = fit_arrays(y, v, X, terms=terms, method=canonical_method(str(method)),
                                  test=canonical_test(str(test or "knha")), level=level,
                                  labels=labels, measure=measure)
        except BayesmaError:
            twin = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # prior-scale warnings were shown at the first fit
        return ExactPosterior(y, v, X, terms=terms, labels=labels, mu_prior=coef[terms[0]],
                              tau_prior=prior_from_spec(specs["__tau__"]), beta_prior=beta,
                              measure=measure, level=level, classical=twin,
                              center=bool(int(attrs.get("center", 0))),
                              formula=_display_text(attrs.get("formula")))


def _display_text(value: Any) -> str | None:
    return None if value is None else str(value)

"""Fitting ``rma`` models: :func:`rma` (a study table), :func:`fit_arrays` (arrays).

Both validate their input (typed errors naming the column and row or position), estimate
tau² (:mod:`bayesma.classical.tau2`; ML/REML at the global maximum of the likelihood),
compute the model's numbers (:mod:`bayesma.classical.rma.estimation`, metafor 3.8-1
``rma.uni``) and return an :class:`RMAResult`, which adds refitting (``refit``,
``with_settings``) and Q-profile intervals (``confint``) to
:class:`~bayesma.classical.rma.result.RMAResultBase`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from bayesma.classical.confint import qprofile
from bayesma.classical.design import INTERCEPT, build_design, check_full_rank
from bayesma.classical.rma.estimation import model_numbers
from bayesma.classical.rma.result import RMAResultBase
from bayesma.classical.settings import canonical_test, parse_level
from bayesma.classical.tau2 import Tau2Estimate, canonical_method, estimate_tau2_checked
from bayesma.data import (
    MAX_ABS_EFFECT,
    VARIANCE_RANGE,
    check_effect_range,
    effect_arrays,
    find_label_column,
    numeric_column,
    require_columns,
    study_labels,
)
from bayesma.errors import (
    BayesmaError,
    BayesmaWarning,
    DataError,
    SmallKWarning,
    TooFewStudiesError,
)

__all__ = ["RMAResult", "SMALL_K", "fit_arrays", "require_rma_result", "rma"]

#: ``rma(test="z")`` with fewer studies than this warns (:class:`SmallKWarning`)
SMALL_K = 5


@dataclass(frozen=True, eq=False, repr=False)
class RMAResult(RMAResultBase):
    """A fitted (mixed-effects) meta-analytic model; see ARCHITECTURE.md for the contract.

    Coefficients are in ``coef`` (a DataFrame indexed by term, intercept ``"intrcpt"``
    first); ``estimate``, ``se``, ``stat``, ``pval``, ``ci_low``, ``ci_high`` repeat the
    first row (the pooled effect of an intercept-only model).
    """

    def confint(self, level: float | None = None):
        """Q-profile confidence intervals for tau², tau, I², H² (``classical/confint.py``)."""
        return qprofile(self, level=level)

    def refit(self, mask=None, **settings) -> RMAResult:
        """The same model on a subset of rows and/or with other settings.

        Parameters
        ----------
        mask : array_like of bool (length k) or of integer positions, optional
            Rows (of the rows used) to keep.
        **settings
            Any of ``method, test, level, tau2, weights, measure``; ``mods`` (refits from
            ``data`` with a new moderator specification).
        """
        allowed = {"method", "test", "level", "tau2", "weights", "measure", "mods"}
        unknown = set(settings) - allowed
        if unknown:
            raise DataError(f"refit() does not take {sorted(unknown)}; allowed: {sorted(allowed)}")
        idx = np.arange(self.k)
        if mask is not None:
            m = np.asarray(mask)
            if m.dtype == bool:
                if m.shape != (self.k,):
                    raise DataError(f"mask must have one entry per study used (k = {self.k})")
                idx = idx[m]
            else:
                idx = idx[m.astype(int)]
        uw = settings.pop("weights", self.user_weights)
        if uw is not None:
            uw = np.asarray(uw, dtype=float)
            if mask is not None and "weights" not in settings and uw.shape == (self.k,):
                uw = uw[idx]
        data = self.data.iloc[idx] if self.data is not None else None
        if "mods" in settings:
            if data is None or not self.call.get("yi"):
                raise DataError("refit(mods=...) needs a model fitted by rma() on a table")
            c = self.call
            return rma(
                data,
                yi=c["yi"],
                vi=c["vi"],
                sei=c.get("sei"),
                method=settings.get("method", self.method),
                test=settings.get("test", self.test),
                mods=settings["mods"],
                level=settings.get("level", self.level),
                slab=c.get("slab"),
                measure=settings.get("measure", self.measure),
                tau2=settings.get("tau2", self.tau2 if self.tau2_fixed else None),
            )
        return fit_arrays(
            self.yi[idx],
            self.vi[idx],
            self.X[idx],
            terms=self.terms,
            method=settings.get("method", self.method),
            test=settings.get("test", self.test),
            level=settings.get("level", self.level),
            labels=[self.labels[i] for i in idx],
            tau2=settings.get("tau2", self.tau2 if self.tau2_fixed else None),
            weights=uw,
            measure=settings.get("measure", self.measure),
            formula=self.formula,
            data=data,
            dropped=self.dropped,
            design=self.design,
            call=self.call,
        )

    def with_settings(self, **changes) -> RMAResult:
        """The same model with other settings.

        ``method, test, level, tau2, weights, measure, mods`` refit the model (as
        :meth:`refit`), so the intervals follow the new level; any other keyword replaces
        that attribute without refitting.
        """
        refit_keys = {"method", "test", "level", "tau2", "weights", "measure", "mods"}
        fit_changes = {k: v for k, v in changes.items() if k in refit_keys}
        other = {k: v for k, v in changes.items() if k not in refit_keys}
        res = self.refit(**fit_changes) if fit_changes else self
        return replace(res, **other) if other else res


def require_rma_result(res: Any, func: str) -> None:
    """Raise BayesmaError unless ``res`` is an :class:`RMAResult` (the result of ``rma``)."""
    if not isinstance(res, RMAResult):
        raise BayesmaError(
            f"{func}() needs a fitted model from bm.rma(...), got {type(res).__name__}; "
            f"fit the table first: {func}(bm.rma(data))"
        )


def fit_arrays(
    yi,
    vi,
    X=None,
    *,
    terms: list[str] | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    labels=None,
    tau2: float | None = None,
    weights=None,
    measure: str | None = None,
    formula: str | None = None,
    data: pd.DataFrame | None = None,
    dropped=(),
    design=None,
    call: dict | None = None,
    tol: float = 1e-12,
    maxiter: int = 10000,
) -> RMAResult:
    """Fit the model on arrays (no DataFrame, no validation of column names).

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and sampling variances (> 0).
    X : array_like, optional
        k x p design matrix (default intercept only). A column of ones is the intercept
        (moved first, as metafor).
    terms : list of str, optional
        Names of the columns of ``X`` (default ``intrcpt``, ``X1``, ``X2``...).
    method : str
        tau² estimator (see :data:`bayesma.classical.tau2.METHODS`).
    test : {"z", "t", "knha", "adhoc"}
    level : float
        Confidence level (0.95 or 95).
    labels : sequence of str, optional
        Study labels (default ``"Study 1"`` ...).
    tau2 : float, optional
        Fix tau² at this value instead of estimating it.
    weights : array_like, optional
        User weights (method ``GENQ``; default ``1/vi`` there). With weights the
        coefficients are the weighted estimates with a sandwich variance, as metafor.
    tol, maxiter
        Convergence settings of iterative estimators.
    """
    method = canonical_method(method)
    test = canonical_test(test)
    level = parse_level(level)
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    k = y.size
    if v.size != k:
        raise DataError(f"yi and vi differ in length ({k} vs {v.size})")
    if k < 1:
        raise TooFewStudiesError("no studies to analyse (k = 0)")
    for name, arr in (("yi", y), ("vi", v)):
        if math.isfinite(arr.sum()):  # a finite sum: no NaN or inf (else look closer)
            continue
        finite = np.isfinite(arr)
        if finite.all():
            continue
        bad = np.flatnonzero(~finite)
        raise DataError(
            f"{name} has a missing or infinite value at position {int(bad[0])}"
            + (f" (study {labels[int(bad[0])]!r})" if labels is not None else ""),
            column=name,
            rows=list(bad),
        )
    vmin = float(v.min())
    bad = np.flatnonzero(v <= 0) if vmin <= 0 else ()
    if len(bad):
        raise DataError(
            f"vi must be > 0; position {int(bad[0])}"
            + (f" (study {labels[int(bad[0])]!r})" if labels is not None else "")
            + f" has {v[bad[0]]:g}",
            column="vi",
            rows=list(bad),
        )
    if not (VARIANCE_RANGE[0] <= vmin and float(v.max()) <= VARIANCE_RANGE[1]
            and float(np.abs(y).max()) <= MAX_ABS_EFFECT):
        check_effect_range(y, v, labels=labels)
    # design
    if X is None or (
        terms is not None and len(terms) == 1 and terms[0] == INTERCEPT
        and isinstance(X, np.ndarray)
        and X.shape == (k, 1) and bool((X == 1.0).all())
    ):  # intercept only (rma without moderators)
        Xm = np.ones((k, 1))
        terms = [INTERCEPT]
        ones = True
    else:
        ones = False
        Xm = np.asarray(X, dtype=float)
        if Xm.ndim == 1:
            Xm = Xm[:, None]
        if Xm.shape[0] != k:
            raise DataError(f"X has {Xm.shape[0]} rows but there are {k} studies")
        if terms is None:
            terms = [f"X{j + 1}" for j in range(Xm.shape[1])]
        terms = list(terms)
        if len(terms) != Xm.shape[1]:
            raise DataError(f"{len(terms)} term names for {Xm.shape[1]} columns of X")
        is_int = np.all(np.abs(Xm - 1) < 1e-8, axis=0)
        if is_int.any():
            keep = ~is_int
            Xm = np.column_stack([np.ones(k), Xm[:, keep]])
            terms = [INTERCEPT] + [t for t, kp in zip(terms, keep, strict=True) if kp]
    p = Xm.shape[1]
    intercept = ones or (terms[0] == INTERCEPT and bool(np.all(Xm[:, 0] == 1)))
    int_only = p == 1 and intercept
    if labels is None:
        labels = [f"Study {i + 1}" for i in range(k)]
    else:
        labels = [lab if isinstance(lab, str) else str(lab) for lab in labels]
        if len(labels) != k:
            raise DataError(f"{len(labels)} labels for {k} studies")
    if not (int_only and k == 1):
        need = p if (method == "EE" or tau2 is not None) else p + 1
        if k < need:
            raise TooFewStudiesError(
                f"{method} with {p} coefficient(s) needs at least {need} studies, got k = {k} "
                "(number of parameters to be estimated is larger than the number of "
                "observations)"
            )
    if p > 1:
        check_full_rank(Xm, terms)
    if k == 1 and test != "z":
        warnings.warn("setting test='z' since k = 1 (as metafor)", BayesmaWarning, stacklevel=2)
        test = "z"
    if test in ("knha", "adhoc") and method == "EE":
        warnings.warn(
            "the Knapp & Hartung method is not meant to be used with EE models (metafor)",
            BayesmaWarning,
            stacklevel=2,
        )
    uw = None
    if weights is not None:
        uw = np.asarray(weights, dtype=float).ravel()
        if uw.shape != (k,) or np.any(~np.isfinite(uw)) or np.any(uw <= 0):
            raise DataError("weights must be finite, > 0 and one per study")
    elif method == "GENQ":
        uw = 1.0 / v

    # tau²
    tau2_fixed = tau2 is not None and method != "EE"
    if method == "EE":
        est = Tau2Estimate(0.0, float("nan"))
    elif tau2_fixed:
        t2 = float(tau2)
        if not np.isfinite(t2) or t2 < 0:
            raise DataError(f"tau2 must be a number >= 0, got {tau2!r}")
        est = Tau2Estimate(t2, float("nan"))
    else:
        est = estimate_tau2_checked(y, v, Xm, method, weights=uw, tol=tol, maxiter=maxiter,
                                    intercept_only=ones)
    t2 = est.tau2

    num = model_numbers(
        y, v, Xm, t2, method=method, test=test, level=level, uw=uw, intercept=intercept,
        tau2_fixed=tau2_fixed, tol=tol, maxiter=maxiter,
    )
    coef_values = num["coef_values"]
    estimate, se, stat, pval, ci_low, ci_high = coef_values[0].tolist()
    fs = num["fit_stats_values"]  # rows ll, dev, AIC, BIC, AICc; columns ML, REML
    ll, dev, aic, bic, aicc = fs[:, 1 if method == "REML" else 0].tolist()
    return RMAResult.from_fields(
        method=method,
        test=test,
        level=level,
        formula=formula,
        measure=measure,
        yi=y,
        vi=v,
        X=Xm,
        terms=list(terms),
        labels=labels,
        data_frame=data,
        dropped=list(dropped),
        k=k,
        p=p,
        beta=num["beta"],
        vcov=num["vcov"],
        coef_values=coef_values,
        estimate=estimate,
        se=se,
        stat=stat,
        pval=pval,
        ci_low=ci_low,
        ci_high=ci_high,
        df=num["df"],
        tau2=float(t2),
        se_tau2=float(est.se_tau2),
        tau=float(np.sqrt(t2)),
        i2=float(num["i2"]),
        h2=float(num["h2"]),
        q=float(num["q"]),
        q_df=int(k - p),
        q_pval=float(num["q_pval"]),
        qm=num["qm"],
        qm_df=num["qm_df"],
        qm_pval=num["qm_pval"],
        r2=num["r2"],
        pi_low=num["pi_low"],
        pi_high=num["pi_high"],
        weights=num["weights"],
        fit_stats_values=fs,
        ll=ll,
        deviance=dev,
        aic=aic,
        bic=bic,
        aicc=aicc,
        scale=float(num["scale"]),
        intercept=intercept,
        tau2_fixed=tau2_fixed,
        converged=est.converged,
        iterations=est.iterations,
        multimodal=est.multimodal,
        tau2_local=est.tau2_local,
        user_weights=None if weights is None else uw,
        design=design,
        call=dict(call or {}),
    )


def rma(
    data: pd.DataFrame,
    yi: str = "yi",
    vi: str = "vi",
    *,
    sei: str | None = None,
    method: str = "REML",
    test: str = "z",
    mods=None,
    level: float = 0.95,
    slab: str | None = None,
    measure: str | None = None,
    tau2: float | None = None,
    weights: str | None = None,
) -> RMAResult:
    """Fit a random-effects model or meta-regression to a study table (metafor ``rma``).

    Parameters
    ----------
    data : DataFrame
        One row per study.
    yi, vi : str
        Columns of effect sizes and sampling variances.
    sei : str, optional
        Column of standard errors, used instead of ``vi`` (``vi = sei**2``).
    method : str
        ``EE`` (alias ``FE``), ``DL``, ``HE``, ``HS``, ``HSk``, ``SJ``, ``ML``, ``REML``,
        ``EB``, ``PM``, ``PMM`` or ``GENQ``.
    test : {"z", "t", "knha", "adhoc"}
        Inference for the coefficients: normal, t(k - p), Hartung-Knapp(-Sidik-Jonkman),
        or metafor's ``"adhoc"`` Hartung-Knapp with its scale factor truncated below at 1
        (never narrower than the ``"t"`` interval). ``"z"`` with fewer than 5 studies
        warns (:class:`~bayesma.errors.SmallKWarning`).
    mods : None, str, list of str or array
        Moderators: a formula such as ``"~ ablat + C(alloc)"`` (R's ``factor()`` works
        too) or a list of columns; see :mod:`bayesma.classical.design`.
    level : float
        Confidence level.
    slab : str, optional
        Column of study labels (default: the first of ``slab, study_label, label,
        author, authors, study, trial``, else the index).
    measure : str, optional
        Effect-size measure, for display (default ``data.attrs["measure"]``).
    tau2 : float, optional
        Fix tau² at this value.
    weights : str, optional
        Column of user weights (for ``GENQ``; default ``1/vi``).

    Returns
    -------
    RMAResult
    """
    require_columns(data, [yi], what="effect sizes")
    label_col = find_label_column(data, slab)
    if measure is None:
        measure = data.attrs.get("measure")
    design = build_design(data, mods, slab=label_col)
    d = data.loc[design.keep] if not design.keep.all() else data
    y, v = effect_arrays(d, yi, vi, sei=sei, slab=label_col)
    uw = None
    if weights is not None:
        uw = numeric_column(d, weights, what="weights", positive=True, slab=label_col)
    if label_col is None and d.index.is_unique and not d.index.hasnans:
        labels = d.index.astype(str).tolist()  # fast path; same as study_labels()
        if len(set(labels)) != len(labels) or "" in labels:
            labels = study_labels(d, label_col)
    else:
        labels = study_labels(d, label_col)
    if len(y) < SMALL_K and canonical_test(test) == "z" and len(y) > 1:
        warnings.warn(
            f"test='z' with k = {len(y)} studies: Wald intervals ignore the uncertainty of "
            "tau² and undercover with few studies (95% intervals covered 80% at k = 2, "
            "tau = 1 in docs/guide/coverage.md); use test='knha' or a Bayesian analysis "
            "(bm.exact_posterior)",
            SmallKWarning,
            stacklevel=2,
        )
    return fit_arrays(
        y,
        v,
        design.X,
        terms=design.terms,
        method=method,
        test=test,
        level=level,
        labels=labels,
        tau2=tau2,
        weights=uw,
        measure=measure,
        formula=design.formula,
        data=d,
        dropped=design.dropped,
        design=design,
        call={"yi": yi, "vi": vi, "sei": sei, "slab": label_col, "mods": mods,
              "weights": weights},
    )

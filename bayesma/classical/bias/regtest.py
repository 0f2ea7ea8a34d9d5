"""Egger-type regression tests for funnel-plot asymmetry (metafor 3.8 ``regtest.rma``).

The meta-regression ("rma") or weighted least-squares ("lm") variant with the predictors
of metafor (Egger et al. 1997; Sterne & Egger 2005; Pustejovsky & Rodgers 2019 for the
modified predictors of SMDs).

References
----------
Egger, M., Davey Smith, G., Schneider, M., & Minder, C. (1997). BMJ, 315, 629-634.
Pustejovsky, J. E., & Rodgers, M. A. (2019). Research Synthesis Methods, 10(1), 57-71.
Sterne, J. A. C., & Egger, M. (2005). In Publication bias in meta-analysis, 99-110.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from bayesma.classical.bias.common import check_estimable, p_equals
from bayesma.classical.checks import intercept_only, is_ee
from bayesma.classical.rma import RMAResult, fit_arrays, require_rma_result
from bayesma.data import numeric_column, require_columns
from bayesma.errors import BayesmaError, BayesmaWarning, DataError
from bayesma.formatting import fmt_plain

__all__ = ["RegTestResult", "WLSFit", "regtest"]

_SMD_MEASURES = ("SMD", "SMDH", "SMD1", "SMD1H", "SMCC", "SMCR", "SMCRH")

_PREDICTOR_LABELS = {
    "sei": "standard error",
    "vi": "sampling variance",
    "ni": "sample size",
    "ninv": "inverse of the sample size",
    "sqrtni": "square root of the sample size",
    "sqrtninv": "inverse of the square root of the sample size",
}



@dataclass(frozen=True, eq=False)
class WLSFit:
    """Weighted least-squares fit ``lm(yi ~ X - 1, weights = 1/vi)`` (R's ``lm``).

    The residual variance is estimated (multiplicative dispersion), so standard errors
    are ``sqrt(sigma2 * diag((X'WX)^-1))`` with ``sigma2 = sum w e² / (k - p)``.
    """

    beta: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    pval: np.ndarray
    df: int
    sigma2: float
    terms: list[str]

    @property
    def coef(self) -> pd.DataFrame:
        """Index = term; columns estimate, se, stat (t), pval."""
        return pd.DataFrame(
            {"estimate": self.beta, "se": self.se, "stat": self.stat, "pval": self.pval},
            index=pd.Index(self.terms, name="term"),
        )


def _wls(yi: np.ndarray, vi: np.ndarray, X: np.ndarray, terms: list[str]) -> WLSFit:
    """R's ``summary(lm(yi ~ X - 1, weights = 1/vi))`` coefficients."""
    w = 1.0 / vi
    sw = np.sqrt(w)
    Xw = X * sw[:, None]
    yw = yi * sw
    # QR as lm.fit does
    q, r = np.linalg.qr(Xw)
    beta = np.linalg.solve(r, q.T @ yw)
    resid = yw - Xw @ beta
    k, p = X.shape
    df = k - p
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma2 = float(resid @ resid / df) if df > 0 else float("nan")
        rinv = np.linalg.inv(r)
        cov_unscaled = rinv @ rinv.T
        se = np.sqrt(sigma2 * np.diag(cov_unscaled))
        tval = beta / se
        pval = 2 * stats.t.sf(np.abs(tval), df) if df > 0 else np.full(p, np.nan)
    return WLSFit(
        beta=beta,
        se=se,
        stat=tval,
        pval=np.asarray(pval, dtype=float),
        df=df,
        sigma2=sigma2,
        terms=terms,
    )


@dataclass(frozen=True, eq=False)
class RegTestResult:
    """Regression test for funnel plot asymmetry (metafor's ``regtest``).

    Attributes
    ----------
    model : {"rma", "lm"}
        Meta-regression (z or t test as the original fit) or weighted regression (t test).
    predictor : str
        The predictor added to the model ("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv").
    stat : float
        Test statistic of the predictor's coefficient (z for "rma" with a z test,
        t otherwise).
    stat_name : {"z", "t"}
        Which statistic :attr:`stat` is.
    df : int or None
        Degrees of freedom of the t test (None for z).
    pval : float
        Two-sided p-value.
    limit_estimate, ci_low, ci_high : float
        The intercept, i.e. the estimated effect as the predictor -> 0 (only for
        predictors sei, vi, ninv, sqrtninv in intercept-only models; NaN otherwise).
    method : str or None
        The tau² estimator of the meta-regression (None for "lm").
    fit : RMAResult or WLSFit
        The fitted regression model.
    """

    model: str
    predictor: str
    stat: float
    stat_name: str
    df: int | None
    pval: float
    limit_estimate: float
    ci_low: float
    ci_high: float
    method: str | None
    level: float
    measure: str | None = None
    fit: Any = field(default=None, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """One-row table of the test and the limit estimate."""
        row = {
            "model": self.model,
            "predictor": self.predictor,
            "stat": self.stat,
            "stat_name": self.stat_name,
            "df": self.df,
            "pval": self.pval,
            "limit_estimate": self.limit_estimate,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
        }
        return pd.DataFrame([row], index=pd.Index(["regtest"]))

    def summary(self, digits: int = 4) -> str:
        """A printout like metafor's ``print.regtest``."""
        if self.model == "rma":
            kind = (
                "fixed-effects meta-regression model"
                if self.method is not None and is_ee(self.method)
                else "mixed-effects meta-regression model"
            )
        else:
            kind = "weighted regression with multiplicative dispersion"
        stat = f"{self.stat_name} = {fmt_plain(self.stat, digits)}"
        if self.stat_name == "t":
            stat = f"t = {fmt_plain(self.stat, digits)}, df = {self.df}"
        lines = [
            "Regression Test for Funnel Plot Asymmetry",
            "",
            f"Model:     {kind}",
            f"Predictor: {_PREDICTOR_LABELS.get(self.predictor, self.predictor)}",
            "",
            f"Test for Funnel Plot Asymmetry: {stat}, {p_equals(self.pval, digits)}",
        ]
        if not math.isnan(self.limit_estimate):
            lines.append(
                f"Limit Estimate (as {self.predictor} -> 0):   b = "
                f"{fmt_plain(self.limit_estimate, digits)} (CI: {fmt_plain(self.ci_low, digits)}, "
                f"{fmt_plain(self.ci_high, digits)})"
            )
        if self.measure in _SMD_MEASURES and self.predictor in ("sei", "vi"):
            lines += [
                "",
                "Note: for standardized mean differences the standard error depends on the",
                "estimate itself, so Egger-type tests with sei/vi have inflated type I error;",
                "prefer predictor='sqrtninv' (Pustejovsky & Rodgers 2019, RSM 10:57-71).",
            ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _sample_sizes(res: RMAResult, ni: str | Sequence[float] | np.ndarray | None) -> np.ndarray:
    """Per-study sample sizes: the ``ni`` argument, or the data's ni / n1i + n2i."""
    k = int(res.k)
    data = getattr(res, "data", None)
    if ni is None:
        if isinstance(data, pd.DataFrame) and "ni" in data.columns:
            return numeric_column(data, "ni", what="sample size", positive=True)
        if isinstance(data, pd.DataFrame) and {"n1i", "n2i"} <= set(data.columns):
            n1 = numeric_column(data, "n1i", what="group 1 sample size", positive=True)
            n2 = numeric_column(data, "n2i", what="group 2 sample size", positive=True)
            return n1 + n2
        raise DataError(
            "regtest: sample-size predictors need sample sizes; pass ni= (a column name "
            "of the data or an array) or give the data an 'ni' column (or n1i and n2i)",
            column="ni",
        )
    if isinstance(ni, str):
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"regtest: ni={ni!r} names a column but the fit has no data", column=ni)
        require_columns(data, [ni], what="sample size")
        return numeric_column(data, ni, what="sample size", positive=True)
    arr = np.asarray(ni, dtype=float)
    if arr.shape != (k,):
        raise DataError(
            f"regtest: ni must have one value per study used in the fit (k = {k}), "
            f"got shape {arr.shape}",
            column="ni",
        )
    if np.any(~np.isfinite(arr)) or np.any(arr <= 0):
        bad = np.flatnonzero(~np.isfinite(arr) | (arr <= 0))
        raise DataError(
            f"regtest: ni must be finite and > 0; positions {bad.tolist()[:5]} are not",
            column="ni",
        )
    return arr


def regtest(
    res: RMAResult,
    model: Literal["rma", "lm"] = "rma",
    predictor: Literal["sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv"] = "sei",
    *,
    ni: str | Sequence[float] | np.ndarray | None = None,
) -> RegTestResult:
    """Regression test for funnel plot asymmetry (Egger's test; metafor's ``regtest``).

    The predictor (by default the standard error ``sei``) is added to the model matrix
    of ``res``. With ``model="rma"`` the meta-regression is fitted with the same tau²
    estimator and test as ``res`` (Sterne & Egger 2005); with ``model="lm"`` a weighted
    regression ``lm(yi ~ X, weights = 1/vi)`` with multiplicative dispersion (the
    classical Egger et al. 1997 test). The test of the predictor's coefficient is the
    test for asymmetry; for the predictors sei, vi, ninv and sqrtninv in an
    intercept-only model the intercept is the "limit estimate" (the effect expected in
    an infinitely large study).

    Parameters
    ----------
    res : RMAResult
        A fit from :func:`bayesma.rma` (with or without moderators).
    model : {"rma", "lm"}
        Meta-regression (default) or weighted regression.
    predictor : {"sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv"}
        The predictor. The sample-size predictors need ``ni``.
    ni : str or array, optional
        Sample sizes: a column of ``res.data`` or an array with one value per study
        used. Defaults to the data's ``ni`` column, else ``n1i + n2i``.

    Returns
    -------
    RegTestResult

    Warns
    -----
    BayesmaWarning
        For standardized mean differences (``res.measure`` SMD/SMDH) with predictor
        "sei" or "vi": the SE of an SMD depends on the SMD itself, so the test is
        miscalibrated (inflated type I error); Pustejovsky & Rodgers (2019) recommend a
        sample-size-based predictor such as ``predictor="sqrtninv"``. Also when the
        "lm" model has no residual degrees of freedom (NaN statistic, as R).

    Raises
    ------
    TooFewStudiesError
        When the meta-regression has as many coefficients as studies (e.g. k = 2 with
        a random-effects estimator; metafor stops too).
    BayesmaError
        When the model matrix is not of full rank after adding the predictor.

    Notes
    -----
    For SMDs the sei-based test is known to be miscalibrated because the sampling
    variance of Hedges' g contains g² (Pustejovsky & Rodgers 2019, Research Synthesis
    Methods 10:57-71); use ``predictor="sqrtninv"`` (or "ninv") instead.
    """
    require_rma_result(res, "regtest")
    if model not in ("rma", "lm"):
        raise BayesmaError(f"regtest: model must be 'rma' or 'lm', got {model!r}")
    if predictor not in _PREDICTOR_LABELS:
        raise BayesmaError(
            f"regtest: predictor must be one of {', '.join(_PREDICTOR_LABELS)}, got {predictor!r}"
        )
    measure = getattr(res, "measure", None)
    if measure in _SMD_MEASURES and predictor in ("sei", "vi"):
        warnings.warn(
            f"regtest: Egger-type tests with predictor={predictor!r} are miscalibrated for "
            f"standardized mean differences ({measure}): the standard error of an SMD "
            "depends on the estimate, which inflates the type I error. Use "
            "predictor='sqrtninv' (sample-size based; Pustejovsky & Rodgers 2019, Res "
            "Synth Methods 10:57-71).",
            BayesmaWarning,
            stacklevel=2,
        )

    yi = np.asarray(res.yi, dtype=float)
    vi = np.asarray(res.vi, dtype=float)
    X = np.asarray(res.X, dtype=float)
    terms = (
        list(res.terms)
        if getattr(res, "terms", None) is not None
        else [f"x{j}" for j in range(X.shape[1])]
    )
    k, p = X.shape

    # the added predictor (metafor regtest.rma)
    if predictor == "sei":
        col = np.sqrt(vi)
    elif predictor == "vi":
        col = vi
    else:
        n = _sample_sizes(res, ni)
        col = {
            "ni": n,
            "ninv": 1.0 / n,
            "sqrtni": np.sqrt(n),
            "sqrtninv": 1.0 / np.sqrt(n),
        }[predictor]
    Xa = np.column_stack([X, col])
    terms_a = [*terms, predictor]
    if np.linalg.matrix_rank(Xa) < p + 1:
        raise BayesmaError(
            "regtest: the model matrix is no longer of full rank after adding the "
            f"predictor {predictor!r}; cannot fit the model"
        )

    limit_ok = predictor in ("sei", "vi", "ninv", "sqrtninv") and intercept_only(res)
    level = float(res.level)
    nan = float("nan")

    if model == "rma":
        if not getattr(res, "tau2_fixed", False):
            check_estimable(k, p + 1, res.method, "regtest")
        fit = fit_arrays(
            yi,
            vi,
            Xa,
            terms=terms_a,
            method=res.method,
            test=res.test,
            level=level,
            labels=list(res.labels),
            weights=getattr(res, "user_weights", None),
            tau2=res.tau2 if getattr(res, "tau2_fixed", False) else None,
        )
        coef = fit.coef
        stat = float(coef["stat"].iloc[p])
        pval = float(coef["pval"].iloc[p])
        df = fit.df
        stat_name = "z" if df is None else "t"
        if limit_ok:
            est = float(coef["estimate"].iloc[0])
            lo = float(coef["ci_low"].iloc[0])
            hi = float(coef["ci_high"].iloc[0])
        else:
            est = lo = hi = nan
        method: str | None = res.method
    else:
        fit = _wls(yi, vi, Xa, terms_a)
        stat = float(fit.stat[p])
        pval = float(fit.pval[p])
        df = int(fit.df)
        stat_name = "t"
        if df <= 0:
            warnings.warn(
                f"regtest: the weighted regression has {df} residual degrees of freedom "
                f"(k = {k}); the t statistic and p-value are undefined (NaN), as in R",
                BayesmaWarning,
                stacklevel=2,
            )
        if limit_ok:
            est = float(fit.beta[0])
            if df > 0:
                # est +/- qt(1 - alpha/2, df) * se (metafor regtest.rma, model = "lm")
                crit = float(stats.t.ppf(1 - (1 - level) / 2, df))
                lo = est - crit * float(fit.se[0])
                hi = est + crit * float(fit.se[0])
            else:
                lo = hi = nan
        else:
            est = lo = hi = nan
        method = None

    return RegTestResult(
        model=model,
        predictor=predictor,
        stat=stat,
        stat_name=stat_name,
        df=None if df is None else int(df),
        pval=pval,
        limit_estimate=est,
        ci_low=lo,
        ci_high=hi,
        method=method,
        level=level,
        measure=measure,
        fit=fit,
    )


# --------------------------------------------------------------------------------------
# rank correlation test
# --------------------------------------------------------------------------------------

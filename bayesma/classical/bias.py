"""Small-study effects and publication bias: trim-and-fill, Egger-type regression tests,
Begg's rank correlation test and fail-safe N.

Every function reproduces the metafor 3.8 function of the same name:

* :func:`trimfill` — ``trimfill.rma.uni`` (Duval & Tweedie 2000a, 2000b), estimators
  L0 and R0, side chosen from the sign of the sei slope as metafor does;
* :func:`regtest` — ``regtest.rma`` (Egger et al. 1997; Sterne & Egger 2005), with the
  meta-regression ("rma") or weighted least-squares ("lm") variant;
* :func:`ranktest` — ``ranktest.rma`` (Begg & Mazumdar 1994): Kendall's tau between
  standardized effects and variances, exact p without ties (as R's ``cor.test``);
* :func:`fsn` — ``fsn`` (Rosenthal 1979; Orwin 1983; Rosenberg 2005).

Each returns a frozen result object with a ``to_frame()`` view and a readable printout.

References
----------
Begg, C. B., & Mazumdar, M. (1994). Biometrics, 50(4), 1088-1101.
Duval, S., & Tweedie, R. (2000a). JASA, 95(449), 89-98.
Duval, S., & Tweedie, R. (2000b). Biometrics, 56(2), 455-463.
Egger, M., Davey Smith, G., Schneider, M., & Minder, C. (1997). BMJ, 315, 629-634.
Orwin, R. G. (1983). Journal of Educational Statistics, 8(2), 157-159.
Pustejovsky, J. E., & Rodgers, M. A. (2019). Research Synthesis Methods, 10(1), 57-71.
Rosenberg, M. S. (2005). Evolution, 59(2), 464-468.
Rosenthal, R. (1979). Psychological Bulletin, 86(3), 638-641.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from bayesma.data import numeric_column, require_columns
from bayesma.errors import BayesmaError, BayesmaWarning, DataError, TooFewStudiesError

if TYPE_CHECKING:  # pragma: no cover
    from bayesma.classical.rma import RMAResult

__all__ = [
    "FailSafeNResult",
    "RankTestResult",
    "RegTestResult",
    "TrimFillResult",
    "WLSFit",
    "fsn",
    "ranktest",
    "regtest",
    "trimfill",
]

_SMD_MEASURES = ("SMD", "SMDH", "SMD1", "SMD1H", "SMCC", "SMCR", "SMCRH")

_PREDICTOR_LABELS = {
    "sei": "standard error",
    "vi": "sampling variance",
    "ni": "sample size",
    "ninv": "inverse of the sample size",
    "sqrtni": "square root of the sample size",
    "sqrtninv": "inverse of the square root of the sample size",
}


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _require_rma_result(res: Any, func: str) -> None:
    from bayesma.classical.rma import require_rma_result

    require_rma_result(res, func)


def _fit_arrays(*args: Any, **kwargs: Any) -> RMAResult:
    """Late import of :func:`bayesma.classical.rma.fit_arrays` (avoids import cycles)."""
    from bayesma.classical.rma import fit_arrays

    return fit_arrays(*args, **kwargs)


def _is_ee(method: str) -> bool:
    return method.upper() in ("EE", "FE", "CE")


def _check_estimable(k: int, p: int, method: str, what: str) -> None:
    """metafor's rma.uni check: a tau² estimator needs k > p (k = 1 aside)."""
    # metafor rma.uni: stop("Number of parameters to be estimated is larger than the
    # number of observations.") when k - p < 1 for a random-effects estimator.
    if k < p or (k == p and k > 1 and not _is_ee(method)):
        raise TooFewStudiesError(
            f"{what}: number of parameters to be estimated ({p}) is larger than the number "
            f"of observations minus one (k = {k}) for method {method!r}; metafor stops here "
            "too ('Number of parameters to be estimated is larger than the number of "
            "observations'). Use method='EE' or more studies."
        )


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    return f"{x:.{digits}f}"


def _fmt_pv(p: float, digits: int = 4) -> str:
    """A p-value as metafor prints it: ``<.0001`` below 10^-digits."""
    if math.isnan(p):
        return "NA"
    if p < 10.0 ** (-digits):
        return "<" + f"{10.0 ** (-digits):.{digits}f}".lstrip("0")
    return f"{p:.{digits}f}"


def _fmt_p(p: float | None, digits: int = 4) -> str:
    if p is None or math.isnan(p):
        return "p = NA"
    if p < 10.0 ** (-digits):
        return f"p < {10.0 ** (-digits):.{digits}f}"
    return f"p = {p:.{digits}f}"


def _intercept_only(res: RMAResult) -> bool:
    X = np.asarray(res.X, dtype=float)
    return X.shape[1] == 1 and bool(np.all(np.abs(X[:, 0] - 1.0) < 1e-8))


# --------------------------------------------------------------------------------------
# trim and fill
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TrimFillResult:
    """Trim-and-fill analysis (metafor's ``trimfill.rma.uni``).

    Attributes
    ----------
    k0, se_k0 : int, float
        Estimated number of missing studies and its standard error.
    p_k0 : float
        For the R0 estimator, the p-value of H0: no missing studies; NaN for L0.
    side : {"left", "right"}
        The side of the funnel plot on which studies were imputed.
    estimator : {"L0", "R0"}
        The estimator of k0.
    iterations : int
        Iterations of the trim-and-fill algorithm.
    fit : RMAResult
        The model fitted to the filled data (the original fit when ``k0 == 0``).
    filled : DataFrame
        The data after filling, index = study label (``"Filled 1"``, ... for imputed
        studies, which come last), columns ``yi, vi, fill``.
    estimate, se, stat, pval, ci_low, ci_high, tau2, i2, h2, q, q_df, q_pval, k : float/int
        Summary of :attr:`fit` (the filled model), for convenience.
    """

    k0: int
    se_k0: float
    p_k0: float
    side: str
    estimator: str
    iterations: int
    fit: RMAResult = field(repr=False)
    filled: pd.DataFrame = field(repr=False)

    # summaries of the filled fit
    @property
    def k(self) -> int:
        return int(self.fit.k)

    @property
    def estimate(self) -> float:
        return float(self.fit.estimate)

    @property
    def se(self) -> float:
        return float(self.fit.se)

    @property
    def stat(self) -> float:
        return float(self.fit.stat)

    @property
    def pval(self) -> float:
        return float(self.fit.pval)

    @property
    def ci_low(self) -> float:
        return float(self.fit.ci_low)

    @property
    def ci_high(self) -> float:
        return float(self.fit.ci_high)

    @property
    def tau2(self) -> float:
        return float(self.fit.tau2)

    @property
    def se_tau2(self) -> float | None:
        return self.fit.se_tau2

    @property
    def i2(self) -> float:
        return float(self.fit.i2)

    @property
    def h2(self) -> float:
        return float(self.fit.h2)

    @property
    def q(self) -> float:
        return float(self.fit.q)

    @property
    def q_df(self) -> int:
        return int(self.fit.q_df)

    @property
    def q_pval(self) -> float:
        return float(self.fit.q_pval)

    def to_frame(self) -> pd.DataFrame:
        """One-row table: k0, se_k0, side and the filled model's summary."""
        row = {
            "k0": self.k0,
            "se_k0": self.se_k0,
            "side": self.side,
            "estimator": self.estimator,
            "k": self.k,
            "estimate": self.estimate,
            "se": self.se,
            "stat": self.stat,
            "pval": self.pval,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "tau2": self.tau2,
            "i2": self.i2,
            "h2": self.h2,
            "q": self.q,
            "q_pval": self.q_pval,
        }
        return pd.DataFrame([row], index=pd.Index(["trimfill"]))

    def summary(self, digits: int = 4) -> str:
        """A printout in the spirit of metafor's ``print.rma.uni`` for trim-and-fill fits."""
        lines = [
            "Trim-and-fill analysis (Duval & Tweedie 2000)",
            "",
            f"Estimated number of missing studies on the {self.side} side: {self.k0} "
            f"(SE = {_fmt(self.se_k0, digits)}; estimator {self.estimator})",
        ]
        if self.estimator == "R0" and not math.isnan(self.p_k0):
            lines.append(f"Test of H0: no missing studies: {_fmt_p(self.p_k0, digits)}")
        lines.append("")
        if self.k0 == 0:
            lines.append("No studies imputed; the model below is the original fit.")
            lines.append("")
        lines.append(self.fit.summary().strip("\n"))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def trimfill(
    res: RMAResult,
    estimator: Literal["L0", "R0"] = "L0",
    side: Literal["left", "right"] | None = None,
    *,
    maxiter: int = 100,
    ilim: tuple[float, float] | None = None,
) -> TrimFillResult:
    """Trim-and-fill method for funnel plot asymmetry (metafor's ``trimfill``).

    The iterative algorithm of Duval & Tweedie (2000a, 2000b) exactly as
    ``metafor::trimfill.rma.uni``: the data are flipped when ``side == "right"``,
    sorted by effect, and at each iteration the model (same tau² estimator as ``res``)
    is refitted to the k - k0 smallest effects; k0 is re-estimated from the signed
    ranks of the centered effects until it stops changing. The k0 most extreme studies
    are then mirrored around the truncated-data estimate and the model is refitted on
    the original plus the imputed studies.

    Parameters
    ----------
    res : RMAResult
        An intercept-only fit (from :func:`bayesma.rma`).
    estimator : {"L0", "R0"}
        Estimator of the number of missing studies (Duval & Tweedie 2000a).
    side : {"left", "right"}, optional
        Side on which studies are missing. By default chosen as metafor does: the
        slope of the standard error in a meta-regression ``yi ~ sei`` (same method as
        ``res``) is negative -> "right", else "left".
    maxiter : int
        Maximum number of iterations.
    ilim : (float, float), optional
        Limits for the imputed effects (metafor's ``ilim``).

    Returns
    -------
    TrimFillResult

    Raises
    ------
    TooFewStudiesError
        For k = 1, or when the side regression cannot be fitted (k = 2 with a
        random-effects estimator, as metafor).
    BayesmaError
        For models with moderators, or when the algorithm does not converge.

    Notes
    -----
    The filled model uses the test and level of ``res`` (metafor's refit uses its
    default z test and 95% level unless passed explicitly; identical for z-test fits).
    """
    _require_rma_result(res, "trimfill")
    if not _intercept_only(res):
        raise BayesmaError("trimfill: only applicable to models without moderators")
    if estimator not in ("L0", "R0"):
        raise BayesmaError(f"trimfill: estimator must be 'L0' or 'R0', got {estimator!r}")
    if res.k == 1:
        raise TooFewStudiesError("trimfill: stopped because k = 1")

    yi0 = np.asarray(res.yi, dtype=float)
    vi0 = np.asarray(res.vi, dtype=float)
    k = len(yi0)
    method = res.method
    uw = getattr(res, "user_weights", None)
    wi0 = None if uw is None else np.asarray(uw, dtype=float)

    # side: sign of the sei slope, metafor trimfill.rma.uni (rma(yi, vi, mods=sqrt(vi)))
    if side is None:
        _check_estimable(k, 2, method, "trimfill (choosing the side)")
        Xs = np.column_stack([np.ones(k), np.sqrt(vi0)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sfit = _fit_arrays(
                yi0,
                vi0,
                Xs,
                terms=["intrcpt", "sei"],
                method=method,
                test="z",
                level=res.level,
                weights=wi0,
            )
        side = "right" if float(np.asarray(sfit.beta)[1]) < 0 else "left"
    elif side not in ("left", "right"):
        raise BayesmaError(f"trimfill: side must be 'left' or 'right', got {side!r}")

    # flip if examining the right side, then sort by increasing yi (R's sort is stable)
    yi = -yi0 if side == "right" else yi0.copy()
    ix = np.argsort(yi, kind="stable")
    yi = yi[ix]
    vi = vi0[ix]
    wi = None if wi0 is None else wi0[ix]

    k0_sav = -1
    k0 = 0
    iterations = 0
    se_k0 = float("nan")
    beta = float("nan")
    yi_c = yi
    while abs(k0 - k0_sav) > 0:
        k0_sav = k0
        iterations += 1
        if iterations > maxiter:
            raise BayesmaError(f"trimfill: the algorithm did not converge in {maxiter} iterations")
        # truncated data: the k - k0 smallest effects
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tfit = _fit_arrays(
                yi[: k - k0],
                vi[: k - k0],
                None,
                method=method,
                test="z",
                level=res.level,
                weights=None if wi is None else wi[: k - k0],
            )
        beta = float(np.asarray(tfit.beta)[0])
        yi_c = yi - beta  # centered values
        # ranks of |centered| with ties.method="first" (R rank)
        order = np.argsort(np.abs(yi_c), kind="stable")
        ranks = np.empty(k, dtype=float)
        ranks[order] = np.arange(1, k + 1)
        signed = np.sign(yi_c) * ranks
        if estimator == "R0":
            # R0 = gamma* - 1, gamma* = length of the rightmost run of positive ranks
            # (Duval & Tweedie 2000a, eq. 5; metafor trimfill.rma.uni)
            neg = -signed[signed < 0]
            k0_raw = (k - (neg.max() if neg.size else 0.0)) - 1
            se_k0 = math.sqrt(2 * max(0.0, k0_raw) + 2)
        else:
            # L0 = (4 Sr - k(k+1)) / (2k - 1), Sr = sum of positive signed ranks
            # (Duval & Tweedie 2000a, eq. 6; variance as metafor trimfill.rma.uni)
            sr = float(signed[signed > 0].sum())
            k0_raw = (4 * sr - k * (k + 1)) / (2 * k - 1)
            var_sr = (
                k * (k + 1) * (2 * k + 1)
                + 10 * k0_raw**3
                + 27 * k0_raw**2
                + 17 * k0_raw
                - 18 * k * k0_raw**2
                - 18 * k * k0_raw
                + 6 * k**2 * k0_raw
            ) / 24
            se_k0 = 4 * math.sqrt(var_sr) / (2 * k - 1) if var_sr >= 0 else float("nan")
        # R's round() rounds half to even, as Python's round()
        k0 = max(0, int(round(k0_raw)))
        se_k0 = max(0.0, se_k0) if not math.isnan(se_k0) else se_k0

    labels = list(res.labels)
    if k0 > 0:
        # mirror the k0 most extreme studies around the truncated estimate
        yi_c = -(yi_c - beta) if side == "right" else yi_c - beta
        imputed = -yi_c[k - k0 :]
        if ilim is not None:
            lo, hi = sorted(ilim)
            imputed = np.clip(imputed, lo, hi)
        yi_fill = np.concatenate([yi0, imputed])
        vi_fill = np.concatenate([vi0, vi[k - k0 :]])
        fill_labels = [*labels, *(f"Filled {j + 1}" for j in range(k0))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = _fit_arrays(
                yi_fill,
                vi_fill,
                None,
                method=method,
                test=res.test,
                level=res.level,
                labels=fill_labels,
                weights=None if wi is None else np.concatenate([wi0, wi[k - k0 :]]),
                measure=getattr(res, "measure", None),
            )
    else:
        yi_fill, vi_fill, fill_labels = yi0, vi0, labels
        fit = res
    fill = np.r_[np.zeros(k, dtype=bool), np.ones(k0, dtype=bool)]
    filled = pd.DataFrame(
        {"yi": yi_fill, "vi": vi_fill, "fill": fill},
        index=pd.Index(fill_labels, name="study"),
    )

    if estimator == "R0":
        # P(R0 >= k0) under H0 (metafor: 1 - sum(choose(m+1, m+1) 0.5^(m+2)), m = -1..k0-1)
        m = np.arange(-1, k0)
        p_k0 = float(1 - np.sum(0.5 ** (m + 2)))
    else:
        p_k0 = float("nan")

    return TrimFillResult(
        k0=k0,
        se_k0=float(se_k0),
        p_k0=p_k0,
        side=side,
        estimator=estimator,
        iterations=iterations,
        fit=fit,
        filled=filled,
    )


# --------------------------------------------------------------------------------------
# Egger-type regression test
# --------------------------------------------------------------------------------------


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
                if self.method is not None and _is_ee(self.method)
                else "mixed-effects meta-regression model"
            )
        else:
            kind = "weighted regression with multiplicative dispersion"
        stat = f"{self.stat_name} = {_fmt(self.stat, digits)}"
        if self.stat_name == "t":
            stat = f"t = {_fmt(self.stat, digits)}, df = {self.df}"
        lines = [
            "Regression Test for Funnel Plot Asymmetry",
            "",
            f"Model:     {kind}",
            f"Predictor: {_PREDICTOR_LABELS.get(self.predictor, self.predictor)}",
            "",
            f"Test for Funnel Plot Asymmetry: {stat}, {_fmt_p(self.pval, digits)}",
        ]
        if not math.isnan(self.limit_estimate):
            lines.append(
                f"Limit Estimate (as {self.predictor} -> 0):   b = "
                f"{_fmt(self.limit_estimate, digits)} (CI: {_fmt(self.ci_low, digits)}, "
                f"{_fmt(self.ci_high, digits)})"
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
    _require_rma_result(res, "regtest")
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

    limit_ok = predictor in ("sei", "vi", "ninv", "sqrtninv") and _intercept_only(res)
    level = float(res.level)
    nan = float("nan")

    if model == "rma":
        if not getattr(res, "tau2_fixed", False):
            _check_estimable(k, p + 1, res.method, "regtest")
        fit = _fit_arrays(
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


@dataclass(frozen=True)
class RankTestResult:
    """Begg & Mazumdar's rank correlation test (metafor's ``ranktest``).

    Attributes
    ----------
    tau : float
        Kendall's tau (tau-b) between standardized effects and sampling variances.
    pval : float
        Two-sided p-value: exact without ties, normal approximation with ties.
    exact : bool
        Whether the exact null distribution was used.
    ties : bool
        Whether there were ties.
    stat : float
        The statistic: the number of concordant pairs T (exact) or z (approximation).
    k : int
        Number of studies.
    """

    tau: float
    pval: float
    exact: bool
    ties: bool
    stat: float
    k: int

    def to_frame(self) -> pd.DataFrame:
        """One-row table: tau, pval, exact, ties, stat, k."""
        return pd.DataFrame(
            [
                {
                    "tau": self.tau,
                    "pval": self.pval,
                    "exact": self.exact,
                    "ties": self.ties,
                    "stat": self.stat,
                    "k": self.k,
                }
            ],
            index=pd.Index(["ranktest"]),
        )

    def summary(self, digits: int = 4) -> str:
        """A printout like metafor's ``print.ranktest``."""
        how = "exact" if self.exact else "normal approximation (ties present)"
        return "\n".join(
            [
                "Rank Correlation Test for Funnel Plot Asymmetry",
                "",
                f"Kendall's tau = {_fmt(self.tau, digits)}, {_fmt_p(self.pval, digits)} ({how})",
            ]
        )

    def __str__(self) -> str:
        return self.summary()


@cache
def _kendall_counts(n: int) -> tuple[int, ...]:
    """Number of permutations of n items with j inversions, j = 0..n(n-1)/2 (Mahonian)."""
    counts = [1]
    for m in range(2, n + 1):
        new = [0] * (len(counts) + m - 1)
        # convolution with (1 + x + ... + x^(m-1)) via running window sums
        window = 0
        for j in range(len(new)):
            if j < len(counts):
                window += counts[j]
            if j - m >= 0 and j - m < len(counts):
                window -= counts[j - m]
            new[j] = window
        counts = new
    return tuple(counts)


def _pkendall(q: int, n: int) -> float:
    """P(T <= q) for the number T of concordant pairs under independence (R's pkendall)."""
    counts = _kendall_counts(n)
    if q < 0:
        return 0.0
    if q >= len(counts) - 1:
        return 1.0
    return sum(counts[: q + 1]) / math.factorial(n)


def _kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b (R's ``cor(x, y, method = "kendall")``)."""
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    iu = np.triu_indices(len(x), 1)
    sx, sy = dx[iu], dy[iu]
    s = float(np.sum(sx * sy))
    denom = math.sqrt(float(np.sum(sx != 0)) * float(np.sum(sy != 0)))
    return s / denom if denom > 0 else float("nan")


def _tie_counts(x: np.ndarray) -> np.ndarray:
    _, c = np.unique(x, return_counts=True)
    return c[c > 1].astype(float)


def ranktest(res: RMAResult, *, exact: bool = True) -> RankTestResult:
    """Rank correlation test for funnel plot asymmetry (Begg & Mazumdar 1994).

    As ``metafor::ranktest``: the effects are standardized as
    ``(yi - b) / sqrt(vi - vb)`` with ``b``, ``vb`` the equal-effects estimate and its
    variance, and Kendall's tau with the sampling variances ``vi`` is tested with R's
    ``cor.test(..., method = "kendall", exact = TRUE)``: the exact null distribution
    when there are no ties, otherwise the normal approximation with the tie-corrected
    variance of S (and a warning, as R).

    Parameters
    ----------
    res : RMAResult
        A fit from :func:`bayesma.rma` (only its ``yi`` and ``vi`` are used).
    exact : bool
        Use the exact p-value when there are no ties (R's default here).

    Returns
    -------
    RankTestResult

    Warns
    -----
    BayesmaWarning
        When ties prevent the exact p-value and the normal approximation is used.
    """
    _require_rma_result(res, "ranktest")
    yi = np.asarray(res.yi, dtype=float)
    vi = np.asarray(res.vi, dtype=float)
    n = len(yi)
    if n < 2:
        raise TooFewStudiesError(f"ranktest needs at least 2 studies, got k = {n}")
    # equal-effects estimate and its variance (metafor ranktest: rma(yi, vi, method="EE"))
    w = 1.0 / vi
    b = float(np.sum(w * yi) / np.sum(w))
    vb = float(1.0 / np.sum(w))
    # standardized effects (Begg & Mazumdar 1994, eq. 1): (yi - b) / sqrt(vi - vb)
    ystar = (yi - b) / np.sqrt(vi - vb)
    tau = _kendall_tau_b(ystar, vi)
    ties = min(len(np.unique(ystar)), len(np.unique(vi))) < n
    if not np.isfinite(tau):
        return RankTestResult(
            tau=float("nan"), pval=float("nan"), exact=False, ties=ties, stat=float("nan"), k=n
        )
    if exact and not ties:
        # exact: q = round((r + 1) n (n - 1) / 4), two-sided (R cor.test, C_pKendall)
        q = int(round((tau + 1) * n * (n - 1) / 4))
        if q > n * (n - 1) / 4:
            p = 1 - _pkendall(q - 1, n)
        else:
            p = _pkendall(q, n)
        return RankTestResult(
            tau=tau, pval=min(2 * p, 1.0), exact=True, ties=False, stat=float(q), k=n
        )
    # normal approximation with tie-corrected var(S) (R cor.test, Kendall 1970)
    xt = _tie_counts(ystar)
    yt = _tie_counts(vi)
    t0 = n * (n - 1) / 2
    t1 = float(np.sum(xt * (xt - 1)) / 2)
    t2 = float(np.sum(yt * (yt - 1)) / 2)
    s = tau * math.sqrt((t0 - t1) * (t0 - t2))
    v0 = n * (n - 1) * (2 * n + 5)
    vt = float(np.sum(xt * (xt - 1) * (2 * xt + 5)))
    vu = float(np.sum(yt * (yt - 1) * (2 * yt + 5)))
    v1 = float(np.sum(xt * (xt - 1))) * float(np.sum(yt * (yt - 1)))
    v2 = float(np.sum(xt * (xt - 1) * (xt - 2))) * float(np.sum(yt * (yt - 1) * (yt - 2)))
    var_s = (v0 - vt - vu) / 18 + v1 / (2 * n * (n - 1))
    if n > 2:
        var_s += v2 / (9 * n * (n - 1) * (n - 2))
    z = s / math.sqrt(var_s)
    pval = float(2 * min(stats.norm.cdf(z), stats.norm.sf(z)))
    if exact and ties:
        warnings.warn(
            "ranktest: cannot compute the exact p-value with ties (R: 'Cannot compute exact "
            "p-value with ties'); using the normal approximation",
            BayesmaWarning,
            stacklevel=2,
        )
    return RankTestResult(tau=tau, pval=pval, exact=False, ties=ties, stat=z, k=n)


# --------------------------------------------------------------------------------------
# fail-safe N
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailSafeNResult:
    """Fail-safe N (metafor's ``fsn``).

    Attributes
    ----------
    type : {"Rosenthal", "Orwin", "Rosenberg"}
        The approach.
    fsnum : float
        The fail-safe number (an integer, or ``inf`` for Orwin with a target of the
        wrong sign).
    alpha : float
        Significance level (Rosenthal, Rosenberg).
    pval : float
        p-value of the observed studies (Rosenthal: one-sided Stouffer; Rosenberg:
        two-sided z of the weighted mean); NaN for Orwin.
    meanes : float
        Mean effect (Orwin: unweighted; Rosenberg: inverse-variance weighted); NaN for
        Rosenthal.
    target : float
        Orwin's target effect; NaN otherwise.
    k : int
        Number of studies.
    """

    type: str
    fsnum: float
    alpha: float
    pval: float
    meanes: float
    target: float
    k: int

    def to_frame(self) -> pd.DataFrame:
        """One-row table of the fields."""
        return pd.DataFrame(
            [
                {
                    "type": self.type,
                    "fsnum": self.fsnum,
                    "alpha": self.alpha,
                    "pval": self.pval,
                    "meanes": self.meanes,
                    "target": self.target,
                    "k": self.k,
                }
            ],
            index=pd.Index(["fsn"]),
        )

    def summary(self, digits: int = 4) -> str:
        """A printout like metafor's ``print.fsn``."""
        n = "Inf" if math.isinf(self.fsnum) else f"{int(self.fsnum)}"
        lines = [f"Fail-safe N Calculation Using the {self.type} Approach", ""]
        if self.type == "Rosenthal":
            lines += [
                f"Observed Significance Level: {_fmt_pv(self.pval, digits)}",
                f"Target Significance Level:   {self.alpha:g}",
            ]
        elif self.type == "Orwin":
            lines += [
                f"Average Effect Size: {_fmt(self.meanes, digits)}",
                f"Target Effect Size:  {_fmt(self.target, digits)}",
            ]
        else:
            lines += [
                f"Average Effect Size:         {_fmt(self.meanes, digits)}",
                f"Observed Significance Level: {_fmt_pv(self.pval, digits)}",
                f"Target Significance Level:   {self.alpha:g}",
            ]
        lines += ["", f"Fail-safe N: {n}"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def fsn(
    data: pd.DataFrame | RMAResult,
    yi: str = "yi",
    vi: str = "vi",
    *,
    sei: str | None = None,
    type: Literal["Rosenthal", "Orwin", "Rosenberg"] = "Rosenthal",  # noqa: A002
    alpha: float = 0.05,
    target: float | None = None,
) -> FailSafeNResult:
    """Fail-safe N: how many null studies would overturn the result (metafor's ``fsn``).

    Parameters
    ----------
    data : DataFrame or RMAResult
        The study table (with columns ``yi`` and ``vi`` or ``sei``), or a fit whose
        ``yi``/``vi`` are used.
    yi, vi : str
        Column names of the effects and sampling variances.
    sei : str, optional
        Column of standard errors, used when given instead of ``vi``.
    type : {"Rosenthal", "Orwin", "Rosenberg"}
        Rosenthal (1979): studies with z = 0 needed to make Stouffer's combined
        one-sided p exceed ``alpha``. Orwin (1983): studies with effect 0 needed to
        bring the unweighted mean effect down to ``target`` (default half the mean).
        Rosenberg (2005): studies needed to make the inverse-variance weighted mean
        non-significant at ``alpha`` (two-sided).
    alpha : float
        Target significance level.
    target : float, optional
        Orwin's target effect size.

    Returns
    -------
    FailSafeNResult

    Notes
    -----
    Fail-safe N ignores heterogeneity and the size of the effect and is widely
    discouraged as a bias assessment; prefer :func:`regtest` and :func:`trimfill`.
    """
    if type not in ("Rosenthal", "Orwin", "Rosenberg"):
        raise BayesmaError(f"fsn: type must be 'Rosenthal', 'Orwin' or 'Rosenberg', got {type!r}")
    if not 0 < alpha < 1:
        raise BayesmaError(f"fsn: alpha must be in (0, 1), got {alpha}")
    if isinstance(data, pd.DataFrame):
        y = numeric_column(data, yi, what="effect sizes")
        if sei is not None:
            v = numeric_column(data, sei, what="standard errors", positive=True) ** 2
        else:
            v = numeric_column(data, vi, what="sampling variances", positive=True)
    elif hasattr(data, "yi") and hasattr(data, "vi"):
        y = np.asarray(data.yi, dtype=float)
        v = np.asarray(data.vi, dtype=float)
    else:
        raise DataError(
            f"fsn: data must be a DataFrame or an rma result, got {data.__class__.__name__}"
        )
    k = len(y)
    if k < 1:
        raise TooFewStudiesError("fsn needs at least 1 study")
    nan = float("nan")

    if type == "Rosenthal":
        # Stouffer: z = |sum(zi)| / sqrt(k); N = k (z / z_alpha)^2 - k (Rosenthal 1979)
        zi = y / np.sqrt(v)
        z_avg = abs(float(np.sum(zi)) / math.sqrt(k))
        pval = float(stats.norm.sf(z_avg))
        fsnum = float(math.ceil(max(0.0, k * (z_avg / stats.norm.isf(alpha)) ** 2 - k)))
        return FailSafeNResult("Rosenthal", fsnum, alpha, pval, nan, nan, k)
    if type == "Orwin":
        # N = k (mean - target) / target (Orwin 1983), unweighted mean as metafor 3.8
        meanes = float(np.mean(y))
        tgt = meanes / 2 if target is None else float(target)
        if tgt == 0 or np.sign(tgt) != np.sign(meanes):
            fsnum = float("inf")
        else:
            fsnum = float(math.ceil(max(0.0, k * (meanes - tgt) / tgt)))
        return FailSafeNResult("Orwin", fsnum, alpha, nan, meanes, tgt, k)
    # Rosenberg (2005): weighted mean; N = k * w.p / sum(w) with
    # w.p = (sum(w y) / z_{alpha/2})^2 - sum(w)
    w = 1.0 / v
    meanes = float(np.sum(w * y) / np.sum(w))
    zval = meanes / math.sqrt(1.0 / float(np.sum(w)))
    w_p = (float(np.sum(w * y)) / stats.norm.isf(alpha / 2)) ** 2 - float(np.sum(w))
    pval = float(2 * stats.norm.sf(abs(zval)))
    fsnum = float(math.ceil(max(0.0, k * w_p / float(np.sum(w)))))
    return FailSafeNResult("Rosenberg", fsnum, alpha, pval, meanes, nan, k)

"""The numbers of an ``rma`` fit given tau² (metafor 3.8-1 ``rma.uni``).

* coefficients by weighted least squares with ``w = 1/(vi + tau²)``
  (Hedges & Olkin 1985; Raudenbush 2009), ``vcov = (X'WX)^-1``; for ``GENQ`` the
  coefficients use the user weights ``a`` with the sandwich
  ``(X'AX)^-1 X'A M A X (X'AX)^-1``, ``M = diag(vi + tau²)``;
* ``test="t"``: t(k - p) reference distribution; ``test="knha"``: Knapp & Hartung (2003),
  Statistics in Medicine 22, 2693-2710, with metafor's *untruncated* scale factor
  ``s² = sum w (y - Xb)² / (k - p)`` (set to 0 when the weighted RSS is <= machine eps);
  ``test="adhoc"``: metafor 3.8's modified Knapp-Hartung, the same with ``max(1, s²)``
  (Knapp & Hartung 2003, sec. 3; Röver, Knapp & Friede 2015, BMC Med Res Methodol 15, 99);
  under ``t``, ``knha`` and ``adhoc`` the omnibus test is ``F = QM / m`` on (m, k - p) df;
* heterogeneity: Cochran's Q with fixed-effect weights (residual QE for meta-regression);
  I² and H² with the typical within-study variance ``(k - p) / tr(P)`` (Higgins &
  Thompson 2002, eq. 9; metafor's ``i2def = "1"``); for EE models ``I² = (Q - df)/Q`` and
  ``H² = Q/df``;
* pseudo-R² (Raudenbush 2009): ``max(0, (tau²_RE - tau²_ME) / tau²_RE) x 100`` with the
  intercept-only model fitted with the same estimator (0 if ``tau²_RE`` is 0); for EE
  models the adjusted R² of the weighted least-squares regression, as metafor;
* fit statistics as metafor's ``rma.uni`` (its ``fit.stats``): ML and REML
  log-likelihoods at the estimate (REML with the ``+ 1/2 log|X'X|`` term, metafor's
  ``REMLf = TRUE``), ``dev.ML = -2 (ll.ML - ll.saturated)``, ``dev.REML = -2 ll.REML``,
  AIC/BIC/AICc counting ``p`` coefficients plus tau² for random-effects models (not for
  EE or a fixed tau²); BIC and AICc under REML use ``k - p`` observations;
* prediction interval (metafor's ``predict.rma``): ``pred ± crit sqrt(tau² + se²)`` with
  ``crit`` from N(0,1) for ``test="z"``, from t(k - p) for ``t``, ``knha``, ``adhoc``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from operator import mul
from typing import Any

import numpy as np

from bayesma.classical.tau2 import estimate_tau2
from bayesma.tails import chi2_sf, f_sf, norm_isf, norm_sf, t_isf, t_sf

__all__ = ["information_criteria", "model_numbers"]

_LOG2PI = float(np.log(2 * np.pi))
_EPS = float(np.finfo(float).eps)


def model_numbers(
    y: np.ndarray,
    v: np.ndarray,
    Xm: np.ndarray,
    t2: float,
    *,
    method: str,
    test: str,
    level: float,
    uw: np.ndarray | None,
    intercept: bool,
    tau2_fixed: bool,
    tol: float = 1e-12,
    maxiter: int = 10000,
) -> dict[str, Any]:
    """Coefficients, tests, heterogeneity, fit statistics and weights at tau² = ``t2``.

    Returns a dict of the :class:`~bayesma.classical.rma.RMAResult` fields computed
    here (``beta, vcov, coef, ..., scale, weights``).
    """
    k, p = Xm.shape
    int_only = p == 1 and intercept
    if int_only and uw is None:
        return _intercept_numbers(y, v, t2, method=method, test=test, level=level,
                                  tau2_fixed=tau2_fixed)
    # coefficients
    w = 1.0 / (v + t2)
    XtW = Xm.T * w
    A_w = _inv(XtW @ Xm)
    b_w = A_w @ (XtW @ y)
    if uw is None:
        beta, vb = b_w, A_w
    else:
        XtA = Xm.T * uw
        A_a = _inv(XtA @ Xm)
        beta = A_a @ (XtA @ y)
        B = (XtA * (v + t2)) @ XtA.T
        vb = A_a @ B @ A_a
    resid_f = y - Xm @ beta
    rss_f = float((w * resid_f**2).sum())
    scale = 1.0
    if test in ("knha", "adhoc"):
        rss_knha = float((w * (y - Xm @ b_w) ** 2).sum())
        scale = 0.0 if rss_knha <= np.finfo(float).eps else rss_knha / (k - p)
        if test == "adhoc":  # metafor 3.8 rma.uni: s2w[s2w < 1] <- 1
            scale = max(1.0, scale)
        vb = scale * vb
    df = k - p if test in ("t", "knha", "adhoc") else None
    se = np.sqrt(np.diag(vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = beta / se
    if df is None:
        pval = 2 * norm_sf(np.abs(zval))
        crit = float(norm_isf((1 - level) / 2))
    elif df > 0:
        pval = 2 * t_sf(np.abs(zval), df)
        crit = float(t_isf((1 - level) / 2, df))
    else:
        pval = np.full(p, np.nan)
        crit = float("nan")
    ci_lb = beta - crit * se
    ci_ub = beta + crit * se

    # omnibus moderator test
    qm = qm_df = qm_p = None
    if not int_only:
        btt = list(range(1, p)) if intercept else list(range(p))
        bb = beta[btt]
        try:
            qm = float(bb @ np.linalg.solve(vb[np.ix_(btt, btt)], bb))
        except np.linalg.LinAlgError:
            qm = float("nan")
        m = len(btt)
        if df is None:
            qm_df = m
            qm_p = float(chi2_sf(qm, m))
        else:
            qm = qm / m
            qm_df = (m, k - p)
            qm_p = float(f_sf(qm, m, k - p)) if k - p > 0 else float("nan")

    # heterogeneity (fixed-effect weights; metafor uses the centred yi)
    if k > p:
        wf = 1.0 / v
        ymc = y - y.mean()
        XtWf = Xm.T * wf
        Af = _inv(XtWf @ Xm)
        rf = ymc - Xm @ (Af @ (XtWf @ ymc))
        qe = max(0.0, float((wf * rf * rf).sum()))
        qe_p = float(chi2_sf(qe, k - p))
        trP = float(wf.sum() - (Af * ((Xm.T * wf**2) @ Xm)).sum())
        vt = (k - p) / trP
        if method == "EE":
            # R: max(0, 100 * (QE - df) / QE), which is 0 when QE = 0 (-Inf)
            i2 = 0.0 if qe <= 0 else max(0.0, 100 * (qe - (k - p)) / qe)
            h2 = qe / (k - p)
        else:
            i2 = 100 * t2 / (vt + t2)
            h2 = t2 / vt + 1
    else:
        qe, qe_p, i2, h2 = 0.0, 1.0, 0.0, 1.0

    # fit statistics
    parms = p + (0 if (method == "EE" or tau2_fixed) else 1)
    sum_log = float(np.log(v + t2).sum())
    ll_ml = -0.5 * k * _LOG2PI - 0.5 * sum_log - 0.5 * rss_f
    ll_reml = (
        -0.5 * (k - p) * _LOG2PI
        + 0.5 * _logdet(Xm.T @ Xm)
        - 0.5 * sum_log
        - 0.5 * _logdet(XtW @ Xm)
        - 0.5 * rss_f
    )
    if k > p:
        ll_sat = float((-0.5 * (_LOG2PI + np.log(v))).sum())
        dev_ml = -2 * (ll_ml - ll_sat)
    else:
        dev_ml = 0.0
    dev_reml = -2 * ll_reml
    # rows ll, dev, AIC, BIC, AICc; columns ML, REML (RMAResult.fit_stats)
    fs = np.array([information_criteria(ll_ml, dev_ml, parms, k),
                   information_criteria(ll_reml, dev_reml, parms, k - p)]).T

    # pseudo-R²
    r2 = None
    if not int_only and intercept:
        if method == "EE":
            r2 = _r2_ee(y, Xm, 1.0 / v if uw is None else uw)
        else:
            if tau2_fixed:
                r2 = None
            else:
                try:
                    t2_re = estimate_tau2(
                        y, v, None, method, weights=uw, tol=tol, maxiter=maxiter
                    ).tau2
                except Exception:  # metafor: NA if the reduced model fails
                    t2_re = float("nan")
                if t2_re == 0:
                    r2 = 0.0
                else:
                    r2 = float(max(0.0, 100 * (t2_re - t2) / t2_re))

    # prediction interval (intercept-only)
    pi_low = pi_high = None
    if int_only:
        pis = np.sqrt(t2 + se[0] ** 2)
        pi_low = float(beta[0] - crit * pis)
        pi_high = float(beta[0] + crit * pis)

    wts = uw if uw is not None else w
    wpct = 100 * wts / wts.sum()
    return {
        "coef_values": np.column_stack([beta, se, zval, pval, ci_lb, ci_ub]),
        "beta": beta,
        "vcov": vb,
        "se": se,
        "zval": zval,
        "pval": pval,
        "ci_lb": ci_lb,
        "ci_ub": ci_ub,
        "df": df,
        "qm": qm,
        "qm_df": qm_df,
        "qm_pval": qm_p,
        "q": qe,
        "q_pval": qe_p,
        "i2": i2,
        "h2": h2,
        "fit_stats_values": fs,
        "r2": r2,
        "pi_low": pi_low,
        "pi_high": pi_high,
        "weights": wpct,
        "scale": scale,
    }


def _intercept_numbers(
    y: np.ndarray, v: np.ndarray, t2: float, *, method: str, test: str, level: float,
    tau2_fixed: bool,
) -> dict[str, Any]:
    """:func:`model_numbers` of an intercept-only model without user weights, in sums.

    The same formulas with ``X = 1``: ``beta = sum w y / sum w``, ``var = 1 / sum w``,
    ``log|X'X| = log k``, ``log|X'WX| = log sum w``, ``tr P = sum 1/v - sum 1/v² / sum 1/v``
    for I² (Higgins & Thompson 2002); no moderator test and no R². The coefficient table
    is returned as ``coef_values`` only (no per-column arrays).
    """
    k = y.size
    w, sw, beta, rss, sum_log, sum_log_v, qe, trP = _intercept_sums(y, v, t2)
    var = 1.0 / sw
    scale = 1.0
    if test in ("knha", "adhoc"):
        scale = 0.0 if rss <= _EPS else rss / (k - 1)
        if test == "adhoc":  # metafor 3.8 rma.uni: s2w[s2w < 1] <- 1
            scale = max(1.0, scale)
        var = scale * var
    df = k - 1 if test in ("t", "knha", "adhoc") else None
    se = math.sqrt(var)
    if se > 0:
        z = beta / se
    else:  # numpy's beta / 0
        z = math.copysign(math.inf, beta) if beta != 0 else math.nan
    if df is None:
        pval = 2.0 * float(norm_sf(abs(z)))
    elif df > 0:
        pval = 2.0 * float(t_sf(abs(z), df))
    else:
        pval = math.nan
    crit = _crit(level, df)

    if k > 1:
        qe_p = float(chi2_sf(qe, k - 1))
        vt_typ = (k - 1) / trP  # the typical within-study variance
        if method == "EE":
            i2 = 0.0 if qe <= 0 else max(0.0, 100 * (qe - (k - 1)) / qe)
            h2 = qe / (k - 1)
        else:
            i2 = 100 * t2 / (vt_typ + t2)
            h2 = t2 / vt_typ + 1
    else:
        qe, qe_p, i2, h2 = 0.0, 1.0, 0.0, 1.0

    parms = 1 + (0 if (method == "EE" or tau2_fixed) else 1)
    ll_ml = -0.5 * k * _LOG2PI - 0.5 * sum_log - 0.5 * rss
    ll_reml = (-0.5 * (k - 1) * _LOG2PI + 0.5 * math.log(k) - 0.5 * sum_log
               - 0.5 * math.log(sw) - 0.5 * rss)
    if k > 1:
        ll_sat = -0.5 * k * _LOG2PI - 0.5 * sum_log_v
        dev_ml = -2 * (ll_ml - ll_sat)
    else:
        dev_ml = 0.0
    fs = np.array([information_criteria(ll_ml, dev_ml, parms, k),
                   information_criteria(ll_reml, -2 * ll_reml, parms, k - 1)]).T
    pis = math.sqrt(t2 + se * se)
    return {
        "coef_values": np.array([[beta, se, z, pval, beta - crit * se, beta + crit * se]]),
        "beta": np.array([beta]),
        "vcov": np.array([[var]]),
        "df": df,
        "qm": None,
        "qm_df": None,
        "qm_pval": None,
        "q": qe,
        "q_pval": qe_p,
        "i2": i2,
        "h2": h2,
        "fit_stats_values": fs,
        "r2": None,
        "pi_low": beta - crit * pis,
        "pi_high": beta + crit * pis,
        "weights": 100 * w / sw,
        "scale": scale,
    }


def _intercept_sums(y: np.ndarray, v: np.ndarray, t2: float) -> tuple:
    """The sums of :func:`_intercept_numbers`: ``w``, ``sum w``, ``beta``, ``sum w (y -
    beta)²``, ``sum log(v + tau²)``, ``sum log v``, Cochran's Q with the fixed-effect
    weights ``wf = 1/v`` on the centred ``y`` (as metafor) and ``tr P`` with ``wf``.

    Up to 30 studies as loops over Python floats (cheaper than numpy calls there)."""
    k = y.size
    if k > 30:
        vt = v + t2
        w = 1.0 / vt
        sw = float(w.sum())
        beta = (1.0 / sw) * float(w @ y)
        r = y - beta
        rss = float(w @ (r * r))
        wf = 1.0 / v
        swf = float(wf.sum())
        ymc = y - float(y.sum()) / k
        rf = ymc - (1.0 / swf) * float(wf @ ymc)
        qe = max(0.0, float(wf @ (rf * rf)))
        trP = swf - float(wf @ wf) / swf
        return (w, sw, beta, rss, float(np.log(vt).sum()), float(np.log(v).sum()), qe, trP)
    yl, vl = y.tolist(), v.tolist()
    vt = [x + t2 for x in vl]
    ws = [1.0 / x for x in vt]
    sw = math.fsum(ws)
    beta = (1.0 / sw) * math.fsum(map(mul, ws, yl))
    rss = math.fsum([w * (yi - beta) ** 2 for w, yi in zip(ws, yl, strict=True)])
    wf = [1.0 / x for x in vl]
    swf = math.fsum(wf)
    ybar = math.fsum(yl) / k
    ymc = [yi - ybar for yi in yl]
    mf = (1.0 / swf) * math.fsum(map(mul, wf, ymc))
    qe = max(0.0, math.fsum([w * (yi - mf) ** 2 for w, yi in zip(wf, ymc, strict=True)]))
    trP = swf - math.fsum(map(mul, wf, wf)) / swf
    return (np.array(ws), sw, beta, rss, math.fsum(map(math.log, vt)),
            math.fsum(map(math.log, vl)), qe, trP)


@lru_cache(maxsize=64)
def _crit(level: float, df: int | None) -> float:
    """Two-sided critical value: N(0,1) (``df`` None), t(df) (df > 0), else NaN."""
    if df is None:
        return float(norm_isf((1 - level) / 2))
    if df > 0:
        return float(t_isf((1 - level) / 2, df))
    return float("nan")


def _logdet(m: np.ndarray) -> float:
    """``log|det m|`` (numpy's slogdet; for a 1 x 1 matrix the same number directly)."""
    if m.shape == (1, 1):
        return float(np.log(abs(m[0, 0])))
    return float(np.linalg.slogdet(m)[1])


def _inv(m: np.ndarray) -> np.ndarray:
    if m.shape == (1, 1):
        return 1.0 / m
    return np.linalg.inv(m)


def information_criteria(ll: float, dev: float, parms: int, n: int) -> list[float]:
    """ll, dev, AIC, BIC, AICc as metafor (n = k for ML, k - p for REML)."""
    aic = -2 * ll + 2 * parms
    bic = -2 * ll + parms * math.log(n) if n > 0 else float("nan")
    mx = max(n, parms + 2)
    aicc = -2 * ll + 2 * parms * mx / (mx - parms - 1)
    return [float(ll), float(dev), float(aic), float(bic), float(aicc)]


def _r2_ee(y: np.ndarray, X: np.ndarray, w: np.ndarray) -> float:
    """metafor's R² of EE models: adjusted R² of ``lm(yi ~ X, weights = w)`` in percent."""
    if np.var(y) == 0:
        return 0.0
    k, p = X.shape
    XtW = X.T * w
    b = np.linalg.solve(XtW @ X, XtW @ y)
    f = X @ b
    r = y - f
    rss = float(np.sum(w * r * r))
    m = float(np.sum(w * f) / np.sum(w))
    mss = float(np.sum(w * (f - m) ** 2))
    rdf = k - p
    if rdf <= 0:
        return float("nan")
    r2 = mss / (mss + rss)
    adj = 1 - (1 - r2) * ((k - 1) / rdf)
    return float(max(0.0, 100 * adj))

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

from typing import Any

import numpy as np

from bayesma.classical.tau2 import estimate_tau2
from bayesma.tails import chi2_sf, f_sf, norm_isf, norm_sf, t_isf, t_sf

__all__ = ["information_criteria", "model_numbers"]

_LOG2PI = float(np.log(2 * np.pi))


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
    bic = -2 * ll + parms * np.log(n) if n > 0 else float("nan")
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

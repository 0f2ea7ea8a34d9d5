"""Q-profile confidence intervals for the heterogeneity tau² (and tau, I², H²).

The method of Viechtbauer (2007, Statistics in Medicine 26:37-52): the generalized
Q statistic ``Q(tau2) = sum_i w_i (y_i - x_i' b(tau2))^2`` with ``w_i = 1/(v_i + tau2)``
and ``b(tau2)`` the weighted least-squares fit is decreasing in tau2 and follows a
chi²(k - p) distribution at the true tau2; the CI collects the tau2 whose Q lies between
the chi²(k - p) quantiles. This reproduces metafor's ``confint.rma.uni`` (type "QP"),
including its search interval ``[tau2.min, tau2.max]``, the ``"<"`` / ``">"`` signs set
when a bound falls outside that interval, and the empty-set case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayesma.classical.settings import parse_level
from bayesma.errors import BayesmaError, TooFewStudiesError
from bayesma.tails import chi2_isf, chi2_ppf

__all__ = ["HeterogeneityCI", "generalized_q", "qprofile", "typical_variance"]

#: Absolute tolerance of the root search (metafor's reference used uniroot tol=1e-12).
XTOL = 1e-14
RTOL = 4 * np.finfo(float).eps
#: up to this many studies an intercept-only Q is summed in a Python loop
Q_LOOP_MAX_K = 30


@dataclass(frozen=True)
class HeterogeneityCI:
    """Q-profile confidence interval for the heterogeneity parameters.

    Attributes
    ----------
    tau2, tau, i2, h2 : tuple of float
        ``(estimate, ci_low, ci_high)``; ``i2`` in percent, as metafor.
    lb_sign, ub_sign : str
        ``""``, or ``"<"`` / ``">"`` when the bound lies below ``tau2_min`` / above
        ``tau2_max`` (the reported bound is then that limit), as metafor's confint.
    ci_null : bool
        True when the interval is the empty set (Q(0) is below the lower chi² quantile):
        the bounds are reported as ``[0, 0]`` with both signs ``"<"``.
    level : float
        Confidence level (e.g. 0.95).
    tau2_min, tau2_max : float
        The search interval (metafor: ``min(0, tau2)`` and ``max(100, 10 tau2)``).
    k, p : int
        Studies and model coefficients (the reference distribution is chi²(k - p)).
    method : str
        The tau² estimator of the fit that supplied the estimates.
    """

    tau2: tuple[float, float, float]
    tau: tuple[float, float, float]
    i2: tuple[float, float, float]
    h2: tuple[float, float, float]
    lb_sign: str
    ub_sign: str
    ci_null: bool
    level: float
    tau2_min: float
    tau2_max: float
    k: int
    p: int
    method: str

    def to_frame(self) -> pd.DataFrame:
        """Rows ``tau^2, tau, I^2(%), H^2``; columns ``estimate, ci_low, ci_high``."""
        return pd.DataFrame(
            [self.tau2, self.tau, self.i2, self.h2],
            index=pd.Index(["tau^2", "tau", "I^2(%)", "H^2"]),
            columns=["estimate", "ci_low", "ci_high"],
        )

    def summary(self, digits: int = 4) -> str:
        """A printout like metafor's ``print.confint.rma``, with the signs and notes."""
        frame = self.to_frame()
        cells = [["estimate", "ci.lb", "ci.ub"]]
        names = ["", *frame.index]
        for row in frame.itertuples(index=False):
            est, lo, hi = (f"{v:.{digits}f}" if np.isfinite(v) else "NA" for v in row)
            cells.append([est, f"{self.lb_sign}{lo}", f"{self.ub_sign}{hi}"])
        wname = max(len(n) for n in names)
        wcol = [max(len(r[j]) for r in cells) for j in range(3)]
        lines = [
            f"Q-profile {100 * self.level:g}% confidence interval for the heterogeneity "
            f"(Viechtbauer 2007; k = {self.k}, p = {self.p}, estimate: {self.method})",
            "",
        ]
        for name, row in zip(names, cells, strict=True):
            lines.append(
                name.ljust(wname)
                + " "
                + " ".join(c.rjust(w) for c, w in zip(row, wcol, strict=True))
            )
        if self.ci_null:
            lines += [
                "",
                f"The upper and lower CI bounds for tau^2 both fall below {self.tau2_min:g}.",
                "The CI is therefore equal to the null/empty set.",
            ]
        else:
            if self.lb_sign == ">":
                lines += [
                    "",
                    f"Both bounds lie above tau2.max = {self.tau2_max:g} "
                    "(no bound found below it).",
                ]
            elif self.ub_sign == ">":
                lines += [
                    "",
                    f"The upper bound lies above tau2.max = {self.tau2_max:g} "
                    "(no bound found below it).",
                ]
            if self.lb_sign == "<":
                lines += ["", f"The lower bound lies below tau2.min = {self.tau2_min:g}."]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def generalized_q(tau2: float, yi: np.ndarray, vi: np.ndarray, X: np.ndarray) -> float:
    """Generalized Q statistic at ``tau2`` (metafor's internal ``.QE.func``).

    ``Q(tau2) = y' P y`` with ``P = W - W X (X'WX)^{-1} X'W``, ``W = diag(1/(v + tau2))``
    (Viechtbauer 2007, eq. 6), computed as the weighted residual sum of squares.
    """
    w = 1.0 / (vi + tau2)
    if X.shape[1] == 1 and bool(np.all(X == 1.0)):
        # intercept only: the weighted mean, y'Py = sum w (y - ybar_w)²
        r = yi - (w @ yi) / w.sum()
        return float(np.sum(w * r**2))
    sw = np.sqrt(w)
    # weighted least squares via QR of sqrt(W) X: residual sum of squares = y'Py
    beta, *_ = np.linalg.lstsq(X * sw[:, None], yi * sw, rcond=None)
    resid = yi - X @ beta
    return float(np.sum(w * resid**2))


def _q_function(yi: np.ndarray, vi: np.ndarray, X: np.ndarray):
    """``tau2 -> Q(tau2)`` for the root searches of one data set: :func:`generalized_q`,
    or for an intercept-only model with few studies the same sums in a Python loop (a
    root search evaluates Q some 40 times; numpy's per-call overhead dominates at small
    k, as in :mod:`bayesma.classical.intercept_reml`)."""
    if X.shape[1] == 1 and bool(np.all(X == 1.0)) and yi.size <= Q_LOOP_MAX_K:
        yl, vl = yi.tolist(), vi.tolist()

        def q_loop(tau2: float) -> float:
            ws = [1.0 / (x + tau2) for x in vl]
            m = sum(w * y for w, y in zip(ws, yl)) / sum(ws)  # noqa: B905 (equal lengths)
            return sum(w * (y - m) ** 2 for w, y in zip(ws, yl))  # noqa: B905

        return q_loop
    return lambda tau2: generalized_q(tau2, yi, vi, X)


def typical_variance(vi: np.ndarray, X: np.ndarray) -> float:
    """Typical within-study variance ``(k - p) / tr(P)`` with ``W = diag(1/v)``.

    metafor's ``vt`` in ``rma.uni`` (Higgins & Thompson 2002 for the intercept-only
    model, generalized to meta-regression), used to turn tau² into I² and H².
    """
    k, p = X.shape
    w = 1.0 / vi
    xtwx = X.T @ (X * w[:, None])
    xtw2x = X.T @ (X * (w**2)[:, None])
    tr_p = float(np.sum(w) - np.trace(np.linalg.solve(xtwx, xtw2x)))
    return (k - p) / tr_p


def qprofile(res: Any, level: float | None = None) -> HeterogeneityCI:
    """Q-profile confidence interval for tau² (metafor's ``confint.rma.uni``, type QP).

    Parameters
    ----------
    res : RMAResult
        A random-effects fit from :func:`bayesma.rma` (any tau² estimator; moderators
        allowed: the interval is then for the residual heterogeneity, with chi²(k - p)).
        Typed ``Any`` because ``classical/rma`` imports this module.
    level : float, optional
        Confidence level (0.95 or 95); defaults to ``res.level``.

    Returns
    -------
    HeterogeneityCI
        Estimates from ``res`` (its tau², I², H²) and the Q-profile bounds.

    Raises
    ------
    BayesmaError
        For an equal-effects fit (no tau²) or non-positive sampling variances.
    TooFewStudiesError
        When ``k - p < 1``.

    Notes
    -----
    The lower bound solves ``Q(tau2) = chi²_{1-alpha/2}(k-p)``, the upper bound
    ``Q(tau2) = chi²_{alpha/2}(k-p)`` on ``[tau2.min, tau2.max]`` with
    ``tau2.min = min(0, tau2)`` and ``tau2.max = max(100, 10 tau2, 10 tau2.min)``
    (metafor 3.8 defaults). Bounds outside the interval are reported as the limit with
    a sign; if ``Q(tau2.min)`` is already below the lower quantile the CI is empty.
    I² and H² bounds use the typical within-study variance ``vt``:
    ``I² = 100 tau2 / (vt + tau2)``, ``H² = tau2 / vt + 1``.
    """
    from scipy import optimize  # slow import, needed by few calls

    method = str(res.method)
    if method in ("EE", "FE", "CE"):
        raise BayesmaError(
            "the Q-profile CI needs a random-effects fit; this model (method "
            f"{method!r}) has no heterogeneity component tau²"
        )
    if getattr(res, "tau2_fixed", False):
        raise BayesmaError(
            "the Q-profile CI needs an estimated tau²; this model has tau² fixed by the user"
        )
    yi = np.asarray(res.yi, dtype=float)
    vi = np.asarray(res.vi, dtype=float)
    k = len(yi)
    X = np.asarray(res.X, dtype=float).reshape(k, -1) if res.X is not None else np.ones((k, 1))
    p = X.shape[1]
    if k - p < 1:
        raise TooFewStudiesError(
            f"the Q-profile CI needs k - p >= 1 (k = {k} studies, p = {p} coefficients)"
        )
    if np.any(vi <= 0):
        raise BayesmaError(
            "cannot compute the Q-profile CI for tau² with non-positive sampling variances"
        )
    conf = parse_level(res.level if level is None else level)
    alpha = 1.0 - conf

    tau2_hat = float(res.tau2)
    # metafor confint.rma.uni: default search interval
    tau2_min = min(0.0, tau2_hat)
    tau2_max = max(100.0, 10.0 * tau2_hat, 10.0 * tau2_min)

    df = k - p
    crit_u = float(chi2_isf(alpha / 2, df))  # upper chi² quantile -> lower bound
    crit_l = float(chi2_ppf(alpha / 2, df))  # lower chi² quantile -> upper bound

    q_of = _q_function(yi, vi, X)

    def q_minus(t: float, target: float) -> float:
        return q_of(t) - target

    q_max = q_of(tau2_max)
    q_min = q_of(tau2_min)

    lb_sign = ub_sign = ""
    ci_null = False
    lb = ub = np.nan
    # upper bound (metafor's order: upper first, then lower)
    if q_min < crit_l:
        lb = ub = tau2_min
        lb_sign = ub_sign = "<"
        ci_null = tau2_min <= 0
    elif q_max > crit_l:
        ub, ub_sign = tau2_max, ">"
    else:
        ub = optimize.brentq(
            q_minus, tau2_min, tau2_max, args=(crit_l,), xtol=XTOL, rtol=RTOL, maxiter=1000
        )
    # lower bound
    if q_max > crit_u:
        lb = ub = tau2_max
        lb_sign = ub_sign = ">"
    elif q_min < crit_u:
        lb = tau2_min
        if tau2_min > 0:  # pragma: no cover - tau2.min is 0 unless tau2 < 0
            lb_sign = "<"
    else:
        lb = optimize.brentq(
            q_minus, tau2_min, tau2_max, args=(crit_u,), xtol=XTOL, rtol=RTOL, maxiter=1000
        )

    vt = typical_variance(vi, X)

    def _tau(t: float) -> float:
        return float(np.sqrt(t)) if t >= 0 else np.nan

    return HeterogeneityCI(
        tau2=(tau2_hat, float(lb), float(ub)),
        tau=(_tau(tau2_hat), _tau(lb), _tau(ub)),
        i2=(float(res.i2), 100.0 * lb / (vt + lb), 100.0 * ub / (vt + ub)),
        h2=(float(res.h2), lb / vt + 1.0, ub / vt + 1.0),
        lb_sign=lb_sign,
        ub_sign=ub_sign,
        ci_null=bool(ci_null),
        level=conf,
        tau2_min=tau2_min,
        tau2_max=tau2_max,
        k=k,
        p=p,
        method=method,
    )

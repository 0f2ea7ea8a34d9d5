"""Trim-and-fill (metafor 3.8 ``trimfill.rma.uni``; Duval & Tweedie 2000a, 2000b).

Estimators L0 and R0; the side is chosen from the sign of the sei slope as metafor does.

References
----------
Duval, S., & Tweedie, R. (2000a). JASA, 95(449), 89-98.
Duval, S., & Tweedie, R. (2000b). Biometrics, 56(2), 455-463.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from bayesma.classical.bias.common import check_estimable, p_equals
from bayesma.classical.checks import intercept_only
from bayesma.classical.rma import RMAResult, fit_arrays, require_rma_result
from bayesma.errors import BayesmaError, TooFewStudiesError
from bayesma.formatting import fmt_plain

__all__ = ["TrimFillResult", "trimfill"]


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
            f"(SE = {fmt_plain(self.se_k0, digits)}; estimator {self.estimator})",
        ]
        if self.estimator == "R0" and not math.isnan(self.p_k0):
            lines.append(f"Test of H0: no missing studies: {p_equals(self.p_k0, digits)}")
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
    require_rma_result(res, "trimfill")
    if not intercept_only(res):
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
        check_estimable(k, 2, method, "trimfill (choosing the side)")
        Xs = np.column_stack([np.ones(k), np.sqrt(vi0)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sfit = fit_arrays(
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
            tfit = fit_arrays(
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
            fit = fit_arrays(
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

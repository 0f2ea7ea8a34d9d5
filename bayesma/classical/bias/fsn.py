"""Fail-safe N (metafor 3.8 ``fsn``): Rosenthal (1979), Orwin (1983), Rosenberg (2005).

References
----------
Orwin, R. G. (1983). Journal of Educational Statistics, 8(2), 157-159.
Rosenberg, M. S. (2005). Evolution, 59(2), 464-468.
Rosenthal, R. (1979). Psychological Bulletin, 86(3), 638-641.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from bayesma.classical.rma import RMAResult
from bayesma.data import numeric_column
from bayesma.errors import BayesmaError, DataError, TooFewStudiesError
from bayesma.formatting import fmt_plain, fmt_pval

__all__ = ["FailSafeNResult", "fsn"]


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
                f"Observed Significance Level: {fmt_pval(self.pval, digits)}",
                f"Target Significance Level:   {self.alpha:g}",
            ]
        elif self.type == "Orwin":
            lines += [
                f"Average Effect Size: {fmt_plain(self.meanes, digits)}",
                f"Target Effect Size:  {fmt_plain(self.target, digits)}",
            ]
        else:
            lines += [
                f"Average Effect Size:         {fmt_plain(self.meanes, digits)}",
                f"Observed Significance Level: {fmt_pval(self.pval, digits)}",
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

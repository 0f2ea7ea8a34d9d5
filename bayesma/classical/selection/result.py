"""The result of ``selmodel`` (:class:`SelModelResult`) and its metafor-style printout
(``print.rma.uni`` for an ``rma.uni.selmodel`` object, metafor 3.8)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayesma.classical.printout import coef_table_lines, p_phrase
from bayesma.classical.selection.types import SelectionType
from bayesma.errors import BayesmaWarning
from bayesma.formatting import fmt_plain, fmt_pval, signif_stars
from bayesma.tails import chi2_sf

__all__ = ["SelModelResult", "SelectionModelWarning"]


class SelectionModelWarning(BayesmaWarning):
    """A selection model fit is doubtful: no convergence, a delta at its bound, or a
    Hessian that cannot be inverted."""


@dataclass(frozen=True, eq=False)
class SelModelResult:
    """A fitted selection model (metafor 3.8 ``selmodel``).

    Attributes
    ----------
    type, alternative : str
        Selection function and direction of the one-sided p-values.
    steps : ndarray
        Cut points (stepfun: ending with 1; other types: the single cut point, 0 when
        none was given).
    estimate, se, zval, pval, ci_low, ci_high : float
        The (first) coefficient, adjusted for selection, with its Wald test and CI.
    beta, vcov, coef, terms
        All coefficients, their covariance and a table like ``RMAResult.coef``.
    qm, qm_df, qm_pval : float, int, float
        Omnibus Wald test of the moderators (of the intercept when intercept-only).
    tau2, se_tau2, tau2_ci_low, tau2_ci_high : float
        Heterogeneity (ML; 0 for an equal-effects model).
    delta, delta_se, delta_zval, delta_pval, delta_ci_low, delta_ci_high : ndarray
        Selection parameters; the z test is against metafor's null value (1 for beta
        and stepfun, 0 for the others). ``delta_fixed`` marks parameters not estimated
        (the first step-function weight, fixed at 1).
    ll, ll0 : float
        Log-likelihood of the selection model and the ML log-likelihood of the model
        without selection.
    lrt, lrt_df, lrt_pval : float, int, float
        Likelihood-ratio test of no selection.
    lrt_tau2, lrt_tau2_pval : float
        Likelihood-ratio test of tau² = 0 under the selection model (NaN when tau² is
        not estimated).
    k, p : int
        Studies and coefficients.
    pvals : ndarray
        The one-sided p-values used (truncated to ``[pval_min, 1 - pval_min]``).
    ptable : dict or None
        Number of p-values per interval (when steps were given).
    converged : bool
        Whether the optimiser reached a stationary point.
    """

    type: str
    alternative: str
    steps: np.ndarray
    steps_given: bool
    estimate: float
    se: float
    zval: float
    pval: float
    ci_low: float
    ci_high: float
    beta: np.ndarray
    vcov: np.ndarray
    terms: list[str]
    qm: float
    qm_df: int
    qm_pval: float
    tau2: float
    se_tau2: float
    tau2_ci_low: float
    tau2_ci_high: float
    tau2_fixed: bool
    delta: np.ndarray
    delta_se: np.ndarray
    delta_zval: np.ndarray
    delta_pval: np.ndarray
    delta_ci_low: np.ndarray
    delta_ci_high: np.ndarray
    delta_fixed: np.ndarray
    delta_min: np.ndarray
    delta_max: np.ndarray
    ll: float
    ll0: float
    lrt: float
    lrt_df: int
    lrt_pval: float
    lrt_tau2: float
    lrt_tau2_pval: float
    k: int
    p: int
    n_par: int
    level: float
    pvals: np.ndarray
    pval_min: float
    ptable: dict[str, int] | None
    converged: bool
    optimiser: str
    method: str
    measure: str | None
    stype: SelectionType = field(repr=False)
    hessian: np.ndarray = field(repr=False)
    labels: list[str] = field(default_factory=list, repr=False)
    yi: np.ndarray = field(default=None, repr=False)
    vi: np.ndarray = field(default=None, repr=False)

    # ------------------------------------------------------------------ build
    @classmethod
    def build(cls, *, res: Any, stype: SelectionType, steps: np.ndarray, steps_given: bool,
              alternative: str, level: float, crit: float, beta: np.ndarray, vb: np.ndarray,
              terms: list[str], tau2: float, se_tau2: float, tau2_fixed: bool,
              delta: np.ndarray, vd: np.ndarray, delta_fixed: np.ndarray, ll: float,
              ll0: float, lrt: float, lrt_df: int, lrt_pval: float, lrt_tau2: float,
              lrt_tau2_pval: float, pvals: np.ndarray, ptable: dict | None,
              converged: bool, optimiser: str, hessian: np.ndarray, n_par: int,
              ) -> SelModelResult:
        """Tests and intervals from the estimates, as ``selmodel.rma.uni`` computes them."""
        beta = np.asarray(beta, dtype=float)
        p = beta.size
        with np.errstate(invalid="ignore", divide="ignore"):
            se = np.sqrt(np.diag(vb))
            z = beta / se
            pv = chi2_sf(z * z, 1)  # = 2 P(Z > |z|)
            lo, hi = beta - crit * se, beta + crit * se
            # metafor: QM on all coefficients but the intercept (the intercept when alone)
            btt = np.arange(1, p) if p > 1 else np.array([0])
            try:
                qm = float(beta[btt] @ np.linalg.solve(vb[np.ix_(btt, btt)], beta[btt]))
            except np.linalg.LinAlgError:
                qm = float("nan")
            qm_p = float(chi2_sf(qm, len(btt)))
            dse = np.sqrt(np.diag(vd))
            dz = (delta - stype.h0) / dse
            dp = chi2_sf(dz * dz, 1)
            dlo = np.maximum(delta - crit * dse, 0.0)  # metafor: truncated at delta.lb = 0
            dhi = delta + crit * dse
        n_d = delta.size
        t_lo = max(tau2 - crit * se_tau2, 0.0) if math.isfinite(se_tau2) else float("nan")
        t_hi = tau2 + crit * se_tau2 if math.isfinite(se_tau2) else float("nan")
        return cls(
            type=stype.name, alternative=alternative, steps=np.asarray(steps, dtype=float),
            steps_given=steps_given,
            estimate=float(beta[0]), se=float(se[0]), zval=float(z[0]), pval=float(pv[0]),
            ci_low=float(lo[0]), ci_high=float(hi[0]), beta=beta, vcov=vb, terms=terms,
            qm=qm, qm_df=len(btt), qm_pval=qm_p,
            tau2=float(tau2), se_tau2=float(se_tau2), tau2_ci_low=t_lo, tau2_ci_high=t_hi,
            tau2_fixed=tau2_fixed,
            delta=np.asarray(delta, dtype=float), delta_se=dse, delta_zval=dz,
            delta_pval=np.asarray(dp, dtype=float), delta_ci_low=dlo, delta_ci_high=dhi,
            delta_fixed=np.asarray(delta_fixed, dtype=bool),
            delta_min=np.full(n_d, stype.delta_min), delta_max=np.full(n_d, stype.delta_max),
            ll=float(ll), ll0=float(ll0), lrt=float(lrt), lrt_df=int(lrt_df),
            lrt_pval=float(lrt_pval), lrt_tau2=float(lrt_tau2),
            lrt_tau2_pval=float(lrt_tau2_pval), k=int(res.k), p=p, n_par=int(n_par),
            level=float(level), pvals=np.asarray(pvals, dtype=float),
            pval_min=stype.pval_min, ptable=ptable, converged=bool(converged),
            optimiser=optimiser, method="EE" if tau2_fixed and tau2 == 0.0 else "ML",
            measure=getattr(res, "measure", None), stype=stype, hessian=hessian,
            labels=list(res.labels), yi=np.asarray(res.yi, dtype=float),
            vi=np.asarray(res.vi, dtype=float),
        )

    # ------------------------------------------------------------------ views
    @property
    def coef(self) -> pd.DataFrame:
        """Coefficients: index term, columns ``estimate, se, stat, pval, ci_low, ci_high``."""
        with np.errstate(invalid="ignore", divide="ignore"):
            se = np.sqrt(np.diag(self.vcov))
            z = self.beta / se
        crit = (self.ci_high - self.estimate) / self.se if self.se > 0 else float("nan")
        return pd.DataFrame(
            {"estimate": self.beta, "se": se, "stat": z,
             "pval": chi2_sf(z * z, 1), "ci_low": self.beta - crit * se,
             "ci_high": self.beta + crit * se},
            index=pd.Index(self.terms, name="term"),
        )

    @property
    def delta_table(self) -> pd.DataFrame:
        """Selection parameters: ``estimate, se, stat, pval, ci_low, ci_high`` (and ``k``
        per interval for the step function); index as metafor prints it."""
        if self.type == "stepfun" and self.ptable is not None:
            index = list(self.ptable)
        else:
            index = [f"delta.{j + 1}" for j in range(self.delta.size)] if self.delta.size > 1 \
                else ["delta"]
        tab = pd.DataFrame(
            {"estimate": self.delta, "se": self.delta_se, "stat": self.delta_zval,
             "pval": self.delta_pval, "ci_low": self.delta_ci_low,
             "ci_high": self.delta_ci_high},
            index=pd.Index(index, name="parameter"),
        )
        if self.type == "stepfun" and self.ptable is not None:
            tab.insert(0, "k", list(self.ptable.values()))
        return tab

    def weight(self, p: Any, delta: Any = None) -> np.ndarray:
        """The estimated selection function w(p) (or at other ``delta`` values)."""
        d = self.delta if delta is None else np.asarray(delta, dtype=float)
        x = np.asarray(p, dtype=float)
        return self.stype.weight(x, d, self.steps)

    def to_frame(self) -> pd.DataFrame:
        """One-row tidy table: estimate, CI, tau², deltas and the LRT."""
        row: dict[str, Any] = {
            "type": self.type, "estimate": self.estimate, "se": self.se,
            "ci_low": self.ci_low, "ci_high": self.ci_high, "pval": self.pval,
            "tau2": self.tau2, "lrt": self.lrt, "lrt_df": self.lrt_df,
            "lrt_pval": self.lrt_pval, "ll": self.ll, "k": self.k,
        }
        for j, v in enumerate(self.delta):
            row[f"delta{j + 1}"] = v
        return pd.DataFrame([row], index=pd.Index([f"selmodel({self.type})"]))

    # ------------------------------------------------------------------ printout
    def summary(self, digits: int = 4) -> str:
        """A printout like metafor's ``print`` of a ``selmodel`` fit."""
        d = digits
        int_only = self.p == 1 and self.terms[0] == "intrcpt"
        lines = [""]
        if self.method == "EE":
            kind = "Equal-Effects Model" if int_only else "Fixed-Effects with Moderators Model"
            lines.append(f"{kind} (k = {self.k})")
        else:
            kind = "Random-Effects Model" if int_only else "Mixed-Effects Model"
            est = "user-specified tau^2 value" if self.tau2_fixed else "tau^2 estimator: ML"
            lines.append(f"{kind} (k = {self.k}; {est})")
        lines.append("")
        if self.method != "EE":
            what = "total" if int_only else "residual"
            se = "" if math.isnan(self.se_tau2) else f" (SE = {fmt_plain(self.se_tau2, d)})"
            lines.append(f"tau^2 (estimated amount of {what} heterogeneity): "
                         f"{fmt_plain(self.tau2, d)}{se}")
            lines.append(f"tau (square root of estimated tau^2 value):      "
                         f"{fmt_plain(math.sqrt(self.tau2), d)}")
            lines.append("")
        if not math.isnan(self.lrt_tau2):
            lines.append("Test for Heterogeneity:" if int_only
                         else "Test for Residual Heterogeneity:")
            lines.append(f"LRT(df = 1) = {fmt_plain(self.lrt_tau2, d)}, p-val "
                         f"{p_phrase(self.lrt_tau2_pval)}")
            lines.append("")
        if not int_only:
            lines.append(f"Test of Moderators (coefficients 2:{self.p}):")
            lines.append(f"QM(df = {self.qm_df}) = {fmt_plain(self.qm, d)}, p-val "
                         f"{p_phrase(self.qm_pval)}")
            lines.append("")
        lines += ["Model Results:", ""]
        lines += coef_table_lines(self.coef, d, int_only, with_df=False)
        if self.lrt_df > 0:
            lines += ["", "Test for Selection Model Parameters:",
                      f"LRT(df = {self.lrt_df}) = {fmt_plain(self.lrt, d)}, p-val "
                      f"{p_phrase(self.lrt_pval)}"]
        lines += ["", "Selection Model Results:", ""]
        lines += _delta_lines(self.delta_table, self.delta_fixed, d)
        lines += ["", "---",
                  "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1", ""]
        if not self.converged:
            lines.append("Warning: the optimiser did not converge; treat with caution.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _delta_lines(tab: pd.DataFrame, fixed: np.ndarray, d: int) -> list[str]:
    """The selection-parameter table, ``---`` for fixed parameters (metafor)."""
    cols = (["k"] if "k" in tab.columns else []) + ["estimate", "se", "zval", "pval",
                                                    "ci.lb", "ci.ub"]
    rows, stars = [], []
    for i, (_, r) in enumerate(tab.iterrows()):
        cells = [str(int(r["k"]))] if "k" in tab.columns else []
        cells.append(f"{r['estimate']:.{d}f}")
        if fixed[i]:
            cells += ["---"] * 5
            stars.append("")
        else:
            cells += [fmt_plain(r["se"], d), fmt_plain(r["stat"], d), fmt_pval(r["pval"]),
                      fmt_plain(r["ci_low"], d), fmt_plain(r["ci_high"], d)]
            stars.append(signif_stars(r["pval"]))
        rows.append(cells)
    widths = [max(len(c), *(len(row[j]) for row in rows)) for j, c in enumerate(cols)]
    names = [str(x) for x in tab.index]
    nw = max(len(n) for n in names)
    sw = max(len(s) for s in stars) + 1

    def line(name: str, vals: list[str], star: str) -> str:
        return (name.ljust(nw) + "  " + "  ".join(v.rjust(w) for v, w in
                zip(vals, widths, strict=True)) + "  " + star.ljust(sw))

    return [line("", cols, "")] + [line(n, r, s) for n, r, s in
                                   zip(names, rows, stars, strict=True)]

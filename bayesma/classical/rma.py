"""Random- and equal-effects meta-analysis and meta-regression (metafor 3.8 ``rma.uni``).

:func:`rma` takes a study table; :func:`fit_arrays` takes arrays (the fast path used by
leave-one-out, cumulative analyses, subgroups and trim-and-fill). Both return an
:class:`RMAResult`.

The computations follow metafor 3.8-1 ``rma.uni()``:

* coefficients by weighted least squares with ``w = 1/(vi + tau²)``
  (Hedges & Olkin 1985; Raudenbush 2009), ``vcov = (X'WX)^-1``; for ``GENQ`` the
  coefficients use the user weights ``a`` with the sandwich
  ``(X'AX)^-1 X'A M A X (X'AX)^-1``, ``M = diag(vi + tau²)``;
* ``test="t"``: t(k - p) reference distribution; ``test="knha"``: Knapp & Hartung (2003),
  Statistics in Medicine 22, 2693-2710, with metafor's *untruncated* scale factor
  ``s² = sum w (y - Xb)² / (k - p)`` (set to 0 when the weighted RSS is <= machine eps);
  under ``t`` and ``knha`` the omnibus test is ``F = QM / m`` on (m, k - p) df;
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
  ``crit`` from N(0,1) for ``test="z"``, from t(k - p) for ``t`` and ``knha``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bayesma.classical.design import INTERCEPT, build_design, check_full_rank
from bayesma.classical.tau2 import Tau2Estimate, canonical_method, estimate_tau2
from bayesma.data import effect_arrays, find_label_column, numeric_column, study_labels
from bayesma.errors import BayesmaError, BayesmaWarning, DataError, TooFewStudiesError

__all__ = ["RMAResult", "canonical_test", "fit_arrays", "rma"]

TESTS = ("z", "t", "knha")
_TEST_ALIASES = {"hk": "knha", "hksj": "knha", "knapp-hartung": "knha", "hartung-knapp": "knha"}

_LOG2PI = float(np.log(2 * np.pi))


def canonical_test(test: str) -> str:
    """Normalise a test name (``"z"``, ``"t"``, ``"knha"``; ``"hksj"``/``"hk"`` alias knha)."""
    t = str(test).strip().lower()
    t = _TEST_ALIASES.get(t, t)
    if t not in TESTS:
        raise DataError(f"unknown test {test!r}; choose 'z', 't' or 'knha'")
    return t


def require_rma_result(res: Any, func: str) -> None:
    """Raise BayesmaError unless ``res`` is an :class:`RMAResult` (the result of ``rma``)."""
    if not isinstance(res, RMAResult):
        raise BayesmaError(
            f"{func}() needs a fitted model from bm.rma(...), got {type(res).__name__}; "
            f"fit the table first: {func}(bm.rma(data))"
        )


def _level(level: float) -> float:
    lv = float(level)
    if lv > 1:  # metafor accepts 95 for 0.95
        lv /= 100.0
    if not 0 < lv < 1:
        raise DataError(f"level must be in (0, 1) (or a percentage), got {level!r}")
    return lv


def _fmt_p(p: float, digits: int = 4) -> str:
    """metafor's .pval(): '<.0001' below 10^-digits, else 4 decimals."""
    if p is None or not np.isfinite(p):
        return "NA"
    if p < 10.0**-digits:
        return "<." + "0" * (digits - 1) + "1"
    return f"{p:.{digits}f}"


def _stars(p: float) -> str:
    if p is None or not np.isfinite(p):
        return ""
    for cut, s in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return s
    return ""


@dataclass(frozen=True, eq=False, repr=False)
class RMAResult:
    """A fitted (mixed-effects) meta-analytic model; see ARCHITECTURE.md for the contract.

    Coefficients are in ``coef`` (a DataFrame indexed by term, intercept ``"intrcpt"``
    first); ``estimate``, ``se``, ``stat``, ``pval``, ``ci_low``, ``ci_high`` repeat the
    first row (the pooled effect of an intercept-only model).
    """

    # settings
    method: str
    test: str
    level: float
    formula: str | None
    measure: str | None
    # data used
    yi: np.ndarray
    vi: np.ndarray
    X: np.ndarray
    terms: list[str]
    labels: list[str]
    data: pd.DataFrame | None
    dropped: list
    k: int
    p: int
    # coefficients
    beta: np.ndarray
    vcov: np.ndarray
    coef: pd.DataFrame
    estimate: float
    se: float
    stat: float
    pval: float
    ci_low: float
    ci_high: float
    df: int | None
    # heterogeneity
    tau2: float
    se_tau2: float
    tau: float
    i2: float
    h2: float
    q: float
    q_df: int
    q_pval: float
    # moderators
    qm: float | None
    qm_df: int | tuple[int, int] | None
    qm_pval: float | None
    r2: float | None
    # prediction interval
    pi_low: float | None
    pi_high: float | None
    weights: np.ndarray
    fit_stats: pd.DataFrame
    ll: float
    deviance: float
    aic: float
    bic: float
    aicc: float
    scale: float
    # extras
    intercept: bool = True
    tau2_fixed: bool = False
    converged: bool = True
    iterations: int = 0
    user_weights: np.ndarray | None = None
    design: Any = None
    call: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ display
    @property
    def stat_name(self) -> str:
        """``"zval"`` for z tests, ``"tval"`` for t and knha (metafor's column name)."""
        return "zval" if self.test == "z" else "tval"

    @property
    def int_only(self) -> bool:
        return self.p == 1 and self.intercept

    def __repr__(self) -> str:
        return (
            f"<RMAResult {self.method} k={self.k} p={self.p} test={self.test} "
            f"estimate={self.estimate:.4f} tau2={self.tau2:.4f}>"
        )

    def __str__(self) -> str:
        return self.summary()

    def summary(self, digits: int = 4) -> str:
        """A printout in the layout of metafor's ``print.rma.uni``."""
        d = digits
        out: list[str] = [""]
        ee = self.method == "EE"
        if ee:
            kind = "Equal-Effects Model" if self.int_only else "Fixed-Effects with Moderators Model"
            out.append(f"{kind} (k = {self.k})")
        else:
            kind = "Random-Effects Model" if self.int_only else "Mixed-Effects Model"
            est = f"tau^2 estimator: {self.method}"
            if self.tau2_fixed:
                est = "tau^2 fixed"
            out.append(f"{kind} (k = {self.k}; {est})")
        out.append("")
        if self.method in ("ML", "REML"):
            col = "REML" if self.method == "REML" else "ML"
            fs = self.fit_stats[col]
            vals = [fs["ll"], fs["dev"], fs["AIC"], fs["BIC"], fs["AICc"]]
            txt = [f"{v:.{d}f}" for v in vals]
            heads = ("logLik", "deviance", "AIC", "BIC", "AICc")
            ws = [max(len(h), len(t)) for h, t in zip(heads, txt, strict=True)]
            out.append("  ".join(h.rjust(w) for h, w in zip(heads, ws, strict=True)))
            out.append("  ".join(t.rjust(w) for t, w in zip(txt, ws, strict=True)))
            out.append("")
        resid = "" if self.int_only else "residual "
        if not ee:
            se_txt = (
                f" (SE = {self.se_tau2:.{d}f})"
                if self.se_tau2 is not None and np.isfinite(self.se_tau2)
                else ""
            )
            lines = [
                (f"tau^2 (estimated amount of {resid or 'total '}heterogeneity):",
                 f"{self.tau2:.{d}f}{se_txt}"),
                ("tau (square root of estimated tau^2 value):", f"{self.tau:.{d}f}"),
            ]
        else:
            lines = []
        if self.int_only:
            lines += [
                ("I^2 (total heterogeneity / total variability):", f"{self.i2:.2f}%"),
                ("H^2 (total variability / sampling variability):", f"{self.h2:.2f}"),
            ]
        else:
            lines += [
                ("I^2 (residual heterogeneity / unaccounted variability):", f"{self.i2:.2f}%"),
                ("H^2 (unaccounted variability / sampling variability):", f"{self.h2:.2f}"),
            ]
            if self.r2 is not None and np.isfinite(self.r2):
                lines.append(("R^2 (amount of heterogeneity accounted for):", f"{self.r2:.2f}%"))
        if lines:
            # metafor aligns the values as if the tau^2 line were present
            tau_lab = f"tau^2 (estimated amount of {resid or 'total '}heterogeneity):"
            w = max(len(tau_lab), *(len(a) for a, _ in lines)) + 1
            out += [a.ljust(w) + b for a, b in lines]
            out.append("")
        qname = "Q" if self.int_only else "QE"
        title = "Test for Heterogeneity:" if self.int_only else "Test for Residual Heterogeneity:"
        out.append(title)
        pq = _fmt_p(self.q_pval)
        out.append(
            f"{qname}(df = {self.q_df}) = {self.q:.{d}f}, p-val "
            f"{'< .0001' if pq.startswith('<') else '= ' + pq}"
        )
        out.append("")
        if self.qm is not None:
            btt = self._btt()
            if len(btt) == 1:
                coefs = f"coefficient {btt[0] + 1}"
            else:
                coefs = f"coefficients {btt[0] + 1}:{btt[-1] + 1}"
            out.append(f"Test of Moderators ({coefs}):")
            pm = _fmt_p(self.qm_pval)
            ptxt = f"{'< .0001' if pm.startswith('<') else '= ' + pm}"
            if isinstance(self.qm_df, tuple):
                out.append(
                    f"F(df1 = {self.qm_df[0]}, df2 = {self.qm_df[1]}) = {self.qm:.{d}f}, "
                    f"p-val {ptxt}"
                )
            else:
                out.append(f"QM(df = {self.qm_df}) = {self.qm:.{d}f}, p-val {ptxt}")
            out.append("")
        out.append("Model Results:")
        out.append("")
        out += self._coef_table(d)
        out.append("")
        out.append("---")
        out.append("Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
        out.append("")
        return "\n".join(out)

    def _coef_table(self, d: int) -> list[str]:
        """The coefficient table as R prints it (print.gap = 2, signif column)."""
        cols = ["estimate", "se", self.stat_name]
        if self.test != "z":
            cols.append("df")
        cols += ["pval", "ci.lb", "ci.ub"]
        cells = []
        stars = []
        for _, r in self.coef.iterrows():
            row = [f"{r['estimate']:.{d}f}", f"{r['se']:.{d}f}", f"{r['stat']:.{d}f}"]
            if self.test != "z":
                row.append(f"{self.df}")
            row += [_fmt_p(r["pval"]), f"{r['ci_low']:.{d}f}", f"{r['ci_high']:.{d}f}"]
            cells.append(row)
            stars.append(_stars(r["pval"]))
        widths = [max(len(c), *(len(row[j]) for row in cells)) for j, c in enumerate(cols)]
        sw = max(len(s) for s in stars) + 1
        names = [] if self.int_only else [str(t) for t in self.coef.index]
        nw = max((len(n) for n in names), default=0)

        def line(name: str, vals: list[str], star: str) -> str:
            body = "  ".join(v.rjust(w) for v, w in zip(vals, widths, strict=True))
            lead = (name.ljust(nw) + "  ") if names else ""
            return lead + body + "  " + star.ljust(sw)

        out = [line("", cols, "")]
        for i, row in enumerate(cells):
            out.append(line(names[i] if names else "", row, stars[i]))
        return out

    def _btt(self) -> list[int]:
        if self.p > 1 and self.intercept:
            return list(range(1, self.p))
        return list(range(self.p))

    # ------------------------------------------------------------------ predict
    def _crit(self, level: float) -> float:
        a = 1 - level
        if self.test == "z":
            return float(stats.norm.isf(a / 2))
        if not self.df or self.df <= 0:
            return float("nan")
        return float(stats.t.isf(a / 2, self.df))

    def predict(self, newmods=None, *, level: float | None = None) -> pd.DataFrame:
        """Predicted (average) effects with CI and prediction interval (metafor ``predict``).

        Parameters
        ----------
        newmods : None, array_like, dict or DataFrame
            ``None``: the pooled effect (intercept-only models) or the fitted values of
            the studies. An array with one column per non-intercept term (or all ``p``
            columns), or a table of moderator values for formula/column moderators.
        level : float, optional
            Confidence level (default: the model's).

        Returns
        -------
        DataFrame with columns ``pred, se, ci_low, ci_high, pi_low, pi_high``.
        """
        level = self.level if level is None else _level(level)
        crit = self._crit(level)
        if newmods is None:
            if self.int_only:
                Xn = np.ones((1, 1))
                index = pd.Index(["pooled"])
            else:
                Xn = self.X
                index = pd.Index(self.labels)
        else:
            Xn, index = self._newX(newmods)
        pred = Xn @ self.beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", Xn, self.vcov, Xn))
        pis = np.sqrt(se**2 + self.tau2)
        return pd.DataFrame(
            {
                "pred": pred,
                "se": se,
                "ci_low": pred - crit * se,
                "ci_high": pred + crit * se,
                "pi_low": pred - crit * pis,
                "pi_high": pred + crit * pis,
            },
            index=index,
        )

    def _newX(self, newmods) -> tuple[np.ndarray, pd.Index]:
        if isinstance(newmods, pd.DataFrame | dict) and self.design is not None and getattr(
            self.design, "spec", None
        ) is not None:
            Xn = self.design.transform(newmods)
            idx = newmods.index if isinstance(newmods, pd.DataFrame) else None
            return Xn, pd.Index(idx if idx is not None else range(Xn.shape[0]))
        try:
            M = np.asarray(newmods, dtype=float)
        except (TypeError, ValueError) as exc:
            raise DataError(
                "newmods must be numbers (one value per non-intercept term, or a k x p "
                f"array) or a table of moderator columns, got {newmods!r}"
            ) from exc
        if M.ndim == 0:
            M = M.reshape(1, 1)
        if M.ndim == 1:
            nm = self.p - 1 if self.intercept else self.p
            M = M.reshape(1, -1) if M.size == nm and nm > 1 else M.reshape(-1, 1)
        if self.intercept and M.shape[1] == self.p - 1:
            M = np.column_stack([np.ones(M.shape[0]), M])
        if M.shape[1] != self.p:
            raise DataError(
                f"newmods has {M.shape[1]} column(s); the model has {self.p} coefficients "
                f"({', '.join(self.terms)})"
                + ("; give the values of the non-intercept terms" if self.intercept else "")
            )
        return M, pd.RangeIndex(M.shape[0])

    # ------------------------------------------------------------------ other methods
    def confint(self, level: float | None = None):
        """Q-profile confidence intervals for tau², tau, I², H² (``classical/confint.py``)."""
        from bayesma.classical.confint import qprofile

        return qprofile(self, level=level)

    def to_frame(self) -> pd.DataFrame:
        """One-row tidy summary."""
        row = {
            "method": self.method,
            "test": self.test,
            "k": self.k,
            "p": self.p,
            "estimate": self.estimate,
            "se": self.se,
            "stat": self.stat,
            "df": self.df,
            "pval": self.pval,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "pi_low": self.pi_low,
            "pi_high": self.pi_high,
            "tau2": self.tau2,
            "se_tau2": self.se_tau2,
            "tau": self.tau,
            "i2": self.i2,
            "h2": self.h2,
            "q": self.q,
            "q_df": self.q_df,
            "q_pval": self.q_pval,
            "qm": self.qm,
            "qm_pval": self.qm_pval,
            "r2": self.r2,
            "ll": self.ll,
            "aic": self.aic,
            "bic": self.bic,
        }
        if self.measure is not None:
            row["measure"] = self.measure
        return pd.DataFrame([row])

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


# ---------------------------------------------------------------------- fitting
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
    test : {"z", "t", "knha"}
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
    level = _level(level)
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    k = y.size
    if v.size != k:
        raise DataError(f"yi and vi differ in length ({k} vs {v.size})")
    if k < 1:
        raise TooFewStudiesError("no studies to analyse (k = 0)")
    for name, arr in (("yi", y), ("vi", v)):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise DataError(
                f"{name} has a missing or infinite value at position {int(bad[0])}"
                + (f" (study {labels[int(bad[0])]!r})" if labels is not None else ""),
                column=name,
                rows=list(bad),
            )
    bad = np.flatnonzero(v <= 0)
    if bad.size:
        raise DataError(
            f"vi must be > 0; position {int(bad[0])}"
            + (f" (study {labels[int(bad[0])]!r})" if labels is not None else "")
            + f" has {v[bad[0]]:g}",
            column="vi",
            rows=list(bad),
        )
    # design
    if X is None:
        Xm = np.ones((k, 1))
        terms = [INTERCEPT]
    else:
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
    intercept = terms[0] == INTERCEPT and bool(np.all(Xm[:, 0] == 1))
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
    if test == "knha" and method == "EE":
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
        est = estimate_tau2(y, v, Xm, method, weights=uw, tol=tol, maxiter=maxiter)
    t2 = est.tau2

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
    rss_f = float(np.sum(w * resid_f**2))
    scale = 1.0
    if test == "knha":
        rss_knha = float(np.sum(w * (y - Xm @ b_w) ** 2))
        scale = 0.0 if rss_knha <= np.finfo(float).eps else rss_knha / (k - p)
        vb = scale * vb
    df = k - p if test in ("t", "knha") else None
    se = np.sqrt(np.diag(vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = beta / se
    if df is None:
        pval = 2 * stats.norm.sf(np.abs(zval))
        crit = float(stats.norm.isf((1 - level) / 2))
    elif df > 0:
        pval = 2 * stats.t.sf(np.abs(zval), df)
        crit = float(stats.t.isf((1 - level) / 2, df))
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
            qm_p = float(stats.chi2.sf(qm, m))
        else:
            qm = qm / m
            qm_df = (m, k - p)
            qm_p = float(stats.f.sf(qm, m, k - p)) if k - p > 0 else float("nan")

    # heterogeneity (fixed-effect weights; metafor uses the centred yi)
    if k > p:
        wf = 1.0 / v
        ymc = y - y.mean()
        XtWf = Xm.T * wf
        Af = _inv(XtWf @ Xm)
        rf = ymc - Xm @ (Af @ (XtWf @ ymc))
        qe = max(0.0, float(np.sum(wf * rf * rf)))
        qe_p = float(stats.chi2.sf(qe, k - p))
        trP = float(np.sum(wf) - np.sum(Af * ((Xm.T * wf**2) @ Xm)))
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
    sum_log = float(np.sum(np.log(v + t2)))
    ll_ml = -0.5 * k * _LOG2PI - 0.5 * sum_log - 0.5 * rss_f
    ll_reml = (
        -0.5 * (k - p) * _LOG2PI
        + 0.5 * np.linalg.slogdet(Xm.T @ Xm)[1]
        - 0.5 * sum_log
        - 0.5 * np.linalg.slogdet(XtW @ Xm)[1]
        - 0.5 * rss_f
    )
    if k > p:
        ll_sat = float(np.sum(-0.5 * (_LOG2PI + np.log(v))))
        dev_ml = -2 * (ll_ml - ll_sat)
    else:
        dev_ml = 0.0
    dev_reml = -2 * ll_reml
    fs = pd.DataFrame(
        {
            "ML": _ics(ll_ml, dev_ml, parms, k),
            "REML": _ics(ll_reml, dev_reml, parms, k - p),
        },
        index=["ll", "dev", "AIC", "BIC", "AICc"],
    )
    own = fs["REML" if method == "REML" else "ML"]

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

    coef = pd.DataFrame(
        {
            "estimate": beta,
            "se": se,
            "stat": zval,
            "pval": pval,
            "ci_low": ci_lb,
            "ci_high": ci_ub,
        },
        index=pd.Index(terms, name="term"),
    )
    if data is None:
        data = pd.DataFrame({"slab": labels, "yi": y, "vi": v})
    return RMAResult(
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
        data=data,
        dropped=list(dropped),
        k=k,
        p=p,
        beta=beta,
        vcov=vb,
        coef=coef,
        estimate=float(beta[0]),
        se=float(se[0]),
        stat=float(zval[0]),
        pval=float(pval[0]),
        ci_low=float(ci_lb[0]),
        ci_high=float(ci_ub[0]),
        df=df,
        tau2=float(t2),
        se_tau2=float(est.se_tau2),
        tau=float(np.sqrt(t2)),
        i2=float(i2),
        h2=float(h2),
        q=float(qe),
        q_df=int(k - p),
        q_pval=float(qe_p),
        qm=qm,
        qm_df=qm_df,
        qm_pval=qm_p,
        r2=r2,
        pi_low=pi_low,
        pi_high=pi_high,
        weights=wpct,
        fit_stats=fs,
        ll=float(own["ll"]),
        deviance=float(own["dev"]),
        aic=float(own["AIC"]),
        bic=float(own["BIC"]),
        aicc=float(own["AICc"]),
        scale=float(scale),
        intercept=intercept,
        tau2_fixed=tau2_fixed,
        converged=est.converged,
        iterations=est.iterations,
        user_weights=None if weights is None else uw,
        design=design,
        call=dict(call or {}),
    )


def _inv(m: np.ndarray) -> np.ndarray:
    if m.shape == (1, 1):
        return 1.0 / m
    return np.linalg.inv(m)


def _ics(ll: float, dev: float, parms: int, n: int) -> list[float]:
    """ll, dev, AIC, BIC, AICc as metafor (n = k for ML, k - p for REML)."""
    aic = -2 * ll + 2 * parms
    with np.errstate(divide="ignore"):
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
    test : {"z", "t", "knha"}
        Inference for the coefficients: normal, t(k - p), or Hartung-Knapp(-Sidik-Jonkman).
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
    from bayesma.data import require_columns

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

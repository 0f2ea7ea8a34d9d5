"""The result of ``rma_mv`` (:class:`RMAMVResult`) and its metafor-style printout."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg

from bayesma.classical.printout import coef_table_lines
from bayesma.classical.rma.prediction import critical_value, numeric_newmods, prediction_frame
from bayesma.classical.settings import parse_level
from bayesma.errors import SpecError
from bayesma.formatting import fmt_pval

__all__ = ["RMAMVResult"]


# ---------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False, repr=False)
class RMAMVResult:
    """A fitted multilevel / multivariate model (metafor's ``rma.mv`` with random intercepts).

    Coefficients are in ``coef`` (a DataFrame indexed by term with ``estimate, se, stat,
    pval, ci_low, ci_high``); ``estimate`` ... ``ci_high`` repeat its first row.
    ``sigma2`` holds the variance components in the order of ``sigma2_names``
    (outer level first for nested factors), ``sigma2_nlevels`` the numbers of levels.
    """

    method: str
    test: str
    level: float
    formula: str | None
    measure: str | None
    random: str
    yi: np.ndarray
    vi: np.ndarray
    V: np.ndarray | None
    X: np.ndarray
    terms: list[str]
    labels: list[str]
    data: pd.DataFrame | None
    dropped: list
    k: int
    p: int
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
    sigma2: np.ndarray
    sigma2_names: list[str]
    sigma2_nlevels: list[int]
    q: float
    q_df: int
    q_pval: float
    qm: float
    qm_df: int | tuple[int, int]
    qm_pval: float
    fit_stats: pd.DataFrame
    ll: float
    deviance: float
    aic: float
    bic: float
    aicc: float
    intercept: bool = True
    converged: bool = True
    iterations: int = 0
    components: list = field(default_factory=list)
    blocks: list = field(default_factory=list)
    design: Any = None
    call: dict = field(default_factory=dict)
    # multivariate models (random = "~ inner | outer", struct = ...)
    struct: str | None = None
    tau2: np.ndarray | None = None
    rho: Any = None
    G: np.ndarray | None = None
    inner: str | None = None
    outer: str | None = None
    inner_levels: list = field(default_factory=list)
    inner_codes: np.ndarray | None = None
    outer_codes: np.ndarray | None = None
    outer_nlevels: int = 0

    # ------------------------------------------------------------------ helpers
    @property
    def stat_name(self) -> str:
        """``"zval"`` for z tests, ``"tval"`` for t tests."""
        return "zval" if self.test == "z" else "tval"

    @property
    def int_only(self) -> bool:
        return self.p == 1 and self.intercept

    @property
    def btt(self) -> list[int]:
        """Coefficients in the omnibus test (metafor's ``btt``)."""
        if self.p > 1 and self.intercept:
            return list(range(1, self.p))
        return list(range(self.p))

    def sampling_cov(self, idx=None) -> np.ndarray:
        """``V`` (or its rows/columns ``idx``)."""
        if idx is None:
            idx = np.arange(self.k)
        idx = np.asarray(idx)
        if self.V is None:
            return np.diag(self.vi[idx])
        return self.V[np.ix_(idx, idx)]

    def marginal_cov(self, idx=None) -> np.ndarray:
        """The fitted marginal covariance ``M = V + sum sigma²_l Z_l Z_l'`` (rows ``idx``);
        for ``random="~ inner | outer"``, ``M = V + G[inner_i, inner_j] [outer_i == outer_j]``.
        """
        if idx is None:
            idx = np.arange(self.k)
        idx = np.asarray(idx)
        M = self.sampling_cov(idx).copy()
        if self.G is not None:
            ci, co = self.inner_codes[idx], self.outer_codes[idx]
            M += self.G[np.ix_(ci, ci)] * (co[:, None] == co[None, :])
        for s, c in zip(self.sigma2, self.components, strict=True):
            M += s * (c[idx][:, None] == c[idx][None, :])
        return M

    def solve_marginal(self, rhs: np.ndarray) -> np.ndarray:
        """``M⁻¹ rhs`` using the block-diagonal structure of ``M``."""
        rhs = np.asarray(rhs, dtype=float)
        out = np.empty_like(rhs)
        for b in self.blocks:
            c = linalg.cho_factor(self.marginal_cov(b), lower=True)
            out[b] = linalg.cho_solve(c, rhs[b])
        return out

    @property
    def i2_levels(self) -> pd.Series | None:
        """Multilevel I² (percent) per variance component, indexed by ``sigma2_names``.

        metafor FAQ "I² for multilevel and multivariate models" (Viechtbauer; Cheung 2014,
        Psychological Methods 19(2), 211-229): ``I²_l = 100 sigma²_l / (sum sigma² + v~)`` with
        the typical sampling variance ``v~ = (k - p) / tr(P)``, ``W = V⁻¹``,
        ``P = W - W X (X'WX)⁻¹ X'W``. ``None`` for a model without variance components
        (and for ``struct`` models, whose variances differ by level).
        """
        if len(self.sigma2) == 0 or self.G is not None:
            return None
        tr = 0.0
        F = np.zeros((self.p, self.p))
        WX = np.empty_like(self.X, dtype=float)
        for b in self.blocks:
            Wb = np.linalg.inv(self.sampling_cov(b))
            tr += float(np.trace(Wb))
            WX[b] = Wb @ self.X[b]
        F = self.X.T @ WX
        # tr(W X F⁻¹ X' W) = tr(F⁻¹ X' W W X)
        tr -= float(np.trace(np.linalg.solve(F, WX.T @ WX)))
        typical = (self.k - self.p) / tr
        total = float(np.sum(self.sigma2)) + typical
        return pd.Series(
            100.0 * self.sigma2 / total,
            index=pd.Index(self.sigma2_names, name="level"),
            name="I2",
        )

    def __repr__(self) -> str:
        if self.G is not None:
            t2 = ", ".join(f"{v:.4f}" for v in self.tau2)
            return (
                f"<RMAMVResult {self.method} k={self.k} p={self.p} struct={self.struct} "
                f"tau2=[{t2}]>"
            )
        s2 = ", ".join(f"{v:.4f}" for v in self.sigma2)
        return (
            f"<RMAMVResult {self.method} k={self.k} p={self.p} test={self.test} "
            f"estimate={self.estimate:.4f} sigma2=[{s2}]>"
        )

    def __str__(self) -> str:
        return self.summary()

    # ------------------------------------------------------------------ display
    def summary(self, digits: int = 4) -> str:
        """A printout in the layout of metafor's ``print.rma.mv``."""
        d = digits
        out = ["", f"Multivariate Meta-Analysis Model (k = {self.k}; method: {self.method})", ""]
        col = "REML" if self.method == "REML" else "ML"
        fs = self.fit_stats[col]
        heads = ("logLik", "Deviance", "AIC", "BIC", "AICc")
        txt = [f"{fs[i]:.{d}f}" for i in ("ll", "dev", "AIC", "BIC", "AICc")]
        ws = [max(len(h), len(t)) for h, t in zip(heads, txt, strict=True)]
        out.append("  ".join(h.rjust(w) for h, w in zip(heads, ws, strict=True)))
        out.append("  ".join(t.rjust(w) for t, w in zip(txt, ws, strict=True)))
        out.append("")
        out += self._vc_lines(d)
        out += self._het_lines(d)
        if not self.int_only:
            out += self._qm_lines(d)
        out.append("Model Results:")
        out.append("")
        out += coef_table_lines(self.coef, d, self.int_only, with_df=self.test != "z", df=self.df)
        out.append("")
        out.append("---")
        out.append("Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
        out.append("")
        return "\n".join(out)

    def _struct_lines(self, d: int) -> list[str]:
        """metafor's block for ``~ inner | outer``: outer/inner factor, tau², rho."""
        lines = [
            "Variance Components:",
            "",
            f"outer factor: {self.outer} (nlvls = {self.outer_nlevels})",
            f"inner factor: {self.inner} (nlvls = {len(self.inner_levels)})",
            "",
        ]
        one = self.struct in ("CS", "ID")
        names = ["tau^2"] if one else [f"tau^2.{i + 1}" for i in range(len(self.tau2))]
        counts = np.bincount(self.inner_codes, minlength=len(self.inner_levels))
        vals = self.tau2[:1] if one else self.tau2
        nw = max(len(n) for n in names)
        lines.append(" " * nw + "  " + "  ".join(h.rjust(10) for h in ("estim", "sqrt", "k.lvl")))
        for i, (n, v) in enumerate(zip(names, vals, strict=True)):
            kl = str(int(counts.sum())) if one else str(int(counts[i]))
            lvl = "" if one else f"  {self.inner_levels[i]}"
            lines.append(
                n.ljust(nw)
                + "  "
                + f"{v:.{d}f}".rjust(10)
                + "  "
                + f"{np.sqrt(v):.{d}f}".rjust(10)
                + "  "
                + kl.rjust(10)
                + lvl
            )
        if isinstance(self.rho, float):
            lines.append("rho".ljust(nw) + "  " + f"{self.rho:.{d}f}".rjust(10))
        elif self.rho is not None:
            lines.append("")
            lines += self.rho.round(d).to_string().splitlines()
        lines.append("")
        return lines

    def _vc_lines(self, d: int) -> list[str]:
        if self.G is not None:
            return self._struct_lines(d)
        if len(self.sigma2) == 0:
            return []
        L = len(self.sigma2)
        rows = ["sigma^2"] if L == 1 else [f"sigma^2.{i + 1}" for i in range(L)]
        cols = ["estim", "sqrt", "nlvls", "fixed", "factor"]
        cells = [
            [f"{s:.{d}f}", f"{np.sqrt(s):.{d}f}", str(n), "no", name]
            for s, n, name in zip(self.sigma2, self.sigma2_nlevels, self.sigma2_names, strict=True)
        ]
        widths = [max(len(c), *(len(r[j]) for r in cells)) for j, c in enumerate(cols)]
        nw = max(len(r) for r in rows)
        lines = ["Variance Components:", ""]
        lines.append(
            " " * nw + "  " + "  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True))
        )
        for r, cl in zip(rows, cells, strict=True):
            lines.append(
                r.ljust(nw) + "  " + "  ".join(c.rjust(w) for c, w in zip(cl, widths, strict=True))
            )
        lines.append("")
        return lines

    def _het_lines(self, d: int) -> list[str]:
        qname = "Q" if self.int_only else "QE"
        title = "Test for Heterogeneity:" if self.int_only else "Test for Residual Heterogeneity:"
        pq = fmt_pval(self.q_pval)
        return [
            title,
            f"{qname}(df = {self.q_df}) = {self.q:.{d}f}, p-val "
            f"{'< .0001' if pq.startswith('<') else '= ' + pq}",
            "",
        ]

    def _qm_lines(self, d: int) -> list[str]:
        btt = self.btt
        coefs = (
            f"coefficient {btt[0] + 1}"
            if len(btt) == 1
            else f"coefficients {btt[0] + 1}:{btt[-1] + 1}"
        )
        pm = fmt_pval(self.qm_pval)
        ptxt = "< .0001" if pm.startswith("<") else "= " + pm
        if isinstance(self.qm_df, tuple):
            stat = (
                f"F(df1 = {self.qm_df[0]}, df2 = {self.qm_df[1]}) = {self.qm:.{d}f}, p-val {ptxt}"
            )
        else:
            stat = f"QM(df = {self.qm_df}) = {self.qm:.{d}f}, p-val {ptxt}"
        return [f"Test of Moderators ({coefs}):", stat, ""]

    # ------------------------------------------------------------------ other methods
    def predict(self, newmods=None, *, level: float | None = None) -> pd.DataFrame:
        """Predicted average effects with CI and prediction interval (metafor ``predict``).

        The prediction interval adds the sum of the variance components,
        ``pred ± crit sqrt(se² + sum(sigma2))``.

        Parameters
        ----------
        newmods : None or array_like
            ``None``: the pooled effect (intercept-only) or the fitted values; else the
            values of the non-intercept terms (one row per prediction) or all ``p``
            columns.
        level : float, optional
            Confidence level (default: the model's).
        """
        if self.G is not None and self.struct not in ("CS", "ID"):
            raise SpecError(
                f"predict() of a struct={self.struct!r} model: the prediction interval depends on "
                "the inner level (tau² differs by level); use the coefficients (.coef) and "
                ".tau2[level] directly"
            )
        level = self.level if level is None else parse_level(level)
        crit = critical_value(self.test, self.df, level)
        if newmods is None:
            if self.int_only:
                Xn, index = np.ones((1, 1)), pd.Index(["pooled"])
            else:
                Xn, index = self.X, pd.Index(self.labels)
        else:
            Xn, index = numeric_newmods(newmods, self.p, self.intercept, self.terms)
        total = float(self.tau2[0]) if self.G is not None else float(np.sum(self.sigma2))
        return prediction_frame(Xn, self.beta, self.vcov, total, crit, index)

    def to_frame(self) -> pd.DataFrame:
        """One-row tidy summary (variance components as ``sigma2.<name>``)."""
        row: dict[str, Any] = {
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
        }
        for name, s in zip(self.sigma2_names, self.sigma2, strict=True):
            row[f"sigma2.{name}"] = float(s)
        if self.G is not None:
            row["struct"] = self.struct
            for lv, t in zip(self.inner_levels, self.tau2, strict=True):
                row[f"tau2.{lv}"] = float(t)
            if isinstance(self.rho, float):
                row["rho"] = self.rho
        row.update(
            {
                "q": self.q,
                "q_df": self.q_df,
                "q_pval": self.q_pval,
                "qm": self.qm,
                "qm_pval": self.qm_pval,
                "ll": self.ll,
                "aic": self.aic,
                "bic": self.bic,
            }
        )
        if self.measure is not None:
            row["measure"] = self.measure
        return pd.DataFrame([row])

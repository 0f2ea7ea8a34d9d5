"""Rows of a forest plot built from a :class:`~bayesma.plots.forest.inputs.ForestInput`.

Pure data: each :class:`Row` holds its cell texts and the marks to draw (display scale);
:mod:`bayesma.plots.forest.render` lays them out and draws them. Numbers are formatted
with :mod:`bayesma.formatting`.

Every text of a study row sits on the study's line (the line of its label and observed
estimate); the posterior mark is drawn half a row below the observed one, so the two
intervals do not cover each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bayesma.errors import BayesmaError
from bayesma.formatting import fmt_est_ci, fmt_interval, fmt_num, fmt_p, fmt_p_apa
from bayesma.plots import _style as st
from bayesma.plots.forest.columns import Column, extra_columns
from bayesma.plots.forest.inputs import ForestInput, Pooled
from bayesma.plots.forest.rob_columns import fill_rob_cells, rob_columns

__all__ = ["Mark", "Row", "RowBuilder"]

#: offsets (row units) of the observed and posterior marks in a study row
DY_OBS = 0.5
DY_POST = 1.0


@dataclass
class Mark:
    """A graphical element of a row (display scale)."""

    kind: str  # "square", "ci", "post", "diamond", "bar"
    est: float
    lo: float
    hi: float
    dy: float
    color: str
    size: float = 0.0
    fill: str | None = None


@dataclass
class Row:
    """One row of the forest plot.

    ``kind`` is ``"study"``, ``"header"`` (subgroup section), ``"subtotal"``,
    ``"pooled"``, ``"prediction"``, ``"note"`` or ``"spacer"``; ``cells`` maps column
    keys to their text.
    """

    kind: str
    key: str
    cells: dict[str, str] = field(default_factory=dict)
    height: float = 1.0
    marks: list[Mark] = field(default_factory=list)
    text_dy: dict[str, float] = field(default_factory=dict)
    font: dict[str, dict[str, Any]] = field(default_factory=dict)
    span: str | None = None  # text spanning the left text area (header / note rows)
    span_font: dict[str, Any] = field(default_factory=dict)
    group: str | None = None
    y: float = 0.0  # top of the row, in row units from the top of the table


def method_text(cres: Any) -> str:
    """``"REML, HKSJ"``, ``"DL"`` or ``"common effect"``."""
    if cres.method == "EE":
        return "common effect"
    return f"{cres.method}" + (", HKSJ" if cres.test == "knha" else "")


def model_text(cres: Any, with_bayes: bool) -> str:
    """Label of the overall classical row."""
    if cres.method == "EE":
        return "Common-effect model" + (", classical" if with_bayes else "")
    if with_bayes:
        return f"Random effects, classical ({method_text(cres)})"
    return f"Random-effects model ({method_text(cres)})"


def tau2_digits(x: float) -> int:
    """Decimals that show a small tau² with two significant digits."""
    if not np.isfinite(x) or x == 0 or abs(x) >= 0.01:
        return 2 if (not np.isfinite(x) or abs(x) < 100) else 1
    return max(2, 1 - int(math.floor(math.log10(abs(x)))))


def classical_het(cres: Any) -> str:
    """``REML τ² = 0.31, I² = 92%, Q = 152.23 (df = 12, p < 0.001)``."""
    q = f"Q = {cres.q:.2f} (df = {st.fmt_df(cres.q_df)}, {fmt_p_apa(cres.q_pval)})"
    if cres.method == "EE":
        return f"I\u00b2 = {cres.i2:.0f}%, {q}"
    return (f"{cres.method} \u03c4\u00b2 = {fmt_num(cres.tau2, tau2_digits(cres.tau2))}, "
            f"I\u00b2 = {cres.i2:.0f}%, {q}")


def overall_effect_text(cres: Any) -> str:
    """RevMan's line: ``Test for overall effect: Z = 3.21 (P = 0.001)``.

    The statistic is the classical fit's z (``Z``), or t with its degrees of freedom
    under ``test="t"`` / ``"knha"`` (Hartung-Knapp); the sign follows the estimate.
    """
    p = fmt_p(cres.pval, missing="NA")
    ptxt = f"P {p}" if p.startswith("<") else f"P = {p}"
    if cres.test == "z":
        stat = f"Z = {fmt_num(abs(cres.stat), 2)}"
    else:
        stat = f"t = {fmt_num(abs(cres.stat), 2)}, df = {st.fmt_df(cres.df)}"
    return f"Test for overall effect: {stat} ({ptxt})"


@dataclass
class RowBuilder:
    """Builds the rows, columns and footer lines of a forest plot."""

    fit: ForestInput
    scale: st.Scale
    show: tuple[str, ...]
    prob: float
    point: str
    digits: int
    columns: Any
    arm_columns: dict[str, str] | None
    arm_labels: tuple[str, str]
    study_header: str
    rob: Any = None
    rob_tool: str = "generic"

    rows: list[Row] = field(default_factory=list)
    cols: list[Column] = field(default_factory=list)
    footer_lines: list[str] = field(default_factory=list)
    pooled_value: float | None = None
    pooled_color: str = st.CLASSICAL

    def __post_init__(self) -> None:
        f = self.fit
        self.has_bayes = f.bayesian and "posterior" in self.show
        self.has_obs = "observed" in self.show
        self.k = f.k
        z = stats.norm.isf((1 - self.prob) / 2)
        se = np.sqrt(f.vi)
        self.obs_lo, self.obs_hi = f.yi - z * se, f.yi + z * se
        self.weights = f.weights
        self.theta = f.theta
        self.extra_cols = extra_columns(f.data, self.columns, self.arm_columns,
                                        self.arm_labels)
        self.rob_cols = rob_columns(f.data, self.rob, self.rob_tool)
        self._make_columns()

    # ---------------------------------------------------------------- formatting
    def t(self, x: Any) -> Any:
        return self.scale(x)

    def ci_text(self, est: float, lo: float, hi: float) -> str:
        return fmt_est_ci(self.t(est), self.t(lo), self.t(hi), self.digits)

    # ---------------------------------------------------------------- sorting
    def order(self, sort_by: str | None, ascending: bool | None) -> np.ndarray:
        """Row order of the studies."""
        idx = np.arange(self.k)
        if sort_by is None:
            return idx
        asc = ascending
        if sort_by == "label":
            key = np.array([s.casefold() for s in self.fit.labels], dtype=object)
        elif sort_by == "effect":
            key = self.fit.yi
        elif sort_by == "posterior":
            if self.theta is None:
                raise BayesmaError("sort_by='posterior' needs a Bayesian result")
            key = self.theta[0]
        elif sort_by in ("weight", "precision"):
            key = self.weights if sort_by == "weight" else 1 / self.fit.vi
            asc = False if ascending is None else ascending
        elif self.fit.data is not None and sort_by in self.fit.data.columns:
            key = self.fit.data[sort_by].to_numpy()
        else:
            raise BayesmaError(
                f"sort_by must be 'label', 'effect', 'posterior', 'weight', 'precision' or a "
                f"column of the data; got {sort_by!r}")
        asc = True if asc is None else asc
        o = pd.Series(list(key)).sort_values(ascending=asc, kind="stable",
                                             na_position="last").index
        return idx[o.to_numpy()]

    # ---------------------------------------------------------------- columns
    def _make_columns(self) -> None:
        s = self.scale.short
        lev = f"{100 * self.prob:g}%"
        cols = [Column("label", self.study_header, "left", align="left")]
        cols += [c for c, _ in self.extra_cols]
        if self.has_obs or self.fit.overall.classical is not None:
            cols.append(Column("obs", f"{s} [{lev} CI]", "left",
                               group="Observed" if self.has_bayes else None))
        if self.has_obs:
            cols.append(Column("weight", f"Weight ({self.fit.weight_method})", "right"))
        if self.has_bayes:
            cols.append(Column("post", f"{s} [{lev} CrI]", "right", group="Posterior",
                               color=st.BAYES))
        cols += [rc.column for rc in self.rob_cols]
        self.cols = cols

    # ---------------------------------------------------------------- rows
    def _study_row(self, i: int, group: str | None) -> Row:
        f = self.fit
        label = f.labels[i]
        row = Row("study", label, group=group)
        both = self.has_obs and self.has_bayes
        row.height = 1.5 if both else 1.0
        dy_text = DY_OBS
        dy_post = DY_POST if both else DY_OBS
        row.cells["label"] = label
        row.text_dy["label"] = dy_text
        for c, vals in self.extra_cols:
            row.cells[c.key] = vals[i]
            row.text_dy[c.key] = dy_text
        fill_rob_cells(row, i, self.rob_cols, dy_text)
        if self.has_obs:
            row.cells["obs"] = self.ci_text(f.yi[i], self.obs_lo[i], self.obs_hi[i])
            row.text_dy["obs"] = dy_text
            row.cells["weight"] = f"{self.weights[i]:.1f}%"
            row.text_dy["weight"] = dy_text
            row.marks.append(Mark("ci", self.t(f.yi[i]), self.t(self.obs_lo[i]),
                                  self.t(self.obs_hi[i]), DY_OBS, st.CLASSICAL))
            row.marks.append(Mark("square", self.t(f.yi[i]), np.nan, np.nan, DY_OBS,
                                  st.CLASSICAL, size=self.weights[i]))
        if self.has_bayes:
            est, lo, hi = (a[i] for a in self.theta)
            row.cells["post"] = self.ci_text(est, lo, hi)
            row.text_dy["post"] = dy_text  # on the study's line, not the mark's
            row.font["post"] = {"color": st.BAYES}
            row.marks.append(Mark("post", self.t(est), self.t(lo), self.t(hi), dy_post,
                                  st.BAYES))
        return row

    def _pooled_rows(self, pooled: Pooled, *, subtotal: bool, key: str) -> list[Row]:
        rows: list[Row] = []
        kind = "subtotal" if subtotal else "pooled"
        bold = {"weight": "bold"}
        half = 0.3 if subtotal else 0.36
        cres = pooled.classical
        with_bayes = pooled.mu is not None and self.has_bayes
        if "pooled" in self.show and cres is not None:
            r = Row(kind, f"{key}:classical", height=1.0)
            r.cells["label"] = (f"Subtotal, {method_text(cres)}" if subtotal
                                else model_text(cres, with_bayes))
            r.font["label"] = bold
            ok = np.isfinite(cres.ci_low) and np.isfinite(cres.ci_high)
            if "obs" in {c.key for c in self.cols}:
                r.cells["obs"] = self.ci_text(cres.estimate, cres.ci_low, cres.ci_high) \
                    if ok else fmt_num(self.t(cres.estimate), self.digits) + " [NA]"
                r.font["obs"] = bold
            if self.has_obs and pooled.weight is not None:
                r.cells["weight"] = f"{pooled.weight:.1f}%"
                r.font["weight"] = bold
            if ok:
                r.marks.append(Mark("diamond", self.t(cres.estimate), self.t(cres.ci_low),
                                    self.t(cres.ci_high), 0.5, st.CLASSICAL, size=half))
            rows.append(r)
        if "pooled" in self.show and with_bayes:
            est, lo, hi = pooled.mu
            r = Row(kind, f"{key}:bayes", height=1.0)
            r.cells["label"] = "Subtotal, Bayesian (\u03bc)" if subtotal else \
                "Random effects, Bayesian (\u03bc)"
            r.font["label"] = {"weight": "bold", "color": st.BAYES}
            r.cells["post"] = self.ci_text(est, lo, hi)
            r.font["post"] = {"weight": "bold", "color": st.BAYES}
            r.marks.append(Mark("diamond", self.t(est), self.t(lo), self.t(hi), 0.5, st.BAYES,
                                size=half))
            rows.append(r)
        return rows

    def _prediction_row(self, pooled: Pooled, key: str) -> Row | None:
        if "prediction" not in self.show:
            return None
        cres = pooled.classical
        has_c = cres is not None and cres.pi_low is not None
        has_b = pooled.pred is not None and self.has_bayes
        if not (has_c or has_b):
            return None
        r = Row("prediction", f"{key}:prediction", height=1.5 if (has_c and has_b) else 1.0)
        r.cells["label"] = "Prediction interval (new study)"
        r.font["label"] = {"weight": "bold"}
        r.text_dy["label"] = 0.5
        dy_c, dy_b = 0.5, 1.0 if has_c else 0.5
        if has_c:
            ok = np.isfinite(cres.pi_low) and np.isfinite(cres.pi_high)
            r.cells["obs"] = fmt_interval(self.t(cres.pi_low), self.t(cres.pi_high),
                                          self.digits) if ok else "[NA]"
            r.text_dy["obs"] = dy_c
            if ok:
                r.marks.append(Mark("bar", self.t(cres.estimate), self.t(cres.pi_low),
                                    self.t(cres.pi_high), dy_c, st.CLASSICAL,
                                    fill=st.CLASSICAL_LIGHT))
        if has_b:
            est, lo, hi = pooled.pred
            r.cells["post"] = fmt_interval(self.t(lo), self.t(hi), self.digits)
            r.text_dy["post"] = dy_c  # on the row's text line
            r.font["post"] = {"color": st.BAYES}
            r.marks.append(Mark("bar", self.t(est), self.t(lo), self.t(hi), dy_b, st.BAYES,
                                fill=st.BAYES_LIGHT))
        return r

    def _het_text(self, pooled: Pooled) -> str:
        parts = []
        if pooled.tau is not None and self.has_bayes:
            est, lo, hi = pooled.tau
            lev = f"{100 * self.prob:g}%"
            parts.append(f"\u03c4 = {fmt_num(est, 2)} [{fmt_num(lo, 2)}, {fmt_num(hi, 2)}] "
                         f"(posterior {self.point} [{lev} CrI])")
        if pooled.classical is not None:
            parts.append(classical_het(pooled.classical))
        return "; ".join(parts)

    def _overall(self, rows: list[Row], het_prefix: str) -> None:
        o = self.fit.overall
        rows += self._pooled_rows(o, subtotal=False, key="overall")
        pr = self._prediction_row(o, "overall")
        if pr is not None:
            rows.append(pr)
        self.rows = rows
        if o.mu is not None and self.has_bayes:
            self.pooled_value, self.pooled_color = self.t(o.mu[0]), st.BAYES
        elif o.classical is not None:
            self.pooled_value, self.pooled_color = self.t(o.classical.estimate), st.CLASSICAL
        self.footer_lines = []
        het = self._het_text(o)
        if het:
            self.footer_lines.append(het_prefix + het)
        if o.classical is not None and "pooled" in self.show:
            self.footer_lines.append(overall_effect_text(o.classical))

    def build_plain(self, order: np.ndarray) -> None:
        """Studies, then the pooled and prediction rows."""
        rows = [self._study_row(i, None) for i in order]
        rows.append(Row("spacer", "spacer:pooled", height=0.4))
        self._overall(rows, "Heterogeneity: ")
        self._prior_line()

    def build_subgroups(self, order: np.ndarray) -> None:
        """A section per subgroup (studies, subtotals, heterogeneity), then the overall."""
        rank = np.empty(self.k, dtype=int)
        rank[order] = np.arange(self.k)
        rows: list[Row] = []
        for sec in self.fit.sections or []:
            idx = sec.idx[np.argsort(rank[sec.idx], kind="stable")]
            head = Row("header", f"group:{sec.name}", height=1.2, span=sec.name,
                       group=sec.name)
            head.span_font = {"weight": "bold"}
            rows.append(head)
            rows += [self._study_row(i, sec.name) for i in idx]
            rows += self._pooled_rows(sec.pooled, subtotal=True, key=f"group:{sec.name}")
            note = self._het_text(sec.pooled) if len(idx) > 1 else ""
            if note:
                nr = Row("note", f"group:{sec.name}:note", height=1.0,
                         span="Heterogeneity: " + note, group=sec.name)
                nr.span_font = {"style": "italic", "fontsize_scale": 0.9}
                rows.append(nr)
            rows.append(Row("spacer", f"group:{sec.name}:spacer", height=0.5))
        self._overall(rows, "Overall heterogeneity: ")
        test = self.fit.subgroup_test
        if test is not None:
            qb, qdf, qp = test
            self.footer_lines.append(
                f"Test for subgroup differences (classical): Q = {qb:.2f}, "
                f"df = {st.fmt_df(qdf)}, {fmt_p_apa(qp)}")
        self._prior_line()

    def _prior_line(self) -> None:
        pri = self.fit.priors or {}
        if not self.has_bayes:
            return
        names = {"mu": "\u03bc", "tau": "\u03c4"}
        parts = [f"{names[k]} ~ {st.describe_prior(v)}" for k, v in pri.items()
                 if k in names]
        if parts:
            self.footer_lines.append(
                f"Bayesian model: {', '.join(parts)} ({self.fit.engine}); "
                f"study estimates: posterior {self.point}s")

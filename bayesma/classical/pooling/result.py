"""The result of ``rma_mh`` and ``rma_peto`` (:class:`PoolingResult`), its metafor printout,
and the pieces every pooling method shares (Wald test and CI, the study yi/vi)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayesma.classical.printout import coef_table_lines, p_phrase
from bayesma.data import describe_rows, study_labels
from bayesma.effect_sizes import escalc
from bayesma.errors import DroppedRowsWarning
from bayesma.formatting import fmt_pval
from bayesma.tails import chi2_sf, norm_isf, norm_sf

__all__ = ["RATIO_MEASURES", "PoolingResult", "finish_pooling", "heterogeneity",
           "pooled_result", "ratio_lines", "study_effects", "wald", "warn_undefined"]

#: measures pooled on the log scale (back-transformed with exp)
RATIO_MEASURES = frozenset({"OR", "RR", "IRR", "PETO"})


def heterogeneity(q: float, k: int) -> tuple[float, float, float]:
    """I² (percent) and H² from Q with ``k - 1`` df, as metafor's rma.mh/rma.peto;
    returns ``(q_pval, i2, h2)``; a single table gives ``(1, 0, 1)``."""
    if k <= 1:
        return 1.0, 0.0, 1.0
    return float(chi2_sf(q, k - 1)), max(0.0, 100.0 * (q - (k - 1)) / q), q / (k - 1)


def ratio_lines(measure: str, estimate: float, low: float, high: float, d: int) -> list[str]:
    """The ``Model Results (OR scale)`` block metafor prints for ratio measures."""
    vals = [f"{np.exp(v):.{d}f}" for v in (estimate, low, high)]
    heads = ("estimate", "ci.lb", "ci.ub")
    ws = [max(len(h), len(v) + 1) for h, v in zip(heads, vals, strict=True)]
    return [
        f"Model Results ({measure} scale):",
        "",
        " ".join(h.rjust(w) for h, w in zip(heads, ws, strict=True)) + " ",
        " ".join(v.rjust(w) for v, w in zip(vals, ws, strict=True)) + " ",
        "",
    ]


@dataclass(frozen=True)
class PoolingResult:
    """A Mantel-Haenszel or Peto (equal-effects) pooled estimate, as metafor's ``rma.mh``
    / ``rma.peto``.

    Attributes
    ----------
    method : str
        ``"MH"`` or ``"PETO"``.
    measure : str
        ``OR``, ``RR``, ``RD``, ``IRR``, ``IRD`` (MH) or ``PETO``.
    estimate, se, zval, pval, ci_low, ci_high : float
        Pooled effect on the analysis scale (log for OR, RR, IRR, PETO), its SE, z test
        and confidence interval.
    estimate_exp, ci_low_exp, ci_high_exp : float
        For ratio measures the back-transformed (exponentiated) estimate and interval,
        else NaN.
    q, q_pval, i2, h2 : float
        Cochran's Q over the tables with a defined effect size and its p-value (df =
        ``k_yi - 1``), I² (percent) and H², as metafor computes them.
    cmh, cmh_pval : float
        Cochran-Mantel-Haenszel test (OR and IRR; NaN otherwise).
    cochran, cochran_pval : float
        Cochran's version of that test (denominators ``N`` instead of ``N - 1``; OR only).
    tarone, tarone_pval, breslow_day, breslow_day_pval : float
        Tarone's and the Breslow-Day tests of homogeneity of odds ratios (OR only), with
        ``k_pos - 1`` df.
    k, k_yi, k_pos : int
        Tables used, tables with a defined yi/vi (enter Q), and tables entering the
        Breslow-Day/Tarone tests.
    level : float
        Confidence level (fraction).
    yi, vi : ndarray
        Study effect sizes and variances from :func:`bayesma.escalc` (NaN where undefined).
    labels : list of str
        Study labels.
    """

    method: str
    measure: str
    estimate: float
    se: float
    zval: float
    pval: float
    ci_low: float
    ci_high: float
    q: float
    q_pval: float
    i2: float
    h2: float
    k: int
    k_yi: int
    level: float
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    labels: list[str] = field(repr=False)
    cmh: float = float("nan")
    cmh_pval: float = float("nan")
    cochran: float = float("nan")
    cochran_pval: float = float("nan")
    tarone: float = float("nan")
    tarone_pval: float = float("nan")
    breslow_day: float = float("nan")
    breslow_day_pval: float = float("nan")
    k_pos: int | None = None
    settings: dict = field(default_factory=dict, repr=False)

    @property
    def is_ratio(self) -> bool:
        """True for measures pooled on the log scale (OR, RR, IRR, PETO)."""
        return self.measure in RATIO_MEASURES

    @property
    def estimate_exp(self) -> float:
        """exp(estimate) for ratio measures, else NaN."""
        return float(np.exp(self.estimate)) if self.is_ratio else float("nan")

    @property
    def ci_low_exp(self) -> float:
        """exp(ci_low) for ratio measures, else NaN."""
        return float(np.exp(self.ci_low)) if self.is_ratio else float("nan")

    @property
    def ci_high_exp(self) -> float:
        """exp(ci_high) for ratio measures, else NaN."""
        return float(np.exp(self.ci_high)) if self.is_ratio else float("nan")

    @property
    def tau2(self) -> float:
        """0: both methods assume one common effect."""
        return 0.0

    @property
    def data(self) -> pd.DataFrame:
        """The study effect sizes: a row per table, columns ``yi, vi``."""
        index = pd.Index(self.labels, name="study")
        return pd.DataFrame({"yi": self.yi, "vi": self.vi}, index=index)

    def to_frame(self) -> pd.DataFrame:
        """A one-row table of the pooled estimate and tests."""
        keys = ("estimate", "se", "zval", "pval", "ci_low", "ci_high", "estimate_exp",
                "ci_low_exp", "ci_high_exp", "q", "q_pval", "i2", "h2", "cmh", "cmh_pval",
                "tarone", "tarone_pval", "k")
        return pd.DataFrame([{k: getattr(self, k) for k in keys}], index=[self.method])

    def summary(self, digits: int = 4) -> str:
        """A printout in the layout of metafor's ``print.rma.mh`` / ``print.rma.peto``."""
        d = digits
        out = ["", f"Equal-Effects Model (k = {self.k})", ""]
        w = len("H^2 (total variability / sampling variability):") + 1
        out.append("I^2 (total heterogeneity / total variability):".ljust(w) + f"{self.i2:.2f}%")
        out.append("H^2 (total variability / sampling variability):".ljust(w) + f"{self.h2:.2f}")
        out += ["", "Test for Heterogeneity: ",
                f"Q(df = {self.k_yi - 1}) = {self.q:.{d}f}, p-val {p_phrase(self.q_pval)}", ""]
        coef = pd.DataFrame({"estimate": [self.estimate], "se": [self.se], "stat": [self.zval],
                             "pval": [self.pval], "ci_low": [self.ci_low],
                             "ci_high": [self.ci_high]}, index=["intrcpt"])
        out.append("Model Results (log scale):" if self.is_ratio else "Model Results:")
        out.append("")
        out += coef_table_lines(coef, d, True, with_df=False)
        out.append("")
        if self.is_ratio:
            name = "OR" if self.measure == "PETO" else self.measure
            out += ratio_lines(name, self.estimate, self.ci_low, self.ci_high, d)
        if self.measure == "OR":
            out += self._or_test_lines(d)
        elif self.measure == "IRR":
            mh = ("test value not computable for these data" if not np.isfinite(self.cmh) else
                  f"MH = {self.cmh:.{d}f}, df = 1, p-val {p_phrase(self.cmh_pval)}")
            out.append(f"Mantel-Haenszel Test: {mh}")
        return "\n".join(out) + "\n"

    def _or_test_lines(self, d: int) -> list[str]:
        """The CMH and Tarone lines of metafor's print.rma.mh (measure OR)."""
        cmh = f"{self.cmh:.{d}f}" if np.isfinite(self.cmh) else None
        ta = f"{self.tarone:.{d}f}" if np.isfinite(self.tarone) else None
        w = max((len(t) for t in (cmh, ta) if t is not None), default=1)
        na = "test value not computable for these data"
        pad = " " * (len(str(self.k_pos)) - 1)
        return [
            "Cochran-Mantel-Haenszel Test:    " + (na if cmh is None else
                f"CMH = {cmh.rjust(w)}, df = 1,{pad} p-val {_pv(self.cmh_pval)}"),
            "Tarone's Test for Heterogeneity: " + (na if ta is None else
                f"X^2 = {ta.rjust(w)}, df = {self.k_pos - 1}, p-val {_pv(self.tarone_pval)}"),
        ]

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        est = f"{self.estimate:.4f} [{self.ci_low:.4f}, {self.ci_high:.4f}]"
        return f"<PoolingResult {self.method} {self.measure}: k={self.k}, estimate={est}>"


def _pv(p: float) -> str:
    """metafor's ``p-val`` for the CMH/Tarone lines (``< 0.0001`` or ``= 0.1234``)."""
    txt = fmt_pval(p)
    return "< 0.0001" if txt.startswith("<") else "= " + txt


def wald(est: float, se: float, level: float) -> dict[str, float]:
    """``zval, pval, ci_low, ci_high`` of an estimate and its SE (Wald z test and interval,
    as metafor's rma.mh, rma.peto and rma.glmm)."""
    z = est / se
    crit = float(norm_isf((1 - level) / 2))
    return {"zval": z, "pval": float(2 * norm_sf(abs(z))), "ci_low": est - crit * se,
            "ci_high": est + crit * se}


def study_effects(
    measure: str, data: pd.DataFrame, cols: dict[str, str | None], add: float, to: str,
    drop00: bool, slab: str | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Study yi/vi by :func:`bayesma.escalc` (its continuity correction), NaN where undefined."""
    given = {k: v for k, v in cols.items() if v is not None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined effects are reported by the caller
        es = escalc(measure, data, **given, add=add, to=to, drop00=drop00, slab=slab)
    return es["yi"].to_numpy(dtype=float), es["vi"].to_numpy(dtype=float)


def warn_undefined(data: pd.DataFrame, yi: np.ndarray, vi: np.ndarray, slab: str | None) -> None:
    """Warn (naming the rows) about studies whose yi/vi are undefined."""
    bad = ~(np.isfinite(yi) & np.isfinite(vi))
    if bad.any():
        rows = list(data.index[np.flatnonzero(bad)])
        warnings.warn(
            f"the effect size is undefined (e.g. no events in either group with drop00=True), "
            f"so these tables are left out of Q, I² and H² (they still count in the pooled "
            f"estimate, as in metafor's rma.mh): {describe_rows(data, rows, slab=slab)}",
            DroppedRowsWarning, stacklevel=4,
        )


def finish_pooling(method: str, measure: str, fit: dict, k: int, data: pd.DataFrame,
                   cols: dict[str, str | None], settings: dict, level: float,
                   slab: str | None) -> PoolingResult:
    """The :class:`PoolingResult` of rma_mh and rma_peto: the study yi/vi of ``measure``
    with the first ``add``/``to``/``drop00`` values of ``settings`` (metafor), a warning
    about undefined ones, then :func:`pooled_result`."""
    add, to, drop00 = settings["add"], settings["to"], settings["drop00"]
    yi, vi = study_effects(measure, data, cols, float(add[0]), to[0], bool(drop00[0]), slab)
    warn_undefined(data, yi, vi, slab)
    return pooled_result(method, measure, fit, yi, vi, k, level, study_labels(data, slab),
                         settings)


def pooled_result(method: str, measure: str, fit: dict, yi: np.ndarray, vi: np.ndarray, k: int,
                  level: float, labels: list[str], settings: dict) -> PoolingResult:
    """The result from a pooled ``estimate``/``se`` in ``fit``: Wald test, CI and, unless
    ``q`` is given in ``fit``, Q/I²/H² from the study yi/vi (metafor 3.8 rma.mh)."""
    est, se = float(fit.pop("estimate")), float(fit.pop("se"))
    ok = np.isfinite(yi) & np.isfinite(vi)
    k_yi = int(ok.sum())
    if "q" in fit:
        q = float(fit.pop("q"))
        q_pval, i2, h2 = heterogeneity(q, k_yi) if fit.pop("k_het") > 1 else (1.0, 0.0, 1.0)
    elif k_yi > 1:
        q = max(0.0, float(np.sum((yi[ok] - est) ** 2 / vi[ok])))
        q_pval, i2, h2 = heterogeneity(q, k_yi)
    else:
        q, q_pval, i2, h2 = 0.0, 1.0, 0.0, 1.0
    return PoolingResult(
        method=method, measure=measure, estimate=est, se=se, **wald(est, se, level),
        q=q, q_pval=q_pval, i2=i2, h2=h2, k=k, k_yi=k_yi, level=level, yi=yi, vi=vi,
        labels=labels, settings=settings, **fit,
    )

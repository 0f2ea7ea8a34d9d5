"""Sensitivity subsets: the analysis re-run without the studies a rule excludes.

:func:`sensitivity_subsets` fits the classical model (REML with Knapp-Hartung by
default) and the exact Bayesian model to all studies and to each subset, and returns a
before/after table for both engines.

Rules (``True`` = the study is excluded):

``"rob"``
    High overall risk of bias: the ``Overall`` column of a risk-of-bias table in the
    robvis convention (McGuinness & Higgins 2021, Res Synth Methods 12:55; RoB 2,
    Sterne et al. 2019, BMJ 366:l4898): domain columns ``D1``..``D5`` and ``Overall``
    with judgements ``low``, ``some concerns``, ``high`` (and robvis' ``no
    information``), in any letter case. The columns are validated first: an unknown or
    missing judgement raises a :class:`~bayesma.errors.DataError` naming the column and
    the row.
``"outliers"``
    Outlying or influential studies of the classical fit: metafor's influence rule
    (``bm.influence(res)["inf"]``: DFFITS, Cook's distance, hat value or DFBETAS beyond
    their cut-offs; Viechtbauer & Cheung 2010, Res Synth Methods 1:112, sec. 3) **or**
    an externally studentized residual ``|rstudent| > 1.96`` (the two-sided 5% normal
    cut-off for these residuals, ibid., sec. 3.1). ``"influential"`` and
    ``"rstudent"`` apply one criterion alone.
a column name
    A boolean column (True/False or 1/0) of the table.
a mask
    A boolean array or Series (aligned on the table's index), or a callable taking the
    table and returning one.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayesma.classical.influence import influence
from bayesma.classical.rma import fit_arrays
from bayesma.data import describe_rows, find_label_column
from bayesma.errors import BayesmaError, DataError
from bayesma.formatting import fmt_plain as fmt
from bayesma.sensitivity.common import (
    Studies,
    classical_fit,
    classical_heterogeneity,
    exact_fit,
    label_list,
    plot_result,
    read_studies,
    resolve_priors,
)

__all__ = ["ROB_VALUES", "SensitivitySubsets", "rob_columns", "rob_judgements",
           "sensitivity_subsets", "SUBSET_COLUMNS", "RSTUDENT_CUTOFF"]

#: Accepted risk-of-bias judgements (robvis RoB 2 convention), in canonical spelling.
ROB_VALUES = ("low", "some concerns", "high", "no information")
#: |rstudent| beyond which a study counts as an outlier (two-sided 5% normal cut-off).
RSTUDENT_CUTOFF = 1.96
#: Columns of :attr:`SensitivitySubsets.table`.
SUBSET_COLUMNS = ["k", "n_excluded", "excluded", "estimate", "low", "high", "tau", "tau_low",
                  "tau_high", "i2"]

_ROB_COL = re.compile(r"^(d\d+|overall)$", re.IGNORECASE)
_ROB_ALIASES = {"some concern": "some concerns", "some concerns": "some concerns",
                "low": "low", "high": "high", "no information": "no information",
                "no info": "no information"}


# ======================================================================================
# risk of bias
# ======================================================================================
def rob_columns(data: pd.DataFrame) -> list[str]:
    """Risk-of-bias columns of a table: ``D1``, ``D2``... and ``Overall`` (any case)."""
    return [str(c) for c in data.columns if _ROB_COL.match(str(c).strip())]


def _norm_judgement(x: Any) -> str | None:
    if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
        return None
    s = " ".join(str(x).strip().lower().replace("_", " ").replace("-", " ").split())
    return _ROB_ALIASES.get(s)


def rob_judgements(data: pd.DataFrame, columns: Sequence[str] | None = None, *,
                   slab: str | None = None) -> pd.DataFrame:
    """The risk-of-bias judgements of a table, validated and in canonical spelling.

    Parameters
    ----------
    data : DataFrame
        The study table.
    columns : sequence of str, optional
        The risk-of-bias columns (default :func:`rob_columns`).
    slab : str, optional
        Label column, for error messages.

    Returns
    -------
    DataFrame
        The columns with values from :data:`ROB_VALUES`.

    Raises
    ------
    DataError
        No risk-of-bias column, or an unknown or missing judgement (naming the column
        and the rows).
    """
    cols = list(columns) if columns is not None else rob_columns(data)
    if not cols:
        raise DataError("no risk-of-bias columns found: expected columns D1, D2, ... and "
                        "Overall (robvis convention); available columns: "
                        f"{', '.join(map(str, data.columns))}")
    label_col = find_label_column(data, slab)
    out = {}
    for c in cols:
        if c not in data.columns:
            raise DataError(f"risk-of-bias column {c!r} is not in the data", column=c)
        vals = [_norm_judgement(x) for x in data[c]]
        bad = [i for i, v in enumerate(vals) if v is None]
        if bad:
            rows = list(data.index[bad])
            where = describe_rows(data, rows, slab=label_col, positions=bad)
            raw = data[c].iloc[bad[0]]
            what = "a missing judgement" if _is_missing(raw) else f"value {raw!r}"
            raise DataError(
                f"column {c!r} (risk of bias): {where} has {what}; expected one of "
                f"{', '.join(repr(v) for v in ROB_VALUES)} (robvis convention, any "
                "letter case)", column=c, rows=rows)
        out[c] = vals
    return pd.DataFrame(out, index=data.index)


def _is_missing(x: Any) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def _overall_column(data: pd.DataFrame) -> str:
    for c in data.columns:
        if str(c).strip().lower() == "overall":
            return str(c)
    raise DataError("rule 'rob' needs an 'Overall' risk-of-bias column (robvis convention: "
                    "D1..D5 and Overall with low / some concerns / high); available columns: "
                    f"{', '.join(map(str, data.columns))}", column="Overall")


# ======================================================================================
# rules
# ======================================================================================
def _bool_column(data: pd.DataFrame, col: str, label_col: str | None) -> np.ndarray:
    s = data[col]
    out = np.zeros(len(s), dtype=bool)
    bad = []
    for i, x in enumerate(s):
        if isinstance(x, bool | np.bool_):
            out[i] = bool(x)
        elif isinstance(x, int | float | np.integer | np.floating) and not _is_missing(x) \
                and float(x) in (0.0, 1.0):
            out[i] = bool(x)
        elif isinstance(x, str) and x.strip().lower() in ("true", "false"):
            out[i] = x.strip().lower() == "true"
        else:
            bad.append(i)
    if bad:
        rows = list(data.index[bad])
        raw = s.iloc[bad[0]]
        what = "a missing value" if _is_missing(raw) else f"value {raw!r}"
        raise DataError(f"column {col!r} (exclusion rule) must be boolean (True/False or "
                        f"1/0); {describe_rows(data, rows, slab=label_col, positions=bad)} "
                        f"has {what}", column=col, rows=rows)
    return out


def _mask(rule: Any, name: str, st: Studies, influence_table: Callable[[], pd.DataFrame]
          ) -> tuple[np.ndarray, str]:
    """(excluded mask, description) of one rule."""
    data = st.data
    if isinstance(rule, str):
        key = rule.strip().lower()
        if key == "rob":
            if data is None:
                raise BayesmaError("rule 'rob' needs the study table")
            cols = rob_columns(data)
            overall = _overall_column(data)
            judg = rob_judgements(data, cols, slab=st.slab)
            return (judg[overall].to_numpy() == "high",
                    f"overall risk of bias ({overall!r}) is high")
        if key in ("outliers", "influential", "rstudent"):
            inf = influence_table()
            flag_inf = inf["inf"].to_numpy(bool)
            flag_rs = np.abs(inf["rstudent"].to_numpy(float)) > RSTUDENT_CUTOFF
            if key == "influential":
                return flag_inf, "influential in the classical fit (metafor's rule)"
            if key == "rstudent":
                return flag_rs, f"|rstudent| > {RSTUDENT_CUTOFF:g} in the classical fit"
            return flag_inf | flag_rs, (f"influential (metafor's rule) or |rstudent| > "
                                        f"{RSTUDENT_CUTOFF:g} in the classical fit")
        if data is not None and rule in data.columns:
            return _bool_column(data, rule, st.slab), f"column {rule!r} is True"
        raise BayesmaError(f"rule {name!r}: {rule!r} is neither 'rob', 'outliers', "
                           "'influential', 'rstudent' nor a column of the data")
    if callable(rule):
        if data is None:
            raise BayesmaError(f"rule {name!r}: a callable rule needs the study table")
        rule = rule(data)
        desc = "custom rule"
    else:
        desc = "custom mask"
    if isinstance(rule, pd.Series) and data is not None:
        if not rule.index.equals(data.index):
            try:
                rule = rule.reindex(data.index)
            except ValueError as exc:
                raise BayesmaError(f"rule {name!r}: cannot align the mask on the table's "
                                   f"index ({exc})") from exc
        if rule.isna().any():
            miss = list(data.index[rule.isna().to_numpy()])
            raise DataError(f"rule {name!r}: the mask has no value for "
                            f"{describe_rows(data, miss, slab=st.slab)}", rows=miss)
    arr = np.asarray(rule)
    if arr.shape != (st.k,):
        raise BayesmaError(f"rule {name!r}: the mask has shape {arr.shape}, expected "
                           f"({st.k},) (one value per study)")
    if arr.dtype != bool:
        if not np.all(np.isin(arr, [0, 1, True, False])):
            raise BayesmaError(f"rule {name!r}: the mask must be boolean (True = exclude)")
        arr = arr.astype(bool)
    return arr, desc


# ======================================================================================
# result
# ======================================================================================
@dataclass(frozen=True)
class SensitivitySubsets:
    """Result of :func:`sensitivity_subsets`.

    Attributes
    ----------
    table : DataFrame
        Index ``(analysis, engine)`` with engine ``"classical"`` or ``"bayes"``; the
        first analysis is ``"all studies"``. Columns :data:`SUBSET_COLUMNS`: studies
        used, excluded (number and labels), the estimate (classical: the pooled estimate;
        Bayesian: posterior median of mu) with its CI/CrI, tau (classical: sqrt of the
        tau² estimate with its Q-profile CI; Bayesian: posterior median and CrI) and I²
        in percent (classical estimate; Bayesian posterior median).
    fits : dict
        ``{(analysis, engine): RMAResult or ExactPosterior}``.
    excluded : dict
        ``{analysis: boolean array}`` (True = excluded), in table row order.
    rules : dict
        ``{analysis: description of the rule}``.
    priors : dict
        The Bayesian priors ``{"mu": Prior, "tau": Prior}``.
    level : float
    method, test : str
        The classical settings.
    labels : list of str
    notes : tuple of str
    """

    table: pd.DataFrame
    fits: dict[tuple[str, str], Any]
    excluded: dict[str, np.ndarray]
    rules: dict[str, str]
    priors: dict[str, Any]
    level: float
    method: str
    test: str
    labels: list[str]
    measure: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def analyses(self) -> list[str]:
        """Analysis names in order (``"all studies"`` first)."""
        return list(dict.fromkeys(self.table.index.get_level_values("analysis")))

    def summary(self, digits: int = 2) -> str:
        """Plain-language before/after account for each rule and engine."""
        pct = int(round(100 * self.level))
        t = self.table
        lines = [f"Sensitivity subsets, k = {len(self.labels)} studies; classical "
                 f"{self.method} ({self.test}), Bayesian exact with mu ~ "
                 f"{self.priors['mu'].describe()}, tau ~ {self.priors['tau'].describe()}"]

        def cell(a: str, e: str) -> str:
            if (a, e) not in t.index:
                return "not available"
            r = t.loc[(a, e)]
            if not np.isfinite(r["estimate"]):
                return "not available"
            return (f"{fmt(r['estimate'], digits)} [{fmt(r['low'], digits)}, "
                    f"{fmt(r['high'], digits)}], tau {fmt(r['tau'], digits)}")

        def side(a: str, e: str) -> str | None:
            if (a, e) not in t.index or not np.isfinite(t.loc[(a, e), "low"]):
                return None
            r = t.loc[(a, e)]
            return "above 0" if r["low"] > 0 else "below 0" if r["high"] < 0 else "includes 0"

        for eng, name in (("classical", "classical"), ("bayes", "Bayesian")):
            lines.append(f"All studies, {name}: {cell('all studies', eng)}")
        for a in self.analyses[1:]:
            mask = self.excluded[a]
            labs = [lab for lab, m in zip(self.labels, mask, strict=True) if m]
            lines.append("")
            if not labs:
                lines.append(f"{a} ({self.rules[a]}): no study excluded, results unchanged.")
                continue
            lines.append(f"{a} ({self.rules[a]}): excludes {len(labs)} "
                         f"stud{'y' if len(labs) == 1 else 'ies'} ({label_list(labs)}), "
                         f"k = {int(t.loc[(a, 'bayes'), 'k'])}.")
            for eng, name in (("classical", "classical"), ("bayes", "Bayesian")):
                before, after = side("all studies", eng), side(a, eng)
                verdict = ("" if before is None or after is None else
                           " (same conclusion)" if before == after else
                           f" (the {pct}% interval now {after}, before {before})")
                lines.append(f"  {name}: {cell(a, eng)}{verdict}")
        lines += [f"Note: {n}" for n in self.notes]
        lines.append("")
        show = t.drop(columns=["excluded"])
        lines.append(show.to_string(float_format=lambda x: f"{x:.{digits + 1}f}"))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<SensitivitySubsets analyses={self.analyses}>"

    def plot(self, **kwargs: Any):
        """Intervals of mu and tau by subset: ``bm.sensitivity_plot(self, **kwargs)``.

        The plot is registered by :mod:`bayesma.plots` (see
        :func:`bayesma.sensitivity.common.plot_result`): this module never imports the
        plotting layer above it.
        """
        return plot_result(self, **kwargs)


def _classical_row(res: Any, level: float) -> dict[str, float]:
    tau, tlo, thi = classical_heterogeneity(res, level)
    return {"estimate": float(res.estimate), "low": float(res.ci_low),
            "high": float(res.ci_high), "tau": tau, "tau_low": tlo, "tau_high": thi,
            "i2": float(res.i2)}


def _bayes_row(post: Any, level: float) -> dict[str, float]:
    lo, hi = post.interval("mu", level)
    tlo, thi = post.interval("tau", level)
    return {"estimate": float(post.median("mu")), "low": float(lo), "high": float(hi),
            "tau": float(post.median("tau")), "tau_low": float(tlo), "tau_high": float(thi),
            "i2": float(post.median("i2"))}


_NAN_ROW = {c: math.nan for c in ("estimate", "low", "high", "tau", "tau_low", "tau_high",
                                  "i2")}


def sensitivity_subsets(
    data: Any,
    yi: str = "yi",
    vi: str = "vi",
    *,
    rules: Mapping[str, Any] | None = None,
    mu_prior: Any = None,
    tau_prior: Any = None,
    measure: str | None = None,
    slab: str | None = None,
    sei: str | None = None,
    level: float = 0.95,
    classical: str = "REML",
    classical_test: str = "knha",
) -> SensitivitySubsets:
    """Before/after table for both engines, excluding studies by rules.

    Parameters
    ----------
    data : DataFrame or ExactPosterior
        The study table (or an exact posterior whose studies and priors are used).
    yi, vi : str
        Columns of effect sizes and sampling variances.
    rules : dict, optional
        ``{analysis name: rule}``; a rule is ``"rob"``, ``"outliers"``,
        ``"influential"``, ``"rstudent"``, the name of a boolean column, a boolean
        mask (True = exclude) or a callable returning one (see the module
        documentation). Default: ``{"exclude high risk of bias": "rob"}`` when the table
        has an ``Overall`` column, and ``{"exclude outliers": "outliers"}``.
    mu_prior, tau_prior : Prior, optional
        Priors of the Bayesian fits (default per measure, or the result's).
    measure : str, optional
        Effect measure (default ``data.attrs["measure"]``).
    slab, sei : str, optional
        Label column; standard errors instead of ``vi``.
    level : float
        Probability of the intervals.
    classical : str
        tau² estimator of the classical fits (``"REML"``...).
    classical_test : {"knha", "z", "t"}
        Inference of the classical fits.

    Returns
    -------
    SensitivitySubsets

    Raises
    ------
    DataError
        Invalid risk-of-bias judgements or rule columns (naming the column and row).
    BayesmaError
        Unknown rules or masks of the wrong length.
    """
    st = read_studies(data, yi, vi, sei=sei, slab=slab, measure=measure)
    mu_p, tau_p = resolve_priors(st, mu_prior, tau_prior)
    if rules is None:
        rules = {}
        if st.data is not None and any(str(c).strip().lower() == "overall"
                                       for c in st.data.columns):
            rules["exclude high risk of bias"] = "rob"
        rules["exclude outliers"] = "outliers"
    if not isinstance(rules, Mapping):
        raise BayesmaError("rules must be a dict {analysis name: rule}")
    if "all studies" in rules:
        raise BayesmaError("'all studies' is reserved for the analysis of every study")

    res_all = classical_fit(st, classical, classical_test, level, with_data=False)
    cache: dict[str, pd.DataFrame] = {}

    def influence_table() -> pd.DataFrame:
        if "inf" not in cache:
            if res_all is None:
                raise BayesmaError("rule 'outliers' needs the classical fit of all studies, "
                                   "which failed")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cache["inf"] = influence(res_all)
        return cache["inf"]

    masks: dict[str, np.ndarray] = {"all studies": np.zeros(st.k, dtype=bool)}
    descs: dict[str, str] = {"all studies": "every study"}
    for name, rule in rules.items():
        masks[str(name)], descs[str(name)] = _mask(rule, str(name), st, influence_table)

    rows, index, fits, notes = [], [], {}, []
    for name, mask in masks.items():
        sub = st.subset(~mask)
        excluded = [lab for lab, m in zip(st.labels, mask, strict=True) if m]
        base = {"k": sub.k, "n_excluded": len(excluded), "excluded": ", ".join(excluded)}
        # classical
        res = res_all if name == "all studies" else None
        if name != "all studies" and sub.k > 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    res = fit_arrays(sub.yi, sub.vi, method=classical, test=classical_test,
                                     level=level, labels=sub.labels, measure=sub.measure)
                except BayesmaError as exc:
                    notes.append(f"{name}: classical fit not available ({exc})")
        if res is not None:
            fits[(name, "classical")] = res
        rows.append({**base, **(_classical_row(res, level) if res is not None else _NAN_ROW)})
        index.append((name, "classical"))
        # Bayesian
        post = None
        if sub.k > 0:
            try:
                post = exact_fit(sub, mu_p, tau_p, level)
            except BayesmaError as exc:
                notes.append(f"{name}: Bayesian fit not available ({exc})")
        else:
            notes.append(f"{name}: the rule excludes every study")
        if post is not None:
            fits[(name, "bayes")] = post
        rows.append({**base, **(_bayes_row(post, level) if post is not None else _NAN_ROW)})
        index.append((name, "bayes"))
    table = pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index,
                                                               names=["analysis", "engine"]),
                         columns=SUBSET_COLUMNS)
    table.attrs.update(kind="sensitivity_subsets", level=level, method=classical,
                       test=classical_test)
    return SensitivitySubsets(table=table, fits=fits, excluded=masks, rules=descs,
                              priors={"mu": mu_p, "tau": tau_p}, level=level,
                              method=classical, test=classical_test, labels=list(st.labels),
                              measure=st.measure, notes=tuple(notes))

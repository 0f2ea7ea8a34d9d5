"""The numbers of the summary tables: Bayesian and classical side by side, and one
overview row per outcome (with the direction of benefit the spec states)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from bayesma.bayes.table import posterior_table
from bayesma.measures import get_measure
from bayesma.pipeline.models import level_params
from bayesma.pipeline.results import OutcomeResult
from bayesma.spec import OutcomeSpec

__all__ = ["benefit_text", "overview_row", "summary_table"]


_STAT = {"bayes_mean": "mean", "bayes_sd": "sd", "bayes_median": "median",
         "bayes_low": "eti_low", "bayes_high": "eti_high", "classical": "classical",
         "classical_low": "classical_low", "classical_high": "classical_high"}
_EXP = {"exp_bayes_median": "exp_median", "exp_bayes_low": "exp_eti_low",
        "exp_bayes_high": "exp_eti_high", "exp_classical": "exp_classical",
        "exp_classical_low": "exp_classical_low", "exp_classical_high": "exp_classical_high"}
_LOCATION = ("mu", "beta", "theta_new")


class _Tables:
    """:func:`bayesma.bayes.table.posterior_table` of each posterior, built once."""

    def __init__(self, level: float, classical: dict[str, Any] | None) -> None:
        self.level = level
        self.classical = classical or {}
        self._cache: dict[int, pd.DataFrame] = {}

    def __call__(self, post: Any) -> pd.DataFrame:
        key = id(post)
        if key not in self._cache:
            kw: dict[str, Any] = {}
            if self.classical.get("method"):
                kw = {"classical": self.classical["method"],
                      "classical_test": self.classical.get("test", "knha")}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._cache[key] = posterior_table(post, self.level, theta=False, **kw)
        return self._cache[key]


def _row(table: pd.DataFrame, post: Any, param: str) -> dict[str, float]:
    """One summary row from a posterior table (P(< 0) for location parameters)."""
    r = table.loc[param]
    out = {k: float(r[c]) if c in r.index else math.nan for k, c in _STAT.items()}
    if param.split("[")[0] in _LOCATION:
        p_row = f"P({param} < 0)"
        out["p_below_0"] = (float(table.loc[p_row, "mean"]) if p_row in table.index
                            else float(post.prob_less(param, 0.0)))
        out.update({k: float(r[c]) if c in r.index else math.nan for k, c in _EXP.items()})
    return out


def _set_twin(row: dict[str, Any], est: float, lo: float, hi: float,
              measure: str | None) -> None:
    m = get_measure(measure)
    row.update(classical=float(est), classical_low=float(lo), classical_high=float(hi))
    if m.log_scale:
        row.update(exp_classical=m.back(float(est)), exp_classical_low=m.back(float(lo)),
                   exp_classical_high=m.back(float(hi)))


def summary_table(res: OutcomeResult, engine: str = "exact",
                  classical: dict[str, Any] | None = None) -> pd.DataFrame:
    """Bayesian and classical estimates side by side, one row per quantity.

    Every number comes from :func:`bayesma.bayes.table.posterior_table` (the one summary
    table of the engines: statistics, P(< 0), the classical twin refitted at the level,
    back-transformed columns), rearranged into the report's rows; ``classical_pval`` is
    the twin's p-value (``RMAResult.coef``).

    Columns: ``outcome, parameter, label, bayes_mean, bayes_sd, bayes_median, bayes_low,
    bayes_high, p_below_0, classical, classical_low, classical_high, classical_pval``
    (+ ``exp_*`` on the natural scale for log-scale measures, :mod:`bayesma.measures`).
    """
    o = res.spec
    level = float(o.model["level"])
    post, cres = res.bayes, res.classical
    tables = _Tables(level, classical)
    rows: list[dict[str, Any]] = []

    def add(param: str, label: str, p: Any, pval: Any = None, query: str | None = None,
            **extra: Any) -> None:
        row: dict[str, Any] = {"outcome": o.name, "parameter": param, "label": label}
        row.update(_row(tables(p), p, query or param.split("|")[-1]))
        row["classical_pval"] = pval
        row.update(extra)
        rows.append(row)

    add("mu", "Pooled effect (mu)", post, cres.pval)
    add("theta_new", "Effect in a new study (prediction)", post)
    add("tau", "Between-study SD (tau)", post)
    add("tau2", "Between-study variance (tau²)", post)
    add("i2", "I² (%)", post)
    mtype = o.model["type"]
    mb, mc = res.moderator_bayes, res.moderator_classical
    if mtype == "meta_regression" and mb is not None:
        coef = mc.coef
        for term in list(coef.index):
            param = "mu" if term == "intrcpt" else f"beta[{term}]"
            lab = "Intercept (meta-regression)" if term == "intrcpt" else f"Slope: {term}"
            add(f"meta_regression|{param}", lab, mb, coef.loc[term, "pval"])
        add("meta_regression|tau", "Residual tau (meta-regression)", mb)
    if mtype == "subgroups" and mb is not None:
        by = o.model["by"]
        table = mc.table
        for lv, param in level_params(mb, engine, by).items():
            key = next((x for x in table.index if str(x) == lv), None)
            r = table.loc[key] if key is not None else None
            p = mb[lv] if isinstance(mb, dict) else mb
            add(f"subgroup|mu[{lv}]", f"Subgroup {by} = {lv}", p,
                None if r is None or not isinstance(mb, dict) else r["pval"], query=param,
                k=None if r is None else int(r["k"]))
            if isinstance(mb, dict) and r is not None:
                # separate fits per level: their twin is the classical subgroup analysis
                _set_twin(rows[-1], r["estimate"], r["ci_low"], r["ci_high"], o.measure)
    order = ["outcome", "parameter", "label", "bayes_mean", "bayes_sd", "bayes_median",
             "bayes_low", "bayes_high", "p_below_0", "classical", "classical_low",
             "classical_high", "classical_pval"]
    df = pd.DataFrame(rows)
    df = df[[*order, *[c for c in df.columns if c not in order]]]
    cols = ["classical", "classical_low", "classical_high", "classical_pval"]
    df[cols] = df[cols].astype(float)
    if get_measure(o.measure).log_scale:
        for c in _EXP:
            df[c] = df[c].astype(float) if c in df else np.nan
    else:
        df = df.drop(columns=[c for c in _EXP if c in df])
    df.attrs["level"] = level
    df.attrs["measure"] = o.measure
    return df


def benefit_text(o: OutcomeSpec) -> str:
    """Which direction of the pooled effect is a benefit, from the spec
    (``lower_is_better``, else the ``favours`` labels), e.g. ``"RR < 1 (Favours vaccine)"``."""
    m = get_measure(o.measure)
    null = f"{m.natural_null:g}"
    left, right = (str(x) for x in o.effect["favours"])
    lower = o.lower_is_better
    if lower is None:
        return f"{m.short} < {null}: {left}; > {null}: {right}"
    sign = "<" if lower else ">"
    label = left if lower else right
    return f"{m.short} {sign} {null} ({label})"


def overview_row(res: OutcomeResult, engine: str = "exact") -> dict[str, Any]:
    """One row of the cross-outcome table: k, participants, pooled effect with CrI and CI,
    tau, I², P(effect < 0), the direction of benefit and P(benefit)."""
    o, post, c = res.spec, res.bayes, res.classical
    level = float(o.model["level"])
    lo, hi = post.interval("mu", prob=level)
    tlo, thi = post.interval("tau", prob=level)
    p_below = float(post.prob_less("mu", 0.0))
    lower = o.lower_is_better
    return {
        "outcome": o.name, "measure": o.measure, "k": int(c.k),
        "participants": o.participants,
        "mu_median": float(post.median("mu")), "mu_low": float(lo), "mu_high": float(hi),
        "classical": float(c.estimate), "classical_low": float(c.ci_low),
        "classical_high": float(c.ci_high),
        "tau_median": float(post.median("tau")), "tau_low": float(tlo),
        "tau_high": float(thi),
        "i2_median": float(post.median("i2")),
        "i2_classical": float(c.i2),
        "p_below_0": p_below,
        "benefit": benefit_text(o),
        "lower_is_better": lower,
        "p_benefit": (p_below if lower else 1.0 - p_below) if lower is not None else math.nan,
        "engine": engine,
        "level": level,
    }

"""Report sections of the models for several effects per study (issue 11): variance
components with metafor's multilevel I² per level, the RVE table (robumeta-like) with
its rho sensitivity, and the multivariate model's between-outcome correlations.

Only arranges numbers the pipeline computed (:mod:`bayesma.pipeline.dependent`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bayesma.pipeline import OutcomeResult
from bayesma.report.tables import Table
from bayesma.report.text import DASH, digits, fmt, fmt_ci, fmt_p, pct

__all__ = ["dependent_section", "model_text"]

_NAMES = {"multilevel": "three-level model", "multivariate": "multivariate model",
          "rve": "robust variance estimation"}


def model_text(o: Any) -> str:
    """The "Model" fact of a dependent-effects outcome."""
    dep = o.dependent or {}
    mtype = o.model["type"]
    if mtype == "multilevel":
        return f"three-level random effects ({dep.get('random')})"
    if mtype == "multivariate":
        return (f"multivariate random effects: outcomes {', '.join(dep.get('levels', []))} "
                f"within {dep.get('cluster')} (classical struct {o.model['struct']})")
    return (f"robust variance estimation ({o.model['modelweights']} weights, "
            f"clusters: {dep.get('cluster')})")


def _tau_rows(res: OutcomeResult, d: int) -> list[list[str]]:
    s = res.summary
    dr = res.dependent
    i2 = dr.i2_levels
    rows = []
    for j, (_, r) in enumerate(s[s["parameter"].str.startswith("tau")].iterrows()):
        name = r["parameter"][4:-1] if "[" in r["parameter"] else "study"
        i2txt = DASH
        rb_i2 = getattr(dr.robu, "i2", None) if dr.robu is not None else None
        if j == 0 and rb_i2 is not None and np.isfinite(float(rb_i2)):
            i2txt = f"{fmt(float(rb_i2), 1)}%"
        elif i2 is not None:
            key = next((k for k in i2.index if str(k) == name or str(k).endswith(name)),
                       None)
            if key is not None:
                i2txt = f"{fmt(float(i2[key]), 1)}%"
        cl = r["classical"]
        rows.append([r["label"], fmt_ci(r["bayes_median"], r["bayes_low"], r["bayes_high"], d),
                     fmt(cl, d) if pd.notna(cl) else DASH,
                     fmt(cl ** 2, 4) if pd.notna(cl) else DASH, i2txt])
    return rows


def _rve_table(rb: Any, level: float) -> Table:
    rows = []
    for term, r in rb.coef.iterrows():
        rows.append([str(term), fmt(r["estimate"], 4), fmt(r["se"], 4), fmt(r["stat"], 2),
                     fmt(r["df"], 2), fmt_p(r["pval"]),
                     f"[{fmt(r['ci_low'], 4)}, {fmt(r['ci_high'], 4)}]"])
    return Table(["Term", "Estimate", "SE", "t", "df", "p", f"{pct(level)} CI"], rows)


def _rho_table(t: pd.DataFrame) -> Table:
    cols = [c for c in t.columns if c not in ("rho", "estimate[intrcpt]", "se[intrcpt]")]
    head = ["ρ", *[str(c) for c in cols]]
    rows = []
    for idx, r in t.iterrows():
        rho = r["rho"] if "rho" in t.columns else idx
        rows.append([fmt(float(rho), 1), *[fmt(r[c], 4) for c in cols]])
    return Table(head, rows)


def _corr_table(rho: Any, levels: list[str], bayes: Any = None) -> Table | None:
    """Between-outcome correlations: the posterior mean (when the Bayesian fit has
    ``rho_matrix``) with the classical estimate in parentheses."""
    if rho is None:
        return None
    if np.ndim(rho) == 0:
        return Table(["", "ρ (between outcomes)"], [["all pairs", fmt(float(rho), 3)]])
    m = np.asarray(rho, float)
    names = [str(x) for x in (rho.index if isinstance(rho, pd.DataFrame) else levels)]
    post = None
    if bayes is not None and hasattr(bayes, "rho_matrix"):
        post = bayes.rho_matrix().reindex(index=names, columns=names).to_numpy(float)

    def cell(i: int, j: int) -> str:
        if post is None or i == j:
            return fmt(m[i, j], 3)
        return f"{fmt(post[i, j], 3)} ({fmt(m[i, j], 3)})"

    rows = [[names[i], *[cell(i, j) for j in range(m.shape[1])]] for i in range(m.shape[0])]
    return Table(["", *names], rows)


def dependent_section(res: OutcomeResult) -> dict[str, Any]:
    """The variance-components view that replaces the heterogeneity section, with the
    RVE and correlation tables: ``{"table", "note", "rve", "rve_note", "rho",
    "rho_note", "corr"}``."""
    o, dr = res.spec, res.dependent
    level = float(o.model["level"])
    p = pct(level)
    d = digits(o.measure)
    table = Table(["Variance component", f"Bayesian median [{p} CrI]", "Classical τ",
                   "Classical τ²", "I² (classical)"], _tau_rows(res, d))
    n_cl = dr.n_clusters
    note = f"k = {o.k} effects in {n_cl} clusters. "
    if dr.kind == "multilevel" and dr.classical is not None:
        c = dr.classical
        note += (f"Classical twin: rma_mv REML, log-likelihood {fmt(c.ll, 2)}; test for "
                 f"residual heterogeneity Q = {fmt(c.q, 2)} (df = {c.q_df}), "
                 f"p {fmt_p(c.q_pval)}. ")
        note += ("Coefficients with CR2 cluster-robust standard errors and Satterthwaite df "
                 "(Pustejovsky & Tipton 2018). " if dr.robust is not None else
                 "Coefficients with model-based standard errors. ")
        note += ("I² per level as metafor's multilevel I² (Cheung 2014; the typical "
                 "within-study variance of Higgins & Thompson 2002).")
    if dr.kind == "rve":
        note += ("Classical: robumeta's RVE (table below; τ² of its working model"
                 + (", ω² within studies" if o.model["modelweights"] == "HIER" else "")
                 + "). Bayesian: the three-level model of studies and effects with the "
                 "spec's τ prior at both levels.")
    if dr.V is not None:
        note += (f" Sampling covariance V built with bm.vcalc (within-study correlation "
                 f"{o.model['within_rho']:g}).")
    out: dict[str, Any] = {"table": table, "note": note, "rve": None, "rve_note": "",
                           "rho": None, "rho_note": "", "corr": None}
    if dr.robu is not None:
        rb = dr.robu
        out["rve"] = _rve_table(rb, level)
        parts = [f"robumeta-style RVE, {o.model['modelweights']} working model"]
        if o.model["modelweights"] == "CORR":
            parts.append(f"ρ = {o.model['rho']:g}, τ² = {fmt(rb.tau2, 4)}, "
                         f"I² = {fmt(rb.i2, 2)}%")
        else:
            parts.append(f"τ² = {fmt(rb.tau2, 4)}, ω² = {fmt(rb.omega2, 4)}")
        parts.append("small-sample corrections (Tipton 2015)" if o.model["small"]
                     else "no small-sample correction")
        df_min = float(np.nanmin(rb.coef["df"].to_numpy(float)))
        if df_min < 4:
            parts.append("df < 4: the p-values may be untrustworthy (robumeta's warning)")
        out["rve_note"] = "; ".join(parts) + "."
    if dr.rho_table is not None:
        out["rho"] = _rho_table(dr.rho_table.reset_index()
                                if "rho" not in dr.rho_table.columns else dr.rho_table)
        out["rho_note"] = ("Sensitivity of the CORR model to the assumed within-study "
                           "correlation ρ (robumeta's sensitivity()).")
    if dr.kind == "multivariate" and dr.classical is not None:
        out["corr"] = _corr_table(getattr(dr.classical, "rho", None), dr.levels, res.bayes)
        out["corr_note"] = ("Between-study correlations of the outcomes: posterior mean "
                            "(LKJ prior) with the classical rma_mv estimate in parentheses.")
    return out

"""Tables shared by the Markdown summary and the HTML report (header, rows, notes as
text; no markup). Every number comes from the pipeline's results."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bayesma.measures import get_measure
from bayesma.pipeline import OutcomeResult, SpecResult
from bayesma.report.text import DASH, digits, fmt, fmt_ci, fmt_p, fmt_prob, pct, test_name

__all__ = ["Table", "outcome_table", "overview_table", "prior_text"]


class Table:
    """A table to render: ``head``, ``rows`` (lists of text), and how cells align.

    Attributes
    ----------
    num_from : int
        Columns from this index on are right-aligned numbers.
    text_cols, nowrap_cols : tuple of int
        Columns of wrapping text / of text that never wraps.
    """

    def __init__(self, head: list[str], rows: list[list[str]], *, num_from: int = 1,
                 text_cols: tuple[int, ...] = (), nowrap_cols: tuple[int, ...] = ()) -> None:
        self.head = [str(h) for h in head]
        self.rows = [[str(c) for c in r] for r in rows]
        self.num_from = num_from
        self.text_cols = tuple(text_cols)
        self.nowrap_cols = tuple(nowrap_cols)

    def cell_class(self, j: int) -> str:
        """CSS class of column ``j``."""
        if j in self.text_cols:
            return "text"
        if j >= self.num_from:
            return "num"
        return "nowrap" if j in self.nowrap_cols else ""


def overview_table(result: SpecResult) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, rows and footnotes of the cross-outcome table.

    Each row states the direction of benefit of its outcome (from the spec's
    ``lower_is_better`` or ``favours``) and, when the spec says which direction is
    better, the posterior probability of a benefit.
    """
    ov = result.outcomes
    measures = {r.spec.measure for r in ov}
    meas = next(iter(measures)) if len(measures) == 1 else None
    m = get_measure(meas)
    mname = meas if meas and meas != "GEN" else "effect"
    null = f"{m.natural_null:g}"
    level = float(ov[0].spec.model["level"])
    p = pct(level)
    head = ["Outcome", "k", "Participants", f"Pooled {mname} [{p} CrI]",
            f"Classical [{p} CI]", f"τ [{p} CrI]", "I² (classical)",
            f"P({mname} < {null})", "Benefit", "P(benefit)"]
    rows = []
    for r in ov:
        v = r.overview
        d = digits(r.spec.measure)
        back = get_measure(r.spec.measure).back
        pb = v.get("p_benefit")
        rows.append([
            r.spec.name, str(v["k"]),
            f"{v['participants']:,}" if v.get("participants") else DASH,
            fmt_ci(back(v["mu_median"]), back(v["mu_low"]), back(v["mu_high"]), d),
            fmt_ci(back(v["classical"]), back(v["classical_low"]), back(v["classical_high"]),
                   d),
            fmt_ci(v["tau_median"], v["tau_low"], v["tau_high"], d),
            f"{fmt(v['i2_classical'], 0)}%",
            fmt_prob(v["p_below_0"]),
            str(v.get("benefit", "")),
            fmt_prob(pb) if pb is not None and pd.notna(pb) else "not stated",
        ])
    spec = result.spec
    c = spec.classical
    notes = [
        f"Bayesian: posterior median and {p} equal-tailed credible interval "
        f"({'exact quadrature' if spec.engine == 'exact' else 'MCMC'}); classical: "
        f"{c['method']} with {test_name(c['test'])} and {p} confidence interval.",
        "Benefit: which side of the null is a benefit for each outcome (the spec's "
        "lower_is_better, else its favours labels); P(benefit) is the posterior probability "
        "of that side (\"not stated\" when the spec does not set lower_is_better).",
    ]
    if m.log_scale:
        notes.append(f"Pooled {meas} on the ratio scale (analysed as log {meas}); τ on the "
                     f"log scale. P({meas} < 1) is the posterior probability that the ratio "
                     "is below 1.")
    return head, rows, notes


def outcome_table(res: OutcomeResult) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one outcome's Bayesian-vs-classical table."""
    o = res.spec
    s = res.summary
    p = pct(float(o.model["level"]))
    m = get_measure(o.measure)
    d = digits(o.measure)
    head = ["Quantity", f"Bayesian median [{p} CrI]", "P(< 0)", f"Classical [{p} CI]", "p"]
    if m.log_scale:
        head = ["Quantity", f"Bayesian, log {o.measure}", f"Bayesian, {o.measure}",
                f"P({o.measure} < 1)", f"Classical, log {o.measure}",
                f"Classical, {o.measure}", "p"]
    rows = []
    for _, r in s.iterrows():
        par = r["parameter"]
        dd = 1 if par.endswith("i2") else (3 if "beta[" in par else d)
        b = fmt_ci(r["bayes_median"], r["bayes_low"], r["bayes_high"], dd)
        c = fmt_ci(r["classical"], r["classical_low"], r["classical_high"], dd)
        pr = fmt_prob(r.get("p_below_0")) if pd.notna(r.get("p_below_0")) else ""
        pv = fmt_p(r["classical_pval"]) if pd.notna(r["classical_pval"]) else ""
        label = r["label"]
        if "k" in s.columns and pd.notna(r.get("k")):
            label += f" (k = {int(r['k'])})"
        if m.log_scale:
            has_exp = pd.notna(r.get("exp_bayes_median"))
            eb = fmt_ci(r["exp_bayes_median"], r["exp_bayes_low"], r["exp_bayes_high"],
                        max(dd, 2)) if has_exp else ""
            ec = fmt_ci(r["exp_classical"], r["exp_classical_low"], r["exp_classical_high"],
                        max(dd, 2)) if has_exp else ""
            rows.append([label, b, eb, pr, c, ec, pv])
        else:
            rows.append([label, b, pr, c, pv])
    return head, rows


def prior_text(o: Any) -> str:
    """``"mu ~ Normal(mu=0, sigma=4); tau ~ HalfNormal(sigma=0.5) (default)"``."""
    parts = []
    for key in ("mu", "beta", "tau"):
        tag = "" if o.prior_origin.get(key) == "spec" else " (default)"
        levels = getattr(o, "tau_levels", None) or {}
        if key == "tau" and levels:
            parts += [f"tau[{lv}] ~ {p.describe()}{tag}" for lv, p in levels.items()]
        elif key in o.priors:
            parts.append(f"{key} ~ {o.priors[key].describe()}{tag}")
    return "; ".join(parts)

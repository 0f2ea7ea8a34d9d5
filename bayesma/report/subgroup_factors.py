"""Report sections of the subgroup factors (``[model] by = [...]``): table, tests, forest plot.

One section per factor: per level the Bayesian posterior of mu (exact engine) and the
classical estimate, tau and I² of the separate fits; the classical tests for subgroup
differences (Q-between over separate fits, and the meta-regression test with one common
tau²), the posterior differences between levels, and the subgroup forest plot.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bayesma.measures import get_measure
from bayesma.pipeline import OutcomeResult
from bayesma.plots import forest_plot
from bayesma.report.tables import Table
from bayesma.report.text import DASH, fmt, fmt_ci, fmt_prob, p_text, pct

__all__ = ["factor_figures", "factor_sections"]

TryFigure = Callable[[str, Callable[[], Any], list[Path]], None]


def factor_figures(res: OutcomeResult, folder: Path, try_figure: TryFigure,
                   rob: dict[str, Any] | None = None) -> None:
    """Draw the subgroup forest plot of every factor (``forest_<factor>.png``)."""
    o = res.spec
    for by, fr in res.factors.items():
        name = f"forest_by_{by}"
        try_figure(name, lambda fr=fr, by=by: forest_plot(
            fr.bayes, labels=tuple(o.effect["favours"]), prob=float(o.model["level"]),
            title=f"{o.name}: subgroups by {by}", **(rob or {})),
            [folder / f"forest_by_{_safe(by)}.png"])


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def factor_sections(res: OutcomeResult, figure: Callable[..., Any]) -> list[dict[str, Any]]:
    """One section per subgroup factor (empty without ``by = [...]``)."""
    o = res.spec
    p = pct(float(o.model["level"]))
    m = get_measure(o.measure)
    back = m.back if m.log_scale else (lambda x: x)
    d = max(m.digits, 2)
    below = f"P({o.measure} < 1)" if m.log_scale else "P(< 0)"
    out = []
    for by, fr in res.factors.items():
        sub, post = fr.classical, fr.bayes
        rows = []
        for lv in post.levels:
            pl = post.fits[lv]
            lo, hi = pl.interval("mu")
            fc = next((f for key, f in sub.fits.items() if str(key) == str(lv)), None)
            cls = (fmt_ci(back(fc.estimate), back(fc.ci_low), back(fc.ci_high), d)
                   if fc is not None else DASH)
            rows.append([str(lv), str(len(pl.labels)),
                         fmt_ci(back(pl.median("mu")), back(lo), back(hi), d),
                         fmt_prob(pl.prob_less("mu", 0.0)), cls,
                         fmt(fc.tau, 2) if fc is not None else DASH,
                         f"{fmt(fc.i2, 0)}%" if fc is not None else DASH])
        diffs = fr.differences
        dtab = Table(["Difference", f"Posterior median [{p} CrI]" + (
            f" (log {o.measure})" if m.log_scale else ""), "P(difference > 0)"],
            [[f"{r['a']} \u2212 {r['b']}", fmt_ci(r["median"], r["low"], r["high"], d),
              fmt_prob(r["prob_greater"])] for _, r in diffs.iterrows()])
        qm_df = sub.qm_df if not isinstance(sub.qm_df, tuple) else sub.qm_df[0]
        note = (f"Tests for subgroup differences (classical): Q-between = {fmt(sub.qb, 2)} "
                f"(df = {sub.qb_df}), {p_text(sub.qb_pval)} (separate fits per level); "
                f"meta-regression on {by}: QM = {fmt(sub.qm, 2)} (df = {qm_df}), "
                f"{p_text(sub.qm_pval)} (one common \u03c4\u00b2). Bayesian: a separate "
                "random-effects model per level with the outcome's priors (exact engine); "
                "differences between levels exact (a Normal mixture over both levels' "
                "τ nodes).")
        if np.any([len(post.fits[lv].labels) < 2 for lv in post.levels]):
            note += " Levels with a single study carry no information on \u03c4 of their own."
        out.append({
            "sid": f"{o.slug}-by-{_safe(by)}", "title": f"Subgroups by {by}",
            "table": Table([by, "k", f"Bayesian median [{p} CrI]", below,
                            f"Classical [{p} CI]", "\u03c4 (classical)", "I\u00b2"], rows),
            "differences": dtab, "note": note,
            "figure": figure(res.figures.get(f"forest_by_{by}"), f"forest plot by {by}",
                             f"Subgroups by {by}: studies, subtotals per level (Bayesian and "
                             "classical) and the overall pooled estimates."),
        })
    return out

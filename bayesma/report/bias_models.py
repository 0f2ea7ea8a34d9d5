"""The "Publication bias" part of the report (issue 12): selection models, PET-PEESE,
Bayesian model averaging and the RoBMA component table, side by side with the classical
small-study checks, and their figures.

Only arranges numbers the pipeline computed (:mod:`bayesma.pipeline.bias_models`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayesma.measures import get_measure
from bayesma.pipeline import OutcomeResult
from bayesma.report.tables import Table
from bayesma.report.text import DASH, fmt, fmt_bf, fmt_ci, fmt_prob, p_text, pct

__all__ = ["bias_models_section"]


def _delta(x: Any) -> str:
    arr = np.atleast_1d(np.asarray(x, dtype=float)) if x is not None else np.array([])
    return ", ".join(fmt(v, 3) for v in arr) if arr.size else DASH


def _selection(res: OutcomeResult, tr: Any, d: int) -> Table | None:
    fits = res.bias.get("selmodel") or {}
    if not fits:
        return None
    rows = []
    for t, s in fits.items():
        rows.append([t, fmt_ci(tr(s.estimate), tr(s.ci_low), tr(s.ci_high), d),
                     fmt(s.tau2, 4), _delta(s.delta),
                     f"{fmt(s.lrt, 2)}, {p_text(s.lrt_pval)}"])
    return Table(["Selection model", "Adjusted estimate [CI]", "τ²", "δ (selection)",
                  "LRT of no selection"], rows, num_from=1)


def _pet_peese(res: OutcomeResult, tr: Any, d: int) -> Table | None:
    pp = res.bias.get("pet_peese")
    if pp is None:
        return None
    rows = []
    for name, part in (("PET (yi on SE)", pp.pet), ("PEESE (yi on variance)", pp.peese)):
        est, se = float(part.estimate), float(part.se)
        rows.append([name, fmt(tr(est), d), fmt(se, d + 1), p_text(part.pval)])
    chosen = getattr(pp, "chosen", None) or getattr(pp, "method", None) or ""
    rows.append([f"Conditional estimate{f' ({chosen})' if chosen else ''}",
                 fmt(tr(float(pp.estimate)), d), "", ""])
    return Table(["PET-PEESE", "Intercept (limit estimate)", "SE", "p"], rows, num_from=1)


def _bma(res: OutcomeResult, tr: Any, d: int, level: float) -> Table | None:
    ba = res.bias.get("bma")
    if ba is None:
        return None
    post = ba.posterior_probs
    prior = getattr(ba, "prior_probs", None)
    rows = [[str(k), fmt_prob(prior[k]) if prior is not None else DASH, fmt_prob(v)]
            for k, v in post.items()]
    lo, hi = ba.interval("mu", prob=level)
    rows.append(["Inclusion BF: effect", "", fmt_bf(ba.bf_effect)])
    rows.append(["Inclusion BF: heterogeneity", "", fmt_bf(ba.bf_heterogeneity)])
    rows.append(["Model-averaged μ (median [CrI])", "",
                 fmt_ci(tr(float(ba.median("mu"))), tr(float(lo)), tr(float(hi)), d)])
    return Table(["Model (bma)", "Prior probability", "Posterior probability"], rows,
                 num_from=1)


def _robma(res: OutcomeResult, tr: Any, d: int, level: float) -> Table | None:
    rb = res.bias.get("robma")
    if rb is None:
        return None
    rows = []
    comp = getattr(rb, "components", None)
    if comp is not None and hasattr(comp, "iterrows"):
        for name, r in comp.iterrows():
            vals = {str(k).lower(): r[k] for k in r.index}
            prior = next((vals[k] for k in vals if "prior" in k), None)
            post = next((vals[k] for k in vals if "post" in k), None)
            bf = next((vals[k] for k in vals if "bf" in k or "inclusion" in k), None)
            rows.append([str(name), fmt_prob(prior) if prior is not None else DASH,
                         fmt_prob(post) if post is not None else DASH, fmt_bf(bf)])
    else:
        for name in ("effect", "heterogeneity", "bias"):
            bf = getattr(rb, f"bf_{name}", None)
            if bf is not None:
                rows.append([name, DASH, DASH, fmt_bf(bf)])
    for par in ("mu", "tau"):
        try:
            lo, hi = rb.interval(par, prob=level)
            med = float(rb.median(par))
        except Exception:  # noqa: BLE001 - a quantity this result does not offer
            continue
        t = tr if par == "mu" else (lambda x: x)
        rows.append([f"Model-averaged {'μ' if par == 'mu' else 'τ'} (median [CrI])", "", "",
                     fmt_ci(t(med), t(float(lo)), t(float(hi)), d)])
    return Table(["RoBMA component", "Prior probability", "Posterior probability",
                  "Inclusion BF"], rows, num_from=1)


def bias_models_section(res: OutcomeResult, figure: Any) -> dict[str, Any] | None:
    """Tables and figures of the publication-bias models, or None when none was asked
    for. ``figure(path, alt, caption)`` embeds a figure (the report's helper)."""
    o = res.spec
    m = get_measure(o.measure)
    tr = m.back
    d = m.digits
    level = float(o.model["level"])
    tables = [(title, t) for title, t in (
        ("Selection models (metafor's selmodel)", _selection(res, tr, d)),
        ("PET-PEESE (Stanley & Doucouliagos 2014)", _pet_peese(res, tr, d)),
        ("Bayesian model averaging (effect × heterogeneity)", _bma(res, tr, d, level)),
        ("Robust Bayesian model averaging (RoBMA-PSMA)", _robma(res, tr, d, level)),
    ) if t is not None]
    if not tables:
        return None
    figs = [figure(res.figures.get(key), alt, cap) for key, alt, cap in (
        ("selection", "selection function",
         "Estimated selection (weight) function of the selection model(s) against the "
         "one-sided p-value."),
        ("averaged", "model-averaged posterior",
         "Model-averaged posterior of μ: the spike at 0 is the posterior probability of "
         "no effect; the curve the density under the models with an effect."),
        ("weightfunction", "RoBMA weight function",
         "RoBMA's model-averaged weight function with its credible band."),
    )]
    scale = f" Estimates on the {m.name} scale." if m.log_scale else ""
    note = ("Selection models, PET-PEESE and model averaging assume independent effects; "
            f"{pct(level)} intervals.{scale} Inclusion Bayes factors above 1 favour "
            "including the component.")
    if o.dependent is not None:
        note += (" This outcome has several effects per study: these models treat them as "
                 "independent, so read them as sensitivity checks.")
    return {"tables": tables, "figures": [f for f in figs if f], "note": note}

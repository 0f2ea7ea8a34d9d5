"""The "Publication bias models" part of the report (issue 12): the adjusted estimates of
every method side by side, then selection models, PET-PEESE, Bayesian model averaging and
the RoBMA component and model tables, and their figures.

Only arranges numbers the pipeline computed (:mod:`bayesma.pipeline.bias_models`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bayesma.measures import get_measure
from bayesma.pipeline import OutcomeResult
from bayesma.report.tables import Table
from bayesma.report.text import DASH, fmt, fmt_bf, fmt_ci, fmt_prob, p_text, pct

__all__ = ["bias_models_section"]

Tr = Callable[[Any], Any]

#: RoBMA model-table rows shown (the most probable models a posteriori)
TOP_MODELS = 8
_COMPONENT_NAMES = {"effect": "Effect (μ ≠ 0)", "heterogeneity": "Heterogeneity (τ > 0)",
                    "bias": "Publication bias"}


def _delta(x: Any) -> str:
    arr = np.atleast_1d(np.asarray(x, dtype=float)) if x is not None else np.array([])
    return ", ".join(fmt(v, 3) for v in arr) if arr.size else DASH


def _averaged_ci(fit: Any, tr: Tr, d: int, level: float) -> str:
    lo, hi = fit.interval("mu", prob=level)
    return fmt_ci(tr(float(fit.median("mu"))), tr(float(lo)), tr(float(hi)), d)


def _side_by_side(res: OutcomeResult, tr: Tr, d: int, level: float) -> Table | None:
    """One row per method: its (adjusted) estimate with interval and its evidence (the
    model-averaged rows: median and equal-tailed interval, the spike at 0 included, so a
    median of "no effect" means P(μ = 0) > 1/2)."""
    b = res.bias
    c = res.classical
    rows = []
    if c is not None:
        rows.append([f"Random effects, unadjusted ({c.method})",
                     fmt_ci(tr(c.estimate), tr(c.ci_low), tr(c.ci_high), d), p_text(c.pval)])
    if "trimfill" in b:
        t = b["trimfill"]
        rows.append([f"Trim-and-fill ({t.k0} imputed)",
                     fmt_ci(tr(t.estimate), tr(t.ci_low), tr(t.ci_high), d), DASH])
    for name, s in (b.get("selmodel") or {}).items():
        rows.append([f"Selection model ({name})",
                     fmt_ci(tr(s.estimate), tr(s.ci_low), tr(s.ci_high), d),
                     f"LRT of selection {p_text(s.lrt_pval)}"])
    pp = b.get("pet_peese")
    if pp is not None:
        for part in (pp.pet, pp.peese):
            rows.append([f"{part.name}" + (" (PET-PEESE's choice)" if part.name == pp.chosen
                                           else ""),
                         fmt_ci(tr(part.estimate), tr(part.ci_low), tr(part.ci_high), d),
                         p_text(part.pval)])
    if "bma" in b:
        ba = b["bma"]
        rows.append(["Model averaging, no bias adjustment (bma)",
                     _averaged_ci(ba, tr, d, level),
                     f"BF₁₀ = {fmt_bf(ba.bf_effect)}; P(μ = 0) = {fmt_prob(ba.prob_zero('mu'))}"])
    if "robma" in b:
        rb = b["robma"]
        rows.append(["RoBMA-PSMA (bias-adjusted model averaging)",
                     _averaged_ci(rb, tr, d, level),
                     f"BF₁₀ = {fmt_bf(rb.bf_effect)}; P(μ = 0) = {fmt_prob(rb.prob_zero('mu'))}; "
                     f"BF bias = {fmt_bf(rb.bf_bias)}"])
    if len(rows) <= 1:
        return None
    return Table(["Method", "Estimate [interval]", "Evidence"], rows, num_from=1,
                 text_cols=(0,))


def _selection(res: OutcomeResult, tr: Tr, d: int) -> Table | None:
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


def _pet_peese(res: OutcomeResult, tr: Tr, d: int) -> Table | None:
    pp = res.bias.get("pet_peese")
    if pp is None:
        return None
    rows = []
    for name, part in (("PET (yi on SE)", pp.pet), ("PEESE (yi on variance)", pp.peese)):
        rows.append([name, fmt(tr(float(part.estimate)), d), fmt(float(part.se), d + 1),
                     p_text(part.pval), fmt(part.slope, d + 1)])
    rows.append([f"Conditional estimate ({pp.chosen}; PET's one-sided "
                 f"{p_text(pp.pet_one_sided_pval)})", fmt(tr(float(pp.estimate)), d), "", "",
                 ""])
    return Table(["PET-PEESE", "Intercept (limit estimate)", "SE", "p", "Slope"], rows,
                 num_from=1)


def _components(fit: Any, names: tuple[str, ...]) -> list[list[str]]:
    comp = fit.components
    return [[_COMPONENT_NAMES[n], fmt_prob(comp.loc[n, "prior_prob"]),
             fmt_prob(comp.loc[n, "post_prob"]), fmt_bf(comp.loc[n, "bf_inclusion"])]
            for n in names]


def _bma(res: OutcomeResult, tr: Tr, d: int, level: float) -> Table | None:
    ba = res.bias.get("bma")
    if ba is None:
        return None
    rows = [[str(k), fmt_prob(ba.prior_probs[k]), fmt_prob(v), DASH]
            for k, v in ba.posterior_probs.items()]
    keys = ("effect", "heterogeneity")
    rows += [[f"Inclusion BF: {k}", p, q, bf] for k, (_, p, q, bf) in
             zip(keys, _components(ba, keys), strict=True)]
    rows.append(["Model-averaged μ (median [CrI])", "", _averaged_ci(ba, tr, d, level), ""])
    return Table(["Model (bma)", "Prior probability", "Posterior probability",
                  "Inclusion BF"], rows, num_from=1)


def _robma(res: OutcomeResult, tr: Tr, d: int, level: float) -> Table | None:
    rb = res.bias.get("robma")
    if rb is None:
        return None
    rows = _components(rb, ("effect", "heterogeneity", "bias"))
    for par, t in (("mu", tr), ("tau", lambda x: x)):
        lo, hi = rb.interval(par, prob=level)
        sym = "μ" if par == "mu" else "τ"
        rows.append([f"Model-averaged {sym} (median [CrI])", "", "",
                     fmt_ci(t(float(rb.median(par))), t(float(lo)), t(float(hi)), d)])
    return Table(["RoBMA component", "Prior probability", "Posterior probability",
                  "Inclusion BF"], rows, num_from=1)


def _robma_models(res: OutcomeResult) -> Table | None:
    rb = res.bias.get("robma")
    if rb is None:
        return None
    top = rb.models.sort_values("post_prob", ascending=False).head(TOP_MODELS)
    rows = [[str(name), fmt_prob(r["prior_prob"]), fmt_prob(r["post_prob"]),
             fmt_bf(r["bf"]), f"{fmt(r['log_ml'], 2)}" + (
                 f" ± {fmt(r['error'], 3)}" if float(r["error"]) > 0 else " (exact)")]
            for name, r in top.iterrows()]
    return Table(["RoBMA model", "Prior probability", "Posterior probability", "BF",
                  "log marginal likelihood"], rows, num_from=1, text_cols=(0,))


def bias_models_section(res: OutcomeResult, figure: Any) -> dict[str, Any] | None:
    """Tables and figures of the publication-bias models, or None when none was asked
    for. ``figure(path, alt, caption)`` embeds a figure (the report's helper)."""
    o = res.spec
    m = get_measure(o.measure)
    tr = m.back
    d = m.digits
    level = float(o.model["level"])
    models = [(title, t) for title, t in (
        ("Selection models (metafor's selmodel)", _selection(res, tr, d)),
        ("PET-PEESE (Stanley & Doucouliagos 2014)", _pet_peese(res, tr, d)),
        ("Bayesian model averaging (effect × heterogeneity; metaBMA's meta_bma)",
         _bma(res, tr, d, level)),
        ("Robust Bayesian model averaging (RoBMA-PSMA; Bartoš et al. 2023)",
         _robma(res, tr, d, level)),
        (f"RoBMA: the {TOP_MODELS} most probable models", _robma_models(res)),
    ) if t is not None]
    if not models:
        return None
    side = _side_by_side(res, tr, d, level)
    tables = ([("Adjusted estimates side by side", side)] if side is not None else []) + models
    src = "RoBMA" if "robma" in res.bias else "bma"
    figs = [figure(res.figures.get(key), alt, cap) for key, alt, cap in (
        ("selection", "selection function",
         "Estimated selection (weight) function of the selection model(s) against the "
         "one-sided p-value."),
        ("averaged", "model-averaged posterior",
         f"Model-averaged posterior of μ ({src}): the bar at 0 is the posterior probability "
         "of no effect (right axis); the curve the density under the models with an effect; "
         "dashed: the prior."),
        ("weightfunction", "RoBMA weight function",
         "RoBMA's model-averaged weight function (relative publication probability by "
         "one-sided p-value) with its credible band."),
    )]
    scale = f" Estimates on the {m.name} scale." if m.log_scale else ""
    note = ("Selection models, PET-PEESE and model averaging assume independent effects; "
            f"{pct(level)} intervals.{scale} Inclusion Bayes factors above 1 favour "
            "including the component.")
    if "pet_peese" in res.bias and res.figures.get("funnel"):
        note += " The funnel plot above shows the PET line and the PEESE curve."
    if "robma" in res.bias:
        pri = res.bias["robma"].priors
        note += (f" RoBMA uses its default priors (μ ~ {pri['mu'].describe()}, "
                 f"τ ~ {pri['tau'].describe()}); log marginal likelihoods of the "
                 "weight-function models carry a numerical error (±).")
    if o.dependent is not None:
        note += (" This outcome has several effects per study: these models treat them as "
                 "independent, so read them as sensitivity checks.")
    return {"tables": tables, "figures": [f for f in figs if f], "note": note}

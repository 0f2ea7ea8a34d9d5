"""The RoBMA-like printout of a RoBMA result, formatted through bayesma.formatting.

Components table, model-averaged and conditional estimates, the averaged weights.
"""

from __future__ import annotations

from typing import Any

from bayesma.errors import BayesmaError
from bayesma.formatting import fmt_num, fmt_prob

__all__ = ["robma_text"]


def _bf(x: float) -> str:
    return fmt_num(x, 3) if abs(x) < 1e6 else f"{x:.3g}"


def _estimates(res: Any, conditional: bool) -> list[str]:
    s = res.summary(conditional=conditional)
    pct = round(100 * s.attrs["prob"])
    lines = [f"{'':<6} {'mean':>8} {'median':>8} {f'{pct}% low':>9} {f'{pct}% high':>9}"]
    for par, row in s.iterrows():
        if conditional and row["mean"] != row["mean"]:
            continue
        lines.append(f"{par:<6} {fmt_num(row['mean'], 3):>8} {fmt_num(row['median'], 3):>8} "
                     f"{fmt_num(row['eti_low'], 3):>9} {fmt_num(row['eti_high'], 3):>9}")
    return lines


def robma_text(res: Any) -> str:
    """Components table, model-averaged and conditional estimates, and the weights."""
    lines = [f"Robust Bayesian meta-analysis (RoBMA-PSMA, {len(res.fits)} models), "
             f"k = {res.k}",
             f"Priors: mu ~ {res.priors['mu'].describe()}; tau ~ "
             f"{res.priors['tau'].describe()}; PET ~ half-Cauchy(0, "
             f"{fmt_num(res.priors['pet'], 3)}); PEESE ~ half-Cauchy(0, "
             f"{fmt_num(res.priors['peese'], 3)})", "",
             "Components summary:",
             f"{'':<14} {'Prior prob.':>11} {'Post. prob.':>11} {'Inclusion BF':>13}"]
    for comp, row in res.components.iterrows():
        lines.append(f"{comp.capitalize():<14} {fmt_num(row['prior_prob'], 3):>11} "
                     f"{fmt_prob(row['post_prob']):>11} {_bf(row['bf_inclusion']):>13}")
    lines += ["", "Model-averaged estimates:"] + _estimates(res, False)
    try:
        cond = _estimates(res, True)
    except BayesmaError:  # a component without posterior mass: no conditional table
        cond = []
    if cond:
        lines += ["", "Conditional estimates (models including the parameter):"] + cond
    wf = res.weightfunction(p=[0.01, 0.03, 0.07, 0.3, 0.7], conditional=False)
    lines += ["", "Model-averaged weights omega(p) at one-sided p "
              f"(expected direction: {res.effect_direction}):"]
    lines += [f"  p = {fmt_num(r.p, 3)}: {fmt_num(r.mean, 3)} [{fmt_num(r.low, 3)}, "
              f"{fmt_num(r.high, 3)}]" for r in wf.itertuples()]
    lines += ["", "Marginal likelihoods: exact (no bias, PET, PEESE); adaptive Gauss-Hermite "
              f"(weight functions, max est. error {fmt_num(res.models['error'].max(), 4)} "
              "on the log scale)."]
    return "\n".join(lines)

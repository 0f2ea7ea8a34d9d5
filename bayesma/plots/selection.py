"""Plot of the estimated selection (weight) function of a selection model against the
one-sided p-value, with its confidence band (metafor 3.8 ``plot.rma.uni.selmodel``)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from bayesma.classical.selection import SelModelResult
from bayesma.errors import BayesmaError
from bayesma.plots import _style as st

__all__ = ["selection_plot"]


def selection_plot(
    sel: SelModelResult,
    *,
    ci: str | None = "wald",
    n: int = 1000,
    reps: int = 1000,
    seed: int | None = None,
    rug: bool = True,
    figsize: tuple[float, float] = (5.5, 3.6),
) -> Figure:
    """The estimated selection function w(p) of ``bm.selmodel`` with a confidence band.

    Parameters
    ----------
    sel : SelModelResult
        A fitted selection model.
    ci : {"wald", "boot", None}
        Band as metafor's ``plot(sel, ci=...)``: "wald" plugs the Wald limits of the
        deltas into w (step functions and one-parameter types; the beta function falls
        back to "boot"); "boot" draws ``reps`` deltas from their estimated normal
        distribution (independent, with their standard errors), truncated to the
        bounds, and takes pointwise quantiles; None: no band.
    n : int
        Points on the p-value axis (metafor's ``n``).
    reps, seed : int
        Draws and seed of the "boot" band.
    rug : bool
        Mark the observed p-values.
    figsize : tuple
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(sel, SelModelResult):
        raise BayesmaError(
            f"selection_plot needs a result of bm.selmodel, got {type(sel).__name__}"
        )
    if ci not in ("wald", "boot", None):
        raise BayesmaError(f"selection_plot: ci must be 'wald', 'boot' or None, got {ci!r}")
    ps = np.linspace(sel.pval_min, 1.0 - sel.pval_min, int(n))
    if sel.type == "stepfun":
        ps = np.unique(np.concatenate([ps, sel.steps]))
    free = ~sel.delta_fixed
    lo = hi = None
    kind = ci
    if kind == "wald" and sel.type == "beta":
        kind = "boot"  # metafor: no Wald band for two free deltas of a continuous type
    if kind is not None and not np.all(np.isfinite(sel.delta_se[free])):
        kind = None
    if kind == "wald":
        dlo, dhi = sel.delta.copy(), sel.delta.copy()
        dlo[free], dhi[free] = sel.delta_ci_low[free], sel.delta_ci_high[free]
        a, b = sel.weight(ps, dlo), sel.weight(ps, dhi)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
    elif kind == "boot":
        rng = np.random.default_rng(seed)
        vd = np.diag(np.nan_to_num(sel.delta_se) ** 2)  # fixed deltas: variance 0
        sims = rng.multivariate_normal(sel.delta, vd, size=int(reps))
        sims = np.clip(sims, sel.delta_min, sel.delta_max)
        ws = np.array([sel.weight(ps, d) for d in sims])
        alpha = 1.0 - sel.level
        lo, hi = np.quantile(ws, [alpha / 2, 1 - alpha / 2], axis=0)
    fig = st.new_figure(figsize)
    ax = fig.add_subplot(1, 1, 1)
    draw = "steps-post" if sel.type == "stepfun" else "default"
    if sel.type == "stepfun":
        # w is delta_j on (steps[j-1], steps[j]]: draw it as a right-continuous staircase
        ys_plot = sel.weight(np.minimum(ps + 1e-12, 1.0))
        draw = "steps-post"
    else:
        ys_plot = sel.weight(ps)
    if lo is not None:
        if sel.type == "stepfun" and kind == "wald":
            right = np.minimum(ps + 1e-12, 1.0)
            a, b = sel.weight(right, dlo), sel.weight(right, dhi)
            lo, hi = np.minimum(a, b), np.maximum(a, b)
        ax.fill_between(ps, lo, hi, step="post" if sel.type == "stepfun" else None,
                        color=st.BAYES_LIGHT, alpha=0.6, lw=0,
                        label=f"{100 * sel.level:g}% CI ({kind})")
    ax.plot(ps, ys_plot, drawstyle=draw, color=st.BAYES, lw=2, label="estimated w(p)")
    if rug:
        ax.plot(sel.pvals, np.zeros_like(sel.pvals), "|", color=st.CLASSICAL, ms=10,
                transform=ax.get_xaxis_transform(), label="observed p-values")
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel(f"one-sided p-value ({sel.alternative})")
    ax.set_ylabel("relative likelihood of selection")
    ax.set_title(f"Selection function: {sel.type}", fontsize=st.FONTSIZE + 1)
    ax.legend(fontsize=st.FONTSIZE - 1, frameon=False)
    return fig

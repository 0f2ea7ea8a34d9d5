"""bayesmeta's "trace" plot: conditional posterior means as functions of tau.

:func:`tau_trace_plot` reproduces ``bayesmeta::traceplot`` (Röver 2020, J Stat Softw
93(6), sec. 3.3): the upper panel shows E(mu | tau, y) and E(theta_i | tau, y) for every
study as tau runs from 0 (complete pooling: every theta_i equals the common-effect
estimate) upwards (no pooling: theta_i -> y_i); the lower panel shows the marginal
posterior density of tau, so the reader sees which values of tau, and hence how much
shrinkage, the data support.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import offset_copy

from bayesma.bayes.exact import ExactPosterior, exact_posterior_arrays
from bayesma.bayes.protocol import Posterior
from bayesma.errors import BayesmaError
from bayesma.formatting import fmt_num
from bayesma.plots import _style as st

__all__ = ["exact_twin", "tau_trace_plot"]


def exact_twin(post: Any) -> ExactPosterior:
    """The exact posterior of the model behind a Bayesian result.

    An :class:`~bayesma.bayes.exact.ExactPosterior` is returned as is. For another
    :class:`~bayesma.bayes.protocol.Posterior` (an MCMC fit of the normal-normal model)
    it is built with :func:`bayesma.bayes.exact.exact_posterior_arrays` from the result's
    classical twin (its studies and design) and priors. :func:`tau_trace_plot` calls this
    before drawing, so the drawing code only reads an exact posterior; call it yourself
    (or pass ``bm.exact_posterior(...)``) to keep the computation in view.

    Raises
    ------
    BayesmaError
        When the result is not Bayesian, carries no classical twin, or has priors the
        exact engine does not support.
    """
    if isinstance(post, ExactPosterior):
        return post
    if not isinstance(post, Posterior):
        raise BayesmaError(
            "tau_trace_plot needs an ExactPosterior (bm.exact_posterior) or a BayesFit; got "
            f"{type(post).__name__}"
        )
    twin = post.classical
    if twin is None:
        raise BayesmaError("tau_trace_plot: this result carries no classical twin with its "
                           "study data; pass bm.exact_posterior(...) instead")
    pri = post.priors or {}
    extra = set(pri) - {"mu", "tau", "beta"}
    if extra:
        raise BayesmaError(
            f"tau_trace_plot needs the normal-normal model; this fit has {sorted(extra)}"
        )
    kw = {k + "_prior": pri[k] for k in ("mu", "tau", "beta") if k in pri}
    try:
        return exact_posterior_arrays(twin.yi, twin.vi, twin.X, terms=twin.terms,
                                      labels=[str(s) for s in twin.labels],
                                      measure=st.result_measure(post), **kw)
    except BayesmaError as exc:
        raise BayesmaError(f"tau_trace_plot: the exact engine cannot use these priors ({exc})"
                           ) from exc


def _palette(k: int) -> list[Any]:
    """k distinguishable colours dark enough for text on white (tab10, Dark2, Set1)."""
    cols: list[Any] = [colormaps["tab10"](i) for i in range(10)]
    cols += [colormaps["Dark2"](i) for i in range(8)]
    cols += [c for i, c in enumerate(colormaps["Set1"](j) for j in range(9)) if i != 5]
    return [cols[i % len(cols)] for i in range(k)]


def _spread(y: np.ndarray, gap: float, lo: float, hi: float) -> np.ndarray:
    """Positions close to ``y`` at least ``gap`` apart, within [lo, hi] when possible."""
    order = np.argsort(y)
    ys = y[order].astype(float).copy()
    for i in range(1, len(ys)):
        ys[i] = max(ys[i], ys[i - 1] + gap)
    over = ys[-1] - hi if len(ys) else 0.0
    if over > 0:
        ys -= over
        for i in range(len(ys) - 2, -1, -1):
            ys[i] = min(ys[i], ys[i + 1] - gap)
    out = np.empty_like(ys)
    out[order] = ys
    return out


def tau_trace_plot(
    post: Any,
    *,
    tau_max: float | None = None,
    prob: float = 0.95,
    label_studies: bool | str = "auto",
    show_prior: bool = True,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    fontsize: float = st.FONTSIZE,
    save: str | Path | None = None,
) -> Figure:
    """Conditional posterior means of mu and theta_i against tau, with tau's density.

    Parameters
    ----------
    post : ExactPosterior or Posterior
        The Bayesian result. The curves are exact conditionals, so another Bayesian
        result (a BayesFit of the normal-normal model) is first turned into its exact
        twin by :func:`exact_twin` (same studies and priors), before anything is drawn.
    tau_max : float, optional
        Right end of the tau axis (default: about the 99.5% posterior quantile).
    prob : float
        Probability of the shaded credible interval of tau (equal-tailed).
    label_studies : bool or "auto"
        Write the study labels at the right end of their curves (``"auto"``: when
        k <= 40).
    show_prior : bool
        Draw the prior density of tau in the lower panel.
    title : str, optional
        Figure title.
    figsize : (float, float), optional
        Size in inches (default grows with the number of labelled studies).
    fontsize : float
        Font size in points.
    save : str or Path, optional
        Also write the figure there (PNG, SVG or PDF).

    Returns
    -------
    matplotlib.figure.Figure
    """
    ex = exact_twin(post)  # the result to draw; the drawing below only reads it
    grid = np.asarray(ex.tau_grid, dtype=float)
    if tau_max is not None:
        if not tau_max > 0:
            raise BayesmaError(f"tau_max must be > 0, got {tau_max}")
        grid = np.linspace(0.0, float(tau_max), 401)
    cond = ex.conditional(grid)
    mean, sd = cond["mean"], cond["sd"]
    labels = [str(s) for s in ex.labels]
    k = len(labels)
    if label_studies == "auto":
        label_studies = k <= 40
    measure = st.result_measure(ex)
    sc = st.resolve_scale(measure, False)

    # size: room on the right for the labels
    fig = st.new_figure(figsize or (7.0, 6.2))
    meas = st.TextMeasure(fig, fontsize * 0.85)
    lab_w = max((meas.width(s) for s in labels), default=0.0) if label_studies else 0.0
    if figsize is None:
        h = 6.2 if k <= 25 or not label_studies else min(4.0 + 0.16 * k, 14.0)
        fig.set_size_inches(6.0 + lab_w + 0.3, h)
    W, H = fig.get_size_inches()
    right = 1.0 - (lab_w + 0.45) / W if label_studies else 0.97
    gs = fig.add_gridspec(2, 1, height_ratios=(3.2, 1.2), hspace=0.08, left=0.11,
                          right=right, top=1 - 0.45 / H, bottom=1.05 / H)
    ax1 = fig.add_subplot(gs[0])
    ax2 = fig.add_subplot(gs[1], sharex=ax1)

    lo, hi = ex.interval("tau", prob=prob)
    med = float(ex.median("tau"))
    for ax in (ax1, ax2):
        ax.axvspan(lo, hi, color="#eeeeee", zorder=0, lw=0)
        ax.axvline(med, color="#555555", lw=0.9, zorder=0.5)

    colors = _palette(k)
    ends = []
    for i, lab in enumerate(labels):
        col = colors[i]
        y = mean[f"theta[{lab}]"].to_numpy()
        ax1.plot(grid, y, color=col, lw=1.0, zorder=2, gid=f"theta|{lab}")
        ends.append((y[-1], col))
    mu = mean["mu"].to_numpy()
    mu_sd = sd["mu"].to_numpy()
    for sign in (-1, 1):
        ax1.plot(grid, mu + sign * 1.959964 * mu_sd, color=st.CLASSICAL, lw=0.9,
                 ls=(0, (1.5, 1.5)), zorder=3, gid="mu_interval")
    ax1.plot(grid, mu, color=st.CLASSICAL, lw=2.4, zorder=3, gid="mu")
    ax1.set_xlim(grid[0], grid[-1])
    ylo = float(min(np.min(mean.filter(like="theta[").to_numpy()), np.min(mu - 1.96 * mu_sd)))
    yhi = float(max(np.max(mean.filter(like="theta[").to_numpy()), np.max(mu + 1.96 * mu_sd)))
    pad = 0.05 * (yhi - ylo if yhi > ylo else 1.0)
    ax1.set_ylim(ylo - pad, yhi + pad)
    if ylo < 0 < yhi:
        ax1.axhline(0.0, color=st.REF, lw=0.6, zorder=0.4)

    if label_studies:
        fig.canvas.draw()
        bb = ax1.get_window_extent()
        y0, y1 = ax1.get_ylim()
        per_pt = (y1 - y0) / (bb.height * 72.0 / fig.dpi)
        gap = fontsize * 0.85 * 1.32 * per_pt
        ys = np.array([e[0] for e in ends])
        pos = _spread(ys, gap, y0, y1)
        text_tr = offset_copy(ax1.transData, fig=fig, x=14, y=0, units="points")
        for (yend, col), yp, lab in zip(ends, pos, labels, strict=True):
            ax1.annotate(lab, xy=(grid[-1], yend), xytext=(grid[-1], yp),
                         textcoords=text_tr, fontsize=fontsize * 0.85, color=col,
                         va="center", ha="left", annotation_clip=False, gid=f"label|{lab}",
                         arrowprops={"arrowstyle": "-", "color": col, "lw": 0.6,
                                     "shrinkA": 0, "shrinkB": 1.5})
    ax1.set_ylabel(f"Conditional posterior mean ({sc.short})", fontsize=fontsize)
    ax1.tick_params(labelsize=fontsize, labelbottom=False)
    for side in ("top", "right"):
        ax1.spines[side].set_visible(False)

    dens = np.asarray(ex.pdf("tau", grid), dtype=float)
    ax2.fill_between(grid, 0, dens, color=st.BAYES_LIGHT, alpha=0.7, lw=0, zorder=1)
    ax2.plot(grid, dens, color=st.BAYES, lw=1.5, zorder=2, gid="tau_density")
    top = float(np.nanmax(dens))
    if show_prior:
        pr = np.asarray(ex.prior_pdf("tau", grid), dtype=float)
        if np.any(np.isfinite(pr)):
            if not getattr(ex.priors["tau"], "proper", True):
                pr = pr / np.nanmax(pr[np.isfinite(pr)]) * top * 0.5
            ax2.plot(grid, pr, color=st.PRIOR, lw=1.2, ls="--", zorder=1.5, gid="tau_prior")
    ax2.set_ylim(0, top * 1.12)
    ax2.set_yticks([])
    ax2.set_ylabel("Posterior\ndensity", fontsize=fontsize)
    ax2.set_xlabel("Heterogeneity \u03c4", fontsize=fontsize)
    ax2.tick_params(labelsize=fontsize)
    for side in ("top", "right", "left"):
        ax2.spines[side].set_visible(False)

    handles = [
        (Line2D([], [], color=st.CLASSICAL, lw=2.4), "E(\u03bc | \u03c4, y)"),
        (Line2D([], [], color=st.CLASSICAL, lw=0.9, ls=(0, (1.5, 1.5))),
         "95% interval of \u03bc | \u03c4, y"),
        (Line2D([], [], color=colors[0], lw=1.0), "E(\u03b8\u1d62 | \u03c4, y), one per study"),
        (Patch(facecolor=st.BAYES_LIGHT, edgecolor=st.BAYES), "Posterior density of \u03c4"),
        (Line2D([], [], color="#555555", lw=0.9),
         f"\u03c4 median {fmt_num(med, 2)}, {100 * prob:g}% CrI shaded"),
    ]
    if show_prior:
        handles.append((Line2D([], [], color=st.PRIOR, lw=1.2, ls="--"),
                        f"Prior of \u03c4: {st.describe_prior(ex.priors['tau'])}"))
    ncol, _, _ = st.fit_legend(fig, [h for h, _ in handles], [s for _, s in handles],
                               W * 0.89 - 0.15, fontsize * 0.85)
    ncol = min(ncol, 3)
    fig.legend([h for h, _ in handles], [s for _, s in handles], fontsize=fontsize * 0.85,
               loc="lower left", bbox_to_anchor=(0.11, 0.08 / H), ncols=ncol,
               **st.LEGEND_KW)
    fig.suptitle(title or "Conditional posterior means given \u03c4", x=0.11 * 0.9,
                 ha="left", fontsize=fontsize * 1.15, fontweight="bold",
                 y=1 - 0.12 / H, va="top")
    st.save_figure(fig, save)
    return fig

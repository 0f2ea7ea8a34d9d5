"""Bubble plot of a meta-regression: effect against one moderator.

:func:`regression_plot` draws the studies as bubbles (area proportional to their weight
in the classical model), the posterior mean regression line with its credible band
(and optionally the band of a new study's effect), and the classical line with its
confidence limits (metafor's ``regplot``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, NullLocator

from bayesma.bayes.exact import ExactPosterior
from bayesma.bayes.protocol import Posterior
from bayesma.classical.rma import RMAResult
from bayesma.errors import BayesmaError
from bayesma.formatting import fmt_num, fmt_p_apa
from bayesma.plots import _style as st

__all__ = ["regression_plot"]

_SHOW = ("studies", "bayes", "classical")
_VALID = frozenset({"studies", "bayes", "classical", "prediction"})


def _n_draws(post: Any, n: int) -> int | None:
    """``n`` joint draws from the exact engine (same seed for every parameter); every
    stored draw of an MCMC fit."""
    return n if isinstance(post, ExactPosterior) else None


def _beta_draws(post: Any, n: int = 8000) -> np.ndarray:
    d = np.asarray(post.draws("beta", n=_n_draws(post, n), random_seed=11), dtype=float)
    return d if d.ndim == 2 else d[:, None]


def _tau_draws(post: Any, n: int = 8000) -> np.ndarray:
    d = post.draws("tau", n=_n_draws(post, n), random_seed=11)
    return np.asarray(d, dtype=float).ravel()


def regression_plot(
    result: Any,
    *,
    moderator: str | None = None,
    classical: Any = None,
    prob: float = 0.95,
    show: Sequence[str] = _SHOW,
    transform: Any = None,
    labels: bool | Sequence[str] = False,
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (6.6, 5.0),
    fontsize: float = st.FONTSIZE,
    save: str | Path | None = None,
) -> Figure:
    """Bubble plot: the meta-regression line against one moderator.

    Parameters
    ----------
    result : ExactPosterior, BayesFit or RMAResult
        A meta-regression (Bayesian with its classical twin, or classical only).
    moderator : str, optional
        The continuous term on the x axis (default: the only moderator). Other
        moderators are held at their mean.
    classical : RMAResult, None or False
        Classical fit drawn with a Bayesian one (default: its twin); False for none.
    prob : float
        Probability of the bands (credible, confidence, prediction).
    show : sequence of str
        ``"studies"`` (bubbles), ``"bayes"`` (posterior line and credible band),
        ``"classical"`` (line and confidence limits), ``"prediction"`` (posterior
        predictive band of a new study's effect).
    transform : None, False, "exp" or callable
        Display scale of the effect (``None``: ratio measures back-transformed, log axis).
    labels : bool or sequence of str
        Label the bubbles with the study labels (``True``) or given strings.
    xlabel, ylabel, title : str, optional
        Axis labels and title.
    figsize : (float, float)
        Size in inches.
    fontsize : float
        Font size in points.
    save : str or Path, optional
        Also write the figure there (PNG, SVG or PDF).

    Returns
    -------
    matplotlib.figure.Figure
    """
    show = tuple(show)
    bad = [s for s in show if s not in _VALID]
    if bad:
        raise BayesmaError(f"show: unknown element(s) {bad}; choose from {sorted(_VALID)}")
    if not 0 < prob < 1:
        raise BayesmaError(f"prob must be in (0, 1), got {prob}")
    if isinstance(result, Posterior):
        bayes = result
        cres = getattr(result, "classical", None) if classical is None else (
            None if classical is False else classical)
        if cres is None:
            raise BayesmaError("regression_plot needs the classical twin for the design")
    elif isinstance(result, RMAResult):
        bayes, cres = None, result
    else:
        raise BayesmaError(
            "regression_plot needs a meta-regression: bm.exact_posterior(..., mods=...), a "
            f"BayesFit of bm.MetaRegression, or bm.rma(..., mods=...); got "
            f"{type(result).__name__}"
        )
    terms = list(cres.terms)
    X = np.asarray(cres.X, dtype=float)
    slopes = [t for t in terms if t != "intrcpt"]
    if not slopes:
        raise BayesmaError("regression_plot needs a model with a moderator (mods=...)")
    if moderator is None:
        if len(slopes) != 1:
            raise BayesmaError(f"moderator: choose one of {slopes}")
        moderator = slopes[0]
    if moderator not in terms:
        raise BayesmaError(f"moderator {moderator!r} is not a term of the model; terms: {terms}")
    j = terms.index(moderator)
    xm = X[:, j]
    if np.unique(xm).size <= 2:
        raise BayesmaError(
            f"moderator {moderator!r} takes {np.unique(xm).size} values (a categorical "
            "term); use forest_plot(..., subgroup=...) for categorical moderators"
        )
    measure = st.result_measure(result) or st.result_measure(cres)
    scale = st.resolve_scale(measure, transform)
    yi = np.asarray(cres.yi, dtype=float)

    span = xm.max() - xm.min()
    grid = np.linspace(xm.min() - 0.03 * span, xm.max() + 0.03 * span, 201)
    Xg = np.tile(X.mean(axis=0), (grid.size, 1))
    Xg[:, j] = grid
    a = ((1 - prob) / 2, (1 + prob) / 2)
    lev = f"{100 * prob:g}%"

    fig = st.new_figure(figsize)
    ax = fig.add_subplot()
    entries: list[tuple[Any, str]] = []
    footer: list[str] = []

    if "studies" in show:
        w = np.asarray(cres.weights, dtype=float)
        size = 15 + 420 * w / np.max(w)
        ax.scatter(xm, scale(yi), s=size, facecolor=st.BUBBLE, edgecolor=st.BUBBLE_EDGE,
                   alpha=0.75, lw=0.8, zorder=4, gid="bubbles")
        entries.append((Line2D([], [], marker="o", ls="none", ms=9, mfc=st.BUBBLE,
                               mec=st.BUBBLE_EDGE, alpha=0.75), "Studies (area \u221d weight)"))
        if labels is not False:
            names = list(cres.labels) if labels is True else list(labels)
            if len(names) != len(yi):
                raise BayesmaError(f"labels: {len(names)} strings for {len(yi)} studies")
            for x, y, s in zip(xm, scale(yi), names, strict=True):
                ax.annotate(s, (x, y), xytext=(5, 4), textcoords="offset points",
                            fontsize=fontsize * 0.8, color="#333333", zorder=5)

    if bayes is not None and ({"bayes", "prediction"} & set(show)):
        B = _beta_draws(bayes)
        if B.shape[1] != X.shape[1]:
            raise BayesmaError("the Bayesian fit and its classical twin have different designs")
        lin = B @ Xg.T  # (n, grid)
        q = np.quantile(lin, [a[0], 0.5, a[1]], axis=0)
        if "prediction" in show:
            tau = _tau_draws(bayes, B.shape[0])
            rng = np.random.default_rng(5)
            # one new-study deviation per draw, shared along the grid: smooth quantile curves
            new = lin + tau[: lin.shape[0], None] * rng.standard_normal((lin.shape[0], 1))
            qn = np.quantile(new, a, axis=0)
            ax.fill_between(grid, scale(qn[0]), scale(qn[1]), color=st.BAYES_LIGHT, alpha=0.25,
                            lw=0, zorder=0.5, gid="prediction_band")
            for yv in qn:
                ax.plot(grid, scale(yv), color=st.BAYES, lw=0.7, ls=":", zorder=1)
            entries.append((Patch(facecolor=st.BAYES_LIGHT, alpha=0.4, edgecolor=st.BAYES,
                                  ls=":"), f"Posterior predictive {lev} (new study)"))
        if "bayes" in show:
            ax.fill_between(grid, scale(q[0]), scale(q[2]), color=st.BAYES_LIGHT, alpha=0.55,
                            lw=0, zorder=1, gid="credible_band")
            ax.plot(grid, scale(q[1]), color=st.BAYES, lw=2.0, zorder=3, gid="bayes_line")
            entries.append((Line2D([], [], color=st.BAYES, lw=2.0), "Posterior median line"))
            entries.append((Patch(facecolor=st.BAYES_LIGHT, alpha=0.8),
                            f"{lev} credible band"))
            slope = B[:, j]
            lo_s, hi_s = np.quantile(slope, a)
            unit = f"log {scale.short}" if scale.log_axis else scale.short
            footer.append(
                f"Bayesian slope of {moderator}: {_g(np.median(slope))} [{_g(lo_s)}, "
                f"{_g(hi_s)}] {unit} per unit (posterior median [{lev} CrI])")

    if "classical" in show and cres is not None:
        pred = cres.predict(Xg, level=prob)
        ax.plot(grid, scale(pred["pred"].to_numpy()), color=st.CLASSICAL, lw=1.3, zorder=3,
                gid="classical_line")
        for col in ("ci_low", "ci_high"):
            ax.plot(grid, scale(pred[col].to_numpy()), color=st.CLASSICAL, lw=0.9, ls="--",
                    zorder=3, gid=f"classical_{col}")
        hk = ", HKSJ" if cres.test == "knha" else ""
        entries.append((Line2D([], [], color=st.CLASSICAL, lw=1.3),
                        f"Classical ({cres.method}{hk})"))
        entries.append((Line2D([], [], color=st.CLASSICAL, lw=0.9, ls="--"),
                        f"Classical {lev} CI"))
        row = cres.coef.loc[moderator]
        line = (f"Classical slope: {_g(row['estimate'])} [{_g(row['ci_low'])}, "
                f"{_g(row['ci_high'])}], {fmt_p_apa(row['pval'])}")
        if cres.r2 is not None:
            line += f"; R\u00b2 = {cres.r2:.0f}%"
        line += f"; residual \u03c4\u00b2 = {fmt_num(cres.tau2, 3)}"
        footer.append(line)

    if scale.log_axis:
        ax.set_yscale("log")
        lo, hi = ax.get_ylim()
        ticks = st.nice_log_ticks(lo, hi)
        ax.yaxis.set_major_locator(FixedLocator(ticks))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_yticklabels([st.fmt_tick(t) for t in ticks])
    null = scale.null
    lo, hi = ax.get_ylim()
    if lo < null < hi:
        ax.axhline(null, color=st.REF, lw=0.7, zorder=0.3)
    ax.set_xlim(grid[0], grid[-1])
    ax.set_xlabel(xlabel if xlabel is not None else moderator, fontsize=fontsize)
    ax.set_ylabel(ylabel if ylabel is not None else scale.long, fontsize=fontsize)
    ax.tick_params(labelsize=fontsize)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):  # detached axes: corner tick labels never collide
        ax.spines[side].set_position(("outward", 5))
    if title:
        ax.set_title(title, loc="left", fontsize=fontsize * 1.15, fontweight="bold")

    # legend and footer under the axes
    W, H = fig.get_size_inches()
    ncol, _, leg_h = st.fit_legend(fig, [h for h, _ in entries], [s for _, s in entries],
                                   W - 0.3, fontsize * 0.9)
    meas = st.TextMeasure(fig, fontsize * 0.85)
    foot = []
    for s in footer:
        foot += st.wrap_to_width(s, W - 0.3, meas, separator="; ").split("\n")
    line_h = fontsize * 0.85 * 1.4 / 72
    bottom = 0.15 + len(foot) * line_h + leg_h + 0.12
    if entries:
        fig.legend([h for h, _ in entries], [s for _, s in entries], loc="upper left",
                   bbox_to_anchor=(0.15 / W, (bottom - 0.06) / H), ncols=ncol,
                   fontsize=fontsize * 0.9, **st.LEGEND_KW)
    for i, s in enumerate(foot):
        fig.text(0.15 / W, (0.12 + (len(foot) - i - 0.5) * line_h) / H, s,
                 fontsize=fontsize * 0.85, va="center", ha="left", color="#333333")
    fig.tight_layout(rect=(0, (bottom + 0.05) / H, 1, 1))
    st.save_figure(fig, save)
    return fig


def _g(x: float) -> str:
    """Three significant digits, typographic minus."""
    x = float(x)
    if x == 0 or not np.isfinite(x):
        return fmt_num(x, 2)
    d = int(max(2, min(6, 2 - np.floor(np.log10(abs(x))))))
    return fmt_num(x, d)

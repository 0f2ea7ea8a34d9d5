"""Plot of a model-averaged posterior: the spike at 0 and the density of the continuous part.

As RoBMA's ``plot(fit, parameter = "mu", prior = TRUE)`` (Bartoš et al. 2023, R package
RoBMA): the probability of the models that fix the parameter at 0 is drawn as a bar at 0
(RoBMA draws an arrow) read on a secondary probability axis; the models where it is free
contribute a density (weighted by their posterior probability, so its area is ``1 - P(= 0)``;
importance-weighted draws of a model are smoothed by a kernel density). The
prior is overlaid the same way (prior spike and prior density times the prior
inclusion probability).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bayesma.bayes.averaging.mixture import Averaged, PointMass
from bayesma.bayes.protocol import n_draws
from bayesma.errors import BayesmaError
from bayesma.formatting import fmt_prob
from bayesma.measures import get_measure
from bayesma.plots import _style as st

__all__ = ["averaged_posterior_plot"]

#: the component of the model space that frees each parameter
_COMPONENT = {"mu": "effect", "tau": "heterogeneity"}
_SYMBOL = {"mu": "\u03bc", "tau": "\u03c4"}


def _averaged(result: Any, param: str, conditional: bool) -> Averaged:
    get = getattr(result, "averaged", None)
    if not callable(get):
        raise BayesmaError("averaged_posterior_plot needs a model-averaged result (bm.bma or "
                           f"bm.RoBMA) with .averaged(param); got {type(result).__name__}")
    return get(param, conditional=conditional)


def _prior_parts(result: Any, param: str, conditional: bool) -> tuple[float, Any] | None:
    """(prior probability of the spike at 0, prior of the free parameter), or None when
    the result does not carry them."""
    priors = getattr(result, "priors", None)
    comp = getattr(result, "components", None)
    prior = priors.get(param) if isinstance(priors, dict) else None
    if prior is None or not callable(getattr(prior, "pdf", None)) or param not in _COMPONENT:
        return None
    try:
        p_in = float(comp.loc[_COMPONENT[param], "prior_prob"])
    except (AttributeError, KeyError, TypeError):
        return None
    return (0.0, prior) if conditional else (1.0 - p_in, prior)


def _continuous(avg: Averaged) -> tuple[float, list[tuple[float, Any]]]:
    parts = [(w, p) for w, p in avg.parts if not isinstance(p, PointMass)]
    return float(sum(w for w, _ in parts)), parts


def _default_range(parts: list[tuple[float, Any]], total: float,
                   support: tuple[float, float]) -> tuple[float, float]:
    cond = Averaged([(w / total, p) for w, p in parts], support=support)
    lo, hi = (float(v) for v in cond.quantile([0.001, 0.999]))
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    pad = 0.08 * (hi - lo if hi > lo else 1.0)
    lo = max(lo - pad, support[0])
    return lo, hi + pad


def _weighted_kde(x: np.ndarray, w: np.ndarray, grid: np.ndarray,
                  support: tuple[float, float]) -> np.ndarray:
    """Gaussian kernel density of weighted draws (importance-weighted posteriors) on an
    evenly spaced ``grid``: Silverman's bandwidth on the effective sample size
    ``1 / sum(w²)`` (Silverman 1986, eq. 3.31), linear binning and a discrete convolution
    (Wand & Jones 1995, appendix D), reflection at a finite end of the support
    (Silverman 1986, sec. 2.10)."""
    w = w / w.sum()
    mean = float(np.dot(w, x))
    sd = math.sqrt(max(float(np.dot(w, (x - mean) ** 2)), 1e-300))
    h = max(0.9 * sd * float(np.dot(w, w)) ** 0.2, 1e-12)  # ess^(-1/5), ess = 1/sum(w²)
    dx = float(grid[1] - grid[0])
    m = int(math.ceil(4 * h / dx))
    n_ext = grid.size + 2 * m
    start = float(grid[0]) - m * dx
    ext = start + dx * np.arange(n_ext)
    pos = (x - start) / dx
    i = np.floor(pos).astype(np.int64)
    f = pos - i
    ok = (i >= 0) & (i < n_ext - 1)
    counts = (np.bincount(i[ok], w[ok] * (1 - f[ok]), minlength=n_ext)
              + np.bincount(i[ok] + 1, w[ok] * f[ok], minlength=n_ext))
    kern = np.exp(-0.5 * (np.arange(-m, m + 1) * dx / h) ** 2)
    kern /= kern.sum() * dx
    dens_ext = np.convolve(counts, kern, mode="same")
    out = dens_ext[m:m + grid.size].copy()
    for end in support:
        if math.isfinite(end):  # mass smoothed across the end comes back (reflection)
            out += np.interp(2 * end - grid, ext, dens_ext, left=0.0, right=0.0)
    inside = (grid >= support[0]) & (grid <= support[1])
    return np.where(inside, out, 0.0)


def _density(parts: list[tuple[float, Any]], x: np.ndarray,
             support: tuple[float, float]) -> np.ndarray:
    """Weighted density of the continuous parts: their pdf when they offer one, a kernel
    density for weighted draws (parts with draws ``x`` and weights ``w``), else the
    centred difference quotient of their cdf on the grid (O(h²) for a smooth cdf)."""
    out = np.zeros_like(x)
    h = (x[-1] - x[0]) / (len(x) - 1) / 2
    for w, p in parts:
        pdf = getattr(p, "pdf", None)
        draws, weights = getattr(p, "x", None), getattr(p, "w", None)
        if callable(pdf):
            out += w * np.asarray(pdf(x), dtype=float)
        elif isinstance(draws, np.ndarray) and isinstance(weights, np.ndarray):
            out += w * _weighted_kde(draws, weights, x, support)
        else:
            out += w * (np.asarray(p.cdf(x + h)) - np.asarray(p.cdf(x - h))) / (2 * h)
    return np.maximum(out, 0.0)


def averaged_posterior_plot(
    result: Any,
    param: str = "mu",
    *,
    ax: Any = None,
    prior: bool | None = None,
    conditional: bool = False,
    xlim: tuple[float, float] | None = None,
    n: int = 501,
    title: str | None = None,
    xlabel: str | None = None,
    figsize: tuple[float, float] = (6.0, 3.8),
    save: str | Path | None = None,
) -> Figure:
    """Model-averaged posterior of ``param``: a spike at 0 plus a density (RoBMA's plot).

    Parameters
    ----------
    result : BMAResult or RoBMAResult
        A model-averaged fit (``bm.bma`` or ``bm.RoBMA``) offering ``.averaged(param)``.
    param : str
        ``"mu"`` (effect) or ``"tau"`` (heterogeneity); other parameters of a RoBMA fit
        that offer ``.averaged`` are drawn without a prior.
    ax : matplotlib Axes, optional
        Draw into these axes (a secondary axis for the spike is added); default a new
        figure.
    prior : bool or None
        Overlay the prior (its spike and its density times the prior inclusion
        probability). None: when the result carries the prior; True: required.
    conditional : bool
        Only the models where the parameter is free (no spike; metaBMA's averaged
        posterior under H1).
    xlim : (float, float), optional
        Range of the analysis scale (default: the 0.1% and 99.9% quantiles of the
        continuous part, and 0).
    n : int
        Grid points of the density.
    title, xlabel : str, optional
        Title; x-axis label (default the parameter and the measure's analysis scale).
    figsize : (float, float)
        Size in inches of a new figure.
    save : str or Path, optional
        Also write the figure there (PNG, SVG or PDF).

    Returns
    -------
    matplotlib.figure.Figure
        Main axes: ``Density``; the twin axes: ``Probability`` of the spike (0 to 1).

    Raises
    ------
    BayesmaError
        A result without model-averaged posteriors, no prior when ``prior=True``, or a
        bad ``xlim``.
    """
    avg = _averaged(result, param, conditional)
    spike = avg.spike
    total, parts = _continuous(avg)
    pri = _prior_parts(result, param, conditional) if prior is not False else None
    if prior is True and pri is None:
        raise BayesmaError(f"averaged_posterior_plot: this result carries no prior for "
                           f"{param!r} (priors and components); use prior=False")
    if xlim is None:
        lo, hi = _default_range(parts, total, avg.support) if parts else (-1.0, 1.0)
    else:
        try:
            lo, hi = (float(v) for v in xlim)
        except (TypeError, ValueError):
            lo = hi = math.nan
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise BayesmaError(f"xlim must be two finite increasing numbers, got {xlim!r}")
    x = np.linspace(lo, hi, n_draws(n, 501))
    fig, ax, own = st.figure_axes(ax, figsize)
    handles: list[tuple[Any, str]] = []
    sym = _SYMBOL.get(param, param)
    if parts:
        dens = _density(parts, x, avg.support)
        ax.fill_between(x, 0, dens, color=st.BAYES_LIGHT, alpha=0.5, lw=0, zorder=1)
        ax.plot(x, dens, color=st.BAYES, lw=1.8, zorder=2, gid="posterior_density")
        handles.append((Line2D([], [], color=st.BAYES, lw=1.8),
                        f"Posterior ({sym} \u2260 0 models)"))
    if pri is not None:
        p_spike, pr = pri
        pdens = (1.0 - p_spike) * np.asarray(pr.pdf(x), dtype=float)
        ax.plot(x, np.where(np.isfinite(pdens), pdens, np.nan), color=st.PRIOR, lw=1.2,
                ls="--", zorder=1.5, gid="prior_density")
        handles.append((Line2D([], [], color=st.PRIOR, lw=1.2, ls="--"), "Prior"))
    ax.set_ylim(bottom=0)
    ax.set_xlim(lo, hi)
    ax.set_ylabel("Density")
    if xlabel is None:
        m = get_measure(st.result_measure(result))
        xlabel = f"{sym} ({m.analysis_label})" if param == "mu" else sym
    ax.set_xlabel(xlabel)
    ax.spines["top"].set_visible(False)

    ax2 = None
    if spike > 0 or (pri is not None and pri[0] > 0):
        ax2 = ax.twinx()
        ax2.set_ylim(0, 1)
        ax2.set_ylabel("Probability")
        ax2.spines["top"].set_visible(False)
        if pri is not None and pri[0] > 0:
            ax2.plot([0, 0], [0, pri[0]], color=st.PRIOR, lw=1.2, ls="--", marker="o",
                     markevery=[1], ms=4, mfc="white", clip_on=False, zorder=3,
                     gid="prior_spike")
        if spike > 0:
            ax2.plot([0, 0], [0, spike], color=st.ACCENT, lw=2.4, marker="o",
                     markevery=[1], ms=5, clip_on=False, zorder=4, gid="posterior_spike")
            ax2.annotate(f"P({sym} = 0) = {fmt_prob(spike)}", xy=(0, spike),
                         xytext=(7, 4), textcoords="offset points", color=st.ACCENT,
                         fontsize=st.FONTSIZE, gid="spike_label", zorder=5,
                         bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8,
                               "pad": 1.0})
            handles.append((Line2D([], [], color=st.ACCENT, lw=2.4, marker="o", ms=5),
                            f"Posterior P({sym} = 0) (right axis)"))
    leg_ax = ax2 if ax2 is not None else ax
    leg = leg_ax.legend([h for h, _ in handles], [s for _, s in handles],
                        fontsize=st.FONTSIZE - 0.5, frameon=False, loc="upper center",
                        bbox_to_anchor=(0.5, -0.16), ncol=min(len(handles), 3))
    leg.set_gid("legend")
    if title is None:
        title = (f"Model-averaged posterior of {sym}" if not conditional
                 else f"Conditional posterior of {sym} (models with {sym} \u2260 0)")
    if title:
        ax.set_title(title, fontsize=st.FONTSIZE + 1)
    return st.finish_figure(fig, own=own, save=save)

"""Funnel plots: effect estimates against their standard errors.

:func:`funnel_plot` draws metafor's ``funnel()``: the studies, the pooled estimate with
its pseudo-confidence region (est ± z·SE), optionally the contour-enhanced version
(Peters et al. 2008: regions of two-sided p-values around the null) and the studies
imputed by trim-and-fill as open markers (Duval & Tweedie 2000), and optionally the
PET line and PEESE curve (Stanley & Doucouliagos 2014: the fitted meta-regressions of the
estimate on the standard error and on the sampling variance, whose intercepts at SE = 0
are the bias-adjusted estimates).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy import stats

from bayesma.bayes.protocol import Posterior
from bayesma.classical.bias import PetPeeseResult, TrimFillResult
from bayesma.classical.rma import RMAResult
from bayesma.errors import BayesmaError
from bayesma.plots import _style as st

__all__ = ["funnel_plot"]

_YAXES = {
    "sei": "Standard error",
    "vi": "Sampling variance",
    "seinv": "Inverse standard error (precision)",
    "vinv": "Inverse sampling variance",
}
#: colours of the PET line and the PEESE curve
_PET_COLORS = {"PET": "#009E73", "PEESE": "#CC79A7"}
#: Contour bands from the innermost (p just below the largest threshold) outwards.
_SHADES = ("#a3a3a3", "#c9c9c9", "#e8e8e8", "#f4f4f4")


def _y_of(se: np.ndarray, yaxis: str) -> np.ndarray:
    if yaxis == "sei":
        return se
    if yaxis == "vi":
        return se**2
    if yaxis == "seinv":
        return 1.0 / se
    return 1.0 / se**2


def _se_of(y: np.ndarray, yaxis: str) -> np.ndarray:
    with np.errstate(divide="ignore"):
        if yaxis == "sei":
            return y
        if yaxis == "vi":
            return np.sqrt(y)
        if yaxis == "seinv":
            return 1.0 / y
        return 1.0 / np.sqrt(y)


def _pet_peese_lines(ax: Any, pp: PetPeeseResult, ygrid: np.ndarray, sgrid: np.ndarray,
                     yaxis: str, scale: Any, legend: list[tuple[Any, str]]) -> None:
    """PET line and PEESE curve in the funnel's coordinates (``fit.predict(se)`` at each
    standard error of the vertical grid), intercepts marked at SE = 0."""
    for fit, what in ((pp.pet, "vs SE"), (pp.peese, "vs SE\u00b2")):
        color = _PET_COLORS[fit.name]
        ls = "-" if fit.name == pp.chosen else (0, (5, 2))
        ax.plot(scale(fit.predict(sgrid)), ygrid, color=color, lw=1.4, ls=ls, zorder=2,
                gid=f"{fit.name.lower()}_line")
        if yaxis in ("sei", "vi"):
            ax.plot([scale(fit.estimate)], [0.0], marker="D", ms=5, color=color, zorder=4,
                    clip_on=False, gid=f"{fit.name.lower()}_estimate")
        chosen = "; conditional estimate" if fit.name == pp.chosen else ""
        legend.append((Line2D([], [], color=color, lw=1.4, ls=ls,
                              marker="D" if yaxis in ("sei", "vi") else None, ms=4),
                       f"{fit.name} ({what}{chosen})"))


def funnel_plot(
    res: Any,
    *,
    trimfill: Any = None,
    pet_peese: Any = None,
    contours: Sequence[float] | None = None,
    yaxis: str = "sei",
    level: float = 0.95,
    transform: Any = None,
    ref_line: float | str | None = "auto",
    labels: bool | Sequence[str] = False,
    title: str | None = None,
    xlabel: str | None = None,
    figsize: tuple[float, float] = (7.2, 4.6),
    fontsize: float = st.FONTSIZE,
    save: str | Path | None = None,
) -> Figure:
    """Funnel plot of a meta-analysis (metafor's ``funnel``).

    Parameters
    ----------
    res : RMAResult or Bayesian result
        An intercept-only classical fit (a Bayesian result uses its classical twin).
    trimfill : TrimFillResult or None
        A :func:`bayesma.trimfill` result (``trimfill=bm.trimfill(res)``): the imputed studies
        are drawn as open markers and the funnel is centred on the adjusted estimate,
        with the original estimate as a dotted line.
    pet_peese : PetPeeseResult or None
        A :func:`bayesma.pet_peese` result of the same fit: the PET line (estimate
        against SE) and the PEESE curve (estimate against SE², a parabola in SE) are drawn
        in the funnel's coordinates, with their intercepts (the estimates at SE = 0)
        marked on a standard-error or variance axis; the legend names the model the
        conditional estimate uses.
    contours : sequence of float, optional
        Two-sided p-value thresholds for a contour-enhanced funnel plot, e.g.
        ``(0.10, 0.05, 0.01)``: the regions of "significance" around ``ref_line`` are
        shaded (Peters et al. 2008, J Clin Epidemiol 61:991).
    yaxis : {"sei", "vi", "seinv", "vinv"}
        Vertical axis: standard error (inverted, 0 at the top, the default), sampling
        variance, or their inverses.
    level : float
        Level of the pseudo-confidence region.
    transform : None, False, "exp" or callable
        Display scale (``None``: ratio measures on their natural scale, log axis).
    ref_line : "auto", float or None
        The null value for the contours (0, or 1 when back-transformed).
    labels : bool or sequence of str
        Label the points with the study labels (``True``) or given strings.
    title, xlabel : str, optional
        Title and x-axis label.
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
    if yaxis not in _YAXES:
        raise BayesmaError(f"yaxis must be one of {', '.join(_YAXES)}; got {yaxis!r}")
    if not 0 < level < 1:
        raise BayesmaError(f"level must be in (0, 1), got {level}")
    if isinstance(res, Posterior):
        res = res.classical
        if res is None:
            raise BayesmaError("this Bayesian result has no classical twin to draw")
    if not isinstance(res, RMAResult):
        raise BayesmaError(f"funnel_plot needs an RMAResult (bm.rma); got {type(res).__name__}")
    if not getattr(res, "int_only", True):
        raise BayesmaError("funnel_plot needs a model without moderators")
    if trimfill is not None and not isinstance(trimfill, TrimFillResult):
        raise BayesmaError("trimfill must be the result of bm.trimfill(res) (the plot does "
                           f"not run analyses); got {type(trimfill).__name__}")
    if pet_peese is not None:
        if not isinstance(pet_peese, PetPeeseResult):
            raise BayesmaError("pet_peese must be the result of bm.pet_peese(res) (the plot "
                               f"does not run analyses); got {type(pet_peese).__name__}")
        if int(pet_peese.k) != int(res.k):
            raise BayesmaError(f"pet_peese was fitted to {pet_peese.k} studies but the funnel "
                               f"plot has {res.k}: pass bm.pet_peese of the same fit")
    cont = tuple(sorted(float(c) for c in contours)) if contours else ()
    if any(not 0 < c < 1 for c in cont):
        raise BayesmaError(f"contours must be p-values in (0, 1), got {contours}")

    scale = st.resolve_scale(st.result_measure(res), transform)
    yi = np.asarray(res.yi, dtype=float)
    se = np.sqrt(np.asarray(res.vi, dtype=float))
    y_obs = _y_of(se, yaxis)

    fill_yi = fill_se = None
    center = float(res.estimate)
    if trimfill is not None:
        f = trimfill.filled
        mask = np.asarray(f["fill"], dtype=bool)
        fill_yi = np.asarray(f["yi"], dtype=float)[mask]
        fill_se = np.sqrt(np.asarray(f["vi"], dtype=float)[mask])
        center = float(trimfill.estimate)

    fig = st.new_figure(figsize)
    ax = fig.add_subplot()
    z = stats.norm.isf((1 - level) / 2)

    all_se = se if fill_se is None else np.concatenate([se, fill_se])
    se_max = float(np.max(all_se)) * 1.05
    if yaxis in ("sei", "vi"):
        y_lo, y_hi = 0.0, float(_y_of(np.array([se_max]), yaxis)[0])
        ygrid = np.linspace(y_lo, y_hi, 200)
    else:
        se_min = float(np.min(all_se)) * 0.9
        y_lo = float(_y_of(np.array([se_max]), yaxis)[0]) * 0.9
        y_hi = float(_y_of(np.array([se_min]), yaxis)[0]) * 1.05
        ygrid = np.linspace(y_lo, y_hi, 200)
    sgrid = _se_of(ygrid, yaxis)

    ref = scale.null if ref_line == "auto" else ref_line
    ref_model = None
    if ref is not None:
        if scale.log_axis:
            if ref <= 0:
                raise BayesmaError(f"ref_line must be > 0 on a log axis, got {ref}")
            ref_model = float(np.log(ref))
        else:
            # model scale: the value itself; another back-transformation: its null (0)
            identity = np.allclose(scale(np.array([0.0, 1.0, -2.5])), [0.0, 1.0, -2.5])
            ref_model = float(ref) if identity else 0.0
    legend: list[tuple[Any, str]] = []

    # x range (model scale): the points and the funnel at its widest
    xs = np.concatenate([yi, fill_yi if fill_yi is not None else [],
                         [center - z * se_max, center + z * se_max]])
    if cont and ref_model is not None:
        xs = np.concatenate([xs, [ref_model]])
    if pet_peese is not None:
        xs = np.concatenate([xs, [pet_peese.pet.estimate, pet_peese.peese.estimate]])
    x_lo, x_hi = float(np.min(xs)), float(np.max(xs))
    pad = 0.06 * (x_hi - x_lo if x_hi > x_lo else 1.0)
    x_lo, x_hi = x_lo - pad, x_hi + pad

    if cont and ref_model is not None:
        # contour-enhanced: bands of two-sided p around the null (metafor's shading:
        # darkest just outside p = max(contours), lighter further out)
        ps = sorted(cont, reverse=True)  # e.g. 0.10, 0.05, 0.01
        zs = [stats.norm.isf(p / 2) for p in ps]
        for j, p in enumerate(ps):
            shade = _SHADES[min(j, len(_SHADES) - 1)] if len(ps) > 1 else _SHADES[1]
            for sign in (-1, 1):
                inner = ref_model + sign * zs[j] * sgrid
                if j + 1 < len(ps):
                    outer = ref_model + sign * zs[j + 1] * sgrid
                else:
                    outer = np.full_like(sgrid, x_lo if sign < 0 else x_hi)
                inner = np.clip(inner, x_lo, x_hi)
                outer = np.clip(outer, x_lo, x_hi)
                ax.fill_betweenx(ygrid, scale(inner), scale(outer), color=shade, lw=0,
                                 zorder=0.2)
            lab = f"{ps[j + 1]:g} < p < {p:g}" if j + 1 < len(ps) else f"p < {p:g}"
            legend.append((Patch(facecolor=shade, edgecolor="none"), lab))
        ax.axvline(scale(ref_model), color=st.REF, lw=0.6, zorder=0.5)
    else:
        ax.fill_betweenx(ygrid, scale(center - z * sgrid), scale(center + z * sgrid),
                         color="#f0f0f0", lw=0, zorder=0.1)

    # pseudo-confidence region and centre line
    ax.plot(scale(center - z * sgrid), ygrid, color=st.CLASSICAL, lw=0.8, ls="--", zorder=1,
            gid="pseudo_ci")
    ax.plot(scale(center + z * sgrid), ygrid, color=st.CLASSICAL, lw=0.8, ls="--", zorder=1,
            gid="pseudo_ci")
    ax.axvline(scale(center), color=st.CLASSICAL, lw=0.9, zorder=1, gid="center")
    legend.append((Line2D([], [], color=st.CLASSICAL, lw=0.8, ls="--"),
                   f"Pseudo {100 * level:g}% CI"))
    if trimfill is not None:
        ax.axvline(scale(res.estimate), color=st.REF, lw=0.9, ls=":", zorder=1,
                   gid="original")
        legend.append((Line2D([], [], color=st.REF, lw=0.9, ls=":"), "Original estimate"))
        legend.insert(len(legend) - 1, (Line2D([], [], color=st.CLASSICAL, lw=0.9),
                                        "Trim-and-fill estimate"))
    else:
        legend.append((Line2D([], [], color=st.CLASSICAL, lw=0.9),
                       f"Pooled estimate ({res.method})"))
    if pet_peese is not None:
        _pet_peese_lines(ax, pet_peese, ygrid, sgrid, yaxis, scale, legend)
    ax.scatter(scale(yi), y_obs, s=28, color=st.CLASSICAL, zorder=3, gid="studies",
               edgecolors="white", linewidths=0.5)
    legend.append((Line2D([], [], color=st.CLASSICAL, marker="o", ls="none", ms=5),
                   "Studies"))
    if fill_yi is not None and fill_yi.size:
        ax.scatter(scale(fill_yi), _y_of(fill_se, yaxis), s=28, facecolors="white",
                   edgecolors=st.ACCENT, linewidths=1.2, zorder=3, gid="filled")
        legend.append((Line2D([], [], color=st.ACCENT, marker="o", mfc="white", ls="none",
                              ms=5), f"Imputed by trim-and-fill (k\u2080 = {trimfill.k0})"))

    if labels is not False:
        names = list(res.labels) if labels is True else list(labels)
        if len(names) != len(yi):
            raise BayesmaError(f"labels: {len(names)} strings for {len(yi)} studies")
        for x, y, s in zip(scale(yi), y_obs, names, strict=True):
            ax.annotate(s, (x, y), xytext=(4, 2), textcoords="offset points",
                        fontsize=fontsize * 0.8, color="#444444")

    if scale.log_axis:
        ax.set_xscale("log")
    if yaxis in ("sei", "vi"):
        ax.set_ylim(y_hi, y_lo)
    else:
        ax.set_ylim(y_lo, y_hi)
    ax.set_xlim(scale(x_lo), scale(x_hi))
    if scale.log_axis:
        from matplotlib.ticker import FixedLocator, NullLocator

        ticks = st.nice_log_ticks(float(scale(x_lo)), float(scale(x_hi)))
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([st.fmt_tick(t) for t in ticks])

    ax.set_xlabel(xlabel if xlabel is not None else scale.long, fontsize=fontsize)
    ax.set_ylabel(_YAXES[yaxis], fontsize=fontsize)
    ax.tick_params(labelsize=fontsize)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):  # detached axes: corner tick labels never collide
        ax.spines[side].set_position(("outward", 5))
    if title:
        ax.set_title(title, fontsize=fontsize * 1.15, loc="left", fontweight="bold")
    leg = ax.legend([h for h, _ in legend], [s for _, s in legend], fontsize=fontsize * 0.9,
                    loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                    frameon=False)
    leg.set_gid("legend")
    fig.tight_layout()
    st.save_figure(fig, save)
    return fig

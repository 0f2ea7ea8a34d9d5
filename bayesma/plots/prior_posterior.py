"""Prior and posterior densities on one panel per parameter.

:func:`prior_posterior_plot` shows how much the data moved each parameter away from its
prior: the prior density (from the prior object's ``pdf``) dashed in grey, and the
posterior density (exact: ``post.pdf(param, x)``; MCMC: a kernel density estimate of the
draws, reflected at the boundary for tau) filled in blue with its median and credible
interval. The classical estimate (REML tau, and the classical pooled effect with its CI)
is marked beneath for comparison.
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

from bayesma.bayes.exact import ExactPosterior
from bayesma.bayes.protocol import Posterior
from bayesma.errors import BayesmaError
from bayesma.formatting import fmt_num
from bayesma.plots import _style as st

__all__ = ["prior_posterior_plot", "posterior_density"]

_NAMES = {"mu": "\u03bc", "mu_centered": "\u03bc\u2080",
          "tau": "\u03c4", "tau2": "\u03c4\u00b2", "theta_new": "\u03b8_new"}


def _short_name(param: str) -> str:
    if param.startswith("beta[") and param.endswith("]"):
        return f"\u03b2 ({param[5:-1]})"
    return _NAMES.get(param, param)


def _digits(lo: float, hi: float) -> int:
    """Decimals that resolve an interval of this width (at least 2)."""
    w = abs(hi - lo)
    if not np.isfinite(w) or w == 0:
        return 2
    return int(max(2, min(6, np.ceil(-np.log10(w)) + 1)))


def _classical_coef(twin: Any, param: str) -> tuple[float, float, float] | None:
    """(estimate, ci_low, ci_high) of mu (the intercept) or a coefficient."""
    coef = getattr(twin, "coef", None)
    if coef is None:
        return None
    if param == "mu":
        row = coef.iloc[0]
    elif param.startswith("beta[") and param[5:-1] in coef.index:
        row = coef.loc[param[5:-1]]
    else:
        return None
    return float(row["estimate"]), float(row["ci_low"]), float(row["ci_high"])


def _param_label(param: str, measure: str | None) -> str:
    name = _short_name(param)
    unit = ""
    if measure and (param in ("mu", "theta_new") or param.startswith("beta[")):
        sc = st.resolve_scale(measure, False)
        unit = f" ({sc.short})" if sc.short != "Estimate" else ""
    return name + unit


def _centred(post: Any) -> bool:
    """A meta-regression whose ``mu`` prior applies at the moderators' means."""
    if getattr(post, "centered", None) is not None:
        return bool(post.centered) and getattr(post, "p", 1) > 1
    try:
        return len(np.atleast_1d(post.mean("beta"))) > 1 and np.isfinite(
            post.mean("mu_centered"))
    except (BayesmaError, KeyError):
        return False


def _prior_of(post: Any, param: str) -> Any | None:
    pri = getattr(post, "priors", {}) or {}
    if param == "mu_centered":
        return pri.get("mu")
    if param == "mu" and _centred(post):
        return None  # the mu prior is the prior of mu_centered, not of the intercept at 0
    if param in ("mu", "tau"):
        return pri.get(param)
    if param.startswith("beta[") and "beta" in pri:
        b = pri["beta"]
        return b.get(param[5:-1]) if isinstance(b, dict) else b
    return None


def _prior_density(post: Any, param: str, x: np.ndarray) -> np.ndarray | None:
    """Prior density of ``param`` at ``x`` (data-dependent priors get the study variances)."""
    if hasattr(post, "prior_pdf"):
        try:
            return np.asarray(post.prior_pdf(param, x), dtype=float)
        except BayesmaError:
            pass
    prior = _prior_of(post, param)
    if prior is None:
        return None
    kw = {}
    if not getattr(prior, "data_free", True):
        vi = getattr(post, "vi", None)
        if vi is None and getattr(post, "classical", None) is not None:
            vi = post.classical.vi
        kw["vi"] = vi
    return np.asarray(prior.pdf(x, **kw), dtype=float)


def _draws(post: Any, param: str) -> np.ndarray:
    n = 20000 if isinstance(post, ExactPosterior) else None  # MCMC: every stored draw
    d = post.draws(param, n=n, random_seed=1)
    return np.asarray(d, dtype=float).ravel()


def posterior_density(post: Any, param: str, x: np.ndarray) -> np.ndarray:
    """Posterior density of ``param`` on the grid ``x``.

    Exact posteriors give it directly (``post.pdf``); MCMC fits a Gaussian kernel
    density estimate of the draws, reflected at 0 for tau (Silverman 1986, sec. 2.10).
    """
    if isinstance(post, ExactPosterior):
        return np.asarray(post.pdf(param, x), dtype=float)
    d = _draws(post, param)
    d = d[np.isfinite(d)]
    if param in ("tau", "tau2"):
        kde = stats.gaussian_kde(d)  # bandwidth of the draws themselves
        return np.where(x >= 0, kde(x) + kde(-x), 0.0)
    return stats.gaussian_kde(d)(x)


def _grid(post: Any, param: str, n: int = 600) -> np.ndarray:
    lo_q, hi_q = (float(v) for v in np.atleast_1d(post.quantile(param, [0.001, 0.999])))
    med = float(post.median(param))
    if param in ("tau", "tau2"):
        top = hi_q + 0.6 * (hi_q - med)
        return np.linspace(0.0, top, n)
    w = hi_q - lo_q
    return np.linspace(lo_q - 0.35 * w, hi_q + 0.35 * w, n)


def prior_posterior_plot(
    post: Any,
    *,
    params: Sequence[str] = ("tau", "mu"),
    prob: float = 0.95,
    classical: bool = True,
    title: str | None = None,
    panel_size: tuple[float, float] = (4.2, 3.0),
    fontsize: float = st.FONTSIZE,
    save: str | Path | None = None,
) -> Figure:
    """Prior and posterior densities, one panel per parameter.

    Parameters
    ----------
    post : ExactPosterior or BayesFit
        The Bayesian result (its ``priors`` give the prior densities).
    params : sequence of str
        Parameters: ``"tau"``, ``"mu"``, or ``"beta[<term>]"`` and ``"mu_centered"`` (the
        intercept at the moderators' means, which carries the ``mu`` prior) in a
        meta-regression.
    prob : float
        Probability of the shaded credible interval (equal-tailed).
    classical : bool
        Mark the classical estimates beneath (REML tau; pooled effect with its CI).
    title : str, optional
        Figure title.
    panel_size : (float, float)
        Size of one panel in inches.
    fontsize : float
        Font size in points.
    save : str or Path, optional
        Also write the figure there (PNG, SVG or PDF).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(post, Posterior):
        raise BayesmaError(
            "prior_posterior_plot needs a Bayesian result (bm.exact_posterior or a BayesFit); "
            f"got {type(post).__name__}"
        )
    params = [params] if isinstance(params, str) else list(params)
    if not params:
        raise BayesmaError("params: give at least one parameter")
    for p in params:
        if p not in ("mu", "tau", "mu_centered") and not (
                p.startswith("beta[") and p.endswith("]")):
            raise BayesmaError(
                f"params: {p!r} is not 'mu', 'mu_centered', 'tau' or 'beta[<term>]'")
    measure = st.result_measure(post)
    n = len(params)
    fig = st.new_figure((panel_size[0] * n, panel_size[1] + 0.9))
    axes = fig.subplots(1, n, squeeze=False)[0]
    twin = getattr(post, "classical", None) if classical else None
    handles: dict[str, Any] = {}
    for ax, param in zip(axes, params, strict=True):
        x = _grid(post, param)
        dens = posterior_density(post, param, x)
        lo, hi = post.interval(param, prob=prob)
        med = float(post.median(param))
        inside = (x >= lo) & (x <= hi)
        ax.fill_between(x, 0, dens, color=st.BAYES_LIGHT, alpha=0.35, lw=0, zorder=1)
        ax.fill_between(x[inside], 0, dens[inside], color=st.BAYES_LIGHT, alpha=0.8, lw=0,
                        zorder=1.1)
        ax.plot(x, dens, color=st.BAYES, lw=1.6, zorder=3, gid=f"posterior|{param}")
        ax.plot([med, med], [0, float(np.interp(med, x, dens))], color=st.BAYES, lw=1.0,
                zorder=3)
        handles["post"] = Line2D([], [], color=st.BAYES, lw=1.6)
        handles["cri"] = Patch(facecolor=st.BAYES_LIGHT, alpha=0.8)
        prior = _prior_of(post, param)
        pd_ = _prior_density(post, param, x)
        if pd_ is not None and np.any(np.isfinite(pd_)):
            pd_ = np.where(np.isfinite(pd_), pd_, np.nan)
            improper = prior is not None and not getattr(prior, "proper", True)
            if improper and np.nanmax(pd_) > 0:
                pd_ = pd_ / np.nanmax(pd_) * np.nanmax(dens) * 0.5
            ax.plot(x, pd_, color=st.PRIOR, lw=1.3, ls="--", zorder=2, gid=f"prior|{param}")
            handles["prior"] = Line2D([], [], color=st.PRIOR, lw=1.3, ls="--")
            if improper:
                handles["improper"] = True
        top = float(np.nanmax(dens))
        if pd_ is not None and np.any(np.isfinite(pd_)):
            top = max(top, float(np.nanmax(pd_[np.isfinite(pd_)])) if np.any(
                np.isfinite(pd_)) else top)
        top = min(top, 3 * float(np.nanmax(dens)))
        if twin is not None:
            y = -0.07 * top
            if param == "tau":
                ax.plot([twin.tau], [y], marker="v", color=st.CLASSICAL, ms=6, ls="none",
                        zorder=4, clip_on=False, gid="classical|tau")
                handles["classical_tau"] = Line2D([], [], marker="v", color=st.CLASSICAL,
                                                  ls="none", ms=6)
            elif (c := _classical_coef(twin, param)) is not None:
                ax.plot([c[1], c[2]], [y, y], color=st.CLASSICAL, lw=1.2, zorder=4,
                        clip_on=False)
                ax.plot([c[0]], [y], marker="D", color=st.CLASSICAL, ms=5, ls="none",
                        zorder=4, clip_on=False, gid=f"classical|{param}")
                handles["classical_mu"] = Line2D([], [], marker="D", color=st.CLASSICAL,
                                                 ms=5, lw=1.2)
        ax.set_ylim(-0.13 * top if twin is not None else 0, top * 1.08)
        ax.set_xlim(x[0], x[-1])
        ax.axhline(0, color="#666666", lw=0.6, zorder=0.5)
        xlab = _param_label(param, measure)
        if param == "mu" and getattr(post, "p", 1) > 1:
            xlab = xlab.replace("\u03bc", "\u03bc (intercept)", 1)
        if param == "mu_centered":
            xlab = xlab.replace("\u03bc\u2080", "\u03bc\u2080 (at moderator means)", 1)
        ax.set_xlabel(xlab, fontsize=fontsize)
        ax.set_yticks([])
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        ax.tick_params(labelsize=fontsize)
        if prior is not None:
            desc = st.describe_prior(prior)
        elif param == "mu" and _centred(post):
            desc = "on \u03bc at moderator means"
        else:
            desc = "?"
        dg = _digits(lo, hi)
        ax.set_title(f"{_short_name(param)} = {fmt_num(med, dg)} "
                     f"[{fmt_num(lo, dg)}, {fmt_num(hi, dg)}]  "
                     f"(median [{100 * prob:g}% CrI])\nprior: {desc}",
                     fontsize=fontsize, loc="left")
    entries = [(handles["post"], "Posterior density"),
               (handles["cri"], f"{100 * prob:g}% credible interval")]
    if "prior" in handles:
        entries.append((handles["prior"], "Prior density" + (
            " (improper, rescaled)" if "improper" in handles else "")))
    if twin is not None:
        if "classical_tau" in handles:
            entries.append((handles["classical_tau"], f"{twin.method} \u03c4"))
        if "classical_mu" in handles:
            hk = ", HKSJ" if twin.test == "knha" else ""
            entries.append((handles["classical_mu"],
                            f"Classical estimate [CI] ({twin.method}{hk})"))
    engine = "exact posterior" if isinstance(post, ExactPosterior) else "MCMC (KDE)"
    fig.suptitle(title or f"Prior and posterior ({engine})", fontsize=fontsize * 1.15,
                 x=0.01, ha="left", fontweight="bold")
    fig.legend([h for h, _ in entries], [s for _, s in entries], loc="lower center",
               ncols=min(len(entries), 3), fontsize=fontsize * 0.9, frameon=False)
    nrow = -(-len(entries) // 3)
    fig.tight_layout(rect=(0, (0.12 + 0.2 * nrow) / fig.get_size_inches()[1], 1, 1))
    st.save_figure(fig, save)
    return fig

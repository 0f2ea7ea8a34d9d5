"""Shared styling and helpers of bayesma's figures.

Colours (Okabe-Ito, readable in grey scale and by colour-blind readers), the display
scale of a measure (names and back-transformations from :mod:`bayesma.measures`), compact
formats of raw data and ticks (estimates, intervals and p-values are formatted by
:mod:`bayesma.formatting`), text measurement with the figure's renderer, summaries of
Bayesian results read through :class:`~bayesma.bayes.protocol.Posterior`, and
:func:`save_figure`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from bayesma.errors import BayesmaError
from bayesma.formatting import MINUS
from bayesma.measures import get_measure

# ------------------------------------------------------------------------------------
# colours and sizes
# ------------------------------------------------------------------------------------

#: Observed (classical) study estimates and the classical pooled estimate.
CLASSICAL = "#1a1a1a"
#: Bayesian posterior summaries (shrunken theta_i, mu, predictive interval).
BAYES = "#0072B2"
#: Light fill of the Bayesian predictive interval.
BAYES_LIGHT = "#9ecae9"
#: Light fill of the classical prediction interval.
CLASSICAL_LIGHT = "#bdbdbd"
#: Imputed (trim-and-fill) studies, prior curves, accents.
ACCENT = "#D55E00"
#: Prior densities.
PRIOR = "#7f7f7f"
#: Reference lines and grid.
REF = "#8c8c8c"
#: Regression bubbles (fill and edge).
BUBBLE = "#b0b0b0"
BUBBLE_EDGE = "#3a3a3a"

FONTSIZE = 9.0
SAVE_DPI = 200


# ------------------------------------------------------------------------------------
# numbers
# ------------------------------------------------------------------------------------

def fmt_general(x: float | None) -> str:
    """Compact display of raw data (means, SDs): integers as integers, else 3-4 digits."""
    if x is None or not np.isfinite(x):
        return "NA"
    if float(x).is_integer() and abs(x) < 1e7:
        return str(int(x)).replace("-", MINUS)
    ax = abs(x)
    if ax >= 100:
        d = 1
    elif ax >= 1:
        d = 2
    else:
        d = 3
    s = f"{x:.{d}f}".rstrip("0").rstrip(".")
    return s.replace("-", MINUS)


def fmt_count(x: float | None) -> str:
    """Counts and sample sizes (``"NA"`` when missing)."""
    if x is None or not np.isfinite(x):
        return "NA"
    return f"{x:.0f}" if float(x).is_integer() else fmt_general(x)


def fmt_df(df: Any) -> str:
    """A degrees-of-freedom value: an int, or ``"m, n"`` for an F test."""
    if isinstance(df, tuple | list):
        return ", ".join(fmt_df(d) for d in df)
    f = float(df)
    return f"{int(f)}" if f.is_integer() else f"{f:.2f}"


# ------------------------------------------------------------------------------------
# measures and transformations
# ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scale:
    """How estimates are displayed.

    Attributes
    ----------
    forward : callable
        Model scale (yi) -> displayed scale.
    log_axis : bool
        Draw the x axis on a log scale (exp back-transformation).
    short, long : str
        Column header abbreviation (``"RR"``) and axis label (``"Risk ratio"``).
    null : float
        The no-effect value on the displayed scale (0 or 1).
    """

    forward: Callable[[np.ndarray], np.ndarray]
    log_axis: bool
    short: str
    long: str
    null: float

    def __call__(self, x: Any) -> Any:
        with np.errstate(over="ignore", invalid="ignore"):
            out = self.forward(np.asarray(x, dtype=float))
        return out if np.ndim(out) else float(out)


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def resolve_scale(measure: str | None, transform: Any) -> Scale:
    """The display scale for ``measure`` under the user's ``transform`` option.

    Parameters
    ----------
    measure : str or None
        metafor measure code (``"RR"``, ``"SMD"``...).
    transform : None, False, "none", "exp", "ztor", "tanh" or callable
        ``None`` back-transforms ratio measures (exp, log axis) and leaves other
        measures alone; ``False``/``"none"`` never transforms; ``"exp"`` forces the
        exp back-transformation; ``"ztor"`` / ``"tanh"`` maps Fisher's z to r; a
        callable is applied as is (linear axis).
    """
    m = get_measure(measure)
    short, long = m.short, m.long
    if transform is None:
        transform = "exp" if m.log_scale else "none"
    if transform is False or transform == "none":
        if m.log_scale:
            return Scale(_identity, False, f"log {short}", f"Log {long[0].lower()}{long[1:]}",
                         0.0)
        return Scale(_identity, False, short, long, 0.0)
    if transform == "exp":
        if not m.log_scale:
            short, long = f"exp({short})", f"exp({long})"
        return Scale(np.exp, True, short, f"{long} (log scale)", 1.0)
    if transform in ("ztor", "tanh"):
        return Scale(np.tanh, False, "r", "Correlation", 0.0)
    if callable(transform):
        name = getattr(transform, "__name__", "transformed")
        with np.errstate(all="ignore"):
            null = float(transform(np.asarray(0.0)))
        return Scale(transform, False, short, f"{long} ({name})",
                     null if np.isfinite(null) else 0.0)
    raise BayesmaError(
        f"transform must be None, False, 'none', 'exp', 'ztor' or a callable; got {transform!r}"
    )


# ------------------------------------------------------------------------------------
# figures and text measurement
# ------------------------------------------------------------------------------------


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A new figure (100 dpi, white).

    Managed by pyplot when the user has imported :mod:`matplotlib.pyplot` (so that
    ``plt.show()`` and notebook display work as usual); otherwise a standalone
    :class:`~matplotlib.figure.Figure` on an Agg canvas (no global state).
    """
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        return plt.figure(figsize=figsize, dpi=100, facecolor="white")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=figsize, dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def renderer_of(fig: Figure) -> Any:
    """A renderer to measure text and legends of ``fig`` (Agg when the canvas has none)."""
    get = getattr(fig.canvas, "get_renderer", None)
    if get is not None:
        return get()
    from matplotlib.backends.backend_agg import RendererAgg

    w, h = fig.get_size_inches()
    return RendererAgg(int(w * fig.dpi) + 1, int(h * fig.dpi) + 1, fig.dpi)


class TextMeasure:
    """Width and height of strings in inches, measured with the figure's renderer."""

    def __init__(self, fig: Figure, fontsize: float) -> None:
        self.fig = fig
        self.renderer = renderer_of(fig)
        self.fontsize = fontsize
        self._cache: dict[tuple[str, str, str, float], tuple[float, float]] = {}

    def size(self, text: str, *, weight: str = "normal", style: str = "normal",
             fontsize: float | None = None) -> tuple[float, float]:
        """(width, height) in inches of ``text`` (multi-line strings allowed)."""
        fs = fontsize or self.fontsize
        key = (text, weight, style, fs)
        if key not in self._cache:
            prop = FontProperties(size=fs, weight=weight, style=style)
            w = 0.0
            lines = text.split("\n") if text else [""]
            for line in lines:
                if line:
                    lw, _, _ = self.renderer.get_text_width_height_descent(line, prop,
                                                                           ismath=False)
                    w = max(w, lw)
            h = len(lines) * fs * 1.2 / 72.0
            self._cache[key] = (w / self.fig.dpi, h)
        return self._cache[key]

    def width(self, text: str, **kw: Any) -> float:
        """Width in inches."""
        return self.size(text, **kw)[0]


def wrap_to_width(text: str, width: float, measure: TextMeasure, *, weight: str = "normal",
                  style: str = "normal", fontsize: float | None = None,
                  separator: str = " ") -> str:
    """Break ``text`` into lines no wider than ``width`` inches (greedy, at ``separator``).

    The separator is kept at the end of a broken line when it is not blank (``"; "``
    breaks keep the semicolon). A single word wider than ``width`` stays on its line.
    """
    kw = {"weight": weight, "style": style, "fontsize": fontsize}
    if measure.width(text, **kw) <= width or separator not in text:
        return text
    parts = text.split(separator)
    keep = separator.rstrip()
    lines: list[str] = []
    cur = parts[0]
    for part in parts[1:]:
        cand = cur + separator + part
        if measure.width(cand, **kw) > width:
            lines.append(cur + keep)
            cur = part
        else:
            cur = cand
    lines.append(cur)
    return "\n".join(lines)


# ------------------------------------------------------------------------------------
# legends laid out under a figure
# ------------------------------------------------------------------------------------

LEGEND_KW: dict[str, Any] = {"frameon": False, "handlelength": 2.0, "handletextpad": 0.6,
                             "columnspacing": 1.6, "borderaxespad": 0.0, "borderpad": 0.0,
                             "handleheight": 0.9, "labelspacing": 0.45}


def fit_legend(fig: Figure, handles: Sequence[Any], labels: Sequence[str], width: float,
               fontsize: float) -> tuple[int, float, float]:
    """Columns of a figure legend that fits in ``width`` inches, with its size.

    Tries every number of columns, keeps the fewest rows and, among those, the most
    balanced layout (fewest columns). Legends are measured with the renderer.

    Returns
    -------
    (ncols, width, height)
        Columns, and the legend's width and height in inches.
    """
    if not handles:
        return 1, 0.0, 0.0
    renderer = renderer_of(fig)
    n = len(handles)
    best: tuple[int, float, float] | None = None
    for ncol in range(n, 0, -1):
        leg = fig.legend(list(handles), list(labels), ncols=ncol, fontsize=fontsize,
                         **LEGEND_KW)
        bb = leg.get_window_extent(renderer)
        leg.remove()
        w, h = bb.width / fig.dpi, bb.height / fig.dpi
        if w <= width:
            nrow = math.ceil(n / ncol)
            if best is None or math.ceil(n / best[0]) >= nrow:
                best = (ncol, w, h)
    if best is None:
        leg = fig.legend(list(handles), list(labels), ncols=1, fontsize=fontsize, **LEGEND_KW)
        bb = leg.get_window_extent(renderer)
        leg.remove()
        best = (1, bb.width / fig.dpi, bb.height / fig.dpi)
    return best


# ------------------------------------------------------------------------------------
# results: read through the Posterior protocol (bayesma.bayes.protocol)
# ------------------------------------------------------------------------------------


def _as_array(x: Any) -> np.ndarray:
    if isinstance(x, pd.Series | pd.DataFrame):
        return x.to_numpy(dtype=float)
    return np.asarray(x, dtype=float)


def post_summary(post: Any, param: str, prob: float = 0.95, point: str = "median"
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(point, low, high) arrays of ``param`` from a Bayesian result (equal-tailed)."""
    est = post.median(param) if point == "median" else post.mean(param)
    iv = post.interval(param, prob=prob)
    if isinstance(iv, pd.DataFrame):
        lo, hi = iv.iloc[:, 0], iv.iloc[:, 1]
    else:
        lo, hi = iv
    return (np.atleast_1d(_as_array(est)), np.atleast_1d(_as_array(lo)),
            np.atleast_1d(_as_array(hi)))


def result_measure(result: Any) -> str | None:
    """The measure of a result (attribute ``measure`` or the data's ``attrs``)."""
    m = getattr(result, "measure", None)
    if m:
        return str(m)
    data = getattr(result, "data", None)
    if isinstance(data, pd.DataFrame):
        return data.attrs.get("measure")
    return None


def describe_prior(prior: Any) -> str:
    """``HalfNormal(sigma=0.5)`` or the prior's ``str``."""
    if prior is None:
        return "?"
    d = getattr(prior, "describe", None)
    return d() if callable(d) else str(prior)


# ------------------------------------------------------------------------------------
# saving
# ------------------------------------------------------------------------------------

_FORMATS = {".png", ".svg", ".pdf"}


def figure_axes(ax: Any, figsize: tuple[float, float]) -> tuple[Figure, Any, bool]:
    """``(figure, axes, own)``: the given axes and their figure, or (``ax=None``) a new
    figure of ``figsize`` with one subplot and ``own=True``."""
    if ax is None:
        fig = new_figure(figsize)
        return fig, fig.add_subplot(), True
    return ax.figure, ax, False


def finish_figure(fig: Figure, *, own: bool, save: str | Path | None) -> Figure:
    """Tighten the layout of a figure the plot made itself (``own``), write it to ``save``
    (:func:`save_figure`) and return it."""
    if own:
        fig.tight_layout()
    save_figure(fig, save)
    return fig

def save_figure(fig: Figure, save: str | Path | None, *, dpi: int = SAVE_DPI) -> None:
    """Write ``fig`` to ``save`` (PNG, SVG or PDF, chosen by the extension)."""
    if save is None:
        return
    path = Path(save)
    ext = path.suffix.lower()
    if ext not in _FORMATS:
        raise BayesmaError(
            f"save: cannot tell the format of {str(path)!r}; use a .png, .svg or .pdf file name"
        )
    if path.parent and not path.parent.exists():
        raise BayesmaError(f"save: directory {str(path.parent)!r} does not exist")
    fig.savefig(path, dpi=dpi if ext == ".png" else "figure", facecolor="white")


def nice_log_ticks(lo: float, hi: float) -> list[float]:
    """Readable ticks for a log axis on [lo, hi] (natural scale, lo > 0).

    Tries mantissas (1, 2, 5), then powers of ten (every one, every other, every
    third), keeping the first set with 3 to 7 ticks inside the range; short ranges get
    a finer grid.
    """
    e0, e1 = math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1

    def inside(mants: Sequence[float], every: int = 1) -> list[float]:
        out = [m * 10.0**e for e in range(e0, e1 + 1) if e % every == 0
               for m in mants]
        return [c for c in sorted(out) if lo * (1 - 1e-9) <= c <= hi * (1 + 1e-9)]

    for mants, every in (((1, 2, 5), 1), ((1,), 1), ((1,), 2), ((1,), 3)):
        t = inside(mants, every)
        if 3 <= len(t) <= 7:
            return t
    fine = inside((1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9))
    if 3 <= len(fine) <= 7:
        return fine
    if len(fine) > 7:
        return fine[:: math.ceil(len(fine) / 6)]
    from matplotlib.ticker import MaxNLocator  # a narrow range: linear ticks

    t = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
    return [float(v) for v in t if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)]


def fmt_tick(x: float) -> str:
    """Tick label without trailing zeros: 0.1, 0.25, 1, 10."""
    if x == 0:
        return "0"
    s = f"{x:.6g}"
    if "e" in s:
        s = f"{x:.10f}".rstrip("0").rstrip(".")
    return s.replace("-", MINUS)

"""Helpers shared by the plot tests: numbers formatted as the figures print them and
the texts a figure really draws."""

from __future__ import annotations

from matplotlib.text import Text

MINUS = "\u2212"


def fmt(x: float, digits: int = 2) -> str:
    """A number as the figures print it: fixed digits, a true minus sign, no '-0.00'."""
    s = f"{x:.{digits}f}"
    if s.startswith("-") and float(s) == 0:
        s = s[1:]
    return s.replace("-", MINUS)


def fmt_ci(est: float, lo: float, hi: float, digits: int = 2) -> str:
    """``est [lo, hi]`` as the figures print it."""
    return f"{fmt(est, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"


def drawn_texts(fig) -> list[Text]:
    """Visible, non-empty texts that are drawn (tick labels only within the view limits)."""
    ticklabels, drawn = set(), []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            span = hi - lo
            for tick, loc in zip(axis.get_major_ticks(), axis.get_majorticklocs(),
                                 strict=False):
                for lab in (tick.label1, tick.label2):
                    ticklabels.add(id(lab))
                    if (lo - 1e-9 * span <= loc <= hi + 1e-9 * span and lab.get_visible()
                            and tick.get_visible() and lab.get_text().strip()):
                        drawn.append(lab)
    for t in fig.findobj(Text):
        if id(t) not in ticklabels and t.get_visible() and t.get_text().strip():
            drawn.append(t)
    return drawn

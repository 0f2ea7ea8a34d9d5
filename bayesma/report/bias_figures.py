"""Figures of the publication-bias models (issue 12): the estimated selection function
(``bm.selection_plot``), the model-averaged posterior of mu with its spike at 0 and the
RoBMA weight function (``bm.averaged_posterior_plot``, ``bm.weightfunction_plot``).
Plots take computed results and never fit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bayesma.pipeline import OutcomeResult
from bayesma.plots import averaged_posterior_plot, selection_plot, weightfunction_plot

__all__ = ["bias_figures"]

#: ``draw(name, make, paths)``: draws and saves a figure, a failure becomes a note
Draw = Callable[[str, Callable[[], Any], Sequence[Path]], None]


def bias_figures(res: OutcomeResult, folder: Path, draw: Draw) -> None:
    """Draw the figures of the bias models the outcome computed into ``folder``:
    ``selection.png`` (the step function when fitted, else the first selection model),
    ``averaged_mu.png`` (RoBMA's model-averaged mu when fitted, else bma's) and
    ``weightfunction.png`` (RoBMA)."""
    sel = res.bias.get("selmodel") or {}
    if sel:
        first = sel.get("stepfun") or next(iter(sel.values()))
        draw("selection", lambda: selection_plot(first), [folder / "selection.png"])
    avg = res.bias.get("robma") or res.bias.get("bma")
    if avg is not None:
        draw("averaged", lambda: averaged_posterior_plot(avg, param="mu"),
             [folder / "averaged_mu.png"])
    rb = res.bias.get("robma")
    if rb is not None:
        draw("weightfunction", lambda: weightfunction_plot(rb, rescale_x=True),
             [folder / "weightfunction.png"])

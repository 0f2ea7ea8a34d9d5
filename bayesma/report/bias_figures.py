"""Figures of the publication-bias models (issue 12): the estimated selection function
(``bm.selection_plot``), the model-averaged posterior of mu with its spike at 0 and the
RoBMA weight function (``bm.averaged_posterior_plot``, ``bm.weightfunction_plot``).
Plots take computed results and never fit.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bayesma.pipeline import OutcomeResult

__all__ = ["bias_figures"]


#: public functions of engines built in parallel with this module (issues 11-13), looked up
#: on first use: name -> module
_ENGINES = {"averaged_posterior_plot": "bayesma.plots",
            "selection_plot": "bayesma.plots",
            "weightfunction_plot": "bayesma.plots"}


def _api(name: str) -> Any:
    """The public function ``name`` of :data:`_ENGINES`."""
    return getattr(importlib.import_module(_ENGINES[name]), name)

#: ``draw(name, make, paths)``: draws and saves a figure, a failure becomes a note
Draw = Callable[[str, Callable[[], Any], Sequence[Path]], None]


def bias_figures(res: OutcomeResult, folder: Path, draw: Draw) -> None:
    """Draw the figures of the bias models the outcome computed into ``folder``."""
    sel = res.bias.get("selmodel") or {}
    if sel:
        first = sel.get("stepfun") or next(iter(sel.values()))
        draw("selection", lambda: _api("selection_plot")(first), [folder / "selection.png"])
    avg = res.bias.get("robma") or res.bias.get("bma")
    if avg is not None:
        draw("averaged", lambda: _api("averaged_posterior_plot")(avg, param="mu"),
             [folder / "averaged_mu.png"])
    rb = res.bias.get("robma")
    if rb is not None:
        draw("weightfunction", lambda: _api("weightfunction_plot")(rb),
             [folder / "weightfunction.png"])

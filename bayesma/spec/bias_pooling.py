"""Checks of the optional analyses: publication-bias models (``[bias]`` selmodel,
pet_peese, bma, robma; issue 12) and count-data pooling (``[classical] pooling``:
Mantel-Haenszel, Peto, GLMM; issue 13), before anything is fitted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bayesma.errors import SpecError
from bayesma.spec.lines import KeyPath

__all__ = ["POOLING_MEASURES", "check_bias", "check_pooling", "pooling_columns"]

Fail = Callable[..., SpecError]

#: measures each pooling method takes (metafor 3.8 rma.mh, rma.peto, rma.glmm)
POOLING_MEASURES: dict[str, tuple[str, ...]] = {
    "MH": ("OR", "RR", "RD", "IRR", "IRD"),
    "Peto": ("OR", "PETO"),
    "GLMM": ("OR", "PLO"),
}


def pooling_columns(effect: dict[str, Any], measure: str) -> dict[str, str] | None:
    """The count columns (metafor's names -> table columns) for the pooling methods, or
    None when the spec names no complete set for ``measure``."""
    names: tuple[str, ...]
    if measure in ("IRR", "IRD"):
        names = ("x1i", "x2i", "t1i", "t2i")
    elif measure == "PLO":
        names = ("xi", "ni")
    elif effect.get("bi") and effect.get("di"):
        names = ("ai", "bi", "ci", "di")
    else:
        names = ("ai", "n1i", "ci", "n2i")
    cols = {n: effect.get(n) for n in names}
    return cols if all(cols.values()) else None  # type: ignore[return-value]


def check_pooling(classical: dict[str, Any], effect: dict[str, Any], measure: str,
                  fail: Fail) -> None:
    """``[classical] pooling``: every method must fit the measure and its columns."""
    methods = list(classical.get("pooling") or [])
    path: KeyPath = ("classical", "pooling")
    for j, m in enumerate(methods):
        ok = POOLING_MEASURES[m]
        if measure not in ok:
            raise fail((*path, j), f"{m} pooling is for measure {', '.join(ok)}, not "
                       f"{measure}", "remove it from [classical] pooling for this outcome")
        if pooling_columns(effect, measure) is None:
            need = ("x1i, x2i, t1i, t2i" if measure in ("IRR", "IRD") else
                    "xi, ni" if measure == "PLO" else "ai, bi, ci, di (or ai, n1i, ci, n2i)")
            raise fail((*path, j), f"{m} pooling needs the counts ({need}) in [effect], "
                       "not given yi/vi")
    if "glmm_model" in classical and "GLMM" not in methods:
        raise fail(("classical", "glmm_model"), "glmm_model is for pooling = ['GLMM']")


def check_bias(bias: dict[str, Any], borg: dict[str, KeyPath], mtype: str,
               fail: Fail) -> None:
    """``[bias]``: steps of the step function, and settings without their model."""
    sel = list(bias.get("selmodel") or [])
    if "steps" in borg:
        if "stepfun" not in sel:
            raise fail(borg["steps"], "steps is for selmodel = [\"stepfun\"]")
        steps = [float(x) for x in bias["steps"]]
        if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
            raise fail(borg["steps"], f"steps must increase, got {steps}")
        if steps[0] <= 0:
            raise fail(borg["steps"], f"steps must lie in (0, 1], got {steps}")
    if "alternative" in borg and not sel:
        raise fail(borg["alternative"], "alternative is for selmodel")
    if "robma_seed" in borg and not bias.get("robma"):
        raise fail(borg["robma_seed"], "robma_seed is for robma = true")
    if mtype == "multivariate" and (sel or bias.get("pet_peese") or bias.get("bma")
                                    or bias.get("robma")):
        key = next(k for k in ("selmodel", "pet_peese", "bma", "robma") if k in borg)
        raise fail(borg[key], "publication-bias models pool one outcome; give them per "
                   "outcome ([[outcomes]]) with a univariate model")

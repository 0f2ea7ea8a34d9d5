"""Pooling methods for 2x2 and count data beside the inverse-variance model (issue 13):
Mantel-Haenszel (``bm.rma_mh``, metafor 3.8 ``rma.mh``), Peto's one-step odds ratio
(``bm.rma_peto``, ``rma.peto``) and the binomial-normal GLMM (``bm.rma_glmm``,
``rma.glmm``), as the spec's ``[classical] pooling`` asks.
"""

from __future__ import annotations

import warnings
from typing import Any

from bayesma.classical.pooling import rma_glmm, rma_mh, rma_peto
from bayesma.pipeline.results import OutcomeResult, Say, failure_text
from bayesma.spec import Spec
from bayesma.spec.bias_pooling import pooling_columns

__all__ = ["run_pooling"]



def run_pooling(spec: Spec, res: OutcomeResult, *, say: Say) -> dict[str, Any]:
    """``{"MH": result, "Peto": result, "GLMM": result}`` for the methods asked for."""
    o = res.spec
    methods = list(spec.classical.get("pooling") or [])
    if not methods:
        return {}
    cols = pooling_columns(o.effect, o.measure) or {}
    data = o.raw_data
    out: dict[str, Any] = {}
    common: dict[str, Any] = {"slab": o.label, "level": 100.0 * float(o.model["level"])}
    say("pooling methods for count data: " + ", ".join(methods))
    for m in methods:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if m == "MH":
                    measure = "OR" if o.measure == "PETO" else o.measure
                    fit = rma_mh(data, measure=measure, **common, **cols)
                elif m == "Peto":
                    fit = rma_peto(data, **common, **cols)
                else:
                    measure = "OR" if o.measure == "PETO" else o.measure
                    fit = rma_glmm(data, measure=measure,
                                           model=spec.classical["glmm_model"], **common,
                                           **cols)
            for w in caught:
                msg = str(w.message).strip()
                if msg and f"{m}: {msg}" not in res.notes:
                    res.notes.append(f"{m}: {msg}")
            out[m] = fit
        except Exception as exc:  # noqa: BLE001 - a failed method becomes a note
            res.notes.append(f"{m} pooling: not computed ({failure_text(exc)})")
    return out

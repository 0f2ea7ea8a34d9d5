"""The evaluation context formulaic gets for bayesma's moderator formulas.

formulaic evaluates each term of a formula as Python, in a context that layers the data
over its full ``TRANSFORMS`` (which hold the ``numpy`` module, splines, ``lag``...).
bayesma vets every formula first (:mod:`bayesma.expressions`); as a second line of
defense the formula is evaluated by :class:`SafeMaterializer`, whose context holds only
the data and :data:`SAFE_TRANSFORMS` (the functions the grammar allows).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from formulaic.materializers import PandasMaterializer
from formulaic.transforms import C, ContrastsRegistry, center, poly, scale
from formulaic.transforms.identity import identity
from formulaic.utils.layered_mapping import LayeredMapping

__all__ = ["SAFE_TRANSFORMS", "SafeMaterializer"]

#: The only names a formula can reach besides data columns (bayesma.expressions
#: FORMULA_FUNCTIONS, plus ``contr`` for the ``contr.treatment(...)`` the vetter writes).
SAFE_TRANSFORMS = {
    "C": C,
    "I": identity,
    "log": np.log,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "center": center,
    "scale": scale,
    "poly": poly,
    "contr": ContrastsRegistry,
}


class SafeMaterializer(PandasMaterializer):
    """formulaic's pandas materializer with an evaluation context of :data:`SAFE_TRANSFORMS`.

    formulaic layers its full ``TRANSFORMS`` (which include the ``numpy`` module) under
    the data; this materializer replaces them, so that even a formula the vetting missed
    cannot reach ``np``, ``os`` or other modules. It is never chosen automatically for
    pandas data (no registered inputs): :func:`bayesma.classical.design.build_design`
    passes it explicitly, and the stored model spec reuses it for new data.
    """

    REGISTER_NAME = "bayesma_safe"
    REGISTER_INPUTS = ()
    REGISTER_PRECEDENCE = -1000

    def __init__(self, data: Any, context: Any = None, **params: Any) -> None:
        super().__init__(data, context=None, **params)
        self.context = {}
        self.layered_context = LayeredMapping(
            LayeredMapping(self.data_context, name="data"),
            LayeredMapping(SAFE_TRANSFORMS, name="transforms"),
        )

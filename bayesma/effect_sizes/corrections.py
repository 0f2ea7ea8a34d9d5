"""metafor's continuity correction for count measures: ``add`` to the cells chosen by ``to``.

metafor 3.8 escalc: ``to="only0"`` adds ``add`` to every cell of the rows with a zero in
one of the cells that can be zero, ``"all"`` to every row, ``"if0all"`` to every row if any
row has such a zero, ``"none"`` to no row. The rows corrected are reported in
``escalc(...).attrs["continuity_correction"]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["zero_adjust"]


def zero_adjust(
    cells: Sequence[np.ndarray],
    zero_cells: Sequence[np.ndarray],
    add: float,
    to: str,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Add ``add`` to ``cells`` in the rows chosen by ``to``; also return that row mask.

    ``zero_cells`` are the cells whose zeros trigger the correction (metafor escalc.r:
    ``id0 <- ai == 0 | ci == 0 | bi == 0 | di == 0``, ``xi == 0 | mi == 0`` for
    proportions, ``xi == 0`` for rates, ``x1i == 0 | x2i == 0`` for two rates; NA ->
    FALSE). The mask is False everywhere when ``add`` is 0.
    """
    shape = np.shape(cells[0])
    if to == "all":
        sel = np.ones(shape, dtype=bool)
    elif to in ("only0", "if0all"):
        with np.errstate(invalid="ignore"):
            sel = np.zeros(shape, dtype=bool)
            for c in zero_cells:
                sel |= c == 0
        if to == "if0all":
            sel = np.full(shape, bool(sel.any()))
    else:  # "none"
        sel = np.zeros(shape, dtype=bool)
    inc = np.where(sel, add, 0.0)
    return [c + inc for c in cells], sel & (add != 0)

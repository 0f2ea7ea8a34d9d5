"""Specs reading a RevMan review: ``[data] path = "review.rm5"`` with ``outcome = "CMP-001.01"``.

A RevMan file (``.rm5``, a data package ``.zip``, or RevMan's analysis CSV when
``outcome`` is given) holds several analyses; ``outcome`` picks one, whose study table
(metafor's column names: ``ai, n1i, ci, n2i``, ``m1i, sd1i, n1i, m2i, sd2i, n2i``, ``yi,
sei``) becomes the spec's data. ``[effect]`` then names the measure and columns as for
any table, e.g. ``measure = "RR"``, ``ai = "ai"``, ``n1i = "n1i"``, ``ci = "ci"``,
``n2i = "n2i"``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from bayesma.errors import BayesmaError
from bayesma.revman import read_revman

__all__ = ["REVMAN_SUFFIXES", "is_revman_source", "load_revman_table"]

REVMAN_SUFFIXES = (".rm5", ".zip")


def is_revman_source(fpath: Path, cfg: dict[str, Any]) -> bool:
    """Whether ``[data]`` points at a RevMan review (by suffix, or by an ``outcome`` key)."""
    return fpath.suffix.lower() in REVMAN_SUFFIXES or "outcome" in cfg


def load_revman_table(fpath: Path, cfg: dict[str, Any], fail: Callable[..., Exception]
                      ) -> pd.DataFrame:
    """The study table of ``[data] outcome`` in the RevMan file ``fpath``.

    The table's ``attrs`` carry ``revman_outcome``, ``revman_name`` and ``measure``
    (RevMan's effect measure for that analysis).

    Raises
    ------
    SpecError
        (via ``fail``) an unreadable file, a missing ``outcome`` or an unknown one, naming
        the outcomes the file holds.
    """
    try:
        review = read_revman(fpath)
    except BayesmaError as exc:
        raise fail(("data", "path"), f"cannot read {fpath.name} as a RevMan review: {exc}"
                   ) from None
    ids = list(review.outcomes["id"])
    listing = ", ".join(ids[:10]) + (", ..." if len(ids) > 10 else "")
    if "outcome" not in cfg:
        raise fail(("data",), f"{fpath.name} holds {len(ids)} RevMan analyses: choose one",
                   f'add outcome = "{ids[0] if ids else "CMP-001.01"}" to [data] '
                   f"(outcomes: {listing})")
    oid = str(cfg["outcome"]).strip()
    if oid not in ids:
        raise fail(("data", "outcome"), f"{fpath.name} has no outcome {oid!r}",
                   f"outcomes: {listing}")
    table = review.data(oid)
    if table.empty:
        raise fail(("data", "outcome"), f"outcome {oid} of {fpath.name} has no study data")
    row = review.outcomes.set_index("id").loc[oid]
    table.attrs.update(revman_outcome=oid, revman_name=str(row["name"]),
                       measure=str(row["measure"]))
    return table

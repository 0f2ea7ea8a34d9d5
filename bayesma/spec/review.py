"""The review sections of a spec (``[prisma]``, ``[rob]``, ``[grade]``), checked when it is read.

``[prisma]`` holds the counts of the PRISMA 2020 flow diagram (checked to add up by
:func:`bayesma.plots.prisma_counts.prisma_counts`); ``[rob]`` names the risk-of-bias
judgement columns of the study table (every word checked by
:func:`bayesma.plots.rob.rob_table`); ``[grade]`` the settings of the summary-of-findings
table. Errors name the spec line of the key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from bayesma.errors import BayesmaError, DataError, SpecError
from bayesma.grade.certainty import DOMAINS, parse_rating
from bayesma.spec.data import default_label
from bayesma.spec.lines import KeyPath

if TYPE_CHECKING:
    from bayesma.plots.rob import RobTable

__all__ = ["check_review", "rob_settings", "spec_rob_table"]

Fail = Callable[..., SpecError]


def rob_settings(raw: dict[str, Any], table: pd.DataFrame) -> dict[str, Any]:
    """``[rob]`` as keyword arguments of :func:`bayesma.plots.rob.rob_table`."""
    cfg = raw.get("rob") or {}
    label = (raw.get("effect") or {}).get("label") or default_label(table) or "study"
    overall = cfg.get("overall", "overall")
    return {"tool": cfg.get("tool", "rob2"), "study": cfg.get("study") or label,
            "domains": cfg.get("domains"), "overall": overall or None}


def spec_rob_table(raw: dict[str, Any], table: pd.DataFrame) -> RobTable | None:
    """The checked judgements of ``[rob]`` (None when the spec has no ``[rob]``)."""
    if "rob" not in raw:
        return None
    from bayesma.plots.rob import rob_table  # loads matplotlib: only for specs with [rob]

    return rob_table(table, **rob_settings(raw, table))


def check_review(raw: dict[str, Any], table: pd.DataFrame, fail: Fail) -> None:
    """Check ``[prisma]``, ``[rob]`` and ``[grade]`` against each other and the data.

    The plotting package (and with it matplotlib) is imported only for a spec that has
    ``[prisma]`` or ``[rob]``.
    """
    if "prisma" in raw:
        from bayesma.plots.prisma import prisma_counts  # loads matplotlib

        try:
            prisma_counts(raw["prisma"])
        except BayesmaError as exc:
            raise fail(("prisma",), str(exc).removeprefix("prisma: ")) from None
    if "rob" in raw:
        try:
            spec_rob_table(raw, table)
        except DataError as exc:
            key: KeyPath = ("rob",)
            cfg = raw["rob"]
            for name in ("domains", "overall", "study"):
                if name in cfg and exc.column is not None and (
                        exc.column == cfg[name] or exc.column in (cfg[name] or [])):
                    key = ("rob", name)
            raise fail(key, str(exc)) from None
        except BayesmaError as exc:
            raise fail(("rob",), str(exc)) from None
    grade = raw.get("grade") or {}
    thr = grade.get("thresholds")
    if thr is not None and (len(thr) != 2 or not thr[0] < thr[1]):
        raise fail(("grade", "thresholds"), "give two increasing thresholds, e.g. "
                   "[0.75, 1.25]")
    names = [o.get("name") for o in raw.get("outcomes", [])]
    ratings = grade.get("ratings") or {}
    flat = not names and not any(isinstance(v, dict) for v in ratings.values())
    if ratings and (set(ratings) <= set(DOMAINS) or flat):  # one set for every outcome
        ratings = {"": ratings}
    for section, table in (("ratings", ratings), ("comments", grade.get("comments") or {})):
        for name, v in table.items():
            path = ("grade", section, name) if name else ("grade", section)
            if names and name and name not in names:
                raise fail(path, f"{name!r} is not an outcome of the spec; outcomes: "
                           + ", ".join(map(repr, names)))
            if section == "comments":
                if not isinstance(v, str):
                    raise fail(path, "must be a string")
                continue
            if not isinstance(v, dict):
                raise fail(path, "must be a table of domain = level")
            for dom, level in v.items():
                if dom not in DOMAINS:
                    raise fail((*path, dom), f"unknown GRADE domain; use {', '.join(DOMAINS)}")
                try:
                    parse_rating(dom, level)
                except BayesmaError as exc:
                    raise fail((*path, dom), str(exc)) from None

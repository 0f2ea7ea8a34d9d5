"""PRISMA 2020 flow-diagram counts: completed where they follow from others, checked to add up.

The boxes are those of the PRISMA 2020 flow diagram for new and updated systematic
reviews (Page et al. 2021, BMJ 372:n71, Figure 1; the PRISMA2020 R package, Haddaway et
al. 2022, Campbell Syst Rev 18:e1230): records identified per database / register and
per other source, records removed before screening, screened and excluded, reports
sought and not retrieved, assessed and excluded with reasons, and the studies and
reports included (new, and in total with the previous version of the review).

:func:`prisma_counts` reads a dict (or a ``[prisma]`` spec section), fills in counts that
follow from the others (``screened = identified - removed``, ``sought = screened -
excluded``, ``assessed = sought - not retrieved``) and raises a :class:`BayesmaError`
naming the boxes whose counts do not add up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from bayesma.errors import BayesmaError

__all__ = ["PrismaCounts", "prisma_counts"]


@dataclass
class PrismaCounts:
    """Counts of every box of the PRISMA 2020 flow diagram (``None``: box not drawn).

    ``databases``, ``registers`` and ``other_sources`` map a source name to its number
    of records; ``excluded_reasons`` and ``other_excluded_reasons`` map a reason to its
    number of reports.
    """

    databases: dict[str, int] = field(default_factory=dict)
    registers: dict[str, int] = field(default_factory=dict)
    duplicates: int | None = None
    automation: int | None = None
    other_removed: int | None = None
    screened: int | None = None
    screen_excluded: int | None = None
    sought: int | None = None
    not_retrieved: int | None = None
    assessed: int | None = None
    excluded_reasons: dict[str, int] = field(default_factory=dict)
    new_studies: int | None = None
    new_reports: int | None = None
    previous_studies: int | None = None
    previous_reports: int | None = None
    total_studies: int | None = None
    total_reports: int | None = None
    other_sources: dict[str, int] = field(default_factory=dict)
    other_sought: int | None = None
    other_not_retrieved: int | None = None
    other_assessed: int | None = None
    other_excluded_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def identified(self) -> int:
        """Records identified from databases and registers."""
        return sum(self.databases.values()) + sum(self.registers.values())

    @property
    def removed(self) -> int:
        """Records removed before screening."""
        return sum(x or 0 for x in (self.duplicates, self.automation, self.other_removed))

    @property
    def has_previous(self) -> bool:
        return self.previous_studies is not None or self.previous_reports is not None

    @property
    def has_other(self) -> bool:
        return bool(self.other_sources) or self.other_sought is not None

    def to_dict(self) -> dict[str, Any]:
        """The counts as a plain dict (the keys :func:`prisma_counts` reads)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


_DICTS = ("databases", "registers", "excluded_reasons", "other_sources",
          "other_excluded_reasons")
_KEYS = tuple(f.name for f in fields(PrismaCounts))


def _count(key: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int | float) or v != v or v < 0 or \
            float(v) != int(v):
        raise BayesmaError(f"prisma: {key} must be a whole number >= 0; got {v!r}")
    return int(v)


def _mapping(key: str, v: Any) -> dict[str, int]:
    if isinstance(v, Mapping):
        return {str(k): _count(f"{key}[{k!r}]", x) for k, x in v.items()}
    return {"": _count(key, v)}  # one unnamed total


def _fill(c: PrismaCounts, name: str, value: int, why: str, problems: list[str]) -> None:
    given = getattr(c, name)
    if given is None:
        setattr(c, name, value)
    elif given != value:
        problems.append(f"{name} = {given} but {why} = {value}")


def prisma_counts(counts: Mapping[str, Any] | PrismaCounts) -> PrismaCounts:
    """Read, complete and check the counts of a PRISMA 2020 flow diagram.

    Parameters
    ----------
    counts : dict or PrismaCounts
        Keys (all optional, counts are whole numbers): ``databases``, ``registers``
        (a number or ``{source: n}``), ``duplicates``, ``automation`` (marked
        ineligible by automation tools), ``other_removed``, ``screened``,
        ``screen_excluded``, ``sought``, ``not_retrieved``, ``assessed``,
        ``excluded_reasons`` (``{reason: n}``), ``new_studies``, ``new_reports``,
        ``previous_studies``, ``previous_reports``, ``total_studies``,
        ``total_reports``; the other-methods column: ``other_sources`` (``{source:
        n}``), ``other_sought``, ``other_not_retrieved``, ``other_assessed``,
        ``other_excluded_reasons``.

    Returns
    -------
    PrismaCounts
        With the counts that follow from the others filled in.

    Raises
    ------
    BayesmaError
        An unknown key, a count that is not a whole number, or counts that do not add
        up (every inconsistency is listed: identified - removed = screened, screened -
        excluded = sought, sought - not retrieved = assessed, assessed - excluded with
        reasons = reports included, previous + new = total).
    """
    if isinstance(counts, PrismaCounts):
        counts = counts.to_dict()
    if not isinstance(counts, Mapping):
        raise BayesmaError(f"prisma counts must be a dict; got {type(counts).__name__}")
    unknown = sorted(set(counts) - set(_KEYS))
    if unknown:
        raise BayesmaError(f"prisma: unknown key(s) {unknown}; use {', '.join(_KEYS)}")
    kw: dict[str, Any] = {}
    for k, v in counts.items():
        if v is None:
            continue
        kw[k] = _mapping(k, v) if k in _DICTS else _count(k, v)
    for k in _DICTS:
        if k in kw and "" in kw[k] and k.endswith("reasons"):
            kw[k] = {"Reports excluded": kw[k].pop("")}
    c = PrismaCounts(**kw)
    problems: list[str] = []
    if c.databases or c.registers:
        _fill(c, "screened", c.identified - c.removed,
              f"identified ({c.identified}) - removed before screening ({c.removed})",
              problems)
    if c.screened is not None and c.screen_excluded is not None:
        _fill(c, "sought", c.screened - c.screen_excluded,
              f"screened ({c.screened}) - excluded ({c.screen_excluded})", problems)
    elif c.screened is not None and c.sought is not None:
        c.screen_excluded = c.screened - c.sought
    if c.sought is not None and c.not_retrieved is not None:
        _fill(c, "assessed", c.sought - c.not_retrieved,
              f"sought ({c.sought}) - not retrieved ({c.not_retrieved})", problems)
    elif c.sought is not None and c.assessed is not None:
        c.not_retrieved = c.sought - c.assessed
    if c.other_sought is not None and c.other_not_retrieved is not None:
        _fill(c, "other_assessed", c.other_sought - c.other_not_retrieved,
              f"other methods: sought ({c.other_sought}) - not retrieved "
              f"({c.other_not_retrieved})", problems)
    main_inc = (c.assessed - sum(c.excluded_reasons.values())
                if c.assessed is not None and c.excluded_reasons else None)
    other_inc: int | None = 0
    if c.has_other:
        other_inc = (c.other_assessed - sum(c.other_excluded_reasons.values())
                     if c.other_assessed is not None and c.other_excluded_reasons else None)
    if main_inc is not None and other_inc is not None:
        _fill(c, "new_reports", main_inc + other_inc,
              "reports assessed - reports excluded with reasons"
              + (" (both columns)" if c.has_other else ""), problems)
    if c.has_previous:
        for kind in ("studies", "reports"):
            prev, new = getattr(c, f"previous_{kind}"), getattr(c, f"new_{kind}")
            if prev is not None and new is not None:
                _fill(c, f"total_{kind}", prev + new,
                      f"previous_{kind} ({prev}) + new_{kind} ({new})", problems)
    for name in ("screened", "sought", "assessed", "new_reports", "other_assessed",
                 "screen_excluded", "not_retrieved"):
        v = getattr(c, name)
        if v is not None and v < 0:
            problems.append(f"{name} works out negative ({v})")
    if c.new_studies is not None and c.new_reports is not None and \
            c.new_studies > c.new_reports:
        problems.append(f"new_studies ({c.new_studies}) exceeds new_reports "
                        f"({c.new_reports}): every included study has at least one report")
    if problems:
        raise BayesmaError("prisma: the counts do not add up: " + "; ".join(problems))
    return c

"""Risk-of-bias tools as data: domains, judgement levels, colours and symbols as robvis draws them.

Everything here follows robvis (McGuinness & Higgins 2021, Res Synth Methods 12:55-61;
github.com/mcguinlu/robvis): the domain captions of ``R/rob_traffic_light.R``, the
judgement levels of ``get_judgements`` and the "cochrane" / "colourblind" colours of
``get_colour`` in ``R/helpers.R``, and the symbols of ``scale_shape_manual`` (R's ``pch``
43 "+", 45 "-", 120 "x", 33 "!", 63 "?", 32 blank). :func:`parse_judgements` reads the
judgement words of a column (case-insensitive, with robvis's synonyms and one-letter
codes) and names the column and row of anything it does not know.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bayesma.data import describe_rows
from bayesma.errors import BayesmaError, DataError

__all__ = ["ROB_TOOLS", "COLOUR_SCHEMES", "Level", "RobTool", "get_tool", "level_colours",
           "parse_judgements"]


@dataclass(frozen=True)
class Level:
    """A judgement level: robvis's one-letter code, its label, colour role and symbol."""

    code: str
    label: str
    role: str  # key into a colour scheme
    symbol: str
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class RobTool:
    """A risk-of-bias tool: its domains (short code, full name) and judgement levels.

    ``levels`` run from the worst judgement to "no information" as robvis orders its
    factor levels; ``summary_order`` is the left-to-right stacking of the summary bars.
    """

    name: str
    domains: tuple[tuple[str, str], ...]
    levels: tuple[Level, ...]
    overall_name: str = "Overall risk of bias"

    @property
    def summary_order(self) -> tuple[str, ...]:
        """Codes from best to worst, then no information / not applicable (robvis bars)."""
        grades = [lv.code for lv in self.levels if lv.code not in ("n", "x")]
        return (*reversed(grades), *(c for c in ("n", "x") if c in self.codes))

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(lv.code for lv in self.levels)

    def level(self, code: str) -> Level:
        """The level with robvis code ``code``."""
        for lv in self.levels:
            if lv.code == code:
                return lv
        raise KeyError(code)


# robvis R/helpers.R get_colour(): na_colour and the two preset schemes
COLOUR_SCHEMES: dict[str, dict[str, str]] = {
    "cochrane": {"low": "#02C100", "concerns": "#E2DF07", "high": "#BF0000",
                 "critical": "#820000", "ni": "#4EA1F7", "na": "#cccccc"},
    "colourblind": {"low": "#fed98e", "concerns": "#fe9929", "high": "#d95f0e",
                    "critical": "#993404", "ni": "#ffffff", "na": "#cccccc"},
}

_LOW = Level("l", "Low", "low", "+", ("low risk", "low risk of bias", "+"))
_NI = Level("n", "No information", "ni", "?", ("no info", "ni", "?", "not reported"))
_NA = Level("x", "Not applicable", "na", "", ("not applicable", "n/a", "na"))
_HIGH = Level("h", "High", "high", "\u00d7", ("high risk", "high risk of bias"))
_CONCERNS = Level("s", "Some concerns", "concerns", "\u2212", ("some concern", "-"))

ROB_TOOLS: dict[str, RobTool] = {
    # robvis rob_traffic_light_rob2: levels h, s, l, n, x
    "rob2": RobTool("RoB 2", (
        ("D1", "Bias arising from the randomization process"),
        ("D2", "Bias due to deviations from intended intervention"),
        ("D3", "Bias due to missing outcome data"),
        ("D4", "Bias in measurement of the outcome"),
        ("D5", "Bias in selection of the reported result"),
    ), (_HIGH, _CONCERNS, _LOW, _NI, _NA)),
    # robvis rob_traffic_light_robinsi: levels c, s, m, l, n, x
    "robins-i": RobTool("ROBINS-I", (
        ("D1", "Bias due to confounding"),
        ("D2", "Bias due to selection of participants"),
        ("D3", "Bias in classification of interventions"),
        ("D4", "Bias due to deviations from intended interventions"),
        ("D5", "Bias due to missing data"),
        ("D6", "Bias in measurement of outcomes"),
        ("D7", "Bias in selection of the reported result"),
    ), (Level("c", "Critical", "critical", "!", ("critical risk", "!")),
        Level("s", "Serious", "high", "\u00d7", ("serious risk",)),
        Level("m", "Moderate", "concerns", "\u2212", ("moderate risk", "-")),
        _LOW, _NI, _NA)),
    # robvis rob_traffic_light_robinse: levels v, h, s, l, n, x
    "robins-e": RobTool("ROBINS-E", (
        ("D1", "Bias due to confounding"),
        ("D2", "Bias arising from measurement of the exposure"),
        ("D3", "Bias in selection of participants into the study (or into the analysis)"),
        ("D4", "Bias due to post-exposure interventions"),
        ("D5", "Bias due to missing data"),
        ("D6", "Bias arising from measurement of the outcome"),
        ("D7", "Bias in selection of the reported result"),
    ), (Level("v", "Very high", "critical", "!", ("very high risk", "!")),
        _HIGH, _CONCERNS, _LOW, _NI, _NA)),
    # robvis rob_traffic_light_quadas2: levels h, s, l, n, x ("unclear" read as s)
    "quadas-2": RobTool("QUADAS-2", (
        ("D1", "Patient selection"),
        ("D2", "Index test"),
        ("D3", "Reference standard"),
        ("D4", "Flow & timing"),
    ), (_HIGH, Level("s", "Some concerns", "concerns", "\u2212",
                     ("some concern", "unclear", "unclear risk", "-")), _LOW, _NI, _NA)),
    # robvis rob_traffic_light_generic: serious -> high, unclear / moderate /
    # some concerns -> the middle level labelled "Unclear"; domains are the columns
    "generic": RobTool("Generic", (), (
        Level("c", "Critical", "critical", "!", ("critical risk", "!")),
        Level("h", "High", "high", "\u00d7", ("high risk", "high risk of bias", "serious",
                                              "serious risk")),
        Level("s", "Unclear", "concerns", "\u2212", ("unclear risk", "some concerns",
                                                     "some concern", "moderate",
                                                     "moderate risk", "-")),
        _LOW, _NI, _NA), overall_name="Overall"),
}
_ALIASES = {"rob 2": "rob2", "rob-2": "rob2", "robins i": "robins-i", "robinsi": "robins-i",
            "robins e": "robins-e", "robinse": "robins-e", "quadas2": "quadas-2",
            "quadas 2": "quadas-2", "rob1": "generic", "rob 1": "generic"}


def get_tool(tool: str) -> RobTool:
    """The :class:`RobTool` named ``tool`` ("rob2", "robins-i", "robins-e", "quadas-2",
    "generic"; case-insensitive).

    Raises
    ------
    BayesmaError
        For an unknown tool.
    """
    key = str(tool).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in ROB_TOOLS:
        raise BayesmaError(f"tool: unknown risk-of-bias tool {tool!r}; choose from "
                           f"{', '.join(sorted(ROB_TOOLS))}")
    return ROB_TOOLS[key]


def level_colours(tool: RobTool, colour: str | Sequence[str] = "cochrane") -> dict[str, str]:
    """robvis code -> colour for ``colour`` ("cochrane", "colourblind" or one colour per
    level in the order of ``tool.levels``, as robvis's ``colour=`` vector)."""
    if isinstance(colour, str):
        name = "colourblind" if colour.lower() in ("colourblind", "colorblind") else \
            colour.lower()
        if name not in COLOUR_SCHEMES:
            raise BayesmaError(f"colour: unknown scheme {colour!r}; use 'cochrane', "
                               f"'colourblind' or a list of {len(tool.levels)} colours")
        scheme = COLOUR_SCHEMES[name]
        return {lv.code: scheme[lv.role] for lv in tool.levels}
    cols = list(colour)
    if len(cols) != len(tool.levels):
        raise BayesmaError(f"colour: {tool.name} has {len(tool.levels)} judgement levels "
                           f"({', '.join(lv.label for lv in tool.levels)}); got "
                           f"{len(cols)} colours")
    return {lv.code: c for lv, c in zip(tool.levels, cols, strict=True)}


def _norm(word: str) -> str:
    return re.sub(r"\s+", " ", word.strip().lower())


def _lookup(tool: RobTool) -> dict[str, str]:
    table: dict[str, str] = {}
    for lv in tool.levels:
        for w in (lv.label, lv.code, *lv.synonyms):
            table.setdefault(_norm(w), lv.code)
    return table


def parse_judgements(values: Any, tool: RobTool, *, column: str,
                     frame: pd.DataFrame | None = None, slab: str | None = None,
                     missing: str = "x") -> list[str]:
    """robvis codes of a column of judgement words.

    Accepts each level's label (``"Low"``, ``"Some concerns"``, ``"High"``, ``"No
    information"``, ...), robvis's one-letter code and the synonyms listed in
    :data:`ROB_TOOLS`, case-insensitively; missing values become ``missing`` (robvis
    draws them as "Not applicable"). ``frame`` and ``slab`` (its study column) name the
    studies of bad rows in the error.

    Raises
    ------
    DataError
        Naming the column and rows of words the tool does not know.
    """
    table = _lookup(tool)
    series = pd.Series(list(values) if not isinstance(values, pd.Series) else values)
    codes: list[str] = []
    bad: list[Any] = []
    bad_pos: list[int] = []
    for pos, (idx, v) in enumerate(series.items()):
        if v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not
                                                                v.strip()):
            codes.append(missing)
            continue
        code = table.get(_norm(str(v)))
        if code is None:
            bad.append(idx)
            bad_pos.append(pos)
            codes.append(missing)
        else:
            codes.append(code)
    if bad:
        where = (describe_rows(frame, bad, slab=slab, positions=bad_pos) if frame is not None
                 else ", ".join(f"row {r}" for r in bad[:5]))
        words = sorted({str(series.iloc[p]) for p in bad_pos})
        raise DataError(
            f"column {column!r}: unknown {tool.name} judgement(s) {words} in {where}; use "
            f"{', '.join(repr(lv.label) for lv in tool.levels)}", column=column, rows=bad)
    return codes

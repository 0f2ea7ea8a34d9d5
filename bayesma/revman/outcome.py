"""One RevMan analysis (an "outcome") as read from any RevMan format: settings, data, results.

Every reader (``.rm5``, RevMan's analysis CSV, a RevMan Web data package) produces
:class:`Outcome` records with the same fields, so :class:`~bayesma.revman.RevManReview`
and the statistics never ask which format a review came from.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayesma.errors import BayesmaWarning, DataError

__all__ = [
    "CONTINUOUS",
    "DATA_TYPES",
    "DICHOTOMOUS",
    "GENERIC",
    "OE",
    "REPORTED_FIELDS",
    "STUDY_COLUMNS",
    "SUBGROUP_TEST_FIELDS",
    "Outcome",
    "check_counts",
    "measure_code",
    "method_code",
    "outcome_id",
    "to_float",
]

DICHOTOMOUS = "dichotomous"
CONTINUOUS = "continuous"
GENERIC = "generic inverse variance"
OE = "O-E"
DATA_TYPES = (DICHOTOMOUS, CONTINUOUS, GENERIC, OE)

#: metafor's column names of the study table, per data type
STUDY_COLUMNS = {
    DICHOTOMOUS: ("ai", "n1i", "ci", "n2i"),
    CONTINUOUS: ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
    GENERIC: ("yi", "sei", "n1i", "n2i"),
    OE: ("oe", "var_oe", "n1i", "n2i"),
}

#: the numbers RevMan stores for an analysis (and :class:`RevManResult` computes);
#: ``estimate, ci_low, ci_high`` on the analysis scale (log for ratio measures)
REPORTED_FIELDS = (
    "estimate", "ci_low", "ci_high", "z", "pval", "q", "q_df", "q_pval", "i2", "tau2", "k",
)
#: the test for subgroup differences
SUBGROUP_TEST_FIELDS = ("q_between", "q_between_df", "q_between_pval", "i2_between")

# RevMan's names of effect measures (rm5 codes, CSV codes, RevMan Web's words) -> ours
_MEASURES = {
    "OR": "OR", "ODDS RATIO": "OR", "ODDS RATIO (NON-EVENT)": "OR",
    "RR": "RR", "RISK RATIO": "RR", "RISK RATIO (NON-EVENT)": "RR",
    "RD": "RD", "RISK DIFFERENCE": "RD",
    "MD": "MD", "MEAN DIFFERENCE": "MD",
    "SMD": "SMD", "STD. MEAN DIFFERENCE": "SMD", "STANDARDIZED MEAN DIFFERENCE": "SMD",
    "STANDARDISED MEAN DIFFERENCE": "SMD",
    "PETO_OR": "PETO", "PETO OR": "PETO", "PETO ODDS RATIO": "PETO",
    "HR": "HR", "HAZARD RATIO": "HR",
}


def measure_code(name: str | None) -> str:
    """Our measure code for RevMan's name of an effect measure (unknown names kept as given)."""
    text = (name or "").strip()
    return _MEASURES.get(text.upper(), text)


# RevMan's names of pooling methods -> ours (the rm5 codes, CSV/RevMan Web words)
_METHODS = {"MH": "MH", "MANTEL-HAENSZEL": "MH", "IV": "IV", "INVERSE": "IV",
            "INVERSE VARIANCE": "IV", "PETO": "PETO", "EXP_O_E_VAR": "PETO"}
# the pooling methods RevMan offers per data type: Mantel-Haenszel for dichotomous
# data only, Peto for dichotomous and O-E data, inverse variance for all
_METHODS_OF = {DICHOTOMOUS: ("MH", "IV", "PETO"), CONTINUOUS: ("IV",), GENERIC: ("IV",),
               OE: ("PETO", "IV")}


def method_code(name: str | None, measure: str, default: str = "IV", *, where: str = "",
                column: str | None = None, data_type: str | None = None) -> str:
    """Our pooling method for RevMan's: ``MH``, ``IV`` or ``PETO`` (RevMan Web writes
    ``EXP_O_E_VAR`` for O-E data; a Peto odds ratio is always pooled by Peto's method).

    An empty ``name`` gives ``default``. ``where`` (file, line, outcome) and ``column``
    go into the error. With ``data_type``, a method RevMan does not offer for that type
    (Mantel-Haenszel outside dichotomous data, Peto outside dichotomous and O-E data:
    RevMan pools those by inverse variance) becomes ``IV`` with a
    :class:`~bayesma.errors.BayesmaWarning` that names the place.

    Raises
    ------
    DataError
        ``name`` is not one of RevMan's pooling methods (rather than pooling by inverse
        variance, which every other text would silently get).
    """
    text = (name or "").strip().upper() or default
    if text not in _METHODS:
        raise DataError(f"{where + ': ' if where else ''}unknown statistical method {name!r}; "
                        "RevMan's are MH (Mantel-Haenszel), IV (inverse variance) and PETO",
                        column=column)
    if measure == "PETO":
        return "PETO"
    code = _METHODS[text]
    if code not in _METHODS_OF.get(data_type, ("MH", "IV", "PETO")):
        warnings.warn(f"{where + ': ' if where else ''}RevMan pools {data_type} data by inverse "
                      f"variance, not by {name!r}: pooled by inverse variance (IV)",
                      BayesmaWarning, stacklevel=2)
        return "IV"
    return code


def outcome_id(comparison: int, outcome: int) -> str:
    """RevMan's outcome id ``CMP-<comparison, 3 digits>.<outcome, 2 digits>``."""
    return f"CMP-{comparison:03d}.{outcome:02d}"


def to_float(value) -> float:
    """A stored number as float; empty, missing or non-numeric text -> NaN."""
    if value is None:
        return math.nan
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if not text or text.upper() in ("NA", "#N/A", "NAN"):
        return math.nan
    try:
        return float(text)
    except ValueError:
        return math.nan


@dataclass
class Outcome:
    """A RevMan analysis: its settings, its study rows and the numbers RevMan stored.

    Attributes
    ----------
    id : str
        ``"CMP-001.01"``.
    comparison, name : str
        Names of the comparison and of the outcome.
    data_type : str
        One of :data:`DATA_TYPES`.
    method : str
        ``"MH"``, ``"IV"`` or ``"PETO"``.
    measure : str
        ``"OR"``, ``"RR"``, ``"RD"``, ``"MD"``, ``"SMD"``, ``"PETO"``, ``"HR"`` or
        RevMan's own name of a generic measure.
    model : str
        ``"fixed"`` or ``"random"``.
    log_scale : bool
        Whether the measure is pooled on the log scale.
    studies : DataFrame
        One row per study (data row): ``study``, ``year``, ``subgroup`` and the columns of
        :data:`STUDY_COLUMNS` for the data type.
    subgroups : list of str
        Subgroup names in RevMan's order (empty without subgroups).
    reported : dict
        The stored overall numbers, keyed by :data:`REPORTED_FIELDS` (and the subgroup
        test fields); NaN where the format does not store a number.
    reported_subgroups : DataFrame
        One row per subgroup: ``subgroup`` and :data:`REPORTED_FIELDS`.
    level : float
        Confidence level of the pooled interval (RevMan's ``CI_TOTAL``), as a fraction.
    source : str
        Where the outcome was read (file and line or row), for messages.
    decimals : int or None
        Decimals the format stores its numbers with (``None``: full double precision).
    swap_events : bool
        RevMan's "swap events and non-events" (``SWAP_EVENTS``): the analysis pools the
        non-events ``n1i - ai``, ``n2i - ci`` (the study table keeps the events).
    """

    id: str
    comparison: str
    name: str
    data_type: str
    method: str
    measure: str
    model: str
    log_scale: bool
    studies: pd.DataFrame
    subgroups: list[str] = field(default_factory=list)
    reported: dict = field(default_factory=dict)
    reported_subgroups: pd.DataFrame | None = None
    level: float = 0.95
    source: str = ""
    decimals: int | None = None
    swap_events: bool = False

    def __post_init__(self) -> None:
        check_counts(self)


def check_counts(outcome: Outcome) -> None:
    """Refuse a dichotomous table with negative counts or more events than participants,
    and a continuous one with a negative SD or total.

    Missing cells (a study without data) are allowed, as RevMan does.

    Raises
    ------
    DataError
        Naming the outcome (id, name, where it was read), the studies and the column.
    """
    if outcome.data_type not in (DICHOTOMOUS, CONTINUOUS) or outcome.studies.empty:
        return
    df = outcome.studies
    name = f"outcome {outcome.name!r}"
    if outcome.id not in outcome.source:
        name = f"outcome {outcome.id} ({outcome.name!r})"
    what = f"{outcome.source}: {name}" if outcome.source else name
    if outcome.data_type == CONTINUOUS:  # an SD of 0 is "not estimable" in RevMan; < 0 wrong
        for col, word, group in (("sd1i", "SD", "experimental"), ("n1i", "total",
                                 "experimental"), ("sd2i", "SD", "control"),
                                 ("n2i", "total", "control")):
            x = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
            bad = np.flatnonzero(x < 0)
            if bad.size:
                raise DataError(f"{what}: negative {word} in the {group} group of "
                                + _studies(df, bad, [f"{word} {x[i]:g}" for i in bad]),
                                column=col, rows=list(df.index[bad]))
        return
    for events, total, group in (("ai", "n1i", "experimental"), ("ci", "n2i", "control")):
        e = pd.to_numeric(df[events], errors="coerce").to_numpy(float)
        n = pd.to_numeric(df[total], errors="coerce").to_numpy(float)
        for col, x, word in ((events, e, "events"), (total, n, "total")):
            bad = np.flatnonzero(x < 0)
            if bad.size:
                raise DataError(f"{what}: negative {word} in the {group} group of "
                                + _studies(df, bad, [f"{word} {x[i]:g}" for i in bad]),
                                column=col, rows=list(df.index[bad]))
        bad = np.flatnonzero(e > n)
        if bad.size:
            raise DataError(f"{what}: more events than participants in the {group} group "
                            "of " + _studies(df, bad, [f"{e[i]:g} events of {n[i]:g}"
                                                       for i in bad]),
                            column=events, rows=list(df.index[bad]))


def _studies(df: pd.DataFrame, pos: np.ndarray, details: list[str]) -> str:
    """``"study 'A 2001' (30 events of 20), ..."`` for the rows at positions ``pos``."""
    parts = [f"study {df['study'].iloc[i]!r} ({d})" for i, d in zip(pos[:5], details,
                                                                    strict=False)]
    more = f" and {pos.size - 5} more" if pos.size > 5 else ""
    return ", ".join(parts) + more

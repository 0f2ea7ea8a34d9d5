"""The measures :func:`~bayesma.effect_sizes.escalc` computes, their arguments and variance types.

Measure codes, arguments and ``vtype`` values are metafor 3.8's ``escalc``; the scale,
label and back-transform of each measure live in :mod:`bayesma.measures`.
"""

from __future__ import annotations

from bayesma.errors import BayesmaError, DroppedRowsWarning
from bayesma.measures import REGISTRY

__all__ = ["UndefinedEffectWarning", "canonical_measure", "measure_arguments"]


class UndefinedEffectWarning(DroppedRowsWarning):
    """Some rows got ``yi = vi = NaN`` from :func:`escalc` (the message names them).

    This happens only where metafor also returns ``NA``: double-zero tables with
    ``drop00=True`` and zero cells that were not corrected (``to="none"`` or ``add=0``).
    Downstream fits do not drop such rows silently; remove them explicitly.
    """


_MEAN_MEASURES = ("MD", "SMD", "SMDH", "ROM")
_TABLE_MEASURES = ("OR", "RR", "RD", "PETO")
_COR_MEASURES = ("COR", "ZCOR")

#: Measures computed by :func:`escalc`, with a one-line description (from the one
#: registry of measures, :data:`bayesma.measures.REGISTRY`).
MEASURES: dict[str, str] = {
    code: REGISTRY[code].description
    for code in (*_MEAN_MEASURES, *_TABLE_MEASURES, *_COR_MEASURES, "GEN")
}

_MEAN_ARGS = ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")
_TABLE_ARGS = ("ai", "bi", "ci", "di", "n1i", "n2i")
_COR_ARGS = ("ri", "ni")
_GIVEN_ARGS = ("yi", "vi", "sei")
ALL_ARGS = ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i", "ai", "bi", "ci", "di", "ri", "ni",
             "yi", "vi", "sei")  # fmt: skip

# argument order in messages about computed values (the first one is DataError.column)
MESSAGE_ORDER = ("yi", "vi", "sei", "ri", "ni", "ai", "bi", "ci", "di",
                  "m1i", "sd1i", "m2i", "sd2i", "n1i", "n2i")  # fmt: skip

#: vtype values supported per measure ("LS" everywhere; metafor's default).
VTYPES: dict[str, tuple[str, ...]] = {
    "MD": ("LS", "UB", "HO"),
    "SMD": ("LS", "LS2", "UB"),
    "SMDH": ("LS",),
    "ROM": ("LS", "HO"),
    "OR": ("LS",),
    "RR": ("LS",),
    "RD": ("LS", "UB"),
    "PETO": ("LS",),
    "COR": ("LS",),
    "ZCOR": ("LS",),
    "GEN": ("LS",),
}

ROLES = {
    "m1i": "mean, group 1",
    "sd1i": "SD, group 1",
    "n1i": "sample size, group 1",
    "m2i": "mean, group 2",
    "sd2i": "SD, group 2",
    "n2i": "sample size, group 2",
    "ai": "events, group 1",
    "bi": "non-events, group 1",
    "ci": "events, group 2",
    "di": "non-events, group 2",
    "ri": "correlation",
    "ni": "sample size",
    "yi": "effect size",
    "vi": "sampling variance",
    "sei": "standard error",
}


def canonical_measure(measure: str) -> str:
    """The upper-case measure code; an unknown measure raises BayesmaError listing the valid
    ones.
    """
    if not isinstance(measure, str) or measure.upper() not in MEASURES:
        valid = ", ".join(f"{m} ({d})" for m, d in MEASURES.items())
        raise BayesmaError(f"unknown measure {measure!r}; valid measures are: {valid}")
    return measure.upper()


def measure_arguments(measure: str, given: dict[str, str]) -> str:
    """Check the argument combination; return the family ("means", "table", "cor", "given")."""
    if "yi" in given:
        extra = [a for a in given if a not in _GIVEN_ARGS]
        if extra:
            raise BayesmaError(
                f"escalc: give either yi with vi (or sei), or the arm-level columns for "
                f"{measure!r}, not both (also got {', '.join(extra)})"
            )
        if ("vi" in given) == ("sei" in given):
            raise BayesmaError(
                "escalc: given effect sizes yi need exactly one of vi (sampling variances) "
                "or sei (standard errors)"
            )
        return "given"
    if measure == "GEN":
        raise BayesmaError(
            "measure 'GEN' needs yi and vi (or sei): escalc('GEN', data, yi='yi', vi='vi')"
        )
    if measure in _MEAN_MEASURES:
        family, allowed = "means", _MEAN_ARGS
        missing = [a for a in _MEAN_ARGS if a not in given]
        needs = "m1i, sd1i, n1i, m2i, sd2i, n2i (means, SDs and sizes of both groups)"
    elif measure in _TABLE_MEASURES:
        family, allowed = "table", _TABLE_ARGS
        missing = [a for a in ("ai", "ci") if a not in given]
        if "bi" not in given and "n1i" not in given:
            missing.append("bi (or n1i)")
        if "di" not in given and "n2i" not in given:
            missing.append("di (or n2i)")
        needs = "ai, bi, ci, di (the four cells) or ai, n1i, ci, n2i (events and group sizes)"
    else:
        family, allowed = "cor", _COR_ARGS
        missing = [a for a in _COR_ARGS if a not in given]
        needs = "ri, ni (correlation and sample size)"
    if missing:
        raise BayesmaError(f"measure {measure!r} needs {needs}; missing: {', '.join(missing)}")
    extra = [a for a in given if a not in allowed]
    if extra:
        raise BayesmaError(f"measure {measure!r} does not use {', '.join(extra)}; it needs {needs}")
    return family

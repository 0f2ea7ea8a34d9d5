"""The measures :func:`~bayesma.effect_sizes.escalc` computes, their arguments and variance types.

Measure codes, arguments and ``vtype`` values are metafor 3.8's ``escalc``; the scale,
label and back-transform of each measure live in :mod:`bayesma.measures`.
"""

from __future__ import annotations

from bayesma.errors import BayesmaError, DroppedRowsWarning
from bayesma.measures import REGISTRY

__all__ = ["UndefinedEffectWarning", "canonical_measure", "measure_arguments", "roles_for"]


class UndefinedEffectWarning(DroppedRowsWarning):
    """Some rows got ``yi = vi = NaN`` from :func:`escalc` (the message names them).

    This happens only where metafor also returns ``NA``: double-zero tables with
    ``drop00=True`` and zero cells that were not corrected (``to="none"`` or ``add=0``).
    Downstream fits do not drop such rows silently; remove them explicitly.
    """


# Each family: its measures, the arguments it needs (a tuple inside = alternatives, one of
# them suffices), the arguments it may also take, and the message saying what it needs.
# Measure codes and arguments are metafor 3.8's escalc.
FAMILIES: dict[str, dict] = {
    "means": {
        "measures": ("MD", "SMD", "SMDH", "SMD1", "SMD1H", "ROM", "CVR", "VR", "RPB", "RBIS",
                     "D2OR", "D2ORN", "D2ORL"),
        "required": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
        "optional": (),
        "needs": "m1i, sd1i, n1i, m2i, sd2i, n2i (means, SDs and sizes of both groups)",
    },
    "table": {
        "measures": ("OR", "RR", "RD", "PETO", "AS", "PHI", "YUQ", "YUY", "RTET", "PBIT",
                     "OR2D", "OR2DN", "OR2DL"),
        "required": ("ai", "ci", ("bi", "n1i"), ("di", "n2i")),
        "optional": ("bi", "di", "n1i", "n2i"),
        "needs": "ai, bi, ci, di (the four cells) or ai, n1i, ci, n2i (events and group sizes)",
    },
    "paired": {
        "measures": ("MPRD", "MPRR", "MPOR", "MPORC", "MPPETO", "MPORM"),
        "required": ("ai", "ci", ("bi", "n1i"), ("di", "n2i")),
        "optional": ("bi", "di", "n1i", "n2i"),
        "needs": "ai, bi, ci, di (the four cells of the paired table)",
    },
    "genotypes": {
        "measures": ("REH",),
        "required": ("ai", "bi", "ci"),
        "optional": (),
        "needs": "ai, bi, ci (counts of the two homozygous genotypes and the heterozygous "
                 "one: ai, ci homozygous, bi heterozygous)",
    },
    "cor": {
        "measures": ("COR", "UCOR", "ZCOR"),
        "required": ("ri", "ni"),
        "optional": (),
        "needs": "ri, ni (correlation and sample size)",
    },
    "partial": {
        "measures": ("PCOR", "ZPCOR", "SPCOR"),
        "required": ("ti", "ni", "mi"),
        "optional": (),
        "needs": "ti, ni, mi (t statistic of the predictor, sample size, number of predictors)",
    },
    "proportion": {
        "measures": ("PR", "PLN", "PLO", "PAS", "PFT"),
        "required": ("xi", ("mi", "ni")),
        "optional": ("mi", "ni"),
        "needs": "xi with ni (events and sample size) or with mi (non-events)",
    },
    "rate": {
        "measures": ("IR", "IRLN", "IRS", "IRFT"),
        "required": ("xi", "ti"),
        "optional": (),
        "needs": "xi, ti (events and person-time)",
    },
    "rates2": {
        "measures": ("IRR", "IRD", "IRSD"),
        "required": ("x1i", "x2i", "t1i", "t2i"),
        "optional": (),
        "needs": "x1i, x2i, t1i, t2i (events and person-times of both groups)",
    },
    "single": {
        "measures": ("MN", "MNLN", "CVLN", "SDLN", "SMN"),
        "required": ("mi", "sdi", "ni"),
        "optional": (),
        "needs": "mi, sdi, ni (mean, SD and size of the group)",
    },
    "prepost": {
        "measures": ("MC", "SMCC", "SMCR", "SMCRH", "ROMC", "CVRC", "VRC"),
        "required": ("m1i", "m2i", "sd1i", "sd2i", "ni", "ri"),
        "optional": (),
        "needs": "m1i, m2i, sd1i, sd2i, ni, ri (means and SDs at the two time points, "
                 "sample size, correlation between them)",
    },
    "alpha": {
        "measures": ("ARAW", "AHW", "ABT"),
        "required": ("ai", "mi", "ni"),
        "optional": (),
        "needs": "ai, mi, ni (Cronbach's alpha, number of items, sample size)",
    },
}

# measures whose arguments differ from their family's (metafor 3.8 escalc)
_OVERRIDES: dict[str, dict] = {
    "VR": {"required": ("sd1i", "n1i", "sd2i", "n2i"), "optional": ("m1i", "m2i"),
           "needs": "sd1i, n1i, sd2i, n2i (SDs and sizes of both groups)"},
    "SPCOR": {"required": ("ti", "ni", "mi", "r2i"), "optional": (),
              "needs": "ti, ni, mi, r2i (t statistic, sample size, number of predictors, R²)"},
    "SDLN": {"required": ("sdi", "ni"), "optional": ("mi",),
             "needs": "sdi, ni (SD and size of the group)"},
    "SMCR": {"required": ("m1i", "m2i", "sd1i", "ni", "ri"), "optional": ("sd2i",),
             "needs": "m1i, m2i, sd1i, ni, ri (means at the two time points, the SD at the "
                      "first, sample size, correlation)"},
    "SMD1": {"required": ("m1i", "n1i", "m2i", "sd2i", "n2i"), "optional": ("sd1i",),
             "needs": "m1i, n1i, m2i, sd2i, n2i (means and sizes of both groups, SD of group 2)"},
    "MPORM": {"required": ("ai", "ci", ("bi", "n1i"), ("di", "n2i"), "ri"),
              "optional": ("bi", "di", "n1i", "n2i"),
              "needs": "ai, bi, ci, di (the 2x2 table of the two conditions) and ri (the "
                       "correlation of the paired outcomes)"},
    "VRC": {"required": ("sd1i", "sd2i", "ni", "ri"), "optional": ("m1i", "m2i"),
            "needs": "sd1i, sd2i, ni, ri (SDs at the two time points, size, correlation)"},
}

#: measure -> family
MEASURE_FAMILY: dict[str, str] = {m: fam for fam, spec in FAMILIES.items()
                                  for m in spec["measures"]}

#: Measures computed by :func:`escalc`, with a one-line description (from the one
#: registry of measures, :data:`bayesma.measures.REGISTRY`).
MEASURES: dict[str, str] = {
    code: REGISTRY[code].description for code in (*MEASURE_FAMILY, "GEN")
}

_GIVEN_ARGS = ("yi", "vi", "sei")
ALL_ARGS = ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i", "ai", "bi", "ci", "di", "ri", "ni",
            "x1i", "x2i", "t1i", "t2i", "xi", "mi", "ti", "sdi", "r2i",
            "yi", "vi", "sei")  # fmt: skip

# argument order in messages about computed values (the first one is DataError.column)
MESSAGE_ORDER = ("yi", "vi", "sei", "ri", "ti", "r2i", "xi", "x1i", "x2i", "ni", "ai", "bi",
                 "ci", "di", "m1i", "sd1i", "m2i", "sd2i", "mi", "sdi", "n1i", "n2i", "t1i",
                 "t2i")  # fmt: skip

#: vtype values supported per measure ("LS" everywhere; metafor's default).
VTYPES: dict[str, tuple[str, ...]] = {m: ("LS",) for m in MEASURES}
VTYPES.update({
    "MD": ("LS", "UB", "HO"),
    "SMD": ("LS", "LS2", "UB", "AV"),
    "SMD1": ("LS", "LS2", "UB", "AV"),
    "PHI": ("LS", "ST", "CS"),
    "RPB": ("LS", "ST", "CS"),
    "SMDH": ("LS", "LS2"),
    "ROM": ("LS", "HO", "AV", "AVHO"),
    "RD": ("LS", "UB"),
    "COR": ("LS", "AV"),
    "UCOR": ("LS", "UB", "AV"),
    "PCOR": ("LS", "AV"),
    "SPCOR": ("LS", "AV"),
    "PR": ("LS", "UB", "AV"),
    "PLN": ("LS", "AV"),
    "PLO": ("LS", "AV"),
    "SMCC": ("LS", "LS2"),
    "SMCR": ("LS", "LS2"),
})

#: Measures for which metafor's default ``add`` is 0 instead of 1/2 (metafor 3.8 escalc:
#: ``if (measure %in% c("AS","PHI","RTET","IRSD","PAS","PFT","IRS","IRFT")) add <- 0``).
ADD_ZERO_DEFAULT = frozenset({"AS", "PHI", "RTET", "IRSD", "PAS", "PFT", "IRS", "IRFT"})

#: Measures with a continuity correction (``add``, ``to``, ``drop00``).
COUNT_MEASURES = frozenset(
    (*FAMILIES["table"]["measures"], *FAMILIES["paired"]["measures"],
     *FAMILIES["proportion"]["measures"],
     *FAMILIES["rate"]["measures"], *FAMILIES["rates2"]["measures"])
)

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
    "x1i": "events, group 1",
    "x2i": "events, group 2",
    "t1i": "person-time, group 1",
    "t2i": "person-time, group 2",
    "xi": "events",
    "mi": "non-events",
    "ti": "person-time",
    "sdi": "SD",
    "r2i": "R²",
    "yi": "effect size",
    "vi": "sampling variance",
    "sei": "standard error",
}

# roles that depend on the family (metafor reuses argument names)
FAMILY_ROLES: dict[str, dict[str, str]] = {
    "means": {"ti": "t statistic"},
    "partial": {"ti": "t statistic", "mi": "number of predictors"},
    "single": {"mi": "mean"},
    "prepost": {"m1i": "mean, time 1", "m2i": "mean, time 2", "sd1i": "SD, time 1",
                "sd2i": "SD, time 2", "ri": "correlation of time 1 and 2"},
    "alpha": {"ai": "Cronbach's alpha", "mi": "number of items"},
    "paired": {"ai": "pairs with the event under both conditions",
               "bi": "pairs with the event under condition 1 only",
               "ci": "pairs with the event under condition 2 only",
               "di": "pairs with the event under neither condition",
               "ri": "correlation of the paired outcomes"},
    "genotypes": {"ai": "homozygous count", "bi": "heterozygous count",
                  "ci": "other homozygous count"},
}


def roles_for(measure: str) -> dict[str, str]:
    """The role of each argument for ``measure`` (for messages)."""
    return {**ROLES, **FAMILY_ROLES.get(MEASURE_FAMILY.get(measure, ""), {})}


def canonical_measure(measure: str) -> str:
    """The upper-case measure code; an unknown measure raises BayesmaError listing the valid
    ones.
    """
    if not isinstance(measure, str) or measure.upper() not in MEASURES:
        valid = ", ".join(f"{m} ({d})" for m, d in MEASURES.items())
        raise BayesmaError(f"unknown measure {measure!r}; valid measures are: {valid}")
    return measure.upper()


def measure_arguments(measure: str, given: dict[str, str]) -> str:
    """Check the argument combination; return the family ("means", "table", ..., "given")."""
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
    family = MEASURE_FAMILY[measure]
    spec = {**FAMILIES[family], **_OVERRIDES.get(measure, {})}
    required, optional, needs = spec["required"], spec["optional"], spec["needs"]
    if measure == "SMD" and "ti" in given:
        # SMD from t statistics (metafor 3.8 escalc: di <- ti * sqrt(1/n1i + 1/n2i))
        required, optional = ("ti", "n1i", "n2i"), ()
        needs = "ti, n1i, n2i (t statistic of the two-group comparison and the group sizes)"
    missing = []
    for req in required:
        alts = req if isinstance(req, tuple) else (req,)
        if not any(a in given for a in alts):
            missing.append(" (or ".join(alts) + ")" * (len(alts) - 1))
    if missing:
        raise BayesmaError(f"measure {measure!r} needs {needs}; missing: {', '.join(missing)}")
    allowed = {a for req in required for a in (req if isinstance(req, tuple) else (req,))}
    allowed |= set(optional)
    extra = [a for a in given if a not in allowed]
    if extra:
        raise BayesmaError(f"measure {measure!r} does not use {', '.join(extra)}; it needs {needs}")
    return family

"""Published empirical priors, with their tables stored as data.

=====================  ==============================  =====================================
function               returns                         source
=====================  ==============================  =====================================
:func:`turner2015`     ``LogNormalTau2`` (tau², log    Turner et al. 2015, Stat Med
                       odds ratio scale)               34(6):984-998, Table IV
:func:`rhodes2015`     ``LogStudentTTau2`` (tau², SMD  Rhodes et al. 2015, J Clin Epidemiol
                       scale, 5 df)                    68(1):52-60, Table 3, A.3.1, A.3.2
:func:`bartos2021`     ``{"mu": StudentT, "tau":       Bartoš et al. 2021, Stat Med
                       InverseGamma | HalfNormal}``    40(30):6743-6761 (SMD); Bartoš et al.
                                                       2023, arXiv:2306.11468 (OR, RR, RD, HR)
=====================  ==============================  =====================================

The numbers live in ``bayesma/priors/tables/*.csv``; each file starts with comment lines
naming the paper, the table and how the values were checked. :func:`turner2015_table`,
:func:`rhodes2015_table` and :func:`bartos2021_table` return them as DataFrames and
:func:`list_presets` lists the presets.

Every returned prior carries ``source``: the citation and the table cell it came from.
Category names are matched leniently (case, punctuation, unique prefixes and the short
names in the tables); an unknown or ambiguous name raises a :class:`BayesmaError` that
lists the valid names and suggests the closest one.

>>> from bayesma.priors import turner2015, rhodes2015, bartos2021
>>> turner2015("all-cause mortality", "pharmacological vs placebo")
LogNormalTau2(mu=-3.95, sigma=1.34)
>>> rhodes2015("mental health", "non-pharmacological vs placebo", area="cancer")
LogStudentTTau2(mu=-0.29, sigma=2.08, nu=5.0)
>>> bartos2021("SMD")["tau"]
InverseGamma(alpha=1.71, beta=0.4)
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bayesma.errors import BayesmaError
from bayesma.priors.base import Prior
from bayesma.priors.location import StudentT
from bayesma.priors.preset_tables import (
    BARTOS2021,
    BARTOS2023,
    REFERENCES,
    RHODES2015,
    TURNER2015,
    bartos2021_table,
    list_presets,
    read_table,
    rhodes2015_table,
    turner2015_table,
)
from bayesma.priors.tau import HalfNormal, InverseGamma, LogNormalTau2, LogStudentTTau2

__all__ = [
    "turner2015",
    "rhodes2015",
    "bartos2021",
    "turner2015_table",
    "rhodes2015_table",
    "bartos2021_table",
    "list_presets",
    "TURNER2015",
    "RHODES2015",
    "BARTOS2021",
    "BARTOS2023",
]

# ======================================================================================
# Lenient matching of category names
# ======================================================================================


def _norm(text: str) -> str:
    text = text.lower().replace("&", " and ")
    text = re.sub(r"\bvs\b\.?|\bversus\b", " vs ", text)
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


@dataclass(frozen=True)
class _Vocabulary:
    """Canonical labels, each with a few accepted aliases."""

    what: str  # e.g. "outcome"
    preset: str  # e.g. "turner2015"
    labels: dict[str, tuple[str, ...]]  # canonical label -> aliases

    def _keys(self) -> dict[str, str]:
        keys: dict[str, str] = {}
        for label, aliases in self.labels.items():
            for key in (label, *aliases):
                keys[_norm(key)] = label
        return keys

    def match(self, value: object) -> str:
        if not isinstance(value, str):
            raise BayesmaError(
                f"{self.preset}: {self.what} must be a string, got {value!r}. "
                f"{self._valid()}"
            )
        keys = self._keys()
        q = _norm(value)
        if q in keys:
            return keys[q]
        if q:
            # unique prefix (as R's match.arg), then all words present in the label
            hits = {lab for key, lab in keys.items() if key.startswith(q)}
            if len(hits) == 1:
                return hits.pop()
            if not hits:
                words = set(q.split())
                hits = {lab for key, lab in keys.items() if words <= set(key.split())}
                if len(hits) == 1:
                    return hits.pop()
            if len(hits) > 1:
                raise BayesmaError(
                    f"{self.preset}: {self.what} {value!r} is ambiguous; it matches "
                    + ", ".join(repr(h) for h in sorted(hits))
                    + ". Give more of the name."
                )
        raise BayesmaError(
            f"{self.preset}: unknown {self.what} {value!r}.{self._hint(q, keys)} "
            f"{self._valid()}"
        )

    def _hint(self, q: str, keys: dict[str, str]) -> str:
        close = difflib.get_close_matches(q, list(keys), n=1, cutoff=0.6)
        return f" Did you mean {keys[close[0]]!r}?" if close else ""

    def _valid(self) -> str:
        return f"Valid {self.what}s: " + "; ".join(repr(v) for v in self.labels) + "."


# comparator types (the two sides of "A vs B")
_PHARMA, _NONPHARMA, _PLACEBO, _ANY = (
    "pharmacological", "non-pharmacological", "placebo / control", "any")
_COMPARATORS = {
    _PHARMA: ("pharma", "pharmacologic", "drug", "drugs", "active drug"),
    _NONPHARMA: ("non-pharma", "nonpharmacological", "nonpharma", "non-pharmacologic",
                 "non-drug", "nondrug"),
    _PLACEBO: ("placebo", "control", "placebo or control", "placebo/control",
               "placebo control", "no treatment", "usual care"),
    _ANY: ("any", "anything", "any comparator"),
}

_TURNER_OUTCOMES = _Vocabulary("outcome", "turner2015", {
    "all-cause mortality": ("all cause mortality", "overall mortality"),
    "obstetric outcomes": ("obstetric", "obstetric outcome"),
    "cause-specific mortality / major morbidity event / composite (mortality or morbidity)": (
        "cause-specific mortality", "major morbidity event", "major morbidity",
        "composite", "cause-specific mortality / major morbidity event / composite"),
    "resource use / hospital stay / process": ("resource use", "hospital stay", "process"),
    "surgical / device related success / failure": ("surgical", "device",
                                                    "surgical / device related"),
    "withdrawals / drop-outs": ("withdrawals", "drop-outs", "dropouts", "withdrawal"),
    "internal / structure-related outcomes": ("internal / structure-related",
                                              "structure-related", "internal",
                                              "internal / external structure-related"),
    "general physical health indicators": ("general physical health", "physical health"),
    "adverse events": ("adverse event",),
    "infection / onset of new disease": ("infection", "onset of new disease"),
    "signs / symptoms reflecting continuation / end of condition": (
        "signs / symptoms", "signs", "symptoms", "signs and symptoms"),
    "pain": (),
    "quality of life / functioning (dichotomized)": ("quality of life", "qol", "functioning",
                                                     "quality of life / functioning"),
    "mental health indicators": ("mental health",),
    "biological markers (dichotomized)": ("biological markers", "biological marker",
                                          "biomarkers", "biomarker"),
    "subjective outcomes (various)": ("subjective outcomes", "subjective"),
})

_TURNER_COMPARISONS = {
    frozenset([_PHARMA, _PLACEBO]): "pharmacological vs placebo / control",
    frozenset([_PHARMA]): "pharmacological vs pharmacological",
    frozenset([_NONPHARMA, _PLACEBO]): "non-pharmacological vs placebo / control",
    frozenset([_NONPHARMA, _PHARMA]): "non-pharmacological vs pharmacological",
    frozenset([_NONPHARMA]): "non-pharmacological vs non-pharmacological",
}

_RHODES_OUTCOMES = _Vocabulary("outcome", "rhodes2015", {
    "obstetric outcome": ("obstetric", "obstetric outcomes"),
    "resource use and hospital stay / process": ("resource use", "hospital stay", "process",
                                                 "resource use / hospital stay / process"),
    "internal and external structure-related outcome": (
        "internal and external structure", "structure-related", "internal", "external",
        "internal / external structure-related outcomes"),
    "general physical health and adverse event and pain and quality of life / functioning": (
        "general physical health", "physical health", "adverse event", "adverse events",
        "pain", "quality of life", "qol", "functioning",
        "physical health / adverse event / pain / quality of life / functioning"),
    "signs / symptoms reflecting continuation / end of condition and infection / onset of "
    "new acute / chronic disease": ("signs / symptoms", "signs", "symptoms", "infection",
                                    "onset of new disease", "signs and symptoms"),
    "mental health outcome": ("mental health", "mental health outcomes",
                              "mental health indicators"),
    "biological marker": ("biological markers", "biomarker", "biomarkers"),
    "various subjectively measured outcomes": ("subjective", "subjective outcomes",
                                               "subjectively measured outcomes"),
})

_RHODES_COMPARISONS = ("pharmacological vs placebo / control",
                       "pharmacological vs pharmacological",
                       "non-pharmacological (any)")

_RHODES_AREAS = _Vocabulary("area", "rhodes2015", {
    "other": ("other areas", "other medical areas", "none of these", "any other"),
    "respiratory": ("respiratory disease", "respiratory diseases"),
    "cancer": ("oncology", "cancers"),
})

_COMPARISON_HELP = (
    "Give the comparison as 'A vs B' (or a pair (A, B)) with A and B each one of "
    "'pharmacological', 'non-pharmacological', 'placebo / control'"
)


def _comparators(preset: str, comparison: object) -> frozenset[str]:
    """Parse 'A vs B' (or a pair) into the set of comparator types."""
    if isinstance(comparison, str):
        sides = [s.strip() for s in re.split(r"\bvs\b", _norm(comparison))]
    elif isinstance(comparison, Sequence) and len(comparison) == 2:
        sides = list(comparison)
    else:
        raise BayesmaError(
            f"{preset}: cannot read comparison {comparison!r}. {_COMPARISON_HELP}."
        )
    vocab = _Vocabulary("comparator", preset, _COMPARATORS)
    parsed = [vocab.match(s) for s in sides]
    if len(parsed) == 1:  # "non-pharmacological" alone means against anything
        if parsed[0] == _NONPHARMA:
            parsed.append(_ANY)
        else:
            raise BayesmaError(
                f"{preset}: comparison {comparison!r} names one comparator only. "
                f"{_COMPARISON_HELP}."
            )
    if len(parsed) != 2:
        raise BayesmaError(f"{preset}: cannot read comparison {comparison!r}. "
                           f"{_COMPARISON_HELP}.")
    return frozenset(parsed)


def _turner_comparison(comparison: object) -> str:
    if isinstance(comparison, str) and _norm(comparison) in {
        _norm(c) for c in _TURNER_COMPARISONS.values()
    }:
        return next(c for c in _TURNER_COMPARISONS.values() if _norm(c) == _norm(comparison))
    pair = _comparators("turner2015", comparison)
    if pair not in _TURNER_COMPARISONS:
        raise BayesmaError(
            f"turner2015: {comparison!r} is not one of Turner et al.'s comparison types. "
            "Valid comparisons: " + "; ".join(repr(c) for c in _TURNER_COMPARISONS.values())
            + " (in either order)."
        )
    return _TURNER_COMPARISONS[pair]


def _rhodes_comparison(comparison: object) -> str:
    if isinstance(comparison, str) and _norm(comparison) in {
        _norm(c) for c in _RHODES_COMPARISONS
    }:
        return next(c for c in _RHODES_COMPARISONS if _norm(c) == _norm(comparison))
    pair = _comparators("rhodes2015", comparison)
    if _NONPHARMA in pair:
        return _RHODES_COMPARISONS[2]
    if pair == frozenset([_PHARMA, _PLACEBO]):
        return _RHODES_COMPARISONS[0]
    if pair == frozenset([_PHARMA]):
        return _RHODES_COMPARISONS[1]
    raise BayesmaError(
        f"rhodes2015: {comparison!r} is not one of Rhodes et al.'s comparison types. "
        "Valid comparisons: " + "; ".join(repr(c) for c in _RHODES_COMPARISONS)
        + " ('non-pharmacological' against anything)."
    )


def _all_or_none(preset: str, names: Iterable[str], values: Iterable[object]) -> bool:
    """True if all given (a specific cell), False if none (general setting)."""
    names, values = list(names), list(values)
    given = [v is not None for v in values]
    if all(given):
        return True
    if not any(given):
        return False
    missing = [n for n, g in zip(names, given, strict=True) if not g]
    raise BayesmaError(
        f"{preset}: give all of {', '.join(names)} for a specific setting, or none of "
        f"them for the general setting; missing: {', '.join(missing)}"
    )


# ======================================================================================
# Presets
# ======================================================================================


def turner2015(outcome: str | None = None,
               comparison: str | Sequence[str] | None = None) -> LogNormalTau2:
    """Log-normal prior on tau² for log odds ratios (Turner et al. 2015).

    Turner et al. fitted a hierarchical model to 14,886 binary-outcome meta-analyses
    of the Cochrane Database of Systematic Reviews and report predictive distributions
    log(tau²) ~ N(mu, sigma²) for a new meta-analysis, by type of outcome and type of
    intervention comparison (their Table IV), and for the general healthcare setting
    (mu = -2.56, sigma = 1.74; p. 993).

    Parameters
    ----------
    outcome : str, optional
        One of the 16 outcome types of Table IV, e.g. ``"all-cause mortality"``,
        ``"obstetric outcomes"``, ``"pain"``, ``"adverse events"``,
        ``"mental health indicators"``, ``"subjective outcomes (various)"`` (see
        :func:`turner2015_table`; unique prefixes and short names work).
    comparison : str or (str, str), optional
        ``"A vs B"`` with A and B each ``"pharmacological"``, ``"non-pharmacological"``
        or ``"placebo / control"`` (either order), giving the five types of Table IV:
        pharmacological vs placebo/control, pharmacological vs pharmacological,
        non-pharmacological vs placebo/control, non-pharmacological vs pharmacological,
        non-pharmacological vs non-pharmacological.
        Leave both arguments out for the general healthcare setting.

    Returns
    -------
    LogNormalTau2
        The prior on tau² (densities are of tau); ``source`` cites the paper and names
        the cell.

    Notes
    -----
    These priors are for heterogeneity on the log odds ratio scale only. The
    parameters refer to tau²; on tau the distribution is log-normal with halved mu and
    sigma (bayesmeta's ``TurnerEtAlPrior()`` reports both).
    """
    table = read_table("turner2015")
    if _all_or_none("turner2015", ["outcome", "comparison"], [outcome, comparison]):
        o = _TURNER_OUTCOMES.match(outcome)
        c = _turner_comparison(comparison)
        row = table[(table["outcome"] == o) & (table["comparison"] == c)].iloc[0]
        cell = f"Table IV, outcome {o!r}, comparison {c!r}"
    else:
        row = table[(table["outcome"] == "any") & (table["comparison"] == "any")].iloc[0]
        cell = "general healthcare setting (p. 993)"
    return LogNormalTau2(float(row["mu"]), float(row["sigma"]),
                         source=f"{TURNER2015}; {cell}; log(tau²) ~ N(mu, sigma²), log OR scale")


def rhodes2015(outcome: str | None = None,
               comparison: str | Sequence[str] | None = None,
               area: str | None = None) -> LogStudentTTau2:
    """Log-Student-t (5 df) prior on tau² for standardized mean differences (Rhodes et al.).

    Rhodes et al. modelled 6,492 continuous-outcome meta-analyses of the Cochrane
    Database of Systematic Reviews on the SMD scale and report predictive
    distributions log(tau²) ~ t_5(mu, sigma) by outcome type, comparison type and
    medical area: their Table 3 (areas other than respiratory and cancer) and online
    Appendix Tables A.3.1 (respiratory diseases) and A.3.2 (cancer); and for the
    general setting (mu = -3.44, sigma = 2.59; start of Section 3.3).

    Parameters
    ----------
    outcome : str, optional
        One of the 8 outcome types: ``"obstetric outcome"``, ``"resource use and
        hospital stay / process"``, ``"internal and external structure-related
        outcome"``, ``"general physical health and adverse event and pain and quality of
        life / functioning"``, ``"signs / symptoms reflecting continuation / end of
        condition and infection / onset of new acute / chronic disease"``, ``"mental
        health outcome"``, ``"biological marker"``, ``"various subjectively measured
        outcomes"`` (unique prefixes and short names such as ``"mental health"``,
        ``"quality of life"``, ``"pain"`` work).
    comparison : str or (str, str), optional
        ``"pharmacological vs placebo / control"``, ``"pharmacological vs
        pharmacological"`` or a non-pharmacological intervention against anything
        (``"non-pharmacological vs placebo"``, ``"non-pharmacological (any)"``, ...).
    area : str, optional
        ``"other"`` (any medical area other than the two below: Table 3),
        ``"respiratory"`` or ``"cancer"``. Required with ``outcome`` and ``comparison``
        (the areas differ a lot: cancer settings expect far more heterogeneity).
        Leave all three out for the general setting.

    Returns
    -------
    LogStudentTTau2
        With ``nu = 5``; ``source`` cites the paper and names the cell.

    Notes
    -----
    The published tables are additive (area + outcome + comparison on the log scale, to
    within rounding) except two cells, which are kept **as published** here and as in
    R's bayesmeta ``RhodesEtAlPrior()``:

    - other area / mental health outcome / non-pharmacological: mu = -3.85 (the pattern
      gives about -2.85);
    - cancer / internal and external structure-related outcome / pharmacological vs
      placebo/control: mu = -0.13 (the pattern gives about +0.13).

    Both are likely misprints in the paper; if your analysis falls in one of these
    cells, consider reporting a sensitivity analysis with the neighbouring value.
    """
    table = read_table("rhodes2015")
    if _all_or_none("rhodes2015", ["outcome", "comparison", "area"],
                    [outcome, comparison, area]):
        o = _RHODES_OUTCOMES.match(outcome)
        c = _rhodes_comparison(comparison)
        a = _RHODES_AREAS.match(area)
        row = table[(table["outcome"] == o) & (table["comparison"] == c)
                    & (table["area"] == a)].iloc[0]
        cell = f"{row['table']}, area {a!r}, outcome {o!r}, comparison {c!r}"
        if row["note"]:
            cell += f" ({row['note']})"
    else:
        row = table[table["area"] == "any"].iloc[0]
        cell = "general setting (Section 3.3)"
    return LogStudentTTau2(float(row["mu"]), float(row["sigma"]), float(row["nu"]),
                           source=f"{RHODES2015}; {cell}; log(tau²) ~ t_5(mu, sigma), SMD scale")


_BARTOS_MEASURES = _Vocabulary("measure", "bartos2021", {
    "SMD": ("standardized mean difference", "standardised mean difference", "cohen d",
            "hedges g"),
    "OR": ("logOR", "log OR", "log odds ratio", "odds ratio"),
    "RR": ("logRR", "log RR", "log risk ratio", "risk ratio", "relative risk"),
    "RD": ("risk difference",),
    "HR": ("logHR", "log HR", "log hazard ratio", "hazard ratio"),
})


def bartos2021(measure: str = "SMD") -> dict[str, Prior]:
    """Cochrane-wide empirical priors of Bartoš et al. for mu and tau, per measure.

    Bartoš et al. (2021) fitted the effect sizes and heterogeneity estimates of the
    Cochrane Database of Systematic Reviews and propose, for continuous outcomes on the
    SMD scale, mu ~ Student-t(0, 0.43, df = 5) and tau ~ InverseGamma(1.71, 0.40) for
    the field as a whole. The 2021 paper covers SMDs only; the companion paper (Bartoš
    et al. 2023, arXiv:2306.11468) gives the binary and time-to-event measures:

    =======  ==========================  ==============================
    measure  mu                          tau
    =======  ==========================  ==============================
    SMD      Student-t(0, 0.43, 5)       InverseGamma(1.71, 0.40)
    OR       Student-t(0, 0.58, 4)       InverseGamma(1.77, 0.55)
    RR       Student-t(0, 0.32, 3)       InverseGamma(1.51, 0.23)
    RD       Student-t(0, 0.034, 1)      HalfNormal(0.099)
    HR       Student-t(0, 0.13, 2)       InverseGamma(2.42, 0.30)
    =======  ==========================  ==============================

    (OR, RR and HR on the log scale.) These are the ``"Cochrane"`` priors of RoBMA's
    ``prior_informed()``; subfield-specific priors are not included.

    Parameters
    ----------
    measure : str
        ``"SMD"``, ``"OR"``, ``"RR"``, ``"RD"`` or ``"HR"`` (``"logOR"`` etc. also work).

    Returns
    -------
    dict
        ``{"mu": StudentT, "tau": InverseGamma}`` (``HalfNormal`` tau for RD); each
        prior's ``source`` cites the paper it comes from.
    """
    m = _BARTOS_MEASURES.match(measure)
    row = read_table("bartos2021").set_index("measure").loc[m]
    ref = REFERENCES[row["reference"]]
    src = f"{ref}; Cochrane-wide prior for {row['scale']} ({m})"
    mu = StudentT(float(row["mu_nu"]), 0.0, float(row["mu_sigma"]), source=src)
    if row["tau_family"] == "HalfNormal":
        tau: Prior = HalfNormal(float(row["tau_sigma"]), source=src)
    else:
        tau = InverseGamma(float(row["tau_alpha"]), float(row["tau_beta"]), source=src)
    return {"mu": mu, "tau": tau}

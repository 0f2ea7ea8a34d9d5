"""GRADE certainty of evidence: domain ratings, bayesma's proposed ratings and the overall grade.

Five domains can lower the certainty of a body of evidence (GRADE Handbook, Schünemann
et al. 2013, section 5.2): risk of bias, inconsistency, indirectness, imprecision and
publication bias, each "not serious" (0), "serious" (-1) or "very serious" (-2). Evidence
from randomized trials starts "high" (observational studies "low") and the overall
certainty is the start lowered by the sum, floored at "very low".

bayesma PROPOSES ratings for three domains and says why, for the reviewer to confirm:

* inconsistency from I² (Cochrane Handbook 6.4, section 10.10.2: 50-90% substantial,
  75-100% considerable) and whether the prediction interval crosses the null (GRADE
  guidelines 7, Guyatt et al. 2011, J Clin Epidemiol 64:1294-1302);
* imprecision from the CI against the thresholds of an appreciable effect (GRADE's
  default for ratios: a relative change of 25%, i.e. RR 0.75 and 1.25) and the optimal
  information size (GRADE guidelines 6, Guyatt et al. 2011, J Clin Epidemiol
  64:1283-1293);
* publication bias from Egger's regression test when k >= 10 (Cochrane Handbook 6.4,
  section 13.3.5.4: tests only with at least 10 studies), "serious" at p < 0.10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bayesma.classical.bias import regtest
from bayesma.errors import BayesmaError
from bayesma.formatting import fmt_num, fmt_p_apa
from bayesma.tails import norm_isf

__all__ = ["DOMAINS", "DOMAIN_NAMES", "DomainRating", "certainty_grade", "parse_rating",
           "optimal_information_size", "sample_size_per_group", "propose_inconsistency",
           "propose_imprecision", "propose_publication_bias"]

DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
DOMAIN_NAMES = {"risk_of_bias": "Risk of bias", "inconsistency": "Inconsistency",
                "indirectness": "Indirectness", "imprecision": "Imprecision",
                "publication_bias": "Publication bias"}
LEVELS = ("not serious", "serious", "very serious")
_SYNONYMS = {"not serious": 0, "no": 0, "none": 0, "not detected": 0, "undetected": 0,
             "serious": 1, "strongly suspected": 1, "suspected": 1, "very serious": 2,
             "0": 0, "-1": 1, "-2": 2}
GRADES = ("high", "moderate", "low", "very low")
SYMBOLS = {"high": "\u2295\u2295\u2295\u2295", "moderate": "\u2295\u2295\u2295\u25ef",
           "low": "\u2295\u2295\u25ef\u25ef", "very low": "\u2295\u25ef\u25ef\u25ef"}


@dataclass(frozen=True)
class DomainRating:
    """One domain's rating: the level, why, and whether the user or bayesma gave it."""

    domain: str
    level: str  # "not serious", "serious", "very serious"
    reason: str = ""
    source: str = "user"  # "user", "proposed" or "not rated"

    @property
    def downgrade(self) -> int:
        return LEVELS.index(self.level)


def parse_rating(domain: str, value: Any) -> tuple[str, str]:
    """(level, reason) from a user's rating: a level word (or 0 / -1 / -2), or a
    ``(level, reason)`` pair, or a dict ``{"level": ..., "reason": ...}``."""
    reason = ""
    if isinstance(value, dict):
        reason = str(value.get("reason", ""))
        value = value.get("level")
    elif isinstance(value, tuple | list) and len(value) == 2:
        value, reason = value[0], str(value[1])
    key = str(value).strip().lower()
    if key not in _SYNONYMS:
        raise BayesmaError(f"ratings: {domain} = {value!r} is not a GRADE level; use "
                           f"'not serious', 'serious' or 'very serious' (or 0, -1, -2)")
    return LEVELS[_SYNONYMS[key]], reason


def certainty_grade(ratings: list[DomainRating], start: str = "high") -> str:
    """The overall certainty: ``start`` lowered by the domains' downgrades (GRADE 5.2)."""
    if start not in ("high", "low"):
        raise BayesmaError(f"start must be 'high' (randomized trials) or 'low' "
                           f"(observational studies); got {start!r}")
    i = GRADES.index(start) + sum(r.downgrade for r in ratings)
    return GRADES[min(i, len(GRADES) - 1)]


def propose_inconsistency(i2: float, pi: tuple[float, float] | None, null: float, k: int,
                          show: Any) -> DomainRating:
    """Inconsistency from I² and the prediction interval (see the module notes)."""
    if k < 2:
        return DomainRating("inconsistency", "not serious", "single study: inconsistency "
                            "cannot be assessed", "proposed")
    crosses = pi is not None and pi[0] < null < pi[1]
    txt = f"I\u00b2 = {i2:.0f}%"
    if pi is not None:
        txt += f", prediction interval {show(pi[0])} to {show(pi[1])}" + \
            (" crosses the null" if crosses else " on one side of the null")
    if i2 >= 75:
        level = "very serious" if crosses else "serious"
    elif i2 >= 50:
        level = "serious" if crosses else "not serious"
    else:
        level = "not serious"
    return DomainRating("inconsistency", level, txt, "proposed")


def sample_size_per_group(p1: float, p2: float, *, alpha: float = 0.05,
                          power: float = 0.8) -> float:
    """Participants per group to compare two proportions (two-sided test; the normal
    approximation R's ``power.prop.test`` solves: Fleiss, Levin & Paik 2003, 4.2)."""
    za, zb = norm_isf(alpha / 2), norm_isf(1 - power)
    q1, q2 = 1 - p1, 1 - p2
    root = za * math.sqrt((p1 + p2) * (q1 + q2) / 2) + zb * math.sqrt(p1 * q1 + p2 * q2)
    return root ** 2 / (p1 - p2) ** 2


def optimal_information_size(*, binary: bool, acr: float | None = None, rrr: float = 0.25,
                             smd: float = 0.2, alpha: float = 0.05,
                             power: float = 0.8) -> int:
    """Total participants a single adequately powered trial would need (GRADE guidelines 6,
    Guyatt et al. 2011: the optimal information size).

    Binary outcomes: control risk ``acr`` against ``acr * (1 - rrr)``
    (:func:`sample_size_per_group`); continuous outcomes: per group
    ``2 (z_{1-alpha/2} + z_{power})² / smd²`` (a difference of ``smd`` SDs). Returns both
    groups together, each rounded up.
    """
    if binary:
        if acr is None or not 0 < acr < 1:
            raise BayesmaError("optimal information size: needs a control risk in (0, 1)")
        n = sample_size_per_group(acr, acr * (1 - rrr), alpha=alpha, power=power)
    else:
        z = norm_isf(alpha / 2) + norm_isf(1 - power)
        n = 2 * z ** 2 / smd ** 2
    return 2 * math.ceil(n)


def propose_imprecision(ci: tuple[float, float], null: float,
                        thresholds: tuple[float, float] | None, participants: int | None,
                        ois: int | None, show: Any, kind: str = "CI") -> DomainRating:
    """Imprecision from the interval (``kind``: CI or CrI) against the thresholds, then
    the optimal information size."""
    lo, hi = ci
    parts = [f"{kind} {show(lo)} to {show(hi)}"]
    level = "not serious"
    if thresholds is not None:
        t_lo, t_hi = thresholds
        benefit, harm = lo < t_lo, hi > t_hi
        parts.append(f"thresholds of an appreciable effect {show(t_lo)} and {show(t_hi)}")
        if benefit and harm:
            level = "very serious"
            parts.append("the interval includes appreciable benefit and appreciable harm")
        elif (benefit or harm) and lo < null < hi:
            level = "serious"
            parts.append("the interval includes no effect and an appreciable effect")
    elif lo < null < hi:
        level = "serious"
        parts.append("the interval includes no effect")
    if level == "not serious" and ois is not None:
        if participants is None:
            parts.append("participants unknown: optimal information size not checked")
        elif participants < ois:
            level = "serious"
            parts.append(f"{participants} participants, fewer than the optimal information "
                         f"size ({ois})")
        else:
            parts.append(f"{participants} participants meet the optimal information size "
                         f"({ois})")
    return DomainRating("imprecision", level, "; ".join(parts), "proposed")


def propose_publication_bias(classical: Any) -> DomainRating:
    """Egger's test (``bm.regtest``) on the classical fit when k >= 10."""
    k = getattr(classical, "k", 0) if classical is not None else 0
    if classical is None or k < 10:
        return DomainRating("publication_bias", "not serious",
                            f"k = {k}: funnel-plot tests need at least 10 studies "
                            "(Cochrane Handbook 13.3.5.4); not assessed by test", "proposed")
    rt = regtest(classical)
    level = "serious" if rt.pval < 0.10 else "not serious"
    return DomainRating("publication_bias", level,
                        f"Egger's test {rt.stat_name} = {fmt_num(rt.stat, 2)}, "
                        f"{fmt_p_apa(rt.pval)}", "proposed")

"""``summary_of_findings``: the GRADE summary-of-findings table of one or more outcomes.

One row per outcome (Cochrane Handbook 6.4, chapter 14; GRADE Handbook section 5.4):
participants (studies), the relative effect with its interval, the anticipated absolute
effects per 1,000 for an assumed control risk (ratio measures and RD, formulas in
:mod:`bayesma.grade.absolute`), for mean differences the difference and for SMDs its
size by Cohen's rule of thumb, the certainty of the evidence with the ratings behind it
(the reviewer's, and bayesma's proposals for inconsistency, imprecision and publication
bias: :mod:`bayesma.grade.certainty`) and comments.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayesma.bayes.protocol import Posterior
from bayesma.classical.pooling.result import PoolingResult
from bayesma.classical.rma import RMAResult
from bayesma.errors import BayesmaError
from bayesma.formatting import fmt_num
from bayesma.grade.absolute import ABSOLUTE_MEASURES, intervention_risk, per_1000, smd_size
from bayesma.grade.certainty import (
    DOMAIN_NAMES,
    DOMAINS,
    SYMBOLS,
    DomainRating,
    certainty_grade,
    optimal_information_size,
    parse_rating,
    propose_imprecision,
    propose_inconsistency,
    propose_publication_bias,
)
from bayesma.grade.table import SummaryOfFindings
from bayesma.measures import Measure, get_measure

__all__ = ["summary_of_findings"]

#: GRADE's default thresholds of an appreciable effect for ratio measures (relative
#: risk reduction or increase of 25%; GRADE guidelines 6, Guyatt et al. 2011)
RATIO_THRESHOLDS = (0.75, 1.25)


@dataclass
class _Outcome:
    name: str
    measure: Measure
    est: float  # analysis scale
    lo: float
    hi: float
    k: int
    i2: float
    pi: tuple[float, float] | None  # analysis scale
    classical: Any
    bayesian: bool
    level: float
    data: pd.DataFrame | None


def _read(name: str, res: Any) -> _Outcome:
    """The numbers of one outcome's result (classical fit or posterior)."""
    if isinstance(res, RMAResult):
        pi = (res.pi_low, res.pi_high) if res.pi_low is not None and res.k > 1 else None
        return _Outcome(name, get_measure(res.measure), res.estimate, res.ci_low, res.ci_high,
                        res.k, res.i2, pi, res, False, res.level, res.data)
    if isinstance(res, PoolingResult):
        return _Outcome(name, get_measure(res.measure), res.estimate, res.ci_low, res.ci_high,
                        res.k, res.i2, None, None, False, res.level, None)
    if isinstance(res, Posterior):
        lo, hi = res.interval("mu")
        pi = tuple(float(x) for x in res.interval("theta_new"))
        twin = res.classical if isinstance(res.classical, RMAResult) else None
        return _Outcome(name, get_measure(res.measure), float(res.median("mu")), float(lo),
                        float(hi), len(res.labels), float(res.median("i2")), pi, twin, True,
                        res.level, res.data)
    raise BayesmaError(f"summary_of_findings: outcome {name!r} is a {type(res).__name__}; "
                       "pass RMAResult, rma_mh / rma_peto results or Bayesian posteriors")


def _col(d: pd.DataFrame, key: str) -> np.ndarray | None:
    """A metafor-named column of ``d`` (through escalc's column record), or None."""
    name = (d.attrs.get("columns") or {}).get(key, key)
    if name is None or name not in d.columns:
        return None
    return pd.to_numeric(d[name], errors="coerce").to_numpy(dtype=float)


def _participants(d: pd.DataFrame | None) -> int | None:
    """Participants summed over the studies (n1i + n2i, the 2x2 cells, or ni)."""
    if d is None:
        return None
    n1, n2 = _col(d, "n1i"), _col(d, "n2i")
    if n1 is None or n2 is None:
        cells = [_col(d, k) for k in ("ai", "bi", "ci", "di")]
        if all(c is not None for c in cells):
            n1, n2 = cells[0] + cells[1], cells[2] + cells[3]
    if n1 is not None and n2 is not None:
        tot = n1 + n2
    else:
        tot = _col(d, "ni")
    if tot is None or not np.all(np.isfinite(tot)):
        return None
    return int(round(float(tot.sum())))


def _control_risk(d: pd.DataFrame | None) -> float | None:
    """Median control-group risk of the studies (Cochrane Handbook 6.4, 14.1.5.1)."""
    if d is None:
        return None
    ci = _col(d, "ci")
    n2 = _col(d, "n2i")
    if n2 is None and ci is not None and _col(d, "di") is not None:
        n2 = ci + _col(d, "di")
    if ci is None or n2 is None:
        return None
    r = ci / n2
    r = r[np.isfinite(r)]
    return float(statistics.median(r)) if len(r) else None


def _as_float(x: Any) -> float:
    """``float(x)``, or NaN for what is not a number."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _per_outcome(value: Any, name: str, names: list[str], is_scalar: Any) -> Any:
    """``value`` for outcome ``name``: a mapping by outcome, or one value for all."""
    if value is None:
        return None
    if isinstance(value, Mapping) and not is_scalar(value):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise BayesmaError(f"summary_of_findings: unknown outcome(s) {unknown}; the "
                               f"outcomes are {names}")
        return value.get(name)
    return value


def _absolute(o: _Outcome, acr: float | None) -> tuple[str, str, str]:
    """(risk with control, risk with intervention, absolute effect) cells."""
    code = o.measure.code
    if code in ABSOLUTE_MEASURES:
        if acr is None:
            return "\u2013", "\u2013", "assumed control risk not given"
        b = o.measure.back
        risks = [intervention_risk(code, float(b(x)), acr) for x in (o.est, o.lo, o.hi)]
        base = per_1000(acr)
        r, rl, rh = (per_1000(x) for x in risks)
        diffs = [x - base for x in (r, rl, rh)]

        def word(v: int) -> str:
            return f"{abs(v)} fewer" if v < 0 else (f"{v} more" if v > 0 else "0 fewer")

        lo_d, hi_d = sorted(diffs[1:])
        return (f"{base} per 1,000", f"{r} per 1,000 ({min(rl, rh)} to {max(rl, rh)})",
                f"{word(diffs[0])} per 1,000 (from {word(lo_d)} to {word(hi_d)})")
    if o.measure.data_type == "continuous":
        def hl(v: float) -> str:
            return f"{fmt_num(abs(v), 2)} {'lower' if v < 0 else 'higher'}"

        iv = f"({hl(o.lo)} to {hl(o.hi)})"
        if code.startswith("SMD"):
            return ("\u2013", "\u2013", f"SMD {hl(o.est)} {iv}; a {smd_size(o.est)} effect "
                    "by Cohen's rule of thumb (0.2 small, 0.5 moderate, 0.8 large)")
        return ("\u2013", "\u2013", f"The mean with the intervention was {hl(o.est)} {iv}")
    return "\u2013", "\u2013", "\u2013"


def summary_of_findings(
    results: Any,
    *,
    outcomes: str | Sequence[str] | None = None,
    assumed_risk: float | Mapping[str, float] | None = None,
    ratings: Mapping[str, Any] | None = None,
    thresholds: tuple[float, float] | Mapping[str, tuple[float, float]] | None = None,
    start: str | Mapping[str, str] = "high",
    comments: Mapping[str, str] | None = None,
    title: str | None = None,
) -> SummaryOfFindings:
    """GRADE summary-of-findings table of one or more outcomes.

    Parameters
    ----------
    results : dict, list or a single result
        Per outcome an :class:`~bayesma.classical.rma.RMAResult`, an ``rma_mh`` /
        ``rma_peto`` result or a Bayesian posterior (``bm.exact_posterior``, an MCMC
        fit): ``{"Mortality": res, ...}``, or a list named by ``outcomes``.
    outcomes : str or list of str, optional
        Names of a list of results, or the outcomes of a dict to show, in order; a
        single string is one outcome name (``outcomes="TB"`` for one result).
    assumed_risk : float or dict, optional
        Assumed control risk (0-1) for the absolute effects of RR, OR, HR and RD
        (per outcome with a dict). Default: the median control-group risk of the
        studies when the table has the 2x2 counts (Cochrane Handbook 14.1.5.1).
    ratings : dict, optional
        The reviewer's GRADE ratings, per outcome ``{"Mortality": {"risk_of_bias":
        "serious", "indirectness": "not serious"}}`` or one dict of domains for every
        outcome. Domains: ``risk_of_bias``, ``inconsistency``, ``indirectness``,
        ``imprecision``, ``publication_bias``; levels ``"not serious"``, ``"serious"``,
        ``"very serious"`` (or 0, -1, -2), optionally ``(level, reason)``. A given
        rating overrides bayesma's proposal, which stays visible in ``.ratings``.
    thresholds : (float, float) or dict, optional
        Thresholds of an appreciable effect on the natural scale (e.g. RR 0.75, 1.25,
        GRADE's default for ratio measures; an MD or SMD needs them given).
    start : "high" or "low", or dict
        Starting certainty: randomized trials high, observational studies low.
    comments : dict, optional
        Free text per outcome.
    title : str, optional
        Caption, e.g. "Intervention compared with control for condition".

    Returns
    -------
    SummaryOfFindings
        ``.table`` (DataFrame, one row per outcome), ``.ratings`` (per outcome and
        domain: the rating used, its source, bayesma's proposal and the reason),
        ``.to_html()``, ``.to_markdown()``, ``.to_docx(path)``.

    Raises
    ------
    BayesmaError
        Unknown outcomes, domains or levels, or results of an unsupported type.
    """
    if isinstance(outcomes, str):  # one name, not a sequence of one-letter names
        outcomes = [outcomes]
    if isinstance(results, Mapping):
        items = list(results.items())
        if outcomes is not None:
            missing = [o for o in outcomes if o not in results]
            if missing:
                raise BayesmaError(f"outcomes: {missing} not in results ({list(results)})")
            items = [(o, results[o]) for o in outcomes]
    else:
        seq = list(results) if isinstance(results, list | tuple) else [results]
        names = list(outcomes) if outcomes is not None else \
            [f"Outcome {i + 1}" for i in range(len(seq))]
        if len(names) != len(seq):
            raise BayesmaError(f"outcomes: {len(names)} names for {len(seq)} results")
        items = list(zip(names, seq, strict=True))
    names = [str(n) for n, _ in items]

    def domain_dict(v: Any) -> bool:
        return isinstance(v, Mapping) and bool(v) and set(v) <= set(DOMAINS)

    rows, rating_rows, notes = [], [], []
    for name, res in items:
        o = _read(name, res)
        user = _per_outcome(ratings, name, names, domain_dict) or {}
        bad = sorted(set(user) - set(DOMAINS))
        if bad:
            raise BayesmaError(f"ratings[{name!r}]: unknown domain(s) {bad}; use "
                               f"{', '.join(DOMAINS)}")
        acr = _per_outcome(assumed_risk, name, names, lambda v: False)
        acr_note = ""
        if acr is None and o.measure.code in ABSOLUTE_MEASURES:
            acr = _control_risk(o.data)
            acr_note = "median control-group risk of the studies" if acr is not None else ""
        if acr is not None and not 0 < _as_float(acr) < 1:
            raise BayesmaError(f"assumed_risk for {name!r} must be in (0, 1); got {acr!r}")
        thr = _per_outcome(thresholds, name, names, lambda v: False)
        if thr is not None and (isinstance(thr, str) or np.ndim(thr) != 1 or len(thr) != 2
                                or np.isnan([_as_float(x) for x in thr]).any()):
            raise BayesmaError(f"thresholds for {name!r} must be two numbers (low, high) on "
                               f"the natural scale; got {thr!r}")
        if thr is None and o.measure.log_scale and o.measure.code in ABSOLUTE_MEASURES:
            thr = RATIO_THRESHOLDS
        n = _participants(o.data)
        binary = o.measure.code in ABSOLUTE_MEASURES
        ois = None
        if binary and acr is not None:
            ois = optimal_information_size(binary=True, acr=float(acr))
        elif o.measure.data_type == "continuous":
            ois = optimal_information_size(binary=False)
        b = o.measure.back

        def show(x: float, _b: Any = b) -> str:
            return fmt_num(float(_b(x)) if np.isfinite(x) else x, 2)

        null_nat = o.measure.natural_null
        nat_ci = (float(b(o.lo)), float(b(o.hi)))
        proposals = {
            "inconsistency": propose_inconsistency(o.i2, o.pi, o.measure.null, o.k, show),
            "imprecision": propose_imprecision(nat_ci, null_nat, thr, n, ois,
                                               lambda x: fmt_num(x, 2),
                                               "CrI" if o.bayesian else "CI"),
            "publication_bias": propose_publication_bias(o.classical),
        }
        used: list[DomainRating] = []
        for dom in DOMAINS:
            prop = proposals.get(dom)
            if dom in user:
                level, reason = parse_rating(dom, user[dom])
                r = DomainRating(dom, level, reason, "user")
            elif prop is not None:
                r = prop
            else:
                r = DomainRating(dom, "not serious", "not rated by the reviewer", "not rated")
            used.append(r)
            rating_rows.append({"Outcome": name, "Domain": DOMAIN_NAMES[dom],
                                "Rating": r.level, "Source": r.source,
                                "bayesma proposal": prop.level if prop else "",
                                "Reason": prop.reason if prop and r.source != "user"
                                else (r.reason or (prop.reason if prop else ""))})
        st = _per_outcome(start, name, names, lambda v: False) or "high"
        grade = certainty_grade(used, st)
        down = [f"{DOMAIN_NAMES[r.domain].lower()} {'\u22122' if r.downgrade == 2 else '\u22121'}"
                f"{' (proposed)' if r.source == 'proposed' else ''}"
                for r in used if r.downgrade]
        unrated = [DOMAIN_NAMES[r.domain].lower() for r in used if r.source == "not rated"]
        ctrl, interv, absolute = _absolute(o, None if acr is None else float(acr))
        kind = "CrI" if o.bayesian else "CI"
        lev = f"{100 * o.level:g}%"
        rel = "\u2013"
        if o.measure.code in ABSOLUTE_MEASURES or o.measure.log_scale:
            rel = (f"{o.measure.short} {show(o.est)} ({lev} {kind} {show(o.lo)} to "
                   f"{show(o.hi)})")
        comment = [str((comments or {}).get(name, ""))] if comments else []
        if acr_note:
            comment.append(f"Assumed control risk: {acr_note}")
        if unrated:
            comment.append("Not rated by the reviewer: " + ", ".join(unrated))
        rows.append({
            "Outcome": name,
            "Participants (studies)": f"{f'{n:,}' if n is not None else '\u2013'} ({o.k})",
            "Relative effect": rel,
            "Risk with control": ctrl,
            "Risk with intervention": interv,
            "Absolute effect": absolute,
            "Certainty": f"{SYMBOLS[grade]} {grade.capitalize()}"
                         + (f" ({', '.join(down)})" if down else ""),
            "Comments": "; ".join(c for c in comment if c),
        })
        notes.append(f"{name}: " + ("; ".join(f"{DOMAIN_NAMES[r.domain]}: {r.level}"
                                               f" \u2013 {r.reason}" for r in used
                                               if r.source == "proposed")))
    return SummaryOfFindings(pd.DataFrame(rows), pd.DataFrame(rating_rows), notes, title)

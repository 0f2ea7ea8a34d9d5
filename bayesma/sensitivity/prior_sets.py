"""Ready-made sets of tau priors for prior-sensitivity sweeps.

``"weakly informative"``: half-normal and half-Cauchy priors at half, once and twice the
default scale of :func:`bayesma.priors.default_priors` (Friede et al. 2017; Röver et al.
2021; Gelman 2006); for log odds ratios (scale 0.5) it holds HalfNormal(1), which the
coverage table of docs/guide/coverage.md finds near nominal with 2 to 10 studies up to
tau = 1, where HalfNormal(0.5) undercovers. ``"vague"``: wide uniform and half-Cauchy
priors, the improper uniform and the Jeffreys prior (Gelman 2006; Röver 2020, sec.
2.5). ``"empirical"``: the published predictive distributions of Turner et al. (2015,
odds ratios), Rhodes et al. (2015, SMDs) and Bartoš et al. (2021; 2023, Cochrane).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bayesma.errors import BayesmaError
from bayesma.priors import (
    HalfCauchy,
    HalfNormal,
    Jeffreys,
    Prior,
    Uniform,
    UniformTau,
    bartos2021,
    default_priors,
    rhodes2015,
    turner2015,
)

__all__ = ["PRIOR_SETS", "as_prior_dict", "prior_set", "tau_prior_set"]

#: Names of the ready-made tau prior sets.
PRIOR_SETS = ("weakly informative", "empirical", "vague")

_RATIO_TURNER = {"OR": "exact", "PETO": "exact", "RR": "approx", "HR": "approx"}
_BARTOS = {"SMD": "SMD", "SMDH": "SMD", "OR": "OR", "PETO": "OR", "RR": "RR", "RD": "RD",
           "HR": "HR"}


def _tau_scale(measure: str | None, yi: Any, vi: Any) -> float:
    """The default tau scale t0 of :func:`bayesma.priors.default_priors`."""
    return float(default_priors(measure, yi, vi)["tau"].sigma)


def _nice(x: float) -> float:
    """Three significant digits, for readable labels."""
    return float(f"{x:.3g}")


def prior_set(name: str, measure: str | None, *, yi: Any = None, vi: Any = None,
                   outcome: Any = None, comparison: Any = None, area: Any = None
                   ) -> tuple[dict[str, Any], list[str]]:
    """(priors by label, notes) of a ready-made set; see :func:`tau_prior_set`."""
    key = " ".join(str(name).lower().replace("_", " ").replace("-", " ").split())
    notes: list[str] = []
    if key in ("weakly informative", "weak", "wi"):
        t0 = _tau_scale(measure, yi, vi)
        why = ("weakly informative half-normal / half-Cauchy at half, once and twice the "
               f"default scale {t0:g} (Friede et al. 2017; Röver et al. 2021; Gelman 2006)")
        out: dict[str, Any] = {}
        for fam in (HalfNormal, HalfCauchy):
            for f in (0.5, 1.0, 2.0):
                p = fam(_nice(f * t0), source=why)
                out[p.describe()] = p
        return out, notes
    if key == "vague":
        t0 = _tau_scale(measure, yi, vi)
        out = {}
        for p in (Uniform(0.0, _nice(10 * t0), source="vague: Uniform(0, 10 t0) (Gelman 2006)"),
                  HalfCauchy(_nice(5 * t0), source="vague: wide half-Cauchy (Gelman 2006)"),
                  UniformTau(source="improper uniform on tau (Röver 2020, sec. 2.5)"),
                  Jeffreys(source="Jeffreys prior (Tibshirani 1989; Röver 2020, sec. 2.5)")):
            out[p.describe()] = p
        return out, notes
    if key in ("empirical", "informative", "presets"):
        code = (measure or "").upper()
        out = {}
        if code in ("SMD", "SMDH"):
            specific = not all(x is None for x in (outcome, comparison, area))
            if specific:
                p = rhodes2015(outcome, comparison, area)
                out[f"Rhodes 2015: {p.describe()}"] = p
            else:
                notes.append("empirical priors: no outcome/comparison/area given, so the "
                             "Rhodes et al. (2015) general-setting prior is used; pass "
                             "outcome=, comparison= and area= for a specific cell")
            p = rhodes2015()
            out[f"Rhodes 2015 general: {p.describe()}"] = p
        elif code in _RATIO_TURNER:
            specific = not all(x is None for x in (outcome, comparison))
            if specific:
                p = turner2015(outcome, comparison)
                out[f"Turner 2015: {p.describe()}"] = p
            else:
                notes.append("empirical priors: no outcome/comparison given, so the Turner "
                             "et al. (2015) general-setting prior is used; pass outcome= "
                             "and comparison= for a specific cell")
            p = turner2015()
            out[f"Turner 2015 general: {p.describe()}"] = p
            if _RATIO_TURNER[code] == "approx":
                notes.append(f"Turner et al. (2015) derived their priors for log odds "
                             f"ratios; for {code} they are an approximation")
        if code in _BARTOS:
            p = bartos2021(_BARTOS[code])["tau"]
            out[f"Bartoš Cochrane: {p.describe()}"] = p
        if not out:
            raise BayesmaError(
                f"no published empirical prior for tau is available for measure "
                f"{measure!r}: Turner et al. (2015) cover odds ratios, Rhodes et al. (2015) "
                "SMDs and Bartoš et al. (2021; 2023) SMD, OR, RR, RD and HR. Use the "
                "'weakly informative' or 'vague' set, or pass your own priors")
        return out, notes
    raise BayesmaError(f"unknown prior set {name!r}; choose one of "
                       f"{', '.join(map(repr, PRIOR_SETS))} or pass a dict of priors")


def tau_prior_set(name: str, measure: str | None = None, *, yi: Any = None, vi: Any = None,
                  outcome: Any = None, comparison: Any = None, area: Any = None
                  ) -> dict[str, Any]:
    """A ready-made set of tau priors for an effect measure.

    Parameters
    ----------
    name : {"weakly informative", "empirical", "vague"}
        The set (see the module documentation for its members and sources).
    measure : str, optional
        Effect measure ("OR", "SMD", ...); scale-dependent measures (MD, GEN, None) need
        ``yi`` and ``vi`` to set the scale.
    yi, vi : array-like, optional
        The data (for the data-scaled default of measures without a natural scale).
    outcome, comparison, area : str, optional
        Cell of the Turner et al. (2015; outcome, comparison) or Rhodes et al. (2015;
        outcome, comparison, area) tables for ``"empirical"``; without them the general
        setting is used.

    Returns
    -------
    dict
        ``{label: Prior}`` in a fixed order; every prior's ``source`` says where it comes
        from.

    Examples
    --------
    >>> tau_prior_set("weakly informative", "SMD")     # doctest: +SKIP
    {'HalfNormal(sigma=0.15)': ..., 'HalfNormal(sigma=0.3)': ..., ...}
    """
    return prior_set(name, measure, yi=yi, vi=vi, outcome=outcome,
                          comparison=comparison, area=area)[0]


def as_prior_dict(spec: Any, what: str, st: Any, presets: dict[str, Any],
                  notes: list[str]) -> dict[str, Any]:
    """Normalise a prior specification into ``{label: Prior}`` (``st``: the Studies)."""
    if spec is None:
        return {}
    if isinstance(spec, Prior):
        return {spec.describe(): spec}
    if isinstance(spec, str):
        if what == "mu":
            raise BayesmaError("mu_priors: ready-made sets exist for tau only; pass a dict "
                               "or a list of mu priors")
        pri, extra = prior_set(spec, st.measure, yi=st.yi, vi=st.vi, **presets)
        notes.extend(extra)
        return pri
    if isinstance(spec, Mapping):
        out = {}
        for lab, p in spec.items():
            if not isinstance(p, Prior):
                raise BayesmaError(f"{what}_priors[{lab!r}] must be a bayesma prior object, "
                                   f"got {p!r}")
            out[str(lab)] = p
        return out
    if isinstance(spec, Sequence):
        out = {}
        for item in spec:
            for lab, p in as_prior_dict(item, what, st, presets, notes).items():
                out[lab] = p
        return out
    raise BayesmaError(f"{what}_priors must be a prior, a dict {{label: prior}}, a list, or "
                       f"a set name; got {spec!r}")

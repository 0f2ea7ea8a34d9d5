"""Priors from spec mappings: families (dispatch on ``family``) and published presets.

``prior_from_spec({"family": "HalfNormal", "sigma": 0.5}, role="tau", where="priors.tau")``
validates everything a spec can get wrong (one of ``family``/``preset``, unknown families,
parameters and preset arguments with a "did you mean" suggestion, numbers, positive
scales, the family fitting the parameter's role) and raises :class:`SpecError` naming
the key path. The error carries ``path`` (keys below ``where``), ``reason`` and ``hint``
so the spec layer can add the file and line. An optional ``source = "..."`` (the
prior's citation or rationale) is kept on the prior's ``source``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bayesma.errors import BayesmaError
from bayesma.priors.base import (
    PRIOR_FAMILIES,
    Prior,
    closest_name,
    prior_spec_error,
    type_name,
)
from bayesma.priors.presets import bartos2021, rhodes2015, turner2015

__all__ = ["PRESETS", "PRIOR_ROLES", "Preset", "families_for", "prior_from_spec",
           "priors_from_specs"]

#: Roles a prior can have and the ``Prior.param`` each accepts.
PRIOR_ROLES: dict[str, str] = {"tau": "tau", "mu": "mu", "beta": "mu"}


@dataclass(frozen=True)
class Preset:
    """A published prior usable in specs as ``{preset = "<name>", <arguments>}``.

    Attributes
    ----------
    name : str
    arguments : tuple of str
        The (string) arguments the spec may give.
    roles : tuple of str
        Roles (``"tau"``, ``"mu"``, ``"beta"``) the preset provides a prior for.
    build : callable
        ``build(role, default_measure, /, **arguments) -> Prior`` (both positional).
    """

    name: str
    arguments: tuple[str, ...]
    roles: tuple[str, ...]
    build: Callable[..., Prior]


def _bartos(role: str, measure: str | None, /, **args: str) -> Prior:
    pair = bartos2021(args.get("measure", measure or "SMD"))
    return pair["tau" if role == "tau" else "mu"]


#: Presets by name (Turner et al. 2015, Rhodes et al. 2015, Bartoš et al. 2021).
PRESETS: dict[str, Preset] = {
    "turner2015": Preset("turner2015", ("outcome", "comparison"), ("tau",),
                         lambda role, measure, /, **a: turner2015(**a)),
    "rhodes2015": Preset("rhodes2015", ("outcome", "comparison", "area"), ("tau",),
                         lambda role, measure, /, **a: rhodes2015(**a)),
    "bartos2021": Preset("bartos2021", ("measure",), ("tau", "mu", "beta"), _bartos),
}


def families_for(role: str) -> list[str]:
    """Names of the registered families usable for ``role`` (``"tau"``, ``"mu"``, ``"beta"``)."""
    want = PRIOR_ROLES[role]
    return [name for name, cls in PRIOR_FAMILIES.items() if cls.param == want]


def prior_from_spec(spec: Mapping[str, Any] | Prior, *, role: str | None = None,
                    where: str = "", measure: str | None = None) -> Prior:
    """Build a validated prior from a spec mapping (or :meth:`Prior.spec` output).

    Parameters
    ----------
    spec : mapping or Prior
        ``{"family": "HalfNormal", "sigma": 0.5}`` (any family of
        :data:`~bayesma.priors.PRIOR_FAMILIES` with its parameters) or
        ``{"preset": "rhodes2015", "outcome": ..., "comparison": ..., "area": ...}``
        (see :data:`PRESETS`); either may add ``source = "..."``, the prior's
        citation or rationale, kept on ``prior.source``. A Prior is returned as is
        (after the role check).
    role : {"tau", "mu", "beta"}, optional
        The parameter the prior is for; the family must fit it.
    where : str
        Key path of the mapping, for messages (e.g. ``"priors.tau"``).
    measure : str, optional
        Default ``measure`` of the ``bartos2021`` preset.

    Returns
    -------
    Prior

    Raises
    ------
    SpecError
        Naming the key path; ``err.path``, ``err.reason`` and ``err.hint`` give the
        parts.
    """
    if role is not None and role not in PRIOR_ROLES:
        raise BayesmaError(f"role must be one of {', '.join(PRIOR_ROLES)}, got {role!r}")
    if isinstance(spec, Prior):
        prior = spec
    elif not isinstance(spec, Mapping):
        raise prior_spec_error(where, (), f"a prior must be a table, got {type_name(spec)} "
                               f"({spec!r})",
                               '{family = "HalfNormal", sigma = 0.5} or '
                               '{preset = "rhodes2015", ...}')
    else:
        has_f, has_p = "family" in spec, "preset" in spec
        if has_f == has_p:
            raise prior_spec_error(where, (), "a prior needs exactly one of 'family' and "
                                   "'preset'", '{family = "HalfNormal", sigma = 0.5} or '
                                   '{preset = "rhodes2015", ...}')
        prior = (_from_family(spec, where) if has_f
                 else _from_preset(spec, role, where, measure))
    if role is not None:
        _check_role(prior, role, where)
    return prior


def priors_from_specs(prior: Any) -> Any:
    """Prior specs (mappings with a ``family``, as a stored fit holds them) -> priors,
    recursively through nested mappings (e.g. one prior per level or outcome); anything
    else (a Prior, a number, None) is returned as is."""
    if isinstance(prior, Mapping) and "family" in prior:
        return prior_from_spec(prior)
    if isinstance(prior, Mapping):
        return {k: priors_from_specs(v) for k, v in prior.items()}
    return prior

def _from_family(spec: Mapping[str, Any], where: str) -> Prior:
    fam = spec["family"]
    if not isinstance(fam, str) or fam not in PRIOR_FAMILIES:
        guess = closest_name(str(fam), list(PRIOR_FAMILIES))
        hint = f"did you mean {guess!r}? " if guess else ""
        raise prior_spec_error(where, ("family",), f"unknown prior family {fam!r}; {hint}"
                               "known: " + ", ".join(PRIOR_FAMILIES))
    return PRIOR_FAMILIES[fam].from_spec(spec, where=where)


def _from_preset(spec: Mapping[str, Any], role: str | None, where: str,
                 measure: str | None) -> Prior:
    name = spec["preset"]
    if not isinstance(name, str) or name not in PRESETS:
        guess = closest_name(str(name), list(PRESETS))
        hint = f"did you mean {guess!r}? " if guess else ""
        raise prior_spec_error(where, ("preset",), f"unknown prior preset {name!r}; {hint}"
                               "known: " + ", ".join(PRESETS))
    preset = PRESETS[name]
    args: dict[str, str] = {}
    source = ""
    for k, v in spec.items():
        if k == "preset":
            continue
        if k != "source" and k not in preset.arguments:
            guess = closest_name(str(k), list(preset.arguments))
            hint = f"did you mean {guess!r}? " if guess else ""
            raise prior_spec_error(where, (str(k),), f"preset {name} has no argument {k!r}; "
                                   f"{hint}arguments: " + ", ".join(preset.arguments))
        if not isinstance(v, str):
            raise prior_spec_error(where, (str(k),),
                                   f"must be a string, got {type_name(v)} ({v!r})")
        if k == "source":
            source = v
        else:
            args[k] = v
    try:
        prior = preset.build(role or preset.roles[0], measure, **args)
    except BayesmaError as exc:
        raise prior_spec_error(where, (), str(exc)) from None
    if role is not None and role not in preset.roles:
        raise prior_spec_error(where, ("preset",), f"{name} is a prior on "
                               f"{' and '.join(preset.roles)}, not on {role}",
                               f"use it under [priors] tau; for {role} give a family")
    if source:  # the user's rationale first, the preset's citation kept after it
        full = f"{source} ({prior.source})" if prior.source else source
        prior = dataclasses.replace(prior, source=full)
    return prior


def _check_role(prior: Prior, role: str, where: str) -> None:
    want = PRIOR_ROLES[role]
    if prior.param == want:
        return
    what = "the heterogeneity tau" if want == "tau" else f"{role} (a location)"
    loc = "location priors: " + ", ".join(families_for("mu"))
    hint = ("tau priors: " + ", ".join(families_for("tau")) + "; " + loc
            if want == "tau" else loc)
    raise prior_spec_error(where, (), f"{prior} is not a prior for {what}", hint)

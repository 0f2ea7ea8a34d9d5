"""Settings of the models for several effects per study: ``multilevel``, ``multivariate``
and ``rve`` in ``[model] type`` (issue 11), checked before anything is fitted.

:func:`resolve_dependent` checks the cluster, effect-id and outcome columns (missing ids
name their rows), reads the random-effects formula with
:func:`bayesma.classical.multilevel.inputs.parse_random` (never evaluated as code), adds
an effect-id column when the spec names none, and builds the tau priors per level
(``[priors] tau`` as one prior for every level or a table level = prior).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from bayesma.classical.multilevel.inputs import parse_random
from bayesma.data import describe_rows
from bayesma.errors import BayesmaError, SpecError
from bayesma.priors import Prior, prior_from_spec
from bayesma.spec.lines import KeyPath, closest
from bayesma.spec.schema import DEPENDENT_TYPES

__all__ = ["DependentSettings", "resolve_dependent"]

Fail = Callable[..., SpecError]


class DependentSettings(dict):
    """The checked settings of a dependent-effects model (a dict, kept in
    ``OutcomeSpec.model["dependent"]``): ``cluster``, ``effect_id``, ``outcome``,
    ``random`` (the formula passed to the engines), ``levels`` (the names of the
    variance components, outer first: the keys of the tau priors)."""


def _col(dat: pd.DataFrame, name: str, path: KeyPath, fail: Fail, label: str | None) -> None:
    if name not in dat.columns:
        cols = [str(c) for c in dat.columns]
        guess = closest(name, cols)
        hint = f"; did you mean {guess!r}?" if guess else ""
        raise fail(path, f"column {name!r} is not in the data{hint}",
                   "columns: " + ", ".join(cols))
    miss = dat[name].isna().to_numpy()
    if miss.any():
        rows = describe_rows(dat, list(dat.index[miss]), slab=label)
        raise fail(path, f"column {name!r} has missing ids in {rows}",
                   "every effect needs its study (cluster) id; fill or filter these rows")


def _unused(dat: pd.DataFrame, base: str) -> str:
    name = base
    while name in dat.columns:
        name = "_" + name
    return name


def _random_levels(text: str, path: KeyPath, fail: Fail) -> list[str]:
    try:
        comps = parse_random(text)
    except BayesmaError as exc:
        raise fail(path, str(exc), 'write it as "~ 1 | study/esid"') from None
    if len(comps) != 2 or comps[1][1][:1] != comps[0][1]:
        raise fail(path, f"{text!r}: a multilevel model needs two nested levels, "
                   "\"~ 1 | study/esid\"", 'e.g. random = "~ 1 | study/esid"')
    return [comps[0][1][0], comps[1][1][-1]]


def resolve_dependent(dat: pd.DataFrame, model: dict[str, Any], morg: dict[str, KeyPath],
                      label: str | None, fail: Fail) -> tuple[pd.DataFrame, DependentSettings]:
    """Check the columns of a ``multilevel`` / ``multivariate`` / ``rve`` model.

    Returns the table (with an added effect-id column for ``multilevel`` specs that name
    none) and the :class:`DependentSettings`.
    """
    mtype = model["type"]
    if mtype not in DEPENDENT_TYPES:  # pragma: no cover - called for these types only
        raise TypeError(mtype)

    def where(key: str) -> KeyPath:
        return morg.get(key, morg.get("type", ("model", "type")))

    cluster = model.get("cluster")
    random = model.get("random")
    if mtype == "multilevel" and random:
        if model.get("effect_id") or cluster:
            raise fail(where("random"), "give either random or cluster (with effect_id), "
                       "not both")
        cluster, eid = _random_levels(random, where("random"), fail)
        _col(dat, cluster, where("random"), fail, label)
        _col(dat, eid, where("random"), fail, label)
    else:
        if random:
            raise fail(where("random"), f"random is for type = 'multilevel', not {mtype!r}")
        if not cluster:
            raise fail(where("type"), f"type = {mtype!r} needs cluster, the column of "
                       "study ids", 'add cluster = "study" to [model]')
        _col(dat, cluster, where("cluster"), fail, label)
        eid = model.get("effect_id")
        if eid:
            if mtype != "multilevel":
                raise fail(where("effect_id"), f"effect_id is for type = 'multilevel', "
                           f"not {mtype!r}")
            _col(dat, eid, where("effect_id"), fail, label)
        elif mtype == "multilevel":
            eid = _unused(dat, "esid")
            dat = dat.copy()
            dat[eid] = [str(i + 1) for i in range(len(dat))]
        random = f"~ 1 | {cluster}/{eid}" if mtype == "multilevel" else None
    outcome = model.get("outcome")
    if mtype == "multivariate":
        if not outcome:
            raise fail(where("type"), "type = 'multivariate' needs outcome, the column of "
                       "outcome names", 'add outcome = "outcome" to [model]')
        _col(dat, outcome, where("outcome"), fail, label)
        if dat[outcome].nunique() < 2:
            raise fail(where("outcome"), f"column {outcome!r} holds one outcome only; a "
                       "univariate model suffices", 'use type = "random_effects"')
    elif outcome:
        raise fail(where("outcome"), f"outcome is for type = 'multivariate', not {mtype!r}")
    sizes = dat.groupby(cluster, sort=False).size()
    if mtype == "multilevel" and (sizes <= 1).all():
        raise fail(where("type"), f"every cluster of {cluster!r} holds one effect: a "
                   "two-level model suffices", 'use type = "random_effects"')
    if mtype == "rve" and len(sizes) < 2:
        raise fail(where("cluster"), f"robust variance estimation needs several clusters; "
                   f"{cluster!r} has {len(sizes)}")
    for key in ("rho", "modelweights", "small", "rho_sensitivity"):
        if mtype != "rve" and key in morg:
            raise fail(morg[key], f"{key} is for type = 'rve', not {mtype!r}")
    if mtype != "multivariate" and "struct" in morg:
        raise fail(morg["struct"], f"struct is for type = 'multivariate', not {mtype!r}")
    if mtype == "rve" and "within_rho" in morg:
        raise fail(morg["within_rho"], "rve takes rho (its working model's correlation), "
                   "not within_rho")
    if mtype == "multivariate":
        levels = [str(x) for x in pd.unique(dat[outcome])]
    elif mtype == "multilevel":
        levels = [cluster, eid]
    else:
        levels = []
    return dat, DependentSettings(cluster=cluster, effect_id=eid if mtype == "multilevel"
                                  else None, outcome=outcome, random=random, levels=levels)


def tau_level_priors(cfg: Any, settings: DependentSettings, default: Prior, path: KeyPath,
                     fail: Fail, *, measure: str | None = None) -> dict[str, Prior]:
    """The tau prior of each level (multilevel) or outcome (multivariate).

    ``cfg`` is the spec's ``[priors] tau``: None (the default prior for every level), one
    prior table (for every level) or a table level = prior, whose keys must be the levels.
    """
    levels = list(settings["levels"])
    if cfg is None:
        return dict.fromkeys(levels, default)

    def build(c: dict[str, Any], sub: KeyPath) -> Prior:
        try:
            return prior_from_spec(c, role="tau", where="", measure=measure)
        except SpecError as exc:
            extra = tuple(getattr(exc, "path", ()))
            raise fail((*sub, *extra), getattr(exc, "reason", str(exc)),
                       getattr(exc, "hint", "")) from None

    if "family" in cfg or "preset" in cfg:
        one = build(cfg, path)
        return dict.fromkeys(levels, one)
    out: dict[str, Prior] = {}
    for name, c in cfg.items():
        if name not in levels:
            guess = closest(str(name), levels)
            hint = f"did you mean {guess!r}? " if guess else ""
            raise fail((*path, name), f"{name!r} is not a level of the model; {hint}levels: "
                       + ", ".join(levels))
        out[name] = build(c, (*path, name))
    missing = [lv for lv in levels if lv not in out]
    if missing:
        raise fail(path, "no tau prior for level(s) " + ", ".join(map(repr, missing)),
                   "give one prior for every level, or a single prior for all")
    return {lv: out[lv] for lv in levels}

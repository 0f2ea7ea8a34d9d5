"""One outcome of a spec: its rows, effect sizes, model, priors and sensitivity settings.

:func:`resolve_outcome` merges the top-level tables with an ``[[outcomes]]`` entry's
overrides, checks columns and settings and builds the priors; warnings raised on the way
(effect sizes, prior caveats such as an empirical prior applied to another measure) are
kept as the outcome's ``caveats`` and repeated in the report.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from bayesma.errors import SpecError
from bayesma.measures import favours_labels
from bayesma.priors import Prior, default_priors, prior_from_spec
from bayesma.spec.bias_pooling import check_bias, check_pooling
from bayesma.spec.data import (
    apply_filter,
    check_mods,
    compute_effect_sizes,
    count_participants,
    default_label,
)
from bayesma.spec.dependent import resolve_dependent, tau_level_priors
from bayesma.spec.lines import KeyPath, closest
from bayesma.spec.model import OutcomeSpec, slug
from bayesma.spec.schema import (
    DEPENDENT_TYPES,
    EFFECT_COLUMNS,
    SCHEMA,
    is_prior_table,
    with_defaults,
)
from bayesma.spec.subgroup_factors import split_subgroup_factors

__all__ = ["build_prior", "merged_section", "resolve_outcome"]

Fail = Callable[..., SpecError]


def build_prior(cfg: dict[str, Any], role: str, path: KeyPath, fail: Fail, *,
                measure: str | None = None) -> Prior:
    """Build a prior from a spec table with :func:`bayesma.priors.prior_from_spec`.

    Parameters
    ----------
    cfg : dict
        ``{"family": "HalfNormal", "sigma": 0.5}`` or ``{"preset": "rhodes2015", ...}``,
        optionally with ``source = "..."`` (the prior's citation or rationale).
    role : {"mu", "tau", "beta"}
        The parameter the prior is for (checked against the family).
    path : tuple
        Key path for messages.
    fail : callable
        Makes the located SpecError.
    measure : str, optional
        Default ``measure`` of the ``bartos2021`` preset.
    """
    try:
        return prior_from_spec(cfg, role=role, where="", measure=measure)
    except SpecError as exc:
        sub = tuple(getattr(exc, "path", ()))
        reason = getattr(exc, "reason", str(exc))
        raise fail((*path, *sub), reason, getattr(exc, "hint", "")) from None


def merged_section(raw: dict[str, Any], section: str, idx: int | None, o: dict[str, Any]
                   ) -> tuple[dict[str, Any], dict[str, KeyPath]]:
    """The top-level ``section`` overridden by the outcome's, and where each key came from.

    An outcome's ``effect`` table naming any column replaces all top-level columns.
    """
    base = dict(raw.get(section, {}))
    origin: dict[str, KeyPath] = {k: (section, k) for k in base}
    over = o.get(section, {})
    if section == "effect" and any(c in over for c in EFFECT_COLUMNS):
        for c in EFFECT_COLUMNS:
            base.pop(c, None)
            origin.pop(c, None)
    for k, v in over.items():
        base[k] = v
        origin[k] = ("outcomes", idx, section, k)  # type: ignore[assignment]
    return base, origin


def _caveats(caught: list[warnings.WarningMessage]) -> list[str]:
    out: list[str] = []
    for w in caught:
        if issubclass(w.category, DeprecationWarning | FutureWarning | PendingDeprecationWarning):
            continue
        msg = str(w.message).strip()
        if msg and msg not in out:
            out.append(msg)
    return out


def _missing_column(c: str, cols: list[str], path: KeyPath, fail: Fail) -> SpecError:
    guess = closest(c, cols)
    hint = f"; did you mean {guess!r}?" if guess else ""
    return fail(path, f"column {c!r} is not in the data{hint}", "columns: " + ", ".join(cols))


def resolve_outcome(raw: dict[str, Any], idx: int | None, o: dict[str, Any],
                    table: pd.DataFrame, title: str, engine: str, fail: Fail) -> OutcomeSpec:
    """Validate one outcome (``o`` is its ``[[outcomes]]`` entry, ``{}`` without any)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = _resolve(raw, idx, o, table, title, engine, fail)
    out.caveats = _caveats(caught)
    return out


def _resolve(raw: dict[str, Any], idx: int | None, o: dict[str, Any], table: pd.DataFrame,
             title: str, engine: str, fail: Fail) -> OutcomeSpec:
    name = o.get("name") or title
    df = table
    if "filter" in o:
        df = apply_filter(df, o["filter"], ("outcomes", idx, "filter"), fail)
    if len(df) == 0:
        key = ("outcomes", idx, "filter") if "filter" in o else ("data", "filter")
        raise fail(key, "no rows left after the filter")
    effect, e_org = merged_section(raw, "effect", idx, o)
    model, m_org = merged_section(raw, "model", idx, o)
    priors_cfg, p_org = merged_section(raw, "priors", idx, o)
    sens, s_org = merged_section(raw, "sensitivity", idx, o)
    bias, b_org = merged_section(raw, "bias", idx, o)
    effect = with_defaults(effect, SCHEMA.fields["effect"])
    model = with_defaults(model, SCHEMA.fields["model"])
    sens = with_defaults(sens, SCHEMA.fields["sensitivity"])
    bias = with_defaults(bias, SCHEMA.fields["bias"])
    effect_path = ("outcomes", idx, "effect") if idx is not None and "effect" in o else (
        "effect",)

    def epath(k: str) -> KeyPath:
        return e_org.get(k, (*effect_path, k))

    # --- columns exist
    cols = [str(c) for c in df.columns]
    made = {n for cv in effect.get("convert") or [] for n in cv.get("into") or ()}
    for k in (*EFFECT_COLUMNS, "label"):
        c = effect.get(k)
        if c is not None and c not in df.columns and c not in made:
            raise _missing_column(c, cols, epath(k), fail)
    parts = effect.get("participants")
    if parts is not None:
        for c in [parts] if isinstance(parts, str) else parts:
            if c not in df.columns:
                raise _missing_column(c, cols, epath("participants"), fail)

    # --- effect sizes
    dat, measure = compute_effect_sizes(df, effect, epath, fail)
    label = effect.get("label") or default_label(dat)
    if effect.get("favours") is None:
        lower = effect.get("lower_is_better")
        effect["favours"] = list(favours_labels(measure, lower_is_better=lower is not False))

    # --- model
    mtype = model["type"]
    split_subgroup_factors(model, m_org.get("by", ("model", "by")), dat, fail)
    if mtype == "meta_regression" and not model.get("mods"):
        raise fail(m_org.get("type", ("model", "type")),
                   "type = 'meta_regression' needs mods", 'add mods = "~ ablat"')
    if mtype == "subgroups" and not model.get("by"):
        raise fail(m_org.get("type", ("model", "type")), "type = 'subgroups' needs by",
                   'add by = "column"')
    if mtype == "subgroups" and model["by"] not in dat.columns:
        raise _missing_column(model["by"], cols, m_org["by"], fail)
    dependent = mtype in DEPENDENT_TYPES
    if dependent:
        dat, model["dependent"] = resolve_dependent(dat, model, m_org, label, fail)
        if mtype == "multivariate" and model.get("mods"):
            raise fail(m_org["mods"], "mods are not supported by type = 'multivariate'")
    if mtype == "meta_regression" or (dependent and model.get("mods")):
        check_mods(dat, model["mods"], label, m_org.get("mods", ("model", "mods")), fail)
    check_pooling(raw.get("classical", {}), effect, measure, fail)
    check_bias(bias, b_org, mtype, fail)

    # --- priors
    explicit: dict[str, Prior] = {}
    tau_map = priors_cfg.get("tau")
    if tau_map is not None and not is_prior_table(tau_map):
        if mtype not in ("multilevel", "multivariate"):
            raise fail(p_org["tau"], "a table of tau priors per level is for type = "
                       "'multilevel' or 'multivariate'; give one prior",
                       'tau = { family = "HalfNormal", sigma = 0.5 }')
        priors_cfg = {k: v for k, v in priors_cfg.items() if k != "tau"}
    else:
        tau_map = None
    for key in ("mu", "tau", "beta"):
        if key in priors_cfg:
            explicit[key] = build_prior(priors_cfg[key], key, p_org[key], fail,
                                        measure=measure)
    defaults = default_priors(measure, yi=dat["yi"].to_numpy(), vi=dat["vi"].to_numpy())
    priors = {"mu": explicit.get("mu", defaults["mu"]),
              "tau": explicit.get("tau", defaults["tau"])}
    if mtype == "meta_regression" or "beta" in explicit or (dependent and model.get("mods")):
        priors["beta"] = explicit.get("beta", defaults.get("beta", defaults["mu"]))
    origin = {k: ("spec" if k in explicit else "default") for k in priors}
    tau_levels: dict[str, Prior] = {}
    if mtype in ("multilevel", "multivariate"):
        tau_cfg0 = tau_map if tau_map is not None else priors_cfg.get("tau")
        tau_levels = tau_level_priors(tau_cfg0, model["dependent"], priors["tau"],
                                      p_org.get("tau", ("priors", "tau")), fail,
                                      measure=measure)
        if tau_map is not None:
            origin["tau"] = "spec"
        if mtype == "multivariate" and engine == "exact":
            raise fail(m_org.get("type", ("model", "type")),
                       "type = 'multivariate' has no exact engine; it is sampled by MCMC",
                       "set engine = 'mcmc' in [sampler] (or --engine mcmc)")
        if mtype == "multivariate" and "eta" in priors_cfg:  # LKJ shape, read by the pipeline
            model["eta"] = float(priors_cfg["eta"])
    if engine == "exact":
        for key in ("mu", "beta"):
            if key in explicit and not explicit[key].is_normal:
                raise fail(p_org[key], f"the exact engine needs a Normal or Flat prior on "
                           f"{key}, got {explicit[key]}",
                           "use engine = 'mcmc' in [sampler] (or --engine mcmc)")

    # --- sensitivity priors and subsets
    for mapkey, role in (("tau_priors", "tau"), ("mu_priors", "mu")):
        sens[mapkey] = {
            pname: build_prior(pcfg, role, (*s_org[mapkey], pname), fail, measure=measure)
            for pname, pcfg in (sens.get(mapkey) or {}).items()}
    sens["subsets"] = [_subset(dat, sub, (*s_org["subsets"], j), fail)
                       for j, sub in enumerate(sens.get("subsets") or [])]

    paths: dict[str, KeyPath] = {f"effect.{k}": v for k, v in e_org.items()}
    paths.update({f"model.{k}": v for k, v in m_org.items()})
    paths.update({f"priors.{k}": v for k, v in p_org.items()})
    paths.update({f"sensitivity.{k}": v for k, v in s_org.items()})
    paths.update({f"bias.{k}": v for k, v in b_org.items()})
    tau_cfg = priors_cfg.get("tau", {}) or {}
    return OutcomeSpec(
        name=str(name), slug=slug(name), index=idx, description=str(o.get("description", "")),
        data=dat, raw_data=df, measure=measure, label=label, effect=effect, model=model,
        priors=priors, prior_origin=origin, sensitivity=sens, bias=bias,
        participants=count_participants(dat, effect), filter=o.get("filter"), paths=paths,
        preset_args=dict(tau_cfg) if "preset" in tau_cfg else {}, tau_levels=tau_levels)


def _subset(dat: pd.DataFrame, sub: dict[str, Any], spath: KeyPath, fail: Fail
            ) -> dict[str, Any]:
    """A ``[[sensitivity.subsets]]`` entry: its name and rule (a rule name or a mask)."""
    if ("exclude" in sub) == ("rule" in sub):
        raise fail(spath, "a subset needs exactly one of exclude = \"<row filter>\" "
                   "and rule = \"rob\" | \"outliers\" | \"influential\"",
                   "e.g. exclude = \"rob == 'high'\"")
    if "exclude" in sub:
        excl = apply_filter(dat, sub["exclude"], (*spath, "exclude"), fail)
        mask = dat.index.isin(excl.index)
        if mask.all():
            raise fail((*spath, "exclude"), f"{sub['exclude']!r} excludes every study")
        rule: Any = np.asarray(mask, dtype=bool)
        sname = sub.get("name") or f"excluding {sub['exclude']}"
    else:
        rule = sub["rule"]
        sname = sub.get("name") or f"excluding {rule}"
    return {"name": sname, "rule": rule, "exclude": sub.get("exclude"), "path": spath}

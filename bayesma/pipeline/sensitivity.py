"""The sensitivity analyses of an outcome (:mod:`bayesma.sensitivity`) and how far the
estimate moves across priors."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from bayesma import sensitivity as sens_mod
from bayesma.errors import BayesmaError, SpecError
from bayesma.pipeline.results import OutcomeResult, Say, failure_text, quiet
from bayesma.spec import OutcomeSpec, Spec
from bayesma.spec.lines import KeyPath

__all__ = ["SHIFT_ROBUST", "SHIFT_SENSITIVE", "prior_shift", "run_sensitivity"]


#: Verdict thresholds of :func:`prior_shift`, in posterior SDs of mu under the spec's prior.
SHIFT_ROBUST, SHIFT_SENSITIVE = 0.25, 0.5


def prior_shift(table: pd.DataFrame, post: Any, level: float) -> dict[str, Any]:
    """How far mu's posterior median moves across priors, relative to its posterior SD.

    The absolute change of the estimate, ``max |median_j - median_spec|``, divided by the
    posterior SD of mu under the spec's prior (the scale on which a reader judges a
    change; Depaoli & van de Schoot 2017, Psychol Methods 22:240, WAMBS checklist item 8:
    compare estimates across priors relative to the posterior uncertainty). Below
    :data:`SHIFT_ROBUST` SDs the result is "robust", from :data:`SHIFT_SENSITIVE` SDs
    "sensitive", between them "moderately sensitive". Also returned: the ratio of the
    widest to the narrowest credible interval (``width_ratio``) and whether every prior
    gives the same conclusion about 0 (``same_conclusion``).
    """
    b = table[table["kind"] == "bayes"]
    if b.empty:
        return {}
    ref = float(post.median("mu"))
    sd = float(post.sd("mu"))
    med = b["mu_median"].to_numpy(float)
    lo, hi = b["mu_low"].to_numpy(float), b["mu_high"].to_numpy(float)
    delta = np.abs(med - ref)
    j = int(np.argmax(delta))
    rel = float(delta[j] / sd) if sd > 0 else math.nan
    widths = hi - lo
    concl = np.where(lo > 0, "above 0", np.where(hi < 0, "below 0", "includes 0"))
    word = ("undetermined" if not math.isfinite(rel) else "robust" if rel < SHIFT_ROBUST
            else "moderately sensitive" if rel < SHIFT_SENSITIVE else "sensitive")
    return {"max_shift": float(delta[j]), "posterior_sd": sd, "shift_in_sd": rel,
            "prior": str(b["tau_prior"].iloc[j]) if "tau_prior" in b else "",
            "width_ratio": float(widths.max() / widths.min()) if widths.min() > 0
            else math.nan,
            "same_conclusion": bool(len(set(concl)) <= 1), "word": word,
            "n_priors": int(len(b)), "level": level}


def _sens_path(o: OutcomeSpec, key: str) -> KeyPath:
    return o.paths.get(f"sensitivity.{key}", ("sensitivity", key))


def _prior_sweep(spec: Spec, res: OutcomeResult, say: Say, progressbar: bool,
                 common: dict[str, Any]) -> Any:
    o = res.spec
    cfg = o.sensitivity
    mu0, tau0 = o.priors["mu"], o.priors["tau"]
    mu_for_exact = mu0 if mu0.is_normal else None
    named_tau = dict(cfg.get("tau_priors") or {})
    named_mu = dict(cfg.get("mu_priors") or {})
    sets = [s.replace("_", " ") for s in (cfg.get("prior_sets") or [])]
    bad = next((n for n, p in named_mu.items() if not p.is_normal), None)
    if bad is not None:
        raise spec.error(_sens_path(o, "mu_priors"),
                         f"{bad!r}: prior sweeps use the exact engine, which needs "
                         "Normal or Flat mu priors")
    preset_args = {k: v for k, v in o.preset_args.items()
                   if k in ("outcome", "comparison", "area")}
    # the spec's prior first, then the named ones, then the sets; one row per prior
    taus: dict[str, Any] = {f"spec: {tau0.describe()}": tau0}
    taus.update(named_tau)
    for set_name in sets:
        try:
            members = sens_mod.tau_prior_set(set_name, o.measure, yi=o.data["yi"].to_numpy(),
                                             vi=o.data["vi"].to_numpy(), **preset_args)
        except BayesmaError as exc:
            res.notes.append(f"prior set {set_name!r} skipped: {exc}")
            continue
        for lab, p in members.items():
            taus.setdefault(f"{set_name}: {lab}", p)
    seen_desc: set[str] = set()
    tau_list: dict[str, Any] = {}
    for lab, p in taus.items():
        if p.describe() not in seen_desc:
            seen_desc.add(p.describe())
            tau_list[lab] = p
    mu_dict = None
    if named_mu:
        mu_dict = {f"spec: {mu0.describe()}": mu0} if mu_for_exact is not None else {}
        mu_dict.update(named_mu)
    say(f"prior sensitivity ({len(tau_list)} tau priors"
        + (f" incl. sets: {', '.join(sets)}" if sets else "")
        + (f"; {len(mu_dict)} mu priors" if mu_dict else "") + ")")
    cls = spec.classical
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return sens_mod.prior_sensitivity(
            o.data, tau_priors=tau_list, mu_priors=mu_dict if mu_dict else mu_for_exact,
            engine="exact", classical=cls["method"], classical_test=cls["test"],
            progress=progressbar, **common)


def run_sensitivity(spec: Spec, res: OutcomeResult, *, say: Say = quiet,
                    progressbar: bool = False) -> dict[str, Any]:
    """The sensitivity analyses of an outcome (:mod:`bayesma.sensitivity`).

    Prior sweeps, leave-one-out and subsets use the exact engine (instant) whatever the
    spec's engine; power scaling (psense) needs MCMC draws.

    Returns
    -------
    dict
        ``priors`` (PriorSensitivity), ``leave1out`` (BayesLeave1Out), ``subsets``
        (SensitivitySubsets), ``psense`` (its table), each when asked for and computable.
    """
    o = res.spec
    cfg = o.sensitivity
    out: dict[str, Any] = {}
    cls = spec.classical
    mu0, tau0 = o.priors["mu"], o.priors["tau"]
    mu_for_exact = mu0 if mu0.is_normal else None
    common = dict(measure=o.measure, slab=o.label, level=float(o.model["level"]))
    if cfg.get("tau_priors") or cfg.get("mu_priors") or cfg.get("prior_sets"):
        try:
            out["priors"] = _prior_sweep(spec, res, say, progressbar, common)
        except SpecError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed check becomes a note
            res.notes.append(f"prior sensitivity not computed: {failure_text(exc)}")
    if cfg.get("leave1out"):
        if o.k < 3:
            res.notes.append(f"leave-one-out skipped: k = {o.k} < 3")
        else:
            say(f"leave-one-out ({o.k} studies, exact engine)")
            try:
                out["leave1out"] = sens_mod.bayes_leave1out(
                    o.data, mu_prior=mu_for_exact, tau_prior=tau0, classical=cls["method"],
                    classical_test=cls["test"], **common)
            except Exception as exc:  # noqa: BLE001
                res.notes.append(f"Bayesian leave-one-out not computed: {failure_text(exc)}")
    if cfg.get("subsets"):
        rules = {sub["name"]: sub["rule"] for sub in cfg["subsets"]}
        say(f"sensitivity subsets ({len(rules)})")
        try:
            out["subsets"] = sens_mod.sensitivity_subsets(
                o.data, rules=rules, mu_prior=mu_for_exact, tau_prior=tau0,
                classical=cls["method"], classical_test=cls["test"], **common)
        except Exception as exc:  # noqa: BLE001
            res.notes.append(f"sensitivity subsets not computed: {failure_text(exc)}")
    if cfg.get("psense") and res.bayes is not None:
        say("power-scaling prior sensitivity (psense)")
        try:
            out["psense"] = sens_mod.psense(res.bayes)
        except Exception as exc:  # noqa: BLE001 - informative only
            res.notes.append(f"psense not computed: {failure_text(exc)}")
    return out

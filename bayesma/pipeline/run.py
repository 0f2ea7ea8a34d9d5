"""Running a spec's outcomes: classical twin, Bayesian model(s), checks, sensitivity."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesma.bayes.protocol import Posterior
from bayesma.classical import fsn, ranktest, regtest, subgroup, trimfill
from bayesma.errors import BayesmaError, SpecError
from bayesma.pipeline.bias_models import run_bias_models
from bayesma.pipeline.dependent import dependent_overview, run_dependent
from bayesma.pipeline.models import fit_bayes, fit_classical, level_params, subgroup_differences
from bayesma.pipeline.pooling import run_pooling
from bayesma.pipeline.results import OutcomeResult, Say, SpecResult, failure_text, quiet
from bayesma.pipeline.sensitivity import prior_shift, run_sensitivity
from bayesma.pipeline.subgroup_factors import run_subgroup_factors
from bayesma.pipeline.tables import overview_row, summary_table
from bayesma.spec import OutcomeSpec, Spec, load_spec, load_spec_from, study_sizes

__all__ = ["run_analysis", "run_outcome"]


def run_analysis(spec: Spec | str | Path, *, engine: str | None = None,
                 seed: int | None = None, progress: Say | None = None,
                 progressbar: bool = False) -> SpecResult:
    """Compute every outcome of a spec (no files written).

    Parameters
    ----------
    spec : Spec, str or Path
        A loaded spec or a spec file.
    engine : {"exact", "mcmc"}, optional
        Override the spec's engine.
    seed : int, optional
        Override the spec's seed.
    progress : callable, optional
        Called with one line of text per step.
    progressbar : bool
        Show the MCMC sampler's progress bar.

    Returns
    -------
    SpecResult
    """
    if not isinstance(spec, Spec):
        spec = load_spec(spec, overrides={"engine": engine, "seed": seed})
    elif engine is not None or seed is not None:
        spec = load_spec_from(spec, engine=engine, seed=seed)
    say = progress or quiet
    if spec.sampler.get("seed") is None:
        spec.sampler["seed"] = int(np.random.SeedSequence().entropy % (2**31 - 1))
        spec.overrides.setdefault("seed", spec.sampler["seed"])
    results = []
    n = len(spec.outcomes)
    for j, o in enumerate(spec.outcomes):
        t0 = time.perf_counter()
        prefix = f"[{j + 1}/{n}] {o.name}: " if n > 1 else ""
        res = run_outcome(spec, o, say=lambda m, p=prefix: say(p + m),
                          progressbar=progressbar)
        res.seconds = time.perf_counter() - t0
        results.append(res)
    return SpecResult(spec=spec, outcomes=results)



def _bias(res: OutcomeResult) -> dict[str, Any]:
    cfg, c = res.spec.bias, res.classical
    out: dict[str, Any] = {}
    pred = cfg["egger_predictor"]
    ni = None
    if pred in ("ni", "ninv", "sqrtni", "sqrtninv"):
        ni = study_sizes(res.spec.data, res.spec.effect)
        if ni is None:
            res.notes.append(f"Egger-type test: predictor {pred!r} needs sample sizes "
                             "(n1i and n2i, ni, or [effect] participants); used 'sei'")
            pred = "sei"
    jobs = [("egger", lambda: regtest(c, predictor=pred, ni=ni)),
            ("trimfill", lambda: trimfill(c)),
            ("ranktest", lambda: ranktest(c)),
            ("fsn", lambda: fsn(res.spec.data))]
    for name, job in jobs:
        if not cfg.get(name):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[name] = job()
        except Exception as exc:  # noqa: BLE001 - a failed check becomes a note
            res.notes.append(f"{name}: not computed ({failure_text(exc)})")
    if c.k < 10 and any(cfg.get(n) for n in ("egger", "ranktest", "trimfill", "funnel")):
        res.notes.append(
            f"k = {c.k} < 10: funnel-plot asymmetry tests have low power and are not "
            "recommended (Sterne et al. 2011, BMJ 343:d4002)")
    return out


def _all_bias(spec: Spec, res: OutcomeResult, say: Say) -> None:
    if any(res.spec.bias.get(n) for n in ("egger", "trimfill", "ranktest", "fsn")):
        say("small-study checks")
    res.bias = _bias(res)
    res.bias.update(run_bias_models(res, seed=spec.sampler.get("seed"), say=say))


def _run_dependent(spec: Spec, o: OutcomeSpec, res: OutcomeResult, say: Say,
                   progressbar: bool) -> None:
    """Multilevel, multivariate and RVE outcomes (:mod:`bayesma.pipeline.dependent`); the
    small-study checks and bias models use the univariate fit of all effects, with a
    note that it ignores the dependence."""
    run_dependent(spec, o, res, say, progressbar)
    res.overview = dependent_overview(res, spec.engine)
    bias_asked = any(o.bias.get(n) for n in ("egger", "trimfill", "ranktest", "fsn",
                                             "pet_peese", "bma", "robma", "selmodel"))
    if bias_asked and o.model["type"] != "multivariate":
        res.classical = fit_classical(o, spec)
        _all_bias(spec, res, say)
        res.notes.append("small-study checks and publication-bias models treat the "
                         f"{o.k} effects as independent (one univariate model)")
    asked = [k for k in o.paths if k.startswith("sensitivity.")]
    if asked:
        res.notes.append("sensitivity analyses (" + ", ".join(a.split(".", 1)[1]
                         for a in asked) + ") are not available for this model type")
    res.diagnostics = _diagnostics(res.bayes, spec.engine)


def _diagnostics(post: Any, engine: str) -> pd.DataFrame | None:
    if engine != "mcmc" or not isinstance(post, Posterior):
        return None
    try:
        return post.diagnostics()
    except Exception:  # noqa: BLE001 - diagnostics are informative
        return None


def run_outcome(spec: Spec, o: OutcomeSpec, *, say: Say = quiet,
                progressbar: bool = False) -> OutcomeResult:
    """Fit one outcome: classical twin, Bayesian model(s), bias checks, sensitivity.

    Warnings raised on the way (and the outcome's caveats from reading the spec) become
    the result's ``notes``, which the report repeats.
    """
    res = OutcomeResult(spec=o)
    seen: list[str] = list(o.caveats)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _run(spec, o, res, say, progressbar)
        except SpecError:
            raise
        except BayesmaError as exc:
            where = ("outcomes", o.index) if o.index is not None else ()
            raise spec.error(where, f"outcome {o.name!r}: {exc}") if where else type(exc)(
                f"{o.name}: {exc}") from None
    for w in caught:
        msg = str(w.message).strip()
        if issubclass(w.category, DeprecationWarning | FutureWarning | PendingDeprecationWarning):
            continue
        if msg and msg not in seen:
            seen.append(msg)
    res.notes = seen + res.notes
    return res


def _run(spec: Spec, o: OutcomeSpec, res: OutcomeResult, say: Say, progressbar: bool) -> None:
    cls = spec.classical
    if o.dependent is not None:
        _run_dependent(spec, o, res, say, progressbar)
        return
    say(f"classical random-effects model ({cls['method']}, {cls['test']}), k = {o.k}")
    res.classical = fit_classical(o, spec)
    engine = "exact posterior (quadrature)" if spec.engine == "exact" else (
        f"MCMC ({spec.sampler['sampler']}, {spec.sampler['chains']} chains x "
        f"{spec.sampler['draws']} draws)")
    say(f"Bayesian random-effects model: {engine}")
    res.bayes = fit_bayes(spec, o, progressbar=progressbar)
    mtype = o.model["type"]
    level = float(o.model["level"])
    if mtype == "meta_regression":
        say(f"meta-regression {o.model['mods']}")
        res.moderator_classical = fit_classical(o, spec, mods=o.model["mods"])
        res.moderator_bayes = fit_bayes(spec, o, "meta_regression", progressbar=progressbar)
    elif mtype == "subgroups":
        by = o.model["by"]
        say(f"subgroups by {by} (tau {o.model['tau']})")
        res.moderator_classical = subgroup(
            o.data, by=by, method=cls["method"], test=cls["test"],
            level=o.model["level"], slab=o.label)
        fit = fit_bayes(spec, o, "subgroups", progressbar=progressbar)
        exact_levels = fit if not isinstance(fit, Posterior) else None
        res.moderator_bayes = dict(fit.fits) if exact_levels is not None else fit
        params = level_params(res.moderator_bayes, spec.engine, by)
        res.subgroup_differences = subgroup_differences(
            res.moderator_bayes, params, level, exact=exact_levels)
    res.summary = summary_table(res, spec.engine, spec.classical)
    res.overview = overview_row(res, spec.engine)
    res.pooling = run_pooling(spec, res, say=say)
    res.factors = run_subgroup_factors(spec, o, res, say)
    _all_bias(spec, res, say)
    res.sensitivity = run_sensitivity(spec, res, say=say, progressbar=progressbar)
    if "priors" in res.sensitivity:
        res.prior_shift = prior_shift(res.sensitivity["priors"].table, res.bayes, level)
    res.diagnostics = _diagnostics(res.main, spec.engine)

"""Several effects per study: the ``multilevel``, ``multivariate`` and ``rve`` models of a
spec (issue 11), fitted through the public API.

* ``multilevel``: Bayesian three-level model (``bm.exact_posterior(random=...)`` with
  the exact 2-D engine, or ``bm.Multilevel`` by MCMC); classical twin ``bm.rma_mv``
  (REML) with CR2 cluster-robust inference (``bm.robust(..., clubSandwich=True)``;
  Pustejovsky & Tipton 2018) and metafor's multilevel I² per level.
* ``rve``: robumeta's robust variance estimation (``bm.robu``; Hedges, Tipton & Johnson
  2010; Tipton 2015) with its rho sensitivity table; the Bayesian three-level model
  (study / effect) beside it.
* ``multivariate``: ``bm.Multivariate`` (one mu and tau per outcome, LKJ prior on the
  correlation) by MCMC; classical twin ``bm.rma_mv(random="~ outcome | study",
  struct=...)``.

``V`` is diagonal (``vi``) unless the spec gives ``within_rho``: then ``bm.vcalc``
builds the block-diagonal sampling covariance of the effects of each study.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from bayesma.bayes.exact import exact_posterior
from bayesma.bayes.models.multilevel import Multilevel
from bayesma.bayes.models.multivariate import Multivariate
from bayesma.classical import rma_mv, robust
from bayesma.classical.robu import robu
from bayesma.classical.vcalc import vcalc
from bayesma.measures import get_measure
from bayesma.pipeline.results import OutcomeResult, Say, failure_text
from bayesma.pipeline.tables import benefit_text
from bayesma.spec import OutcomeSpec, Spec

__all__ = ["DependentResult", "dependent_overview", "run_dependent"]


_EXP = ("median", "low", "high")


@dataclass
class DependentResult:
    """What a dependent-effects outcome computed (besides ``OutcomeResult.bayes``).

    Attributes
    ----------
    kind : {"multilevel", "multivariate", "rve"}
    classical : RMAMVResult or None
        ``rma_mv`` fit (multilevel twin, or the multivariate ``struct`` model).
    robust : RobustResult or None
        CR2 inference of ``classical``, clustered by study.
    robu : RobuResult or None
        robumeta's RVE fit (``rve``).
    rho_table : DataFrame or None
        ``robu(...).sensitivity(rho=...)``.
    i2_levels : Series or None
        metafor's multilevel I² per level (percent).
    V : ndarray or None
        The sampling covariance built with ``bm.vcalc`` (None: diagonal).
    levels : list of str
        Variance-component levels (outer first) or outcomes.
    """

    kind: str
    classical: Any = None
    robust: Any = None
    robu: Any = None
    rho_table: pd.DataFrame | None = None
    i2_levels: pd.Series | None = None
    V: np.ndarray | None = None
    levels: list[str] = field(default_factory=list)
    n_clusters: int = 0


def _build_v(o: OutcomeSpec, dep: dict[str, Any]) -> np.ndarray | None:
    """V from ``within_rho`` with ``bm.vcalc`` (metafor's vcalc): effects of one
    construct (multilevel: ``obs`` = effect id) or of several outcomes (multivariate:
    ``type`` = outcome) correlated by rho within a study."""
    rho = o.model.get("within_rho")
    if rho is None:
        return None
    kw: dict[str, Any] = {"data": o.data, "rho": float(rho)}
    if dep.get("outcome"):
        kw["type"] = dep["outcome"]
    else:
        kw["obs"] = dep["effect_id"]
    return np.asarray(vcalc("vi", dep["cluster"], **kw), dtype=float)


def _stats(post: Any, param: str, level: float) -> dict[str, float]:
    lo, hi = post.interval(param, prob=level)
    return {"bayes_mean": float(post.mean(param)), "bayes_sd": float(post.sd(param)),
            "bayes_median": float(post.median(param)), "bayes_low": float(lo),
            "bayes_high": float(hi)}


def _coef_row(coef: pd.DataFrame | None, term: str) -> dict[str, float]:
    if coef is None or term not in coef.index:
        return {}
    r = coef.loc[term]
    return {"classical": float(r["estimate"]), "classical_low": float(r["ci_low"]),
            "classical_high": float(r["ci_high"]), "classical_pval": float(r["pval"])}


def _mv_method(spec: Spec) -> str:
    """The estimator of the rma_mv twin: the spec's when rma_mv has it (REML, ML)."""
    m = str(spec.classical.get("method", "REML"))
    return m if m in ("REML", "ML") else "REML"


def _mods(o: OutcomeSpec) -> Any:
    return o.model.get("mods") or None


def _bayes_multilevel(spec: Spec, o: OutcomeSpec, random: str, V: Any, tau: dict[str, Any],
                      progressbar: bool) -> Any:
    kw: dict[str, Any] = dict(random=random, V=V, mods=_mods(o), mu_prior=o.priors["mu"],
                              tau_prior=tau)
    if _mods(o):
        kw["beta_prior"] = o.priors.get("beta", o.priors["mu"])
    kw.update(measure=o.measure, slab=o.label)
    if spec.engine == "exact":
        return exact_posterior(o.data, yi="yi", vi="vi", level=float(o.model["level"]), **kw)
    s = spec.sampler
    return Multilevel(o.data, yi="yi", vi="vi", **kw).fit(
        draws=int(s["draws"]), tune=int(s["tune"]), chains=int(s["chains"]),
        random_seed=int(s["seed"]), progressbar=progressbar)


def _fit_multilevel(spec: Spec, o: OutcomeSpec, dr: DependentResult, say: Say,
                    progressbar: bool, res: OutcomeResult) -> Any:
    dep = o.dependent or {}
    cluster, random = dep["cluster"], dep["random"]
    level = float(o.model["level"])
    say(f"classical three-level model: rma_mv(random = {random!r}, REML) with CR2")
    dr.classical = rma_mv(o.data, yi="yi", vi=None if dr.V is not None else "vi", V=dr.V,
                          random=random, mods=_mods(o), level=level, slab=o.label,
                          measure=o.measure, method=_mv_method(spec))
    try:
        dr.robust = robust(dr.classical, cluster=o.data[cluster].to_numpy(),
                           clubSandwich=True, level=level)
    except Exception as exc:  # noqa: BLE001 - model-based SEs remain; say why
        res.notes.append(f"CR2 robust inference not computed: {failure_text(exc)}")
    dr.i2_levels = getattr(dr.classical, "i2_levels", None)
    engine = "exact 2-D quadrature" if spec.engine == "exact" else "MCMC (Multilevel)"
    say(f"Bayesian three-level model: {engine}")
    return _bayes_multilevel(spec, o, random, dr.V, o.tau_levels, progressbar)


def _fit_rve(spec: Spec, o: OutcomeSpec, dr: DependentResult, say: Say, progressbar: bool,
             res: OutcomeResult) -> Any:
    m = o.model
    cluster = (o.dependent or {})["cluster"]
    say(f"robust variance estimation: robu({m['modelweights']}, rho = {m['rho']}, "
        f"small = {m['small']})")
    dr.robu = robu(o.data, yi="yi", vi="vi", studynum=cluster, mods=_mods(o),
                   modelweights=m["modelweights"], rho=float(m["rho"]), small=bool(m["small"]))
    if m["modelweights"] == "CORR":
        dr.rho_table = dr.robu.sensitivity(rho=[float(x) for x in m["rho_sensitivity"]])
    sizes = o.data.groupby(cluster, sort=False).size()
    if (sizes <= 1).all():
        res.notes.append("every study holds one effect: the Bayesian model beside RVE is "
                         "the two-level random-effects model")
        return exact_posterior(o.data, yi="yi", vi="vi", mu_prior=o.priors["mu"],
                               tau_prior=o.priors["tau"], level=float(m["level"]),
                               slab=o.label, measure=o.measure)
    data = o.data.copy()
    eid = "_effect"
    while eid in data.columns:
        eid = "_" + eid
    data[eid] = [str(i + 1) for i in range(len(data))]
    o_tmp = _with_data(o, data)
    tau = {cluster: o.priors["tau"], eid: o.priors["tau"]}
    say("Bayesian three-level model beside RVE (study / effect)")
    dr.levels = [cluster, eid]
    return _bayes_multilevel(spec, o_tmp, f"~ 1 | {cluster}/{eid}", None, tau, progressbar)


def _with_data(o: OutcomeSpec, data: pd.DataFrame) -> OutcomeSpec:
    return replace(o, data=data)


def _fit_multivariate(spec: Spec, o: OutcomeSpec, dr: DependentResult, say: Say,
                      progressbar: bool, res: OutcomeResult) -> Any:
    dep = o.dependent or {}
    cluster, outcome = dep["cluster"], dep["outcome"]
    struct = o.model["struct"]
    level = float(o.model["level"])
    say(f"classical multivariate model: rma_mv(random = ~ {outcome} | {cluster}, "
        f"struct = {struct!r})")
    # the outcome is a factor even when coded by numbers (a numeric column would be read
    # as one slope); its levels are then the spec's (str of each value)
    data = o.data.assign(**{outcome: o.data[outcome].astype(str)})
    dr.classical = rma_mv(data, yi="yi", vi=None if dr.V is not None else "vi", V=dr.V,
                          random=f"~ {outcome} | {cluster}", struct=struct,
                          mods=f"~ 0 + {outcome}", level=level, slab=o.label,
                          measure=o.measure, method=_mv_method(spec))
    s = spec.sampler
    kw: dict[str, Any] = {"mu_prior": o.priors["mu"], "tau_prior": dict(o.tau_levels),
                          "level": level, "measure": o.measure, "slab": o.label}
    if o.model.get("eta") is not None:
        kw["lkj_eta"] = float(o.model["eta"])
    say("Bayesian multivariate model (MCMC)")
    return Multivariate(o.data, yi="yi", vi="vi", outcome=outcome, study=cluster, V=dr.V,
                        **kw).fit(draws=int(s["draws"]), tune=int(s["tune"]),
                                  chains=int(s["chains"]), random_seed=int(s["seed"]),
                                  progressbar=progressbar)


def run_dependent(spec: Spec, o: OutcomeSpec, res: OutcomeResult, say: Say,
                  progressbar: bool) -> None:
    """Fit a dependent-effects outcome; fills ``res.dependent``, ``res.bayes`` and
    ``res.summary``."""
    kind = o.model["type"]
    dep = o.dependent or {}
    dr = DependentResult(kind=kind, levels=list(dep.get("levels", [])),
                         n_clusters=int(o.data[dep["cluster"]].nunique()))
    res.dependent = dr
    if kind != "rve":
        dr.V = _build_v(o, dep)
    fit = {"multilevel": _fit_multilevel, "rve": _fit_rve,
           "multivariate": _fit_multivariate}[kind]
    res.bayes = fit(spec, o, dr, say, progressbar, res)
    res.summary = dependent_summary(res)


def _classical_coef(dr: DependentResult) -> pd.DataFrame | None:
    if dr.robu is not None:
        return dr.robu.coef
    if dr.robust is not None:
        return dr.robust.coef
    return dr.classical.coef if dr.classical is not None else None


def _tau_classical(dr: DependentResult) -> dict[str, float]:
    """Classical tau of each level / outcome (sqrt of the variance components)."""
    out: dict[str, float] = {}
    if dr.kind == "rve" and dr.robu is not None:
        out["tau"] = math.sqrt(max(float(dr.robu.tau2), 0.0))
        om = getattr(dr.robu, "omega2", None)
        if om is not None and np.isfinite(om):
            out["omega"] = math.sqrt(max(float(om), 0.0))
        return out
    c = dr.classical
    if c is None:
        return out
    if dr.kind == "multilevel":
        for name, s2 in zip(dr.levels, np.asarray(c.sigma2, float), strict=False):
            out[name] = math.sqrt(max(float(s2), 0.0))
    else:  # rma_mv's inner levels are sorted; the spec's levels are in data order
        names = [str(x) for x in (getattr(c, "inner_levels", None) or dr.levels)]
        for name, t2 in zip(names, np.atleast_1d(np.asarray(c.tau2, float)), strict=False):
            out[name] = math.sqrt(max(float(t2), 0.0))
    return out


def dependent_summary(res: OutcomeResult) -> pd.DataFrame:
    """Bayesian and classical estimates side by side (the columns of
    :func:`bayesma.pipeline.summary_table`), one row per quantity of the model."""
    o, dr, post = res.spec, res.dependent, res.bayes
    level = float(o.model["level"])
    coef = _classical_coef(dr)
    m = get_measure(o.measure)
    rows: list[dict[str, Any]] = []

    def add(param: str, label: str, query: str | None, term: str | None = None,
            classical: float | None = None) -> None:
        row: dict[str, Any] = {"outcome": o.name, "parameter": param, "label": label}
        if post is not None and query is not None:
            try:
                row.update(_stats(post, query, level))
                if query.split("[")[0] in ("mu", "beta"):
                    row["p_below_0"] = float(post.prob_less(query, 0.0))
            except Exception:  # noqa: BLE001 - a parameter this engine does not have
                pass
        if term is not None:
            row.update(_coef_row(coef, term))
        if classical is not None:
            row["classical"] = classical
        rows.append(row)

    terms = list(coef.index) if coef is not None else ["intrcpt"]
    taus = _tau_classical(dr)
    if dr.kind == "multivariate":
        for lv in dr.levels:
            term = next((t for t in terms if t.endswith(f"[{lv}]") or t.endswith(lv)), None)
            add(f"mu[{lv}]", f"Pooled effect: {lv}", f"mu[{lv}]", term)
        for lv in dr.levels:
            add(f"tau[{lv}]", f"Between-study SD: {lv}", f"tau[{lv}]",
                classical=taus.get(lv))
    else:
        for t in terms:
            param = "mu" if t == "intrcpt" else f"beta[{t}]"
            lab = "Pooled effect (mu)" if t == "intrcpt" else f"Slope: {t}"
            add(param, lab, param, t)
        names = list(dr.levels)
        for j, lv in enumerate(names):
            what = "Between-study SD" if j == 0 else "Within-study SD"
            shown = lv if not lv.startswith("_") else "effect"
            cl = taus.get(lv)
            if dr.kind == "rve":
                cl = taus.get("tau") if j == 0 else taus.get("omega")
            add(f"tau[{shown}]", f"{what} (tau[{shown}])", f"tau[{lv}]", classical=cl)
        if dr.kind == "rve" and not names:
            add("tau", "Between-study SD (tau)", "tau", classical=taus.get("tau"))
    df = pd.DataFrame(rows)
    order = ["outcome", "parameter", "label", "bayes_mean", "bayes_sd", "bayes_median",
             "bayes_low", "bayes_high", "p_below_0", "classical", "classical_low",
             "classical_high", "classical_pval"]
    for c in order:
        if c not in df:
            df[c] = np.nan
    df = df[order].copy()
    df[order[3:]] = df[order[3:]].astype(float)
    if m.log_scale:
        loc = df["parameter"].str.match(r"^(mu|beta)")
        for src, dst in (("bayes_median", "exp_bayes_median"), ("bayes_low", "exp_bayes_low"),
                         ("bayes_high", "exp_bayes_high"), ("classical", "exp_classical"),
                         ("classical_low", "exp_classical_low"),
                         ("classical_high", "exp_classical_high")):
            df[dst] = np.where(loc, [m.back(float(x)) for x in df[src]], np.nan)
    df.attrs["level"] = level
    df.attrs["measure"] = o.measure
    return df


def dependent_overview(res: OutcomeResult, engine: str) -> dict[str, Any]:
    """The overview row of a dependent-effects outcome (the first pooled row; tau and I²
    are per level and shown in the outcome's variance-components table)."""
    o, s = res.spec, res.summary
    first = s.iloc[0]
    c = res.dependent
    i2 = math.nan
    if c is not None and c.i2_levels is not None:
        i2 = float(np.nansum(np.asarray(c.i2_levels, float)))
    elif c is not None and c.robu is not None and getattr(c.robu, "i2", None) is not None:
        i2 = float(c.robu.i2)
    p_below = float(first["p_below_0"]) if pd.notna(first["p_below_0"]) else math.nan
    lower = o.lower_is_better
    return {
        "outcome": o.name, "measure": o.measure, "k": int(o.k),
        "participants": o.participants,
        "mu_median": float(first["bayes_median"]), "mu_low": float(first["bayes_low"]),
        "mu_high": float(first["bayes_high"]),
        "classical": float(first["classical"]), "classical_low": float(first["classical_low"]),
        "classical_high": float(first["classical_high"]),
        "tau_median": math.nan, "tau_low": math.nan, "tau_high": math.nan,
        "i2_median": math.nan, "i2_classical": i2, "p_below_0": p_below,
        "benefit": benefit_text(o), "lower_is_better": lower,
        "p_benefit": (p_below if lower else 1.0 - p_below) if lower is not None else math.nan,
        "engine": engine, "level": float(o.model["level"]),
        "parameter": str(first["parameter"]),
    }

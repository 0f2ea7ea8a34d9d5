"""Publication-bias models of a spec's ``[bias]`` section (issue 12), through the public
API: selection models (``bm.selmodel``, metafor 3.8's ``selmodel``), PET-PEESE
(``bm.pet_peese``; Stanley & Doucouliagos 2014), Bayesian model averaging
(``bm.bma``, metaBMA's ``meta_bma``) and RoBMA-PSMA (``bm.RoBMA``; Bartoš et al. 2023).

They complement the classical small-study checks of :mod:`bayesma.pipeline.run` (Egger,
rank test, trim-and-fill, fail-safe N). A model that cannot be fitted becomes a note in
the report, never an abort.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from bayesma.bayes.averaging import RoBMA, bma
from bayesma.classical.bias import pet_peese
from bayesma.classical.selection import selmodel
from bayesma.pipeline.results import OutcomeResult, Say, failure_text
from bayesma.priors import Normal

__all__ = ["run_bias_models"]


def _try(res: OutcomeResult, name: str, job: Callable[[], Any]) -> Any:
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = job()
        for w in caught:
            msg = str(w.message).strip()
            if msg and not issubclass(w.category, DeprecationWarning | FutureWarning):
                note = f"{name}: {msg}"
                if note not in res.notes:
                    res.notes.append(note)
        return out
    except Exception as exc:  # noqa: BLE001 - a failed model becomes a note
        res.notes.append(f"{name}: not computed ({failure_text(exc)})")
        return None


def run_bias_models(res: OutcomeResult, *, seed: int | None, say: Say) -> dict[str, Any]:
    """Fit the ``[bias]`` models of an outcome on its classical random-effects fit and
    study table; returns ``{"selmodel": {type: result}, "pet_peese": ..., "bma": ...,
    "robma": ...}`` (the keys asked for and computed)."""
    o, c = res.spec, res.classical
    cfg = o.bias
    out: dict[str, Any] = {}
    types = list(cfg.get("selmodel") or [])
    if types:
        say("selection models: " + ", ".join(types))
        fits = {}
        for t in types:
            steps = [float(x) for x in cfg["steps"]] if t == "stepfun" else None
            fit = _try(res, f"selection model ({t})", lambda t=t, steps=steps: selmodel(
                c, type=t, steps=steps, alternative=cfg["alternative"]))
            if fit is not None:
                fits[t] = fit
        if fits:
            out["selmodel"] = fits
    if cfg.get("pet_peese"):
        say("PET-PEESE")
        pp = _try(res, "PET-PEESE", lambda: pet_peese(c))
        if pp is not None:
            out["pet_peese"] = pp
    mu, tau = o.priors["mu"], o.priors["tau"]
    if cfg.get("bma"):
        say("Bayesian model averaging (bma)")
        normal = isinstance(mu, Normal)
        ba = _try(res, "model averaging (bma)", lambda: bma(
            o.data, yi="yi", vi="vi", mu_prior=mu if normal else None, tau_prior=tau,
            measure=o.measure, slab=o.label, level=float(o.model["level"])))
        if ba is not None:
            out["bma"] = ba
            if not normal:  # Bayes factors need a proper Normal mu prior (exact engine)
                res.notes.append(f"model averaging (bma): the mu prior {mu.describe()} is "
                                 "not a proper Normal, so bma used "
                                 f"{ba.priors['mu'].describe()} (RoBMA's default)")
    if cfg.get("robma"):
        say("robust Bayesian model averaging (RoBMA)")
        rs = cfg.get("robma_seed")
        rs = seed if rs is None else rs
        kw: dict[str, Any] = {"measure": o.measure}
        if rs is not None:
            kw["seed"] = int(rs)
        rb = _try(res, "RoBMA", lambda: RoBMA(o.data, yi="yi", vi="vi", slab=o.label,
                                              level=float(o.model["level"]), **kw))
        if rb is not None:
            out["robma"] = rb
    return out

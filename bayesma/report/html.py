"""``report.html``: the self-contained report page, rendered by jinja2 templates
(``bayesma/report/templates``, autoescaping on; figures embedded as base64 PNG).

The functions here only arrange numbers the pipeline computed (:mod:`bayesma.pipeline`)
into the views the templates render; they compute no statistics.
"""

from __future__ import annotations

import base64
import platform
import sys
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from bayesma.measures import get_measure
from bayesma.pipeline import OutcomeResult, SpecResult
from bayesma.report.bias_models import bias_models_section
from bayesma.report.dependent import dependent_section, model_text
from bayesma.report.pooling import conversions_table, pooling_section
from bayesma.report.review import review_section, rob_section
from bayesma.report.subgroup_factors import factor_sections
from bayesma.report.tables import Table, outcome_table, overview_table
from bayesma.report.text import (
    DASH,
    digits,
    fmt,
    fmt_bf,
    fmt_ci,
    fmt_p,
    fmt_prob,
    measure_name,
    p_text,
    package_versions,
    pct,
    test_name,
)

__all__ = ["render_html"]

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("bayesma.report", "templates"),
    autoescape=True,  # every value is text: titles, labels and notes can never inject markup
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _png_size(raw: bytes) -> tuple[int, int] | None:
    if raw[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")


def figure(path: Path | None, alt: str, caption: str = "", dpi: float = 200.0
           ) -> dict[str, Any] | None:
    """An embedded PNG shown at its physical size (inches at 96 CSS px), or None."""
    if path is None or not Path(path).exists():
        return None
    raw = Path(path).read_bytes()
    size = _png_size(raw)
    return {"alt": alt, "caption": caption, "data": base64.b64encode(raw).decode("ascii"),
            "width": round(size[0] * 96 / dpi) if size else None}


# ----------------------------------------------------------------------------- sections


def _heterogeneity(res: OutcomeResult) -> dict[str, Any]:
    o, c = res.spec, res.classical
    p = pct(float(o.model["level"]))
    d = digits(o.measure)
    s = res.summary.set_index("parameter")

    def b(param: str, dd: int = d) -> str:
        r = s.loc[param]
        return fmt_ci(r["bayes_median"], r["bayes_low"], r["bayes_high"], dd)

    def cl(param: str, dd: int = d) -> str:
        r = s.loc[param]
        return fmt_ci(r["classical"], r["classical_low"], r["classical_high"], dd)

    rows = [["τ (between-study SD)", b("tau"), cl("tau")],
            ["τ²", b("tau2", 3), cl("tau2", 3)],
            ["I² (%)", b("i2", 1), cl("i2", 1)],
            [f"Effect in a new study ({p} prediction interval)", b("theta_new"),
             cl("theta_new")]]
    table = Table(["", f"Bayesian median [{p} CrI]",
                   f"Classical {c.method} [{p} CI, Q-profile]"], rows)
    note = (f"Cochran's Q = {fmt(c.q, 2)} (df = {c.q_df}), {p_text(c.q_pval)}; "
            f"H² = {fmt(c.h2, 2)}. Posterior of τ under the prior "
            f"{o.priors['tau'].describe()}; classical intervals for τ, τ² and I² by the "
            "Q-profile method; the classical prediction interval follows metafor's "
            "predict().")
    m = get_measure(o.measure)
    if m.log_scale:
        r = s.loc["theta_new"]
        note += (f" On the {m.name} scale, a new study's effect lies in "
                 f"[{fmt(m.back(r['bayes_low']), 2)}, {fmt(m.back(r['bayes_high']), 2)}] "
                 f"with {p} posterior probability.")
    return {"table": table, "note": note}


def _qm_text(qm_df: Any) -> str:
    return f"F({qm_df[0]}, {qm_df[1]})" if isinstance(qm_df, tuple) else f"QM(df = {qm_df})"


def _moderators(res: OutcomeResult) -> dict[str, Any] | None:
    o = res.spec
    p = pct(float(o.model["level"]))
    mtype = o.model["type"]
    below = "P(< 0)" if not get_measure(o.measure).log_scale else f"P(log {o.measure} < 0)"
    if mtype == "meta_regression" and res.moderator_classical is not None:
        mc = res.moderator_classical
        s = res.summary[res.summary["parameter"].str.startswith("meta_regression|")]
        rows = []
        for _, r in s.iterrows():
            dd = 4 if "beta[" in r["parameter"] else 3
            rows.append([r["label"], fmt_ci(r["bayes_median"], r["bayes_low"],
                                            r["bayes_high"], dd),
                         fmt_prob(r.get("p_below_0")) if pd.notna(r.get("p_below_0")) else "",
                         fmt_ci(r["classical"], r["classical_low"], r["classical_high"], dd),
                         fmt_p(r["classical_pval"]) if pd.notna(r["classical_pval"]) else ""])
        r2 = f", pseudo-R² = {fmt(mc.r2, 1)}%" if mc.r2 is not None else ""
        note = (f"Model: {mc.formula or o.model['mods']}, k = {mc.k}. Test of moderators: "
                f"{_qm_text(mc.qm_df)} = {fmt(mc.qm, 2)}, {p_text(mc.qm_pval)}{r2}; residual "
                f"heterogeneity QE = {fmt(mc.q, 2)} (df = {mc.q_df}), {p_text(mc.q_pval)}.")
        beta = o.priors.get("beta")
        if beta is not None:
            note += f" Slope prior: {beta.describe()}."
        return {"title": "Meta-regression",
                "table": Table(["Coefficient", f"Bayesian median [{p} CrI]", below,
                                f"Classical [{p} CI]", "p"], rows),
                "differences": None, "note": note,
                "figure": figure(res.figures.get("regression"), "meta-regression bubble plot",
                                 "Bubble plot: studies sized by weight, posterior mean "
                                 "regression line with its credible band, and the classical "
                                 "line.")}
    if mtype == "subgroups" and res.moderator_classical is not None:
        sub = res.moderator_classical
        by = o.model["by"]
        rows = []
        s = res.summary[res.summary["parameter"].str.startswith("subgroup|")]
        for _, r in s.iterrows():
            lv = r["label"].split(" = ", 1)[-1]
            fitc = next((f for key, f in sub.fits.items() if str(key) == lv), None)
            rows.append([lv, str(int(r["k"])) if pd.notna(r.get("k")) else DASH,
                         fmt_ci(r["bayes_median"], r["bayes_low"], r["bayes_high"]),
                         fmt_prob(r.get("p_below_0")),
                         fmt_ci(r["classical"], r["classical_low"], r["classical_high"]),
                         fmt(fitc.tau, 2) if fitc is not None else DASH,
                         f"{fmt(fitc.i2, 0)}%" if fitc is not None else DASH])
        note = (f"Tests of subgroup differences: Q-between = {fmt(sub.qb, 2)} "
                f"(df = {sub.qb_df}), {p_text(sub.qb_pval)} (separate fits, each level its "
                f"own τ²); meta-regression on {by}: {_qm_text(sub.qm_df)} = "
                f"{fmt(sub.qm, 2)}, {p_text(sub.qm_pval)} (one common τ²). ")
        note += ("Bayesian: one τ shared by all levels (the twin of the meta-regression); "
                 "the forest plot's subtotals are separate fits per level."
                 if o.model["tau"] == "shared" else
                 "Bayesian: a separate random-effects fit per level (one τ each), as in the "
                 "forest plot's subtotals.")
        note += (" Classical estimate and CI: the twin of the Bayesian model ("
                 + ("the meta-regression without intercept, one common τ²"
                    if o.model["tau"] == "shared" else "separate fits per level")
                 + f"; {sub.method}, {sub.test}); τ and I² columns: separate fits.")
        diffs = None
        dt = res.subgroup_differences
        if dt is not None and len(dt):
            diffs = Table(["Difference", f"Posterior median [{p} CrI]", "P(difference > 0)"],
                          [[f"{r['a']} − {r['b']}", fmt_ci(r["median"], r["low"], r["high"]),
                            fmt_prob(r["prob_greater"])] for _, r in dt.iterrows()])
        return {"title": f"Subgroups by {by}",
                "table": Table([by, "k", f"Bayesian median [{p} CrI]", "P(< 0)",
                                f"Classical [{p} CI]", "τ (classical)", "I²"], rows),
                "differences": diffs, "note": note, "figure": None}
    return None


def _prior_sensitivity(res: OutcomeResult) -> dict[str, Any]:
    o = res.spec
    ps = res.sensitivity["priors"]
    p = pct(float(o.model["level"]))
    d = digits(o.measure)
    t = ps.table
    mus = t.loc[t["kind"] == "bayes", "mu_prior"].unique()
    one_mu = len(mus) == 1
    rows = []
    for _, r in t.iterrows():
        name = r["tau_prior"] if r["kind"] == "bayes" else "Classical (reference)"
        mu_lab = [] if one_mu else [r["mu_prior"] if r["kind"] == "bayes" else ""]
        rows.append([name, *mu_lab, fmt_ci(r["mu_median"], r["mu_low"], r["mu_high"], d),
                     fmt_ci(r["tau_median"], r["tau_low"], r["tau_high"], d),
                     f"{fmt(r['i2_median'], 0)}%", fmt_prob(r["p_mu_lt_0"]),
                     fmt_bf(r["bf01_mu"])])
    table = Table(["τ prior", *([] if one_mu else ["μ prior"]), f"μ median [{p} CrI]",
                   f"τ median [{p} CrI]", "I²", "P(μ < 0)", "BF₀₁ (μ = 0)"], rows,
                  num_from=1 if one_mu else 2, text_cols=(0,), nowrap_cols=(1,))
    table_note = ""
    if one_mu:
        table_note = f"μ prior in every row: {mus[0]}."
        if get_measure(o.measure).log_scale:
            table_note += f" μ and τ on the log {o.measure} scale."
        table_note += (" BF₀₁: Savage-Dickey Bayes factor of μ = 0 against the alternative "
                       "(values below 1 favour an effect).")
    sh = res.prior_shift
    verdict: list[str] = []
    ok = False
    if sh:
        verdict.append(
            f"Across {sh['n_priors']} priors the posterior median of μ moves by at most "
            f"{fmt(sh['max_shift'], d)} ({fmt(sh['shift_in_sd'], 2)} posterior SDs of μ "
            f"under the spec's prior, SD {fmt(sh['posterior_sd'], d)}): "
            f"{sh['word']}.")
        verdict.append(
            f"The widest credible interval is {fmt(sh['width_ratio'], 2)} times the "
            "narrowest; " + ("every prior gives the same conclusion about 0."
                             if sh["same_conclusion"] else
                             "the conclusion about 0 depends on the prior."))
        ok = sh["word"] == "robust" and bool(sh["same_conclusion"])
    fig = figure(res.figures.get("sensitivity"), "prior sensitivity",
                 "Posterior intervals of μ and τ under each prior.")
    collapse = (f"Table: {len(rows) - 1} prior combinations and the classical reference"
                if fig and len(rows) > 12 else "")
    return {"table": table, "table_note": table_note, "verdict": verdict, "ok": ok,
            "figure": fig, "collapse": collapse, "notes": list(ps.notes)}


def _sensitivity(res: OutcomeResult) -> dict[str, Any]:
    sens = res.sensitivity
    o = res.spec
    p = pct(float(o.model["level"]))
    d = digits(o.measure)
    out: dict[str, Any] = {"priors": None, "leave1out": None, "subsets": None, "psense": None}
    if "priors" in sens:
        out["priors"] = _prior_sensitivity(res)
    if "leave1out" in sens:
        lo = sens["leave1out"]
        t = lo.table
        rows = [[str(lab), fmt_ci(r["mu_median"], r["mu_low"], r["mu_high"], d),
                 fmt(r["mu_shift"], d + 1),
                 fmt_ci(r["tau_median"], r["tau_low"], r["tau_high"], d),
                 fmt_p(r["ppc_p"]), "outlying" if r["flag"] else ""]
                for lab, r in t.iterrows()]
        scale = f", log {o.measure}" if get_measure(o.measure).log_scale else ""
        flagged = [str(x) for x in t.index[t["flag"].astype(bool)]]
        msg = (f"Flagged as outlying (cross-validated predictive p < {lo.alpha:g}): "
               + ", ".join(flagged) + "." if flagged else
               f"No study is outlying (every cross-validated predictive p ≥ {lo.alpha:g}).")
        fig = figure(res.figures.get("leave1out"), "leave-one-out",
                     "Pooled effect with each study omitted, classical and Bayesian.")
        out["leave1out"] = {
            "table": Table(["Omitted study", f"μ median [{p} CrI]{scale}", "Shift of μ",
                            f"τ median [{p} CrI]", "Predictive p", "Flag"], rows),
            "message": msg, "ok": not flagged, "figure": fig,
            "collapse": f"Table: {len(rows)} leave-one-out fits" if fig else ""}
    if "subsets" in sens:
        t = sens["subsets"].table
        rows = []
        seen: set[str] = set()
        for (analysis, engine), r in t.iterrows():
            first = analysis not in seen
            seen.add(analysis)
            rows.append([analysis if first else "",
                         "Bayesian" if engine == "bayes" else "Classical", str(int(r["k"])),
                         fmt_ci(r["estimate"], r["low"], r["high"], d),
                         fmt_ci(r["tau"], r["tau_low"], r["tau_high"], d),
                         f"{fmt(r['i2'], 0)}%", (r["excluded"] or DASH) if first else ""])
        rules = "; ".join(
            f"{sub['name']}: excludes rows where {sub['exclude']}" if sub.get("exclude")
            else f"{sub['name']}: rule {sub['rule']!r}" for sub in o.sensitivity["subsets"])
        out["subsets"] = {
            "table": Table(["Analysis", "Engine", "k", f"Pooled [{p} interval]", "τ", "I²",
                            "Excluded studies"], rows, num_from=2, text_cols=(0, 6)),
            "note": f"{rules}. Pooled: classical estimate with CI; Bayesian posterior median "
                    "with CrI.",
            "figure": figure(res.figures.get("subsets"), "subset analyses",
                             "Pooled effect and τ in each subset, classical and Bayesian.")}
    if "psense" in sens and isinstance(sens["psense"], pd.DataFrame):
        t = sens["psense"]
        rows = [[str(i), fmt(r.get("prior"), 3), fmt(r.get("likelihood"), 3),
                 str(r.get("verdict", r.get("diagnosis", "")))] for i, r in t.iterrows()]
        thr = t.attrs.get("threshold", 0.05)
        out["psense"] = {
            "table": Table(["Parameter", "Prior sensitivity", "Likelihood sensitivity",
                            "Verdict"], rows, text_cols=(3,)),
            "note": "Kallioinen et al. (2024): how much the posterior moves when the prior or "
                    "the likelihood is raised to a power near 1; values above "
                    f"{thr:g} count as sensitive."}
    return out


def _bias(res: OutcomeResult) -> dict[str, Any]:
    o = res.spec
    b = res.bias
    m = get_measure(o.measure)
    tr = m.back
    scale = f" ({o.measure})" if m.log_scale else ""
    items = []
    if "egger" in b:
        e = b["egger"]
        df = f", df = {e.df}" if e.df is not None else ""
        items.append(["Egger's regression test",
                      f"{e.stat_name} = {fmt(e.stat, 2)}{df}, {p_text(e.pval)}",
                      f"limit estimate (se → 0){scale}: "
                      f"{fmt_ci(tr(e.limit_estimate), tr(e.ci_low), tr(e.ci_high))}; "
                      f"predictor {e.predictor}"])
    if "ranktest" in b:
        r = b["ranktest"]
        items.append(["Begg's rank correlation",
                      f"Kendall's τ = {fmt(r.tau, 3)}, {p_text(r.pval)}",
                      "exact p" if r.exact else "normal approximation"])
    if "trimfill" in b:
        t = b["trimfill"]
        items.append(["Trim-and-fill", f"{t.k0} study(ies) imputed on the {t.side} side",
                      f"adjusted estimate{scale} "
                      f"{fmt_ci(tr(t.estimate), tr(t.ci_low), tr(t.ci_high))} "
                      f"({t.estimator} estimator)"])
    if "fsn" in b:
        f = b["fsn"]
        items.append(["Fail-safe N (Rosenthal)", f"{fmt(f.fsnum, 0)}", f"alpha = {f.alpha:g}"])
    caveat = ""
    if o.measure in ("SMD", "SMDH"):
        caveat = ("For SMDs the standard error depends on the estimate, so Egger-type tests "
                  "with the standard error as predictor are miscalibrated; a sample-size "
                  "predictor (egger_predictor = \"sqrtninv\") is more reliable "
                  "(Pustejovsky & Rodgers 2019).")
    return {"table": Table(["Check", "Result", "Detail"], items, num_from=9) if items else None,
            "figure": figure(res.figures.get("funnel"), "funnel plot",
                             "Funnel plot (contour-enhanced: p = 0.10 / 0.05 / 0.01 regions "
                             "shaded); open markers are studies imputed by trim-and-fill."),
            "caveat": caveat}


def _diagnostics(res: OutcomeResult, engine: str) -> dict[str, Any]:
    if engine == "exact":
        return {"exact": True}
    diag = res.diagnostics
    if diag is None:
        return {"exact": False, "table": None}
    a = res.main.attrs
    div = int(diag.attrs.get("divergences", 0))
    keep = [i for i in diag.index if not str(i).startswith("theta[")]
    theta = [i for i in diag.index if str(i).startswith("theta[")]
    rows = []
    for i in keep:
        r = diag.loc[i]
        rows.append([str(i), fmt(r["r_hat"], 3), fmt(r["ess_bulk"], 0), fmt(r["ess_tail"], 0),
                     "ok" if r["ok"] else "check"])
    if theta:
        t = diag.loc[theta]
        rows.append([f"theta (all {len(theta)} studies, worst)", fmt(t["r_hat"].max(), 3),
                     fmt(t["ess_bulk"].min(), 0), fmt(t["ess_tail"].min(), 0),
                     "ok" if t["ok"].all() else "check"])
    ok = div == 0 and bool(diag["ok"].all())
    msg = (f"Sampler {a.get('sampler')}: {a.get('chains')} chains × {a.get('draws')} draws "
           f"after {a.get('tune')} tuning iterations, seed {a.get('random_seed')}; "
           f"{div} divergent transition(s). ")
    msg += ("All R-hat ≤ 1.01 and ESS ≥ 400." if ok else
            "Some checks failed: increase draws/tune (and target_accept if there are "
            "divergences) before reporting these numbers.")
    return {"exact": False, "ok": ok, "message": msg,
            "table": Table(["Parameter", "R-hat", "ESS bulk", "ESS tail", "Status"], rows)}


def _priors(o: Any) -> Table:
    names = {"mu": "μ", "beta": "β (each slope)", "tau": "τ"}
    rows = []
    for key in ("mu", "beta", "tau"):
        origin = "spec" if o.prior_origin.get(key) == "spec" else "bayesma default"
        pri = ({f"τ[{lv}]": p for lv, p in o.tau_levels.items()} if key == "tau"
               and o.tau_levels else {names[key]: o.priors[key]} if key in o.priors else {})
        rows += [[name, p.describe(), origin, p.source or DASH] for name, p in pri.items()]
    return Table(["Parameter", "Prior", "From", "Source / rationale"], rows, num_from=9,
                 text_cols=(3,))


def _outcome(res: OutcomeResult, multi: bool, engine: str) -> dict[str, Any]:
    o = res.spec
    p = pct(float(o.model["level"]))
    facts = [("Studies", f"k = {o.k}"),
             ("Participants", f"{o.participants:,}" if o.participants else "not given"),
             ("Effect measure", f"{o.measure} ({measure_name(o.measure)})"),
             ("Direction of benefit", res.overview.get("benefit", "")),
             ("Model", {"random_effects": "random effects",
                        "meta_regression": f"random effects + meta-regression "
                                           f"({o.model['mods']})",
                        "subgroups": f"random effects + subgroups by {o.model['by']}"}.get(
                 o.model["type"]) or model_text(o))]
    if o.filter:
        facts.append(("Rows", f"filter {o.filter}"))
    head, rows = outcome_table(res)
    below = (f"P({o.measure} < 1) is the posterior probability that the ratio is below 1"
             if get_measure(o.measure).log_scale else
             "P(< 0) is the posterior probability that the quantity is below 0")
    return {
        "sid": o.slug, "heading": o.name if multi else "Analysis",
        "description": o.description, "facts": facts,
        "summary": Table(head, rows),
        "summary_note": f"Bayesian: posterior median and {p} equal-tailed credible interval; "
                        f"{below}. " + (f"Classical: {res.classical.method} estimate with "
                        f"{test_name(res.classical.test)}; for τ, τ² and I² the Q-profile "
                        "CI." if o.dependent is None else "Classical: the twin named under "
                        "Variance components (τ: square roots of its variance components)."),
        "priors": _priors(o),
        "forest": figure(res.figures.get("forest"), "forest plot",
                         "Observed study estimates (squares sized by weight, with CIs) and "
                         "their shrunken posterior estimates beneath; pooled Bayesian and "
                         "classical diamonds and the prediction intervals for a new study."),
        "het": _heterogeneity(res) if o.dependent is None else dependent_section(res),
        "mod": _moderators(res), "pubbias": bias_models_section(res, figure),
        "pooling": pooling_section(res), "conversions": conversions_table(res),
        "prior_posterior": figure(res.figures.get("prior_posterior"), "prior and posterior",
                                  "Prior (grey) and posterior (blue) densities of τ and μ; "
                                  "the classical estimate beneath."),
        "sens": _sensitivity(res), "bias": _bias(res), "diag": _diagnostics(res, engine),
        "factors": factor_sections(res, figure), "rob": rob_section(res, figure),
        "notes": list(res.notes),
    }


def _reproducibility(result: SpecResult) -> dict[str, Any]:
    spec = result.spec
    s = spec.sampler
    src = spec.data_source
    data_name = (f"bundled dataset '{src['dataset']}' ({src.get('file')})" if "dataset" in src
                 else str(src.get("path")))
    facts = [
        ("Spec file", str(spec.path) if spec.path else "(from text)"),
        ("Command", result.meta.get("command") or (
            f"bayesma fit {spec.path}" if spec.path else "bayesma.run_spec(...)")),
        ("Engine", "exact quadrature" if spec.engine == "exact" else
         f"MCMC, {s['sampler']}: {s['chains']} chains × {s['draws']} draws, tune {s['tune']}"),
        ("Seed", str(s["seed"])),
        ("Data", data_name),
        ("Data SHA-256", src["sha256"]),
        ("Run at", result.meta.get("written", "")),
        ("Platform", f"{platform.platform()}; Python {sys.version.split()[0]}"),
    ]
    if spec.overrides:
        facts.insert(2, ("Overrides", ", ".join(f"{k} = {v}" for k, v in spec.overrides.items())))
    files: list[str] = []
    if result.out_dir is not None:
        base = Path(result.meta.get("files_root", result.out_dir))
        files = sorted({str(Path(f).relative_to(base)) for f in result.files
                        if Path(f).is_relative_to(base)} | {"report.html"})
    return {"facts": facts, "citation": src.get("citation", ""),
            "versions": package_versions(), "files": files, "spec_toml": spec.to_toml()}


def render_html(result: SpecResult) -> str:
    """The self-contained report page (figures embedded as base64 PNG)."""
    spec = result.spec
    multi = len(result.outcomes) > 1
    toc = [("overview", "Results")]
    toc += [(r.spec.slug, r.spec.name if multi else "Analysis") for r in result.outcomes]
    if not multi:
        r = result.outcomes[0]
        sid = r.spec.slug
        toc += [(f"{sid}-forest", "Forest plot"), (f"{sid}-heterogeneity", "Heterogeneity"
                 if r.spec.dependent is None else "Variance components")]
        mtype = r.spec.model["type"]
        if mtype in ("meta_regression", "subgroups"):
            toc.append((f"{sid}-moderators",
                        "Meta-regression" if mtype == "meta_regression" else "Subgroups"))
        toc += [(f"{sid}-sensitivity", "Sensitivity"), (f"{sid}-bias", "Publication bias"),
                (f"{sid}-diagnostics", "Diagnostics")]
    review = review_section(result, figure)
    if review is not None:
        toc.insert(1, ("review", "Review"))
    toc.append(("reproducibility", "Reproducibility"))
    head, rows, notes = overview_table(result)
    version = package_versions()["bayesma"]
    engine = "exact posterior (quadrature)" if spec.engine == "exact" else "MCMC (PyMC)"
    css = (Path(__file__).with_name("templates") / "report.css").read_text(encoding="utf-8")
    context = {
        "title": spec.title, "description": spec.description,
        "citation": spec.data_source.get("citation", ""),
        "meta": f"bayesma {version} · Bayesian engine: {engine} · classical twin: "
                f"{spec.classical['method']} ({spec.classical['test']}) · "
                f"{result.meta.get('written', '')}",
        "css": Markup(css),  # noqa: S704 - the package's own stylesheet, not user text
        "toc": toc, "overview_title": "Results across outcomes" if multi else "Main result",
        "overview": Table(head, rows, text_cols=(len(head) - 2,)), "overview_notes": notes,
        "outcomes": [_outcome(r, multi, spec.engine) for r in result.outcomes],
        "repro": _reproducibility(result), "version": version, "review": review,
    }
    return _ENV.get_template("report.html.j2").render(**context).strip() + "\n"

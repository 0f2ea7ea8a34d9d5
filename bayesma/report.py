"""Outputs of a spec run: tables, figures, the posterior file and a self-contained report.

:func:`write_outputs` fills an output directory::

    summary.csv, summary.md      Bayesian and classical estimates side by side
    forest.png, forest.pdf       posterior forest plot (observed and shrunken studies)
    funnel.png                   funnel plot with trim-and-fill
    prior_posterior.png          prior and posterior of tau and mu
    regression.png               bubble plot (meta-regression specs)
    sensitivity.csv/.png         prior sensitivity sweep
    leave1out.csv, subsets.csv   leave-one-out and subset analyses
    posterior.nc                 posterior draws (ArviZ DataTree, netCDF)
    spec.toml                    the spec as run
    report.html                  everything on one page, images embedded

A spec with several ``[[outcomes]]`` writes the per-outcome files into one
sub-directory per outcome and the summary tables and the report at the top level.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import importlib.metadata
import math
import platform
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from bayesma.spec import OutcomeResult, SpecResult

__all__ = ["write_outputs", "render_html", "summary_markdown", "package_versions",
           "RATIO_MEASURES"]

#: Measures analysed on the log scale (shown back-transformed).
RATIO_MEASURES = ("OR", "RR", "ROM", "PETO")
#: Packages listed in the reproducibility block.
PACKAGES = ("bayesma", "numpy", "scipy", "pandas", "xarray", "pymc", "pytensor", "arviz",
            "nutpie", "matplotlib", "formulaic", "h5netcdf")
MINUS = "\u2212"
_MEASURE_NAMES = {"OR": "odds ratio", "RR": "risk ratio", "ROM": "ratio of means",
                  "PETO": "odds ratio (Peto)", "SMD": "standardised mean difference, Hedges' g",
                  "SMDH": "standardised mean difference, heteroscedastic",
                  "MD": "mean difference",
                  "RD": "risk difference", "ZCOR": "Fisher z", "COR": "correlation",
                  "GEN": "effect"}


# ======================================================================================
# formatting
# ======================================================================================


def fmt(x: Any, digits: int = 2) -> str:
    """A number with a typographic minus; ``"–"`` for missing values."""
    if x is None:
        return "–"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return "–" if math.isnan(v) else ("∞" if v > 0 else f"{MINUS}∞")
    s = f"{v:.{digits}f}"
    if s.startswith("-") and float(s) == 0:
        s = s[1:]
    return s.replace("-", MINUS)


def fmt_ci(est: Any, lo: Any, hi: Any, digits: int = 2) -> str:
    """``"0.49 [0.34, 0.71]"``."""
    if est is None or (isinstance(est, float) and math.isnan(est)):
        return "–"
    if lo is None or hi is None or any(
            isinstance(v, float) and math.isnan(v) for v in (lo, hi)):
        return fmt(est, digits)
    return f"{fmt(est, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"


def fmt_p(p: Any) -> str:
    """p-values: ``< 0.001`` or three decimals."""
    if p is None:
        return "–"
    p = float(p)
    if math.isnan(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def p_text(p: Any) -> str:
    """``"p < 0.001"`` or ``"p = 0.012"``."""
    t = fmt_p(p)
    return f"p {t}" if t.startswith("<") else f"p = {t}"


def fmt_prob(p: Any) -> str:
    """Posterior probabilities: ``> 0.999``, ``< 0.001`` or three decimals."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "–"
    p = float(p)
    if p > 0.999:
        return "> 0.999"
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3f}"


def _digits(measure: str | None) -> int:
    return 3 if (measure or "").upper() in ("ZCOR", "COR", "RD") else 2


def measure_name(measure: str | None) -> str:
    """Readable name of a measure (``"risk ratio"``)."""
    return _MEASURE_NAMES.get((measure or "GEN").upper(), measure or "effect")


def _is_ratio(measure: str | None) -> bool:
    return (measure or "").upper() in RATIO_MEASURES


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages bayesma's results depend on."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


# ======================================================================================
# writing files
# ======================================================================================


def _savefig(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=200 if path.suffix == ".png" else "figure", facecolor="white")
    return path


def _try_figure(res: OutcomeResult, name: str, make: Callable[[], Any],
                paths: Sequence[Path]) -> None:
    """Draw a figure and save it; a failure becomes a note, never an abort."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fig = make()
            for p in paths:
                _savefig(fig, p)
    except Exception as exc:  # noqa: BLE001 - a figure must not sink the report
        res.notes.append(f"{name} plot not drawn: {type(exc).__name__}: {exc}")
        return
    finally:
        import matplotlib.pyplot as plt

        plt.close("all")
    res.figures[name] = paths[0]
    res.files.extend(paths)


def _outcome_figures(spec: Any, res: OutcomeResult, folder: Path) -> None:
    import bayesma as bm

    o = res.spec
    outs = spec.outputs
    level = float(o.model["level"])
    title = o.name if len(spec.outcomes) > 1 else None
    if outs["forest"]:
        fmts = list(outs.get("formats") or ["png"])
        if "png" not in fmts:
            fmts.insert(0, "png")
        sub = o.model["by"] if o.model["type"] == "subgroups" else None
        _try_figure(res, "forest", lambda: bm.forest_plot(
            res.bayes, subgroup=sub, labels=tuple(o.effect["favours"]), prob=level,
            title=title), [folder / f"forest.{f}" for f in fmts])
    if outs["funnel"] and o.bias.get("funnel"):
        tf = res.bias.get("trimfill")
        contours = (0.10, 0.05, 0.01) if o.bias.get("contours") else None
        _try_figure(res, "funnel", lambda: bm.funnel_plot(
            res.classical, trimfill=tf, contours=contours, level=level, title=title),
            [folder / "funnel.png"])
    if outs["prior_posterior"]:
        _try_figure(res, "prior_posterior", lambda: bm.prior_posterior_plot(
            res.bayes, params=("tau", "mu"), prob=level, title=title),
            [folder / "prior_posterior.png"])
    if outs["regression"] and o.model["type"] == "meta_regression" and (
            res.moderator_bayes is not None):
        _try_figure(res, "regression", lambda: bm.regression_plot(
            res.moderator_bayes, prob=level, title=title), [folder / "regression.png"])
    sens = res.sensitivity
    if outs["sensitivity"] and "priors" in sens:
        _try_figure(res, "sensitivity", lambda: bm.sensitivity_plot(sens["priors"]),
                    [folder / "sensitivity.png"])
    if outs["sensitivity"] and "subsets" in sens:
        _try_figure(res, "subsets", lambda: bm.sensitivity_plot(sens["subsets"]),
                    [folder / "subsets.png"])
    if outs["sensitivity"] and "leave1out" in sens:
        _try_figure(res, "leave1out", lambda: bm.leave1out_plot(sens["leave1out"]),
                    [folder / "leave1out.png"])


def _write_csv(df: pd.DataFrame, path: Path, res: Any = None, **kw: Any) -> Path:
    df.to_csv(path, **kw)
    if res is not None:
        res.files.append(path)
    return path


def _write_posterior(spec: Any, res: OutcomeResult, folder: Path) -> None:
    s = spec.sampler
    targets = [("posterior.nc", res.main)]
    if res.main is not res.bayes:
        targets.append(("posterior_overall.nc", res.bayes))
    for fname, post in targets:
        path = folder / fname
        try:
            if hasattr(post, "to_netcdf"):
                post.to_netcdf(path)
            else:
                tree = post.to_datatree(n=int(s["draws"]) * int(s["chains"]),
                                        random_seed=int(s["seed"]), chains=int(s["chains"]))
                tree.attrs.update({"bayesma_engine": "exact", "random_seed": int(s["seed"])})
                tree.to_netcdf(path, engine="h5netcdf")
            res.files.append(path)
        except Exception as exc:  # noqa: BLE001
            res.notes.append(f"{fname} not written: {type(exc).__name__}: {exc}")


def write_outputs(result: SpecResult, out: str | Path, *,
                  say: Callable[[str], None] = lambda m: None) -> list[Path]:
    """Write every output of a spec run into ``out`` (created if needed).

    Parameters
    ----------
    result : SpecResult
        From :func:`bayesma.spec.run_spec`.
    out : str or Path
        Output directory.
    say : callable
        Progress messages.

    Returns
    -------
    list of Path
        The files written (also in ``result.files``).
    """
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg"):
        try:
            matplotlib.use("Agg")
        except Exception:  # noqa: BLE001
            pass
    spec = result.spec
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result.out_dir = out
    outs = spec.outputs
    multi = len(spec.outcomes) > 1
    files: list[Path] = []
    for res in result.outcomes:
        folder = out / res.spec.slug if multi else out
        folder.mkdir(parents=True, exist_ok=True)
        say(f"figures{' for ' + res.spec.name if multi else ''}")
        _outcome_figures(spec, res, folder)
        sens = res.sensitivity
        if outs["sensitivity"]:
            if "priors" in sens:
                _write_csv(sens["priors"].table, folder / "sensitivity.csv", res, index=False)
            if "leave1out" in sens:
                _write_csv(sens["leave1out"].table, folder / "leave1out.csv", res)
            if "subsets" in sens:
                _write_csv(sens["subsets"].table, folder / "subsets.csv", res)
        if outs["posterior"]:
            _write_posterior(spec, res, folder)
        files.extend(res.files)
    if outs["summary"]:
        table = pd.concat([r.summary for r in result.outcomes], ignore_index=True)
        files.append(_write_csv(table, out / "summary.csv", index=False))
        if multi:
            files.append(_write_csv(result.overview, out / "overview.csv", index=False))
        md = out / "summary.md"
        md.write_text(summary_markdown(result), encoding="utf-8")
        files.append(md)
    if outs["spec"]:
        sp = out / "spec.toml"
        sp.write_text(spec.to_toml(), encoding="utf-8")
        files.append(sp)
    result.meta.setdefault("written", _dt.datetime.now().astimezone().isoformat(
        timespec="seconds"))
    result.files = files
    if outs["report"]:
        rp = out / "report.html"
        rp.write_text(render_html(result), encoding="utf-8")
        files.append(rp)
    return files


# ======================================================================================
# tables shared by Markdown and HTML
# ======================================================================================


def overview_table(result: SpecResult) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, rows and footnotes of the cross-outcome table."""
    ov = result.outcomes
    measures = {r.spec.measure for r in ov}
    meas = next(iter(measures)) if len(measures) == 1 else None
    ratio = _is_ratio(meas)
    mname = meas if meas and meas not in ("GEN",) else "effect"
    level = float(ov[0].spec.model["level"])
    pct = f"{100 * level:g}%"
    head = ["Outcome", "k", "Participants", f"Pooled {mname} [{pct} CrI]",
            f"Classical [{pct} CI]", f"τ [{pct} CrI]", "I² (classical)",
            f"P({mname} < 1)" if ratio else f"P({mname} < 0)"]
    rows = []
    for r in ov:
        v = r.overview
        d = _digits(r.spec.measure)
        tr = (np.exp if _is_ratio(r.spec.measure) else (lambda x: x))
        rows.append([
            r.spec.name, str(v["k"]),
            f"{v['participants']:,}" if v.get("participants") else "–",
            fmt_ci(tr(v["mu_median"]), tr(v["mu_low"]), tr(v["mu_high"]), d),
            fmt_ci(tr(v["classical"]), tr(v["classical_low"]), tr(v["classical_high"]), d),
            fmt_ci(v["tau_median"], v["tau_low"], v["tau_high"], d),
            f"{fmt(v['i2_classical'], 0)}%",
            fmt_prob(v["p_below_0"]),
        ])
    spec = result.spec
    c = spec.classical
    notes = [
        f"Bayesian: posterior median and {pct} equal-tailed credible interval "
        f"({'exact quadrature' if spec.engine == 'exact' else 'MCMC'}); classical: "
        f"{c['method']} with {_test_name(c['test'])} and {pct} confidence interval.",
    ]
    if ratio:
        notes.append(f"Pooled {meas} on the ratio scale (analysed as log {meas}); τ on the "
                     f"log scale. P({meas} < 1) is the posterior probability of a benefit "
                     "when events are harmful.")
    return head, rows, notes


def _test_name(test: str) -> str:
    return {"knha": "the Hartung-Knapp-Sidik-Jonkman adjustment",
            "z": "Wald z tests", "t": "t tests"}.get(test, test)


def outcome_table(res: OutcomeResult) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one outcome's Bayesian-vs-classical table."""
    o = res.spec
    s = res.summary
    level = float(o.model["level"])
    pct = f"{100 * level:g}%"
    ratio = _is_ratio(o.measure)
    d = _digits(o.measure)
    head = ["Quantity", f"Bayesian median [{pct} CrI]", "P(< 0)",
            f"Classical [{pct} CI]", "p"]
    if ratio:
        head = ["Quantity", f"Bayesian, log {o.measure}", f"Bayesian, {o.measure}",
                f"P({o.measure} < 1)", f"Classical, log {o.measure}", f"Classical, {o.measure}",
                "p"]
    rows = []
    for _, r in s.iterrows():
        par = r["parameter"]
        dd = 1 if par.endswith("i2") else (3 if "beta[" in par else d)
        b = fmt_ci(r["bayes_median"], r["bayes_low"], r["bayes_high"], dd)
        c = fmt_ci(r["classical"], r["classical_low"], r["classical_high"], dd)
        pr = fmt_prob(r.get("p_below_0")) if pd.notna(r.get("p_below_0")) else ""
        pv = fmt_p(r["classical_pval"]) if pd.notna(r["classical_pval"]) else ""
        label = r["label"]
        if "k" in s.columns and pd.notna(r.get("k")):
            label += f" (k = {int(r['k'])})"
        if ratio:
            has_exp = pd.notna(r.get("exp_bayes_median"))
            eb = fmt_ci(r["exp_bayes_median"], r["exp_bayes_low"], r["exp_bayes_high"],
                        max(dd, 2)) if has_exp else ""
            ec = fmt_ci(r["exp_classical"], r["exp_classical_low"], r["exp_classical_high"],
                        max(dd, 2)) if has_exp else ""
            rows.append([label, b, eb, pr, c, ec, pv])
        else:
            rows.append([label, b, pr, c, pv])
    return head, rows


def summary_markdown(result: SpecResult) -> str:
    """The summary tables as Markdown (summary.md)."""
    spec = result.spec
    lines = [f"# {spec.title}", ""]
    if spec.description:
        lines += [spec.description, ""]
    head, rows, notes = overview_table(result)
    lines += ["## Results across outcomes" if len(result.outcomes) > 1 else "## Main result",
              "", _md_table(head, rows), ""]
    lines += [f"*{n}*" for n in notes]
    for res in result.outcomes:
        o = res.spec
        lines += ["", f"## {o.name}", "",
                  f"k = {o.k} studies; measure {o.measure} ({measure_name(o.measure)}); "
                  f"priors: {_prior_text(o)}.", ""]
        h, r = outcome_table(res)
        lines += [_md_table(h, r), ""]
        if o.model["type"] == "subgroups" and res.moderator_classical is not None:
            sub = res.moderator_classical
            lines += [f"Test of subgroup differences (classical): Q-between = {sub.qb:.2f} "
                      f"(df = {sub.qb_df}), {p_text(sub.qb_pval)}.", ""]
        for n in res.notes:
            lines.append(f"- Note: {n}")
    lines += ["", f"bayesma {package_versions()['bayesma']}; engine {spec.engine}; seed "
              f"{spec.sampler['seed']}; data SHA-256 {spec.data_source['sha256']}.", ""]
    return "\n".join(lines).replace(MINUS, "-")


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    def esc(x: str) -> str:
        return str(x).replace("|", "\\|")

    out = ["| " + " | ".join(map(esc, head)) + " |",
           "|" + "|".join(":---" if j == 0 else "---:" for j in range(len(head))) + "|"]
    out += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
    return "\n".join(out)


def _prior_text(o: Any) -> str:
    parts = []
    for key in ("mu", "beta", "tau"):
        if key in o.priors:
            tag = "" if o.prior_origin.get(key) == "spec" else " (default)"
            parts.append(f"{key} ~ {o.priors[key].describe()}{tag}")
    return "; ".join(parts)


# ======================================================================================
# HTML
# ======================================================================================

_CSS = """
:root { --ink:#1a1a1a; --muted:#5f6368; --line:#d9dde3; --band:#f5f7fa; --accent:#0072B2;
        --warn:#8a4b00; --warnbg:#fff6e5; --ok:#1b6e3a; }
* { box-sizing: border-box; }
body { font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); margin: 0; background: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 32px 60px; }
header.top { border-bottom: 3px solid var(--accent); margin-bottom: 18px; padding-bottom: 10px; }
h1 { font-size: 26px; margin: 0 0 6px; }
h2 { font-size: 21px; margin: 34px 0 10px; padding-top: 8px; border-top: 1px solid var(--line); }
h3 { font-size: 16.5px; margin: 24px 0 8px; }
p { margin: 6px 0 10px; }
.meta { color: var(--muted); font-size: 13.5px; }
nav.toc { background: var(--band); border: 1px solid var(--line); border-radius: 6px;
          padding: 10px 16px; margin: 14px 0 8px; font-size: 14px; }
nav.toc a { color: var(--accent); text-decoration: none; margin-right: 14px; white-space: nowrap; }
table { border-collapse: collapse; margin: 8px 0 6px; font-size: 14px;
        font-variant-numeric: tabular-nums; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--band); text-align: left; font-weight: 600; }
td.num, th.num { text-align: right; white-space: nowrap; }
tbody tr:hover { background: #fafbfc; }
.wrap { overflow-x: auto; }
.note { color: var(--muted); font-size: 13px; margin: 2px 0 10px; }
.callout { background: var(--warnbg); border-left: 4px solid #e69f00; padding: 8px 12px;
           margin: 10px 0; font-size: 14px; color: var(--warn); }
.callout.ok { background: #eef8f1; border-left-color: #009E73; color: var(--ok); }
figure { margin: 10px 0 16px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px;
             display: block; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; align-items: start; }
@media (max-width: 900px) { .grid2 { grid-template-columns: 1fr; } }
pre { background: var(--band); border: 1px solid var(--line); padding: 10px 12px; font-size: 12.5px;
      white-space: pre-wrap; overflow-wrap: anywhere; border-radius: 4px; }
td.text { white-space: normal; min-width: 14em; }
td.nowrap { white-space: nowrap; }
.versions { font-size: 13.5px; color: var(--ink); }
.versions span { display: inline-block; margin: 0 14px 4px 0; }
.versions b { font-weight: 600; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 6px 0;
        font-size: 14px; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; }
details { margin: 6px 0 12px; }
details summary { cursor: pointer; color: var(--accent); font-size: 14px; }
.flag { color: #b00020; font-weight: 600; }
footer { margin-top: 40px; color: var(--muted); font-size: 12.5px;
         border-top: 1px solid var(--line); padding-top: 10px; }
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _html_table(head: Sequence[str], rows: Sequence[Sequence[Any]], *,
                num_from: int = 1, cls: str = "", text_cols: Sequence[int] = (),
                nowrap_cols: Sequence[int] = ()) -> str:
    def cell(tag: str, j: int, v: Any) -> str:
        c = ' class="text"' if j in text_cols else (
            ' class="num"' if j >= num_from else (' class="nowrap"' if j in nowrap_cols
                                                  else ""))
        return f"<{tag}{c}>{_e(v)}</{tag}>"

    h = "".join(cell("th", j, v) for j, v in enumerate(head))
    body = "".join("<tr>" + "".join(cell("td", j, v) for j, v in enumerate(r)) + "</tr>"
                   for r in rows)
    c = f' class="{cls}"' if cls else ""
    return (f'<div class="wrap"><table{c}><thead><tr>{h}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _png_size(raw: bytes) -> tuple[int, int] | None:
    if raw[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")


def _img(path: Path | None, alt: str, caption: str = "", dpi: float = 200.0) -> str:
    """An embedded PNG shown at its physical size (inches at 96 CSS px), never wider than
    the page."""
    if path is None or not Path(path).exists():
        return ""
    raw = Path(path).read_bytes()
    data = base64.b64encode(raw).decode("ascii")
    size = _png_size(raw)
    width = f' style="width: {round(size[0] * 96 / dpi)}px"' if size else ""
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return (f'<figure><img alt="{_e(alt)}"{width} src="data:image/png;base64,{data}">{cap}'
            "</figure>")


def _section_id(res: OutcomeResult, part: str = "") -> str:
    return f"{res.spec.slug}{'-' + part if part else ''}"


def _heterogeneity_html(res: OutcomeResult) -> str:
    o, c = res.spec, res.classical
    level = float(o.model["level"])
    pct = f"{100 * level:g}%"
    d = _digits(o.measure)
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
            [f"Effect in a new study ({pct} prediction interval)", b("theta_new"),
             cl("theta_new")]]
    tab = _html_table(["", f"Bayesian median [{pct} CrI]",
                       f"Classical {c.method} [{pct} CI, Q-profile]"], rows)
    q = (f"Cochran's Q = {fmt(c.q, 2)} (df = {c.q_df}), {p_text(c.q_pval)}; "
         f"H² = {fmt(c.h2, 2)}.")
    tail = ""
    if _is_ratio(o.measure):
        r = s.loc["theta_new"]
        tail = (f" On the {measure_name(o.measure)} scale, a new study's effect lies in "
                f"[{fmt(math.exp(r['bayes_low']), 2)}, {fmt(math.exp(r['bayes_high']), 2)}] "
                f"with {pct} posterior probability.")
    tau_prior = o.priors["tau"].describe()
    return (tab + f'<p class="note">{_e(q)} Posterior of τ under the prior {_e(tau_prior)}; '
            f"classical intervals for τ, τ² and I² by the Q-profile method; the classical "
            f"prediction interval follows metafor's predict().{_e(tail)}</p>")


def _moderator_html(res: OutcomeResult) -> str:
    o = res.spec
    level = float(o.model["level"])
    pct = f"{100 * level:g}%"
    mtype = o.model["type"]
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
        below = "P(< 0)" if not _is_ratio(o.measure) else f"P(log {o.measure} < 0)"
        tab = _html_table(["Coefficient", f"Bayesian median [{pct} CrI]", below,
                           f"Classical [{pct} CI]", "p"], rows)
        qm_df = mc.qm_df
        qm = (f"F({qm_df[0]}, {qm_df[1]})" if isinstance(qm_df, tuple) else f"QM(df = {qm_df})")
        r2 = f", pseudo-R² = {fmt(mc.r2, 1)}%" if mc.r2 is not None else ""
        txt = (f"Model: {mc.formula or o.model['mods']}, k = {mc.k}. Test of moderators: "
               f"{qm} = {fmt(mc.qm, 2)}, {p_text(mc.qm_pval)}{r2}; residual "
               f"heterogeneity QE = {fmt(mc.q, 2)} (df = {mc.q_df}), {p_text(mc.q_pval)}.")
        beta = o.priors.get("beta")
        prior = f" Slope prior: {beta.describe()}." if beta is not None else ""
        img = _img(res.figures.get("regression"), "meta-regression bubble plot",
                   "Bubble plot: studies sized by weight, posterior mean regression line with "
                   "its credible band, and the classical line.")
        return (f"<h3 id=\"{_section_id(res, 'moderators')}\">Meta-regression</h3>" + tab
                + f'<p class="note">{_e(txt + prior)}</p>' + img)
    if mtype == "subgroups" and res.moderator_classical is not None:
        sub = res.moderator_classical
        mb = res.moderator_bayes
        rows = []
        s = res.summary[res.summary["parameter"].str.startswith("subgroup|")]
        for _, r in s.iterrows():
            lv = r["label"].split(" = ", 1)[-1]
            fitc = next((f for key, f in sub.fits.items() if str(key) == lv), None)
            rows.append([lv, str(int(r["k"])) if pd.notna(r.get("k")) else "–",
                         fmt_ci(r["bayes_median"], r["bayes_low"], r["bayes_high"]),
                         fmt_prob(r.get("p_below_0")),
                         fmt_ci(r["classical"], r["classical_low"], r["classical_high"]),
                         fmt(fitc.tau, 2) if fitc is not None else "–",
                         f"{fmt(fitc.i2, 0)}%" if fitc is not None else "–"])
        tab = _html_table([o.model["by"], "k", f"Bayesian median [{pct} CrI]", "P(< 0)",
                           f"Classical [{pct} CI]", "τ (classical)", "I²"], rows)
        qm_df = sub.qm_df
        qm = (f"F({qm_df[0]}, {qm_df[1]})" if isinstance(qm_df, tuple) else f"QM(df = {qm_df})")
        tau_mode = o.model["tau"]
        txt = (f"Tests of subgroup differences: Q-between = {fmt(sub.qb, 2)} (df = {sub.qb_df}),"
               f" {p_text(sub.qb_pval)} (separate fits, each level its own τ²); "
               f"meta-regression on {o.model['by']}: {qm} = {fmt(sub.qm, 2)}, "
               f"{p_text(sub.qm_pval)} (one common τ²).")
        btxt = ("Bayesian: one τ shared by all levels (the twin of the meta-regression); "
                "the forest plot's subtotals are separate fits per level."
                if tau_mode == "shared" else
                "Bayesian: a separate random-effects fit per level (one τ each), as in the "
                "forest plot's subtotals.")
        extra = ""
        diff = _subgroup_difference(mb, level)
        if diff:
            extra = " " + diff
        return (f"<h3 id=\"{_section_id(res, 'moderators')}\">Subgroups by "
                f"{_e(o.model['by'])}</h3>" + tab
                + f'<p class="note">{_e(txt)} {_e(btxt)}{_e(extra)} Classical columns: '
                  f"separate fits per level ({sub.method}, {sub.test}).</p>")
    return ""


def _subgroup_difference(mb: Any, level: float) -> str:
    """Posterior of the difference between two subgroup means (two levels only)."""
    from bayesma.spec import level_params

    if mb is None:
        return ""
    try:
        params = level_params(mb)
        if len(params) != 2:
            return ""
        (l1, p1), (l2, p2) = params.items()
        if isinstance(mb, dict):
            d = (mb[l2].draws("mu", n=8000, random_seed=1)
                 - mb[l1].draws("mu", n=8000, random_seed=2))
        elif type(mb).__name__ == "ExactPosterior":
            draws = mb.draws("beta", n=8000, random_seed=1)
            d = draws[:, 1] - draws[:, 0]
        else:
            d = mb.draws(p2) - mb.draws(p1)
        lo, hi = np.quantile(d, [(1 - level) / 2, (1 + level) / 2])
        return (f"Difference {l2} − {l1}: posterior median {fmt(np.median(d))} "
                f"[{fmt(lo)}, {fmt(hi)}], P(difference > 0) = {fmt_prob(np.mean(d > 0))}.")
    except Exception:  # noqa: BLE001 - informative only
        return ""


def _sensitivity_html(res: OutcomeResult) -> str:
    sens = res.sensitivity
    o = res.spec
    level = float(o.model["level"])
    pct = f"{100 * level:g}%"
    d = _digits(o.measure)
    parts = []
    if "priors" in sens:
        ps = sens["priors"]
        t = ps.table
        mus = t.loc[t["kind"] == "bayes", "mu_prior"].unique()
        one_mu = len(mus) == 1
        rows = []
        for _, r in t.iterrows():
            name = r["tau_prior"] if r["kind"] == "bayes" else "Classical (reference)"
            mu_lab = [] if one_mu else [r["mu_prior"] if r["kind"] == "bayes" else ""]
            rows.append([name, *mu_lab,
                         fmt_ci(r["mu_median"], r["mu_low"], r["mu_high"], d),
                         fmt_ci(r["tau_median"], r["tau_low"], r["tau_high"], d),
                         f"{fmt(r['i2_median'], 0)}%", fmt_prob(r["p_mu_lt_0"]),
                         _fmt_bf(r["bf01_mu"])])
        tab = _html_table(["τ prior", *([] if one_mu else ["μ prior"]),
                           f"μ median [{pct} CrI]", f"τ median [{pct} CrI]", "I²", "P(μ < 0)",
                           "BF₀₁ (μ = 0)"], rows, num_from=1 if one_mu else 2,
                          text_cols=(0,), nowrap_cols=(1,))
        if one_mu:
            tab += f'<p class="note">μ prior in every row: {_e(mus[0])}.'
            if _is_ratio(o.measure):
                tab += f" μ and τ on the log {_e(o.measure)} scale."
            tab += (" BF₀₁: Savage-Dickey Bayes factor of μ = 0 against the alternative "
                    "(values below 1 favour an effect).</p>")
        verdict = ""
        try:
            v = ps.verdict()
            lines = [ln.strip() for ln in ps.summary().split("\n\n")[0].splitlines()[1:]
                     if ln.strip() and not ln.startswith("Classical reference")]
            ok = bool(v.get("same_conclusion")) and v.get("word") == "robust"
            verdict = (f'<div class="callout{" ok" if ok else ""}">'
                       + "<br>".join(_e(ln) for ln in lines) + "</div>")
        except Exception:  # noqa: BLE001 - the table is still shown
            verdict = ""
        notes = "".join(f'<p class="note">{_e(n)}</p>' for n in ps.notes)
        fig = _img(res.figures.get("sensitivity"), "prior sensitivity",
                   "Posterior intervals of μ and τ under each prior.")
        if fig and len(rows) > 12:
            tab = (f"<details><summary>Table: {len(rows) - 1} prior combinations and the "
                   f"classical reference</summary>{tab}</details>")
        parts.append("<h4>Prior sensitivity</h4>" + verdict + fig + tab + notes)
    if "leave1out" in sens:
        lo = sens["leave1out"]
        t = lo.table
        rows = []
        for lab, r in t.iterrows():
            rows.append([lab, fmt_ci(r["mu_median"], r["mu_low"], r["mu_high"], d),
                         fmt(r["mu_shift"], d + 1),
                         fmt_ci(r["tau_median"], r["tau_low"], r["tau_high"], d),
                         fmt_p(r["ppc_p"]), "outlying" if r["flag"] else ""])
        scale = f", log {o.measure}" if _is_ratio(o.measure) else ""
        tab = _html_table(["Omitted study", f"μ median [{pct} CrI]{scale}", "Shift of μ",
                           f"τ median [{pct} CrI]", "Predictive p", "Flag"], rows)
        if res.figures.get("leave1out"):
            tab = (f"<details><summary>Table: {len(rows)} leave-one-out fits</summary>{tab}"
                   "</details>")
        flagged = [str(x) for x in t.index[t["flag"].astype(bool)]]
        msg = (f"Flagged as outlying (cross-validated predictive p < {lo.alpha:g}): "
               + ", ".join(flagged) + "." if flagged else
               f"No study is outlying (every cross-validated predictive p ≥ {lo.alpha:g}).")
        parts.append("<h4>Leave-one-out (exact engine)</h4>"
                     + f'<div class="callout{" ok" if not flagged else ""}">{_e(msg)}</div>'
                     + _img(res.figures.get("leave1out"), "leave-one-out",
                            "Pooled effect with each study omitted, classical and "
                            "Bayesian.") + tab)
    if "subsets" in sens:
        ss = sens["subsets"]
        t = ss.table
        rows = []
        seen_analysis: set[str] = set()
        for (analysis, engine), r in t.iterrows():
            first = analysis not in seen_analysis
            seen_analysis.add(analysis)
            rows.append([analysis if first else "",
                         "Bayesian" if engine == "bayes" else "Classical",
                         str(int(r["k"])),
                         fmt_ci(r["estimate"], r["low"], r["high"], d),
                         fmt_ci(r["tau"], r["tau_low"], r["tau_high"], d),
                         f"{fmt(r['i2'], 0)}%", (r["excluded"] or "–") if first else ""])
        tab = _html_table(["Analysis", "Engine", "k", f"Pooled [{pct} interval]",
                           "τ", "I²", "Excluded studies"], rows, num_from=2, text_cols=(0, 6))
        rules = "; ".join(
            f"{sub['name']}: excludes rows where {sub['exclude']}" if sub.get("exclude")
            else f"{sub['name']}: rule {sub['rule']!r}" for sub in o.sensitivity["subsets"])
        parts.append("<h4>Subsets</h4>" + tab + f'<p class="note">{_e(rules)}. Pooled: '
                     "classical estimate with CI; Bayesian posterior median with CrI.</p>"
                     + _img(res.figures.get("subsets"), "subset analyses",
                            "Pooled effect and τ in each subset, classical and Bayesian."))
    if "psense" in sens and isinstance(sens["psense"], pd.DataFrame):
        t = sens["psense"]
        rows = [[str(i), fmt(r.get("prior"), 3), fmt(r.get("likelihood"), 3),
                 str(r.get("verdict", r.get("diagnosis", "")))] for i, r in t.iterrows()]
        thr = t.attrs.get("threshold", 0.05)
        parts.append("<h4>Power-scaling sensitivity (psense)</h4>"
                     + _html_table(["Parameter", "Prior sensitivity", "Likelihood sensitivity",
                                    "Verdict"], rows, text_cols=(3,))
                     + f'<p class="note">Kallioinen et al. (2024): how much the posterior moves '
                       f"when the prior or the likelihood is raised to a power near 1; values "
                       f"above {thr:g} count as sensitive.</p>")
    if not parts:
        return '<p class="note">No sensitivity analyses were requested in the spec.</p>'
    return "".join(parts)


def _fmt_bf(x: Any) -> str:
    if x is None or not np.isfinite(float(x)):
        return "–"
    x = float(x)
    return f"{x:.3g}" if x >= 0.001 else f"{x:.1e}".replace("-", MINUS)


def _df_html(df: pd.DataFrame, digits: int = 3) -> str:
    rows = []
    for _, r in df.iterrows():
        rows.append([fmt(v, digits) if isinstance(v, float | np.floating) else str(v)
                     for v in r.to_numpy()])
    return _html_table([str(c) for c in df.columns], rows)


def _bias_html(res: OutcomeResult) -> str:
    o = res.spec
    b = res.bias
    items = []
    tr = (lambda x: math.exp(x)) if _is_ratio(o.measure) else (lambda x: x)
    scale = f" ({o.measure})" if _is_ratio(o.measure) else ""
    if "egger" in b:
        e = b["egger"]
        df = f", df = {e.df}" if e.df is not None else ""
        items.append(["Egger's regression test",
                      f"{e.stat_name} = {fmt(e.stat, 2)}{df}, {p_text(e.pval)}",
                      f"limit estimate (se → 0){scale}: "
                      f"{fmt_ci(tr(e.limit_estimate), tr(e.ci_low), tr(e.ci_high))}; predictor "
                      f"{e.predictor}"])
    if "ranktest" in b:
        r = b["ranktest"]
        items.append(["Begg's rank correlation", f"Kendall's τ = {fmt(r.tau, 3)}, "
                      f"{p_text(r.pval)}", "exact p" if r.exact else "normal approximation"])
    if "trimfill" in b:
        t = b["trimfill"]
        items.append(["Trim-and-fill", f"{t.k0} study(ies) imputed on the {t.side} side",
                      f"adjusted estimate{scale} "
                      f"{fmt_ci(tr(t.estimate), tr(t.ci_low), tr(t.ci_high))} ({t.estimator}"
                      f" estimator)"])
    if "fsn" in b:
        f = b["fsn"]
        items.append(["Fail-safe N (Rosenthal)", f"{fmt(f.fsnum, 0)}", f"alpha = {f.alpha:g}"])
    tab = _html_table(["Check", "Result", "Detail"], items, num_from=9) if items else ""
    img = _img(res.figures.get("funnel"), "funnel plot",
               "Funnel plot (contour-enhanced: p = 0.10 / 0.05 / 0.01 regions shaded); open "
               "markers are studies imputed by trim-and-fill.")
    if not (tab or img):
        return '<p class="note">No small-study checks were requested in the spec.</p>'
    caveat = ""
    if o.measure in ("SMD", "SMDH"):
        caveat = ('<p class="note">For SMDs the standard error depends on the estimate, so '
                  "Egger-type tests with the standard error as predictor are miscalibrated; "
                  "a sample-size predictor (egger_predictor = \"sqrtninv\") is more reliable "
                  "(Pustejovsky &amp; Rodgers 2019).</p>")
    return img + tab + caveat


def _diagnostics_html(res: OutcomeResult) -> str:
    post = res.main
    if type(post).__name__ == "ExactPosterior" or isinstance(post, dict):
        return ('<div class="callout ok">Exact engine: the posterior is computed by adaptive '
                "quadrature over τ (relative error below 1e-10), so there are no Markov chains"
                " to diagnose.</div>")
    diag = res.diagnostics
    if diag is None:
        return '<p class="note">Diagnostics not available.</p>'
    a = post.attrs
    div = int(diag.attrs.get("divergences", 0))
    keep = [i for i in diag.index if not str(i).startswith("theta[")]
    theta = [i for i in diag.index if str(i).startswith("theta[")]
    rows = []
    for i in keep:
        r = diag.loc[i]
        rows.append([i, fmt(r["r_hat"], 3), fmt(r["ess_bulk"], 0), fmt(r["ess_tail"], 0),
                     "ok" if r["ok"] else "check"])
    if theta:
        t = diag.loc[theta]
        rows.append([f"theta (all {len(theta)} studies, worst)", fmt(t["r_hat"].max(), 3),
                     fmt(t["ess_bulk"].min(), 0), fmt(t["ess_tail"].min(), 0),
                     "ok" if t["ok"].all() else "check"])
    tab = _html_table(["Parameter", "R-hat", "ESS bulk", "ESS tail", "Status"], rows)
    ok = div == 0 and bool(diag["ok"].all())
    msg = (f"Sampler {a.get('sampler')}: {a.get('chains')} chains × {a.get('draws')} draws "
           f"after {a.get('tune')} tuning iterations, seed {a.get('random_seed')}; "
           f"{div} divergent transition(s). ")
    msg += ("All R-hat ≤ 1.01 and ESS ≥ 400." if ok else
            "Some checks failed: increase draws/tune (and target_accept if there are "
            "divergences) before reporting these numbers.")
    return f'<div class="callout{" ok" if ok else ""}">{_e(msg)}</div>' + tab


def _priors_html(o: Any) -> str:
    rows = []
    names = {"mu": "μ", "beta": "β (each slope)", "tau": "τ"}
    for key in ("mu", "beta", "tau"):
        if key in o.priors:
            p = o.priors[key]
            src = getattr(p, "source", "") or ""
            origin = "spec" if o.prior_origin.get(key) == "spec" else "bayesma default"
            rows.append([names[key], p.describe(), origin, src or "–"])
    return _html_table(["Parameter", "Prior", "From", "Source / rationale"], rows, num_from=9,
                       text_cols=(3,))


def _outcome_html(res: OutcomeResult, multi: bool) -> str:
    o = res.spec
    sid = _section_id(res)
    level = float(o.model["level"])
    pct = f"{100 * level:g}%"
    h = [f'<section id="{sid}">']
    h.append(f"<h2>{_e(o.name) if multi else 'Analysis'}</h2>")
    if o.description:
        h.append(f"<p>{_e(o.description)}</p>")
    facts = [("Studies", f"k = {o.k}"),
             ("Participants", f"{o.participants:,}" if o.participants else "not given"),
             ("Effect measure", f"{o.measure} ({measure_name(o.measure)})"),
             ("Model", {"random_effects": "random effects",
                        "meta_regression": f"random effects + meta-regression "
                                           f"({o.model['mods']})",
                        "subgroups": f"random effects + subgroups by {o.model['by']}"}[
                 o.model["type"]])]
    if o.filter:
        facts.append(("Rows", f"filter {o.filter}"))
    h.append('<dl class="kv">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
             + "</dl>")
    head, rows = outcome_table(res)
    h.append(f'<h3 id="{sid}-summary">Summary: Bayesian and classical</h3>')
    h.append(_html_table(head, rows))
    below = (f"P({_e(o.measure)} &lt; 1) is the posterior probability that the ratio is below 1"
             if _is_ratio(o.measure) else
             "P(&lt; 0) is the posterior probability that the quantity is below 0")
    h.append(f'<p class="note">Bayesian: posterior median and {pct} equal-tailed credible '
             f"interval; {below}. "
             f"Classical: {_e(res.classical.method)} estimate with "
             f"{_e(_test_name(res.classical.test))}; for τ, τ² and I² the Q-profile CI.</p>")
    h.append("<h4>Priors</h4>" + _priors_html(o))
    h.append(f'<h3 id="{sid}-forest">Forest plot</h3>')
    h.append(_img(res.figures.get("forest"), "forest plot",
                  "Observed study estimates (squares sized by weight, with CIs) and their "
                  "shrunken posterior estimates beneath; pooled Bayesian and classical "
                  "diamonds and the prediction intervals for a new study.")
             or '<p class="note">Forest plot not drawn.</p>')
    h.append(f'<h3 id="{sid}-heterogeneity">Heterogeneity</h3>' + _heterogeneity_html(res))
    mod = _moderator_html(res)
    if mod:
        h.append(mod)
    pp = _img(res.figures.get("prior_posterior"), "prior and posterior",
              "Prior (grey) and posterior (blue) densities of τ and μ; the classical "
              "estimate beneath.")
    if pp:
        h.append(f'<h3 id="{sid}-priorpost">Prior and posterior</h3>' + pp)
    h.append(f'<h3 id="{sid}-sensitivity">Sensitivity analyses</h3>' + _sensitivity_html(res))
    h.append(f'<h3 id="{sid}-bias">Small-study effects and publication bias</h3>'
             + _bias_html(res))
    h.append(f'<h3 id="{sid}-diagnostics">Convergence diagnostics</h3>'
             + _diagnostics_html(res))
    if res.notes:
        h.append("<h4>Notes and warnings</h4><ul>"
                 + "".join(f'<li class="note">{_e(n)}</li>' for n in res.notes) + "</ul>")
    h.append("</section>")
    return "\n".join(h)


def _reproducibility_html(result: SpecResult) -> str:
    spec = result.spec
    s = spec.sampler
    vers = package_versions()
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
    dl = '<dl class="kv">' + "".join(
        f"<dt>{_e(k)}</dt><dd><code>{_e(v)}</code></dd>" if k in ("Data SHA-256", "Command")
        else f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts) + "</dl>"
    vt = '<p class="versions">' + "".join(
        f"<span><b>{_e(k)}</b> {_e(v)}</span>" for k, v in vers.items()) + "</p>"
    files = ""
    if result.out_dir is not None:
        names = sorted({str(Path(f).relative_to(result.out_dir)) for f in result.files
                        if Path(f).is_relative_to(result.out_dir)} | {"report.html"})
        files = ("<h4>Files written</h4><p>" + ", ".join(f"<code>{_e(n)}</code>"
                                                          for n in names) + "</p>")
    cit = f"<p><strong>Data source.</strong> {_e(src['citation'])}</p>" if src.get(
        "citation") else ""
    return ('<section id="reproducibility"><h2>Reproducibility</h2>' + dl + cit
            + "<h4>Package versions</h4>" + vt + files
            + "<h4>Spec as run</h4><pre><code>" + _e(spec.to_toml()) + "</code></pre></section>")


def render_html(result: SpecResult) -> str:
    """The self-contained report page (figures embedded as base64 PNG)."""
    spec = result.spec
    multi = len(result.outcomes) > 1
    toc = ['<a href="#overview">Results</a>']
    for r in result.outcomes:
        toc.append(f'<a href="#{_section_id(r)}">{_e(r.spec.name if multi else "Analysis")}'
                   "</a>")
    if not multi:
        r = result.outcomes[0]
        sid = _section_id(r)
        toc += [f'<a href="#{sid}-forest">Forest plot</a>',
                f'<a href="#{sid}-heterogeneity">Heterogeneity</a>']
        mtype = r.spec.model["type"]
        if mtype != "random_effects":
            name = "Meta-regression" if mtype == "meta_regression" else "Subgroups"
            toc.append(f'<a href="#{sid}-moderators">{name}</a>')
        toc += [f'<a href="#{sid}-sensitivity">Sensitivity</a>',
                f'<a href="#{sid}-bias">Small-study effects</a>',
                f'<a href="#{sid}-diagnostics">Diagnostics</a>']
    toc.append('<a href="#reproducibility">Reproducibility</a>')
    head, rows, notes = overview_table(result)
    ov_title = "Results across outcomes" if multi else "Main result"
    engine = "exact posterior (quadrature)" if spec.engine == "exact" else "MCMC (PyMC)"
    meta = (f"bayesma {_e(package_versions()['bayesma'])} · Bayesian engine: {engine} · "
            f"classical twin: {_e(spec.classical['method'])} ({_e(spec.classical['test'])}) · "
            f"{_e(result.meta.get('written', ''))}")
    body = [
        '<header class="top">',
        f"<h1>{_e(spec.title)}</h1>",
        f'<div class="meta">{meta}</div>',
        "</header>",
    ]
    if spec.description:
        body.append(f"<p>{_e(spec.description)}</p>")
    if spec.data_source.get("citation"):
        body.append(f'<p class="note">Data: {_e(spec.data_source["citation"])}</p>')
    body.append('<nav class="toc">' + "".join(toc) + "</nav>")
    body.append(f'<section id="overview"><h2>{ov_title}</h2>')
    body.append(_html_table(head, rows))
    body += [f'<p class="note">{_e(n)}</p>' for n in notes]
    body.append("</section>")
    for r in result.outcomes:
        body.append(_outcome_html(r, multi))
    body.append(_reproducibility_html(result))
    body.append(f"<footer>Generated by bayesma {_e(package_versions()['bayesma'])}. Bayesian "
                "and classical results are computed on the same data; the classical engine "
                "matches R's metafor.</footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(spec.title)}</title><style>{_CSS}</style></head><body><main>"
            + "\n".join(body) + "</main></body></html>\n")

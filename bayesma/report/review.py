"""Review-level parts of the report: PRISMA 2020 diagram, risk-of-bias figures, summary of findings.

Fed by the spec's ``[prisma]``, ``[rob]`` and ``[grade]`` sections: the PRISMA flow
diagram (``bm.prisma_flow``) and the GRADE summary-of-findings table of all outcomes
(``bm.summary_of_findings`` on each outcome's posterior, written also as Markdown, CSV
and Word) at the top of the report; per outcome the risk-of-bias traffic-light plot and
the summary bar plot weighted by the studies' classical weights (``bm.rob_plot``), and
risk-of-bias dots beside the forest plots.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bayesma.grade import summary_of_findings
from bayesma.pipeline import OutcomeResult, SpecResult
from bayesma.plots import prisma_flow, rob_plot
from bayesma.report.tables import Table
from bayesma.report.text import csv_safe
from bayesma.spec import Spec
from bayesma.spec.review import rob_settings

__all__ = ["forest_rob", "review_files", "review_section", "rob_figures", "rob_section"]

TryFigure = Callable[[str, Callable[[], Any], list[Path]], None]


def forest_rob(spec: Spec, res: OutcomeResult) -> dict[str, Any]:
    """``forest_plot`` keywords for risk-of-bias dots (empty without ``[rob]``)."""
    cfg = spec.raw.get("rob")
    if cfg is None or cfg.get("forest") is False:
        return {}
    kw = rob_settings(spec.raw, res.spec.raw_data)
    d = res.spec.data
    cols = list(kw["domains"] or [c for c in (f"D{i}" for i in range(1, 10))
                                  if c in d.columns])
    if kw["overall"] and kw["overall"] in d.columns:
        cols.append(kw["overall"])
    return {"rob": cols, "rob_tool": kw["tool"]} if cols else {}


def rob_figures(spec: Spec, res: OutcomeResult, folder: Path, try_figure: TryFigure) -> None:
    """The outcome's traffic-light and (weighted) summary risk-of-bias plots."""
    if "rob" not in spec.raw:
        return
    kw = rob_settings(spec.raw, res.spec.raw_data)
    data = res.spec.data
    weights = None
    if res.classical is not None and len(res.classical.weights) == len(data):
        weights = list(res.classical.weights)
    try_figure("rob_traffic", lambda: rob_plot(data, kind="traffic", **kw),
               [folder / "rob_traffic.png"])
    try_figure("rob_summary", lambda: rob_plot(data, kind="summary", weights=weights, **kw),
               [folder / "rob_summary.png"])


def rob_section(res: OutcomeResult, figure: Callable[..., Any]) -> dict[str, Any] | None:
    """The outcome's risk-of-bias figures, or None."""
    tl, sm = res.figures.get("rob_traffic"), res.figures.get("rob_summary")
    if tl is None and sm is None:
        return None
    return {"traffic": figure(tl, "risk-of-bias traffic-light plot",
                              "Risk of bias per study and domain (robvis layout)."),
            "summary": figure(sm, "risk-of-bias summary plot",
                              "Proportion of the studies' weight (classical random-effects "
                              "weights) at each risk-of-bias judgement, per domain.")}


def _sof(result: SpecResult) -> Any:
    spec = result.spec
    grade = spec.raw.get("grade") or {}
    results = {r.spec.name: r.bayes for r in result.outcomes if r.bayes is not None
               and r.spec.dependent is None}
    if not results:
        return None
    thr = grade.get("thresholds")
    return summary_of_findings(
        results, assumed_risk=grade.get("assumed_risk"), ratings=grade.get("ratings"),
        thresholds=tuple(thr) if thr else None, start=grade.get("start", "high"),
        comments=grade.get("comments"), title=spec.title)


def review_files(result: SpecResult, out: Path) -> list[Path]:
    """Write the PRISMA diagram and the summary-of-findings table; a failure becomes a
    note in ``result.meta["review_notes"]``."""
    import matplotlib.pyplot as plt  # pyplot picks a backend when imported: keep it late

    spec = result.spec
    notes: list[str] = result.meta.setdefault("review_notes", [])
    figs: dict[str, Path] = result.meta.setdefault("review_figures", {})
    files: list[Path] = []
    if "prisma" in spec.raw:
        try:
            fig = prisma_flow(spec.raw["prisma"], title=None)
            for ext in ("png", "svg"):
                fig.savefig(out / f"prisma.{ext}", dpi=200 if ext == "png" else "figure",
                            facecolor="white")
                files.append(out / f"prisma.{ext}")
            figs["prisma"] = out / "prisma.png"
        except Exception as exc:  # noqa: BLE001 - a figure must not sink the report
            notes.append(f"PRISMA diagram not drawn: {type(exc).__name__}: {exc}")
        finally:
            plt.close("all")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sof = _sof(result)
    except Exception as exc:  # noqa: BLE001 - a table must not sink the report
        notes.append(f"summary of findings not built: {type(exc).__name__}: {exc}")
        sof = None
    result.meta["sof"] = sof
    if sof is not None:
        csv_safe(sof.table).to_csv(out / "summary_of_findings.csv", index=False)
        (out / "summary_of_findings.md").write_text(sof.to_markdown(), encoding="utf-8")
        sof.to_docx(out / "summary_of_findings.docx")
        files += [out / f"summary_of_findings.{e}" for e in ("csv", "md", "docx")]
    return files


def review_section(result: SpecResult, figure: Callable[..., Any]) -> dict[str, Any] | None:
    """The review section of the report (PRISMA, summary of findings), or None."""
    figs = result.meta.get("review_figures") or {}
    sof = result.meta.get("sof")
    notes = list(result.meta.get("review_notes") or [])
    if not figs and sof is None and not notes:
        return None
    out: dict[str, Any] = {"prisma": figure(figs.get("prisma"), "PRISMA 2020 flow diagram",
                                            "PRISMA 2020 flow diagram (Page et al. 2021, "
                                            "BMJ 372:n71)."),
                           "sof": None, "ratings": None, "notes": notes}
    if sof is not None:
        t = sof.table
        out["sof"] = Table(list(t.columns), t.astype(str).values.tolist(), num_from=99,
                           text_cols=tuple(range(len(t.columns))))
        r = sof.ratings
        out["ratings"] = Table(list(r.columns), r.astype(str).values.tolist(), num_from=99,
                               text_cols=(len(r.columns) - 1,))
        out["sof_note"] = ("Certainty of the evidence (GRADE): ratings marked 'proposed' "
                           "were suggested by bayesma from the data (inconsistency from I² "
                           "and the prediction interval, imprecision from the credible "
                           "interval against the thresholds and the optimal information "
                           "size, publication bias from Egger's test with at least 10 "
                           "studies) and are for the reviewers to confirm; domains 'not "
                           "rated' were not assessed. Relative effects are posterior "
                           "medians with credible intervals.")
    return out

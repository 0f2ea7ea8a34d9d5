"""``summary.md``: the summary tables as Markdown.

Text from the spec or the data (title, description, outcome and term names, notes) is
escaped (:func:`bayesma.report.text.md_escape`): HTML and Markdown in it is shown as
text, never rendered.
"""

from __future__ import annotations

from bayesma.formatting import MINUS
from bayesma.pipeline import SpecResult
from bayesma.report.tables import outcome_table, overview_table, prior_text
from bayesma.report.text import md_escape, measure_name, p_text, package_versions

__all__ = ["summary_markdown"]


def _cell(x: str) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(map(_cell, head)) + " |",
           "|" + "|".join(":---" if j == 0 else "---:" for j in range(len(head))) + "|"]
    out += ["| " + " | ".join(map(_cell, r)) + " |" for r in rows]
    return "\n".join(out)


def summary_markdown(result: SpecResult) -> str:
    """The summary tables as Markdown (summary.md)."""
    spec = result.spec
    lines = [f"# {md_escape(spec.title)}", ""]
    if spec.description:
        lines += [md_escape(spec.description), ""]
    head, rows, notes = overview_table(result)
    rows = [[md_escape(r[0]), *r[1:-2], md_escape(r[-2]), r[-1]] for r in rows]
    lines += ["## Results across outcomes" if len(result.outcomes) > 1 else "## Main result",
              "", _md_table(head, rows), ""]
    lines += [f"*{md_escape(n)}*" for n in notes]
    for res in result.outcomes:
        o = res.spec
        lines += ["", f"## {md_escape(o.name)}", "",
                  f"k = {o.k} studies; measure {md_escape(o.measure)} "
                  f"({md_escape(measure_name(o.measure))}); priors: "
                  f"{md_escape(prior_text(o))}.", ""]
        h, r = outcome_table(res)
        r = [[md_escape(x[0]), *x[1:]] for x in r]
        lines += [_md_table(h, r), ""]
        if o.model["type"] == "subgroups" and res.moderator_classical is not None:
            sub = res.moderator_classical
            lines += [f"Test of subgroup differences (classical): Q-between = {sub.qb:.2f} "
                      f"(df = {sub.qb_df}), {p_text(sub.qb_pval)}.", ""]
        for n in res.notes:
            lines.append(f"- Note: {md_escape(n)}")
    lines += ["", f"bayesma {package_versions()['bayesma']}; engine {spec.engine}; seed "
              f"{spec.sampler['seed']}; data SHA-256 {spec.data_source['sha256']}.", ""]
    return "\n".join(lines).replace(MINUS, "-")

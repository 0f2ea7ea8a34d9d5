"""The summary-of-findings table object: DataFrame, HTML, Markdown and Word output.

:class:`SummaryOfFindings` holds what :func:`~bayesma.grade.summary_of_findings` built:
the table (one row per outcome), the domain ratings behind each certainty grade (the
reviewer's and bayesma's proposals, with reasons) and footnotes; the output formats go
through :func:`bayesma.export.export_table`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bayesma.errors import BayesmaError
from bayesma.export import export_table
from bayesma.export.tables import docx_table, format_cells

__all__ = ["SummaryOfFindings"]

_GRADE_NOTE = ("GRADE certainty: high (\u2295\u2295\u2295\u2295), moderate, low, very low "
               "(\u2295\u25ef\u25ef\u25ef). Ratings marked 'proposed' were suggested by "
               "bayesma from the data (inconsistency: I\u00b2 and the prediction interval; "
               "imprecision: the interval against the thresholds and the optimal "
               "information size; publication bias: Egger's test with at least 10 "
               "studies) and should be confirmed by the reviewers.")


@dataclass
class SummaryOfFindings:
    """A GRADE summary-of-findings table.

    Attributes
    ----------
    table : DataFrame
        One row per outcome.
    ratings : DataFrame
        Per outcome and GRADE domain: the rating used, its source (``user``,
        ``proposed`` or ``not rated``), bayesma's proposal and the reason.
    notes : list of str
        The reasons of bayesma's proposals, per outcome.
    title : str or None
        The caption.
    """

    table: pd.DataFrame
    ratings: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    title: str | None = None

    def __repr__(self) -> str:
        with pd.option_context("display.max_colwidth", 60, "display.width", 200):
            return f"Summary of findings{': ' + self.title if self.title else ''}\n" \
                   f"{self.table.to_string(index=False)}"

    def to_markdown(self) -> str:
        """The table, then the ratings, as Markdown (pipe tables)."""
        out = export_table(self.table, "markdown", caption=self.title)
        out += "\n" + export_table(self.ratings, "markdown", caption="GRADE ratings")
        return out + "\n" + _GRADE_NOTE + "\n"

    def to_html(self) -> str:
        """The table, the ratings and the note as an HTML fragment."""
        out = ['<div class="bayesma-sof">',
               export_table(self.table, "html", caption=self.title or "Summary of findings"),
               export_table(self.ratings, "html", caption="GRADE ratings"),
               f"<p><small>{html.escape(_GRADE_NOTE)}</small></p>", "</div>"]
        return "\n".join(out)

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_docx(self, path: str | Path) -> Path:
        """Write the table and the ratings to a Word document (python-docx)."""
        import docx

        path = Path(path)
        if path.suffix.lower() != ".docx":
            raise BayesmaError(f"to_docx: {str(path)!r} should end in .docx")
        if not path.parent.exists():
            raise BayesmaError(f"to_docx: directory {str(path.parent)!r} does not exist")
        document = docx.Document()
        document.add_heading(self.title or "Summary of findings", level=1)
        docx_table(document, self.table, format_cells(self.table), None)
        document.add_paragraph("")
        docx_table(document, self.ratings, format_cells(self.ratings), "GRADE ratings")
        document.add_paragraph(_GRADE_NOTE)
        document.save(str(path))
        return path

    def to_frame(self) -> pd.DataFrame:
        """The table (a copy)."""
        return self.table.copy()

    def export(self, path_or_format: str | Path, **kw: Any) -> Any:
        """The table through :func:`bayesma.export.export_table`."""
        return export_table(self.table, path_or_format, caption=self.title, **kw)

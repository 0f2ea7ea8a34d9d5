"""``export_table``: any result table as CSV, Markdown, LaTeX (booktabs), HTML or a Word table.

CSV keeps the numbers as they are (for other software); the other formats show them
with fixed decimals through :func:`bayesma.formatting.fmt_num` (missing values empty).
LaTeX escapes its special characters (``& % $ # _ { } ~ ^ \\``) and writes a
``booktabs`` table (``\\toprule``, ``\\midrule``, ``\\bottomrule``); Word tables are
written with python-docx.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesma.errors import BayesmaError
from bayesma.formatting import fmt_num, fmt_p

__all__ = ["FORMATS", "export_table", "format_cells", "latex_escape"]

#: format name -> file extensions
FORMATS: dict[str, tuple[str, ...]] = {
    "csv": (".csv",), "markdown": (".md", ".markdown"), "latex": (".tex",),
    "html": (".html", ".htm"), "docx": (".docx",),
}
_ALIASES = {"md": "markdown", "tex": "latex", "word": "docx", "htm": "html"}

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "<": "$<$", ">": "$>$"}
# characters bayesma's tables use that pdfLaTeX does not know
_LATEX_UNICODE = {"\u2212": "$-$", "\u00b2": "$^2$", "\u03c4": r"$\tau$", "\u03bc": r"$\mu$",
                  "\u03b8": r"$\theta$", "\u2264": r"$\leq$", "\u2265": r"$\geq$",
                  "\u2013": "--", "\u2014": "---", "\u00b1": r"$\pm$", "\u2009": r"\,",
                  "\u2295": r"$\oplus$", "\u25ef": r"$\bigcirc$", "\u00d7": r"$\times$"}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped (and a few symbols as math)."""
    out = []
    for ch in str(text):
        out.append(_LATEX_SPECIAL.get(ch) or _LATEX_UNICODE.get(ch) or ch)
    return "".join(out)


_P_COLUMN = re.compile(r"(^|[_ .-])(p|pval|p[_ .-]?value)$", re.IGNORECASE)


def _cell(v: Any, digits: int, pcol: bool = False) -> str:
    if v is None:
        return ""
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        if math.isnan(v):
            return ""
        return fmt_p(v) if pcol else fmt_num(v, digits)
    return str(v)


def _check_digits(df: pd.DataFrame, digits: int | Mapping[str, int]) -> None:
    """Raise :class:`BayesmaError` when a ``digits`` dict names columns ``df`` lacks."""
    if not isinstance(digits, Mapping):
        return
    columns = [str(c) for c in df.columns]
    unknown = [k for k in digits if str(k) not in columns]
    if unknown:
        raise BayesmaError(f"digits names column(s) {unknown} that the table does not "
                           f"have; its columns are {columns}")


def format_cells(df: pd.DataFrame, digits: int | Mapping[str, int] = 2) -> list[list[str]]:
    """The cells of ``df`` as text rows (``digits`` decimals, per column if a dict;
    p-value columns, named ``p``, ``pval``, ``p_value`` or ending in ``_pval``, as
    :func:`bayesma.formatting.fmt_p`).

    Raises
    ------
    BayesmaError
        ``digits`` is a dict naming a column ``df`` does not have.
    """
    _check_digits(df, digits)
    pcols = {str(c): bool(_P_COLUMN.search(str(c))) for c in df.columns}
    rows = []
    for _, r in df.iterrows():
        rows.append([_cell(v, digits.get(str(c), 2) if isinstance(digits, Mapping)
                           else digits, pcols[str(c)]) for c, v in r.items()])
    return rows


def _prepare(df: Any) -> pd.DataFrame:
    if isinstance(df, pd.Series):
        df = df.to_frame()
    if not isinstance(df, pd.DataFrame):
        table = getattr(df, "table", None)
        if isinstance(table, pd.DataFrame):
            df = table
        else:
            raise BayesmaError(f"export_table needs a DataFrame; got {type(df).__name__}")
    if not isinstance(df.index, pd.RangeIndex) or df.index.name is not None:
        df = df.reset_index()
    return df.set_axis([str(c) for c in df.columns], axis=1)  # a copy: the caller's keeps its names


def _numeric(df: pd.DataFrame) -> list[bool]:
    return [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
            for c in df.columns]


def _markdown(df: pd.DataFrame, cells: list[list[str]], caption: str | None) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    num = _numeric(df)
    lines = ["| " + " | ".join(esc(c) for c in df.columns) + " |",
             "|" + "|".join("---:" if n else ":---" for n in num) + "|"]
    lines += ["| " + " | ".join(esc(s) for s in row) + " |" for row in cells]
    if caption:
        lines += ["", f"Table: {esc(caption)}"]
    return "\n".join(lines) + "\n"


def _latex(df: pd.DataFrame, cells: list[list[str]], caption: str | None,
           label: str | None) -> str:
    align = "".join("r" if n else "l" for n in _numeric(df))
    out = ["\\begin{table}[htbp]", "\\centering"]
    if caption:
        out.append(f"\\caption{{{latex_escape(caption)}}}")
    if label:
        out.append(f"\\label{{{label}}}")
    out += [f"\\begin{{tabular}}{{{align}}}", "\\toprule",
            " & ".join(latex_escape(c) for c in df.columns) + " \\\\", "\\midrule"]
    out += [" & ".join(latex_escape(s) for s in row) + " \\\\" for row in cells]
    out += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(out) + "\n"


def _html(df: pd.DataFrame, cells: list[list[str]], caption: str | None) -> str:
    num = _numeric(df)
    out = ['<table class="bayesma-table">']
    if caption:
        out.append(f"<caption>{html.escape(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
               + "</tr></thead>")
    out.append("<tbody>")
    for row in cells:
        tds = "".join(f'<td style="text-align:{"right" if n else "left"}">'
                      f'{html.escape(s).replace(chr(10), "<br>")}</td>'
                      for s, n in zip(row, num, strict=True))
        out.append(f"<tr>{tds}</tr>")
    out.append("</tbody></table>")
    return "\n".join(out) + "\n"


def docx_table(document: Any, df: pd.DataFrame, cells: list[list[str]],
               caption: str | None) -> Any:
    """Append ``df`` as a Word table (bold header row) to a python-docx ``document``."""
    if caption:
        document.add_paragraph(caption).runs[0].bold = True
    table = document.add_table(rows=1 + len(cells), cols=len(df.columns))
    table.style = "Table Grid"
    for j, c in enumerate(df.columns):
        cell = table.rows[0].cells[j]
        cell.text = c
        for run in cell.paragraphs[0].runs:
            run.bold = True
    for i, row in enumerate(cells, start=1):
        for j, s in enumerate(row):
            table.rows[i].cells[j].text = s
    return table


def export_table(df: Any, path_or_format: str | Path, *, caption: str | None = None,
                 digits: int | Mapping[str, int] = 2, label: str | None = None
                 ) -> str | Path | Any:
    """Write a result table as CSV, Markdown, LaTeX (booktabs), HTML or Word.

    Parameters
    ----------
    df : DataFrame
        Any result table (``res.coef``, ``post.summary()``, a summary-of-findings table,
        ...); a named index becomes the first column. Objects with a ``.table``
        DataFrame are accepted too.
    path_or_format : str or Path
        A file name ending in ``.csv``, ``.md``, ``.tex``, ``.html`` or ``.docx`` (the
        file is written and its path returned), or a format name ``"csv"``,
        ``"markdown"``, ``"latex"``, ``"html"`` (the text is returned) or ``"docx"`` (a
        python-docx Document is returned).
    caption : str, optional
        Table caption (Markdown: a pandoc ``Table:`` line; LaTeX ``\\caption``; HTML
        ``<caption>``; Word: a bold paragraph above the table).
    digits : int or dict
        Decimals of floating-point cells (per column with a dict, whose keys must be
        columns of the table, a named index included; others get 2); not used for CSV,
        which keeps full precision (a dict is still checked).
    label : str, optional
        LaTeX ``\\label``.

    Returns
    -------
    str, Path or docx.Document

    Raises
    ------
    BayesmaError
        An unknown format or extension, a missing directory, or ``digits`` naming a
        column the table does not have.
    """
    table = _prepare(df)
    _check_digits(table, digits)
    fmt = str(path_or_format).lower()
    fmt = _ALIASES.get(fmt, fmt)
    path: Path | None = None
    if fmt not in FORMATS:
        path = Path(path_or_format)
        ext = path.suffix.lower()
        fmt = next((f for f, exts in FORMATS.items() if ext in exts), "")
        if not fmt:
            raise BayesmaError(f"export_table: cannot tell the format of {str(path)!r}; use "
                               f"a name ending in .csv, .md, .tex, .html or .docx, or one "
                               f"of {', '.join(FORMATS)}")
        if not path.parent.exists():
            raise BayesmaError(f"export_table: directory {str(path.parent)!r} does not exist")
    if fmt == "csv":
        text = table.to_csv(index=False)
    elif fmt == "docx":
        import docx

        document = docx.Document()
        docx_table(document, table, format_cells(table, digits), caption)
        if path is None:
            return document
        document.save(str(path))
        return path
    else:
        cells = format_cells(table, digits)
        text = {"markdown": lambda: _markdown(table, cells, caption),
                "latex": lambda: _latex(table, cells, caption, label),
                "html": lambda: _html(table, cells, caption)}[fmt]()
    if path is None:
        return text
    path.write_text(text, encoding="utf-8")
    return path

"""Tables export: CSV, Markdown, LaTeX (booktabs, escaped), HTML and Word."""

from __future__ import annotations

import pandas as pd
import pytest

import bayesma as bm
from bayesma.errors import BayesmaError
from bayesma.export.tables import latex_escape


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return pd.DataFrame({"term": ["a_1 & b", "50% | c"], "estimate": [-0.7123, 1.5],
                         "k": [3, 12], "pval": [0.00002, 0.2345]}).set_index("term")


def test_csv_keeps_full_precision(table, tmp_path):
    path = bm.export_table(table, tmp_path / "t.csv")
    back = pd.read_csv(path)
    assert list(back.columns) == ["term", "estimate", "k", "pval"]
    assert back["estimate"].tolist() == [-0.7123, 1.5]
    assert bm.export_table(table, "csv") == path.read_text()


def test_markdown(table):
    md = bm.export_table(table, "markdown", caption="Coefficients", digits={"estimate": 3})
    lines = md.splitlines()
    assert lines[0] == "| term | estimate | k | pval |"
    assert lines[1] == "|:---|---:|---:|---:|"
    assert lines[2] == "| a_1 & b | \u22120.712 | 3 | < 0.001 |"
    assert lines[3] == "| 50% \\| c | 1.500 | 12 | 0.234 |"
    assert lines[-1] == "Table: Coefficients"


def test_digits_for_an_unknown_column_is_an_error(table):
    # the named index "term" is a column of the exported table; "estimat" is a typo
    assert "0.712" in bm.export_table(table, "md", digits={"term": 1, "estimate": 3})
    for fmt in ("markdown", "latex", "html", "csv", "docx"):
        with pytest.raises(BayesmaError, match=r"\['estimat'\]") as e:
            bm.export_table(table, fmt, digits={"estimat": 3, "k": 0})
        assert "['term', 'estimate', 'k', 'pval']" in str(e.value)


def test_latex_booktabs_and_escaping(table, tmp_path):
    tex = bm.export_table(table, "latex", caption="Effects & 95% CI", label="tab:x")
    assert "\\begin{tabular}{lrrr}" in tex
    assert tex.index("\\toprule") < tex.index("\\midrule") < tex.index("\\bottomrule")
    assert "\\caption{Effects \\& 95\\% CI}" in tex and "\\label{tab:x}" in tex
    assert "a\\_1 \\& b & $-$0.71 & 3 & $<$ 0.001 \\\\" in tex
    assert latex_escape("#$%&_{}~^\\") == ("\\#\\$\\%\\&\\_\\{\\}\\textasciitilde{}"
                                           "\\textasciicircum{}\\textbackslash{}")
    assert latex_escape("I\u00b2 = 5%") == "I$^2$ = 5\\%"
    path = bm.export_table(table, tmp_path / "t.tex")
    assert path.read_text() == bm.export_table(table, "tex")


def test_html_and_word(table, tmp_path):
    html = bm.export_table(table, "html", caption="A <b> table")
    assert "<caption>A &lt;b&gt; table</caption>" in html
    assert "<td style=\"text-align:left\">a_1 &amp; b</td>" in html
    path = bm.export_table(table, tmp_path / "t.docx", caption="Coefficients")
    import docx
    doc = docx.Document(str(path))
    t = doc.tables[0]
    assert [c.text for c in t.rows[0].cells] == ["term", "estimate", "k", "pval"]
    assert [c.text for c in t.rows[2].cells] == ["50% | c", "1.50", "12", "0.234"]
    assert doc.paragraphs[0].text == "Coefficients"


def test_result_tables_and_errors(tmp_path):
    d = bm.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg",
                  data=bm.datasets.load("bcg"))
    res = bm.rma(d)
    md = bm.export_table(res.coef, "md")
    assert md.splitlines()[2].startswith("| intrcpt | \u22120.71 | 0.18 |")
    with pytest.raises(BayesmaError, match="cannot tell the format"):
        bm.export_table(res.coef, tmp_path / "t.xlsx")
    with pytest.raises(BayesmaError, match="does not exist"):
        bm.export_table(res.coef, tmp_path / "nope" / "t.csv")
    with pytest.raises(BayesmaError, match="needs a DataFrame"):
        bm.export_table([1, 2], "csv")

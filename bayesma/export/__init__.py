"""Export of result tables to CSV, Markdown, LaTeX (booktabs), HTML and Word.

>>> import bayesma as bm
>>> bm.export_table(res.coef, "coef.tex", caption="Meta-regression")  # doctest: +SKIP
"""

from bayesma.export.tables import FORMATS, export_table

__all__ = ["FORMATS", "export_table"]

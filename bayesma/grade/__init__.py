"""GRADE: the summary-of-findings table, absolute effects and certainty of the evidence.

>>> import bayesma as bm
>>> sof = bm.summary_of_findings({"Tuberculosis": res}, assumed_risk=0.01)  # doctest: +SKIP
>>> sof.to_docx("sof.docx")  # doctest: +SKIP
"""

from bayesma.grade.absolute import intervention_risk
from bayesma.grade.certainty import optimal_information_size
from bayesma.grade.sof import summary_of_findings
from bayesma.grade.table import SummaryOfFindings

__all__ = ["SummaryOfFindings", "intervention_risk", "optimal_information_size",
           "summary_of_findings"]

"""Robust variance estimation for dependent effect sizes (robumeta 2.0's ``robu``).

:func:`robu` fits robumeta's correlated-effects (``CORR``) or hierarchical-effects
(``HIER``) working model (Hedges, Tipton & Johnson 2010) with Tipton's (2015)
small-sample corrections; :class:`RobuResult` holds the coefficients, tau² (omega²,
I²), robumeta's printout and :meth:`RobuResult.sensitivity` to rho.

References
----------
Hedges, L. V., Tipton, E., & Johnson, M. C. (2010). Robust variance estimation in
meta-regression with dependent effect size estimates. Research Synthesis Methods, 1(1),
39-65.
Tipton, E. (2015). Small sample adjustments for robust variance estimation with
meta-regression. Psychological Methods, 20(3), 375-393.
Fisher, Z., Tipton, E., & Zhipeng, H. (2017). robumeta: Robust variance meta-regression
(R package version 2.0).
"""

from bayesma.classical.robu.fit import FewDfWarning, robu
from bayesma.classical.robu.result import RobuResult

__all__ = ["FewDfWarning", "RobuResult", "robu"]

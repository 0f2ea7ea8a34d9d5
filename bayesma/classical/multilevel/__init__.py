"""Multilevel and multivariate meta-analysis (metafor 3.8 ``rma.mv`` with random intercepts).

The model for ``k`` effect sizes ``y`` is

    y = X beta + sum_l Z_l u_l + e,   u_l ~ N(0, sigma²_l I),   e ~ N(0, V),

so that the marginal covariance is ``M = V + sum_l sigma²_l Z_l Z_l'``. ``V`` holds the
(possibly correlated) sampling variances and covariances; ``Z_l`` is the indicator matrix
of the levels of the l-th random factor. Nested factors, ``~ 1 | district/school``, give
the three-level model of Konstantopoulos (2011) and Van den Noortgate et al. (2013):
one variance component for the districts and one for the schools within districts
(metafor names them ``district`` and ``district/school``). A non-diagonal ``V`` (e.g.
from :func:`impute_covariance_matrix`) gives the correlated-effects model.

Estimation follows metafor's ``rma.mv`` (Viechtbauer 2010; its ``.ll.rma.mv``):

* given the variance components, ``beta = (X'M⁻¹X)⁻¹ X'M⁻¹ y`` (generalised least
  squares) with ``vcov = (X'M⁻¹X)⁻¹``;
* the variance components maximise the restricted log-likelihood (metafor's full
  REML likelihood, ``REMLf = TRUE``)

      ll_REML = -1/2 [(k - p) log 2π - log|X'X| + log|M| + log|X'M⁻¹X| + r'M⁻¹r],
      r = y - X beta,

  or, with ``method="ML"``, ``ll_ML = -1/2 [k log 2π + log|M| + r'M⁻¹r]``
  (Harville 1977; Searle, Casella & McCulloch 1992, ch. 6).
  We maximise it with Fisher scoring followed by Newton-Raphson steps on the
  variance components (bounded at zero), with the analytic gradient
  ``dl/dsigma²_l = -1/2 tr(P D_l) + 1/2 y'P D_l P y``, the expected information
  ``1/2 tr(P D_l P D_m)`` and the observed information
  ``y'P D_l P D_m P y - 1/2 tr(P D_l P D_m)``, ``D_l = Z_l Z_l'``,
  ``P = M⁻¹ - M⁻¹X(X'M⁻¹X)⁻¹X'M⁻¹`` (``M⁻¹`` instead of ``P`` in the trace for ML),
  iterating to machine precision. All products use the block-diagonal structure of
  ``M`` (the groups of rows linked by the random factors or by ``V``), so the cost grows
  with the block sizes rather than with ``k³``;
* ``QE = y'P_V y`` with ``P_V`` built from ``V`` alone (the test of residual
  heterogeneity, Cochran's Q generalised to correlated sampling errors);
* ``QM``: Wald test of the moderators (of the intercept in an intercept-only model, as
  metafor), chi-square on ``m`` df for ``test="z"``, ``F = QM/m`` on ``(m, k - p)`` df
  for ``test="t"``;
* fit statistics as metafor: ``dev.ML = -2 (ll_ML - ll_sat)`` with
  ``ll_sat = -1/2 (k log 2π + log|V|)``, ``dev.REML = -2 ll_REML``; AIC, BIC, AICc with
  ``p`` plus the number of variance components as parameters (``k - p`` observations
  for the REML BIC and AICc).

References
----------
Konstantopoulos, S. (2011). Fixed effects and variance components estimation in
three-level meta-analysis. Research Synthesis Methods, 2(1), 61-76.
Van den Noortgate, W., López-López, J. A., Marín-Martínez, F., & Sánchez-Meca, J.
(2013). Three-level meta-analysis of dependent effect sizes. Behavior Research Methods,
45(2), 576-594.
Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. Journal
of Statistical Software, 36(3), 1-48.
"""

from bayesma.classical.multilevel.fitting import rma_mv
from bayesma.classical.multilevel.inputs import impute_covariance_matrix, parse_random
from bayesma.classical.multilevel.result import RMAMVResult

__all__ = ["RMAMVResult", "impute_covariance_matrix", "parse_random", "rma_mv"]

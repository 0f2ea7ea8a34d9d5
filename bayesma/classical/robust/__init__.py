"""Cluster-robust variance estimation (RVE) for meta-analytic models.

:func:`robust` mirrors metafor 3.8's ``robust()`` for :func:`~bayesma.classical.rma.rma`
and :func:`~bayesma.classical.multilevel.rma_mv` fits; :func:`coef_test`,
:func:`wald_test` and :func:`vcov_cr` mirror clubSandwich 0.5.8's ``coef_test()``,
``Wald_test()`` and ``vcovCR()``.

Notation: clusters ``j = 1..J`` (studies), ``X_j``, ``e_j = y_j - X_j b`` their rows of the
design and residuals, ``M_j`` the block of the fitted marginal covariance
(``V + sum sigma² Z Z'`` for ``rma_mv``, ``diag(vi + tau²)`` for ``rma``), ``W = M⁻¹``,
``B = (X'WX)⁻¹`` the model-based covariance of ``b`` (the "bread").

* **CR1 (metafor's default, ``robust(fit, cluster)``)**: the sandwich
  ``B (sum_j X_j'W_j e_j e_j' W_j X_j) B`` with ``W`` the inverse of the full ``M``,
  times ``J / (J - p)`` when ``adjust=True`` (Hedges, Tipton & Johnson 2010); t tests on
  ``J - p`` df and ``F = Wald / m`` on ``(m, J - p)`` df for the moderators.
* **CR2 (``clubSandwich=True``, :func:`vcov_cr`)**: the bias-reduced linearisation of
  Bell & McCaffrey (2002) and McCaffrey, Bell & Botts (2001), in the form of Tipton
  (2015) and Pustejovsky & Tipton (2018): ``sum_j B X_j'W_j A_j e_j e_j' A_j W_j X_j B``
  with adjustment matrices ``A_j = U_j' [U_j (M_j - X_j B X_j') U_j']^{-1/2} U_j``,
  ``U_j`` the upper Cholesky factor of ``M_j`` (the working model is the fitted ``M``,
  clubSandwich's ``inverse_var = TRUE``; the inverse square root drops eigenvalues
  below 1e-12, as clubSandwich's ``Sym_power``).
* **Satterthwaite df** (:func:`coef_test`): for the contrast ``c``, with
  ``w_j = A_j W_j X_j B c``, the matrix ``P_jk = [j = k] w_j'M_j w_j -
  (X_j'w_j)' B (X_k'w_k)`` (the covariance of the cluster terms under the working
  model) gives ``df = (tr P)² / sum P²`` (Bell & McCaffrey 2002; Tipton 2015).
* **HTZ Wald test** (:func:`wald_test`): Hotelling's T² approximation of Tipton &
  Pustejovsky (2015): for ``q`` constraints ``C b = 0`` with Wald statistic
  ``Q = (Cb)'(C V^CR C')⁻¹ Cb``, ``Omega = E(C V^CR C')``, the normalised ``P``-array
  ``B_st = sum Omega^{-1/2} P Omega^{-1/2}`` gives ``nu = q (q + 1) / sum_st
  [sum(B_st ∘ B_ts) + sum(B_ss ∘ B_tt)]``, ``F = (nu - q + 1) / (nu q) Q`` on
  ``(q, nu - q + 1)`` df.

References
----------
Bell, R. M., & McCaffrey, D. F. (2002). Bias reduction in standard errors for linear
regression with multi-stage samples. Survey Methodology, 28(2), 169-181.
Hedges, L. V., Tipton, E., & Johnson, M. C. (2010). Robust variance estimation in
meta-regression with dependent effect size estimates. Research Synthesis Methods, 1(1),
39-65.
Pustejovsky, J. E., & Tipton, E. (2018). Small-sample methods for cluster-robust variance
estimation and hypothesis testing in fixed effects models. Journal of Business & Economic
Statistics, 36(4), 672-683.
Tipton, E. (2015). Small sample adjustments for robust variance estimation with
meta-regression. Psychological Methods, 20(3), 375-393.
Tipton, E., & Pustejovsky, J. E. (2015). Small-sample adjustments for tests of moderators
and model fit using robust variance estimation in meta-regression. Journal of
Educational and Behavioral Statistics, 40(6), 604-634.
"""

from bayesma.classical.robust.club import WaldTestResult, coef_test, vcov_cr, wald_test
from bayesma.classical.robust.metafor import RobustResult, robust
from bayesma.classical.robust.sandwich import VCOV_TYPES

__all__ = [
    "VCOV_TYPES",
    "RobustResult",
    "WaldTestResult",
    "coef_test",
    "robust",
    "vcov_cr",
    "wald_test",
]

"""Exact posterior of the normal-normal random-effects model by 1-D quadrature over tau.

The model (Röver 2020, J Stat Softw 93(6), eq. 1-3; R's ``bayesmeta``)::

    y_i | theta_i ~ N(theta_i, v_i),    theta_i | beta, tau ~ N(x_i' beta, tau²),
    beta_j ~ N(m_j, s_j²) or flat,      tau ~ p(tau)

(intercept-only: ``x_i = 1``, ``beta = mu``). Given tau everything is Gaussian, so the
only integral without a closed form is the one over tau:

* ``p(tau | y) ∝ p(tau) · N(y | X m, V + tau² I + X S X')`` (Röver 2020, sec. 2.3): the
  marginal likelihood with beta integrated out against its Normal prior; with flat
  components it is the restricted (REML-type) likelihood.
* ``beta | tau, y`` is Gaussian (mean ``b(tau)``, covariance ``C(tau)``) and
  ``theta_i | tau, y`` is Gaussian (Röver 2020, sec. 2.4 "shrinkage"), so every posterior
  of mu, beta, theta_i and the predictive theta_new is a mixture of Normals over tau.

Modules
-------
``gaussian``     the Gaussian part given tau (marginal likelihood, conditional moments)
``quadrature``   adaptive Gauss-Kronrod quadrature over tau, cdf and quantiles of tau
``mixture``      quantiles and shortest intervals of Normal mixtures
``tau_scale``    tau², I², H² as transforms of tau
``posterior``    :class:`ExactPosterior` (moments, quantiles, cdf, density)
``intervals``    equal-tailed and shortest intervals, modes
``evidence``     Bayes factors (Savage-Dickey; BF01 of tau = 0 by marginal likelihoods)
``draws``        i.i.d. draws, the DataTree, conditionals, predictions
``display``      summary statistics, table and printout
``checks``       checks of the supported priors and the level
``build``        :func:`exact_posterior`, :func:`exact_posterior_arrays`, rebuilding from
                 a stored tree

Accuracy: ~1e-11 relative against ``../shared/bayes_reference`` (every dataset, three tau
priors); tested against brute-force 2-D integration for ten tau prior families, flat and
improper priors, and meta-regression against the covariance form. Speed: a full summary
for k = 13 takes ~6 ms (``benchmarks/bayes_exact.py``).
"""

from bayesma.bayes.exact.build import (
    exact_from_datatree,
    exact_posterior,
    exact_posterior_arrays,
    is_exact_datatree,
)
from bayesma.bayes.exact.posterior import ExactPosterior

__all__ = ["ExactPosterior", "exact_from_datatree", "exact_posterior",
           "exact_posterior_arrays", "is_exact_datatree"]

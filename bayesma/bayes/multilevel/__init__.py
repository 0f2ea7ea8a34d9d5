"""Exact posterior of the three-level model (``~ 1 | study/esid``) by 2-D quadrature.

The model (Konstantopoulos 2011, Res Synth Methods 2:61)::

    y_ij = x_ij' beta + u_i + w_ij + e_ij,   u_i ~ N(0, tau_study²),
    w_ij ~ N(0, tau_esid²),   e ~ N(0, V) block-diagonal by study

With Normal (or flat) priors on beta, ``beta | tau_study, tau_esid, y`` is Gaussian, so
only a 2-D integral over the two SDs remains: it is done by adaptive tensor-product
Gauss-Kronrod quadrature on log-SD axes, each (tau_study, tau_esid) pair costing O(J p²)
for J studies thanks to closed forms per study block (Sherman-Morrison on the
eigen-rotated block). Accurate to ~1e-8 against a brute-force grid
(``tests/bayes/test_multilevel_exact.py``).

Modules
-------
``inputs``        reading the table: levels, cluster ids, V, design, tau priors by level
``blocks``        the Gaussian part given both SDs, per study block
``quadrature2d``  tensor-product quadrature over the two SDs, marginal cdfs/quantiles
``posterior``     :class:`MultilevelPosterior` (moments, quantiles, cdf, intervals)
``display``       summary table, draws, data tree, printout
``twin``          the classical twin: rma_mv (REML) with CR2 robust inference
``build``         :func:`exact_multilevel`
"""

from bayesma.bayes.multilevel.blocks import BlockGaussian
from bayesma.bayes.multilevel.build import exact_multilevel
from bayesma.bayes.multilevel.inputs import (
    MultilevelData,
    level_priors,
    multilevel_data,
    read_levels,
)
from bayesma.bayes.multilevel.posterior import MultilevelPosterior
from bayesma.bayes.multilevel.twin import MultilevelTwin, multilevel_twin

__all__ = [
    "BlockGaussian",
    "MultilevelData",
    "MultilevelPosterior",
    "MultilevelTwin",
    "exact_multilevel",
    "level_priors",
    "multilevel_data",
    "multilevel_twin",
    "read_levels",
]

"""PyMC model classes for Bayesian meta-analysis.

Every class is built from the study table and prior objects (:mod:`bayesma.priors`),
exposes its priors as a CausalPy-style dict (``model.default_priors``, ``model.priors``),
``build()`` returns the ``pm.Model`` and ``fit()`` samples it and returns a
:class:`~bayesma.bayes.fit.BayesFit`.

Models (one module per family)
------------------------------
:class:`RandomEffects` (``random_effects``)
    y_i ~ N(theta_i, v_i), theta_i ~ N(mu, tau²).
:class:`CommonEffect` (``random_effects``)
    tau = 0: y_i ~ N(mu, v_i).
:class:`RobustRandomEffects` (``random_effects``)
    Student-t random effects theta_i = mu + tau t_i, t_i ~ t_nu (nu fixed or with a prior).
:class:`MetaRegression` (``regression``)
    theta_i ~ N(x_i' beta, tau²) with a moderator formula; the intercept prior applies
    at the moderators' means (``center=True``); ``mu`` is the intercept on the user's
    scale, ``mu_centered`` the intercept at the means.
:class:`Subgroups` (``subgroups``)
    one mu per level of a grouping column; tau shared or one per level; the fit holds
    ``mu_diff`` (pairwise differences between levels).

Shared pieces: ``base`` (:class:`MetaModel`), ``derived`` (posterior quantities in
numpy), ``graph`` (priors as PyMC variables, the tau-prior kernel and switch, marginal
likelihoods), ``sweep`` (one compiled model for a sweep over tau-prior families),
``settings`` (validation of fit settings), ``serialization`` (study table JSON),
``from_spec`` (:func:`model_from_spec`).

Parameterizations of the normal models
--------------------------------------
``"marginal"`` (default)
    theta_i integrated out: y_i ~ N(x_i' beta, v_i + tau²) (e.g. Röver 2020, J Stat Softw
    93(6), eq. 3), so NUTS only sees (mu, beta, tau). The study effects are then drawn
    exactly from their Gaussian full conditionals, one per posterior draw
    (Gelman et al. 2013, Bayesian Data Analysis, 3rd ed., eq. 5.17; Röver 2020, eq. 8)::

        theta_i | mu, beta, tau, y ~ N( B_i x_i'beta + (1 - B_i) y_i,  (1 - B_i) v_i ),
        B_i = v_i / (v_i + tau²)

    which is the joint posterior of (theta, mu, beta, tau) sampled by composition.
    Measured on the 7 real public datasets (benchmarks/results/bayes_mcmc.txt, section 4)
    it had no divergences, a mean bulk ESS (min of mu, tau; 4 x 1000 draws) of 1700
    against 1145 non-centered and 850 centered (7 divergences), and a median ESS per
    second of sampling 2.6x the non-centered and 5.5x the centered one; it also compiles
    once for every k.
``"noncentered"``
    theta_i = mu + tau z_i, z_i ~ N(0, 1) (Papaspiliopoulos, Roberts & Sköld 2007,
    Stat Sci 22:59).
``"centered"``
    theta_i ~ N(mu, tau²) directly; funnel-prone when tau is small (stack-notes sec. 2).

Whatever the parameterization, the ``log_likelihood`` group holds the *marginal*
per-study likelihood p(y_i | mu, beta, tau) (theta_i integrated out), whose
leave-one-out (PSIS-LOO) predicts a new study and is numerically stable
(stack-notes section 5).

Compile once, refit fast
------------------------
Data (yi, vi, moderators, group index) and every prior hyperparameter are ``pm.Data``
containers; with the default nutpie sampler the compiled model is cached by its
structure (:mod:`bayesma.bayes.sampling`), so ``model.refit(tau_prior=HalfNormal(1.0))``,
``model.with_data(other_table).fit()`` or a fresh model of the same structure only
samples (about 0.1 s for k = 13 instead of 3-10 s with compilation).
"""

from typing import TYPE_CHECKING

from bayesma.bayes.loading import register_model_loader
from bayesma.bayes.models.base import PARAMETERIZATIONS, MetaModel
from bayesma.bayes.models.derived import PosteriorDraws, stacked_draws
from bayesma.bayes.models.from_spec import MODEL_CLASSES, model_from_spec
from bayesma.bayes.models.graph import (
    KERNEL_DEFAULTS,
    T_NODES,
    check_prior,
    hyper_data,
    normal_marginal_loglik,
    prior_logpdf,
    prior_to_pymc,
    student_t_marginal_loglik,
    tau_kernel,
    tau_kernel_coefficients,
    tau_switch,
)
from bayesma.bayes.models.random_effects import (
    CommonEffect,
    RandomEffects,
    RobustRandomEffects,
)
from bayesma.bayes.models.regression import MetaRegression
from bayesma.bayes.models.serialization import table_from_json, table_to_json
from bayesma.bayes.models.settings import (
    DEFAULT_TARGET_ACCEPT,
    SMALL_K_TARGET_ACCEPT,
    FitSettings,
    check_fit_settings,
)
from bayesma.bayes.models.subgroups import Subgroups
from bayesma.bayes.models.sweep import TauPriorSweep
from bayesma.lazy import lazy_getattr

__all__ = [
    "BinomialNormal",
    "DEFAULT_TARGET_ACCEPT",
    "KERNEL_DEFAULTS",
    "MODEL_CLASSES",
    "PARAMETERIZATIONS",
    "SMALL_K_TARGET_ACCEPT",
    "T_NODES",
    "CommonEffect",
    "FitSettings",
    "MetaModel",
    "MetaRegression",
    "Multilevel", "MultilevelFit",
    "Multivariate", "MultivariateFit",
    "PosteriorDraws",
    "RandomEffects",
    "RobustRandomEffects",
    "Subgroups",
    "TauPriorSweep",
    "check_fit_settings",
    "check_prior",
    "hyper_data",
    "model_from_spec",
    "normal_marginal_loglik",
    "prior_logpdf",
    "prior_to_pymc",
    "stacked_draws",
    "student_t_marginal_loglik",
    "table_from_json",
    "table_to_json",
    "tau_kernel",
    "tau_kernel_coefficients",
    "tau_switch",
]

# BayesFit rebuilds stored models through these (fit.py must not import this package)
register_model_loader(rebuild_model=model_from_spec, read_table=table_from_json)

#: models imported on first use (PEP 562): they load their exact engines and
#: scipy.optimize, which a random-effects fit does not need (issue 16)
_LATER = {
    "BinomialNormal": "bayesma.bayes.models.binomial",
    "Multilevel": "bayesma.bayes.models.multilevel",
    "MultilevelFit": "bayesma.bayes.models.multilevel",
    "Multivariate": "bayesma.bayes.models.multivariate",
    "MultivariateFit": "bayesma.bayes.models.multivariate",
}


__getattr__ = lazy_getattr(__name__, _LATER)


if TYPE_CHECKING:  # pragma: no cover
    from bayesma.bayes.models.binomial import BinomialNormal
    from bayesma.bayes.models.multilevel import Multilevel, MultilevelFit
    from bayesma.bayes.models.multivariate import Multivariate, MultivariateFit

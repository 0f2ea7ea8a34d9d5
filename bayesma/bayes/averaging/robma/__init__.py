"""RoBMA: robust Bayesian model averaging over effect, heterogeneity and publication bias.

Modules
-------
``defaults``        RoBMA-PSMA's default priors, bias components and prior weights (data)
``likelihood``      log joint densities of the models on unconstrained parameters
``petpeese``        exact marginal likelihoods of the PET and PEESE models
``integrate``       Laplace fit, adaptive Gauss-Hermite quadrature, importance sampling
``ensemble``        fitting the 36 models
``parts``           weighted-draw posteriors as parts of a model-averaged mixture
``weightfunction``  the model-averaged weight omega(p)
``display``         the printout
``result``          :class:`RoBMAResult`
``fit``             :func:`RoBMA`
"""

from bayesma.bayes.averaging.robma.defaults import DEFAULT_BIAS, default_robma_priors
from bayesma.bayes.averaging.robma.fit import RoBMA
from bayesma.bayes.averaging.robma.result import RoBMAResult

__all__ = ["DEFAULT_BIAS", "RoBMA", "RoBMAResult", "default_robma_priors"]

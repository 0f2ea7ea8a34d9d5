"""Bayesian model averaging: metaBMA's four-model ``bma`` with exact marginal likelihoods.

Modules
-------
``components``  the model space, prior model probabilities and default priors
``marginal``    exact log marginal likelihoods of the four models
``mixture``     model-averaged posteriors: point masses plus continuous posteriors
``bma``         :func:`bma` and :class:`BMAResult`
"""

from bayesma.bayes.averaging.bma import BMAResult, bma, inclusion_bf
from bayesma.bayes.averaging.components import default_bma_priors, model_prior_probs

__all__ = ["BMAResult", "bma", "default_bma_priors", "inclusion_bf", "model_prior_probs"]

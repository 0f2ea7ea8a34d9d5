"""Bayesian model averaging: metaBMA's four-model ``bma`` with exact marginal likelihoods.

Modules
-------
``components``  the model space, prior model probabilities and default priors
``marginal``    exact log marginal likelihoods of the four models
``mixture``     model-averaged posteriors: point masses plus continuous posteriors
``bma``         :func:`bma` and :class:`BMAResult`
``robma``       :func:`RoBMA`: robust Bayesian model averaging (RoBMA-PSMA, 36 models)
"""

from bayesma.bayes.averaging.bma import BMAResult, bma, inclusion_bf
from bayesma.bayes.averaging.components import default_bma_priors, model_prior_probs
from bayesma.bayes.averaging.robma import RoBMA, RoBMAResult

__all__ = ["BMAResult", "RoBMA", "RoBMAResult", "bma", "default_bma_priors", "inclusion_bf",
           "model_prior_probs"]

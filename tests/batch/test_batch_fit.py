"""batch_fit: one MCMC model over many groups, seeded per group, chunking-independent."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from bayesma.batch import FIT_COLUMNS, batch_fit
from bayesma.errors import BayesmaError
from bayesma.parallel import chunk_seeds

LONG = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 5,
                     "yi": [0.1, 0.4, -0.2, 0.3, 0.5, 0.9, 0.2, 0.7, 0.4],
                     "vi": [0.05, 0.08, 0.1, 0.06, 0.1, 0.2, 0.05, 0.1, 0.15]})
SETTINGS = {"model": "RandomEffects", "draws": 200, "tune": 200, "chains": 2, "seed": 3}


@pytest.mark.slow
def test_batch_fit_reproducible_and_equal_to_a_direct_fit():
    from bayesma.bayes.models import RandomEffects

    r1 = batch_fit(LONG, by="g", **SETTINGS, backend="serial")
    r2 = batch_fit(LONG, by="g", **SETTINGS, backend="serial", chunk_size=1)
    pd.testing.assert_frame_equal(r1, r2)
    assert list(r1.columns) == [*FIT_COLUMNS, "note"] and list(r1.index) == ["a", "b"]
    seed_b = chunk_seeds(3, 2)[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = RandomEffects(LONG[LONG.g == "b"].reset_index(drop=True)).fit(
            draws=200, tune=200, chains=2, cores=1, random_seed=seed_b, progressbar=False,
            prior_predictive=False, posterior_predictive=False, log_likelihood=False)
    np.testing.assert_allclose(r1.loc["b", "mu_mean"], fit.mean("mu"), rtol=1e-12)
    lo, hi = fit.interval("mu", 0.95)
    np.testing.assert_allclose(r1.loc["b", ["mu_low", "mu_high"]].to_numpy(float), [lo, hi],
                               rtol=1e-12)


def test_batch_fit_rejects_other_models():
    with pytest.raises(BayesmaError, match="model must be"):
        batch_fit(LONG, by="g", model="Multilevel")

"""batch_exact equals the per-call exact posterior (bm.exact_posterior) group by group."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesma.batch import EXACT_COLUMNS, batch_exact, batch_from_arrays, exact_row
from bayesma.batch.exact import exact_chunk
from bayesma.bayes.exact import exact_posterior
from bayesma.errors import BayesmaError
from bayesma.priors import Flat, HalfCauchy, HalfNormal, Jeffreys, LogNormalTau2, Normal, Uniform


@pytest.fixture(scope="module")
def corpus():
    rng = np.random.default_rng(7)
    R, kmax = 16, 8
    k = rng.integers(1, kmax + 1, R)
    k[:3] = [1, 2, 3]
    mask = np.arange(kmax)[None, :] < k[:, None]
    v = rng.uniform(0.01, 0.6, (R, kmax))
    tau = rng.choice([0.0, 0.1, 0.4, 1.0], R)
    y = rng.normal(0.3, np.sqrt(v + tau[:, None] ** 2))
    return batch_from_arrays(y, v, mask)


def _compare(res, batch, mu_prior, tau_prior, level=0.95):
    for r in range(batch.n_groups):
        y, v = batch.group(r)
        try:
            ref = exact_row(y, v, mu_prior=mu_prior, tau_prior=tau_prior, level=level)
        except BayesmaError:
            assert res.iloc[r]["note"] and np.isnan(res.iloc[r]["mu_mean"])
            continue
        for c in EXACT_COLUMNS:
            # the per-call engine integrates to 1e-10; the shared panels to ~1e-8
            np.testing.assert_allclose(res.iloc[r][c], ref[c], rtol=1e-6, atol=1e-9,
                                       err_msg=f"{tau_prior.describe()} row {r} {c}")


@pytest.mark.parametrize("mu_prior, tau_prior", [
    (Normal(0, 1), HalfNormal(0.5)),
    (Flat(), HalfCauchy(0.5)),
    (Normal(0, 4), Uniform(0, 2)),
    (Normal(0.2, 1), LogNormalTau2(-2.5, 1.5)),
])
def test_equals_per_call_engine(corpus, mu_prior, tau_prior):
    res = exact_chunk(corpus, mu_prior=mu_prior, tau_prior=tau_prior, level=0.95)
    assert list(res.columns) == [*EXACT_COLUMNS, "note"]
    _compare(res, corpus, mu_prior, tau_prior)


def test_improper_and_data_dependent_priors(corpus):
    """Jeffreys depends on vi: every group goes through the per-call engine; k = 1 with a
    flat mu prior is improper there: NaN with the reason in ``note``."""
    sub = corpus.take(np.arange(6))
    res = exact_chunk(sub, mu_prior=Flat(), tau_prior=Jeffreys(), level=0.9)
    _compare(res, sub, Flat(), Jeffreys(), level=0.9)
    assert "Improper" in res.iloc[0]["note"]


def test_level_and_exact_posterior_on_a_table():
    long = pd.DataFrame({"g": ["x"] * 4 + ["y"] * 3,
                         "yi": [0.1, 0.5, -0.2, 0.3, 0.8, 0.4, 1.1],
                         "vi": [0.04, 0.09, 0.05, 0.1, 0.2, 0.1, 0.3]})
    long.attrs["measure"] = "SMD"
    res = batch_exact(long, by="g", level=0.8, backend="serial")
    post = exact_posterior(long[long.g == "y"], level=0.8, measure="SMD", classical=None)
    np.testing.assert_allclose(res.loc["y", ["mu_low", "mu_high"]].to_numpy(float),
                               post.interval("mu"), rtol=1e-6)
    np.testing.assert_allclose(res.loc["y", "bf01_tau"], post.bf01_tau0(), rtol=1e-6)


def test_priors_required_without_natural_scale():
    long = pd.DataFrame({"g": [1, 1], "yi": [0.1, 0.2], "vi": [0.1, 0.1]})
    with pytest.raises(BayesmaError, match="mu_prior"):
        batch_exact(long, by="g")
    with pytest.raises(BayesmaError, match="prior for tau"):
        batch_exact(long, by="g", mu_prior=HalfNormal(1.0), tau_prior=HalfNormal(1.0))

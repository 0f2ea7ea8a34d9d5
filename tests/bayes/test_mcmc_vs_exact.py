"""MCMC (nutpie, default settings) against the exact engine on every public dataset.

Same model as ../shared/bayes_reference: y_i ~ N(theta_i, v_i), theta_i ~ N(mu, tau²),
mu ~ N(0, 10²), three tau priors. For each dataset and prior the posterior mean and sd
of mu and tau must agree with ``bm.exact_posterior`` within 4 Monte Carlo standard errors
(ArviZ's ``mcse`` of the mean and of the sd), with zero divergences and no
SamplingWarning on the real datasets. On the edge cases (k = 2, k = 3, one study with a
tiny variance) the fit must either agree or warn, and at k <= 3 the warning must point to
the exact engine.

Cost: the marginal model's compiled form does not depend on k, so each prior family is
compiled once (nutpie) and re-fed every dataset through ``with_data``: 3 compiles, then
about 0.1-0.3 s per fit.
"""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pytest
from conftest import TWO_LEVEL, shared_data

from bayesma.bayes.exact import exact_posterior
from bayesma.bayes.models import RandomEffects
from bayesma.errors import SamplingWarning
from bayesma.priors import HalfCauchy, HalfNormal, Normal, Uniform

pytestmark = pytest.mark.slow

PRIORS = {
    "halfnormal_0.5": HalfNormal(0.5),
    "halfcauchy_0.5": HalfCauchy(0.5),
    "uniform_0_10": Uniform(0.0, 10.0),
}
EDGE = {"edge_k2", "edge_k3_homogeneous", "edge_extreme_variance"}
REAL = [d for d in TWO_LEVEL if d not in EDGE]
EDGE_LIST = [d for d in TWO_LEVEL if d in EDGE]
MU_PRIOR = Normal(0.0, 10.0)
TOL = 4.0  # Monte Carlo standard errors


def _fit(name: str, prior_key: str, seed: int = 20260101):
    model = RandomEffects(shared_data(name), mu_prior=MU_PRIOR, tau_prior=PRIORS[prior_key])
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        fit = model.fit(draws=1000, tune=1000, random_seed=seed, progressbar=False,
                        prior_predictive=False, posterior_predictive=False)
    sampling = [w for w in rec if issubclass(w.category, SamplingWarning)]
    return fit, sampling


def _exact(name: str, prior_key: str):
    return exact_posterior(shared_data(name), mu_prior=MU_PRIOR, tau_prior=PRIORS[prior_key],
                           classical=None)


def _z_scores(fit, exact) -> dict[str, float]:
    """(MCMC - exact) / MCSE for mean and sd of mu and tau."""
    out = {}
    for p in ("mu", "tau"):
        x = fit.posterior[p]
        mcse_mean = float(az.mcse(x, method="mean"))
        mcse_sd = float(az.mcse(x, method="sd"))
        out[f"{p}_mean"] = (fit.mean(p) - exact.mean(p)) / mcse_mean
        out[f"{p}_sd"] = (fit.sd(p) - exact.sd(p)) / mcse_sd
    return out


@pytest.mark.parametrize("prior_key", list(PRIORS))
@pytest.mark.parametrize("name", REAL)
def test_real_datasets_agree_with_exact(name: str, prior_key: str) -> None:
    fit, sampling = _fit(name, prior_key)
    exact = _exact(name, prior_key)
    z = _z_scores(fit, exact)
    bad = {k: round(v, 2) for k, v in z.items() if abs(v) > TOL}
    assert not bad, f"{name} / {prior_key}: |MCMC - exact| > {TOL} MCSE: {bad}"
    assert fit.divergences == 0, f"{name} / {prior_key}: {fit.divergences} divergences"
    assert not sampling, f"{name} / {prior_key}: {sampling[0].message}"
    # the shrunken study effects too (conditional draws of the marginal model)
    th, th_ex = fit.mean("theta"), exact.mean("theta")
    mcse = np.array([float(az.mcse(fit.posterior["theta"].isel(study=i), method="mean"))
                     for i in range(fit.k)])
    assert np.all(np.abs(th.to_numpy() - th_ex.to_numpy()) < TOL * mcse + 1e-12)


@pytest.mark.parametrize("prior_key", list(PRIORS))
@pytest.mark.parametrize("name", EDGE_LIST)
def test_edge_cases_agree_or_warn(name: str, prior_key: str) -> None:
    fit, sampling = _fit(name, prior_key)
    exact = _exact(name, prior_key)
    z = _z_scores(fit, exact)
    agrees = all(abs(v) <= TOL for v in z.values()) and fit.divergences == 0
    if fit.k <= 3:
        # small k always warns and names the exact engine
        assert sampling, f"{name}: k = {fit.k} fit without a SamplingWarning"
        msg = str(sampling[0].message)
        assert f"k = {fit.k}" in msg and "exact_posterior" in msg
        assert fit.attrs["target_accept"] == pytest.approx(0.99)
    else:
        assert agrees or sampling, f"{name} / {prior_key}: disagrees silently: {z}"
    assert len(sampling) <= 1, "one warning per fit"

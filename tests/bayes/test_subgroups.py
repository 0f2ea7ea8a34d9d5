"""Exact subgroup posteriors (bayesma.bayes.subgroups): per-level posteriors equal
separate exact fits, differences against Monte Carlo, the classical twin, errors."""

from __future__ import annotations

import numpy as np
import pytest

import bayesma as bm
from bayesma.bayes.exact import exact_posterior
from bayesma.bayes.subgroups import ExactSubgroups, exact_subgroups
from bayesma.errors import BayesmaError, DataError
from bayesma.priors import HalfNormal, Normal

MU, TAU = Normal(0, 10), HalfNormal(0.5)


@pytest.fixture(scope="module")
def bcg():
    return bm.datasets.load("bcg")


@pytest.fixture(scope="module")
def es(bcg):
    return exact_subgroups(bcg, by="alloc", mu_prior=MU, tau_prior=TAU)


def test_levels_are_separate_exact_fits(bcg, es):
    assert isinstance(es, ExactSubgroups)
    assert es.levels == ("alternate", "random", "systematic")
    for lev in es.levels:
        sep = exact_posterior(bcg[bcg.alloc == lev], mu_prior=MU, tau_prior=TAU)
        assert es.fits[lev].median("mu") == pytest.approx(sep.median("mu"), rel=1e-10)
        assert es.fits[lev].interval("tau") == pytest.approx(sep.interval("tau"), rel=1e-8)
    full = exact_posterior(bcg, mu_prior=MU, tau_prior=TAU)
    assert es.overall.mean("mu") == pytest.approx(full.mean("mu"), rel=1e-10)
    assert es.priors == {"mu": MU, "tau": TAU}
    tab = es.level_table()
    assert list(tab["k"]) == [2, 7, 4]


def test_classical_twin_is_bm_subgroup(bcg, es):
    sub = bm.subgroup(bcg, by="alloc", test="knha")
    assert es.classical.qb == pytest.approx(sub.qb)
    assert es.classical.overall.estimate == pytest.approx(sub.overall.estimate)


def test_differences_against_monte_carlo(es):
    d = es.difference("random", "systematic")
    a = es.fits["random"].draws("mu", n=200_000, random_seed=1)
    b = es.fits["systematic"].draws("mu", n=200_000, random_seed=2)
    mc = a - b
    assert d.mean == pytest.approx(mc.mean(), abs=0.01)
    assert d.sd == pytest.approx(mc.std(), rel=0.01)
    assert d.median() == pytest.approx(np.median(mc), abs=0.01)
    lo, hi = d.interval(0.95)
    assert lo == pytest.approx(np.quantile(mc, 0.025), abs=0.02)
    assert hi == pytest.approx(np.quantile(mc, 0.975), abs=0.02)
    assert d.prob_greater(0.0) == pytest.approx(np.mean(mc > 0), abs=0.005)
    tab = es.differences()
    assert list(tab.index) == ["alternate - random", "alternate - systematic",
                               "random - systematic"]
    assert tab.loc["random - systematic", "mean"] == pytest.approx(d.mean)
    assert "Differences between levels" in str(es)


def test_errors(bcg, es):
    with pytest.raises(BayesmaError, match="shared"):
        exact_subgroups(bcg, by="alloc", tau="shared")
    with pytest.raises(DataError):
        exact_subgroups(bcg, by="nonsense")
    with pytest.raises(BayesmaError, match="unknown level"):
        es.difference("random", "nope")


def test_difference_cdf_equals_brute_force_convolution(es):
    """P(mu_a - mu_b <= d) = ∫ f_b(x) F_a(x + d) dx by adaptive quadrature (scipy), against
    the exact mixture over pairs of tau nodes; the mean and quantiles are consistent."""
    from scipy import integrate

    d = es.difference("random", "systematic")
    pa, pb = es.fits["random"], es.fits["systematic"]
    lo, hi = (float(v) for v in pb.quantile("mu", np.array([1e-12, 1 - 1e-12])))
    for x in (-0.8, -0.2, 0.0, 0.4):
        ref, _ = integrate.quad(lambda u, x=x: pb.pdf("mu", u) * pa.cdf("mu", u + x),
                                lo, hi, epsabs=1e-13, epsrel=1e-12, limit=400)
        assert d.cdf(x) == pytest.approx(ref, rel=1e-9, abs=1e-12)
    for q in (0.025, 0.5, 0.975):
        assert d.cdf(d.quantile(q)) == pytest.approx(q, rel=1e-10)

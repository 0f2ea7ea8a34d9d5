"""Prior families: densities, quantiles, draws and PyMC forms agree with each other."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

import bayesma.priors as P
from bayesma.errors import BayesmaError

TAU_PRIORS = [
    P.HalfNormal(0.5),
    P.HalfCauchy(0.5),
    P.HalfStudentT(3, 0.5),
    P.Exponential(2.0),
    P.Uniform(0, 10),
    P.LogNormal(-1.0, 1.0),
    P.InverseGamma(1.0, 0.15),
    P.LogNormalTau2(-2.56, 1.74),
    P.LogStudentTTau2(-3.44, 2.59),
    P.InverseGammaTau2(1.0, 0.15),
]
LOC_PRIORS = [P.Normal(0, 10), P.StudentT(3, 0.1, 0.5), P.Cauchy(0, 1)]
ALL = TAU_PRIORS + LOC_PRIORS


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")  # checked below
@pytest.mark.parametrize("prior", ALL, ids=str)
def test_density_integrates_to_one(prior):
    lo, hi = prior.support
    pts = [float(prior.ppf(q)) for q in (0.001, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999)]
    total = sum(
        integrate.quad(lambda t: float(prior.pdf(t)), a, b, limit=400, epsabs=1e-10)[0]
        for a, b in zip([lo, *pts], [*pts, hi], strict=True)
    )
    assert total == pytest.approx(1.0, abs=1e-7)


@pytest.mark.parametrize("prior", ALL, ids=str)
def test_cdf_is_integral_of_pdf_and_inverse_of_ppf(prior):
    lo = prior.support[0]
    for q in (0.05, 0.5, 0.9):
        x = float(prior.ppf(q))
        assert float(prior.cdf(x)) == pytest.approx(q, abs=1e-9)
        if np.isfinite(lo):
            area = integrate.quad(lambda t: float(prior.pdf(t)), lo, x, limit=400)[0]
            assert area == pytest.approx(q, abs=1e-7)


@pytest.mark.parametrize("prior", ALL, ids=str)
def test_draws_follow_the_distribution(prior):
    draws = prior.rvs(20_000, rng=1)
    assert stats.kstest(draws, prior.cdf).pvalue > 1e-3


@pytest.mark.parametrize("prior", TAU_PRIORS, ids=str)
def test_outside_support_is_minus_inf(prior):
    assert prior.logpdf(-0.1) == -np.inf


def test_tau2_priors_have_the_jacobian():
    # log(tau²) ~ N(mu, s²)  <=>  log(tau) ~ N(mu/2, (s/2)²)
    p = P.LogNormalTau2(-2.56, 1.74)
    t = np.array([0.05, 0.3, 1.5])
    np.testing.assert_allclose(p.logpdf(t), stats.lognorm.logpdf(t, s=0.87, scale=np.exp(-1.28)))
    q = P.InverseGammaTau2(2.0, 0.3)
    np.testing.assert_allclose(
        q.logpdf(t), stats.invgamma.logpdf(t**2, 2.0, scale=0.3) + np.log(2 * t)
    )
    assert "on tau²" in str(p)


@pytest.mark.parametrize("as_data", [False, True])
@pytest.mark.parametrize("prior", ALL + [P.UniformTau(), P.Flat()], ids=str)
def test_pymc_form_has_the_same_density(prior, as_data):
    pm = pytest.importorskip("pymc")
    with pm.Model() as model:
        var = prior.to_pymc("x", as_data=as_data)
    xs = np.array([0.05, 0.4, 2.5]) if prior.param == "tau" else np.array([-1.0, 0.2, 3.0])
    np.testing.assert_allclose(pm.logp(var, xs).eval(), prior.logpdf(xs), rtol=1e-7, atol=1e-7)
    if as_data:
        assert {f"x_{k}" for k in prior.hyperparameters()} <= set(model.named_vars)


def test_jeffreys_needs_the_variances_and_matches_formula():
    j = P.Jeffreys()
    with pytest.raises(BayesmaError, match="sampling variances"):
        j.logpdf(0.3)
    vi = np.array([0.1, 0.2, 0.05])
    t = 0.3
    assert j.logpdf(t, vi=vi) == pytest.approx(0.5 * np.log(np.sum((t / (vi + t**2)) ** 2)))
    assert not j.proper


@pytest.mark.parametrize("prior", [P.UniformTau(), P.Flat(), P.Jeffreys()], ids=str)
def test_improper_priors_refuse_draws(prior):
    with pytest.raises(BayesmaError, match="improper"):
        prior.rvs(10)


@pytest.mark.parametrize(
    "make",
    [lambda: P.HalfNormal(-1), lambda: P.HalfCauchy(0), lambda: P.Uniform(5, 1),
     lambda: P.Normal(0, float("nan")), lambda: P.LogNormalTau2(0, -2)],
)
def test_bad_hyperparameters_are_rejected(make):
    with pytest.raises(BayesmaError):
        make()


@pytest.mark.parametrize("prior", ALL + [P.UniformTau(), P.Flat(), P.Jeffreys()], ids=str)
def test_spec_round_trip(prior):
    assert P.prior_from_spec(prior.spec()) == prior


def test_unknown_family_in_spec():
    with pytest.raises(BayesmaError, match="unknown prior family"):
        P.prior_from_spec({"family": "HalfLaplace", "b": 1})


def test_default_priors_are_explicit_per_measure():
    d = P.default_priors("OR")
    assert d["tau"] == P.HalfNormal(0.5) and d["mu"] == P.Normal(0, 4)
    assert P.default_priors("SMD")["tau"] == P.HalfNormal(0.3)
    assert "default" in d["tau"].source
    md = P.default_priors("MD", yi=[-20, -2, -55], vi=[40.5, 2.1, 15.7])
    s = float(f"{np.std([-20, -2, -55], ddof=1):.3g}")
    assert md["tau"].sigma == pytest.approx(s) and md["mu"].sigma == pytest.approx(10 * s)
    with pytest.raises(BayesmaError, match="no natural scale"):
        P.default_priors("MD")


@pytest.mark.parametrize("prior,frozen", [
    (P.Normal(0.3, 2.5), ("norm", (0.3, 2.5), {})),
    (P.Normal(0.0, 4.0), ("norm", (0.0, 4.0), {})),
    (P.HalfNormal(0.5), ("halfnorm", (), {"scale": 0.5})),
])
@pytest.mark.parametrize("size", [7, 1000, (3, 4)])
def test_numpy_draws_equal_scipys(prior, frozen, size):
    # Normal and HalfNormal draw without importing scipy.stats (issue 16): same numbers
    name, args, kw = frozen
    ref = getattr(stats, name)(*args, **kw).rvs(size=size,
                                                 random_state=np.random.default_rng(11))
    got = prior.rvs(size, rng=np.random.default_rng(11))
    assert got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(prior.rvs(size, rng=5), getattr(stats, name)(
        *args, **kw).rvs(size=size, random_state=np.random.default_rng(5)))

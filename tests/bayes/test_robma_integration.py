"""RoBMA's integration engine: exact PET/PEESE marginal likelihoods against brute-force
nested quadrature, the weighted-normal likelihood against metafor's step-function
likelihood (bayesma.classical.selection, itself checked against metafor 3.8), the
adaptive Gauss-Hermite rule against exact answers, and importance sampling as the second,
independent method."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special

from bayesma.bayes.averaging.marginal import fit_four_models
from bayesma.bayes.averaging.robma.defaults import (
    DEFAULT_BIAS,
    ModelSpec,
    default_robma_priors,
)
from bayesma.bayes.averaging.robma.ensemble import fit_bias_model
from bayesma.bayes.averaging.robma.integrate import aghq, laplace
from bayesma.bayes.averaging.robma.likelihood import LogJoint
from bayesma.bayes.averaging.robma.petpeese import log_halfcauchy_gauss, log_ml_pet_peese
from bayesma.classical.selection.likelihood import SelectionData, log_likelihood
from bayesma.classical.selection.types import get_type

DATA = Path(__file__).parent.parent / "reference" / "data"
PRIORS = default_robma_priors("SMD")
BIAS = {b.name: b for b in DEFAULT_BIAS}


@pytest.fixture(scope="module")
def yv() -> tuple[np.ndarray, np.ndarray]:
    d = pd.read_csv(DATA / "raudenbush1985.csv").iloc[:10]
    return d["yi"].to_numpy(float), d["vi"].to_numpy(float)


@pytest.mark.parametrize("bhat,var,scale", [(0.3, 0.01, 1.0), (-0.5, 0.04, 1.0),
                                            (2.0, 4.0, 5.0), (0.0, 1e-4, 5.0),
                                            (1.0, 100.0, 0.5)])
def test_halfcauchy_gauss_integral(bhat, var, scale):
    # the scale-mixture trapezoid against scipy quad of the product of the two densities
    def f(b):
        return (2 / (math.pi * scale * (1 + (b / scale) ** 2))
                * math.exp(-0.5 * (b - bhat) ** 2 / var) / math.sqrt(2 * math.pi * var))

    ref = integrate.quad(f, 0, np.inf, epsabs=0, epsrel=1e-13, limit=500)[0]
    got = log_halfcauchy_gauss(np.array([bhat]), np.array([var]), scale)[0]
    assert got == pytest.approx(math.log(ref), abs=1e-10)


def _log_mvn_mu(y, v, mean, s2mu):
    """log N(y | mean_g, diag(v) + s2mu 11') for each row g of ``mean``, by the matrix
    determinant lemma (independent of the package's GaussianPart)."""
    r = y[None, :] - mean
    a = np.sum(1 / v)
    q = np.sum(r * r / v, axis=1) - s2mu * np.sum(r / v, axis=1) ** 2 / (1 + s2mu * a)
    logdet = np.sum(np.log(v)) + math.log1p(s2mu * a)
    return -0.5 * (y.size * math.log(2 * math.pi) + logdet + q)


# composite 16-point Gauss-Legendre, 400 panels on (0, 1): the brute-force inner rule
_T, _W = np.polynomial.legendre.leggauss(16)
_EDGES = np.linspace(0.0, 1.0, 401)
_TN = ((_EDGES[:-1, None] + _EDGES[1:, None]) / 2 + np.diff(_EDGES)[:, None] / 2 * _T).ravel()
_WN = (np.diff(_EDGES)[:, None] / 2 * _W).ravel()


@pytest.mark.parametrize("kind", ["PET", "PEESE"])
@pytest.mark.parametrize("effect,het", [(False, False), (True, True)])
def test_pet_peese_exact_vs_nested_quadrature(yv, kind, effect, het):
    # brute force: b = scale tan(pi t / 2) makes the half-Cauchy prior uniform on t; a
    # 6400-node Gauss-Legendre rule over t inside scipy quad over tau; mu integrated by
    # the Gaussian identity
    y, v = yv
    x = np.sqrt(v) if kind == "PET" else v
    scale = BIAS[kind].scale
    mu0, s0 = PRIORS["mu"].mu, PRIORS["mu"].sigma
    tau_pdf = PRIORS["tau"].pdf
    b = scale * np.tan(np.pi * _TN / 2)

    def loglik(tau):
        vv = v + tau * tau
        mean = b[:, None] * x[None, :]
        if effect:
            return _log_mvn_mu(y, vv, mu0 + mean, s0 ** 2)
        return -0.5 * np.sum(np.log(2 * math.pi * vv) + (y[None, :] - mean) ** 2 / vv, axis=1)

    shift = float(np.max(loglik(0.1)))

    def inner(tau):
        return float(np.dot(_WN, np.exp(loglik(tau) - shift)))

    if het:
        val = integrate.quad(lambda t: tau_pdf(t) * inner(t), 0, np.inf, epsabs=0,
                             epsrel=1e-10, limit=200)[0]
    else:
        val = inner(0.0)
    ref = shift + math.log(val)
    got = log_ml_pet_peese(y, v, kind=kind, scale=scale, effect=effect, heterogeneity=het,
                           mu_prior=PRIORS["mu"], tau_prior=PRIORS["tau"])
    assert got == pytest.approx(ref, abs=1e-8)


@pytest.mark.parametrize("sides,steps", [(1, (0.025, 0.05, 0.5)), (1, (0.05,))])
def test_weighted_likelihood_equals_metafor_stepfun(yv, sides, steps):
    # the weighted-normal likelihood at (mu, tau, omega) equals the classical selection
    # model's step-function likelihood (metafor's .selmodel.ll.stepfun)
    y, v = yv
    spec = ModelSpec(True, True, BIAS[f"one-sided ({', '.join(f'{s:g}' for s in steps)})"])
    g = LogJoint(spec, y, v, PRIORS["mu"], PRIORS["tau"])
    rng = np.random.default_rng(3)
    z = rng.normal(0, 0.7, size=(4, g.dim))
    ll, _ = g.terms(z)
    par = g.unpack(z)
    full = np.r_[steps, 1.0]
    p = special.ndtr(-y / np.sqrt(v))
    d = SelectionData(y, v, np.ones((y.size, 1)), p, full,
                      np.searchsorted(full, p, side="left"), get_type("stepfun"), "greater")
    for r in range(z.shape[0]):
        ref = log_likelihood(d, [par["mu"][r]], par["tau"][r] ** 2, par["omega"][r])
        assert ll[r] == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("name", ["two-sided (0.05, 0.1)", "one-sided (0.025, 0.05, 0.5)"])
def test_weighted_density_integrates_to_one(name):
    # f(y) = omega(p(y)) N(y | mu, s²) / sum_j omega_j P_j integrates to 1 for each study
    spec = ModelSpec(True, True, BIAS[name])
    y, v = np.array([0.1, 0.4]), np.array([0.04, 0.09])
    g = LogJoint(spec, y, v, PRIORS["mu"], PRIORS["tau"])
    z = np.array([[0.2, math.log(0.3), 0.5, -1.0, 0.3][:g.dim]])
    par = g.unpack(z)
    for i in range(2):
        one = LogJoint(spec, y[i:i + 1], v[i:i + 1], PRIORS["mu"], PRIORS["tau"])
        cuts = np.sort(np.r_[one.cut.ravel(), -one.cut.ravel()])

        def dens(t, one=one):
            one.y = np.array([t])
            one._setup_weightfunction()
            return math.exp(one.terms(z)[0][0])

        tot = integrate.quad(dens, -8, 8, points=list(cuts), limit=400, epsabs=1e-12)[0]
        assert tot == pytest.approx(1.0, abs=1e-8), par


def test_aghq_on_models_with_exact_answers(yv):
    # the generic engine on the no-bias models reproduces their exact marginal likelihoods
    y, v = yv
    four = fit_four_models(y, v, PRIORS["mu"], PRIORS["tau"])
    for effect, het, key in [(True, False, "fixed_H1"), (False, True, "random_H0"),
                             (True, True, "random_H1")]:
        g = LogJoint(ModelSpec(effect, het, BIAS["none"]), y, v, PRIORS["mu"], PRIORS["tau"])
        lap = laplace(g, np.r_[[0.1] if effect else [], [math.log(0.1)] if het else []])
        est, err = aghq(g, lap)
        # within the rule's own error estimate (the warp costs a little on Gaussian shapes)
        assert abs(est - four.log_ml[key]) <= err + 1e-7
        assert err < 1e-3
    for kind in ("PET", "PEESE"):  # 3-D (mu, log tau, log b), skewed in log b
        spec = ModelSpec(True, True, BIAS[kind])
        g = LogJoint(spec, y, v, PRIORS["mu"], PRIORS["tau"])
        lap = laplace(g, np.array([0.1, math.log(0.1), 0.0]))
        est, err = aghq(g, lap)
        exact = log_ml_pet_peese(y, v, kind=kind, scale=spec.bias.scale, effect=True,
                                 heterogeneity=True, mu_prior=PRIORS["mu"],
                                 tau_prior=PRIORS["tau"])
        assert abs(est - exact) <= 2 * err + 1e-6
        assert err < 5e-3


def test_importance_sampling_matches_exact_pet_peese(yv):
    y, v = yv
    rng = np.random.default_rng(11)
    for kind in ("PET", "PEESE"):
        for effect, het in [(False, True), (True, False), (True, True)]:
            fit = fit_bias_model(ModelSpec(effect, het, BIAS[kind]), y, v,
                                 {**PRIORS, "pet": 1.0, "peese": 5.0}, rng, n_draws=8000)
            assert abs(fit.log_ml_is - fit.log_ml) < 4 * fit.se_is + 1e-3, (kind, effect, het)

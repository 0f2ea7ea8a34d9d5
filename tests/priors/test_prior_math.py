"""Each prior family owns its math: fast log density, tau-kernel coefficients, registry."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import stats

import bayesma.priors as P
from bayesma.errors import BayesmaError
from bayesma.priors.base import PRIOR_FAMILIES, Prior

VI = np.array([0.05, 0.2, 0.5])
X = np.array([-1.0, 0.0, 1e-6, 0.03, 0.3, 1.0, 4.0, 9.99, 12.0, np.inf, np.nan])


def _instances() -> list[Prior]:
    return [cls() for cls in PRIOR_FAMILIES.values()]


def _kw(prior: Prior) -> dict:
    return {} if prior.data_free else {"vi": VI}


@pytest.mark.parametrize("prior", _instances(), ids=str)
def test_log_density_equals_logpdf(prior):
    f = prior.log_density(VI)
    got = f(X)
    assert got.shape == X.shape
    np.testing.assert_array_equal(got, prior.logpdf(X, **_kw(prior)))
    # 2-D input keeps its shape; scalars give 0-d arrays
    grid = X[:8].reshape(2, 4)
    np.testing.assert_array_equal(f(grid), prior.logpdf(grid, **_kw(prior)))
    assert np.ndim(f(0.3)) == 0


@pytest.mark.parametrize("prior", _instances(), ids=str)
def test_log_density_outside_support_is_minus_inf(prior):
    lo, hi = prior.support
    f = prior.log_density(VI)
    if np.isfinite(lo):
        assert f(lo - 1.0) == -np.inf
    if np.isfinite(hi):
        assert f(hi + 1.0) == -np.inf
    assert f(np.nan) == -np.inf
    assert not np.isnan(f(X)).any()


@pytest.mark.parametrize("cls", [P.LogNormal, P.InverseGamma, P.LogNormalTau2,
                                 P.LogStudentTTau2, P.InverseGammaTau2])
def test_zero_density_at_tau_zero(cls):
    """The density of these families tends to 0 at tau = 0: -inf, not nan (was nan)."""
    assert cls().logpdf(0.0) == -np.inf
    assert cls().log_density()(np.array([0.0, 0.1]))[0] == -np.inf


@pytest.mark.parametrize("prior", [P.HalfNormal(0.7), P.HalfCauchy(0.3), P.HalfStudentT(4, 0.6),
                                   P.Exponential(1.5), P.LogNormal(-0.5, 0.8),
                                   P.InverseGamma(2.0, 0.3), P.LogNormalTau2(-2.0, 1.2),
                                   P.LogStudentTTau2(-3.0, 2.0, 5.0),
                                   P.InverseGammaTau2(1.5, 0.2), P.Normal(0.3, 2.0),
                                   P.StudentT(4, 0.1, 0.5), P.Cauchy(0.2, 1.5)], ids=str)
def test_closed_forms_match_scipy(prior):
    """The closed forms (one per family) equal the scipy densities."""
    xs = np.array([0.01, 0.2, 0.7, 2.5])
    if isinstance(prior, P.LogStudentTTau2):  # log tau ~ t_nu(mu/2, sigma/2)
        ref = stats.t.logpdf(np.log(xs), prior.nu, prior.mu / 2, prior.sigma / 2) - np.log(xs)
    elif isinstance(prior, P.Tau2Prior):
        ref = prior._scipy_tau2().logpdf(xs**2) + np.log(2 * xs)
    else:
        ref = prior._scipy().logpdf(xs)
    np.testing.assert_allclose(prior.log_density()(xs), ref, rtol=1e-12, atol=1e-12)


def test_jeffreys_needs_vi():
    j = P.Jeffreys()
    with pytest.raises(BayesmaError, match="sampling variances"):
        j.log_density()
    with pytest.raises(BayesmaError, match="sampling variances"):
        j.logpdf(0.3)
    t = np.array([0.1, 0.5])
    ref = 0.5 * np.log(((t[:, None] / (VI + t[:, None] ** 2)) ** 2).sum(axis=1))
    np.testing.assert_allclose(j.log_density(VI)(t), ref)


def _kernel_numpy(c: dict[str, float], tau: np.ndarray) -> np.ndarray:
    """The tau kernel of bayesma.bayes.models.tau_kernel, evaluated in numpy."""
    lt = np.log(tau)
    lp = (c["c1"] * lt + c["c2"] * tau + c["c3"] * tau**2 + c["c4"] * np.log1p(tau**2 / c["s4"])
          + c["c5"] * (lt - c["m5"]) ** 2 + c["c6"] * np.log1p((lt - c["m6"]) ** 2 / c["s6"])
          + c["c7"] / tau + c["c8"] / tau**2)
    inside = (tau >= c["lo"]) & (tau <= c["hi"])
    return np.where(inside, lp, -np.inf)


@pytest.mark.parametrize("prior", [c() for n, c in PRIOR_FAMILIES.items()
                                   if c.param == "tau" and n != "Jeffreys"], ids=str)
def test_kernel_coefficients_reproduce_logpdf(prior):
    c = prior.kernel_coefficients()
    assert c is not None and list(c) == list(P.KERNEL_DEFAULTS)
    taus = np.array([0.03, 0.3, 0.9, 3.0, 7.0])
    diff = _kernel_numpy(c, taus) - prior.logpdf(taus)
    np.testing.assert_allclose(diff, diff[0], atol=1e-9)


@pytest.mark.parametrize("prior", [P.Normal(), P.StudentT(), P.Cauchy(), P.Flat(),
                                   P.Jeffreys()], ids=str)
def test_kernel_coefficients_none_where_not_covered(prior):
    assert prior.kernel_coefficients() is None


def test_new_family_is_one_class():
    """A family defined anywhere registers itself: spec parsing and the exact engine's
    log density work without touching any other file."""

    @dataclass(frozen=True)
    class HalfLaplaceTest(P.TauPrior):
        b: float = 1.0

        def _log_kernel(self, **_):
            return lambda x: -math.log(self.b) - x / self.b

    try:
        assert PRIOR_FAMILIES["HalfLaplaceTest"] is HalfLaplaceTest
        p = P.prior_from_spec({"family": "HalfLaplaceTest", "b": 2.0}, role="tau")
        assert p == HalfLaplaceTest(2.0)
        assert p.log_density()(np.array([-1.0, 1.0]))[1] == pytest.approx(-math.log(2) - 0.5)
        assert p.kernel_coefficients() is None
    finally:
        PRIOR_FAMILIES.pop("HalfLaplaceTest", None)
    assert "TauPrior" not in PRIOR_FAMILIES and "Tau2Prior" not in PRIOR_FAMILIES


def test_families_module_keeps_old_names():
    from bayesma.priors import families

    for name in PRIOR_FAMILIES:
        assert getattr(families, name) is PRIOR_FAMILIES[name]
    assert families.prior_from_spec is P.prior_from_spec


def test_bool_is_not_a_number():
    with pytest.raises(BayesmaError, match="finite number"):
        P.HalfNormal(True)


def test_scale_property():
    assert P.Normal(0, 3).scale == 3.0 and P.Cauchy(0, 2).scale == 2.0
    assert P.StudentT(3, 0, 0.5).scale == 0.5 and P.HalfCauchy(0.3).scale == 0.3
    assert P.Flat().scale is None and P.LogNormalTau2().scale is None

"""PyMC model classes: construction, structure, compiled-model reuse, warnings."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import shared_data
from scipy import integrate, stats

from bayesma.bayes import sampling
from bayesma.bayes.exact import exact_posterior
from bayesma.bayes.models import (
    CommonEffect,
    MetaRegression,
    RandomEffects,
    RobustRandomEffects,
    Subgroups,
    model_from_spec,
    normal_marginal_loglik,
    student_t_marginal_loglik,
)
from bayesma.errors import BayesmaError, DataError, SamplingWarning
from bayesma.priors import Exponential, Flat, HalfCauchy, HalfNormal, Normal

FAST = dict(draws=500, tune=500, progressbar=False)


@pytest.fixture(scope="module")
def bcg() -> pd.DataFrame:
    df = shared_data("bcg")
    df.attrs["measure"] = "RR"
    return df


# ------------------------------------------------------------------ construction
def test_defaults_and_priors(bcg):
    m = RandomEffects(bcg)
    assert m.k == 13
    assert m.parameterization == "marginal"
    assert m.priors["tau"] == HalfNormal(0.5)  # default for RR
    assert set(m.default_priors) == {"mu", "tau"}
    assert len(set(m.labels)) == 13 and "Rosenthal et al (2)" in m.labels
    m2 = RandomEffects(bcg, tau_prior=HalfCauchy(0.3), measure="SMD")
    assert m2.priors["tau"] == HalfCauchy(0.3)
    assert m2.measure == "SMD"


def test_bad_inputs(bcg):
    with pytest.raises(BayesmaError, match="for 'mu', not for 'tau'"):
        RandomEffects(bcg, tau_prior=Normal(0, 1))
    with pytest.raises(BayesmaError, match="bayesma prior object"):
        RandomEffects(bcg, tau_prior="halfnormal")
    with pytest.raises(BayesmaError, match="parameterization"):
        RandomEffects(bcg, parameterization="funnel")
    with pytest.raises(BayesmaError, match="'marginal'"):
        CommonEffect(bcg, parameterization="noncentered")
    bad = bcg.copy()
    bad.loc[3, "vi"] = -0.1
    with pytest.raises(DataError, match="vi") as exc:
        RandomEffects(bad)
    assert exc.value.rows == [3]
    with pytest.raises(DataError, match="not in the data"):
        RandomEffects(bcg, yi="nope")
    with pytest.raises(BayesmaError, match="no moderator"):
        MetaRegression(bcg, "~ 1")
    with pytest.raises(TypeError):
        CommonEffect(bcg, tau_prior=HalfNormal(0.5))
    with pytest.raises(BayesmaError, match="tau must be"):
        Subgroups(bcg, by="alloc", tau="free")


def test_sei_equals_vi(bcg):
    df = bcg.assign(sei=np.sqrt(bcg["vi"]))
    m = RandomEffects(df, sei="sei")
    np.testing.assert_allclose(m.vi, bcg["vi"].to_numpy())


def test_build_has_data_and_hyperparameters(bcg):
    m = MetaRegression(bcg, "~ ablat", tau_prior=HalfCauchy(0.5))
    model = m.build()
    data_names = {v.name for v in model.data_vars}
    assert set(m.data_values()) == data_names
    assert {"yi", "vi", "X", "tau_beta", "mu_sigma", "beta_1_sigma"} <= data_names
    assert {v.name for v in model.free_RVs} == {"mu", "beta_1", "tau"}
    assert list(model.coords["term"]) == ["intrcpt", "ablat"]
    nc = RandomEffects(bcg, parameterization="noncentered").build()
    assert {v.name for v in nc.free_RVs} == {"mu", "tau", "z"}
    assert tuple(nc.coords["study"])[0] == "Aronson"


def test_signature_marginal_is_k_free(bcg):
    a = RandomEffects(bcg, tau_prior=HalfNormal(0.5))
    b = RandomEffects(shared_data("molloy2014"), tau_prior=HalfNormal(2.0))
    assert a.signature() == b.signature()  # different k and hyperparameters: same compile
    c = RandomEffects(bcg, tau_prior=HalfCauchy(0.5))
    assert a.signature() != c.signature()
    n1 = RandomEffects(bcg, parameterization="noncentered")
    n2 = RandomEffects(shared_data("molloy2014"), parameterization="noncentered")
    assert n1.signature() != n2.signature()  # one latent per study: k in the key


def test_meta_regression_beta_priors(bcg):
    m = MetaRegression(bcg, "~ ablat + year", beta_prior={"ablat": Normal(0, 1),
                                                           "year": Normal(0, 2)})
    assert m.priors["beta"]["year"] == Normal(0, 2)
    m2 = m.with_priors(beta_prior=[Normal(0, 3), Normal(0, 4)])
    assert m2.priors["beta"]["ablat"] == Normal(0, 3)
    with pytest.raises(BayesmaError, match="no prior for term"):
        MetaRegression(bcg, "~ ablat + year", beta_prior={"ablat": Normal(0, 1)})
    assert m.prior_text()["beta[ablat]"] == "Normal(mu=0, sigma=1)"


def test_subgroup_levels(bcg):
    m = Subgroups(bcg, by="alloc")
    assert m.levels == ["alternate", "random", "systematic"]
    assert m.level_k.tolist() == [2, 7, 4]
    with pytest.raises(DataError, match="single level"):
        Subgroups(bcg.assign(g="a"), by="g")


# ------------------------------------------------------------------ numerics (no sampling)
def test_normal_marginal_loglik():
    y, v = np.array([0.3, -0.1]), np.array([0.04, 0.09])
    ll = normal_marginal_loglik(y, v, np.array([[0.1, 0.1]]), np.array([[0.25, 0.25]]))
    np.testing.assert_allclose(ll[0], stats.norm.logpdf(y, 0.1, np.sqrt(v + 0.25)))


@pytest.mark.parametrize(("y", "v", "tau", "nu"), [
    (0.5, 0.1, 0.3, 4.0), (3.0, 0.01, 0.2, 4.0), (0.1, 0.05, 1.0, 1.5),
    (5.0, 0.02, 0.5, 2.5), (2.0, 0.3, 0.05, 30.0),
])
def test_student_t_marginal_loglik(y, v, tau, nu):
    def f(t):
        return stats.norm.pdf(y, tau * t, np.sqrt(v)) * stats.t.pdf(t, nu)

    c = y / tau
    pts = sorted([0.0, c])
    ref = sum(integrate.quad(f, a, b, epsabs=0, epsrel=1e-12, limit=500)[0]
              for a, b in [(-np.inf, pts[0]), (pts[0], pts[1]), (pts[1], np.inf)])
    got = student_t_marginal_loglik(np.array([y]), np.array([v]), np.zeros((1, 1)),
                                    np.array([tau]), np.array([nu]))
    assert got[0, 0] == pytest.approx(np.log(ref), abs=1e-8)


def test_theta_conditional_draws_match_formula(bcg):
    """theta_i | mu, tau, y ~ N(B mu + (1 - B) y_i, (1 - B) v_i) (BDA3 eq. 5.17)."""
    import xarray as xr

    m = RandomEffects(bcg)
    n = 200_000
    post = xr.Dataset({"mu": (("chain", "draw"), np.full((1, n), -0.7)),
                       "tau": (("chain", "draw"), np.full((1, n), 0.5))})
    th = m._sample_theta(post, np.random.default_rng(1))
    b = m.vi / (m.vi + 0.25)
    np.testing.assert_allclose(th.mean(0), b * -0.7 + (1 - b) * m.yi, atol=5e-3)
    np.testing.assert_allclose(th.var(0), (1 - b) * m.vi, rtol=2e-2)


# ------------------------------------------------------------------ sampling
@pytest.mark.slow
def test_refit_reuses_compiled_model(bcg):
    m = RandomEffects(bcg, mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))
    f1 = m.fit(random_seed=3, **FAST)
    f2 = m.refit(tau_prior=HalfNormal(1.0))
    assert f2.attrs["compiled_model_reused"] == 1
    assert f2.attrs["compile_seconds"] == 0.0
    assert f2.priors["tau"] == HalfNormal(1.0)
    assert f2.attrs["draws"] == 500  # settings of the last fit
    # same seed, same compiled model -> identical draws
    f3 = m.refit(random_seed=3)
    np.testing.assert_array_equal(f1.posterior["mu"].values, f3.posterior["mu"].values)
    # new data of another k, same structure: no compile either
    f4 = m.refit(shared_data("molloy2014"))
    assert f4.attrs["compiled_model_reused"] == 1 and f4.k == 16
    e = exact_posterior(shared_data("molloy2014"), mu_prior=Normal(0, 10),
                        tau_prior=HalfNormal(0.5), classical=None)
    mcse = float(az.mcse(f4.posterior["mu"]))
    assert abs(f4.mean("mu") - e.mean("mu")) < 4 * mcse
    info = sampling.cache_info()
    assert info["hits"] >= 3


@pytest.mark.slow
def test_meta_regression_vs_exact(bcg):
    pri = dict(mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5), beta_prior=Normal(0, 10))
    fit = MetaRegression(bcg, "~ ablat", **pri).fit(random_seed=5, draws=1000, tune=1000,
                                                    progressbar=False)
    ex = exact_posterior(bcg, mods="~ ablat", classical=None, **pri)
    assert list(fit.posterior["beta"].term.values) == ["intrcpt", "ablat"]
    for term in ("intrcpt", "ablat"):
        x = fit.posterior["beta"].sel(term=term)
        assert abs(float(x.mean()) - ex.mean(f"beta[{term}]")) < 4 * float(az.mcse(x))
        assert abs(float(x.std(ddof=1)) - ex.sd(f"beta[{term}]")) < 4 * float(
            az.mcse(x, method="sd"))
    assert abs(fit.mean("tau") - ex.mean("tau")) < 4 * float(az.mcse(fit.posterior["tau"]))
    assert fit.mean("mu") == pytest.approx(fit.mean("beta[intrcpt]"))
    # classical twin: REML estimate of the slope (metafor: -0.0291)
    s = fit.summary()
    assert s.loc["beta[ablat]", "classical"] == pytest.approx(-0.02910, abs=1e-4)
    assert s.loc["beta[ablat]", "mean"] == pytest.approx(-0.0291, abs=0.004)
    assert fit.divergences == 0


@pytest.mark.slow
def test_common_effect_conjugate(bcg):
    """mu | y ~ N(m, 1/P), P = 1/100 + sum 1/v_i, m = sum(y_i/v_i)/P (conjugate normal)."""
    fit = CommonEffect(bcg, mu_prior=Normal(0, 10)).fit(random_seed=1, **FAST)
    w = 1 / bcg["vi"].to_numpy()
    prec = 1 / 100 + w.sum()
    m = (w * bcg["yi"].to_numpy()).sum() / prec
    x = fit.posterior["mu"]
    assert abs(fit.mean("mu") - m) < 4 * float(az.mcse(x))
    assert abs(fit.sd("mu") - prec**-0.5) < 4 * float(az.mcse(x, method="sd"))
    assert "tau" not in fit.posterior
    assert fit.mean("tau") == 0.0
    np.testing.assert_allclose(fit.draws("theta")[:, 0], fit.draws("mu"))


@pytest.mark.slow
def test_subgroups_shared_and_per_level(bcg):
    pri = dict(mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # per-level k = 2 warns
        shared = Subgroups(bcg, by="alloc", **pri).fit(random_seed=2, **FAST)
        per = Subgroups(bcg, by="alloc", tau="per_level", **pri).fit(random_seed=2, **FAST)
    assert shared.posterior["mu"].dims == ("chain", "draw", "level")
    assert shared.posterior["tau"].dims == ("chain", "draw")
    assert per.posterior["tau"].dims == ("chain", "draw", "level")
    assert list(shared.mean("mu").index) == ["alternate", "random", "systematic"]
    s = per.summary()
    assert {"mu[random]", "tau[random]", "theta_new[systematic]"} <= set(s.index)
    # "random" has k = 7: its own mu close to its separate exact posterior
    sub = bcg[bcg["alloc"] == "random"]
    ex = exact_posterior(sub, classical=None, **pri)
    x = per.posterior["mu"].sel(level="random")
    assert abs(float(x.mean()) - ex.mean("mu")) < 4 * float(az.mcse(x))
    assert s.loc["mu[random]", "classical"] == pytest.approx(-0.9710, abs=1e-3)


def _within_mcse(x, mean: float, sd: float, what: str, tol: float = 4.0) -> None:
    """Posterior mean and sd of draws ``x`` within ``tol`` MCSE of the exact values."""
    zm = (float(x.mean()) - mean) / float(az.mcse(x))
    zs = (float(x.std(ddof=1)) - sd) / float(az.mcse(x, method="sd"))
    assert abs(zm) < tol and abs(zs) < tol, f"{what}: z(mean) = {zm:.2f}, z(sd) = {zs:.2f}"


@pytest.mark.slow
def test_regression_and_subgroup_posteriors_match_exact(bcg):
    """Mean and sd of every parameter against the quadrature engine (4 MCSE).

    MetaRegression: mu (intercept), beta[ablat], tau, theta_new and all 13 theta_i vs
    ``exact_posterior(mods="~ ablat")``. Subgroups: per-level mu and tau vs a separate
    exact fit per level; shared tau: mu[level] and tau vs ``mods="~ 0 + C(alloc)"``.
    The compiled models are those of the tests above (same structures).
    """
    pri = dict(mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))
    run = dict(draws=1000, tune=1000, progressbar=False, prior_predictive=False,
               posterior_predictive=False, log_likelihood=False)
    mr = MetaRegression(bcg, "~ ablat", beta_prior=Normal(0, 10), **pri).fit(random_seed=11,
                                                                             **run)
    ex = exact_posterior(bcg, mods="~ ablat", beta_prior=Normal(0, 10), classical=None, **pri)
    post = mr.posterior
    for name, x in (("mu", post["mu"]), ("beta[ablat]", post["beta"].sel(term="ablat")),
                    ("tau", post["tau"]), ("theta_new", post["theta_new"])):
        _within_mcse(x, ex.mean(name), ex.sd(name), f"MetaRegression {name}")
    th_m, th_s = ex.mean("theta"), ex.sd("theta")
    for i, lab in enumerate(mr.labels):
        _within_mcse(post["theta"].isel(study=i), th_m[lab], th_s[lab], f"theta[{lab}]")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # level "alternate" has k = 2
        per = Subgroups(bcg, by="alloc", tau="per_level", **pri).fit(random_seed=12, **run)
        shared = Subgroups(bcg, by="alloc", **pri).fit(random_seed=13, **run)
    for lv in per.model.levels:
        e = exact_posterior(bcg[bcg["alloc"] == lv], classical=None, **pri)
        for name in ("mu", "tau"):
            _within_mcse(per.posterior[name].sel(level=lv), e.mean(name), e.sd(name),
                         f"per-level {name}[{lv}]")
    es = exact_posterior(bcg, mods="~ 0 + C(alloc)", mu_prior=Normal(0, 10),
                         beta_prior=Normal(0, 10), tau_prior=HalfNormal(0.5), classical=None)
    _within_mcse(shared.posterior["tau"], es.mean("tau"), es.sd("tau"), "shared tau")
    for lv, term in zip(shared.model.levels, es.terms, strict=True):
        assert term == f"C(alloc)[{lv}]"
        _within_mcse(shared.posterior["mu"].sel(level=lv), es.mean(f"beta[{term}]"),
                     es.sd(f"beta[{term}]"), f"shared mu[{lv}]")
    assert mr.divergences == per.divergences == shared.divergences == 0


@pytest.mark.slow
def test_robust_model(bcg):
    fit = RobustRandomEffects(bcg, mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5),
                              nu=4).fit(random_seed=4, **FAST)
    assert fit.posterior["theta"].shape[-1] == 13
    assert fit.idata["log_likelihood"]["y"].shape == (4, 500, 13)
    assert fit.posterior["w"].dims == ("chain", "draw", "study")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # nu is weakly identified
        fit2 = RobustRandomEffects(bcg, nu=Exponential(1 / 29)).fit(random_seed=4, **FAST)
    assert "nu" in fit2.posterior and "nu" in fit2.idata["log_prior"]
    assert 0 < fit2.mean("i2") <= 100  # percent


@pytest.mark.slow
def test_robust_with_huge_nu_is_the_normal_model(bcg):
    """t_nu -> N(0, 1) as nu -> inf: the robust model becomes the exact engine's model."""
    pri = dict(mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))
    fit = RobustRandomEffects(bcg, nu=1e6, **pri).fit(random_seed=6, draws=1000,
                                                      progressbar=False)
    ex = exact_posterior(bcg, classical=None, **pri)
    for p in ("mu", "tau"):
        x = fit.posterior[p]
        assert abs(fit.mean(p) - ex.mean(p)) < 4 * float(az.mcse(x)), p
        assert abs(fit.sd(p) - ex.sd(p)) < 4 * float(az.mcse(x, method="sd")), p
    # the numerically integrated log likelihood is the normal marginal one, up to the
    # O(1/nu) difference between t_nu and N(0, 1) (about 3e-5 in the tails here)
    ll = fit.idata["log_likelihood"]["y"].values.reshape(-1, 13)
    mu, tau = fit.draws("mu"), fit.draws("tau")
    ref = normal_marginal_loglik(fit.model.yi, fit.model.vi, mu[:, None], tau[:, None] ** 2)
    np.testing.assert_allclose(ll, ref, atol=2e-4)


@pytest.mark.slow
def test_small_k_warns_and_raises_target_accept():
    df = shared_data("edge_k2")
    with pytest.warns(SamplingWarning, match=r"k = 2.*exact_posterior"):
        fit = RandomEffects(df, mu_prior=Normal(0, 10)).fit(random_seed=1, **FAST)
    assert fit.attrs["target_accept"] == pytest.approx(0.99)


@pytest.mark.slow
def test_bad_fit_warns_once(bcg):
    """A deliberately bad fit: centered parameterization with almost no tuning."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        fit = RandomEffects(shared_data("edge_k3_homogeneous"),
                            parameterization="centered").fit(
            draws=200, tune=10, random_seed=1, progressbar=False)
    msgs = [str(w.message) for w in rec if issubclass(w.category, SamplingWarning)]
    assert len(msgs) == 1
    assert "Try:" in msgs[0] and "parameterization='marginal'" in msgs[0]
    assert not fit.report.ok
    with pytest.warns(SamplingWarning, match="ess_"):
        RandomEffects(bcg).fit(draws=60, tune=30, random_seed=1, progressbar=False)


@pytest.mark.slow
def test_pymc_sampler(bcg):
    fit = RandomEffects(bcg, mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5)).fit(
        sampler="pymc", draws=300, tune=300, random_seed=1, progressbar=False)
    assert fit.attrs["sampler"] == "pymc"
    assert fit.posterior["mu"].shape == (4, 300)
    assert "diverging" in fit.idata["sample_stats"]
    assert fit.mean("mu") == pytest.approx(-0.71, abs=0.1)


def test_numpyro_missing_is_clear(bcg):
    try:
        import numpyro  # noqa: F401
    except ImportError:
        with pytest.raises(BayesmaError, match="pip install numpyro"):
            RandomEffects(bcg).fit(sampler="numpyro", progressbar=False)
    else:  # pragma: no cover
        pytest.skip("numpyro installed")
    with pytest.raises(BayesmaError, match="sampler must be"):
        RandomEffects(bcg).fit(sampler="stan", progressbar=False)


@pytest.mark.slow
def test_flat_mu_prior_has_no_prior_group(bcg):
    fit = RandomEffects(bcg, mu_prior=Flat(), tau_prior=HalfNormal(0.5)).fit(
        random_seed=1, **FAST)
    assert "prior" not in fit.idata.children
    assert "improper" in fit.attrs["prior_group"]


@pytest.mark.slow
def test_sweep_compiles_once_for_several_families(bcg):
    """model.sweep: priors of different families share one prior-switch compiled model."""
    from bayesma.priors import LogNormalTau2, Uniform

    priors = [HalfNormal(0.5), HalfCauchy(0.5), Uniform(0.0, 10.0), LogNormalTau2(-2.56, 1.74),
              HalfNormal(1.0)]
    m = RandomEffects(bcg, mu_prior=Normal(0, 10))
    fits = m.sweep(priors, random_seed=9, **FAST)
    compiled = [f.attrs["compiled_model_reused"] for f in fits]
    assert compiled[1:] == [1, 1, 1, 1]
    for p, f in zip(priors, fits, strict=True):
        assert f.priors["tau"] == p
        ex = exact_posterior(bcg, mu_prior=Normal(0, 10), tau_prior=p, classical=None)
        for q in ("mu", "tau"):
            assert abs(f.mean(q) - ex.mean(q)) < 4 * float(az.mcse(f.posterior[q])), (p, q)
        assert f.divergences == 0
        assert set(f.posterior.data_vars) == {"mu", "tau", "theta", "theta_new"}
    # the log prior group uses the prior itself, not the switch's flat log_tau
    np.testing.assert_allclose(fits[1].idata["log_prior"]["tau"].values.ravel(),
                               HalfCauchy(0.5).logpdf(fits[1].draws("tau")))


def test_tau_switch_logp_matches_the_priors(bcg):
    """The switch's logp in log tau equals log p(tau) + log tau + log-likelihood + log p(mu),
    with log p(tau) the prior's own (numpy) density, for each family."""
    from bayesma.priors import InverseGammaTau2, LogStudentTTau2, Uniform

    fams = ("HalfCauchy", "HalfNormal", "InverseGammaTau2", "LogStudentTTau2", "Uniform")
    m0 = RandomEffects(bcg, mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))
    m0._tau_switch = fams
    sw = m0.build()
    logp = sw.compile_logp()
    for prior in (HalfNormal(0.7), HalfCauchy(0.3), Uniform(0.0, 5.0),
                  InverseGammaTau2(1.0, 0.15), LogStudentTTau2(-3.44, 2.59)):
        m = m0.with_priors(tau_prior=prior)
        assert m._tau_switch == fams and m.signature() == m0.signature()
        for name, val in m.data_values().items():
            sw[name].set_value(val)
        for tau in (0.05, 0.4, 2.0):
            got = float(logp({"mu": np.array(-0.5), "log_tau": np.array(np.log(tau))}))
            ref = (prior.logpdf(tau) + np.log(tau) + Normal(0, 10).logpdf(-0.5)
                   + normal_marginal_loglik(m.yi, m.vi, -0.5, tau**2).sum())
            assert got == pytest.approx(float(ref), rel=1e-9), (prior, tau)


@pytest.mark.parametrize("prior_name", [
    "HalfNormal", "HalfCauchy", "HalfStudentT", "Exponential", "Uniform", "UniformTau",
    "LogNormal", "LogNormalTau2", "LogStudentTTau2", "InverseGamma", "InverseGammaTau2",
])
def test_tau_kernel_reproduces_each_family(bcg, prior_name):
    """Generic kernel logp - prior.logpdf - log-likelihood is constant in tau."""
    from bayesma.bayes.models import tau_kernel_coefficients
    from bayesma.priors import PRIOR_FAMILIES

    prior = PRIOR_FAMILIES[prior_name]()
    m = RandomEffects(bcg, mu_prior=Normal(0, 10), tau_prior=prior)
    assert tau_kernel_coefficients(prior) is not None
    m._tau_switch = ("kernel",)
    model = m.build()
    for name, val in m.data_values().items():
        model[name].set_value(val)
    logp = model.compile_logp()
    taus = [0.03, 0.3, 0.9, 3.0] if prior_name != "Uniform" else [0.03, 0.3, 3.0, 9.0]
    diffs = []
    for tau in taus:
        got = float(logp({"mu": np.array(0.2), "log_tau": np.array(np.log(tau))}))
        ref = (prior.logpdf(tau) + np.log(tau) + Normal(0, 10).logpdf(0.2)
               + normal_marginal_loglik(m.yi, m.vi, 0.2, tau**2).sum())
        diffs.append(got - float(ref))
    np.testing.assert_allclose(diffs, diffs[0], atol=1e-9)
    if prior_name == "Uniform":  # outside the support
        assert logp({"mu": np.array(0.2), "log_tau": np.array(np.log(11.0))}) == -np.inf


# ------------------------------------------------------------------ issue 9: fit settings
@pytest.mark.parametrize(("kwargs", "match"), [
    ({"chains": 0}, "chains must be an integer number of chains >= 1"),
    ({"chains": 2.0}, "chains must be an integer"),
    ({"draws": 0}, "draws must be an integer"),
    ({"tune": -1}, "tune must be an integer"),
    ({"target_accept": 1.5}, "target_accept must be a number strictly between 0 and 1"),
    ({"target_accept": 0.0}, "target_accept"),
    ({"target_accept": "high"}, "target_accept"),
    ({"random_seed": 1.5}, "random_seed must be an integer"),
    ({"random_seed": "1"}, "random_seed must be an integer"),
    ({"random_seed": -3}, "random_seed must be an integer"),
    ({"random_seed": True}, "random_seed must be an integer"),
    ({"random_seed": 2**40}, "random_seed must be an integer"),
    ({"cores": 0}, "cores must be an integer"),
    ({"progressbar": "yes"}, "progressbar must be True, False or None"),
    ({"sampler": "stan"}, "sampler must be"),
])
def test_bad_fit_settings_raise_before_compiling(bcg, kwargs, match):
    """fit(chains=0) raised KeyError 'mu' after compiling; draws=0, target_accept=1.5,
    negative tune and float seeds were accepted (issue 9, section 4)."""
    before = sampling.cache_info()["misses"]
    m = RandomEffects(bcg, mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))
    with pytest.raises(BayesmaError, match=match):
        m.fit(**kwargs)
    for cls_kwargs in ({}, {"mods": "~ ablat"}):
        model = (MetaRegression(bcg, **cls_kwargs) if cls_kwargs else
                 Subgroups(bcg, by="alloc"))
        with pytest.raises(BayesmaError, match=match):
            model.fit(**kwargs)
    assert sampling.cache_info()["misses"] == before  # nothing was compiled


def test_fit_settings_defaults():
    from bayesma.bayes.models import check_fit_settings

    base = dict(draws=np.int64(10), tune=0, chains=1, cores=None, sampler="nutpie",
                target_accept=None, random_seed=np.int32(7), progressbar=False)
    st = check_fit_settings(**base)
    assert (st.draws, st.tune, st.random_seed, st.target_accept) == (10, 0, 7, 0.95)
    assert isinstance(st.draws, int) and st.cores >= 1
    assert check_fit_settings(**base, small_k=True).target_accept == 0.99
    assert 0 <= check_fit_settings(**{**base, "random_seed": None}).random_seed < 2**31


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("tty", [True, False])
def test_progressbar_only_on_a_terminal(monkeypatch, tty):
    """progressbar=None (the default) shows bars only when stderr is a terminal: tqdm wrote
    bars into log files (issue 9, section 5)."""
    import inspect
    import sys

    from bayesma.bayes.models import check_fit_settings
    from bayesma.bayes.models.base import MetaModel

    monkeypatch.setattr(sys, "stderr", _Stream(tty))
    assert sampling.resolve_progressbar(None) is tty
    assert sampling.resolve_progressbar(True) is True
    assert sampling.resolve_progressbar(False) is False
    st = check_fit_settings(draws=1, tune=0, chains=1, cores=1, sampler="nutpie",
                            target_accept=None, random_seed=1, progressbar=None)
    assert st.progressbar is tty
    assert inspect.signature(MetaModel.fit).parameters["progressbar"].default is None
    assert inspect.signature(sampling.run_sampler).parameters["progressbar"].default is None


# ------------------------------------------------------------------ issue 9: centring
def test_meta_regression_samples_the_centred_design(bcg):
    """The intercept prior applies at the moderators' means (brms' convention): the
    sampled design is centred; center=False keeps the old prior at moderators = 0."""
    m = MetaRegression(bcg, "~ year + ablat")
    X = m.data_values()["X"]
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(X[:, 0], bcg["year"] - bcg["year"].mean())
    assert m.centering.centered and m.spec()["kwargs"]["center"] is True
    from bayesma.errors import PriorScaleWarning

    with pytest.warns(PriorScaleWarning, match="applies at year = 0"):
        raw = MetaRegression(bcg, "~ year + ablat", center=False)
    np.testing.assert_allclose(raw.data_values()["X"], bcg[["year", "ablat"]].to_numpy())
    assert raw.signature() == m.signature()  # same compiled model, other data
    with pytest.raises(BayesmaError, match="center must be True or False"):
        MetaRegression(bcg, "~ year", center="yes")


def test_meta_regression_posterior_on_users_scale(bcg):
    """Sampled (centred) coefficients are stored on the user's scale, plus mu_centered."""
    m = MetaRegression(bcg, "~ year")
    rng = np.random.default_rng(1)
    n = 50
    bc = np.column_stack([rng.normal(-0.7, 0.1, n), rng.normal(0.03, 0.01, n)])
    raw = xr.Dataset({"beta": (("chain", "draw", "term"), bc.reshape(1, n, 2)),
                      "tau": (("chain", "draw"), np.full((1, n), 0.5))},
                     coords={"chain": [0], "draw": np.arange(n), "term": m.terms})
    post = m._posterior(raw, rng)
    ybar = bcg["year"].mean()
    np.testing.assert_allclose(post["beta"].values[0, :, 1], bc[:, 1])
    np.testing.assert_allclose(post["mu"].values[0], bc[:, 0] - ybar * bc[:, 1])
    np.testing.assert_allclose(post["mu_centered"].values[0], bc[:, 0])
    lp = m._log_prior(post)
    np.testing.assert_allclose(lp["mu"].values[0], m.priors["mu"].logpdf(bc[:, 0]))


def test_informative_slope_prior_warns(bcg):
    from bayesma.errors import PriorScaleWarning

    with pytest.warns(PriorScaleWarning, match=r"beta\[year\]"):
        MetaRegression(bcg, "~ year", beta_prior=Normal(0, 0.0001))


@pytest.mark.slow
def test_raw_scale_moderator_agrees_with_reml(bcg):
    """bcg ~ year under default priors: slope 0.00003 before (the N(0, 4) intercept prior
    at year 0 pinned it), REML 0.027 (issue 9, section 2)."""
    from bayesma.classical.rma import rma

    fit = MetaRegression(bcg, "~ year").fit(random_seed=3, **FAST)
    reml = rma(bcg, mods="~ year")
    slope = float(fit.posterior["beta"].sel(term="year").mean())
    assert slope == pytest.approx(float(reml.coef.loc["year", "estimate"]), abs=0.01)
    assert slope > 0.01
    mu_c = fit.posterior["mu_centered"]
    assert float(mu_c.mean()) == pytest.approx(
        float((fit.posterior["beta"].sel(term="intrcpt")
               + fit.posterior["beta"].sel(term="year") * bcg["year"].mean()).mean()))
    assert fit.attrs["centered"] == 1


# ------------------------------------------------------------------ issue 10: subgroups
def test_subgroup_posterior_has_level_differences(bcg):
    from types import SimpleNamespace

    m = Subgroups(bcg, by="alloc")
    assert [c for c, _, _ in m.contrasts()] == [
        "alternate - random", "alternate - systematic", "random - systematic"]
    rng = np.random.default_rng(2)
    n = 400
    mu = rng.normal([-0.5, -1.0, -0.4], 0.2, size=(n, 3))
    raw = xr.Dataset({"mu": (("chain", "draw", "level"), mu.reshape(1, n, 3)),
                      "tau": (("chain", "draw"), np.full((1, n), 0.4))},
                     coords={"chain": [0], "draw": np.arange(n), "level": m.levels})
    post = m._posterior(raw, rng)
    assert post["mu_diff"].dims == ("chain", "draw", "contrast")
    np.testing.assert_allclose(post["mu_diff"].sel(contrast="alternate - random").values[0],
                               mu[:, 0] - mu[:, 1])
    fit = SimpleNamespace(posterior=post, level=0.9)
    lv = m.level_table(fit)
    assert list(lv.index) == m.levels and lv.index.name == "alloc"
    assert list(lv.columns) == ["k", "mean", "sd", "median", "low", "high"]
    assert lv["k"].tolist() == [2, 7, 4]
    assert lv.loc["random", "high"] == pytest.approx(np.quantile(mu[:, 1], 0.95))
    d = m.differences(fit, prob=0.95)
    assert list(d.columns) == ["a", "b", "mean", "sd", "median", "low", "high",
                               "prob_greater"]
    assert d.loc["alternate - random", "prob_greater"] == pytest.approx(
        float(np.mean(mu[:, 0] > mu[:, 1])))
    assert d.loc["random - systematic", "mean"] < 0


# ------------------------------------------------------------------ issue 10: structure
def test_model_from_spec_and_tables(bcg):
    from bayesma.bayes.models import model_from_spec, table_from_json, table_to_json

    m = MetaRegression(bcg, "~ ablat", center=False)
    back = model_from_spec(m.spec(), m.data)
    assert back.spec() == m.spec() and not back.centering.centered
    old = m.spec()
    del old["kwargs"]["center"]  # a fit saved before centring existed
    assert model_from_spec(old, m.data).centering.centered
    with pytest.raises(BayesmaError, match="unknown model class"):
        model_from_spec({**m.spec(), "class": "os.system"}, m.data)
    with pytest.raises(BayesmaError, match="not valid JSON"):
        model_from_spec("{", m.data)
    t = table_from_json(table_to_json(bcg))
    pd.testing.assert_frame_equal(t, bcg, check_index_type=False)


def test_models_package_keeps_old_names():
    import bayesma.bayes.models as M

    for name in ("RandomEffects", "MetaRegression", "Subgroups", "CommonEffect",
                 "RobustRandomEffects", "MetaModel", "model_from_spec", "tau_kernel",
                 "tau_switch", "tau_kernel_coefficients", "KERNEL_DEFAULTS",
                 "normal_marginal_loglik", "student_t_marginal_loglik",
                 "DEFAULT_TARGET_ACCEPT", "SMALL_K_TARGET_ACCEPT", "PARAMETERIZATIONS"):
        assert hasattr(M, name), name
    assert M.tau_kernel_coefficients(HalfNormal(0.5)) == HalfNormal(0.5).kernel_coefficients()


def test_model_from_spec_refuses_unknown_or_missing_settings(bcg):
    """A stored spec is data: keys the model does not take give a typed error, not a
    raw TypeError (nothing compiles)."""
    for model in (RandomEffects(bcg), MetaRegression(bcg, "~ ablat"),
                  Subgroups(bcg, by="alloc")):
        rebuilt = model_from_spec(model.spec(), bcg)
        assert type(rebuilt) is type(model)
        bad = model.spec()
        bad["kwargs"]["evil"] = 1
        with pytest.raises(BayesmaError, match="unknown setting.*'evil'"):
            model_from_spec(bad, bcg)
    spec = MetaRegression(bcg, "~ ablat").spec()
    del spec["kwargs"]["mods"]
    with pytest.raises(BayesmaError, match="'mods' is missing"):
        model_from_spec(spec, bcg)

"""Tests of bayesma/bayes/exact.py: the exact (quadrature) posterior.

Three independent checks:

* the reference posteriors of ``../shared/bayes_reference`` (every dataset, three tau
  priors, mu ~ N(0, 10²)) to 1e-6 relative;
* brute-force 2-D numerical integration over (mu, tau) for many tau prior families:
  mu is integrated numerically on a dense Gauss-Legendre grid (no conjugacy used) and
  tau by QUADPACK (``scipy.integrate.quad_vec``); quantiles are checked through the
  brute-force cdf at the engine's quantile;
* meta-regression against a different algebraic route: the covariance form
  ``y ~ N(X m, V + tau² I + X S X')`` with Gaussian conditioning for beta and theta
  (instead of the engine's precision form), integrated over tau by QUADPACK.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import BAYES_REFERENCE, assert_close, bayes_reference, shared_data
from scipy import integrate, special, stats

import bayesma as bm
from bayesma.bayes.exact import ExactPosterior, exact_posterior
from bayesma.errors import BayesmaError, DataError, ImproperPosteriorError

P = bm.priors

REF_DATASETS = sorted(p.stem for p in BAYES_REFERENCE.glob("*.json"))
REF_PRIORS = {
    "halfnormal_0.5": P.HalfNormal(0.5),
    "halfcauchy_0.5": P.HalfCauchy(0.5),
    "uniform_0_10": P.Uniform(0.0, 10.0),
}
STATS = ("mean", "sd", "q025", "q50", "q975")
QS = np.array([0.025, 0.5, 0.975])


def _ref_close(actual, expected, what):
    """1e-6 relative; a reference None (an infinite moment) must be infinite here."""
    if expected is None:
        assert not np.isfinite(actual), f"{what}: expected an infinite value, got {actual}"
        return
    assert_close(actual, expected, rtol=1e-6, atol=1e-12, what=what)


@pytest.fixture(scope="module")
def bcg():
    return shared_data("bcg")


# =======================================================================================
# 1. reference posteriors
# =======================================================================================
@pytest.mark.parametrize("prior_name", list(REF_PRIORS))
@pytest.mark.parametrize("dataset", REF_DATASETS)
def test_reference_posteriors(dataset, prior_name):
    ref = bayes_reference(dataset)
    res = ref["results"][prior_name]
    assert ref["mu_prior"] == {"dist": "normal", "mu": 0.0, "sigma": 10.0}
    df = shared_data(dataset)
    post = exact_posterior(df, mu_prior=P.Normal(0.0, 10.0), tau_prior=REF_PRIORS[prior_name],
                           classical=None)
    assert post.k == res["k"]
    for par in ("tau", "tau2", "mu", "theta_new"):
        got = [post.mean(par), post.sd(par), *post.quantile(par, QS)]
        for stat, g in zip(STATS, got, strict=True):
            _ref_close(g, res[par][stat], f"{dataset}/{prior_name}/{par}.{stat}")
    _ref_close(post.prob_less("mu", 0.0), res["prob_mu_lt_0"], "prob_mu_lt_0")
    # every theta_i (by position: the reference labels come from another label column)
    tm, ts = post.mean("theta").to_numpy(), post.sd("theta").to_numpy()
    tq = post.quantile("theta", QS).to_numpy()
    for i, th in enumerate(res["theta"]):
        assert_close(post.yi[i], th["yi"], what="yi order")
        assert_close(post.vi[i], th["vi"], what="vi order")
        got = [tm[i], ts[i], *tq[i]]
        for stat, g in zip(STATS, got, strict=True):
            _ref_close(g, th[stat], f"{dataset}/{prior_name}/theta[{i}].{stat}")
    _ref_close(post.log_marginal_likelihood, res["log_marginal_likelihood"], "log p(y)")
    dens = post.densities()
    for key, val in res["densities"].items():
        _ref_close(dens[key], val, f"{dataset}/{prior_name}/densities.{key}")
    _ref_close(post.bayes_factor("mu", 0.0), res["densities"]["bf01_mu_eq_0"], "BF01 mu")
    _ref_close(post.bayes_factor("tau", 0.0), res["densities"]["bf01_tau_eq_0"], "BF01 tau")


# =======================================================================================
# 2. brute force over (mu, tau)
# =======================================================================================
def _std_nodes(n_panels: int, n: int = 30):
    """Composite Gauss-Legendre nodes/weights on [0, 1]."""
    x, w = np.polynomial.legendre.leggauss(n)
    e = np.linspace(0.0, 1.0, n_panels + 1)
    half = 0.5 * np.diff(e)
    mid = 0.5 * (e[:-1] + e[1:])
    return (mid[:, None] + half[:, None] * x).ravel(), (half[:, None] * w).ravel()


_X12, _W12 = _std_nodes(12)
_X4, _W4 = _std_nodes(4)


def _de_nodes(a: float, b: float, scale: float, h: float = 0.03, T: float = 6.0):
    """Double-exponential (tanh-sinh / exp-sinh) trapezoid nodes for tau in (a, b):
    tau = a + (b - a) expit(sinh t) or a + scale exp(sinh t); returns tau, log weight."""
    t = np.arange(-T, T + h / 2, h)
    s = np.sinh(t)
    if math.isfinite(b):
        tau = a + (b - a) * special.expit(s)
        lw = math.log(b - a) + special.log_expit(s) + special.log_expit(-s)
    else:
        tau = a + scale * np.exp(s)
        lw = math.log(scale) + s
    lw = lw + np.log(np.cosh(t)) + math.log(h)
    ok = (tau > a) & (tau < b) & (tau < 1e100)
    return tau[ok], lw[ok]


def brute_force(y, v, mu_prior, tau_prior, *, tau_points=(), mu_points=(), new_points=()):
    """Posterior expectations by 2-D numerical integration, no conjugacy used.

    mu: composite Gauss-Legendre (12 x 30 nodes) on a window 15 standard deviations
    either side of the centre of mu | tau, y (only the window's placement uses the
    Gaussian form); cdfs use their own grids ending at the point. tau: a double-exponential
    trapezoid rule on each piece of the support between the tau points. Returns
    normalised expectations.
    """
    y, v = np.asarray(y, float), np.asarray(v, float)
    k = y.size
    kw = {} if tau_prior.data_free else {"vi": v}
    lam = 0.0 if not mu_prior.proper else 1.0 / mu_prior.sigma**2
    m0 = 0.0 if not mu_prior.proper else mu_prior.mu
    tau_points = np.asarray(tau_points, float)
    mu_points = np.asarray(mu_points, float)
    new_points = np.asarray(new_points, float)

    lo_s, hi_s = tau_prior.support
    brk = [lo_s, *sorted(tau_points.tolist()), hi_s]
    scale = math.sqrt(float(np.median(v)))
    pieces = [_de_nodes(a, b, scale) for a, b in zip(brk[:-1], brk[1:], strict=True)]
    tau = np.concatenate([p[0] for p in pieces])
    lw_tau = np.concatenate([p[1] for p in pieces]) + np.asarray(tau_prior.logpdf(tau, **kw))
    ok = np.isfinite(lw_tau)
    tau, lw_tau = tau[ok], lw_tau[ok]

    def window(tau):  # 15 standard deviations around the centre of mu | tau, y
        w = 1.0 / (v[None, :] + tau[:, None] ** 2)
        c = (w @ y + lam * m0) / (w.sum(1) + lam)
        half = 15 * (w.sum(1) + lam) ** -0.5
        return c - half, c + half

    def log_integrand(a, b, x, xw):
        """log of the (mu, tau) integrand on nodes a + (b - a) x, shape (n_tau, n_x)."""
        mu = a[:, None] + (b - a)[:, None] * x[None, :]
        s2 = v[None, None, :] + t2[:, :, None]
        ll = -0.5 * np.sum(np.log(2 * np.pi * s2) + (y - mu[:, :, None]) ** 2 / s2, axis=2)
        lp = np.zeros_like(mu) if not mu_prior.proper else mu_prior.logpdf(mu)
        with np.errstate(divide="ignore"):
            return mu, ll + lp + np.log((b - a)[:, None] * xw[None, :])

    t2 = tau[:, None] ** 2
    lo, hi = window(tau)
    mu, lw = log_integrand(lo, hi, _X12, _W12)
    base = special.logsumexp(lw, axis=1)
    # drop the tau nodes without weight (|log| overflow far in the tails)
    keep = base + lw_tau > np.max(base + lw_tau) - 300
    tau, lw_tau, base, mu, lw, lo, hi = (a[keep] for a in (tau, lw_tau, base, mu, lw, lo, hi))
    t2 = tau[:, None] ** 2
    wn = np.exp(lw - base[:, None])
    cols = [np.ones_like(tau), np.sum(wn * mu, 1), np.sum(wn * mu**2, 1), tau, tau**2]
    cols += [(tau < q).astype(float) for q in tau_points]
    for m in mu_points:  # P(mu < m | tau, y)
        b = np.clip(m, lo, hi)
        _, lx = log_integrand(lo, b, _X12, _W12)
        cols.append(np.exp(special.logsumexp(lx, axis=1) - base))
    for m in new_points:  # P(mu + tau e < m | tau, y), grid split at m -+ 10 tau
        br = np.clip(np.stack([lo, m - 10 * tau, np.full_like(tau, m), m + 10 * tau, hi]),
                     lo, hi)
        acc = np.zeros_like(tau)
        for a, b in zip(br[:-1], br[1:], strict=True):
            x, lx = log_integrand(a, b, _X4, _W4)
            acc += np.sum(np.exp(lx - base[:, None]) * special.ndtr(
                (m - x) / np.maximum(tau, 1e-300)[:, None]), 1)
        cols.append(acc)
    B = v[None, :] / (v[None, :] + t2)
    Emu, Emu2 = cols[1], cols[2]
    th = (1 - B) * y[None, :] + B * Emu[:, None]  # E[theta_i | tau, y] from E[mu | tau, y]
    th2 = ((1 - B) * y[None, :]) ** 2 + 2 * (1 - B) * y[None, :] * B * Emu[:, None] + \
        B**2 * Emu2[:, None] + (1 - B) * v[None, :]
    V = np.column_stack(cols + [th, th2])
    lwt = base + lw_tau
    wt = np.exp(lwt - lwt.max())
    r = wt @ V / wt.sum()
    i = 5
    out = {"mu_mean": r[1], "mu_sd": math.sqrt(r[2] - r[1] ** 2), "tau_mean": r[3],
           "tau_sd": math.sqrt(r[4] - r[3] ** 2)}
    out["tau_cdf"] = r[i:i + tau_points.size]
    i += tau_points.size
    out["mu_cdf"] = r[i:i + mu_points.size]
    i += mu_points.size
    out["new_cdf"] = r[i:i + new_points.size]
    i += new_points.size
    out["theta_mean"] = r[i:i + k]
    out["theta_sd"] = np.sqrt(r[i + k:i + 2 * k] - r[i:i + k] ** 2)
    return out


BRUTE_PRIORS = [
    P.HalfNormal(0.5),
    P.HalfCauchy(0.5),
    P.Exponential(2.0),
    P.Uniform(0.0, 2.0),
    P.HalfStudentT(3.0, 0.3),
    P.LogNormalTau2(-2.56, 1.74),
    P.LogStudentTTau2(-3.44, 2.59),
    P.InverseGammaTau2(1.0, 0.15),
    P.LogNormal(-1.5, 1.0),
    P.InverseGamma(2.0, 0.3),
]


def _check_brute(post: ExactPosterior, mu_prior, tau_prior, tol=1e-6):
    tq = post.quantile("tau", QS)
    mq = post.quantile("mu", QS)
    nq = post.quantile("theta_new", QS)
    bf = brute_force(post.yi, post.vi, mu_prior, tau_prior, tau_points=tq, mu_points=mq,
                     new_points=nq)
    assert_close(post.mean("mu"), bf["mu_mean"], rtol=tol, atol=1e-9, what="mu mean")
    if np.isfinite(post.sd("mu")):  # infinite with a flat mu prior when E[tau²] is
        assert_close(post.sd("mu"), bf["mu_sd"], rtol=tol, what="mu sd")
    if np.isfinite(post.mean("tau")):
        assert_close(post.mean("tau"), bf["tau_mean"], rtol=tol, what="tau mean")
    if np.isfinite(post.sd("tau")):
        assert_close(post.sd("tau"), bf["tau_sd"], rtol=tol, what="tau sd")
    # the brute-force cdf at the engine's quantiles gives back the probabilities
    assert_close(bf["tau_cdf"], QS, rtol=0, atol=tol, what="tau quantiles")
    assert_close(bf["mu_cdf"], QS, rtol=0, atol=tol, what="mu quantiles")
    assert_close(bf["new_cdf"], QS, rtol=0, atol=tol, what="theta_new quantiles")
    assert_close(post.mean("theta").to_numpy(), bf["theta_mean"], rtol=tol, atol=1e-9,
                 what="theta means")
    assert_close(post.sd("theta").to_numpy(), bf["theta_sd"], rtol=tol, what="theta sds")


@pytest.mark.parametrize("tau_prior", BRUTE_PRIORS, ids=str)
@pytest.mark.parametrize("dataset", ["bcg", "edge_k3_homogeneous"])
def test_brute_force_tau_priors(dataset, tau_prior):
    df = shared_data(dataset)
    mu_prior = P.Normal(0.0, 4.0)
    post = exact_posterior(df, mu_prior=mu_prior, tau_prior=tau_prior, classical=None)
    _check_brute(post, mu_prior, tau_prior)


@pytest.mark.parametrize("mu_prior,tau_prior,dataset", [
    (P.Flat(), P.HalfNormal(0.5), "normand1999"),
    (P.Flat(), P.UniformTau(), "molloy2014"),
    (P.Normal(0.0, 10.0), P.Jeffreys(), "bcg"),
    (P.Flat(), P.Jeffreys(), "edge_k3_homogeneous"),
    (P.Normal(1.0, 0.5), P.HalfCauchy(1.0), "normand1999"),
], ids=str)
def test_brute_force_flat_and_improper(mu_prior, tau_prior, dataset):
    df = shared_data(dataset)
    post = exact_posterior(df, mu_prior=mu_prior, tau_prior=tau_prior, classical=None)
    _check_brute(post, mu_prior, tau_prior)


def test_fast_prior_closures_match_prior_objects():
    v = shared_data("bcg")["vi"].to_numpy()
    x = np.concatenate([[-1.0, 0.0], np.geomspace(1e-6, 1e3, 60), [1.999, 2.0, 2.5]])
    for prior in [*BRUTE_PRIORS, P.UniformTau(), P.Jeffreys(), P.Uniform(0.3, 2.0),
                  P.HalfNormal(2.5), P.HalfStudentT(1.5, 2.0)]:
        kw = {} if prior.data_free else {"vi": v}
        ref = np.asarray(prior.logpdf(x, **kw), float)
        got = prior.log_density(v)(x)
        ok = np.isfinite(ref)
        np.testing.assert_array_equal(np.isfinite(got), ok, err_msg=str(prior))
        np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-12, atol=1e-12, err_msg=str(prior))


# =======================================================================================
# 3. meta-regression against the covariance-form route
# =======================================================================================
def _regression_route(y, v, X, m0, S0, tau_prior, x_points, col):
    """Posterior moments by Gaussian conditioning in the covariance form
    (``y ~ N(X m0, V + tau² I + X S0 X')``, batched over tau nodes), integrated over tau
    with the double-exponential trapezoid rule of :func:`_de_nodes`."""
    k = y.size
    lo, hi = tau_prior.support
    tau, lw = _de_nodes(lo, hi, math.sqrt(float(np.median(v))), h=0.02)
    lw = lw + np.asarray(tau_prior.logpdf(tau))
    ok = np.isfinite(lw) & (tau < 1e6)
    tau, lw = tau[ok], lw[ok]
    XSX = X @ S0 @ X.T
    Ct = XSX[None] + (tau**2)[:, None, None] * np.eye(k)[None]  # Cov(theta) given tau
    Sy = Ct + np.diag(v)[None]
    Sy_inv = np.linalg.inv(Sy)
    _, logdet = np.linalg.slogdet(Sy)
    r = y - X @ m0
    ll = -0.5 * (k * math.log(2 * math.pi) + logdet + np.einsum("i,gij,j->g", r, Sy_inv, r))
    K = np.einsum("ab,ib,gij->gaj", S0, X, Sy_inv)  # S0 X' Sy^-1
    b = m0[None] + K @ r
    C = S0[None] - K @ X @ S0
    tm = (X @ m0)[None] + np.einsum("gij,gjl,l->gi", Ct, Sy_inv, r)
    tv = np.einsum("gii->gi", Ct - Ct @ Sy_inv @ Ct)
    lt = ll + lw
    wt = np.exp(lt - lt.max())
    Z = wt.sum()
    sdc = np.sqrt(C[:, col, col])
    cdf = stats.norm.cdf((np.asarray(x_points)[None, :] - b[:, col][:, None]) / sdc[:, None])
    E = lambda a: np.tensordot(wt, a, axes=(0, 0)) / Z  # noqa: E731
    p = X.shape[1]
    bm_, bv = E(b), E(np.einsum("gjj->gj", C) + b**2)
    return {"log_ml": math.log(Z) + lt.max(), "tau_mean": E(tau),
            "tau_sd": math.sqrt(E(tau**2) - E(tau) ** 2), "beta_mean": bm_[:p],
            "beta_sd": np.sqrt(bv - bm_**2), "cdf": E(cdf), "theta_mean": E(tm),
            "theta_sd": np.sqrt(E(tm**2 + tv) - E(tm) ** 2)}


@pytest.mark.parametrize("tau_prior", [P.HalfNormal(0.5), P.HalfCauchy(0.5),
                                       P.Uniform(0.0, 3.0)], ids=str)
def test_meta_regression_against_covariance_route(bcg, tau_prior):
    post = exact_posterior(bcg, mods="~ ablat", mu_prior=P.Normal(0.0, 10.0),
                           beta_prior=P.Normal(0.0, 1.0), tau_prior=tau_prior, center=False)
    assert post.terms == ["intrcpt", "ablat"]
    X = np.column_stack([np.ones(post.k), bcg["ablat"].to_numpy(float)])
    q = post.quantile("beta[ablat]", QS)
    ref = _regression_route(post.yi, post.vi, X, np.zeros(2), np.diag([100.0, 1.0]),
                            tau_prior, q, col=1)
    assert_close(post.log_marginal_likelihood, ref["log_ml"], rtol=1e-8, what="log p(y)")
    assert_close(post.mean("beta").to_numpy(), ref["beta_mean"], rtol=1e-7, what="beta mean")
    assert_close(post.sd("beta").to_numpy(), ref["beta_sd"], rtol=1e-7, what="beta sd")
    assert_close(post.mean("tau"), ref["tau_mean"], rtol=1e-7, what="tau mean")
    assert_close(post.sd("tau"), ref["tau_sd"], rtol=1e-7, what="tau sd")
    assert_close(ref["cdf"], QS, rtol=0, atol=1e-8, what="beta[ablat] quantiles")
    assert_close(post.mean("theta").to_numpy(), ref["theta_mean"], rtol=1e-7, what="theta")
    assert_close(post.sd("theta").to_numpy(), ref["theta_sd"], rtol=1e-7, what="theta sd")
    assert_close(post.mean("mu"), post.mean("beta[intrcpt]"), rtol=1e-14)
    s = post.summary()
    assert "beta[ablat]" in s.index and "beta[intrcpt]" not in s.index
    assert_close(s.loc["beta[ablat]", "classical"], post.classical.coef.loc["ablat", "estimate"])


def test_meta_regression_flat_is_the_wide_normal_limit(bcg):
    flat = exact_posterior(bcg, mods=["ablat"], mu_prior=P.Flat(), beta_prior=P.Flat(),
                           tau_prior=P.HalfNormal(0.5), classical=None)
    wide = exact_posterior(bcg, mods=["ablat"], mu_prior=P.Normal(0, 1e5),
                           beta_prior=P.Normal(0, 1e5), tau_prior=P.HalfNormal(0.5),
                           classical=None)
    assert_close(flat.mean("beta").to_numpy(), wide.mean("beta").to_numpy(), rtol=1e-6)
    assert_close(flat.sd("beta").to_numpy(), wide.sd("beta").to_numpy(), rtol=1e-6)
    assert_close(flat.quantile("tau", QS), wide.quantile("tau", QS), rtol=1e-6)


def test_meta_regression_categorical_and_beta_prior_forms(bcg):
    post = exact_posterior(bcg, mods="~ ablat + C(alloc)", tau_prior=P.HalfNormal(0.5),
                           beta_prior={"ablat": P.Normal(0, 1), "C(alloc)[T.random]":
                                       P.Normal(0, 2), "C(alloc)[T.systematic]": P.Flat()},
                           classical=None)
    assert post.p == 4
    assert isinstance(post.priors["beta"]["C(alloc)[T.systematic]"], P.Flat)
    with pytest.raises(BayesmaError, match="no prior for term"):
        exact_posterior(bcg, mods="~ ablat + C(alloc)", beta_prior={"ablat": P.Normal(0, 1)})
    with pytest.raises(BayesmaError, match="Normal or Flat"):
        exact_posterior(bcg, mods="~ ablat", beta_prior=P.Cauchy(0, 1))


# =======================================================================================
# 4. API behaviour
# =======================================================================================
def test_improper_posterior_raises():
    df = shared_data("edge_k2")
    with pytest.raises(ImproperPosteriorError, match="improper"):
        exact_posterior(df, mu_prior=P.Flat(), tau_prior=P.UniformTau())
    # proper with a proper mu prior, but E[tau] is infinite (p(tau|y) ~ tau^-2)
    post = exact_posterior(df, mu_prior=P.Normal(0, 10), tau_prior=P.UniformTau())
    assert math.isinf(post.mean("tau")) and math.isinf(post.sd("theta_new"))
    assert np.isfinite(post.quantile("tau", 0.5)) and np.isfinite(post.mean("mu"))


def test_prior_errors(bcg):
    with pytest.raises(BayesmaError, match="Normal or Flat"):
        exact_posterior(bcg, mu_prior=P.StudentT(3, 0, 1))
    with pytest.raises(BayesmaError, match="prior for tau"):
        exact_posterior(bcg, mu_prior=P.HalfNormal(1.0))
    with pytest.raises(BayesmaError, match="not a prior for tau"):
        exact_posterior(bcg, tau_prior=P.Normal(0, 1))


def test_default_priors_follow_measure(bcg):
    d = bcg.copy()
    d.attrs["measure"] = "RR"
    post = exact_posterior(d, classical=None)
    defaults = P.default_priors("RR")
    assert post.priors["mu"] == defaults["mu"] and post.priors["tau"] == defaults["tau"]
    assert post.measure == "RR"


def test_data_errors_name_column_and_row(bcg):
    d = bcg.copy()
    d.loc[3, "vi"] = np.nan
    with pytest.raises(DataError, match="vi") as exc:
        exact_posterior(d)
    assert exc.value.column == "vi" and exc.value.rows == [3]
    assert "Hart & Sutherland" in str(exc.value)
    d = bcg.copy()
    d.loc[2, "vi"] = -0.1
    with pytest.raises(DataError, match="> 0"):
        exact_posterior(d)
    with pytest.raises(DataError, match="not in the data"):
        exact_posterior(bcg, yi="effect")


def test_sei_column(bcg):
    d = bcg.assign(sei=np.sqrt(bcg["vi"]))
    a = exact_posterior(d.drop(columns="vi"), sei="sei", tau_prior=P.HalfNormal(0.5),
                        classical=None)
    b = exact_posterior(bcg, tau_prior=P.HalfNormal(0.5), classical=None)
    assert_close(a.mean("mu"), b.mean("mu"), rtol=1e-12)


def test_parameters_and_accessors(bcg):
    post = exact_posterior(bcg, mu_prior=P.Normal(0, 10), tau_prior=P.HalfNormal(0.5))
    labels = post.labels
    assert labels[0] == "Aronson" and labels[9] == "Rosenthal et al (2)"
    th = post.mean("theta")
    assert list(th.index) == labels
    assert_close(post.mean("theta[Aronson]"), th.iloc[0], rtol=1e-14)
    assert_close(post.quantile("theta[Rosenthal et al (2)]", 0.5),
                 post.median("theta").iloc[9], rtol=1e-12)
    assert post.mean("beta").index.tolist() == ["intrcpt"]
    assert_close(post.mean("beta[intrcpt]"), post.mean("mu"), rtol=1e-14)
    with pytest.raises(BayesmaError, match="unknown parameter"):
        post.mean("sigma")
    with pytest.raises(BayesmaError, match="no study"):
        post.mean("theta[Nobody]")
    # eti = quantiles; prob_less = cdf; cdf(quantile) = q
    lo, hi = post.interval("mu", 0.9)
    assert_close([lo, hi], post.quantile("mu", [0.05, 0.95]), rtol=1e-14)
    for par in ("mu", "tau", "tau2", "i2", "theta_new", "theta[Aronson]"):
        q = post.quantile(par, QS)
        assert_close(post.cdf(par, q), QS, rtol=0, atol=1e-12, what=par)
    assert_close(post.prob_less("mu", 0.0), post.cdf("mu", 0.0), rtol=1e-14)
    # densities integrate to one
    for par in ("mu", "tau", "theta_new"):
        lo_, hi_ = post.quantile(par, [1e-12, 1 - 1e-12])
        val, _ = integrate.quad(lambda x, par=par: post.pdf(par, x), lo_, hi_, limit=200)
        assert_close(val, 1.0, rtol=1e-8, what=par)
    # tau², I² are transforms of tau
    assert_close(post.quantile("tau2", QS), post.quantile("tau", QS) ** 2, rtol=1e-14)
    s2 = post.typical_variance
    w = 1 / post.vi
    assert_close(s2, (post.k - 1) * w.sum() / (w.sum() ** 2 - (w**2).sum()), rtol=1e-12)
    t = post.quantile("tau", QS)
    assert_close(post.quantile("i2", QS), 100 * t**2 / (t**2 + s2), rtol=1e-12)  # percent
    text = str(post)
    assert "P(mu < 0)" in text and "BF01" in text and "theta[Aronson]" in text
    assert "HalfNormal(sigma=0.5)" in text and "Normal(mu=0, sigma=10)" in text


def test_hdi_against_a_density_grid(bcg):
    post = exact_posterior(bcg, mu_prior=P.Normal(0, 10), tau_prior=P.HalfCauchy(0.5),
                           classical=None)
    for par in ("mu", "tau", "tau2", "i2", "theta_new", "theta[TPT Madras]"):
        lo, hi = post.interval(par, 0.9, kind="hdi")
        assert_close(post.cdf(par, hi) - post.cdf(par, lo), 0.9, rtol=1e-10, what=par)
        x = np.linspace(*post.quantile(par, [1e-6, 1 - 1e-6]), 100001)
        d = np.asarray(post.pdf(par, x), dtype=float)
        order = np.argsort(-d)
        keep = order[: np.searchsorted(np.cumsum(d[order]) * (x[1] - x[0]), 0.9)]
        dx = x[1] - x[0]
        assert abs(x[keep].min() - lo) < 3 * dx and abs(x[keep].max() - hi) < 3 * dx, par
    # a posterior of tau with its mode at 0: the HDI starts at 0
    post0 = exact_posterior(shared_data("edge_k3_homogeneous"), tau_prior=P.HalfNormal(0.5),
                            mu_prior=P.Normal(0, 10), classical=None)
    lo, hi = post0.interval("tau", kind="hdi")
    assert lo == 0.0
    assert_close(hi, post0.quantile("tau", 0.95), rtol=1e-12)
    assert post0.mode("tau") == 0.0


def test_bayes_factors(bcg):
    post = exact_posterior(bcg, mods="~ ablat", tau_prior=P.HalfNormal(0.5),
                           mu_prior=P.Normal(0, 10), beta_prior=P.Normal(0, 1))
    bf = post.bayes_factor("beta[ablat]", 0.0)
    assert_close(bf, float(post.pdf("beta[ablat]", 0.0)) / stats.norm.pdf(0, 0, 1), rtol=1e-14)
    lognormal = exact_posterior(bcg, tau_prior=P.LogNormalTau2(-2.56, 1.74), classical=None)
    with pytest.raises(BayesmaError, match="density 0"):
        lognormal.bayes_factor("tau", 0.0)
    assert np.isnan(lognormal.densities()["bf01_tau_eq_0"])
    flat = exact_posterior(bcg, mu_prior=P.Flat(), tau_prior=P.HalfNormal(0.5),
                           classical=None)
    with pytest.raises(BayesmaError, match="improper"):
        flat.bayes_factor("mu", 0.0)


def test_conditional_moments(bcg):
    post = exact_posterior(bcg, mu_prior=P.Normal(0, 10), tau_prior=P.HalfNormal(0.5),
                           classical=None)
    cond = post.conditional([0.0, 0.3, 1.0])
    mean, sd = cond["mean"], cond["sd"]
    assert list(mean.index) == [0.0, 0.3, 1.0]
    th_cols = [f"theta[{lab}]" for lab in post.labels]
    # tau = 0: every theta_i equals mu
    assert_close(mean.loc[0.0, th_cols].to_numpy(), np.full(post.k, mean.loc[0.0, "mu"]),
                 rtol=1e-14)
    assert_close(sd.loc[0.0, th_cols].to_numpy(), np.full(post.k, sd.loc[0.0, "mu"]),
                 rtol=1e-12)
    # common-effect formulas at tau = 0 with the N(0, 10²) prior
    w = 1 / post.vi
    prec = w.sum() + 1 / 100
    assert_close(mean.loc[0.0, "mu"], (w @ post.yi) / prec, rtol=1e-14)
    assert_close(sd.loc[0.0, "mu"], prec**-0.5, rtol=1e-14)
    # the mixture over the posterior of tau gives back the marginal mean of mu
    q = post._quad
    taus = q.tau[q.weights > 0]
    c = post.conditional(taus)["mean"]["mu"].to_numpy()
    assert_close(c @ q.weights[q.weights > 0], post.mean("mu"), rtol=1e-12)
    assert post.tau_grid.shape == post.tau_density.shape == (401,)


def test_draws_match_exact_moments(bcg):
    post = exact_posterior(bcg, mu_prior=P.Normal(0, 10), tau_prior=P.HalfNormal(0.5),
                           classical=None)
    n = 200_000
    d = post.sample(n, random_seed=42)
    for par in ("mu", "tau", "tau2", "theta_new", "i2"):
        x = d[par]
        m, s = post.mean(par), post.sd(par)
        assert abs(x.mean() - m) < 5 * s / math.sqrt(n), par
        assert abs(x.std() - s) < 5 * s / math.sqrt(n / 2) * 1.5, par
    th = d["theta"]
    assert np.all(np.abs(th.mean(0) - post.mean("theta").to_numpy())
                  < 5 * post.sd("theta").to_numpy() / math.sqrt(n))
    assert_close(np.quantile(d["tau"], QS), post.quantile("tau", QS), rtol=1e-2)
    a = post.draws("theta[Aronson]", n=1000, random_seed=1)
    b = post.draws("theta", n=1000, random_seed=1)
    assert a.shape == (1000,) and b.shape == (1000, post.k)
    np.testing.assert_array_equal(a, b[:, 0])


def test_datatree_works_with_arviz(bcg):
    az = pytest.importorskip("arviz")
    post = exact_posterior(bcg, mods="~ ablat", mu_prior=P.Normal(0, 10),
                           beta_prior=P.Normal(0, 1), tau_prior=P.HalfNormal(0.5))
    tree = post.to_datatree(4000, random_seed=0)
    assert set(tree.children) >= {"posterior", "observed_data", "constant_data"}
    po = tree.posterior
    assert po.sizes["chain"] == 4 and po.sizes["draw"] == 1000
    assert list(po["theta"].coords["study"].values) == post.labels
    assert list(po["beta"].coords["term"].values) == ["intrcpt", "ablat"]
    assert po.attrs["inference_library"] == "bayesma-exact"
    assert "HalfNormal" in po.attrs["tau_prior"]
    s = az.summary(tree, var_names=["mu", "tau"], ci_prob=0.95, round_to="none")
    assert list(s.index) == ["mu", "tau"]
    assert abs(s.loc["mu", "mean"] - post.mean("mu")) < 5 * post.sd("mu") / math.sqrt(4000)
    assert s.loc["tau", "r_hat"] < 1.01
    tree2 = post.to_datatree(4000, random_seed=0)
    np.testing.assert_array_equal(tree2.posterior["tau"].values, po["tau"].values)


def test_summary_table(bcg):
    post = exact_posterior(bcg, mu_prior=P.Normal(0, 10), tau_prior=P.HalfNormal(0.5))
    s = post.summary()
    assert list(s.index[:5]) == ["mu", "tau", "tau2", "i2", "theta_new"]
    assert list(s.index[5:-2]) == [f"theta[{lab}]" for lab in post.labels]
    assert list(s.index[-2:]) == ["P(mu > 0)", "P(mu < 0)"]
    assert_close(s.loc["P(mu < 0)", "mean"], post.prob_less("mu", 0.0), rtol=1e-14)
    assert list(s.columns) == ["mean", "sd", "median", "eti_low", "eti_high", "hdi_low",
                               "hdi_high", "classical", "classical_low", "classical_high"]
    assert_close(s.loc["mu", ["eti_low", "median", "eti_high"]].to_numpy(float),
                 post.quantile("mu", QS), rtol=1e-12)
    assert_close(s.loc["tau", ["hdi_low", "hdi_high"]].to_numpy(float),
                 post.interval("tau", kind="hdi"), rtol=1e-12)
    assert_close(s["hdi_low"].to_numpy(float)[5:-2],
                 post.interval("theta", kind="hdi")["low"].to_numpy(), rtol=1e-12)
    res = bm.rma(bcg, method="REML", test="knha")
    assert_close(s.loc["mu", ["classical", "classical_low", "classical_high"]].to_numpy(float),
                 [res.estimate, res.ci_low, res.ci_high], rtol=1e-12)
    assert_close(s.loc["tau2", "classical"], res.tau2, rtol=1e-12)
    assert_close(s.loc["theta_new", "classical_low"], res.pi_low, rtol=1e-12)
    assert s.attrs["classical"] == "REML (knha)" and "HalfNormal" in s.attrs["priors"]
    # no twin: NaN columns; theta rows optional
    s2 = exact_posterior(bcg, classical=None).summary(theta=False)
    assert s2["classical"].isna().all()
    assert list(s2.index) == ["mu", "tau", "tau2", "i2", "theta_new", "P(mu > 0)",
                              "P(mu < 0)"]
    # ratio measures get back-transformed columns, for location rows only
    d = bcg.copy()
    d.attrs["measure"] = "RR"
    s3 = exact_posterior(d, tau_prior=P.HalfNormal(0.5)).summary()
    assert_close(s3.loc["mu", "exp_median"], math.exp(s3.loc["mu", "median"]), rtol=1e-14)
    assert np.isnan(s3.loc["tau", "exp_median"])
    post3 = exact_posterior(d, tau_prior=P.HalfNormal(0.5), classical=None)
    x = post3.sample(400_000, random_seed=5)["theta"][:, 0]
    assert abs(s3.loc["theta[Aronson]", "exp_mean"] - np.exp(x).mean()) < 0.01
    # no intercept: a row per coefficient, no mu / theta_new
    s4 = exact_posterior(bcg, mods="~ 0 + C(alloc)", tau_prior=P.HalfNormal(0.5)).summary(
        theta=False)
    assert list(s4.index[:6]) == ["tau", "tau2", "i2", "beta[C(alloc)[alternate]]",
                                  "beta[C(alloc)[random]]", "beta[C(alloc)[systematic]]"]
    assert np.isfinite(s4.loc["beta[C(alloc)[random]]", "classical"])


def test_h2_and_predict(bcg):
    post = exact_posterior(bcg, mu_prior=P.Normal(0, 10), tau_prior=P.HalfNormal(0.5),
                           classical=None)
    s2 = post.typical_variance
    assert_close(post.quantile("h2", QS), 1 + post.quantile("tau", QS) ** 2 / s2, rtol=1e-12)
    assert_close(post.mean("h2"), 1 + post.mean("tau2") / s2, rtol=1e-14)
    assert_close(post.cdf("h2", post.quantile("h2", QS)), QS, rtol=0, atol=1e-12)
    val, _ = integrate.quad(lambda x: post.pdf("h2", x), 1.0, post.quantile("h2", 1 - 1e-12),
                            limit=200)
    assert_close(val, 1.0, rtol=1e-8)
    pr = post.predict()
    assert list(pr.index) == ["pooled"]
    assert_close(pr.loc["pooled", ["eti_low", "eti_high"]].to_numpy(float),
                 post.quantile("mu", [0.025, 0.975]), rtol=1e-12)
    assert_close(pr.loc["pooled", ["pi_low", "pi_high"]].to_numpy(float),
                 post.quantile("theta_new", [0.025, 0.975]), rtol=1e-12)
    reg = exact_posterior(bcg, mods="~ ablat", mu_prior=P.Normal(0, 10),
                          beta_prior=P.Normal(0, 1), tau_prior=P.HalfNormal(0.5))
    a = reg.predict([10.0, 40.0])
    b = reg.predict({"ablat": [10.0, 40.0]})
    assert_close(a.to_numpy(), b.to_numpy(), rtol=1e-14)
    n = 200_000
    d = reg.sample(n, random_seed=9)
    lin = d["beta"] @ np.array([[1.0, 1.0], [10.0, 40.0]])
    for j in range(2):
        assert abs(lin[:, j].mean() - a["mean"].iloc[j]) < 5 * a["sd"].iloc[j] / math.sqrt(n)
        assert_close(np.quantile(lin[:, j], [0.025, 0.975]),
                     a.iloc[j][["eti_low", "eti_high"]].to_numpy(float), rtol=2e-2)
    assert list(reg.predict().index) == reg.labels
    with pytest.raises(BayesmaError, match="meta-regression"):
        post.predict([1.0])


def test_arrays_entry_point(bcg):
    y, v = bcg["yi"].to_numpy(), bcg["vi"].to_numpy()
    a = bm.bayes.exact_posterior_arrays(y, v, mu_prior=P.Normal(0, 10),
                                        tau_prior=P.HalfNormal(0.5))
    b = exact_posterior(bcg, mu_prior=P.Normal(0, 10), tau_prior=P.HalfNormal(0.5))
    assert a.labels[0] == "Study 1" and a.classical is None
    assert_close(a.mean("tau"), b.mean("tau"), rtol=1e-14)


@pytest.mark.parametrize("level", [-1, 0, 100, "high", "0.95", True])  # strings refused, as batch
def test_exact_posterior_rejects_a_bad_level(level):
    with pytest.raises(BayesmaError, match="level must be"):
        exact_posterior(shared_data("bcg"), classical=None, level=level)


def test_exact_posterior_level_as_percentage():
    assert exact_posterior(shared_data("bcg"), classical=None, level=95).level == 0.95


def test_exact_posterior_misspelt_classical_method_raises():
    with pytest.raises(DataError, match="unknown tau\\^2 estimator 'XYZ'"):
        exact_posterior(shared_data("bcg"), classical="XYZ")
    with pytest.raises(DataError, match="unknown test 'nope'"):
        exact_posterior(shared_data("bcg"), classical_test="nope")


# =======================================================================================
# 5. issue 9: BF01 of tau = 0 by marginal likelihoods, quantile probabilities
# =======================================================================================
def test_bf01_tau0_is_a_ratio_of_marginal_likelihoods(bcg):
    """BF01(tau = 0) = p(y | tau = 0) / p(y): defined for Turner's log-normal prior on tau²
    (zero density at 0, where Savage-Dickey is not), equal to Savage-Dickey elsewhere."""
    y, v = bcg["yi"].to_numpy(), bcg["vi"].to_numpy()
    k = y.size
    # p(y | tau = 0) with mu ~ N(0, 10²): y ~ N(0, V + 100 11') (no quadrature involved)
    log_l0 = stats.multivariate_normal(np.zeros(k), np.diag(v) + 100.0).logpdf(y)
    lognormal = exact_posterior(bcg, mu_prior=P.Normal(0, 10),
                                tau_prior=P.LogNormalTau2(-2.56, 1.74), classical=None)
    bf = lognormal.bf01_tau0()
    assert np.isfinite(bf) and bf > 0
    assert_close(bf, math.exp(log_l0 - lognormal.log_marginal_likelihood), rtol=1e-10)
    assert_close(lognormal.densities()["bf01_tau_eq_0_ml"], bf, rtol=1e-14)
    assert_close(lognormal.summary().attrs["bf01_tau0"], bf, rtol=1e-14)
    assert "BF01 (tau = 0" in str(lognormal)
    for prior in (P.HalfNormal(0.5), P.HalfCauchy(0.5), P.Uniform(0.0, 10.0),
                  P.Exponential(2.0)):
        post = exact_posterior(bcg, mu_prior=P.Normal(0, 10), tau_prior=prior, classical=None)
        assert_close(post.bf01_tau0(), post.bayes_factor("tau", 0.0), rtol=1e-8, what=str(prior))
    # with a flat mu prior both models use the restricted likelihood: still the identity
    flat = exact_posterior(bcg, mu_prior=P.Flat(), tau_prior=P.HalfNormal(0.5), classical=None)
    assert_close(flat.bf01_tau0(), flat.bayes_factor("tau", 0.0), rtol=1e-8)
    improper = exact_posterior(bcg, mu_prior=P.Normal(0, 10), tau_prior=P.UniformTau(),
                               classical=None)
    with pytest.raises(BayesmaError, match="proper prior on tau"):
        improper.bf01_tau0()


@pytest.mark.parametrize("q", [math.nan, -0.5, 1.01, [0.1, math.nan], "a"])
def test_quantile_rejects_bad_probabilities(bcg, q):
    post = exact_posterior(bcg, classical=None, tau_prior=P.HalfNormal(0.5))
    for par in ("mu", "tau", "theta"):
        with pytest.raises(BayesmaError, match="quantile"):
            post.quantile(par, q)


def test_summary_of_raw_scale_regression_on_ratio_measure_does_not_overflow(bcg):
    """The intercept at year 0 of a log-RR regression has a huge sd: E[exp(.)] is inf."""
    bcg = bcg.copy()
    bcg.attrs["measure"] = "RR"
    post = exact_posterior(bcg, mods="~ year", tau_prior=P.HalfNormal(0.5))
    s = post.summary()
    assert "exp_mean" in s.columns
    assert np.isinf(s.loc["mu", "exp_mean"]) or s.loc["mu", "exp_mean"] > 0
    assert np.isfinite(s.loc["beta[year]", "mean"])
    assert 0.01 < s.loc["beta[year]", "mean"] < 0.05  # REML: 0.027

"""The exact 2-D engine of the three-level model against an independent brute-force grid.

The reference integrates over (tau_study, tau_esid) on a dense composite Gauss-Legendre
grid in tau (not log tau), with the likelihood of each study block computed directly
(``slogdet`` and ``solve`` of ``V_s + tau_e² I + tau_s² J``): no Sherman-Morrison, no
rotation, no adaptive panels. Data: metadat's dat.konstantopoulos2011 and
dat.assink2016 (``tests/reference/multilevel/``, written by make_multilevel_reference.R).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special

import bayesma as bm
from bayesma.bayes.multilevel import MultilevelPosterior, exact_multilevel
from bayesma.bayes.protocol import Posterior
from bayesma.classical.multilevel import impute_covariance_matrix
from bayesma.errors import DataError, SpecError
from bayesma.priors import Flat, HalfCauchy, HalfNormal, Normal, Uniform

REF = Path(__file__).resolve().parents[1] / "reference" / "multilevel"
TOL = 1e-5


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / f"{name}.csv")


DATASETS = {"konstantopoulos2011": ("district", "school"), "assink2016": ("study", "esid")}
PRIORS = {
    "halfnormal": (Normal(0, 10), HalfNormal(0.5), HalfNormal(0.5)),
    "cauchy_uniform_flat": (Flat(), HalfCauchy(0.3), Uniform(0, 2)),
}


# ---------------------------------------------------------------------- brute force
def _gl(lo: float, hi: float, panels: int, order: int = 10) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(lo, hi, panels + 1)
    h = 0.5 * np.diff(edges)
    c = 0.5 * (edges[1:] + edges[:-1])
    return (c[:, None] + h[:, None] * x).ravel(), (h[:, None] * w).ravel()


def brute_force(y, V, X, study, m, lam, prior_s, prior_e, ts_max, te_max, n=20):
    """log p(y), and at each grid node (tau_s, tau_e) the weight and the Gaussian
    moments of beta, by direct block solves."""
    ts, ws = _gl(0.0, ts_max, n)
    te, we = _gl(0.0, te_max, n)
    S, E = np.meshgrid(ts, te, indexing="ij")
    S, E = S.ravel(), E.ravel()
    p = X.shape[1]
    G = S.size
    XtX = np.zeros((G, p, p))
    Xty = np.zeros((G, p))
    yty = np.zeros(G)
    logdet = np.zeros(G)
    for s in np.unique(study):
        r = np.flatnonzero(study == s)
        n_s = r.size
        B = (V[np.ix_(r, r)][None] + (E**2)[:, None, None] * np.eye(n_s)[None]
             + (S**2)[:, None, None] * np.ones((n_s, n_s))[None])
        logdet += np.linalg.slogdet(B)[1]
        rhs = np.concatenate([X[r], y[r][:, None]], axis=1)
        sol = np.linalg.solve(B, np.broadcast_to(rhs, (G,) + rhs.shape))
        XtX += np.einsum("ia,gib->gab", X[r], sol[:, :, :p])
        Xty += np.einsum("ia,gi->ga", X[r], sol[:, :, p])
        yty += np.einsum("i,gi->g", y[r], sol[:, :, p])
    P = XtX + np.diag(lam)
    rhs = Xty + lam * m
    b = np.linalg.solve(P, rhs[:, :, None])[:, :, 0]
    C = np.linalg.inv(P)
    # (y - Xb)' Sigma^-1 (y - Xb) + (b - m)' Lam (b - m)
    quad = (yty - 2 * np.einsum("ga,ga->g", b, Xty) + np.einsum("ga,gab,gb->g", b, XtX, b)
            + np.einsum("a,ga->g", lam, (b - m) ** 2))
    normal = lam > 0
    logL = (-0.5 * y.size * math.log(2 * math.pi) - 0.5 * logdet
            + 0.5 * np.sum(np.log(lam[normal] / (2 * math.pi))) + 0.5 * p * math.log(2 * math.pi)
            - 0.5 * np.linalg.slogdet(P)[1] - 0.5 * quad)
    lw = logL + prior_s.logpdf(S) + prior_e.logpdf(E) + np.log(np.outer(ws, we).ravel())
    top = lw.max()
    w = np.exp(lw - top)
    return {"log_z": top + math.log(w.sum()), "w": w / w.sum(), "ts": S, "te": E, "b": b,
            "C": C, "max": (ts_max, te_max), "panels": n}


def _ref_case(name: str, prior_key: str, *, V=None, mods=None):
    lv = DATASETS[name]
    d = _data(name)
    mu_p, ps, pe = PRIORS[prior_key]
    t0 = time.perf_counter()
    post = exact_multilevel(d, random=f"~ 1 | {lv[0]}/{lv[1]}", V=V, mods=mods,
                            mu_prior=mu_p, tau_prior={lv[0]: ps, lv[1]: pe},
                            beta_prior=Normal(0, 1), classical=None)
    elapsed = time.perf_counter() - t0
    codes = pd.factorize(d[lv[0]], sort=True)[0]
    Vm = np.diag(d["vi"].to_numpy()) if V is None else np.asarray(V)
    X = post.X - post.centering.means[None, :]  # the centred design of the engine
    cp = list(post.coef_priors.values())
    m = np.array([0.0 if not pr.proper else pr.mu for pr in cp])
    lam = np.array([0.0 if not pr.proper else pr.sigma ** -2 for pr in cp])
    ts_max = float(post.quantile(f"tau[{lv[0]}]", 1 - 1e-10)) * 1.1
    te_max = float(post.quantile(f"tau[{lv[1]}]", 1 - 1e-10)) * 1.1
    if isinstance(ps, Uniform):
        ts_max = min(ts_max, ps.upper)
    if isinstance(pe, Uniform):
        te_max = min(te_max, pe.upper)
    ref = brute_force(d["yi"].to_numpy(), Vm, X, codes, m, lam, ps, pe, ts_max, te_max)
    return post, ref, lv, elapsed


CASES = [(n, pk) for n in DATASETS for pk in PRIORS]


@pytest.fixture(scope="module", params=CASES, ids=[f"{n}-{p}" for n, p in CASES])
def case(request):
    return _ref_case(*request.param)


def test_log_marginal_likelihood(case):
    post, ref, _, _ = case
    assert post.log_marginal_likelihood == pytest.approx(ref["log_z"], abs=TOL)
    assert post.log_ml == post.log_marginal_likelihood


def test_mu_moments_and_cdf(case):
    post, ref, _, _ = case
    w, b, C = ref["w"], ref["b"][:, 0], ref["C"][:, 0, 0]
    mean = np.sum(w * b)
    sd = math.sqrt(np.sum(w * ((b - mean) ** 2 + C)))
    assert post.mean("mu") == pytest.approx(mean, rel=TOL)
    assert post.sd("mu") == pytest.approx(sd, rel=TOL)
    for x in (mean - 2 * sd, mean, mean + 1.5 * sd):
        ref_cdf = np.sum(w * special.ndtr((x - b) / np.sqrt(C)))
        assert post.cdf("mu", x) == pytest.approx(ref_cdf, abs=TOL)
    lo, hi = post.interval("mu")
    assert post.cdf("mu", lo) == pytest.approx(0.025, abs=1e-9)
    assert post.cdf("mu", hi) == pytest.approx(0.975, abs=1e-9)


def test_tau_moments_and_cdf(case):
    post, ref, lv, _ = case
    w = ref["w"]
    for level, t in ((lv[0], ref["ts"]), (lv[1], ref["te"])):
        mean = np.sum(w * t)
        sd = math.sqrt(np.sum(w * (t - mean) ** 2))
        assert post.mean(f"tau[{level}]") == pytest.approx(mean, rel=TOL)
        assert post.sd(f"tau[{level}]") == pytest.approx(sd, rel=TOL)
        assert post.mean(f"tau2[{level}]") == pytest.approx(np.sum(w * t * t), rel=TOL)
        # the quantile inverts the cdf, and the cdf agrees with the grid at a node-free
        # point to 1e-5 (the grid's cdf is exact at its panel edges)
        q = post.quantile(f"tau[{level}]", [0.05, 0.5, 0.95])
        assert post.cdf(f"tau[{level}]", q) == pytest.approx([0.05, 0.5, 0.95], abs=1e-9)
    series = post.mean("tau")
    assert list(series.index) == list(lv)


def test_tau_cdf_at_panel_edges(case):
    """At the edges of the brute-force panels the grid's cdf is an exact integral."""
    post, ref, lv, _ = case
    w, n = ref["w"], ref["panels"]
    for level, t, top in ((lv[0], ref["ts"], ref["max"][0]), (lv[1], ref["te"], ref["max"][1])):
        for i in (4, 8, 12, 20):
            edge = top * i / n
            assert post.cdf(f"tau[{level}]", edge) == pytest.approx(np.sum(w * (t < edge)),
                                                                   abs=TOL)


def test_effect_level_means(case):
    post, ref, lv, _ = case
    d = _data([n for n in DATASETS if DATASETS[n] == lv][0])
    y = d["yi"].to_numpy()
    codes = pd.factorize(d[lv[0]], sort=True)[0]
    v = d["vi"].to_numpy()
    # theta | beta, taus, y has mean y - V Sigma^-1 (y - X b); check two effects of the
    # largest cluster by direct solves at every grid node
    s = np.bincount(codes).argmax()
    r = np.flatnonzero(codes == s)
    w = ref["w"]
    keep = w > 1e-14 * w.max()
    S, E, b = ref["ts"][keep], ref["te"][keep], ref["b"][keep]
    X = post.X - post.centering.means[None, :]
    n_s = r.size
    B = (np.diag(v[r])[None] + (E**2)[:, None, None] * np.eye(n_s)[None]
         + (S**2)[:, None, None] * np.ones((n_s, n_s))[None])
    res = y[r][None, :] - b @ X[r].T
    cond = y[r][None, :] - v[r][None, :] * np.linalg.solve(B, res[:, :, None])[:, :, 0]
    ref_mean = (w[keep] / w[keep].sum()) @ cond
    got = post.mean("theta")
    for j in (0, n_s - 1):
        assert got.iloc[r[j]] == pytest.approx(ref_mean[j], abs=TOL)


def test_protocol_and_speed(case):
    post, _, lv, elapsed = case
    assert isinstance(post, Posterior)
    assert isinstance(post, MultilevelPosterior)
    assert elapsed < 2.0  # k = 56 / 100: well under a second on an idle machine


@pytest.mark.parametrize("name", list(DATASETS))
def test_block_covariance_and_moderator(name):
    """A non-diagonal V (constant within-cluster correlation) and a moderator."""
    lv = DATASETS[name]
    d = _data(name)
    V = impute_covariance_matrix(d["vi"], d[lv[0]], 0.6)
    mods = "~ year"
    post, ref, _, _ = _ref_case(name, "halfnormal", V=V, mods=mods)
    assert post.log_marginal_likelihood == pytest.approx(ref["log_z"], abs=TOL)
    w, b = ref["w"], ref["b"]
    user = post.centering.to_user(b)
    assert post.mean("beta[year]") == pytest.approx(np.sum(w * user[:, 1]), rel=TOL)
    assert post.mean("mu") == pytest.approx(np.sum(w * user[:, 0]), rel=TOL)
    assert post.mean(f"tau[{lv[0]}]") == pytest.approx(np.sum(w * ref["ts"]), rel=TOL)


def test_facade_dispatch_and_twin():
    d = _data("assink2016")
    post = bm.exact_posterior(d, random="~ 1 | study/esid",
                              tau_prior={"study": HalfNormal(0.5), "esid": HalfNormal(0.5)},
                              mu_prior=Normal(0, 10))
    assert isinstance(post, MultilevelPosterior)
    ref = json.loads((REF / "multilevel_reference.json").read_text())["assink2016"]
    tw = post.classical
    assert tw.estimate == pytest.approx(ref["estimate"], rel=1e-6)
    assert tw.ci_low == pytest.approx(ref["robust_ci"][0], rel=1e-6)
    assert tw.ci_high == pytest.approx(ref["robust_ci"][1], rel=1e-6)
    assert list(tw.tau2.values()) == pytest.approx(ref["sigma2"], rel=1e-5)
    tab = post.summary(theta=False)
    assert tab.loc["mu", "classical_low"] == pytest.approx(ref["robust_ci"][0], rel=1e-6)
    assert {"tau[study]", "tau[esid]", "tau2[study]", "theta_new"} <= set(tab.index)
    assert tab.loc["tau[study]", "hdi_high"] - tab.loc["tau[study]", "hdi_low"] <= (
        tab.loc["tau[study]", "eti_high"] - tab.loc["tau[study]", "eti_low"] + 1e-9)
    txt = str(post)
    assert "tau[study]" in txt and "CR2" in txt
    draws = post.draws("tau[study]", n=2000, random_seed=1)
    assert draws.shape == (2000,)
    assert abs(draws.mean() - post.mean("tau[study]")) < 4 * post.sd("tau[study]") / math.sqrt(
        2000)
    tree = post.to_datatree(n=400)
    assert tree["posterior"]["tau"].shape == (4, 100, 2)
    # without random nothing changes
    assert type(bm.exact_posterior(d.drop_duplicates("study"))).__name__ == "ExactPosterior"


# ---------------------------------------------------------------------- errors
def test_error_one_effect_per_cluster():
    d = _data("assink2016").drop_duplicates("study")
    with pytest.raises(DataError, match="two-level model suffices"):
        exact_multilevel(d, random="~ 1 | study/esid")


def test_error_missing_cluster_ids_name_rows():
    d = _data("assink2016")
    d.loc[[3, 7], "study"] = np.nan
    with pytest.raises(DataError, match="missing") as exc:
        exact_multilevel(d, random="~ 1 | study/esid")
    assert exc.value.rows == [3, 7] and exc.value.column == "study"
    assert "row 3" in str(exc.value)


def test_error_v_not_positive_definite_names_cluster():
    d = _data("konstantopoulos2011")
    V = impute_covariance_matrix(d["vi"], d["district"], 0.5)
    r = np.flatnonzero(d["district"].to_numpy() == 58)
    V[r[0], r[1]] = V[r[1], r[0]] = 5.0  # a correlation far above 1
    with pytest.raises(DataError, match="not positive definite.*district 58"):
        exact_multilevel(d, random="~ 1 | district/school", V=V)


def test_error_v_between_clusters():
    d = _data("konstantopoulos2011")
    V = np.diag(d["vi"].to_numpy())
    V[0, -1] = V[-1, 0] = 0.01
    with pytest.raises(DataError, match="block-diagonal"):
        exact_multilevel(d, random="~ 1 | district/school", V=V)


def test_error_prior_keys_not_levels():
    d = _data("assink2016")
    with pytest.raises(SpecError, match=r"\['cluster'\].*levels are \['study', 'esid'\]"):
        exact_multilevel(d, random="~ 1 | study/esid",
                         tau_prior={"cluster": HalfNormal(0.5), "esid": HalfNormal(0.5)})


def test_error_formula_and_parameters():
    d = _data("assink2016")
    with pytest.raises(SpecError, match="two nested"):
        exact_multilevel(d, random="~ 1 | study")
    post = exact_multilevel(d, random="~ 1 | study/esid", classical=None)
    with pytest.raises(bm.errors.BayesmaError, match="unknown parameter"):
        post.mean("tau_study")
    with pytest.raises(bm.errors.BayesmaError, match="no 'school'"):
        post.mean("tau[school]")

"""``bm.Multivariate``: the table checks, the density pieces in numpy against scipy, the
classical twin (``rma_mv(struct="UN")``), and MCMC against the exact engine (one outcome
reduces the model to the random-effects model) and against rma_mv (Berkey 1998).

Data: metadat's dat.berkey1998 (bundled; 5 trials x 2 outcomes, within-trial covariances
in v1i/v2i).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayesma as bm
from bayesma.bayes.mcmc_parts import classical_twin
from bayesma.bayes.models import model_from_spec
from bayesma.bayes.models.multivariate import Multivariate, MultivariateFit
from bayesma.bayes.models.multivariate_graph import (
    block_loglik,
    corr_from_cpc,
    cpc_pairs,
    np_block_loglik,
    np_corr_from_cpc,
    np_lkj_cpc_logp,
)
from bayesma.bayes.multilevel import MultilevelTwin, multilevel_twin
from bayesma.errors import BayesmaError, DataError
from bayesma.priors import HalfNormal, Normal

PRI = dict(mu_prior=Normal(0, 1), tau_prior=HalfNormal(0.5))


def _berkey() -> pd.DataFrame:
    return bm.datasets.load("berkey1998")


def _blocks(d: pd.DataFrame) -> list[np.ndarray]:
    """metadat's v1i/v2i: column j of a trial's block is the covariance with outcome j
    (rows in data order: PD then AL)."""
    return [g[["v1i", "v2i"]].to_numpy() for _, g in d.groupby("trial", sort=False)]


# ---------------------------------------------------------------------- checks (fast)
def test_errors_name_the_rows_and_studies():
    d = _berkey()
    bad = d.copy()
    bad.loc[3, "outcome"] = None
    with pytest.raises(DataError, match="'outcome' has missing values in row 3"):
        Multivariate(bad, outcome="outcome", study="trial")
    dup = d.copy()
    dup.loc[1, "outcome"] = "PD"
    with pytest.raises(DataError, match="study '1' has the same outcome more than once"):
        Multivariate(dup, outcome="outcome", study="trial")
    blocks = _blocks(d)
    blocks[2] = np.array([[0.002, 0.01], [0.01, 0.001]])
    with pytest.raises(DataError, match="block of study '3' is not positive definite"):
        Multivariate(d, outcome="outcome", study="trial", V=blocks)
    with pytest.raises(DataError, match="'arm'"):
        Multivariate(d, outcome="arm", study="trial")
    with pytest.raises(BayesmaError, match="lkj_eta"):
        Multivariate(d, outcome="outcome", study="trial", lkj_eta=0)
    with pytest.raises(BayesmaError, match="not in the data"):
        Multivariate(d, outcome="outcome", study="trial", tau_prior={"XX": HalfNormal(1)})


def test_missing_outcomes_form_patterns():
    d = _berkey().drop(index=[1, 5]).reset_index(drop=True)  # trials 1, 3 lack AL
    m = Multivariate(d, outcome="outcome", study="trial", **PRI)
    assert [(p.idx, len(p.studies)) for p in m.mv.patterns] == [((0, 1), 3), ((1,), 2)]
    assert m.labels[:2] == ["1/PD", "2/PD"]


def test_block_density_and_lkj_pieces_match_scipy():
    rng = np.random.default_rng(3)
    m = 3
    x = rng.normal(size=(5, len(cpc_pairs(m))))
    R = np_corr_from_cpc(x, m)
    assert np.allclose(np.diagonal(R, axis1=1, axis2=2), 1.0)
    assert np.all(np.linalg.eigvalsh(R) > 0)
    # two outcomes: R[0, 1] is the CPC itself and its density is Beta(eta, eta) on (-1, 1)
    x2 = np.array([[0.3], [-1.1]])
    c = np.tanh(x2[:, 0])
    eta = 2.0
    lp = np_lkj_cpc_logp(x2, eta, 2)
    ref = stats.beta(eta, eta).logpdf((c + 1) / 2) - math.log(2) + np.log1p(-c * c)
    assert np.ptp(lp - ref) < 1e-12  # equal up to the normalising constant
    assert float(corr_from_cpc(x2[0], 2, np)[1][0]) == pytest.approx(c[0], rel=1e-14)
    y = rng.normal(size=(4, 2))
    V = np.stack([np.array([[0.1, 0.02], [0.02, 0.05]])] * 4)
    mu = rng.normal(size=(5, 2))
    tau = rng.uniform(0.1, 0.5, size=(5, 2))
    ll = np_block_loglik(y, V, mu, tau, R[:, :2, :2])
    for n in range(5):
        S = np.outer(tau[n], tau[n]) * R[n, :2, :2] + V[0]
        ref = stats.multivariate_normal(mu[n], S).logpdf(y)
        assert ll[n] == pytest.approx(ref, rel=1e-12)


def test_graph_density_in_numpy_equals_scipy_for_a_ragged_pattern():
    """The elementwise Cholesky density that the PyMC graph uses (the same function run on
    numpy arrays): three outcomes, studies reporting outcomes 0 and 2 only."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=3)
    R = corr_from_cpc(x, 3, np)
    Rm = np.array([[float(R[a][b]) for b in range(3)] for a in range(3)])
    mu, tau = rng.normal(size=3), rng.uniform(0.1, 0.6, size=3)
    y = rng.normal(size=(4, 2))
    A = rng.normal(size=(4, 2, 2))
    V = A @ np.swapaxes(A, 1, 2) * 0.05 + 0.01 * np.eye(2)
    ll = block_loglik(y, V, list(mu), list(tau), R, (0, 2), np)
    S = (np.outer(tau, tau) * Rm)[np.ix_([0, 2], [0, 2])]
    ref = [stats.multivariate_normal(mu[[0, 2]], S + V[i]).logpdf(y[i]) for i in range(4)]
    assert ll == pytest.approx(ref, rel=1e-12)


def test_twin_rows_equal_rma_mv_and_spec_round_trip():
    d = _berkey()
    m = Multivariate(d, outcome="outcome", study="trial", V=_blocks(d), **PRI)
    twin = classical_twin(m, "Multivariate", "REML", "knha")
    fit = bm.rma_mv(m.data, yi="yi", vi=None, V=m.mv.V, random="~ outcome | trial",
                    struct="UN", mods="~ 0 + outcome")
    rows = twin.table_rows(["mu[AL]", "mu[PD]", "tau[AL]", "tau2[PD]", "rho[AL,PD]"])
    assert rows["mu[AL]"] == pytest.approx(tuple(fit.coef.loc["outcome[AL]",
                                                              ["estimate", "ci_low", "ci_high"]]),
                                           rel=1e-12)
    assert rows["tau[AL]"][0] == pytest.approx(math.sqrt(fit.tau2[0]), rel=1e-12)
    assert rows["tau2[PD]"][0] == pytest.approx(fit.tau2[1], rel=1e-12)
    assert rows["rho[AL,PD]"][0] == pytest.approx(fit.rho.loc["AL", "PD"], rel=1e-12)
    # metafor 3.8: rma.mv(yi, V, mods = ~ outcome - 1, random = ~ outcome | trial,
    # struct = "UN", data = dat.berkey1998): tau² 0.0327, 0.0117; rho 0.6088
    assert fit.tau2 == pytest.approx([0.0327, 0.0117], abs=5e-5)
    back = model_from_spec(m.spec(), d)
    assert isinstance(back, Multivariate) and back.signature() == m.signature()
    assert back.prior_spec() == m.prior_spec() and back.lkj_eta == 2.0


def test_multilevel_twin_hook_for_loaded_fits():
    """A loaded Multilevel fit (plain BayesFit) gets rma_mv + CR2, not a univariate rma."""
    d = bm.datasets.load("konstantopoulos2011")
    m = bm.Multilevel(d, random="~ 1 | district/school")
    twin = classical_twin(m, "Multilevel", "REML", "knha")
    assert isinstance(twin, MultilevelTwin) and twin.test == "CR2"
    ref = multilevel_twin(m.ml)
    assert twin.estimate == pytest.approx(ref.estimate, rel=1e-12)
    assert twin.tau2 == pytest.approx(ref.tau2, rel=1e-12)
    assert twin.twin_label == "REML (CR2)"


# ---------------------------------------------------------------------- MCMC (slow)
@pytest.mark.slow
def test_one_outcome_equals_the_exact_random_effects_posterior():
    """With one outcome the model is the normal random-effects model: posterior means of
    mu and tau within 4 MCSE of ``bm.exact_posterior``."""
    d = _berkey()
    d = d[d["outcome"] == "PD"]
    fit = Multivariate(d, outcome="outcome", study="trial", **PRI).fit(
        draws=1000, tune=700, chains=2, random_seed=5, progressbar=False)
    exact = bm.exact_posterior(d, **PRI)
    diag = fit.diagnostics()
    for p, q in (("mu[PD]", "mu"), ("tau[PD]", "tau")):
        assert abs(fit.mean(p) - exact.mean(q)) < 4 * diag.loc[p, "mcse_mean"], p
    assert "rho" not in fit.posterior


@pytest.mark.slow
def test_berkey_spec_agrees_with_rma_mv_and_reloads(tmp_path):
    """models/berkey1998_multivariate.toml end to end (few draws, one compile): the
    summary's rma_mv twin, the posterior beside it (qualitatively), the per-outcome rows
    and correlation table of the report, and ``bm.load`` of the stored fit."""
    from pathlib import Path

    from bayesma.report.dependent import dependent_section, model_text
    from bayesma.report.text import fmt
    from bayesma.spec import parse_spec, run_spec

    models = Path(__file__).resolve().parents[2] / "models"
    text = (models / "berkey1998_multivariate.toml").read_text().replace(
        "seed = 1998", "seed = 1998\ndraws = 500\ntune = 500\nchains = 2")
    result = run_spec(parse_spec(text, base_dir=models))
    res = result.outcomes[0]
    fit = res.bayes
    assert isinstance(fit, MultivariateFit) and isinstance(fit, bm.bayes.Posterior)
    d = _berkey()
    V = bm.vcalc("vi", "trial", type="outcome", data=d, rho=0.4)
    tw = bm.rma_mv(d, V=np.asarray(V), vi=None, random="~ outcome | trial", struct="UN",
                   mods="~ 0 + outcome")
    tab = fit.summary(theta=False)
    s = res.summary.set_index("parameter")
    assert list(s.index) == ["mu[PD]", "mu[AL]", "tau[PD]", "tau[AL]"]  # data order
    for j, o in enumerate(("AL", "PD")):
        est = tw.coef.loc[f"outcome[{o}]", "estimate"]
        assert tab.loc[f"mu[{o}]", "classical"] == pytest.approx(est, rel=1e-10)
        assert s.loc[f"mu[{o}]", "classical"] == pytest.approx(est, rel=1e-10)
        assert s.loc[f"tau[{o}]", "classical"] == pytest.approx(math.sqrt(tw.tau2[j]),
                                                                rel=1e-10)
        assert s.loc[f"mu[{o}]", "bayes_median"] == pytest.approx(fit.median(f"mu[{o}]"))
        # qualitatively: posterior mean within 0.1 mm of REML, tau of the same size
        assert abs(tab.loc[f"mu[{o}]", "mean"] - est) < 0.1
        assert 0 < tab.loc[f"tau[{o}]", "mean"] < 0.5
    assert tab.loc["rho[AL,PD]", "classical"] == pytest.approx(tw.rho.loc["AL", "PD"])
    assert -1 < tab.loc["rho[AL,PD]", "mean"] < 1
    assert fit.rho_matrix().loc["AL", "PD"] == pytest.approx(fit.mean("rho[AL,PD]"))
    assert fit.idata["log_likelihood"]["y"].sizes["cluster"] == 5
    sec = dependent_section(res)  # the report's tables, without writing the report
    post, cl = fit.rho_matrix().loc["PD", "AL"], tw.rho.loc["PD", "AL"]
    assert sec["corr"].head == ["", "AL", "PD"]
    assert sec["corr"].rows[1][1] == f"{fmt(post, 3)} ({fmt(cl, 3)})"
    assert "posterior mean" in sec["corr_note"]
    assert "multivariate random effects: outcomes PD, AL" in model_text(res.spec)
    back = bm.load(fit.to_netcdf(tmp_path / "mv.nc"))
    tb = back.summary(theta=False)
    assert tb.loc["mu[AL]", "classical"] == pytest.approx(tab.loc["mu[AL]", "classical"])
    assert tb.loc["mu[PD]", "mean"] == pytest.approx(tab.loc["mu[PD]", "mean"], rel=1e-12)
    assert tb.attrs["classical"] == "rma_mv UN REML (z)" and "rma_mv UN" in str(back)

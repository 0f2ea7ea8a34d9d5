"""``bm.forest_plot`` of a ``bm.Multivariate`` fit: a section per outcome (model order),
every study row under its outcome, the posterior mu and new-study rows equal to the
fit's summaries, the classical rows equal to ``bm.rma_mv(struct="UN")``'s coefficients,
and a footer with tau, rho and the priors.

Data: metadat's dat.berkey1998 (bundled; 5 trials x 2 outcomes). One small MCMC fit
(2 x 100 draws) shared by the module: the plot reads the fit's draws, so the checks are
exact whatever the draws are (1e-12 against the fit's own summaries; 1e-10 against
``rma_mv``, whose REML fit is iterative and refitted here with the same settings).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

import bayesma as bm
from bayesma.bayes.models.multivariate import Multivariate
from bayesma.errors import BayesmaError
from bayesma.formatting import fmt_est_ci, fmt_num
from bayesma.priors import HalfNormal, Normal

OUTCOMES = ["AL", "PD"]


@pytest.fixture(scope="module")
def fit():
    d = bm.datasets.load("berkey1998")
    m = Multivariate(d, outcome="outcome", study="trial", slab="author",
                     mu_prior=Normal(0, 1), tau_prior=HalfNormal(0.5))
    return m.fit(draws=100, tune=100, chains=2, random_seed=3, progressbar=False)


@pytest.fixture(scope="module")
def layout(fit):
    fig = bm.forest_plot(fit, labels=None)
    yield fig.forest_layout
    plt.close(fig)


def _twin(fit, level=0.95):
    return bm.rma_mv(fit.model.data, yi="yi", vi="vi", random="~ outcome | trial",
                     struct="UN", mods="~ 0 + outcome", level=level)


def _sections(layout):
    """``{outcome: [rows of its section]}`` in drawing order."""
    out, cur = {}, None
    for r in layout.rows:
        if r.kind == "header":
            cur = r.span.removeprefix("Outcome: ")
            out[cur] = []
        elif cur is not None:
            out[cur].append(r)
    return out


@pytest.mark.slow
def test_a_section_per_outcome_with_its_studies(fit, layout):
    secs = _sections(layout)
    assert list(secs) == fit.model.outcomes == OUTCOMES
    assert not [r for r in layout.rows if r.kind == "pooled"]  # no diamond across outcomes
    theta = fit.median("theta")
    d = fit.model.data
    for o, rows in secs.items():
        studies = [r for r in rows if r.kind == "study"]
        want = [f"{a}/{o}" for a in d.loc[d["outcome"] == o, "author"]]
        assert [r.key for r in studies] == want
        assert [layout.cell(r.key, "label") for r in studies] == [w.split("/")[0]
                                                                   for w in want]
        for r in studies:
            post = next(mk for mk in r.marks if mk.kind == "post")
            assert post.est == pytest.approx(theta[r.key], rel=1e-12)
        assert [r.kind for r in rows if r.kind != "study"] == [
            "subtotal", "subtotal", "prediction", "spacer"]


@pytest.mark.slow
def test_mu_prediction_and_twin_rows(fit, layout):
    tw = _twin(fit)
    for o in OUTCOMES:
        mu = layout.rows[[r.key for r in layout.rows].index(f"group:{o}:bayes")].marks[0]
        lo, hi = fit.interval(f"mu[{o}]", prob=0.95)
        assert (mu.est, mu.lo, mu.hi) == pytest.approx((fit.median(f"mu[{o}]"), lo, hi),
                                                       rel=1e-12)
        pred = next(r for r in layout.rows if r.key == f"group:{o}:prediction").marks[0]
        lo, hi = fit.interval(f"theta_new[{o}]", prob=0.95)
        assert (pred.lo, pred.hi) == pytest.approx((lo, hi), rel=1e-12)
        cl = next(r for r in layout.rows if r.key == f"group:{o}:classical")
        ref = tw.coef.loc[f"outcome[{o}]", ["estimate", "ci_low", "ci_high"]]
        assert (cl.marks[0].est, cl.marks[0].lo, cl.marks[0].hi) == pytest.approx(
            tuple(ref), rel=1e-10)
        assert layout.cell(cl.key, "obs") == fmt_est_ci(*ref, 2)


@pytest.mark.slow
def test_footer_names_tau_rho_and_priors(fit, layout):
    foot = "\n".join(t.get_text() for k, t in layout.texts.items() if k[0] == "footer")
    for o in OUTCOMES:
        assert f"\u03c4[{o}] = " in foot
    assert "\u03c1[AL,PD] = " in foot
    assert "LKJ(\u03b7 = 2)" in foot and "HalfNormal(sigma=0.5)" in foot
    tw = _twin(fit)
    assert f"\u03c1[AL,PD] = {fmt_num(tw.rho.loc['AL', 'PD'], 2)}" in foot


@pytest.mark.slow
def test_level_no_twin_and_bad_options(fit):
    fig = bm.forest_plot(fit, prob=0.8, footer=False)
    cl = next(r for r in fig.forest_layout.rows if r.key == "group:PD:classical")
    plt.close(fig)
    ref = _twin(fit, level=0.8).coef.loc["outcome[PD]", ["estimate", "ci_low", "ci_high"]]
    assert (cl.marks[0].est, cl.marks[0].lo, cl.marks[0].hi) == pytest.approx(
        tuple(ref), rel=1e-10)
    fig = bm.forest_plot(fit, classical=False, show=("observed", "posterior", "pooled"),
                         footer=False)
    kinds = [(r.kind, r.key) for r in fig.forest_layout.rows]
    plt.close(fig)
    assert not [k for _, k in kinds if k.endswith(":classical")]
    assert not [k for k, _ in kinds if k == "prediction"]
    with pytest.raises(BayesmaError, match="drawn by outcome"):
        bm.forest_plot(fit, subgroup="year")
    with pytest.raises(BayesmaError, match="classical must be"):
        bm.forest_plot(fit, classical=_twin(fit))

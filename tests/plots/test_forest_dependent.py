"""Forest plot for several effects per study: effects grouped (indented) under their
study, study-level posterior summaries as diamonds, pooled mu and prediction rows."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import bayesma as bm  # noqa: E402
from bayesma.bayes.multilevel import exact_multilevel  # noqa: E402
from bayesma.errors import DataError  # noqa: E402
from bayesma.plots.forest.dependent import INDENT  # noqa: E402


@pytest.fixture(scope="module")
def post():
    d = bm.datasets.load("konstantopoulos2011")
    return exact_multilevel(d, yi="yi", vi="vi", random="~ 1 | district/school",
                            mu_prior=bm.priors.Normal(0, 1),
                            tau_prior=bm.priors.HalfNormal(0.5))


class WithStudy:
    """A three-level posterior that also offers ``theta_study[<study>]`` (the study
    summary an engine may provide): mean of the study's thetas as a stand-in."""

    def __init__(self, post):
        self._p = post
        for name in ("labels", "data", "measure", "priors", "classical", "level", "levels",
                     "yi", "vi"):
            setattr(self, name, getattr(post, name))

    def sd(self, param):
        return self._p.sd(param)

    def quantile(self, param, q):
        return self._p.quantile(param, q)

    def prob_less(self, param, value=0.0):
        return self._p.prob_less(param, value)

    def draws(self, param, *, n=None, random_seed=None):
        return self._p.draws(param, n=n, random_seed=random_seed)

    def summary(self, prob=None):
        return self._p.summary(prob)

    def to_datatree(self, *, n=None, random_seed=None):
        return self._p.to_datatree(n=n, random_seed=random_seed)

    def _study(self, param):
        s = param[len("theta_study["):-1]
        rows = np.flatnonzero(self._p.data["district"].astype(str).to_numpy() == s)
        return rows

    def median(self, param):
        if param.startswith("theta_study["):
            return float(np.mean(np.asarray(self._p.median("theta"))[self._study(param)]))
        return self._p.median(param)

    def mean(self, param):
        return self._p.mean(param)

    def interval(self, param, prob=None, kind="eti"):
        if param.startswith("theta_study["):
            iv = self._p.interval("theta", prob=prob)
            rows = self._study(param)
            return float(iv.iloc[rows, 0].mean()), float(iv.iloc[rows, 1].mean())
        return self._p.interval(param, prob=prob, kind=kind)


def _layout(fig):
    return fig.forest_layout


def test_effects_grouped_under_their_study(post):
    fig = bm.forest_plot(post)
    rows = _layout(fig).rows
    heads = [r for r in rows if r.kind == "header"]
    d = post.data
    assert [h.span for h in heads] == [f"district {s}" for s in d["district"].unique()]
    studies = [r for r in rows if r.kind == "study"]
    assert len(studies) == len(d) == 56
    assert all(r.cells["label"].startswith(INDENT) for r in studies)
    # the first district's schools in data order, labelled by their school id
    first = [r.cells["label"].strip(INDENT) for r in studies if r.group == "11"]
    assert first == [str(x) for x in d.loc[d["district"] == 11, "school"]]
    # each effect row has its observed square and its posterior theta
    kinds = {m.kind for m in studies[0].marks}
    assert {"square", "ci", "post"} <= kinds
    # pooled mu and prediction rows at the bottom
    labels = [r.cells.get("label", "") for r in rows if r.kind in ("pooled", "prediction")]
    assert labels == ["Random effects, Bayesian (\u03bc)", "Prediction interval (new study)"]
    lay = _layout(fig)
    footer = "\n".join(t.get_text() for k, t in lay.texts.items() if k[0] == "footer")
    plt.close(fig)
    assert "\u03c4[district] = " in footer and "\u03c4[school] = " in footer
    assert "district ~ HalfNormal(sigma=0.5)" in footer


def test_posterior_numbers_on_the_rows(post):
    fig = bm.forest_plot(post, transform=False)
    rows = _layout(fig).rows
    mu = next(r for r in rows if r.kind == "pooled")
    diamond = next(m for m in mu.marks if m.kind == "diamond")
    lo, hi = post.interval("mu", prob=0.95)
    assert diamond.est == pytest.approx(post.median("mu"))
    assert (diamond.lo, diamond.hi) == (pytest.approx(lo), pytest.approx(hi))
    st = [r for r in rows if r.kind == "study"]
    theta = np.asarray(post.median("theta"))
    assert [m.est for r in st for m in r.marks if m.kind == "post"] == pytest.approx(theta)
    plt.close(fig)


def test_study_summaries_as_diamonds_when_the_engine_offers_them(post):
    w = WithStudy(post)
    fig = bm.forest_plot(w, cluster="district", transform=False)
    rows = _layout(fig).rows
    subs = [r for r in rows if r.kind == "subtotal"]
    assert len(subs) == post.data["district"].nunique()
    assert all(r.cells["label"].strip(INDENT).startswith("Study") for r in subs)
    r0 = subs[0]
    dia = next(m for m in r0.marks if m.kind == "diamond")
    assert dia.est == pytest.approx(w.median("theta_study[11]"))
    plt.close(fig)


def test_exact_engine_without_study_summaries_says_so(post):
    fig = bm.forest_plot(post)
    lay = _layout(fig)
    assert not [r for r in lay.rows if r.kind == "subtotal"]
    footer = " ".join(t.get_text() for k, t in lay.texts.items() if k[0] == "footer")
    plt.close(fig)
    assert "no study-level summary" in footer


def test_unknown_cluster_column_is_a_data_error(post):
    with pytest.raises(DataError, match="cluster column 'nope'"):
        bm.forest_plot(post, cluster="nope")

"""sensitivity_plot and leave1out_plot: one row per prior / subset / omitted study, the
values in the text columns, flagged studies marked, nothing clipped or overlapping."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from plot_checks import drawn_texts, fmt_ci

import bayesma as bm
from bayesma.errors import BayesmaError
from bayesma.plots.sensitivity import leave1out_plot, sensitivity_plot
from bayesma.priors import HalfCauchy, HalfNormal, Normal
from bayesma.sensitivity import (
    bayes_leave1out,
    prior_sensitivity,
    sensitivity_subsets,
    tau_prior_set,
)


def check_figure(fig) -> None:
    """Every text and legend inside the figure, no two texts overlapping, every interval
    inside its panel's x range."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    fb = fig.bbox
    texts = drawn_texts(fig)
    for t in texts:
        bb = t.get_window_extent(r)
        assert bb.x0 >= fb.x0 - 1 and bb.x1 <= fb.x1 + 1, f"{t.get_text()!r} clipped (x)"
        assert bb.y0 >= fb.y0 - 1 and bb.y1 <= fb.y1 + 1, f"{t.get_text()!r} clipped (y)"
    for leg in fig.legends:
        bb = leg.get_window_extent(r)
        assert bb.x0 >= fb.x0 - 1 and bb.x1 <= fb.x1 + 1 and bb.y0 >= fb.y0 - 1, "legend"
        for t in texts:
            assert not leg.get_window_extent(r).shrunk(0.98, 0.9).overlaps(
                t.get_window_extent(r).shrunk(0.97, 0.85)) or t in leg.get_texts(), \
                f"legend overlaps {t.get_text()!r}"
    plain = [(t, t.get_window_extent(r).shrunk(0.97, 0.85)) for t in texts]
    for (t1, b1), (t2, b2) in itertools.combinations(plain, 2):
        assert not b1.overlaps(b2), f"{t1.get_text()!r} overlaps {t2.get_text()!r}"
    for ax in fig.sensitivity_layout.axes:
        lo, hi = ax.get_xlim()
        tol = 1e-9 * (abs(lo) + abs(hi) + 1)
        for ln in ax.lines:
            if (ln.get_gid() or "").startswith(("ci|", "est|")):
                x = np.asarray(ln.get_xdata(), dtype=float)
                assert np.all(x >= lo - tol) and np.all(x <= hi + tol), ln.get_gid()


@pytest.fixture(scope="module")
def bcg():
    return bm.datasets.load("bcg")


@pytest.fixture(scope="module")
def sweep(bcg):
    return prior_sensitivity(bcg, tau_priors=["weakly informative", "empirical", "vague"],
                             progress=False)


def test_sensitivity_plot_rows_and_values(sweep):
    fig = sensitivity_plot(sweep)
    lay = fig.sensitivity_layout
    b = sweep.bayes_table
    unwrapped = [s.replace("\n", " ") for s in lay.row_labels]
    assert unwrapped == [*b["tau_prior"], "Classical: REML (knha)"]
    assert [p.title for p in lay.panels] == ["RR = exp(mu) (pooled effect)",
                                             "tau (heterogeneity)"]
    assert lay.axes[0].get_xscale() == "log" and lay.axes[1].get_xscale() == "linear"
    assert lay.columns == ["RR [95% CrI]", "tau [95% CrI]"]
    r0 = b.iloc[0]
    assert lay.texts[("prior0", "RR [95% CrI]")].get_text() == fmt_ci(
        *np.exp([r0["mu_median"], r0["mu_low"], r0["mu_high"]]))
    assert lay.texts[("prior0", "tau [95% CrI]")].get_text() == fmt_ci(
        r0["tau_median"], r0["tau_low"], r0["tau_high"])
    c = sweep.table[sweep.table["kind"] == "classical"].iloc[0]
    assert lay.texts[("classical", "tau [95% CrI]")].get_text() == fmt_ci(
        c["tau_median"], c["tau_low"], c["tau_high"])
    check_figure(fig)


def test_sensitivity_plot_options(sweep):
    fig = sensitivity_plot(sweep, params=["mu"], transform=False, reference=False,
                           show_values=False, title="Priors")
    lay = fig.sensitivity_layout
    assert len(lay.axes) == 1 and lay.columns == []
    assert len(lay.row_labels) == len(sweep.bayes_table)
    assert lay.axes[0].get_xscale() == "linear"
    check_figure(fig)
    with pytest.raises(BayesmaError, match="params"):
        sensitivity_plot(sweep, params=["theta"])
    with pytest.raises(BayesmaError, match="needs the result"):
        sensitivity_plot(bm.rma(bm.datasets.load("bcg")))
    with pytest.raises(BayesmaError, match="xlim"):
        sensitivity_plot(sweep, xlim=[(0.1, 1)])


def test_sensitivity_plot_several_mu_priors_long_labels():
    d = bm.datasets.load("bangertdrowns2004")
    res = prior_sensitivity(
        d, tau_priors=[HalfNormal(0.3), HalfCauchy(0.3), *tau_prior_set(
            "empirical", "SMD", outcome="mental health",
            comparison="non-pharmacological vs placebo", area="cancer").values()],
        mu_priors=[Normal(0, 1), Normal(0, 0.2)], progress=False)
    fig = sensitivity_plot(res, max_label_width=2.0)
    lay = fig.sensitivity_layout
    assert len(lay.row_labels) == 2 * 5 + 1
    assert any("\n" in lab for lab in lay.row_labels)  # long labels wrapped
    assert lay.row_labels[0].replace("\n", " ") == (
        "tau ~ HalfNormal(sigma=0.3); mu ~ Normal(mu=0, sigma=1)")
    check_figure(fig)


def test_sensitivity_plot_subsets(bcg):
    out = sensitivity_subsets(bcg, rules={"exclude random allocation":
                                          (bcg["alloc"] == "random").to_numpy(),
                                          "exclude outliers": "outliers"})
    fig = sensitivity_plot(out)
    lay = fig.sensitivity_layout
    assert lay.row_labels == ["all studies (k = 13)", "exclude random allocation (k = 6)",
                              "exclude outliers (k = 13)"]
    row = next(r for r in lay.rows if r.label.startswith("exclude random"))
    engines = sorted(m.engine for m in row.marks)
    assert engines == ["bayes", "bayes", "classical", "classical"]
    t = out.table.loc[("exclude random allocation", "classical")]
    assert lay.texts[(row.key, "RR [95% interval]")].get_text() == fmt_ci(
        *np.exp([t["estimate"], t["low"], t["high"]]))
    check_figure(fig)
    fig2 = out.plot(reference=False)
    assert all(m.engine == "bayes" for r in fig2.sensitivity_layout.rows for m in r.marks)
    check_figure(fig2)


def test_leave1out_plot_rows_and_flags(bcg):
    d = bcg.copy()
    d.loc[4, "yi"] = 2.5  # planted outlier
    loo = bayes_leave1out(d)
    fig = leave1out_plot(loo)
    lay = fig.sensitivity_layout
    labels = list(loo.table.index)
    flagged = loo.flagged
    assert flagged == [labels[4]]
    assert lay.row_labels == [f"{s} \u2020" if s in flagged else s for s in labels]
    assert lay.columns == ["Classical [95% CI]", "Bayesian [95% CrI]"]
    r0 = loo.table.iloc[0]
    assert lay.texts[("study0", "Bayesian [95% CrI]")].get_text() == fmt_ci(
        *np.exp([r0["mu_median"], r0["mu_low"], r0["mu_high"]]))
    c0 = loo.classical.iloc[0]
    assert lay.texts[("study0", "Classical [95% CI]")].get_text() == fmt_ci(
        *np.exp([c0["estimate"], c0["ci_low"], c0["ci_high"]]))
    assert any("\u2020 Not predicted" in t.get_text() for k, t in lay.texts.items()
               if k[0] == "note")
    check_figure(fig)


def test_leave1out_plot_inputs(bcg):
    fig_df = leave1out_plot(bcg, mu_prior=Normal(0, 4), tau_prior=HalfNormal(0.5))
    fig_res = leave1out_plot(bm.rma(bcg, method="REML", test="knha"),
                             mu_prior=Normal(0, 4), tau_prior=HalfNormal(0.5))
    post = bm.exact_posterior(bcg, mu_prior=Normal(0, 4), tau_prior=HalfNormal(0.5))
    fig_post = leave1out_plot(post, params="mu", classical=False)
    a = [t.get_text() for k, t in fig_df.sensitivity_layout.texts.items() if k[0] != "title"]
    b = [t.get_text() for k, t in fig_res.sensitivity_layout.texts.items() if k[0] != "title"]
    assert a == b
    lay = fig_post.sensitivity_layout
    assert len(lay.axes) == 1 and lay.columns == ["Bayesian [95% CrI]"]
    assert all(m.engine == "bayes" for r in lay.rows for m in r.marks)
    for f in (fig_df, fig_post):
        check_figure(f)
    big = leave1out_plot(bm.datasets.load("bangertdrowns2004"))
    assert len(big.sensitivity_layout.row_labels) == 48
    check_figure(big)
    with pytest.raises(BayesmaError, match="params"):
        leave1out_plot(bcg, params=())


@pytest.mark.parametrize("ext", ["png", "svg", "pdf"])
def test_save(tmp_path, sweep, ext):
    path = tmp_path / f"s.{ext}"
    sensitivity_plot(sweep, save=path)
    assert path.stat().st_size > 1000

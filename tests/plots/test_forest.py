"""Forest plots: rows, numbers in the text columns, axis ranges, layout (no clipping,
no overlapping text) on several datasets, and saving to PNG/SVG/PDF."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon, Rectangle
from matplotlib.text import Text
from plot_checks import fmt, fmt_ci
from scipy import stats

import bayesma as bm
from bayesma.bayes.exact import exact_posterior
from bayesma.errors import BayesmaError, DataError
from bayesma.plots import forest_plot
from bayesma.priors import HalfNormal, Normal

BCG_ARMS = {"ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}


@pytest.fixture(autouse=True)
def _close_figures():
    """Figures are pyplot-managed once pyplot is imported: close them after each test."""
    yield
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")


@pytest.fixture(scope="module")
def bcg():
    return bm.datasets.load("bcg")


@pytest.fixture(scope="module")
def bcg_post(bcg):
    return exact_posterior(bcg, mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))


def long_names_data(k: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    long = "and colleagues, a pragmatic multicentre randomised trial in primary care"
    d = pd.DataFrame({
        "study": [f"Author{i} {long if i % 3 == 0 else ''}".strip() for i in range(k)],
        "yi": rng.normal(0.3, 0.4, k),
        "vi": rng.uniform(0.005, 0.3, k),
        "year": rng.integers(1980, 2024, k),
    })
    d.attrs["measure"] = "SMD"
    return d


# ------------------------------------------------------------------------------------
# layout checks shared by every figure
# ------------------------------------------------------------------------------------


def check_layout(fig) -> None:
    """No text outside the figure; no two table texts overlap; intervals inside the axis."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    fb = fig.bbox
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    boxes = []
    for t in texts:
        bb = t.get_window_extent(renderer)
        assert bb.x0 >= fb.x0 - 1 and bb.x1 <= fb.x1 + 1, f"text {t.get_text()!r} clipped (x)"
        assert bb.y0 >= fb.y0 - 1 and bb.y1 <= fb.y1 + 1, f"text {t.get_text()!r} clipped (y)"
        boxes.append((t, bb))
    for leg in fig.legends:
        bb = leg.get_window_extent(renderer)
        assert fb.x0 - 1 <= bb.x0 and bb.x1 <= fb.x1 + 1 and fb.y0 - 1 <= bb.y0, "legend clipped"
    # the table cells, headers, axis labels, tick labels and footer never overlap
    lay = fig.forest_layout
    lo_x, hi_x = lay.ax.get_xlim()
    ticks = [t for t, loc in zip(lay.ax.get_xticklabels(), lay.ax.get_xticks(), strict=True)
             if lo_x <= loc <= hi_x]
    cells = list(lay.texts.values()) + ticks
    cb = [(t, t.get_window_extent(renderer).shrunk(0.98, 0.9)) for t in cells
          if t.get_text().strip()]
    for (t1, b1), (t2, b2) in itertools.combinations(cb, 2):
        assert not b1.overlaps(b2), f"{t1.get_text()!r} overlaps {t2.get_text()!r}"
    # every drawn interval lies inside the x range; clipped ones carry an arrow head
    ax = lay.ax
    lo, hi = ax.get_xlim()
    tol = 1e-9 * (abs(lo) + abs(hi) + 1)
    arrows = {ln.get_gid() for ln in ax.lines if (ln.get_gid() or "").startswith("arrow|")}
    for ln in ax.lines:
        gid = ln.get_gid() or ""
        if gid.split("|")[0] in ("ci", "post", "square"):
            x = np.asarray(ln.get_xdata(), dtype=float)
            assert np.all(x >= lo - tol) and np.all(x <= hi + tol), gid
    for p in ax.patches:
        if isinstance(p, Polygon | Rectangle):
            xy = p.get_xy() if isinstance(p, Polygon) else np.array(
                [[p.get_x(), 0], [p.get_x() + p.get_width(), 0]])
            assert np.all(xy[:, 0] >= lo - tol) and np.all(xy[:, 0] <= hi + tol), p.get_gid()
    for key, side in lay.clipped:
        kind, end = side.split(":")
        assert f"arrow|{key}|{kind}|{end}" in arrows


def observed_ci(yi, vi, prob=0.95):
    z = stats.norm.isf((1 - prob) / 2)
    return yi - z * np.sqrt(vi), yi + z * np.sqrt(vi)


# ------------------------------------------------------------------------------------
# classical forest plots
# ------------------------------------------------------------------------------------


def test_classical_bcg_back_transformed(bcg):
    res = bm.rma(bcg)
    fig = forest_plot(res)
    lay = fig.forest_layout
    assert len(lay.study_rows) == 13
    assert lay.ax.get_xscale() == "log"
    lo, hi = observed_ci(res.yi, res.vi)
    for i, lab in enumerate(res.labels):
        assert lay.cell(lab, "obs") == fmt_ci(np.exp(res.yi[i]), np.exp(lo[i]), np.exp(hi[i]))
        assert lay.cell(lab, "weight") == f"{res.weights[i]:.1f}%"
    assert lay.cell("overall:classical", "obs") == fmt_ci(
        np.exp(res.estimate), np.exp(res.ci_low), np.exp(res.ci_high))
    assert lay.cell("overall:prediction", "obs") == (
        f"[{fmt(np.exp(res.pi_low))}, {fmt(np.exp(res.pi_high))}]")
    # the classical-only plot has no posterior column
    assert "post" not in {c.key for c in lay.columns}
    footer = " ".join(t.get_text() for k, t in lay.texts.items() if k[0] == "footer")
    assert f"I\u00b2 = {res.i2:.0f}%" in footer
    assert f"Q = {res.q:.2f} (df = {res.q_df}, p < 0.001)" in footer
    check_layout(fig)


def test_classical_model_scale_and_ref_line(bcg):
    res = bm.rma(bcg, method="DL")
    fig = forest_plot(res, transform=False, labels=None, ref_line=-0.5, sort_by="effect")
    lay = fig.forest_layout
    assert lay.ax.get_xscale() == "linear"
    labs = [r.key for r in lay.study_rows]
    order = np.argsort(res.yi, kind="stable")
    assert labs == [res.labels[i] for i in order]
    assert lay.cell(res.labels[0], "obs").startswith(fmt(res.yi[0]))
    assert "log RR" in lay.texts[("header", "obs")].get_text()
    xs = [ln.get_xdata()[0] for ln in lay.ax.lines if len(ln.get_xdata()) == 2
          and ln.get_xdata()[0] == ln.get_xdata()[1] and ln.get_gid() is None]
    assert -0.5 in xs
    check_layout(fig)


def test_arm_columns_binary_and_continuous(bcg):
    res = bm.rma(bcg)
    fig = forest_plot(res, arm_columns=BCG_ARMS, arm_labels=("Vaccinated", "Control"))
    lay = fig.forest_layout
    first = res.labels[0]
    row = bcg.iloc[0]
    assert lay.cell(first, "arm:Vaccinated:events") == str(row.tpos)
    assert lay.cell(first, "arm:Vaccinated:total") == str(row.tpos + row.tneg)
    assert lay.cell(first, "arm:Control:events") == str(row.cpos)
    assert lay.texts[("group", "Vaccinated")].get_text() == "Vaccinated"
    check_layout(fig)

    nd = bm.datasets.load("normand1999")
    fig = forest_plot(bm.rma(nd))
    lay = fig.forest_layout
    lab = fig.forest_layout.study_rows[0].key
    assert lay.cell(lab, "arm:Treatment:mean") == "55 (47)"
    assert lay.cell(lab, "arm:Treatment:n") == "155"
    assert lay.cell(lab, "arm:Control:mean") == "75 (64)"
    check_layout(fig)


def test_columns_option_and_sorting(bcg):
    res = bm.rma(bcg)
    fig = forest_plot(res, columns=[("Year", "year"), "ablat"], sort_by="year",
                      ascending=False)
    lay = fig.forest_layout
    years = [lay.cell(r.key, "col:year") for r in lay.study_rows]
    assert years == sorted(years, reverse=True)
    assert lay.texts[("header", "col:year")].get_text() == "Year"
    w = [float(lay.cell(r.key, "weight").rstrip("%"))
         for r in forest_plot(res, sort_by="weight").forest_layout.study_rows]
    assert w == sorted(w, reverse=True)
    labs = [r.key for r in forest_plot(res, sort_by="label").forest_layout.study_rows]
    assert labs == sorted(labs, key=str.casefold)
    with pytest.raises(BayesmaError, match="sort_by"):
        forest_plot(res, sort_by="nonsense")
    with pytest.raises(DataError, match="nonsense"):
        forest_plot(res, columns=["nonsense"])


def test_classical_subgroups(bcg):
    sub = bm.subgroup(bcg, by="alloc")
    fig = forest_plot(sub)
    lay = fig.forest_layout
    assert len(lay.study_rows) == 13
    headers = [r.span for r in lay.rows if r.kind == "header"]
    assert headers == [str(x) for x in sub.levels]
    for lev, f in sub.fits.items():
        key = f"group:{lev}:classical"
        assert lay.cell(key, "obs") == fmt_ci(np.exp(f.estimate), np.exp(f.ci_low),
                                              np.exp(f.ci_high))
    footer = " ".join(t.get_text() for k, t in lay.texts.items() if k[0] == "footer")
    assert f"Q = {sub.qb:.2f}, df = {sub.qb_df}" in footer
    check_layout(fig)


# ------------------------------------------------------------------------------------
# posterior forest plots (exact engine)
# ------------------------------------------------------------------------------------


def test_posterior_bcg_numbers(bcg_post):
    post = bcg_post
    fig = forest_plot(post, arm_columns=BCG_ARMS, title="BCG vaccine")
    lay = fig.forest_layout
    assert len(lay.study_rows) == 13
    med = post.median("theta")
    iv = post.interval("theta", 0.95)
    for lab in post.labels:
        assert lay.cell(lab, "post") == fmt_ci(np.exp(med[lab]), np.exp(iv.loc[lab, "low"]),
                                               np.exp(iv.loc[lab, "high"]))
    lo, hi = post.interval("mu", 0.95)
    assert lay.cell("overall:bayes", "post") == fmt_ci(np.exp(post.median("mu")), np.exp(lo),
                                                       np.exp(hi))
    tw = post.classical
    assert tw.test == "knha" and tw.method == "REML"
    assert lay.cell("overall:classical", "obs") == fmt_ci(
        np.exp(tw.estimate), np.exp(tw.ci_low), np.exp(tw.ci_high))
    plo, phi = post.interval("theta_new", 0.95)
    assert lay.cell("overall:prediction", "post") == f"[{fmt(np.exp(plo))}, {fmt(np.exp(phi))}]"
    footer = " ".join(t.get_text() for k, t in lay.texts.items() if k[0] == "footer")
    tlo, thi = post.interval("tau", 0.95)
    assert f"\u03c4 = {fmt(post.median('tau'))} [{fmt(tlo)}, {fmt(thi)}]" in footer
    assert f"REML \u03c4\u00b2 = {fmt(tw.tau2)}" in footer
    assert "HalfNormal(sigma=0.5)" in footer
    # a legend says which mark is which
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("Observed" in s for s in texts) and any("Posterior" in s for s in texts)
    check_layout(fig)


def test_posterior_rr_probability_and_mean(bcg_post):
    fig = forest_plot(bcg_post, prob=0.9, point="mean", transform=False, digits=3)
    lay = fig.forest_layout
    lab = bcg_post.labels[2]
    lo, hi = bcg_post.interval("theta", 0.9).loc[lab]
    assert lay.cell(lab, "post") == fmt_ci(bcg_post.mean("theta")[lab], lo, hi, 3)
    assert "90% CrI" in lay.texts[("header", "post")].get_text()
    check_layout(fig)


def test_posterior_subgroups_by_column(bcg, bcg_post):
    fig = forest_plot(bcg_post, subgroup="alloc")
    lay = fig.forest_layout
    assert len(lay.study_rows) == 13
    assert [r.span for r in lay.rows if r.kind == "header"] == ["alternate", "random",
                                                                 "systematic"]
    # subtotals: a separate exact posterior per level with the same priors
    part = bcg[bcg.alloc == "random"]
    sub_post = exact_posterior(part, mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))
    lo, hi = sub_post.interval("mu", 0.95)
    assert lay.cell("group:random:bayes", "post") == fmt_ci(
        np.exp(sub_post.median("mu")), np.exp(lo), np.exp(hi))
    sub = bm.subgroup(bcg, by="alloc", test="knha")
    footer = " ".join(t.get_text() for k, t in lay.texts.items() if k[0] == "footer")
    assert f"Q = {sub.qb:.2f}, df = {sub.qb_df}" in footer
    check_layout(fig)


def test_k2(shared_dir):
    d = bm.datasets.load("edge_k2")
    post = exact_posterior(d, mu_prior=Normal(0, 10), tau_prior=HalfNormal(0.5))
    fig = forest_plot(post)
    lay = fig.forest_layout
    assert len(lay.study_rows) == 2
    # the HKSJ interval with 1 df is far wider than the data: cut with arrows
    assert any(key == "overall:classical" for key, _ in lay.clipped)
    check_layout(fig)
    check_layout(forest_plot(bm.rma(d)))


def test_k48_bangertdrowns():
    d = bm.datasets.load("bangertdrowns2004")
    post = exact_posterior(d)
    fig = forest_plot(post, sort_by="posterior")
    lay = fig.forest_layout
    assert len(lay.study_rows) == 48
    assert lay.cell(lay.study_rows[0].key, "arm:ni") != ""
    med = post.median("theta")
    assert [r.key for r in lay.study_rows] == list(med.sort_values(kind="stable").index)
    check_layout(fig)
    # the figure grows with the number of rows
    small = forest_plot(exact_posterior(bm.datasets.load("bcg")))
    assert fig.get_size_inches()[1] > 2 * small.get_size_inches()[1]


def test_extreme_variance_arrows():
    d = bm.datasets.load("edge_extreme_variance")
    fig = forest_plot(bm.rma(d))
    lay = fig.forest_layout
    big = lay.study_rows[-1].key
    assert (big, "ci:low") in lay.clipped and (big, "ci:high") in lay.clipped
    check_layout(fig)
    # a user range that cuts many intervals
    fig = forest_plot(exact_posterior(d), xlim=(0.0, 0.3))
    assert len(fig.forest_layout.clipped) > 3
    check_layout(fig)


@pytest.mark.parametrize("k", [2, 7, 30, 100])
def test_long_labels_never_clip_or_overlap(k):
    d = long_names_data(k)
    post = exact_posterior(d)
    fig = forest_plot(post, columns=["year"], title="Long study names " * 6)
    lay = fig.forest_layout
    assert len(lay.study_rows) == k
    wrapped = [r for r in lay.study_rows if "\n" in r.cells["label"]]
    assert wrapped, "long labels wrap"
    check_layout(fig)


def test_show_options(bcg_post):
    fig = forest_plot(bcg_post, show=("observed", "pooled"))
    lay = fig.forest_layout
    assert "post" not in {c.key for c in lay.columns}
    assert not any(r.kind == "prediction" for r in lay.rows)
    check_layout(fig)
    fig = forest_plot(bcg_post, show=("posterior", "pooled", "prediction"), classical=False)
    lay = fig.forest_layout
    assert not any(ln.get_gid() and ln.get_gid().startswith("square") for ln in lay.ax.lines)
    assert "overall:classical" not in {r.key for r in lay.rows}
    check_layout(fig)
    with pytest.raises(BayesmaError, match="show"):
        forest_plot(bcg_post, show=("bogus",))


def test_other_classical_twin(bcg, bcg_post):
    dl = bm.rma(bcg, method="DL")
    fig = forest_plot(bcg_post, classical=dl)
    lay = fig.forest_layout
    assert lay.cell("overall:classical", "obs") == fmt_ci(
        np.exp(dl.estimate), np.exp(dl.ci_low), np.exp(dl.ci_high))
    assert "DL" in lay.cell("overall:classical", "label")


def test_errors(bcg):
    with pytest.raises(BayesmaError, match="regression_plot"):
        forest_plot(bm.rma(bcg, mods="~ ablat"))
    with pytest.raises(BayesmaError, match="RMAResult"):
        forest_plot(object())
    with pytest.raises(BayesmaError, match="png"):
        forest_plot(bm.rma(bcg), save="plot.jpeg")


@pytest.mark.parametrize("ext", ["png", "svg", "pdf"])
def test_save(tmp_path, bcg_post, ext):
    path = tmp_path / f"forest.{ext}"
    fig = forest_plot(bcg_post, save=path)
    assert path.stat().st_size > 1000
    head = path.read_bytes()[:8]
    assert {"png": b"\x89PNG", "pdf": b"%PDF", "svg": b"<?xml"}[ext] in head
    assert fig.get_size_inches()[0] > 4


def test_marks_are_drawn(bcg_post):
    fig = forest_plot(bcg_post)
    ax = fig.forest_layout.ax
    squares = [ln for ln in ax.lines if (ln.get_gid() or "").startswith("square|")]
    posts = [ln for ln in ax.lines if (ln.get_gid() or "").startswith("post|")
             and not ln.get_gid().endswith("|point")]
    assert len(squares) == 13 and len(posts) == 13
    sizes = {ln.get_gid().split("|")[1]: ln.get_markersize() for ln in squares}
    w = dict(zip(bcg_post.labels, bcg_post.classical.weights, strict=True))
    big, small = max(w, key=w.get), min(w, key=w.get)
    assert sizes[big] > sizes[small]
    diamonds = [p for p in ax.patches if (p.get_gid() or "").startswith("diamond|")]
    assert len(diamonds) == 2
    assert all(isinstance(x, Line2D) for x in squares)

"""funnel_plot(pet_peese=...): the PET line and the PEESE curve in the funnel's
coordinates, their intercepts at SE = 0 and the legend naming the conditional model."""

from __future__ import annotations

import numpy as np
import pytest

import bayesma as bm
from bayesma.errors import BayesmaError


@pytest.fixture(scope="module")
def fits():
    d = bm.datasets.load("hackshaw1998")
    res = bm.rma(d)
    return res, bm.pet_peese(res)


def _line(ax, gid):
    return next(ln for ln in ax.get_lines() if ln.get_gid() == gid)


def test_lines_follow_the_regressions_on_the_log_axis(fits):
    res, pp = fits
    fig = bm.funnel_plot(res, pet_peese=pp)
    ax = fig.axes[0]
    for fit, gid in ((pp.pet, "pet_line"), (pp.peese, "peese_line")):
        ln = _line(ax, gid)
        se = ln.get_ydata()  # yaxis = "sei"
        # x is the back-transformed fitted value: exp(b0 + b1 * se) / exp(b0 + b1 * se²)
        np.testing.assert_allclose(np.log(ln.get_xdata()), fit.predict(se), rtol=1e-12)
        mark = _line(ax, gid.replace("line", "estimate"))
        assert mark.get_xdata()[0] == pytest.approx(np.exp(fit.estimate), rel=1e-12)
        assert mark.get_ydata()[0] == 0.0
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    chosen = f"{pp.chosen} (vs SE{'' if pp.chosen == 'PET' else chr(0xb2)}; " \
             "conditional estimate)"
    assert chosen in labels
    other = "PEESE (vs SE\u00b2)" if pp.chosen == "PET" else "PET (vs SE)"
    assert other in labels
    # the chosen model is solid, the other dashed
    assert _line(ax, f"{pp.chosen.lower()}_line").get_linestyle() == "-"


def test_precision_axis_has_no_intercept_markers(fits):
    res, pp = fits
    fig = bm.funnel_plot(res, pet_peese=pp, yaxis="seinv", transform=False)
    ax = fig.axes[0]
    ln = _line(ax, "pet_line")
    np.testing.assert_allclose(ln.get_xdata(), pp.pet.predict(1 / ln.get_ydata()), rtol=1e-12)
    assert not [x for x in ax.get_lines() if x.get_gid() == "pet_estimate"]


def test_pet_peese_must_match_the_fit(fits):
    res, pp = fits
    with pytest.raises(BayesmaError, match="result of bm.pet_peese"):
        bm.funnel_plot(res, pet_peese=pp.pet)
    small = bm.rma(bm.datasets.load("hackshaw1998").iloc[:10])
    with pytest.raises(BayesmaError, match="fitted to 37 studies but the funnel plot has 10"):
        bm.funnel_plot(small, pet_peese=pp)

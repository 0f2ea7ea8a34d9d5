"""tau² estimators (bayesma/classical/tau2.py) against metafor 3.8."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import DATASETS, assert_close, reference, shared_data

from bayesma.classical.design import build_design
from bayesma.classical.tau2 import METHODS, Tau2Estimate, canonical_method, estimate_tau2
from bayesma.errors import BayesmaError, DataError, TooFewStudiesError

CLOSED = ["EE", "DL", "HE", "HS", "HSk", "SJ", "GENQ"]
ITERATIVE = ["ML", "REML", "EB", "PM", "PMM"]


def _arrays(name):
    d = shared_data(name)
    return d["yi"].to_numpy(float), d["vi"].to_numpy(float)


@pytest.mark.parametrize(
    ("name", "method"),
    [pytest.param(ds, m, id=f"{ds}-{m}") for ds in DATASETS for m in CLOSED + ITERATIVE],
)
def test_tau2_and_se_match_metafor(name, method):
    section = "methods" if method in CLOSED else "methods_tight"
    ref = reference(name)["rma"][section][method]
    y, v = _arrays(name)
    if "error" in ref:
        with pytest.raises(BayesmaError):
            estimate_tau2(y, v, None, method)
        return
    est = estimate_tau2(y, v, None, method)
    assert isinstance(est, Tau2Estimate)
    assert_close(est.tau2, ref["tau2"], what=f"{name} {method} tau2")
    assert_close(est.se_tau2, ref["se.tau2"], what=f"{name} {method} se.tau2")
    assert est.tau2 >= 0
    assert est.converged
    if method in ("ML", "REML", "EB"):
        assert est.iterations >= 1
    if method in CLOSED:
        assert est.iterations == 0


# tau² and se(tau²) of rma(yi, vi, mods=~ablat, data=bcg, method=M,
# control=list(threshold=1e-12, tol=1e-12, maxiter=10000)), R 4.2.2 / metafor 3.8-1
# (GENQ with weights=1/vi)
BCG_ABLAT = {
    "DL": (0.063300502426415217, 0.054825147856626198),
    "HE": (0.20904802635887584, 0.17071196461608129),
    "HS": (0.029084907899851103, 0.016288456773166263),
    "HSk": (0.038249788531059772, 0.022893708802436543),
    "SJ": (0.2318437161189788, 0.11953378064610624),
    "ML": (0.03435144248187922, 0.028014180121004467),
    "REML": (0.076347963955919307, 0.059047228904837462),
    "EB": (0.14213194147285046, 0.097498563515760958),
    "PM": (0.1421319414727592, 0.097498563515714995),
    "PMM": (0.16155510876393492, 0.10719464029407413),
    "GENQ": (0.063300502426415217, 0.054825147856626198),
}


@pytest.mark.parametrize("method", list(BCG_ABLAT))
def test_tau2_with_moderators(method):
    d = shared_data("bcg")
    X = build_design(d, "~ ablat").X
    est = estimate_tau2(d["yi"], d["vi"], X, method)
    assert_close(est.tau2, BCG_ABLAT[method][0])
    assert_close(est.se_tau2, BCG_ABLAT[method][1])


@pytest.mark.parametrize(
    ("name", "kind"),
    [pytest.param(ds, kd, id=f"{ds}-{kd}") for ds in DATASETS
     for kd in ("continuous", "categorical", "both")
     if (reference(ds)["metareg"] or {}).get(kd) is not None],
)
def test_reml_with_moderators_matches_metareg(name, kind):
    ref = reference(name)["metareg"][kind]
    d = shared_data(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        des = build_design(d, ref["formula"])
    sub = d.loc[des.keep]
    est = estimate_tau2(sub["yi"], sub["vi"], des.X, "REML")
    assert_close(est.tau2, ref["tau2"])
    assert_close(est.se_tau2, ref["se.tau2"])


def test_method_names():
    assert canonical_method("FE") == "EE"
    assert canonical_method("fe") == "EE"
    assert canonical_method("CE") == "EE"
    assert canonical_method("hsk") == "HSk"
    assert canonical_method("reml") == "REML"
    assert set(METHODS) == {"EE", "DL", "HE", "HS", "HSk", "SJ", "ML", "REML", "EB", "PM",
                            "PMM", "GENQ"}
    with pytest.raises(DataError, match="unknown tau"):
        canonical_method("Bayes")
    with pytest.raises(DataError):
        canonical_method(3)


def test_ee_is_zero_with_nan_se():
    est = estimate_tau2([0.1, 0.5, 0.9], [0.1, 0.1, 0.1], None, "FE")
    assert est.tau2 == 0 and np.isnan(est.se_tau2)


def test_genq_with_unit_weights_is_hedges():
    y, v = _arrays("bcg")
    he = estimate_tau2(y, v, None, "HE")
    gq = estimate_tau2(y, v, None, "GENQ", weights=np.ones_like(v))
    assert_close(gq.tau2, he.tau2)
    assert_close(gq.se_tau2, he.se_tau2)
    dl = estimate_tau2(y, v, None, "DL")
    assert_close(estimate_tau2(y, v, None, "GENQ").tau2, dl.tau2)  # default weights 1/vi


def test_k1_and_k_le_p():
    est = estimate_tau2([0.3], [0.1], None, "REML")
    assert est.tau2 == 0 and np.isnan(est.se_tau2)
    X = np.column_stack([np.ones(2), [0.0, 1.0]])
    with pytest.raises(TooFewStudiesError):
        estimate_tau2([0.1, 0.4], [0.1, 0.1], X, "DL")


def test_input_checks():
    with pytest.raises(DataError, match="differ in length"):
        estimate_tau2([0.1, 0.2], [0.1], None, "DL")
    with pytest.raises(DataError, match="> 0"):
        estimate_tau2([0.1, 0.2, 0.3], [0.1, 0.0, 0.1], None, "DL")
    with pytest.raises(DataError, match="rows"):
        estimate_tau2([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], np.ones((2, 1)), "DL")


def test_pm_root_solves_generalized_q():
    y, v = _arrays("bcg")
    est = estimate_tau2(y, v, None, "PM")
    w = 1 / (v + est.tau2)
    mu = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - mu) ** 2)
    assert_close(q, len(y) - 1, rtol=1e-10)


def test_default_tolerance_is_tight_and_loose_tolerance_matches_metafor_default():
    # rma.methods records metafor's default threshold (1e-5): a loose tolerance gets
    # close to it, the default tight tolerance matches methods_tight
    y, v = _arrays("bcg")
    ref = reference("bcg")["rma"]
    loose = estimate_tau2(y, v, None, "REML", tol=1e-5)
    assert_close(loose.tau2, ref["methods"]["REML"]["tau2"], rtol=1e-4)
    tight = estimate_tau2(y, v, None, "REML")
    assert_close(tight.tau2, ref["methods_tight"]["REML"]["tau2"], rtol=1e-9)


def test_oscillating_fisher_scoring_falls_back_to_root_finding():
    # On these data Fisher scoring for REML oscillates without converging (metafor stops
    # with "Fisher scoring algorithm did not converge"); the bracketed root-finding
    # fallback returns the maximiser of the restricted likelihood.
    from scipy import optimize

    from bayesma.classical.intercept_reml import fisher_intercept, he_intercept
    from bayesma.classical.tau2 import FISHER_SWITCH, _ll_boundary

    yi = np.array([-0.23913852, -0.12202713, -0.20685373, -0.7132596, -0.1105781,
                   -0.3497272, 0.34111446, -0.41361327, -0.12714741, -0.10490255,
                   0.25559228, -1.14648753, -0.15339233, 0.3420746, -0.16287769,
                   -0.68761971, 0.14707571, 0.15161893, -0.12180846, -0.52228639,
                   -0.33354542, -0.14129277, -0.39427538, -0.86470661, -0.34643])
    vi = np.array([0.57052943, 0.50598529, 0.62852926, 0.08156198, 0.77094128,
                   0.12778532, 0.68296759, 0.40513139, 0.49480033, 0.67333527,
                   0.37414774, 0.05080728, 0.96439049, 0.52506351, 0.74343392,
                   0.53363836, 0.82058847, 0.5667931, 0.12714309, 0.64369703,
                   0.17687697, 0.82453586, 0.68265629, 0.94010959, 0.63093539])
    X = np.ones((len(yi), 1))
    y = yi - yi.mean()
    # Fisher scoring gives up after FISHER_SWITCH (100) steps
    assert not fisher_intercept(y, vi, max(0.0, he_intercept(y, vi)), reml=True, tol=1e-12,
                                max_steps=FISHER_SWITCH)[1]
    # the intercept-only path finds the root in the grid's interval by Newton instead
    est = estimate_tau2(yi, vi, None, "REML")
    assert est.converged and est.iterations <= 10
    # the general path (the same model with X = 2, not recognised as X = 1) falls back to
    # the grid and bracketed root-finding after Fisher scoring's 100 steps
    est_general = estimate_tau2(yi, vi, np.full((len(yi), 1), 2.0), "REML")
    assert est_general.converged and est_general.iterations > FISHER_SWITCH
    assert_close(est_general.tau2, est.tau2, rtol=1e-8)
    opt = optimize.minimize_scalar(lambda t: -_ll_boundary(y, vi, X, t, True),
                                   bounds=(0, 1), method="bounded", options={"xatol": 1e-13})
    assert_close(est.tau2, opt.x, rtol=1e-6)
    # EB solves the Paule-Mandel equation y'Py = k - p
    assert_close(estimate_tau2(yi, vi, None, "EB").tau2, estimate_tau2(yi, vi, None, "PM").tau2)

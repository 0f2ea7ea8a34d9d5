"""Meta-regression (rma with moderators) and the design matrix, against metafor 3.8."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import DATASETS, assert_close, reference, shared_data

from bayesma.classical.design import build_design, check_full_rank, normalize_formula
from bayesma.classical.rma import fit_arrays, rma
from bayesma.errors import BayesmaError, DataError, DroppedRowsWarning, TooFewStudiesError

KINDS = ["continuous", "categorical", "both"]


def _cases():
    out = []
    for ds in DATASETS:
        mr = reference(ds)["metareg"]
        for kind in KINDS:
            if mr is None or mr.get(kind) is None:
                continue  # the data set has no such moderator (reference is null)
            for test in ("z", "knha"):
                out.append(pytest.param(ds, kind, test, id=f"{ds}-{kind}-{test}"))
    return out


def _fit(ds, kind, test):
    ref0 = reference(ds)["metareg"][kind]
    d = shared_data(ds)
    return rma(d, yi="yi", vi="vi", mods=ref0["formula"], method=ref0["method"], test=test)


@pytest.mark.parametrize(("name", "kind", "test"), _cases())
def test_metareg(name, kind, test):
    ref0 = reference(name)["metareg"][kind]
    ref = ref0 if test == "z" else ref0["knha"]
    what = f"{name} {kind} {test}"
    if "error" in ref:
        with pytest.raises(BayesmaError):
            _fit(name, kind, test)
        return
    d = shared_data(name)
    variables = [c for c in d.columns if c in ref0["formula"]]
    n_missing = int(d[variables].isna().any(axis=1).sum())
    if n_missing:
        with pytest.warns(DroppedRowsWarning, match=f"dropped {n_missing} row") as rec:
            res = _fit(name, kind, test)
        dropped = list(d.index[d[variables].isna().any(axis=1)])
        msg = str(rec[0].message)
        for r in dropped:
            assert f"row {r}" in msg
        assert res.dropped == dropped
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DroppedRowsWarning)
            res = _fit(name, kind, test)
        assert res.dropped == []
    assert res.k == ref["k"]
    assert res.p == ref["p"] == len(ref["coef_names"])
    # coefficients in coef_names order; R's names map to ours by position
    assert res.terms[0] == ref["coef_names"][0] == "intrcpt"
    for ours, theirs in zip(res.terms, ref["coef_names"], strict=True):
        base = theirs.replace("factor(", "C(").split(")")[0]
        assert ours.startswith(base), (ours, theirs)
    assert_close(res.beta, ref["b"], what=f"{what} b")
    assert_close(res.coef["estimate"], ref["b"], what=f"{what} b")
    assert_close(res.coef["se"], ref["se"], what=f"{what} se")
    assert_close(res.coef["stat"], ref["zval" if test == "z" else "tval"], what=f"{what} stat")
    assert_close(res.coef["pval"], ref["pval"], what=f"{what} pval")
    assert_close(res.coef["ci_low"], ref["ci.lb"], what=f"{what} ci.lb")
    assert_close(res.coef["ci_high"], ref["ci.ub"], what=f"{what} ci.ub")
    for field, attr in [("tau2", "tau2"), ("se.tau2", "se_tau2"), ("tau", "tau"), ("I2", "i2"),
                        ("H2", "h2"), ("R2", "r2"), ("QE", "q"), ("QEdf", "q_df"),
                        ("QEp", "q_pval"), ("QM", "qm"), ("QMp", "qm_pval")]:
        assert_close(getattr(res, attr), ref[field], what=f"{what} {field}")
    assert_close(res.qm_df, ref["QMdf"], what=f"{what} QMdf")
    if test == "knha":
        assert res.qm_df == (ref["p"] - 1, ref["k"] - ref["p"])
        assert res.df == ref["df"]
    else:
        assert isinstance(res.qm_df, int)
    for col in ("ML", "REML"):
        for stat in ("ll", "dev", "AIC", "BIC", "AICc"):
            assert_close(res.fit_stats.loc[stat, col], ref["fit_stats"][col][stat],
                         what=f"{what} fit_stats {col} {stat}")
    if "factor_levels" in ref0 and ref0.get("reference_level") is not None:
        # treatment coding with the first sorted level as reference
        cat = [t for t in res.terms if "[T." in t]
        levels = [t.split("[T.")[1].rstrip("]") for t in cat]
        assert levels == [str(x) for x in ref0["factor_levels"][1:]]


# Computed with R 4.2.2 / metafor 3.8-1 on bcg:
#   rma(yi, vi, mods=<formula>, data=d, method=M, control=list(threshold=1e-12, tol=1e-12,
#       maxiter=10000))   (GENQ with weights=1/vi)
# The shared reference has only REML with moderators; these cover every estimator.
METAFOR_BCG_MODS = {
    ('EE', '~ ablat'): {
        'tau2': 0,
        'se_tau2': None,
        'b': [0.3435645774465901, -0.029236934259541755],
        'se': [0.0810487794877086, 0.002652429434246233],
        'QM': 121.49991807162424,
        'QE': 30.733090010749258,
        'I2': 64.2079595766237,
        'H2': 2.793917273704478,
        'R2': 77.97651921434007,
        'llML': -9.473610868618874,
        'llREML': -11.579353799977238,
    },
    ('EE', '~ ablat + factor(alloc)'): {
        'tau2': 0,
        'se_tau2': None,
        'b': [0.6048565418152206, -0.03282563069899006, -0.21758411844301828, -0.25837252978549585],
        'se': [0.1502741602953007, 0.003185840506701171, 0.11377910198250824, 0.13474503598315277],
        'QM': 126.02957159072484,
        'QE': 26.203436491648535,
        'I2': 65.65335999776805,
        'H2': 2.911492943516504,
        'R2': 77.04971099086939,
        'llML': -7.208784109068485,
        'llREML': -11.188379357489874,
    },
    ('DL', '~ ablat'): {
        'tau2': 0.06330050242641522,
        'se_tau2': 0.0548251478566262,
        'b': [0.2595437124340234, -0.029228738755188437],
        'se': [0.2323074733926949, 0.006733010839567266],
        'QM': 18.845233542635253,
        'QE': 30.733090010749258,
        'I2': 64.2079595766237,
        'H2': 2.793917273704478,
        'R2': 79.498494450165,
        'llML': -7.833845090959224,
        'llREML': -8.103517507212974,
    },
    ('DL', '~ ablat + factor(alloc)'): {
        'tau2': 0.11783238142686046,
        'se_tau2': 0.10025919585382237,
        'b': [0.30783179777605596, -0.02764604337259346, -0.2577795002835989, 0.043334500813189514],
        'se': [0.37478574256091757, 0.008498961952948105, 0.3224888075379755, 0.35007673261291117],
        'QM': 12.89199817024897,
        'QE': 26.203436491648535,
        'I2': 65.65335999776805,
        'H2': 2.911492943516504,
        'R2': 61.836934476447844,
        'llML': -7.7030418207181945,
        'llREML': -7.425088486687442,
    },
    ('HE', '~ ablat'): {
        'tau2': 0.20904802635887584,
        'se_tau2': 0.1707119646160813,
        'b': [0.2031150062149399, -0.028176759598662292],
        'se': [0.37211446636738443, 0.010561851139146764],
        'QM': 7.117082644728246,
        'QE': 30.733090010749258,
        'I2': 85.55822883346954,
        'H2': 6.92435843546359,
        'R2': 36.37522165886915,
        'llML': -9.267299566236861,
        'llREML': -8.659994072848061,
    },
    ('HE', '~ ablat + factor(alloc)'): {
        'tau2': 0.16797461027972088,
        'se_tau2': 0.17304126803839123,
        'b': [0.2827508650198077, -0.026999751633788625, -0.27481951256079246, 0.06934146602555685],
        'se': [0.42943828180739246, 0.009761227685045407, 0.3729241240848315, 0.40329139856922774],
        'QM': 9.87028849675844,
        'QE': 26.203436491648535,
        'I2': 73.15369223653967,
        'H2': 3.72490701071776,
        'R2': 48.876114584129326,
        'llML': -8.231479338353989,
        'llREML': -7.413469763421546,
    },
    ('HS', '~ ablat'): {
        'tau2': 0.029084907899851103,
        'se_tau2': 0.016288456773166263,
        'b': [0.28725615621764794, -0.029551123193015765],
        'se': [0.1770714339696765, 0.0052088251893375745],
        'QM': 32.186104701176156,
        'QE': 30.733090010749258,
        'I2': 45.18317954711601,
        'H2': 1.8242575759378774,
        'R2': 87.26373131272294,
        'llML': -7.695362981595595,
        'llREML': -8.462590105225607,
    },
    ('HS', '~ ablat + factor(alloc)'): {
        'tau2': 0.021655601707787485,
        'se_tau2': 0.009696540161607878,
        'b': [0.44163175391564535, -0.03027003524854464, -0.21142494262322295, -0.0960488020889895],
        'se': [0.22400852144862798, 0.004882947896341414, 0.18008285705201074, 0.20358445738429376],
        'QM': 39.966733945460554,
        'QE': 26.203436491648535,
        'I2': 25.997194519168627,
        'H2': 1.3513001209920692,
        'R2': 90.51702130586943,
        'llML': -7.028863488853959,
        'llREML': -8.943832753596636,
    },
    ('HSk', '~ ablat'): {
        'tau2': 0.03824978853105977,
        'se_tau2': 0.022893708802436543,
        'b': [0.278563507407037, -0.029474768402156046],
        'se': [0.19417048672722834, 0.005680563846612914],
        'QM': 26.92265659640334,
        'QE': 30.733090010749258,
        'I2': 52.015068355564374,
        'H2': 2.0839875471948512,
        'R2': 84.64911536960777,
        'llML': -7.689893251933551,
        'llREML': -8.28907189907511,
    },
    ('HSk', '~ ablat + factor(alloc)'): {
        'tau2': 0.0407567293876026,
        'se_tau2': 0.01789414245980783,
        'b': [0.3895598370198094, -0.029373092461569092, -0.22043632946112873,
              -0.04170341821521159],
        'se': [0.26406298511146836, 0.005858994697411345, 0.2183097801503406, 0.2421921319046711],
        'QM': 27.106845656296503,
        'QE': 26.203436491648535,
        'I2': 39.80114692181014,
        'H2': 1.6611612163127765,
        'R2': 83.64299843819634,
        'llML': -7.038170251585441,
        'llREML': -8.216142284211239,
    },
    ('SJ', '~ ablat'): {
        'tau2': 0.2318437161189788,
        'se_tau2': 0.11953378064610624,
        'b': [0.19827172916340347, -0.028071368956770742],
        'se': [0.3887058462425278, 0.01101424398038898],
        'QM': 6.495577964791636,
        'QE': 30.733090010749258,
        'I2': 86.79062599249458,
        'H2': 7.570381453593572,
        'R2': 32.89922424760753,
        'llML': -9.483694726189452,
        'llREML': -8.794398056519638,
    },
    ('SJ', '~ ablat + factor(alloc)'): {
        'tau2': 0.23502989599637608,
        'se_tau2': 0.1351690358008873,
        'b': [0.2603865052637279, -0.026377843613092387, -0.29133912790723715, 0.09319756622325598],
        'se': [0.49226274733108194, 0.011190482926076885, 0.43038599896841184, 0.4642352159982198],
        'QM': 7.6111596073299665,
        'QE': 26.203436491648535,
        'I2': 79.22158656905255,
        'H2': 4.812686990386839,
        'R2': 31.977072269374467,
        'llML': -8.916573717547601,
        'llREML': -7.564560846277648,
    },
    ('ML', '~ ablat'): {
        'tau2': 0.03435144248187922,
        'se_tau2': 0.028014180121004467,
        'b': [0.2821071738956109, -0.029509335388449305],
        'se': [0.18718455633552952, 0.0054877363075713885],
        'QM': 28.915611903864715,
        'QE': 30.733090010749258,
        'I2': 49.32885018548228,
        'H2': 1.9735095881196907,
        'R2': 87.73286041290882,
        'llML': -7.685665528414129,
        'llREML': -8.35177023968054,
    },
    ('ML', '~ ablat + factor(alloc)'): {
        'tau2': 0.029389869439109165,
        'se_tau2': 0.025096565897847572,
        'b': [0.4164021204743154, -0.0298469943976674, -0.21463842254615736, -0.06981763473538245],
        'se': [0.2415268392475135, 0.005309387463863793, 0.19678499718145595, 0.2204066416342086],
        'QM': 33.33609774423621,
        'QE': 26.203436491648535,
        'I2': 32.28448619379448,
        'H2': 1.4767664657494766,
        'R2': 89.50467273547186,
        'llML': -7.013461825949701,
        'llREML': -8.585801817469731,
    },
    ('REML', '~ ablat'): {
        'tau2': 0.0763479639559193,
        'se_tau2': 0.05904722890483746,
        'b': [0.2514682100069536, -0.029101725011642862],
        'se': [0.24909539661764538, 0.0071953272209287385],
        'QM': 16.358232147046746,
        'QE': 30.733090010749258,
        'I2': 68.39122483838523,
        'H2': 3.1636784243838245,
        'R2': 75.62662181139328,
        'llML': -7.9465735559050295,
        'llREML': -8.087320058275731,
    },
    ('REML', '~ ablat + factor(alloc)'): {
        'tau2': 0.1445942973592872,
        'se_tau2': 0.11236369078899149,
        'b': [0.2931943560032586, -0.02727575629813328, -0.2674912115129602, 0.05846128692834443],
        'se': [0.40499464079194886, 0.009199319746121388, 0.35042850797223835, 0.3795106023821395],
        'QM': 11.060612455359358,
        'QE': 26.203436491648535,
        'I2': 70.11024885058707,
        'H2': 3.3456283894810586,
        'R2': 53.83961390917318,
        'llML': -7.984943638028107,
        'llREML': -7.398282054389252,
    },
    ('EB', '~ ablat'): {
        'tau2': 0.14213194147285046,
        'se_tau2': 0.09749856351576096,
        'b': [0.22191596450733095, -0.02856452589440549],
        'se': [0.31747369654739893, 0.00907018887118457],
        'QM': 9.917937773470705,
        'QE': 30.733090010749258,
        'I2': 80.11128388259965,
        'H2': 5.027976638095379,
        'R2': 55.31403995350339,
        'llML': -8.602388737386363,
        'llREML': -8.292376914274858,
    },
    ('EB', '~ ablat + factor(alloc)'): {
        'tau2': 0.16387780355778622,
        'se_tau2': 0.11977799560637711,
        'b': [0.2844537895203389, -0.02704540985331837, -0.27360479996810216, 0.06755957173441272],
        'se': [0.4252683927736478, 0.00966564017325094, 0.3690928721721723, 0.39923713263325483],
        'QM': 10.058114166663175,
        'QE': 26.203436491648535,
        'I2': 72.66600522281642,
        'H2': 3.658448053976825,
        'R2': 48.47719023320543,
        'llML': -8.188437126458933,
        'llREML': -7.408841279578051,
    },
    ('PM', '~ ablat'): {
        'tau2': 0.1421319414727592,
        'se_tau2': 0.097498563515715,
        'b': [0.22191596450736253, -0.028564525894406115],
        'se': [0.31747369654731644, 0.009070188871182317],
        'QM': 9.917937773476067,
        'QE': 30.733090010749258,
        'I2': 80.11128388258943,
        'H2': 5.0279766380927935,
        'R2': 55.314039953531044,
        'llML': -8.602388737385434,
        'llREML': -8.292376914274412,
    },
    ('PM', '~ ablat + factor(alloc)'): {
        'tau2': 0.16387780355771223,
        'se_tau2': 0.1197779956063367,
        'b': [0.2844537895203708, -0.027045409853319213, -0.27360479996808057, 0.06755957173438004],
        'se': [0.42526839277357203, 0.009665640173249201, 0.3690928721721028, 0.3992371326331812],
        'QM': 10.058114166666655,
        'QE': 26.203436491648535,
        'I2': 72.66600522280744,
        'H2': 3.658448053975625,
        'R2': 48.47719023322749,
        'llML': -8.188437126458151,
        'llREML': -7.408841279577972,
    },
    ('PMM', '~ ablat'): {
        'tau2': 0.16155510876393492,
        'se_tau2': 0.10719464029407413,
        'b': [0.21560136009115594, -0.028437995741984523],
        'se': [0.33443540000572325, 0.009533643931301076],
        'QM': 8.897748265243862,
        'QE': 30.733090010749258,
        'I2': 82.07378802390748,
        'H2': 5.578423379873342,
        'R2': 52.952592237637106,
        'llML': -8.799200476171002,
        'llREML': -8.391950429158001,
    },
    ('PMM', '~ ablat + factor(alloc)'): {
        'tau2': 0.18759254364880312,
        'se_tau2': 0.132617393176522,
        'b': [0.2752246632604103, -0.026795002777438362, -0.2802696482429566, 0.07726451610085992],
        'se': [0.44881484122187826, 0.010204093394341177, 0.3906961689095039, 0.42211608368291365],
        'QM': 9.068111797095385,
        'QE': 26.203436491648535,
        'I2': 75.26682029568303,
        'H2': 4.043151798332902,
        'R2': 45.37007859577925,
        'llML': -8.436070637787392,
        'llREML': -7.444786570519174,
    },
    ('GENQ', '~ ablat'): {
        'tau2': 0.06330050242641522,
        'se_tau2': 0.0548251478566262,
        'b': [0.3435645774465901, -0.029236934259541755],
        'se': [0.2928815123267385, 0.008394756011521691],
        'QM': 12.129628678771317,
        'QE': 30.733090010749258,
        'I2': 64.2079595766237,
        'H2': 2.793917273704478,
        'R2': 79.498494450165,
        'llML': -8.1842419283043,
        'llREML': -8.45391434455805,
    },
    ('GENQ', '~ ablat + factor(alloc)'): {
        'tau2': 0.11783238142686044,
        'se_tau2': 0.10025919585382231,
        'b': [0.6048565418152206, -0.03282563069899006, -0.21758411844301828, -0.25837252978549585],
        'se': [0.4667052455433874, 0.009852640996607731, 0.3638571609632508, 0.4202851575778512],
        'QM': 11.842482914481653,
        'QE': 26.203436491648535,
        'I2': 65.65335999776804,
        'H2': 2.9114929435165036,
        'R2': 61.836934476447865,
        'llML': -8.69206628927678,
        'llREML': -8.41411295524603,
    },}


@pytest.mark.parametrize(
    ("method", "formula"),
    [pytest.param(m, f, id=f"{m}-{f.replace(' ', '')}") for m, f in METAFOR_BCG_MODS],
)
def test_every_estimator_with_moderators(method, formula):
    ref = METAFOR_BCG_MODS[(method, formula)]
    res = rma(shared_data("bcg"), method=method, mods=formula)
    assert_close(res.tau2, ref["tau2"], what="tau2")
    assert_close(res.se_tau2, ref["se_tau2"], what="se_tau2")
    assert_close(res.beta, ref["b"], what="b")
    assert_close(res.coef["se"], ref["se"], what="se")
    assert_close(res.qm, ref["QM"], what="QM")
    assert_close(res.q, ref["QE"], what="QE")
    assert_close(res.i2, ref["I2"], what="I2")
    assert_close(res.h2, ref["H2"], what="H2")
    assert_close(res.r2, ref["R2"], what="R2")
    assert_close(res.fit_stats.loc["ll", "ML"], ref["llML"], what="ll ML")
    assert_close(res.fit_stats.loc["ll", "REML"], ref["llREML"], what="ll REML")


def test_t_test_with_moderators_matches_metafor():
    # rma(yi, vi, mods=~ablat+factor(alloc), data=d, method="DL", test="t")
    res = rma(shared_data("bcg"), method="DL", test="t", mods="~ ablat + factor(alloc)")
    assert_close(res.coef["pval"], [0.43266269942834068, 0.0099515250903028755,
                                    0.44467418869152997, 0.90420540040468445])
    assert_close(res.qm, 4.2973327234163232)
    assert_close(res.qm_pval, 0.0385563312885416)
    assert res.qm_df == (3, 9)


def test_no_intercept_model_matches_metafor():
    # rma(yi, vi, mods=~factor(alloc) - 1, data=d, method="REML")
    res = rma(shared_data("bcg"), mods="~ factor(alloc) - 1")
    assert not res.intercept
    assert res.terms == ["C(alloc)[alternate]", "C(alloc)[random]", "C(alloc)[systematic]"]
    assert_close(res.beta, [-0.5179557771552995, -0.96577417854582448, -0.42891756092359162])
    assert_close(res.coef["se"], [0.44119446038678328, 0.26724409406522903, 0.34494536762525285])
    assert_close(res.tau2, 0.36150366432389974)
    assert_close(res.qm, 15.984127420362277)
    assert res.qm_df == 3
    assert_close(res.qm_pval, 0.0011425129010011275)
    assert_close(res.q, 132.3676382627076)
    assert_close(res.i2, 88.770903571703883)
    assert res.r2 is None
    assert res.pi_low is None


@pytest.mark.parametrize("test", ["z", "knha"])
def test_predict_newmods_matches_metafor(test):
    # predict(rma(yi, vi, mods=~ablat, data=d, test=...), newmods=c(10, 30, 50))
    ref = {
        "z": ([0.18660666790631411, 0.10692405051638731, 0.17164394455836463],
              [-0.69304351213868154, -1.2022779589647836, -1.8411627454058954],
              [0.6139454319197315, -0.040889121719880683, -0.5660733357444836]),
        "knha": ([0.21269903761059231, 0.12187475880379516, 0.19564414406445066],
                 [-0.80702358519856254, -1.286271659941026, -1.9487891719858668],
                 [0.72792550497961228, 0.043104579256361575, -0.45844690916451225]),
    }[test]
    res = rma(shared_data("bcg"), mods="~ ablat", test=test)
    for newmods in ([10, 30, 50], np.array([[10.0], [30.0], [50.0]]),
                    pd.DataFrame({"ablat": [10, 30, 50]}), {"ablat": [10, 30, 50]}):
        p = res.predict(newmods)
        assert_close(p["pred"], [-0.039549040109475075, -0.62158354034233221,
                                 -1.2036180405751895])
        assert_close(p["se"], ref[0])
        assert_close(p["pi_low"], ref[1])
        assert_close(p["pi_high"], ref[2])
    fitted = res.predict()
    assert list(fitted.index) == res.labels
    assert_close(fitted["pred"], res.X @ res.beta)


def test_predict_newmods_categorical_table():
    res = rma(shared_data("bcg"), mods="~ ablat + factor(alloc)")
    p = res.predict(pd.DataFrame({"ablat": [20.0], "alloc": ["random"]}))
    x = np.array([1.0, 20.0, 1.0, 0.0])
    assert_close(p["pred"].iloc[0], x @ res.beta)
    with pytest.raises(DataError, match="column"):
        res.predict(np.ones((1, 2)))


def test_summary_with_moderators():
    text = rma(shared_data("bcg"), mods="~ ablat", test="knha").summary()
    assert "Mixed-Effects Model (k = 13; tau^2 estimator: REML)" in text
    assert "Test for Residual Heterogeneity:\nQE(df = 11) = 30.7331, p-val = 0.0012" in text
    assert "Test of Moderators (coefficient 2):\nF(df1 = 1, df2 = 11) = 12.5910" in text
    assert "R^2 (amount of heterogeneity accounted for):            75.63%" in text
    assert "ablat     -0.0291  0.0082  -3.5484  11  0.0046  -0.0472  -0.0111  **" in text
    both = rma(shared_data("bcg"), mods="~ ablat + factor(alloc)").summary()
    assert "Test of Moderators (coefficients 2:4):\nQM(df = 3) = 11.0606, p-val = 0.0114" in both
    ee = rma(shared_data("bcg"), mods="~ ablat", method="EE").summary()
    assert "Fixed-Effects with Moderators Model (k = 13)" in ee


# --------------------------------------------------------------------------- design
def test_factor_and_C_are_the_same():
    d = shared_data("bcg")
    a = rma(d, mods="~ ablat + factor(alloc)")
    b = rma(d, mods="ablat + C(alloc)")
    assert a.terms == b.terms == ["intrcpt", "ablat", "C(alloc)[T.random]",
                                  "C(alloc)[T.systematic]"]
    assert_close(a.beta, b.beta)
    assert normalize_formula("factor(x) + as.factor(y)") == "~ C(x) + C(y)"


def test_list_of_columns_equals_formula():
    d = shared_data("bcg")
    a = rma(d, mods=["ablat", "alloc"])
    b = rma(d, mods="~ ablat + factor(alloc)")
    assert a.terms == ["intrcpt", "ablat", "alloc[T.random]", "alloc[T.systematic]"]
    assert_close(a.beta, b.beta)
    assert_close(a.qm, b.qm)


def test_matrix_moderators():
    d = shared_data("bcg")
    a = rma(d, mods=d[["ablat"]].to_numpy())
    assert a.terms == ["intrcpt", "X1"]
    b = rma(d, mods=d[["ablat"]])
    assert b.terms == ["intrcpt", "ablat"]
    assert_close(a.beta, reference("bcg")["metareg"]["continuous"]["b"])


def test_categorical_reference_level_sorted_and_category_order():
    d = shared_data("bcg")
    d2 = d.iloc[::-1].reset_index(drop=True)  # first row is now 'systematic'
    res = rma(d2, mods="~ C(alloc)")
    assert res.terms[1:] == ["C(alloc)[T.random]", "C(alloc)[T.systematic]"]
    d3 = d.copy()
    d3["alloc"] = pd.Categorical(d3["alloc"], categories=["random", "alternate", "systematic"])
    res3 = rma(d3, mods=["alloc"])
    assert res3.terms[1:] == ["alloc[T.alternate]", "alloc[T.systematic]"]


def test_numeric_factor():
    d = shared_data("bangertdrowns2004")
    res = rma(d, mods="~ factor(grade)")
    assert res.terms == ["intrcpt", "C(grade)[T.2]", "C(grade)[T.3]", "C(grade)[T.4]"]


def test_missing_moderator_warning_names_rows_and_labels():
    d = shared_data("bcg")
    d["ablat"] = d["ablat"].astype(float)
    d.loc[[2, 7], "ablat"] = np.nan
    with pytest.warns(DroppedRowsWarning) as rec:
        res = rma(d, mods="~ ablat")
    msg = str(rec[0].message)
    assert "row 2 (study 'Rosenthal et al')" in msg
    assert "row 7 (study 'TPT Madras')" in msg
    assert "'ablat'" in msg
    assert res.k == 11 and res.dropped == [2, 7]
    assert len(res.data) == 11 and 2 not in res.data.index
    # the categorical path drops missing strings as well
    d2 = shared_data("bcg")
    d2.loc[0, "alloc"] = None
    with pytest.warns(DroppedRowsWarning, match="row 0 \\(study 'Aronson'\\)"):
        assert rma(d2, mods=["alloc"]).k == 12


def test_single_level_moderator_is_an_error():
    d = shared_data("bcg")
    d["const"] = "same"
    with pytest.raises(DataError, match="'const' has a single level") as exc:
        rma(d, mods="~ ablat + const")
    assert exc.value.column == "const"
    with pytest.raises(DataError, match="single level"):
        rma(d.iloc[:4], mods="~ factor(alloc)")  # only 'random' in the first rows
    with pytest.raises(DataError, match="single level"):
        rma(d, mods=["const"])


def test_rank_deficient_is_an_error():
    d = shared_data("bcg")
    d["ablat2"] = 2 * d["ablat"]
    with pytest.raises(DataError, match="linearly dependent.*ablat"):
        rma(d, mods="~ ablat + ablat2")
    with pytest.raises(DataError, match="linearly dependent"):
        check_full_rank(np.column_stack([np.ones(4), [1, 2, 3, 4], [2, 4, 6, 8]]))
    d["zero"] = 0.0
    with pytest.raises(DataError, match="zero"):
        rma(d, mods=["ablat", "zero"])


def test_too_few_studies_for_moderators():
    d = shared_data("bcg").iloc[:4]
    with pytest.raises(TooFewStudiesError):
        rma(d, mods="~ ablat + year + tpos", method="REML")  # k = 4, p = 4
    with pytest.raises(TooFewStudiesError):
        fit_arrays(np.arange(3.0), np.ones(3), np.column_stack([np.ones(3), [0, 1, 2],
                                                                 [0, 1, 5]]))


def test_unknown_moderator_column():
    with pytest.raises(DataError, match="'latitude'.*not in the data"):
        rma(shared_data("bcg"), mods="~ latitude")
    with pytest.raises(DataError, match="'latitude'"):
        rma(shared_data("bcg"), mods=["latitude"])


def test_build_design_intercept_only():
    des = build_design(shared_data("bcg"), None)
    assert des.terms == ["intrcpt"] and des.X.shape == (13, 1) and des.keep.all()


def test_r2_is_none_without_intercept_or_moderators():
    assert rma(shared_data("bcg")).r2 is None
    assert rma(shared_data("bcg"), mods="~ ablat").r2 is not None


def test_all_missing_moderator_names_the_column():
    dat = shared_data("bcg")
    dat["ablat"] = np.nan
    with pytest.raises(DataError, match="column 'ablat' \\(moderator\\) has no values") as err:
        build_design(dat, "~ ablat")
    assert err.value.column == "ablat"


def test_numbers_mixed_with_text_in_a_moderator_are_not_read_as_a_factor():
    dat = shared_data("bcg")
    dat["ablat"] = dat["ablat"].astype(object).where(dat.index != 2, "x")
    with pytest.raises(DataError, match=r"'ablat'.*mixes numbers and text; row 2 "
                       r"\(study 'Rosenthal et al'\) has value 'x'") as err:
        rma(dat, mods="~ ablat")
    assert err.value.rows == [2]
    with pytest.raises(DataError, match="mixes numbers and text"):
        build_design(dat, ["ablat"])
    # asking for a factor explicitly is allowed
    assert "C(ablat)[T.x]" in build_design(dat, "~ C(ablat)").terms


def test_formula_parse_error_has_no_terminal_colour_codes():
    with pytest.raises(DataError, match="cannot parse the moderator formula") as err:
        build_design(shared_data("bcg"), "~ ablat +")
    assert "\x1b" not in str(err.value) and "\n" not in str(err.value)

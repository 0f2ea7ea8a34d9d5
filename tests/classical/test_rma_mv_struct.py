"""Multivariate ``rma_mv(random="~ inner | outer", struct=...)`` against metafor 3.8 ``rma.mv``.

References: ``tests/reference/rma_mv/make_rma_mv_reference.R`` (berkey1998 with known V and
with diagonal vi, kalaian1996 with V from vcalc, ishak2007 in long format, a simulated
three-outcome data set; CS, HCS, UN, DIAG, ID; REML and ML).

Tolerances: coefficients 1e-6 and variance components 1e-5 (relative), rho 1e-5 (absolute),
logLik 1e-6. metafor's optimiser (nlminb, rel.tol = 1e-10) sometimes stops short of the
optimum: where bayesma's log-likelihood exceeds metafor's by more than 1e-11 (so metafor's
estimates are not the maximiser), the tolerances are 5e-5 and bayesma must be at least as
good as metafor. Variances at the boundary (tau² -> 0) compare absolutely (1e-9), and a
correlation whose variances are ~0 is not identified and is not compared.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesma.classical.multilevel import rma_mv
from bayesma.classical.multilevel.structured import StructModel
from bayesma.classical.multilevel.structures import Structure, split_struct_random
from bayesma.errors import DataError, SpecError

REF = Path(__file__).parent.parent / "reference" / "rma_mv"
DATASETS = {
    "berkey1998": ("outcome", "trial"),
    "kalaian1996": ("outcome", "study"),
    "ishak2007": ("time", "study"),
    "simulated3": ("outcome", "study"),
}
FILES = {"ishak2007": "ishak2007_long.csv"}


@cache
def _reference() -> dict:
    return json.loads((REF / "rma_mv_reference.json").read_text())


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / FILES.get(name, f"{name}.csv"))


def _mods(name: str, vk: str) -> str | None:
    if name == "simulated3" and vk == "vi":
        return "~ outcome + x"
    if name == "kalaian1996" and vk == "vi":
        return None
    return f"~ {DATASETS[name][0]} - 1"


def _fit(key: str):
    name, vk, struct, method = key.split("_")
    inner, outer = DATASETS[name]
    kw = {"V": np.array(_reference()["V"][name])} if vk == "V" else {}
    return rma_mv(
        _data(name),
        mods=_mods(name, vk),
        random=f"~ {inner} | {outer}",
        struct=struct,
        method=method,
        **kw,
    )


def _rho_vector(fit) -> np.ndarray:
    """rho in metafor's order (UN: lower triangle by column)."""
    if isinstance(fit.rho, pd.DataFrame):
        R = fit.rho.to_numpy()
        n = R.shape[0]
        return np.array([R[i, j] for j in range(n) for i in range(j + 1, n)])
    return np.atleast_1d(0.0 if fit.rho is None else fit.rho)


def _close(actual, expected, rtol, atol=0.0, what=""):
    a = np.atleast_1d(np.asarray(actual, dtype=float))
    e = np.atleast_1d(np.asarray(expected, dtype=float))
    assert a.shape == e.shape, f"{what}: shape {a.shape} vs {e.shape}"
    err = np.abs(a - e)
    ok = err <= rtol * np.abs(e) + atol
    assert ok.all(), f"{what}: {a} vs metafor {e} (max abs err {err.max():.3g})"


@pytest.mark.parametrize("key", sorted(_reference()["fits"]))
def test_struct_matches_metafor(key):
    ref = _reference()["fits"][key]
    fit = _fit(key)
    assert fit.struct == ref["struct"]
    assert fit.method == ref["method"]
    assert (fit.k, fit.p) == (ref["k"], ref["p"])
    assert [str(v) for v in fit.inner_levels] == ref["g_levels"]
    assert fit.outer_nlevels == ref["outer_nlevels"]
    gain = fit.ll - ref["logLik"]
    # never worse than metafor; within 1e-6 relative of its logLik
    assert gain > -1e-10 * max(1.0, abs(ref["logLik"])), f"ll {fit.ll} < metafor {ref['logLik']}"
    _close(fit.ll, ref["logLik"], 1e-6, 1e-9, "logLik")
    short = gain > 1e-11  # metafor stopped before the optimum
    rc = 5e-5 if short else 1e-6
    rv = 5e-5 if short else 1e-5
    c = fit.coef
    _close(fit.beta, ref["b"], rc, 1e-9, "b")
    _close(c["se"], ref["se"], rc, 1e-9, "se")
    _close(c["stat"], ref["zval"], rc, 1e-7, "zval")
    # p-values amplify small errors of z: 1e-5
    _close(c["pval"], ref["pval"], 1e-5 if not short else 5e-4, 1e-12, "pval")
    _close(c["ci_low"], ref["ci.lb"], rc, 1e-8, "ci.lb")
    _close(c["ci_high"], ref["ci.ub"], rc, 1e-8, "ci.ub")
    t2 = np.atleast_1d(ref["tau2"])
    mine = fit.tau2[:1] if t2.size == 1 else fit.tau2
    _close(mine, t2, rv, 1e-9, "tau2")
    if ref["struct"] in ("CS", "ID"):
        assert np.all(fit.tau2 == fit.tau2[0])  # one variance, repeated per level
    if ref["struct"] in ("DIAG", "ID"):
        assert fit.rho is None
    elif np.min(t2) > 1e-6:
        _close(_rho_vector(fit), ref["rho"], 0.0, 1e-5 if not short else 5e-5, "rho")
    _close(fit.q, ref["QE"], 1e-6, 0, "QE")
    assert fit.q_df == ref["QEdf"]
    _close(fit.qm, ref["QM"], rc if not short else 1e-4, 1e-8, "QM")
    assert fit.qm_df == ref["QMdf"]
    _close(fit.fit_stats[fit.method].to_numpy(), ref["fit_stats"], 1e-6, 1e-8, "fitstats")
    assert fit.converged


def test_un_is_at_the_optimum_and_beats_metafor():
    """At an interior UN optimum the gradient in the entries of G vanishes."""
    fit = _fit("berkey1998_vi_UN_REML")
    d = _data("berkey1998")
    model = StructModel(
        d["yi"].to_numpy(),
        fit.X,
        fit.sampling_cov(),
        fit.inner_codes,
        fit.outer_codes,
        2,
        fit.blocks,
    )
    rows, cols = np.triu_indices(2)
    ev = model.evaluate(fit.G[rows, cols], reml=True, grad=True)
    assert np.max(np.abs(ev.grad)) < 1e-6
    assert ev.ll == pytest.approx(fit.ll, rel=1e-12)
    assert fit.ll >= _reference()["fits"]["berkey1998_vi_UN_REML"]["logLik"]


def test_struct_gradient_matches_finite_differences():
    fit = _fit("simulated3_V_UN_REML")
    d = _data("simulated3")
    model = StructModel(
        d["yi"].to_numpy(),
        fit.X,
        fit.sampling_cov(),
        fit.inner_codes,
        fit.outer_codes,
        3,
        fit.blocks,
    )
    w = np.array([0.02, 0.005, -0.003, 0.05, 0.01, 0.04])
    g = model.evaluate(w, reml=True, grad=True).grad
    h = 1e-6
    for i in range(w.size):
        e = np.zeros_like(w)
        e[i] = h
        fd = (model.evaluate(w + e).ll - model.evaluate(w - e).ll) / (2 * h)
        assert g[i] == pytest.approx(fd, rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("name", ["CS", "HCS", "UN", "DIAG", "ID"])
def test_structure_jacobian_matches_finite_differences(name):
    s = Structure(name, 3)
    rng = np.random.default_rng(1)
    th = rng.normal(scale=0.5, size=s.n_par)
    _, J = s.cov_and_jacobian(th)
    for i in range(s.n_par):
        e = np.zeros(s.n_par)
        e[i] = 1e-6
        fd = (s.cov(th + e) - s.cov(th - e)) / 2e-6
        np.testing.assert_allclose(J[i], fd, rtol=1e-6, atol=1e-9)


def test_tau2_and_rho_layout():
    fit = _fit("simulated3_V_UN_REML")
    assert fit.tau2.shape == (3,)
    assert list(fit.rho.index) == ["A", "B", "C"]
    np.testing.assert_allclose(np.diag(fit.rho), 1.0)
    np.testing.assert_allclose(fit.G, fit.G.T)
    np.testing.assert_allclose(np.diag(fit.G), fit.tau2)
    cs = _fit("berkey1998_V_CS_REML")
    assert isinstance(cs.rho, float)
    assert cs.tau2.shape == (2,)


def test_printout_and_frame():
    fit = _fit("berkey1998_V_UN_REML")
    txt = fit.summary()
    assert "outer factor: trial (nlvls = 5)" in txt
    assert "inner factor: outcome (nlvls = 2)" in txt
    assert "tau^2.1" in txt
    assert "struct=UN" in repr(fit)
    row = fit.to_frame().iloc[0]
    assert row["struct"] == "UN"
    assert row["tau2.AL"] == pytest.approx(fit.tau2[0])
    with pytest.raises(SpecError, match="inner level"):
        fit.predict()
    cs = _fit("berkey1998_V_CS_REML")
    pr = cs.predict()
    assert pr["pi_high"].iloc[0] - pr["pred"].iloc[0] > pr["ci_high"].iloc[0] - pr["pred"].iloc[0]
    assert fit.i2_levels is None


def test_marginal_cov_of_struct_fit():
    fit = _fit("berkey1998_V_UN_REML")
    M = fit.marginal_cov()
    # rows 0 and 1 are trial 1's PD and AL: covariance V + G[PD, AL]
    assert M[0, 1] == pytest.approx(fit.V[0, 1] + fit.G[1, 0])
    assert M[0, 2] == 0.0  # different trials
    assert M[0, 0] == pytest.approx(fit.V[0, 0] + fit.G[1, 1])


def test_split_struct_random():
    assert split_struct_random("~ outcome | trial") == ("outcome", "trial")
    assert split_struct_random("~ 1 | trial") is None
    assert split_struct_random("~ 1 | a/b") is None
    with pytest.raises(DataError, match="inner \\| outer"):
        split_struct_random("~ outcome + x | trial")


# ----------------------------------------------------------------------- errors
def test_missing_outcome_names_rows():
    d = _data("berkey1998")
    d.loc[3, "outcome"] = None
    with pytest.raises(DataError, match="'outcome'.*missing") as e:
        rma_mv(d, random="~ outcome | trial", struct="UN")
    assert 3 in e.value.rows


def test_missing_trial_names_rows():
    d = _data("berkey1998")
    d.loc[[2, 5], "trial"] = np.nan
    with pytest.raises(DataError, match="'trial'") as e:
        rma_mv(d, random="~ outcome | trial", struct="CS")
    assert e.value.rows == [2, 5]


def test_single_outcome_says_univariate_suffices():
    d = _data("berkey1998")
    d = d[d["outcome"] == "PD"]
    with pytest.raises(DataError, match="univariate"):
        rma_mv(d, random="~ outcome | trial", struct="UN")


@pytest.mark.parametrize("struct", ["CS", "HCS", "UN"])
def test_one_level_per_cluster_cannot_estimate_rho(struct):
    d = _data("berkey1998")
    d["trial"] = np.arange(len(d))  # every cluster holds a single outcome
    with pytest.raises(DataError, match="single level.*correlation"):
        rma_mv(d, random="~ outcome | trial", struct=struct)


def test_un_needs_every_pair_together():
    d = _data("simulated3")
    # C never occurs with A: drop C from every study that has A
    has_a = set(d.loc[d["outcome"] == "A", "study"])
    d = d[~((d["outcome"] == "C") & d["study"].isin(has_a))]
    with pytest.raises(DataError, match="never together"):
        rma_mv(d, random="~ outcome | study", struct="UN")
    fit = rma_mv(d, random="~ outcome | study", struct="HCS")  # identified
    assert fit.converged


def test_v_not_positive_definite_names_cluster():
    d = _data("berkey1998")
    V = np.array(_reference()["V"]["berkey1998"])
    V[4, 5] = V[5, 4] = 0.01  # trial 3: |covariance| > sqrt(v1 v2)
    with pytest.raises(DataError, match="not positive definite.*trial = 3"):
        rma_mv(d, V=V, random="~ outcome | trial", struct="UN")


def test_v_not_positive_definite_names_cluster_nested():
    d = _data("berkey1998")
    V = np.array(_reference()["V"]["berkey1998"])
    V[4, 5] = V[5, 4] = 0.01
    with pytest.raises(DataError, match="not positive definite.*trial = 3"):
        rma_mv(d, V=V, random="~ 1 | trial/outcome")


def test_struct_errors():
    d = _data("berkey1998")
    with pytest.raises(SpecError, match="inner \\| outer"):
        rma_mv(d, random="~ 1 | trial", struct="UN")
    with pytest.raises(SpecError, match="struct must be one of"):
        rma_mv(d, random="~ outcome | trial", struct="AR1")
    with pytest.raises(SpecError, match="sigma2"):
        rma_mv(d, random="~ outcome | trial", struct="UN", sigma2=[0.1])


def test_default_struct_is_cs():
    d = _data("berkey1998")
    fit = rma_mv(d, random="~ outcome | trial", mods="~ outcome - 1")
    assert fit.struct == "CS"
    ref = _reference()["fits"]["berkey1998_vi_CS_REML"]
    _close(fit.ll, ref["logLik"], 1e-6, 0, "ll")

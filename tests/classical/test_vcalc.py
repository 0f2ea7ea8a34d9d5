"""bm.vcalc against metafor 3.8's vcalc (tests/reference/robumeta/make_vcalc.R), and its errors."""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesma as bm
from bayesma.classical.vcalc import NotPositiveDefiniteWarning
from bayesma.errors import DataError, SpecError

REF = Path(__file__).parent.parent / "reference" / "robumeta"
LABELS = ["general", "overt", "covert"]


@cache
def reference() -> dict:
    return json.loads((REF / "vcalc_reference.json").read_text())


@cache
def dataset(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / f"{name}.csv")


def dense(t: dict) -> np.ndarray:
    V = np.zeros((t["k"], t["k"]))
    V[np.array(t["row"]) - 1, np.array(t["col"]) - 1] = t["value"]
    return V


def as_list(x) -> list:
    return x if isinstance(x, list) else [x]


def python_args(args: dict) -> dict:
    args = dict(args)
    if "rho_matrix" in args:
        m = pd.DataFrame(args.pop("rho_matrix"), index=LABELS, columns=LABELS)
        args["rho"] = (args["rho"], m) if "rho" in args else m
    elif isinstance(args.get("rho"), list):
        args["rho"] = tuple(args["rho"])
    return args


def run(data: pd.DataFrame, **kw) -> tuple[np.ndarray, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        V = bm.vcalc("vi", data=data, **kw)
    assert all(issubclass(w.category, NotPositiveDefiniteWarning) for w in caught)
    return V, [str(w.message) for w in caught]


SETUPS = reference()["setups"]


@pytest.mark.parametrize("name", list(SETUPS))
def test_matches_metafor(name):
    s = SETUPS[name]
    V, warned = run(dataset(s["data"]), **python_args(s["args"]))
    R = dense(s["V"])
    np.testing.assert_allclose(V, R, rtol=1e-10, atol=1e-15)
    assert np.array_equal(V != 0, R != 0)
    check_warnings(V, dataset(s["data"])[s["args"]["cluster"]], warned, as_list(s["warnings"]))


def check_warnings(V, cluster, warned, expected):
    """metafor's warnings, plus only clusters whose block is singular to rounding.

    metafor flags a block when its smallest eigenvalue is <= eps; a singular block (two
    identical rows) can come out just above eps in R's arithmetic and go unflagged
    (cluster 4 of the "groups" setup); bayesma's size-scaled tolerance flags it.
    """
    assert set(expected) <= set(warned)
    for msg in set(warned) - set(expected):
        c = msg.rsplit(" ", 1)[1].rstrip(".")
        idx = np.flatnonzero(cluster.astype(str).to_numpy() == c)
        block = V[np.ix_(idx, idx)]
        sd = np.sqrt(np.diag(block))
        assert np.linalg.eigvalsh(block / np.outer(sd, sd)).min() < 1e-12


def test_not_positive_definite_names_the_clusters():
    s = reference()["not_pd"]
    m = pd.DataFrame(s["rho_matrix"], index=LABELS, columns=LABELS)
    V, warned = run(dataset(s["data"]), cluster="study", type="deltype", obs="esid",
                    rho=(s["obs_rho"], m))
    np.testing.assert_allclose(V, dense(s["V"]), rtol=1e-10, atol=1e-15)
    assert warned == as_list(s["warnings"])
    assert warned[0].endswith("in cluster 11.")


def test_dict_rho_equals_matrix_and_arrays_equal_columns():
    dat = dataset("assink2016")
    m = pd.DataFrame([[1, 0.5, 0.3], [0.5, 1, 0.6], [0.3, 0.6, 1]], index=LABELS,
                     columns=LABELS)
    pairs = {("general", "overt"): 0.5, ("general", "covert"): 0.3, ("overt", "covert"): 0.6}
    a, _ = run(dat, cluster="study", type="deltype", obs="esid", rho=(0.5, m))
    b, _ = run(dat, cluster="study", type="deltype", obs="esid", rho=[0.5, pairs])
    np.testing.assert_array_equal(a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotPositiveDefiniteWarning)
        c = bm.vcalc(dat["vi"].to_numpy(), dat["study"].tolist(), type=dat["deltype"],
                     obs=dat["esid"].to_numpy(), rho=(0.5, m))
    np.testing.assert_array_equal(a, c)


def test_constant_correlation_equals_impute_covariance_matrix():
    dat = dataset("assink2016")
    V = bm.vcalc("vi", "study", obs="esid", rho=0.6, data=dat)
    ref = bm.impute_covariance_matrix(dat["vi"], dat["study"], 0.6)
    np.testing.assert_allclose(V, ref, rtol=1e-14)
    np.testing.assert_array_equal(V, V.T)


def test_scalar_vi_is_repeated():
    V = bm.vcalc(0.1, [1, 1, 2], obs=[1, 2, 1], rho=0.5)
    np.testing.assert_allclose(V, [[0.1, 0.05, 0], [0.05, 0.1, 0], [0, 0, 0.1]])


def test_subgroups_are_independent():
    V = bm.vcalc([0.1, 0.2, 0.3], [1, 1, 1], subgroup=["a", "a", "b"], obs=[1, 2, 3], rho=0.5)
    assert V[0, 1] > 0 and V[0, 2] == 0 and V[1, 2] == 0


@pytest.mark.parametrize("kw,err,match", [
    ({"rho": 0.5}, SpecError, "obs="),
    ({"obs": "esid"}, SpecError, "give rho"),
    ({"obs": "esid", "type": "deltype", "rho": 0.5}, SpecError, "within-construct"),
    ({"obs": "esid", "rho": (0.5, 0.2)}, SpecError, "single correlation"),
    ({"obs": "esid", "rho": 1.2}, SpecError, r"\[-1, 1\]"),
    ({"obs": "esid", "rho": "x"}, SpecError, "must be a number"),
    ({"time1": "year"}, SpecError, "phi"),
    ({"time1": "year", "phi": 1.5}, SpecError, "phi"),
    ({"type": "deltype", "rho": pd.DataFrame([[1.0]], index=["general"], columns=["general"])},
     SpecError, "no row/column"),
    ({"type": "deltype", "rho": {("general", "overt"): 0.5}}, SpecError, "no correlation"),
    ({"obs": "nope", "rho": 0.5}, DataError, "'nope' is not in the data"),
    ({"grp2": "esid"}, SpecError, "grp1"),
])
def test_bad_arguments(kw, err, match):
    with pytest.raises(err, match=match):
        bm.vcalc("vi", "study", data=dataset("assink2016"), **kw)


def test_missing_cluster_names_rows():
    dat = dataset("assink2016").copy()
    dat.loc[[3, 7], "study"] = np.nan
    with pytest.raises(DataError, match=r"cluster \('study'\).*\[3, 7\]") as e:
        bm.vcalc("vi", "study", obs="esid", rho=0.5, data=dat)
    assert e.value.rows == [3, 7]


def test_length_mismatch_and_coinciding_groups():
    with pytest.raises(DataError, match="obs has 2 values but vi has 3"):
        bm.vcalc([0.1, 0.2, 0.3], [1, 1, 2], obs=[1, 2], rho=0.5)
    with pytest.raises(DataError, match="groups coincide"):
        bm.vcalc([0.1, 0.2], [1, 1], grp1=[1, 1], grp2=[1, 2])
    with pytest.raises(DataError, match="give the table as data="):
        bm.vcalc("vi", [1, 1, 2])
    with pytest.raises(DataError, match="at least 2 rows"):
        bm.vcalc([0.1], [1])

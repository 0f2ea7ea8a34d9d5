"""The shipped reference values are complete and consistent, a few exact posteriors
regenerate from scratch, and the files equal the external copy when one exists.

The suite reads ``tests/reference/`` (see README.md there). On the project's machine the
same files also live in ``../shared/`` (or ``$BAYESMA_SHARED``); when that folder is present
the in-repo copy must be byte-for-byte identical to it, otherwise the check is skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from compare_reference import compare
from conftest import EXTERNAL_SHARED, IN_REPO
from make_bayes_reference import posterior

#: in-repo subfolder -> folder of the external ``shared`` tree
LAYOUT = {"data": "data", "metafor": "reference", "bayes": "bayes_reference"}
SUFFIX = {"data": "*.csv", "metafor": "*.json", "bayes": "*.json"}


def _names(folder: Path, pattern: str) -> list[str]:
    return sorted(p.name for p in folder.glob(pattern))


def test_every_dataset_has_data_metafor_and_bayes_values():
    data = {Path(n).stem for n in _names(IN_REPO / "data", "*.csv")}
    metafor = {Path(n).stem for n in _names(IN_REPO / "metafor", "*.json")}
    bayes = {Path(n).stem for n in _names(IN_REPO / "bayes", "*.json")}
    assert len(data) >= 11
    assert data == metafor == bayes


@pytest.mark.parametrize("sub", ["metafor", "bayes"])
def test_json_parses_and_names_its_dataset(sub):
    for p in (IN_REPO / sub).glob("*.json"):
        d = json.loads(p.read_text())
        assert d["dataset"] == p.stem


def test_metafor_versions_recorded():
    for p in (IN_REPO / "metafor").glob("*.json"):
        v = json.loads(p.read_text())["versions"]
        assert v["metafor"].startswith("3.8"), (p.name, v)


@pytest.mark.skipif(EXTERNAL_SHARED is None, reason="no ../shared or $BAYESMA_SHARED here")
@pytest.mark.parametrize("sub", sorted(LAYOUT))
def test_in_repo_copy_equals_external_shared(sub):
    ext = EXTERNAL_SHARED / LAYOUT[sub]
    ours = IN_REPO / sub
    assert _names(ext, SUFFIX[sub]) == _names(ours, SUFFIX[sub])
    for name in _names(ext, SUFFIX[sub]):
        assert (ours / name).read_bytes() == (ext / name).read_bytes(), f"{sub}/{name} differs"


def test_reference_values_match_their_data():
    """Every JSON describes the CSV beside it: same k, same yi/vi, in row order."""
    for csv in sorted((IN_REPO / "data").glob("*.csv")):
        d = pd.read_csv(csv)
        meta = json.loads((IN_REPO / "metafor" / f"{csv.stem}.json").read_text())
        bayes = json.loads((IN_REPO / "bayes" / f"{csv.stem}.json").read_text())
        assert meta["k"] == bayes["k"] == len(d), csv.stem
        primary = meta["escalc"]["measures"][meta["escalc"]["primary"]]
        np.testing.assert_allclose(primary["yi"], d["yi"], rtol=1e-15, err_msg=csv.stem)
        np.testing.assert_allclose(primary["vi"], d["vi"], rtol=1e-15, err_msg=csv.stem)
        theta = bayes["results"]["halfnormal_0.5"]["theta"]
        assert [t["yi"] for t in theta] == d["yi"].tolist(), csv.stem


@pytest.mark.parametrize(
    "dataset, prior",
    [("bcg", "halfnormal_0.5"), ("edge_k2", "halfcauchy_0.5"),
     ("edge_k3_homogeneous", "uniform_0_10"), ("molloy2014", "halfcauchy_0.5")],
)
def test_bayes_reference_regenerates(dataset, prior):
    """The independent quadrature script (make_bayes_reference.py) reproduces the shipped
    exact posteriors to 1e-6 relative."""
    new = posterior(pd.read_csv(IN_REPO / "data" / f"{dataset}.csv"), prior)
    shipped = json.loads((IN_REPO / "bayes" / f"{dataset}.json").read_text())["results"][prior]
    diffs: list[str] = []
    compare(shipped, new, "", diffs, 1e-6, 1e-10, [0.0])
    assert not [d for d in diffs if not d.startswith(("quadrature", "software"))], diffs

"""``rma(test="adhoc")`` against metafor 3.8-1, and the small-k warning of ``test="z"``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest
from conftest import assert_close, shared_data

from bayesma.classical.rma import fit_arrays, rma
from bayesma.errors import SmallKWarning

ADHOC = json.loads(
    (Path(__file__).resolve().parents[1] / "reference" / "adhoc" / "adhoc.json").read_text())
CASES = sorted(k for k in ADHOC if not k.startswith("_"))


@pytest.fixture(scope="module")
def fits():
    out = {}
    for key in CASES:
        ref = ADHOC[key]
        mods = None if ref["mods"] is None else f"~ {ref['mods']}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # metafor too drops rows with missing moderators
            out[key] = rma(shared_data(ref["data"]), method=ref["method"], test=ref["test"],
                           mods=mods)
    return out


@pytest.mark.parametrize("key", CASES)
def test_matches_metafor(fits, key):
    ref, res = ADHOC[key], fits[key]
    assert res.test == ref["test"]
    assert res.df == ref["dfs"]
    assert_close(res.tau2, ref["tau2"], what="tau2")
    assert_close(res.scale, ref["s2w"], what="s2w")
    c = res.coef_values
    for j, name in enumerate(("beta", "se", "zval", "pval", "ci_lb", "ci_ub")):
        assert_close(c[:, j], ref[name], what=name)
    if ref["mods"] is None:
        assert_close([res.pi_low, res.pi_high], ref["pi"], what="pi")
    else:
        assert_close(res.qm, ref["QM"], what="QM")
        assert_close(res.qm_pval, ref["QMp"], what="QMp")
        assert list(res.qm_df) == ref["QMdf"]


def test_truncation_bites_where_s2_is_below_one(fits):
    # hackshaw1998: the Knapp-Hartung factor is below 1, so adhoc = t-test SEs, wider
    for mods in ("1", "year"):
        adhoc = fits[f"hackshaw1998_{mods}_REML_adhoc"]
        knha = fits[f"hackshaw1998_{mods}_REML_knha"]
        assert knha.scale < 1 and adhoc.scale == 1
        assert (adhoc.coef_values[:, 1] > knha.coef_values[:, 1]).all()
    # bcg: the factor is above 1, so adhoc = knha
    bcg = fits["bcg_ablat_REML_adhoc"].coef_values
    assert (bcg == fits["bcg_ablat_REML_knha"].coef_values).all()


def test_z_with_few_studies_warns():
    d = pd.DataFrame({"yi": [0.1, 0.5, 0.9, 0.2], "vi": [0.04, 0.05, 0.03, 0.06]})
    with pytest.warns(SmallKWarning, match=r"k = 4.*knha"):
        rma(d)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallKWarning)
        rma(d, test="knha")
        rma(d, test="adhoc")
        rma(pd.concat([d, d.iloc[:1]], ignore_index=True))  # k = 5
        fit_arrays(d["yi"], d["vi"])  # arrays: the engine of refits, no warning

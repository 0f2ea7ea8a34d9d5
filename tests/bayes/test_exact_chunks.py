"""The exact engine's summary computed in chunks of rows (bounded memory, issue 16)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesma as bm
from bayesma.bayes import accessors


@pytest.mark.parametrize("mods", [None, "~ ablat + year"])
def test_chunked_summary_equals_one_chunk(monkeypatch, mods):
    post = bm.exact_posterior(bm.datasets.load("bcg"), mods=mods, classical=None)
    whole = post.summary()
    monkeypatch.setattr(accessors, "CHUNK_ROWS", 3)  # 13 studies: chunks of 3, 3, 3, 3, 1
    chunked = post.summary()
    assert list(chunked.index) == list(whole.index)
    pd.testing.assert_frame_equal(chunked, whole, check_exact=False, rtol=1e-12, atol=1e-14)
    assert np.isfinite(chunked.loc["theta[Comstock et al (2)]", "hdi_low"])

"""bayesma.transforms against metafor 3.8.1's transf.* (tests/reference/escalc/make_escalc.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bayesma import transforms as tr
from bayesma.errors import BayesmaError

T = json.loads((Path(__file__).parent / "reference" / "escalc" / "transforms.json").read_text())[
    "transforms"
]


def _a(key: str) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in T[key]], dtype=float)


@pytest.mark.parametrize("name", ["ilogit", "ztor", "exp", "iarcsin", "isqrt", "iahw", "iabt"])
def test_one_argument_transforms_match_metafor(name: str) -> None:
    got = getattr(tr, f"transf_{name}")(_a("x"))
    np.testing.assert_allclose(got, _a(name), rtol=1e-12, atol=1e-15)


def test_size_dependent_transforms_match_metafor() -> None:
    np.testing.assert_allclose(tr.transf_ipft(_a("x"), _a("ni")), _a("ipft"), rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(tr.transf_ipft_hm(_a("x"), _a("ni")), _a("ipft_hm"),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(tr.transf_iirft(_a("xs"), _a("ti")), _a("iirft"), rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(tr.transf_pft([0, 0.1, 0.5, 1], [10, 20, 30, 40]), _a("pft"),
                               rtol=1e-12)
    np.testing.assert_allclose(tr.transf_irft([0, 0.1, 0.5, 2], [10, 20, 30, 40]), _a("irft"),
                               rtol=1e-12)
    np.testing.assert_allclose(tr.transf_logit([0.1, 0.5, 0.9]), _a("logit"), atol=1e-15)
    np.testing.assert_allclose(tr.transf_rtoz([-0.5, 0, 0.7]), _a("rtoz"), atol=1e-15)


def test_ipft_inverts_pft_for_every_proportion() -> None:
    p = np.linspace(0, 1, 11)
    np.testing.assert_allclose(tr.transf_ipft(tr.transf_pft(p, 37), 37), p, atol=1e-12)


def test_harmonic_mean_rejects_bad_sizes() -> None:
    assert tr.harmonic_mean([10, 40]) == pytest.approx(16.0)
    with pytest.raises(BayesmaError, match="ni must be finite numbers > 0"):
        tr.harmonic_mean([10, 0])

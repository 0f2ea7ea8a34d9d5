"""The measures registry: one answer per measure for scale, names and back-transforms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bayesma.effect_sizes import MEASURES
from bayesma.measures import (
    LOG_SCALE_MEASURES,
    REGISTRY,
    back_transform,
    favours_labels,
    get_measure,
    is_log_scale,
)


def test_every_escalc_measure_is_registered():
    assert set(MEASURES) <= set(REGISTRY)


@pytest.mark.parametrize("code", ["OR", "RR", "ROM", "PETO", "HR", "IRR"])
def test_ratio_measures_are_log_scale_with_null_one(code):
    m = get_measure(code)
    assert m.log_scale and is_log_scale(code.lower())
    assert code in LOG_SCALE_MEASURES
    assert m.natural_null == 1.0
    assert math.isclose(back_transform(code, math.log(2.0)), 2.0, rel_tol=1e-15)
    assert m.analysis_label == f"log {m.short}"


@pytest.mark.parametrize("code", ["MD", "SMD", "SMDH", "RD", "COR", "ZCOR", "GEN"])
def test_difference_measures_are_linear(code):
    m = get_measure(code)
    assert not m.log_scale and m.natural_null == 0.0
    assert code not in LOG_SCALE_MEASURES
    assert back_transform(code, 0.3) == pytest.approx(0.3)


def test_back_transform_keeps_shape_and_scalars():
    out = back_transform("RR", np.array([[0.0, np.log(3.0)]]))
    assert out.shape == (1, 2)
    np.testing.assert_allclose(out, [[1.0, 3.0]])
    assert isinstance(back_transform("RR", 0.0), float)


def test_unknown_and_missing_codes_are_generic():
    m = get_measure("logHR")
    assert m.short == "logHR" and not m.log_scale
    assert get_measure(None).code == "GEN"
    assert get_measure("").code == "GEN"


def test_favours_labels_follow_the_direction_of_benefit():
    assert favours_labels("RR") == ("Favours treatment", "Favours control")
    assert favours_labels("SMD", lower_is_better=False) == ("Favours control",
                                                             "Favours treatment")
    assert favours_labels(treatment="e-health", control="usual care")[0] == "Favours e-health"


# --- issue 13: every escalc measure has a back-transform (metafor's transf.*) ---------


@pytest.mark.parametrize(
    ("code", "x", "natural"),
    [
        ("PLO", 0.0, 0.5),  # transf.ilogit
        ("PLN", math.log(0.25), 0.25),  # exp
        ("PAS", math.asin(math.sqrt(0.3)), 0.3),  # transf.iarcsin
        ("PR", 0.3, 0.3),
        ("IRLN", math.log(0.02), 0.02),
        ("IRS", math.sqrt(0.04), 0.04),  # transf.isqrt
        ("IRR", math.log(1.5), 1.5),
        ("ZPCOR", math.atanh(0.4), 0.4),  # transf.ztor
        ("ZCOR", 0.3, 0.3),  # analysed and shown as z (existing behaviour)
        ("AHW", 1 - (1 - 0.8) ** (1 / 3), 0.8),  # transf.iahw
        ("ABT", -math.log(1 - 0.8), 0.8),  # transf.iabt
        ("MNLN", math.log(12.0), 12.0),
        ("CVR", math.log(1.2), 1.2),
        ("D2ORL", math.log(2.0), 2.0),
        ("SMCC", 0.4, 0.4),
        ("OR2DN", 0.4, 0.4),  # an SMD, not a log odds ratio
    ],
)
def test_new_measures_back_transform(code: str, x: float, natural: float) -> None:
    assert get_measure(code).back(x) == pytest.approx(natural, rel=1e-12)


def test_every_measure_has_a_known_transform() -> None:
    from bayesma.measures import TRANSFORMS

    for code, m in REGISTRY.items():
        assert m.transform in TRANSFORMS, code
        assert math.isfinite(m.natural_null), code


def test_freeman_tukey_back_transform_needs_the_sizes() -> None:
    from bayesma.errors import BayesmaError
    from bayesma.transforms import transf_iirft, transf_ipft_hm

    pft = get_measure("PFT")
    assert pft.needs_sizes == "ni" and pft.natural_null == 0.0
    with pytest.raises(BayesmaError, match="needs the study sizes ni"):
        pft.back(0.5)
    ni = [12, 40, 33]
    want = float(transf_ipft_hm(0.5, ni))
    assert pft.back(0.5, ni=ni) == pytest.approx(want, rel=1e-15)
    bound = pft.with_sizes(ni)
    assert bound.back(0.5) == pytest.approx(want, rel=1e-15)
    np.testing.assert_allclose(bound.back(np.array([0.5, 0.6])),
                               transf_ipft_hm(np.array([0.5, 0.6]), ni))
    irft = get_measure("IRFT")
    with pytest.raises(BayesmaError, match="person-times ti"):
        irft.back(0.2)
    ti = [100.0, 400.0]
    assert irft.back(0.2, ti=ti) == pytest.approx(float(transf_iirft(0.2, 160.0)), rel=1e-15)

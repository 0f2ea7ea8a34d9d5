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

"""Priors from spec mappings: every check the spec layer needs, with key paths."""

from __future__ import annotations

import pytest

import bayesma.priors as P
from bayesma.errors import SpecError
from bayesma.priors import prior_from_spec


def test_family_with_source():
    p = prior_from_spec({"family": "HalfNormal", "sigma": 0.3,
                         "source": "Röver et al. 2021: weakly informative for log OR"},
                        role="tau", where="priors.tau")
    assert p == P.HalfNormal(0.3)
    assert p.source.startswith("Röver")
    assert P.HalfNormal.from_spec({"sigma": 1}) == P.HalfNormal(1.0)


@pytest.mark.parametrize("prior", [cls() for n, cls in P.PRIOR_FAMILIES.items()], ids=str)
def test_spec_round_trip(prior):
    assert prior_from_spec(prior.spec()) == prior


def test_unknown_family_suggests():
    with pytest.raises(SpecError, match=r"priors\.tau\.family: unknown prior family "
                                        r"'HalfNormall'; did you mean 'HalfNormal'\?") as e:
        prior_from_spec({"family": "HalfNormall", "sigma": 1}, where="priors.tau")
    assert e.value.path == ("family",)
    assert "unknown prior family" in e.value.reason


def test_unknown_parameter_suggests():
    with pytest.raises(SpecError, match=r"priors\.tau\.sigmaa: HalfNormal has no parameter "
                                        r"'sigmaa'; did you mean 'sigma'\?") as e:
        prior_from_spec({"family": "HalfNormal", "sigmaa": 1}, where="priors.tau")
    assert e.value.path == ("sigmaa",)


@pytest.mark.parametrize("value", ["0.5", True, [0.5], None])
def test_parameter_must_be_a_number(value):
    with pytest.raises(SpecError, match=r"priors\.mu\.sigma: must be a number"):
        prior_from_spec({"family": "Normal", "sigma": value}, where="priors.mu")


def test_scale_must_be_positive():
    with pytest.raises(SpecError, match=r"priors\.tau: HalfCauchy: beta must be > 0") as e:
        prior_from_spec({"family": "HalfCauchy", "beta": -1}, where="priors.tau")
    assert e.value.path == ()


def test_source_must_be_text():
    with pytest.raises(SpecError, match=r"p\.source: must be a string"):
        prior_from_spec({"family": "Normal", "source": 3}, where="p")


@pytest.mark.parametrize("cfg", [{}, {"family": "Normal", "preset": "turner2015"}])
def test_exactly_one_of_family_and_preset(cfg):
    with pytest.raises(SpecError, match="exactly one of 'family' and 'preset'"):
        prior_from_spec(cfg)


def test_not_a_table():
    with pytest.raises(SpecError, match="a prior must be a table"):
        prior_from_spec("HalfNormal(0.5)", where="priors.tau")


def test_role_checks():
    with pytest.raises(SpecError, match=r"priors\.mu: HalfNormal\(sigma=0\.5\) is not a prior "
                                        r"for mu \(a location\)") as e:
        prior_from_spec({"family": "HalfNormal", "sigma": 0.5}, role="mu", where="priors.mu")
    assert "Normal" in e.value.hint
    with pytest.raises(SpecError, match="not a prior for the heterogeneity tau") as e:
        prior_from_spec({"family": "Normal"}, role="tau")
    assert "HalfNormal" in e.value.hint and "Normal" in e.value.hint
    assert prior_from_spec({"family": "Cauchy"}, role="beta") == P.Cauchy()
    assert P.families_for("beta") == ["Normal", "StudentT", "Cauchy", "Flat"]
    assert "Jeffreys" in P.families_for("tau")


def test_presets():
    t = prior_from_spec({"preset": "turner2015", "outcome": "all-cause mortality",
                         "comparison": "pharmacological vs placebo/control"}, role="tau")
    assert t == P.turner2015("all-cause mortality", "pharmacological vs placebo/control")
    r = prior_from_spec({"preset": "rhodes2015", "outcome": "mental health",
                         "comparison": "non-pharmacological", "area": "cancer"}, role="tau")
    assert r == P.rhodes2015("mental health", "non-pharmacological", area="cancer")
    mu = prior_from_spec({"preset": "bartos2021"}, role="mu", measure="OR")
    assert mu == P.bartos2021("OR")["mu"]
    tau = prior_from_spec({"preset": "bartos2021", "measure": "SMD"}, role="tau", measure="OR")
    assert tau == P.bartos2021("SMD")["tau"]


def test_preset_source_keeps_citation():
    p = prior_from_spec({"preset": "turner2015", "source": "our protocol, section 4"},
                        role="tau")
    assert p.source.startswith("our protocol, section 4 (Turner RM")


def test_preset_errors():
    with pytest.raises(SpecError, match=r"t\.preset: unknown prior preset 'turner2016'; "
                                        r"did you mean 'turner2015'\?"):
        prior_from_spec({"preset": "turner2016"}, where="t")
    with pytest.raises(SpecError, match=r"t\.outcom: preset rhodes2015 has no argument "
                                        r"'outcom'; did you mean 'outcome'\?"):
        prior_from_spec({"preset": "rhodes2015", "outcom": "pain"}, where="t")
    with pytest.raises(SpecError, match=r"t\.outcome: must be a string"):
        prior_from_spec({"preset": "turner2015", "outcome": 3}, where="t")
    with pytest.raises(SpecError, match=r"t\.preset: turner2015 is a prior on tau, not on mu"):
        prior_from_spec({"preset": "turner2015"}, role="mu", where="t")
    with pytest.raises(SpecError, match=r"^t: "):  # the preset's own error, located
        prior_from_spec({"preset": "turner2015", "outcome": "no such outcome",
                         "comparison": "pharmacological vs placebo/control"}, where="t")


def test_presets_registry():
    assert set(P.PRESETS) == {"turner2015", "rhodes2015", "bartos2021"}
    assert P.PRESETS["rhodes2015"].arguments == ("outcome", "comparison", "area")
    assert P.PRESETS["bartos2021"].roles == ("tau", "mu", "beta")

"""Spec keys of issues 11-13: dependent-effects model types (multilevel, multivariate,
rve), tau priors per level, ``[bias]`` models, ``[classical] pooling`` and
``[[effect.convert]]``: what they parse to and the located errors they raise."""

from __future__ import annotations

import re

import pytest

from bayesma.errors import SpecError
from bayesma.spec import parse_spec
from bayesma.spec.schema import SCHEMA

ML = """\
title = "three-level"

[data]
dataset = "konstantopoulos2011"

[effect]
measure = "SMD"
yi = "yi"
vi = "vi"

[model]
type = "multilevel"
random = "~ 1 | district/school"

[priors]
mu = { family = "Normal", mu = 0, sigma = 1 }

[priors.tau]
district = { family = "HalfNormal", sigma = 0.5 }
school = { family = "HalfNormal", sigma = 0.3 }
"""

BCG = """\
title = "bcg"

[data]
dataset = "bcg"

[effect]
measure = "RR"
ai = "tpos"
bi = "tneg"
ci = "cpos"
di = "cneg"
label = "author"
"""


def _err(text: str) -> SpecError:
    with pytest.raises(SpecError) as e:
        parse_spec(text, path="t.toml")
    return e.value


def _line(text: str, pattern: str) -> int:
    for i, line in enumerate(text.splitlines(), start=1):
        if re.search(pattern, line):
            return i
    raise AssertionError(pattern)


def test_multilevel_from_random_formula():
    o = parse_spec(ML).outcomes[0]
    dep = o.dependent
    assert dep["cluster"] == "district" and dep["effect_id"] == "school"
    assert dep["random"] == "~ 1 | district/school"
    assert list(o.tau_levels) == ["district", "school"]
    assert o.tau_levels["school"].describe() == "HalfNormal(sigma=0.3)"
    assert o.prior_origin["tau"] == "spec"


def test_multilevel_from_cluster_adds_an_effect_id_column():
    text = ML.replace('random = "~ 1 | district/school"', 'cluster = "district"').replace(
        "school = {", "esid = {")
    o = parse_spec(text).outcomes[0]
    assert o.dependent["random"] == "~ 1 | district/esid"
    assert o.data["esid"].tolist()[:3] == ["1", "2", "3"]
    assert o.data["esid"].is_unique


def test_one_tau_prior_for_every_level_and_defaults():
    text = ML.split("[priors.tau]")[0] + 'tau = { family = "HalfCauchy", beta = 0.2 }\n'
    o = parse_spec(text).outcomes[0]
    assert {p.describe() for p in o.tau_levels.values()} == {"HalfCauchy(beta=0.2)"}
    o2 = parse_spec(ML.split("[priors.tau]")[0]).outcomes[0]
    assert set(o2.tau_levels) == {"district", "school"}
    assert o2.prior_origin["tau"] == "default"


def test_tau_prior_level_not_in_the_model_names_line_and_suggests():
    text = ML.replace("school = {", "schol = {")
    e = _err(text)
    assert f"line {_line(text, '^schol')}" in str(e)
    assert "did you mean 'school'" in str(e)


def test_tau_prior_map_only_for_dependent_models():
    text = BCG + '\n[priors.tau]\na = { family = "HalfNormal", sigma = 0.5 }\n'
    e = _err(text)
    assert "priors.tau" in str(e) and "multilevel" in str(e)


@pytest.mark.parametrize("change, message", [
    (('random = "~ 1 | district/school"', 'random = "~ 1 | district"'), "two nested levels"),
    (('random = "~ 1 | district/school"', 'cluster = "distrct"'), "did you mean 'district'"),
    (('random = "~ 1 | district/school"', 'type = "multilevel"'), "already"),
])
def test_multilevel_errors(change, message):
    text = ML.replace(*change)
    if message == "already":
        text = ML.replace('type = "multilevel"\n', 'type = "multilevel"\ncluster = "district"\n')
        message = "either random or cluster"
    e = _err(text)
    assert message in str(e), str(e)


def test_one_effect_per_cluster_says_two_levels_suffice():
    text = ML.replace('random = "~ 1 | district/school"', 'random = "~ 1 | study/school"')
    e = _err(text)
    assert "two-level model suffices" in str(e)


def test_missing_cluster_ids_name_the_rows(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("study,yi,vi\na,0.1,0.01\n,0.2,0.02\nb,0.3,0.01\nb,0.1,0.02\n")
    text = (ML.replace('dataset = "konstantopoulos2011"', f'path = "{csv.name}"')
            .replace('random = "~ 1 | district/school"', 'cluster = "study"')
            .split("[priors.tau]")[0])
    with pytest.raises(SpecError) as e:
        parse_spec(text, base_dir=tmp_path, path="t.toml")
    assert "missing ids" in str(e.value) and "row 1" in str(e.value)


def test_rve_and_multivariate_settings():
    rve = ML.replace('type = "multilevel"\nrandom = "~ 1 | district/school"',
                     'type = "rve"\ncluster = "district"\nrho = 0.6\nmodelweights = "HIER"'
                     ).split("[priors.tau]")[0]
    o = parse_spec(rve).outcomes[0]
    assert o.model["rho"] == 0.6 and o.model["modelweights"] == "HIER"
    assert o.model["small"] is True
    assert list(o.model["rho_sensitivity"]) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert o.dependent["cluster"] == "district" and o.tau_levels == {}
    # rve keys on another model type
    e = _err(ML.replace('random = "~ 1 | district/school"',
                        'random = "~ 1 | district/school"\nrho = 0.5'))
    assert "rho is for type = 'rve'" in str(e)
    e = _err(rve.replace("rho = 0.6", "rho = 1.5"))
    assert "must be <= 1" in str(e)
    e = _err(rve.replace("rho = 0.6", 'rho_sensitivity = [0.2, "x"]'))
    assert "list of numbers" in str(e)


def test_multivariate_needs_outcome_and_mcmc(tmp_path):
    csv = tmp_path / "mv.csv"
    csv.write_text("trial,outcome,yi,vi\n1,PD,0.4,0.01\n1,AL,-0.3,0.01\n2,PD,0.5,0.02\n"
                   "2,AL,-0.2,0.02\n3,PD,0.3,0.01\n")
    base = f"""\
[data]
path = "{csv.name}"
[effect]
measure = "MD"
yi = "yi"
vi = "vi"
[model]
type = "multivariate"
cluster = "trial"
outcome = "outcome"
[sampler]
engine = "mcmc"
"""
    o = parse_spec(base, base_dir=tmp_path).outcomes[0]
    assert o.dependent["levels"] == ["PD", "AL"] and set(o.tau_levels) == {"PD", "AL"}
    assert o.model["struct"] == "UN"
    with pytest.raises(SpecError, match="no exact engine"):
        parse_spec(base.replace('engine = "mcmc"', 'engine = "exact"'), base_dir=tmp_path)
    with pytest.raises(SpecError, match="needs outcome"):
        parse_spec(base.replace('outcome = "outcome"\n', ""), base_dir=tmp_path)
    with pytest.raises(SpecError, match="invalid value 'UNN'"):
        parse_spec(base.replace('outcome = "outcome"', 'outcome = "outcome"\nstruct = "UNN"'),
                   base_dir=tmp_path)


def test_bias_models_keys():
    text = BCG + '\n[bias]\nselmodel = ["stepfun", "beta"]\nsteps = [0.05, 0.5, 1]\n' \
        'pet_peese = true\nbma = true\n'
    o = parse_spec(text).outcomes[0]
    assert o.bias["selmodel"] == ["stepfun", "beta"] and o.bias["steps"] == [0.05, 0.5, 1]
    assert o.bias["alternative"] == "greater" and o.bias["robma"] is False
    e = _err(BCG + '\n[bias]\nselmodel = ["stepfn"]\n')
    assert "did you mean 'stepfun'" in str(e)
    e = _err(BCG + '\n[bias]\nselmodel = ["beta"]\nsteps = [0.025, 1]\n')
    assert "steps is for selmodel" in str(e)
    text = BCG + '\n[bias]\nselmodel = ["stepfun"]\nsteps = [0.5, 0.025]\n'
    e = _err(text)
    assert "steps must increase" in str(e) and f"line {_line(text, '^steps')}" in str(e)
    e = _err(BCG + '\n[bias]\nrobma_seed = 3\n')
    assert "robma_seed is for robma" in str(e)


def test_pooling_keys():
    o = parse_spec(BCG.replace('"RR"', '"OR"') + '\n[classical]\npooling = ["MH", "Peto"]\n')
    assert o.classical["pooling"] == ["MH", "Peto"] and o.classical["glmm_model"] == "UM.FS"
    e = _err(BCG + '\n[classical]\npooling = ["Peto"]\n'.replace("Peto", "MHH"))
    assert "did you mean 'MH'" in str(e)
    e = _err(BCG + '\n[classical]\npooling = ["Peto"]\n')
    assert "Peto pooling is for measure OR, PETO, not RR" in str(e)
    e = _err(BCG + '\n[classical]\nglmm_model = "UM.RS"\n')
    assert "glmm_model is for pooling" in str(e)
    given = BCG.replace('ai = "tpos"\nbi = "tneg"\nci = "cpos"\ndi = "cneg"\n',
                        'yi = "tpos"\nvi = "tneg"\n').replace('"RR"', '"OR"')
    e = _err(given + '\n[classical]\npooling = ["MH"]\n')
    assert "needs the counts" in str(e)


def test_conversion_entries_are_checked_before_running():
    base = BCG.replace('measure = "RR"', 'measure = "RR"') + "\n[[effect.convert]]\n"
    e = _err(base + 'type = "fivenum"\nmedian = "tpos"\n')
    assert "needs into" in str(e)
    e = _err(base + 'type = "fivenum"\nmedian = "tposs"\ninto = ["a", "b"]\n')
    assert "did you mean 'tpos'" in str(e)
    e = _err(base + 'type = "fivenum"\nci_lb = "tpos"\ninto = ["a", "b"]\n')
    assert "ci_lb is not an argument of a fivenum conversion" in str(e)
    e = _err(base + 'method = "x"\n')
    assert "needs type" in str(e)


def test_every_new_key_is_in_the_schema():
    model = SCHEMA.fields["model"].fields
    for k in ("cluster", "effect_id", "outcome", "random", "within_rho", "struct", "rho",
              "rho_sensitivity", "modelweights", "small"):
        assert k in model, k
    assert {"selmodel", "steps", "alternative", "pet_peese", "bma", "robma"} <= set(
        SCHEMA.fields["bias"].fields)
    assert {"pooling", "glmm_model"} <= set(SCHEMA.fields["classical"].fields)
    assert SCHEMA.fields["effect"].fields["convert"].array

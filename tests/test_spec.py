"""Spec loading and validation (bayesma/spec.py): every kind of error names the key path
and the line; the line index, TOML round trip, overrides and effect-size resolution."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

import bayesma as bm
from bayesma.errors import SpecError
from bayesma.spec import (
    _LineIndex,
    closest,
    dumps_toml,
    format_path,
    load_spec,
    parse_spec,
)

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
SHIPPED = sorted(MODELS.glob("*.toml"))

BASE = """\
title = "test"

[data]
dataset = "bcg"

[effect]
measure = "RR"
ai = "tpos"
bi = "tneg"
ci = "cpos"
di = "cneg"
label = "author"

[model]
type = "random_effects"

[priors]
tau = { family = "HalfNormal", sigma = 0.5 }

[sampler]
engine = "exact"
seed = 1
"""


def _line(text: str, pattern: str) -> int:
    """1-based number of the first line of ``text`` matching ``pattern``."""
    for i, line in enumerate(text.splitlines(), start=1):
        if re.search(pattern, line):
            return i
    raise AssertionError(f"{pattern!r} not in text")


def _err(text: str, tmp_path: Path) -> SpecError:
    p = tmp_path / "spec.toml"
    p.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(p)
    return info.value


def _check(err: SpecError, text: str, pattern: str, key: str, *needles: str) -> None:
    msg = str(err)
    line = _line(text, pattern)
    assert msg.startswith(f"spec.toml, line {line}: {key}:"), msg
    assert err.line == line
    assert err.key == key
    for n in needles:
        assert n in msg, msg


# ------------------------------------------------------------------------ valid specs


def test_base_spec_loads():
    sp = parse_spec(BASE)
    (o,) = sp.outcomes
    assert o.k == 13 and o.measure == "RR" and o.label == "author"
    assert np.allclose(o.data["yi"], bm.datasets.load("bcg")["yi"])
    assert o.priors["tau"] == bm.priors.HalfNormal(0.5)
    assert o.prior_origin == {"mu": "default", "tau": "spec"}
    assert o.priors["mu"] == bm.priors.default_priors("RR")["mu"]
    assert o.participants == int(bm.datasets.load("bcg")[["tpos", "tneg", "cpos", "cneg"]]
                                 .to_numpy().sum())
    assert sp.engine == "exact" and sp.sampler["draws"] == 1000
    assert sp.outputs["report"] is True


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_specs_validate_and_round_trip(path):
    sp = load_spec(path)
    assert sp.outcomes and all(o.k >= 2 for o in sp.outcomes)
    again = tomllib.loads(dumps_toml(sp.raw))
    assert again == sp.raw
    # the spec as run (absolute data path) validates from anywhere
    reloaded = parse_spec(sp.to_toml(), base_dir="/")
    assert [o.k for o in reloaded.outcomes] == [o.k for o in sp.outcomes]


def test_required_shipped_specs_exist():
    names = {p.stem for p in SHIPPED}
    assert {"bcg", "bcg_latitude", "normand1999_smd", "teacher_expectancy",
            "ehealth_cancer"} <= names


def test_overrides_replace_sampler_settings():
    sp = parse_spec(BASE, overrides={"engine": "mcmc", "seed": 7, "draws": 50})
    assert sp.engine == "mcmc" and sp.sampler["seed"] == 7 and sp.sampler["draws"] == 50
    assert sp.overrides == {"engine": "mcmc", "seed": 7, "draws": 50}
    assert "command-line overrides" in sp.to_toml()


def test_smd_from_arm_data_matches_escalc():
    sp = load_spec(MODELS / "normand1999_smd.toml")
    (o,) = sp.outcomes
    ref = bm.escalc("SMD", data=bm.datasets.load("normand1999"), m1i="m1i", sd1i="sd1i",
                    n1i="n1i", m2i="m2i", sd2i="sd2i", n2i="n2i")
    np.testing.assert_allclose(o.data["yi"], ref["yi"], rtol=1e-12)
    np.testing.assert_allclose(o.data["vi"], ref["vi"], rtol=1e-12)
    assert o.priors["tau"] == bm.priors.rhodes2015(
        "resource use and hospital stay", "non-pharmacological vs placebo", area="other")


def test_outcomes_filter_and_override():
    sp = load_spec(MODELS / "ehealth_cancer.toml")
    names = [o.name for o in sp.outcomes]
    assert names == ["Anxiety", "Depression", "Quality of life", "Distress"]
    qol = sp.outcomes[2]
    assert set(qol.raw_data["outcome"]) == {"quality_of_life"}
    assert qol.effect["favours"] == ["Favours usual care", "Favours e-health"]
    assert qol.effect["m1i"] == "m1i"  # inherited columns
    assert qol.priors["tau"] != sp.outcomes[0].priors["tau"]
    assert sp.outcomes[1].model["type"] == "subgroups"
    assert sp.outcomes[0].model["type"] == "random_effects"
    assert qol.participants == int(qol.data[["n1i", "n2i"]].to_numpy().sum())


def test_given_yi_vi_and_sei(tmp_path):
    dat = bm.datasets.load("bcg")
    dat["sei"] = np.sqrt(dat["vi"])
    dat.loc[0, "author"] = "Aronson #1"  # a '#' inside the table is data
    (tmp_path / "d.csv").write_text("# a comment line\n# another\n"
                                    + dat.to_csv(index=False))
    text = BASE.replace('dataset = "bcg"', 'path = "d.csv"').replace(
        'ai = "tpos"\nbi = "tneg"\nci = "cpos"\ndi = "cneg"\n', 'yi = "yi"\nsei = "sei"\n')
    (tmp_path / "s.toml").write_text(text)
    o = load_spec(tmp_path / "s.toml").outcomes[0]
    np.testing.assert_allclose(o.data["vi"], dat["vi"], rtol=1e-12)
    assert o.participants is None
    assert o.data["author"].iloc[0] == "Aronson #1"


# ------------------------------------------------------------------------ errors


def test_unknown_key_suggests_closest(tmp_path):
    text = BASE.replace('measure = "RR"', 'measur = "RR"')
    e = _err(text, tmp_path)
    _check(e, text, "^measur =", "effect.measur", "unknown key", "did you mean 'measure'?")


def test_unknown_section_and_nested_key(tmp_path):
    text = BASE + '\n[sampeler]\ndraws = 10\n'
    e = _err(text, tmp_path)
    _check(e, text, r"^\[sampeler\]", "sampeler", "did you mean 'sampler'?")
    text = BASE + '\n[sensitivity]\nleave_one_out = true\n'
    e = _err(text, tmp_path)
    _check(e, text, "^leave_one_out", "sensitivity.leave_one_out", "did you mean 'leave1out'?")


def test_wrong_type(tmp_path):
    text = BASE.replace("seed = 1", 'seed = 1\ndraws = "many"')
    e = _err(text, tmp_path)
    _check(e, text, "^draws", "sampler.draws", "must be an integer", "'many'")
    text = BASE.replace('type = "random_effects"', "type = 3")
    e = _err(text, tmp_path)
    _check(e, text, "^type = 3", "model.type", "must be a string")
    text = BASE + '\n[bias]\negger = "yes"\n'
    e = _err(text, tmp_path)
    _check(e, text, '^egger = "yes"', "bias.egger", "must be true or false")


def test_invalid_choice(tmp_path):
    text = BASE.replace('engine = "exact"', 'engine = "exakt"')
    e = _err(text, tmp_path)
    _check(e, text, "^engine", "sampler.engine", "did you mean 'exact'?")


def test_out_of_range(tmp_path):
    text = BASE.replace('type = "random_effects"', 'type = "random_effects"\nlevel = 1.5')
    e = _err(text, tmp_path)
    _check(e, text, "^level", "model.level", "must be <= 0.999")


def test_missing_data_file(tmp_path):
    text = BASE.replace('dataset = "bcg"', 'path = "nowhere.csv"')
    e = _err(text, tmp_path)
    _check(e, text, "^path", "data.path", "data file not found", "nowhere.csv")


def test_unknown_dataset(tmp_path):
    text = BASE.replace('dataset = "bcg"', 'dataset = "bgc"')
    e = _err(text, tmp_path)
    _check(e, text, "^dataset", "data.dataset", "did you mean 'bcg'?")


def test_missing_column_suggests_closest(tmp_path):
    text = BASE.replace('ai = "tpos"', 'ai = "tpoz"')
    e = _err(text, tmp_path)
    _check(e, text, '^ai = "tpoz"', "effect.ai", "column 'tpoz' is not in the data",
           "did you mean 'tpos'?")
    assert "tpos" in e.hint


def test_unknown_prior_family(tmp_path):
    text = BASE.replace('family = "HalfNormal"', 'family = "HalfNormol"')
    e = _err(text, tmp_path)
    _check(e, text, "^tau = ", "priors.tau.family", "unknown prior family 'HalfNormol'",
           "did you mean 'HalfNormal'?")


def test_unknown_prior_parameter(tmp_path):
    text = BASE.replace("sigma = 0.5", "sigmaa = 0.5")
    e = _err(text, tmp_path)
    _check(e, text, "^tau = ", "priors.tau.sigmaa", "HalfNormal has no parameter 'sigmaa'",
           "did you mean 'sigma'?")


def test_unknown_preset_and_preset_arguments(tmp_path):
    text = BASE.replace('tau = { family = "HalfNormal", sigma = 0.5 }',
                        'tau = { preset = "rhodes2016" }')
    e = _err(text, tmp_path)
    _check(e, text, "^tau = ", "priors.tau.preset", "unknown prior preset 'rhodes2016'",
           "did you mean 'rhodes2015'?")
    text = BASE.replace('tau = { family = "HalfNormal", sigma = 0.5 }',
                        'tau = { preset = "turner2015", outcome = "nonsense outcome", '
                        'comparison = "pharmacological vs placebo" }')
    e = _err(text, tmp_path)
    _check(e, text, "^tau = ", "priors.tau", "nonsense outcome")


def test_prior_for_wrong_parameter(tmp_path):
    text = BASE.replace('[priors]\n', '[priors]\nmu = { family = "HalfCauchy", beta = 1 }\n')
    e = _err(text, tmp_path)
    _check(e, text, "^mu = ", "priors.mu", "is not a prior for mu")


def test_exact_engine_needs_normal_mu_prior(tmp_path):
    text = BASE.replace('[priors]\n', '[priors]\nmu = { family = "StudentT", nu = 3, '
                        'mu = 0, sigma = 1 }\n')
    e = _err(text, tmp_path)
    _check(e, text, "^mu = ", "priors.mu", "exact engine needs a Normal or Flat prior")
    assert "mcmc" in e.hint
    sp = parse_spec(text, overrides={"engine": "mcmc"})
    assert isinstance(sp.outcomes[0].priors["mu"], bm.priors.StudentT)


def test_model_needs_mods_or_by(tmp_path):
    text = BASE.replace('type = "random_effects"', 'type = "meta_regression"')
    e = _err(text, tmp_path)
    _check(e, text, '^type = "meta_regression"', "model.type", "needs mods")
    text = BASE.replace('type = "random_effects"', 'type = "subgroups"\nby = "allloc"')
    e = _err(text, tmp_path)
    _check(e, text, "^by = ", "model.by", "did you mean 'alloc'?")
    text = BASE.replace('type = "random_effects"', 'type = "meta_regression"\nmods = "~ ablatt"')
    e = _err(text, tmp_path)
    _check(e, text, "^mods = ", "model.mods", "ablatt")


def test_unknown_measure(tmp_path):
    text = BASE.replace('measure = "RR"', 'measure = "RRR"')
    e = _err(text, tmp_path)
    _check(e, text, "^measure", "effect.measure", "unknown measure 'RRR'")


def test_filter_errors(tmp_path):
    text = BASE.replace('dataset = "bcg"', 'dataset = "bcg"\nfilter = "yeer > 1950"')
    e = _err(text, tmp_path)
    _check(e, text, "^filter", "data.filter", "column 'yeer'", "did you mean 'year'?")
    text = BASE.replace('dataset = "bcg"', 'dataset = "bcg"\nfilter = "year > 3000"')
    e = _err(text, tmp_path)
    _check(e, text, "^filter", "data.filter", "no rows left")


def test_errors_inside_outcomes_point_to_the_right_entry(tmp_path):
    text = (BASE + '\n[[outcomes]]\nname = "A"\nfilter = "alloc == \'random\'"\n'
            '\n[[outcomes]]\nname = "B"\nfilter = "alloc == \'random\'"\n\n'
            '[outcomes.effect]\nai = "tpox"\n')
    e = _err(text, tmp_path)
    _check(e, text, '^ai = "tpox"', "outcomes[1].effect.ai", "did you mean 'tpos'?")
    text = BASE + '\n[[outcomes]]\nname = "A"\n\n[[outcomes]]\nfilter = "year > 0"\n'
    e = _err(text, tmp_path)
    assert "needs a name" in str(e) and e.key == "outcomes[1]"
    assert e.line == _line(text, r"^\[\[outcomes\]\]") + 3
    text = BASE + '\n[[outcomes]]\nname = "A"\n\n[[outcomes]]\nname = "A"\n'
    e = _err(text, tmp_path)
    assert "duplicate outcome name 'A'" in str(e) and e.key == "outcomes[1].name"


def test_subset_errors(tmp_path):
    text = BASE + '\n[sensitivity]\n\n[[sensitivity.subsets]]\nname = "x"\n'
    e = _err(text, tmp_path)
    assert "sensitivity.subsets[0]" in str(e) and "exclude" in str(e)
    text = BASE + ('\n[sensitivity]\n\n[[sensitivity.subsets]]\nname = "x"\n'
                   'exclude = "robb == 1"\n')
    e = _err(text, tmp_path)
    _check(e, text, "^exclude", "sensitivity.subsets[0].exclude", "robb")


def test_invalid_toml_names_the_line(tmp_path):
    text = BASE.replace('seed = 1', 'seed = = 1')
    e = _err(text, tmp_path)
    assert f"line {_line(text, 'seed = =')}" in str(e) and "not valid TOML" in str(e)


def test_missing_spec_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="spec file not found"):
        load_spec(tmp_path / "nope.toml")


def test_missing_data_section():
    with pytest.raises(SpecError, match=r"missing \[data\] section"):
        parse_spec('title = "x"\n[effect]\nmeasure = "SMD"\n')


# ------------------------------------------------------------------------ helpers


def test_line_index_handles_inline_tables_arrays_and_array_tables():
    text = """\
title = "x"   # comment
[priors]
tau = { family = "HalfNormal", sigma = 0.5 }
[sensitivity]
prior_sets = [
  "weakly informative",
  "vague",
]
[sensitivity.tau_priors]
"Half-Cauchy (0.5)" = { family = "HalfCauchy", beta = 0.5 }
[[sensitivity.subsets]]
name = "a"
[[sensitivity.subsets]]
name = "b"
exclude = "x == 'y # not a comment'"
[[outcomes]]
name = "one"
[[outcomes]]
name = "two"
[outcomes.effect]
m1i = "m"
"""
    idx = _LineIndex(text)
    assert idx.line_of(("title",)) == 1
    assert idx.line_of(("priors", "tau", "sigma")) == 3
    assert idx.line_of(("sensitivity", "prior_sets", 1)) == 7
    assert idx.line_of(("sensitivity", "tau_priors", "Half-Cauchy (0.5)", "beta")) == 10
    assert idx.line_of(("sensitivity", "subsets", 1, "exclude")) == 15
    assert idx.line_of(("outcomes", 1, "effect", "m1i")) == 21
    assert idx.line_of(("outcomes", 1, "effect", "nonexistent")) == 20
    assert idx.line_of(("outcomes", 0, "name")) == 17


def test_format_path_and_closest():
    assert format_path(("outcomes", 1, "effect", "m1i")) == "outcomes[1].effect.m1i"
    assert format_path(("sensitivity", "tau_priors", "a b")) == "sensitivity.tau_priors.'a b'"
    assert closest("HalfNormol", list(bm.priors.PRIOR_FAMILIES)) == "HalfNormal"
    assert closest("zzzz", ["measure"]) is None


def test_dumps_toml_round_trips_nested_tables():
    data = {"title": 'a "quoted" title', "data": {"dataset": "bcg"},
            "priors": {"tau": {"family": "HalfNormal", "sigma": 0.5}},
            "sensitivity": {"tau_priors": {"x y": {"family": "HalfCauchy", "beta": 1.0}},
                            "subsets": [{"name": "a", "exclude": "x == 'y'"}]},
            "outcomes": [{"name": "A", "effect": {"favours": ["l", "r"]}}, {"name": "B"}]}
    assert tomllib.loads(dumps_toml(data)) == data


# ------------------------------------------------------------------------ issue 9: trust

HOSTILE = [
    "year > @pd.io.common.os.system('touch {x}')",
    "year > __import__('os').system('touch {x}')",
    "year.__class__.__init__.__globals__['os'].system('touch {x}') > 0",
    "`year` > (lambda: __import__('os').system('touch {x}'))()",
]


@pytest.mark.parametrize("where", ["data", "outcome", "subset"])
@pytest.mark.parametrize("expr", HOSTILE)
def test_hostile_filters_raise_and_run_nothing(tmp_path, where, expr):
    marker = tmp_path / "pwned"
    e = expr.format(x=marker).replace('"', "'")
    if where == "data":
        text = BASE.replace('dataset = "bcg"', f'dataset = "bcg"\nfilter = "{e}"')
    elif where == "outcome":
        text = BASE + f'\n[[outcomes]]\nname = "A"\nfilter = "{e}"\n'
    else:
        text = BASE + f'\n[sensitivity]\n\n[[sensitivity.subsets]]\nname = "x"\nexclude = "{e}"\n'
    err = _err(text, tmp_path)
    assert "filter" in err.key or "exclude" in err.key
    assert not marker.exists()


def test_header_only_csv_says_the_file_has_no_rows(tmp_path):
    cols = bm.datasets.load("bcg").columns
    (tmp_path / "d.csv").write_text(",".join(cols) + "\n")
    text = BASE.replace('dataset = "bcg"', 'path = "d.csv"')
    e = _err(text, tmp_path)
    _check(e, text, "^path", "data.path", "the data file has no rows")
    assert "filter" not in str(e)


def test_binary_spec_file_is_a_spec_error(tmp_path):
    p = tmp_path / "spec.toml"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    with pytest.raises(SpecError, match="not a text file"):
        load_spec(p)


def test_prior_source_is_kept():
    text = BASE.replace('tau = { family = "HalfNormal", sigma = 0.5 }',
                        'tau = { family = "HalfNormal", sigma = 0.5, source = "Roever 2021" }\n'
                        'mu = { family = "Normal", mu = 0, sigma = 4, source = "wide" }')
    o = parse_spec(text).outcomes[0]
    assert o.priors["tau"].source == "Roever 2021" and o.priors["mu"].source == "wide"
    assert o.priors["tau"].sigma == 0.5
    text = BASE.replace('tau = { family = "HalfNormal", sigma = 0.5 }',
                        'tau = { preset = "turner2015", source = "our reason" }')
    o = parse_spec(text).outcomes[0]
    assert o.priors["tau"].source.startswith("our reason")


def test_command_line_overrides_blame_the_command_line():
    with pytest.raises(SpecError) as info:
        parse_spec(BASE, overrides={"draws": 0})
    msg = str(info.value)
    assert msg.startswith("command line: --draws: must be >= 1"), msg
    assert "line " not in msg.split(":", 1)[0]
    with pytest.raises(SpecError, match=r"command line: --engine: invalid value 'gibbs'"):
        parse_spec(BASE, overrides={"engine": "gibbs"})


def test_lower_is_better_sets_the_favours_labels():
    o = parse_spec(BASE.replace('label = "author"', 'label = "author"\nlower_is_better = false')
                   ).outcomes[0]
    assert o.lower_is_better is False
    assert o.effect["favours"] == ["Favours control", "Favours treatment"]
    o = parse_spec(BASE).outcomes[0]
    assert o.lower_is_better is None and o.effect["favours"] == ["Favours treatment",
                                                                  "Favours control"]


def test_warnings_while_reading_become_caveats(monkeypatch):
    import warnings

    import bayesma.spec.outcomes as outcomes

    real = outcomes.prior_from_spec

    def noisy(cfg, **kw):
        warnings.warn("Turner et al. (2015) priors were derived for log odds ratios",
                      UserWarning, stacklevel=2)
        return real(cfg, **kw)

    monkeypatch.setattr(outcomes, "prior_from_spec", noisy)
    o = parse_spec(BASE).outcomes[0]
    assert any("log odds ratios" in c for c in o.caveats)

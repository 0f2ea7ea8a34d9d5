"""bayesma.expressions: the allow-list grammar of moderator formulas and row filters.

Issue 9 §1: formulas and filters are data, never code. Every hostile string raises a
typed error naming the offending token and creates no file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesma.errors import BayesmaError, DataError
from bayesma.expressions import (
    FORMULA_FUNCTIONS,
    evaluate_filter,
    filter_rows,
    parse_formula,
    quote_name,
    vet_formula,
)

COLS = ["ablat", "year", "alloc", "dose mg", "dose.mg", "class", "Intercept"]

HOSTILE_FORMULAS = [
    # issue 9: formulaic evaluated Python inside terms
    ("~ ablat + I(ablat**2 + 0*np.testing._private.utils.os.system('touch x'))",
     "np.testing._private.utils.os.system"),
    ("~ C.__globals__", "C.__globals__"),
    ("~ C.__globals__['__builtins__']['__import__']('os').system('touch x')", "C.__globals__"),
    ("~ ablat + C(alloc).__class__", ".__class__"),
    ("~ I(ablat.__class__.__bases__[0].__subclasses__())", "ablat.__class__"),
    ("~ ablat.real.__class__", "ablat.real.__class__"),
    ("~ I(ablat).real", ".real"),
    ("~ __import__('os').system('touch x')", "__import__"),
    ("~ eval(\"__import__('os').system('touch x')\")", "eval"),
    ("~ np.log(ablat)", "np.log"),
    ("~ I(open('x', 'w'))", "open('x', 'w')"),
    ("~ I(lambda: 0)", "lambda: 0"),
    ("~ I([os for os in ablat])", "[os for os in ablat]"),
    ("~ I('touch x')", "'touch x'"),
    ("~ C(alloc, levels=[x.__class__ for x in ablat])", "[x.__class__ for x in ablat]"),
    ("~ C(alloc, levels=open('x'))", "open('x')"),
    ("~ C(alloc, contr.__init__)", "contr.__init__"),
    ("~ scale(ablat, center=np)", "np"),
    ("~ poly(ablat, degree=__import__('os'))", "poly"),
    ("~ ablat[0]", "[0]"),
    ("~ ablat; import os", ";"),
    ("~ I(ablat @ year)", "ablat @ year"),
    ("~ I(2 ** 2 ** 99)", "2 ** 2 ** 99"),
    ("~ I(*ablat)", "*"),
]


@pytest.mark.parametrize("formula, token", HOSTILE_FORMULAS)
def test_hostile_formula_is_a_typed_error_naming_the_token(formula, token, tmp_path,
                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as err:
        vet_formula(formula, COLS)
    assert token in str(err.value)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("formula, expected", [
    ("~ ablat + C(alloc)", "~ ablat + C(alloc)"),
    ("ablat", "~ ablat"),
    ("~ 0 + C(alloc)", "~ 0 + C(alloc)"),
    ("~ ablat - 1", "~ ablat - 1"),
    ("~ ablat*year", "~ ablat * year"),
    ("~ ablat:year", "~ ablat:year"),
    ("~ (ablat + year):alloc", "~ (ablat + year):alloc"),
    ("~ -1 + ablat", "~ -1 + ablat"),
    ("~ + ablat", "~ ablat"),
    ("~ `dose mg` + dose.mg + `class`", "~ `dose mg` + `dose.mg` + `class`"),
    ("~ factor(alloc) + as.factor(year)", "~ C(alloc) + C(year)"),
    ("~ I(ablat^2)", "~ I(ablat ** 2)"),
    ("~ I(ablat**2)", "~ I(ablat ** 2)"),
    # R's precedence of ^ (tighter than * / + -, right-associative), never Python's XOR
    ("~ I(ablat^2 + 1)", "~ I(ablat ** 2 + 1)"),
    ("~ I(2 * ablat^2)", "~ I(2 * ablat ** 2)"),
    ("~ I(-ablat^2)", "~ I(-ablat ** 2)"),
    ("~ I(ablat^-1)", "~ I(ablat ** (-1))"),
    ("~ I(ablat^year^2)", "~ I(ablat ** year ** 2)"),
    ("~ I(log(`dose mg`)^2 / 10 - -1)", "~ I(log(`dose mg`) ** 2 / 10 - -1)"),
    ("~ log(ablat) + sqrt(year) + exp(ablat / 10)", "~ log(ablat) + sqrt(year) + exp(ablat / 10)"),
    ("~ poly(ablat, 2) + scale(year, center=True) + center(ablat)",
     "~ poly(ablat, 2) + scale(year, center=True) + center(ablat)"),
    ("~ C(alloc, ref='random')", "~ C(alloc, contr.treatment('random'))"),
    ("~ C(alloc, Treatment('random'))", "~ C(alloc, contr.treatment('random'))"),
    ("~ C(alloc, contr.treatment(base='random'))", "~ C(alloc, contr.treatment('random'))"),
    ("~ C(alloc, levels=('b', 'a'))", "~ C(alloc, levels=['b', 'a'])"),
])
def test_allowed_formulas_are_rebuilt(formula, expected):
    assert vet_formula(formula, COLS) == expected


def test_parse_formula_reports_columns_and_factors():
    p = parse_formula("~ ablat * factor(alloc) + I(`dose mg`^2)", COLS)
    assert p.variables == ("ablat", "alloc", "dose mg")
    assert p.categorical == frozenset({"alloc"})


def test_rename_changes_only_the_written_name():
    p = parse_formula("~ Intercept + I(Intercept^2)", COLS, rename={"Intercept": "alias"})
    assert p.text == "~ alias + I(alias ** 2)" and p.variables == ("Intercept",)


@pytest.mark.parametrize("formula, words", [
    ("~ ablat +", ["cannot parse the moderator formula", "end of formula"]),
    ("~ abalt", ["'abalt'", "not in the data", "did you mean 'ablat'"]),
    ("yi ~ ablat", ["'yi'", "one-sided"]),
    ("~ ablat^2", ["'^2'", "not allowed"]),
    ("~ ablat / year", ["'/'"]),
    ("~ ablat %in% year", ["'%in%'"]),
    ("~ 2 + ablat", ["'2'", "only 0 or 1"]),
    ("~ 1:ablat", ["mixes the intercept"]),
    ("~ log", ["'log'", "is a function"]),
    ("~ poly(ablat, 200)", ["literal degree"]),
    ("~ C(alloc, ref=year)", ["must be a literal level"]),
    ("~ C(alloc, contr.sum())", ["not an allowed contrast"]),
    ("~ scale(ablat, ddof=2)", ["'ddof='", "not an option"]),
    ("~ `ablat", ["'`ablat'"]),
    ("~ C(ablat", ["no closing"]),
    ("", ["empty"]),
])
def test_bad_formula_messages(formula, words):
    with pytest.raises(DataError) as err:
        vet_formula(formula, COLS)
    for w in words:
        assert w in str(err.value)


def test_deeply_nested_formula_is_a_typed_error():
    with pytest.raises(DataError):
        vet_formula("~ " + "(" * 5000 + "ablat" + ")" * 5000, COLS)
    with pytest.raises(DataError):
        vet_formula("~ I(" + "(" * 500 + "ablat" + ")" * 500 + ")", COLS)


def test_formula_must_be_a_string():
    with pytest.raises(DataError, match="must be a string"):
        parse_formula(3, COLS)


def test_quote_name():
    assert quote_name("ablat") == "ablat"
    assert quote_name("dose mg") == "`dose mg`"
    assert quote_name("class") == "`class`"
    with pytest.raises(DataError, match="backquote"):
        quote_name("a`b")
    assert "C" in FORMULA_FUNCTIONS and "eval" not in FORMULA_FUNCTIONS


# ----------------------------------------------------------------------------- filters
@pytest.fixture
def df():
    return pd.DataFrame({
        "year": [1990, 2000, np.nan, 2010],
        "rob": ["high", "low", "low", None],
        "dose mg": [1, 2, 3, 4],
        "flag": [True, False, True, False],
    }, index=[10, 11, 12, 13])


@pytest.mark.parametrize("expr, expected", [
    ("year > 1995", [False, True, False, True]),
    ("rob == 'high'", [True, False, False, False]),
    ('rob != "high"', [False, True, True, True]),  # missing compares unequal (pandas)
    ("rob in ['high', 'x']", [True, False, False, False]),
    ("rob not in ('high',)", [False, True, True, True]),
    ("1995 < year <= 2010", [False, True, False, True]),
    ("year > 1995 & rob == 'low'", [False, True, False, False]),
    ("year > 1995 and rob == 'low' or `dose mg` == 1", [True, True, False, False]),
    ("year < 1995 | `dose mg` >= 4", [True, False, False, True]),
    ("not rob == 'low'", [True, False, False, True]),
    ("~(year > 1995)", [True, False, True, False]),
    ("isna(rob) or year.isna()", [False, False, True, True]),
    ("notna(year) and rob.notnull()", [True, True, False, False]),
    ("`dose mg` * 2 - 1 > 4", [False, False, True, True]),
    ("`dose mg` % 2 == 0", [False, True, False, True]),
    ("-`dose mg` ** 2 < -5", [False, False, True, True]),
    ("flag", [True, False, True, False]),
    ("flag == False", [False, True, False, True]),
    ("True", [True, True, True, True]),
])
def test_filters(df, expr, expected):
    mask = filter_rows(df, expr)
    assert mask.dtype == bool and list(mask.index) == [10, 11, 12, 13]
    assert mask.tolist() == expected
    assert evaluate_filter(df, expr).tolist() == expected


HOSTILE_FILTERS = [
    ("year > @pd.io.common.os.system('touch x')", "@pd.io.common.os.sys"),
    ("year > __import__('os').system('touch x')", "__import__"),
    ("year.__class__.__init__.__globals__", "year.__class__"),
    ("rob.str.contains('h')", "rob.str.contains"),
    ("year[0] > 1", "year[0]"),
    ("(lambda: 1)() == 1", "lambda"),
    ("[x for x in year] == 1", "[x for x in year]"),
    ("rob == open('x').read()", "open('x').read"),
    ("year > 1 if True else 0", "1 if True else 0"),
    ("`year` > 1; import os", ";"),
]


@pytest.mark.parametrize("expr, token", HOSTILE_FILTERS)
def test_hostile_filter_is_a_typed_error_naming_the_token(df, expr, token, tmp_path,
                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as err:
        filter_rows(df, expr, what="exclude")
    assert token in str(err.value)
    assert "exclude" in str(err.value) or "cannot read" in str(err.value)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("expr, words", [
    ("yaer > 1", ["'yaer'", "did you mean 'year'"]),
    ("year == '2000'", ["numeric column 'year'", "without quotes"]),
    ("rob == 1", ["text column 'rob'", "quote it"]),
    ("rob", ["not true/false"]),
    ("year + 1", ["not true/false"]),
    ("rob == None", ["isna"]),
    ("rob is None", ["'is'"]),
    ("rob in rob", ["literal list"]),
    ("rob in ['a'] == True", ["chains 'in'"]),
    ("f(year)", ["not an allowed function"]),
    ("year ^ 2 > 1", ["operator that is not allowed"]),
    ("isna", ["is a function"]),
    ("rob + 1 > 2", ["'rob' is not a number"]),
    ("year > 1 and", ["cannot read the filter", "end of text"]),
    ("`year", ["unclosed backquote"]),
    ("", ["non-empty"]),
])
def test_bad_filter_messages(df, expr, words):
    with pytest.raises(BayesmaError) as err:
        filter_rows(df, expr)
    for w in words:
        assert w in str(err.value)


def test_unknown_filter_column_is_named(df):
    with pytest.raises(DataError) as err:
        filter_rows(df, "yaer > 1")
    assert err.value.column == "yaer"


def test_filter_needs_a_dataframe():
    with pytest.raises(DataError, match="DataFrame"):
        filter_rows([1, 2], "a > 1")


def test_deeply_nested_filter_is_a_typed_error(df):
    with pytest.raises(DataError):
        filter_rows(df, "(" * 5000 + "year > 1" + ")" * 5000)
    with pytest.raises(DataError):
        filter_rows(df, "not " * 3000 + "flag")


def test_ampersand_inside_a_string_is_text(df):
    d = df.assign(rob=["a & b", "a | b", "x", "y"])
    assert filter_rows(d, "rob == 'a & b' | rob == 'a | b'").tolist() == [
        True, True, False, False]


def test_scalar_comparisons_and_unicode_names():
    d = pd.DataFrame({"x": [1.0, 2.0], "Länge": [1, 2]})
    assert filter_rows(d, "not (1 > 0) or x > 1").tolist() == [False, True]
    assert filter_rows(d, "2 ** 99999999 > x").tolist() == [True, True]
    assert filter_rows(d, "Länge > 1").tolist() == [False, True]
    assert vet_formula("~ Länge + C (x)", ["Länge", "x"]) == "~ `Länge` + C(x)"

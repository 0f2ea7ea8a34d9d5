"""Safe moderator formulas and row filters: a small grammar of our own, never ``eval``.

Formulas and filters come from users, spec files and stored netCDF attributes, so they
are data, not code. Both are parsed here against an allow-list and either rebuilt from
the vetted parse (formulas, handed to formulaic) or evaluated by walking the parse tree
over the table's columns (filters). Nothing here calls ``eval``, ``exec``, pandas
``query``/``eval`` or looks up a Python name.

Formulas (:func:`vet_formula`, :func:`parse_formula`)
-----------------------------------------------------
Wilkinson/R syntax as metafor's ``mods``: ``~ a + b``, ``~ 0 + a`` or ``~ a - 1`` (no
intercept), ``~ a * b`` (main effects and interaction), ``a:b`` (interaction only),
parentheses, column names (backquoted when they are not plain names: ``` `dose mg` ```),
and the functions

* ``C(x)`` (also R's ``factor(x)``/``as.factor(x)``): categorical; options
  ``C(x, levels=["lo", "hi"])`` (literal list: level order, first is the reference),
  ``C(x, ref="hi")`` / ``C(x, Treatment("hi"))`` / ``C(x, contr.treatment("hi"))``
  (reference level);
* ``I(...)``: arithmetic on columns and numbers (``+ - * / **``, unary minus, and
  ``log``/``exp``/``sqrt``). ``^`` is a power as in R (``I(dose^2)`` is
  ``I(dose ** 2)``), never Python's XOR;
* ``log``, ``exp``, ``sqrt`` (numpy), ``center``, ``scale`` (options ``center=``,
  ``scale=`` literal booleans), ``poly(x, 2)`` (literal degree; ``raw=`` literal boolean).

Anything else (attribute access, subscripts, other functions, strings in ``I()``,
lambdas, comprehensions, dunder names, ``@``...) raises :class:`~bayesma.errors.DataError`
naming the offending token. The formula handed to formulaic is rebuilt from the vetted
parse, never the user's text; :mod:`bayesma.classical.design` also evaluates it in a
context holding only the allowed functions (defense in depth).

Filters (:func:`filter_rows`)
-----------------------------
pandas-``query``-like syntax: column names (backquoted too), numbers, strings,
``True``/``False``, comparisons (chained too: ``1990 <= year < 2000``), ``and``/``or``/
``not`` and ``&``/``|``/``~`` (``&`` and ``|`` bind like ``and``/``or``, as in pandas),
``x in ["a", "b"]`` / ``not in`` with literal lists, arithmetic (``+ - * / // % **``),
``isna(x)``/``notna(x)`` (also ``x.isna()``/``x.notna()``). A missing value compares
False (as pandas). Comparing a numeric column with a string (or a text column with a
number) is an error rather than a silent all-False.

Modules: :mod:`~bayesma.expressions.syntax` (shared lexing and messages),
:mod:`~bayesma.expressions.formula` (moderator formulas),
:mod:`~bayesma.expressions.filters` (row filters).
"""

from bayesma.expressions.filters import evaluate_filter, filter_rows
from bayesma.expressions.formula import ParsedFormula, parse_formula, vet_formula
from bayesma.expressions.syntax import FILTER_FUNCTIONS, FORMULA_FUNCTIONS, quote_name

__all__ = [
    "FILTER_FUNCTIONS",
    "FORMULA_FUNCTIONS",
    "ParsedFormula",
    "evaluate_filter",
    "filter_rows",
    "parse_formula",
    "quote_name",
    "vet_formula",
]

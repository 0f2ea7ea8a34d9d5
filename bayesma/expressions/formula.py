"""Moderator formulas vetted by an allow-list grammar before formulaic sees them.

Why a grammar of our own: see :mod:`bayesma.expressions`.

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
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bayesma.errors import DataError
from bayesma.expressions.syntax import (
    FORMULA_FUNCTIONS,
    FORMULA_HELP,
    constant_only,
    is_dunder,
    is_literal,
    node_text,
    parse_python,
    protect_backquotes,
    quote_name,
    replace_outside_strings,
    unknown_column_error,
)

__all__ = ["FORMULA_FUNCTIONS", "ParsedFormula", "parse_formula", "vet_formula"]

_ALIASES = {"factor": "C", "as.factor": "C"}
_MATH = ("log", "exp", "sqrt")


@dataclass(frozen=True)
class ParsedFormula:
    """A vetted moderator formula.

    Attributes
    ----------
    text : str
        The formula rebuilt from the vetted parse (what formulaic receives).
    variables : tuple of str
        Data columns used, in order of first use.
    categorical : frozenset of str
        Columns wrapped in ``C()``/``factor()``.
    """

    text: str
    variables: tuple[str, ...]
    categorical: frozenset[str]


class _FormulaVetter:
    """Recursive-descent reader of the term level, ``ast`` for function calls."""

    _TOKEN = re.compile(
        r"\s*(?:(?P<bq>`[^`]*`)|(?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)"
        r"|(?P<name>(?:[^\W\d]|\.)[\w.]*)|(?P<op>[~+\-*:()]))"
    )

    def __init__(self, formula: str, columns: Sequence[str],
                 rename: dict[str, str] | None = None) -> None:
        self.rename = dict(rename or {})
        self.source = formula
        self.columns = [str(c) for c in columns]
        self.colset = set(self.columns)
        self.variables: list[str] = []
        self.categorical: set[str] = set()
        self.text = formula.strip()
        self.pos = 0

    # -- errors and columns
    def fail(self, token: str, why: str = "is not allowed") -> DataError:
        return DataError(
            f"cannot parse the moderator formula {self.source!r}: {token!r} {why}; "
            f"{FORMULA_HELP}"
        )

    def column(self, name: str) -> str:
        if name not in self.colset:
            if name in _ALIASES or name in FORMULA_FUNCTIONS:
                raise self.fail(name, "is a function: write it with its argument, "
                                f"e.g. {_ALIASES.get(name, name)}(x)")
            raise unknown_column_error(name, self.columns, self.source, "moderator formula")
        if name not in self.variables:
            self.variables.append(name)
        return name

    def emit(self, name: str) -> str:
        """A vetted column as written in the rebuilt formula (after ``rename``)."""
        return quote_name(self.rename.get(name, name))

    # -- term level
    def peek(self) -> tuple[str, str] | None:
        if self.pos >= len(self.text) or not self.text[self.pos:].strip():
            return None
        m = self._TOKEN.match(self.text, self.pos)
        if not m or m.end() == self.pos:
            rest = self.text[self.pos:].strip()
            raise self.fail(rest.split()[0][:20] if rest.split() else rest)
        kind = m.lastgroup or "op"
        return kind, m.group(kind)

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise self.fail("end of formula", "comes too early")
        m = self._TOKEN.match(self.text, self.pos)
        assert m is not None
        self.pos = m.end()
        return tok

    def run(self) -> ParsedFormula:
        if not self.text:
            raise DataError("the moderator formula is empty")
        tok = self.peek()
        if tok == ("op", "~"):
            self.take()
        elif "~" in self.text:
            raise self.fail(self.text.split("~")[0].strip(),
                            "stands left of '~'; mods take a one-sided formula")
        body = self.sum()
        if self.peek() is not None:
            raise self.fail(self.take()[1], "is unexpected here")
        return ParsedFormula("~ " + body, tuple(self.variables), frozenset(self.categorical))

    def sum(self) -> str:
        parts: list[str] = []
        tok = self.peek()
        sign = ""
        if tok is not None and tok[0] == "op" and tok[1] in "+-":
            sign = self.take()[1].replace("+", "")
        parts.append(sign + self.term())
        while (tok := self.peek()) is not None and tok[0] == "op" and tok[1] in "+-":
            parts.append(self.take()[1])
            parts.append(self.term())
        return " ".join(parts)

    def term(self) -> str:
        factors = [self.factor()]
        while (tok := self.peek()) is not None and tok[0] == "op" and tok[1] in "*:":
            op = self.take()[1]
            factors += [f" {op} " if op == "*" else op, self.factor()]
        if len(factors) > 1 and any(f in ("0", "1") for f in factors[::2]):
            raise self.fail("".join(factors), "mixes the intercept 0/1 with '*' or ':'")
        return "".join(factors)

    def factor(self) -> str:
        kind, value = self.take()
        if kind == "op" and value == "(":
            inner = self.sum()
            if self.take() != ("op", ")"):
                raise self.fail("(" + inner, "has no closing ')'")
            return f"({inner})"
        if kind == "num":
            if value not in ("0", "1"):
                raise self.fail(value, "is not allowed outside I(); only 0 or 1 (intercept)")
            return value
        if kind == "bq":
            return self.emit(self.column(value[1:-1]))
        if kind == "name":
            tok = self.peek()
            if tok == ("op", "("):
                return self.call(value)
            if is_dunder(value):
                raise self.fail(value)
            return self.emit(self.column(value))
        raise self.fail(value, "is unexpected here")

    # -- function calls, read with ast
    def call(self, fname: str) -> str:
        start = self.pos  # at '('
        depth, i, quote = 0, start, None
        while i < len(self.text):
            ch = self.text[i]
            if quote:
                if ch == "\\":
                    i += 1
                elif ch == quote:
                    quote = None
            elif ch in "'\"`":
                quote = ch
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        if depth != 0:
            raise self.fail(fname + self.text[start:][:20], "has no closing ')'")
        self.pos = i + 1
        fn = _ALIASES.get(fname, fname)
        if fn not in FORMULA_FUNCTIONS:
            raise self.fail(fname, "is not an allowed function")
        src, self.names = protect_backquotes(fn + self.text[start:i + 1], "formula",
                                             self.source)
        # R's power: x^2 + 1 is (x**2) + 1. Replaced in the text, not in the parse tree,
        # so that it gets the precedence of ** (Python's ^ is XOR and binds looser than +)
        src = replace_outside_strings(src, {"^": "**"})
        node = parse_python(src, "formula", self.source, self.names)
        if not isinstance(node, ast.Call):  # e.g. "C(x)(y)" or "I(x).a"
            raise self.fail(node_text(node, self.names))
        return ast.unparse(self.vet_call(node, top=True))

    def name_node(self, node: ast.AST) -> tuple[ast.Name, str]:
        """A column reference: the Name node formulaic receives, and the column."""
        if isinstance(node, ast.Name):
            if node.id in self.names:
                col = self.names[node.id]
            elif is_dunder(node.id):
                raise self.fail(node.id)
            else:
                col = node.id
            return ast.Name(id=self.emit(self.column(col)), ctx=ast.Load()), col
        raise self.fail(node_text(node, self.names), "must be a column name")

    def arith(self, node: ast.AST) -> ast.expr:
        """Arithmetic on columns and numbers; ``^`` becomes ``**`` (R's power)."""
        if isinstance(node, ast.Constant):
            if isinstance(node.value, int | float) and not isinstance(node.value, bool):
                return node
            raise self.fail(node_text(node, self.names), "is not a number")
        if isinstance(node, ast.Name):
            return self.name_node(node)[0]
        if isinstance(node, ast.BinOp) and isinstance(
                node.op, ast.Add | ast.Sub | ast.Mult | ast.Div | ast.Pow):
            if constant_only(node):  # also keeps 2 ** 2 ** 99 (Python ints) out
                raise self.fail(node_text(node, self.names),
                                "is arithmetic on numbers only; write the number itself")
            return ast.BinOp(left=self.arith(node.left), op=node.op,
                             right=self.arith(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            return ast.UnaryOp(op=node.op, operand=self.arith(node.operand))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
                node.func.id in _MATH):
            return self.vet_call(node, top=False)
        raise self.fail(node_text(node, self.names))

    def literal(self, node: ast.AST, kinds: tuple[type, ...], what: str) -> ast.expr:
        if is_literal(node) and not isinstance(node, ast.List | ast.Tuple) and (
                isinstance(ast.literal_eval(node), kinds)):
            return node
        raise self.fail(node_text(node, self.names), f"must be {what}")

    def vet_call(self, node: ast.Call, *, top: bool) -> ast.Call:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node_text(node.func, self.names))
        fn = _ALIASES.get(node.func.id, node.func.id)
        if fn not in FORMULA_FUNCTIONS or (not top and fn not in _MATH):
            raise self.fail(fn, "is not allowed here" if fn in FORMULA_FUNCTIONS
                            else "is not an allowed function")
        args, kws = list(node.args), {k.arg: k.value for k in node.keywords}
        if any(isinstance(a, ast.Starred) for a in args) or None in kws:
            raise self.fail(node_text(node, self.names), "uses * or ** arguments")
        if not args:
            raise self.fail(f"{fn}()", "needs an argument")
        func = ast.Name(id=fn, ctx=ast.Load())
        if fn == "C":
            return self.vet_c(node, func, args, kws)
        n_pos = 2 if fn == "poly" else 1
        if len(args) > n_pos:
            raise self.fail(node_text(node, self.names), f"takes {n_pos} argument(s)")
        out_args = [self.arith(args[0])]
        if fn == "poly":
            deg = args[1] if len(args) > 1 else kws.pop("degree", None)
            if deg is None or not (isinstance(deg, ast.Constant) and type(deg.value) is int
                                   and 1 <= deg.value <= 10):
                raise self.fail(node_text(node, self.names),
                                "needs a literal degree 1..10, e.g. poly(x, 2)")
            out_args.append(deg)
        keys = {"scale": ("center", "scale"), "poly": ("raw",)}.get(fn, ())
        out_kw = []
        for k, v in kws.items():
            if k not in keys:
                raise self.fail(f"{k}=", f"is not an option of {fn}()")
            out_kw.append(ast.keyword(arg=k, value=self.literal(v, (bool,), "True or False")))
        return ast.Call(func=func, args=out_args, keywords=out_kw)

    def vet_c(self, node: ast.Call, func: ast.Name, args: list, kws: dict) -> ast.Call:
        var, col = self.name_node(args[0])
        self.categorical.add(col)
        ref = None
        if len(args) > 2:
            raise self.fail(node_text(node, self.names), "takes one column and one contrast")
        if len(args) == 2:
            c = args[1]
            ok_func = isinstance(c, ast.Call) and (
                (isinstance(c.func, ast.Name) and c.func.id == "Treatment")
                or (isinstance(c.func, ast.Attribute) and c.func.attr == "treatment"
                    and isinstance(c.func.value, ast.Name) and c.func.value.id == "contr"))
            if not ok_func:
                raise self.fail(node_text(c, self.names),
                                "is not an allowed contrast; write C(x, ref=\"level\")")
            cargs = list(c.args) + [k.value for k in c.keywords
                                    if k.arg in ("reference", "base")]
            if len(cargs) != 1 or len(c.args) + len(c.keywords) != 1:
                raise self.fail(node_text(c, self.names), "needs exactly one reference level")
            ref = cargs[0]
        for key in ("ref", "reference", "base"):
            if key in kws:
                if ref is not None:
                    raise self.fail(f"{key}=", "repeats the reference level")
                ref = kws.pop(key)
        out_kw = []
        for k, v in kws.items():
            if k != "levels":
                raise self.fail(f"{k}=", "is not an option of C(); use levels= or ref=")
            if not (isinstance(v, ast.List | ast.Tuple) and is_literal(v) and v.elts):
                raise self.fail(node_text(v, self.names), "must be a literal list of levels")
            out_kw.append(ast.keyword(arg="levels", value=ast.List(elts=v.elts,
                                                                   ctx=ast.Load())))
        out_args: list[ast.expr] = [var]
        if ref is not None:
            ref = self.literal(ref, (int, float, str, bool), "a literal level")
            out_args.append(ast.Call(
                func=ast.Attribute(value=ast.Name(id="contr", ctx=ast.Load()),
                                   attr="treatment", ctx=ast.Load()),
                args=[ref], keywords=[]))
        return ast.Call(func=func, args=out_args, keywords=out_kw)


def parse_formula(formula: str, columns: Sequence[str], *,
                  rename: dict[str, str] | None = None) -> ParsedFormula:
    """Vet a moderator formula against ``columns`` (see the module documentation).

    Parameters
    ----------
    formula : str
        One-sided formula; a missing ``~`` is supplied.
    columns : sequence of str
        Columns of the study table.
    rename : dict, optional
        Column -> name written in the rebuilt text (``variables`` keep the column
        names); used to keep a column called ``Intercept`` apart from formulaic's
        intercept.

    Returns
    -------
    ParsedFormula
        The rebuilt formula text, the columns it uses and those wrapped in ``C()``.

    Raises
    ------
    DataError
        Naming the offending token, or the unknown column (with a close match).
    """
    if not isinstance(formula, str):
        raise DataError(f"a moderator formula must be a string, got {type(formula).__name__}")
    try:
        return _FormulaVetter(formula, columns, rename).run()
    except (RecursionError, MemoryError):
        raise DataError(f"the moderator formula {formula[:60]!r} is nested too deeply"
                        ) from None


def vet_formula(formula: str, columns: Sequence[str]) -> str:
    """The vetted formula text handed to formulaic (see :func:`parse_formula`)."""
    return parse_formula(formula, columns).text

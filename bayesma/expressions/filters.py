"""Row filters evaluated by walking their parse tree over the columns, never ``eval``.

pandas-``query``-like syntax: column names (backquoted too), numbers, strings,
``True``/``False``, comparisons (chained too: ``1990 <= year < 2000``), ``and``/``or``/
``not`` and ``&``/``|``/``~`` (``&`` and ``|`` bind like ``and``/``or``, as in pandas),
``x in ["a", "b"]`` / ``not in`` with literal lists, arithmetic (``+ - * / // % **``),
``isna(x)``/``notna(x)`` (also ``x.isna()``/``x.notna()``). A missing value compares
False (as pandas). Comparing a numeric column with a string (or a text column with a
number) is an error rather than a silent all-False.
"""


from __future__ import annotations

import ast

import numpy as np
import pandas as pd

from bayesma.errors import DataError
from bayesma.expressions.syntax import (
    FILTER_FUNCTIONS,
    FILTER_HELP,
    is_dunder,
    is_literal,
    node_text,
    parse_python,
    protect_backquotes,
    replace_outside_strings,
    unknown_column_error,
)

__all__ = ["FILTER_FUNCTIONS", "evaluate_filter", "filter_rows"]


class _FilterEvaluator:
    """Evaluate a vetted filter parse tree over the columns of a DataFrame."""

    def __init__(self, df: pd.DataFrame, expr: str, what: str, names: dict[str, str]):
        self.df, self.expr, self.what, self.names = df, expr, what, names
        self.columns = [str(c) for c in df.columns]

    def fail(self, node: ast.AST | str, why: str = "is not allowed") -> DataError:
        tok = node if isinstance(node, str) else node_text(node, self.names)
        return DataError(f"the {self.what} {self.expr!r}: {tok!r} {why}; {FILTER_HELP}")

    def column(self, node: ast.Name) -> pd.Series:
        name = self.names.get(node.id, node.id)
        if node.id not in self.names and is_dunder(name):
            raise self.fail(name)
        if name not in self.df.columns:
            if name in FILTER_FUNCTIONS:
                raise self.fail(name, "is a function: write it as isna(column)")
            raise unknown_column_error(name, self.columns, self.expr, self.what)
        col = self.df[name]
        if isinstance(col, pd.DataFrame):
            raise DataError(f"column {name!r} appears more than once in the data",
                            column=name)
        return col

    def value(self, node: ast.AST):
        if isinstance(node, ast.Constant):
            if node.value is None or not isinstance(node.value, int | float | str | bool):
                raise self.fail(node, "is not allowed (use isna(column) for missing values)")
            return node.value
        if isinstance(node, ast.Name):
            return self.column(node)
        if isinstance(node, ast.BoolOp):
            vals = [self.boolean(v) for v in node.values]
            out = vals[0]
            for v in vals[1:]:
                out = (out & v) if isinstance(node.op, ast.And) else (out | v)
            return out
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not | ast.Invert):
                b = self.boolean(node.operand)
                return (not b) if isinstance(b, bool) else ~b
            v = self.number(node.operand)
            return -v if isinstance(node.op, ast.USub) else +v
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.fail(node)

    def binop(self, node: ast.BinOp):
        ops = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply,
               ast.Div: np.true_divide, ast.FloorDiv: np.floor_divide, ast.Mod: np.mod,
               ast.Pow: np.power}
        f = ops.get(type(node.op))
        if f is None:
            raise self.fail(node, "uses an operator that is not allowed")
        left, right = self.number(node.left), self.number(node.right)
        with np.errstate(all="ignore"):
            return f(_as_float(left), _as_float(right))

    def number(self, node: ast.AST):
        v = self.value(node)
        ok = (isinstance(v, int | float) and not isinstance(v, bool)) or (
            isinstance(v, pd.Series) and pd.api.types.is_numeric_dtype(v)
            and not pd.api.types.is_bool_dtype(v))
        if not ok:
            raise self.fail(node, "is not a number")
        return v

    def boolean(self, node: ast.AST):
        v = self.value(node)
        if isinstance(v, bool):
            return v
        if isinstance(v, pd.Series) and pd.api.types.is_bool_dtype(v):
            return v.fillna(False).astype(bool) if v.dtype == object else v
        raise self.fail(node, "is not true/false (compare it, e.g. \"x == 1\")")

    def compare(self, node: ast.Compare):
        result = None
        left_node, left = node.left, self.value(node.left)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                if not (isinstance(right_node, ast.List | ast.Tuple | ast.Set)
                        and all(isinstance(e, ast.Constant) or is_literal(e)
                                for e in right_node.elts)):
                    raise self.fail(right_node, "must be a literal list, e.g. [\"a\", \"b\"]")
                items = [ast.literal_eval(e) for e in right_node.elts]
                for it in items:
                    self.check_types(left_node, left, it)
                if not isinstance(left, pd.Series):
                    raise self.fail(left_node, "must be a column")
                part = left.isin(items)
                if isinstance(op, ast.NotIn):
                    part = ~part
                if op is not node.ops[-1]:
                    raise self.fail(node, "chains 'in' with another comparison")
                right = None
            else:
                if isinstance(op, ast.Is | ast.IsNot):
                    raise self.fail("is", "is not allowed; use == or isna()")
                right = self.value(right_node)
                self.check_types(left_node, left, right)
                self.check_types(right_node, right, left)
                fn = {ast.Eq: np.equal, ast.NotEq: np.not_equal, ast.Lt: np.less,
                      ast.LtE: np.less_equal, ast.Gt: np.greater,
                      ast.GtE: np.greater_equal}[type(op)]
                try:
                    part = fn(left, right)
                except TypeError as exc:
                    raise self.fail(node, f"compares values of different kinds ({exc})"
                                    ) from None
            if isinstance(part, np.bool_):  # two scalars
                part = bool(part)
            result = part if result is None else (result & part)
            left_node, left = right_node, right
        return result

    def check_types(self, node: ast.AST, col, other) -> None:
        """A numeric column against a string, or a text column against a number: error."""
        if not isinstance(col, pd.Series):
            return
        name = self.names.get(getattr(node, "id", ""), getattr(node, "id", "?"))
        numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        if numeric and isinstance(other, str):
            raise DataError(
                f"the {self.what} {self.expr!r} compares the numeric column {name!r} with "
                f"the text {other!r}; write the number without quotes", column=name)
        textual = col.dtype == object or isinstance(col.dtype, pd.StringDtype)
        if textual and isinstance(other, int | float) and not isinstance(other, bool):
            vals = col.dropna()
            if len(vals) and all(isinstance(v, str) for v in vals):
                raise DataError(
                    f"the {self.what} {self.expr!r} compares the text column {name!r} with "
                    f"the number {other!r}; quote it ({str(other)!r}) if it is a label",
                    column=name)

    def call(self, node: ast.Call):
        if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) \
                and node.func.attr in FILTER_FUNCTIONS and not node.args \
                and not node.keywords:
            col = self.column(node.func.value)
            fn = node.func.attr
        elif isinstance(node.func, ast.Name) and node.func.id in FILTER_FUNCTIONS \
                and len(node.args) == 1 and isinstance(node.args[0], ast.Name) \
                and not node.keywords:
            col = self.column(node.args[0])
            fn = node.func.id
        else:
            raise self.fail(node.func if not isinstance(node.func, ast.Name) else node,
                            "is not an allowed function")
        return col.isna() if fn in ("isna", "isnull") else col.notna()


def _as_float(v):
    if isinstance(v, pd.Series):
        return v.astype(float)
    return float(v)


def evaluate_filter(df: pd.DataFrame, expr: str, *, what: str = "filter") -> pd.Series:
    """Evaluate a row filter over ``df`` (see the module documentation).

    Parameters
    ----------
    df : DataFrame
        The table.
    expr : str
        The filter, e.g. ``"rob == 'high' and year >= 2000"``.
    what : str
        How to name the expression in error messages (``"filter"``, ``"exclude"``...).

    Returns
    -------
    Series of bool
        True for rows the expression selects, indexed as ``df``.

    Raises
    ------
    DataError
        Naming the offending token or the unknown column (with a close match).
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(df).__name__}")
    if not isinstance(expr, str) or not expr.strip():
        raise DataError(f"the {what} must be a non-empty string, got {expr!r}")
    text, names = protect_backquotes(expr, what, expr)
    # & and | bind like and/or, as in pandas query (not tighter than comparisons)
    text = replace_outside_strings(text, {"&": " and ", "|": " or "})
    try:
        node = parse_python(text, what, expr, names)
        out = _FilterEvaluator(df, expr, what, names).boolean(node)
    except (RecursionError, MemoryError):
        raise DataError(f"the {what} {expr[:60]!r} is nested too deeply") from None
    if isinstance(out, bool | np.bool_):
        return pd.Series(bool(out), index=df.index)
    return pd.Series(np.asarray(out, dtype=bool), index=df.index)


def filter_rows(df: pd.DataFrame, expr: str, *, what: str = "filter") -> pd.Series:
    """Boolean mask of the rows of ``df`` selected by ``expr``; alias of :func:`evaluate_filter`."""
    return evaluate_filter(df, expr, what=what)

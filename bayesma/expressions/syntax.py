"""Shared pieces of the formula and filter grammars: backquoted names, parsing with
:mod:`ast` (never evaluating), error messages naming the offending token."""

from __future__ import annotations

import ast
import difflib
import keyword
from collections.abc import Sequence

from bayesma.errors import DataError

__all__ = [
    "FILTER_FUNCTIONS",
    "FILTER_HELP",
    "FORMULA_FUNCTIONS",
    "FORMULA_HELP",
    "constant_only",
    "is_dunder",
    "is_literal",
    "node_text",
    "parse_python",
    "protect_backquotes",
    "quote_name",
    "replace_outside_strings",
    "suggest_column",
    "unknown_column_error",
]

#: Functions a moderator formula may call (R's ``factor``/``as.factor`` read as ``C``).
FORMULA_FUNCTIONS = ("C", "I", "log", "exp", "sqrt", "center", "scale", "poly")
#: Functions a row filter may call.
FILTER_FUNCTIONS = ("isna", "notna", "isnull", "notnull")

FORMULA_HELP = (
    "a formula may use column names, + - * : ( ), 0/1 for the intercept, and the "
    "functions " + ", ".join(FORMULA_FUNCTIONS)
)
FILTER_HELP = (
    "a filter may use column names, numbers, strings, comparisons, and/or/not, & | ~, "
    "in [...], arithmetic and isna()/notna(), e.g. \"rob == 'high'\" or \"year >= 2000\""
)


def suggest_column(name: str, columns: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, [str(c) for c in columns], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown_column_error(name: str, columns: Sequence[str], text: str, what: str) -> DataError:
    return DataError(
        f"column {name!r} in the {what} {text!r} is not in the data{suggest_column(name, columns)} "
        f"(available columns: {', '.join(map(str, columns))})",
        column=name,
    )


def quote_name(name: str) -> str:
    """A column name as formulaic reads it: bare when a plain identifier, else backquoted."""
    if name.isidentifier() and not keyword.iskeyword(name) and name.isascii():
        return name
    if "`" in name:
        raise DataError(f"column name {name!r} contains a backquote; rename the column",
                        column=name)
    return f"`{name}`"


_BQ = "__bq{}__"  # placeholder identifier for a backquoted name (never a user name)


def protect_backquotes(text: str, what: str, source: str) -> tuple[str, dict[str, str]]:
    """Replace each ``` `name` ``` outside string literals by a placeholder identifier."""
    out: list[str] = []
    names: dict[str, str] = {}
    i, n, quote = 0, len(text), None
    while i < n:
        ch = text[i]
        if quote:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif ch == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise DataError(f"unclosed backquote in the {what} {source!r}")
            ph = _BQ.format(len(names))
            names[ph] = text[i + 1:end]
            out.append(ph)
            i = end
        else:
            out.append(ch)
        i += 1
    return "".join(out), names


def replace_outside_strings(text: str, mapping: dict[str, str]) -> str:
    """Replace single characters by ``mapping`` outside string literals."""
    out: list[str] = []
    i, n, quote = 0, len(text), None
    while i < n:
        ch = text[i]
        if quote:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        else:
            out.append(mapping.get(ch, ch))
        i += 1
    return "".join(out)


def parse_python(text: str, what: str, source: str,
                  names: dict[str, str] | None = None) -> ast.expr:
    try:
        return ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        line = (exc.text or text).strip("\n")
        off = exc.offset or 0
        rest = line[off - 1:].split() if 1 <= off <= len(line) else []
        tok = rest[0][:20] if rest else "end of text"
        for ph, name in (names or {}).items():
            tok = tok.replace(ph, f"`{name}`")
        formula = what == "formula"
        raise DataError(
            f"cannot {'parse the moderator formula' if formula else 'read the ' + what} "
            f"{source!r}: unexpected {tok!r}; " + (FORMULA_HELP if formula else FILTER_HELP)
        ) from None


def node_text(node: ast.AST, names: dict[str, str]) -> str:
    """The source-like text of a rejected node, placeholders turned back into names."""
    try:
        text = ast.unparse(node)
    except Exception:  # noqa: BLE001 - unparse of an odd node; fall back to its type
        text = type(node).__name__
    for ph, name in names.items():
        text = text.replace(ph, f"`{name}`")
    return text if len(text) <= 60 else text[:57] + "..."


def is_dunder(name: str) -> bool:
    return name.startswith("__") or name.endswith("__")


def constant_only(node: ast.AST) -> bool:
    """True when an expression has no column (only numbers and operators)."""
    return not any(isinstance(n, ast.Name | ast.Call) for n in ast.walk(node))


def is_literal(node: ast.AST) -> bool:
    """A number, string, boolean, or a list/tuple of those (possibly negated numbers)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int | float | str | bool)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        return isinstance(node.operand, ast.Constant) and isinstance(
            node.operand.value, int | float) and not isinstance(node.operand.value, bool)
    if isinstance(node, ast.List | ast.Tuple):
        return all(is_literal(e) and not isinstance(e, ast.List | ast.Tuple) for e in node.elts)
    return False

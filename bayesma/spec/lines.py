"""Key positions in a TOML text, key-path formatting, "did you mean" and located errors.

``tomllib`` reports no positions, so :class:`LineIndex` scans the text once and maps
every key path (``("priors", "tau", "family")``, array entries as integers) to its line;
:func:`spec_error` builds the :class:`~bayesma.errors.SpecError` that names the file,
the line and the key (``bcg.toml, line 9: effect.measur: unknown key; ...``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from pathlib import Path

from bayesma.errors import SpecError

__all__ = ["BARE_KEY", "KeyPath", "LineIndex", "closest", "format_path", "spec_error"]

#: A bare TOML key.
BARE_KEY = r"[A-Za-z0-9_-]+"
_BARE = BARE_KEY
_QKEY = r'"(?:[^"\\]|\\.)*"|\'[^\']*\''
_KEYPART = rf"(?:{_BARE}|{_QKEY})"
_DOTTED = rf"{_KEYPART}(?:\s*\.\s*{_KEYPART})*"
_RE_ARRAY_HEADER = re.compile(rf"^\[\[\s*({_DOTTED})\s*\]\]")
_RE_HEADER = re.compile(rf"^\[\s*({_DOTTED})\s*\]")
_RE_KEYVAL = re.compile(rf"^({_DOTTED})\s*=")
_RE_KEY_IN_TABLE = re.compile(rf"\s*({_DOTTED})\s*=")

KeyPath = tuple[str | int, ...]


def _split_dotted(text: str) -> list[str]:
    parts = re.findall(_KEYPART, text)
    out = []
    for p in parts:
        if p[:1] in ('"', "'"):
            p = p[1:-1]
        out.append(p)
    return out


class LineIndex:
    """Map key paths (``("priors", "tau", "family")``) to line numbers of a TOML text."""

    def __init__(self, text: str) -> None:
        self.positions: dict[KeyPath, int] = {}
        self._arrays: dict[KeyPath, int] = {}
        self._build(text.splitlines())

    def _put(self, path: KeyPath, line: int) -> None:
        for n in range(1, len(path) + 1):
            self.positions.setdefault(tuple(path[:n]), line)

    def _resolve(self, parts: list[str], *, last_is_array: bool = False) -> list:
        out: list[str | int] = []
        for j, part in enumerate(parts):
            out.append(part)
            is_last = j == len(parts) - 1
            if tuple(out) in self._arrays and not (is_last and last_is_array):
                out.append(self._arrays[tuple(out)])
        return out

    def _build(self, lines: list[str]) -> None:
        current: KeyPath = ()
        i = 0
        while i < len(lines):
            stripped = lines[i].strip()
            lineno = i + 1
            if not stripped or stripped.startswith("#"):
                i += 1
                continue
            m = _RE_ARRAY_HEADER.match(stripped)
            if m:
                key = tuple(self._resolve(_split_dotted(m.group(1)), last_is_array=True))
                idx = self._arrays.get(key, -1) + 1
                self._arrays[key] = idx
                current = (*key, idx)
                self._put(current, lineno)
                i += 1
                continue
            m = _RE_HEADER.match(stripped)
            if m:
                current = tuple(self._resolve(_split_dotted(m.group(1))))
                self._put(current, lineno)
                i += 1
                continue
            m = _RE_KEYVAL.match(stripped)
            if m:
                path = (*current, *_split_dotted(m.group(1)))
                self._put(path, lineno)
                i = self._scan_value(lines, i, stripped[m.end():], path)
                continue
            i += 1

    def _scan_value(self, lines: list[str], i: int, text: str, path: KeyPath) -> int:
        """Record keys inside inline tables / arrays; return the next line index."""
        stack: list[list] = []  # [kind, path, count]
        line = i
        pos = 0
        expect_key = False
        started = False
        while True:
            while pos < len(text):
                ch = text[pos]
                if expect_key and stack and stack[-1][0] == "table":
                    m = _RE_KEY_IN_TABLE.match(text, pos)
                    expect_key = False
                    if m:
                        self._put((*stack[-1][1], *_split_dotted(m.group(1))), line + 1)
                        pos = m.end()
                        continue
                if ch.isspace():
                    pos += 1
                    continue
                if ch == "#":
                    break
                if stack and stack[-1][0] == "array" and not stack[-1][3]:
                    stack[-1][3] = True  # an element starts here
                    self._put((*stack[-1][1], stack[-1][2]), line + 1)
                started = True
                if ch in "\"'":
                    q3 = text[pos:pos + 3]
                    if q3 in ('"""', "'''"):
                        end = text.find(q3, pos + 3)
                        while end < 0 and line + 1 < len(lines):
                            line += 1
                            text, pos = lines[line], 0
                            end = text.find(q3)
                        pos = (end + 3) if end >= 0 else len(text)
                        continue
                    j = pos + 1
                    while j < len(text) and text[j] != ch:
                        j += 2 if (ch == '"' and text[j] == "\\") else 1
                    pos = j + 1
                    continue
                if ch == "{":
                    parent = stack[-1] if stack else None
                    p = path if parent is None else (
                        (*parent[1], parent[2]) if parent[0] == "array" else parent[1])
                    stack.append(["table", p, 0, True])
                    expect_key = True
                elif ch == "[":
                    parent = stack[-1] if stack else None
                    p = path if parent is None else (
                        (*parent[1], parent[2]) if parent[0] == "array" else parent[1])
                    stack.append(["array", p, 0, False])
                elif ch in "}]":
                    if stack:
                        stack.pop()
                elif ch == ",":
                    if stack and stack[-1][0] == "table":
                        expect_key = True
                    elif stack and stack[-1][0] == "array":
                        stack[-1][2] += 1
                        stack[-1][3] = False
                pos += 1
            if not stack or line + 1 >= len(lines):
                return line + 1
            line += 1
            text, pos = lines[line], 0
            if not started:
                started = True

    def line_of(self, path: KeyPath) -> int | None:
        """Line of ``path`` or of its closest recorded parent (1-based), or None."""
        for n in range(len(path), 0, -1):
            if tuple(path[:n]) in self.positions:
                return self.positions[tuple(path[:n])]
        return None


def format_path(path: KeyPath) -> str:
    """``("outcomes", 1, "effect", "m1i")`` -> ``"outcomes[1].effect.m1i"``."""
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + (p if re.fullmatch(_BARE, p) else repr(p))
    return out


def closest(word: str, candidates: Sequence[str]) -> str | None:
    """The candidate closest to ``word`` (difflib, case-insensitive), or None."""
    cands = [str(c) for c in candidates]
    lower = {c.lower(): c for c in cands}
    hit = difflib.get_close_matches(str(word).lower(), list(lower), n=1, cutoff=0.6)
    return lower[hit[0]] if hit else None


def spec_error(path: Path | None, index: LineIndex | None, key: KeyPath, message: str,
               hint: str = "") -> SpecError:
    """A :class:`SpecError` naming the file, the line of ``key`` and the key path.

    The error carries ``file``, ``line``, ``key`` (dotted text) and ``hint`` attributes.
    """
    where = path.name if path is not None else "spec"
    line = index.line_of(key) if (index is not None and key) else None
    loc = f"{where}, line {line}" if line else where
    keytext = format_path(key)
    text = f"{loc}: {keytext}: {message}" if keytext else f"{loc}: {message}"
    err = SpecError(text)
    err.file = path  # type: ignore[attr-defined]
    err.line = line  # type: ignore[attr-defined]
    err.key = keytext  # type: ignore[attr-defined]
    err.hint = hint  # type: ignore[attr-defined]
    return err

"""Writing a spec-shaped dict back as TOML (``spec.toml`` of a run: the spec as run)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from bayesma.spec.lines import BARE_KEY

__all__ = ["dumps_toml"]


def _toml_key(k: str) -> str:
    return k if re.fullmatch(BARE_KEY, k) else '"' + k.replace('"', '\\"') + '"'


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v) if not (isinstance(v, float) and not math.isfinite(v)) else "nan"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return _toml_value(str(v))


def dumps_toml(data: Mapping[str, Any]) -> str:
    """Write a spec-shaped dict as TOML (tables, arrays of tables, inline priors)."""
    lines: list[str] = []

    def emit(table: Mapping[str, Any], prefix: str) -> None:
        scalars = {k: v for k, v in table.items()
                   if not isinstance(v, dict) or _inline(k, v)}
        subs = {k: v for k, v in table.items() if k not in scalars}
        arrays = {k: v for k, v in scalars.items()
                  if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)}
        for k, v in scalars.items():
            if k not in arrays:
                lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        for k, v in subs.items():
            name = f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k)
            lines.append("")
            lines.append(f"[{name}]")
            emit(v, name)
        for k, v in arrays.items():
            name = f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k)
            for item in v:
                lines.append("")
                lines.append(f"[[{name}]]")
                emit(item, name)

    emit(data, "")
    return "\n".join(lines).lstrip("\n") + "\n"


def _inline(key: str, v: dict[str, Any]) -> bool:
    # priors and other leaf tables are written inline
    return "family" in v or "preset" in v

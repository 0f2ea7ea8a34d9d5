"""Reading and validating spec files: :func:`load_spec`, :func:`parse_spec`.

Every problem raises a :class:`~bayesma.errors.SpecError` naming the file, the line and
the key path, with a "did you mean" suggestion for misspelt keys, values, columns,
datasets, prior families and presets. Settings given on the command line
(``overrides``) are blamed on the command line, not on the file.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bayesma.errors import SpecError
from bayesma.priors.base import type_name
from bayesma.spec.data import load_table
from bayesma.spec.lines import KeyPath, LineIndex, closest, format_path, spec_error
from bayesma.spec.model import Spec
from bayesma.spec.outcomes import resolve_outcome
from bayesma.spec.review import check_review
from bayesma.spec.schema import SCHEMA, Key, Section, with_defaults

__all__ = ["check_schema", "load_spec", "load_spec_from", "parse_spec"]

#: Command-line option of each sampler override (for messages).
_OPTION = {"engine": "--engine", "seed": "--seed", "draws": "--draws", "tune": "--tune",
           "chains": "--chains", "cores": "--cores", "sampler": "--sampler",
           "target_accept": "--target-accept"}


def load_spec(path: str | Path, *, overrides: Mapping[str, Any] | None = None) -> Spec:
    """Read and validate a spec file.

    Parameters
    ----------
    path : str or Path
        The TOML file.
    overrides : dict, optional
        Sampler settings replacing the file's (``engine``, ``seed``, ``draws``, ``tune``,
        ``chains``, ``sampler``), e.g. from the command line.

    Returns
    -------
    Spec

    Raises
    ------
    SpecError
        Unknown key (with the closest valid key), wrong type, missing data file or
        column, unknown prior family or preset; the message names the file, line and
        key path. Also for a file that is not UTF-8 text.
    FileNotFoundError
        If the spec file does not exist.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"spec file not found: {p}")
    if p.is_dir():
        raise SpecError(f"{p} is a directory; give a spec file such as models/bcg.toml")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        err = SpecError(f"{p.name}: not a text file; a spec is a TOML text file such as "
                        "models/bcg.toml")
        err.hint = "give the .toml spec, not a data or binary file"  # type: ignore[attr-defined]
        raise err
    return parse_spec(text, base_dir=p.resolve().parent, path=p, overrides=overrides)


def _toml_error(p: Path | None, exc: tomllib.TOMLDecodeError) -> SpecError:
    where = p.name if p is not None else "spec"
    msg = str(exc)
    m = re.search(r"line (\d+)", msg)
    line = f", line {m.group(1)}" if m else ""
    err = SpecError(f"{where}{line}: not valid TOML: {msg}")
    err.file, err.line = p, int(m.group(1)) if m else None  # type: ignore[attr-defined]
    err.key, err.hint = "", "check quotes, brackets and '=' on that line"  # type: ignore[attr-defined]
    return err


def _override_error(key: KeyPath, message: str, hint: str = "") -> SpecError:
    """An error about a value given on the command line (it names the option)."""
    name = str(key[1]) if len(key) > 1 else str(key[-1])
    opt = _OPTION.get(name, f"--{name.replace('_', '-')}")
    err = SpecError(f"command line: {opt}: {message}")
    err.file, err.line, err.key = None, None, opt  # type: ignore[attr-defined]
    err.hint = hint  # type: ignore[attr-defined]
    return err


def parse_spec(text: str, *, base_dir: str | Path = ".", path: str | Path | None = None,
               overrides: Mapping[str, Any] | None = None) -> Spec:
    """Validate a spec given as TOML text (see :func:`load_spec`).

    Parameters
    ----------
    text : str
        TOML text.
    base_dir : str or Path
        Directory that relative data paths are resolved against.
    path : str or Path, optional
        File name used in messages.
    overrides : dict, optional
        Sampler settings replacing the text's; an invalid one raises a SpecError that
        names the command-line option.
    """
    p = Path(path) if path is not None else None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(p, exc) from None
    index = LineIndex(text)

    def fail(key: KeyPath, message: str, hint: str = "") -> SpecError:
        return spec_error(p, index, key, message, hint)

    if isinstance(raw.get("data"), str):  # shorthand: data = "review.rm5", outcome = "CMP-…"
        short: dict[str, Any] = {"path": raw["data"]}
        if "outcome" in raw:
            short["outcome"] = raw.pop("outcome")
        raw["data"] = short
    check_schema(raw, SCHEMA, (), fail)
    sampler_schema = SCHEMA.fields["sampler"]
    if not isinstance(sampler_schema, Section):  # pragma: no cover - schema invariant
        raise TypeError("SCHEMA.sampler must be a Section")
    overrides = {k: v for k, v in dict(overrides or {}).items() if v is not None}
    for k, v in overrides.items():
        if k not in sampler_schema.fields:
            raise _override_error(("sampler", k), "unknown setting")
        check_schema(v, sampler_schema.fields[k], ("sampler", k), _override_error)
        raw.setdefault("sampler", {})[k] = v

    sampler = with_defaults(raw.get("sampler", {}), sampler_schema)
    classical = with_defaults(raw.get("classical", {}), SCHEMA.fields["classical"])
    outputs = with_defaults(raw.get("outputs", {}), SCHEMA.fields["outputs"])
    title = raw.get("title") or (p.stem if p is not None else "Meta-analysis")

    source, table = load_table(raw.get("data"), Path(base_dir), fail)
    check_review(raw, table, fail)
    outcome_raws: list[tuple[int | None, dict[str, Any]]]
    if "outcomes" in raw:
        if not raw["outcomes"]:
            raise fail(("outcomes",), "is empty; give at least one [[outcomes]] entry")
        outcome_raws = list(enumerate(raw["outcomes"]))
        names = [o.get("name") for _, o in outcome_raws]
        for i, o in outcome_raws:
            if not o.get("name"):
                raise fail(("outcomes", i), "every [[outcomes]] entry needs a name",
                           'add name = "Anxiety" under [[outcomes]]')
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            i = names.index(dup[0], names.index(dup[0]) + 1)
            raise fail(("outcomes", i, "name"), f"duplicate outcome name {dup[0]!r}")
    else:
        outcome_raws = [(None, {})]
    outcomes = [
        resolve_outcome(raw, i, o, table, title, sampler["engine"], fail)
        for i, o in outcome_raws
    ]
    slugs = [o.slug for o in outcomes]
    for j, o in enumerate(outcomes):
        if slugs.count(o.slug) > 1:
            o.slug = f"{o.slug}_{j + 1}"
    return Spec(path=p, text=text, raw=raw, title=str(title),
                description=str(raw.get("description", "")), data_source=source,
                sampler=sampler, classical=classical, outputs=outputs, outcomes=outcomes,
                overrides=dict(overrides), base_dir=Path(base_dir), index=index)


def load_spec_from(spec: Spec, **overrides: Any) -> Spec:
    """Re-validate ``spec`` with sampler overrides (``engine=``, ``seed=``, ...)."""
    merged = {**spec.overrides, **{k: v for k, v in overrides.items() if v is not None}}
    return parse_spec(spec.text, base_dir=spec.base_dir, path=spec.path, overrides=merged)


_KIND_TEXT = {
    "str": "a string", "int": "an integer", "float": "a number", "bool": "true or false",
    "str_list": "a list of strings", "str_or_list": "a string or a list of strings",
    "prior": "a prior table", "prior_map": "a table of name = prior",
    "str_pair": "a list of two strings", "float_list": "a list of numbers",
    "prior_or_map": "a prior table or a table of level = prior",
    "count_map": "a whole number or a table of name = whole number", "table": "a table",
}




def check_schema(value: Any, node: Key | Section, path: KeyPath,
                 fail: Callable[..., SpecError]) -> None:
    """Check keys and types of ``value`` against the schema node (priors are checked
    later, when they are built); ``fail(path, message, hint)`` makes the error."""
    if isinstance(node, Section):
        if node.array and path:
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise fail(path, f"must be an array of tables ([[{format_path(path)}]]), got "
                           f"{type_name(value)}")
            for i, v in enumerate(value):
                _check_table(v, node, (*path, i), fail)
            return
        if not isinstance(value, dict):
            raise fail(path, f"must be a table ([{format_path(path)}]), got {type_name(value)}")
        _check_table(value, node, path, fail)
        return
    _check_value(value, node, path, fail)


def _check_table(value: dict[str, Any], node: Section, path: KeyPath,
                 fail: Callable[..., SpecError]) -> None:
    for key, v in value.items():
        if key not in node.fields:
            guess = closest(key, list(node.fields))
            where = f"[{format_path(path)}]" if path else "the top level"
            hint = f"did you mean {guess!r}?" if guess else (
                "valid keys: " + ", ".join(node.fields))
            raise fail((*path, key), f"unknown key in {where}; {hint}",
                       "valid keys: " + ", ".join(node.fields))
        check_schema(v, node.fields[key], (*path, key), fail)


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _check_value(v: Any, key: Key, path: KeyPath, fail: Callable[..., SpecError]) -> None:
    kind = key.kind
    ok = {
        "str": isinstance(v, str),
        "int": isinstance(v, int) and not isinstance(v, bool),
        "float": isinstance(v, int | float) and not isinstance(v, bool),
        "bool": isinstance(v, bool),
        "str_list": isinstance(v, list) and all(isinstance(x, str) for x in v),
        "str_or_list": isinstance(v, str) or (isinstance(v, list)
                                               and all(isinstance(x, str) for x in v)),
        "prior": isinstance(v, dict),
        "prior_map": isinstance(v, dict) and all(isinstance(x, dict) for x in v.values()),
        "str_pair": isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v),
        "float_list": isinstance(v, list) and len(v) > 0 and all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in v),
        "prior_or_map": isinstance(v, dict),
        "count_map": _is_count(v) or (isinstance(v, dict) and all(
            _is_count(x) for x in v.values())),
        "table": isinstance(v, dict),
    }[kind]
    if not ok:
        raise fail(path, f"must be {_KIND_TEXT[kind]}, got {type_name(v)} ({v!r})")
    if key.choices is not None:
        vals = v if isinstance(v, list) else [v]
        for j, x in enumerate(vals):
            if x not in key.choices:
                guess = closest(str(x), [str(c) for c in key.choices])
                sub = (*path, j) if isinstance(v, list) else path
                hint = f"did you mean {guess!r}? " if guess else ""
                raise fail(sub, f"invalid value {x!r}; {hint}choose from "
                           + ", ".join(map(repr, key.choices)))
    if kind in ("int", "float", "float_list"):
        vals = v if isinstance(v, list) else [v]
        for j, x in enumerate(vals):
            sub = (*path, j) if isinstance(v, list) else path
            if key.minimum is not None and x < key.minimum:
                raise fail(sub, f"must be >= {key.minimum:g}, got {x!r}")
            if key.maximum is not None and x > key.maximum:
                raise fail(sub, f"must be <= {key.maximum:g}, got {x!r}")
    if kind == "prior_map":
        for name, pv in v.items():
            _check_value(pv, Key("prior"), (*path, name), fail)

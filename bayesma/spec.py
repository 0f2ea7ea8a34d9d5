"""Analysis specifications: one TOML file = one analysis (``models/*.toml``).

A spec names the data, the effect size, the model, the priors, the sampler, the
classical twin, the sensitivity analyses, the small-study checks and the outputs::

    title = "BCG vaccine: risk ratio by absolute latitude"

    [data]
    dataset = "bcg"                 # a bundled dataset, or: path = "data/trials.csv"

    [effect]
    measure = "RR"
    ai = "tpos"                     # metafor's argument names map to columns
    bi = "tneg"
    ci = "cpos"
    di = "cneg"
    label = "author"

    [model]
    type = "meta_regression"        # "random_effects" | "meta_regression" | "subgroups"
    mods = "~ ablat"

    [priors]
    tau = { family = "HalfNormal", sigma = 0.5 }
    mu = { family = "Normal", mu = 0, sigma = 4 }

    [sampler]
    engine = "exact"                # or "mcmc"
    seed = 1

:func:`load_spec` reads and validates a file; every problem raises a
:class:`~bayesma.errors.SpecError` whose message names the file, the line and the key
path (``bcg.toml, line 9: effect.measur: unknown key; did you mean 'measure'?``).
:func:`run_spec` (or ``bayesma fit SPEC``) runs it and :mod:`bayesma.report` writes the
outputs. The full reference of the keys is :data:`SCHEMA` and ``docs/specs.md``.

Several outcomes of one review come from one table with ``[[outcomes]]`` entries, each
with a ``name``, an optional row ``filter`` (a pandas query) and optional ``effect``,
``model``, ``priors``, ``sensitivity`` and ``bias`` tables that override the top-level
ones for that outcome (an outcome's ``effect`` table that names any column replaces the
top-level columns; ``measure`` and ``label`` are inherited).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import math
import re
import tomllib
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesma.errors import BayesmaError, DataError, SpecError

__all__ = [
    "SCHEMA",
    "ENGINES",
    "MODEL_TYPES",
    "OUTPUTS",
    "PRESETS",
    "OutcomeResult",
    "OutcomeSpec",
    "Spec",
    "SpecResult",
    "load_spec",
    "parse_spec",
    "run_spec",
]

#: Bayesian engines.
ENGINES = ("exact", "mcmc")
#: Model types of ``[model] type``.
MODEL_TYPES = ("random_effects", "meta_regression", "subgroups")
#: Output files that ``[outputs]`` switches on or off (all on by default).
OUTPUTS = ("summary", "forest", "funnel", "prior_posterior", "regression", "sensitivity",
           "posterior", "spec", "report")
#: Prior presets allowed in ``{preset = ...}`` with their arguments.
PRESETS: dict[str, tuple[str, ...]] = {
    "turner2015": ("outcome", "comparison"),
    "rhodes2015": ("outcome", "comparison", "area"),
    "bartos2021": ("measure",),
}
#: Effect-size columns (metafor's argument names) of ``[effect]``.
EFFECT_COLUMNS = ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i", "ai", "bi", "ci", "di",
                  "ri", "ni", "yi", "vi", "sei")
#: tau² estimators of the classical twin.
CLASSICAL_METHODS = ("EE", "FE", "DL", "HE", "HS", "HSk", "SJ", "ML", "REML", "EB", "PM",
                     "PMM")


# ======================================================================================
# Schema
# ======================================================================================


@dataclass(frozen=True)
class Key:
    """A leaf key of the schema.

    ``kind`` is one of ``"str"``, ``"int"``, ``"float"`` (ints accepted), ``"bool"``,
    ``"str_list"``, ``"str_or_list"``, ``"prior"``, ``"prior_map"`` (a table of
    name -> prior), ``"str_pair"``.
    """

    kind: str
    doc: str = ""
    choices: tuple[Any, ...] | None = None
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class Section:
    """A table of the schema; ``array=True`` for an array of tables (``[[...]]``)."""

    fields: dict[str, Key | Section]
    doc: str = ""
    array: bool = False


_PRIOR_DOC = ('a prior: {family = "HalfNormal", sigma = 0.5} or {preset = "rhodes2015", '
              'outcome = ..., comparison = ..., area = ...}')

_EFFECT_FIELDS: dict[str, Key | Section] = {
    "measure": Key("str", "effect measure (metafor's names: SMD, MD, OR, RR, ...)"),
    **{c: Key("str", f"column holding metafor's {c}") for c in EFFECT_COLUMNS},
    "label": Key("str", "column of study labels"),
    "participants": Key("str_or_list", "column(s) summed to count participants "
                        "(default n1i + n2i, or ni)"),
    "add": Key("float", "value added to 2x2 tables with a zero cell", default=0.5,
               minimum=0.0),
    "to": Key("str", "which 2x2 tables get `add`", choices=("only0", "all", "if0all", "none"),
              default="only0"),
    "drop00": Key("bool", "drop tables with no events in both groups", default=False),
    "vtype": Key("str", "variance type (metafor's vtype)", default="LS"),
    "favours": Key("str_pair", "labels under the forest plot axis, left and right",
                   default=("Favours treatment", "Favours control")),
}

_MODEL_FIELDS: dict[str, Key | Section] = {
    "type": Key("str", "model", choices=MODEL_TYPES, default="random_effects"),
    "mods": Key("str_or_list", "moderator formula ('~ ablat') or list of columns "
                "(meta_regression)"),
    "by": Key("str", "grouping column (subgroups)"),
    "tau": Key("str", "subgroups: one tau per level (separate fits, as the forest plot's "
               "subtotals) or one tau shared by all levels",
               choices=("per_level", "shared"), default="per_level"),
    "level": Key("float", "probability of intervals (CrI and CI)", default=0.95,
                 minimum=0.5, maximum=0.999),
    "parameterization": Key("str", "how MCMC sees the study effects",
                            choices=("marginal", "noncentered", "centered"),
                            default="marginal"),
}

_PRIOR_FIELDS: dict[str, Key | Section] = {
    "mu": Key("prior", "prior of the pooled effect (intercept); " + _PRIOR_DOC),
    "tau": Key("prior", "prior of the between-study SD tau; " + _PRIOR_DOC),
    "beta": Key("prior", "prior of each moderator coefficient; " + _PRIOR_DOC),
}

_SENS_FIELDS: dict[str, Key | Section] = {
    "prior_sets": Key("str_list", "ready-made tau prior sets swept with the exact engine",
                      choices=("weakly informative", "empirical", "vague"), default=()),
    "tau_priors": Key("prior_map", "named tau priors to compare (name = prior)"),
    "mu_priors": Key("prior_map", "named mu priors to compare (name = prior)"),
    "leave1out": Key("bool", "leave-one-out, classical and Bayesian", default=True),
    "psense": Key("bool", "power-scaling prior/likelihood sensitivity", default=True),
    "subsets": Section({
        "name": Key("str", "name of the subset analysis"),
        "exclude": Key("str", "pandas query selecting the rows to EXCLUDE, e.g. "
                       "\"rob == 'high'\""),
        "rule": Key("str", "a built-in rule instead of exclude",
                    choices=("rob", "outliers", "influential", "rstudent")),
    }, doc="re-run the analysis without some studies", array=True),
}

_BIAS_FIELDS: dict[str, Key | Section] = {
    "funnel": Key("bool", "funnel plot", default=True),
    "contours": Key("bool", "contour-enhanced funnel plot", default=True),
    "egger": Key("bool", "Egger's regression test", default=True),
    "egger_predictor": Key("str", "predictor of the Egger-type test",
                           choices=("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv"),
                           default="sei"),
    "trimfill": Key("bool", "trim-and-fill", default=True),
    "ranktest": Key("bool", "Begg's rank correlation test", default=True),
    "fsn": Key("bool", "Rosenthal's fail-safe N", default=False),
}

#: The spec schema: sections, keys, types and defaults.
SCHEMA = Section({
    "title": Key("str", "title of the report"),
    "description": Key("str", "a paragraph shown under the title"),
    "data": Section({
        "dataset": Key("str", "a bundled dataset (bayesma datasets)"),
        "path": Key("str", "CSV file, relative to the spec"),
        "filter": Key("str", "pandas query keeping rows, e.g. \"year >= 1960\""),
        "citation": Key("str", "citation of the data (shown in the report)"),
    }, doc="where the study table comes from"),
    "effect": Section(_EFFECT_FIELDS, doc="effect size and its columns"),
    "model": Section(_MODEL_FIELDS, doc="the model"),
    "priors": Section(_PRIOR_FIELDS, doc="priors (defaults per measure when left out)"),
    "sampler": Section({
        "engine": Key("str", "Bayesian engine", choices=ENGINES, default="exact"),
        "draws": Key("int", "draws per chain (exact: i.i.d. draws saved per chain)",
                     default=1000, minimum=1),
        "tune": Key("int", "tuning iterations per chain (MCMC)", default=1000, minimum=0),
        "chains": Key("int", "chains", default=4, minimum=1),
        "cores": Key("int", "chains run in parallel (default: all cores)", minimum=1),
        "seed": Key("int", "random seed (recorded in the report)", minimum=0),
        "sampler": Key("str", "NUTS implementation", choices=("nutpie", "pymc", "numpyro"),
                       default="nutpie"),
        "target_accept": Key("float", "NUTS target acceptance", minimum=0.5, maximum=0.999),
    }, doc="engine and sampler settings"),
    "classical": Section({
        "method": Key("str", "tau² estimator of the classical twin", choices=CLASSICAL_METHODS,
                      default="REML"),
        "test": Key("str", "inference of the classical twin", choices=("z", "t", "knha"),
                    default="knha"),
    }, doc="the classical twin"),
    "sensitivity": Section(_SENS_FIELDS, doc="sensitivity analyses"),
    "bias": Section(_BIAS_FIELDS, doc="small-study and publication bias checks"),
    "outputs": Section({
        **{o: Key("bool", f"write the {o} output", default=True) for o in OUTPUTS},
        "formats": Key("str_list", "file formats of the forest plot",
                       choices=("png", "pdf", "svg"), default=("png", "pdf")),
    }, doc="which files to write"),
    "outcomes": Section({
        "name": Key("str", "outcome name (required)"),
        "description": Key("str", "a sentence shown in the report"),
        "filter": Key("str", "pandas query keeping this outcome's rows"),
        "effect": Section(_EFFECT_FIELDS),
        "model": Section(_MODEL_FIELDS),
        "priors": Section(_PRIOR_FIELDS),
        "sensitivity": Section(_SENS_FIELDS),
        "bias": Section(_BIAS_FIELDS),
    }, doc="several outcomes from one table", array=True),
})


# ======================================================================================
# Locating keys in the TOML text (tomllib gives no positions)
# ======================================================================================

_BARE = r"[A-Za-z0-9_-]+"
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


class _LineIndex:
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


# ======================================================================================
# Spec objects
# ======================================================================================


@dataclass
class OutcomeSpec:
    """One analysis unit of a spec: an outcome with its data, effect, model and priors.

    Built by :func:`parse_spec`; a spec without ``[[outcomes]]`` has one outcome named
    after its title.
    """

    name: str
    slug: str
    index: int | None
    description: str
    data: pd.DataFrame  # the study table after the filters, with yi / vi computed
    raw_data: pd.DataFrame  # the table before escalc (after filters)
    measure: str
    label: str | None
    effect: dict[str, Any]
    model: dict[str, Any]
    priors: dict[str, Any]  # "mu", "tau", "beta" -> Prior (explicit or default)
    prior_origin: dict[str, str]  # "spec" or "default"
    sensitivity: dict[str, Any]
    bias: dict[str, Any]
    participants: int | None
    filter: str | None = None
    preset_args: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, KeyPath] = field(default_factory=dict)

    @property
    def k(self) -> int:
        """Number of studies."""
        return len(self.data)


@dataclass
class Spec:
    """A validated analysis specification (see the module documentation).

    Attributes
    ----------
    path : Path or None
        The spec file.
    text : str
        Its TOML text.
    raw : dict
        The parsed TOML (after ``overrides``).
    title, description : str
    data_source : dict
        ``{"dataset": name}`` or ``{"path": Path}``, with ``sha256`` of the file and
        ``citation``.
    sampler, classical, outputs : dict
        Settings with defaults filled in.
    outcomes : list of OutcomeSpec
    overrides : dict
        Settings changed on the command line (``engine``, ``seed``, ``draws`` ...).
    """

    path: Path | None
    text: str
    raw: dict[str, Any]
    title: str
    description: str
    data_source: dict[str, Any]
    sampler: dict[str, Any]
    classical: dict[str, Any]
    outputs: dict[str, Any]
    outcomes: list[OutcomeSpec]
    overrides: dict[str, Any] = field(default_factory=dict)
    base_dir: Path = field(default_factory=Path)
    _index: _LineIndex | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """Short name: the file stem, else a slug of the title."""
        return self.path.stem if self.path is not None else _slug(self.title)

    @property
    def engine(self) -> str:
        """The Bayesian engine ("exact" or "mcmc")."""
        return str(self.sampler["engine"])

    def error(self, path: KeyPath, message: str, hint: str = "") -> SpecError:
        """A :class:`SpecError` naming this spec's file, the line of ``path`` and the key."""
        return _spec_error(self.path, self._index, path, message, hint)

    def run(self, out: str | Path | None = None, *,
            progress: Callable[[str], None] | None = None) -> SpecResult:
        """Run the analysis (see :func:`run_spec`)."""
        return run_spec(self, out=out, progress=progress)

    def to_toml(self) -> str:
        """The spec as run: the parsed TOML with overrides applied and the data path made
        absolute, as TOML text with a header comment."""
        raw = copy.deepcopy(self.raw)
        if "path" in raw.get("data", {}):
            raw["data"]["path"] = str(self.data_source["path"])
        head = [f"# Spec as run by bayesma {_version()}"]
        if self.path is not None:
            head.append(f"# from {self.path}")
        if self.overrides:
            head.append("# command-line overrides: " + ", ".join(
                f"{k} = {v!r}" for k, v in self.overrides.items()))
        return "\n".join(head) + "\n\n" + dumps_toml(raw)


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "_", str(text)).strip("_").lower()
    return s or "analysis"


def _version() -> str:
    from bayesma import __version__

    return __version__


def _spec_error(path: Path | None, index: _LineIndex | None, key: KeyPath, message: str,
                hint: str = "") -> SpecError:
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


# ======================================================================================
# Loading and validation
# ======================================================================================


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
        key path.
    FileNotFoundError
        If the spec file does not exist.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"spec file not found: {p}")
    if p.is_dir():
        raise SpecError(f"{p} is a directory; give a spec file such as models/bcg.toml")
    text = p.read_text(encoding="utf-8")
    return parse_spec(text, base_dir=p.resolve().parent, path=p, overrides=overrides)


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
        Sampler settings replacing the text's.
    """
    p = Path(path) if path is not None else None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = p.name if p is not None else "spec"
        msg = str(exc)
        m = re.search(r"line (\d+)", msg)
        line = f", line {m.group(1)}" if m else ""
        err = SpecError(f"{where}{line}: not valid TOML: {msg}")
        err.file, err.line = p, int(m.group(1)) if m else None  # type: ignore[attr-defined]
        err.key, err.hint = "", "check quotes, brackets and '=' on that line"  # type: ignore[attr-defined]
        raise err from None
    index = _LineIndex(text)

    def fail(key: KeyPath, message: str, hint: str = "") -> SpecError:
        return _spec_error(p, index, key, message, hint)

    _check_schema(raw, SCHEMA, (), fail)
    overrides = {k: v for k, v in dict(overrides or {}).items() if v is not None}
    for k, v in overrides.items():
        if k not in SCHEMA.fields["sampler"].fields:  # type: ignore[union-attr]
            raise SpecError(f"unknown override {k!r}")
        raw.setdefault("sampler", {})[k] = v
    _check_schema(raw.get("sampler", {}), SCHEMA.fields["sampler"], ("sampler",), fail)

    sampler = _with_defaults(raw.get("sampler", {}), SCHEMA.fields["sampler"])
    classical = _with_defaults(raw.get("classical", {}), SCHEMA.fields["classical"])
    outputs = _with_defaults(raw.get("outputs", {}), SCHEMA.fields["outputs"])
    title = raw.get("title") or (p.stem if p is not None else "Meta-analysis")

    source, table = _load_data(raw.get("data"), Path(base_dir), fail)
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
        _resolve_outcome(raw, i, o, table, title, sampler["engine"], fail)
        for i, o in outcome_raws
    ]
    slugs = [o.slug for o in outcomes]
    for j, o in enumerate(outcomes):
        if slugs.count(o.slug) > 1:
            o.slug = f"{o.slug}_{j + 1}"
    return Spec(path=p, text=text, raw=raw, title=str(title),
                description=str(raw.get("description", "")), data_source=source,
                sampler=sampler, classical=classical, outputs=outputs, outcomes=outcomes,
                overrides=dict(overrides), base_dir=Path(base_dir), _index=index)


def _with_defaults(values: Mapping[str, Any], section: Key | Section) -> dict[str, Any]:
    assert isinstance(section, Section)
    out = {k: (v.default if isinstance(v, Key) else None) for k, v in section.fields.items()}
    out.update(values)
    return out


_KIND_TEXT = {
    "str": "a string", "int": "an integer", "float": "a number", "bool": "true or false",
    "str_list": "a list of strings", "str_or_list": "a string or a list of strings",
    "prior": "a prior table", "prior_map": "a table of name = prior",
    "str_pair": "a list of two strings",
}


def _type_name(v: Any) -> str:
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a table"
    return type(v).__name__


def _check_schema(value: Any, node: Key | Section, path: KeyPath,
                  fail: Callable[..., SpecError]) -> None:
    """Check keys and types against the schema (priors are checked later)."""
    if isinstance(node, Section):
        if node.array and path:
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise fail(path, f"must be an array of tables ([[{format_path(path)}]]), got "
                           f"{_type_name(value)}")
            for i, v in enumerate(value):
                _check_table(v, node, (*path, i), fail)
            return
        if not isinstance(value, dict):
            raise fail(path, f"must be a table ([{format_path(path)}]), got {_type_name(value)}")
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
        _check_schema(v, node.fields[key], (*path, key), fail)


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
    }[kind]
    if not ok:
        raise fail(path, f"must be {_KIND_TEXT[kind]}, got {_type_name(v)} ({v!r})")
    if key.choices is not None:
        vals = v if isinstance(v, list) else [v]
        for j, x in enumerate(vals):
            if x not in key.choices:
                guess = closest(str(x), [str(c) for c in key.choices])
                sub = (*path, j) if isinstance(v, list) else path
                hint = f"did you mean {guess!r}? " if guess else ""
                raise fail(sub, f"invalid value {x!r}; {hint}choose from "
                           + ", ".join(map(repr, key.choices)))
    if kind in ("int", "float"):
        if key.minimum is not None and v < key.minimum:
            raise fail(path, f"must be >= {key.minimum:g}, got {v!r}")
        if key.maximum is not None and v > key.maximum:
            raise fail(path, f"must be <= {key.maximum:g}, got {v!r}")
    if kind == "prior_map":
        for name, pv in v.items():
            _check_value(pv, Key("prior"), (*path, name), fail)


# ----------------------------------------------------------------------------- data


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _load_data(cfg: dict[str, Any] | None, base_dir: Path,
               fail: Callable[..., SpecError]) -> tuple[dict[str, Any], pd.DataFrame]:
    from bayesma import datasets

    if not cfg:
        raise fail(("data",), "missing [data] section",
                   'add [data] with dataset = "bcg" or path = "studies.csv"')
    has_ds, has_path = "dataset" in cfg, "path" in cfg
    if has_ds == has_path:
        raise fail(("data",), "give exactly one of 'dataset' and 'path'",
                   "dataset = a bundled dataset (bayesma datasets); path = a CSV file")
    if has_ds:
        name = cfg["dataset"]
        if name not in datasets.names():
            guess = closest(name, datasets.names())
            hint = f"did you mean {guess!r}? " if guess else ""
            raise fail(("data", "dataset"), f"unknown dataset {name!r}; {hint}bundled: "
                       + ", ".join(datasets.names()), "list them with: bayesma datasets")
        df = datasets.load(name)
        raw_bytes = resources.files("bayesma.datasets").joinpath(
            "data", f"{name}.csv").read_bytes()
        info = datasets.info(name)
        source = {"dataset": name, "sha256": _sha256_bytes(raw_bytes),
                  "citation": cfg.get("citation", info.get("citation", "")),
                  "title": info.get("title", ""), "file": f"bayesma/datasets/data/{name}.csv"}
    else:
        fpath = (base_dir / cfg["path"]).resolve()
        if not fpath.exists():
            raise fail(("data", "path"), f"data file not found: {fpath}",
                       "paths are relative to the spec file's folder")
        raw_bytes = fpath.read_bytes()
        # leading lines starting with '#' are comments (a '#' inside the table is data)
        lines = raw_bytes.decode("utf-8", errors="replace").splitlines()
        skip = next((i for i, ln in enumerate(lines) if not ln.lstrip().startswith("#")),
                    len(lines))
        try:
            df = pd.read_csv(fpath, skiprows=skip)
        except Exception as exc:  # noqa: BLE001 - pandas raises many types
            raise fail(("data", "path"), f"cannot read {fpath.name} as CSV: {exc}") from None
        source = {"path": fpath, "sha256": _sha256_bytes(raw_bytes),
                  "citation": cfg.get("citation", ""), "title": "", "file": str(fpath)}
    if "filter" in cfg:
        df = _query(df, cfg["filter"], ("data", "filter"), fail)
    return source, df


def _query(df: pd.DataFrame, expr: str, path: KeyPath,
           fail: Callable[..., SpecError], *, keep: bool = True) -> pd.DataFrame:
    try:
        mask = df.eval(expr)
    except Exception as exc:  # noqa: BLE001 - pandas.eval raises many types
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        m = re.search(r"name '([^']+)' is not defined", msg)
        if m:
            guess = closest(m.group(1), [str(c) for c in df.columns])
            hint = f"; did you mean {guess!r}?" if guess else ""
            raise fail(path, f"column {m.group(1)!r} in {expr!r} is not in the data{hint}",
                       "columns: " + ", ".join(map(str, df.columns))) from None
        raise fail(path, f"cannot evaluate {expr!r}: {msg}",
                   "write a pandas query such as \"rob == 'high'\" or \"year >= 2000\"") from None
    if not (isinstance(mask, pd.Series) and mask.dtype == bool):
        raise fail(path, f"{expr!r} must give true/false per row",
                   "compare a column, e.g. \"outcome == 'anxiety'\"")
    return df.loc[mask if keep else ~mask]


# ----------------------------------------------------------------------------- outcomes


def _merged(raw: dict[str, Any], section: str, idx: int | None, o: dict[str, Any]
            ) -> tuple[dict[str, Any], dict[str, KeyPath]]:
    base = dict(raw.get(section, {}))
    origin: dict[str, KeyPath] = {k: (section, k) for k in base}
    over = o.get(section, {})
    if section == "effect" and any(c in over for c in EFFECT_COLUMNS):
        for c in EFFECT_COLUMNS:
            base.pop(c, None)
            origin.pop(c, None)
    for k, v in over.items():
        base[k] = v
        origin[k] = ("outcomes", idx, section, k)  # type: ignore[assignment]
    return base, origin


def _resolve_outcome(raw: dict[str, Any], idx: int | None, o: dict[str, Any],
                     table: pd.DataFrame, title: str, engine: str,
                     fail: Callable[..., SpecError]) -> OutcomeSpec:
    name = o.get("name") or title
    df = table
    if "filter" in o:
        df = _query(df, o["filter"], ("outcomes", idx, "filter"), fail)
    if len(df) == 0:
        key = ("outcomes", idx, "filter") if "filter" in o else ("data", "filter")
        raise fail(key, "no rows left after the filter")
    effect, e_org = _merged(raw, "effect", idx, o)
    model, m_org = _merged(raw, "model", idx, o)
    priors_cfg, p_org = _merged(raw, "priors", idx, o)
    sens, s_org = _merged(raw, "sensitivity", idx, o)
    bias, b_org = _merged(raw, "bias", idx, o)
    effect_sec = SCHEMA.fields["effect"]
    effect = _with_defaults(effect, effect_sec)
    model = _with_defaults(model, SCHEMA.fields["model"])
    sens = _with_defaults(sens, SCHEMA.fields["sensitivity"])
    bias = _with_defaults(bias, SCHEMA.fields["bias"])
    effect_path = ("outcomes", idx, "effect") if idx is not None and "effect" in o else (
        "effect",)

    def epath(k: str) -> KeyPath:
        return e_org.get(k, (*effect_path, k))

    # --- columns exist
    cols = [str(c) for c in df.columns]
    for k in (*EFFECT_COLUMNS, "label"):
        c = effect.get(k)
        if c is not None and c not in df.columns:
            guess = closest(c, cols)
            hint = f"; did you mean {guess!r}?" if guess else ""
            raise fail(epath(k), f"column {c!r} is not in the data{hint}",
                       "columns: " + ", ".join(cols))
    parts = effect.get("participants")
    if parts is not None:
        for c in [parts] if isinstance(parts, str) else parts:
            if c not in df.columns:
                guess = closest(c, cols)
                hint = f"; did you mean {guess!r}?" if guess else ""
                raise fail(epath("participants"), f"column {c!r} is not in the data{hint}",
                           "columns: " + ", ".join(cols))

    # --- effect sizes
    dat, measure = _effect_sizes(df, effect, epath, fail)
    label = effect.get("label")
    if label is None:
        from bayesma.data import find_label_column

        label = find_label_column(dat)

    # --- model
    mtype = model["type"]
    if mtype == "meta_regression" and not model.get("mods"):
        raise fail(m_org.get("type", ("model", "type")),
                   "type = 'meta_regression' needs mods", 'add mods = "~ ablat"')
    if mtype == "subgroups" and not model.get("by"):
        raise fail(m_org.get("type", ("model", "type")), "type = 'subgroups' needs by",
                   'add by = "column"')
    if mtype == "subgroups":
        by = model["by"]
        if by not in dat.columns:
            guess = closest(by, cols)
            hint = f"; did you mean {guess!r}?" if guess else ""
            raise fail(m_org["by"], f"column {by!r} is not in the data{hint}",
                       "columns: " + ", ".join(cols))
    if mtype == "meta_regression":
        _check_mods(dat, model["mods"], label, m_org.get("mods", ("model", "mods")), fail)

    # --- priors
    explicit: dict[str, Any] = {}
    for key in ("mu", "tau", "beta"):
        if key in priors_cfg:
            explicit[key] = build_prior(priors_cfg[key], key, p_org[key], fail,
                                        measure=measure)
    from bayesma.priors import default_priors

    defaults = default_priors(measure, yi=dat["yi"].to_numpy(), vi=dat["vi"].to_numpy())
    priors = {"mu": explicit.get("mu", defaults["mu"]),
              "tau": explicit.get("tau", defaults["tau"])}
    if mtype == "meta_regression" or "beta" in explicit:
        priors["beta"] = explicit.get("beta", defaults.get("beta", defaults["mu"]))
    origin = {k: ("spec" if k in explicit else "default") for k in priors}
    if engine == "exact":
        for key in ("mu", "beta"):
            if key in explicit and not getattr(explicit[key], "is_normal", False):
                raise fail(p_org[key], f"the exact engine needs a Normal or Flat prior on "
                           f"{key}, got {explicit[key]}",
                           "use engine = 'mcmc' in [sampler] (or --engine mcmc)")

    # --- sensitivity priors and subsets
    for mapkey, role in (("tau_priors", "tau"), ("mu_priors", "mu")):
        built = {}
        for pname, pcfg in (sens.get(mapkey) or {}).items():
            built[pname] = build_prior(pcfg, role, (*s_org[mapkey], pname), fail,
                                       measure=measure)
        sens[mapkey] = built
    subsets = []
    for j, sub in enumerate(sens.get("subsets") or []):
        spath = (*s_org["subsets"], j)
        if ("exclude" in sub) == ("rule" in sub):
            raise fail(spath, "a subset needs exactly one of exclude = \"<pandas query>\" "
                       "and rule = \"rob\" | \"outliers\" | \"influential\"",
                       "e.g. exclude = \"rob == 'high'\"")
        if "exclude" in sub:
            excl = _query(dat, sub["exclude"], (*spath, "exclude"), fail)
            mask = dat.index.isin(excl.index)
            if mask.all():
                raise fail((*spath, "exclude"), f"{sub['exclude']!r} excludes every study")
            rule: Any = np.asarray(mask, dtype=bool)
            sname = sub.get("name") or f"excluding {sub['exclude']}"
        else:
            rule = sub["rule"]
            sname = sub.get("name") or f"excluding {rule}"
        subsets.append({"name": sname, "rule": rule, "exclude": sub.get("exclude"),
                        "path": spath})
    sens["subsets"] = subsets

    # --- participants
    participants = _participants(dat, effect)

    paths: dict[str, KeyPath] = {f"effect.{k}": v for k, v in e_org.items()}
    paths.update({f"model.{k}": v for k, v in m_org.items()})
    paths.update({f"priors.{k}": v for k, v in p_org.items()})
    paths.update({f"sensitivity.{k}": v for k, v in s_org.items()})
    paths.update({f"bias.{k}": v for k, v in b_org.items()})
    return OutcomeSpec(
        name=str(name), slug=_slug(name), index=idx, description=str(o.get("description", "")),
        data=dat, raw_data=df, measure=measure, label=label, effect=effect, model=model,
        priors=priors, prior_origin=origin, sensitivity=sens, bias=bias,
        participants=participants, filter=o.get("filter"), paths=paths,
        preset_args=dict(priors_cfg.get("tau", {})) if "preset" in priors_cfg.get("tau", {})
        else {})


def _effect_sizes(df: pd.DataFrame, effect: dict[str, Any], epath: Callable[[str], KeyPath],
                  fail: Callable[..., SpecError]) -> tuple[pd.DataFrame, str]:
    from bayesma.effect_sizes import MEASURES, escalc

    cols = {c: effect[c] for c in EFFECT_COLUMNS if effect.get(c) is not None}
    measure = effect.get("measure")
    if measure is None:
        if "yi" in cols:
            measure = "GEN"
        else:
            raise fail(("effect",), "missing measure",
                       'add measure = "SMD" (or "OR", "RR", "MD", ...) to [effect]')
    if str(measure).upper() not in MEASURES:
        guess = closest(str(measure), list(MEASURES))
        hint = f"did you mean {guess!r}? " if guess else ""
        raise fail(epath("measure"), f"unknown measure {measure!r}; {hint}known: "
                   + ", ".join(MEASURES))
    measure = str(measure).upper()
    if not cols:
        raise fail(("effect",), f"no columns for measure {measure}",
                   "name the columns with metafor's arguments (m1i, sd1i, n1i, m2i, sd2i, "
                   "n2i; ai, bi, ci, di; ri, ni) or give yi with vi or sei")
    if "yi" in cols and "vi" not in cols and "sei" not in cols:
        raise fail(epath("yi"), "given yi needs vi or sei", 'add vi = "vi" or sei = "sei"')
    kwargs = dict(cols)
    if "yi" not in cols:
        kwargs.update(add=float(effect["add"]), to=effect["to"], drop00=bool(effect["drop00"]),
                      vtype=effect["vtype"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dat = escalc(measure, df, **kwargs)
    except DataError as exc:
        key = next((k for k, c in cols.items() if c == exc.column), None)
        raise fail(epath(key) if key else ("effect",), str(exc)) from None
    except BayesmaError as exc:
        raise fail(("effect",), str(exc)) from None
    bad = ~(np.isfinite(dat["yi"].to_numpy(float)) & np.isfinite(dat["vi"].to_numpy(float)))
    if bad.any():
        from bayesma.data import describe_rows

        rows = describe_rows(dat, list(dat.index[bad]), slab=effect.get("label"))
        raise fail(("effect",), f"effect size undefined for {rows}",
                   "drop these rows with [data] filter, or fix the source values")
    dat.attrs["measure"] = measure
    return dat, measure


def _check_mods(dat: pd.DataFrame, mods: str | list[str], label: str | None, path: KeyPath,
                fail: Callable[..., SpecError]) -> None:
    from bayesma.classical.design import build_design

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            build_design(dat, mods, slab=label)
    except BayesmaError as exc:
        raise fail(path, str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - formula parser errors
        raise fail(path, f"cannot read the moderator formula {mods!r}: {exc}") from None


def study_sizes(o: OutcomeSpec) -> np.ndarray | None:
    """Participants per study (the ``participants`` columns summed), or None."""
    cols = _participant_columns(o.effect)
    if not cols:
        return None
    total = pd.DataFrame({c: pd.to_numeric(o.data[c], errors="coerce") for c in cols}).sum(
        axis=1, min_count=len(cols))
    if total.isna().any() or (total <= 0).any():
        return None
    return total.to_numpy(dtype=float)


def _participant_columns(effect: dict[str, Any]) -> list[str]:
    parts = effect.get("participants")
    if parts is None:
        if effect.get("n1i") and effect.get("n2i"):
            return [effect["n1i"], effect["n2i"]]
        if effect.get("ni"):
            return [effect["ni"]]
        if effect.get("ai") and effect.get("bi") and effect.get("ci") and effect.get("di"):
            return [effect[c] for c in ("ai", "bi", "ci", "di")]
        return []
    return [parts] if isinstance(parts, str) else list(parts)


def _participants(dat: pd.DataFrame, effect: dict[str, Any]) -> int | None:
    parts = effect.get("participants")
    if parts is None:
        if effect.get("n1i") and effect.get("n2i"):
            parts = [effect["n1i"], effect["n2i"]]
        elif effect.get("ni"):
            parts = [effect["ni"]]
        elif effect.get("ai") and effect.get("bi") and effect.get("ci") and effect.get("di"):
            parts = [effect[c] for c in ("ai", "bi", "ci", "di")]
        else:
            return None
    parts = [parts] if isinstance(parts, str) else list(parts)
    total = pd.DataFrame({c: pd.to_numeric(dat[c], errors="coerce") for c in parts}).sum(
        axis=1, min_count=len(parts))
    if total.isna().any():
        return None
    return int(round(float(total.sum())))


# ----------------------------------------------------------------------------- priors


def build_prior(cfg: dict[str, Any], role: str, path: KeyPath, fail: Callable[..., SpecError],
                *, measure: str | None = None):
    """Build a prior object from a spec table.

    Parameters
    ----------
    cfg : dict
        ``{"family": "HalfNormal", "sigma": 0.5}`` (any family of
        :data:`bayesma.priors.PRIOR_FAMILIES` with its parameters) or
        ``{"preset": "rhodes2015", "outcome": ..., "comparison": ..., "area": ...}``
        (``turner2015``, ``rhodes2015``, ``bartos2021``).
    role : {"mu", "tau", "beta"}
        The parameter the prior is for (checked against the family).
    path : tuple
        Key path for messages.
    fail : callable
        Makes the SpecError.
    measure : str, optional
        Default ``measure`` of the ``bartos2021`` preset.
    """
    from bayesma.priors import PRIOR_FAMILIES, bartos2021, rhodes2015, turner2015

    has_f, has_p = "family" in cfg, "preset" in cfg
    if has_f == has_p:
        raise fail(path, "a prior needs exactly one of 'family' and 'preset'",
                   '{family = "HalfNormal", sigma = 0.5} or {preset = "rhodes2015", ...}')
    if has_f:
        fam = cfg["family"]
        if fam not in PRIOR_FAMILIES:
            guess = closest(str(fam), list(PRIOR_FAMILIES))
            hint = f"did you mean {guess!r}? " if guess else ""
            raise fail((*path, "family"), f"unknown prior family {fam!r}; {hint}known: "
                       + ", ".join(PRIOR_FAMILIES))
        cls = PRIOR_FAMILIES[fam]
        params = [f.name for f in dataclasses.fields(cls) if f.name != "source"]
        args = {k: v for k, v in cfg.items() if k != "family"}
        for k, v in args.items():
            if k not in params:
                guess = closest(k, params)
                hint = f"did you mean {guess!r}? " if guess else ""
                raise fail((*path, k), f"{fam} has no parameter {k!r}; {hint}parameters: "
                           + (", ".join(params) or "none"))
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise fail((*path, k), f"must be a number, got {_type_name(v)} ({v!r})")
        try:
            prior = cls(**{k: float(v) for k, v in args.items()})
        except BayesmaError as exc:
            raise fail(path, str(exc)) from None
        except TypeError as exc:
            raise fail(path, f"{fam}: {exc}") from None
    else:
        preset = cfg["preset"]
        if preset not in PRESETS:
            guess = closest(str(preset), list(PRESETS))
            hint = f"did you mean {guess!r}? " if guess else ""
            raise fail((*path, "preset"), f"unknown prior preset {preset!r}; {hint}known: "
                       + ", ".join(PRESETS))
        args = {k: v for k, v in cfg.items() if k != "preset"}
        for k, v in args.items():
            if k not in PRESETS[preset]:
                guess = closest(k, PRESETS[preset])
                hint = f"did you mean {guess!r}? " if guess else ""
                raise fail((*path, k), f"preset {preset} has no argument {k!r}; {hint}"
                           "arguments: " + ", ".join(PRESETS[preset]))
            if not isinstance(v, str):
                raise fail((*path, k), f"must be a string, got {_type_name(v)} ({v!r})")
        try:
            if preset == "turner2015":
                prior = turner2015(**args)
            elif preset == "rhodes2015":
                prior = rhodes2015(**args)
            else:
                pair = bartos2021(args.get("measure", measure or "SMD"))
                prior = pair["tau" if role == "tau" else "mu"]
        except BayesmaError as exc:
            raise fail(path, str(exc)) from None
        if preset in ("turner2015", "rhodes2015") and role != "tau":
            raise fail((*path, "preset"), f"{preset} is a prior on tau, not on {role}",
                       f"use it under [priors] tau; for {role} give a family")
    want = "tau" if role == "tau" else "mu"
    if prior.param != want:
        what = "the heterogeneity tau" if want == "tau" else f"{role} (a location)"
        raise fail(path, f"{prior} is not a prior for {what}",
                   "tau priors: HalfNormal, HalfCauchy, HalfStudentT, Exponential, Uniform, "
                   "LogNormal, InverseGamma, LogNormalTau2, ...; location priors: Normal, "
                   "StudentT, Cauchy, Flat" if want == "tau" else
                   "location priors: Normal, StudentT, Cauchy, Flat")
    return prior


# ----------------------------------------------------------------------------- TOML out


def _toml_key(k: str) -> str:
    return k if re.fullmatch(_BARE, k) else '"' + k.replace('"', '\\"') + '"'


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


# ======================================================================================
# Running
# ======================================================================================


@dataclass
class OutcomeResult:
    """Everything computed for one outcome (filled by :func:`run_spec`)."""

    spec: OutcomeSpec
    classical: Any = None  # RMAResult of the random-effects model
    bayes: Any = None  # ExactPosterior or BayesFit of the random-effects model
    moderator_classical: Any = None  # RMAResult (meta-regression) or SubgroupResult
    moderator_bayes: Any = None  # ExactPosterior / BayesFit, or dict level -> posterior
    summary: pd.DataFrame | None = None
    overview: dict[str, Any] = field(default_factory=dict)
    bias: dict[str, Any] = field(default_factory=dict)
    sensitivity: dict[str, Any] = field(default_factory=dict)
    diagnostics: pd.DataFrame | None = None
    figures: dict[str, Path] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def main(self) -> Any:
        """The posterior of the spec's model (meta-regression/subgroups when asked for)."""
        return self.moderator_bayes if self.moderator_bayes is not None and not isinstance(
            self.moderator_bayes, dict) else self.bayes


@dataclass
class SpecResult:
    """The results of a spec run: one :class:`OutcomeResult` per outcome and the files."""

    spec: Spec
    outcomes: list[OutcomeResult]
    out_dir: Path | None = None
    files: list[Path] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def overview(self) -> pd.DataFrame:
        """One row per outcome: k, participants, pooled effect with CrI and CI, tau, I²,
        P(effect < 0)."""
        return pd.DataFrame([o.overview for o in self.outcomes])

    def __getitem__(self, name: str) -> OutcomeResult:
        for o in self.outcomes:
            if name in (o.spec.name, o.spec.slug):
                return o
        raise KeyError(name)


def run_spec(spec: Spec | str | Path, out: str | Path | None = None, *,
             engine: str | None = None, seed: int | None = None,
             progress: Callable[[str], None] | None = None,
             progressbar: bool = False) -> SpecResult:
    """Run an analysis spec and (with ``out``) write its outputs.

    Parameters
    ----------
    spec : Spec, str or Path
        A loaded spec or a spec file.
    out : str or Path, optional
        Output directory (created); None computes without writing files.
    engine : {"exact", "mcmc"}, optional
        Override the spec's engine.
    seed : int, optional
        Override the spec's seed.
    progress : callable, optional
        Called with one line of text per step (the CLI prints them).
    progressbar : bool
        Show the MCMC sampler's progress bar.

    Returns
    -------
    SpecResult
    """
    import time

    if not isinstance(spec, Spec):
        spec = load_spec(spec, overrides={"engine": engine, "seed": seed})
    elif engine is not None or seed is not None:
        spec = load_spec_from(spec, engine=engine, seed=seed)
    say = progress or (lambda _msg: None)
    if spec.sampler.get("seed") is None:
        spec.sampler["seed"] = int(np.random.SeedSequence().entropy % (2**31 - 1))
        spec.overrides.setdefault("seed", spec.sampler["seed"])
    results = []
    n = len(spec.outcomes)
    for j, o in enumerate(spec.outcomes):
        t0 = time.perf_counter()
        prefix = f"[{j + 1}/{n}] {o.name}: " if n > 1 else ""
        res = run_outcome(spec, o, say=lambda m, p=prefix: say(p + m),
                          progressbar=progressbar)
        res.seconds = time.perf_counter() - t0
        results.append(res)
    result = SpecResult(spec=spec, outcomes=results)
    if out is not None:
        from bayesma import report

        say(f"writing outputs to {out}")
        report.write_outputs(result, out, say=say)
    return result


def load_spec_from(spec: Spec, **overrides: Any) -> Spec:
    """Re-validate ``spec`` with sampler overrides (``engine=``, ``seed=``, ...)."""
    merged = {**spec.overrides, **{k: v for k, v in overrides.items() if v is not None}}
    return parse_spec(spec.text, base_dir=spec.base_dir, path=spec.path, overrides=merged)


# ----------------------------------------------------------------------------- one outcome


def _post_row(post: Any, param: str, level: float) -> dict[str, float]:
    """median, mean, sd, ETI and P(< 0) of a scalar parameter, through the shared protocol."""
    lo, hi = post.interval(param, prob=level, kind="eti")
    row = {"bayes_mean": float(post.mean(param)), "bayes_sd": float(post.sd(param)),
           "bayes_median": float(post.median(param)), "bayes_low": float(lo),
           "bayes_high": float(hi)}
    if param.split("[")[0] in ("mu", "beta", "theta_new"):
        row["p_below_0"] = float(post.prob_less(param, 0.0))
    return row


def _het_ci(res: Any, level: float) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return res.confint(level)
    except Exception:  # noqa: BLE001 - Q-profile can fail on degenerate data
        return None


def _fit_classical(o: OutcomeSpec, spec: Spec, **kw: Any) -> Any:
    from bayesma.classical import rma

    return rma(o.data, method=spec.classical["method"], test=spec.classical["test"],
               level=o.model["level"], slab=o.label, measure=o.measure, **kw)


def fit_bayes(spec: Spec, o: OutcomeSpec, kind: str = "random_effects", *,
              data: pd.DataFrame | None = None, progressbar: bool = False,
              tau_prior: Any = None, mu_prior: Any = None) -> Any:
    """Fit the Bayesian model of an outcome with the spec's engine.

    Parameters
    ----------
    spec : Spec
    o : OutcomeSpec
    kind : {"random_effects", "meta_regression", "subgroups"}
    data : DataFrame, optional
        Rows to use (default the outcome's table).
    progressbar : bool
        MCMC progress bar.
    tau_prior, mu_prior : Prior, optional
        Replace the spec's priors.

    Returns
    -------
    ExactPosterior or BayesFit
        For exact subgroups with ``tau = "per_level"``, a dict level -> ExactPosterior.
    """
    dat = o.data if data is None else data
    level = float(o.model["level"])
    mu = mu_prior if mu_prior is not None else o.priors["mu"]
    tau = tau_prior if tau_prior is not None else o.priors["tau"]
    beta = o.priors.get("beta", mu)
    cls = spec.classical
    if spec.engine == "exact":
        from bayesma.bayes.exact import exact_posterior

        common = dict(mu_prior=mu, tau_prior=tau, slab=o.label, measure=o.measure,
                      level=level, classical=cls["method"], classical_test=cls["test"])
        if kind == "random_effects":
            return exact_posterior(dat, **common)
        if kind == "meta_regression":
            return exact_posterior(dat, mods=o.model["mods"], beta_prior=beta, **common)
        by = o.model["by"]
        if o.model["tau"] == "shared":
            post = exact_posterior(dat, mods=f"~ 0 + C({by})", beta_prior=mu, **common)
            post.subgroup_by = by
            return post
        out = {}
        for lv, sub in _levels(dat, by):
            out[lv] = exact_posterior(sub, **common)
        return out
    from bayesma.bayes.models import MetaRegression, RandomEffects, Subgroups

    common = dict(mu_prior=mu, tau_prior=tau, slab=o.label, measure=o.measure,
                  parameterization=o.model["parameterization"])
    if kind == "random_effects":
        model = RandomEffects(dat, **common)
    elif kind == "meta_regression":
        model = MetaRegression(dat, o.model["mods"], beta_prior=beta, **common)
    else:
        model = Subgroups(dat, by=o.model["by"], tau=o.model["tau"], **common)
    s = spec.sampler
    return model.fit(draws=int(s["draws"]), tune=int(s["tune"]), chains=int(s["chains"]),
                     cores=s.get("cores"), sampler=s["sampler"],
                     target_accept=s.get("target_accept"), random_seed=int(s["seed"]),
                     progressbar=progressbar)


def _levels(dat: pd.DataFrame, by: str) -> list[tuple[str, pd.DataFrame]]:
    col = dat[by]
    if isinstance(col.dtype, pd.CategoricalDtype):
        levels = [lv for lv in col.cat.categories if (col == lv).any()]
    else:
        levels = sorted(col.dropna().unique().tolist(), key=lambda x: (str(type(x)), x))
    return [(str(lv), dat.loc[col == lv]) for lv in levels]


def level_params(post: Any) -> dict[str, str]:
    """Map subgroup level -> parameter name in a subgroup posterior (both engines)."""
    if isinstance(post, dict):
        return {lv: "mu" for lv in post}
    if type(post).__name__ == "ExactPosterior":
        out = {}
        for t in post.terms:
            m = re.match(r"^C\((.+)\)\[(.*)\]$", t)
            out[m.group(2) if m else t] = f"beta[{t}]"
        return out
    levels = [str(x) for x in post.posterior["level"].values]
    return {lv: f"mu[{lv}]" for lv in levels}


def summary_table(res: OutcomeResult) -> pd.DataFrame:
    """Bayesian and classical estimates side by side, one row per quantity.

    Columns: ``outcome, parameter, label, bayes_mean, bayes_sd, bayes_median, bayes_low,
    bayes_high, p_below_0, classical, classical_low, classical_high, classical_pval``
    (+ ``exp_*`` on the ratio scale for OR, RR, ROM, PETO).
    """
    o = res.spec
    level = float(o.model["level"])
    post, cres = res.bayes, res.classical
    rows: list[dict[str, Any]] = []

    def add(param: str, label: str, p: Any, est=None, lo=None, hi=None, pval=None,
            query: str | None = None) -> None:
        row = {"outcome": o.name, "parameter": param, "label": label}
        row.update(_post_row(p, query or param.split("|")[-1], level))
        row.update(classical=est, classical_low=lo, classical_high=hi, classical_pval=pval)
        rows.append(row)

    add("mu", "Pooled effect (mu)", post, cres.estimate, cres.ci_low, cres.ci_high, cres.pval)
    add("theta_new", "Effect in a new study (prediction)", post, cres.estimate, cres.pi_low,
        cres.pi_high)
    het = _het_ci(cres, level)
    t = het.tau if het is not None else (cres.tau, None, None)
    t2 = het.tau2 if het is not None else (cres.tau2, None, None)
    i2 = het.i2 if het is not None else (cres.i2, None, None)
    add("tau", "Between-study SD (tau)", post, *t)
    add("tau2", "Between-study variance (tau²)", post, *t2)
    add("i2", "I² (%)", post, *i2)
    mtype = o.model["type"]
    mb, mc = res.moderator_bayes, res.moderator_classical
    if mtype == "meta_regression" and mb is not None:
        coef = mc.coef
        for term in list(coef.index):
            param = "mu" if term == "intrcpt" else f"beta[{term}]"
            r = coef.loc[term]
            lab = "Intercept (meta-regression)" if term == "intrcpt" else f"Slope: {term}"
            add(f"meta_regression|{param}", lab, mb, r["estimate"], r["ci_low"], r["ci_high"],
                r["pval"])
        add("meta_regression|tau", "Residual tau (meta-regression)", mb, mc.tau, None, None)
    if mtype == "subgroups" and mb is not None:
        params = level_params(mb)
        table = mc.table
        for lv, param in params.items():
            key = next((x for x in table.index if str(x) == lv), None)
            r = table.loc[key] if key is not None else None
            p = mb[lv] if isinstance(mb, dict) else mb
            add(f"subgroup|mu[{lv}]", f"Subgroup {o.model['by']} = {lv}", p,
                None if r is None else r["estimate"], None if r is None else r["ci_low"],
                None if r is None else r["ci_high"], None if r is None else r["pval"],
                query=param)
            rows[-1]["k"] = None if r is None else int(r["k"])
    df = pd.DataFrame(rows)
    cols = ["classical", "classical_low", "classical_high", "classical_pval"]
    df[cols] = df[cols].astype(float)
    if o.measure in ("OR", "RR", "ROM", "PETO"):
        loc = df["parameter"].str.split("|").str[-1].str.match(r"^(mu|beta|theta_new)")
        for c in ("bayes_median", "bayes_low", "bayes_high", "classical", "classical_low",
                  "classical_high"):
            df[f"exp_{c}"] = np.where(loc, np.exp(df[c].astype(float)), np.nan)
    df.attrs["level"] = level
    df.attrs["measure"] = o.measure
    return df


def overview_row(res: OutcomeResult) -> dict[str, Any]:
    """One row of the cross-outcome table: k, participants, pooled effect with CrI and CI,
    tau, I², P(effect < 0)."""
    o, post, c = res.spec, res.bayes, res.classical
    level = float(o.model["level"])
    lo, hi = post.interval("mu", prob=level)
    tlo, thi = post.interval("tau", prob=level)
    return {
        "outcome": o.name, "measure": o.measure, "k": int(c.k),
        "participants": o.participants,
        "mu_median": float(post.median("mu")), "mu_low": float(lo), "mu_high": float(hi),
        "classical": float(c.estimate), "classical_low": float(c.ci_low),
        "classical_high": float(c.ci_high),
        "tau_median": float(post.median("tau")), "tau_low": float(tlo),
        "tau_high": float(thi),
        "i2_median": float(post.median("i2")),
        "i2_classical": float(c.i2),
        "p_below_0": float(post.prob_less("mu", 0.0)),
        "engine": "exact" if type(post).__name__ == "ExactPosterior" else "mcmc",
        "level": level,
    }


def _bias(res: OutcomeResult) -> dict[str, Any]:
    from bayesma.classical import fsn, ranktest, regtest, trimfill

    cfg, c = res.spec.bias, res.classical
    out: dict[str, Any] = {}
    pred = cfg["egger_predictor"]
    ni = None
    if pred in ("ni", "ninv", "sqrtni", "sqrtninv"):
        ni = study_sizes(res.spec)
        if ni is None:
            res.notes.append(f"Egger-type test: predictor {pred!r} needs sample sizes "
                             "(n1i and n2i, ni, or [effect] participants); used 'sei'")
            pred = "sei"
    jobs = [("egger", lambda: regtest(c, predictor=pred, ni=ni)),
            ("trimfill", lambda: trimfill(c)),
            ("ranktest", lambda: ranktest(c)),
            ("fsn", lambda: fsn(res.spec.data))]
    for name, job in jobs:
        if not cfg.get(name):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[name] = job()
        except Exception as exc:  # noqa: BLE001 - a failed check becomes a note
            res.notes.append(f"{name}: not computed ({_why(exc)})")
    if c.k < 10 and any(cfg.get(n) for n in ("egger", "ranktest", "trimfill", "funnel")):
        res.notes.append(
            f"k = {c.k} < 10: funnel-plot asymmetry tests have low power and are not "
            "recommended (Sterne et al. 2011, BMJ 343:d4002)")
    return out


def _diagnostics(post: Any) -> pd.DataFrame | None:
    if post is None or isinstance(post, dict) or not hasattr(post, "diagnostics"):
        return None
    try:
        return post.diagnostics()
    except Exception:  # noqa: BLE001 - diagnostics are informative
        return None


def run_outcome(spec: Spec, o: OutcomeSpec, *, say: Callable[[str], None] = lambda m: None,
                progressbar: bool = False) -> OutcomeResult:
    """Fit one outcome: classical twin, Bayesian model(s), bias checks, sensitivity."""
    from bayesma.classical import subgroup

    res = OutcomeResult(spec=o)
    seen: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cls = spec.classical
            say(f"classical random-effects model ({cls['method']}, {cls['test']}), "
                f"k = {o.k}")
            res.classical = _fit_classical(o, spec)
            engine = "exact posterior (quadrature)" if spec.engine == "exact" else (
                f"MCMC ({spec.sampler['sampler']}, {spec.sampler['chains']} chains x "
                f"{spec.sampler['draws']} draws)")
            say(f"Bayesian random-effects model: {engine}")
            res.bayes = fit_bayes(spec, o, progressbar=progressbar)
            mtype = o.model["type"]
            if mtype == "meta_regression":
                say(f"meta-regression {o.model['mods']}")
                res.moderator_classical = _fit_classical(o, spec, mods=o.model["mods"])
                res.moderator_bayes = fit_bayes(spec, o, "meta_regression",
                                                progressbar=progressbar)
            elif mtype == "subgroups":
                say(f"subgroups by {o.model['by']} (tau {o.model['tau']})")
                res.moderator_classical = subgroup(
                    o.data, by=o.model["by"], method=cls["method"], test=cls["test"],
                    level=o.model["level"], slab=o.label)
                res.moderator_bayes = fit_bayes(spec, o, "subgroups", progressbar=progressbar)
            res.summary = summary_table(res)
            res.overview = overview_row(res)
            if any(o.bias.get(n) for n in ("egger", "trimfill", "ranktest", "fsn")):
                say("small-study checks")
            res.bias = _bias(res)
            res.sensitivity = run_sensitivity(spec, res, say=say, progressbar=progressbar)
            res.diagnostics = _diagnostics(res.main)
        except SpecError:
            raise
        except BayesmaError as exc:
            where = ("outcomes", o.index) if o.index is not None else ()
            raise spec.error(where, f"outcome {o.name!r}: {exc}") if where else type(exc)(
                f"{o.name}: {exc}") from None
    for w in caught:
        msg = str(w.message).strip()
        if issubclass(w.category, DeprecationWarning | FutureWarning | PendingDeprecationWarning):
            continue
        if msg and msg not in seen:
            seen.append(msg)
    res.notes = seen + res.notes
    return res


# ----------------------------------------------------------------------------- sensitivity


def run_sensitivity(spec: Spec, res: OutcomeResult, *,
                    say: Callable[[str], None] = lambda m: None,
                    progressbar: bool = False) -> dict[str, Any]:
    """The sensitivity analyses of an outcome (:mod:`bayesma.sensitivity`).

    Prior sweeps, leave-one-out and subsets use the exact engine (instant) whatever the
    spec's engine; power scaling (psense) needs MCMC draws.

    Returns
    -------
    dict
        ``priors`` (PriorSensitivity), ``leave1out`` (BayesLeave1Out), ``subsets``
        (SensitivitySubsets), ``psense`` (its table), each when asked for and computable.
    """
    from bayesma import sensitivity as sens_mod

    o = res.spec
    cfg = o.sensitivity
    out: dict[str, Any] = {}
    level = float(o.model["level"])
    cls = spec.classical
    mu0, tau0 = o.priors["mu"], o.priors["tau"]
    exact_ok = getattr(mu0, "is_normal", False)
    mu_for_exact = mu0 if exact_ok else None
    common = dict(measure=o.measure, slab=o.label, level=level)
    # ---- priors
    named_tau = dict(cfg.get("tau_priors") or {})
    named_mu = dict(cfg.get("mu_priors") or {})
    sets = [s.replace("_", " ") for s in (cfg.get("prior_sets") or [])]
    if named_tau or named_mu or sets:
        bad = next((n for n, p in named_mu.items() if not getattr(p, "is_normal", False)),
                   None)
        if bad is not None:
            raise spec.error(_sens_path(o, "mu_priors"),
                             f"{bad!r}: prior sweeps use the exact engine, which needs "
                             "Normal or Flat mu priors")
        preset_args = {k: v for k, v in o.preset_args.items()
                       if k in ("outcome", "comparison", "area")}
        # the spec's prior first, then the named ones, then the sets; one row per prior
        taus: dict[str, Any] = {f"spec: {tau0.describe()}": tau0}
        taus.update(named_tau)
        for set_name in sets:
            try:
                members = sens_mod.tau_prior_set(set_name, o.measure,
                                                 yi=o.data["yi"].to_numpy(),
                                                 vi=o.data["vi"].to_numpy(), **preset_args)
            except BayesmaError as exc:
                res.notes.append(f"prior set {set_name!r} skipped: {exc}")
                continue
            for lab, p in members.items():
                taus.setdefault(f"{set_name}: {lab}", p)
        seen_desc: set[str] = set()
        tau_list: dict[str, Any] = {}
        for lab, p in taus.items():
            if p.describe() not in seen_desc:
                seen_desc.add(p.describe())
                tau_list[lab] = p
        mu_dict = None
        if named_mu:
            mu_dict = {f"spec: {mu0.describe()}": mu0} if exact_ok else {}
            mu_dict.update(named_mu)
        say(f"prior sensitivity ({len(tau_list)} tau priors"
            + (f" incl. sets: {', '.join(sets)}" if sets else "")
            + (f"; {len(mu_dict)} mu priors" if mu_dict else "") + ")")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                out["priors"] = sens_mod.prior_sensitivity(
                    o.data, tau_priors=tau_list,
                    mu_priors=mu_dict if mu_dict else (mu_for_exact or None),
                    engine="exact", classical=cls["method"], classical_test=cls["test"],
                    progress=progressbar, **common)
        except Exception as exc:  # noqa: BLE001 - a failed check becomes a note
            res.notes.append(f"prior sensitivity not computed: {_why(exc)}")
    # ---- leave-one-out
    if cfg.get("leave1out"):
        if o.k < 3:
            res.notes.append(f"leave-one-out skipped: k = {o.k} < 3")
        else:
            say(f"leave-one-out ({o.k} studies, exact engine)")
            try:
                out["leave1out"] = sens_mod.bayes_leave1out(
                    o.data, mu_prior=mu_for_exact, tau_prior=tau0, classical=cls["method"],
                    classical_test=cls["test"], **common)
            except Exception as exc:  # noqa: BLE001
                res.notes.append(f"Bayesian leave-one-out not computed: {_why(exc)}")
    # ---- subsets
    if cfg.get("subsets"):
        rules: dict[str, Any] = {}
        for sub in cfg["subsets"]:
            rules[sub["name"]] = sub["rule"]
        say(f"sensitivity subsets ({len(rules)})")
        try:
            out["subsets"] = sens_mod.sensitivity_subsets(
                o.data, rules=rules, mu_prior=mu_for_exact, tau_prior=tau0,
                classical=cls["method"], classical_test=cls["test"], **common)
        except Exception as exc:  # noqa: BLE001
            res.notes.append(f"sensitivity subsets not computed: {_why(exc)}")
    # ---- power scaling (MCMC)
    if cfg.get("psense") and res.bayes is not None:
        say("power-scaling prior sensitivity (psense)")
        try:
            out["psense"] = sens_mod.psense(res.bayes)
        except Exception as exc:  # noqa: BLE001 - informative only
            res.notes.append(f"psense not computed: {_why(exc)}")
    return out


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    head = text[0] if text else ""
    return head if isinstance(exc, BayesmaError) else f"{type(exc).__name__}: {head}"


def _sens_path(o: OutcomeSpec, key: str) -> KeyPath:
    return o.paths.get(f"sensitivity.{key}", ("sensitivity", key))

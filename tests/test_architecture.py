"""The package's structure stays as ARCHITECTURE.md describes it.

(a) ARCHITECTURE.md's module map lists every module of the package, and every module it
    lists exists. The map is the text between ``<!-- module-map:start -->`` and
    ``<!-- module-map:end -->``; a module is listed by its path, ``bayesma/.../name.py``.
    Package ``__init__.py`` files may be listed but need not be.
(b) The import graph (module-level imports only: imports inside functions and under
    ``if TYPE_CHECKING:`` do not run at import time) has no cycle and no import from a
    lower layer into a higher one (``LAYERS`` below).
(c) No module imports a private name (``_name``) from another module, and no private
    module (``_style.py``) is imported from outside its own package.
(b') Imports stay at the top of a module: only PyMC's stack and matplotlib (``HEAVY_LIBS``)
    and a few slow-to-import libraries (``DEFERRABLE``: scipy.optimize/stats, formulaic),
    or a bayesma module that loads them, may be imported inside a function (so that
    ``import bayesma`` stays light), and never from a higher layer.
(d) No module is longer than ``MAX_LINES`` unless ARCHITECTURE.md lists it, with a reason,
    between ``<!-- long-modules:start -->`` and ``<!-- long-modules:end -->`` as
    ``- `bayesma/path.py`: reason``.

Run ``python tests/test_architecture.py`` to print the graph's cycles and violations;
``--map`` prints a module map of the tree as it is (each module with the first line of its
docstring) and ``--write-map`` puts it into ARCHITECTURE.md between the markers.
"""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "bayesma"
ARCH = ROOT / "ARCHITECTURE.md"
MAX_LINES = 500

#: Layer of each top-level part of the package; a module may import only from its own
#: layer or below. The root facade ``bayesma/__init__.py`` (lazy) is on the top layer with
#: the CLI: only the CLI may import it.
LAYERS: dict[str, int] = {
    "errors": 0, "data": 0, "measures": 0, "formatting": 0, "tails": 0, "expressions": 0,
    "datasets": 0, "transforms": 0, "export": 0, "parallel": 0, "lazy": 0,
    "effect_sizes": 1,
    "classical": 2, "priors": 2,
    "bayes": 3,
    "sensitivity": 4, "batch": 4, "simulation": 4, "revman": 4, "grade": 4,
    "plots": 5,
    "spec": 6,
    "pipeline": 7,
    "report": 8,
    "cli": 9, "__main__": 9,
}
FACADE = "bayesma"

PATH_RE = re.compile(r"bayesma/(?:[A-Za-z_]\w*/)*[A-Za-z_]\w*\.py")


# ---------------------------------------------------------------------------- the tree
def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Dotted name -> file, for every ``.py`` file of the package."""
    return {
        module_name(p): p
        for p in sorted(PKG.rglob("*.py"))
        if "__pycache__" not in p.parts
    }


def is_package(name: str) -> bool:
    return modules()[name].name == "__init__.py"


def layer_of(name: str) -> int | None:
    if name == FACADE:
        return max(LAYERS.values())
    top = name.split(".")[1]
    return LAYERS.get(top)


# ---------------------------------------------------------------------------- imports
def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def module_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported (module body, class bodies, if/try
    blocks), skipping function bodies and ``if TYPE_CHECKING:`` blocks."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.append(node)
            elif isinstance(node, ast.If):
                if not _is_type_checking(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try | ast.TryStar):
                visit(node.body)
                for h in node.handlers:
                    visit(h.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.With | ast.For | ast.While):
                visit(node.body)
                visit(getattr(node, "orelse", []))
            elif isinstance(node, ast.ClassDef):
                visit(node.body)

    visit(tree.body)
    return found


def _resolve_from(importer: str, node: ast.ImportFrom) -> str | None:
    if node.level == 0:
        return node.module
    base = importer.split(".")
    if not is_package(importer):
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


@cache
def import_records(importer: str) -> tuple[tuple[str, str | None, int], ...]:
    """(target module, imported name or None, line) for each module-level import of
    ``importer`` that lands inside the package. ``from pkg import sub`` targets the
    submodule ``pkg.sub``; ``from mod import name`` targets ``mod`` with ``name``."""
    tree = ast.parse(modules()[importer].read_text(), filename=str(modules()[importer]))
    out: list[tuple[str, str | None, int]] = []
    for node in module_level_imports(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == FACADE:
                    out.append((a.name, None, node.lineno))
            continue
        src = _resolve_from(importer, node)
        if not src or src.split(".")[0] != FACADE:
            continue
        for a in node.names:
            sub = f"{src}.{a.name}"
            if sub in modules():
                out.append((sub, None, node.lineno))
            else:
                out.append((src, a.name, node.lineno))
    return tuple(out)


@cache
def graph() -> dict[str, set[str]]:
    g: dict[str, set[str]] = {m: set() for m in modules()}
    for m in modules():
        for target, _name, _line in import_records(m):
            if target in modules() and target != m:
                g[m].add(target)
    return g


def cycles(g: dict[str, set[str]] | None = None) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    g = graph() if g is None else g
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 10_000))
    try:
        for v in sorted(g):
            if v not in index:
                strong(v)
    finally:
        sys.setrecursionlimit(old)
    return out


def back_imports() -> list[str]:
    bad = []
    for m in modules():
        lm = layer_of(m)
        if lm is None or m == FACADE:
            continue
        for target, name, line in import_records(m):
            if target == FACADE and name and name.startswith("__"):
                continue  # metadata such as __version__: no dependency on any layer
            lt = layer_of(target) if target in modules() else None
            if target == FACADE:
                what = f"`from bayesma import {name}`" if name else "`import bayesma`"
                bad.append(f"{m}:{line} {what}: the public facade reaches every layer; "
                           "import the defining module")
            elif lt is not None and lt > lm:
                bad.append(f"{m}:{line} (layer {lm}) imports {target} (layer {lt})")
    return sorted(bad)


def private_imports() -> list[str]:
    bad = []
    for m in modules():
        for target, name, line in import_records(m):
            if target == m:
                continue
            if name is not None and name.startswith("_") and not name.startswith("__"):
                bad.append(f"{m}:{line} imports private {name} from {target}")
            # a private module (bayesma/plots/_style.py) belongs to its own package
            parts = target.split(".")
            for i, part in enumerate(parts):
                if part.startswith("_") and not part.startswith("__"):
                    owner = ".".join(parts[:i])
                    if not (m == owner or m.startswith(owner + ".")):
                        bad.append(f"{m}:{line} imports private module {target}")
                    break
    return sorted(set(bad))


#: Libraries that may be imported inside functions (so that ``import bayesma`` and the
#: classical engine never load them): PyMC and its stack, and matplotlib.
HEAVY_LIBS = {
    "pymc", "pytensor", "nutpie", "numpyro", "jax", "arviz", "arviz_base", "arviz_stats",
    "arviz_plots", "matplotlib", "numba",
}
#: Further modules that may be imported inside a function because they are slow to import
#: and only some calls need them (``import bayesma; bm.rma`` must stay light, issue 16).
DEFERRABLE = ("scipy.optimize", "scipy.stats", "scipy.integrate", "scipy.interpolate",
              "formulaic", "docx", "dask", "distributed", "statsmodels", "llvmlite")


def deferrable(target: str) -> bool:
    """True if ``target`` is (inside) a library listed in :data:`DEFERRABLE`."""
    return any(target == d or target.startswith(d + ".") for d in DEFERRABLE)


def _type_checking_imports(tree: ast.Module) -> set[int]:
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for sub in node.body:
                out |= {id(n) for n in ast.walk(sub) if isinstance(n, ast.Import | ast.ImportFrom)}
    return out


@cache
def deferred_imports(importer: str) -> tuple[tuple[str, int], ...]:
    """(imported module, line) for imports that run only when a function is called."""
    tree = ast.parse(modules()[importer].read_text())
    skip = {id(n) for n in module_level_imports(tree)} | _type_checking_imports(tree)
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom) or id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
            continue
        src = _resolve_from(importer, node) or ""
        for a in node.names:
            sub = f"{src}.{a.name}"
            out.append((sub if sub in modules() or not src.startswith(FACADE) else src,
                        node.lineno))
    return tuple(out)


@cache
def heavy_modules() -> frozenset[str]:
    """Package modules whose import (at module level, transitively) loads a heavy library."""
    direct = set()
    for m in modules():
        tree = ast.parse(modules()[m].read_text())
        for node in module_level_imports(tree):
            # ``from scipy import optimize`` imports the submodule scipy.optimize
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                node.module or "", *(f"{node.module}.{a.name}" for a in node.names)
            ] if node.level == 0 else []
            if any(n.split(".")[0] in HEAVY_LIBS or deferrable(n) for n in names):
                direct.add(m)
    heavy = set(direct)
    changed = True
    while changed:
        changed = False
        for m, targets in graph().items():
            if m not in heavy and targets & heavy:
                heavy.add(m)
                changed = True
    return frozenset(heavy)


def bad_deferred_imports() -> list[str]:
    bad = []
    for m in modules():
        if m == FACADE:
            continue
        for target, line in deferred_imports(m):
            top = target.split(".")[0]
            if top != FACADE:
                if top not in HEAVY_LIBS and not deferrable(target):
                    bad.append(f"{m}:{line} imports {target} inside a function (move it up)")
                continue
            if target == FACADE:
                bad.append(f"{m}:{line} imports the public facade `bayesma` inside a function")
            elif target in modules():
                lm, lt = layer_of(m), layer_of(target)
                if lm is not None and lt is not None and lt > lm:
                    bad.append(f"{m}:{line} (layer {lm}) imports {target} (layer {lt}) "
                               "inside a function: a hidden back-import")
                elif target not in heavy_modules():
                    bad.append(f"{m}:{line} imports {target} inside a function, but it loads "
                               "no heavy library (move it to the top)")
    return sorted(set(bad))


# ---------------------------------------------------------------------------- ARCHITECTURE.md
def _section(tag: str, text: str | None = None) -> str:
    text = ARCH.read_text() if text is None else text
    start, end = f"<!-- {tag}:start -->", f"<!-- {tag}:end -->"
    assert start in text and end in text, f"ARCHITECTURE.md has no {start} ... {end} section"
    return text[text.index(start) + len(start): text.index(end)]


def listed_modules() -> set[str]:
    return set(PATH_RE.findall(_section("module-map")))


def long_module_allowlist(text: str | None = None) -> dict[str, str]:
    """``bayesma/path.py`` -> reason, from the long-modules section."""
    out = {}
    for line in _section("long-modules", text).splitlines():
        m = re.match(r"\s*[-*]\s*`?(bayesma/[\w/]+\.py)`?\s*[:\u2013\u2014-]\s*(.*\S)?", line)
        if m:
            why = (m.group(2) or "").strip()
            out[m.group(1)] = why if re.search(r"[A-Za-z]{3}", why) else ""
    return out


def package_files() -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in modules().values()}


def line_count(path: Path) -> int:
    return len(path.read_text().splitlines())


def too_long() -> dict[str, int]:
    return {
        p.relative_to(ROOT).as_posix(): n
        for p in modules().values()
        if (n := line_count(p)) > MAX_LINES
    }


# ---------------------------------------------------------------------------- tests
def test_every_module_is_listed_in_architecture_md():
    listed = listed_modules()
    missing = sorted(
        f for f in package_files() if f not in listed and not f.endswith("/__init__.py")
    )
    assert not missing, "ARCHITECTURE.md's module map does not list: " + ", ".join(missing)


def test_every_listed_module_exists():
    gone = sorted(listed_modules() - package_files())
    assert not gone, "ARCHITECTURE.md lists modules that do not exist: " + ", ".join(gone)


def test_every_top_level_part_has_a_layer():
    tops = {n.split(".")[1] for n in modules() if n != FACADE}
    unknown = sorted(t for t in tops if t not in LAYERS)
    assert not unknown, f"give these a layer in tests/test_architecture.py LAYERS: {unknown}"


def test_no_import_cycles():
    found = cycles()
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_no_back_imports_into_higher_layers():
    bad = back_imports()
    assert not bad, "imports from a lower layer into a higher one:\n" + "\n".join(bad)


def test_no_private_imports_across_modules():
    bad = private_imports()
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


def test_imports_inside_functions_only_defer_heavy_libraries():
    """Imports belong at the top; only PyMC's stack and matplotlib (or a bayesma module that
    loads them) may be imported inside a function, and never from a higher layer."""
    bad = bad_deferred_imports()
    assert not bad, "imports inside functions:\n" + "\n".join(bad)


def test_modules_stay_short_or_say_why():
    allow = long_module_allowlist()
    no_reason = sorted(f for f, why in allow.items() if not why)
    assert not no_reason, f"long-module entries without a reason: {no_reason}"
    bad = sorted(f"{f} ({n} lines)" for f, n in too_long().items() if f not in allow)
    assert not bad, f"modules over {MAX_LINES} lines not allowed in ARCHITECTURE.md: " + ", ".join(
        bad
    )


def test_allowlisted_long_modules_exist():
    gone = sorted(set(long_module_allowlist()) - package_files())
    assert not gone, f"ARCHITECTURE.md allows long modules that do not exist: {gone}"


# ---------------------------------------------------------------------------- self-checks
def test_scanner_skips_function_and_type_checking_imports():
    src = (
        "from typing import TYPE_CHECKING\n"
        "import bayesma.data\n"
        "if TYPE_CHECKING:\n    import bayesma.report\n"
        "try:\n    import bayesma.errors\nexcept ImportError:\n    pass\n"
        "def f():\n    import bayesma.cli\n"
        "class C:\n    import bayesma.measures\n"
    )
    names = [a.name for n in module_level_imports(ast.parse(src)) for a in n.names]
    assert names == ["TYPE_CHECKING", "bayesma.data", "bayesma.errors", "bayesma.measures"]


def test_cycle_finder():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(g) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_relative_imports_resolve():
    node = ast.parse("from ..classical import rma").body[0]
    assert _resolve_from("bayesma.bayes.fit", node) == "bayesma.classical"
    node = ast.parse("from . import tau2").body[0]
    assert _resolve_from("bayesma.classical", node) == "bayesma.classical"


@pytest.mark.parametrize(
    "line, ok",
    [
        ("- `bayesma/spec/parse.py`: TOML grammar", True),
        ("- `bayesma/spec/parse.py` -- ", False),
    ],
)
def test_allowlist_format(line, ok):
    allow = long_module_allowlist(f"<!-- long-modules:start -->\n{line}\n<!-- long-modules:end -->")
    assert "bayesma/spec/parse.py" in allow
    assert bool(allow["bayesma/spec/parse.py"]) is ok


def module_map() -> str:
    """A module map for ARCHITECTURE.md, grouped by layer, from the tree as it is: one line
    per module with the first line of its docstring (edit the wording, keep the paths)."""
    lines = []
    by_layer: dict[int, list[str]] = {}
    for name in modules():
        if name == FACADE:
            continue
        by_layer.setdefault(layer_of(name) if layer_of(name) is not None else 99, []).append(name)
    tops = {v: sorted(k for k, lv in LAYERS.items() if lv == v) for v in set(LAYERS.values())}
    for lv in sorted(by_layer):
        lines.append(f"\n**Layer {lv}: {', '.join(tops.get(lv, ['unassigned']))}**\n")
        for name in sorted(by_layer[lv]):
            path = modules()[name]
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            first = doc.strip().splitlines()[0] if doc.strip() else ""
            lines.append(f"- `{path.relative_to(ROOT).as_posix()}`: {first}")
    return "\n".join(lines)


def write_map() -> None:
    """Replace ARCHITECTURE.md's module map with :func:`module_map` of the tree as it is."""
    text = ARCH.read_text()
    start, end = "<!-- module-map:start -->", "<!-- module-map:end -->"
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    ARCH.write_text(f"{head}{start}\n{module_map().strip()}\n{end}{tail}")


if __name__ == "__main__":  # a report for developers; --map prints a module map
    if "--map" in sys.argv:
        print(module_map())
        raise SystemExit(0)
    if "--write-map" in sys.argv:
        write_map()
        raise SystemExit(0)
    print("cycles:", *(" <-> ".join(c) for c in cycles()), sep="\n  ")
    print("back-imports:", *back_imports(), sep="\n  ")
    print("private imports:", *private_imports(), sep="\n  ")
    print("imports inside functions:", *bad_deferred_imports(), sep="\n  ")
    print("long modules:", *(f"{f}: {n}" for f, n in sorted(too_long().items())), sep="\n  ")


@pytest.mark.parametrize("module", [
    "bayesma.bayes.accessors", "bayesma.bayes.multilevel.posterior",
    "bayesma.bayes.exact.build", "bayesma.bayes.models.multilevel",
    "bayesma.bayes.models", "bayesma.batch.mcmc",
])
def test_modules_import_first_in_a_fresh_process(module):
    # the static graph above ignores package __init__ files: the exact engine and the
    # three-level engine import pieces of each other, and bayesma.bayes imports lazily,
    # so a cycle would show only when one of these modules is the first one imported
    import subprocess

    out = subprocess.run([sys.executable, "-W", "ignore", "-c", f"import {module}"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]

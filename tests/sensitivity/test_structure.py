"""Sensitivity analyses sit below the plots (issue 10) and draw progress bars only on a
terminal (issue 9)."""

from __future__ import annotations

import ast
import io
import sys
from pathlib import Path

import bayesma as bm
from bayesma.priors import HalfNormal, Normal
from bayesma.sensitivity import prior_sensitivity
from bayesma.sensitivity.common import progress_enabled

PACKAGE = Path(bm.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (module top or inside functions)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def test_sensitivity_never_imports_plots():
    files = sorted((PACKAGE / "sensitivity").glob("*.py"))
    assert files
    for f in files:
        bad = [m for m in imported_modules(f) if m.startswith("bayesma.plots")]
        assert not bad, f"{f.name} imports {bad}"


def test_no_private_names_imported_across_modules():
    for f in sorted((PACKAGE / "sensitivity").glob("*.py")) + sorted(
            (PACKAGE / "plots").rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bayesma"):
                private = [a.name for a in node.names if a.name.startswith("_")
                           and node.module != "bayesma.plots"]  # the shared _style module
                assert not private, f"{f.name} imports {private} from {node.module}"


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_progress_only_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Stream(False))
    assert progress_enabled(None) is False
    assert progress_enabled(True) is True
    monkeypatch.setattr(sys, "stderr", _Stream(True))
    assert progress_enabled(None) is True
    assert progress_enabled(False) is False


def test_prior_sweep_writes_no_bar_into_a_log(monkeypatch):
    log = _Stream(False)
    monkeypatch.setattr(sys, "stderr", log)
    res = prior_sensitivity(bm.datasets.load("bcg"), mu_priors=Normal(0, 4),
                            tau_priors=[HalfNormal(0.5), HalfNormal(1.0)])
    assert len(res.fits) == 2
    assert log.getvalue() == ""
    # on a terminal the bar is drawn
    tty = _Stream(True)
    monkeypatch.setattr(sys, "stderr", tty)
    prior_sensitivity(bm.datasets.load("bcg"), mu_priors=Normal(0, 4),
                      tau_priors=[HalfNormal(0.5), HalfNormal(1.0)])
    assert "prior sensitivity" in tty.getvalue()

"""The README's quick start runs as written (issue 6: it runs in CI)."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT


def _quick_start() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_commands_are_the_documented_ones():
    text = (ROOT / "README.md").read_text()
    assert 'pip install -e ".[dev]"' in text
    assert "bayesma fit models/bcg_latitude.toml" in text
    assert (ROOT / "models" / "bcg_latitude.toml").is_file()
    assert "```bash\npytest\n```" in text


@pytest.mark.slow
def test_quick_start_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_quick_start(), "README.md", "exec"), namespace)  # noqa: S102
    res, post, fit = namespace["res"], namespace["post"], namespace["fit"]
    assert res.test == "knha" and res.k == 13
    # the REML twin printed beside the exact posterior is the same fit
    assert post.classical.tau2 == pytest.approx(namespace["res"].tau2, rel=1e-6)
    assert fit.posterior["theta"].sizes["study"] == 13
    assert (tmp_path / "forest.png").stat().st_size > 10_000

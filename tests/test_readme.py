"""The README's quick start runs as written (issue 6: it runs in CI)."""

from __future__ import annotations

import re
import tomllib

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


def test_setup_works_without_python312_on_the_path():
    """Issue 9 item 5: a set-up step for machines where ``python3.12`` is not on the PATH,
    in the README and in docs/getting-started; the tests need nothing outside the repo."""
    for path in (ROOT / "README.md", ROOT / "docs" / "getting-started.md"):
        text = path.read_text()
        assert "uv venv --seed --python 3.12" in text, path
        assert "$(pyenv root)/versions/3.12.1/bin/python3.12 -m venv" in text, path
        assert "../shared" not in text, path
    assert "tests/reference/" in (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_command_in_parallel():
    """CI runs exactly ``pytest``; pyproject makes it parallel with pytest-xdist."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert any(d.startswith("pytest-xdist") for d in cfg["project"]["optional-dependencies"]["dev"])
    assert "-n auto" in cfg["tool"]["pytest"]["ini_options"]["addopts"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.rstrip().splitlines()[-1] == "pytest"

"""The documentation: ``mkdocs build --strict`` passes (when mkdocs is installed), and
the reference pages agree with the code (spec keys, prior tables, the R mapping)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

import bayesma.priors as priors
from bayesma.spec import SCHEMA, Section

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None,
                    reason="mkdocs is not installed (pip install -e '.[dev]')")
def test_mkdocs_build_strict(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    api = (tmp_path / "api" / "index.html").read_text()
    for name in ("bayesma.effect_sizes.escalc", "bayesma.classical.rma.rma",
                 "bayesma.bayes.exact.exact_posterior", "bayesma.spec.run_spec"):
        assert f'id="{name}"' in api, name


def _keys(section: Section, prefix: str = "") -> list[str]:
    out = []
    for name, node in section.fields.items():
        out.append(name)
        if isinstance(node, Section) and name != "outcomes":
            out += _keys(node, f"{prefix}{name}.")
    return out


def test_every_spec_key_is_documented():
    text = (DOCS / "guide" / "specs.md").read_text()
    missing = [k for k in _keys(SCHEMA) if f"`{k}`" not in text and f"[{k}]" not in text
               and f".{k}]" not in text and f"{k} =" not in text]
    assert not missing, f"spec keys missing from docs/guide/specs.md: {missing}"


def test_priors_catalogue_matches_the_tables():
    text = (DOCS / "priors.md").read_text()
    turner = priors.turner2015_table()
    for _, r in turner[turner["outcome"] != "any"].iterrows():
        cell = f"{r['mu']:.2f}, {r['sigma']:.2f}"
        row = next(ln for ln in text.splitlines() if ln.startswith(f"| {r['outcome']} |"))
        assert cell in row, (r["outcome"], r["comparison"], cell)
    rhodes = priors.rhodes2015_table()
    blocks = re.split(r"\*\*Area: (\w+)\*\*", text)
    by_area = {blocks[i]: blocks[i + 1] for i in range(1, len(blocks) - 1, 2)}
    for _, r in rhodes[rhodes["area"] != "any"].iterrows():
        block = by_area[r["area"]]
        row = next(ln for ln in block.splitlines() if ln.startswith(f"| {r['outcome']} |"))
        assert f"{r['mu']:.2f}, {r['sigma']:.2f}" in row, (r["area"], r["outcome"])
    for _, r in priors.bartos2021_table().iterrows():
        assert f"Student-t(0, {r['mu_sigma']:g}, df = {int(r['mu_nu'])})" in text


def test_coming_from_r_covers_the_common_calls():
    text = (DOCS / "coming-from-r.md").read_text()
    for call in ("escalc(", "rma(", "predict(", "confint(", "leave1out(", "influence(",
                 "cumul(", "trimfill(", "regtest(", "ranktest(", "fsn(", "forest(",
                 "funnel(", "bayesmeta(", "TurnerEtAlPrior(", "RhodesEtAlPrior(",
                 "traceplot(", "forestplot("):
        assert call in text, call


def test_gallery_images_exist():
    text = (DOCS / "gallery.md").read_text()
    for img in re.findall(r"\]\((img/[^)]+)\)", text):
        assert (DOCS / img).exists(), img

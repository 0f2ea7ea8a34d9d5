"""Shared fixtures: the metafor and exact-posterior reference files in ../shared/.

Tests read the reference JSON at run time from ``../shared/`` (relative to the repo
root), or from ``$BAYESMA_SHARED`` when set.
"""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]


def _find_shared() -> Path:
    """``$BAYESMA_SHARED``, else ``../shared`` beside the repo, else beside the repo this
    checkout was cloned from (so a scratch clone in /tmp still finds the references)."""
    if "BAYESMA_SHARED" in os.environ:
        return Path(os.environ["BAYESMA_SHARED"])
    candidates = [ROOT.parent / "shared"]
    try:
        origin = subprocess.run(
            ["git", "-C", str(ROOT), "config", "--get", "remote.origin.url"],
            capture_output=True, text=True, check=False,
        ).stdout.strip()
        if origin and Path(origin).is_dir():
            candidates.append(Path(origin).resolve().parent / "shared")
    except OSError:
        pass
    for c in candidates:
        if (c / "reference").is_dir():
            return c
    raise RuntimeError(
        "reference files not found: expected ../shared/reference beside the repository "
        f"(looked in {', '.join(map(str, candidates))}); set BAYESMA_SHARED"
    )


SHARED = _find_shared()
REFERENCE = SHARED / "reference"
BAYES_REFERENCE = SHARED / "bayes_reference"
DATA = SHARED / "data"

#: Every dataset with metafor reference values (public set).
DATASETS = sorted(p.stem for p in REFERENCE.glob("*.json"))
#: The datasets without a multilevel structure (for the two-level models).
TWO_LEVEL = [d for d in DATASETS if d != "konstantopoulos2011"]

RTOL = 1e-6
ATOL = 1e-8


@cache
def reference(name: str) -> dict:
    """Parsed ``../shared/reference/<name>.json``."""
    return json.loads((REFERENCE / f"{name}.json").read_text())


@cache
def bayes_reference(name: str) -> dict:
    """Parsed ``../shared/bayes_reference/<name>.json``."""
    return json.loads((BAYES_REFERENCE / f"{name}.json").read_text())


def shared_data(name: str) -> pd.DataFrame:
    """A fresh copy of ``../shared/data/<name>.csv``."""
    return pd.read_csv(DATA / f"{name}.csv")


def assert_close(actual, expected, *, rtol: float = RTOL, atol: float = ATOL, what: str = ""):
    """Compare to metafor: relative 1e-6, absolute 1e-8 near zero; None means NaN/NA."""
    if expected is None:
        a = np.asarray(actual, dtype=float) if actual is not None else np.array(np.nan)
        assert actual is None or np.all(np.isnan(a)), f"{what}: expected NA, got {actual}"
        return
    exp = np.asarray([np.nan if e is None else e for e in np.atleast_1d(expected)], dtype=float)
    act = np.atleast_1d(np.asarray(actual, dtype=float))
    assert act.shape == exp.shape, f"{what}: shape {act.shape} != {exp.shape}"
    np.testing.assert_allclose(act, exp, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not REFERENCE.is_dir():
        pytest.fail(f"reference files not found in {REFERENCE}; set BAYESMA_SHARED")
    return SHARED

"""Shared fixtures: the metafor and exact-posterior reference values the tests compare with.

The reference data and values ship with the repository in ``tests/reference/``
(``data/*.csv``, ``metafor/*.json``, ``bayes/*.json``; provenance and the scripts that
regenerate them are in ``tests/reference/README.md``), so ``pytest`` passes in any clone.

``$BAYESMA_SHARED`` (or a ``../shared`` folder beside the repository, as on the project's
machine) is only an optional extra source: ``tests/reference/test_reference_copy.py`` checks
that the in-repo copy equals it when present (skipped otherwise), and
``BAYESMA_REFERENCE=shared`` makes the whole suite read from it instead.

Running under pytest-xdist, every worker gets its own PyTensor compile directory (set
before PyTensor is imported), so parallel workers never race on one compile cache.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

# --- per-worker PyTensor compile directory (must run before pytensor is imported) ----------
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER and "base_compiledir" not in os.environ.get("PYTENSOR_FLAGS", ""):
    _base = Path(os.environ.get("BAYESMA_PYTENSOR_BASE", Path.home() / ".pytensor")) / "xdist"
    _flag = f"base_compiledir={_base / _WORKER}"
    _old = os.environ.get("PYTENSOR_FLAGS", "")
    os.environ["PYTENSOR_FLAGS"] = f"{_old},{_flag}" if _old else _flag

import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
#: The reference values shipped with the repository.
IN_REPO = Path(__file__).resolve().parent / "reference"


def find_external_shared() -> Path | None:
    """The optional external copy: ``$BAYESMA_SHARED``, else ``../shared`` beside the
    repository; None when neither holds a ``reference/`` folder."""
    candidates = []
    if os.environ.get("BAYESMA_SHARED"):
        candidates.append(Path(os.environ["BAYESMA_SHARED"]))
    candidates.append(ROOT.parent / "shared")
    for c in candidates:
        if (c / "reference").is_dir():
            return c
    return None


#: The external ``shared`` folder when present (optional; only compared with the in-repo copy).
EXTERNAL_SHARED = find_external_shared()

if os.environ.get("BAYESMA_REFERENCE") == "shared":
    if EXTERNAL_SHARED is None:
        raise RuntimeError("BAYESMA_REFERENCE=shared but no $BAYESMA_SHARED or ../shared found")
    SHARED = EXTERNAL_SHARED
    REFERENCE = SHARED / "reference"
    BAYES_REFERENCE = SHARED / "bayes_reference"
    DATA = SHARED / "data"
else:
    SHARED = IN_REPO
    REFERENCE = IN_REPO / "metafor"
    BAYES_REFERENCE = IN_REPO / "bayes"
    DATA = IN_REPO / "data"

if not any(REFERENCE.glob("*.json")):
    raise RuntimeError(f"no reference values in {REFERENCE} (see tests/reference/README.md)")

#: Every dataset with metafor reference values (public set).
DATASETS = sorted(p.stem for p in REFERENCE.glob("*.json"))
#: The datasets without a multilevel structure (for the two-level models).
TWO_LEVEL = [d for d in DATASETS if d != "konstantopoulos2011"]

RTOL = 1e-6
ATOL = 1e-8


@cache
def reference(name: str) -> dict:
    """Parsed metafor reference values ``tests/reference/metafor/<name>.json``."""
    return json.loads((REFERENCE / f"{name}.json").read_text())


@cache
def bayes_reference(name: str) -> dict:
    """Parsed exact-posterior reference values ``tests/reference/bayes/<name>.json``."""
    return json.loads((BAYES_REFERENCE / f"{name}.json").read_text())


def shared_data(name: str) -> pd.DataFrame:
    """A fresh copy of the reference data ``tests/reference/data/<name>.csv``."""
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
    """The folder holding the reference data (``tests/reference`` unless overridden)."""
    if not REFERENCE.is_dir():
        pytest.fail(f"reference files not found in {REFERENCE}")
    return SHARED

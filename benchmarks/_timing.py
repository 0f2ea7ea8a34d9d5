"""Shared plumbing of the before/after benchmarks: the command line and the worker process.

A benchmark script runs itself with ``--worker`` in a fresh interpreter whose
``PYTHONPATH`` is a source tree (this checkout, or an older one given by ``--old``), so
both trees are measured side by side in one run; the worker prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def old_tree_or_work(worker: Callable[[], None]) -> Path | None:
    """Parse ``--worker`` / ``--old``: run ``worker`` and return None for ``--worker``,
    else return the path of the older tree to compare with (default ``/tmp/bm_old``)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--old", default="/tmp/bm_old")
    a = ap.parse_args()
    if a.worker:
        worker()
        return None
    return Path(a.old)


def run_worker(script: str, tree: Path) -> dict:
    """Run ``script --worker`` with ``tree`` on ``PYTHONPATH`` (from ``/``, so the
    checkout in the working directory is not imported) and parse its last output line."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    r = subprocess.run([sys.executable, str(Path(script).resolve()), "--worker"],
                       env=env, capture_output=True, text=True, cwd="/")
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def cold_processes(script: str, args: list[str], env: dict[str, str], reps: int) -> dict:
    """Run ``script --worker *args`` in ``reps + 1`` fresh processes (the first a warm-up
    that fills any disk cache) and return the median of each number the worker prints
    (its last output line, a JSON object)."""
    runs = []
    for _ in range(reps + 1):
        r = subprocess.run([sys.executable, str(Path(script).resolve()), "--worker", *args],
                           env=env, capture_output=True, text=True, cwd="/")
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-3000:])
        runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return {k: statistics.median(run[k] for run in runs[1:]) for k in runs[0]}

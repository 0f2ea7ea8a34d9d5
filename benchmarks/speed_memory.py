"""Peak memory of an exact posterior's summary at k = 10 000 (issue 16).

``bm.exact_posterior(table).summary()`` for k = 10 000 synthetic studies, measured with
``tracemalloc`` (peak of Python and numpy allocations above what was allocated before
the call; the table itself is built before). Run for this tree ("now") and for the code
before issue 16 (commit ``c77db32``, a ``git worktree`` at ``--old``, default
``/tmp/bm_old``), each in its own subprocess, in the same run. Goal: under 100 MB above
the data.

Run from the repository root::

    .venv/bin/python benchmarks/speed_memory.py [--old /tmp/bm_old]

The output goes to ``benchmarks/results/speed_memory.txt``.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np
from _timing import old_tree_or_work, run_worker

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "speed_memory.txt"
K = 10_000


def worker() -> None:
    """Measure in this process with the bayesma found on sys.path; print JSON."""
    import tracemalloc

    import pandas as pd

    import bayesma as bm

    rng = np.random.default_rng(7)
    v = rng.uniform(0.01, 0.3, K)
    y = rng.normal(-0.4, 0.3, K) + rng.normal(0, np.sqrt(v))
    d = pd.DataFrame({"study": [f"S{i + 1}" for i in range(K)], "yi": y, "vi": v})
    data_mb = d.memory_usage(deep=True).sum() / 2**20
    bm.exact_posterior(d.iloc[:20]).summary()  # imports and caches outside the count
    out = {"data_mb": float(data_mb)}
    for name, kw in (("summary", {}), ("summary_no_theta", {"theta": False})):
        tracemalloc.start()
        t0 = time.perf_counter()
        table = bm.exact_posterior(d).summary(**kw)
        secs = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out[name] = {"peak_mb": peak / 2**20, "seconds": secs, "rows": len(table)}
        del table
    print(json.dumps(out))


def main() -> None:
    old = old_tree_or_work(worker)
    if old is None:
        return
    now = run_worker(__file__, ROOT)
    before = run_worker(__file__, old) if (old / "bayesma" / "__init__.py").is_file() else None
    lines = [
        f"bayesma speed_memory  (python {platform.python_version()}, numpy {np.__version__}, "
        f"{platform.machine()})",
        f"exact_posterior(table).summary() at k = {K}: tracemalloc peak above the table "
        f"(table: {now['data_mb']:.1f} MB); 'before' = commit c77db32",
        "",
        f"  {'call':<28}{'now (MB)':>10}{'before (MB)':>13}{'before/now':>12}"
        f"{'now (s)':>10}{'before (s)':>12}",
    ]
    for name in ("summary", "summary_no_theta"):
        n = now[name]
        b = before[name] if before else {"peak_mb": float("nan"), "seconds": float("nan")}
        lines.append(f"  {name:<28}{n['peak_mb']:10.1f}{b['peak_mb']:13.1f}"
                     f"{b['peak_mb'] / n['peak_mb']:12.2f}{n['seconds']:10.2f}"
                     f"{b['seconds']:12.2f}")
    lines.append("")
    lines.append("seconds are measured under tracemalloc (which slows numpy-heavy code "
                 "unevenly): memory is the point of this benchmark, speed_overhead.py times")
    lines.append("goal (issue 16): under 100 MB above the data for summary()")
    text = "\n".join(lines) + "\n"
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

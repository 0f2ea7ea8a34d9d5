"""Per-call overhead (issue 16): ``rma``, ``fit_arrays``, the exact posterior and the import.

Measured side by side in one run, each as a median of repeats after a warm-up:

* this tree ("now") and the code before issue 16 (commit ``c77db32``, "before"), each in
  a subprocess of this script with ``PYTHONPATH`` pointing at the tree; the old tree is a
  ``git worktree`` (``--old /tmp/bm_old``; create it with
  ``git worktree add /tmp/bm_old c77db32``, remove it with ``git worktree remove``);
* optionally a third tree, ``--base PATH`` (default ``/tmp/bm_base`` when it exists; e.g.
  ``mkdir /tmp/bm_base && git archive <commit> bayesma | tar -x -C /tmp/bm_base``): the
  code before the latest round of work ("base"), to show that round's gain;
* the peers, in this process: statsmodels' ``combine_effects`` (Paule-Mandel and
  DerSimonian-Laird; skipped when statsmodels is not installed) and the raw REML
  numerics (Fisher scoring plus the pooled estimate, its SE and Wald CI in plain numpy:
  the floor any wrapper adds its overhead to).

Goals (issue 16): ``bm.rma`` under 1 ms at k = 13; ``fit_arrays`` within 2x of the raw
numerics; the exact posterior's summary well below the 27 ms measured before.

Run from the repository root::

    .venv/bin/python benchmarks/speed_overhead.py [--old /tmp/bm_old] [--base /tmp/bm_base]

The output goes to ``benchmarks/results/speed_overhead.txt``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _timing import old_tree_or_work, run_worker

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "speed_overhead.txt"
KS = (13, 100, 1000)


def _median(fn, seconds: float = 0.6, min_reps: int = 5) -> float:
    """Median wall time of repeats (after one warm-up) filling about ``seconds``."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-6)
    reps = max(min_reps, min(2000, int(seconds / once)))
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def _table(k: int):
    import pandas as pd

    if k == 13:
        return pd.read_csv(ROOT / "bayesma" / "datasets" / "data" / "bcg.csv")
    rng = np.random.default_rng(20240101 + k)
    vi = rng.uniform(0.005, 0.5, k)
    yi = rng.normal(0.3, np.sqrt(vi + 0.05))
    return pd.DataFrame({"study": [f"S{i + 1}" for i in range(k)], "yi": yi, "vi": vi})


def _fallback_data() -> tuple[np.ndarray, np.ndarray]:
    """A random data set on which REML Fisher scoring does not settle in 100 steps (about
    1% of such data sets): the estimate then comes from the likelihood grid."""
    rng = np.random.default_rng(16)
    for _ in range(46):  # the 46th draw of this sequence is the first such data set
        k = int(rng.integers(3, 30))
        v = rng.uniform(0.005, 0.5, k) * 10 ** rng.uniform(-1, 1, k)
        y = rng.normal(0.3, np.sqrt(v + rng.uniform(0, 0.3)))
    return y, v


def worker() -> None:
    """Time the bayesma found on sys.path (this tree or the old one); print JSON."""
    import bayesma as bm
    from bayesma.bayes.exact import exact_posterior_arrays
    from bayesma.classical.rma import fit_arrays

    out: dict[str, dict[str, float]] = {}
    for k in KS:
        d = _table(k)
        y, v = d["yi"].to_numpy(), d["vi"].to_numpy()
        r = {
            "rma": _median(lambda d=d: bm.rma(d)),
            "fit_arrays": _median(lambda y=y, v=v: fit_arrays(y, v)),
            "exact_arrays": _median(lambda y=y, v=v: exact_posterior_arrays(y, v)),
            "exact_summary": _median(
                lambda d=d: bm.exact_posterior(d, classical=None).summary(), 1.0, 3),
            "exact_twin_summary": _median(
                lambda d=d: bm.exact_posterior(d).summary(), 1.0, 3),
            "exact_arrays_mu_tau": _median(
                lambda y=y, v=v: exact_posterior_arrays(y, v).summary(
                    theta=False, classical=None), 1.0, 3),
        }
        out[str(k)] = r
    y, v = _fallback_data()
    out["fallback"] = {"fit_arrays": _median(lambda: fit_arrays(y, v)), "k": y.size}
    print(json.dumps(out))


def _import_time(tree: Path, reps: int = 5) -> float:
    code = ("import time; t = time.perf_counter(); import bayesma as bm; bm.rma; "
            "print(time.perf_counter() - t)")
    env = dict(os.environ, PYTHONPATH=str(tree))
    ts = []
    for _ in range(reps):
        r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, check=True, cwd="/")
        ts.append(float(r.stdout.strip()))
    return statistics.median(ts)


def raw_reml(y: np.ndarray, v: np.ndarray, tol: float = 1e-12) -> tuple[float, float, float]:
    """REML tau² by Fisher scoring from the DL start, then mu, its SE and a 95% Wald CI
    (Viechtbauer 2005, eq. 9 with X = 1): the numerics of an intercept-only ``rma``."""
    w = 1.0 / v
    sw = w.sum()
    mu = (w @ y) / sw
    q = w @ (y - mu) ** 2
    t2 = max(0.0, (q - (y.size - 1)) / (sw - (w @ w) / sw))
    for _ in range(100):
        w = 1.0 / (v + t2)
        sw = w.sum()
        w2 = w * w
        sw2 = w2.sum()
        py = w * (y - (w @ y) / sw)
        a = sw2 / sw
        adj = ((py @ py) - (sw - a)) / (sw2 - 2.0 * (w2 @ w) / sw + a * a)
        while t2 + adj < 0:
            adj /= 2.0
        t2 += adj
        if abs(adj) < tol:
            break
    w = 1.0 / (v + t2)
    mu = (w @ y) / w.sum()
    se = np.sqrt(1.0 / w.sum())
    return mu, mu - 1.959963984540054 * se, mu + 1.959963984540054 * se


def peers() -> dict:
    out: dict[str, dict[str, float]] = {}
    try:
        from statsmodels.stats.meta_analysis import combine_effects
    except ImportError:
        combine_effects = None
    for k in KS:
        d = _table(k)
        y, v = d["yi"].to_numpy(), d["vi"].to_numpy()
        r = {"raw_reml": _median(lambda y=y, v=v: raw_reml(y, v))}
        if combine_effects is not None:
            r["sm_pm"] = _median(lambda y=y, v=v: combine_effects(y, v, method_re="pm"))
            r["sm_dl"] = _median(lambda y=y, v=v: combine_effects(y, v, method_re="dl"))
        out[str(k)] = r
    return out


def _ratio(times: dict, a: str, b: str) -> str:
    return f"{times[a] / times[b]:.2f}"


def _pop_base() -> Path | None:
    """Take ``--base PATH`` off the command line (the shared parser does not know it)."""
    base = Path("/tmp/bm_base")
    if "--base" in sys.argv:
        i = sys.argv.index("--base")
        base = Path(sys.argv[i + 1])
        del sys.argv[i:i + 2]
    return base if (base / "bayesma" / "__init__.py").is_file() else None


def main() -> None:
    base_tree = _pop_base()
    old = old_tree_or_work(worker)
    if old is None:
        return
    have_old = (old / "bayesma" / "__init__.py").is_file()
    now = run_worker(__file__, ROOT)
    before = run_worker(__file__, old) if have_old else None
    base = run_worker(__file__, base_tree) if base_tree is not None else None
    imp_now = _import_time(ROOT)
    imp_old = _import_time(old) if have_old else float("nan")
    peer = peers()

    def ms(x: float) -> str:
        return f"{1e3 * x:9.3f}"

    lines = [
        f"bayesma speed_overhead  (python {platform.python_version()}, numpy {np.__version__}, "
        f"{platform.machine()}, {os.cpu_count()} cores shared)",
        "median wall time in ms; 'before' = commit c77db32 (pre issue 16), "
        + (f"'base' = the tree in {base_tree} (before the latest round), " if base else "")
        + "same machine, same run",
        "",
        f"import bayesma; bm.rma        now {ms(imp_now)}   before {ms(imp_old)}   "
        f"ratio before/now {imp_old / imp_now:6.2f}",
        "",
    ]
    rows = ("rma", "fit_arrays", "exact_arrays", "exact_summary", "exact_twin_summary",
            "exact_arrays_mu_tau")
    for k in KS:
        key = str(k)
        p = peer[key]
        lines.append(f"k = {k}")
        lines.append(f"  {'call':<22}{'now':>10}{'before':>10}{'before/now':>12}"
                     f"{'now/raw REML':>14}" + (f"{'base':>10}{'base/now':>10}" if base else ""))
        for name in rows:
            t_now = now[key][name]
            t_old = before[key][name] if before else float("nan")
            line = (f"  {name:<22}{ms(t_now)} {ms(t_old)}{t_old / t_now:12.2f}"
                    f"{t_now / p['raw_reml']:14.2f}")
            if base:
                line += f"{ms(base[key][name])} {base[key][name] / t_now:9.2f}"
            lines.append(line)
        lines.append(f"  {'peer: raw REML numerics':<22}{ms(p['raw_reml'])}")
        if "sm_pm" in p:
            lines.append(f"  {'peer: statsmodels PM':<22}{ms(p['sm_pm'])}"
                         f"   rma/statsmodels PM = {now[key]['rma'] / p['sm_pm']:.2f}")
            lines.append(f"  {'peer: statsmodels DL':<22}{ms(p['sm_dl'])}")
        lines.append("")
    p13 = peer["13"]
    lines.append("goals at k = 13 (issue 16):")
    lines.append(f"  bm.rma under 1 ms: {ms(now['13']['rma'])} ms "
                 f"(rma / statsmodels PM = {now['13']['rma'] / p13.get('sm_pm', np.nan):.2f})")
    lines.append(f"  fit_arrays within 2x of the raw REML numerics: "
                 f"{now['13']['fit_arrays'] / p13['raw_reml']:.2f}x"
                 + (f" (base {base['13']['fit_arrays'] / p13['raw_reml']:.2f}x, before "
                    f"{before['13']['fit_arrays'] / p13['raw_reml']:.2f}x)"
                    if base and before else ""))
    n13 = now["13"]
    lines.append(f"  exact posterior, the issue's yardstick (27 ms with summary against 13 ms via "
                 f"arrays without theta rows): exact_twin_summary / exact_arrays_mu_tau = "
                 f"{n13['exact_twin_summary'] / n13['exact_arrays_mu_tau']:.2f}x"
                 + (f" (before {_ratio(before['13'], 'exact_twin_summary', 'exact_arrays_mu_tau')}"
                    "x)" if before else ""))
    lines.append(f"  exact posterior, stricter: build + summary / build alone = "
                 f"{n13['exact_summary'] / n13['exact_arrays']:.2f}x"
                 + (f" (base {base['13']['exact_summary'] / base['13']['exact_arrays']:.2f}x, "
                    f"before {before['13']['exact_summary'] / before['13']['exact_arrays']:.2f}x)"
                    if base and before else ""))
    lines.append("")
    fb_now = now["fallback"]["fit_arrays"]
    fb_old = before["fallback"]["fit_arrays"] if before else float("nan")
    lines.append(f"Fisher-scoring fallback (k = {now['fallback']['k']}, REML does not settle in "
                 f"100 steps): fit_arrays now {ms(fb_now)}  before {ms(fb_old)}  "
                 f"before/now {fb_old / fb_now:.2f}")
    lines.append("")
    lines.append("rows: rma = bm.rma(table) REML; fit_arrays = the same on arrays; "
                 "exact_arrays = exact_posterior_arrays (build only);")
    lines.append("exact_summary = exact_posterior(table, classical=None).summary(); "
                 "exact_twin_summary = with the REML/knha twin;")
    lines.append("exact_arrays_mu_tau = exact_posterior_arrays(y, v).summary(theta=False, "
                 "classical=None) (no study rows, no twin).")
    load = os.getloadavg()
    lines.append(f"load average during the run: {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}")
    text = "\n".join(lines) + "\n"
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

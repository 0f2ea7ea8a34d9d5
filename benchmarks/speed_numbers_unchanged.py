"""Issue 16's "results unchanged", checked on random data beyond the reference tests.

The speed work changed numerical paths: Newton steps from the Fisher start, the
vectorised likelihood grid, Halley steps for the mixture quantiles, the loop Q in the
Q-profile search. This script fits the same 400 random data sets (k from 2 to 80, tau
from 0 to 1.5, sampling variances over three orders of magnitude) with this tree and with
the code before issue 16 (commit ``c77db32``), each in a subprocess of this script with
``PYTHONPATH`` pointing at the tree, and reports the largest relative difference per
result family:

* ``bm.rma`` with every tau² estimator and the z and Knapp-Hartung tests (estimate,
  tau², SE, CI, prediction interval, Q, I²);
* the Q-profile confidence intervals of ``confint()`` (REML, ML, PM, DL);
* the meta-regression ``mods="~ x"``;
* ``exact_posterior(...).summary()`` without and with the REML twin (every 4th set).

A tau² estimate at the boundary (numerically zero, below 1e-10) is the end point of an
iteration that stops at its tolerance, so its value and what follows from it (tau, I²,
H², a Q-profile bound of 0) carry no digits: differences there are listed separately,
as absolute differences.

Run from the repository root (the old tree as for ``speed_overhead.py``)::

    .venv/bin/python benchmarks/speed_numbers_unchanged.py [--old /tmp/bm_old]

The output goes to ``benchmarks/results/speed_numbers_unchanged.txt``.
"""

from __future__ import annotations

import json
import platform
import warnings
from pathlib import Path

import numpy as np
from _timing import old_tree_or_work, run_worker

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "speed_numbers_unchanged.txt"
N_SETS = 400
METHODS = ("REML", "ML", "PM", "DL", "EB", "SJ", "HE", "HS", "PMM", "GENQ")
BOUNDARY = 1e-10  # tau² below this is zero up to the iteration's tolerance


def _data(rng: np.random.Generator):
    import pandas as pd

    k = int(rng.choice([2, 3, 4, 5, 8, 13, 20, 31, 45, 80]))
    tau = float(rng.choice([0.0, 0.05, 0.2, 0.6, 1.5]))
    v = rng.uniform(0.005, 0.5, k) * float(rng.choice([0.1, 1.0, 10.0]))
    x = rng.normal(size=k)
    y = 0.3 + 0.2 * x + rng.normal(0.0, np.sqrt(v + tau**2))
    return pd.DataFrame({"yi": y, "vi": v, "x": x})


def _floats(*xs) -> list[float]:
    return [float(v) for x in xs for v in np.asarray(x, dtype=float).ravel()]


def _entry(values: list[float], boundary: list[bool] | None = None) -> list:
    """Values and, for each, whether it is a boundary value (see the module text)."""
    return [values, boundary or [False] * len(values)]


def _rma_entry(r) -> list:
    at0 = float(r.tau2) < BOUNDARY
    vals = _floats(r.beta, r.se, r.ci_low, r.ci_high, r.pi_low, r.pi_high, r.q)
    return _entry(vals + _floats(r.tau2, r.i2), [False] * len(vals) + [at0, at0])


def _confint_entry(c: np.ndarray) -> list:
    """Rows tau^2, tau, I^2, H^2; columns estimate, ci.lb, ci.ub: a column is at the
    boundary where its tau^2 is."""
    flag = [bool(c[0, j] < BOUNDARY) for j in range(3)]
    return _entry(_floats(c), [f for _ in range(4) for f in flag])


def _exact_entry(s) -> list:
    """The summary table; the twin's tau-like cells at the boundary flagged."""
    vals = s.to_numpy(dtype=float)
    mask = np.zeros(vals.shape, dtype=bool)
    cols = list(s.columns)
    if "classical" in cols and "tau2" in s.index:
        t2 = s.loc["tau2"]
        for c in ("classical", "classical_low", "classical_high"):
            if t2[c] < BOUNDARY:
                mask[[s.index.get_loc(r) for r in ("tau", "tau2", "i2")], cols.index(c)] = True
    return _entry(_floats(vals), mask.ravel().tolist()) + [list(map(str, s.index))]


def _fit_set(bm, d, exact: bool) -> dict:
    """Every result compared on one data set (an error is a result too)."""
    k = len(d)
    rec: dict[str, object] = {"k": k}

    def put(key: str, make) -> None:
        try:
            rec[key] = make()
        except Exception as exc:  # noqa: BLE001 - an error is a result to compare
            rec[key] = type(exc).__name__

    for meth in METHODS:
        for test in ("z", "knha"):
            put(f"rma {meth} {test}", lambda m=meth, t=test: _rma_entry(
                bm.rma(d, method=m, test=t)))
        if meth in ("REML", "ML", "PM", "DL") and k >= 3:
            put(f"confint {meth}", lambda m=meth: _confint_entry(
                bm.rma(d, method=m).confint().to_frame().to_numpy(dtype=float)))
    if k >= 4:
        put("meta-regression", lambda: _rma_entry(bm.rma(d, mods="~ x")))
    if exact:
        for twin in (None, "REML"):
            put(f"exact twin={twin}", lambda t=twin: _exact_entry(
                bm.exact_posterior(d, classical=t).summary()))
    return rec


def worker() -> None:
    """Fit every data set with the bayesma on sys.path; print one JSON line."""
    import bayesma as bm

    warnings.simplefilter("ignore")
    rng = np.random.default_rng(20261206)
    out = [_fit_set(bm, _data(rng), exact=i % 4 == 0) for i in range(N_SETS)]
    print(json.dumps(out))


def _family(key: str) -> str:
    if key.startswith("rma"):
        return "rma " + key.split(" ")[2]
    return key


def _compare(now: list[dict], before: list[dict]) -> tuple[dict, dict, dict, list[str]]:
    """Per family: the largest relative and absolute differences off the boundary, the
    largest absolute difference at it, and the mismatches."""
    rel: dict[str, float] = {}
    dif: dict[str, float] = {}
    bnd: dict[str, float] = {}
    bad: list[str] = []
    for i, (a, b) in enumerate(zip(now, before, strict=True)):
        for key in sorted(a.keys() | b.keys()):
            if key == "k":
                continue
            xa, xb = a.get(key), b.get(key)
            if not isinstance(xa, list) or not isinstance(xb, list):
                if xa != xb:
                    bad.append(f"set {i} (k = {a['k']}), {key}: now {xa!r}, before {xb!r}")
                continue
            if xa[2:] != xb[2:]:
                bad.append(f"set {i}, {key}: rows differ")
                continue
            fa, fb = np.array(xa[0], float), np.array(xb[0], float)
            if fa.shape != fb.shape or np.any(np.isnan(fa) != np.isnan(fb)):
                bad.append(f"set {i}, {key}: shape or NaN pattern differs")
                continue
            edge = np.array(xa[1], bool) | np.array(xb[1], bool)
            same = np.isnan(fa) | (fa == fb)
            fam = _family(key)
            core = ~edge & ~same
            if core.any():
                d = np.abs(fa[core] - fb[core])
                rel[fam] = max(rel.get(fam, 0.0), float((d / np.abs(fb[core])).max()))
                dif[fam] = max(dif.get(fam, 0.0), float(d.max()))
            else:
                rel.setdefault(fam, 0.0)
            if (edge & ~same).any():
                bnd[fam] = max(bnd.get(fam, 0.0), float(np.abs(fa - fb)[edge & ~same].max()))
    return rel, dif, bnd, bad


def _score(t2: float, y: np.ndarray, v: np.ndarray, reml: bool) -> float:
    """d log L / d tau² of the intercept-only model, ML or REML (Viechtbauer 2005, eqs. 10
    and 12)."""
    w = 1.0 / (v + t2)
    r = y - (w @ y) / w.sum()
    s = -0.5 * w.sum() + 0.5 * (w**2 @ r**2)
    return s + 0.5 * (w**2).sum() / w.sum() if reml else s


def _root_errors(now: list[dict], before: list[dict]) -> dict[str, tuple[float, float]]:
    """Largest relative error of each tree's ML and REML tau² (off the boundary) against
    the root of the score, found by ``brentq`` to 1e-15 in a bracket around both."""
    from scipy.optimize import brentq

    rng = np.random.default_rng(20261206)
    out: dict[str, tuple[float, float]] = {}
    for a, b in zip(now, before, strict=True):
        d = _data(rng)
        y, v = d["yi"].to_numpy(), d["vi"].to_numpy()
        for meth in ("REML", "ML"):
            key = f"rma {meth} z"
            if not (isinstance(a.get(key), list) and isinstance(b.get(key), list)):
                continue
            ta, tb = a[key][0][-2], b[key][0][-2]
            if min(ta, tb) < BOUNDARY or ta == tb:
                continue
            lo, hi = min(ta, tb) * (1 - 1e-6), max(ta, tb) * (1 + 1e-6)
            f_lo, f_hi = (_score(t, y, v, meth == "REML") for t in (lo, hi))
            if f_lo * f_hi > 0:
                continue  # no single root between them: not this check's case
            root = brentq(_score, lo, hi, args=(y, v, meth == "REML"), xtol=1e-300,
                          rtol=1e-15)
            ea, eb = abs(ta - root) / root, abs(tb - root) / root
            prev = out.get(meth, (0.0, 0.0))
            out[meth] = (max(prev[0], ea), max(prev[1], eb))
    return out


def main() -> None:
    old = old_tree_or_work(worker)
    if old is None:
        return
    now = run_worker(__file__, ROOT)
    before = run_worker(__file__, old)
    rel, dif, bnd, bad = _compare(now, before)
    lines = [
        f"bayesma speed_numbers_unchanged  (python {platform.python_version()}, "
        f"numpy {np.__version__}, {platform.machine()})",
        f"{N_SETS} random data sets fitted by this tree and by commit c77db32 (before issue "
        "16), in one run",
        "",
        "largest differences between the trees; 'boundary' = tau² below 1e-10 and what follows "
        "from it (absolute)",
        "",
        "  family             relative   absolute   boundary",
    ]
    for fam in sorted(rel.keys() | bnd.keys()):
        b = f"{bnd[fam]:.1e}" if fam in bnd else "-"
        lines.append(f"  {fam:16s}  {rel.get(fam, 0.0):9.1e}  {dif.get(fam, 0.0):9.1e}   {b:>8s}")
    lines.append("")
    lines.append("where the tau² estimates differ, against the root of the score equation "
                 "(brentq to 1e-15), largest relative error:")
    for meth, (ea, eb) in _root_errors(now, before).items():
        lines.append(f"  {meth:5s} now {ea:.1e}   before {eb:.1e}")
    lines.append("")
    lines.append(f"mismatches (an error on one side only, rows or NaN pattern differ): "
                 f"{len(bad)}")
    lines += [f"  {m}" for m in bad[:20]]
    text = "\n".join(lines)
    print(text)
    OUT.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""Coverage studies: every interval method on every simulated replicate of every scenario.

:func:`coverage_study` simulates each scenario (normal-normal or binomial), runs the
methods through the batch engines (``bm.batch_rma``, ``bm.batch_exact``) on the same
replicates, and summarises coverage with its Monte Carlo standard error, median width,
bias, RMSE and counts of failed and flagged fits (the performance measures of Morris,
White & Crowther 2019, Stat Med 38:2074). With ``out=`` each finished scenario is
written to a CSV file and skipped when the study is run again.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr
from tqdm.auto import tqdm

from bayesma.batch import batch_exact, batch_from_arrays, batch_rma
from bayesma.errors import DataError
from bayesma.parallel import chunk_seeds, progress_on
from bayesma.priors import Normal, Prior
from bayesma.simulation.generate import simulate_arrays, simulate_binomial
from bayesma.simulation.methods import IntervalMethod, parse_method

__all__ = ["COVERAGE_COLUMNS", "coverage_study", "default_mu_prior"]

#: summary columns of :func:`coverage_study` (after the scenario settings)
COVERAGE_COLUMNS = ("method", "target", "n_rep", "n_valid", "coverage", "mcse",
                    "median_width", "bias", "rmse", "n_fail", "n_warn")

_NORMAL_KEYS = ("k", "mu", "tau", "vi")
_BINOMIAL_KEYS = ("k", "n", "p_control", "log_or", "tau", "measure")


def default_mu_prior() -> Prior:
    """Prior of mu in Bayesian methods of a coverage study: Normal(0, 10), essentially
    flat on the log odds ratio or SMD scale (Friede et al. 2017 used a flat prior)."""
    return Normal(0.0, 10.0, source="coverage_study default: wide normal on mu")


def _scenarios(scenarios: Any) -> list[dict[str, Any]]:
    """Scenario dicts with defaults filled in, and a ``design`` key."""
    if isinstance(scenarios, pd.DataFrame):
        rows = scenarios.to_dict(orient="records")
    elif isinstance(scenarios, Mapping):
        rows = [scenarios]
    else:
        rows = list(scenarios) if isinstance(scenarios, Iterable) else None
    if rows is None or isinstance(scenarios, str) or not all(
            isinstance(s, Mapping) for s in rows):
        raise DataError("scenarios must be a DataFrame, a dict or a list of dicts (one per "
                        f"scenario), got {type(scenarios).__name__}", column="scenarios")
    if not rows:
        raise DataError("coverage_study needs at least one scenario", column="scenarios")
    out = []
    for i, row in enumerate(rows):
        binomial = any(key in row for key in ("n", "p_control", "log_or"))
        allowed = _BINOMIAL_KEYS if binomial else _NORMAL_KEYS
        extra = sorted(set(row) - set(allowed))
        if extra:
            raise DataError(f"scenario {i} has unknown settings {extra}; a normal-normal "
                            f"scenario takes {list(_NORMAL_KEYS)}, a binomial one "
                            f"{list(_BINOMIAL_KEYS)}", column="scenarios", rows=[i])
        if "k" not in row:
            raise DataError(f"scenario {i} has no k (studies per meta-analysis)",
                            column="k", rows=[i])
        k = row["k"]
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 2:
            raise DataError(f"scenario {i}: k must be an integer >= 2, got {k!r}",
                            column="k", rows=[i])
        try:
            if binomial:
                s = {"design": "binomial", "k": int(k), "n": row.get("n", 100),
                     "p_control": float(row.get("p_control", 0.2)),
                     "log_or": float(row.get("log_or", 0.0)),
                     "tau": float(row.get("tau", 0.0)),
                     "measure": str(row.get("measure", "OR")).upper()}
            else:
                s = {"design": "normal", "k": int(k), "mu": float(row.get("mu", 0.0)),
                     "tau": float(row.get("tau", 0.0)),
                     "vi": row.get("vi", "uniform(0.05, 0.5)")}
        except (TypeError, ValueError):
            raise DataError(f"scenario {i}: mu, tau, p_control and log_or must be numbers, "
                            f"got {row!r}", column="scenarios", rows=[i]) from None
        out.append(s)
    return out


def _simulate(s: dict[str, Any], n_rep: int, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(y, v, true mu) arrays of shape (n_rep, k) for one scenario."""
    if s["design"] == "normal":
        y, v, _ = simulate_arrays(k=s["k"], mu=s["mu"], tau=s["tau"], vi=s["vi"],
                                  n_rep=n_rep, seed=seed)
        return y, v, s["mu"]
    sim = simulate_binomial(k=s["k"], n=s["n"], p_control=s["p_control"],
                            log_or=s["log_or"], tau=s["tau"], n_rep=n_rep, seed=seed,
                            measure=s["measure"])
    shape = (n_rep, s["k"])
    return (sim["yi"].to_numpy(float).reshape(shape), sim["vi"].to_numpy(float).reshape(shape),
            s["log_or"])


def _run(methods: list[IntervalMethod], y, v, *, level, mu_prior, backend, client):
    """One batch run per distinct engine setting: {key: DataFrame}."""
    batch = batch_from_arrays(y, v)
    runs: dict[tuple, pd.DataFrame] = {}
    for m in methods:
        if m.key in runs:
            continue
        with warnings.catch_warnings():
            # small-k warnings of test='z' are what a coverage study measures
            warnings.simplefilter("ignore")
            if m.engine == "rma":
                runs[m.key] = batch_rma(batch, method=m.estimator, test=m.test, level=level,
                                        backend=backend, client=client, progress=False)
            else:
                runs[m.key] = batch_exact(batch, mu_prior=mu_prior, tau_prior=m.tau_prior,
                                          level=level, backend=backend, client=client,
                                          progress=False)
    return runs


def _summary(m: IntervalMethod, res: pd.DataFrame, mu: float, tau: float) -> dict[str, Any]:
    """Performance measures of one method on one scenario (Morris et al. 2019, table 6)."""
    if m.engine == "rma":
        lo, hi = ("pi_low", "pi_high") if m.predict else ("ci_low", "ci_high")
        est = res["estimate"].to_numpy(float)
        flagged = ~res["converged"].to_numpy(bool) | (res["note"].to_numpy(str) != "")
    else:
        lo, hi = ("theta_new_low", "theta_new_high") if m.predict else ("mu_low", "mu_high")
        est = res["mu_median"].to_numpy(float)
        flagged = res["note"].to_numpy(str) != ""
    a, b = res[lo].to_numpy(float), res[hi].to_numpy(float)
    ok = np.isfinite(a) & np.isfinite(b) & np.isfinite(est)
    n = int(ok.sum())
    out = {"method": m.label, "target": "theta_new" if m.predict else "mu",
           "n_rep": len(res), "n_valid": n, "coverage": np.nan, "mcse": np.nan,
           "median_width": np.nan, "bias": np.nan, "rmse": np.nan,
           "n_fail": int(len(res) - n), "n_warn": int((ok & flagged).sum())}
    if n == 0:
        return out
    a, b, est = a[ok], b[ok], est[ok]
    if m.predict and tau > 0:
        # coverage of a new theta ~ N(mu, tau²) given the interval, averaged over
        # replicates (conditional coverage; Partlett & Riley 2017, Stat Med 36:301)
        hit = ndtr((b - mu) / tau) - ndtr((a - mu) / tau)
        mcse = float(np.std(hit, ddof=1) / np.sqrt(n)) if n > 1 else np.nan
    else:
        hit = ((a <= mu) & (mu <= b)).astype(float)
        p = float(hit.mean())
        mcse = float(np.sqrt(p * (1 - p) / n))  # binomial MCSE (Morris et al. 2019)
    out.update(coverage=float(hit.mean()), mcse=mcse, median_width=float(np.median(b - a)),
               bias=float(np.mean(est - mu)), rmse=float(np.sqrt(np.mean((est - mu) ** 2))))
    return out


def _key(s: dict[str, Any], labels: list[str], n_rep: int, seed: int, level: float,
         mu_prior: Prior) -> str:
    text = repr((sorted((k, repr(v)) for k, v in s.items()), labels, n_rep, seed, level,
                 repr(mu_prior)))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def coverage_study(scenarios: Any, methods: Sequence[str], n_rep: int, seed: int | None = None,
                   *, level: float = 0.95, mu_prior: Prior | None = None,
                   out: str | Path | None = None, backend: str | None = None,
                   client: Any = None, progress: bool | None = None) -> pd.DataFrame:
    """Coverage, width, bias and RMSE of interval methods over simulated meta-analyses.

    Parameters
    ----------
    scenarios : DataFrame, dict or list of dicts
        One row per scenario. Normal-normal: ``k``, ``mu`` (0), ``tau`` (0), ``vi`` (a
        scheme of :func:`bayesma.simulation.draw_vi`, default ``"uniform(0.05, 0.5)"``).
        Binomial (any of ``n``, ``p_control``, ``log_or`` given): ``k``, ``n`` (100),
        ``p_control`` (0.2), ``log_or`` (0), ``tau`` (0), ``measure`` ("OR"); see
        :func:`bayesma.simulation.simulate_binomial`.
    methods : sequence of str
        Interval methods (:func:`bayesma.simulation.parse_method`): e.g. ``"REML-z"``,
        ``"REML-knha"``, ``"DL-z"``, ``"PM-knha"``, ``"REML-adhoc"``, ``"PI-REML"``,
        ``"Bayes-HalfNormal(0.5)"``, ``"PI-Bayes-HalfNormal(0.5)"``.
    n_rep : int
        Replicates per scenario (MCSE of a coverage near 0.95 is about
        0.22 / sqrt(n_rep)).
    seed : int, optional
        Seed; scenario i uses the i-th child seed (:func:`bayesma.parallel.chunk_seeds`),
        and every method sees the same replicates.
    level : float
        Nominal level of every interval.
    mu_prior : Prior, optional
        Prior of mu for the Bayesian methods (default :func:`default_mu_prior`).
    out : str or Path, optional
        Folder; each finished scenario is written there as CSV and read back instead of
        recomputed when the same scenario, methods, n_rep, seed and level run again.
    backend, client
        Where the batch engines run their chunks (:func:`bayesma.parallel.run_chunks`;
        default: serially for one chunk, local processes beyond).
    progress : bool, optional
        Progress bar over scenarios (None: only on a terminal).

    Returns
    -------
    DataFrame
        One row per (scenario, method): ``scenario`` (its position), the scenario's
        settings, then :data:`COVERAGE_COLUMNS`: ``target`` ("mu", or "theta_new" for
        prediction intervals, whose coverage is the probability that a new study's
        true effect falls inside, averaged over replicates), ``coverage``, its Monte
        Carlo SE ``mcse``, ``median_width``, ``bias`` and ``rmse`` of the point estimate
        (posterior median for Bayesian methods) around mu, ``n_fail`` (no finite
        interval) and ``n_warn`` (a finite interval with a note or non-convergence).
    """
    if isinstance(n_rep, bool) or not isinstance(n_rep, int | np.integer) or n_rep < 2:
        raise DataError(f"n_rep must be an integer >= 2, got {n_rep!r}", column="n_rep")
    if isinstance(methods, str):
        methods = [methods]
    parsed = [parse_method(m) for m in methods]
    if not parsed:
        raise DataError("coverage_study needs at least one method", column="methods")
    labels = [m.label for m in parsed]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise DataError(f"methods repeated: {dupes}", column="methods")
    scen = _scenarios(scenarios)
    mu_prior = default_mu_prior() if mu_prior is None else mu_prior
    seeds = chunk_seeds(seed, len(scen))
    folder = Path(out) if out is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(scen), desc="coverage_study") if progress_on(progress) else None
    parts = []
    try:
        for i, s in enumerate(scen):
            path = None
            if folder is not None:
                key = _key(s, labels, int(n_rep), seeds[i], level, mu_prior)
                path = folder / f"scenario_{i:03d}_{key}.csv"
                if path.exists():
                    parts.append(pd.read_csv(path, keep_default_na=True))
                    if bar is not None:
                        bar.update()
                    continue
            y, v, mu = _simulate(s, int(n_rep), seeds[i])
            runs = _run(parsed, y, v, level=level, mu_prior=mu_prior, backend=backend,
                        client=client)
            settings = {"scenario": i, **{c: (x if isinstance(x, str | int | float) else
                                              repr(x)) for c, x in s.items()}}
            rows = [{**settings, **_summary(m, runs[m.key], mu, s["tau"])} for m in parsed]
            table = pd.DataFrame(rows)
            if path is not None:
                table.to_csv(path, index=False)
            parts.append(table)
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    return pd.concat(parts, ignore_index=True)

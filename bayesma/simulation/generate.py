"""Simulated meta-analyses: normal-normal replicates and binomial 2x2 tables.

Each random quantity comes from its own stream of ``numpy.random.SeedSequence(seed)``
and is drawn as one (n_rep x k) array in row order, so replicate r is the same whatever
``n_rep`` (the first 100 of 1000 replicates equal a run with ``n_rep=100``) and the
draws never depend on how later computations are chunked.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from bayesma.effect_sizes import escalc
from bayesma.errors import DataError

__all__ = ["VI_SCHEMES", "draw_vi", "simulate", "simulate_arrays", "simulate_binomial"]

#: sampling-variance schemes accepted as text by :func:`simulate`
VI_SCHEMES = ("uniform(a, b)", "loguniform(a, b)", "fixed(v)")

_SCHEME = re.compile(r"^\s*(uniform|loguniform|fixed)\s*\(([^()]*)\)\s*$", re.IGNORECASE)


def _streams(seed: int | None, n: int) -> list[np.random.Generator]:
    """``n`` independent generators, one per random quantity (SeedSequence.spawn)."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def _check_count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise DataError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_number(name: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise DataError(f"{name} must be a number, got {value!r}")
    x = float(value)
    if not np.isfinite(x) or (positive and x < 0):
        raise DataError(f"{name} must be a finite number{' >= 0' if positive else ''}, "
                        f"got {value!r}")
    return x


def draw_vi(vi: Any, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Sampling variances of shape (n_rep, k) from a scheme, an array or a sampler.

    Parameters
    ----------
    vi : str, float, array_like or callable
        ``"uniform(a, b)"``: vi ~ Uniform(a, b); ``"loguniform(a, b)"``: log vi ~
        Uniform(log a, log b) (study sizes spread over orders of magnitude, as in the
        unequal-size designs of IntHout et al. 2014); ``"fixed(v)"`` or a
        number: every vi = v; an array of length k: the same k variances in every
        replicate (a fixed design); a callable ``f(rng, size)`` returning positive
        variances of shape ``size``.
    rng : numpy.random.Generator
        The stream of the variances.
    shape : (int, int)
        (n_rep, k).
    """
    n_rep, k = shape
    if callable(vi):
        out = np.asarray(vi(rng, shape), dtype=float)
        if out.shape != shape:
            raise DataError(f"the vi sampler returned shape {out.shape}, expected {shape}",
                            column="vi")
    elif isinstance(vi, str):
        m = _SCHEME.match(vi)
        if m is None:
            raise DataError(f"unknown vi scheme {vi!r}; use one of {', '.join(VI_SCHEMES)}, "
                            "a number, an array of k variances or a callable(rng, size)",
                            column="vi")
        try:
            args = [float(a) for a in m.group(2).split(",") if a.strip()]
        except ValueError:
            raise DataError(f"vi scheme {vi!r} needs numeric arguments", column="vi") from None
        kind = m.group(1).lower()
        need = 1 if kind == "fixed" else 2
        if len(args) != need or not all(np.isfinite(a) and a > 0 for a in args):
            raise DataError(f"vi scheme {vi!r} needs {need} positive number(s)", column="vi")
        if kind == "fixed":
            out = np.full(shape, args[0])
        else:
            a, b = args
            if not a < b:
                raise DataError(f"vi scheme {vi!r}: a must be below b", column="vi")
            u = rng.uniform(size=shape)
            out = a + (b - a) * u if kind == "uniform" else np.exp(
                np.log(a) + (np.log(b) - np.log(a)) * u)
    elif np.ndim(vi) == 0:
        out = np.full(shape, _check_number("vi", vi))
    else:
        arr = np.asarray(vi, dtype=float)
        if arr.shape != (k,):
            raise DataError(f"an array vi must hold k = {k} variances, got shape {arr.shape}",
                            column="vi")
        out = np.broadcast_to(arr, shape).copy()
    bad = np.argwhere(~(np.isfinite(out) & (out > 0)))
    if bad.size:
        r, c = (int(i) for i in bad[0])
        raise DataError(f"simulated vi must be finite and > 0; replicate {r}, study {c} has "
                        f"{out[r, c]:g}", column="vi", rows=[r])
    return out


def simulate_arrays(*, k: int, mu: float, tau: float, vi: Any, n_rep: int,
                    seed: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(yi, vi, theta) arrays of shape (n_rep, k) of the normal-normal model.

    theta_ij ~ N(mu, tau²) and yi_ij ~ N(theta_ij, vi_ij) (the random-effects model of
    DerSimonian & Laird 1986; the simulation design of IntHout et al. 2014, BMC Med Res
    Methodol 14:25).
    """
    k = _check_count("k", k, 1)
    n_rep = _check_count("n_rep", n_rep, 1)
    mu = _check_number("mu", mu)
    tau = _check_number("tau", tau, positive=True)
    g_vi, g_theta, g_eps = _streams(seed, 3)
    v = draw_vi(vi, g_vi, (n_rep, k))
    theta = mu + tau * g_theta.standard_normal((n_rep, k))
    y = theta + np.sqrt(v) * g_eps.standard_normal((n_rep, k))
    return y, v, theta


def _long(y: np.ndarray, v: np.ndarray, theta: np.ndarray, **extra: np.ndarray) -> pd.DataFrame:
    n_rep, k = y.shape
    return pd.DataFrame({"rep": np.repeat(np.arange(n_rep), k),
                         "study": np.tile(np.arange(1, k + 1), n_rep),
                         **{c: a.ravel() for c, a in extra.items()},
                         "yi": y.ravel(), "vi": v.ravel(), "theta": theta.ravel()})


def simulate(*, k: int, mu: float = 0.0, tau: float = 0.0, vi: Any = "uniform(0.05, 0.5)",
             n_rep: int = 1, seed: int | None = None) -> pd.DataFrame:
    """Replicates of the normal-normal random-effects model.

    Parameters
    ----------
    k : int
        Studies per meta-analysis.
    mu, tau : float
        Mean and standard deviation of the true effects theta ~ N(mu, tau²).
    vi : str, float, array_like or callable
        Sampling variances: a scheme (``"uniform(a, b)"``, ``"loguniform(a, b)"``,
        ``"fixed(v)"``), a number, an array of k variances, or ``f(rng, size)``; see
        :func:`draw_vi`. The default ``"uniform(0.05, 0.5)"`` resembles log odds ratios
        of trials with about 20 to 200 patients per arm.
    n_rep : int
        Number of simulated meta-analyses.
    seed : int, optional
        Seed; replicate r does not depend on ``n_rep``.

    Returns
    -------
    DataFrame
        One row per study: ``rep`` (0-based), ``study`` (1..k), ``yi``, ``vi`` and the
        true effect ``theta``; ``attrs`` record the settings. Pass it to
        ``bm.batch_rma(sim, by="rep")``.
    """
    y, v, theta = simulate_arrays(k=k, mu=mu, tau=tau, vi=vi, n_rep=n_rep, seed=seed)
    out = _long(y, v, theta)
    out.attrs.update({"k": int(k), "mu": float(mu), "tau": float(tau),
                      "vi": vi if isinstance(vi, str | int | float) else "custom",
                      "seed": seed})
    return out


def _sizes(n: Any, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Arm sizes: an integer, ``(lo, hi)`` (uniform integers, inclusive) or k integers."""
    if isinstance(n, tuple) and len(n) == 2:
        lo, hi = (_check_count("n", x, 1) for x in n)
        if lo > hi:
            raise DataError(f"n=(lo, hi) needs lo <= hi, got {n!r}", column="n")
        return rng.integers(lo, hi + 1, size=shape)
    if np.ndim(n) == 0:
        return np.full(shape, _check_count("n", n, 1))
    arr = np.asarray(n)
    if arr.shape != (shape[1],) or not np.issubdtype(arr.dtype, np.integer) or (arr < 1).any():
        raise DataError(f"n must be an integer, (lo, hi) or k = {shape[1]} positive integers",
                        column="n")
    return np.broadcast_to(arr, shape).copy()


def simulate_binomial(*, k: int, n: Any = 100, p_control: float = 0.2, log_or: float = 0.0,
                      tau: float = 0.0, n_rep: int = 1, seed: int | None = None,
                      measure: str = "OR") -> pd.DataFrame:
    """Replicates of two-arm trials with binary outcomes, as 2x2 tables through escalc.

    The true log odds ratio of study i is theta_i ~ N(log_or, tau²); the control risk is
    ``p_control`` and the treatment risk expit(logit(p_control) + theta_i); the events are
    binomial (design of Friede et al. 2017, Biom J 59:658). Effect sizes and their
    *estimated* variances come from ``bm.escalc(measure, ...)`` with metafor's defaults
    (1/2 added to the cells of tables with a zero cell; double-zero tables kept), so
    zero cells and estimated variances are part of the simulation.

    Parameters
    ----------
    k : int
        Trials per meta-analysis.
    n : int, (int, int) or array_like of k ints
        Patients per arm: fixed, uniform integers in ``[lo, hi]``, or one per trial.
    p_control : float
        Event risk of the control arms, in (0, 1).
    log_or, tau : float
        Mean and standard deviation of the true log odds ratios.
    n_rep : int
        Number of simulated meta-analyses.
    seed : int, optional
        Seed; replicate r does not depend on ``n_rep``.
    measure : str
        escalc measure of a 2x2 table (``"OR"``, ``"RR"``, ``"RD"``, ``"PETO"``, ...);
        ``theta`` stays the true log odds ratio.

    Returns
    -------
    DataFrame
        One row per trial: ``rep``, ``study``, ``ai, n1i, ci, n2i`` (events and sizes of
        treatment and control), ``yi``, ``vi`` and ``theta``.
    """
    k = _check_count("k", k, 1)
    n_rep = _check_count("n_rep", n_rep, 1)
    p0 = _check_number("p_control", p_control)
    if not 0 < p0 < 1:
        raise DataError(f"p_control must be in (0, 1), got {p_control!r}", column="p_control")
    mu = _check_number("log_or", log_or)
    tau = _check_number("tau", tau, positive=True)
    g_n, g_theta, g_c, g_t = _streams(seed, 4)
    shape = (n_rep, k)
    size = _sizes(n, g_n, shape)
    theta = mu + tau * g_theta.standard_normal(shape)
    p1 = 1.0 / (1.0 + np.exp(-(np.log(p0 / (1 - p0)) + theta)))
    ci = g_c.binomial(size, p0)
    ai = g_t.binomial(size, p1)
    tab = pd.DataFrame({"ai": ai.ravel(), "n1i": size.ravel(), "ci": ci.ravel(),
                        "n2i": size.ravel()})
    es = escalc(measure, tab, ai="ai", n1i="n1i", ci="ci", n2i="n2i")
    yi = es["yi"].to_numpy(float).reshape(shape)
    vi = es["vi"].to_numpy(float).reshape(shape)
    out = _long(yi, vi, theta, ai=ai, n1i=size, ci=ci, n2i=size)
    out.attrs.update({"measure": str(measure).upper(), "k": k, "log_or": mu, "tau": tau,
                      "p_control": p0, "seed": seed})
    return out


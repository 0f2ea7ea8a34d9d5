"""``batch_exact``: the exact posterior (bayesmeta's method) of many meta-analyses at once.

For each group the posterior of the normal-normal model with a Normal or flat prior on
mu and any proper-near-0 prior on tau (Röver 2020, J Stat Softw 93(6)) is integrated
over tau on Gauss-Kronrod panels laid out around that group's mode
(:mod:`bayesma.batch.exact_core`), all groups of one size k in one array computation.
A group whose integrand the panels do not resolve (G7/K15 error above ``1e-7`` even
with twice the panels), whose tails decay too slowly for the mean and sd of tau, or whose
tau prior depends on the data (Jeffreys) is computed by the per-call engine
(:class:`bayesma.bayes.exact.ExactPosterior`), so every row equals
``bm.exact_posterior`` on that group to 1e-6 relative (tested; about 1e-8 in practice).

Summaries: posterior mean, sd, median and equal-tailed interval of mu and tau; the
equal-tailed predictive interval of theta_new (Röver 2020, sec. 2.4); ``log p(y)``;
the Savage-Dickey ``BF01`` of mu = 0 (Dickey 1971; NaN under a flat mu prior) and
``BF01`` of tau = 0 as the ratio of marginal likelihoods ``p(y | tau = 0) / p(y)``
(:meth:`ExactPosterior.bf01_tau0`; NaN for improper tau priors).
"""

from __future__ import annotations

import math
import warnings
from functools import partial

import numpy as np
import pandas as pd
from scipy import special

from bayesma.batch.exact_core import (
    GroupGaussian,
    Panels,
    cdf_quantile,
    find_modes,
    lay_panels,
    range_from_scan,
)
from bayesma.batch.inputs import BatchData, as_batch, chunk_count
from bayesma.bayes.exact import ExactPosterior
from bayesma.bayes.exact.checks import check_location_prior, check_tau_prior
from bayesma.bayes.exact.quadrature import RATE_TOL, TauMap
from bayesma.classical.settings import parse_level
from bayesma.errors import BayesmaError
from bayesma.parallel import run_chunks
from bayesma.priors import default_priors

__all__ = ["EXACT_COLUMNS", "batch_exact", "exact_chunk", "exact_row"]

#: result columns of :func:`batch_exact` (plus ``note``)
EXACT_COLUMNS = ("k", "mu_mean", "mu_sd", "mu_median", "mu_low", "mu_high", "tau_mean",
                 "tau_sd", "tau_median", "tau_low", "tau_high", "theta_new_low",
                 "theta_new_high", "log_ml", "bf01_mu", "bf01_tau")

#: relative G7/K15 error above which a group gets finer panels, then the per-call engine
ERROR_TOL = 1e-7
#: panels on each side of the mode (doubled once for groups not resolved)
N_SIDE = 5
#: array elements per block (rows x nodes x k) to keep memory small
BLOCK = 3_000_000
DEFAULT_CHUNK = 5_000


def exact_row(y, v, *, mu_prior, tau_prior, level: float = 0.95) -> dict:
    """The :func:`batch_exact` columns of one group from the per-call engine.

    Raises whatever :class:`~bayesma.bayes.exact.ExactPosterior` raises (e.g.
    ImproperPosteriorError).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = ExactPosterior(y, v, mu_prior=mu_prior, tau_prior=tau_prior, level=level)
    a = (1.0 - level) / 2.0
    out = {"k": int(np.size(y))}
    for par in ("mu", "tau"):
        out[f"{par}_mean"] = float(post.mean(par))
        out[f"{par}_sd"] = float(post.sd(par))
        out[f"{par}_median"] = float(post.quantile(par, 0.5))
        out[f"{par}_low"], out[f"{par}_high"] = (float(x) for x in post.quantile(
            par, np.array([a, 1 - a])))
    lo, hi = post.quantile("theta_new", np.array([a, 1 - a]))
    out["theta_new_low"], out["theta_new_high"] = float(lo), float(hi)
    out["log_ml"] = float(post.log_marginal_likelihood)
    try:
        out["bf01_mu"] = float(post.bayes_factor("mu", 0.0))
    except BayesmaError:
        out["bf01_mu"] = math.nan
    try:
        out["bf01_tau"] = float(post.bf01_tau0())
    except BayesmaError:
        out["bf01_tau"] = math.nan
    return out


def _prune(M, S, p, drop: float = 1e-13):
    """The components of each row with weight >= ``drop`` (the rest, < 1e-10 of the mass
    together, change no quantile at the 1e-10 level); rows padded with zero weights."""
    keep = p >= drop
    m = int(keep.sum(axis=1).max())
    if m >= p.shape[1] * 0.9:
        return M, S, p
    idx = np.argsort(~keep, axis=1, kind="stable")[:, :m]
    rows = np.arange(p.shape[0])[:, None]
    pk = np.where(keep[rows, idx], p[rows, idx], 0.0)
    return M[rows, idx], S[rows, idx], pk


def _mixture_quantile(q: float, M, S, p, x0) -> np.ndarray:
    """Quantile q of the Normal mixtures sum_n p[r, n] N(M[r, n], S[r, n]²) per row, by
    safeguarded Newton (as :func:`bayesma.bayes.exact.mixture.mixture_quantile`, with
    weights per row)."""
    zq = float(special.ndtri(q))
    M, S, p = _prune(M, S, p)
    comp = M + S * zq
    lo = comp.min(axis=1)
    hi = comp.max(axis=1)
    x = np.clip(x0, lo, hi)
    x = np.where(np.isfinite(x), x, 0.5 * (lo + hi))
    scale = np.sqrt(np.maximum(np.einsum("rn,rn->r", p, S * S), 1e-300))
    lo, hi = lo - 1e-12 * scale, hi + 1e-12 * scale
    act = np.arange(x.size)
    c = 1.0 / math.sqrt(2 * math.pi)
    for _ in range(100):
        Ma, Sa, pa, xa = M[act], S[act], p[act], x[act]
        z = (xa[:, None] - Ma) / Sa
        F = np.einsum("rn,rn->r", special.ndtr(z), pa)
        f = c * np.einsum("rn,rn->r", np.exp(-0.5 * z * z) / Sa, pa)
        r = F - q
        lo[act] = np.where(r < 0, xa, lo[act])
        hi[act] = np.where(r > 0, xa, hi[act])
        with np.errstate(divide="ignore", invalid="ignore"):
            xn = xa - r / f
        tol = 1e-14 * (np.abs(xa) + scale[act])
        conv = (np.abs(xn - xa) <= tol) | (r == 0) | (hi[act] - lo[act] <= tol)
        bad = ~((xn >= lo[act]) & (xn <= hi[act]))
        xn = np.where(bad & ~conv, 0.5 * (lo[act] + hi[act]), xn)
        x[act] = np.where(conv & bad, xa, xn)
        act = act[~conv]
        if act.size == 0:
            break
    return x


class _Block:
    """One block of groups of equal k: the integrand on the mapped tau axis."""

    def __init__(self, y, v, mu_prior, tau_prior):
        self.tmap = TauMap(*tau_prior.support)
        m = float(mu_prior.mu) if mu_prior.proper else 0.0
        lam = 1.0 / float(mu_prior.sigma) ** 2 if mu_prior.proper else 0.0
        self.gauss = GroupGaussian(y, v, m, lam)
        self.logprior = tau_prior.log_density()
        self.scale = np.sqrt(np.median(v, axis=1))

    def logf(self, u, rows=None, moments=False):
        """log p(tau(u)) + log p(y | tau(u)) + log |dtau/du| (R' x n); b and C too."""
        tm = self.tmap
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            tau = tm.tau(u)
            lp = self.logprior(tau)
            logL, b, C = self.gauss.evaluate(np.where(np.isfinite(tau), tau, 0.0), rows)
            out = lp + logL + tm.log_jac(u)
        out = np.where(np.isnan(out) | ~np.isfinite(tau), -np.inf, out)
        return (out, b, C, tau) if moments else out


def _summaries(blk: _Block, rows, pan: Panels, ev, level: float, mu_prior, tau_prior):
    R, P, n = pan.u.shape
    lf, b, C, tau = ev
    lw = np.log(pan.wk.reshape(R, -1)) + lf
    top = lw.max(axis=1)
    log_z = top + np.log(np.exp(lw - top[:, None]).sum(axis=1))
    p = np.exp(lw - log_z[:, None])
    out = {}
    tm = np.einsum("rn,rn->r", p, tau)
    out["tau_mean"] = tm
    out["tau_sd"] = np.sqrt(np.einsum("rn,rn->r", p, np.square(tau - tm[:, None])))
    a = (1.0 - level) / 2.0
    lf3 = lf.reshape(R, P, n)
    for name, q in (("tau_low", a), ("tau_median", 0.5), ("tau_high", 1 - a)):
        out[name] = blk.tmap.tau(cdf_quantile(q, lf3, log_z, pan))
    mm = np.einsum("rn,rn->r", p, b)
    out["mu_mean"] = mm
    mvar = np.einsum("rn,rn->r", p, np.square(b - mm[:, None]) + C)
    out["mu_sd"] = np.sqrt(mvar)
    S = np.sqrt(C)
    zs = {q: float(special.ndtri(q)) for q in (a, 0.5, 1 - a)}
    for name, q in (("mu_low", a), ("mu_median", 0.5), ("mu_high", 1 - a)):
        out[name] = _mixture_quantile(q, b, S, p, mm + zs[q] * out["mu_sd"])
    Sn = np.sqrt(C + tau * tau)
    tsd = np.sqrt(mvar + np.einsum("rn,rn->r", p, tau * tau))
    out["theta_new_low"] = _mixture_quantile(a, b, Sn, p, mm + zs[a] * tsd)
    out["theta_new_high"] = _mixture_quantile(1 - a, b, Sn, p, mm + zs[1 - a] * tsd)
    out["log_ml"] = log_z
    if mu_prior.proper:  # Savage-Dickey: posterior over prior density at mu = 0
        z = b / S
        post0 = np.einsum("rn,rn->r", p, np.exp(-0.5 * z * z) / S) / math.sqrt(2 * math.pi)
        out["bf01_mu"] = post0 / float(mu_prior.pdf(0.0))
    else:
        out["bf01_mu"] = np.full(R, np.nan)
    if tau_prior.proper and tau_prior.support[0] <= 0:
        log_l0 = blk.gauss.evaluate(np.zeros((R, 1)), rows)[0][:, 0]
        out["bf01_tau"] = np.exp(log_l0 - log_z)
    else:
        out["bf01_tau"] = np.full(R, np.nan)
    return out


def _vectorised(y, v, mu_prior, tau_prior, level, n_side):
    """Summaries of equal-k groups (dense arrays); rows flagged for the per-call engine."""
    R, k = y.shape
    blk = _Block(y, v, mu_prior, tau_prior)
    tm = blk.tmap
    flag = np.zeros(R, dtype=bool)
    # tail decay rates as TauQuadrature._tail_rate: the mean and sd of tau must exist
    sc = blk.scale
    hi_u = (tm.u(tm.lo + sc[:, None] * np.exp([50.0, 60.0])[None, :]) if not tm.bounded
            else None)
    lo_u = tm.u(tm.lo + sc[:, None] * np.exp([-60.0, -50.0])[None, :])
    with np.errstate(invalid="ignore"):
        lfl = blk.logf(lo_u)
        rate_lo = (lfl[:, 1] - lfl[:, 0]) / (lo_u[:, 1] - lo_u[:, 0])
        flag |= ~(rate_lo > RATE_TOL) & ~(np.isneginf(lfl[:, 0]))
        if hi_u is not None:
            lfh = blk.logf(hi_u)
            rate_hi = -(lfh[:, 1] - lfh[:, 0]) / (hi_u[:, 1] - hi_u[:, 0])
            flag |= ~(rate_hi > 2.0 + RATE_TOL) & ~np.isneginf(lfh[:, 1])
    c = np.log(sc)
    u0, sig, scan, lfs = find_modes(blk.logf, c, tm)
    extra = None if tm.bounded else 2.0 * np.log(tm.tau(scan))
    u_lo, u_hi, reached = range_from_scan(scan, lfs, u0, extra)
    flag |= ~reached | ~np.isfinite(u0)
    out = {name: np.full(R, np.nan) for name in EXACT_COLUMNS[1:]}
    todo = np.flatnonzero(~flag)
    for ns in (n_side, 2 * n_side):
        if todo.size == 0:
            break
        pan = Panels(lay_panels(u0[todo], sig[todo], u_lo[todo], u_hi[todo], ns))
        Rt = todo.size
        lf, b, C, tau = blk.logf(pan.u.reshape(Rt, -1), todo, moments=True)
        err = pan.error(lf.reshape(pan.u.shape), tau.reshape(pan.u.shape), sc[todo])
        good = err <= ERROR_TOL
        if good.any():
            sub = pan.take(good)
            ev = (lf[good], b[good], C[good], tau[good])
            res = _summaries(blk, todo[good], sub, ev, level, mu_prior, tau_prior)
            for name, val in res.items():
                out[name][todo[good]] = val
        todo = todo[~good]
    flag[todo] = True
    return out, flag


def exact_chunk(batch: BatchData, *, mu_prior, tau_prior, level: float,
                n_side: int = N_SIDE) -> pd.DataFrame:
    """The result table of :func:`batch_exact` for one chunk (runs in a worker)."""
    R = batch.n_groups
    cols = {name: np.full(R, np.nan) for name in EXACT_COLUMNS[1:]}
    note = np.full(R, "", dtype=object)
    per_call = np.zeros(R, dtype=bool)
    if not tau_prior.data_free:
        per_call[:] = True
    else:
        for kv in np.unique(batch.k):
            rows_k = np.flatnonzero(batch.k == kv)
            kv = int(kv)
            step = max(1, BLOCK // (4 * N_SIDE * 15 * kv))
            for s in range(0, rows_k.size, step):
                rows = rows_k[s:s + step]
                res, flag = _vectorised(batch.y[rows, :kv], batch.v[rows, :kv], mu_prior,
                                        tau_prior, level, n_side)
                for name, val in res.items():
                    cols[name][rows] = val
                per_call[rows[flag]] = True
    for r in np.flatnonzero(per_call):
        y, v = batch.group(int(r))
        try:
            row = exact_row(y, v, mu_prior=mu_prior, tau_prior=tau_prior, level=level)
        except BayesmaError as exc:
            note[r] = f"{type(exc).__name__}: {exc}"
            continue
        for name in EXACT_COLUMNS[1:]:
            cols[name][r] = row[name]
    df = pd.DataFrame({"k": batch.k, **cols}, index=batch.ids)
    df["note"] = note
    return df


def batch_exact(long, by: str | None = None, yi: str = "yi", vi: str = "vi", *,
                sei: str | None = None, mu_prior=None, tau_prior=None,
                measure: str | None = None, level: float = 0.95,
                backend: str | None = None, client=None, chunk_size: int | None = None,
                progress: bool | None = None) -> pd.DataFrame:
    """Exact posterior of the random-effects model for many meta-analyses at once.

    Parameters
    ----------
    long : DataFrame or BatchData
        A long table (one row per study, column ``by`` naming the meta-analysis) or a
        :class:`~bayesma.batch.inputs.BatchData`.
    by : str
        Column of meta-analysis ids (required with a table).
    yi, vi : str
        Columns of effect sizes and sampling variances.
    sei : str, optional
        Column of standard errors used instead of ``vi``.
    mu_prior : Prior, optional
        Normal or Flat prior of mu (default: the default of ``measure``).
    tau_prior : Prior, optional
        Prior of tau (default: the default of ``measure``).
    measure : str, optional
        Effect measure with natural-scale default priors (``"OR"``, ``"SMD"``, ...),
        used when a prior is not given (``long.attrs["measure"]`` by default).
    level : float
        Probability of the equal-tailed intervals: a number, 0.95 or 95 (as
        :func:`bayesma.classical.settings.parse_level`; a string raises).
    backend, client, chunk_size, progress
        Scale-out settings as in :func:`bayesma.batch.batch_rma` (default chunk: 5000
        meta-analyses).

    Returns
    -------
    DataFrame
        Indexed by the group id: ``k, mu_mean, mu_sd, mu_median, mu_low, mu_high,
        tau_mean, tau_sd, tau_median, tau_low, tau_high, theta_new_low, theta_new_high,
        log_ml, bf01_mu, bf01_tau`` and ``note`` (why a row is NaN, e.g. an improper
        posterior). Each row equals ``bm.exact_posterior`` on that group (~1e-6).

    Raises
    ------
    BayesmaError
        Unsupported priors, or no prior and no measure with natural-scale defaults; a
        ``level`` or ``chunk_size`` that is not a valid number.
    """
    level = parse_level(level)
    size = chunk_count(chunk_size, DEFAULT_CHUNK)
    if measure is None and isinstance(long, pd.DataFrame):
        measure = long.attrs.get("measure")
    if mu_prior is None or tau_prior is None:
        if measure is None or str(measure).upper() in ("GEN", "MD"):
            raise BayesmaError(
                "batch_exact needs mu_prior= and tau_prior= (the data-scaled defaults "
                "would differ between meta-analyses), or measure= with natural-scale "
                "defaults such as 'OR' or 'SMD'")
        defaults = default_priors(measure)
        mu_prior = mu_prior if mu_prior is not None else defaults["mu"]
        tau_prior = tau_prior if tau_prior is not None else defaults["tau"]
    check_location_prior(mu_prior, "mu_prior")
    check_tau_prior(tau_prior)
    batch = as_batch(long, by=by, yi=yi, vi=vi, sei=sei)
    func = partial(exact_chunk, mu_prior=mu_prior, tau_prior=tau_prior, level=level)
    parts = run_chunks(func, batch.chunks(size), backend=backend, client=client,
                       progress=progress, desc="batch_exact")
    return pd.concat(parts) if len(parts) > 1 else parts[0]

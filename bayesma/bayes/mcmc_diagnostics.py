"""R-hat, bulk/tail ESS and MCSE of MCMC draws in plain numpy, equal to ArviZ's summary.

Rank-normalised split R-hat, bulk and tail effective sample size (ESS) and the Monte Carlo
standard errors of the mean and of the SD follow Vehtari, Gelman, Simpson, Carpenter &
Bürkner (2021), "Rank-normalization, folding, and localization: an improved R-hat for
assessing convergence of MCMC", Bayesian Analysis 16:667-718, and reproduce the numbers
``arviz.summary(..., kind="diagnostics")`` reports with arviz-stats 1.3
(``arviz_stats/base/diagnostics.py``: ``_rhat_rank, _ess_bulk, _ess_tail, _mcse_mean,
_mcse_sd``, ``base/core.py``: ``autocov``), to rounding (tests compare at 1e-10 relative).

Why it exists: ``import arviz`` pulls in arviz_plots, matplotlib and scipy.stats: 1.3-1.6 s
in a process that has already imported bayesma.bayes, 4.0 s after only numpy, pandas and
xarray (measured on the 2-core project machine, December 2026), more than the whole
budget of a first MCMC fit (issue 16). This module needs only numpy and
``scipy.special.ndtri`` (already loaded by ``bayes.accessors`` and ``priors``). It is also
vectorised over parameters, where ArviZ loops over them in Python: on a k = 13
random-effects posterior (mu, tau, theta; 4 chains x 1000 draws) ``diagnostics_table``
takes about 40-55 ms against ArviZ's 155-160 ms.

ArviZ's choices reproduced here: the tail ESS is the smaller of the ESS of the indicators
``x <= q`` at the quantiles ``(1 - p, p)`` with ``p = rcParams["stats.ci_prob"]`` (0.89 by
default, so 11% and 89%; the paper uses 5% and 95%), sample quantiles by numpy's "linear"
method (Hyndman & Fan type 7); ranks average ties (``scipy.stats.rankdata(method=
"average")``); the normal scores are Blom's ``(r - 3/8) / (S + 1/4)``; a parameter with a
NaN draw or fewer than 4 draws gets NaN everywhere, and R-hat needs 2 chains; constant
draws have ESS = number of draws and R-hat NaN.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

__all__ = ["DIAGNOSTIC_COLUMNS", "TAIL_PROB", "mcmc_diagnostics", "next_fast_len"]

#: Output columns, in the order of ``arviz.summary(kind="diagnostics")``.
DIAGNOSTIC_COLUMNS = ("ess_bulk", "ess_tail", "r_hat", "mcse_mean", "mcse_sd")
#: ArviZ 1.x's default ``rcParams["stats.ci_prob"]``: the tail ESS uses the 11% and 89%
#: quantiles.
TAIL_PROB = 0.89
#: Largest number of draws (chains x draws x parameters) handled in one vectorised block.
_BLOCK = 1 << 18
#: Blom's (1958) offset of the rank-normal scores (arviz_stats ``_backtransform_ranks``).
_BLOM_C = 3 / 8


def next_fast_len(target: int) -> int:
    """Smallest 5-smooth number (2^a 3^b 5^c) >= ``target``.

    The FFT length of ``scipy.fftpack.next_fast_len`` (which arviz-stats' ``autocov``
    uses), without importing scipy.fft.

    Parameters
    ----------
    target : int
        Minimal length.

    Returns
    -------
    int
    """
    target = int(target)
    if target <= 6:
        return max(target, 1)
    best = 1 << (target - 1).bit_length()  # power of two >= target
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            # smallest power of two making p35 * 2^a >= target
            quot = -(-target // p35)
            cand = p35 * (1 << (quot - 1).bit_length())
            if cand < best:
                best = cand
            p35 *= 3
        p5 *= 5
    return best


def _split_chains(x: np.ndarray) -> np.ndarray:
    """(P, C, N) -> (P, 2C, N // 2): first and last halves as separate chains (the middle
    draw of an odd N is dropped), as arviz_stats ``_split_chains``."""
    half = x.shape[-1] // 2
    return np.concatenate((x[..., :half], x[..., x.shape[-1] - half:]), axis=1)


def _average_ranks(flat: np.ndarray) -> np.ndarray:
    """Ranks 1..S along the last axis, ties given their mean rank
    (``scipy.stats.rankdata(method="average")``, row by row)."""
    order = np.argsort(flat, axis=-1)
    srt = np.take_along_axis(flat, order, axis=-1)
    size = flat.shape[-1]
    idx = np.broadcast_to(np.arange(size), flat.shape)
    first = np.ones(flat.shape, dtype=bool)
    first[:, 1:] = srt[:, 1:] != srt[:, :-1]
    last = np.ones(flat.shape, dtype=bool)
    last[:, :-1] = first[:, 1:]
    start = np.maximum.accumulate(np.where(first, idx, 0), axis=-1)
    end = np.minimum.accumulate(np.where(last, idx, size - 1)[:, ::-1], axis=-1)[:, ::-1]
    avg = (start + end + 2) / 2.0  # mean of the 1-based positions start+1 .. end+1
    ranks = np.empty(flat.shape, dtype=float)
    np.put_along_axis(ranks, order, avg, axis=-1)
    return ranks


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Rank-normalise each parameter over all its chains and draws (Vehtari et al. 2021,
    eq. 14): ``Phi^-1((r - 3/8) / (S - 2 * 3/8 + 1))``."""
    flat = x.reshape(x.shape[0], -1)
    ranks = _average_ranks(flat)
    size = flat.shape[-1]
    return ndtri((ranks - _BLOM_C) / (size - 2 * _BLOM_C + 1)).reshape(x.shape)


def _rhat_basic(x: np.ndarray) -> np.ndarray:
    """Potential scale reduction of (P, C, N) chains (Vehtari et al. 2021, eqs. 3-4)."""
    n = x.shape[-1]
    chain_mean = x.mean(axis=-1)
    chain_var = x.var(axis=-1, ddof=1)
    between = n * chain_mean.var(axis=-1, ddof=1)
    within = chain_var.mean(axis=-1)
    return np.sqrt((between / within + n - 1) / n)


def _autocov(x: np.ndarray) -> np.ndarray:
    """Autocovariance at every lag along the last axis by FFT (arviz_stats ``autocov``)."""
    n = x.shape[-1]
    m = next_fast_len(2 * n)
    xc = x - x.mean(axis=-1, keepdims=True)
    spec = np.fft.rfft(xc, n=m, axis=-1)
    spec *= np.conjugate(spec)
    cov = np.fft.irfft(spec, n=m, axis=-1)[..., :n]
    cov /= n
    return cov


def _ess(x: np.ndarray) -> np.ndarray:
    """ESS of (P, C, N) chains: Geyer's initial positive and initial monotone sequence
    estimators of the autocorrelation time (Vehtari et al. 2021, eqs. 10-11; Geyer 1992,
    Stat Sci 7:473), vectorised over P exactly as arviz_stats ``_ess`` loops over lags."""
    n_par, n_chain, n_draw = x.shape
    size = n_chain * n_draw
    constant = (x.max(axis=(1, 2)) - x.min(axis=(1, 2))) < np.finfo(float).resolution
    acov = _autocov(x)
    chain_mean = x.mean(axis=-1)
    mean_var = acov[:, :, 0].mean(axis=-1) * n_draw / (n_draw - 1.0)
    var_plus = mean_var * (n_draw - 1.0) / n_draw
    if n_chain > 1:
        var_plus = var_plus + chain_mean.var(axis=-1, ddof=1)
    rho = 1.0 - (mean_var[:, None] - acov.mean(axis=1)) / var_plus[:, None]
    rho[:, 0] = 1.0
    # pair s = (rho[2s], rho[2s+1]); ArviZ visits pairs 1, 2, ... while the previous pair
    # sum is > 0 and 2s - 1 < n_draw - 3, so it stops at pair L = min(first s with
    # sum <= 0, s_lim)
    s_lim = max((n_draw - 3) // 2, 0)
    pair = rho[:, 0:2 * s_lim + 2:2] + rho[:, 1:2 * s_lim + 2:2]
    stop = ~(pair > 0)
    first_stop = np.where(stop.any(axis=1), stop.argmax(axis=1), s_lim)
    last = np.minimum(first_stop, s_lim)
    # initial monotone sequence: pair sums 0 .. L-1 capped by their running minimum
    capped = np.minimum.accumulate(pair, axis=1)
    csum = np.concatenate((np.zeros((n_par, 1)), np.cumsum(capped, axis=1)), axis=1)
    rows = np.arange(n_par)
    head = csum[rows, last]
    # rho[2L] counts once when its pair was kept (sum >= 0) or when it is positive
    r_last = rho[rows, 2 * last]
    keep = (pair[rows, last] >= 0) | (r_last > 0)
    tail = np.where(keep, r_last, 0.0)
    tau = -1.0 + 2.0 * head + tail
    floor = 1.0 / np.log10(size)
    tau = np.where(floor > tau, floor, tau)
    ess = size / tau
    ess = np.where(np.isnan(rho[:, 1]), np.nan, ess)
    return np.where(constant, float(size), ess)


def _diagnose_block(x: np.ndarray, tail_prob: float) -> np.ndarray:
    """The five diagnostics of valid (P, C, N) draws, shape (P, 5)."""
    n_par, n_chain, _ = x.shape
    out = np.full((n_par, len(DIAGNOSTIC_COLUMNS)), np.nan)
    split = _split_chains(x)
    z = _z_scale(split)
    if n_chain >= 2:
        # rank-normalised split R-hat: max of bulk and folded (Vehtari et al. 2021, sec. 4.2)
        med = np.median(split.reshape(n_par, -1), axis=-1)
        folded = np.abs(split - med[:, None, None])
        r_bulk = _rhat_basic(z)
        r_tail = _rhat_basic(_z_scale(folded))
        out[:, 2] = np.where(r_tail > r_bulk, r_tail, r_bulk)
    flat = x.reshape(n_par, -1)
    p_low, p_high = sorted((tail_prob, 1 - tail_prob))
    q_low = np.quantile(flat, p_low, axis=-1)
    q_high = np.quantile(flat, p_high, axis=-1)
    ind_low = (x <= q_low[:, None, None]).astype(float)
    ind_high = (x <= q_high[:, None, None]).astype(float)
    centred = x - flat.mean(axis=-1)[:, None, None]
    sq = centred**2
    stacked = np.concatenate(
        (z, _split_chains(ind_low), _split_chains(ind_high), split, _split_chains(sq)), axis=0)
    ess = _ess(stacked).reshape(5, n_par)
    out[:, 0] = ess[0]
    out[:, 1] = np.where(ess[2] < ess[1], ess[2], ess[1])
    # MCSE of the mean: sd / sqrt(ESS of the split draws)
    out[:, 3] = flat.std(axis=-1, ddof=1) / np.sqrt(ess[3])
    # MCSE of the SD by the delta method on E[(x - mean)^2] (arviz_stats _mcse_sd)
    sq_flat = sq.reshape(n_par, -1)
    evar = sq_flat.mean(axis=-1)
    varvar = ((centred.reshape(n_par, -1) ** 4).mean(axis=-1) - evar**2) / ess[4]
    out[:, 4] = np.sqrt(varvar / evar / 4)
    return out


def mcmc_diagnostics(draws: np.ndarray, *, tail_prob: float = TAIL_PROB
                     ) -> dict[str, np.ndarray]:
    """Bulk and tail ESS, rank-normalised split R-hat and the MCSE of mean and SD.

    Parameters
    ----------
    draws : array
        Draws with shape (chain, draw, *shape); any trailing dimensions are independent
        parameters.
    tail_prob : float
        The tail ESS is the smaller ESS of the indicators at the ``1 - tail_prob`` and
        ``tail_prob`` quantiles (ArviZ 1.x's ``stats.ci_prob``, default 0.89).

    Returns
    -------
    dict of str to array
        ``ess_bulk, ess_tail, r_hat, mcse_mean, mcse_sd``, each of shape ``shape`` (a 0-d
        array for a scalar parameter); NaN where the draws contain NaN or have fewer than
        4 draws per chain (R-hat also with 1 chain), as ArviZ.

    Notes
    -----
    Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021), Bayesian Analysis 16:667; the
    numbers equal ``arviz.summary(kind="diagnostics")`` (arviz-stats 1.3) to rounding.
    """
    arr = np.asarray(draws, dtype=float)
    if arr.ndim < 2:
        raise ValueError(f"draws must have shape (chain, draw, ...), got {arr.shape}")
    n_chain, n_draw = arr.shape[:2]
    shape = arr.shape[2:]
    x = np.moveaxis(arr.reshape(n_chain, n_draw, -1), -1, 0)  # (P, C, N)
    n_par = x.shape[0]
    out = np.full((n_par, len(DIAGNOSTIC_COLUMNS)), np.nan)
    if n_draw >= 4 and n_chain >= 1 and n_par:
        valid = np.flatnonzero(~np.isnan(x).any(axis=(1, 2)))
        step = max(1, _BLOCK // (n_chain * n_draw))
        with np.errstate(all="ignore"):
            for i in range(0, valid.size, step):
                sel = valid[i:i + step]
                out[sel] = _diagnose_block(np.ascontiguousarray(x[sel]), tail_prob)
    return {c: out[:, j].reshape(shape) for j, c in enumerate(DIAGNOSTIC_COLUMNS)}

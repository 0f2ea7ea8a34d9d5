"""Summary rows of the location parameters of a Gaussian-mixture posterior, shared by the
exact engines (two-level :mod:`bayesma.bayes.exact` and three-level
:mod:`bayesma.bayes.multilevel`).

Given the tau nodes' weights ``w`` and, for each row, the conditional means ``M`` and SDs
``S`` at the nodes, a row's posterior is the mixture ``sum_j w_j N(M_j, S_j²)``: mean
``M w``, SD from the law of total variance, equal-tailed quantiles by Newton on the
mixture cdf and the shortest interval (:mod:`bayesma.bayes.exact.mixture`, imported on
first use: importing this module must not import the exact engine, which imports it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import special

__all__ = ["CHUNK_ROWS", "location_row_stats", "mixture_cdf", "mixture_quantiles", "shaped"]

#: rows of mixture statistics computed together (their work arrays are rows x nodes;
#: chunks keep the memory of k = 10^4 studies small)
CHUNK_ROWS = 512

Mixture = Callable[[str, "list[int] | None"], tuple[np.ndarray, np.ndarray]]


def location_row_stats(mixture: Mixture, w: np.ndarray, prob: float, *, intercept: bool,
                       terms: Sequence[str], centered: bool, labels: Sequence[str],
                       theta: bool) -> tuple[list[str], dict[str, tuple]]:
    """``(location names, {row: (mean, sd, median, eti_low, eti_high, hdi_low,
    hdi_high)})`` for mu, theta_new, the slopes ``beta[<term>]``, mu_centered and (with
    ``theta``) ``theta[<label>]``; ``mixture(kind, idx)`` gives the rows' ``(M, S)``.

    The rows of all parameters are stacked and solved together, :data:`CHUNK_ROWS` at a
    time. Each row's Newton iterations are its own, so the numbers are those of one call
    per parameter up to the rounding of the matrix products over the nodes (~1e-15)."""
    a = (1.0 - prob) / 2.0
    qs = np.array([a, 0.5, 1.0 - a])
    p = len(terms)
    first = 1 if intercept else 0
    loc = (["mu", "theta_new"] if intercept else []) + [
        f"beta[{t}]" for t in terms[first:]] + (["mu_centered"] if centered else [])
    names = loc + ([f"theta[{lab}]" for lab in labels] if theta else [])
    parts: list[tuple[str, list[int] | None]] = (
        [("mu", None), ("theta_new", None)] if intercept else [])
    if p > first:
        parts.append(("beta", list(range(first, p))))
    if centered:
        parts.append(("mu_centered", None))
    if theta:
        parts.append(("theta", list(range(len(labels)))))
    from bayesma.bayes.exact.mixture import mixture_hdi, mixture_quantile  # scipy.optimize

    # (kind, indices) pieces of at most CHUNK_ROWS rows in all, in row order
    chunks: list[list[tuple[str, list[int] | None]]] = [[]]
    room = CHUNK_ROWS
    for kind, idx in parts:
        size = 1 if idx is None else len(idx)
        s = 0
        while s < size:
            if room == 0:
                chunks.append([])
                room = CHUNK_ROWS
            take = min(room, size - s)
            chunks[-1].append((kind, None if idx is None else idx[s:s + take]))
            s += take
            room -= take
    stats: dict[str, tuple] = {}
    i = 0
    for chunk in chunks:
        if not chunk:
            continue
        pieces = [mixture(kind, idx) for kind, idx in chunk]
        M = pieces[0][0] if len(pieces) == 1 else np.concatenate([m for m, _ in pieces])
        S = pieces[0][1] if len(pieces) == 1 else np.concatenate([s for _, s in pieces])
        n = M.shape[0]
        rows = np.repeat(np.arange(n), 3)
        q = mixture_quantile(np.tile(qs, n), M[rows], S[rows], w).reshape(n, 3)
        h = mixture_hdi(M, S, w, prob, q[:, [0, 2]])
        m = M @ w
        sd = np.sqrt((np.square(M - m[:, None]) + np.square(S)) @ w)
        block = np.column_stack([m, sd, q[:, 1], q[:, 0], q[:, 2], h[:, 0], h[:, 1]])
        for name, vals in zip(names[i:i + n], block.tolist(), strict=True):
            stats[name] = tuple(vals)
        i += n
    return loc, stats


def mixture_quantiles(M: np.ndarray, S: np.ndarray, w: np.ndarray, qa: np.ndarray,
                      x0: np.ndarray | None = None) -> np.ndarray:
    """Quantiles (n_rows, nq) of the rows' mixtures at probabilities ``qa`` (``-inf`` /
    ``inf`` at 0 / 1); ``x0`` optional Newton starts for the inner probabilities."""
    n, nq = M.shape[0], qa.size
    rows = np.repeat(np.arange(n), nq)
    qq = np.tile(qa, n)
    out = np.where(qq <= 0, -np.inf, np.inf)
    inner = (qq > 0) & (qq < 1)
    if inner.any():
        from bayesma.bayes.exact.mixture import mixture_quantile  # scipy.optimize

        out[inner] = mixture_quantile(qq[inner], M[rows[inner]], S[rows[inner]], w,
                                      None if x0 is None else x0[inner])
    return out.reshape(n, nq)


def mixture_cdf(M: np.ndarray, S: np.ndarray, w: np.ndarray, xa: np.ndarray) -> np.ndarray:
    """The rows' mixture cdfs (n_rows, nx) at ``xa``."""
    return special.ndtr((xa[None, :, None] - M[:, None, :]) / S[:, None, :]) @ w


def shaped(vals: np.ndarray, arg, vec: bool, wrap: Callable, columns) -> object:
    """An accessor's answer: a float/Series for a scalar ``arg``, the row of a scalar
    parameter, else a DataFrame (rows by ``wrap``, columns ``columns``)."""
    if np.ndim(arg) == 0:
        return wrap(vals[:, 0])
    if not vec:
        return vals[0]
    df = wrap(vals)
    df.columns = list(columns)
    return df

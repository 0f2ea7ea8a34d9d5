"""Many meta-analyses as padded arrays: a long table or R x k arrays -> :class:`BatchData`.

A batch holds R meta-analyses of up to ``kmax`` studies each as R x kmax arrays of
effect sizes ``y`` and sampling variances ``v`` with a boolean ``mask`` of the studies
present (ragged k). Padded cells hold ``y = 0`` and ``v = 1`` so that arithmetic on them
stays finite; every engine multiplies by the mask.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayesma.data import check_effect_range, describe_rows, effect_arrays, require_columns
from bayesma.errors import BayesmaError, DataError

__all__ = ["BatchData", "as_batch", "batch_from_arrays", "batch_from_long", "chunk_count"]


@dataclass(frozen=True)
class BatchData:
    """R meta-analyses as padded R x kmax arrays.

    Attributes
    ----------
    ids : pandas.Index
        One id per meta-analysis (the ``by`` values, in order of first appearance).
    y, v : ndarray
        R x kmax effect sizes and sampling variances (padding: 0 and 1).
    mask : ndarray of bool
        R x kmax, True where a study is present (the first ``k[r]`` cells of row r).
    k : ndarray of int
        Studies per meta-analysis.
    """

    ids: pd.Index
    y: np.ndarray
    v: np.ndarray
    mask: np.ndarray
    k: np.ndarray

    @property
    def n_groups(self) -> int:
        """Number of meta-analyses R."""
        return int(self.k.size)

    def take(self, rows) -> BatchData:
        """The meta-analyses at positions ``rows`` (trimmed to their largest k)."""
        rows = np.asarray(rows)
        k = self.k[rows]
        kmax = max(int(k.max()), 1) if k.size else 1
        return BatchData(self.ids[rows], self.y[rows, :kmax], self.v[rows, :kmax],
                         self.mask[rows, :kmax], k)

    def group(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        """Effect sizes and variances ``(y, v)`` of meta-analysis ``r`` (a position)."""
        m = self.mask[r]
        return self.y[r, m], self.v[r, m]

    def chunks(self, size: int) -> list[BatchData]:
        """Consecutive pieces of at most ``size`` meta-analyses (order kept)."""
        size = max(1, int(size))
        return [self.take(np.arange(s, min(s + size, self.n_groups)))
                for s in range(0, self.n_groups, size)]


def batch_from_long(long: pd.DataFrame, *, by: str, yi: str = "yi", vi: str = "vi",
                    sei: str | None = None) -> BatchData:
    """A batch from a long table: one row per study, column ``by`` naming the meta-analysis.

    Parameters
    ----------
    long : DataFrame
        One row per study.
    by : str
        Column of meta-analysis ids (no missing values).
    yi, vi : str
        Columns of effect sizes and sampling variances (> 0).
    sei : str, optional
        Column of standard errors used instead of ``vi``.

    Raises
    ------
    DataError
        Missing column, missing group id, missing/non-numeric effect or variance,
        variance <= 0: naming the column and the rows.
    """
    if not isinstance(long, pd.DataFrame):
        raise DataError(f"batch input must be a DataFrame (one row per study), got "
                        f"{type(long).__name__}")
    if not isinstance(by, str):
        raise DataError(f"by= must name a column of meta-analysis ids, got {by!r}")
    require_columns(long, [by], what="meta-analysis ids (by=)")
    ids = long[by]
    bad = np.flatnonzero(ids.isna().to_numpy())
    if bad.size:
        labels = list(long.index[bad])
        raise DataError(f"column {by!r} (meta-analysis ids) has missing values in "
                        f"{describe_rows(long, labels, positions=list(bad))}", column=by,
                        rows=labels)
    y, v = effect_arrays(long, yi, vi, sei=sei)
    codes, uniques = pd.factorize(ids, sort=False)
    order = np.argsort(codes, kind="stable")
    k = np.bincount(codes, minlength=len(uniques))
    kmax = int(k.max())
    pos = np.arange(codes.size) - np.repeat(np.cumsum(k) - k, k)
    R = len(uniques)
    Y = np.zeros((R, kmax))
    V = np.ones((R, kmax))
    M = np.zeros((R, kmax), dtype=bool)
    rows = codes[order]
    Y[rows, pos] = y[order]
    V[rows, pos] = v[order]
    M[rows, pos] = True
    index = pd.Index(uniques, name=by)
    return BatchData(index, Y, V, M, k.astype(int))


def batch_from_arrays(y, v, mask=None, *, ids: Sequence | None = None) -> BatchData:
    """A batch from R x k arrays of effect sizes and variances (``mask`` for ragged k).

    Parameters
    ----------
    y, v : array_like
        R x k arrays (a 1-D array is one meta-analysis).
    mask : array_like of bool, optional
        R x k, True where a study is present; present studies must come first in a row
        (default: every cell present).
    ids : sequence, optional
        One id per row (default ``0 .. R-1``).

    Raises
    ------
    DataError
        Shape mismatch, a row without studies, a masked-in value missing or a variance
        <= 0 (naming the row and position).
    """
    Y = np.atleast_2d(np.asarray(y, dtype=float))
    V = np.atleast_2d(np.asarray(v, dtype=float))
    if Y.shape != V.shape or Y.ndim != 2:
        raise DataError(f"y and v must be R x k arrays of the same shape, got {Y.shape} "
                        f"and {V.shape}")
    if Y.shape[0] == 0:
        raise DataError("the batch has no meta-analyses (y and v have 0 rows)")
    M = (np.ones(Y.shape, dtype=bool) if mask is None
         else np.atleast_2d(np.asarray(mask, dtype=bool)))
    if M.shape != Y.shape:
        raise DataError(f"mask has shape {M.shape}, y and v have {Y.shape}")
    k = M.sum(axis=1)
    empty = np.flatnonzero(k == 0)
    if empty.size:
        raise DataError(f"rows {list(empty[:5])} of the batch have no studies (mask all "
                        "False)", rows=list(empty))
    ragged = np.flatnonzero(M.sum(axis=1) != np.cumprod(M, axis=1).sum(axis=1))
    if ragged.size:
        raise DataError(f"the mask must mark the first k cells of each row; rows "
                        f"{list(ragged[:5])} have gaps", rows=list(ragged))
    for name, arr in (("yi", Y), ("vi", V)):
        bad = np.argwhere(M & ~np.isfinite(arr))
        if bad.size:
            r, c = (int(i) for i in bad[0])
            raise DataError(f"{name} is missing or infinite at row {r}, position {c} of the "
                            "batch", column=name, rows=[r])
    bad = np.argwhere(M & ~(V > 0))
    if bad.size:
        r, c = (int(i) for i in bad[0])
        raise DataError(f"vi must be > 0; row {r}, position {c} of the batch has "
                        f"{V[r, c]:g}", column="vi", rows=[r])
    check_effect_range(Y[M], V[M])
    Y = np.where(M, Y, 0.0)
    V = np.where(M, V, 1.0)
    index = pd.RangeIndex(Y.shape[0], name="group") if ids is None else pd.Index(ids)
    if len(index) != Y.shape[0]:
        raise DataError(f"{len(index)} ids for {Y.shape[0]} rows")
    if not index.is_unique:
        raise DataError("ids must be unique (one per meta-analysis)")
    return BatchData(index, Y, V, M, k.astype(int))


def as_batch(data, *, by: str | None, yi: str = "yi", vi: str = "vi",
             sei: str | None = None) -> BatchData:
    """A :class:`BatchData` from a long table (``by`` required) or a BatchData as is."""
    if isinstance(data, BatchData):
        return data
    if by is None:
        raise DataError("by= is required with a long table: the column naming the "
                        "meta-analysis of each row")
    return batch_from_long(data, by=by, yi=yi, vi=vi, sei=sei)


def chunk_count(chunk_size: object, default: int) -> int:
    """``chunk_size=`` of a batch engine as a positive int (``default`` when None).

    Accepts an integer (or an integral float such as ``100.0``); rejects ``bool``, strings,
    non-integral or non-finite floats and values < 1.

    Raises
    ------
    BayesmaError
        Naming ``chunk_size`` and the value given.
    """
    if chunk_size is None:
        return int(default)
    ok = isinstance(chunk_size, numbers.Real) and not isinstance(chunk_size, bool)
    if ok and not isinstance(chunk_size, numbers.Integral):
        ok = math.isfinite(float(chunk_size)) and float(chunk_size).is_integer()
    if not ok or int(chunk_size) < 1:
        raise BayesmaError(f"chunk_size must be a positive integer (meta-analyses per "
                           f"chunk), got {type(chunk_size).__name__} {chunk_size!r}")
    return int(chunk_size)

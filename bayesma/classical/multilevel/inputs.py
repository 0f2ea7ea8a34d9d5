"""Inputs of ``rma_mv``: the random-effects formula, cluster codes and the matrix V.

``impute_covariance_matrix`` follows clubSandwich 0.5.8 (constant correlation ``r`` between
the effects of a cluster; Pustejovsky & Tipton 2018).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy import linalg

from bayesma.classical.design import Design, build_design
from bayesma.data import check_effect_range, describe_rows, numeric_column
from bayesma.errors import DataError

__all__ = [
    "read_effects",
    "as_covariance_matrix",
    "check_v_blocks",
    "factorize",
    "impute_covariance_matrix",
    "parse_random",
    "random_text",
]


def impute_covariance_matrix(vi, cluster, r) -> np.ndarray:
    """Block-diagonal covariance matrix with a constant within-cluster correlation.

    clubSandwich's ``impute_covariance_matrix(vi, cluster, r, return_list = FALSE)``:
    ``V[i, j] = r * sqrt(vi[i] * vi[j])`` when rows ``i`` and ``j`` belong to the same
    cluster, 0 otherwise, ``V[i, i] = vi[i]``; rows stay in the order given.

    Parameters
    ----------
    vi : array_like
        Sampling variances (> 0), one per effect size.
    cluster : array_like
        Cluster (study) identifier of each effect size; no missing values.
    r : float or sequence of float
        The assumed correlation, or one correlation per cluster in the sorted order of
        the cluster values (as R's factor levels), each in [-1, 1].

    Returns
    -------
    ndarray
        The ``k x k`` covariance matrix.
    """
    v = np.asarray(vi, dtype=float).ravel()
    cl = pd.Series(np.asarray(cluster, dtype=object).ravel())
    if cl.size != v.size:
        raise DataError(f"vi has {v.size} values but cluster has {cl.size}")
    bad = np.flatnonzero(~np.isfinite(v) | (v < 0))
    if bad.size:
        raise DataError(
            f"vi must be finite and >= 0; position {int(bad[0])} has {v[bad[0]]!r}",
            column="vi",
            rows=list(bad),
        )
    miss = np.flatnonzero(cl.isna().to_numpy())
    if miss.size:
        raise DataError(
            f"cluster has missing values at position(s) {list(map(int, miss[:5]))}",
            column="cluster",
            rows=list(miss),
        )
    codes, levels = factorize(cl.to_numpy())
    rr = np.atleast_1d(np.asarray(r, dtype=float)).ravel()
    if rr.size == 1:
        rr = np.repeat(rr, len(levels))
    if rr.size != len(levels):
        raise DataError(f"r must be one value or one per cluster ({len(levels)}), got {rr.size}")
    if np.any(~np.isfinite(rr)) or np.any(np.abs(rr) > 1):
        raise DataError(f"r must be a correlation in [-1, 1], got {r!r}")
    s = np.sqrt(v)
    same = codes[:, None] == codes[None, :]
    V = np.where(same, rr[codes][:, None] * np.outer(s, s), 0.0)
    np.fill_diagonal(V, v)
    return V


def factorize(values) -> tuple[np.ndarray, list]:
    """Integer codes in the sorted order of the distinct values (as R's factor())."""
    vals = list(values)
    try:
        levels = sorted(set(vals))
    except TypeError:
        levels = sorted(set(vals), key=str)
    pos = {v: i for i, v in enumerate(levels)}
    return np.array([pos[v] for v in vals], dtype=int), levels


def parse_random(random) -> list[tuple[str, list[str]]]:
    """Random-effects specification -> ``[(name, columns), ...]``, one per variance component.

    Accepted forms:

    * ``"~ 1 | district/school"`` (or ``"district/school"``): nested random intercepts,
      giving the components ``district`` and ``district/school`` (metafor's names);
    * ``"~ 1 | district"`` or ``"district"``: one random intercept;
    * a tuple (or list) of column names ``("district", "school")``: the nesting path,
      outer level first (same as ``"~ 1 | district/school"``);
    * a list of formulas ``["~ 1 | a", "~ 1 | b"]``: several (crossed or nested)
      random intercepts, each with its own variance (metafor's ``list(~1|a, ~1|b)``).
    """
    if random is None:
        return []
    if isinstance(random, str):
        return _parse_formula(random)
    if isinstance(random, list | tuple):
        items = list(random)
        if not items:
            return []
        if not all(isinstance(x, str) for x in items):
            raise DataError("random must be a formula string or a list of formula strings")
        if any(("|" in x or "~" in x or "/" in x) for x in items):
            out: list[tuple[str, list[str]]] = []
            for x in items:
                out += _parse_formula(x)
        else:
            out = [("/".join(items[: i + 1]), items[: i + 1]) for i in range(len(items))]
        names = [n for n, _ in out]
        if len(set(names)) != len(names):
            raise DataError(f"random effects listed twice: {names}")
        return out
    raise DataError(
        f"random must be a formula such as '~ 1 | district/school', got {type(random).__name__}"
    )


def _parse_formula(text: str) -> list[tuple[str, list[str]]]:
    f = text.strip()
    if f.startswith("~"):
        f = f[1:]
    if "|" in f:
        lhs, rhs = f.split("|", 1)
        if lhs.strip() != "1":
            raise DataError(f"only random intercepts ('~ 1 | factor') are supported, got {text!r}")
    else:
        rhs = f
    cols = [c.strip().strip("`") for c in rhs.split("/")]
    if not cols or any(not c for c in cols) or any(re.search(r"[|~+*:]", c) for c in cols):
        raise DataError(f"cannot read the random-effects formula {text!r}")
    return [("/".join(cols[: i + 1]), cols[: i + 1]) for i in range(len(cols))]


def random_text(comps: list[tuple[str, list[str]]]) -> str:
    """The random-effects formula(s) as metafor prints them (``~ 1 | a/b``)."""
    if not comps:
        return ""
    # group nested paths back into formulas
    out = []
    for name, cols in comps:
        if out and name.startswith(out[-1] + "/") and len(cols) == out[-1].count("/") + 2:
            out[-1] = name
        else:
            out.append(name)
    return ", ".join(f"~ 1 | {o}" for o in out)


def as_covariance_matrix(V, n: int) -> np.ndarray:
    """``V`` (a matrix, a vector of variances or a list of blocks) as a checked symmetric ``n x
    n`` array.
    """
    if isinstance(V, list | tuple) and V and all(np.ndim(b) == 2 for b in V):
        M = linalg.block_diag(*[np.asarray(b, dtype=float) for b in V])
    else:
        try:
            M = np.asarray(V, dtype=float)
        except (TypeError, ValueError) as exc:
            raise DataError("V must be a numeric matrix") from exc
        if M.ndim == 1:
            M = np.diag(M)
    if M.shape != (n, n):
        raise DataError(f"V must be {n} x {n} (one row and column per data row), got {M.shape}")
    if not np.all(np.isfinite(M)):
        bad = np.flatnonzero(~np.isfinite(M).all(axis=1))
        raise DataError(
            f"V has missing or infinite values in row(s) {list(map(int, bad[:5]))}",
            column="V",
            rows=list(bad),
        )
    if not np.allclose(M, M.T, rtol=1e-10, atol=1e-14):
        raise DataError("V must be symmetric")
    return (M + M.T) / 2


def check_v_blocks(V: np.ndarray, blocks: list[np.ndarray], data: pd.DataFrame, cluster: list):
    """Each diagonal block of ``V`` must be positive definite; the error names the cluster.

    ``cluster`` is the column(s) that identify a cluster (the outer random factor), used only
    to name the failing block.
    """
    for b in blocks:
        try:
            linalg.cholesky(V[np.ix_(b, b)], lower=True, check_finite=False)
        except linalg.LinAlgError:
            if cluster:
                vals = sorted({str(v) for v in data[cluster[0]].iloc[b]})
                where = f"the block of cluster {cluster[0]} = {', '.join(vals[:5])}"
            else:
                where = "a block"
            pos = [int(i) for i in b]
            raise DataError(
                f"V is not positive definite in {where} (rows {pos[:10]} in data order); "
                "check the covariances (|correlation| <= 1, consistent within the cluster)",
                column="V",
                rows=list(data.index[b]),
            ) from None


def read_effects(data: pd.DataFrame, yi: str, vi: str | None, V, mods, label_col: str | None
                 ) -> tuple[Design, pd.DataFrame, np.ndarray, np.ndarray, np.ndarray | None]:
    """The effect sizes, sampling variances and design of an ``rma_mv``-type model.

    ``V`` is None (``diag(vi)``), a column name (a diagonal V) or a matrix / list of blocks
    over all rows; rows with missing moderators are dropped (from V too). Returns
    ``(design, rows kept, y, v, Vm)`` with ``Vm`` None when the sampling errors are
    independent (metafor 3.8 ``rma.mv``: ``V`` or ``diag(vi)``).

    Raises
    ------
    DataError
        Neither ``vi`` nor ``V``, a non-positive variance on V's diagonal (naming the row),
        missing or out-of-range effect sizes.
    """
    Vfull: np.ndarray | None = None
    vdiag_col: str | None = None
    if V is None:
        if vi is None:
            raise DataError("give the sampling variances (vi=...) or a covariance matrix (V=...)")
        vdiag_col = vi
    elif isinstance(V, str):
        vdiag_col = V
    else:
        Vfull = as_covariance_matrix(V, len(data))
    design = build_design(data, mods, slab=label_col)
    keep = design.keep
    d = data.loc[keep] if not keep.all() else data
    y = numeric_column(d, yi, what="effect sizes", slab=label_col)
    Vm = None
    if vdiag_col is not None:
        vv = numeric_column(d, vdiag_col, what="sampling variances", positive=True,
                            slab=label_col)
    else:
        pos = np.flatnonzero(keep)
        Vm = Vfull[np.ix_(pos, pos)]
        vv = np.diag(Vm).copy()
        bad = np.flatnonzero(~(vv > 0))
        if bad.size:
            raise DataError(
                f"V must have positive variances on its diagonal; "
                f"{describe_rows(d, d.index[bad], slab=label_col, positions=bad)} has "
                f"{vv[bad[0]]:g}", column="V", rows=list(d.index[bad]))
        if np.count_nonzero(Vm - np.diag(vv)) == 0:
            Vm = None
    check_effect_range(y, vv, df=d, yi=yi, vi=vdiag_col if vdiag_col is not None else "V",
                       slab=label_col)
    return design, d, y, vv, Vm

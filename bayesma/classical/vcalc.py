"""``vcalc()``: the covariance matrix V of dependent effect sizes (metafor 3.8's ``vcalc``).

For rows ``i`` and ``j`` of the same cluster the correlation is (metafor 3.8-1, vcalc.r)::

    R_ij = C_ij * [ G(g1_i, g1_j, t1_i, t1_j) / sqrt(w1_i w1_j)
                  - G(g1_i, g2_j, t1_i, t2_j) / sqrt(w1_i w2_j)
                  - G(g2_i, g1_j, t2_i, t1_j) / sqrt(w2_i w1_j)
                  + G(g2_i, g2_j, t2_i, t2_j) / sqrt(w2_i w2_j) ] / (D_i D_j)

with ``G(a, b, s, t) = [a = b] * phi^|s - t|`` (1 when ``s = t``),
``D_i² = 1/w1_i + 1/w2_i - 2 G(g1_i, g2_i, t1_i, t2_i) / sqrt(w1_i w2_i)`` and the
construct/observation correlation ``C_ij = 1`` for the same ``type`` and ``obs``,
``rho_obs[obs_i, obs_j]`` for the same type and different ``obs``, and
``rho_type[type_i, type_j]`` for different types; rows of different clusters are
uncorrelated, and ``V = S R S`` with ``S = diag(sqrt(vi))``. Defaults as metafor: one
type and one obs, ``grp1 = 1``, ``grp2 = 2``, ``time1 = 1``, ``time2 = time1``,
``w1 = 1``, ``w2 = w1``, ``phi = 1``. ``subgroup`` splits clusters into independent
parts (metafor pastes ``cluster.subgroup``).

The positive-definiteness check flags a block whose smallest eigenvalue is at most
``max(1, k_j * largest) * eps`` (metafor: ``eps``; the scaled tolerance flags a singular
block whatever the rounding). Not covered: metafor's ``rvars`` (correlations read from
columns) and ``nearpd``.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from bayesma.errors import BayesmaWarning, DataError, SpecError

__all__ = ["NotPositiveDefiniteWarning", "vcalc"]


class NotPositiveDefiniteWarning(BayesmaWarning):
    """A cluster's block of V is not positive definite (the message names the cluster)."""


def _column(name: str, x: Any, data: pd.DataFrame | None, k: int | None) -> np.ndarray:
    """A variable given as a column name of ``data`` or as values; no missing values."""
    if isinstance(x, str):
        if data is None:
            raise DataError(f"{name}={x!r} names a column: give the table as data=")
        if x not in data.columns:
            raise DataError(f"{name}: column {x!r} is not in the data", column=x)
        values = data[x].to_numpy()
        col = x
    else:
        values = np.asarray(x).ravel() if np.ndim(x) else np.asarray([x])
        col = name
    if k is not None and values.size == 1 and k > 1 and name == "vi":
        values = np.repeat(values, k)
    if k is not None and values.size != k:
        raise DataError(f"{name} has {values.size} values but vi has {k}", column=col)
    miss = pd.isna(pd.Series(values, dtype=object)).to_numpy()
    if miss.any():
        pos = [int(i) for i in np.flatnonzero(miss)]
        rows = list(data.index[pos]) if data is not None and isinstance(x, str) else pos
        raise DataError(f"{name} ({col!r}) has missing values at row(s) {rows[:5]}",
                        column=col, rows=rows)
    return values


def _numeric(name: str, values: np.ndarray) -> np.ndarray:
    try:
        out = values.astype(float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric", column=name) from exc
    if not np.all(np.isfinite(out)):
        raise DataError(f"{name} must be finite", column=name)
    return out


def _corr_matrix(name: str, rho: Any, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correlations between the distinct ``labels`` values (matched by value) and the code
    of each row into them."""
    uniq = list(pd.unique(labels))
    if np.ndim(rho) == 0 and not isinstance(rho, Mapping):
        try:
            r = float(rho)
        except (TypeError, ValueError) as exc:
            raise SpecError(f"{name}: rho must be a number, got {rho!r}") from exc
        table = {(a, b): (1.0 if a == b else r) for a in uniq for b in uniq}
    elif isinstance(rho, pd.DataFrame):
        if list(rho.index) != list(rho.columns):
            raise SpecError(f"{name}: a rho matrix needs the same labels on rows and columns")
        missing = [u for u in uniq if u not in rho.index]
        if missing:
            raise SpecError(f"{name}: values {missing[:5]} have no row/column in the rho matrix")
        m = rho.to_numpy(dtype=float)
        if not np.allclose(m, m.T):
            raise SpecError(f"{name}: the rho matrix must be symmetric")
        pos = {lab: i for i, lab in enumerate(rho.index)}
        table = {(a, b): m[pos[a], pos[b]] for a in uniq for b in uniq}
    elif isinstance(rho, Mapping):
        table = {}
        for (a, b), r in rho.items():
            table[(a, b)] = table[(b, a)] = float(r)
        for a in uniq:
            table[(a, a)] = 1.0
        missing = [(a, b) for a in uniq for b in uniq if (a, b) not in table]
        if missing:
            raise SpecError(f"{name}: no correlation given for the pair(s) {missing[:3]}")
    else:
        raise SpecError(f"{name}: rho must be a number, a labelled DataFrame or a dict "
                        f"{{(a, b): r}}, got {type(rho).__name__}")
    vals = np.array(list(table.values()), dtype=float)
    if not np.all(np.isfinite(vals)) or np.any(np.abs(vals) > 1):
        raise SpecError(f"{name}: correlations must be in [-1, 1]")
    idx = {u: i for i, u in enumerate(uniq)}
    codes = np.array([idx[v] for v in labels])
    small = np.array([[table[(a, b)] for b in uniq] for a in uniq])
    return small, codes


def _split_rho(rho: Any, has_type: bool, has_obs: bool) -> tuple[Any, Any]:
    """``(rho_obs, rho_type)`` as metafor reads ``rho`` for the given type/obs."""
    if not (has_type or has_obs):
        if rho is not None:
            raise SpecError("rho needs obs= (several effects of one construct) and/or type= "
                            "(several constructs); without them all effects of a cluster "
                            "are perfectly correlated")
        return 0.0, 0.0
    if rho is None:
        raise SpecError("give rho when type or obs is specified (metafor's vcalc)")
    pair = isinstance(rho, list | tuple) or (isinstance(rho, np.ndarray) and rho.ndim == 1)
    if has_type and has_obs:
        if not pair or len(rho) != 2:
            raise SpecError("with both type and obs, rho must give the within-construct "
                            "(obs) and the between-construct (type) correlations: (r_obs, "
                            "r_type)")
        return rho[0], rho[1]
    if pair:
        raise SpecError(f"with only {'type' if has_type else 'obs'} given, rho must be a "
                        "single correlation or a labelled matrix")
    return (0.0, rho) if has_type else (rho, 0.0)


def _cluster_label(c: Hashable) -> str:
    if isinstance(c, float) and c.is_integer():
        return str(int(c))
    return str(c)


def vcalc(
    vi: Any,
    cluster: Any,
    *,
    data: pd.DataFrame | None = None,
    subgroup: Any = None,
    obs: Any = None,
    type: Any = None,  # noqa: A002 - metafor's argument name
    time1: Any = None,
    time2: Any = None,
    grp1: Any = None,
    grp2: Any = None,
    w1: Any = None,
    w2: Any = None,
    rho: Any = None,
    phi: float | None = None,
    checkpd: bool = True,
) -> np.ndarray:
    """Block-diagonal covariance matrix of dependent effect sizes (metafor 3.8 ``vcalc``).

    Each argument is a column name of ``data`` or a sequence with one value per row.

    Parameters
    ----------
    vi : str or array_like
        Sampling variances (one value is repeated over the rows).
    cluster : str or array_like
        Cluster (study) of each row; rows of different clusters are independent.
    data : DataFrame, optional
        Table holding the named columns.
    subgroup : str or array_like, optional
        Independent subgroups within clusters (e.g. separate samples of one study).
    obs : str or array_like, optional
        Observation (e.g. effect-size id or scale) within a construct.
    type : str or array_like, optional
        Construct (outcome type).
    time1, time2 : str or array_like, optional
        Numeric time points of the first / second group; correlations decay as
        ``phi^|t - t'|`` (requires ``phi``).
    grp1, grp2 : str or array_like, optional
        Group ids of the two groups compared (e.g. treatment arm and a shared control).
    w1, w2 : str or array_like, optional
        Group weights (sample sizes) of the two groups.
    rho : float, DataFrame, dict or pair, optional
        Correlation(s): for ``obs`` only or ``type`` only, one correlation or a labelled
        square DataFrame (``dict {(a, b): r}`` also works) by value of ``obs``/``type``;
        for both, a pair ``(r_obs, r_type)`` whose items are numbers or matrices.
    phi : float, optional
        Autocorrelation in [-1, 1] for time points.
    checkpd : bool
        Warn (:class:`NotPositiveDefiniteWarning`, naming the cluster) when a cluster's
        block is not positive definite, as metafor.

    Returns
    -------
    ndarray
        The ``k x k`` matrix V, rows and columns in the order of the rows given.

    Raises
    ------
    DataError
        Missing values, wrong lengths, non-numeric times or weights, or a row whose
        two groups coincide (zero variance of the contrast).
    SpecError
        Invalid ``rho``/``phi``, or ``rho`` without ``type``/``obs``.
    """
    if data is not None and not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {data.__class__.__name__}")
    cl_raw = _column("cluster", cluster, data, None)
    k = cl_raw.size
    v = _numeric("vi", _column("vi", vi, data, k))
    if k < 2:
        raise DataError("vcalc needs at least 2 rows (k = 1)")
    if np.any(v < 0):
        pos = [int(i) for i in np.flatnonzero(v < 0)]
        raise DataError(f"vi must be >= 0; row(s) {pos[:5]} are negative", column="vi", rows=pos)
    if subgroup is not None:
        sub = _column("subgroup", subgroup, data, k)
        keys = [f"{_cluster_label(c)}.{_cluster_label(s)}" for c, s in zip(cl_raw, sub,
                                                                             strict=True)]
    else:
        keys = [_cluster_label(c) for c in cl_raw]
    if (time2 is not None and time1 is None) or (w2 is not None and w1 is None):
        raise SpecError("give time1 (w1) when time2 (w2) is given")
    if grp2 is not None and grp1 is None:
        raise SpecError("give grp1 when grp2 is given")
    if (time2 is not None or w2 is not None) and grp2 is None:
        raise SpecError("give grp2 when time2 or w2 is given")
    has_type, has_obs = type is not None, obs is not None
    rho_obs, rho_type = _split_rho(rho, has_type, has_obs)
    typ = _column("type", type, data, k) if has_type else np.ones(k)
    ob = _column("obs", obs, data, k) if has_obs else np.ones(k)
    g1 = _column("grp1", grp1, data, k) if grp1 is not None else np.ones(k)
    g2 = _column("grp2", grp2, data, k) if grp2 is not None else np.full(k, 2)
    t1 = _numeric("time1", _column("time1", time1, data, k)) if time1 is not None else np.ones(k)
    t2 = _numeric("time2", _column("time2", time2, data, k)) if time2 is not None else t1
    if time1 is not None:
        if phi is None:
            raise SpecError("give phi (the autocorrelation) when time1/time2 are given")
    else:
        phi = 1.0
    phi = float(phi)
    if not np.isfinite(phi) or abs(phi) > 1:
        raise SpecError(f"phi must be in [-1, 1], got {phi!r}")
    iw1 = 1.0 / _numeric("w1", _column("w1", w1, data, k)) if w1 is not None else np.ones(k)
    iw2 = 1.0 / _numeric("w2", _column("w2", w2, data, k)) if w2 is not None else iw1
    c_obs, obs_codes = _corr_matrix("rho (obs)", rho_obs, ob)
    c_type, type_codes = _corr_matrix("rho (type)", rho_type, typ)

    def g(i, j, a, b, s, t):  # [a = b] phi^|s - t| between the rows' groups (1 when s = t)
        same = a[i][:, None] == b[j][None, :]
        dt = np.abs(s[i][:, None] - t[j][None, :])
        return np.where(same, np.where(dt == 0, 1.0, phi ** dt), 0.0)

    dt12 = np.abs(t1 - t2)
    g12 = np.where(g1 == g2, np.where(dt12 == 0, 1.0, phi ** dt12), 0.0)  # row with itself
    d2 = iw1 + iw2 - 2.0 * g12 * np.sqrt(iw1 * iw2)
    if np.any(d2 <= 0):
        pos = [int(i) for i in np.flatnonzero(d2 <= 0)]
        raise DataError(f"row(s) {pos[:5]}: the two groups coincide (same group and time), "
                        "so the contrast has no variance", rows=pos)
    d = np.sqrt(d2)
    sd = np.sqrt(v)
    V = np.zeros((k, k))
    key_codes, key_names = pd.factorize(pd.Series(keys, dtype=object))
    order = np.argsort(key_codes, kind="stable")
    starts = np.searchsorted(key_codes[order], np.arange(len(key_names) + 1))
    for c, lo, hi in zip(key_names, starts[:-1], starts[1:], strict=True):
        i = order[lo:hi]
        same_type = typ[i][:, None] == typ[i][None, :]
        same_obs = ob[i][:, None] == ob[i][None, :]
        construct = np.where(same_type,
                             np.where(same_obs, 1.0, c_obs[np.ix_(obs_codes[i], obs_codes[i])]),
                             c_type[np.ix_(type_codes[i], type_codes[i])])
        num = (g(i, i, g1, g1, t1, t1) * np.sqrt(np.outer(iw1[i], iw1[i]))
               - g(i, i, g1, g2, t1, t2) * np.sqrt(np.outer(iw1[i], iw2[i]))
               - g(i, i, g2, g1, t2, t1) * np.sqrt(np.outer(iw2[i], iw1[i]))
               + g(i, i, g2, g2, t2, t2) * np.sqrt(np.outer(iw2[i], iw2[i])))
        R = construct * num / np.outer(d[i], d[i])
        R = np.tril(R, -1) + np.tril(R, -1).T  # metafor computes the lower triangle
        np.fill_diagonal(R, 1.0)
        if checkpd:
            ev = np.linalg.eigvalsh(R)
            # metafor: smallest eigenvalue <= eps; scaled by size as a numerical-rank
            # tolerance so that a singular block is flagged whatever the rounding
            if ev.min() <= max(1.0, i.size * ev.max()) * np.finfo(float).eps:
                warnings.warn(f"The var-cov matrix appears to be not positive definite in "
                              f"cluster {c}.", NotPositiveDefiniteWarning, stacklevel=2)
        V[np.ix_(i, i)] = np.outer(sd[i], sd[i]) * R
    return V

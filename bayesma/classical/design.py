"""Moderators -> design matrix for meta-regression.

``mods`` may be

* a formula string (formulaic syntax): ``"~ ablat + C(alloc)"``. R's ``factor(x)`` is
  accepted and read as ``C(x)``. ``"ablat"`` without ``~`` is read as ``"~ ablat"``.
  ``"~ 0 + C(alloc)"`` (or ``- 1``) drops the intercept.
* a list of column names: numeric columns enter as they are; string, categorical and
  boolean columns are treatment-coded;
* a 2-D array (or a DataFrame with one column per moderator, rows aligned with
  ``data``): used as numeric columns, named after the DataFrame columns or ``X1``, ``X2``...
  as metafor names unnamed matrix columns.

Term names
----------
The intercept is ``"intrcpt"`` (as in metafor) and always comes first. Other terms keep
formulaic's names, in formula order (terms of higher degree after main effects, as R):

metafor (R) -> bayesma:

* ``ablat`` -> ``ablat``;
* ``factor(alloc)random`` -> ``C(alloc)[T.random]`` (formula with ``factor()`` or ``C()``);
* ``allocrandom`` (character column) -> ``alloc[T.random]`` (list of columns, or a
  string column used bare in a formula);
* ``ablat:year`` -> ``ablat:year``.

Categorical levels are sorted (``sorted()`` of the distinct values; for a pandas
``Categorical`` its category order), the first level is the reference, as R's
``factor()``. R sorts strings by locale, so mixed-case level names can order
differently from R; give a ``Categorical`` to fix the order.

Rows with a missing value in any moderator are dropped with a
:class:`~bayesma.errors.DroppedRowsWarning` naming them; a categorical moderator with a
single level raises :class:`~bayesma.errors.DataError`; so does a rank-deficient design.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayesma.data import describe_rows, require_columns
from bayesma.errors import DataError, DroppedRowsWarning

__all__ = ["Design", "build_design", "check_full_rank", "normalize_formula"]

INTERCEPT = "intrcpt"


@dataclass(frozen=True, eq=False)
class Design:
    """A design matrix and how it was built.

    Attributes
    ----------
    X : ndarray
        k x p design matrix over the rows kept.
    terms : list of str
        Column names, intercept (``"intrcpt"``) first.
    keep : ndarray of bool
        Rows of the input data used (False for rows dropped for missing moderators).
    dropped : list
        Index labels of the dropped rows.
    formula : str or None
        The normalized formula (``None`` for intercept-only or matrix moderators).
    intercept : bool
        Whether the first column is the intercept.
    """

    X: np.ndarray
    terms: list[str]
    keep: np.ndarray
    dropped: list = field(default_factory=list)
    formula: str | None = None
    intercept: bool = True
    spec: Any = None

    def transform(self, newdata) -> np.ndarray:
        """Design matrix of new moderator values (a DataFrame or dict of columns)."""
        if self.spec is None:
            raise DataError(
                "new moderator values can only be given as a table for formula or column "
                "moderators; pass a numeric array instead"
            )
        nd = pd.DataFrame(newdata) if not isinstance(newdata, pd.DataFrame) else newdata
        if nd.ndim == 1 or len(nd) == 0:
            raise DataError("newmods has no rows")
        try:
            mm = self.spec.get_model_matrix(nd, na_action="raise")
        except Exception as exc:  # formulaic raises various types
            raise DataError(f"cannot build the design for newmods: {exc}") from exc
        mm = _rename(mm)
        missing = [t for t in self.terms if t not in mm.columns]
        if missing:
            raise DataError(f"newmods gives no column for term(s) {missing}")
        return mm[self.terms].to_numpy(dtype=float)


def normalize_formula(mods: str) -> str:
    """``"factor(x)"`` -> ``"C(x)"``; prepend ``"~"`` if missing."""
    f = mods.strip()
    if not f.startswith("~"):
        f = "~ " + f
    f = re.sub(r"(?<![\w.])(?:as\.)?factor\s*\(", "C(", f)
    return f


def _rename(mm: pd.DataFrame) -> pd.DataFrame:
    cols = [INTERCEPT if c == "Intercept" else str(c) for c in mm.columns]
    out = pd.DataFrame(np.asarray(mm, dtype=float), columns=cols, index=mm.index)
    if INTERCEPT in cols and cols[0] != INTERCEPT:
        out = out[[INTERCEPT] + [c for c in cols if c != INTERCEPT]]
    return out


def _quote(col: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", col):
        return col
    return "`" + col.replace("`", "") + "`"


def _plain(exc: BaseException) -> str:
    """formulaic's message without its terminal colour codes and markers, on one line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    return " ".join(text.replace("\u29db", "").replace("\u29da", "").split())


def _is_categorical(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s))


def build_design(data: pd.DataFrame, mods=None, *, slab: str | None = None) -> Design:
    """Build the design matrix of ``mods`` over the rows of ``data``.

    Parameters
    ----------
    data : DataFrame
        The study table.
    mods : None, str, list of str, array or DataFrame
        See the module documentation.
    slab : str, optional
        Study-label column, used to name dropped rows.

    Returns
    -------
    Design
    """
    n = len(data)
    if mods is None:
        return Design(np.ones((n, 1)), [INTERCEPT], np.ones(n, dtype=bool), [], None, True)
    if isinstance(mods, str) or (
        isinstance(mods, list | tuple) and all(isinstance(c, str) for c in mods)
    ):
        if isinstance(mods, str):
            formula = normalize_formula(mods)
        else:
            if not mods:
                return build_design(data, None, slab=slab)
            require_columns(data, list(mods), what="moderator")
            formula = "~ " + " + ".join(_quote(c) for c in mods)
        return _formula_design(data, formula, slab=slab)
    return _matrix_design(data, mods, slab=slab)


def _formula_design(data: pd.DataFrame, formula: str, *, slab: str | None) -> Design:
    from formulaic import Formula

    try:
        fobj = Formula(formula)
        variables = sorted(str(v) for v in fobj.required_variables)
    except Exception as exc:
        raise DataError(
            f"cannot parse the moderator formula {formula!r}: {_plain(exc)}"
        ) from exc
    require_columns(data, variables, what="moderator")
    wrapped = set(re.findall(r"C\(\s*`?([^,`\)]+?)`?\s*[,)]", formula))
    for v in variables:
        _check_moderator_column(data, v, categorical=v in wrapped, slab=slab)
    keep, dropped = _drop_missing(data, variables, slab=slab)
    sub = data.loc[keep]
    for v in variables:
        s = sub[v]
        if v in wrapped or _is_categorical(s):
            levels = s.dropna().unique()
            if len(levels) < 2:
                lev = levels[0] if len(levels) else "none"
                raise DataError(
                    f"categorical moderator {v!r} has a single level ({lev!r}) in the rows "
                    "used; it cannot be estimated: drop it from the model",
                    column=v,
                )
    if len(sub) == 0:
        raise DataError("no rows left after dropping rows with missing moderators")
    try:
        mm = fobj.get_model_matrix(sub, na_action="raise")
    except Exception as exc:
        raise DataError(
            f"cannot build the design matrix of {formula!r}: {_plain(exc)}"
        ) from exc
    spec = mm.model_spec
    mm = _rename(mm)
    X = mm.to_numpy(dtype=float)
    terms = list(mm.columns)
    intercept = bool(terms and terms[0] == INTERCEPT)
    if X.shape[1] == 0:
        raise DataError(f"the moderator formula {formula!r} gives an empty design")
    check_full_rank(X, terms)
    return Design(X, terms, keep, dropped, formula, intercept, spec)


def _matrix_design(data: pd.DataFrame, mods, *, slab: str | None) -> Design:
    if isinstance(mods, pd.DataFrame):
        names = [str(c) for c in mods.columns]
        M = mods.to_numpy(dtype=float)
    elif isinstance(mods, pd.Series):
        names = [str(mods.name) if mods.name is not None else "X1"]
        M = mods.to_numpy(dtype=float)[:, None]
    else:
        try:
            M = np.asarray(mods, dtype=float)
        except (TypeError, ValueError) as exc:
            raise DataError(
                "mods must be a formula string, a list of column names or a numeric matrix"
            ) from exc
        if M.ndim == 1:
            M = M[:, None]
        names = [f"X{j + 1}" for j in range(M.shape[1])]
    if M.shape[0] != len(data):
        raise DataError(f"mods has {M.shape[0]} rows but the data has {len(data)}")
    bad = np.isnan(M).any(axis=1)
    keep = ~bad
    dropped = list(data.index[bad])
    if dropped:
        _warn_dropped(data, dropped, ["mods"], slab)
    M = M[keep]
    is_int = np.all(np.abs(M - 1) < 1e-8, axis=0)
    M = M[:, ~is_int]
    names = [nm for nm, i in zip(names, is_int, strict=True) if not i]
    X = np.column_stack([np.ones(M.shape[0]), M])
    terms = [INTERCEPT, *names]
    check_full_rank(X, terms)
    return Design(X, terms, keep, dropped, None, True, None)


def _check_moderator_column(data: pd.DataFrame, column: str, *, categorical: bool,
                            slab: str | None) -> None:
    """Reject a moderator column that is entirely missing, or numbers mixed with text.

    A text column whose values are mostly numbers (``"44"``, ``"52"``, ``"x"``) is almost
    always a typo in a numeric moderator; reading it as a factor would silently fit one
    coefficient per value. Wrap it in ``C()`` (or make it a pandas Categorical) to mean a
    factor.
    """
    s = data[column]
    if len(s) and s.isna().all():
        raise DataError(
            f"column {column!r} (moderator) has no values: every row is missing",
            column=column,
            rows=list(data.index),
        )
    if categorical or not (s.dtype == object or isinstance(s.dtype, pd.StringDtype)):
        return
    present = s.notna().to_numpy()
    numeric = pd.to_numeric(s, errors="coerce").notna().to_numpy()
    text = present & ~numeric
    if text.any() and numeric.sum() >= text.sum():
        pos = np.flatnonzero(text)
        bad = data.index[pos]
        raise DataError(
            f"column {column!r} (moderator) mixes numbers and text; "
            f"{describe_rows(data, bad, slab=slab, positions=pos)} has value "
            f"{s.iloc[pos[0]]!r}. Fix the value, or write C({column}) in the formula (or "
            "make the column a pandas Categorical) to treat it as categorical",
            column=column,
            rows=list(bad),
        )


def _drop_missing(data: pd.DataFrame, columns: list[str], *, slab: str | None):
    miss = np.zeros(len(data), dtype=bool)
    bad_cols = []
    for c in columns:
        m = data[c].isna().to_numpy()
        if m.any():
            bad_cols.append(c)
        miss |= m
    dropped = list(data.index[miss])
    if dropped:
        _warn_dropped(data, dropped, bad_cols, slab)
    return ~miss, dropped


def _warn_dropped(data, dropped, cols, slab) -> None:
    names = describe_rows(data, dropped, slab=slab, limit=20)
    warnings.warn(
        f"dropped {len(dropped)} row(s) with a missing moderator "
        f"({', '.join(map(repr, cols))}): {names}",
        DroppedRowsWarning,
        stacklevel=4,
    )


def check_full_rank(X: np.ndarray, terms: list[str] | None = None) -> None:
    """Raise DataError naming the redundant term(s) if ``X`` is not of full column rank."""
    X = np.asarray(X, dtype=float)
    p = X.shape[1]
    if p == 0:
        raise DataError("the design matrix has no columns")
    if p == 1:
        if not np.any(X[:, 0] != 0):
            raise DataError("the design matrix column is all zero")
        return
    from scipy.linalg import qr

    scale = np.sqrt(np.sum(X * X, axis=0))
    zero = scale == 0
    if zero.any():
        bad = [terms[j] if terms else f"column {j + 1}" for j in np.flatnonzero(zero)]
        raise DataError(
            f"the design matrix is not of full rank: term(s) {bad} are zero in every row used"
        )
    _, R, piv = qr(X / scale, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    tol = max(X.shape) * np.finfo(float).eps * 1e3 * d[0]
    rank = int(np.sum(d > max(tol, 1e-10)))
    if rank < p:
        redundant = sorted(piv[rank:])
        bad = [terms[j] if terms else f"column {j + 1}" for j in redundant]
        raise DataError(
            f"the moderators are linearly dependent (design matrix rank {rank} < {p} "
            f"columns): {bad} can be written as a combination of the other terms; "
            "remove redundant moderators"
        )

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

Safety
------
Every formula is vetted by :func:`bayesma.expressions.parse_formula` (an allow-list
grammar; ``^`` inside ``I()`` is a power as in R) before formulaic sees it, and formulaic
evaluates the rebuilt formula with :class:`SafeMaterializer`, whose evaluation context
holds only the allowed functions (no ``np``, no other transforms). This also covers
formulas read back from files (a fit's stored ``model_spec``).

Intercept names
---------------
metafor names the intercept ``intrcpt``. A moderator column named ``Intercept`` (R's
``(Intercept)`` is not a valid column name, so metafor users may have one) is an
ordinary moderator with term name ``Intercept``; a moderator column named ``intrcpt``
would give two terms of the same name (as in metafor) and raises
:class:`~bayesma.errors.DataError` asking to rename the column.

Rows with a missing value in any moderator are dropped with a
:class:`~bayesma.errors.DroppedRowsWarning` naming them; a categorical moderator with a
single level raises :class:`~bayesma.errors.DataError`; so does a rank-deficient design,
an infinite moderator value (naming column and row) and, in :meth:`Design.transform`
(``predict(newmods=...)``), a category level not seen in the fit.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg import qr

from bayesma.data import describe_rows, require_columns
from bayesma.errors import DataError, DroppedRowsWarning
from bayesma.expressions import ParsedFormula, parse_formula, quote_name

__all__ = [
    "INTERCEPT",
    "Design",
    "build_design",
    "check_full_rank",
    "normalize_formula",
]

INTERCEPT = "intrcpt"
#: formulaic's name of the intercept column
_FORMULAIC_INTERCEPT = "Intercept"
#: what a user column named ``Intercept`` is called while formulaic works on it
_USER_INTERCEPT_ALIAS = "bayesma_user_column_Intercept"


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
        The vetted formula as rebuilt by :func:`bayesma.expressions.vet_formula`
        (``None`` for intercept-only or matrix moderators).
    intercept : bool
        Whether the first column is the intercept.
    spec : formulaic ModelSpec or None
        How to build the same columns for new data (formula and column moderators).
    variables : tuple of str
        Data columns the formula uses.
    levels : dict
        Column -> the category levels seen in the rows used (categorical moderators).
    """

    X: np.ndarray
    terms: list[str]
    keep: np.ndarray
    dropped: list = field(default_factory=list)
    formula: str | None = None
    intercept: bool = True
    spec: Any = None
    variables: tuple[str, ...] = ()
    levels: dict = field(default_factory=dict)

    def transform(self, newdata: Any) -> np.ndarray:
        """Design matrix of new moderator values (a DataFrame or dict of columns).

        Raises
        ------
        DataError
            For a missing column or value, or a category level not seen in the fit
            (formulaic would silently code it as the reference level).
        """
        if self.spec is None:
            raise DataError(
                "new moderator values can only be given as a table for formula or column "
                "moderators; pass a numeric array instead"
            )
        nd = pd.DataFrame(newdata) if not isinstance(newdata, pd.DataFrame) else newdata
        if nd.ndim == 1 or len(nd) == 0:
            raise DataError("newmods has no rows")
        require_columns(nd, list(self.variables), what="newmods")
        for v in self.variables:
            miss = nd[v].isna().to_numpy()
            if miss.any():
                raise DataError(
                    f"column {v!r} (newmods): {describe_rows(nd, nd.index[miss])} is missing",
                    column=v, rows=list(nd.index[miss]))
            if v in self.levels:
                seen = self.levels[v]
                new = [x for x in pd.unique(nd[v]) if x not in seen]
                if new:
                    rows = nd.index[nd[v].isin(new).to_numpy()]
                    raise DataError(
                        f"column {v!r} (newmods): level {new[0]!r} ("
                        f"{describe_rows(nd, rows)}) was not seen in the fit; levels: "
                        f"{', '.join(map(repr, sorted(seen, key=str)))}",
                        column=v, rows=list(rows))
            else:
                _check_finite(nd, v, what="newmods")
        try:
            mm = self.spec.get_model_matrix(_prepare(nd, self.variables, self.levels),
                                            na_action="raise")
        except Exception as exc:  # formulaic raises various types
            raise DataError(f"cannot build the design for newmods: {_plain(exc)}") from exc
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


def _rename(mm) -> pd.DataFrame:
    """formulaic's model matrix with bayesma's term names, intercept first.

    Only formulaic's intercept term (``1``) becomes ``intrcpt``; a user column named
    ``Intercept`` went through formulaic under an alias and gets its name back here.
    """
    names = [str(c) for c in mm.columns]
    icol = None
    for struct in mm.model_spec.structure:
        if str(struct.term) == "1":
            icol = struct.columns[0]
    cols = [INTERCEPT if c == icol else c.replace(_USER_INTERCEPT_ALIAS, _FORMULAIC_INTERCEPT)
            for c in names]
    out = pd.DataFrame(np.asarray(mm, dtype=float), columns=cols, index=mm.index)
    if INTERCEPT in cols and cols[0] != INTERCEPT:
        out = out[[INTERCEPT] + [c for c in cols if c != INTERCEPT]]
    return out


def _prepare(data: pd.DataFrame, variables, levels) -> pd.DataFrame:
    """The columns formulaic reads: numeric integers as floats (``I(year^6)`` must not
    overflow int64 silently), a column named ``Intercept`` under its alias."""
    out = {}
    for v in variables:
        s = data[v]
        if v not in levels and pd.api.types.is_integer_dtype(s) and not (
                pd.api.types.is_bool_dtype(s)):
            s = s.astype(float)
        out[_USER_INTERCEPT_ALIAS if v == _FORMULAIC_INTERCEPT else v] = s
    return pd.DataFrame(out, index=data.index)


def _check_intercept_name(names) -> None:
    if INTERCEPT in names:
        raise DataError(
            f"a moderator column is named {INTERCEPT!r}, the name of the intercept (as in "
            "metafor); the coefficient table would have two rows of that name: rename "
            "the column",
            column=INTERCEPT,
        )


def _check_finite(data: pd.DataFrame, column: str, *, what: str = "moderator",
                  slab: str | None = None) -> None:
    s = data[column]
    if not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)):
        return
    bad = np.isinf(s.to_numpy(dtype=float))
    if bad.any():
        pos = np.flatnonzero(bad)
        rows = data.index[pos]
        raise DataError(
            f"column {column!r} ({what}): {describe_rows(data, rows, slab=slab, positions=pos)}"
            f" is infinite ({s.iloc[pos[0]]}); a moderator must be a finite number",
            column=column, rows=list(rows))


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
            formula = mods
        else:
            if not mods:
                return build_design(data, None, slab=slab)
            require_columns(data, list(mods), what="moderator")
            formula = "~ " + " + ".join(quote_name(c) for c in mods)
        return _formula_design(data, formula, slab=slab)
    return _matrix_design(data, mods, slab=slab)


def _formula_design(data: pd.DataFrame, formula: str, *, slab: str | None) -> Design:
    # vetted first: nothing of the user's text reaches formulaic before this
    parsed: ParsedFormula = parse_formula(
        formula, [str(c) for c in data.columns],
        rename={_FORMULAIC_INTERCEPT: _USER_INTERCEPT_ALIAS})
    variables = list(parsed.variables)
    require_columns(data, variables, what="moderator")
    _check_intercept_name(variables)
    wrapped = parsed.categorical
    for v in variables:
        _check_moderator_column(data, v, categorical=v in wrapped, slab=slab)
    keep, dropped = _drop_missing(data, variables, slab=slab)
    sub = data.loc[keep]
    levels: dict = {}
    for v in variables:
        s = sub[v]
        if v in wrapped or _is_categorical(s):
            uniq = s.dropna().unique()
            if len(uniq) < 2:
                lev = uniq[0] if len(uniq) else "none"
                raise DataError(
                    f"categorical moderator {v!r} has a single level ({lev!r}) in the rows "
                    "used; it cannot be estimated: drop it from the model",
                    column=v,
                )
            levels[v] = set(uniq.tolist())
        else:
            _check_finite(sub, v, slab=slab)
    if len(sub) == 0:
        raise DataError("no rows left after dropping rows with missing moderators")
    # formulaic takes 0.2 s to import: only formulas need it (issue 16)
    from formulaic import Formula

    from bayesma.classical.formula_context import SafeMaterializer

    try:
        fobj = Formula(parsed.text)
        with np.errstate(all="ignore"):  # log(0) etc.: named below by _check_finite_design
            mm = fobj.get_model_matrix(_prepare(sub, variables, levels), na_action="raise",
                                       materializer=SafeMaterializer)
    except Exception as exc:  # formulaic raises many types
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
    _check_finite_design(X, terms, sub, slab)
    check_full_rank(X, terms)
    shown = parse_formula(formula, [str(c) for c in data.columns]).text  # without alias
    return Design(X, terms, keep, dropped, shown, intercept, spec, tuple(variables), levels)


def _check_finite_design(X: np.ndarray, terms: list[str], data: pd.DataFrame,
                         slab: str | None) -> None:
    """A transform such as ``log(dose)`` at dose 0 gives -inf: name term and row."""
    bad = ~np.isfinite(X)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        rows = data.index[np.flatnonzero(bad[:, j])]
        raise DataError(
            f"moderator term {terms[j]!r} is not finite ({X[i, j]}) in "
            f"{describe_rows(data, rows, slab=slab)}",
            column=terms[j], rows=list(rows))


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
    _check_intercept_name(names)
    if M.shape[0] != len(data):
        raise DataError(f"mods has {M.shape[0]} rows but the data has {len(data)}")
    bad = np.isnan(M).any(axis=1)
    keep = ~bad
    dropped = list(data.index[bad])
    if dropped:
        _warn_dropped(data, dropped, ["mods"], slab)
    if np.isinf(M).any():
        i, j = np.argwhere(np.isinf(M))[0]
        where = describe_rows(data, [data.index[i]], slab=slab, positions=[i])
        raise DataError(
            f"moderator {names[j]!r}: {where} is infinite ({M[i, j]}); a moderator must be "
            "a finite number",
            column=names[j], rows=[data.index[i]])
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
    norms = np.sqrt(np.sum(X * X, axis=0))
    zero = norms == 0
    if zero.any():
        bad = [terms[j] if terms else f"column {j + 1}" for j in np.flatnonzero(zero)]
        raise DataError(
            f"the design matrix is not of full rank: term(s) {bad} are zero in every row used"
        )
    _, R, piv = qr(X / norms, mode="economic", pivoting=True)
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

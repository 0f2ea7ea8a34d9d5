"""Validated access to the study table.

Every check here raises :class:`~bayesma.errors.DataError` naming the column and the
rows (DataFrame index label, plus the study label when the table has one), so that
errors read like ``column 'vi', row 3 (study 'Hart & Sutherland'): variance must be > 0,
got -0.02``. Nothing is coerced or dropped silently.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd

from bayesma.errors import DataError, NonIntegerCountWarning, TooFewStudiesError

__all__ = [
    "LABEL_CANDIDATES",
    "MAX_ABS_EFFECT",
    "VARIANCE_RANGE",
    "check_effect_range",
    "column_values",
    "describe_rows",
    "effect_arrays",
    "find_label_column",
    "numeric_column",
    "require_columns",
    "require_k",
    "study_labels",
    "warn_non_integer",
]

#: Column names recognised as study labels, in order of preference.
LABEL_CANDIDATES = ("slab", "study_label", "label", "author", "authors", "study", "trial")

#: Largest |yi| accepted: squares and weighted sums of larger values overflow in double
#: precision (1e300 ** 2 = inf), so such values are refused with a DataError instead.
MAX_ABS_EFFECT = 1e100
#: Accepted range of sampling variances: 1/vi and its powers (the weights of the tau²
#: estimators, up to w³) must stay finite and non-zero in double precision.
VARIANCE_RANGE = (1e-100, 1e100)


def require_columns(df: pd.DataFrame, columns: Sequence[str], *, what: str = "") -> None:
    """Raise DataError if any of ``columns`` is not in ``df``."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(df).__name__}")
    if isinstance(df.columns, pd.MultiIndex):
        raise DataError(
            f"data has hierarchical (MultiIndex) columns with {df.columns.nlevels} levels; "
            "flatten them to one name per column first, "
            "e.g. df.columns = ['_'.join(map(str, c)) for c in df.columns]"
        )
    missing = [c for c in columns if c not in df.columns]
    if missing:
        role = f" ({what})" if what else ""
        raise DataError(
            f"column {missing[0]!r}{role} is not in the data; available columns: "
            f"{', '.join(map(str, df.columns))}",
            column=missing[0],
        )
    if df.columns.is_unique:
        return
    counts = df.columns.value_counts()
    dup = [c for c in columns if counts.get(c, 0) > 1]
    if dup:
        raise DataError(
            f"column {dup[0]!r} appears {counts[dup[0]]} times in the data; "
            "rename or remove the duplicates",
            column=dup[0],
        )


def column_values(df: pd.DataFrame, column: Hashable):
    """The values of ``df[column]`` (a numpy or pandas extension array), not a Series.

    ``df[column]`` builds a Series and deep-copies the table's ``attrs`` into it (tens of
    microseconds per column for a dataset with a citation); reading the column's array
    skips that. The column must exist and be unique (:func:`require_columns`). The
    array may share memory with ``df``: copy it before changing it.
    """
    loc = df.columns.get_loc(column)
    getter = getattr(df, "_get_column_array", None)  # pandas >= 1.4; else via a Series
    if isinstance(loc, int) and getter is not None:
        return getter(loc)
    return df[column].array


def find_label_column(df: pd.DataFrame, slab: str | None = None) -> str | None:
    """The column used for study labels: ``slab`` if given, else the first candidate."""
    if slab is not None:
        require_columns(df, [slab], what="study labels")
        return slab
    for c in LABEL_CANDIDATES:
        if c in df.columns:
            return c
    return None


def describe_rows(
    df: pd.DataFrame,
    rows: Sequence[Hashable],
    *,
    slab: str | None = None,
    limit: int = 5,
    positions: Sequence[int] | None = None,
) -> str:
    """Human-readable names of rows: ``row 3 (study 'Aronson')`` joined by commas.

    ``rows`` are index labels. Pass ``positions`` (integer positions of the same rows)
    to name the right study when the index has duplicate labels.
    """
    label_col = find_label_column(df, slab) if slab is not None or len(df) else None
    if positions is None:
        positions = [
            int(np.flatnonzero(df.index == r)[0]) if r in df.index else None for r in rows
        ]
    parts = []
    for r, pos in list(zip(rows, positions, strict=True))[:limit]:
        text = f"row {r!r}" if not isinstance(r, int | np.integer) else f"row {r}"
        if label_col is not None and pos is not None:
            text += f" (study {str(df[label_col].iloc[pos])!r})"
        parts.append(text)
    if len(rows) > limit:
        parts.append(f"and {len(rows) - limit} more")
    return ", ".join(parts)


def numeric_column(
    df: pd.DataFrame,
    column: str,
    *,
    what: str = "",
    allow_nan: bool = False,
    positive: bool = False,
    nonnegative: bool = False,
    integer: bool = False,
    slab: str | None = None,
) -> np.ndarray:
    """Return ``df[column]`` as a float64 array after checking it.

    Parameters
    ----------
    df : DataFrame
        The study table.
    column : str
        Column to read.
    what : str
        Role of the column, used in messages (e.g. ``"sampling variance"``).
    allow_nan : bool
        Allow missing values (returned as NaN); otherwise a NaN raises.
    positive, nonnegative : bool
        Require values > 0 or >= 0.
    integer : bool
        Require whole numbers (counts, sample sizes).
    slab : str, optional
        Label column used to name rows in messages.

    Raises
    ------
    DataError
        Naming the column and the first offending rows.
    """
    require_columns(df, [column], what=what)
    role = f" ({what})" if what else ""
    values = column_values(df, column)
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        # plain numeric column: no Series needed (same checks and messages as below)
        return _checked_numbers(df, column, values.astype(float), role=role,
                                allow_nan=allow_nan, positive=positive,
                                nonnegative=nonnegative, integer=integer, slab=slab)
    s = df[column]
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    if (
        pd.api.types.is_complex_dtype(s.dtype)
        or pd.api.types.is_datetime64_any_dtype(s.dtype)
        or pd.api.types.is_timedelta64_dtype(s.dtype)
    ):
        first = (
            f"; {describe_rows(df, df.index[:1], slab=slab, positions=[0])} has value "
            f"{s.iloc[0]!r}" if len(s) else ""
        )
        raise DataError(
            f"column {column!r}{role} must hold real numbers, got dtype {s.dtype}{first}",
            column=column,
            rows=list(df.index[:1]),
        )
    if s.dtype == object or isinstance(s.dtype, pd.StringDtype) or s.dtype == bool:
        conv = pd.to_numeric(s, errors="coerce")
        badmask = (conv.isna() & s.notna()).to_numpy()
        if badmask.any() or s.dtype == bool:
            pos = np.flatnonzero(badmask) if badmask.any() else np.array([0])
            bad = df.index[pos]
            raise DataError(
                f"column {column!r}{role} must be numeric; "
                f"{describe_rows(df, bad, slab=slab, positions=pos)} has value "
                f"{s.iloc[pos[0]]!r}",
                column=column,
                rows=list(bad),
            )
        s = conv
    try:
        x = s.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise DataError(f"column {column!r}{role} must be numeric ({exc})", column=column) from exc
    return _checked_numbers(df, column, x, role=role, allow_nan=allow_nan, positive=positive,
                            nonnegative=nonnegative, integer=integer, slab=slab)


def _checked_numbers(df: pd.DataFrame, column: str, x: np.ndarray, *, role: str,
                     allow_nan: bool, positive: bool, nonnegative: bool, integer: bool,
                     slab: str | None) -> np.ndarray:
    """The value checks of :func:`numeric_column` on the float array ``x``."""
    if not integer and math.isfinite(x.sum()) and (
        not (positive or nonnegative) or x.size == 0
        or (x.min() > 0 if positive else x.min() >= 0)
    ):
        return x  # a finite sum (no NaN, no inf) within the bounds: nothing to report
    nan = np.isnan(x)
    if nan.any() and not allow_nan:
        bad = df.index[nan]
        where = describe_rows(df, bad, slab=slab, positions=np.flatnonzero(nan))
        raise DataError(
            f"column {column!r}{role} has missing values at {where}; "
            "remove those rows or fill them before the analysis",
            column=column,
            rows=list(bad),
        )
    if np.isinf(x).any():
        bad = df.index[np.isinf(x)]
        where = describe_rows(df, bad, slab=slab, positions=np.flatnonzero(np.isinf(x)))
        raise DataError(
            f"column {column!r}{role} has infinite values at {where}",
            column=column,
            rows=list(bad),
        )
    ok = ~nan
    checks = []
    if positive:
        checks.append((ok & (x <= 0), "must be > 0"))
    if nonnegative:
        checks.append((ok & (x < 0), "must be >= 0"))
    if integer:
        checks.append((ok & (np.abs(x - np.round(x)) > 1e-8), "must be a whole number"))
    for mask, rule in checks:
        if mask.any():
            bad = df.index[mask]
            where = describe_rows(df, bad, slab=slab, positions=np.flatnonzero(mask))
            raise DataError(
                f"column {column!r}{role} {rule}; {where} "
                f"has value {x[mask][0]:g}",
                column=column,
                rows=list(bad),
            )
    return x


def effect_arrays(
    df: pd.DataFrame,
    yi: str = "yi",
    vi: str = "vi",
    *,
    sei: str | None = None,
    slab: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Validated effect sizes and sampling variances ``(y, v)`` of a study table.

    ``sei`` (standard errors) replaces ``vi`` by ``sei**2``. Variances and standard
    errors must be > 0; NaN raises. Errors name the column and the row.
    """
    require_columns(df, [yi], what="effect sizes")
    if len(df) == 0:
        raise DataError(
            "the study table has no rows (only a header?); give one row per study",
            column=yi,
        )
    y = numeric_column(df, yi, what="effect sizes", slab=slab)
    if sei is not None:
        se = numeric_column(df, sei, what="standard errors", positive=True, slab=slab)
        v = se**2
        vcol = sei
    else:
        v = numeric_column(df, vi, what="sampling variances", positive=True, slab=slab)
        vcol = vi
    check_effect_range(y, v, df=df, yi=yi, vi=vcol, slab=slab, sei=sei is not None)
    return y, v


def check_effect_range(
    y: np.ndarray,
    v: np.ndarray,
    *,
    df: pd.DataFrame | None = None,
    yi: str = "yi",
    vi: str = "vi",
    slab: str | None = None,
    labels: Sequence[str] | None = None,
    sei: bool = False,
) -> None:
    """Refuse effect sizes and variances whose arithmetic overflows in double precision.

    ``|yi|`` must not exceed :data:`MAX_ABS_EFFECT` and ``vi`` must lie in
    :data:`VARIANCE_RANGE` (e.g. ``vi = 1e-300`` gives infinite weights and ``yi = 1e300``
    an infinite Q). Rows are named by their index label (``df`` given) or by their
    position and study label (arrays).

    Raises
    ------
    DataError
        Naming the column and the first offending rows, with a hint to rescale.
    """
    lo, hi = VARIANCE_RANGE
    if y.size and v.size and (
        np.abs(y).max() <= MAX_ABS_EFFECT and lo <= v.min() and v.max() <= hi
    ):
        return  # all in range (NaN compares False and takes the full check below)
    checks = (
        (yi, np.abs(y) > MAX_ABS_EFFECT, y,
         f"is too large in magnitude (|yi| > {MAX_ABS_EFFECT:g}) to compute with"),
        (vi, (v < lo) | (v > hi), np.sqrt(v) if sei else v,
         f"is outside [{lo:g}, {hi:g}] (as a variance): weights 1/vi would overflow "
         "or vanish in double precision"),
    )  # fmt: skip
    for column, mask, values, rule in checks:
        if not np.any(mask):
            continue
        pos = np.flatnonzero(mask)
        if df is not None:
            rows = list(df.index[pos])
            where = describe_rows(df, rows, slab=slab, positions=list(pos))
        else:
            rows = [int(i) for i in pos]
            where = ", ".join(
                f"position {i}" + (f" (study {labels[i]!r})" if labels is not None else "")
                for i in rows[:5]
            )
        raise DataError(
            f"column {column!r}: {where} has value {values[pos[0]]:g}, which {rule}; "
            "express the effect sizes in other units (rescale yi and vi together)",
            column=column,
            rows=rows,
        )


def warn_non_integer(
    df: pd.DataFrame,
    column: str,
    x: np.ndarray,
    *,
    what: str = "",
    slab: str | None = None,
    stacklevel: int = 3,
) -> None:
    """Warn (:class:`NonIntegerCountWarning`) when counts are not whole numbers.

    metafor's ``escalc`` accepts fractional counts and sample sizes (e.g. from imputed
    or adjusted data) and so does bayesma, but never silently: the warning names the
    column and the rows.
    """
    with np.errstate(invalid="ignore"):
        mask = np.isfinite(x) & (np.abs(x - np.round(x)) > 1e-8)
    if not mask.any():
        return
    pos = np.flatnonzero(mask)
    role = f" ({what})" if what else ""
    where = describe_rows(df, list(df.index[pos]), slab=slab, positions=list(pos))
    warnings.warn(
        f"column {column!r}{role} holds counts that are not whole numbers: {where} has "
        f"value {x[pos[0]]:g}; they are used as given (as metafor does); check the data "
        "if they should be counts",
        NonIntegerCountWarning,
        stacklevel=stacklevel,
    )


def require_k(k: int, minimum: int, *, method: str) -> None:
    """Raise TooFewStudiesError if ``k < minimum``."""
    if k < minimum:
        raise TooFewStudiesError(
            f"{method} needs at least {minimum} studies, got k = {k}"
        )


def study_labels(df: pd.DataFrame, slab: str | None = None) -> list[str]:
    """Unique string labels for the studies (rows) of ``df``.

    Uses the label column (``slab`` or the first of :data:`LABEL_CANDIDATES`), else the
    index. Duplicate labels get ``" (2)"``, ``" (3)"`` ... appended, in row order, so they
    can serve as an ArviZ coordinate.
    """
    col = find_label_column(df, slab)
    raw = column_values(df, col) if col is not None else None
    if raw is not None and isinstance(raw.dtype, pd.StringDtype) and not raw.isna().any():
        # strings without missing values (the usual label column): read as they are
        labels = raw.to_numpy(dtype=object).tolist()
    elif isinstance(raw, np.ndarray) and raw.dtype.kind in "iubfO" or (
        raw is not None and isinstance(raw.dtype, pd.StringDtype)
    ):
        # numbers, objects and strings read without a Series (same labels as below)
        missing = pd.isna(raw).tolist()
        labels = ["" if na else str(v) for v, na in zip(raw.tolist(), missing, strict=True)]
    else:
        raw = df[col] if col is not None else pd.Series(df.index, index=df.index)
        labels = ["" if pd.isna(v) else str(v) for v in raw]
    labels = [lab if lab else f"Study {i + 1}" for i, lab in enumerate(labels)]
    if len(set(labels)) == len(labels):
        return labels  # unique already
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        n = seen.get(lab, 0) + 1
        seen[lab] = n
        out.append(lab if n == 1 else f"{lab} ({n})")
    # a second pass guarantees uniqueness if "X (2)" already existed as a raw label
    if len(set(out)) != len(out):
        out = [f"{lab} [{i + 1}]" for i, lab in enumerate(out)]
    return out

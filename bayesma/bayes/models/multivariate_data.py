"""Reading the table of a multivariate meta-analysis: outcomes, studies, V blocks, patterns.

Several outcomes of the same studies (one row per study and outcome): the rows are
checked (no missing outcome or study ids, one row per study and outcome, every outcome
in at least two studies), the sampling covariance ``V`` is read as a block-diagonal
matrix by study (a full matrix in row order, a list of blocks, or ``diag(vi)``) and
every block must be positive definite. Studies are grouped by the set of outcomes they
report ("patterns"), so the likelihood of each pattern is one vectorised block density.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayesma.data import describe_rows, numeric_column, require_columns
from bayesma.errors import DataError

__all__ = ["MultivariateData", "Pattern", "multivariate_data"]


@dataclass(frozen=True)
class Pattern:
    """Studies that report the same outcomes.

    Attributes
    ----------
    idx : tuple of int
        The outcomes (positions in ``MultivariateData.outcomes``), in order.
    rows : ndarray, shape (n, s)
        Row positions (in the table) of each study's effects, in ``idx`` order.
    studies : ndarray, shape (n,)
        Study codes.
    """

    idx: tuple[int, ...]
    rows: np.ndarray
    studies: np.ndarray


@dataclass(frozen=True)
class MultivariateData:
    """The checked table of a multivariate model (see the module documentation)."""

    data: pd.DataFrame
    yi: np.ndarray
    vi: np.ndarray
    V: np.ndarray
    outcome: np.ndarray  # outcome code of each row
    study: np.ndarray  # study code of each row
    outcomes: list[str]
    studies: list[str]
    labels: list[str]
    patterns: list[Pattern]
    measure: str | None

    @property
    def k(self) -> int:
        """Number of effects (rows)."""
        return len(self.yi)

    @property
    def m(self) -> int:
        """Number of outcomes."""
        return len(self.outcomes)

    def block(self, rows: np.ndarray) -> np.ndarray:
        """The sampling covariance of ``rows`` (one study's effects)."""
        return self.V[np.ix_(rows, rows)]


def _codes(data: pd.DataFrame, column: str) -> tuple[np.ndarray, list[str]]:
    col = data[column]
    miss = col.isna().to_numpy()
    if miss.any():
        rows = list(np.flatnonzero(miss))
        raise DataError(f"column {column!r} has missing values in {describe_rows(data, rows)}",
                        column=column, rows=rows)
    text = col.astype(str).to_numpy()
    levels = sorted(set(text))  # sorted, as rma.mv orders the levels of a factor
    pos = {lv: i for i, lv in enumerate(levels)}
    return np.array([pos[t] for t in text], dtype=int), levels


def _is_full(V: Any, k: int) -> bool:
    """True when a list is a whole k x k matrix (a stored spec) rather than blocks."""
    try:
        return np.asarray(V, dtype=float).shape == (k, k)
    except (TypeError, ValueError):  # ragged: blocks of different sizes
        return False


def _as_float(V: Any) -> np.ndarray:
    try:
        return np.asarray(V, dtype=float)
    except (TypeError, ValueError):
        raise DataError("V must be a numeric matrix (or a list of numeric blocks by study), "
                        f"got {type(V).__name__}", column="V") from None


def _read_v(V: Any, data: pd.DataFrame, vi: np.ndarray, study: np.ndarray,
            studies: list[str]) -> np.ndarray:
    k = len(data)
    if V is None:
        return np.diag(vi)
    if isinstance(V, list | tuple) and not _is_full(V, k):  # blocks by study
        order = list(dict.fromkeys(study.tolist()))
        if len(V) != len(order):
            raise DataError(f"V has {len(V)} blocks but the data hold {len(order)} studies")
        M = np.zeros((k, k))
        for s, blk in zip(order, V, strict=True):
            rows = np.flatnonzero(study == s)
            b = np.atleast_2d(_as_float(blk))
            if b.shape != (rows.size, rows.size):
                raise DataError(f"V block of study {studies[s]!r} is {b.shape}, expected "
                                f"{(rows.size, rows.size)}")
            M[np.ix_(rows, rows)] = b
        V = M
    M = _as_float(V)
    if M.shape != (k, k):
        raise DataError(f"V must be {k} x {k} (one row per effect), got {M.shape}")
    if not np.all(np.isfinite(M)) or not np.allclose(M, M.T, rtol=1e-10, atol=1e-14):
        raise DataError("V must be a finite symmetric matrix")
    other = study[:, None] != study[None, :]
    if np.any(M[other] != 0):
        i, j = np.argwhere(other & (M != 0))[0]
        raise DataError(f"V has a covariance between different studies ({studies[study[i]]!r} "
                        f"and {studies[study[j]]!r}): the sampling errors of different "
                        "studies must be independent")
    return M


def multivariate_data(data: pd.DataFrame, yi: str, vi: str | None, *, outcome: str,
                      study: str, V: Any = None, slab: str | None = None,
                      measure: str | None = None) -> MultivariateData:
    """Check the table of a multivariate model and group its studies by pattern.

    Raises
    ------
    DataError
        Missing columns or ids (naming the rows), a study with the same outcome twice,
        an outcome reported by fewer than two studies, ``V`` not block-diagonal by study
        or a block not positive definite (naming the study).
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    cols = ([yi, outcome, study] + ([vi] if V is None and vi is not None else [])
            + ([slab] if slab else []))
    require_columns(data, cols)
    if V is None and vi is None:
        raise DataError("give vi (the sampling variances) or V (their covariance matrix)")
    data = data.reset_index(drop=True)
    y = numeric_column(data, yi, what="effect size")
    oc, outcomes = _codes(data, outcome)
    sc, studies = _codes(data, study)
    dup = pd.Series(list(zip(sc, oc, strict=True))).duplicated(keep=False).to_numpy()
    if dup.any():
        s = studies[sc[np.flatnonzero(dup)[0]]]
        rows = list(np.flatnonzero(dup))
        raise DataError(f"study {s!r} has the same outcome more than once (rows "
                        f"{describe_rows(data, rows)}): a multivariate model takes one effect "
                        "per study and outcome (use Multilevel for several effects of one "
                        "outcome)", column=outcome, rows=rows)
    per = np.bincount(oc, minlength=len(outcomes))
    if np.any(per < 2):
        few = [outcomes[j] for j in np.flatnonzero(per < 2)]
        raise DataError(f"outcome(s) {few} are reported by fewer than two studies",
                        column=outcome)
    if len(studies) < 3:
        raise DataError(f"a multivariate model needs at least 3 studies, got {len(studies)}",
                        column=study)
    if V is None:
        v = numeric_column(data, vi, what="sampling variance", positive=True)
    else:
        v = np.full(len(y), np.nan)
    M = _read_v(V, data, v, sc, studies)
    v = np.diag(M).copy()
    groups: dict[tuple[int, ...], list[tuple[int, np.ndarray]]] = {}
    for s in range(len(studies)):
        rows = np.flatnonzero(sc == s)
        rows = rows[np.argsort(oc[rows])]
        blk = M[np.ix_(rows, rows)]
        try:
            np.linalg.cholesky(blk)
        except np.linalg.LinAlgError:
            raise DataError(f"the sampling covariance block of study {studies[s]!r} is not "
                            "positive definite", column=study,
                            rows=[int(r) for r in rows]) from None
        groups.setdefault(tuple(int(o) for o in oc[rows]), []).append((s, rows))
    patterns = [Pattern(idx=p, rows=np.array([r for _, r in g], dtype=int),
                        studies=np.array([s for s, _ in g], dtype=int))
                for p, g in sorted(groups.items())]
    lab = data[slab].astype(str).to_numpy() if slab else np.array(studies)[sc]
    labels = [f"{a}/{outcomes[o]}" for a, o in zip(lab, oc, strict=True)]
    if len(set(labels)) != len(labels):
        labels = [f"{studies[s]}/{outcomes[o]}" for s, o in zip(sc, oc, strict=True)]
    return MultivariateData(data=data, yi=y, vi=v, V=M, outcome=oc, study=sc,
                            outcomes=outcomes, studies=studies, labels=labels,
                            patterns=patterns,
                            measure=measure if measure is not None
                            else data.attrs.get("measure"))

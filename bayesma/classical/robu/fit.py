"""``robu()``: robust variance estimation for dependent effect sizes (robumeta 2.0's ``robu``).

Reads and checks the study table, builds the design and runs the working model
(:mod:`~bayesma.classical.robu.working`) and the robust inference
(:mod:`~bayesma.classical.robu.inference`) in robumeta 2.0's order.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayesma.classical.design import build_design
from bayesma.classical.multilevel.inputs import factorize
from bayesma.classical.robu.inference import robu_coefficients
from bayesma.classical.robu.result import RobuResult, coef_frame
from bayesma.classical.robu.working import (
    Clusters,
    corr_moments,
    corr_weights,
    hier_moments,
)
from bayesma.data import (
    check_effect_range,
    describe_rows,
    effect_arrays,
    numeric_column,
    require_columns,
)
from bayesma.errors import (
    BayesmaWarning,
    DataError,
    DroppedRowsWarning,
    SpecError,
    TooFewStudiesError,
)

__all__ = ["FewDfWarning", "robu"]

MODEL_WEIGHTS = ("CORR", "HIER")


class FewDfWarning(BayesmaWarning):
    """A small-sample RVE test has fewer than 4 df: robumeta's "do not trust" zone."""


def _check_rho(rho: Any, name: str = "rho") -> float:
    try:
        r = float(rho)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{name} must be a number in [0, 1], got {rho!r}") from exc
    if not (0.0 <= r <= 1.0):
        raise SpecError(f"{name} must be a correlation in [0, 1] (robumeta), got {rho!r}")
    return r


def _cluster_codes(data: pd.DataFrame, studynum: str) -> tuple[np.ndarray, list]:
    require_columns(data, [studynum], what="cluster (study id)")
    ids = data[studynum]
    miss = ids.isna().to_numpy()
    if miss.any():
        rows = list(data.index[miss])
        raise DataError(
            f"column {studynum!r} (cluster id) is missing at "
            f"{describe_rows(data, rows, positions=list(np.flatnonzero(miss)))}; every "
            "effect size needs the id of its study",
            column=studynum, rows=rows)
    return factorize(ids.to_numpy())


def _design(data: pd.DataFrame, mods: Any):
    """The design of ``mods``; a missing moderator value is an error naming the rows."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DroppedRowsWarning)
        design = build_design(data, mods)
    for w in caught:
        if not issubclass(w.category, DroppedRowsWarning):
            warnings.warn(w.message, w.category, stacklevel=3)
    if design.dropped:
        rows = list(design.dropped)
        cols = list(design.variables) or (
            list(mods) if isinstance(mods, list | tuple) else ["mods"])
        cols = [c for c in cols if c not in data.columns or data.loc[rows, c].isna().any()]
        raise DataError(
            f"moderator(s) {', '.join(map(repr, cols))} missing at "
            f"{describe_rows(data, rows)}; robu does not drop rows: remove or fill them",
            column=cols[0] if cols else None, rows=rows)
    return design


def robu(
    data: pd.DataFrame,
    yi: str = "yi",
    vi: str = "vi",
    studynum: str = "study",
    mods: str | Sequence[str] | None = None,
    modelweights: str = "CORR",
    rho: float = 0.8,
    small: bool = True,
    userweights: str | None = None,
) -> RobuResult:
    """Robust variance estimation meta-regression (robumeta 2.0's ``robu``).

    Parameters
    ----------
    data : DataFrame
        One row per effect size.
    yi, vi : str
        Columns of the effect sizes and their sampling variances (> 0).
    studynum : str
        Column of the cluster (study) ids; no missing values.
    mods : str or list of str, optional
        Moderators: a formula (``"~ males + college"``, vetted by
        :mod:`bayesma.classical.design`) or a list of column names; ``None`` fits the
        intercept only. A missing moderator value raises :class:`DataError`.
    modelweights : {"CORR", "HIER"}
        Correlated-effects or hierarchical-effects working model (Hedges, Tipton &
        Johnson 2010).
    rho : float
        Assumed within-cluster correlation of the effects (CORR), in [0, 1].
    small : bool
        Tipton's (2015) small-sample corrections (CR2-type adjustment, Satterthwaite
        df); ``False`` gives robumeta's large-sample version (``N - p`` df).
    userweights : str, optional
        Column of user-specified weights (> 0), robumeta's ``userweights``: no working
        model is fitted (no tau²), and the small-sample adjustment uses the
        cluster-mean variances as robu.R does.

    Returns
    -------
    RobuResult

    Raises
    ------
    DataError
        Missing cluster ids or moderators, non-finite effects, ``vi <= 0`` (naming column
        and rows), or a hierarchical model where every cluster has a single effect.
    TooFewStudiesError
        Fewer clusters than two, or not more clusters than coefficients.
    SpecError
        ``modelweights`` not CORR/HIER, ``rho`` outside [0, 1].

    Warns
    -----
    FewDfWarning
        A small-sample test with df < 4 (robumeta: "do not trust the results").
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    weights = str(modelweights).upper()
    if weights not in MODEL_WEIGHTS:
        raise SpecError(f"modelweights must be 'CORR' or 'HIER', got {modelweights!r}")
    r = _check_rho(rho)
    codes, levels = _cluster_codes(data, studynum)
    y, v = effect_arrays(data, yi, vi)
    design = _design(data, mods)
    X = design.X
    order = np.argsort(codes, kind="stable")  # robu.R sorts rows by cluster
    cl = Clusters.from_sorted_codes(codes[order])
    p = X.shape[1]
    if cl.n < 2:
        raise TooFewStudiesError(
            f"robust variance estimation needs at least 2 clusters ({studynum!r} has "
            f"{cl.n}): with a single cluster its variance cannot be estimated (df = 0)")
    if cl.n <= p:
        raise TooFewStudiesError(
            f"robust variance estimation needs more clusters ({cl.n}) than coefficients "
            f"({p}); drop moderators or use more studies")
    if weights == "HIER" and userweights is None and np.all(cl.k == 1):
        raise DataError(
            f"every cluster of {studynum!r} has a single effect size: the hierarchical "
            "model cannot separate tau² from omega²; use modelweights='CORR' (or a "
            "two-level model such as rma)", column=studynum)
    ys, vs, Xs = y[order], v[order], X[order]
    vbar = cl.per_row(cl.sums(vs) / cl.k)
    working = weights
    if userweights is not None:
        uw = numeric_column(data, userweights, what="user weights", positive=True)
        check_effect_range(y, uw, df=data, yi=yi, vi=userweights)
        working, moments, tau2, omega2, i2 = "USER", None, None, None, None
        w = uw[order]
    elif weights == "CORR":
        moments = corr_moments(ys, vs, Xs, cl)
        tau2, omega2, i2 = moments.tau2(r), None, moments.i2(r)
        w = corr_weights(vs, cl, tau2)
    else:
        moments = hier_moments(ys, vs, Xs, cl)
        tau2, omega2, i2 = moments.tau2, moments.omega2, None
        w = 1.0 / (vs + tau2 + omega2)
    est = robu_coefficients(ys, Xs, w, cl, small=small, working=working, vbar=vbar)
    coef = coef_frame(est, design.terms)
    weights_orig = np.empty_like(w)
    weights_orig[order] = w
    result = RobuResult(
        modelweights=weights, small=bool(small),
        rho=r if working == "CORR" else None, userweights=userweights,
        coef=coef, vcov=est.vcov, tau2=tau2, omega2=omega2, i2=i2, moments=moments,
        n_clusters=cl.n, k=int(y.size), k_per_cluster=cl.k.copy(),
        yi=y, vi=v, X=X, terms=list(design.terms), cluster=codes,
        cluster_levels=list(levels), weights=weights_orig,
        formula=f"{yi} ~ {_rhs(design, mods)}", columns=(yi, vi, studynum))
    low = coef.index[coef["df"].to_numpy() < 4].tolist() if small else []
    if low:
        warnings.warn(
            "small-sample df < 4 for " + ", ".join(
                f"{t!r} (df = {coef.loc[t, 'df']:.2f})" for t in low)
            + ": robumeta advises not to trust these tests (Tipton 2015)",
            FewDfWarning, stacklevel=2)
    return result


def _rhs(design, mods) -> str:
    if mods is None or (isinstance(mods, list | tuple) and not mods):
        return "1"
    if design.formula is not None:
        f = design.formula.strip()
        return f[1:].strip() if f.startswith("~") else f
    return " + ".join(design.terms[1:] if design.intercept else design.terms)

"""Predicted effects of a fitted ``rma`` model (metafor 3.8 ``predict.rma``).

``pred = x'b`` with ``se = sqrt(x' vcov x)``; the confidence interval is
``pred ± crit se`` and the prediction interval ``pred ± crit sqrt(se² + tau²)`` with
``crit`` from N(0, 1) for ``test="z"`` and from t(k - p) for ``t`` and ``knha``
(metafor's ``predict.rma``; Riley, Higgins & Deeks 2011, BMJ 342:d549, use t(k - 2)).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bayesma.classical.settings import parse_level
from bayesma.errors import DataError
from bayesma.tails import norm_isf, t_isf

__all__ = [
    "critical_value",
    "new_design",
    "numeric_newmods",
    "predict",
    "prediction_frame",
]


def critical_value(test: str, df: int | None, level: float) -> float:
    """Two-sided critical value: normal for ``test="z"``, else t(df) (NaN if df <= 0)."""
    a = 1 - level
    if test == "z":
        return float(norm_isf(a / 2))
    if not df or df <= 0:
        return float("nan")
    return float(t_isf(a / 2, df))


def predict(res: Any, newmods=None, *, level: float | None = None) -> pd.DataFrame:
    """Predicted (average) effects with CI and prediction interval (metafor ``predict``).

    Parameters
    ----------
    res : RMAResult
        The fitted model.
    newmods : None, array_like, dict or DataFrame
        ``None``: the pooled effect (intercept-only models) or the fitted values of the
        studies. An array with one column per non-intercept term (or all ``p`` columns),
        or a table of moderator values for formula/column moderators.
    level : float, optional
        Confidence level (default: the model's).

    Returns
    -------
    DataFrame with columns ``pred, se, ci_low, ci_high, pi_low, pi_high``.
    """
    level = res.level if level is None else parse_level(level)
    crit = critical_value(res.test, res.df, level)
    if newmods is None:
        if res.int_only:
            Xn = np.ones((1, 1))
            index = pd.Index(["pooled"])
        else:
            Xn = res.X
            index = pd.Index(res.labels)
    else:
        Xn, index = new_design(res, newmods)
    return prediction_frame(Xn, res.beta, res.vcov, res.tau2, crit, index)


def prediction_frame(
    Xn: np.ndarray,
    beta: np.ndarray,
    vcov: np.ndarray,
    heterogeneity: float,
    crit: float,
    index: pd.Index,
) -> pd.DataFrame:
    """``pred, se, ci_low, ci_high, pi_low, pi_high`` for the rows of ``Xn``.

    ``heterogeneity`` is the variance added for the prediction interval (tau² of
    ``rma``; the sum of the variance components of ``rma_mv``, as metafor's
    ``predict.rma.mv`` for random intercepts).
    """
    pred = Xn @ beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", Xn, vcov, Xn))
    pis = np.sqrt(se**2 + heterogeneity)
    return pd.DataFrame(
        {
            "pred": pred,
            "se": se,
            "ci_low": pred - crit * se,
            "ci_high": pred + crit * se,
            "pi_low": pred - crit * pis,
            "pi_high": pred + crit * pis,
        },
        index=index,
    )


def new_design(res: Any, newmods) -> tuple[np.ndarray, pd.Index]:
    """The design matrix of ``newmods`` (a table through the model's formula, or numbers)."""
    if isinstance(newmods, pd.DataFrame | dict) and res.design is not None and getattr(
        res.design, "spec", None
    ) is not None:
        Xn = res.design.transform(newmods)
        idx = newmods.index if isinstance(newmods, pd.DataFrame) else None
        return Xn, pd.Index(idx if idx is not None else range(Xn.shape[0]))
    return numeric_newmods(newmods, res.p, res.intercept, res.terms)


def numeric_newmods(
    newmods, p: int, intercept: bool, terms: list[str]
) -> tuple[np.ndarray, pd.Index]:
    """Moderator values given as numbers -> the ``m x p`` design matrix (metafor's rules).

    One value per non-intercept term (a row), a column of values for a one-moderator
    model, or all ``p`` columns; the intercept column is added when it is left out.
    """
    try:
        M = np.asarray(newmods, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(
            "newmods must be numbers (one value per non-intercept term, or a k x p "
            f"array) or a table of moderator columns, got {newmods!r}"
        ) from exc
    if M.ndim == 0:
        M = M.reshape(1, 1)
    if M.ndim == 1:
        nm = p - 1 if intercept else p
        M = M.reshape(1, -1) if M.size == nm and nm > 1 else M.reshape(-1, 1)
    if intercept and M.shape[1] == p - 1:
        M = np.column_stack([np.ones(M.shape[0]), M])
    if M.shape[1] != p:
        raise DataError(
            f"newmods has {M.shape[1]} column(s); the model has {p} coefficients "
            f"({', '.join(terms)})"
            + ("; give the values of the non-intercept terms" if intercept else "")
        )
    return M, pd.RangeIndex(M.shape[0])

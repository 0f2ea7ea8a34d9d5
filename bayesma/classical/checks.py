"""Small predicates shared by the functions that take a fitted ``rma`` model
(influence diagnostics and the publication-bias tests)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["intercept_only", "is_ee"]


def is_ee(method: str) -> bool:
    """True for the equal-effects model (metafor's ``EE``, aliases ``FE``, ``CE``)."""
    return method.upper() in ("EE", "FE", "CE")


def intercept_only(res: Any) -> bool:
    """True when the model's design matrix ``res.X`` is a single column of ones."""
    X = np.asarray(res.X, dtype=float)
    return X.shape[1] == 1 and bool(np.all(np.abs(X[:, 0] - 1.0) < 1e-8))

"""The fields and display of a fitted ``rma`` model (:class:`RMAResultBase`).

:class:`bayesma.classical.rma.RMAResult` (in ``fitting.py``) adds the methods that refit
the model; this module holds what a result *is*: the numbers (see ARCHITECTURE.md for
the contract), the metafor-style printout (``printing.py``) and predictions
(``prediction.py``).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from bayesma.classical.rma.prediction import predict
from bayesma.classical.rma.printing import format_summary

__all__ = ["COEF_COLUMNS", "FIT_STATS_COLUMNS", "FIT_STATS_INDEX", "RMAResultBase"]

#: Columns of ``coef`` (metafor's order) and the index/columns of ``fit_stats``: built once,
#: shared by every result (pandas indexes are immutable).
COEF_COLUMNS = pd.Index(["estimate", "se", "stat", "pval", "ci_low", "ci_high"])
FIT_STATS_INDEX = pd.Index(["ll", "dev", "AIC", "BIC", "AICc"])
FIT_STATS_COLUMNS = pd.Index(["ML", "REML"])


@dataclass(frozen=True, eq=False, repr=False)
class RMAResultBase:
    """A fitted (mixed-effects) meta-analytic model; see ARCHITECTURE.md for the contract.

    Coefficients are in ``coef`` (a DataFrame indexed by term, intercept ``"intrcpt"``
    first); ``estimate``, ``se``, ``stat``, ``pval``, ``ci_low``, ``ci_high`` repeat the
    first row (the pooled effect of an intercept-only model). ``multimodal`` is True when
    the (restricted) likelihood of tau² has a second local maximum close to the global
    one (ML/REML; ``tau2_local`` holds it); ``tau2`` is always the global maximum.
    """

    # settings
    method: str
    test: str
    level: float
    formula: str | None
    measure: str | None
    # data used
    yi: np.ndarray
    vi: np.ndarray
    X: np.ndarray
    terms: list[str]
    labels: list[str]
    data_frame: pd.DataFrame | None  # the table fitted (None: built from arrays on demand)
    dropped: list
    k: int
    p: int
    # coefficients
    beta: np.ndarray
    vcov: np.ndarray
    coef_values: np.ndarray  # p x 6: the ``coef`` table as an array
    estimate: float
    se: float
    stat: float
    pval: float
    ci_low: float
    ci_high: float
    df: int | None
    # heterogeneity
    tau2: float
    se_tau2: float
    tau: float
    i2: float
    h2: float
    q: float
    q_df: int
    q_pval: float
    # moderators
    qm: float | None
    qm_df: int | tuple[int, int] | None
    qm_pval: float | None
    r2: float | None
    # prediction interval
    pi_low: float | None
    pi_high: float | None
    weights: np.ndarray
    fit_stats_values: np.ndarray  # 5 x 2: the ``fit_stats`` table as an array
    ll: float
    deviance: float
    aic: float
    bic: float
    aicc: float
    scale: float
    # extras
    intercept: bool = True
    tau2_fixed: bool = False
    converged: bool = True
    iterations: int = 0
    multimodal: bool = False
    tau2_local: float | None = None
    user_weights: np.ndarray | None = None
    design: Any = None
    call: dict = field(default_factory=dict)

    @classmethod
    def from_fields(cls, **values: Any) -> RMAResultBase:
        """The result with these field values, built without the dataclass ``__init__``.

        The same object as ``cls(**values)``: every field without a default must be
        given, the others take their defaults. The generated ``__init__`` of a frozen
        dataclass assigns each of the 60 fields through ``object.__setattr__``, which
        costs more than an intercept-only fit's arithmetic; this fills ``__dict__`` at once.
        """
        if not values.keys() <= _FIELDS.keys():
            unknown = sorted(values.keys() - _FIELDS.keys())
            raise TypeError(f"{cls.__name__}.from_fields() got unknown fields {unknown}")
        obj = object.__new__(cls)
        d = obj.__dict__
        for name, default in _FIELDS.items():
            if name not in values:
                if default is _REQUIRED:
                    raise TypeError(f"{cls.__name__}.from_fields() misses the field {name!r}")
                values[name] = default()
        d.update(values)
        return obj

    # ------------------------------------------------------------------ tables
    # built on first use: a pandas table costs more than the whole REML fit at small k
    @cached_property
    def data(self) -> pd.DataFrame:
        """The rows used: the table given to ``rma`` or, for a fit from arrays, a table of
        ``slab, yi, vi``."""
        if self.data_frame is not None:
            return self.data_frame
        return pd.DataFrame({"slab": self.labels, "yi": self.yi, "vi": self.vi})

    @cached_property
    def coef(self) -> pd.DataFrame:
        """Coefficients: DataFrame indexed by term (``"intrcpt"`` first) with columns
        ``estimate, se, stat, pval, ci_low, ci_high``."""
        return pd.DataFrame(self.coef_values, index=pd.Index(self.terms, name="term"),
                            columns=COEF_COLUMNS, copy=True)

    @cached_property
    def fit_stats(self) -> pd.DataFrame:
        """Fit statistics as metafor's ``fit.stats``: index ``ll, dev, AIC, BIC, AICc``,
        columns ``ML, REML``."""
        return pd.DataFrame(self.fit_stats_values, index=FIT_STATS_INDEX,
                            columns=FIT_STATS_COLUMNS, copy=True)

    # ------------------------------------------------------------------ display
    @property
    def stat_name(self) -> str:
        """``"zval"`` for z tests, ``"tval"`` for t and knha (metafor's column name)."""
        return "zval" if self.test == "z" else "tval"

    @property
    def int_only(self) -> bool:
        """True for an intercept-only model (the pooled effect)."""
        return self.p == 1 and self.intercept

    def btt(self) -> list[int]:
        """Positions of the coefficients in the omnibus moderator test (metafor's ``btt``)."""
        if self.p > 1 and self.intercept:
            return list(range(1, self.p))
        return list(range(self.p))

    def __repr__(self) -> str:
        return (
            f"<RMAResult {self.method} k={self.k} p={self.p} test={self.test} "
            f"estimate={self.estimate:.4f} tau2={self.tau2:.4f}>"
        )

    def __str__(self) -> str:
        return self.summary()

    def summary(self, digits: int = 4) -> str:
        """A printout in the layout of metafor's ``print.rma.uni``."""
        return format_summary(self, digits)

    def predict(self, newmods=None, *, level: float | None = None) -> pd.DataFrame:
        """Predicted (average) effects with CI and prediction interval (metafor ``predict``).

        Parameters
        ----------
        newmods : None, array_like, dict or DataFrame
            ``None``: the pooled effect (intercept-only models) or the fitted values of
            the studies. An array with one column per non-intercept term (or all ``p``
            columns), or a table of moderator values for formula/column moderators.
        level : float, optional
            Confidence level (default: the model's).

        Returns
        -------
        DataFrame with columns ``pred, se, ci_low, ci_high, pi_low, pi_high``.
        """
        return predict(self, newmods, level=level)

    def to_frame(self) -> pd.DataFrame:
        """One-row tidy summary."""
        row = {
            "method": self.method,
            "test": self.test,
            "k": self.k,
            "p": self.p,
            "estimate": self.estimate,
            "se": self.se,
            "stat": self.stat,
            "df": self.df,
            "pval": self.pval,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "pi_low": self.pi_low,
            "pi_high": self.pi_high,
            "tau2": self.tau2,
            "se_tau2": self.se_tau2,
            "tau": self.tau,
            "i2": self.i2,
            "h2": self.h2,
            "q": self.q,
            "q_df": self.q_df,
            "q_pval": self.q_pval,
            "qm": self.qm,
            "qm_pval": self.qm_pval,
            "r2": self.r2,
            "ll": self.ll,
            "aic": self.aic,
            "bic": self.bic,
        }
        if self.measure is not None:
            row["measure"] = self.measure
        return pd.DataFrame([row])


_REQUIRED = object()


def _field_defaults() -> dict[str, Any]:
    """Field name -> a function giving its default (``_REQUIRED`` when there is none)."""
    out: dict[str, Any] = {}
    for f in fields(RMAResultBase):
        if f.default is not MISSING:
            out[f.name] = (lambda x=f.default: x)
        elif f.default_factory is not MISSING:
            out[f.name] = f.default_factory
        else:
            out[f.name] = _REQUIRED
    return out


_FIELDS = _field_defaults()

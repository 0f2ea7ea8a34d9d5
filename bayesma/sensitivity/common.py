"""Shared pieces of the sensitivity analyses: reading the studies, fitting both engines.

Every public function of :mod:`bayesma.sensitivity` accepts a study table (with the
usual ``yi``/``vi`` column arguments) or, where it makes sense, a finished result
(:class:`~bayesma.bayes.exact.ExactPosterior`, :class:`~bayesma.bayes.fit.BayesFit`),
from which the studies, the measure and the priors are taken.
"""

from __future__ import annotations

import importlib
import math
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayesma.bayes.exact import ExactPosterior, exact_posterior_arrays
from bayesma.bayes.fit import BayesFit
from bayesma.classical.rma import fit_arrays
from bayesma.data import (
    effect_arrays,
    find_label_column,
    study_labels,
)
from bayesma.errors import BayesmaError, DataError
from bayesma.priors import default_priors

#: Plot functions of the sensitivity results, by result class name. ``bayesma.plots``
#: registers them when it is imported (the way pandas finds its plotting backend), so
#: this layer never imports the plotting layer above it.
PLOTTERS: dict[str, Any] = {}


def register_plotter(result_class: str, plot: Any) -> None:
    """Register ``plot`` as the figure of results of class ``result_class``."""
    PLOTTERS[result_class] = plot


def plot_result(result: Any, **kwargs: Any) -> Any:
    """Draw ``result`` with the plot function registered for its class."""
    if type(result).__name__ not in PLOTTERS:
        importlib.import_module("bayesma.plots")  # registers the plotters
    return PLOTTERS[type(result).__name__](result, **kwargs)

__all__ = ["Studies", "read_studies", "resolve_priors", "classical_fit", "exact_fit",
           "classical_heterogeneity", "label_list", "progress_enabled"]


@dataclass(frozen=True)
class Studies:
    """The studies of an analysis as arrays, with their table and settings.

    Attributes
    ----------
    yi, vi : ndarray
        Effect sizes and sampling variances.
    labels : list of str
        Unique study labels.
    data : DataFrame or None
        The rows used (None when built from arrays only).
    measure : str or None
        Effect measure.
    slab : str or None
        Label column of ``data``.
    priors : dict
        Priors carried by a result passed in place of a table (else empty).
    source : object
        The result passed in place of a table (else None).
    """

    yi: np.ndarray
    vi: np.ndarray
    labels: list[str]
    data: pd.DataFrame | None
    measure: str | None
    slab: str | None
    priors: dict[str, Any]
    source: Any = None

    @property
    def k(self) -> int:
        """Number of studies."""
        return int(self.yi.size)

    def subset(self, keep: np.ndarray) -> Studies:
        """The studies where the boolean array ``keep`` is True."""
        keep = np.asarray(keep, dtype=bool)
        data = self.data.loc[keep] if self.data is not None else None
        return Studies(self.yi[keep], self.vi[keep],
                       [lab for lab, kk in zip(self.labels, keep, strict=True) if kk],
                       data, self.measure, self.slab, dict(self.priors), None)


def read_studies(data: Any, yi: str = "yi", vi: str = "vi", *, sei: str | None = None,
                 slab: str | None = None, measure: str | None = None) -> Studies:
    """Validated study arrays from a table, an ExactPosterior or a BayesFit.

    Parameters
    ----------
    data : DataFrame, ExactPosterior or BayesFit
        The study table, or a result whose data and priors are reused.
    yi, vi, sei, slab : str
        Column names (tables only); ``sei`` replaces ``vi`` by ``sei**2``.
    measure : str, optional
        Effect measure; default ``data.attrs["measure"]`` or the result's measure.

    Raises
    ------
    DataError
        Missing or invalid values, naming column and row (see :mod:`bayesma.data`).
    """
    if isinstance(data, ExactPosterior):
        if getattr(data, "p", 1) != 1:
            raise BayesmaError("sensitivity analyses need an intercept-only model; this "
                               "exact posterior is a meta-regression")
        return Studies(np.asarray(data.yi, float), np.asarray(data.vi, float),
                       list(data.labels), data.data, measure or data.measure, slab,
                       dict(data.priors), data)
    if isinstance(data, BayesFit):
        m = data.model
        if getattr(m, "model_name", "") not in ("RandomEffects",):
            raise BayesmaError(
                f"sensitivity analyses of a fit need a RandomEffects model, got "
                f"{getattr(m, 'model_name', type(m).__name__)}")
        return Studies(np.asarray(m.yi, float), np.asarray(m.vi, float), list(m.labels),
                       m.data, measure or m.measure, m.slab, dict(m.priors), data)
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame (or an ExactPosterior / BayesFit), "
                        f"got {type(data).__name__}")
    label_col = find_label_column(data, slab)
    y, v = effect_arrays(data, yi, vi, sei=sei, slab=label_col)
    if measure is None:
        measure = data.attrs.get("measure")
    return Studies(y, v, study_labels(data, label_col), data, measure, label_col, {}, None)


def resolve_priors(st: Studies, mu_prior: Any, tau_prior: Any) -> tuple[Any, Any]:
    """The mu and tau priors: given ones, else those of a result, else the defaults."""
    mu = mu_prior if mu_prior is not None else st.priors.get("mu")
    tau = tau_prior if tau_prior is not None else st.priors.get("tau")
    if mu is None or tau is None:
        d = default_priors(st.measure, st.yi, st.vi)
        mu = mu if mu is not None else d["mu"]
        tau = tau if tau is not None else d["tau"]
    return mu, tau


def classical_fit(st: Studies, method: str | None, test: str, level: float, *,
                  with_data: bool = True):
    """The classical twin (``fit_arrays``) or None when ``method`` is None.

    ``with_data=False`` leaves the table out of the fit, which makes its refits
    (leave-one-out, influence) cheaper. Failures (for instance k = 1 with
    Knapp-Hartung) are reported as a warning and give None, so the Bayesian part of an
    analysis still runs.
    """
    if not method:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fit_arrays(st.yi, st.vi, method=method, test=test, level=level,
                              labels=st.labels, measure=st.measure,
                              data=st.data if with_data else None)
    except BayesmaError as exc:
        warnings.warn(f"classical fit ({method}, {test}) not available: {exc}", stacklevel=3)
        return None


def exact_fit(st: Studies, mu_prior: Any, tau_prior: Any, level: float):
    """The exact posterior of the random-effects model for these studies (no twin)."""
    return exact_posterior_arrays(st.yi, st.vi, labels=st.labels, mu_prior=mu_prior,
                                  tau_prior=tau_prior, measure=st.measure, level=level)


def classical_heterogeneity(res: Any, level: float) -> tuple[float, float, float]:
    """(tau, low, high): the estimate and its Q-profile CI (Viechtbauer 2007), NaN if n/a."""
    if res is None:
        return (math.nan, math.nan, math.nan)
    try:
        ci = res.confint(level=level)
        return tuple(float(x) for x in ci.tau)  # type: ignore[return-value]
    except Exception:  # noqa: BLE001 - the interval is informative only
        return (float(res.tau), math.nan, math.nan)


def label_list(labels: Sequence[str], limit: int = 6) -> str:
    """``'A', 'B' and 3 more``."""
    labels = list(labels)
    shown = ", ".join(repr(lab) for lab in labels[:limit])
    if len(labels) > limit:
        shown += f" and {len(labels) - limit} more"
    return shown


def progress_enabled(progress: bool | None) -> bool:
    """Whether a sweep shows a progress bar: ``None`` means only on a terminal.

    Bars are drawn on ``sys.stderr`` (tqdm's default); when it is not a terminal (a log
    file, CI, a pipe) they would write control characters into the log, so they are off
    unless asked for with ``progress=True``.
    """
    if progress is None:
        stream = sys.stderr
        return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())
    return bool(progress)

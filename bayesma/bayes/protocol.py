"""The one protocol every Bayesian result satisfies (exact engine, MCMC fits, later models).

Callers (summaries, plots, sensitivity analyses, the report) dispatch on
``isinstance(x, Posterior)``, never on class names or attribute sniffing.

Parameters are named by strings: ``"mu"``, ``"tau"``, ``"tau2"``, ``"i2"`` (percent, as
metafor), ``"h2"``, ``"theta_new"``, ``"theta"`` (a Series by study label), ``"beta"`` (a
Series by term), model-specific ones (``"nu"``, ``"mu_centered"``), and one element of an
indexed parameter in brackets: ``"theta[<study>]"``, ``"beta[<term>]"``, ``"mu[<level>]"``,
``"tau[<level>]"``.

Signatures (one set for every engine):

* ``mean/sd/median(param)``, ``quantile(param, q)`` (q in [0, 1], else BayesmaError);
* ``interval(param, prob=None, kind="eti")`` with ``prob=None`` meaning ``self.level``,
  returning ``(low, high)`` (a DataFrame ``low, high`` for vector parameters);
* ``prob_less(param, value=0.0)``;
* ``draws(param, *, n=None, random_seed=None)``: ``n=None`` gives the engine's default
  (MCMC: every stored draw, chains concatenated; exact: 4000 i.i.d. draws);
* ``summary(prob=None) -> DataFrame`` (built by :func:`bayesma.bayes.table.posterior_table`);
* ``to_datatree(*, n=None, random_seed=None) -> xarray.DataTree``;
* attributes ``labels``, ``data``, ``measure``, ``priors``, ``classical``, ``level``.

:class:`SummarySource` adds what :func:`~bayesma.bayes.table.posterior_table` needs from
an engine: its per-row statistics and ``E[exp(x)]`` for log-scale measures.
"""

from __future__ import annotations

import math
import re
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from bayesma.errors import BayesmaError

__all__ = ["Posterior", "SummarySource", "parse_param", "resolve_prob",
           "check_quantile_probs", "n_draws", "STAT_COLUMNS"]

#: the statistics columns every engine's ``summary_stats`` starts with
STAT_COLUMNS = ["mean", "sd", "median", "eti_low", "eti_high", "hdi_low", "hdi_high"]

_PARAM_RE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z_0-9]*)(?:\[(?P<idx>.*)\])?$", re.S)


@runtime_checkable
class Posterior(Protocol):
    """A Bayesian meta-analysis result (see the module documentation)."""

    labels: list[str]
    data: pd.DataFrame | None
    measure: str | None
    priors: dict[str, Any]
    classical: Any
    level: float

    def mean(self, param: str) -> Any:
        """Posterior mean."""

    def sd(self, param: str) -> Any:
        """Posterior standard deviation."""

    def median(self, param: str) -> Any:
        """Posterior median."""

    def quantile(self, param: str, q: Any) -> Any:
        """Posterior quantile(s)."""

    def interval(self, param: str, prob: float | None = None, kind: str = "eti") -> Any:
        """Credible interval; ``prob=None`` means :attr:`level`."""

    def prob_less(self, param: str, value: float = 0.0) -> Any:
        """``P(param < value)``."""

    def draws(self, param: str, *, n: int | None = None, random_seed: Any = None
              ) -> np.ndarray:
        """Posterior draws ((n,) or (n, m) arrays)."""

    def summary(self, prob: float | None = None) -> pd.DataFrame:
        """The wide summary table."""

    def to_datatree(self, *, n: int | None = None, random_seed: Any = None) -> Any:
        """The draws as an ``xarray.DataTree``."""


@runtime_checkable
class SummarySource(Protocol):
    """What :func:`bayesma.bayes.table.posterior_table` asks an engine for."""

    def summary_stats(self, prob: float, *, theta: bool = True) -> pd.DataFrame:
        """One row per parameter (labels such as ``"mu"``, ``"theta[<study>]"``) in
        display order, columns :data:`STAT_COLUMNS` plus engine extras (MCMC
        diagnostics); may include ``P(<row> > 0)`` / ``P(<row> < 0)`` rows. Its ``attrs``
        (model, priors, sampler) are copied onto the table."""

    def mean_exp(self, param: str) -> float:
        """``E[exp(param)]`` (the back-transformed mean for log-scale measures)."""

    def classical_fit(self, method: str | None = None, test: str | None = None) -> Any:
        """The classical twin with another estimator / test (None: the default twin)."""


def parse_param(param: Any) -> tuple[str, str | None]:
    """``"beta[ablat]"`` -> ``("beta", "ablat")``; ``"mu"`` -> ``("mu", None)``.

    Raises
    ------
    BayesmaError
        When ``param`` is not a string of that form.
    """
    if not isinstance(param, str):
        raise BayesmaError(f"param must be a string such as 'mu' or 'theta[<study>]', "
                           f"got {param!r}")
    mt = _PARAM_RE.match(param.strip())
    if not mt:
        raise BayesmaError(f"cannot read parameter {param!r}; use a name such as 'mu' or "
                           "an element such as 'theta[<study>]'")
    return mt.group("name"), mt.group("idx")


def resolve_prob(prob: Any, level: float) -> float:
    """``prob`` as a probability in (0, 1); ``None`` means ``level``."""
    if prob is None:
        return float(level)
    try:
        p = float(prob)
    except (TypeError, ValueError):
        raise BayesmaError(f"prob must be a number in (0, 1), got {prob!r}") from None
    if not (0.0 < p < 1.0):  # also rejects NaN
        raise BayesmaError(f"prob must be in (0, 1), got {prob!r}")
    return p


def check_quantile_probs(q: Any) -> np.ndarray:
    """Quantile probabilities as a 1-D float array; NaN or outside [0, 1] -> BayesmaError."""
    try:
        qa = np.atleast_1d(np.asarray(q, dtype=float))
    except (TypeError, ValueError):
        raise BayesmaError(f"quantile probabilities must be numbers in [0, 1], got {q!r}"
                           ) from None
    if qa.ndim > 1:
        qa = qa.ravel()
    if qa.size == 0:
        raise BayesmaError("quantile: no probabilities given")
    if not np.all(np.isfinite(qa)) or np.any((qa < 0) | (qa > 1)):
        raise BayesmaError(f"quantile probabilities must be in [0, 1], got {q!r}")
    return qa


def n_draws(n: Any, default: int) -> int:
    """A draw count: None -> ``default``; a positive integer otherwise."""
    if n is None:
        return int(default)
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        if isinstance(n, float) and math.isfinite(n) and n == int(n):
            n = int(n)
        else:
            raise BayesmaError(f"n must be a positive integer, got {n!r}")
    if n < 1:
        raise BayesmaError(f"n must be >= 1, got {n}")
    return int(n)

"""Exact posterior of a subgroup analysis: one random-effects model per level.

:func:`exact_subgroups` is the exact-engine twin of :func:`bayesma.subgroup` (metafor's
"separate fits per level"; Borenstein et al. 2009, ch. 19): within each level ``g`` of a
categorical column,

    y_i ~ N(theta_i, v_i),  theta_i ~ N(mu_g, tau_g²),  mu_g ~ mu_prior, tau_g ~ tau_prior,

with the same priors in every level, so the levels are independent a posteriori and each
is an :class:`~bayesma.bayes.exact.ExactPosterior` (bayesmeta's quadrature over tau;
Röver 2020, J Stat Softw 93(6)). The result also holds the posterior of all studies
together and the posterior of the pairwise differences ``mu_a - mu_b`` between levels,
so that plots and reports read them instead of computing them.

For independent levels the difference ``D = mu_a - mu_b`` has

    P(D <= d) = sum_{g,h} w_a,g w_b,h Phi((d - M_a,g + M_b,h) / sqrt(S_a,g² + S_b,h²)),

a Normal mixture over pairs of tau nodes, since each level's mu is a Normal mixture over
its own tau nodes; its mean and SD are exact (``E mu_a - E mu_b``,
``sqrt(sd_a² + sd_b²)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from bayesma.bayes.exact import ExactPosterior, exact_posterior
from bayesma.bayes.exact.mixture import mixture_cdf_pdf, mixture_quantile
from bayesma.classical.subgroup import SubgroupResult, subgroup
from bayesma.data import effect_arrays, find_label_column, require_columns
from bayesma.errors import BayesmaError, DataError
from bayesma.priors import default_priors

__all__ = ["ExactSubgroups", "LevelDifference", "exact_subgroups"]

_TAU_MODES = {"per_level": "per_level", "separate": "per_level"}


@dataclass(frozen=True)
class LevelDifference:
    """Posterior of ``mu_a - mu_b`` for two independent levels (exact engine).

    Attributes
    ----------
    a, b : str
        The levels compared (``mu_a - mu_b``).
    mean, sd : float
        Exact posterior mean and SD of the difference.
    """

    a: str
    b: str
    mean: float
    sd: float
    _post_a: ExactPosterior = field(repr=False)
    _post_b: ExactPosterior = field(repr=False)

    def _mixture(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Normal-mixture form ``(M, S, w)`` of the difference, one row.

        Given the tau nodes ``g`` of level a and ``h`` of level b, mu_a and mu_b are
        independent Normals (Röver 2020, sec. 2.4), so ``mu_a - mu_b`` is the mixture of
        ``N(M_a,g - M_b,h, S_a,g² + S_b,h²)`` with weights ``w_a,g w_b,h``: exact, no grid.
        Components with weight below 1e-18 of the largest are left out (their total mass
        is below 1e-13).
        """
        ma, sa, wa = self._post_a.mu_mixture()
        mb, sb, wb = self._post_b.mu_mixture()
        w = np.outer(wa, wb)
        keep = w > 1e-18 * w.max()
        M = np.subtract.outer(ma, mb)[keep]
        S = np.sqrt(np.add.outer(sa * sa, sb * sb))[keep]
        w = w[keep]
        return M[None, :], S[None, :], w / w.sum()

    def cdf(self, d: float) -> float:
        """P(mu_a - mu_b <= d), exactly from the mixture of the two levels' mixtures."""
        M, S, w = self._mixture()
        F, _ = mixture_cdf_pdf(np.array([float(d)]), M, S, w)
        return float(np.clip(F[0], 0.0, 1.0))

    def prob_greater(self, value: float = 0.0) -> float:
        """P(mu_a - mu_b > value)."""
        return 1.0 - self.cdf(value)

    def quantile(self, q: float) -> float:
        """The q-quantile of the difference (safeguarded Newton on the exact mixture)."""
        if not 0 < q < 1:
            raise BayesmaError(f"q must be in (0, 1), got {q}")
        M, S, w = self._mixture()
        return float(mixture_quantile(np.array([float(q)]), M, S, w)[0])

    def median(self) -> float:
        """Posterior median of the difference."""
        return self.quantile(0.5)

    def interval(self, prob: float = 0.95) -> tuple[float, float]:
        """Equal-tailed credible interval."""
        a = (1 - prob) / 2
        return self.quantile(a), self.quantile(1 - a)


@dataclass(frozen=True, eq=False)
class ExactSubgroups:
    """Result of :func:`exact_subgroups`.

    Attributes
    ----------
    by : str
        The grouping column.
    levels : tuple of str
        Its levels, in the order of :func:`bayesma.subgroup` (R's ``factor()`` order).
    fits : dict
        Level -> :class:`~bayesma.bayes.exact.ExactPosterior` of the studies in that level.
    overall : ExactPosterior
        All studies in one random-effects model (with its classical twin).
    classical : SubgroupResult
        The classical subgroup analysis (per-level fits, Q-between, QM) with the twin's
        estimator and test.
    tau : str
        ``"per_level"``: each level its own tau (separate models).
    priors : dict
        ``{"mu": Prior, "tau": Prior}`` used in every level and overall.
    measure : str or None
    level : float
        Default probability of credible intervals.
    data : DataFrame
        The rows used (missing ``by`` dropped).
    """

    by: str
    levels: tuple[str, ...]
    fits: dict[str, ExactPosterior]
    overall: ExactPosterior
    classical: SubgroupResult
    tau: str
    priors: dict[str, Any]
    measure: str | None
    level: float
    data: pd.DataFrame

    def difference(self, a: str, b: str) -> LevelDifference:
        """Posterior of ``mu_a - mu_b``."""
        for lev in (a, b):
            if lev not in self.fits:
                raise BayesmaError(f"unknown level {lev!r} of {self.by!r}; levels: "
                                   f"{list(self.levels)}")
        pa, pb = self.fits[a], self.fits[b]
        return LevelDifference(a, b, float(pa.mean("mu")) - float(pb.mean("mu")),
                               math.hypot(float(pa.sd("mu")), float(pb.sd("mu"))), pa, pb)

    def level_table(self, prob: float | None = None) -> pd.DataFrame:
        """Per-level posterior of mu: ``k, mean, sd, median, low, high`` (model scale)."""
        prob = self.level if prob is None else prob
        rows = []
        for lev in self.levels:
            p = self.fits[lev]
            lo, hi = p.interval("mu", prob=prob)
            rows.append({"k": len(p.labels), "mean": float(p.mean("mu")),
                         "sd": float(p.sd("mu")), "median": float(p.median("mu")),
                         "low": float(lo), "high": float(hi)})
        return pd.DataFrame(rows, index=pd.Index(list(self.levels), name=self.by))

    def differences(self, prob: float | None = None) -> pd.DataFrame:
        """Every pairwise difference ``mu_a - mu_b`` (a before b in level order).

        Columns ``a, b, mean, sd, median, low, high, prob_greater`` (P(mu_a > mu_b)),
        indexed ``"a - b"``.
        """
        prob = self.level if prob is None else prob
        rows, index = [], []
        for a, b in combinations(self.levels, 2):
            d = self.difference(a, b)
            lo, hi = d.interval(prob)
            rows.append({"a": a, "b": b, "mean": d.mean, "sd": d.sd, "median": d.median(),
                         "low": lo, "high": hi, "prob_greater": d.prob_greater(0.0)})
            index.append(f"{a} - {b}")
        return pd.DataFrame(rows, index=pd.Index(index, name="difference"))

    def summary(self, digits: int = 3) -> str:
        """Per-level posteriors of mu and the pairwise differences."""
        pr = ", ".join(f"{k} ~ {v}" for k, v in self.priors.items())
        lines = [f"Exact subgroup posteriors by {self.by!r} (tau {self.tau}; {pr}; "
                 f"{100 * self.level:g}% CrI)", ""]
        fmt = {"float_format": lambda x: f"{x:.{digits}f}"}
        lines += [self.level_table().to_string(**fmt), "",
                  "Differences between levels:", self.differences().to_string(**fmt)]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<ExactSubgroups by={self.by!r} levels={list(self.levels)}>"


def exact_subgroups(
    data: pd.DataFrame,
    by: str,
    yi: str = "yi",
    vi: str = "vi",
    *,
    mu_prior: Any = None,
    tau_prior: Any = None,
    tau: str = "per_level",
    measure: str | None = None,
    slab: str | None = None,
    sei: str | None = None,
    level: float = 0.95,
    classical: str = "REML",
    classical_test: str = "knha",
) -> ExactSubgroups:
    """Exact posterior of every level of a subgroup analysis, with their differences.

    Parameters
    ----------
    data : DataFrame
        One row per study.
    by : str
        Categorical column defining the subgroups (levels ordered as
        :func:`bayesma.subgroup` orders them; rows with a missing value are dropped with a
        warning, as there).
    yi, vi, sei, slab : str
        Columns, as :func:`bayesma.exact_posterior`.
    mu_prior, tau_prior : Prior, optional
        Priors used in every level (default: ``bayesma.priors.default_priors`` on all
        studies, so every level gets the same priors).
    tau : {"per_level", "separate"}
        Heterogeneity per level (separate models; ``"separate"`` is an alias). A tau
        shared by the levels needs the MCMC model ``bm.Subgroups(..., tau="shared")``.
    measure : str, optional
        Effect measure (default ``data.attrs["measure"]``).
    level : float
        Default probability of credible intervals.
    classical, classical_test : str
        Estimator and test of the classical twin (:func:`bayesma.subgroup` and the
        overall model).

    Returns
    -------
    ExactSubgroups

    Raises
    ------
    DataError
        ``by`` missing, fewer than two levels, invalid effect sizes (naming column, row).
    BayesmaError
        Unknown ``tau`` mode.
    """
    mode = _TAU_MODES.get(tau)
    if mode is None:
        raise BayesmaError(f"tau must be 'per_level' (alias 'separate'), got {tau!r}; a tau "
                           "shared by the levels needs the MCMC model bm.Subgroups("
                           "..., tau='shared')")
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    require_columns(data, [yi, by], what="subgroups")
    if measure is None:
        measure = data.attrs.get("measure")
    label_col = find_label_column(data, slab)
    sub = subgroup(data, yi=yi, vi=vi, by=by, method=classical, test=classical_test,
                   level=level, slab=label_col)
    used = data.loc[data[by].notna().to_numpy()]
    if mu_prior is None or tau_prior is None:
        y, v = effect_arrays(used, yi, vi, sei=sei, slab=label_col)
        d = default_priors(measure, y, v)
        mu_prior = d["mu"] if mu_prior is None else mu_prior
        tau_prior = d["tau"] if tau_prior is None else tau_prior
    common = {"yi": yi, "vi": vi, "mu_prior": mu_prior, "tau_prior": tau_prior,
              "measure": measure, "slab": label_col, "sei": sei, "level": level}
    fits: dict[str, ExactPosterior] = {}
    for lev, f in sub.fits.items():
        fits[str(lev)] = exact_posterior(f.data, classical=None, **common)
    overall = exact_posterior(used, classical=classical, classical_test=classical_test,
                              **common)
    return ExactSubgroups(by=by, levels=tuple(fits), fits=fits, overall=overall,
                          classical=sub, tau=mode, priors={"mu": mu_prior, "tau": tau_prior},
                          measure=measure, level=level, data=used)

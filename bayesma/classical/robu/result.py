"""The result of ``robu`` (:class:`RobuResult`): coefficients, variance components, the
printout of robumeta's ``print.robu`` and the rho sensitivity analysis (``sensitivity``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayesma.classical.first_term import FirstTermMixin
from bayesma.classical.robu.inference import RobuCoefficients, robu_coefficients
from bayesma.classical.robu.working import Clusters, CorrMoments, corr_weights
from bayesma.errors import SpecError
from bayesma.tails import t_isf, t_sf

__all__ = ["COEF_COLUMNS", "RobuResult", "coef_frame"]

COEF_COLUMNS = ["estimate", "se", "stat", "df", "pval", "ci_low", "ci_high"]
DEFAULT_RHOS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def coef_frame(est: RobuCoefficients, terms: list[str]) -> pd.DataFrame:
    """The coefficient table: t tests on each term's df, 95% intervals (robu.R)."""
    b, se, df = est.beta, est.se, est.df
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = b / se
    crit = t_isf(0.025, df)
    return pd.DataFrame(
        {"estimate": b, "se": se, "stat": stat, "df": df,
         "pval": 2.0 * t_sf(np.abs(stat), df),
         "ci_low": b - crit * se, "ci_high": b + crit * se},
        index=pd.Index(terms, name="term"))[COEF_COLUMNS]


def _r_format(values: np.ndarray, digits: int = 3) -> list[str]:
    """A column as R's ``format(x, digits = 3)``: the decimals the smallest value needs."""
    finite = [abs(x) for x in values if math.isfinite(x) and x != 0]
    dec = 0
    for a in finite:
        dec = max(dec, digits - 1 - math.floor(math.log10(a)))
    dec = min(dec, 7)
    return [f"{x:.{dec}f}" if math.isfinite(x) else "NA" for x in values]


def _stars(p: float) -> str:
    """robumeta's codes: ``***`` < .01, ``**`` < .05, ``*`` < .10."""
    if not math.isfinite(p):
        return ""
    return "***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.1 else ""


@dataclass(frozen=True, eq=False, repr=False)
class RobuResult(FirstTermMixin):
    """A robust variance estimation fit (robumeta 2.0's ``robu`` object).

    Attributes
    ----------
    coef : DataFrame
        Indexed by term (``"intrcpt"`` first), columns
        ``estimate, se, stat, df, pval, ci_low, ci_high`` (t tests on each term's df).
    vcov : ndarray
        Robust covariance of the coefficients; ``sqrt(diag(vcov))`` are the SEs (for
        ``small=False`` it includes robumeta's ``N / (N - p)`` factor).
    tau2 : float or None
        Between-cluster variance (CORR: between-study; HIER: between-cluster); None with
        user weights.
    omega2 : float or None
        HIER only: the within-cluster (between-effects) variance.
    i2 : float or None
        CORR only: robumeta's I² in percent.
    rho : float or None
        CORR only: the assumed within-cluster correlation.
    n_clusters, k : int
        Numbers of clusters and of effect sizes; ``k_per_cluster`` per cluster.
    weights : ndarray
        The final weights of the rows, in the order of the data.
    userweights : str or None
        The column of user-specified weights (then ``modelweights`` is ignored and
        ``tau2`` is None).
    """

    modelweights: str
    small: bool
    rho: float | None
    coef: pd.DataFrame
    vcov: np.ndarray
    tau2: float | None
    omega2: float | None
    i2: float | None
    moments: Any
    n_clusters: int
    k: int
    k_per_cluster: np.ndarray
    yi: np.ndarray
    vi: np.ndarray
    X: np.ndarray
    terms: list[str]
    cluster: np.ndarray
    cluster_levels: list
    weights: np.ndarray
    formula: str
    columns: tuple[str, str, str]
    userweights: str | None = None

    # ------------------------------------------------------------ coefficients
    @property
    def beta(self) -> np.ndarray:
        """The coefficients, in the order of :attr:`terms`."""
        return self.coef["estimate"].to_numpy(dtype=float)

    @property
    def p(self) -> int:
        """Number of coefficients."""
        return len(self.terms)

    @property
    def df(self) -> float:
        """Degrees of freedom of the first term's test."""
        return self._first("df")

    @property
    def label(self) -> str:
        """robumeta's model label."""
        kind = ("User Specified Weights" if self.userweights is not None
                else "Correlated Effects Model" if self.modelweights == "CORR"
                else "Hierarchical Effects Model")
        return f"RVE: {kind}" + (" with Small-Sample Corrections" if self.small else "")

    # ------------------------------------------------------------ sensitivity
    def sensitivity(self, rho: Sequence[float] = DEFAULT_RHOS) -> pd.DataFrame:
        """Estimates at other values of rho (robumeta's ``sensitivity()``; CORR only).

        Parameters
        ----------
        rho : sequence of float
            Correlations in [0, 1] (default 0, 0.2, ..., 1 as robumeta).

        Returns
        -------
        DataFrame
            One row per rho (index ``rho``): ``estimate`` and ``se`` of the first term
            (the intercept), ``tau2``, then ``estimate[<term>]`` and ``se[<term>]`` for
            every term (robumeta shows all coefficients). Each row repeats ``robu`` with
            the new tau² (robust SEs as the fit: small-sample or not).

        Raises
        ------
        SpecError
            For a HIER fit (as robumeta) or a rho outside [0, 1].
        """
        if self.modelweights != "CORR" or not isinstance(self.moments, CorrMoments):
            raise SpecError("sensitivity() to rho applies to the correlated-effects model "
                            "(modelweights='CORR'); the hierarchical model and user "
                            "weights have no rho")
        rhos = np.atleast_1d(np.asarray(rho, dtype=float)).ravel()
        if rhos.size == 0 or not np.all(np.isfinite(rhos)) or np.any((rhos < 0) | (rhos > 1)):
            raise SpecError(f"rho must be correlations in [0, 1], got {list(rhos)}")
        order = np.argsort(self.cluster, kind="stable")
        cl = Clusters.from_sorted_codes(self.cluster[order])
        y, v, X = self.yi[order], self.vi[order], self.X[order]
        rows = []
        for r in rhos:
            tau2 = self.moments.tau2(float(r))
            est = robu_coefficients(y, X, corr_weights(v, cl, tau2), cl, small=self.small,
                                    working="CORR")
            row: dict[str, float] = {"estimate": est.beta[0], "se": est.se[0], "tau2": tau2}
            for t, b, s in zip(self.terms, est.beta, est.se, strict=True):
                row[f"estimate[{t}]"] = b
                row[f"se[{t}]"] = s
            rows.append(row)
        return pd.DataFrame(rows, index=pd.Index(rhos, name="rho"))

    # ------------------------------------------------------------ display
    def to_frame(self) -> pd.DataFrame:
        """The coefficient table (a copy of :attr:`coef`)."""
        return self.coef.copy()

    def __repr__(self) -> str:
        kind = "USER" if self.userweights is not None else self.modelweights
        return (f"<RobuResult {kind} small={self.small} N={self.n_clusters} "
                f"k={self.k} estimate={self.estimate:.4f} se={self.se:.4f} "
                f"tau2={self.tau2 if self.tau2 is not None else float('nan'):.4g}>")

    def __str__(self) -> str:
        return self.summary()

    def summary(self, digits: int = 3) -> str:
        """A printout in the layout of robumeta's ``print.robu``."""
        kp = self.k_per_cluster
        unit = ("clusters" if self.modelweights == "HIER" and self.userweights is None
                else "studies")
        med = float(np.median(kp))
        med_txt = f"{med:g}"
        out = [self.label, "", f"Model: {self.formula}", "",
               f"Number of {unit} = {self.n_clusters}",
               f"Number of outcomes = {self.k} (min = {kp.min()}, mean = {kp.mean():.3g}, "
               f"median = {med_txt}, max = {kp.max()})"]
        if self.userweights is None and self.modelweights == "CORR":
            out += [f"Rho = {self.rho:g}", f"I.sq = {self.i2:.7g}", f"Tau.sq = {self.tau2:.7g}"]
        elif self.userweights is None:
            out += [f"Omega.sq = {self.omega2:.7g}", f"Tau.sq = {self.tau2:.7g}"]
        out.append("")
        heads = ["", "Estimate", "StdErr", "t-value", "dfs", "P(|t|>)", "95% CI.L",
                 "95% CI.U", "Sig"]
        c = self.coef
        cols = [[str(t) for t in c.index]]
        for name in ("estimate", "se", "stat", "df", "pval", "ci_low", "ci_high"):
            cols.append(_r_format(c[name].to_numpy(dtype=float), digits))
        cols.append([_stars(p) for p in c["pval"]])
        widths = [max(len(h), *(len(x) for x in col)) for h, col in zip(heads, cols, strict=True)]
        out.append("  ".join(h.rjust(w) if i else h.ljust(w)
                             for i, (h, w) in enumerate(zip(heads, widths, strict=True))))
        for r in range(len(c)):
            out.append("  ".join(
                col[r].rjust(w) if i not in (0, 8) else col[r].ljust(w)
                for i, (col, w) in enumerate(zip(cols, widths, strict=True))))
        out += ["---", "Signif. codes: < .01 *** < .05 ** < .10 *", "---"]
        if self.small:
            out.append("Note: If df < 4, do not trust the results")
            low = [f"{t} (df = {d:.2f})" for t, d in zip(c.index, c["df"], strict=True) if d < 4]
            if low:
                out.append("Warning: df < 4 for " + ", ".join(low))
        return "\n".join(out)

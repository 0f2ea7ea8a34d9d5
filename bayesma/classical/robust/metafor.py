"""metafor 3.8's ``robust()``: CR1 with ``J - p`` df, or CR2 with Satterthwaite df
(``clubSandwich=True``); see :mod:`bayesma.classical.robust` for the formulas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bayesma.classical.multilevel import RMAMVResult
from bayesma.classical.printout import coef_table_lines, fmt_df
from bayesma.classical.robust.club import coef_test_cr, wald_test_cr
from bayesma.classical.robust.sandwich import cluster_codes, compute_cr, model_inputs
from bayesma.classical.settings import parse_level
from bayesma.errors import TooFewStudiesError
from bayesma.formatting import fmt_pval

__all__ = ["RobustResult", "robust"]


@dataclass(frozen=True, eq=False, repr=False)
class RobustResult:
    """Cluster-robust inference for a fitted model (metafor's ``robust()``).

    ``coef`` is a DataFrame indexed by term with ``estimate, se, stat, df, pval, ci_low,
    ci_high``; ``estimate`` ... ``ci_high`` repeat its first row. ``qm`` is the F
    statistic of the moderators (of the intercept in intercept-only models) on
    ``qm_df = (m, df2)`` df.
    """

    fit: Any
    vcov_type: str
    clubsandwich: bool
    adjust: bool
    cluster: np.ndarray
    cluster_levels: list
    n_clusters: int
    level: float
    terms: list[str]
    beta: np.ndarray
    vcov: np.ndarray
    coef: pd.DataFrame
    estimate: float
    se: float
    stat: float
    df: float
    pval: float
    ci_low: float
    ci_high: float
    qm: float
    qm_df: tuple[int, float]
    qm_pval: float
    btt: list[int]

    @property
    def int_only(self) -> bool:
        return self.fit.int_only

    def __repr__(self) -> str:
        return (
            f"<RobustResult {self.vcov_type} clusters={self.n_clusters} "
            f"estimate={self.estimate:.4f} se={self.se:.4f}>"
        )

    def __str__(self) -> str:
        return self.summary()

    def summary(self, digits: int = 4) -> str:
        """A printout in the layout of metafor's ``print.robust.rma``."""
        d = digits
        fit = self.fit
        out = [""]
        if isinstance(fit, RMAMVResult):
            out.append(f"Multivariate Meta-Analysis Model (k = {fit.k}; method: {fit.method})")
            out.append("")
            out += fit._vc_lines(d)
            out += fit._het_lines(d)
        else:
            head = fit.summary(d).split("\n")
            # keep the model header and heterogeneity part of print.rma.uni
            stop = next(
                (
                    i
                    for i, s in enumerate(head)
                    if s.startswith("Test of Moderators") or s.startswith("Model Results")
                ),
                len(head),
            )
            out = head[:stop]
        sizes = np.bincount(self.cluster)
        rng = f"{sizes.min()}" if sizes.min() == sizes.max() else f"{sizes.min()}-{sizes.max()}"
        med = float(np.median(sizes))
        med_txt = f"{med:.0f}" if med == int(med) else f"{med:g}"
        out.append(f"Number of estimates:   {fit.k}")
        out.append(f"Number of clusters:    {self.n_clusters}")
        out.append(f"Estimates per cluster: {rng} (mean: {sizes.mean():.2f}, median: {med_txt})")
        out.append("")
        if not self.int_only:
            btt = self.btt
            coefs = (
                f"coefficient {btt[0] + 1}"
                if len(btt) == 1
                else f"coefficients {btt[0] + 1}:{btt[-1] + 1}"
            )
            pm = fmt_pval(self.qm_pval)
            ptxt = "< .0001" if pm.startswith("<") else "= " + pm
            out.append(f"Test of Moderators ({coefs})\u00b9:")
            out.append(
                f"F(df1 = {self.qm_df[0]}, df2 = {fmt_df(self.qm_df[1])}) = {self.qm:.{d}f}, "
                f"p-val {ptxt}"
            )
            out.append("")
        out.append("Model Results:")
        out.append("")
        out += coef_table_lines(self.coef, d, self.int_only, with_df=True, mark="\u00b9")
        out.append("")
        out.append("---")
        out.append("Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
        out.append("")
        if self.clubsandwich:
            out.append("1) results based on cluster-robust inference (var-cov estimator: CR2,")
            out.append("   approx t-test and confidence interval, df: Satterthwaite approx)")
        else:
            adj = "CR1" if self.adjust else "CR0"
            out.append(f"1) results based on cluster-robust inference (var-cov estimator: {adj},")
            out.append("   approx t/F-tests and confidence intervals, df: residual method)")
        out.append("")
        return "\n".join(out)

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table with the settings as extra columns."""
        out = self.coef.copy()
        out["vcov"] = self.vcov_type
        out["n_clusters"] = self.n_clusters
        return out


def robust(
    fit,
    cluster,
    *,
    clubSandwich: bool = False,  # metafor's argument name
    adjust: bool = True,
    level: float | None = None,
) -> RobustResult:
    """Cluster-robust tests and confidence intervals (metafor's ``robust()``).

    Parameters
    ----------
    fit : RMAMVResult or RMAResult
        A model from :func:`~bayesma.classical.multilevel.rma_mv` or
        :func:`~bayesma.classical.rma.rma`.
    cluster : str or array_like
        Column of ``fit.data`` (e.g. ``"district"``) or one value per row used by the
        model (a pandas Series indexed like the original data also works).
    clubSandwich : bool
        ``False`` (default): metafor's own estimator, the CR1-type sandwich with the
        ``J / (J - p)`` factor when ``adjust`` is true, t tests on ``J - p`` df and an
        F test of the moderators on ``(m, J - p)`` df. ``True``: the CR2 estimator with
        Satterthwaite df for each coefficient and the HTZ test for the moderators
        (metafor delegating to clubSandwich).
    adjust : bool
        Apply the ``J / (J - p)`` small-sample factor (``clubSandwich=False`` only).
    level : float, optional
        Confidence level (default: the model's).

    Returns
    -------
    RobustResult
    """
    level = parse_level(level) if level is not None else float(fit.level)
    inp = model_inputs(fit)
    codes, levels = cluster_codes(fit, cluster)
    n = len(levels)
    p = inp.X.shape[1]
    a = 1 - level
    btt = inp.btt
    m = len(btt)
    if clubSandwich:
        cr = compute_cr(fit, codes, "CR2")
        ct = coef_test_cr(cr, "Satterthwaite")
        wt = wald_test_cr(cr, btt, "HTZ")
        vb = cr.vcov
        se = ct["SE"].to_numpy()
        tval = ct["tstat"].to_numpy()
        dfs = ct["df"].to_numpy()
        pval = ct["p"].to_numpy()
        crit = stats.t.isf(a / 2, dfs)
        qm, qm_df, qm_p = wt.Fstat, (m, float(wt.df_denom)), wt.p_val
        vtype = "CR2"
    else:
        dfs_int = n - p
        if dfs_int <= 0:
            raise TooFewStudiesError(
                f"the number of clusters ({n}) must be larger than the number of coefficients ({p})"
            )
        bread = inp.bread @ inp.wx.T  # p x k
        e = inp.y - inp.X @ inp.beta
        scores = np.zeros((p, n))
        np.add.at(scores.T, codes, (bread * e).T)
        vb = scores @ scores.T
        if adjust:
            vb = vb * (n / dfs_int)
        vb = (vb + vb.T) / 2
        se = np.sqrt(np.diag(vb))
        tval = inp.beta / se
        dfs = np.full(p, float(dfs_int))
        pval = 2 * stats.t.sf(np.abs(tval), dfs_int)
        crit = np.full(p, stats.t.isf(a / 2, dfs_int))
        bb = inp.beta[btt]
        qm = float(bb @ np.linalg.solve(vb[np.ix_(btt, btt)], bb)) / m
        qm_df = (m, float(dfs_int))
        qm_p = float(stats.f.sf(qm, m, dfs_int))
        vtype = "CR1" if adjust else "CR0"
    beta = inp.beta
    ci_lb = beta - crit * se
    ci_ub = beta + crit * se
    coef = pd.DataFrame(
        {
            "estimate": beta,
            "se": se,
            "stat": tval,
            "df": dfs,
            "pval": pval,
            "ci_low": ci_lb,
            "ci_high": ci_ub,
        },
        index=pd.Index(inp.terms, name="term"),
    )
    return RobustResult(
        fit=fit,
        vcov_type=vtype,
        clubsandwich=bool(clubSandwich),
        adjust=bool(adjust),
        cluster=codes,
        cluster_levels=levels,
        n_clusters=n,
        level=level,
        terms=inp.terms,
        beta=beta,
        vcov=vb,
        coef=coef,
        estimate=float(beta[0]),
        se=float(se[0]),
        stat=float(tval[0]),
        df=float(dfs[0]),
        pval=float(pval[0]),
        ci_low=float(ci_lb[0]),
        ci_high=float(ci_ub[0]),
        qm=float(qm),
        qm_df=qm_df,
        qm_pval=float(qm_p),
        btt=btt,
    )

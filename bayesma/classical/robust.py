"""Cluster-robust variance estimation (RVE) for meta-analytic models.

:func:`robust` mirrors metafor 3.8's ``robust()`` for :func:`~bayesma.classical.rma.rma`
and :func:`~bayesma.classical.multilevel.rma_mv` fits; :func:`coef_test`,
:func:`wald_test` and :func:`vcov_cr` mirror clubSandwich 0.5.8's ``coef_test()``,
``Wald_test()`` and ``vcovCR()``.

Notation: clusters ``j = 1..J`` (studies), ``X_j``, ``e_j = y_j - X_j b`` their rows of the
design and residuals, ``M_j`` the block of the fitted marginal covariance
(``V + sum sigma² Z Z'`` for ``rma_mv``, ``diag(vi + tau²)`` for ``rma``), ``W = M⁻¹``,
``B = (X'WX)⁻¹`` the model-based covariance of ``b`` (the "bread").

* **CR1 (metafor's default, ``robust(fit, cluster)``)**: the sandwich
  ``B (sum_j X_j'W_j e_j e_j' W_j X_j) B`` with ``W`` the inverse of the full ``M``,
  times ``J / (J - p)`` when ``adjust=True`` (Hedges, Tipton & Johnson 2010); t tests on
  ``J - p`` df and ``F = Wald / m`` on ``(m, J - p)`` df for the moderators.
* **CR2 (``clubSandwich=True``, :func:`vcov_cr`)**: the bias-reduced linearisation of
  Bell & McCaffrey (2002) and McCaffrey, Bell & Botts (2001), in the form of Tipton
  (2015) and Pustejovsky & Tipton (2018): ``sum_j B X_j'W_j A_j e_j e_j' A_j W_j X_j B``
  with adjustment matrices ``A_j = U_j' [U_j (M_j - X_j B X_j') U_j']^{-1/2} U_j``,
  ``U_j`` the upper Cholesky factor of ``M_j`` (the working model is the fitted ``M``,
  clubSandwich's ``inverse_var = TRUE``; the inverse square root drops eigenvalues
  below 1e-12, as clubSandwich's ``Sym_power``).
* **Satterthwaite df** (:func:`coef_test`): for the contrast ``c``, with
  ``w_j = A_j W_j X_j B c``, the matrix ``P_jk = [j = k] w_j'M_j w_j -
  (X_j'w_j)' B (X_k'w_k)`` (the covariance of the cluster terms under the working
  model) gives ``df = (tr P)² / sum P²`` (Bell & McCaffrey 2002; Tipton 2015).
* **HTZ Wald test** (:func:`wald_test`): Hotelling's T² approximation of Tipton &
  Pustejovsky (2015): for ``q`` constraints ``C b = 0`` with Wald statistic
  ``Q = (Cb)'(C V^CR C')⁻¹ Cb``, ``Omega = E(C V^CR C')``, the normalised ``P``-array
  ``B_st = sum Omega^{-1/2} P Omega^{-1/2}`` gives ``nu = q (q + 1) / sum_st
  [sum(B_st ∘ B_ts) + sum(B_ss ∘ B_tt)]``, ``F = (nu - q + 1) / (nu q) Q`` on
  ``(q, nu - q + 1)`` df.

References
----------
Bell, R. M., & McCaffrey, D. F. (2002). Bias reduction in standard errors for linear
regression with multi-stage samples. Survey Methodology, 28(2), 169-181.
Hedges, L. V., Tipton, E., & Johnson, M. C. (2010). Robust variance estimation in
meta-regression with dependent effect size estimates. Research Synthesis Methods, 1(1),
39-65.
Pustejovsky, J. E., & Tipton, E. (2018). Small-sample methods for cluster-robust variance
estimation and hypothesis testing in fixed effects models. Journal of Business & Economic
Statistics, 36(4), 672-683.
Tipton, E. (2015). Small sample adjustments for robust variance estimation with
meta-regression. Psychological Methods, 20(3), 375-393.
Tipton, E., & Pustejovsky, J. E. (2015). Small-sample adjustments for tests of moderators
and model fit using robust variance estimation in meta-regression. Journal of
Educational and Behavioral Statistics, 40(6), 604-634.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, stats

from bayesma.classical.multilevel import RMAMVResult, _coef_table, _fmt_df
from bayesma.classical.rma import RMAResult, _fmt_p, _level
from bayesma.data import describe_rows
from bayesma.errors import BayesmaWarning, DataError, TooFewStudiesError

__all__ = ["RobustResult", "WaldTestResult", "coef_test", "robust", "vcov_cr", "wald_test"]

VCOV_TYPES = ("CR0", "CR1", "CR2")


# ---------------------------------------------------------------------- model access
@dataclass
class _Inputs:
    y: np.ndarray
    X: np.ndarray
    beta: np.ndarray
    bread: np.ndarray  # model-based (X'WX)^-1, unscaled
    terms: list[str]
    level: float
    btt: list[int]
    marginal: Any  # idx -> block of M
    wx: np.ndarray  # M^-1 X (full M), for metafor's CR1
    inverse_var: bool
    model_blocks: list[np.ndarray]


def _inputs(fit) -> _Inputs:
    if isinstance(fit, RMAMVResult):
        wx = fit.solve_marginal(fit.X)
        bread = np.linalg.inv(fit.X.T @ wx)
        return _Inputs(
            y=fit.yi,
            X=fit.X,
            beta=fit.beta,
            bread=(bread + bread.T) / 2,
            terms=list(fit.terms),
            level=fit.level,
            btt=fit.btt,
            marginal=fit.marginal_cov,
            wx=wx,
            inverse_var=True,
            model_blocks=list(fit.blocks),
        )
    if isinstance(fit, RMAResult):
        mv = fit.vi + fit.tau2
        a = fit.user_weights
        if a is None and fit.method == "GENQ":
            a = 1.0 / fit.vi  # rma's default GENQ weights
        if a is not None:
            wx = fit.X * a[:, None]
            inverse_var = False
        else:
            wx = fit.X / mv[:, None]
            inverse_var = True
        bread = np.linalg.inv(fit.X.T @ wx)
        if fit.p > 1 and fit.intercept:
            btt = list(range(1, fit.p))
        else:
            btt = list(range(fit.p))
        return _Inputs(
            y=fit.yi,
            X=fit.X,
            beta=fit.beta,
            bread=(bread + bread.T) / 2,
            terms=list(fit.terms),
            level=fit.level,
            btt=btt,
            marginal=lambda idx: np.diag(mv[np.asarray(idx)]),
            wx=wx,
            inverse_var=inverse_var,
            model_blocks=[np.array([i]) for i in range(fit.k)],
        )
    raise DataError(
        f"robust variance estimation needs a fit from rma() or rma_mv(), got {type(fit).__name__}"
    )


def _cluster(fit, cluster) -> tuple[np.ndarray, list]:
    """Cluster codes (0..J-1 in sorted order of the values) for the rows used by ``fit``."""
    data = fit.data
    k = fit.k
    if isinstance(cluster, str):
        if data is None or cluster not in data.columns:
            avail = (
                "" if data is None else f"; available columns: {', '.join(map(str, data.columns))}"
            )
            raise DataError(f"cluster column {cluster!r} is not in the data{avail}", column=cluster)
        values = data[cluster]
        name = cluster
    else:
        name = "cluster"
        if isinstance(cluster, pd.Series) and data is not None and len(cluster) != k:
            try:
                values = cluster.loc[data.index]
            except KeyError as exc:
                raise DataError(
                    "cluster (a Series) does not cover the rows used by the model"
                ) from exc
        else:
            values = pd.Series(np.asarray(cluster, dtype=object).ravel())
            if len(values) != k:
                raise DataError(
                    f"cluster has {len(values)} values but the model uses k = {k} rows",
                    column=name,
                )
            if data is not None:
                values.index = data.index
    values = pd.Series(values)
    miss = values.isna().to_numpy()
    if miss.any():
        pos = np.flatnonzero(miss)
        where = (
            describe_rows(data, data.index[pos], positions=pos)
            if data is not None
            else f"position(s) {list(map(int, pos[:5]))}"
        )
        raise DataError(
            f"column {name!r} (cluster) has missing values at {where}; every row needs a cluster",
            column=name,
            rows=list(values.index[pos]),
        )
    vals = values.tolist()
    try:
        levels = sorted(set(vals))
    except TypeError:
        levels = sorted(set(vals), key=str)
    pos_of = {v: i for i, v in enumerate(levels)}
    return np.array([pos_of[v] for v in vals], dtype=int), levels


def _sym_power(x: np.ndarray, p: float, tol: float = 1e-12) -> np.ndarray:
    """clubSandwich's ``Sym_power``: eigenvalues above ``tol`` raised to ``p``, others 0."""
    vals, vecs = np.linalg.eigh((x + x.T) / 2)
    vp = np.zeros_like(vals)
    ok = vals > tol
    vp[ok] = vals[ok] ** p
    return (vecs * vp) @ vecs.T


@dataclass
class _CR:
    vcov: np.ndarray
    type: str
    codes: np.ndarray
    levels: list
    idx: list[np.ndarray]
    theta: list[np.ndarray]
    E: list[np.ndarray]  # p x n_j: B X_j' W_j A_j
    inp: _Inputs


def _vcov_cr(fit, cluster, vtype: str = "CR2") -> _CR:
    vtype = str(vtype).upper()
    if vtype not in VCOV_TYPES:
        raise DataError(f"vcov must be one of {VCOV_TYPES}, got {vtype!r}")
    inp = _inputs(fit)
    codes, levels = _cluster(fit, cluster)
    J = len(levels)
    if J < 2:
        raise TooFewStudiesError("cluster-robust variance estimation needs at least 2 clusters")
    if vtype == "CR2" and not inp.inverse_var:
        raise DataError(
            "CR2 is implemented for inverse-variance weighted fits; this fit has user weights"
        )
    _warn_split_blocks(inp, codes)
    idx = [np.flatnonzero(codes == j) for j in range(J)]
    B = inp.bread
    resid = inp.y - inp.X @ inp.beta
    thetas, E = [], []
    comps = np.zeros((inp.X.shape[1], J))
    for j, ix in enumerate(idx):
        th = inp.marginal(ix)
        Xj = inp.X[ix]
        if inp.inverse_var:
            U = linalg.cholesky(th, lower=False)
            Wj = linalg.cho_solve((U, False), np.eye(ix.size))
            XW = Xj.T @ Wj
        else:  # user weights (rma GENQ): W = diag(a)
            XW = inp.wx[ix].T
            U = None
        if vtype == "CR2":
            G = U @ (th - Xj @ B @ Xj.T) @ U.T
            A = U.T @ _sym_power(G, -0.5) @ U
            Ej = B @ XW @ A
        elif vtype == "CR1":
            Ej = B @ XW * np.sqrt(J / (J - 1))
        else:
            Ej = B @ XW
        thetas.append(th)
        E.append(Ej)
        comps[:, j] = Ej @ resid[ix]
    vc = comps @ comps.T
    return _CR((vc + vc.T) / 2, vtype, codes, levels, idx, thetas, E, inp)


def _warn_split_blocks(inp: _Inputs, codes: np.ndarray) -> None:
    for b in inp.model_blocks:
        if b.size > 1 and np.unique(codes[b]).size > 1:
            warnings.warn(
                "the clusters split rows that the model treats as correlated (a random "
                "effect or V links rows of different clusters); the working model of CR2 "
                "ignores those covariances (as clubSandwich)",
                BayesmaWarning,
                stacklevel=3,
            )
            return


def _p_array(cr: _CR, C: np.ndarray) -> np.ndarray:
    """clubSandwich's P array for the rows of ``C``: shape (q, q, J, J)."""
    if not cr.inp.inverse_var:
        raise DataError(
            "small-sample df (Satterthwaite, HTZ) are implemented for inverse-variance "
            "weighted fits; this fit has user weights (use test='z' or 'naive-t')"
        )
    B = cr.inp.bread
    X = cr.inp.X
    F = [C @ Ej for Ej in cr.E]  # q x n_j
    K = np.stack([Fj @ X[ix] for Fj, ix in zip(F, cr.idx, strict=True)])  # J x q x p
    P = -np.einsum("jsa,ab,ktb->stjk", K, B, K)
    for j, (Fj, th) in enumerate(zip(F, cr.theta, strict=True)):
        P[:, :, j, j] += Fj @ th @ Fj.T
    return P


def vcov_cr(fit, cluster, type: str = "CR2") -> pd.DataFrame:
    """Cluster-robust covariance matrix of the coefficients (clubSandwich's ``vcovCR``).

    Parameters
    ----------
    fit : RMAMVResult or RMAResult
        A model from :func:`~bayesma.classical.multilevel.rma_mv` or
        :func:`~bayesma.classical.rma.rma`.
    cluster : str or array_like
        Column of ``fit.data`` or one value per row used by the model.
    type : {"CR2", "CR1", "CR0"}
        ``CR2``: bias-reduced linearisation with the fitted model as working model;
        ``CR1``: CR0 times ``J / (J - 1)`` (clubSandwich's CR1, not metafor's); ``CR0``:
        the plain sandwich.

    Returns
    -------
    DataFrame
        ``p x p``, indexed by term.
    """
    cr = _vcov_cr(fit, cluster, type)
    t = cr.inp.terms
    return pd.DataFrame(cr.vcov, index=pd.Index(t, name="term"), columns=t)


def coef_test(fit, cluster, vcov: str = "CR2", test: str = "Satterthwaite") -> pd.DataFrame:
    """t tests of every coefficient with a cluster-robust SE (clubSandwich's ``coef_test``).

    Parameters
    ----------
    fit : RMAMVResult or RMAResult
    cluster : str or array_like
        Column of ``fit.data`` or one value per row used by the model.
    vcov : {"CR2", "CR1", "CR0"}
        The robust covariance estimator.
    test : {"Satterthwaite", "naive-t", "z"}
        Satterthwaite degrees of freedom (Bell & McCaffrey 2002), ``J - 1`` df, or a
        normal reference distribution.

    Returns
    -------
    DataFrame
        Indexed by term, with ``beta, SE, tstat, df, p`` (``df`` is inf for ``z``).
    """
    return _coef_test_cr(_vcov_cr(fit, cluster, vcov), test)


def _coef_test_cr(cr: _CR, test: str = "Satterthwaite") -> pd.DataFrame:
    beta = cr.inp.beta
    se = np.sqrt(np.diag(cr.vcov))
    tstat = beta / se
    tt = str(test).strip().lower()
    if tt == "satterthwaite":
        p = len(beta)
        df = np.empty(p)
        for i in range(p):
            c = np.zeros((1, p))
            c[0, i] = 1.0
            P = _p_array(cr, c)[0, 0]
            df[i] = np.trace(P) ** 2 / np.sum(P * P)
        pval = 2 * stats.t.sf(np.abs(tstat), df)
    elif tt in ("naive-t", "naive_t"):
        df = np.full(len(beta), float(len(cr.levels) - 1))
        pval = 2 * stats.t.sf(np.abs(tstat), df)
    elif tt == "z":
        df = np.full(len(beta), np.inf)
        pval = 2 * stats.norm.sf(np.abs(tstat))
    else:
        raise DataError(f"test must be 'Satterthwaite', 'naive-t' or 'z', got {test!r}")
    return pd.DataFrame(
        {"beta": beta, "SE": se, "tstat": tstat, "df": df, "p": pval},
        index=pd.Index(cr.inp.terms, name="term"),
    )


@dataclass(frozen=True)
class WaldTestResult:
    """A cluster-robust Wald test (clubSandwich's ``Wald_test``).

    ``Fstat`` is the (scaled) F statistic on ``(df_num, df_denom)`` df, ``Q`` the Wald
    statistic ``(Cb)'(C V C')⁻¹ Cb``, ``delta`` the HTZ scaling ``(nu - q + 1) / nu``.
    """

    test: str
    Fstat: float
    delta: float
    df_num: int
    df_denom: float
    p_val: float
    Q: float
    vcov: str
    constraints: np.ndarray
    terms: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        pv = _fmt_p(self.p_val)
        return (
            f"Wald test ({self.test}, {self.vcov}) of {self.df_num} constraint(s): "
            f"F = {self.Fstat:.4f} on ({self.df_num}, {_fmt_df(self.df_denom)}) df, "
            f"p-val {'< .0001' if pv.startswith('<') else '= ' + pv}"
        )


def _constraint_matrix(constraints, terms: list[str], default: list[int]) -> np.ndarray:
    p = len(terms)
    if constraints is None:
        rows = default
    elif isinstance(constraints, str):
        rows = [_term_index(constraints, terms)]
    else:
        arr = np.asarray(constraints)
        if arr.ndim == 2:
            C = arr.astype(float)
            if C.shape[1] != p:
                raise DataError(f"the constraint matrix must have {p} columns (one per term)")
            if C.shape[0] == 0:
                raise DataError("the constraint matrix has no rows")
            return C
        if arr.dtype == bool:
            if arr.size != p:
                raise DataError(f"a boolean constraint vector must have {p} entries")
            rows = list(np.flatnonzero(arr))
        else:
            rows = [_term_index(c, terms) if isinstance(c, str) else int(c) for c in arr.tolist()]
    if not rows:
        raise DataError("give at least one constraint")
    for r in rows:
        if not 0 <= r < p:
            raise DataError(
                f"constraint index {r} is out of range (0..{p - 1}; 0 is the first term)"
            )
    C = np.zeros((len(rows), p))
    for i, r in enumerate(rows):
        C[i, r] = 1.0
    return C


def _term_index(name: str, terms: list[str]) -> int:
    if name not in terms:
        raise DataError(f"term {name!r} is not in the model; terms: {', '.join(terms)}")
    return terms.index(name)


def wald_test(
    fit,
    cluster,
    constraints=None,
    vcov: str = "CR2",
    test: str = "HTZ",
) -> WaldTestResult:
    """Cluster-robust Wald test of ``C beta = 0`` (clubSandwich's ``Wald_test``).

    Parameters
    ----------
    fit : RMAMVResult or RMAResult
    cluster : str or array_like
        Column of ``fit.data`` or one value per row used by the model.
    constraints : None, str, sequence of str/int, boolean mask or matrix
        The coefficients set to zero (term names, or 0-based positions; R's
        ``constrain_zero(2:p)`` is ``range(1, p)`` here), or a ``q x p`` contrast matrix.
        Default: all coefficients but the intercept (the moderators), or the intercept in
        an intercept-only model (metafor's ``btt``).
    vcov : {"CR2", "CR1", "CR0"}
    test : {"HTZ", "chi-sq", "Naive-F"}
        Hotelling's T² approximation with Satterthwaite-type df (Tipton & Pustejovsky
        2015), the chi-square test, or F with ``J - 1`` denominator df.

    Returns
    -------
    WaldTestResult
    """
    cr = _vcov_cr(fit, cluster, vcov)
    return _wald_test_cr(cr, constraints, test)


def _wald_test_cr(cr: _CR, constraints, test: str) -> WaldTestResult:
    C = _constraint_matrix(constraints, cr.inp.terms, cr.inp.btt)
    q = C.shape[0]
    cb = C @ cr.inp.beta
    Q = float(cb @ np.linalg.solve(C @ cr.vcov @ C.T, cb))
    tt = str(test).strip()
    key = tt.lower()
    J = len(cr.levels)
    if key == "htz":
        P = _p_array(cr, C)  # q, q, J, J
        omega = np.einsum("stjj->st", P)
        on = _sym_power(omega, -0.5)
        Bst = np.einsum("sa,abjk,bt->stjk", on, P, on)
        var_mat = np.einsum("stjk,tsjk->st", Bst, Bst) + np.einsum("ssjk,ttjk->st", Bst, Bst)
        nu = q * (q + 1) / float(np.sum(var_mat))
        delta = (nu - q + 1) / nu
        df2 = nu - q + 1
        F = delta * Q / q
        pv = float(stats.f.sf(F, q, df2)) if df2 > 0 else float("nan")
        return WaldTestResult(
            "HTZ", float(F), float(delta), q, float(df2), pv, Q, cr.type, C, cr.inp.terms
        )
    if key in ("chi-sq", "chisq", "chi2"):
        return WaldTestResult(
            "chi-sq",
            Q / q,
            1.0,
            q,
            float("inf"),
            float(stats.chi2.sf(Q, q)),
            Q,
            cr.type,
            C,
            cr.inp.terms,
        )
    if key in ("naive-f", "naive_f"):
        return WaldTestResult(
            "Naive-F",
            Q / q,
            1.0,
            q,
            float(J - 1),
            float(stats.f.sf(Q / q, q, J - 1)),
            Q,
            cr.type,
            C,
            cr.inp.terms,
        )
    raise DataError(f"test must be 'HTZ', 'chi-sq' or 'Naive-F', got {test!r}")


# ---------------------------------------------------------------------- metafor's robust()
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
            pm = _fmt_p(self.qm_pval)
            ptxt = "< .0001" if pm.startswith("<") else "= " + pm
            out.append(f"Test of Moderators ({coefs})\u00b9:")
            out.append(
                f"F(df1 = {self.qm_df[0]}, df2 = {_fmt_df(self.qm_df[1])}) = {self.qm:.{d}f}, "
                f"p-val {ptxt}"
            )
            out.append("")
        out.append("Model Results:")
        out.append("")
        out += _coef_table(self.coef, d, self.int_only, with_df=True, mark="\u00b9")
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
    level = _level(level) if level is not None else float(fit.level)
    inp = _inputs(fit)
    codes, levels = _cluster(fit, cluster)
    n = len(levels)
    p = inp.X.shape[1]
    a = 1 - level
    btt = inp.btt
    m = len(btt)
    if clubSandwich:
        cr = _vcov_cr(fit, codes, "CR2")
        ct = _coef_test_cr(cr, "Satterthwaite")
        wt = _wald_test_cr(cr, btt, "HTZ")
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

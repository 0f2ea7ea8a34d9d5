"""clubSandwich 0.5.8's ``vcovCR``, ``coef_test`` (Satterthwaite df) and ``Wald_test``
(HTZ; Tipton & Pustejovsky 2015); see :mod:`bayesma.classical.robust` for the formulas.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from bayesma.classical.printout import fmt_df
from bayesma.classical.robust.sandwich import CRVcov, compute_cr, p_array, sym_power
from bayesma.errors import DataError
from bayesma.formatting import fmt_pval

__all__ = ["WaldTestResult", "coef_test", "coef_test_cr", "vcov_cr", "wald_test", "wald_test_cr"]


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
    cr = compute_cr(fit, cluster, type)
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
    return coef_test_cr(compute_cr(fit, cluster, vcov), test)


def coef_test_cr(cr: CRVcov, test: str = "Satterthwaite") -> pd.DataFrame:
    """Coefficient table of clubSandwich's ``coef_test`` from a computed covariance ``cr``."""
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
            P = p_array(cr, c)[0, 0]
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
        pv = fmt_pval(self.p_val)
        return (
            f"Wald test ({self.test}, {self.vcov}) of {self.df_num} constraint(s): "
            f"F = {self.Fstat:.4f} on ({self.df_num}, {fmt_df(self.df_denom)}) df, "
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
    cr = compute_cr(fit, cluster, vcov)
    return wald_test_cr(cr, constraints, test)


def wald_test_cr(cr: CRVcov, constraints, test: str) -> WaldTestResult:
    """clubSandwich's ``Wald_test`` of ``constraints`` from a computed covariance ``cr``."""
    C = _constraint_matrix(constraints, cr.inp.terms, cr.inp.btt)
    q = C.shape[0]
    cb = C @ cr.inp.beta
    Q = float(cb @ np.linalg.solve(C @ cr.vcov @ C.T, cb))
    tt = str(test).strip()
    key = tt.lower()
    J = len(cr.levels)
    if key == "htz":
        P = p_array(cr, C)  # q, q, J, J
        omega = np.einsum("stjj->st", P)
        on = sym_power(omega, -0.5)
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

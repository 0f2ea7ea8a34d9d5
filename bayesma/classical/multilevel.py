"""Multilevel and multivariate meta-analysis (metafor 3.8 ``rma.mv`` with random intercepts).

The model for ``k`` effect sizes ``y`` is

    y = X beta + sum_l Z_l u_l + e,   u_l ~ N(0, sigma²_l I),   e ~ N(0, V),

so that the marginal covariance is ``M = V + sum_l sigma²_l Z_l Z_l'``. ``V`` holds the
(possibly correlated) sampling variances and covariances; ``Z_l`` is the indicator matrix
of the levels of the l-th random factor. Nested factors, ``~ 1 | district/school``, give
the three-level model of Konstantopoulos (2011) and Van den Noortgate et al. (2013):
one variance component for the districts and one for the schools within districts
(metafor names them ``district`` and ``district/school``). A non-diagonal ``V`` (e.g.
from :func:`impute_covariance_matrix`) gives the correlated-effects model.

Estimation follows metafor's ``rma.mv`` (Viechtbauer 2010; its ``.ll.rma.mv``):

* given the variance components, ``beta = (X'M⁻¹X)⁻¹ X'M⁻¹ y`` (generalised least
  squares) with ``vcov = (X'M⁻¹X)⁻¹``;
* the variance components maximise the restricted log-likelihood (metafor's full
  REML likelihood, ``REMLf = TRUE``)

      ll_REML = -1/2 [(k - p) log 2π - log|X'X| + log|M| + log|X'M⁻¹X| + r'M⁻¹r],
      r = y - X beta,

  or, with ``method="ML"``, ``ll_ML = -1/2 [k log 2π + log|M| + r'M⁻¹r]``
  (Harville 1977; Searle, Casella & McCulloch 1992, ch. 6).
  We maximise it with Fisher scoring followed by Newton-Raphson steps on the
  variance components (bounded at zero), with the analytic gradient
  ``dl/dsigma²_l = -1/2 tr(P D_l) + 1/2 y'P D_l P y``, the expected information
  ``1/2 tr(P D_l P D_m)`` and the observed information
  ``y'P D_l P D_m P y - 1/2 tr(P D_l P D_m)``, ``D_l = Z_l Z_l'``,
  ``P = M⁻¹ - M⁻¹X(X'M⁻¹X)⁻¹X'M⁻¹`` (``M⁻¹`` instead of ``P`` in the trace for ML),
  iterating to machine precision. All products use the block-diagonal structure of
  ``M`` (the groups of rows linked by the random factors or by ``V``), so the cost grows
  with the block sizes rather than with ``k³``;
* ``QE = y'P_V y`` with ``P_V`` built from ``V`` alone (the test of residual
  heterogeneity, Cochran's Q generalised to correlated sampling errors);
* ``QM``: Wald test of the moderators (of the intercept in an intercept-only model, as
  metafor), chi-square on ``m`` df for ``test="z"``, ``F = QM/m`` on ``(m, k - p)`` df
  for ``test="t"``;
* fit statistics as metafor: ``dev.ML = -2 (ll_ML - ll_sat)`` with
  ``ll_sat = -1/2 (k log 2π + log|V|)``, ``dev.REML = -2 ll_REML``; AIC, BIC, AICc with
  ``p`` plus the number of variance components as parameters (``k - p`` observations
  for the REML BIC and AICc).

References
----------
Konstantopoulos, S. (2011). Fixed effects and variance components estimation in
three-level meta-analysis. Research Synthesis Methods, 2(1), 61-76.
Van den Noortgate, W., López-López, J. A., Marín-Martínez, F., & Sánchez-Meca, J.
(2013). Three-level meta-analysis of dependent effect sizes. Behavior Research Methods,
45(2), 576-594.
Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. Journal
of Statistical Software, 36(3), 1-48.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, stats

from bayesma.classical.design import INTERCEPT, build_design, check_full_rank
from bayesma.classical.rma import _fmt_p, _level, _stars
from bayesma.data import (
    describe_rows,
    find_label_column,
    numeric_column,
    require_columns,
    study_labels,
)
from bayesma.errors import ConvergenceError, DataError, TooFewStudiesError

__all__ = ["RMAMVResult", "impute_covariance_matrix", "parse_random", "rma_mv"]

_LOG2PI = float(np.log(2 * np.pi))


# ---------------------------------------------------------------------- inputs
def impute_covariance_matrix(vi, cluster, r) -> np.ndarray:
    """Block-diagonal covariance matrix with a constant within-cluster correlation.

    clubSandwich's ``impute_covariance_matrix(vi, cluster, r, return_list = FALSE)``:
    ``V[i, j] = r * sqrt(vi[i] * vi[j])`` when rows ``i`` and ``j`` belong to the same
    cluster, 0 otherwise, ``V[i, i] = vi[i]``; rows stay in the order given.

    Parameters
    ----------
    vi : array_like
        Sampling variances (> 0), one per effect size.
    cluster : array_like
        Cluster (study) identifier of each effect size; no missing values.
    r : float or sequence of float
        The assumed correlation, or one correlation per cluster in the sorted order of
        the cluster values (as R's factor levels), each in [-1, 1].

    Returns
    -------
    ndarray
        The ``k x k`` covariance matrix.
    """
    v = np.asarray(vi, dtype=float).ravel()
    cl = pd.Series(np.asarray(cluster, dtype=object).ravel())
    if cl.size != v.size:
        raise DataError(f"vi has {v.size} values but cluster has {cl.size}")
    bad = np.flatnonzero(~np.isfinite(v) | (v < 0))
    if bad.size:
        raise DataError(
            f"vi must be finite and >= 0; position {int(bad[0])} has {v[bad[0]]!r}",
            column="vi",
            rows=list(bad),
        )
    miss = np.flatnonzero(cl.isna().to_numpy())
    if miss.size:
        raise DataError(
            f"cluster has missing values at position(s) {list(map(int, miss[:5]))}",
            column="cluster",
            rows=list(miss),
        )
    codes, levels = _factorize(cl.to_numpy())
    rr = np.atleast_1d(np.asarray(r, dtype=float)).ravel()
    if rr.size == 1:
        rr = np.repeat(rr, len(levels))
    if rr.size != len(levels):
        raise DataError(f"r must be one value or one per cluster ({len(levels)}), got {rr.size}")
    if np.any(~np.isfinite(rr)) or np.any(np.abs(rr) > 1):
        raise DataError(f"r must be a correlation in [-1, 1], got {r!r}")
    s = np.sqrt(v)
    same = codes[:, None] == codes[None, :]
    V = np.where(same, rr[codes][:, None] * np.outer(s, s), 0.0)
    np.fill_diagonal(V, v)
    return V


def _factorize(values) -> tuple[np.ndarray, list]:
    """Integer codes in the sorted order of the distinct values (as R's factor())."""
    vals = list(values)
    try:
        levels = sorted(set(vals))
    except TypeError:
        levels = sorted(set(vals), key=str)
    pos = {v: i for i, v in enumerate(levels)}
    return np.array([pos[v] for v in vals], dtype=int), levels


def parse_random(random) -> list[tuple[str, list[str]]]:
    """Random-effects specification -> ``[(name, columns), ...]``, one per variance component.

    Accepted forms:

    * ``"~ 1 | district/school"`` (or ``"district/school"``): nested random intercepts,
      giving the components ``district`` and ``district/school`` (metafor's names);
    * ``"~ 1 | district"`` or ``"district"``: one random intercept;
    * a tuple (or list) of column names ``("district", "school")``: the nesting path,
      outer level first (same as ``"~ 1 | district/school"``);
    * a list of formulas ``["~ 1 | a", "~ 1 | b"]``: several (crossed or nested)
      random intercepts, each with its own variance (metafor's ``list(~1|a, ~1|b)``).
    """
    if random is None:
        return []
    if isinstance(random, str):
        return _parse_formula(random)
    if isinstance(random, list | tuple):
        items = list(random)
        if not items:
            return []
        if not all(isinstance(x, str) for x in items):
            raise DataError("random must be a formula string or a list of formula strings")
        if any(("|" in x or "~" in x or "/" in x) for x in items):
            out: list[tuple[str, list[str]]] = []
            for x in items:
                out += _parse_formula(x)
        else:
            out = [("/".join(items[: i + 1]), items[: i + 1]) for i in range(len(items))]
        names = [n for n, _ in out]
        if len(set(names)) != len(names):
            raise DataError(f"random effects listed twice: {names}")
        return out
    raise DataError(
        f"random must be a formula such as '~ 1 | district/school', got {type(random).__name__}"
    )


def _parse_formula(text: str) -> list[tuple[str, list[str]]]:
    f = text.strip()
    if f.startswith("~"):
        f = f[1:]
    if "|" in f:
        lhs, rhs = f.split("|", 1)
        if lhs.strip() != "1":
            raise DataError(f"only random intercepts ('~ 1 | factor') are supported, got {text!r}")
    else:
        rhs = f
    cols = [c.strip().strip("`") for c in rhs.split("/")]
    if not cols or any(not c for c in cols) or any(re.search(r"[|~+*:]", c) for c in cols):
        raise DataError(f"cannot read the random-effects formula {text!r}")
    return [("/".join(cols[: i + 1]), cols[: i + 1]) for i in range(len(cols))]


# ---------------------------------------------------------------------- the model
@dataclass
class _Eval:
    ll: float
    ll_ml: float
    ll_reml: float
    beta: np.ndarray
    vcov: np.ndarray
    rss: float
    grad: np.ndarray | None = None
    fisher: np.ndarray | None = None
    hess: np.ndarray | None = None


class _MVModel:
    """Blocks of the marginal covariance and the (RE)ML likelihood with derivatives."""

    def __init__(self, y, X, V, codes: list[np.ndarray], blocks: list[np.ndarray]):
        self.y = y
        self.X = X
        self.k, self.p = X.shape
        self.L = len(codes)
        self.blocks = blocks
        self.Vb = [V[np.ix_(b, b)] for b in blocks]
        self.Db = [[(c[b][:, None] == c[b][None, :]).astype(float) for c in codes] for b in blocks]
        self.Xb = [X[b] for b in blocks]
        self.yb = [y[b] for b in blocks]
        self.logdet_xtx = float(np.linalg.slogdet(X.T @ X)[1])

    def marginal(self, s2: np.ndarray) -> list[np.ndarray]:
        out = []
        for Vb, Db in zip(self.Vb, self.Db, strict=True):
            M = Vb.copy()
            for s, D in zip(s2, Db, strict=True):
                if s != 0:
                    M += s * D
            out.append(M)
        return out

    def evaluate(self, s2: np.ndarray, *, reml: bool = True, derivs: bool = False) -> _Eval:
        """Log-likelihood at ``s2`` (and gradient, expected and observed information)."""
        p, L = self.p, self.L
        logdet = 0.0
        F = np.zeros((p, p))
        Xty = np.zeros(p)
        facs = []
        for M, Xb, yb in zip(self.marginal(s2), self.Xb, self.yb, strict=True):
            try:
                c = linalg.cho_factor(M, lower=True, check_finite=False)
            except linalg.LinAlgError as exc:
                raise np.linalg.LinAlgError("marginal covariance not positive definite") from exc
            facs.append(c)
            logdet += 2.0 * float(np.sum(np.log(np.diag(c[0]))))
            BX = linalg.cho_solve(c, Xb, check_finite=False)
            F += Xb.T @ BX
            Xty += BX.T @ yb
        A = np.linalg.inv(F)
        A = (A + A.T) / 2
        beta = A @ Xty
        rss = 0.0
        Q_list, s_list = [], []
        for c, Xb, yb in zip(facs, self.Xb, self.yb, strict=True):
            rb = yb - Xb @ beta
            sb = linalg.cho_solve(c, rb, check_finite=False)
            rss += float(rb @ sb)
            s_list.append(sb)
            if derivs:
                Q_list.append(linalg.cho_solve(c, Xb, check_finite=False))
        logdet_F = float(np.linalg.slogdet(F)[1])
        ll_ml = -0.5 * (self.k * _LOG2PI + logdet + rss)
        ll_reml = -0.5 * ((self.k - p) * _LOG2PI - self.logdet_xtx + logdet + logdet_F + rss)
        ev = _Eval(ll_reml if reml else ll_ml, ll_ml, ll_reml, beta, A, rss)
        if not derivs or L == 0:
            return ev
        # traces and quadratic forms, block by block (P = B - Q A Q', B = M^-1, Q = B X)
        trB = np.zeros(L)
        S = np.zeros((L, p, p))  # Q' D_l Q
        qf = np.zeros(L)  # s' D_l s
        TBB = np.zeros((L, L))  # tr(B D_l B D_m)
        R = np.zeros((L, L, p, p))  # Q' D_l B D_m Q
        Ub = np.zeros((L, L))  # u_l' B u_m, u_l = D_l s
        Qu = np.zeros((L, p))  # Q' u_l
        for c, Db, Qb, sb in zip(facs, self.Db, Q_list, s_list, strict=True):
            n = sb.size
            B = linalg.cho_solve(c, np.eye(n), check_finite=False)
            BD = [B @ D for D in Db]
            DQ = [D @ Qb for D in Db]
            u = [D @ sb for D in Db]
            Bu = [B @ ui for ui in u]
            BDQ = [B @ dq for dq in DQ]
            for i in range(L):
                trB[i] += float(np.trace(BD[i]))
                S[i] += Qb.T @ DQ[i]
                qf[i] += float(sb @ u[i])
                Qu[i] += Qb.T @ u[i]
                for j in range(i, L):
                    t = float(np.sum(BD[i] * BD[j].T))
                    TBB[i, j] += t
                    Ub[i, j] += float(u[i] @ Bu[j])
                    R[i, j] += DQ[i].T @ BDQ[j]
        for i in range(L):
            for j in range(i):
                TBB[i, j] = TBB[j, i]
                Ub[i, j] = Ub[j, i]
                R[i, j] = R[j, i].T
        # s' D_l P D_m s = u_l'B u_m - (Q'u_l)' A (Q'u_m)
        uPu = Ub - Qu @ A @ Qu.T
        if reml:
            trP = trB - np.einsum("ab,lba->l", A, S)
            AS = np.einsum("ab,lbc->lac", A, S)
            TPP = TBB - 2.0 * np.einsum("ab,lmba->lm", A, R) + np.einsum("lab,mba->lm", AS, AS)
            TPP = (TPP + TPP.T) / 2
        else:
            trP = trB
            TPP = TBB
        ev.grad = -0.5 * trP + 0.5 * qf
        ev.fisher = 0.5 * TPP
        ev.hess = 0.5 * TPP - uPu  # second derivative of ll
        ev.hess = (ev.hess + ev.hess.T) / 2
        return ev


def _blocks(k: int, V: np.ndarray | None, codes: list[np.ndarray]) -> list[np.ndarray]:
    """Connected groups of rows (linked by a shared random-factor level or by V)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rows, cols = [np.arange(k)], [np.arange(k)]
    for c in codes:
        first = {}
        anchor = np.empty(k, dtype=int)
        for i, v in enumerate(c):
            anchor[i] = first.setdefault(int(v), i)
        rows.append(np.arange(k))
        cols.append(anchor)
    if V is not None:
        r, cc = np.nonzero(V)
        rows.append(r)
        cols.append(cc)
    g = coo_matrix(
        (np.ones(sum(len(r) for r in rows)), (np.concatenate(rows), np.concatenate(cols))),
        shape=(k, k),
    )
    n, lab = connected_components(g, directed=False)
    order = np.argsort(lab, kind="stable")
    splits = np.flatnonzero(np.diff(lab[order])) + 1
    return [np.sort(b) for b in np.split(order, splits)]


def _fit_variance_components(
    model: _MVModel,
    init: np.ndarray,
    *,
    reml: bool,
    tol: float = 1e-12,
    maxiter: int = 1000,
) -> tuple[np.ndarray, _Eval, bool, int]:
    """Maximise the (RE)ML likelihood over sigma² >= 0.

    Fisher scoring until the relative change falls below 1e-4, then Newton-Raphson
    with the observed information (falling back to Fisher scoring where it is not
    positive definite); step halving keeps the likelihood from decreasing, and
    components at the boundary with a negative gradient stay at zero.
    """
    s2 = np.maximum(np.asarray(init, dtype=float), 0.0)
    ev = model.evaluate(s2, reml=reml, derivs=True)
    newton = False
    converged = False
    it = 0
    for it in range(1, maxiter + 1):  # noqa: B007 (it is the count returned)
        g = ev.grad
        free = (s2 > 0) | (g > 0)
        if not free.any():
            converged = True
            break
        gf = g[free]
        step = None
        if newton:
            Hn = -ev.hess[np.ix_(free, free)]
            try:
                linalg.cholesky(Hn, lower=True)
                step = np.linalg.solve(Hn, gf)
            except (linalg.LinAlgError, np.linalg.LinAlgError):
                step = None
        if step is None:
            Fi = ev.fisher[np.ix_(free, free)]
            try:
                step = np.linalg.solve(Fi, gf)
            except np.linalg.LinAlgError:
                step = np.linalg.lstsq(Fi, gf, rcond=None)[0]
        t = 1.0
        accepted = False
        new = s2
        ev_new = ev
        while t > 1e-12:
            cand = s2.copy()
            cand[free] = np.maximum(s2[free] + t * step, 0.0)
            try:
                ev_c = model.evaluate(cand, reml=reml, derivs=True)
            except np.linalg.LinAlgError:
                t /= 2
                continue
            if ev_c.ll >= ev.ll - 1e-13 * max(1.0, abs(ev.ll)):
                new, ev_new, accepted = cand, ev_c, True
                break
            t /= 2
        if not accepted:
            # no ascent possible along this direction: at the optimum to working precision
            converged = bool(np.max(np.abs(gf) * np.maximum(s2[free], 1e-8)) < 1e-6)
            break
        delta = float(np.max(np.abs(new - s2)))
        change = float(np.max(np.abs(new - s2) / np.maximum(np.abs(new), 1e-10)))
        s2, ev = new, ev_new
        if change < 1e-4:
            newton = True
        if delta <= tol * max(float(np.max(s2)), 1e-10) or change <= tol:
            converged = True
            break
    if not converged:
        raise ConvergenceError(
            f"the {'REML' if reml else 'ML'} estimation of the variance components did "
            f"not converge in {maxiter} iterations (last values {s2.tolist()})"
        )
    return s2, ev, converged, it


# ---------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False, repr=False)
class RMAMVResult:
    """A fitted multilevel / multivariate model (metafor's ``rma.mv`` with random intercepts).

    Coefficients are in ``coef`` (a DataFrame indexed by term with ``estimate, se, stat,
    pval, ci_low, ci_high``); ``estimate`` ... ``ci_high`` repeat its first row.
    ``sigma2`` holds the variance components in the order of ``sigma2_names``
    (outer level first for nested factors), ``sigma2_nlevels`` the numbers of levels.
    """

    method: str
    test: str
    level: float
    formula: str | None
    measure: str | None
    random: str
    yi: np.ndarray
    vi: np.ndarray
    V: np.ndarray | None
    X: np.ndarray
    terms: list[str]
    labels: list[str]
    data: pd.DataFrame | None
    dropped: list
    k: int
    p: int
    beta: np.ndarray
    vcov: np.ndarray
    coef: pd.DataFrame
    estimate: float
    se: float
    stat: float
    pval: float
    ci_low: float
    ci_high: float
    df: int | None
    sigma2: np.ndarray
    sigma2_names: list[str]
    sigma2_nlevels: list[int]
    q: float
    q_df: int
    q_pval: float
    qm: float
    qm_df: int | tuple[int, int]
    qm_pval: float
    fit_stats: pd.DataFrame
    ll: float
    deviance: float
    aic: float
    bic: float
    aicc: float
    intercept: bool = True
    converged: bool = True
    iterations: int = 0
    components: list = field(default_factory=list)
    blocks: list = field(default_factory=list)
    design: Any = None
    call: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ helpers
    @property
    def stat_name(self) -> str:
        """``"zval"`` for z tests, ``"tval"`` for t tests."""
        return "zval" if self.test == "z" else "tval"

    @property
    def int_only(self) -> bool:
        return self.p == 1 and self.intercept

    @property
    def btt(self) -> list[int]:
        """Coefficients in the omnibus test (metafor's ``btt``)."""
        if self.p > 1 and self.intercept:
            return list(range(1, self.p))
        return list(range(self.p))

    def sampling_cov(self, idx=None) -> np.ndarray:
        """``V`` (or its rows/columns ``idx``)."""
        if idx is None:
            idx = np.arange(self.k)
        idx = np.asarray(idx)
        if self.V is None:
            return np.diag(self.vi[idx])
        return self.V[np.ix_(idx, idx)]

    def marginal_cov(self, idx=None) -> np.ndarray:
        """The fitted marginal covariance ``M = V + sum sigma²_l Z_l Z_l'`` (rows ``idx``)."""
        if idx is None:
            idx = np.arange(self.k)
        idx = np.asarray(idx)
        M = self.sampling_cov(idx).copy()
        for s, c in zip(self.sigma2, self.components, strict=True):
            M += s * (c[idx][:, None] == c[idx][None, :])
        return M

    def solve_marginal(self, rhs: np.ndarray) -> np.ndarray:
        """``M⁻¹ rhs`` using the block-diagonal structure of ``M``."""
        rhs = np.asarray(rhs, dtype=float)
        out = np.empty_like(rhs)
        for b in self.blocks:
            c = linalg.cho_factor(self.marginal_cov(b), lower=True)
            out[b] = linalg.cho_solve(c, rhs[b])
        return out

    def __repr__(self) -> str:
        s2 = ", ".join(f"{v:.4f}" for v in self.sigma2)
        return (
            f"<RMAMVResult {self.method} k={self.k} p={self.p} test={self.test} "
            f"estimate={self.estimate:.4f} sigma2=[{s2}]>"
        )

    def __str__(self) -> str:
        return self.summary()

    # ------------------------------------------------------------------ display
    def summary(self, digits: int = 4) -> str:
        """A printout in the layout of metafor's ``print.rma.mv``."""
        d = digits
        out = ["", f"Multivariate Meta-Analysis Model (k = {self.k}; method: {self.method})", ""]
        col = "REML" if self.method == "REML" else "ML"
        fs = self.fit_stats[col]
        heads = ("logLik", "Deviance", "AIC", "BIC", "AICc")
        txt = [f"{fs[i]:.{d}f}" for i in ("ll", "dev", "AIC", "BIC", "AICc")]
        ws = [max(len(h), len(t)) for h, t in zip(heads, txt, strict=True)]
        out.append("  ".join(h.rjust(w) for h, w in zip(heads, ws, strict=True)))
        out.append("  ".join(t.rjust(w) for t, w in zip(txt, ws, strict=True)))
        out.append("")
        out += self._vc_lines(d)
        out += self._het_lines(d)
        if not self.int_only:
            out += self._qm_lines(d)
        out.append("Model Results:")
        out.append("")
        out += _coef_table(self.coef, d, self.int_only, with_df=self.test != "z", df=self.df)
        out.append("")
        out.append("---")
        out.append("Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
        out.append("")
        return "\n".join(out)

    def _vc_lines(self, d: int) -> list[str]:
        if len(self.sigma2) == 0:
            return []
        L = len(self.sigma2)
        rows = ["sigma^2"] if L == 1 else [f"sigma^2.{i + 1}" for i in range(L)]
        cols = ["estim", "sqrt", "nlvls", "fixed", "factor"]
        cells = [
            [f"{s:.{d}f}", f"{np.sqrt(s):.{d}f}", str(n), "no", name]
            for s, n, name in zip(self.sigma2, self.sigma2_nlevels, self.sigma2_names, strict=True)
        ]
        widths = [max(len(c), *(len(r[j]) for r in cells)) for j, c in enumerate(cols)]
        nw = max(len(r) for r in rows)
        lines = ["Variance Components:", ""]
        lines.append(
            " " * nw + "  " + "  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True))
        )
        for r, cl in zip(rows, cells, strict=True):
            lines.append(
                r.ljust(nw) + "  " + "  ".join(c.rjust(w) for c, w in zip(cl, widths, strict=True))
            )
        lines.append("")
        return lines

    def _het_lines(self, d: int) -> list[str]:
        qname = "Q" if self.int_only else "QE"
        title = "Test for Heterogeneity:" if self.int_only else "Test for Residual Heterogeneity:"
        pq = _fmt_p(self.q_pval)
        return [
            title,
            f"{qname}(df = {self.q_df}) = {self.q:.{d}f}, p-val "
            f"{'< .0001' if pq.startswith('<') else '= ' + pq}",
            "",
        ]

    def _qm_lines(self, d: int) -> list[str]:
        btt = self.btt
        coefs = (
            f"coefficient {btt[0] + 1}"
            if len(btt) == 1
            else f"coefficients {btt[0] + 1}:{btt[-1] + 1}"
        )
        pm = _fmt_p(self.qm_pval)
        ptxt = "< .0001" if pm.startswith("<") else "= " + pm
        if isinstance(self.qm_df, tuple):
            stat = (
                f"F(df1 = {self.qm_df[0]}, df2 = {self.qm_df[1]}) = {self.qm:.{d}f}, p-val {ptxt}"
            )
        else:
            stat = f"QM(df = {self.qm_df}) = {self.qm:.{d}f}, p-val {ptxt}"
        return [f"Test of Moderators ({coefs}):", stat, ""]

    # ------------------------------------------------------------------ other methods
    def predict(self, newmods=None, *, level: float | None = None) -> pd.DataFrame:
        """Predicted average effects with CI and prediction interval (metafor ``predict``).

        The prediction interval adds the sum of the variance components,
        ``pred ± crit sqrt(se² + sum(sigma2))``.

        Parameters
        ----------
        newmods : None or array_like
            ``None``: the pooled effect (intercept-only) or the fitted values; else the
            values of the non-intercept terms (one row per prediction) or all ``p``
            columns.
        level : float, optional
            Confidence level (default: the model's).
        """
        level = self.level if level is None else _level(level)
        a = 1 - level
        crit = (
            float(stats.norm.isf(a / 2)) if self.test == "z" else float(stats.t.isf(a / 2, self.df))
        )
        if newmods is None:
            if self.int_only:
                Xn, index = np.ones((1, 1)), pd.Index(["pooled"])
            else:
                Xn, index = self.X, pd.Index(self.labels)
        else:
            M = np.asarray(newmods, dtype=float)
            if M.ndim == 0:
                M = M.reshape(1, 1)
            if M.ndim == 1:
                nm = self.p - 1 if self.intercept else self.p
                M = M.reshape(1, -1) if (M.size == nm and nm > 1) else M.reshape(-1, 1)
            if self.intercept and M.shape[1] == self.p - 1:
                M = np.column_stack([np.ones(M.shape[0]), M])
            if M.shape[1] != self.p:
                raise DataError(
                    f"newmods has {M.shape[1]} column(s); the model has {self.p} coefficients "
                    f"({', '.join(self.terms)})"
                )
            Xn, index = M, pd.RangeIndex(M.shape[0])
        pred = Xn @ self.beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", Xn, self.vcov, Xn))
        pis = np.sqrt(se**2 + float(np.sum(self.sigma2)))
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

    def to_frame(self) -> pd.DataFrame:
        """One-row tidy summary (variance components as ``sigma2.<name>``)."""
        row: dict[str, Any] = {
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
        }
        for name, s in zip(self.sigma2_names, self.sigma2, strict=True):
            row[f"sigma2.{name}"] = float(s)
        row.update(
            {
                "q": self.q,
                "q_df": self.q_df,
                "q_pval": self.q_pval,
                "qm": self.qm,
                "qm_pval": self.qm_pval,
                "ll": self.ll,
                "aic": self.aic,
                "bic": self.bic,
            }
        )
        if self.measure is not None:
            row["measure"] = self.measure
        return pd.DataFrame([row])


def _coef_table(
    coef: pd.DataFrame,
    d: int,
    int_only: bool,
    *,
    with_df: bool,
    df=None,
    stat_name: str | None = None,
    mark: str = "",
) -> list[str]:
    """The coefficient table as R prints it (print.gap = 2, signif column)."""
    sname = stat_name or ("tval" if with_df else "zval")
    cols = ["estimate", "se" + mark, sname + mark]
    if with_df:
        cols.append("df" + mark)
    cols += ["pval" + mark, "ci.lb" + mark, "ci.ub" + mark]
    cells, stars = [], []
    dfs = np.atleast_1d(df) if df is not None else None
    for i, (_, r) in enumerate(coef.iterrows()):
        row = [f"{r['estimate']:.{d}f}", f"{r['se']:.{d}f}", f"{r['stat']:.{d}f}"]
        if with_df:
            dv = r["df"] if "df" in coef.columns else dfs[min(i, dfs.size - 1)]
            row.append(_fmt_df(dv))
        row += [_fmt_p(r["pval"]), f"{r['ci_low']:.{d}f}", f"{r['ci_high']:.{d}f}"]
        cells.append(row)
        stars.append(_stars(r["pval"]))
    widths = [max(len(c), *(len(row[j]) for row in cells)) for j, c in enumerate(cols)]
    sw = max(len(s) for s in stars) + 1
    names = [] if int_only else [str(t) for t in coef.index]
    nw = max((len(n) for n in names), default=0)

    def line(name: str, vals: list[str], star: str) -> str:
        body = "  ".join(v.rjust(w) for v, w in zip(vals, widths, strict=True))
        lead = (name.ljust(nw) + "  ") if names else ""
        return lead + body + "  " + star.ljust(sw)

    out = [line("", cols, "")]
    for i, row in enumerate(cells):
        out.append(line(names[i] if names else "", row, stars[i]))
    return out


def _fmt_df(v) -> str:
    v = float(v)
    if abs(v - round(v)) < 1e-9:
        return str(int(round(v)))
    return f"{v:.2f}"


# ---------------------------------------------------------------------- fitting
def rma_mv(
    data: pd.DataFrame,
    yi: str = "yi",
    vi: str | None = "vi",
    *,
    V=None,
    random,
    mods=None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    slab: str | None = None,
    measure: str | None = None,
    sigma2=None,
    tol: float = 1e-12,
    maxiter: int = 1000,
) -> RMAMVResult:
    """Fit a multilevel / multivariate meta-analytic model (metafor's ``rma.mv``).

    Parameters
    ----------
    data : DataFrame
        One row per effect size, with the random-effects factors as columns.
    yi : str
        Column of effect sizes.
    vi : str or None
        Column of sampling variances (``V = diag(vi)`` when ``V`` is not given).
    V : array_like, str or list of arrays, optional
        Sampling covariance matrix: a ``len(data) x len(data)`` matrix (rows in data
        order, e.g. from :func:`impute_covariance_matrix`), a list of blocks (placed on
        the diagonal in order), or a column name (a diagonal ``V``).
    random : str, tuple or list
        Random intercepts: ``"~ 1 | district/school"`` (nested: a variance component
        for districts and one for schools within districts), ``"~ 1 | district"``,
        ``("district", "school")`` (the nesting path), or a list of formulas (several
        random intercepts); ``None`` for a model without random effects.
        See :func:`parse_random`.
    mods : None, str, list of str or array
        Moderators, as in :func:`bayesma.classical.rma.rma`.
    method : {"REML", "ML"}
        Estimator of the variance components.
    test : {"z", "t"}
        Normal or t(k - p) inference for the coefficients (F test for the moderators).
    level : float
        Confidence level (0.95 or 95).
    slab : str, optional
        Column of labels.
    measure : str, optional
        Effect-size measure, for display (default ``data.attrs["measure"]``).
    sigma2 : sequence of float, optional
        Fix the variance components at these values (``nan`` entries are estimated).
    tol, maxiter
        Convergence settings of the optimiser.

    Returns
    -------
    RMAMVResult

    Raises
    ------
    DataError
        Missing or invalid values (naming column and rows), a ``V`` of the wrong shape
        or not positive definite, a rank-deficient design.
    TooFewStudiesError
        Fewer rows than parameters.
    ConvergenceError
        The optimiser failed.
    """
    method = str(method).upper()
    if method not in ("REML", "ML"):
        raise DataError(f"method must be 'REML' or 'ML' for rma_mv, got {method!r}")
    t = str(test).strip().lower()
    if t not in ("z", "t"):
        raise DataError(f"test must be 'z' or 't' for rma_mv, got {test!r}")
    level = _level(level)
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    comps = parse_random(random)
    rcols = sorted({c for _, cols in comps for c in cols})
    require_columns(data, [yi], what="effect sizes")
    require_columns(data, rcols, what="random-effects factor")
    label_col = find_label_column(data, slab)
    if measure is None:
        measure = data.attrs.get("measure")
    n_all = len(data)

    # sampling covariance over all rows (before dropping rows with missing moderators)
    Vfull: np.ndarray | None = None
    vdiag_col: str | None = None
    if V is None:
        if vi is None:
            raise DataError("give the sampling variances (vi=...) or a covariance matrix (V=...)")
        vdiag_col = vi
    elif isinstance(V, str):
        vdiag_col = V
    else:
        Vfull = _as_matrix(V, n_all)

    design = build_design(data, mods, slab=label_col)
    keep = design.keep
    d = data.loc[keep] if not keep.all() else data
    y = numeric_column(d, yi, what="effect sizes", slab=label_col)
    if vdiag_col is not None:
        vv = numeric_column(d, vdiag_col, what="sampling variances", positive=True, slab=label_col)
        Vm = None
    else:
        pos = np.flatnonzero(keep)
        Vm = Vfull[np.ix_(pos, pos)]
        vv = np.diag(Vm).copy()
        bad = np.flatnonzero(~(vv > 0))
        if bad.size:
            raise DataError(
                f"V must have positive variances on its diagonal; "
                f"{describe_rows(d, d.index[bad], slab=label_col, positions=bad)} has "
                f"{vv[bad[0]]:g}",
                column="V",
                rows=list(d.index[bad]),
            )
        if np.count_nonzero(Vm - np.diag(vv)) == 0:
            Vm = None
    k = y.size
    codes = []
    nlevels = []
    for _name, cols in comps:
        for c in cols:
            miss = d[c].isna().to_numpy()
            if miss.any():
                pos_m = np.flatnonzero(miss)
                raise DataError(
                    f"column {c!r} (random-effects factor) has missing values at "
                    f"{describe_rows(d, d.index[pos_m], slab=label_col, positions=pos_m)}; "
                    "remove those rows or fill them in",
                    column=c,
                    rows=list(d.index[pos_m]),
                )
        keys = list(zip(*(d[c].tolist() for c in cols), strict=True))
        cd, levs = _factorize(keys)
        codes.append(cd)
        nlevels.append(len(levs))
    X = design.X
    terms = list(design.terms)
    p = X.shape[1]
    if p > 1:
        check_full_rank(X, terms)
    L = len(comps)
    fixed = np.full(L, np.nan)
    if sigma2 is not None:
        fx = np.atleast_1d(np.asarray(sigma2, dtype=float)).ravel()
        if fx.size != L:
            raise DataError(f"sigma2 has {fx.size} value(s) for {L} variance component(s)")
        if np.any(fx[np.isfinite(fx)] < 0):
            raise DataError("fixed values of sigma2 must be >= 0")
        fixed = fx
    n_est = int(np.sum(np.isnan(fixed)))
    if k < p or (n_est > 0 and k <= p):
        raise TooFewStudiesError(
            f"rma_mv with {p} coefficient(s) and {n_est} estimated variance component(s) "
            f"needs more than k = {k} rows (number of parameters to be estimated is larger "
            "than the number of observations)"
        )
    labels = study_labels(d, label_col)

    Vdense = Vm if Vm is not None else np.diag(vv)
    blocks = _blocks(k, Vm, codes)
    model = _MVModel(y, X, Vdense, codes, blocks)
    reml = method == "REML"

    # QE: the model with sigma² = 0 (V alone)
    q_df = k - p
    try:
        ev0 = model.evaluate(np.zeros(L), reml=reml)
        qe = max(0.0, ev0.rss) if q_df > 0 else 0.0
        beta_fe = ev0.beta
    except np.linalg.LinAlgError as exc:
        raise DataError("V is not positive definite") from exc
    qe_p = float(stats.chi2.sf(qe, q_df)) if q_df > 0 else 1.0

    converged, iterations = True, 0
    if L == 0:
        s2 = np.zeros(0)
        ev = ev0
    else:
        est = np.isnan(fixed)
        if est.any():
            resid = y - X @ beta_fe
            total = max(
                0.001 * L,
                float(np.var(resid, ddof=1)) - 1.0 / float(np.mean(1.0 / vv)),
            )
            init = np.where(est, total / L, fixed)
            if est.all():
                s2, ev, converged, iterations = _fit_variance_components(
                    model, init, reml=reml, tol=tol, maxiter=maxiter
                )
            else:
                sub = _FixedWrap(model, fixed)
                s2e, _, converged, iterations = _fit_variance_components(
                    sub, init[est], reml=reml, tol=tol, maxiter=maxiter
                )
                s2 = fixed.copy()
                s2[est] = s2e
            ev = model.evaluate(s2, reml=reml)
        else:
            s2 = fixed.copy()
            ev = model.evaluate(s2, reml=reml)
    beta, vb = ev.beta, ev.vcov

    # coefficient tests
    se = np.sqrt(np.diag(vb))
    zval = beta / se
    a = 1 - level
    df = k - p if t == "t" else None
    if df is None:
        pval = 2 * stats.norm.sf(np.abs(zval))
        crit = float(stats.norm.isf(a / 2))
    elif df > 0:
        pval = 2 * stats.t.sf(np.abs(zval), df)
        crit = float(stats.t.isf(a / 2, df))
    else:
        pval = np.full(p, np.nan)
        crit = float("nan")
    ci_lb, ci_ub = beta - crit * se, beta + crit * se

    intercept = bool(terms[0] == INTERCEPT and np.all(X[:, 0] == 1))
    btt = list(range(1, p)) if (p > 1 and intercept) else list(range(p))
    bb = beta[btt]
    qm = float(bb @ np.linalg.solve(vb[np.ix_(btt, btt)], bb))
    m = len(btt)
    if df is None:
        qm_df: int | tuple[int, int] = m
        qm_p = float(stats.chi2.sf(qm, m))
    else:
        qm = qm / m
        qm_df = (m, df)
        qm_p = float(stats.f.sf(qm, m, df)) if df > 0 else float("nan")

    # fit statistics (metafor's rma.mv)
    parms = p + n_est
    logdet_v = sum(float(np.linalg.slogdet(Vb)[1]) for Vb in model.Vb)
    ll_sat = -0.5 * k * _LOG2PI - 0.5 * logdet_v
    fs = pd.DataFrame(
        {
            "ML": _ics(ev.ll_ml, -2 * (ev.ll_ml - ll_sat), parms, k),
            "REML": _ics(ev.ll_reml, -2 * ev.ll_reml, parms, k - p),
        },
        index=["ll", "dev", "AIC", "BIC", "AICc"],
    )
    own = fs[method]
    coef = pd.DataFrame(
        {"estimate": beta, "se": se, "stat": zval, "pval": pval, "ci_low": ci_lb, "ci_high": ci_ub},
        index=pd.Index(terms, name="term"),
    )
    random_txt = _random_text(comps)
    return RMAMVResult(
        method=method,
        test=t,
        level=level,
        formula=design.formula,
        measure=measure,
        random=random_txt,
        yi=y,
        vi=vv,
        V=Vm,
        X=X,
        terms=terms,
        labels=labels,
        data=d,
        dropped=list(design.dropped),
        k=k,
        p=p,
        beta=beta,
        vcov=vb,
        coef=coef,
        estimate=float(beta[0]),
        se=float(se[0]),
        stat=float(zval[0]),
        pval=float(pval[0]),
        ci_low=float(ci_lb[0]),
        ci_high=float(ci_ub[0]),
        df=df,
        sigma2=np.asarray(s2, dtype=float),
        sigma2_names=[n for n, _ in comps],
        sigma2_nlevels=nlevels,
        q=float(qe),
        q_df=int(q_df),
        q_pval=qe_p,
        qm=qm,
        qm_df=qm_df,
        qm_pval=qm_p,
        fit_stats=fs,
        ll=float(own["ll"]),
        deviance=float(own["dev"]),
        aic=float(own["AIC"]),
        bic=float(own["BIC"]),
        aicc=float(own["AICc"]),
        intercept=intercept,
        converged=converged,
        iterations=iterations,
        components=codes,
        blocks=blocks,
        design=design,
        call={"yi": yi, "vi": vi, "mods": mods, "random": random, "slab": label_col},
    )


class _FixedWrap:
    """A view of a model with some variance components fixed (only the others vary)."""

    def __init__(self, model: _MVModel, fixed: np.ndarray):
        self.model = model
        self.fixed = fixed
        self.est = np.isnan(fixed)

    def evaluate(self, s2e, *, reml: bool = True, derivs: bool = False) -> _Eval:
        s2 = self.fixed.copy()
        s2[self.est] = s2e
        ev = self.model.evaluate(s2, reml=reml, derivs=derivs)
        if derivs:
            e = self.est
            ev.grad = ev.grad[e]
            ev.fisher = ev.fisher[np.ix_(e, e)]
            ev.hess = ev.hess[np.ix_(e, e)]
        return ev


def _random_text(comps: list[tuple[str, list[str]]]) -> str:
    if not comps:
        return ""
    # group nested paths back into formulas
    out = []
    for name, cols in comps:
        if out and name.startswith(out[-1] + "/") and len(cols) == out[-1].count("/") + 2:
            out[-1] = name
        else:
            out.append(name)
    return ", ".join(f"~ 1 | {o}" for o in out)


def _ics(ll: float, dev: float, parms: int, n: int) -> list[float]:
    aic = -2 * ll + 2 * parms
    bic = -2 * ll + parms * np.log(n) if n > 0 else float("nan")
    mx = max(n, parms + 2)
    aicc = -2 * ll + 2 * parms * mx / (mx - parms - 1)
    return [float(ll), float(dev), float(aic), float(bic), float(aicc)]


def _as_matrix(V, n: int) -> np.ndarray:
    if isinstance(V, list | tuple) and V and all(np.ndim(b) == 2 for b in V):
        M = linalg.block_diag(*[np.asarray(b, dtype=float) for b in V])
    else:
        try:
            M = np.asarray(V, dtype=float)
        except (TypeError, ValueError) as exc:
            raise DataError("V must be a numeric matrix") from exc
        if M.ndim == 1:
            M = np.diag(M)
    if M.shape != (n, n):
        raise DataError(f"V must be {n} x {n} (one row and column per data row), got {M.shape}")
    if not np.all(np.isfinite(M)):
        bad = np.flatnonzero(~np.isfinite(M).all(axis=1))
        raise DataError(
            f"V has missing or infinite values in row(s) {list(map(int, bad[:5]))}",
            column="V",
            rows=list(bad),
        )
    if not np.allclose(M, M.T, rtol=1e-10, atol=1e-14):
        raise DataError("V must be symmetric")
    return (M + M.T) / 2

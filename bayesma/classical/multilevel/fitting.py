"""``rma_mv``: fit a multilevel / multivariate model (metafor 3.8 ``rma.mv``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from bayesma.classical.design import INTERCEPT, check_full_rank
from bayesma.classical.multilevel.inputs import (
    check_v_blocks,
    factorize,
    parse_random,
    random_text,
    read_effects,
)
from bayesma.classical.multilevel.likelihood import (
    LOG2PI,
    FixedComponents,
    MVModel,
    block_partition,
    fit_variance_components,
)
from bayesma.classical.multilevel.result import RMAMVResult
from bayesma.classical.multilevel.structured import (
    StructModel,
    check_struct_levels,
    fit_structure,
    struct_starts,
)
from bayesma.classical.multilevel.structures import Structure, split_struct_random
from bayesma.classical.rma.estimation import information_criteria
from bayesma.classical.settings import parse_level
from bayesma.data import (
    describe_rows,
    find_label_column,
    require_columns,
    study_labels,
)
from bayesma.errors import DataError, SpecError, TooFewStudiesError

__all__ = ["rma_mv"]


# ---------------------------------------------------------------------- fitting
def rma_mv(
    data: pd.DataFrame,
    yi: str = "yi",
    vi: str | None = "vi",
    *,
    V=None,
    random,
    struct: str | None = None,
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
        See :func:`parse_random`. ``"~ inner | outer"`` (e.g. ``"~ outcome | trial"``):
        a multivariate model whose random effects of the rows of one ``outer`` cluster are
        correlated over the levels of ``inner`` as ``struct`` says.
    struct : {"CS", "HCS", "UN", "DIAG", "ID"}, optional
        Variance structure for ``random="~ inner | outer"`` (metafor's ``struct``; default
        ``"CS"`` as metafor): see :mod:`bayesma.classical.multilevel.structures`. The fit
        then has ``tau2`` (one variance per inner level, in level order; CS and ID repeat
        their single value), ``rho`` (float for CS/HCS, correlation matrix for UN, None for
        DIAG/ID) and ``G`` (the between-study covariance matrix).
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
    level = parse_level(level)
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    pair = split_struct_random(random)
    if pair is None:
        if struct is not None:
            raise SpecError(
                f"struct={struct!r} needs random='~ inner | outer' (e.g. '~ outcome | trial'), "
                f"got random={random!r}"
            )
        comps = parse_random(random)
        rcols = sorted({c for _, cols in comps for c in cols})
    else:
        if sigma2 is not None:
            raise SpecError("sigma2 cannot be fixed in a model with random='~ inner | outer'")
        structure_name = "CS" if struct is None else str(struct).upper()
        comps = []
        rcols = list(dict.fromkeys(pair))
    require_columns(data, [yi], what="effect sizes")
    require_columns(data, rcols, what="random-effects factor")
    label_col = find_label_column(data, slab)
    if measure is None:
        measure = data.attrs.get("measure")
    # sampling covariance over all rows (before dropping rows with missing moderators)
    design, d, y, vv, Vm = read_effects(data, yi, vi, V, mods, label_col)
    k = y.size
    for c in rcols:
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
    codes = []
    nlevels = []
    for _name, cols in comps:
        keys = list(zip(*(d[c].tolist() for c in cols), strict=True))
        cd, levs = factorize(keys)
        codes.append(cd)
        nlevels.append(len(levs))
    X = design.X
    terms = list(design.terms)
    p = X.shape[1]
    if p > 1:
        check_full_rank(X, terms)
    structure = None
    if pair is not None:
        inner_codes, inner_levels = factorize(d[pair[0]].tolist())
        outer_codes, outer_levels = factorize(d[pair[1]].tolist())
        structure = Structure(structure_name, len(inner_levels))
        check_struct_levels(structure, inner_codes, outer_codes, inner_levels, pair)
    L = len(comps)
    fixed = np.full(L, np.nan)
    if sigma2 is not None:
        fx = np.atleast_1d(np.asarray(sigma2, dtype=float)).ravel()
        if fx.size != L:
            raise DataError(f"sigma2 has {fx.size} value(s) for {L} variance component(s)")
        if np.any(fx[np.isfinite(fx)] < 0):
            raise DataError("fixed values of sigma2 must be >= 0")
        fixed = fx
    n_est = int(np.sum(np.isnan(fixed))) if structure is None else structure.n_par
    if k < p or (n_est > 0 and k <= p):
        raise TooFewStudiesError(
            f"rma_mv with {p} coefficient(s) and {n_est} estimated variance component(s) "
            f"needs more than k = {k} rows (number of parameters to be estimated is larger "
            "than the number of observations)"
        )
    labels = study_labels(d, label_col)

    Vdense = Vm if Vm is not None else np.diag(vv)
    if structure is None:
        blocks = block_partition(k, Vm, codes)
        check_v_blocks(Vdense, blocks, d, comps[0][1] if comps else [])
        model = MVModel(y, X, Vdense, codes, blocks)
    else:
        blocks = block_partition(k, Vm, [outer_codes])
        check_v_blocks(Vdense, blocks, d, [pair[1]])
        model = StructModel(y, X, Vdense, inner_codes, outer_codes, structure.n, blocks)
    reml = method == "REML"

    # QE: the model with sigma² = 0 (V alone)
    q_df = k - p
    try:
        ev0 = model.evaluate(np.zeros(model.L), reml=reml)
        qe = max(0.0, ev0.rss) if q_df > 0 else 0.0
        beta_fe = ev0.beta
    except np.linalg.LinAlgError as exc:
        raise DataError("V is not positive definite") from exc
    qe_p = float(stats.chi2.sf(qe, q_df)) if q_df > 0 else 1.0

    converged, iterations = True, 0
    G = tau2 = rho = None
    if structure is not None:
        starts = struct_starts(structure, y - X @ beta_fe, vv, inner_codes)
        sf = fit_structure(model, structure, starts, reml=reml, maxiter=maxiter)
        s2, ev, converged, iterations = np.zeros(0), sf.ev, sf.converged, sf.iterations
        G = sf.G
        tau2, rho = structure.tau2_rho(G, inner_levels)
    elif L == 0:
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
                s2, ev, converged, iterations = fit_variance_components(
                    model, init, reml=reml, tol=tol, maxiter=maxiter
                )
            else:
                sub = FixedComponents(model, fixed)
                s2e, _, converged, iterations = fit_variance_components(
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
    logdet_v = sum(float(np.linalg.slogdet(Vdense[np.ix_(b, b)])[1]) for b in blocks)
    ll_sat = -0.5 * k * LOG2PI - 0.5 * logdet_v
    fs = pd.DataFrame(
        {
            "ML": information_criteria(ev.ll_ml, -2 * (ev.ll_ml - ll_sat), parms, k),
            "REML": information_criteria(ev.ll_reml, -2 * ev.ll_reml, parms, k - p),
        },
        index=["ll", "dev", "AIC", "BIC", "AICc"],
    )
    own = fs[method]
    coef = pd.DataFrame(
        {"estimate": beta, "se": se, "stat": zval, "pval": pval, "ci_low": ci_lb, "ci_high": ci_ub},
        index=pd.Index(terms, name="term"),
    )
    random_txt = random_text(comps) if pair is None else f"~ {pair[0]} | {pair[1]}"
    extra = {}
    if structure is not None:
        extra = {
            "struct": structure.name,
            "tau2": tau2,
            "rho": rho,
            "G": G,
            "inner": pair[0],
            "outer": pair[1],
            "inner_levels": list(inner_levels),
            "inner_codes": inner_codes,
            "outer_codes": outer_codes,
            "outer_nlevels": len(outer_levels),
        }
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
        call={
            "yi": yi,
            "vi": vi,
            "mods": mods,
            "random": random,
            "struct": struct,
            "slab": label_col,
        },
        **extra,
    )

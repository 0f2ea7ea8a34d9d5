"""Cluster-robust (sandwich) covariance of a fitted model: CR0, CR1, CR2.

The formulas and their sources are listed in :mod:`bayesma.classical.robust`
(Bell & McCaffrey 2002; Pustejovsky & Tipton 2018; clubSandwich 0.5.8 ``vcovCR``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg

from bayesma.classical.multilevel import RMAMVResult
from bayesma.classical.rma import RMAResult
from bayesma.data import describe_rows
from bayesma.errors import BayesmaWarning, DataError, TooFewStudiesError

__all__ = [
    "CRVcov",
    "ModelInputs",
    "cluster_codes",
    "compute_cr",
    "model_inputs",
    "p_array",
    "sym_power",
]


VCOV_TYPES = ("CR0", "CR1", "CR2")


@dataclass
class ModelInputs:
    """What the sandwich estimators need from a fit: outcomes, design, coefficients,
    the model-based ``(X'WX)^-1``, the marginal covariance blocks and their rows.
    """

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


def model_inputs(fit) -> ModelInputs:
    """Collect :class:`ModelInputs` from an ``rma`` or ``rma_mv`` fit."""
    if isinstance(fit, RMAMVResult):
        wx = fit.solve_marginal(fit.X)
        bread = np.linalg.inv(fit.X.T @ wx)
        return ModelInputs(
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
        return ModelInputs(
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


def cluster_codes(fit, cluster) -> tuple[np.ndarray, list]:
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


def sym_power(x: np.ndarray, p: float, tol: float = 1e-12) -> np.ndarray:
    """clubSandwich's ``Sym_power``: eigenvalues above ``tol`` raised to ``p``, others 0."""
    vals, vecs = np.linalg.eigh((x + x.T) / 2)
    vp = np.zeros_like(vals)
    ok = vals > tol
    vp[ok] = vals[ok] ** p
    return (vecs * vp) @ vecs.T


@dataclass
class CRVcov:
    """A cluster-robust covariance (``vcov``) with what the small-sample tests need (the
    inputs, cluster codes, adjustment matrices).
    """

    vcov: np.ndarray
    type: str
    codes: np.ndarray
    levels: list
    idx: list[np.ndarray]
    theta: list[np.ndarray]
    E: list[np.ndarray]  # p x n_j: B X_j' W_j A_j
    inp: ModelInputs


def compute_cr(fit, cluster, vtype: str = "CR2") -> CRVcov:
    """The cluster-robust covariance of ``fit`` of type ``vtype`` (CR0, CR1 or CR2;
    clubSandwich ``vcovCR``).
    """
    vtype = str(vtype).upper()
    if vtype not in VCOV_TYPES:
        raise DataError(f"vcov must be one of {VCOV_TYPES}, got {vtype!r}")
    inp = model_inputs(fit)
    codes, levels = cluster_codes(fit, cluster)
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
            A = U.T @ sym_power(G, -0.5) @ U
            Ej = B @ XW @ A
        elif vtype == "CR1":
            Ej = B @ XW * np.sqrt(J / (J - 1))
        else:
            Ej = B @ XW
        thetas.append(th)
        E.append(Ej)
        comps[:, j] = Ej @ resid[ix]
    vc = comps @ comps.T
    return CRVcov((vc + vc.T) / 2, vtype, codes, levels, idx, thetas, E, inp)


def _warn_split_blocks(inp: ModelInputs, codes: np.ndarray) -> None:
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


def p_array(cr: CRVcov, C: np.ndarray) -> np.ndarray:
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

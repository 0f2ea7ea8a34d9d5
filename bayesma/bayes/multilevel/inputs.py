"""Inputs of the three-level model: the nesting formula, cluster ids, V, design and priors.

Shared by the exact 2-D engine (:mod:`bayesma.bayes.multilevel`) and the PyMC model
(:class:`bayesma.bayes.models.multilevel.Multilevel`), so both read a table the same way
and raise the same errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayesma.classical.design import Design, check_full_rank
from bayesma.classical.multilevel.inputs import factorize, parse_random, read_effects
from bayesma.data import (
    describe_rows,
    find_label_column,
    require_columns,
)
from bayesma.errors import BayesmaError, DataError, SpecError, TooFewStudiesError
from bayesma.priors import Prior

__all__ = ["MultilevelData", "multilevel_data", "read_levels", "level_priors"]


@dataclass(frozen=True, eq=False)
class MultilevelData:
    """A table read for the three-level model ``y_ij = x_ij'beta + u_i + w_ij + e_ij``.

    Rows keep the table's order. ``study`` are integer codes of the outer cluster (in the
    sorted order of its values, as R's ``factor``), ``V`` the sampling covariance (None
    when diagonal, then ``vi`` holds it), ``levels`` the two level names (outer, inner)
    of the random formula (the keys of the tau priors and of ``tau[<level>]``).
    """

    yi: np.ndarray
    vi: np.ndarray
    V: np.ndarray | None
    X: np.ndarray
    terms: list[str]
    study: np.ndarray
    study_levels: list
    labels: list[str]
    levels: tuple[str, str]
    random: str
    data: pd.DataFrame
    design: Design
    measure: str | None
    mods: Any = None

    @property
    def k(self) -> int:
        """Number of effects (rows)."""
        return int(self.yi.size)

    @property
    def n_studies(self) -> int:
        """Number of outer clusters."""
        return len(self.study_levels)

    def blocks(self) -> list[np.ndarray]:
        """Row positions of each outer cluster, in cluster-code order."""
        return [np.flatnonzero(self.study == s) for s in range(self.n_studies)]

    def block(self, rows: np.ndarray) -> np.ndarray:
        """The sampling covariance of the rows ``rows`` (one cluster)."""
        if self.V is None:
            return np.diag(self.vi[rows])
        return self.V[np.ix_(rows, rows)]


def read_levels(random: Any) -> tuple[tuple[str, str], str]:
    """``"~ 1 | study/esid"`` -> ``(("study", "esid"), text)``.

    Raises
    ------
    SpecError
        When the formula is not two nested random intercepts.
    """
    try:
        comps = parse_random(random)
    except DataError as exc:
        raise SpecError(f"random: {exc}") from None
    if len(comps) != 2 or comps[1][1][:1] != comps[0][1] or len(comps[1][1]) != 2:
        raise SpecError(
            f"random must be two nested random intercepts such as '~ 1 | study/esid' "
            f"(cluster/effect), got {random!r}; for one level use RandomEffects / "
            "exact_posterior without random")
    outer, inner = comps[1][1]
    return (outer, inner), f"~ 1 | {outer}/{inner}"


def level_priors(tau_prior: Any, levels: tuple[str, str], default: Prior) -> dict[str, Prior]:
    """The tau prior of each level: a dict keyed by level name, one prior for both, or
    None (the default for both).

    Raises
    ------
    SpecError
        For keys that are not levels of the formula, or a missing level.
    BayesmaError
        When a value is not a prior on tau.
    """
    if tau_prior is None:
        out = {lv: default for lv in levels}
    elif isinstance(tau_prior, Prior):
        out = {lv: tau_prior for lv in levels}
    elif isinstance(tau_prior, Mapping):
        unknown = [str(key) for key in tau_prior if key not in levels]
        if unknown:
            raise SpecError(
                f"tau_prior has key(s) {unknown} that are not levels of the random formula; "
                f"the levels are {list(levels)} (e.g. tau_prior={{'{levels[0]}': ..., "
                f"'{levels[1]}': ...}})")
        out = {lv: tau_prior.get(lv, default) for lv in levels}
    else:
        raise BayesmaError(f"tau_prior must be a prior or a dict {{level: prior}} with levels "
                           f"{list(levels)}, got {tau_prior!r}")
    for lv, pr in out.items():
        if not isinstance(pr, Prior) or getattr(pr, "param", "tau") != "tau":
            raise BayesmaError(f"tau_prior[{lv!r}] must be a prior on a standard deviation "
                               f"(HalfNormal, HalfCauchy, ...), got {pr!r}")
    return out


def multilevel_data(data: pd.DataFrame, yi: str = "yi", vi: str | None = "vi", *,
                    random: Any = "~ 1 | study/esid", V: Any = None, mods: Any = None,
                    slab: str | None = None, measure: str | None = None) -> MultilevelData:
    """Read and check a table for the three-level model.

    Parameters
    ----------
    data : DataFrame
        One row per effect size, with the cluster and effect-id columns.
    yi, vi : str
        Effect sizes and sampling variances (``vi`` unused when ``V`` is given).
    random : str
        ``"~ 1 | <cluster>/<effect>"``.
    V : array_like, optional
        ``len(data) x len(data)`` sampling covariance (or a list of blocks), block-diagonal
        by cluster.
    mods : str or list, optional
        Moderators (:func:`bayesma.classical.design.build_design`).
    slab : str, optional
        Column of effect labels (default ``"<cluster>/<effect>"``).
    measure : str, optional
        Effect measure (default ``data.attrs["measure"]``).

    Raises
    ------
    DataError
        Missing cluster or effect ids (naming the rows), an effect id repeated within a
        cluster, V not positive definite (naming the cluster) or with covariances
        between clusters, every cluster with a single effect (a two-level model
        suffices).
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    levels, text = read_levels(random)
    require_columns(data, [yi], what="effect sizes")
    require_columns(data, list(levels), what="random-effects level")
    label_col = find_label_column(data, slab) if slab is not None else None
    if measure is None:
        measure = data.attrs.get("measure")
    # the rows, effects, variances and design as rma_mv reads them (metafor's rma.mv)
    design, d, y, v, Vm = read_effects(data, yi, vi, V, mods, label_col)
    for c in levels:
        miss = d[c].isna().to_numpy()
        if miss.any():
            pos = np.flatnonzero(miss)
            raise DataError(
                f"column {c!r} ({'cluster' if c == levels[0] else 'effect'} id) has missing "
                f"values at {describe_rows(d, d.index[pos], slab=label_col, positions=pos)}"
                "; remove those rows or fill them in", column=c, rows=list(d.index[pos]))
    study, study_levels = factorize(d[levels[0]].tolist())
    pairs = pd.Series(list(zip(d[levels[0]].tolist(), d[levels[1]].tolist(), strict=True)))
    dup = np.flatnonzero(pairs.duplicated(keep=False).to_numpy())
    if dup.size:
        raise DataError(
            f"effect ids must be unique within a {levels[0]!r}: "
            f"{describe_rows(d, d.index[dup], slab=label_col, positions=dup)} share "
            f"({levels[0]}, {levels[1]}) = {pairs.iloc[dup[0]]}", column=levels[1],
            rows=list(d.index[dup]))
    sizes = np.bincount(study, minlength=len(study_levels))
    if np.all(sizes == 1):
        raise DataError(
            f"every {levels[0]!r} has a single effect: the effect level cannot be told "
            f"apart from the {levels[0]} level, and a two-level model suffices (use "
            "bm.RandomEffects / bm.exact_posterior without random)", column=levels[0])
    if Vm is not None:
        Vm = _check_blocks(Vm, study, study_levels, levels[0], d)
    X, terms = design.X, list(design.terms)
    if X.shape[1] > 1:
        check_full_rank(X, terms)
    if y.size <= X.shape[1]:
        raise TooFewStudiesError(f"{y.size} effects for {X.shape[1]} coefficients")
    if label_col is not None:
        labels = _unique([str(s) for s in d[label_col].tolist()])
    else:
        labels = _unique([f"{a}/{b}" for a, b in zip(d[levels[0]].tolist(),
                                                     d[levels[1]].tolist(), strict=True)])
    return MultilevelData(yi=y, vi=v, V=Vm, X=X, terms=terms, study=study,
                          study_levels=list(study_levels), labels=labels, levels=levels,
                          random=text, data=d, design=design, measure=measure,
                          mods=mods)


def _check_blocks(Vm: np.ndarray, study: np.ndarray, study_levels: list, name: str,
                  d: pd.DataFrame) -> np.ndarray | None:
    """V must be block-diagonal by cluster and positive definite in every block."""
    other = study[:, None] != study[None, :]
    if np.any(Vm[other] != 0):
        i, j = np.argwhere(other & (Vm != 0))[0]
        raise DataError(
            f"V has a covariance between rows of different {name!r} values "
            f"({study_levels[study[i]]!r} and {study_levels[study[j]]!r}); the three-level "
            f"model needs V block-diagonal by {name}", column="V",
            rows=[d.index[i], d.index[j]])
    for s, lev in enumerate(study_levels):
        rows = np.flatnonzero(study == s)
        lam = np.linalg.eigvalsh(Vm[np.ix_(rows, rows)])
        if lam[0] <= 1e-12 * max(lam[-1], 1e-300):
            raise DataError(
                f"V is not positive definite in the block of {name} {lev!r} (smallest "
                f"eigenvalue {lam[0]:.3g}); check its correlations", column="V",
                rows=list(d.index[rows]))
    if np.count_nonzero(Vm - np.diag(np.diag(Vm))) == 0:
        return None
    return Vm


def _unique(labels: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        n = seen.get(lab, 0) + 1
        seen[lab] = n
        out.append(lab if n == 1 else f"{lab} ({n})")
    return out

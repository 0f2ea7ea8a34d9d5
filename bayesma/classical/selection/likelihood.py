"""The log-likelihood of metafor 3.8's selection models (``.selmodel.ll.stepfun`` and
``.selmodel.ll.cont``).

For study i with y_i ~ N(x_i'beta, v_i + tau²) observed with probability proportional to
w(p_i; delta), the log-likelihood is (Iyengar & Greenhouse 1988; Vevea & Hedges 1995)::

    sum_i  log w(p_i) + log N(y_i; x_i'beta, v_i + tau²) - log A_i,
    A_i = integral of w(p(y)) N(y; x_i'beta, v_i + tau²) dy,

with p(y) the one-sided p-value of y given v_i (metafor's ``.selmodel.pval``). For the
step function A_i is a sum of normal tail areas (closed form, as metafor). For the
continuous types A_i is a 1-D integral: metafor calls R's ``integrate`` (QUADPACK
``dqagi``, rel.tol = eps^0.25); here, with y = sqrt(v_i) z, it is a fixed composite
8-point Gauss-Legendre rule over z in [-8.5, 8.5] (panels of 0.25, with edges at every
kink of w(p(z)): the p-value truncation at ``pval_min``, the cut point, 0 for two-sided
p-values) plus the normal tail areas beyond +/-8.5, where w is constant. The normal
density has sd sqrt(v_i + tau²) / sqrt(v_i) >= 1 on the z scale, so the panels resolve
it; the nodes are the same for all studies and parameters, so w is evaluated once per
node, and the rule is smooth in the parameters (stable finite-difference Hessians). The
tests check it against ``scipy.integrate.quad`` to 1e-10.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from bayesma.classical.selection.types import SelectionType

__all__ = ["SelectionData", "log_likelihood", "one_sided_pvalues", "selection_norms"]

_LOG_2PI = float(np.log(2.0 * np.pi))
_GL_T, _GL_W = np.polynomial.legendre.leggauss(8)
#: the integral runs over z = y / sqrt(v_i), where the p-value (and so w) changes; beyond
#: |z| = 8.5 w is constant (to 1e-14) and that part of A_i is a normal tail area
_Z_MAX = 8.5
_Z_EDGES = np.linspace(-_Z_MAX, _Z_MAX, 69)
#: metafor ``.selmodel.ll.*``: tau² below 10 machine epsilons counts as 0
_TAU2_ZERO = 10.0 * np.finfo(float).eps


def one_sided_pvalues(yi: np.ndarray, vi: np.ndarray, alternative: str) -> np.ndarray:
    """metafor's ``.selmodel.pval``: p of z = y / sqrt(v), one- or two-sided."""
    z = np.asarray(yi, dtype=float) / np.sqrt(vi)
    if alternative == "two.sided":
        return 2.0 * special.ndtr(-np.abs(z))
    if alternative == "less":
        return special.ndtr(z)
    return special.ndtr(-z)


@dataclass(frozen=True, eq=False)
class SelectionData:
    """What the likelihood needs: studies, design, p-values and the selection function.

    The quadrature nodes of the continuous types are on the z = y / sqrt(v) scale, the
    same for every study, so their p-values are computed once here.
    """

    yi: np.ndarray
    vi: np.ndarray
    X: np.ndarray
    pvals: np.ndarray  # truncated to [pval_min, 1 - pval_min], as metafor
    steps: np.ndarray  # ends with 1 for stepfun; [step] (default 0) for the others
    pgrp: np.ndarray | None  # interval of each p-value (stepfun), 0-based
    stype: SelectionType
    alternative: str
    nodes: np.ndarray = field(init=False, repr=False)
    node_weights: np.ndarray = field(init=False, repr=False)
    node_p: np.ndarray = field(init=False, repr=False)
    tail_p: tuple[float, float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        edges = np.unique(np.concatenate([_Z_EDGES, _kinks(self)]))
        edges = edges[(edges >= -_Z_MAX) & (edges <= _Z_MAX)]
        a, b = edges[:-1], edges[1:]
        half = (b - a) / 2.0
        z = ((a + b)[:, None] / 2.0 + half[:, None] * _GL_T).ravel()
        wts = (half[:, None] * _GL_W).ravel()
        pmin = self.stype.pval_min
        p = np.clip(one_sided_pvalues(z, 1.0, self.alternative), pmin, 1.0 - pmin)
        tails = np.clip(one_sided_pvalues(np.array([-np.inf, np.inf]), 1.0,
                                          self.alternative), pmin, 1.0 - pmin)
        object.__setattr__(self, "nodes", z)
        object.__setattr__(self, "node_weights", wts)
        object.__setattr__(self, "node_p", p)
        object.__setattr__(self, "tail_p", (float(tails[0]), float(tails[1])))


def _prob_p_below(a: np.ndarray, sd_v: np.ndarray, m: np.ndarray, s: np.ndarray, alt: str):
    """P(p(Y) <= a) for Y ~ N(m, s²); rows = studies, columns = the cut points ``a``."""
    a = np.asarray(a, dtype=float)[None, :]
    sd_v, m, s = sd_v[:, None], m[:, None], s[:, None]
    if alt == "greater":  # p <= a  <=>  y >= sd_v * isf(a)
        c = -sd_v * special.ndtri(a)
        return special.ndtr(-(c - m) / s)
    if alt == "less":  # p <= a  <=>  y <= sd_v * ppf(a)
        c = sd_v * special.ndtri(a)
        return special.ndtr((c - m) / s)
    c = -sd_v * special.ndtri(a / 2.0)  # |y| >= sd_v * isf(a / 2)
    return special.ndtr(-(c - m) / s) + special.ndtr((-c - m) / s)


def _step_norms(d: SelectionData, m, s, delta) -> np.ndarray:
    """A_i of the step function (metafor ``.selmodel.ll.stepfun``): sum of delta_j times
    the probability that the p-value falls in interval j."""
    inner = d.steps[:-1]
    cum = _prob_p_below(inner, np.sqrt(d.vi), m, s, d.alternative)
    k = len(m)
    cum = np.hstack([np.zeros((k, 1)), cum, np.ones((k, 1))])
    mass = np.diff(cum, axis=1)
    return mass @ np.asarray(delta, dtype=float)


def _kinks(d: Any) -> np.ndarray:
    """Points z = y / sqrt(v) where w(p(y)) has a kink or a jump."""
    pts = []
    pmin = d.stype.pval_min
    cuts = [pmin] if pmin > 0 else []
    if d.steps[0] > 0:
        cuts.append(float(d.steps[0]))
    for a in cuts:
        if d.alternative == "two.sided":
            c = -float(special.ndtri(a / 2.0))
            pts += [c, -c]
        else:
            c = -float(special.ndtri(a))
            pts += [c, -c]  # the truncation at 1 - pval_min is the mirror image
    if d.alternative == "two.sided":
        pts.append(0.0)
    return np.asarray(pts, dtype=float)


def _cont_norms(d: SelectionData, m, s, delta) -> np.ndarray:
    """A_i of a continuous selection function: composite 8-point Gauss-Legendre over
    z = y / sqrt(v_i) in [-8.5, 8.5] (panels of 0.25 plus every kink of w), and the
    normal tail areas beyond, where w is constant."""
    sd_v = np.sqrt(d.vi)
    w_nodes = d.stype.weight(d.node_p, delta, d.steps)
    u = (sd_v[:, None] * d.nodes[None, :] - m[:, None]) / s[:, None]
    dens = np.exp(-0.5 * u * u) * (sd_v / (s * np.sqrt(2.0 * np.pi)))[:, None]
    inner = dens @ (d.node_weights * w_nodes)
    w_tail = d.stype.weight(np.array(d.tail_p), delta, d.steps)
    lo = special.ndtr((-_Z_MAX * sd_v - m) / s)
    hi = special.ndtr(-(_Z_MAX * sd_v - m) / s)
    return inner + w_tail[0] * lo + w_tail[1] * hi


def selection_norms(d: SelectionData, beta, tau2: float, delta) -> np.ndarray:
    """The normalising constants A_i (one per study)."""
    m = d.X @ np.asarray(beta, dtype=float)
    s = np.sqrt(d.vi + tau2)
    if d.stype.name == "stepfun":
        return _step_norms(d, m, s, delta)
    return _cont_norms(d, m, s, delta)


def log_likelihood(d: SelectionData, beta, tau2: float, delta) -> float:
    """The log-likelihood of the selection model at (beta, tau², delta).

    tau² below 10 machine epsilons counts as 0 (metafor ``.selmodel.ll.*``). Returns
    ``-inf`` where it is undefined (a non-positive weight or normalising constant).
    """
    tau2 = float(tau2)
    if tau2 < _TAU2_ZERO:
        tau2 = 0.0
    delta = np.asarray(delta, dtype=float)
    m = d.X @ np.asarray(beta, dtype=float)
    var = d.vi + tau2
    with np.errstate(all="ignore"):
        if d.stype.name == "stepfun":
            w = delta[d.pgrp]
        else:
            w = d.stype.weight(d.pvals, delta, d.steps)
        ai = selection_norms(d, beta, tau2, delta)
        ll = np.sum(
            np.log(w) - 0.5 * (_LOG_2PI + np.log(var) + (d.yi - m) ** 2 / var) - np.log(ai)
        )
    return float(ll) if np.isfinite(ll) else float("-inf")

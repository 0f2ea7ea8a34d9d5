"""Centred moderators for Bayesian meta-regression: the intercept prior at the means.

A prior on the intercept of ``theta_i = x_i' beta`` applies where every moderator is 0.
For a raw-scale moderator such as publication year that point lies far outside the data
(year 0), and a proper intercept prior there pins the slope: BCG with ``~ year`` under
the default ``Normal(0, 4)`` gave a slope of 0.00003 where REML gives 0.027. brms avoids
this by centring every non-intercept column at its mean and putting the intercept prior
on the centred intercept (brms ``Intercept``, reported back on the user's scale as
``b_Intercept``; Bürkner 2017, J Stat Softw 80(1), sec. 4; ``brms::brmsformula``, "center").

With ``Xc = X - 1 m'`` (``m`` the column means, 0 for the intercept) the linear predictor
``Xc beta_c = X beta`` holds for ``beta = T beta_c``, where ``T`` is the identity except its
first row ``(1, -m_1, ..., -m_{p-1})``: the slopes are unchanged and the user's intercept is
``beta_c[0] - m' beta_c``. The map is affine (linear), so a Gaussian posterior of
``beta_c`` given tau stays Gaussian on the user's scale with covariance ``T C T'``.

Priors stay as stated: the intercept prior is the prior of the intercept at the
moderators' means (``mu_centered``), the slope priors are those of the slopes.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bayesma.errors import BayesmaError, PriorScaleWarning

__all__ = ["Centering", "center_design", "check_prior_scale", "prior_scale"]

#: the intercept's term name (metafor's and bayesma's design convention)
INTERCEPT = "intrcpt"


@dataclass(frozen=True)
class Centering:
    """A design matrix and its centred version.

    Attributes
    ----------
    X : ndarray (k, p)
        The user's design.
    terms : list of str
        Column names (intercept ``"intrcpt"`` first when present).
    means : ndarray (p,)
        The value subtracted from each column (0 for the intercept and when not centred).
    centered : bool
        Whether any column was centred (a model with an intercept and slopes).
    """

    X: np.ndarray
    terms: list[str]
    means: np.ndarray
    centered: bool

    @property
    def p(self) -> int:
        """Number of coefficients."""
        return self.X.shape[1]

    @property
    def intercept(self) -> bool:
        """Whether the first column is the intercept."""
        return has_intercept(self.X, self.terms)

    @property
    def Xc(self) -> np.ndarray:
        """The centred design ``X - 1 m'`` (the intercept column stays 1)."""
        return self.X - self.means[None, :]

    @property
    def matrix(self) -> np.ndarray:
        """``T`` with ``beta_user = T @ beta_c``: the identity with first row
        ``(1, -m_1, ..., -m_{p-1})`` when centred."""
        T = np.eye(self.p)
        if self.centered:
            T[0, 1:] = -self.means[1:]
        return T

    @property
    def center_row(self) -> np.ndarray:
        """``x`` at the moderators' means: ``x' beta_user`` is the centred intercept."""
        row = self.means.copy()
        if self.intercept:
            row[0] = 1.0
        return row

    def to_user(self, beta_c: Any) -> np.ndarray:
        """Centred coefficients -> the user's scale (the last axis is the term)."""
        b = np.asarray(beta_c, dtype=float)
        if b.shape[-1] != self.p:
            raise BayesmaError(f"to_user: last axis has {b.shape[-1]} terms, expected {self.p}")
        return b @ self.matrix.T

    def to_centered(self, beta: Any) -> np.ndarray:
        """User-scale coefficients -> centred ones (inverse of :meth:`to_user`)."""
        b = np.asarray(beta, dtype=float)
        if b.shape[-1] != self.p:
            raise BayesmaError(
                f"to_centered: last axis has {b.shape[-1]} terms, expected {self.p}")
        return b @ np.linalg.inv(self.matrix).T

    def to_user_cov(self, cov: Any) -> np.ndarray:
        """Covariance(s) of centred coefficients -> user scale: ``T C T'`` (batched)."""
        c = np.asarray(cov, dtype=float)
        T = self.matrix
        return T @ c @ T.T


def has_intercept(X: np.ndarray, terms: Sequence[str]) -> bool:
    """True when the first column is the intercept (named ``"intrcpt"`` and all ones)."""
    X = np.asarray(X, dtype=float)
    return (X.ndim == 2 and X.shape[1] >= 1 and len(terms) >= 1 and terms[0] == INTERCEPT
            and bool(np.all(X[:, 0] == 1.0)))


def center_design(X: Any, terms: Sequence[str], *, center: bool = True) -> Centering:
    """Centre every non-intercept column of ``X`` at its mean (brms' convention).

    Parameters
    ----------
    X : array (k, p)
        Design matrix.
    terms : sequence of str
        Column names; the model has an intercept when the first is ``"intrcpt"`` and its
        column is all ones. Without an intercept (or without slopes, or with
        ``center=False``) nothing is centred and ``T`` is the identity.
    center : bool
        False returns the identity map (the prior on the intercept at moderators = 0).

    Returns
    -------
    Centering
    """
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    terms = [str(t) for t in terms]
    if len(terms) != X.shape[1]:
        raise BayesmaError(f"{len(terms)} term names for {X.shape[1]} columns of X")
    p = X.shape[1]
    means = np.zeros(p)
    do = bool(center) and p > 1 and has_intercept(X, terms)
    if do:
        means[1:] = X[:, 1:].mean(axis=0)
    return Centering(X=X, terms=terms, means=means, centered=do)


def prior_scale(prior: Any) -> float | None:
    """The scale of a proper location prior (``sigma``, or ``beta`` for Cauchy); None for
    flat priors and families without one."""
    if prior is None or not getattr(prior, "proper", True):
        return None
    for attr in ("sigma", "scale", "beta"):
        v = getattr(prior, attr, None)
        if isinstance(v, int | float) and math.isfinite(float(v)) and v > 0:
            return float(v)
    return None


def check_prior_scale(mu_prior: Any, beta_priors: Any, X: Any, terms: Sequence[str], *,
                      yi: Any = None, centered: bool = True,
                      stacklevel: int = 3) -> list[str]:
    """Warn (:class:`~bayesma.errors.PriorScaleWarning`) when a prior is informative
    relative to a moderator's range.

    Two checks, each on the scale of the effects ``S`` (the SD of ``yi`` when given with
    k >= 2, else the scale of the intercept prior):

    * a slope prior with scale ``s_j`` lets the effect change by about ``±2 s_j r_j``
      across the observed range ``r_j`` of the moderator; below ``S / 2`` the prior
      decides the slope rather than the data;
    * without centring (``centered=False``) a proper intercept prior with scale ``s_0``
      applies at moderators = 0; when 0 lies far from the data (mean ``m_j``), it implies
      ``|slope| ≲ s_0 / |m_j|`` (the slope must carry the intercept from 0 to the data),
      which pins the slope when smaller than both its own prior scale and ``S / r_j``
      (brms centres for this reason; Bürkner 2017, J Stat Softw 80(1), sec. 4).

    Parameters
    ----------
    mu_prior : Prior
        Prior of the intercept.
    beta_priors : Prior, mapping or sequence, optional
        Priors of the non-intercept coefficients (one for all, by term, or in term order).
    X : array (k, p)
        The user's design.
    terms : sequence of str
    yi : array, optional
        Effect sizes (for the scale ``S``).
    centered : bool
        Whether the intercept prior applies at the moderators' means.
    stacklevel : int
        Passed to :func:`warnings.warn`.

    Returns
    -------
    list of str
        The warning messages (empty when nothing is flagged).
    """
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    terms = [str(t) for t in terms]
    intercept = has_intercept(X, terms)
    first = 1 if intercept else 0
    slopes = terms[first:]
    priors = _slope_priors(beta_priors, slopes)
    S = None
    if yi is not None:
        y = np.asarray(yi, dtype=float)
        if y.size >= 2 and np.all(np.isfinite(y)) and float(np.std(y, ddof=1)) > 0:
            S = float(np.std(y, ddof=1))
    s0 = prior_scale(mu_prior) if intercept else None
    if S is None:
        S = s0
    msgs: list[str] = []
    for j, term in enumerate(slopes, start=first):
        col = X[:, j]
        r = float(np.ptp(col)) if col.size else 0.0
        if r <= 0:
            continue
        sj = prior_scale(priors.get(term))
        if sj is not None and S is not None and 2.0 * sj * r < 0.5 * S:
            msgs.append(
                f"the prior on beta[{term}] ({priors[term].describe()}) is informative "
                f"relative to the range of {term} ({r:.4g}): it allows the effect to change "
                f"by about ±{2 * sj * r:.3g} across that range, while the effects spread "
                f"over about {S:.3g}. Widen it if that is not intended.")
        m = float(np.mean(col))
        if intercept and not centered and s0 is not None and abs(m) > 0:
            implied = s0 / abs(m)
            limit = min(x for x in (sj if sj is not None else math.inf,
                                    S / r if S is not None else math.inf))
            if implied < 0.5 * limit:
                msgs.append(
                    f"the intercept prior ({mu_prior.describe()}) applies at {term} = 0, far "
                    f"from the data (mean {m:.4g}); it restricts the slope of {term} to "
                    f"about ±{2 * implied:.3g}. Centre the moderator (center=True, the "
                    "default) or use a wider intercept prior.")
    for msg in msgs:
        warnings.warn(msg, PriorScaleWarning, stacklevel=stacklevel)
    return msgs


def _slope_priors(beta_priors: Any, slopes: list[str]) -> dict[str, Any]:
    if beta_priors is None:
        return {}
    if isinstance(beta_priors, Mapping):
        return {t: beta_priors[t] for t in slopes if t in beta_priors}
    if isinstance(beta_priors, Sequence) and not isinstance(beta_priors, str):
        return dict(zip(slopes, beta_priors, strict=False))
    return dict.fromkeys(slopes, beta_priors)

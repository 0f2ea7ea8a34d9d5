"""Model-averaged posteriors: a weighted mixture of point masses and continuous posteriors.

Under Bayesian model averaging the posterior of a parameter is
``p(x | y) = sum_m P(M_m | y) p(x | y, M_m)`` (Hoeting et al. 1999, Stat Sci 14:382,
eq. 1). A model that fixes the parameter (mu = 0 or tau = 0) contributes a point mass, so
the averaged cdf has a jump there; quantiles are the generalised inverse
``inf{x : F(x) >= q}`` (a quantile falls on the spike when ``F(0-) < q <= F(0)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, special

from bayesma.bayes.exact.quadrature import TauQuadrature
from bayesma.bayes.protocol import check_quantile_probs
from bayesma.errors import BayesmaError

__all__ = ["PointMass", "NormalPart", "ExactPart", "QuadraturePart", "Averaged"]


@dataclass(frozen=True)
class PointMass:
    """A point mass at ``value`` (a model that fixes the parameter)."""

    value: float = 0.0

    def moments(self) -> tuple[float, float]:
        return self.value, self.value ** 2

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=float) >= self.value).astype(float)

    def cdf_left(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=float) > self.value).astype(float)

    def draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.full(n, self.value)

    def span(self) -> tuple[float, float]:
        return self.value, self.value


@dataclass(frozen=True)
class NormalPart:
    """A Normal posterior ``N(mean, sd²)`` (the common-effect model's mu)."""

    mean: float
    sd: float

    def moments(self) -> tuple[float, float]:
        return self.mean, self.sd ** 2 + self.mean ** 2

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return special.ndtr((np.asarray(x, dtype=float) - self.mean) / self.sd)

    cdf_left = cdf

    def draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.normal(self.mean, self.sd, size=n)

    def span(self) -> tuple[float, float]:
        return self.mean - 40 * self.sd, self.mean + 40 * self.sd


@dataclass(frozen=True)
class ExactPart:
    """A parameter (``"mu"`` or ``"tau"``) of an exact posterior (Posterior protocol)."""

    post: Any
    param: str

    def moments(self) -> tuple[float, float]:
        m, s = float(self.post.mean(self.param)), float(self.post.sd(self.param))
        return m, s * s + m * m

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.post.cdf(self.param, np.atleast_1d(x)), dtype=float)

    cdf_left = cdf

    def draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        seed = int(rng.integers(0, 2**31 - 1))
        return np.asarray(self.post.draws(self.param, n=n, random_seed=seed), dtype=float)

    def span(self) -> tuple[float, float]:
        lo, hi = self.post.quantile(self.param, np.array([1e-12, 1 - 1e-12]))
        return float(lo), float(hi)


@dataclass(frozen=True)
class QuadraturePart:
    """The posterior of tau carried by a :class:`TauQuadrature` (its cdf and moments)."""

    quad: TauQuadrature

    def moments(self) -> tuple[float, float]:
        return float(self.quad.moment(1)), float(self.quad.moment(2))

    def cdf(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_1d(np.asarray(x, dtype=float))
        lo, hi = self.quad.map.lo, self.quad.map.hi
        inside = (x > lo) & (x < hi)
        out = np.where(x <= lo, 0.0, 1.0)
        if inside.any():
            out[inside] = self.quad.cdf_u(self.quad.map.u(x[inside]))
        return out

    cdf_left = cdf

    def draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.quad.map.tau(self.quad.quantile_u(rng.uniform(size=n)))

    def span(self) -> tuple[float, float]:
        t = self.quad.map.tau(self.quad.quantile_u(np.array([1e-12, 1 - 1e-12])))
        return float(t[0]), float(t[1])


class Averaged:
    """A model-averaged posterior of one parameter: ``sum_m w_m p_m(x)``.

    Parameters
    ----------
    parts : list of (weight, part)
        Posterior model probabilities (summing to 1) and the parameter's posterior in that
        model (:class:`PointMass`, :class:`NormalPart`, :class:`ExactPart`,
        :class:`QuadraturePart`).
    support : tuple
        Support of the parameter (quantiles 0 and 1 are its ends).
    """

    def __init__(self, parts: list[tuple[float, Any]],
                 support: tuple[float, float] = (-math.inf, math.inf)) -> None:
        self.support = (float(support[0]), float(support[1]))
        self.parts = [(float(w), p) for w, p in parts if w > 0]
        total = sum(w for w, _ in self.parts)
        if not self.parts or not math.isclose(total, 1.0, rel_tol=1e-9):
            raise BayesmaError(f"model weights must sum to 1, got {total}")

    @property
    def spike(self) -> float:
        """Probability of the point mass at 0 (models fixing the parameter at 0)."""
        return float(sum(w for w, p in self.parts if isinstance(p, PointMass)
                         and p.value == 0.0))

    def mean(self) -> float:
        return float(sum(w * p.moments()[0] for w, p in self.parts))

    def sd(self) -> float:
        m2 = sum(w * p.moments()[1] for w, p in self.parts)
        return math.sqrt(max(m2 - self.mean() ** 2, 0.0))

    def cdf(self, x: Any) -> np.ndarray:
        """``P(X <= x)``."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        return np.clip(sum(w * p.cdf(x) for w, p in self.parts), 0.0, 1.0)

    def cdf_left(self, x: Any) -> np.ndarray:
        """``P(X < x)`` (differs from :meth:`cdf` at a point mass)."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        return np.clip(sum(w * p.cdf_left(x) for w, p in self.parts), 0.0, 1.0)

    def quantile(self, q: Any) -> np.ndarray:
        """Generalised inverse of the cdf, ``inf{x : F(x) >= q}``, to ~1e-12."""
        qa = check_quantile_probs(q)
        spans = [p.span() for _, p in self.parts]
        lo = min(s[0] for s in spans)
        hi = max(s[1] for s in spans)
        width = max(hi - lo, 1e-8)
        out = np.empty(qa.size)
        atoms = sorted({p.value for _, p in self.parts if isinstance(p, PointMass)})
        for i, qi in enumerate(qa):
            if qi <= 0.0:
                out[i] = self.support[0]
                continue
            if qi >= 1.0:
                out[i] = self.support[1]
                continue
            hit = next((a for a in atoms
                        if self.cdf_left(a)[0] < qi <= self.cdf(a)[0]), None)
            if hit is not None:
                out[i] = hit
                continue
            a, b = lo - width, hi + width
            while self.cdf(a)[0] > qi:
                a -= 10 * width
            while self.cdf(b)[0] < qi:
                b += 10 * width
            out[i] = optimize.brentq(lambda x, qi=qi: self.cdf(x)[0] - qi, a, b,
                                     xtol=1e-13, rtol=1e-13, maxiter=500)
        return out

    def draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws: model indicators by the weights, then the model's posterior."""
        w = np.array([w for w, _ in self.parts])
        counts = rng.multinomial(n, w / w.sum())
        out = np.concatenate([p.draws(int(c), rng) for c, (_, p) in zip(counts, self.parts,
                                                                         strict=True)
                              if c > 0])
        return rng.permutation(out)

"""Log joint densities of RoBMA's models on an unconstrained parameter vector (vectorised).

Parameters, in order (only those the model has): ``mu``; ``log tau``; ``log b`` (the PET
or PEESE coefficient); the free additive-logistic coordinates ``z_2..z_J`` of the
Dirichlet increments ``eta = softmax(0, z)`` of a weight function.

Likelihoods (Bartoš et al. 2023, Res Synth Methods 14:99, eq. 1-4; RoBMA's JAGS models):

* no bias:  ``y_i ~ N(mu, v_i + tau²)``;
* PET:      ``y_i ~ N(mu + b se_i, v_i + tau²)``; PEESE: ``N(mu + b v_i, v_i + tau²)``
  (``b >= 0``; ``mu - b se_i`` and ``mu - b v_i`` when the expected direction is negative);
* weight function (Hedges 1992; Vevea & Hedges 1995, the marginal weighted normal):
  ``f(y_i) = omega_{j(i)} N(y_i | mu, s_i²) / sum_j omega_j P_j(mu, s_i²)`` with
  ``s_i² = v_i + tau²``, ``j(i)`` the p-value interval of study i (one-sided
  ``p = 1 - Phi(y/se)`` for a positive expected direction, ``Phi(y/se)`` for a negative
  one, as RoBMA's ``effect_direction``; or two-sided ``2(1 - Phi(|y|/se))``)
  and ``P_j`` the probability of interval j under ``N(mu, s_i²)``. The weights are RoBMA's
  cumulative Dirichlet: ``eta ~ Dirichlet(alpha)``, ``omega_j = eta_1 + ... + eta_{J-j+1}``
  (interval 1 = smallest p-values, ``omega_1 = 1``).

Priors with Jacobians: tau = exp(u) adds ``u``; b = exp(w) ~ half-Cauchy(0, s) adds ``w``;
the additive-logistic map has Jacobian ``prod_j eta_j`` (Aitchison 1986, sec. 6.2), so the
Dirichlet prior becomes ``Gamma(sum alpha)/prod Gamma(alpha_j) prod eta_j^alpha_j``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from bayesma.bayes.averaging.robma.defaults import ModelSpec
from bayesma.bayes.exact.gaussian import LOG2PI
from bayesma.priors import Normal, Prior

__all__ = ["LogJoint", "omega_from_eta"]


def omega_from_eta(eta: np.ndarray) -> np.ndarray:
    """RoBMA's cumulative weights: ``omega_j = sum_{l <= J-j+1} eta_l`` (rows of ``eta``)."""
    return np.cumsum(eta, axis=-1)[..., ::-1]


@dataclass
class LogJoint:
    """``log p(y, theta)`` of one model on the unconstrained parameters (rows of ``z``).

    Attributes
    ----------
    names : list of str
        Names of the unconstrained coordinates.
    """

    spec: ModelSpec
    y: np.ndarray
    v: np.ndarray
    mu_prior: Normal
    tau_prior: Prior
    #: +1: one-sided selection favours positive effects (RoBMA's default), -1: negative
    direction: int = 1

    def __post_init__(self) -> None:
        self.se = np.sqrt(self.v)
        self._log_tau = self.tau_prior.log_density(self.v)
        b = self.spec.bias
        names = (["mu"] if self.spec.effect else []) + (["log_tau"] if
                                                         self.spec.heterogeneity else [])
        if b.kind in ("PET", "PEESE"):
            names.append("log_b")
            self.x = self.direction * (self.se if b.kind == "PET" else self.v)
        if b.kind == "weightfunction":
            names += [f"z{j}" for j in range(2, b.n_omega + 1)]
            self._setup_weightfunction()
        self.names = names

    @property
    def dim(self) -> int:
        return len(self.names)

    # ---------------------------------------------------------------- weight functions
    def _setup_weightfunction(self) -> None:
        b = self.spec.bias
        steps = np.asarray(b.steps, dtype=float)
        if b.sides == 1:
            p = special.ndtr(-self.direction * self.y / self.se)   # one-sided
            self.cut = self.se[:, None] * special.ndtri(1 - steps)[None, :]  # decreasing
        else:
            p = 2 * special.ndtr(-np.abs(self.y) / self.se)
            self.cut = self.se[:, None] * special.ndtri(1 - steps / 2)[None, :]
        # interval index: 0 for p < steps[0], ..., J-1 for p >= steps[-1]
        self.interval = np.searchsorted(steps, p, side="right")
        alpha = np.asarray(b.alpha, dtype=float)
        self.alpha = alpha
        self.log_dir_const = float(special.gammaln(alpha.sum()) - special.gammaln(alpha).sum())

    def eta(self, zw: np.ndarray) -> np.ndarray:
        """Dirichlet increments from the free logits (rows)."""
        full = np.concatenate([np.zeros((zw.shape[0], 1)), zw], axis=1)
        e = np.exp(full - np.max(full, axis=1, keepdims=True))
        return e / np.sum(e, axis=1, keepdims=True)

    def _upper(self, mu: np.ndarray, s: np.ndarray) -> np.ndarray:
        """``P(y > cut_j)`` (one-sided) or ``P(|y| > cut_j)`` (two-sided) for every row,
        study and step: shape (N, k, J - 1), increasing in j."""
        cut = self.cut[None, :, :]
        m = mu[:, None, None]
        sd = s[:, :, None]
        if self.spec.bias.sides == 1:
            return special.ndtr((self.direction * m - cut) / sd)
        return special.ndtr((m - cut) / sd) + special.ndtr((-cut - m) / sd)

    def _denominator(self, mu: np.ndarray, s: np.ndarray, eta: np.ndarray) -> np.ndarray:
        """``sum_j omega_j P_j`` for every row and study. With ``U_j`` = :meth:`_upper`,
        ``P_1 = U_1``, ``P_j = U_j - U_{j-1}``, ``P_J = 1 - U_{J-1}``; summing by parts,
        ``sum_j omega_j P_j = omega_J + sum_{j<J} (omega_j - omega_{j+1}) U_j`` and the
        cumulative weights give ``omega_j - omega_{j+1} = eta_{J-j+1}``."""
        upper = self._upper(mu, s)
        return eta[:, :1] + np.einsum("nkj,nj->nk", upper, eta[:, :0:-1])

    # ---------------------------------------------------------------- the log joint
    def unpack(self, z: np.ndarray) -> dict[str, np.ndarray]:
        """Natural parameters (mu, tau, b, omega) of the rows of ``z``."""
        z = np.atleast_2d(np.asarray(z, dtype=float))
        n = z.shape[0]
        i = 0
        out: dict[str, np.ndarray] = {}
        if self.spec.effect:
            out["mu"] = z[:, i]
            i += 1
        else:
            out["mu"] = np.zeros(n)
        if self.spec.heterogeneity:
            out["tau"] = np.exp(z[:, i])
            i += 1
        else:
            out["tau"] = np.zeros(n)
        kind = self.spec.bias.kind
        if kind in ("PET", "PEESE"):
            out[kind.lower()] = np.exp(z[:, i])
            i += 1
        if kind == "weightfunction":
            out["omega"] = omega_from_eta(self.eta(z[:, i:]))
        return out

    def terms(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(log likelihood, log prior + log Jacobian)`` of each row of ``z``."""
        z = np.atleast_2d(np.asarray(z, dtype=float))
        par = self.unpack(z)
        mu, tau = par["mu"], par["tau"]
        lp = np.zeros(z.shape[0])
        i = 0
        if self.spec.effect:
            s0 = float(self.mu_prior.sigma)
            lp += -0.5 * LOG2PI - math.log(s0) - 0.5 * ((mu - self.mu_prior.mu) / s0) ** 2
            i += 1
        if self.spec.heterogeneity:
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                lp += self._log_tau(tau) + z[:, i]
            i += 1
        s2 = self.v[None, :] + np.square(tau)[:, None]
        mean = np.broadcast_to(mu[:, None], s2.shape)
        bias = self.spec.bias
        if bias.kind in ("PET", "PEESE"):
            b = par[bias.kind.lower()]
            sc = bias.scale
            lp += math.log(2 / (math.pi * sc)) - np.log1p((b / sc) ** 2) + z[:, i]
            mean = mean + b[:, None] * self.x[None, :]
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            ll = -0.5 * np.sum(LOG2PI + np.log(s2) + np.square(self.y[None, :] - mean) / s2,
                               axis=1)
            if bias.kind == "weightfunction":
                eta = self.eta(z[:, -(bias.n_omega - 1):])
                omega = par["omega"]
                lp += self.log_dir_const + np.sum(self.alpha[None, :] * np.log(eta), axis=1)
                denom = self._denominator(mu, np.sqrt(s2), eta)
                ll += np.sum(np.log(omega[:, self.interval]) - np.log(denom), axis=1)
        return ll, lp

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """Log joint density (likelihood x prior x Jacobian) of each row of ``z``
        (``-inf`` where it underflows or a parameter overflows, e.g. far quadrature nodes)."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ll, lp = self.terms(z)
        out = ll + lp
        return np.where(np.isfinite(out), out, -np.inf)

"""Bayes factors of the exact posterior: Savage-Dickey ratios and marginal likelihoods.

* ``bayes_factor(param, value)``: the Savage-Dickey density ratio
  ``BF01 = p(value | y) / p(value)`` (Dickey 1971; bayesmeta's ``bayesfactor``, Röver
  2020, J Stat Softw 93(6), sec. 2.6); undefined where the prior density is 0 or
  infinite.
* ``bf01_tau0()``: ``BF01 = p(y | tau = 0) / p(y)``, the ratio of the marginal likelihoods
  of the common-effect model and the random-effects model (both with the same prior on
  the coefficients). It is defined for every proper tau prior, also those with density 0
  at tau = 0 such as Turner's log-normal on tau² (bayesmeta reports it there too); where
  the prior density at 0 is positive and finite it equals the Savage-Dickey ratio, since
  ``p(tau = 0 | y) / p(tau = 0) = p(y | tau = 0) / p(y)`` by Bayes' theorem.
"""

from __future__ import annotations

import math

import numpy as np

from bayesma.errors import BayesmaError
from bayesma.priors import Normal

__all__ = ["EvidenceMixin"]


class EvidenceMixin:
    """Prior densities and Bayes factors; mixed into ``ExactPosterior``."""

    def _coef_prior(self, kind: str, idx):
        """The prior of a user-scale coefficient: the stated one, or for the intercept of
        a centred meta-regression its implied Normal ``N(T_0 m, sum_j T_0j² s_j²)``
        (``T`` of :mod:`bayesma.bayes.centering`); None when that involves a flat prior."""
        j = 0 if kind == "mu" else idx[0]
        stated = self.coef_priors[self.terms[j]]
        if j != 0 or not self.centered:
            return stated
        if self._flat[0]:
            return None
        row = self.centering.matrix[0]
        cp = list(self.coef_priors.values())
        mean = float(sum(r * pr.mu for r, pr in zip(row, cp, strict=True)))
        sd = math.sqrt(sum((r * pr.sigma) ** 2 for r, pr in zip(row, cp, strict=True)))
        return Normal(mean, sd)

    def prior_pdf(self, param: str, x) -> float | np.ndarray:
        """Prior density of mu, a coefficient (``"beta[<term>]"``), ``mu_centered`` or
        tau at ``x`` (for a centred intercept: its implied prior on the user's scale)."""
        kind, idx, vec = self._parse(param)
        xa = np.asarray(x, dtype=float)
        if kind in ("mu", "beta") and not vec:
            prior = self._coef_prior(kind, idx)
            if prior is None:
                return np.ones_like(xa) if xa.ndim else 1.0
            return prior.pdf(xa)
        if kind == "mu_centered":
            return self.coef_priors[self.terms[0]].pdf(xa)
        if kind == "tau":
            return self._tau_prior.pdf(xa, **self._tau_kw)
        raise BayesmaError(f"prior_pdf is available for mu, beta[<term>], mu_centered and "
                           f"tau, not {param!r}")

    def bayes_factor(self, param: str = "mu", value: float = 0.0) -> float:
        """Savage-Dickey Bayes factor BF01 for ``param == value`` (against ``!=``).

        ``BF01 = p(value | y) / p(value)``: posterior over prior density at the point
        (Dickey 1971; bayesmeta's ``bayesfactor``, Röver 2020, sec. 2.6). ``param`` is
        ``"mu"``, ``"beta[<term>]"``, ``"mu_centered"`` or ``"tau"`` (typically
        ``value = 0``). For tau = 0 under priors with density 0 there use
        :meth:`bf01_tau0` (the ratio of marginal likelihoods).

        Raises
        ------
        BayesmaError
            When the prior is improper, or its density at ``value`` is 0 or infinite
            (then the Savage-Dickey ratio is undefined).
        """
        kind, idx, vec = self._parse(param)
        if kind not in ("mu", "beta", "tau", "mu_centered") or vec:
            raise BayesmaError("bayes_factor: param must be 'mu', 'beta[<term>]', "
                               "'mu_centered' or 'tau'")
        if kind == "tau":
            prior = self._tau_prior
        elif kind == "mu_centered":
            prior = self.coef_priors[self.terms[0]]
        else:
            prior = self._coef_prior(kind, idx)
        if prior is None or not prior.proper:
            what = "a flat prior" if prior is None else prior.describe()
            raise BayesmaError(
                f"the Savage-Dickey Bayes factor needs a proper prior; {what} is "
                "improper, so BF01 is undefined (arbitrary normalising constant)"
            )
        pr = float(self.prior_pdf(param, value))
        if kind == "tau":
            post = float(np.exp(self._logpost_tau(np.array([float(value)]))[0]
                                - self._quad.log_z))
        else:
            post = float(self.pdf(param, value))
        if pr == 0.0:
            raise BayesmaError(
                f"the prior {prior.describe()} has density 0 at {param} = {value:g}, so the "
                "Savage-Dickey Bayes factor is undefined there (the point hypothesis has no "
                "prior support; the posterior density is 0 too); for tau = 0 use "
                "bf01_tau0(), the ratio of marginal likelihoods"
            )
        if not math.isfinite(pr):
            raise BayesmaError(
                f"the prior {prior.describe()} has infinite density at {param} = {value:g}; "
                "the Savage-Dickey Bayes factor is undefined there"
            )
        return post / pr

    def bf01_tau0(self) -> float:
        """BF01 of tau = 0 (common effect) against tau ~ prior: ``p(y | tau=0) / p(y)``.

        The ratio of the marginal likelihood of the common-effect model to that of the
        random-effects model, with the same coefficient priors (flat components enter
        both as the restricted likelihood, so their arbitrary constant cancels). Defined
        for every proper tau prior, including those with density 0 at tau = 0 (Turner's
        log-normal on tau²), where :meth:`bayes_factor` ("tau", 0) is undefined; where
        both exist they agree (Savage-Dickey: ``p(0 | y) / p(0) = p(y | 0) / p(y)``).

        Raises
        ------
        BayesmaError
            When the tau prior is improper (``p(y)`` then has no fixed scale).
        """
        if not self._tau_prior.proper:
            raise BayesmaError(
                f"BF01 for tau = 0 needs a proper prior on tau; {self._tau_prior.describe()} "
                "is improper, so p(y) has an arbitrary normalising constant")
        if self._tau_prior.support[0] > 0:
            raise BayesmaError(f"tau = 0 is outside the support of {self._tau_prior.describe()}")
        log_l0 = float(self._gauss.evaluate(np.array([0.0]))[0][0])
        return math.exp(log_l0 - self.log_marginal_likelihood)

    def densities(self) -> dict[str, float]:
        """Posterior and prior densities at mu = 0 and tau = 0 and the Savage-Dickey BF01s
        (the ``densities`` block of ``../shared/bayes_reference``); NaN where undefined.

        ``bf01_tau_eq_0_ml`` is :meth:`bf01_tau0` (ratio of marginal likelihoods), defined
        also where the Savage-Dickey ``bf01_tau_eq_0`` is not.
        """
        out = {}
        for par in ("mu", "tau"):
            try:
                bf = self.bayes_factor(par, 0.0)
            except BayesmaError:
                bf = math.nan
            proper = (self._tau_prior.proper if par == "tau"
                      else self._coef_prior("mu", [0]) is not None
                      and self._coef_prior("mu", [0]).proper)
            pr = float(self.prior_pdf(par, 0.0)) if proper else math.nan
            post = (float(self.pdf("mu", 0.0)) if par == "mu" else float(
                np.exp(self._logpost_tau(np.array([0.0]))[0] - self._quad.log_z)))
            out[f"posterior_{par}_at_0"] = post
            out[f"prior_{par}_at_0"] = pr
            out[f"bf01_{par}_eq_0"] = bf
        try:
            out["bf01_tau_eq_0_ml"] = self.bf01_tau0()
        except BayesmaError:
            out["bf01_tau_eq_0_ml"] = math.nan
        return out

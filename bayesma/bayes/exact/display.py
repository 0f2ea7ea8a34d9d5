"""Summary statistics, the summary table and the printout of the exact posterior.

The table itself is built by :func:`bayesma.bayes.table.posterior_table` (one builder
for every engine); this module supplies the exact engine's rows (quantiles by Newton on
the mixtures, shortest intervals, tail-aware standard deviations), ``E[exp(x)]`` for
log-scale measures and the compact printout.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bayesma.bayes.accessors import location_row_stats
from bayesma.bayes.exact.quadrature import logsumexp
from bayesma.bayes.exact.tau_scale import TAU_LIKE
from bayesma.bayes.protocol import STAT_COLUMNS
from bayesma.bayes.table import compact_text, posterior_table
from bayesma.errors import BayesmaError
from bayesma.formatting import fmt_plain
from bayesma.measures import get_measure

__all__ = ["DisplayMixin"]


class DisplayMixin:
    """Tables and printing; mixed into ``ExactPosterior``."""

    def summary(self, prob: float | None = None, theta: bool = True, *,
                classical: bool | str | None = True,
                classical_test: str | None = None) -> pd.DataFrame:
        """Posterior summary table (:func:`bayesma.bayes.table.posterior_table`).

        Parameters
        ----------
        prob : float, optional
            Interval probability (default :attr:`level`).
        theta : bool
            Include one row per study (``theta[label]``).
        classical : bool or str or None
            The twin: True for this posterior's own (``classical``), an estimator name for
            another, None for none.
        classical_test : str, optional
            Test of a named twin (default ``"knha"``).

        Returns
        -------
        DataFrame
            Rows ``mu, tau, tau2, i2, theta_new, beta[<term>]..., mu_centered,
            theta[<label>]...`` (a meta-regression without intercept has ``beta[...]``
            for every term and no ``mu``/``theta_new``; ``mu_centered`` only in a centred
            meta-regression), then ``P(mu > 0)``, ``P(mu < 0)`` and the same for each
            coefficient (the probability in ``mean``). Columns ``mean, sd, median,
            eti_low, eti_high, hdi_low, hdi_high`` and the classical twin ``classical,
            classical_low, classical_high`` (estimate and CI; Q-profile CIs for tau,
            tau², I²; the prediction interval for theta_new; NaN without a twin); for
            log-scale measures also ``exp_mean, exp_median, exp_eti_low, exp_eti_high,
            exp_classical, exp_classical_low, exp_classical_high``. ``i2`` is in
            percent, as metafor. ``attrs`` hold ``prob``, ``priors``, ``model``,
            ``classical`` and ``bf01_tau0``.
        """
        return posterior_table(self, prob, theta=theta, classical=classical,
                               classical_test=classical_test)

    def summary_stats(self, prob: float, *, theta: bool = True) -> pd.DataFrame:
        """The engine's rows of the summary table (see :class:`SummarySource`)."""
        a = (1.0 - prob) / 2.0
        qs = np.array([a, 0.5, 1.0 - a])
        stats: dict[str, tuple] = {}
        # tau-like rows share one set of tau quantiles (with the ends of the intervals
        # against a support bound) and their shortest intervals' Newton iterations
        qu = self._quad.quantile_u(np.append(qs, [prob, 1.0 - prob]))
        tq = self._quad.map.tau(qu[:3])
        tau_like = ("tau", "tau2", "i2")
        qk = {name: self._from_tau(name, tq) for name in tau_like}
        hdi = self._hdi_tau_likes(tau_like, prob, {k: q[[0, 2]] for k, q in qk.items()},
                                  qu[3:])
        for name in tau_like:
            q, h = qk[name], hdi[name]
            stats[name] = (self.mean(name), self.sd(name), q[1], q[0], q[2], h[0], h[1])
        loc, rows = location_row_stats(
            self._mixture, self._node_data()["w"], prob, intercept=self.intercept,
            terms=list(self.terms), centered=self.centered, labels=list(self.labels),
            theta=theta)
        for nm in loc:  # tail-aware SDs (infinite moments)
            rows[nm] = (rows[nm][0], self.sd(nm), *rows[nm][2:])
        stats.update(rows)
        names = list(rows)
        order = (["mu"] if self.intercept else []) + ["tau", "tau2", "i2"] + (
            ["theta_new"] if self.intercept else []) + [
            nm for nm in names if nm not in ("mu", "theta_new")]
        df = pd.DataFrame(np.array([stats[nm] for nm in order], dtype=float),
                          index=pd.Index(order, name="param"), columns=STAT_COLUMNS)
        try:
            bf_tau0 = self.bf01_tau0()
        except BayesmaError:
            bf_tau0 = math.nan
        df.attrs.update(model="ExactPosterior", bf01_tau0=bf_tau0,
                        priors="; ".join(f"{k}: {v}" for k, v in self._prior_texts()))
        return df

    def mean_exp(self, param: str) -> float:
        """``E[exp(param)]`` for a location parameter: a mixture of log-normal means
        ``exp(m + s²/2)`` over the tau nodes; ``inf`` when the tail of tau makes it so."""
        kind, idx, vec = self._parse(param)
        if kind in TAU_LIKE or vec:
            raise BayesmaError(f"mean_exp needs one location parameter, not {param!r}")
        nd = self._node_data()
        M, S = self._mixture(kind, idx)
        lg = M[0] + 0.5 * np.square(S[0]) + np.log(nd["w"])
        top = float(np.max(lg))
        # with a polynomial tail of tau, exp(s²/2) grows faster than p(tau) decays when s²
        # grows with tau²; check the last nodes carry no weight
        grows = kind == "theta_new" or bool(self._is_flat(kind, idx)[0])
        if grows and (self._quad.rate_hi < 1e8 or lg[-1] > top - 30):
            return math.inf
        log_mean = float(logsumexp(lg))
        # exp overflows past ~709.78: the mean is then beyond float range (e.g. the
        # intercept of a raw-scale moderator far from the data), reported as inf
        return math.inf if log_mean > 709.0 else math.exp(log_mean)

    def classical_fit(self, method: str | None = None, test: str | None = None):
        """The classical twin with another tau² estimator and/or test (same data and
        design); ``None`` for both gives :attr:`classical`."""
        res = self.classical
        if res is None or (method is None and test is None):
            return res
        return res.with_settings(method=method or res.method, test=test or res.test)

    def _prior_texts(self) -> list[tuple[str, str]]:
        mu = "mu" if self.intercept else f"beta[{self.terms[0]}]"
        if self.centered:
            mu = "mu_centered"
        out = [(mu, self.priors["mu"].describe())]
        out += [(f"beta[{t}]", pr.describe()) for t, pr in self.priors.get("beta", {}).items()]
        out.append(("tau", self._tau_prior.describe()))
        return out

    def __str__(self) -> str:
        table = self.summary()
        measure = get_measure(self.measure)
        scale = f", measure {self.measure}" if self.measure else ""
        if self.measure and measure.log_scale:
            scale += " (log scale)"
        model = "random-effects model" if self.p == 1 else "meta-regression"
        header = [f"Exact posterior ({model}, quadrature over tau): k = {self.k} studies"
                  f"{scale}",
                  "Priors: " + "; ".join(f"{k} ~ {v}" for k, v in self._prior_texts())]
        if self.centered:
            header.append("  (the intercept prior applies at the moderators' means; mu is "
                          "the intercept on the data's scale)")
        footer = []
        for par in ["mu"] + [f"beta[{t}]" for t in self.terms[1:]]:
            if not self.intercept and par == "mu":
                continue
            try:
                footer.append(f"BF01 ({par} = 0, Savage-Dickey) = "
                              f"{self.bayes_factor(par, 0.0):.4g}")
            except BayesmaError:
                footer.append(f"BF01 ({par} = 0): undefined (improper or zero prior density)")
        bf = table.attrs.get("bf01_tau0", math.nan)
        footer.append(f"BF01 (tau = 0, common effect vs random effects) = {bf:.4g}")
        footer.append(f"log marginal likelihood = {fmt_plain(self.log_marginal_likelihood, 4)}")
        return compact_text(table, header=header, footer=footer)

    def __repr__(self) -> str:
        return self.__str__()

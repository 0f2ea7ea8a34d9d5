"""Summary table, draws, data tree and printout of the three-level exact posterior."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesma.bayes.accessors import location_row_stats
from bayesma.bayes.exact.quadrature import logsumexp
from bayesma.bayes.multilevel.twin import multilevel_twin
from bayesma.bayes.protocol import STAT_COLUMNS, n_draws
from bayesma.bayes.table import compact_text, posterior_table
from bayesma.errors import BayesmaError
from bayesma.formatting import fmt_plain

__all__ = ["MultilevelDisplay", "MULTILEVEL_LIBRARY", "DEFAULT_DRAWS"]

#: ``inference_library`` attribute of the trees written by the three-level exact engine
MULTILEVEL_LIBRARY = "bayesma-exact-multilevel"
#: number of i.i.d. draws when none is asked for
DEFAULT_DRAWS = 4000


class MultilevelDisplay:
    """Tables, draws and printing; mixed into ``MultilevelPosterior``."""

    def summary(self, prob: float | None = None, theta: bool = True, *,
                classical: bool | str | None = True,
                classical_test: str | None = None) -> pd.DataFrame:
        """Posterior summary table (:func:`bayesma.bayes.table.posterior_table`).

        Rows ``mu``, ``tau[<level>]``, ``tau2[<level>]`` (outer level first),
        ``theta_new``, ``beta[<term>]``, ``mu_centered`` (centred meta-regression),
        ``theta[<label>]``, then ``P(mu > 0)``, ``P(mu < 0)`` ...; columns ``mean, sd,
        median, eti_low, eti_high, hdi_low, hdi_high`` and the classical twin
        (rma_mv REML with CR2 robust CIs for the coefficients, the prediction interval
        for theta_new).
        """
        return posterior_table(self, prob, theta=theta, classical=classical,
                               classical_test=classical_test)

    def summary_stats(self, prob: float, *, theta: bool = True) -> pd.DataFrame:
        """The engine's rows of the summary table (see :class:`SummarySource`)."""
        a = (1.0 - prob) / 2.0
        qs = np.array([a, 0.5, 1.0 - a])
        stats: dict[str, tuple] = {}
        sd_rows = []
        for kind in ("tau", "tau2"):
            for lv in self.levels:
                name = f"{kind}[{lv}]"
                q = np.asarray(self.quantile(name, qs), dtype=float)
                h = self.interval(name, prob, kind="hdi")
                stats[name] = (self.mean(name), self.sd(name), q[1], q[0], q[2], h[0], h[1])
                sd_rows.append(name)
        _, rows = location_row_stats(
            self._mixture, self._node_data()["w"], prob, intercept=self.intercept,
            terms=list(self.terms), centered=self.centered, labels=list(self.labels),
            theta=theta)
        stats.update(rows)
        names = list(rows)
        order = (["mu"] if self.intercept else []) + sd_rows + (
            ["theta_new"] if self.intercept else []) + [
            nm for nm in names if nm not in ("mu", "theta_new")]
        df = pd.DataFrame([stats[nm] for nm in order], index=pd.Index(order, name="param"),
                          columns=STAT_COLUMNS, dtype=float)
        df.attrs.update(model="MultilevelPosterior",
                        priors="; ".join(f"{k}: {v}" for k, v in self._prior_texts()))
        return df

    def mean_exp(self, param: str) -> float:
        """``E[exp(param)]`` of a location parameter (a mixture of log-normal means)."""
        kind, idx, vec = self._parse(param)
        if kind in ("tau", "tau2") or vec:
            raise BayesmaError(f"mean_exp needs one location parameter, not {param!r}")
        M, S = self._mixture(kind, idx)
        lg = M[0] + 0.5 * np.square(S[0]) + np.log(self._node_data()["w"])
        log_mean = float(logsumexp(lg))
        return math.inf if log_mean > 709.0 else math.exp(log_mean)

    def classical_fit(self, method: str | None = None, test: str | None = None):
        """The classical twin (rma_mv with ``method`` "REML" or "ML", CR2 inference);
        ``None`` gives :attr:`classical`. ``test`` is ignored (always CR2)."""
        res = self.classical
        if res is None or method is None or str(method).upper() == res.method:
            return res
        return multilevel_twin(self.ml, level=self.level, method=method)

    def _prior_texts(self) -> list[tuple[str, str]]:
        mu = "mu_centered" if self.centered else (
            "mu" if self.intercept else f"beta[{self.terms[0]}]")
        out = [(mu, self.priors["mu"].describe())]
        out += [(f"beta[{t}]", pr.describe()) for t, pr in self.priors.get("beta", {}).items()]
        out += [(f"tau[{lv}]", pr.describe()) for lv, pr in self.tau_priors.items()]
        return out

    # ------------------------------------------------------------------ draws
    def sample(self, n: int = DEFAULT_DRAWS, random_seed: Any = None) -> dict[str, np.ndarray]:
        """Posterior draws: the SDs as quadrature nodes drawn with their weights (a fine
        discretisation of their joint posterior), then beta from its Gaussian conditional
        and each theta from its Gaussian conditional given the SDs (beta integrated out;
        the within-study correlation of the thetas is not kept).

        Returns
        -------
        dict
            ``mu, theta_new`` (n,), ``tau`` (n, 2), ``beta`` (n, p), ``theta`` (n, k),
            and ``mu_centered`` (n,) when centred.
        """
        n = n_draws(n, DEFAULT_DRAWS)
        rng = np.random.default_rng(random_seed)
        nd = self._node_data()
        g = rng.choice(nd["w"].size, size=n, p=nd["w"])
        ts, te = nd["ts"][g], nd["te"][g]
        Lc = np.linalg.cholesky(nd["Cc"][g])
        beta_c = nd["bc"][g] + np.einsum("nij,nj->ni", Lc, rng.standard_normal((n, self.p)))
        beta = self.centering.to_user(beta_c)
        tm, tsd = self._theta_moments()
        theta = tm[g] + tsd[g] * rng.standard_normal((n, self.k))
        new = beta[:, 0] + np.sqrt(ts * ts + te * te) * rng.standard_normal(n)
        out = {"mu": beta[:, 0], "tau": np.column_stack([ts, te]), "theta_new": new,
               "beta": beta, "theta": theta}
        if self.centered or self.p == 1:
            out["mu_centered"] = beta_c[:, 0]
        return out

    def draws(self, param: str, *, n: int | None = None, random_seed: Any = None
              ) -> np.ndarray:
        """Posterior draws of one parameter ((n,) or (n, m)); see :meth:`sample`."""
        kind, idx, vec = self._parse(param)
        d = self.sample(n_draws(n, DEFAULT_DRAWS), random_seed)
        if kind in ("tau2",):
            arr = np.square(d["tau"][:, idx])
        else:
            arr = d[kind] if kind not in ("theta", "beta", "tau") else d[kind][:, idx]
            if kind not in ("theta", "beta", "tau"):
                return arr
        return arr if vec else arr[:, 0]

    def to_datatree(self, n: int | None = None, *, random_seed: Any = None,
                    chains: int = 4) -> xr.DataTree:
        """Draws (:meth:`sample`) as an ``xarray.DataTree`` shaped ``chain x draw``
        (``posterior``: mu, tau[level], tau2[level], theta_new, theta[effect],
        beta[term]; ``observed_data``; ``constant_data``)."""
        n = n_draws(n, DEFAULT_DRAWS)
        per = n // int(chains) if int(chains) > 0 else 0
        if per < 1:
            raise BayesmaError(f"n = {n} draws cannot fill {chains} chains")
        d = self.sample(per * chains, 0 if random_seed is None else random_seed)

        def cd(x):
            return x.reshape((chains, per) + x.shape[1:])

        post = {"mu": (("chain", "draw"), cd(d["mu"])),
                "theta_new": (("chain", "draw"), cd(d["theta_new"])),
                "tau": (("chain", "draw", "level"), cd(d["tau"])),
                "tau2": (("chain", "draw", "level"), cd(np.square(d["tau"]))),
                "theta": (("chain", "draw", "effect"), cd(d["theta"])),
                "beta": (("chain", "draw", "term"), cd(d["beta"]))}
        coords = {"chain": np.arange(chains), "draw": np.arange(per),
                  "level": list(self.levels), "effect": list(self.labels),
                  "term": list(self.terms)}
        attrs = {"inference_library": MULTILEVEL_LIBRARY,
                 "model": "MultilevelPosterior", "random": self.random,
                 "priors": json.dumps({"coef": {t: pr.spec() for t, pr in
                                                self.coef_priors.items()},
                                       "tau": {lv: pr.spec() for lv, pr in
                                               self.tau_priors.items()}}),
                 "log_marginal_likelihood": self.log_marginal_likelihood,
                 "level": self.level, "center": int(self.centered),
                 "measure": self.measure or ""}
        posterior = xr.Dataset(post, coords=coords, attrs=attrs)
        observed = xr.Dataset({"y": (("effect",), self.yi)},
                              coords={"effect": self.labels})
        const = xr.Dataset({"vi": (("effect",), self.vi), "X": (("effect", "term"), self.X),
                            "cluster": (("effect",), np.asarray(self.ml.study))},
                           coords={"effect": self.labels, "term": self.terms})
        tree = xr.DataTree.from_dict({"posterior": posterior, "observed_data": observed,
                                      "constant_data": const})
        tree.attrs.update(attrs)
        return tree

    # ------------------------------------------------------------------ printing
    def __str__(self) -> str:
        table = self.summary()
        scale = f", measure {self.measure}" if self.measure else ""
        header = [f"Exact posterior of the three-level model {self.random} (2-D quadrature "
                  f"over the two SDs): k = {self.k} effects in {self.n_studies} "
                  f"{self.levels[0]} clusters{scale}",
                  "Priors: " + "; ".join(f"{k} ~ {v}" for k, v in self._prior_texts())]
        footer = [f"log marginal likelihood = {fmt_plain(self.log_marginal_likelihood, 4)}"]
        return compact_text(table, header=header, footer=footer)

    def __repr__(self) -> str:
        return (f"<MultilevelPosterior {self.random} k={self.k} "
                f"clusters={self.n_studies} nodes={self.n_nodes}>")

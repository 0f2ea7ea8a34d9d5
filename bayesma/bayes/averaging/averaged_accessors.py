"""``AveragedAccessors``: the Posterior-protocol accessors over an ``Averaged`` mixture.

Shared by :class:`~bayesma.bayes.averaging.bma.BMAResult` and
:class:`~bayesma.bayes.averaging.robma.result.RoBMAResult`: each supplies
``averaged(param, conditional=)`` (a :class:`~bayesma.bayes.averaging.mixture.Averaged`:
a spike at 0 plus the per-model posteriors, Hoeting et al. 1999, Stat Sci 14:382, eq. 1)
and ``level``; the mean, sd, quantiles, cdf, intervals and draws all read that mixture.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesma.bayes.averaging.mixture import Averaged
from bayesma.bayes.protocol import n_draws, resolve_prob
from bayesma.errors import BayesmaError

__all__ = ["AveragedAccessors"]


class AveragedAccessors:
    """Mixin: posterior summaries of a model-averaged result read from :meth:`averaged`.

    A subclass defines ``averaged(param, *, conditional=False) -> Averaged`` and the
    attribute ``level`` (default probability of credible intervals).
    """

    level: float
    measure: str | None

    def averaged(self, param: str = "mu", *, conditional: bool = False) -> Averaged:
        """The model-averaged posterior of ``param`` (defined by the subclass)."""
        raise NotImplementedError

    def prob_zero(self, param: str = "mu") -> float:
        """Posterior probability of the spike at 0 (the models without ``param``)."""
        return self.averaged(param).spike

    def mean(self, param: str, *, conditional: bool = False) -> float:
        """Model-averaged posterior mean; ``conditional=True`` averages only the models
        where the parameter is free (metaBMA's averaged posterior of d under H1)."""
        return self.averaged(param, conditional=conditional).mean()

    def sd(self, param: str, *, conditional: bool = False) -> float:
        """Model-averaged posterior standard deviation."""
        return self.averaged(param, conditional=conditional).sd()

    def quantile(self, param: str, q: Any, *, conditional: bool = False) -> Any:
        """Quantile(s) of the model-averaged posterior (a quantile inside the spike is 0)."""
        out = self.averaged(param, conditional=conditional).quantile(q)
        return float(out[0]) if np.ndim(q) == 0 else out

    def median(self, param: str, *, conditional: bool = False) -> float:
        """Posterior median."""
        return self.quantile(param, 0.5, conditional=conditional)

    def cdf(self, param: str, x: Any, *, conditional: bool = False) -> Any:
        """``P(param <= x)`` (the spike at 0 counts at x = 0)."""
        out = self.averaged(param, conditional=conditional).cdf(x)
        return float(out[0]) if np.ndim(x) == 0 else out

    def interval(self, param: str, prob: float | None = None, kind: str = "eti", *,
                 conditional: bool = False) -> tuple[float, float]:
        """Equal-tailed credible interval; ``prob=None`` means :attr:`level`.

        Raises
        ------
        BayesmaError
            For ``kind="hdi"``: a shortest interval of a density plus a point mass is not
            defined by the usual density threshold, so it is not offered.
        """
        p = resolve_prob(prob, self.level)
        if kind != "eti":
            raise BayesmaError(f"interval kind {kind!r} is not available for a model-averaged "
                               "posterior with a point mass; use kind='eti'")
        lo, hi = self.averaged(param, conditional=conditional).quantile(
            [(1 - p) / 2, (1 + p) / 2])
        return float(lo), float(hi)

    def prob_less(self, param: str, value: float = 0.0, *, conditional: bool = False
                  ) -> float:
        """``P(param < value)`` (strict: the spike at 0 does not count at value = 0)."""
        return float(self.averaged(param, conditional=conditional).cdf_left(value)[0])

    def draws(self, param: str, *, n: int | None = None, random_seed: Any = None,
              conditional: bool = False) -> np.ndarray:
        """``n`` draws (default 4000) of the model-averaged posterior."""
        n = n_draws(n, 4000)
        rng = np.random.default_rng(random_seed)
        return self.averaged(param, conditional=conditional).draws(n, rng)

    def _summary_frame(self, params: tuple[str, ...], p: float, *,
                       conditional: bool = False) -> pd.DataFrame:
        """mean, sd, median, equal-tailed ``p`` interval and ``P(= 0)`` per parameter."""
        rows = {}
        for par in params:
            avg = self.averaged(par, conditional=conditional)
            lo, hi = avg.quantile([(1 - p) / 2, (1 + p) / 2])
            rows[par] = {"mean": avg.mean(), "sd": avg.sd(),
                         "median": float(avg.quantile(0.5)[0]), "eti_low": float(lo),
                         "eti_high": float(hi), "p_zero": avg.spike}
        df = pd.DataFrame.from_dict(rows, orient="index")
        df.index.name = "param"
        return df

    def _draws_tree(self, attrs: dict[str, Any], n: int | None, random_seed: Any
                    ) -> xr.DataTree:
        """Draws of mu and tau in 4 chains (seed 0 by default), ``attrs`` (plus the
        measure) on the posterior group and on the tree."""
        n = n_draws(n, 4000)
        per = max(n // 4, 1)
        rng = np.random.default_rng(0 if random_seed is None else random_seed)
        post = {par: (("chain", "draw"),
                      self.averaged(par).draws(per * 4, rng).reshape(4, per))
                for par in ("mu", "tau")}
        if self.measure:
            attrs["measure"] = self.measure
        ds = xr.Dataset(post, coords={"chain": np.arange(4), "draw": np.arange(per)},
                        attrs=attrs)
        tree = xr.DataTree.from_dict({"posterior": ds})
        tree.attrs.update(attrs)
        return tree

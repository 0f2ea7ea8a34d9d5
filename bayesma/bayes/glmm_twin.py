"""The classical twin of the binomial-normal model: metafor's ``rma.glmm`` (UM.FS) beside
the posterior, with the study rows of the normal approximation for plots."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from bayesma.classical.confint import typical_variance
from bayesma.classical.pooling.glmm import GLMMResult, rma_glmm
from bayesma.classical.pooling.result import heterogeneity, wald
from bayesma.classical.settings import parse_level
from bayesma.errors import BayesmaError
from bayesma.tails import norm_isf

__all__ = ["GLMMTwin", "glmm_twin"]


@dataclass(frozen=True)
class GLMMTwin:
    """``rma_glmm(model="UM.FS")`` on a BinomialNormal model's counts, shaped as the twin
    the summary table and the plots read (``estimate, ci_low, ci_high, tau2, coef,
    pi_low, pi_high, level, method, test, yi, vi, labels, weights, q, i2``).

    The estimate, SE and tau² are the GLMM's (ML, adaptive Gauss-Hermite quadrature as
    metafor 3.8 ``rma.glmm`` through lme4); the CI is the Wald interval, the prediction
    interval ``estimate ± z sqrt(se² + tau²)`` (metafor ``predict.rma`` for rma.glmm);
    tau has no CI (metafor gives none for rma.glmm: :meth:`confint` raises). ``yi``,
    ``vi`` and ``labels`` are the studies' log odds ratios with metafor's 1/2 correction of
    zero cells (``escalc("OR")``), drawn as the study rows of forest plots; the GLMM has
    no study weights or Q, so ``weights`` (percent), ``q`` and ``i2`` describe these rows
    around the GLMM estimate: weights ``1 / (vi + tau²)``, Cochran's Q
    ``sum((yi - estimate)² / vi)`` (as metafor's rma.mh reports Q from the study yi/vi
    beside a pooled estimate that does not use them). I² is metafor's for rma.glmm:
    ``tau² / (tau² + s²)`` with ``s²`` the typical within-study variance of the studies in
    the GLMM (Higgins & Thompson 2002).
    """

    glmm: GLMMResult
    yi: np.ndarray
    vi: np.ndarray
    labels: list[str]
    in_glmm: np.ndarray  # the studies the GLMM uses (double-zero ones left out)
    method: str = "ML GLMM"
    test: str = "z"
    int_only: bool = True

    # --- the fields the summary table and the plots read -----------------------------
    @property
    def twin_label(self) -> str:
        """Label of the twin's columns in tables."""
        return f"rma_glmm {self.glmm.model} (ML)"

    @property
    def level(self) -> float:
        """Confidence level (fraction)."""
        return self.glmm.level

    @property
    def estimate(self) -> float:
        """The GLMM's pooled log odds ratio."""
        return self.glmm.estimate

    @property
    def se(self) -> float:
        """Its standard error."""
        return self.glmm.se

    @property
    def ci_low(self) -> float:
        """Lower Wald bound at :attr:`level`."""
        return self.glmm.ci_low

    @property
    def ci_high(self) -> float:
        """Upper Wald bound at :attr:`level`."""
        return self.glmm.ci_high

    @property
    def pval(self) -> float:
        """Wald z test p-value."""
        return self.glmm.pval

    @property
    def tau2(self) -> float:
        """ML estimate of tau²."""
        return self.glmm.tau2

    @property
    def tau(self) -> float:
        """sqrt(tau²)."""
        return self.glmm.tau

    @property
    def stat(self) -> float:
        """The Wald z statistic."""
        return self.glmm.zval

    @property
    def df(self) -> float:
        """No degrees of freedom (a z test): NaN."""
        return float("nan")

    @property
    def _ok(self) -> np.ndarray:
        return np.isfinite(self.yi) & np.isfinite(self.vi)

    @property
    def weights(self) -> np.ndarray:
        """Percent weights ``1 / (vi + tau²)`` of the study rows (NaN where undefined)."""
        w = np.where(self._ok, 1 / (self.vi + self.tau2), np.nan)
        return 100 * w / np.nansum(w)

    @property
    def q(self) -> float:
        """Cochran's Q of the study rows around the GLMM estimate."""
        ok = self._ok
        return float(np.sum((self.yi[ok] - self.estimate) ** 2 / self.vi[ok]))

    @property
    def q_df(self) -> int:
        """Degrees of freedom of Q (studies with a defined yi, minus 1)."""
        return int(self._ok.sum()) - 1

    @property
    def q_pval(self) -> float:
        """p-value of Q (chi² with :attr:`q_df` df)."""
        return heterogeneity(self.q, self.q_df + 1)[0] if self.q_df > 0 else float("nan")

    @property
    def i2(self) -> float:
        """I² (percent): ``100 tau² / (tau² + s²)``, s² the typical within-study variance
        of the GLMM's studies (metafor rma.glmm's I²)."""
        v = self.vi[self._ok & self.in_glmm]
        s2 = typical_variance(v, np.ones((v.size, 1)))
        return float(100 * self.tau2 / (self.tau2 + s2))

    @property
    def k(self) -> int:
        """Studies in the GLMM (double-zero studies left out, as metafor)."""
        return self.glmm.k

    @property
    def p(self) -> int:
        """One coefficient (the pooled log odds ratio)."""
        return 1

    @property
    def X(self) -> np.ndarray:  # noqa: N802 (the design matrix, as RMAResult.X)
        """The intercept-only design of the study rows."""
        return np.ones((len(self.yi), 1))

    @property
    def terms(self) -> list[str]:
        """Names of the coefficients."""
        return ["intrcpt"]

    @property
    def coef(self) -> pd.DataFrame:
        """One row ``intrcpt``: estimate, se, zval, pval, ci_low, ci_high."""
        g = self.glmm
        return pd.DataFrame([{"estimate": g.estimate, "se": g.se, "zval": g.zval,
                              "pval": g.pval, "ci_low": g.ci_low, "ci_high": g.ci_high}],
                            index=pd.Index(["intrcpt"]))

    @property
    def pi_low(self) -> float:
        """Lower bound of the prediction interval (metafor ``predict.rma``)."""
        return self.estimate - self._crit() * np.sqrt(self.se**2 + self.tau2)

    @property
    def pi_high(self) -> float:
        """Upper bound of the prediction interval."""
        return self.estimate + self._crit() * np.sqrt(self.se**2 + self.tau2)

    def _crit(self) -> float:
        return float(norm_isf((1 - self.level) / 2))

    def with_settings(self, *, level: Any = None) -> GLMMTwin:
        """The twin at another confidence level (the Wald interval from the same SE)."""
        if level is None:
            return self
        lv = parse_level(level)
        g = self.glmm
        return replace(self, glmm=replace(g, level=lv, **wald(g.estimate, g.se, lv)))

    def refit(self, *, level: Any = None) -> GLMMTwin:
        """As :meth:`with_settings` (the name the forest plot uses)."""
        return self.with_settings(level=level)

    def confint(self, level: Any = None) -> Any:
        """Not available: metafor gives no CI for tau² of rma.glmm."""
        raise BayesmaError("rma_glmm gives no confidence interval for tau²")

    def summary(self, digits: int = 4) -> str:
        """The GLMM's metafor-style printout."""
        return self.glmm.summary(digits)

    def __str__(self) -> str:
        return self.summary()


def glmm_twin(model: Any) -> GLMMTwin:
    """The rma_glmm (UM.FS) twin of a :class:`~bayesma.BinomialNormal` model: the same
    counts, study labels and (metafor's default) ``drop00=True``."""
    cols = dict(model.count_columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the double-zero studies left out, as metafor
        res = rma_glmm(model.data, "OR", model="UM.FS", slab=model.slab, **cols)
    c = model.counts
    double_zero = (((c["x_t"] == 0) & (c["x_c"] == 0))
                   | ((c["x_t"] == c["n_t"]) & (c["x_c"] == c["n_c"])))
    return GLMMTwin(glmm=res, yi=np.asarray(model.yi, float), vi=np.asarray(model.vi, float),
                    labels=[str(s) for s in model.labels], in_glmm=~double_zero)

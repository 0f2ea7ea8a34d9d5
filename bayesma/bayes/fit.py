"""``BayesFit``: the result of an MCMC fit, with its classical twin.

A :class:`BayesFit` wraps one ``xarray.DataTree`` (``fit.idata``) holding the groups
``posterior`` (mu, tau, theta[study], theta_new, beta[term] for meta-regressions, nu for
the robust model), ``sample_stats``, ``prior`` and ``prior_predictive`` (drawn from proper
priors), ``posterior_predictive``, ``log_likelihood`` (marginal per-study likelihood),
``log_prior``, ``observed_data`` and ``constant_data``. The root attributes record the
model, its priors (text and a JSON spec ``bayesma.priors.prior_from_spec`` rebuilds), the
sampler settings, the seed and the bayesma version, so ``fit.to_netcdf(path)`` and
``bm.load(path)`` round-trip everything.

It answers the same questions as ``ExactPosterior`` (ARCHITECTURE.md, "one protocol for
exact and MCMC"): ``mean``, ``sd``, ``median``, ``quantile``, ``interval``, ``prob_less``,
``draws``, ``summary``, ``labels``, ``data``, ``measure``, ``priors``, ``classical``,
``to_datatree``.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesma.errors import BayesmaError

if TYPE_CHECKING:  # pragma: no cover
    from bayesma.bayes.diagnostics import DiagnosticReport
    from bayesma.bayes.models import MetaModel
    from bayesma.classical.rma import RMAResult

__all__ = ["BayesFit", "load", "hdi", "RATIO_MEASURES"]

#: Measures analysed on the log scale; summaries add exp() columns for them.
RATIO_MEASURES = frozenset({"OR", "RR", "ROM", "PETO", "HR", "IRR", "OR2D"})

_PARAM_RE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z_0-9]*)(?:\[(?P<idx>.*)\])?$")


def hdi(x: np.ndarray, prob: float = 0.95) -> tuple[float, float]:
    """Shortest interval containing ``prob`` of the draws (Chen & Shao 1999, J Comput Graph
    Stat 8:69: the narrowest of the windows of ceil(prob n) consecutive sorted draws)."""
    s = np.sort(np.asarray(x, dtype=float).ravel())
    n = s.size
    m = int(np.ceil(prob * n))
    if n == 0 or m < 1:
        return float("nan"), float("nan")
    if m >= n:
        return float(s[0]), float(s[-1])
    width = s[m - 1:] - s[: n - m + 1]
    i = int(np.argmin(width))
    return float(s[i]), float(s[i + m - 1])


class BayesFit:
    """Posterior draws of a bayesma model and everything to read them.

    Parameters
    ----------
    idata : xarray.DataTree
        The fit's data tree (see the module documentation).
    model : MetaModel, optional
        The model that produced it (rebuilt from the tree's attributes when None).
    report : DiagnosticReport, optional
        The sampling checks made after the fit.
    """

    def __init__(self, idata: xr.DataTree, model: MetaModel | None = None,
                 report: DiagnosticReport | None = None) -> None:
        self.idata = idata
        self._model = model
        self._report = report
        self._classical_cache: dict[tuple[str, str], Any] = {}

    # ------------------------------------------------------------------ basic attributes
    @property
    def posterior(self) -> xr.Dataset:
        """The posterior group as an ``xarray.Dataset``."""
        return self.idata["posterior"].to_dataset()

    @property
    def attrs(self) -> dict[str, Any]:
        """Root attributes: model, priors, sampler settings, seed, version."""
        return dict(self.idata.attrs)

    @cached_property
    def model(self) -> MetaModel:
        """The model object (rebuilt from the stored spec after :func:`load`)."""
        if self._model is not None:
            return self._model
        from bayesma.bayes.models import model_from_spec

        return model_from_spec(self.attrs["model_spec"], self.data)

    @cached_property
    def data(self) -> pd.DataFrame:
        """The study table used (rows with missing moderators already removed)."""
        if self._model is not None:
            return self._model.data
        from bayesma.bayes.models import _table_from_json

        return _table_from_json(self.attrs["data_table"])

    @property
    def labels(self) -> list[str]:
        """Study labels (the ``study`` coordinate)."""
        return [str(x) for x in self.idata["posterior"]["study"].values]

    @property
    def k(self) -> int:
        """Number of studies."""
        return len(self.labels)

    @property
    def measure(self) -> str | None:
        """The effect measure, or None."""
        m = self.attrs.get("measure", "")
        return m or None

    @cached_property
    def priors(self) -> dict[str, Any]:
        """``{"mu": Prior, "tau": Prior, ...}`` as used in the fit."""
        if self._model is not None:
            return dict(self._model.priors)
        from bayesma.priors import prior_from_spec

        def rebuild(v: Any) -> Any:
            if isinstance(v, dict) and "family" in v:
                return prior_from_spec(v)
            if isinstance(v, dict):  # {term: spec} of a meta-regression
                return {t: prior_from_spec(s) for t, s in v.items()}
            return v

        return {k: rebuild(v) for k, v in json.loads(self.attrs["priors"]).items()}

    @property
    def model_name(self) -> str:
        """Model class name."""
        return str(self.attrs.get("model", ""))

    @property
    def divergences(self) -> int:
        """Divergent transitions after tuning."""
        return int(np.asarray(self.idata["sample_stats"]["diverging"]).sum())

    def to_datatree(self) -> xr.DataTree:
        """The fit's ``xarray.DataTree`` (ArviZ 1.x input)."""
        return self.idata

    # ------------------------------------------------------------------ classical twin
    @property
    def classical(self) -> RMAResult:
        """The classical twin: REML with Hartung-Knapp (knha) on the same data and model."""
        return self.classical_fit()

    def classical_fit(self, method: str = "REML", test: str = "knha"):
        """The classical fit of the same model (cached per method/test).

        RandomEffects, RobustRandomEffects: ``rma(method, test)``; MetaRegression: with
        the same ``mods``; CommonEffect: ``method="EE"`` (``test="z"`` in place of knha);
        Subgroups with a shared tau:
        ``mods="~ 0 + C(by)"``; with a tau per level: a dict ``{level: RMAResult}`` of
        separate fits.
        """
        key = (method, test)
        if key in self._classical_cache:
            return self._classical_cache[key]
        from bayesma.classical.rma import rma

        m = self.model
        kw: dict[str, Any] = {"yi": m.yi_name, "vi": m.vi_name, "sei": m.sei_name,
                              "slab": m.slab, "measure": m.measure, "test": test}
        name = self.model_name
        if name == "CommonEffect":
            # the EE twin; Hartung-Knapp is a random-effects device, so knha -> z here
            kw["method"] = "EE"
            kw["test"] = "z" if test == "knha" else test
        else:
            kw["method"] = method
        if name == "MetaRegression":
            res = rma(m.data, mods=m.mods, **kw)
        elif name == "Subgroups" and m.tau_mode == "per_level":
            res = {}
            col = m.data[m.by].astype(str)
            for lv in m.levels:
                sub = m.data[(col == lv).to_numpy()]
                try:
                    res[lv] = rma(sub, **kw)
                except BayesmaError:  # e.g. k = 1 with knha
                    res[lv] = None
        elif name == "Subgroups":
            res = rma(m.data, mods=f"~ 0 + C(Q('{m.by}'))" if not m.by.isidentifier()
                      else f"~ 0 + C({m.by})", **kw)
        else:
            res = rma(m.data, **kw)
        self._classical_cache[key] = res
        return res

    # ------------------------------------------------------------------ draws
    def _parse(self, param: str) -> tuple[str, str | None]:
        mt = _PARAM_RE.match(param.strip())
        if not mt:
            raise BayesmaError(f"cannot read parameter {param!r}")
        return mt.group("name"), mt.group("idx")

    def _typical_variance(self) -> np.ndarray:
        """metafor's typical within-study variance s² (per level for per-level tau)."""
        from bayesma.classical.confint import typical_variance

        m = self.model
        if self.model_name == "MetaRegression":
            return np.array(typical_variance(m.vi, m.X))
        if self.model_name == "Subgroups":
            if m.tau_mode == "per_level":
                out = []
                for j in range(len(m.levels)):
                    v = m.vi[m.group == j]
                    out.append(typical_variance(v, np.ones((v.size, 1))) if v.size > 1
                               else np.nan)
                return np.array(out)
            X = np.eye(len(m.levels))[m.group]
            return np.array(typical_variance(m.vi, X))
        return np.array(typical_variance(m.vi, np.ones((m.k, 1))))

    def _array(self, name: str) -> xr.DataArray:
        """A posterior quantity as a DataArray (chain, draw, ...), derived ones included."""
        post = self.idata["posterior"]
        if name in post:
            return post[name]
        if name in ("tau", "tau2", "i2", "h2") and "tau" not in post:
            if self.model_name != "CommonEffect":
                raise BayesmaError(f"{self.model_name} has no {name}")
            zero = xr.zeros_like(post["mu"])
            return zero + (0.0 if name != "h2" else 1.0)
        if name == "tau2":
            return post["tau"] ** 2
        if name in ("i2", "h2"):
            # I² = tau² / (tau² + s²), H² = (tau² + s²) / s² (Higgins & Thompson 2002,
            # Stat Med 21:1539, eq. 9-10), s² metafor's typical within-study variance;
            # I² in percent, as metafor and ExactPosterior
            var = post["tau"] ** 2
            if "nu" in post or self.model_name == "RobustRandomEffects":
                nu = post["nu"] if "nu" in post else float(self.priors["nu"])
                # variance of tau * t_nu
                var = xr.where(nu > 2, var * nu / (nu - 2), np.inf)
            s2 = self._typical_variance()
            if s2.ndim:
                s2 = xr.DataArray(s2, dims=("level",), coords={"level": post["level"].values})
            if name == "i2":
                return xr.where(np.isinf(var), 100.0, 100.0 * var / (var + s2))
            return (var + s2) / s2
        raise BayesmaError(
            f"unknown parameter {name!r}; available: "
            f"{', '.join([*post.data_vars, 'tau2', 'i2', 'h2'])}"
        )

    def _select(self, param: str) -> xr.DataArray:
        name, idx = self._parse(param)
        arr = self._array(name)
        if idx is not None:
            extra = [d for d in arr.dims if d not in ("chain", "draw")]
            if len(extra) != 1:
                raise BayesmaError(f"{name} has no index; use {name!r}")
            labels = [str(x) for x in arr[extra[0]].values]
            if idx not in labels:
                raise BayesmaError(f"{idx!r} is not a {extra[0]} of {name}; "
                                   f"known: {', '.join(labels[:10])}")
            arr = arr.isel({extra[0]: labels.index(idx)})
        return arr

    def draws(self, param: str) -> np.ndarray:
        """Posterior draws, chains concatenated: shape (n,) or (n, m) for vector params.

        ``param``: ``"mu"``, ``"tau"``, ``"tau2"``, ``"i2"``, ``"h2"``, ``"theta"``,
        ``"theta_new"``, ``"beta"``, ``"nu"``, or an element like ``"beta[ablat]"``.
        """
        a = self._select(param)
        v = np.asarray(a.values, dtype=float)
        return v.reshape((-1, *v.shape[2:]))

    def _index(self, param: str) -> pd.Index | None:
        a = self._select(param)
        extra = [d for d in a.dims if d not in ("chain", "draw")]
        if not extra:
            return None
        return pd.Index([str(x) for x in a[extra[0]].values], name=extra[0])

    def _reduce(self, param: str, fn) -> Any:
        x = self.draws(param)
        if x.ndim == 1:
            return fn(x)
        idx = self._index(param)
        return pd.Series([fn(x[:, j]) for j in range(x.shape[1])], index=idx, name=param)

    def mean(self, param: str) -> float | pd.Series:
        """Posterior mean (a Series indexed by study/term/level for vector params)."""
        return self._reduce(param, lambda x: float(np.mean(x)))

    def sd(self, param: str) -> float | pd.Series:
        """Posterior standard deviation."""
        return self._reduce(param, lambda x: float(np.std(x, ddof=1)))

    def median(self, param: str) -> float | pd.Series:
        """Posterior median."""
        return self._reduce(param, lambda x: float(np.median(x)))

    def quantile(self, param: str, q: float | Sequence[float]) -> Any:
        """Posterior quantile(s): float, ndarray (several q), Series or DataFrame."""
        scalar_q = np.ndim(q) == 0
        qs = np.atleast_1d(np.asarray(q, dtype=float))
        x = self.draws(param)
        if x.ndim == 1:
            out = np.quantile(x, qs)
            return float(out[0]) if scalar_q else out
        res = np.quantile(x, qs, axis=0)  # (nq, m)
        idx = self._index(param)
        if scalar_q:
            return pd.Series(res[0], index=idx, name=param)
        return pd.DataFrame(res.T, index=idx, columns=list(qs))

    def interval(self, param: str, prob: float = 0.95, kind: str = "eti") -> tuple:
        """Credible interval ``(low, high)``: equal-tailed (``"eti"``) or shortest (``"hdi"``).

        For vector parameters a DataFrame with columns ``low``, ``high`` (as
        ``ExactPosterior.interval``).
        """
        if kind not in ("eti", "hdi"):
            raise BayesmaError(f"kind must be 'eti' or 'hdi', got {kind!r}")
        if not 0 < prob < 1:
            raise BayesmaError(f"prob must be in (0, 1), got {prob}")
        x = self.draws(param)
        if kind == "eti":
            f = lambda d: tuple(float(v) for v in np.quantile(d, [(1 - prob) / 2,  # noqa: E731
                                                                  (1 + prob) / 2]))
        else:
            f = lambda d: hdi(d, prob)  # noqa: E731
        if x.ndim == 1:
            return f(x)
        idx = self._index(param)
        pairs = [f(x[:, j]) for j in range(x.shape[1])]
        return pd.DataFrame(pairs, index=idx, columns=["low", "high"])

    def prob_less(self, param: str, value: float = 0.0) -> float | pd.Series:
        """Posterior probability P(param < value)."""
        return self._reduce(param, lambda x: float(np.mean(x < value)))

    # ------------------------------------------------------------------ diagnostics
    def diagnostics(self) -> pd.DataFrame:
        """Per-parameter ESS (bulk, tail), R-hat, MCSE; ``attrs["divergences"]``.

        Adds a column ``ok`` (R-hat <= 1.01 and both ESS >= 400).
        """
        from bayesma.bayes.diagnostics import ESS_MIN, RHAT_MAX, diagnostics_table

        post = self.posterior
        names = [n for n in ("mu", "beta", "tau", "nu", "theta", "theta_new") if n in post]
        t = diagnostics_table(post, names)
        t["ok"] = (t["r_hat"] <= RHAT_MAX) & (t["ess_bulk"] >= ESS_MIN) & (
            t["ess_tail"] >= ESS_MIN)
        t.attrs["divergences"] = self.divergences
        t.attrs["draws"] = int(post.sizes["chain"] * post.sizes["draw"])
        return t

    @property
    def report(self) -> DiagnosticReport:
        """The :class:`~bayesma.bayes.diagnostics.DiagnosticReport` of this fit."""
        if self._report is None:
            from bayesma.bayes.diagnostics import diagnose

            k = self.k if self.k <= 3 else None
            self._report = diagnose(self.posterior, self.idata["sample_stats"].to_dataset(),
                                    var_names=["mu", "tau", "beta", "nu", "theta"], k=k,
                                    parameterization=self.attrs.get("parameterization"))
        return self._report

    # ------------------------------------------------------------------ summary
    def _row_params(self) -> list[tuple[str, str]]:
        """(row label, param) pairs of the summary, in ``ExactPosterior.summary`` order:
        mu, tau, tau2, i2, theta_new, beta[slopes], nu, theta[study]."""
        post = self.idata["posterior"]
        rows: list[tuple[str, str]] = []

        def add(name: str, skip: Sequence[str] = ()) -> None:
            if name not in post and not (name in ("tau2", "i2") and "tau" in post):
                return
            idx = self._index(name)
            if idx is None:
                rows.append((name, name))
            else:
                rows.extend((f"{name}[{lab}]", f"{name}[{lab}]") for lab in idx
                            if lab not in skip)

        add("mu")
        if "mu" not in post:  # meta-regression without intercept
            add("beta")
        add("tau")
        add("tau2")
        add("i2")
        add("theta_new")
        if "mu" in post and "beta" in post:
            add("beta", skip=[str(self.idata["posterior"]["term"].values[0])])
        add("nu")
        add("theta")
        return rows

    def summary(self, prob: float = 0.95, classical: str | None = "REML",
                classical_test: str = "knha", theta: bool = True) -> pd.DataFrame:
        """Posterior summary table with the classical twin beside it.

        Parameters
        ----------
        prob : float
            Credible (and confidence) level.
        classical : str or None
            tau² estimator of the classical twin (``"REML"``, ``"DL"``, ...); None omits it.
        classical_test : {"knha", "z", "t"}
            Inference of the classical twin (Hartung-Knapp-Sidik-Jonkman by default).
        theta : bool
            Include one row per study (``theta[label]``).

        Returns
        -------
        DataFrame
            Rows as ``ExactPosterior.summary``: ``mu`` (the intercept of a
            meta-regression; ``mu[level]`` for subgroups), ``tau``, ``tau2``, ``i2`` (in
            percent), ``theta_new``, ``beta[term]`` (non-intercept coefficients),
            ``nu`` (robust model), ``theta[study]``, then ``P(mu > 0)``, ``P(mu < 0)``
            (and per level / coefficient). Index name ``param``.
            Columns: ``mean, sd, median, eti_low, eti_high, hdi_low, hdi_high, mcse_mean,
            mcse_sd, ess_bulk, ess_tail, r_hat``, the classical twin ``classical,
            classical_low, classical_high`` (estimate and CI; the prediction interval for
            ``theta_new``; Q-profile CIs for tau, tau², I²), and for ratio measures
            ``exp_mean, exp_median, exp_eti_low, exp_eti_high, exp_classical,
            exp_classical_low, exp_classical_high`` on the ratio scale.
            ``attrs`` hold ``prob``, the priors and the sampler settings.
        """
        from bayesma.bayes.diagnostics import diagnostics_table

        rows = [(lab, p) for lab, p in self._row_params()
                if theta or not lab.startswith("theta[")]
        stats: dict[str, dict[str, float]] = {}
        diag_vars: dict[str, xr.DataArray] = {}
        for lab, param in rows:
            x = self.draws(param)
            lo, hi = np.quantile(x, [(1 - prob) / 2, (1 + prob) / 2])
            h_lo, h_hi = hdi(x, prob)
            stats[lab] = {"mean": float(np.mean(x)), "sd": float(np.std(x, ddof=1)),
                          "median": float(np.median(x)), "eti_low": float(lo),
                          "eti_high": float(hi), "hdi_low": h_lo, "hdi_high": h_hi}
            diag_vars[lab] = self._select(param).drop_vars(
                [c for c in self._select(param).coords if c not in ("chain", "draw")])
        # probability rows
        loc_rows = [lab for lab, _ in rows if lab.split("[")[0] in ("mu", "beta")]
        for lab in loc_rows:
            a = diag_vars[lab]
            for sign, ind in ((">", a > 0), ("<", a < 0)):
                plab = f"P({lab} {sign} 0)"
                stats[plab] = {"mean": float(ind.mean())}
                diag_vars[plab] = ind.astype(float)
        ds = xr.Dataset({f"v{i}": v for i, v in enumerate(diag_vars.values())})
        names = list(diag_vars)
        dtab = diagnostics_table(ds)
        dtab.index = names
        table = pd.DataFrame.from_dict(stats, orient="index")
        table.index.name = "param"
        table = table.reindex(columns=["mean", "sd", "median", "eti_low", "eti_high",
                                       "hdi_low", "hdi_high"])
        table = table.join(dtab[["mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat"]])
        for c in ("classical", "classical_low", "classical_high"):
            table[c] = np.nan
        if classical is not None:
            self._fill_classical(table, classical, classical_test, prob)
        if self.measure and self.measure.upper() in RATIO_MEASURES:
            self._add_exp(table, names)
        table.attrs.update(prob=prob, priors=self.attrs.get("priors_text", ""),
                           model=self.model_name, sampler=self.attrs.get("sampler"),
                           classical=f"{classical} ({classical_test})" if classical else "")
        return table

    def _add_exp(self, table: pd.DataFrame, names: list[str]) -> None:
        loc = [lab for lab in table.index
               if lab.split("[")[0] in ("mu", "beta", "theta", "theta_new")]
        for c in ("exp_mean", "exp_median", "exp_eti_low", "exp_eti_high", "exp_classical",
                  "exp_classical_low", "exp_classical_high"):
            table[c] = np.nan
        for lab in loc:
            x = self.draws(lab)
            table.loc[lab, "exp_mean"] = float(np.mean(np.exp(x)))
            for c in ("median", "eti_low", "eti_high", "classical", "classical_low",
                      "classical_high"):
                table.loc[lab, f"exp_{c}"] = float(np.exp(table.loc[lab, c]))

    def _fill_classical(self, table: pd.DataFrame, method: str, test: str, prob: float
                        ) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = self.classical_fit(method, test)
        except Exception as exc:  # the twin must never break the Bayesian summary
            table.attrs["classical_error"] = str(exc)
            return

        def put(lab: str, est: float | None, lo: float | None, hi: float | None) -> None:
            if lab in table.index:
                table.loc[lab, ["classical", "classical_low", "classical_high"]] = [
                    np.nan if v is None else float(v) for v in (est, lo, hi)]

        def het(lab_suffix: str, r) -> None:
            try:
                ci = r.confint(prob)
                t2, t, i2 = ci.tau2, ci.tau, ci.i2
            except Exception:  # noqa: BLE001 - Q-profile may fail on degenerate data
                t2 = (r.tau2, None, None)
                t = (r.tau, None, None)
                i2 = (r.i2, None, None)  # percent, like metafor
            put(f"tau{lab_suffix}", *t)
            put(f"tau2{lab_suffix}", *t2)
            put(f"i2{lab_suffix}", *i2)

        def refit_level(r):
            return r.with_settings(level=prob) if abs(r.level - prob) > 1e-12 else r

        if isinstance(res, dict):  # per-level subgroup fits
            for lv, r in res.items():
                if r is None:
                    continue
                r = refit_level(r)
                put(f"mu[{lv}]", r.estimate, r.ci_low, r.ci_high)
                het(f"[{lv}]", r)
                put(f"theta_new[{lv}]", r.estimate, r.pi_low, r.pi_high)
            return
        res = refit_level(res)
        name = self.model_name
        if name == "MetaRegression":
            for j, (term, row) in enumerate(res.coef.iterrows()):
                lab = "mu" if j == 0 and self.model.intercept else f"beta[{term}]"
                put(lab, row["estimate"], row["ci_low"], row["ci_high"])
        elif name == "Subgroups":
            for lv, (_, row) in zip(self.model.levels, res.coef.iterrows(), strict=True):
                put(f"mu[{lv}]", row["estimate"], row["ci_low"], row["ci_high"])
            pred = res.predict(np.eye(len(self.model.levels)), level=prob)
            for lv, (_, row) in zip(self.model.levels, pred.iterrows(), strict=True):
                put(f"theta_new[{lv}]", row["pred"], row["pi_low"], row["pi_high"])
        else:
            put("mu", res.estimate, res.ci_low, res.ci_high)
            if name != "CommonEffect":
                put("theta_new", res.estimate, res.pi_low, res.pi_high)
        if name != "CommonEffect" and "tau" in table.index:
            het("", res)

    def predict(self, newmods: Any = None, prob: float = 0.95) -> pd.DataFrame:
        """Posterior of the mean effect x'beta and of a new study's effect at ``newmods``.

        Parameters
        ----------
        newmods : array, dict or DataFrame, optional
            Moderator values (as ``RMAResult.predict``); None gives the pooled effect
            (intercept-only models) or the fitted values of the studies.
        prob : float
            Interval probability.

        Returns
        -------
        DataFrame with ``mean, sd, eti_low, eti_high, pi_low, pi_high`` (the last two:
        equal-tailed interval of x'beta + tau eps, a new study's effect).
        """
        rng = np.random.default_rng(int(self.attrs.get("random_seed", 0)) + 7)
        post = self.idata["posterior"]
        tau = self.draws("tau") if "tau" in post else np.zeros(self.draws("mu").shape[0])
        if "beta" in post:
            m = self.model
            if newmods is None:
                X, index = m.X, pd.Index(self.labels)
            elif isinstance(newmods, pd.DataFrame | dict):
                X = m.design.transform(newmods)
                index = pd.RangeIndex(X.shape[0])
            else:
                M = np.atleast_2d(np.asarray(newmods, dtype=float))
                if M.shape[0] == 1 and M.shape[1] != m.n_slopes:
                    M = M.T
                X = np.column_stack([np.ones(M.shape[0]), M]) if m.intercept else M
                index = pd.RangeIndex(X.shape[0])
            mean_draws = self.draws("beta") @ X.T
        else:
            if newmods is not None:
                raise BayesmaError("newmods needs a meta-regression")
            mu = self.draws("mu")
            mean_draws = mu[:, None] if mu.ndim == 1 else mu
            index = pd.Index(["pooled"]) if mu.ndim == 1 else self._index("mu")
        tau_b = tau[:, None] if tau.ndim == 1 else tau
        new = mean_draws + tau_b * rng.standard_normal(mean_draws.shape)
        a = ((1 - prob) / 2, (1 + prob) / 2)
        q = np.quantile(mean_draws, a, axis=0)
        qn = np.quantile(new, a, axis=0)
        return pd.DataFrame({"mean": mean_draws.mean(0), "sd": mean_draws.std(0, ddof=1),
                             "eti_low": q[0], "eti_high": q[1], "pi_low": qn[0],
                             "pi_high": qn[1]}, index=index)

    # ------------------------------------------------------------------ I/O and refits
    def to_netcdf(self, path: str | Path) -> Path:
        """Write the fit (all groups and attributes) to a netCDF file (h5netcdf)."""
        path = Path(path)
        self.idata.to_netcdf(path, engine="h5netcdf")
        return path

    def refit(self, data: pd.DataFrame | None = None, **kwargs: Any) -> BayesFit:
        """Fit the same model again with new data and/or priors (see ``MetaModel.refit``).

        Sampler settings default to this fit's; the compiled model is reused when only
        data or hyperparameters change.
        """
        model = self.model
        if not model._last_fit_kwargs:
            a = self.attrs
            ta = a.get("target_accept")
            model._last_fit_kwargs = {
                "draws": int(a["draws"]), "tune": int(a["tune"]), "chains": int(a["chains"]),
                "sampler": a["sampler"],
                "target_accept": None if ta is None else float(ta),
            }
        return model.refit(data, **kwargs)

    # ------------------------------------------------------------------ printing
    def __repr__(self) -> str:
        a = self.attrs
        return (f"<BayesFit {self.model_name} k={self.k} {a.get('parameterization')} "
                f"sampler={a.get('sampler')} draws={a.get('chains')}x{a.get('draws')} "
                f"divergences={self.divergences}>")

    def __str__(self) -> str:
        return self.report_text()

    def report_text(self, digits: int = 3, prob: float = 0.95, max_studies: int = 20) -> str:
        """A readable report: model, priors, sampler, estimates beside the classical twin."""
        a = self.attrs
        try:
            tab = self.summary(prob=prob)
        except Exception as exc:  # noqa: BLE001
            return f"{self!r}\n(summary failed: {exc})"
        pct = f"{100 * prob:g}%"
        meas = f", {self.measure}" if self.measure else ""
        lines = [
            f"Bayesian {self.model_name} (k = {self.k}{meas})  [{a.get('parameterization')}]",
            f"Priors: {a.get('priors_text', '')}",
            f"Sampler: {a.get('sampler')} NUTS, {a.get('chains')} chains x {a.get('draws')} "
            f"draws (tune {a.get('tune')}), seed {a.get('random_seed')}; "
            f"divergences {self.divergences}",
            "",
        ]
        rows = [r for r in tab.index if not r.startswith("theta[")]
        th = [r for r in tab.index if r.startswith("theta[")]
        show = rows + th[:max_studies]
        cols = ["mean", "sd", "eti_low", "eti_high", "r_hat", "ess_bulk", "classical",
                "classical_low", "classical_high"]
        t = tab.loc[show, cols].copy()
        t.columns = ["mean", "sd", f"{pct} low", f"{pct} high", "r_hat", "ess_bulk",
                     "classical", "cl. low", "cl. high"]
        with pd.option_context("display.width", 140, "display.max_columns", 20):
            lines.append(t.to_string(float_format=lambda v: f"{v:.{digits}f}",
                                     na_rep=""))
        if len(th) > max_studies:
            lines.append(f"... {len(th) - max_studies} more studies (fit.summary())")
        if self.measure and self.measure.upper() in RATIO_MEASURES and "exp_median" in tab:
            lines.append("")
            lines.append(f"On the ratio scale ({self.measure}), exp(): median and {pct} ETI")
            er = [r for r in tab.index if not np.isnan(tab.loc[r, "exp_median"])
                  and not r.startswith("theta[")]
            lines.append(tab.loc[er, ["exp_median", "exp_eti_low", "exp_eti_high",
                                      "exp_classical", "exp_classical_low",
                                      "exp_classical_high"]].to_string(
                float_format=lambda v: f"{v:.{digits}f}", na_rep=""))
        lines.append("")
        lines.append(f"Classical twin: {tab.attrs.get('classical', '')}; "
                     f"I² in percent (metafor's typical within-study variance).")
        if self._report is not None and self._report.problems:
            lines.append("Sampling problems: " + self._report.message(self.model_name))
        return "\n".join(lines)


def load(path: str | Path) -> BayesFit:
    """Read a fit written by :meth:`BayesFit.to_netcdf`.

    The model (class, settings, priors, study table) is rebuilt from the stored
    attributes on first use of ``fit.model`` / ``fit.classical`` / ``fit.refit``.
    """
    tree = xr.open_datatree(Path(path), engine="h5netcdf")
    tree = tree.load()
    tree.close()
    if "bayesma_version" not in tree.attrs:
        raise BayesmaError(f"{path} is not a bayesma fit (no bayesma_version attribute)")
    return BayesFit(tree)

"""``BayesFit``: the result of an MCMC fit, with its classical twin.

A :class:`BayesFit` wraps one ``xarray.DataTree`` (``fit.idata``) holding the groups
``posterior`` (mu, tau, theta[study], theta_new, beta[term] and mu_centered for
meta-regressions, nu for the robust model), ``sample_stats``, ``prior`` and
``prior_predictive`` (drawn from proper priors), ``posterior_predictive``,
``log_likelihood`` (marginal per-study likelihood), ``log_prior``, ``observed_data`` and
``constant_data``. The root attributes record the model, its priors (text and a JSON spec
``bayesma.priors.prior_from_spec`` rebuilds), the sampler settings, the seed and the
bayesma version, so ``fit.to_netcdf(path)`` and ``bm.load(path)`` round-trip everything.

It satisfies :class:`bayesma.bayes.protocol.Posterior` (the protocol of every Bayesian
result) and builds its summary with :func:`bayesma.bayes.table.posterior_table`.
:func:`load` also reads the trees the exact engine writes (``posterior.nc`` of a spec
run). Loading never evaluates code: a stored moderator formula is re-vetted by
:func:`bayesma.expressions.vet_formula` before anything uses it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesma.bayes.diagnostics import ESS_MIN, RHAT_MAX, diagnose, diagnostics_table
from bayesma.bayes.draw_stats import draw_stats, hdi
from bayesma.bayes.loading import model_loader, read_tree
from bayesma.bayes.mcmc_parts import (
    classical_twin,
    derived_array,
    design_rows,
    predict_from_draws,
    subsample_tree,
    summary_rows,
    typical_variances,
)
from bayesma.bayes.protocol import (
    STAT_COLUMNS,
    check_quantile_probs,
    n_draws,
    parse_param,
    resolve_prob,
)
from bayesma.bayes.table import compact_text, posterior_table
from bayesma.errors import BayesmaError
from bayesma.priors import prior_from_spec

if TYPE_CHECKING:  # pragma: no cover
    from bayesma.bayes.diagnostics import DiagnosticReport
    from bayesma.bayes.exact import ExactPosterior
    from bayesma.bayes.models import MetaModel
    from bayesma.classical.rma import RMAResult

__all__ = ["BayesFit", "load", "hdi"]

DIAG_COLUMNS = ["mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat"]


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
        return model_loader("rebuild_model")(self.attrs["model_spec"], self.data)

    @cached_property
    def data(self) -> pd.DataFrame:
        """The study table used (rows with missing moderators already removed)."""
        if self._model is not None:
            return self._model.data
        return model_loader("read_table")(self.attrs["data_table"])

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

    @property
    def level(self) -> float:
        """Default probability of intervals (the fit's ``level`` attribute, else 0.95)."""
        return float(self.attrs.get("level", 0.95))

    def to_datatree(self, n: int | None = None, *, random_seed: Any = None) -> xr.DataTree:
        """The fit's ``xarray.DataTree`` (ArviZ 1.x input).

        ``n=None`` returns the tree itself; ``n`` keeps ``n // chains`` randomly chosen
        draws of every chain in the ``posterior`` group (at most the stored draws).
        """
        if n is None:
            return self.idata
        return subsample_tree(self.idata, n_draws(n, 1), random_seed)

    # ------------------------------------------------------------------ classical twin
    @property
    def classical(self) -> RMAResult:
        """The classical twin: REML with Hartung-Knapp (knha) on the same data and model."""
        return self.classical_fit()

    def classical_fit(self, method: str | None = "REML", test: str | None = "knha"):
        """The classical fit of the same model (cached per method/test; see
        :func:`bayesma.bayes.mcmc_parts.classical_twin`)."""
        method = "REML" if method is None else method
        test = "knha" if test is None else test
        key = (method, test)
        if key not in self._classical_cache:
            self._classical_cache[key] = classical_twin(self.model, self.model_name, method,
                                                        test)
        return self._classical_cache[key]

    def _array(self, name: str) -> xr.DataArray:
        """A posterior quantity as a DataArray (chain, draw, ...), derived ones included."""
        post = self.idata["posterior"]
        nu = None
        if name in ("i2", "h2") and ("nu" in post or self.model_name == "RobustRandomEffects"):
            nu = post["nu"] if "nu" in post else float(self.priors["nu"])
        return derived_array(post, name, self.model_name, nu=nu,
                             s2=lambda: typical_variances(self.model, self.model_name))

    def _select(self, param: str) -> xr.DataArray:
        name, idx = parse_param(param)
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

    def draws(self, param: str, *, n: int | None = None, random_seed: Any = None
              ) -> np.ndarray:
        """Posterior draws, chains concatenated: shape (n,) or (n, m) for vector params.

        ``param``: ``"mu"``, ``"tau"``, ``"tau2"``, ``"i2"``, ``"h2"``, ``"theta"``,
        ``"theta_new"``, ``"beta"``, ``"mu_centered"``, ``"nu"``, or an element like
        ``"beta[ablat]"``. ``n=None`` gives every stored draw; ``n`` a random subset
        (seeded by ``random_seed``) of at most the stored draws.
        """
        a = self._select(param)
        v = np.asarray(a.values, dtype=float)
        v = v.reshape((-1, *v.shape[2:]))
        if n is not None:
            n = n_draws(n, v.shape[0])
            if n < v.shape[0]:
                rng = np.random.default_rng(random_seed)
                v = v[np.sort(rng.choice(v.shape[0], size=n, replace=False))]
        return v

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
        """Posterior quantile(s): float, ndarray (several q), Series or DataFrame.

        Raises
        ------
        BayesmaError
            When a probability is NaN or outside [0, 1].
        """
        scalar_q = np.ndim(q) == 0
        qs = check_quantile_probs(q)
        x = self.draws(param)
        if x.ndim == 1:
            out = np.quantile(x, qs)
            return float(out[0]) if scalar_q else out
        res = np.quantile(x, qs, axis=0)  # (nq, m)
        idx = self._index(param)
        if scalar_q:
            return pd.Series(res[0], index=idx, name=param)
        return pd.DataFrame(res.T, index=idx, columns=list(qs))

    def interval(self, param: str, prob: float | None = None, kind: str = "eti") -> Any:
        """Credible interval ``(low, high)``: equal-tailed (``"eti"``) or shortest (``"hdi"``).

        ``prob=None`` means :attr:`level`. For vector parameters a DataFrame with columns
        ``low``, ``high`` (as ``ExactPosterior.interval``).
        """
        if kind not in ("eti", "hdi"):
            raise BayesmaError(f"kind must be 'eti' or 'hdi', got {kind!r}")
        prob = resolve_prob(prob, self.level)
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

    def mean_exp(self, param: str) -> float:
        """``E[exp(param)]`` from the draws (the back-transformed mean, log-scale measures)."""
        return float(np.mean(np.exp(self.draws(param))))

    # ------------------------------------------------------------------ diagnostics
    def diagnostics(self) -> pd.DataFrame:
        """Per-parameter ESS (bulk, tail), R-hat, MCSE; ``attrs["divergences"]``.

        Adds a column ``ok`` (R-hat <= 1.01 and both ESS >= 400).
        """
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
            k = self.k if self.k <= 3 else None
            self._report = diagnose(self.posterior, self.idata["sample_stats"].to_dataset(),
                                    var_names=["mu", "tau", "beta", "nu", "theta"], k=k,
                                    parameterization=self.attrs.get("parameterization"))
        return self._report

    # ------------------------------------------------------------------ summary
    def _row_params(self) -> list[tuple[str, str]]:
        """(row label, param) pairs of the summary, in ``ExactPosterior.summary`` order."""
        return summary_rows(self.idata["posterior"], self._index)

    def summary(self, prob: float | None = None, classical: str | None = "REML",
                classical_test: str = "knha", theta: bool = True) -> pd.DataFrame:
        """Posterior summary table with the classical twin beside it
        (:func:`bayesma.bayes.table.posterior_table`).

        Parameters
        ----------
        prob : float, optional
            Credible (and confidence) level (default :attr:`level`).
        classical : str or None
            tau² estimator of the classical twin (``"REML"``, ``"DL"``, ...); None omits it.
        classical_test : {"knha", "z", "t"}
            Inference of the classical twin (Hartung-Knapp-Sidik-Jonkman by default).
        theta : bool
            Include one row per study (``theta[label]``).

        Returns
        -------
        DataFrame
            Rows and columns as ``ExactPosterior.summary`` (``mu[level]`` ... for
            subgroups, ``nu`` for the robust model), with the MCMC diagnostics ``mcse_mean,
            mcse_sd, ess_bulk, ess_tail, r_hat`` after the statistics; ``attrs`` hold
            ``prob``, the priors, the model and the sampler.
        """
        return posterior_table(self, prob, theta=theta, classical=classical,
                               classical_test=classical_test)

    def summary_stats(self, prob: float, *, theta: bool = True) -> pd.DataFrame:
        """The draw statistics and diagnostics of the summary rows, with the ``P(x > 0)``
        / ``P(x < 0)`` rows of mu and the coefficients (their MCSE, ESS and R-hat are
        those of the indicator draws)."""
        rows = [(lab, p) for lab, p in self._row_params()
                if theta or not lab.startswith("theta[")]
        stats: dict[str, dict[str, float]] = {}
        diag_vars: dict[str, xr.DataArray] = {}
        for lab, param in rows:
            stats[lab] = draw_stats(self.draws(param), prob)
            sel = self._select(param)
            diag_vars[lab] = sel.drop_vars([c for c in sel.coords if c not in ("chain", "draw")])
        loc_rows = [lab for lab, _ in rows if lab.split("[")[0] in ("mu", "beta")]
        for lab in loc_rows:
            a = diag_vars[lab]
            for sign, ind in ((">", a > 0), ("<", a < 0)):
                plab = f"P({lab} {sign} 0)"
                stats[plab] = {"mean": float(ind.mean())}
                diag_vars[plab] = ind.astype(float)
        ds = xr.Dataset({f"v{i}": v for i, v in enumerate(diag_vars.values())})
        dtab = diagnostics_table(ds)
        dtab.index = list(diag_vars)
        table = pd.DataFrame.from_dict(stats, orient="index").reindex(columns=STAT_COLUMNS)
        table.index.name = "param"
        table = table.join(dtab[DIAG_COLUMNS])
        table.attrs.update(priors=self.attrs.get("priors_text", ""), model=self.model_name,
                           sampler=self.attrs.get("sampler"))
        return table

    def predict(self, newmods: Any = None, prob: float | None = None) -> pd.DataFrame:
        """Posterior of the mean effect x'beta and of a new study's effect at ``newmods``.

        Parameters
        ----------
        newmods : array, dict or DataFrame, optional
            Moderator values (as ``RMAResult.predict``); None gives the pooled effect
            (intercept-only models) or the fitted values of the studies.
        prob : float, optional
            Interval probability (default :attr:`level`).

        Returns
        -------
        DataFrame with ``mean, sd, eti_low, eti_high, pi_low, pi_high`` (the last two:
        equal-tailed interval of x'beta + tau eps, a new study's effect).
        """
        prob = resolve_prob(prob, self.level)
        post = self.idata["posterior"]
        tau = self.draws("tau") if "tau" in post else np.zeros(self.draws("mu").shape[0])
        if "beta" in post:
            X, index = design_rows(self.model, newmods, self.labels)
            mean_draws = self.draws("beta") @ X.T
        else:
            if newmods is not None:
                raise BayesmaError("newmods needs a meta-regression")
            mu = self.draws("mu")
            mean_draws = mu[:, None] if mu.ndim == 1 else mu
            index = pd.Index(["pooled"]) if mu.ndim == 1 else self._index("mu")
        rng = np.random.default_rng(int(self.attrs.get("random_seed", 0)) + 7)
        return predict_from_draws(mean_draws, tau, prob, rng, index)

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

    def report_text(self, digits: int = 3, prob: float | None = None,
                    max_studies: int = 10) -> str:
        """A short printout: model, priors, sampler, key estimates beside the classical
        twin, a few study effects and a diagnostics line (``summary()`` has everything)."""
        a = self.attrs
        try:
            tab = self.summary(prob=prob)
        except BayesmaError as exc:
            return f"{self!r}\n(summary failed: {exc})"
        meas = f", {self.measure}" if self.measure else ""
        header = [
            f"Bayesian {self.model_name} (k = {self.k}{meas})  [{a.get('parameterization')}]",
            f"Priors: {a.get('priors_text', '')}",
            f"Sampler: {a.get('sampler')} NUTS, {a.get('chains')} chains x {a.get('draws')} "
            f"draws (tune {a.get('tune')}), seed {a.get('random_seed')}",
        ]
        main = tab.loc[[r for r in tab.index if not str(r).startswith("P(")]]
        footer = [f"Diagnostics: max R-hat {main['r_hat'].max():.3f}, min bulk ESS "
                  f"{main['ess_bulk'].min():.0f}, divergences {self.divergences}"]
        if self._report is not None and self._report.problems:
            footer.append("Sampling problems: " + self._report.message(self.model_name))
        return compact_text(tab, header=header, footer=footer, digits=digits,
                            max_studies=max_studies)


def load(path: str | Path) -> BayesFit | ExactPosterior:
    """Read a fit written by :meth:`BayesFit.to_netcdf`, or an exact posterior's tree
    (``ExactPosterior.to_datatree(...).to_netcdf``, the ``posterior.nc`` of a spec run).

    The model (class, settings, priors, study table) of an MCMC fit is rebuilt from the
    stored attributes on first use of ``fit.model`` / ``fit.classical`` / ``fit.refit``;
    an exact posterior is rebuilt at once from the stored arrays and prior specs. Loading
    never evaluates code (:func:`bayesma.bayes.loading.read_tree`).

    Raises
    ------
    BayesmaError
        When the file is not a bayesma fit, or its stored specification is invalid
        (:class:`~bayesma.errors.DataError` for a formula that fails vetting).
    """
    from bayesma.bayes.exact import exact_from_datatree, is_exact_datatree  # scipy.optimize

    tree = read_tree(path)
    if is_exact_datatree(tree):
        return exact_from_datatree(tree)
    return BayesFit(tree)

"""The one summary table of a Bayesian result, with its classical twin beside it.

:func:`posterior_table` builds the table that ``summary()`` of every engine returns and
that the report shows:

* one row per parameter (``mu``, ``tau``, ``tau2``, ``i2``, ``theta_new``,
  ``beta[<term>]``, ``mu_centered``, ``nu``, ``theta[<study>]``; ``mu[<level>]`` ... for
  subgroups) with the engine's statistics (``mean, sd, median, eti_low, eti_high,
  hdi_low, hdi_high``, plus MCMC diagnostics), in the engine's display order;
* ``P(<x> > 0)`` and ``P(<x> < 0)`` rows for ``mu`` and every coefficient (the
  probability in ``mean``);
* the classical twin ``classical, classical_low, classical_high``: the estimate and CI of
  the same model refitted at the table's level (Q-profile CIs for tau, tau², I²,
  Viechtbauer 2007; the prediction interval for ``theta_new``);
* for measures analysed on the log scale (:data:`bayesma.measures.LOG_SCALE_MEASURES`)
  the back-transformed ``exp_mean`` (``E[exp(x)]``), ``exp_median``, ``exp_eti_low``,
  ``exp_eti_high`` and ``exp_classical*`` columns for location rows.
"""

from __future__ import annotations

import math
import textwrap
import warnings
from typing import Any

import numpy as np
import pandas as pd

from bayesma.bayes.protocol import Posterior, SummarySource, parse_param, resolve_prob
from bayesma.errors import BayesmaError
from bayesma.formatting import fmt_plain
from bayesma.measures import get_measure

__all__ = ["posterior_table", "twin_at_level", "twin_columns", "TWIN_COLUMNS", "EXP_COLUMNS",
           "LOCATION_PARAMS", "PROB_PARAMS", "compact_text"]

TWIN_COLUMNS = ["classical", "classical_low", "classical_high"]
EXP_COLUMNS = ["exp_mean", "exp_median", "exp_eti_low", "exp_eti_high", "exp_classical",
               "exp_classical_low", "exp_classical_high"]
#: parameters on the effect scale (back-transformed for log-scale measures)
LOCATION_PARAMS = ("mu", "beta", "theta", "theta_new", "mu_centered")
#: parameters that get P(> 0) / P(< 0) rows
PROB_PARAMS = ("mu", "beta")


def posterior_table(post: Any, prob: float | None = None, *, theta: bool = True,
                    classical: bool | str | None = True,
                    classical_test: str | None = None) -> pd.DataFrame:
    """The summary table of a Bayesian result (see the module documentation).

    Parameters
    ----------
    post : Posterior
        An :class:`~bayesma.bayes.protocol.Posterior` that is also a
        :class:`~bayesma.bayes.protocol.SummarySource` (every bayesma engine).
    prob : float, optional
        Credible and confidence level (default ``post.level``).
    theta : bool
        Include one row per study.
    classical : bool or str or None
        ``True``: the result's own twin (``post.classical``); a tau² estimator name
        (``"REML"``, ``"DL"``, ...): that twin (``post.classical_fit``); ``None``/``False``:
        no twin (NaN columns).
    classical_test : str, optional
        Test of a named twin (default ``"knha"``).

    Returns
    -------
    DataFrame
        Index ``param``; ``attrs`` hold ``prob``, ``classical`` (``"REML (knha)"``) and
        the engine's (``model``, ``priors``, ...).
    """
    if not isinstance(post, Posterior) or not isinstance(post, SummarySource):
        raise BayesmaError(f"posterior_table needs a bayesma posterior, got "
                           f"{type(post).__name__}")
    prob = resolve_prob(prob, post.level)
    stats = post.summary_stats(prob, theta=theta)
    labels = stats.index.tolist()
    keep = [i for i, r in enumerate(labels) if not str(r).startswith("P(")]
    main = [labels[i] for i in keep]
    p_index, p_values = _probability_rows(post, stats, main)
    rows = main + p_index
    res, label, error = _twin(post, classical, classical_test)
    cols = None
    if res is not None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cols = twin_columns(res, rows, prob)
        except BayesmaError as exc:  # e.g. a level refit that the data do not allow
            error = str(exc)
    # the table is built once, from arrays (each DataFrame operation costs more than the
    # numbers in it); columns of another type than float keep the DataFrame path
    extra = {c: np.full(len(rows), np.nan) if cols is None else cols[c].to_numpy(float)
             for c in TWIN_COLUMNS}
    if all(dt == np.float64 for dt in stats.dtypes):
        values = stats.to_numpy()
        if len(keep) < len(stats):
            values = values[keep]
        if p_index:
            values = np.concatenate([values, p_values])
        base = dict(zip(stats.columns, values.T, strict=True))
        table = None
    else:
        table = stats.iloc[keep] if len(keep) < len(stats) else stats
        if p_index:
            table = pd.concat([table, pd.DataFrame(p_values, index=pd.Index(p_index),
                                                   columns=stats.columns)])
        base = table
    measure = get_measure(post.measure)
    if measure.log_scale:
        extra.update(_back_transformed(post, base, rows, extra, measure))
    if table is None:
        table = pd.DataFrame(np.column_stack([values, *extra.values()]),
                             index=pd.Index(rows, name="param"),
                             columns=[*stats.columns, *extra])
    else:
        table = pd.concat([table, pd.DataFrame(extra, index=table.index)], axis=1)
    table.index.name = "param"
    table.attrs.update(stats.attrs)
    table.attrs.update(prob=prob, classical=label)
    if error:
        table.attrs["classical_error"] = error
    return table


def _base(label: str) -> str:
    return parse_param(label)[0] if not label.startswith("P(") else ""


def _probability_rows(post: Any, stats: pd.DataFrame, main: list[str]
                      ) -> tuple[list[str], np.ndarray]:
    """``P(x > 0)``, ``P(x < 0)`` rows (the engine's, else from ``prob_less``): their
    labels and values in the columns of ``stats`` (NaN except ``mean`` for computed
    rows)."""
    index: list[str] = []
    recs: list[np.ndarray] = []
    mean_col = list(stats.columns).index("mean")
    for lab in main:
        if not str(lab).startswith(PROB_PARAMS) or _base(lab) not in PROB_PARAMS:
            continue
        names = (f"P({lab} > 0)", f"P({lab} < 0)")
        if all(n in stats.index for n in names):
            for n in names:
                recs.append(stats.loc[n].to_numpy(dtype=float, na_value=np.nan))
                index.append(n)
            continue
        p_less = float(post.prob_less(lab, 0.0))
        for n, val in zip(names, (1.0 - p_less, p_less), strict=True):
            rec = np.full(len(stats.columns), np.nan)
            rec[mean_col] = val
            recs.append(rec)
            index.append(n)
    values = np.array(recs, dtype=float).reshape(len(recs), len(stats.columns))
    return index, values


def _twin(post: Any, classical: Any, test: str | None) -> tuple[Any, str, str]:
    """(twin result or None, its label, an error message)."""
    if classical is None or classical is False:
        return None, "", ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if classical is True:
                res = post.classical
            else:
                res = post.classical_fit(str(classical), test or "knha")
    except BayesmaError as exc:  # the twin must never break the Bayesian summary
        return None, "", str(exc)
    if res is None:
        return None, "", ""
    first = res if not isinstance(res, dict) else next(
        (r for r in res.values() if r is not None), None)
    if first is None:
        return None, "", ""
    if getattr(first, "twin_label", None):  # a twin that labels itself (not an rma)
        label = first.twin_label
    elif classical is True or isinstance(res, dict):
        label = f"{first.method} ({first.test})"
    else:
        label = f"{classical} ({test or 'knha'})"
    return res, label, ""


def twin_at_level(res: Any, prob: float) -> Any:
    """The classical fit at confidence level ``prob`` (refitted when it differs): the one
    way every table gets its twin at the table's level."""
    if res is None or abs(float(res.level) - prob) <= 1e-12:
        return res
    return res.with_settings(level=prob)


def twin_columns(res: Any, rows: list[str], prob: float) -> pd.DataFrame:
    """``classical, classical_low, classical_high`` for the rows of a table.

    ``res`` is an ``RMAResult`` (intercept-only, meta-regression, or a no-intercept
    subgroup model whose coefficients are ``mu[<level>]`` in order) or a dict
    ``{level: RMAResult or None}`` of separate per-level fits.
    """
    out: dict[str, tuple] = {}
    fits = res.items() if isinstance(res, dict) else [(None, res)]
    for lv, r in fits:
        if r is None:
            continue
        r = twin_at_level(r, prob)
        if hasattr(r, "table_rows"):  # a twin that labels its rows itself (Multivariate)
            out.update(r.table_rows(rows))
            continue
        suffix = "" if lv is None else f"[{lv}]"
        if lv is not None:
            out[f"mu{suffix}"] = (r.estimate, r.ci_low, r.ci_high)
        else:
            _coefficient_rows(r, rows, prob, out)
        if f"tau{suffix}" in rows:
            _heterogeneity_rows(r, suffix, prob, out)
        if r.p == 1 and r.pi_low is not None:
            out[f"theta_new{suffix}"] = (r.estimate, r.pi_low, r.pi_high)
    # one array in the order of ``rows`` (NaN for rows without a twin): a DataFrame
    # from_dict plus reindex costs ten times the numbers
    none = (math.nan, math.nan, math.nan)
    values = np.array([out.get(r, none) for r in rows], dtype=float).reshape(len(rows), 3)
    return pd.DataFrame(values, index=pd.Index(rows), columns=TWIN_COLUMNS)


def _coefficient_rows(r: Any, rows: list[str], prob: float, out: dict) -> None:
    coef = r.coef
    mu_levels = [x for x in rows if x.startswith("mu[")]
    if mu_levels and len(mu_levels) == r.p and "intrcpt" not in coef.index:
        # a model per level without intercept (Subgroups with a shared tau)
        for lab, (_, row) in zip(mu_levels, coef.iterrows(), strict=True):
            out[lab] = (row["estimate"], row["ci_low"], row["ci_high"])
        pred = r.predict(np.eye(r.p), level=prob)
        for lab, (_, row) in zip(mu_levels, pred.iterrows(), strict=True):
            out["theta_new" + lab[2:]] = (row["pred"], row["pi_low"], row["pi_high"])
        return
    for term, est, lo, hi in zip(coef.index, coef["estimate"].to_numpy(),
                                 coef["ci_low"].to_numpy(), coef["ci_high"].to_numpy(),
                                 strict=True):
        lab = "mu" if term == "intrcpt" else f"beta[{term}]"
        out[lab] = (est, lo, hi)


def _heterogeneity_rows(r: Any, suffix: str, prob: float, out: dict) -> None:
    try:
        ci = r.confint(level=prob)
        t2, t, i2 = tuple(ci.tau2), tuple(ci.tau), tuple(ci.i2)
    except (BayesmaError, ArithmeticError, ValueError):  # Q-profile may fail on
        t2 = (r.tau2, math.nan, math.nan)                 # degenerate data
        t = (r.tau, math.nan, math.nan)
        i2 = (r.i2, math.nan, math.nan)  # percent, like metafor
    out[f"tau{suffix}"] = t
    out[f"tau2{suffix}"] = t2
    out[f"i2{suffix}"] = i2


def _back_transformed(post: Any, table: Any, rows: list, twin: dict,
                      measure: Any) -> dict[str, np.ndarray]:
    """The :data:`EXP_COLUMNS` (in that order) for the location rows; NaN elsewhere
    (``table``: the table's columns, a DataFrame or a dict of arrays)."""
    loc = np.array([_base(str(lab)) in LOCATION_PARAMS for lab in rows])
    means = [post.mean_exp(str(lab)) if is_loc else math.nan
             for lab, is_loc in zip(rows, loc, strict=True)]
    out = {"exp_mean": np.asarray(means, dtype=float)}
    for c in ("median", "eti_low", "eti_high", "classical", "classical_low",
              "classical_high"):
        x = twin[c] if c in twin else np.asarray(table[c], dtype=float)
        out[f"exp_{c}"] = np.where(loc, measure.back(x), np.nan)
    return {c: out[c] for c in EXP_COLUMNS}


# ------------------------------------------------------------------ compact display
#: rows of the compact display (in this order, when present), with their labels
_COMPACT_ROWS = (("mu", "mu"), ("tau", "tau"), ("theta_new", "theta_new"), ("i2", "I² (%)"))


def compact_text(table: pd.DataFrame, *, header: list[str], footer: list[str] = (),
                 digits: int = 3, max_studies: int = 10) -> str:
    """A short printout of a summary table: one line per key parameter (posterior mean
    and equal-tailed interval, the classical twin beside it), coefficients, a few study
    effects; ``header`` and ``footer`` lines come from the engine (model, priors, k,
    sampler). The wide table stays available from ``summary()``."""
    prob = float(table.attrs.get("prob", 0.95))
    pct = f"{100 * prob:g}%"
    twin = table.attrs.get("classical", "")
    lines = [_wrap(h) for h in header]
    keys = [(r, lab) for r, lab in _COMPACT_ROWS if r in table.index]
    for r in table.index:
        name = str(r)
        if name.startswith(("P(", "theta[")):
            continue
        indexed = "[" in name and _base(name) in ("mu", "tau", "theta_new", "beta")
        if indexed or name in ("mu_centered", "nu"):
            keys.append((r, name))
    studies = [r for r in table.index if str(r).startswith("theta[")]
    width = max([len(lab) for _, lab in keys] + [len(str(r)) for r in studies[:max_studies]]
                + [10])
    head = f"  {'':<{width}} {'mean':>9}  {pct + ' CrI':<22}"
    if twin:
        head += f"  classical {twin}"
    lines.append(head)
    for row, lab in keys:
        lines.append(_compact_row(table, row, lab, width, digits, bool(twin)))
    probs = [r for r in table.index if str(r).startswith("P(") and str(r).endswith("< 0)")]
    for r in probs[:4]:
        lines.append(f"  {r} = {fmt_plain(table.loc[r, 'mean'], 4)}")
    if studies:
        lines.append("Shrunken study effects:")
        for r in studies[:max_studies]:
            lines.append(_compact_row(table, r, str(r), width, digits, bool(twin)))
        if len(studies) > max_studies:
            lines.append(f"  ... {len(studies) - max_studies} more studies (summary())")
    if "exp_median" in table.columns and "mu" in table.index:
        lo, hi = table.loc["mu", "exp_eti_low"], table.loc["mu", "exp_eti_high"]
        med = fmt_plain(table.loc["mu", "exp_median"], digits)
        lines.append(f"On the ratio scale: exp(mu) median {med} "
                     f"[{fmt_plain(lo, digits)}, {fmt_plain(hi, digits)}]")
    lines.extend(_wrap(f) for f in footer)
    return "\n".join(lines)


def _wrap(line: str, width: int = 100) -> str:
    return textwrap.fill(line, width, subsequent_indent="    ", break_long_words=False,
                         break_on_hyphens=False) if len(line) > width else line


def _compact_row(table: pd.DataFrame, row: Any, label: str, width: int, digits: int,
                 twin: bool) -> str:
    r = table.loc[row]
    ci = f"[{fmt_plain(r['eti_low'], digits)}, {fmt_plain(r['eti_high'], digits)}]"
    text = f"  {label:<{width}} {fmt_plain(r['mean'], digits):>9}  {ci:<22}"
    if twin and np.isfinite(r.get("classical", np.nan)):
        text += f"  {fmt_plain(r['classical'], digits)}"
        if np.isfinite(r["classical_low"]):
            text += (f" [{fmt_plain(r['classical_low'], digits)}, "
                     f"{fmt_plain(r['classical_high'], digits)}]")
    return text.rstrip()

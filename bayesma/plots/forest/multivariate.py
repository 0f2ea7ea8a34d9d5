"""Forest plot of a Bayesian multivariate meta-analysis: one section per outcome, no overall row.

A :class:`~bayesma.bayes.models.multivariate.Multivariate` fit pools one effect per
outcome (Jackson, Riley & White 2011, Stat Med 30:2481). Each outcome (in the model's
outcome order) gets a section: its studies' observed effects ``yi`` with their
``prob`` confidence interval from ``vi`` and their posterior true effect ``theta``
beneath, then the classical twin's pooled mean (metafor's ``rma.mv(yi, V, mods = ~ 0 +
outcome, random = ~ outcome | study, struct = "UN")``, Wald z interval), the posterior
of ``mu[<outcome>]`` and the prediction interval of a new study's effect
(``theta_new[<outcome>]``). There is no diamond across outcomes: they measure different
things. The footer gives tau per outcome and the between-outcome correlations (posterior
summary, with the twin's REML estimates), the priors (LKJ eta included) and how the
study weights are computed (inverse variance within each outcome).

Reads finished results only; nothing is fitted here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bayesma.bayes.fit import BayesFit
from bayesma.bayes.models.multivariate import Multivariate
from bayesma.bayes.models.multivariate_twin import MultivariateTwin
from bayesma.errors import BayesmaError, DataError
from bayesma.formatting import fmt_interval, fmt_num
from bayesma.plots import _style as st
from bayesma.plots.forest.inputs import ForestInput, Pooled, Section
from bayesma.plots.forest.rows import Mark, Row, RowBuilder

__all__ = ["is_multivariate", "multivariate_builder"]

#: weight method shown in the weight column header
WEIGHTS = "inverse variance"


def is_multivariate(result: Any) -> bool:
    """True for an MCMC fit of :class:`~bayesma.bayes.models.multivariate.Multivariate`."""
    if not isinstance(result, BayesFit):
        return False
    try:
        return isinstance(result.model, Multivariate)
    except Exception:  # noqa: BLE001 - a loaded fit whose model cannot be rebuilt
        return False


def _interval(post: Any, param: str, prob: float, point: str) -> tuple[float, float, float]:
    est, lo, hi = st.post_summary(post, param, prob, point)
    return float(est[0]), float(lo[0]), float(hi[0])


def _twin(result: BayesFit, classical: Any, prob: float) -> MultivariateTwin | None:
    """The ``rma_mv(struct="UN")`` twin at level ``prob`` (None when left out)."""
    if classical is False:
        return None
    if classical is None or classical is True:
        twin = result.classical
    elif isinstance(classical, MultivariateTwin):
        twin = classical
    else:
        raise BayesmaError("with a Multivariate fit, classical must be None, False or the "
                           "fit's twin (fit.classical_fit('REML' or 'ML'))")
    return twin.with_settings(level=prob)


def twin_coef(twin: MultivariateTwin, model: Multivariate, outcome: str
              ) -> tuple[float, float, float]:
    """(estimate, ci_low, ci_high) of the twin's pooled mean of ``outcome``."""
    coef = twin.fit.coef
    term = f"{model.outcome_col}[{outcome}]"
    r = coef.loc[term] if term in coef.index else coef.iloc[twin.outcomes.index(outcome)]
    return float(r["estimate"]), float(r["ci_low"]), float(r["ci_high"])


def read_multivariate(result: BayesFit, *, prob: float, point: str,
                      data: pd.DataFrame | None) -> ForestInput:
    """The :class:`ForestInput` of a Multivariate fit: one section per outcome (model
    order) with the posterior ``mu[<o>]`` and ``theta_new[<o>]``; no overall rows."""
    m: Multivariate = result.model
    yi, vi = np.asarray(m.yi, float), np.asarray(m.vi, float)
    labels = [str(s) for s in result.labels]
    d = m.data if data is None else data
    if not isinstance(d, pd.DataFrame) or len(d) != len(yi):
        raise DataError(f"data must be a DataFrame with the {len(yi)} rows of the model "
                        "(one per study and outcome), in the same order")
    code = np.asarray(m.mv.outcome)
    weights = np.empty(len(yi))
    sections = []
    for j, o in enumerate(m.outcomes):
        idx = np.flatnonzero(code == j)
        w = 1.0 / vi[idx]
        weights[idx] = 100.0 * w / w.sum()
        sections.append(Section(o, idx, Pooled(
            mu=_interval(result, f"mu[{o}]", prob, point),
            pred=_interval(result, f"theta_new[{o}]", prob, point), weight=100.0)))
    return ForestInput(labels=labels, yi=yi, vi=vi, data=d, measure=st.result_measure(result),
                       theta=st.post_summary(result, "theta", prob, point), weights=weights,
                       weight_method=WEIGHTS, overall=Pooled(), sections=sections, priors={},
                       engine="MCMC")


def _twin_row(b: RowBuilder, est: float, lo: float, hi: float, key: str,
              method: str) -> Row:
    r = Row("subtotal", f"{key}:classical", height=1.0)
    r.cells["label"] = f"Classical (rma_mv UN, {method})"
    r.font["label"] = {"weight": "bold"}
    r.cells["obs"] = b.ci_text(est, lo, hi)
    r.font["obs"] = {"weight": "bold"}
    if b.has_obs:
        r.cells["weight"] = f"{100.0:.1f}%"
        r.font["weight"] = {"weight": "bold"}
    r.marks.append(Mark("diamond", b.t(est), b.t(lo), b.t(hi), 0.5, st.CLASSICAL, size=0.3))
    return r


def _prediction_row(b: RowBuilder, pred: tuple[float, float, float], key: str) -> Row:
    est, lo, hi = pred
    r = Row("prediction", f"{key}:prediction", height=1.0)
    r.cells["label"] = "Prediction interval (new study)"
    r.font["label"] = {"weight": "bold"}
    r.text_dy["label"] = 0.5
    r.cells["post"] = fmt_interval(b.t(lo), b.t(hi), b.digits)
    r.text_dy["post"] = 0.5
    r.font["post"] = {"color": st.BAYES}
    r.marks.append(Mark("bar", b.t(est), b.t(lo), b.t(hi), 0.5, st.BAYES, fill=st.BAYES_LIGHT))
    return r


def _closing_rows(b: RowBuilder, m: Multivariate, twin: MultivariateTwin | None,
                  name: str, sec: Section, bayes: Row | None) -> list[Row]:
    """The rows closing an outcome's section: twin mean, posterior mu, prediction."""
    out = []
    if twin is not None:
        out.append(_twin_row(b, *twin_coef(twin, m, name), f"group:{name}", twin.method))
    if bayes is not None:
        bayes.cells["label"] = f"Bayesian (\u03bc[{name}])"
        out.append(bayes)
    if "prediction" in b.show and b.has_bayes and sec.pooled.pred is not None:
        out.append(_prediction_row(b, sec.pooled.pred, f"group:{name}"))
    return out


def _strip_outcome(label: str, outcome: str) -> str:
    """``"Lindhe et al./PD"`` under outcome ``"PD"`` -> ``"Lindhe et al."``."""
    tail = f"/{outcome}"
    return label[:-len(tail)] if label.endswith(tail) and len(label) > len(tail) else label


def _ci(x: tuple[float, float, float]) -> str:
    return f"{fmt_num(x[0], 2)} [{fmt_num(x[1], 2)}, {fmt_num(x[2], 2)}]"


def footer_lines(result: BayesFit, twin: MultivariateTwin | None, prob: float,
                 point: str) -> list[str]:
    """tau per outcome, the correlations (posterior and twin), the priors, the weights."""
    m: Multivariate = result.model
    what = f"posterior {point} [{100 * prob:g}% CrI]"
    tw = f"; rma_mv UN {twin.method}: " if twin is not None else ""
    taus = [f"\u03c4[{o}] = {_ci(_interval(result, f'tau[{o}]', prob, point))}"
            for o in m.outcomes]
    line = "Between-study SD: " + ", ".join(taus) + f" ({what})"
    if twin is not None:
        line += tw + ", ".join(f"\u03c4[{o}] = {fmt_num(float(np.sqrt(max(t2, 0.0))), 2)}"
                               for o, t2 in zip(m.outcomes, twin.tau2(), strict=True))
    lines = [line]
    if "rho" in result.posterior:
        pairs = [str(p) for p in result.posterior["rho"]["pair"].values]
        rhos = [f"\u03c1[{p}] = {_ci(_interval(result, f'rho[{p}]', prob, point))}"
                for p in pairs]
        line = "Between-outcome correlation: " + ", ".join(rhos) + f" ({what})"
        if twin is not None:
            line += tw + ", ".join(f"\u03c1[{p}] = {fmt_num(r, 2)}"
                                   for p, r in twin.rho().items())
        lines.append(line)
    lines.append(_prior_text(m) + f" (MCMC); study estimates: posterior {point}s")
    lines.append("No pooled estimate across outcomes (they measure different things); "
                 "weights: inverse variance within each outcome")
    return lines


def _prior_text(m: Multivariate) -> str:
    parts = []
    for role, sym in (("mu", "\u03bc"), ("tau", "\u03c4")):
        pri = m.priors[role]
        texts = {o: st.describe_prior(p) for o, p in pri.items()}
        if len(set(texts.values())) == 1:
            parts.append(f"{sym} ~ {next(iter(texts.values()))}")
        else:
            parts += [f"{sym}[{o}] ~ {t}" for o, t in texts.items()]
    if m.m > 1:
        parts.append(f"R ~ LKJ(\u03b7 = {m.lkj_eta:g})")
    return "Bayesian model: " + ", ".join(parts)


def multivariate_builder(result: BayesFit, *, classical: Any, prob: float, point: str,
                         data: pd.DataFrame | None, transform: Any, sort_by: str | None,
                         ascending: bool | None, subgroup: str | None, cluster: str | None,
                         **options: Any) -> tuple[RowBuilder, st.Scale]:
    """Rows, columns and footer of the forest plot of a Multivariate fit, and its scale.

    ``options`` are :class:`~bayesma.plots.forest.rows.RowBuilder`'s (show, digits,
    columns, arm_columns, arm_labels, study_header, rob, rob_tool).

    Raises
    ------
    BayesmaError
        ``subgroup`` or ``cluster`` other than the model's outcome and study columns (the
        sections are the outcomes), or an unusable ``classical``.
    """
    m: Multivariate = result.model
    if subgroup not in (None, m.outcome_col):
        raise BayesmaError(f"a Multivariate fit is drawn by outcome ({m.outcome_col!r}); "
                           f"subgroup={subgroup!r} is not available")
    if cluster not in (None, m.study_col):
        raise BayesmaError(f"a Multivariate fit is drawn by outcome; cluster={cluster!r} is "
                           "not available")
    fit = read_multivariate(result, prob=prob, point=point, data=data)
    twin = _twin(result, classical, prob)
    scale = st.resolve_scale(fit.measure, transform)
    b = RowBuilder(fit=fit, scale=scale, prob=prob, point=point, **options)
    b.build_subgroups(b.order(sort_by, ascending))
    pooled = "pooled" in b.show
    secs = {s.name: s for s in fit.sections or []}
    bayes_rows = {r.key.removeprefix("group:").removesuffix(":bayes"): r for r in b.rows
                  if r.kind == "subtotal" and r.key.endswith(":bayes")}
    rows: list[Row] = []
    for r in b.rows:
        if r.kind == "study" and r.group is not None:
            r.cells["label"] = _strip_outcome(r.cells["label"], r.group)
        elif r.kind == "header":
            r.span = f"Outcome: {r.span}"
        elif r.kind == "subtotal" and r.key.endswith(":bayes"):
            continue  # placed after the twin's row below
        elif r.kind == "spacer" and r.key.endswith(":spacer"):
            name = r.key.removeprefix("group:").removesuffix(":spacer")
            rows += _closing_rows(b, m, twin if pooled else None, name, secs[name],
                                  bayes_rows.get(name))
        rows.append(r)
    b.rows = rows
    b.footer_lines = footer_lines(result, twin, prob, point) + b.footer_lines
    return b, scale

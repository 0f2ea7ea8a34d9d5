"""Forest plots for several effects per study (issue 11): each study a section headed by
its name, its effects as indented rows beneath (observed estimate with CI and the
posterior of the true effect theta_ij), and the study's posterior summary as a diamond
(the mean of its true effects); then the pooled mu and a new effect's prediction.

Reads finished results only (a three-level posterior from ``bm.exact_posterior(...,
random="~ 1 | study/esid")`` or a ``bm.Multilevel`` fit; nothing is fitted here). The
study summary is the posterior of the average true effect of the study's rows, from
joint posterior draws; a posterior whose draws do not keep the joint distribution of the
effects of a study (the exact engine draws each theta from its own conditional) gets its
study summary from the parameter ``"theta_study[<study>]"`` when it offers one, else
none (a note in the footer says so).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bayesma.bayes.fit import BayesFit
from bayesma.bayes.protocol import Posterior
from bayesma.errors import BayesmaError, DataError
from bayesma.formatting import fmt_num
from bayesma.plots import _style as st
from bayesma.plots.forest.inputs import ForestInput, Pooled, Section
from bayesma.plots.forest.rows import RowBuilder

__all__ = ["dependent_cluster", "read_dependent", "relabel_dependent"]

#: Row label prefix of an effect under its study (the indentation)
INDENT = "\u2003"
#: number of posterior draws used for the study summaries
N_DRAWS = 4000


def dependent_cluster(result: Any, cluster: str | None) -> str | None:
    """The cluster column of a dependent-effects result (None: not such a result).

    A three-level posterior names its levels (``result.levels``, outer first); other
    Bayesian results are treated as dependent only when ``cluster`` is given.
    """
    levels = getattr(result, "levels", None)
    if levels is None and isinstance(result, BayesFit):
        levels = getattr(result.model, "levels", None)
    if cluster is not None:
        return cluster
    if isinstance(levels, tuple | list) and len(levels) == 2 and isinstance(result, Posterior):
        return str(levels[0])
    return None


def _joint_draws(post: Any) -> bool:
    """True when ``post.draws("theta")`` keeps the joint posterior of the effects."""
    return isinstance(post, BayesFit)


def _study_summary(post: Any, labels: list[str], rows: np.ndarray, study: str,
                   prob: float, point: str) -> tuple[float, float, float] | None:
    for name in (f"theta_study[{study}]",):
        try:
            est, lo, hi = st.post_summary(post, name, prob, point)
            return float(est[0]), float(lo[0]), float(hi[0])
        except Exception:  # noqa: BLE001 - the engine has no such parameter
            pass
    if not _joint_draws(post):
        return None
    d = np.asarray(post.draws("theta", random_seed=1), dtype=float)
    if d.ndim != 2 or d.shape[1] != len(labels):
        return None
    m = d[:, rows].mean(axis=1)
    a = (1 - prob) / 2
    lo, hi = np.quantile(m, [a, 1 - a])
    est = float(np.median(m)) if point == "median" else float(np.mean(m))
    return est, float(lo), float(hi)


def read_dependent(post: Any, cluster: str, *, prob: float, point: str,
                   data: pd.DataFrame | None) -> tuple[ForestInput, bool]:
    """The :class:`ForestInput` of a dependent-effects posterior: one section per
    cluster (first appearance order). Returns it and whether study summaries exist."""
    if not isinstance(post, Posterior):
        raise BayesmaError("a forest plot by study needs a Bayesian three-level result "
                           "(bm.exact_posterior(..., random=...) or a bm.Multilevel fit)")
    d = post.data if data is None else data
    if not isinstance(d, pd.DataFrame) or cluster not in d.columns:
        raise DataError(f"cluster column {cluster!r} is not in the result's data; pass "
                        "data= with the rows used", column=cluster)
    src = post.model if isinstance(post, BayesFit) else post
    yi = np.asarray(getattr(src, "yi", None) if hasattr(src, "yi") else d["yi"], dtype=float)
    vi = np.asarray(getattr(src, "vi", None) if hasattr(src, "vi") else d["vi"], dtype=float)
    if len(d) != len(yi):
        raise DataError(f"data has {len(d)} rows but the result has {len(yi)} effects; "
                        "pass the rows used in the analysis, in the same order")
    labels = [str(s) for s in post.labels]
    theta = st.post_summary(post, "theta", prob, point)
    w = 1.0 / vi
    weights = 100.0 * w / w.sum()
    ids = d[cluster].to_numpy()
    sections, have = [], False
    for s in pd.unique(ids):
        rows = np.flatnonzero(ids == s)
        summ = _study_summary(post, labels, rows, str(s), prob, point)
        have = have or summ is not None
        sections.append(Section(str(s), rows, Pooled(mu=summ,
                                                     weight=float(weights[rows].sum()))))
    mu = st.post_summary(post, "mu", prob, point)
    pred = st.post_summary(post, "theta_new", prob, point)
    overall = Pooled(mu=(float(mu[0][0]), float(mu[1][0]), float(mu[2][0])),
                     pred=(float(pred[0][0]), float(pred[1][0]), float(pred[2][0])),
                     weight=100.0)
    pri = post.priors or {}
    fit = ForestInput(labels=labels, yi=yi, vi=vi, data=d, measure=st.result_measure(post),
                      theta=theta, weights=weights, weight_method="inverse variance",
                      overall=overall, sections=sections,
                      priors={"mu": pri.get("mu")} if pri.get("mu") is not None else {},
                      engine="exact posterior" if not isinstance(post, BayesFit) else "MCMC")
    return fit, have


def _inner_label(label: str, study: str) -> str:
    """``"11/3"`` under study ``"11"`` -> ``"3"``."""
    for sep in ("/", ":", " "):
        head = f"{study}{sep}"
        if label.startswith(head) and len(label) > len(head):
            return label[len(head):]
    return label


def relabel_dependent(builder: RowBuilder, post: Any, cluster: str, have_summary: bool,
                      prob: float, point: str) -> None:
    """Indent the effect rows under their study, name the study summary rows and add the
    variance components and priors to the footer."""
    for r in builder.rows:
        if r.kind == "study" and r.group is not None:
            r.cells["label"] = INDENT + _inner_label(r.cells["label"], r.group)
        elif r.kind == "subtotal" and r.key.endswith(":bayes"):
            r.cells["label"] = INDENT + "Study (posterior mean of its effects)"
        elif r.kind == "header":
            r.span = f"{cluster} {r.span}"
    levels = list(getattr(post, "levels", None) or [])
    parts = []
    for lv in levels:
        try:
            est, lo, hi = st.post_summary(post, f"tau[{lv}]", prob, point)
        except Exception:  # noqa: BLE001 - another engine's naming
            continue
        parts.append(f"\u03c4[{lv}] = {fmt_num(float(est[0]), 2)} "
                     f"[{fmt_num(float(lo[0]), 2)}, {fmt_num(float(hi[0]), 2)}]")
    lines = []
    if parts:
        lines.append("Three-level model: " + ", ".join(parts)
                     + f" (posterior {point} [{100 * prob:g}% CrI])")
    pri = getattr(post, "priors", None) or {}
    tau = pri.get("tau")
    if isinstance(tau, dict) and tau:
        lines.append("\u03c4 priors: " + ", ".join(f"{lv} ~ {st.describe_prior(p)}"
                                                    for lv, p in tau.items()))
    if not have_summary:
        lines.append("Study rows: no study-level summary (the exact engine's draws do not "
                     "keep the joint posterior of a study's effects)")
    builder.footer_lines = lines + builder.footer_lines

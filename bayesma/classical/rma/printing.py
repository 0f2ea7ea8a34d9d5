"""The printout of an :class:`~bayesma.classical.rma.RMAResult` (metafor's ``print.rma.uni``).

Layout, labels and rounding follow metafor 3.8-1 ``print.rma.uni``; a note is added when
the (restricted) likelihood of tau² has a second mode (see
:mod:`bayesma.classical.profile`), which metafor does not check.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayesma.classical.printout import coef_table_lines, p_phrase

__all__ = ["format_summary"]


def format_summary(res: Any, digits: int = 4) -> str:
    """A printout in the layout of metafor's ``print.rma.uni``."""
    d = digits
    out: list[str] = [""]
    ee = res.method == "EE"
    if ee:
        kind = "Equal-Effects Model" if res.int_only else "Fixed-Effects with Moderators Model"
        out.append(f"{kind} (k = {res.k})")
    else:
        kind = "Random-Effects Model" if res.int_only else "Mixed-Effects Model"
        est = f"tau^2 estimator: {res.method}"
        if res.tau2_fixed:
            est = "tau^2 fixed"
        out.append(f"{kind} (k = {res.k}; {est})")
    out.append("")
    if res.method in ("ML", "REML"):
        col = "REML" if res.method == "REML" else "ML"
        fs = res.fit_stats[col]
        vals = [fs["ll"], fs["dev"], fs["AIC"], fs["BIC"], fs["AICc"]]
        txt = [f"{v:.{d}f}" for v in vals]
        heads = ("logLik", "deviance", "AIC", "BIC", "AICc")
        ws = [max(len(h), len(t)) for h, t in zip(heads, txt, strict=True)]
        out.append("  ".join(h.rjust(w) for h, w in zip(heads, ws, strict=True)))
        out.append("  ".join(t.rjust(w) for t, w in zip(txt, ws, strict=True)))
        out.append("")
    resid = "" if res.int_only else "residual "
    if not ee:
        se_txt = (
            f" (SE = {res.se_tau2:.{d}f})"
            if res.se_tau2 is not None and np.isfinite(res.se_tau2)
            else ""
        )
        lines = [
            (f"tau^2 (estimated amount of {resid or 'total '}heterogeneity):",
             f"{res.tau2:.{d}f}{se_txt}"),
            ("tau (square root of estimated tau^2 value):", f"{res.tau:.{d}f}"),
        ]
    else:
        lines = []
    if res.int_only:
        lines += [
            ("I^2 (total heterogeneity / total variability):", f"{res.i2:.2f}%"),
            ("H^2 (total variability / sampling variability):", f"{res.h2:.2f}"),
        ]
    else:
        lines += [
            ("I^2 (residual heterogeneity / unaccounted variability):", f"{res.i2:.2f}%"),
            ("H^2 (unaccounted variability / sampling variability):", f"{res.h2:.2f}"),
        ]
        if res.r2 is not None and np.isfinite(res.r2):
            lines.append(("R^2 (amount of heterogeneity accounted for):", f"{res.r2:.2f}%"))
    if lines:
        # metafor aligns the values as if the tau^2 line were present
        tau_lab = f"tau^2 (estimated amount of {resid or 'total '}heterogeneity):"
        w = max(len(tau_lab), *(len(a) for a, _ in lines)) + 1
        out += [a.ljust(w) + b for a, b in lines]
        out.append("")
    if res.multimodal and res.tau2_local is not None:
        lik = "restricted likelihood" if res.method == "REML" else "likelihood"
        out.append(f"Note: the {lik} of tau^2 is multimodal; tau^2 above is its global")
        out.append(
            f"maximum, a second local maximum lies at tau^2 = {res.tau2_local:.{d}f} "
            "(metafor may report that one)."
        )
        out.append("")
    qname = "Q" if res.int_only else "QE"
    title = "Test for Heterogeneity:" if res.int_only else "Test for Residual Heterogeneity:"
    out.append(title)
    out.append(f"{qname}(df = {res.q_df}) = {res.q:.{d}f}, p-val {p_phrase(res.q_pval)}")
    out.append("")
    if res.qm is not None:
        btt = res.btt()
        if len(btt) == 1:
            coefs = f"coefficient {btt[0] + 1}"
        else:
            coefs = f"coefficients {btt[0] + 1}:{btt[-1] + 1}"
        out.append(f"Test of Moderators ({coefs}):")
        ptxt = p_phrase(res.qm_pval)
        if isinstance(res.qm_df, tuple):
            out.append(
                f"F(df1 = {res.qm_df[0]}, df2 = {res.qm_df[1]}) = {res.qm:.{d}f}, "
                f"p-val {ptxt}"
            )
        else:
            out.append(f"QM(df = {res.qm_df}) = {res.qm:.{d}f}, p-val {ptxt}")
        out.append("")
    out.append("Model Results:")
    out.append("")
    out += coef_table_lines(
        res.coef, d, res.int_only, with_df=res.test != "z", df=res.df, stat_name=res.stat_name
    )
    out.append("")
    out.append("---")
    out.append("Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
    out.append("")
    return "\n".join(out)

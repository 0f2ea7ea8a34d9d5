"""Default priors per effect measure, stated explicitly.

=================  ==========================  =====================================
measure            mu (and each beta)          tau
=================  ==========================  =====================================
OR, RR, PETO, HR   Normal(0, 4)                HalfNormal(0.5)
ROM                Normal(0, 4)                HalfNormal(0.5)
SMD, SMDH          Normal(0, 2)                HalfNormal(0.3)
ZCOR               Normal(0, 1)                HalfNormal(0.2)
COR                Normal(0, 1)                HalfNormal(0.2)
RD                 Normal(0, 1)                HalfNormal(0.2)
MD, GEN, other     Normal(0, 10·s)             HalfNormal(s)
=================  ==========================  =====================================

Rationale. For log odds (and risk) ratios, HalfNormal(0.5) on tau is the weakly
informative choice of Friede et al. (2017, Biom J 59:658) and Röver et al. (2021,
Res Synth Methods 12:448): it puts 95% of its mass below tau = 0.98, "fairly extreme"
heterogeneity on that scale. Mapping log OR to SMD by the logistic approximation
(d = log OR · √3/π, Hasselblad & Hedges 1995) turns it into HalfNormal(0.28), rounded to
0.3 for SMDs. The mu priors are unit-information-like: about the spread of a single
observation on that scale (≈ 4 for log OR, ≈ 2 for SMD, 1 for Fisher's z; Röver 2020,
J Stat Softw 93(6), sec. 2.4), so they are vague relative to any meta-analysis.
Scale-dependent measures (MD, GEN) have no natural unit: there ``s`` is the larger of
the standard deviation of the yi and the median within-study standard error, so the
prior is vague on the data's own scale; the value used is printed in every summary.
Choose priors deliberately for a real analysis (see :mod:`bayesma.priors.presets`).
"""

from __future__ import annotations

import numpy as np

from bayesma.errors import BayesmaError
from bayesma.priors.base import Prior
from bayesma.priors.location import Normal
from bayesma.priors.tau import HalfNormal

__all__ = ["default_priors", "DEFAULTS"]

#: measure -> (mu sigma, tau sigma) for scale-free measures.
DEFAULTS: dict[str, tuple[float, float]] = {
    "OR": (4.0, 0.5),
    "RR": (4.0, 0.5),
    "PETO": (4.0, 0.5),
    "HR": (4.0, 0.5),
    "ROM": (4.0, 0.5),
    "SMD": (2.0, 0.3),
    "SMDH": (2.0, 0.3),
    "ZCOR": (1.0, 0.2),
    "COR": (1.0, 0.2),
    "RD": (1.0, 0.2),
}


def default_priors(measure: str | None, yi=None, vi=None) -> dict[str, Prior]:
    """Default ``{"mu": Prior, "tau": Prior}`` for an effect measure.

    Parameters
    ----------
    measure : str or None
        metafor's measure name ("OR", "SMD", ...). ``None``, "MD" and "GEN" use the
        data-scaled default and need ``yi`` and ``vi``.
    yi, vi : array-like, optional
        Effect sizes and sampling variances (only for scale-dependent measures).

    Returns
    -------
    dict
        ``{"mu": Normal(...), "tau": HalfNormal(...)}``; each prior's ``source`` says
        why it was chosen.
    """
    key = (measure or "GEN").upper()
    if key in DEFAULTS:
        mu_s, tau_s = DEFAULTS[key]
        why = f"bayesma default for {key} (see bayesma.priors.defaults)"
        return {"mu": Normal(0.0, mu_s, source=why), "tau": HalfNormal(tau_s, source=why)}
    if yi is None or vi is None:
        raise BayesmaError(
            f"measure {measure!r} has no natural scale, so default priors need the data "
            "(yi, vi); or pass mu_prior= and tau_prior= explicitly"
        )
    y = np.asarray(yi, dtype=float)
    v = np.asarray(vi, dtype=float)
    s = float(max(np.std(y, ddof=1) if y.size > 1 else 0.0, np.sqrt(np.median(v))))
    s = float(f"{s:.3g}")  # a readable number in printouts
    why = (f"bayesma data-scaled default for {key}: s = max(SD of yi, median SE) = {s:g} "
           "(see bayesma.priors.defaults)")
    return {"mu": Normal(0.0, 10.0 * s, source=why), "tau": HalfNormal(s, source=why)}

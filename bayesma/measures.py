"""The one registry of effect measures: names, analysis scale, back-transform, null value.

Every module that needs to know whether a measure is analysed on the log scale, how to
name it, how to back-transform it or where its "no effect" line is asks this module.
Measure codes and their scales follow metafor 3.8's ``escalc`` (Viechtbauer 2010,
doi:10.18637/jss.v036.i03); the back-transforms are metafor's ``transf.*`` functions.

Adding a measure is one entry in :data:`REGISTRY`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Measure",
    "REGISTRY",
    "LOG_SCALE_MEASURES",
    "get_measure",
    "is_log_scale",
    "back_transform",
    "favours_labels",
    "TRANSFORMS",
]


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def _ilogit(x: np.ndarray) -> np.ndarray:
    """metafor ``transf.ilogit``: 1 / (1 + exp(-x))."""
    return 1.0 / (1.0 + np.exp(-x))


def _iarcsin(x: np.ndarray) -> np.ndarray:
    """metafor ``transf.iarcsin``: sin(x)² (arcsine square-root transformed proportions)."""
    return np.sin(np.clip(x, 0.0, np.pi / 2)) ** 2


#: Back-transformations by name: analysis scale -> natural scale.
TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": _identity,
    "exp": np.exp,  # metafor transf.exp.int / exp: log ratios -> ratios
    "ztor": np.tanh,  # metafor transf.ztor: Fisher's z -> r
    "ilogit": _ilogit,
    "iarcsin": _iarcsin,
}


@dataclass(frozen=True)
class Measure:
    """One effect measure.

    Attributes
    ----------
    code : str
        metafor's code (``"RR"``).
    short : str
        Abbreviation on the natural (back-transformed) scale, for column headers (``"RR"``).
    long : str
        Capitalised name on the natural scale, for axis labels (``"Risk ratio"``).
    name : str
        Lower-case name for prose (``"risk ratio"``).
    log_scale : bool
        The analysis scale is the log of a ratio: back-transform with exp, draw on a log axis.
    transform : str
        Key of :data:`TRANSFORMS` mapping the analysis scale to the natural scale.
    null : float
        The no-effect value on the analysis scale.
    digits : int
        Decimals used when displaying estimates of this measure.
    data_type : str
        ``"binary"``, ``"continuous"``, ``"correlation"``, ``"rate"``, ``"time-to-event"``
        or ``"generic"``.
    description : str
        One line on how ``escalc`` computes it.
    """

    code: str
    short: str
    long: str
    name: str
    log_scale: bool = False
    transform: str = "none"
    null: float = 0.0
    digits: int = 2
    data_type: str = "generic"
    description: str = ""

    def back(self, x: Any) -> Any:
        """Analysis scale -> natural scale (scalars stay scalars)."""
        f = TRANSFORMS[self.transform]
        with np.errstate(over="ignore", invalid="ignore"):
            out = f(np.asarray(x, dtype=float))
        return out if np.ndim(out) else float(out)

    @property
    def natural_null(self) -> float:
        """The no-effect value on the natural scale (1 for ratios)."""
        return float(self.back(self.null))

    @property
    def analysis_label(self) -> str:
        """Header of the analysis scale (``"log RR"`` for ratios)."""
        return f"log {self.short}" if self.log_scale else self.short


def _ratio(code: str, short: str, long: str, data_type: str, description: str) -> Measure:
    return Measure(code, short, long, long.lower(), log_scale=True, transform="exp",
                   data_type=data_type, description=description)


_ENTRIES: tuple[Measure, ...] = (
    # two-group continuous (metafor escalc: MD, SMD, SMDH, ROM)
    Measure("MD", "MD", "Mean difference", "mean difference", data_type="continuous",
            description="raw mean difference"),
    Measure("SMD", "SMD", "Standardized mean difference",
            "standardised mean difference, Hedges' g", data_type="continuous",
            description="standardized mean difference (Hedges' g, exact bias correction)"),
    Measure("SMDH", "SMD", "Standardized mean difference",
            "standardised mean difference, heteroscedastic", data_type="continuous",
            description="standardized mean difference with heteroscedastic SDs (Bonett 2008)"),
    Measure("SMD1", "SMD", "Standardized mean difference",
            "standardised mean difference (control-group SD)", data_type="continuous",
            description="standardized mean difference scaled by the SD of group 2"),
    Measure("SMCC", "SMCC", "Standardized mean change", "standardised mean change",
            data_type="continuous", description="standardized mean change, change-score SD"),
    Measure("SMCR", "SMCR", "Standardized mean change", "standardised mean change",
            data_type="continuous", description="standardized mean change, raw-score SD"),
    _ratio("ROM", "RoM", "Ratio of means", "continuous", "log ratio of means (response ratio)"),
    _ratio("CVR", "CVR", "Coefficient of variation ratio", "continuous",
           "log coefficient of variation ratio"),
    _ratio("VR", "VR", "Variability ratio", "continuous", "log variability ratio"),
    # 2x2 tables (metafor escalc: OR, RR, RD, PETO)
    _ratio("OR", "OR", "Odds ratio", "binary", "log odds ratio"),
    Measure("PETO", "OR", "Peto odds ratio", "odds ratio (Peto)", log_scale=True,
            transform="exp", data_type="binary",
            description="log odds ratio, Peto's one-step method"),
    _ratio("RR", "RR", "Risk ratio", "binary", "log risk ratio"),
    Measure("RD", "RD", "Risk difference", "risk difference", digits=3, data_type="binary",
            description="risk difference"),
    _ratio("OR2DN", "OR", "Odds ratio", "binary", "log odds ratio from an SMD (normal)"),
    _ratio("OR2DL", "OR", "Odds ratio", "binary", "log odds ratio from an SMD (logistic)"),
    # rates and time to event
    _ratio("IRR", "IRR", "Incidence rate ratio", "rate", "log incidence rate ratio"),
    _ratio("HR", "HR", "Hazard ratio", "time-to-event", "log hazard ratio"),
    _ratio("MPRLN", "MPR", "Matched-pairs ratio", "binary", "log ratio of matched proportions"),
    # correlations (metafor escalc: COR, UCOR, ZCOR)
    Measure("COR", "r", "Correlation", "correlation", digits=3, data_type="correlation",
            description="raw correlation coefficient"),
    Measure("UCOR", "r", "Correlation", "correlation (bias-corrected)", digits=3,
            data_type="correlation", description="unbiased estimate of the correlation"),
    Measure("ZCOR", "z", "Fisher's z", "Fisher z", digits=3, data_type="correlation",
            description="Fisher r-to-z transformed correlation"),
    # generic
    Measure("GEN", "Estimate", "Estimate", "effect", description="generic: given yi with vi "
            "(or sei)"),
)

#: Every known measure, by code.
REGISTRY: dict[str, Measure] = {m.code: m for m in _ENTRIES}

#: Codes of the measures analysed on the log scale.
LOG_SCALE_MEASURES: frozenset[str] = frozenset(c for c, m in REGISTRY.items() if m.log_scale)


def get_measure(code: str | None) -> Measure:
    """The :class:`Measure` of ``code`` (case-insensitive).

    ``None``, ``""`` and unknown codes give a generic measure named after the code (a
    user's own label, e.g. ``"logHR"``), analysed and shown on its own scale.
    """
    key = (code or "GEN").upper()
    if key in REGISTRY:
        return REGISTRY[key]
    label = code or "Estimate"
    return Measure(label, label, label, label, description="user-supplied effect size")


def is_log_scale(code: str | None) -> bool:
    """True when ``code``'s yi are log ratios (shown back-transformed with exp)."""
    return get_measure(code).log_scale


def back_transform(code: str | None, x: Any) -> Any:
    """``x`` on the analysis scale of ``code`` -> natural scale (exp for log ratios)."""
    return get_measure(code).back(x)


def favours_labels(code: str | None = None, *, lower_is_better: bool = True,
                   treatment: str = "treatment", control: str = "control") -> tuple[str, str]:
    """Labels under the left and right end of a forest plot axis.

    Effects are group 1 (treatment) versus group 2 (control), as in ``escalc``: below the
    null means group 1 has the lower value. When lower values are better (deaths, pain,
    anxiety) the left side favours the treatment; otherwise (response, quality of life)
    the right side does.
    """
    del code  # every registered measure orders groups the same way (group 1 vs group 2)
    left, right = f"Favours {treatment}", f"Favours {control}"
    return (left, right) if lower_is_better else (right, left)

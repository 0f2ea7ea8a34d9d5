"""The one registry of effect measures: names, analysis scale, back-transform, null value.

Every module that needs to know whether a measure is analysed on the log scale, how to
name it, how to back-transform it or where its "no effect" line is asks this module.
Measure codes and their scales follow metafor 3.8's ``escalc`` (Viechtbauer 2010,
doi:10.18637/jss.v036.i03); the back-transforms are metafor's ``transf.*`` functions.

Adding a measure is one entry in :data:`REGISTRY`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bayesma.errors import BayesmaError
from bayesma.transforms import (
    harmonic_mean,
    transf_exp,
    transf_iabt,
    transf_iahw,
    transf_iarcsin,
    transf_identity,
    transf_iirft,
    transf_ilogit,
    transf_ipft_hm,
    transf_isqrt,
    transf_ztor,
)

__all__ = [
    "Measure",
    "REGISTRY",
    "LOG_SCALE_MEASURES",
    "get_measure",
    "is_log_scale",
    "back_transform",
    "favours_labels",
    "TRANSFORMS",
    "TRANSFORM_NEEDS",
]


#: Back-transformations by name: analysis scale -> natural scale (metafor's ``transf.*``,
#: :mod:`bayesma.transforms`). ``ipft_hm`` needs the study sizes ``ni`` and ``iirft`` the
#: person-times ``ti``: pass them to :meth:`Measure.back` or bind them with
#: :meth:`Measure.with_sizes`.
TRANSFORMS: dict[str, Callable[..., np.ndarray]] = {
    "none": transf_identity,
    "exp": transf_exp,  # metafor transf.exp.int / exp: log ratios -> ratios
    "ztor": transf_ztor,  # metafor transf.ztor: Fisher's z -> r
    "ilogit": transf_ilogit,  # metafor transf.ilogit
    "iarcsin": transf_iarcsin,  # metafor transf.iarcsin
    "isqrt": transf_isqrt,  # metafor transf.isqrt
    "iahw": transf_iahw,  # metafor transf.iahw
    "iabt": transf_iabt,  # metafor transf.iabt
    "ipft_hm": transf_ipft_hm,  # metafor transf.ipft.hm (needs ni)
    "iirft": transf_iirft,  # metafor transf.iirft (needs ti; harmonic mean used)
}

#: Transforms that need sizes: the keyword :meth:`Measure.back` expects for them.
TRANSFORM_NEEDS: dict[str, str] = {"ipft_hm": "ni", "iirft": "ti"}


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
        ``"binary"``, ``"continuous"``, ``"correlation"``, ``"rate"``, ``"time-to-event"``,
        ``"proportion"`` (single groups), ``"mean"`` (single groups), ``"reliability"``
        or ``"generic"``.
    description : str
        One line on how ``escalc`` computes it.
    sizes : tuple of float, optional
        Study sizes bound by :meth:`with_sizes` (PFT, IRFT back-transforms).
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
    sizes: tuple[float, ...] | None = None

    def back(self, x: Any, *, ni: Any = None, ti: Any = None) -> Any:
        """Analysis scale -> natural scale (scalars stay scalars).

        Parameters
        ----------
        x : float or array
            Values on the analysis scale.
        ni, ti : array-like, optional
            Only for PFT (``ni``: the study sizes) and IRFT (``ti``: the person-times):
            their back-transforms (metafor ``transf.ipft.hm``, ``transf.iirft``) use the
            harmonic mean of these. Without them the sizes bound by :meth:`with_sizes`
            are used; if there are none, BayesmaError (there is no size-free inverse).
        """
        f = TRANSFORMS[self.transform]
        need = TRANSFORM_NEEDS.get(self.transform)
        arr = np.asarray(x, dtype=float)
        with np.errstate(over="ignore", invalid="ignore"):
            if need is None:
                out = f(arr)
            else:
                given = {"ni": ni, "ti": ti}[need]
                if given is None:
                    given = self.sizes
                if given is None:
                    raise BayesmaError(
                        f"the back-transform of {self.code} needs the study "
                        f"{'sizes ni' if need == 'ni' else 'person-times ti'}: "
                        f"get_measure({self.code!r}).back(x, {need}=...) or "
                        f"get_measure({self.code!r}).with_sizes(...).back(x)"
                    )
                out = f(arr, harmonic_mean(given, need))
        return out if np.ndim(out) else float(out)

    def with_sizes(self, sizes: Any) -> Measure:
        """This measure with the study sizes (PFT: ``ni``; IRFT: ``ti``) bound for :meth:`back`.

        Tables and plots that call ``measure.back(x)`` then back-transform Freeman-Tukey
        estimates with the harmonic mean of ``sizes`` (metafor ``transf.ipft.hm``).
        """
        need = TRANSFORM_NEEDS.get(self.transform, "ni")
        hm = harmonic_mean(sizes, need)  # validates
        del hm
        return replace(self, sizes=tuple(float(v) for v in np.ravel(np.asarray(sizes, float))))

    @property
    def needs_sizes(self) -> str | None:
        """``"ni"`` or ``"ti"`` when :meth:`back` needs sizes (PFT, IRFT), else None."""
        return TRANSFORM_NEEDS.get(self.transform)

    @property
    def natural_null(self) -> float:
        """The no-effect value on the natural scale (1 for ratios)."""
        if self.needs_sizes and self.sizes is None:
            # the Freeman-Tukey inverses map 0 to 0 whatever the sizes (metafor clips)
            return 0.0 if self.null == 0 else float("nan")
        return float(self.back(self.null))

    @property
    def analysis_label(self) -> str:
        """Header of the analysis scale (``"log RR"`` for ratios)."""
        return f"log {self.short}" if self.log_scale else self.short


def _ratio(code: str, short: str, long: str, data_type: str, description: str) -> Measure:
    return Measure(code, short, long, long.lower(), log_scale=True, transform="exp",
                   data_type=data_type, description=description)


def _smd(code: str, name: str, description: str, short: str = "SMD",
         long: str = "Standardized mean difference") -> Measure:
    return Measure(code, short, long, name, data_type="continuous", description=description)


_ENTRIES: tuple[Measure, ...] = (
    # two-group continuous (metafor escalc: MD, SMD, SMDH, SMD1, ROM, CVR, VR)
    Measure("MD", "MD", "Mean difference", "mean difference", data_type="continuous",
            description="raw mean difference"),
    _smd("SMD", "standardised mean difference, Hedges' g",
         "standardized mean difference (Hedges' g, exact bias correction)"),
    _smd("SMDH", "standardised mean difference, heteroscedastic",
         "standardized mean difference with heteroscedastic SDs (Bonett 2008)"),
    _smd("SMD1", "standardised mean difference (control-group SD)",
         "standardized mean difference scaled by the SD of group 2 (Glass's delta, "
         "bias-corrected)"),
    _smd("SMD1H", "standardised mean difference (control-group SD, heteroscedastic)",
         "standardized mean difference scaled by the SD of group 2, heteroscedastic "
         "variance (Bonett 2008)"),
    Measure("RPB", "r", "Point-biserial correlation", "point-biserial correlation", digits=3,
            data_type="continuous",
            description="point-biserial correlation from means and SDs (Tate 1954)"),
    Measure("RBIS", "r", "Biserial correlation", "biserial correlation", digits=3,
            data_type="continuous",
            description="biserial correlation from means and SDs (Jacobs & Viechtbauer 2017)"),
    _ratio("D2OR", "OR", "Odds ratio", "continuous",
           "log odds ratio from an SMD (logistic: pi/sqrt(3) d; alias of D2ORL)"),
    _ratio("ROM", "RoM", "Ratio of means", "continuous", "log ratio of means (response ratio)"),
    _ratio("CVR", "CVR", "Coefficient of variation ratio", "continuous",
           "log coefficient of variation ratio (Nakagawa et al. 2015)"),
    _ratio("VR", "VR", "Variability ratio", "continuous",
           "log variability ratio (Nakagawa et al. 2015)"),
    _ratio("D2ORN", "OR", "Odds ratio", "continuous",
           "log odds ratio from an SMD (normal: 1.65 d; Cox & Snell 1989)"),
    _ratio("D2ORL", "OR", "Odds ratio", "continuous",
           "log odds ratio from an SMD (logistic: pi/sqrt(3) d; Hasselblad & Hedges 1995)"),
    # pre-post / matched designs (metafor escalc: MC, SMCC, SMCR, SMCRH, ROMC, CVRC, VRC)
    Measure("MC", "MC", "Mean change", "mean change", data_type="continuous",
            description="raw mean change (m1i - m2i, paired)"),
    _smd("SMCC", "standardised mean change (change-score SD)",
         "standardized mean change, change-score standardization (Gibbons et al. 1993)",
         short="SMCC", long="Standardized mean change"),
    _smd("SMCR", "standardised mean change (raw-score SD)",
         "standardized mean change, raw-score standardization (Becker 1988)",
         short="SMCR", long="Standardized mean change"),
    _smd("SMCRH", "standardised mean change (raw-score SD, heteroscedastic)",
         "standardized mean change, raw-score standardization, heteroscedastic (Bonett 2008)",
         short="SMCRH", long="Standardized mean change"),
    _ratio("ROMC", "RoM", "Ratio of means", "continuous",
           "log ratio of means, paired (Lajeunesse 2011)"),
    _ratio("CVRC", "CVR", "Coefficient of variation ratio", "continuous",
           "log coefficient of variation ratio, paired"),
    _ratio("VRC", "VR", "Variability ratio", "continuous", "log variability ratio, paired"),
    # 2x2 tables (metafor escalc: OR, RR, RD, PETO, PBIT, OR2DN, OR2DL)
    _ratio("OR", "OR", "Odds ratio", "binary", "log odds ratio"),
    Measure("PETO", "OR", "Peto odds ratio", "odds ratio (Peto)", log_scale=True,
            transform="exp", data_type="binary",
            description="log odds ratio, Peto's one-step method"),
    _ratio("RR", "RR", "Risk ratio", "binary", "log risk ratio"),
    Measure("RD", "RD", "Risk difference", "risk difference", digits=3, data_type="binary",
            description="risk difference"),
    _smd("PBIT", "standardised mean difference (probit transformed risk difference)",
         "probit transformed risk difference, an SMD (Sanchez-Meca et al. 2003)"),
    _smd("OR2DN", "standardised mean difference from a log odds ratio (normal)",
         "log odds ratio transformed to an SMD: log OR / 1.65 (Cox & Snell 1989)"),
    _smd("OR2DL", "standardised mean difference from a log odds ratio (logistic)",
         "log odds ratio transformed to an SMD: sqrt(3)/pi log OR (Hasselblad & Hedges 1995)"),
    _smd("OR2D", "standardised mean difference from a log odds ratio (logistic)",
         "log odds ratio transformed to an SMD: sqrt(3)/pi log OR (alias of OR2DL)"),
    Measure("AS", "AS", "Arcsine risk difference", "arcsine square root risk difference",
            digits=3, data_type="binary",
            description="arcsine square root transformed risk difference (Ruecker et al. 2009)"),
    Measure("PHI", "phi", "Phi coefficient", "phi coefficient", digits=3, data_type="binary",
            description="phi coefficient of a 2x2 table"),
    Measure("YUQ", "Q", "Yule's Q", "Yule's Q", digits=3, data_type="binary",
            description="Yule's Q: (OR - 1)/(OR + 1)"),
    Measure("YUY", "Y", "Yule's Y", "Yule's Y", digits=3, data_type="binary",
            description="Yule's Y: (sqrt(OR) - 1)/(sqrt(OR) + 1)"),
    Measure("RTET", "r", "Tetrachoric correlation", "tetrachoric correlation", digits=3,
            data_type="binary", description="tetrachoric correlation of a 2x2 table"),
    # paired binary data (metafor escalc: MPRD, MPRR, MPOR, MPORC, MPPETO, MPORM)
    Measure("MPRD", "RD", "Risk difference", "risk difference (paired)", digits=3,
            data_type="binary", description="risk difference, matched pairs"),
    _ratio("MPRR", "RR", "Risk ratio", "binary", "log risk ratio, matched pairs"),
    _ratio("MPOR", "OR", "Odds ratio", "binary", "log odds ratio, matched pairs (marginal)"),
    _ratio("MPORC", "OR", "Odds ratio", "binary",
           "log odds ratio, matched pairs (conditional: discordant pairs)"),
    Measure("MPPETO", "OR", "Peto odds ratio", "odds ratio (Peto, paired)", log_scale=True,
            transform="exp", data_type="binary",
            description="log odds ratio, matched pairs, Peto's method (conditional)"),
    _ratio("MPORM", "OR", "Odds ratio", "binary",
           "log odds ratio, matched pairs, from the marginal table and the correlation of "
           "the pairs"),
    # genotype counts (metafor escalc: REH)
    _ratio("REH", "REH", "Relative excess heterozygosity", "binary",
           "log relative excess heterozygosity (Ziegler et al. 2011)"),
    # two-group rates and time to event (metafor escalc: IRR, IRD, IRSD)
    _ratio("IRR", "IRR", "Incidence rate ratio", "rate", "log incidence rate ratio"),
    Measure("IRD", "IRD", "Incidence rate difference", "incidence rate difference", digits=4,
            data_type="rate", description="incidence rate difference"),
    Measure("IRSD", "IRSD", "Square-root rate difference", "square-root rate difference",
            digits=3, data_type="rate",
            description="difference of square-root transformed incidence rates"),
    _ratio("HR", "HR", "Hazard ratio", "time-to-event", "log hazard ratio"),
    _ratio("MPRLN", "MPR", "Matched-pairs ratio", "binary", "log ratio of matched proportions"),
    # correlations (metafor escalc: COR, UCOR, ZCOR, PCOR, ZPCOR, SPCOR)
    Measure("COR", "r", "Correlation", "correlation", digits=3, data_type="correlation",
            description="raw correlation coefficient"),
    Measure("UCOR", "r", "Correlation", "correlation (bias-corrected)", digits=3,
            data_type="correlation",
            description="unbiased estimate of the correlation (Olkin & Pratt 1958)"),
    Measure("ZCOR", "z", "Fisher's z", "Fisher z", digits=3, data_type="correlation",
            description="Fisher r-to-z transformed correlation"),
    Measure("PCOR", "r", "Partial correlation", "partial correlation", digits=3,
            data_type="correlation", description="partial correlation from a t statistic"),
    Measure("ZPCOR", "r", "Partial correlation", "partial correlation (Fisher z)", digits=3,
            transform="ztor", data_type="correlation",
            description="Fisher r-to-z transformed partial correlation"),
    Measure("SPCOR", "r", "Semi-partial correlation", "semi-partial correlation", digits=3,
            data_type="correlation",
            description="semi-partial correlation from a t statistic and R²"),
    # single proportions (metafor escalc: PR, PLN, PLO, PAS, PFT)
    Measure("PR", "Proportion", "Proportion", "proportion", digits=3, data_type="proportion",
            description="raw proportion"),
    Measure("PLN", "Proportion", "Proportion", "proportion (log)", log_scale=True,
            transform="exp", digits=3, data_type="proportion",
            description="log transformed proportion"),
    Measure("PLO", "Proportion", "Proportion", "proportion (logit)", transform="ilogit",
            digits=3, data_type="proportion", description="logit transformed proportion"),
    Measure("PAS", "Proportion", "Proportion", "proportion (arcsine)", transform="iarcsin",
            digits=3, data_type="proportion",
            description="arcsine square root transformed proportion"),
    Measure("PFT", "Proportion", "Proportion", "proportion (Freeman-Tukey)",
            transform="ipft_hm", digits=3, data_type="proportion",
            description="Freeman-Tukey double arcsine transformed proportion"),
    # single-group incidence rates (metafor escalc: IR, IRLN, IRS, IRFT)
    Measure("IR", "Rate", "Incidence rate", "incidence rate", digits=4, data_type="rate",
            description="raw incidence rate"),
    Measure("IRLN", "Rate", "Incidence rate", "incidence rate (log)", log_scale=True,
            transform="exp", digits=4, data_type="rate",
            description="log transformed incidence rate"),
    Measure("IRS", "Rate", "Incidence rate", "incidence rate (square root)",
            transform="isqrt", digits=4, data_type="rate",
            description="square-root transformed incidence rate"),
    Measure("IRFT", "Rate", "Incidence rate", "incidence rate (Freeman-Tukey)",
            transform="iirft", digits=4, data_type="rate",
            description="Freeman-Tukey transformed incidence rate"),
    # single-group means and variability (metafor escalc: MN, MNLN, CVLN, SDLN)
    Measure("MN", "Mean", "Mean", "mean", data_type="mean", description="raw mean"),
    Measure("MNLN", "Mean", "Mean", "mean (log)", log_scale=True, transform="exp",
            data_type="mean", description="log transformed mean"),
    Measure("CVLN", "CV", "Coefficient of variation", "coefficient of variation (log)",
            log_scale=True, transform="exp", data_type="mean",
            description="log coefficient of variation (bias-corrected)"),
    Measure("SDLN", "SD", "Standard deviation", "standard deviation (log)", log_scale=True,
            transform="exp", data_type="mean",
            description="log standard deviation (bias-corrected)"),
    Measure("SMN", "SMN", "Standardized mean", "standardized mean", data_type="mean",
            description="single-group standardized mean (mean/SD, bias-corrected)"),
    # reliability (metafor escalc: ARAW, AHW, ABT)
    Measure("ARAW", "alpha", "Cronbach's alpha", "Cronbach's alpha", digits=3,
            data_type="reliability", description="raw Cronbach's alpha"),
    Measure("AHW", "alpha", "Cronbach's alpha", "Cronbach's alpha (Hakstian-Whalen)",
            transform="iahw", digits=3, data_type="reliability",
            description="Hakstian & Whalen (1976) transformed alpha"),
    Measure("ABT", "alpha", "Cronbach's alpha", "Cronbach's alpha (Bonett)",
            transform="iabt", digits=3, data_type="reliability",
            description="Bonett (2002) transformed alpha"),
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

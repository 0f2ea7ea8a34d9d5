"""RoBMA-PSMA's default model space as data: priors, bias components and prior weights.

Source: RoBMA 2.x/3.x ``RoBMA()`` argument defaults (R/RoBMA.R, ``priors_effect``,
``priors_heterogeneity``, ``priors_bias``), the RoBMA-PSMA ensemble of Bartoš, Maier,
Wagenmakers, Doucouliagos & Stanley (2023, Res Synth Methods 14:99, sec. 2.3)::

    effect          Normal(0, 1) on Cohen's d            vs  mu = 0
    heterogeneity   InvGamma(shape 1, scale 0.15) on tau vs  tau = 0
    bias            none (weight 1)                      vs
                    two-sided (.05), two-sided (.05, .10),
                    one-sided (.05), one-sided (.025, .05), one-sided (.05, .5),
                    one-sided (.025, .05, .5)            (cumulative Dirichlet alpha = 1s,
                                                          prior weight 1/12 each)
                    PET   ~ Cauchy(0, 1) on [0, inf)     (prior weight 1/4)
                    PEESE ~ Cauchy(0, 5) on [0, inf)     (prior weight 1/4)

Each component's null and alternative get prior probability 1/2 (RoBMA normalises the
product of the component weights), so a model's prior probability is
``P(effect) P(heterogeneity) P(bias)`` with ``P(none) = 1/2``, ``1/24`` per weight function
and ``1/8`` for PET and PEESE: 2 x 2 x 9 = 36 models.

Scale: RoBMA states the priors on Cohen's d and rescales them to the analysis scale
(``prior_scale = "cohens_d"``). We use the same linear factors as :func:`bm.bma`
(:data:`~bayesma.bayes.averaging.components.D_SCALE`): ``c = 1`` for SMD, ``pi/sqrt(3)``
for log odds ratios (Hasselblad & Hedges 1995), ``1/2`` for Fisher's z. mu's sd and tau's
scale are multiplied by ``c``; the PET coefficient (effect per unit of standard error) is
scale free; the PEESE coefficient (effect per unit of variance) is divided by ``c``. With
no ``measure`` the priors are used on the data's own scale, as RoBMA does for ``y =``
input (``prior_scale = "none"``). One difference: RoBMA >= 2 fits ``d =`` (and ``r =``)
input on Fisher's z scale (``transformation = "fishers_z"``) and transforms back; we fit
on the measure's own scale, so for SMDs the numbers differ slightly from RoBMA's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bayesma.bayes.averaging.components import prior_scale_factor
from bayesma.errors import SpecError
from bayesma.priors import InverseGamma, Normal, Prior

__all__ = ["BiasSpec", "ModelSpec", "DEFAULT_BIAS", "default_robma_priors", "model_space",
           "bias_label"]


@dataclass(frozen=True)
class BiasSpec:
    """One publication-bias component.

    ``kind`` is ``"none"``, ``"weightfunction"``, ``"PET"`` or ``"PEESE"``; a weight
    function has ``sides`` (1: one-sided p-values in the positive direction, 2: two-sided)
    and ``steps`` (p-value cut points, increasing) with Dirichlet ``alpha`` (one per
    p-value interval); PET/PEESE have a half-Cauchy(0, ``scale``) prior on the coefficient.
    ``weight`` is the relative prior weight within the bias component.
    """

    name: str
    kind: str
    weight: float
    sides: int = 1
    steps: tuple[float, ...] = ()
    alpha: tuple[float, ...] = ()
    scale: float = math.nan

    @property
    def n_omega(self) -> int:
        """Number of p-value intervals (weights omega); 0 unless a weight function."""
        return len(self.steps) + 1 if self.kind == "weightfunction" else 0


def _wf(sides: int, steps: tuple[float, ...]) -> BiasSpec:
    side = "one-sided" if sides == 1 else "two-sided"
    name = f"{side} ({', '.join(f'{s:g}' for s in steps)})"
    return BiasSpec(name, "weightfunction", 1 / 12, sides=sides, steps=steps,
                    alpha=(1.0,) * (len(steps) + 1))


#: RoBMA-PSMA's bias components (RoBMA ``priors_bias`` default, plus ``prior_none()``)
DEFAULT_BIAS: tuple[BiasSpec, ...] = (
    BiasSpec("none", "none", 1.0),
    _wf(2, (0.05,)), _wf(2, (0.05, 0.10)), _wf(1, (0.05,)), _wf(1, (0.025, 0.05)),
    _wf(1, (0.05, 0.5)), _wf(1, (0.025, 0.05, 0.5)),
    BiasSpec("PET", "PET", 1 / 4, scale=1.0),
    BiasSpec("PEESE", "PEESE", 1 / 4, scale=5.0),
)


def bias_label(spec: BiasSpec) -> str:
    """The component's readable name (``"none"``, ``"one-sided (0.025, 0.05)"``, ...)."""
    return spec.name


@dataclass(frozen=True)
class ModelSpec:
    """One model of the ensemble: effect and heterogeneity present or not, a bias part."""

    effect: bool
    heterogeneity: bool
    bias: BiasSpec
    prior_prob: float = field(default=math.nan, compare=False)

    @property
    def name(self) -> str:
        e = "effect" if self.effect else "no effect"
        h = "heterogeneity" if self.heterogeneity else "no heterogeneity"
        return f"{e}, {h}, {self.bias.name}"


def default_robma_priors(measure: str | None) -> dict[str, Any]:
    """RoBMA's default priors on ``measure``'s scale (see the module docstring).

    Returns ``{"mu": Normal, "tau": InverseGamma, "pet": scale, "peese": scale}`` where the
    last two are the half-Cauchy scales of the PET and PEESE coefficients.

    Raises
    ------
    SpecError
        For a measure without a known relation to Cohen's d.
    """
    c = 1.0 if measure is None else prior_scale_factor(measure)[1]
    return {"mu": Normal(0.0, c), "tau": InverseGamma(1.0, 0.15 * c), "pet": 1.0,
            "peese": 5.0 / c}


def _check_priors(priors: Mapping[str, Any]) -> None:
    mu, tau = priors["mu"], priors["tau"]
    if not isinstance(mu, Normal):
        raise SpecError(f"priors['mu'] must be a bayesma.priors.Normal, got {mu!r}")
    if not isinstance(tau, Prior) or getattr(tau, "param", None) != "tau" or not tau.proper:
        raise SpecError(f"priors['tau'] must be a proper bayesma prior on tau, got {tau!r}")
    if tau.support[0] > 0:
        raise SpecError(f"priors['tau'] {tau.describe()} must include tau = 0 at its edge")
    for key in ("pet", "peese"):
        s = priors[key]
        if not isinstance(s, int | float) or not math.isfinite(s) or s <= 0:
            raise SpecError(f"priors[{key!r}] is the half-Cauchy scale of the {key.upper()} "
                            f"coefficient: a positive number, got {s!r}")


def resolve_priors(priors: Mapping[str, Any] | None, measure: str | None) -> dict[str, Any]:
    """Defaults for ``measure`` updated by the user's ``priors`` (keys ``mu``, ``tau``,
    ``pet``, ``peese``), checked.

    Raises
    ------
    SpecError
        Unknown keys or invalid priors.
    """
    user = dict(priors or {})
    unknown = sorted(set(user) - {"mu", "tau", "pet", "peese"})
    if unknown:
        raise SpecError(f"priors: unknown key(s) {unknown}; use 'mu', 'tau', 'pet', 'peese'")
    if {"mu", "tau", "pet", "peese"} <= set(user):
        out = user
    else:
        out = {**default_robma_priors(measure), **user}
    _check_priors(out)
    return out


def model_space(priors: Mapping[str, Any], prior_weights: Mapping[str, float] | None = None
                ) -> list[ModelSpec]:
    """The 36 models with their prior probabilities (models of prior probability 0 are
    left out).

    ``prior_weights`` may set ``"effect"`` and ``"heterogeneity"`` (prior probability of
    presence, default 1/2) and the relative weight of any bias component by name
    (``"none"``, ``"PET"``, ``"two-sided (0.05)"``, ...); bias weights are relative
    (normalised over the nine components, as RoBMA's ``prior_weights``): by default none
    has 1 and the alternatives sum to 1, so bias is present with prior probability 1/2.

    Raises
    ------
    SpecError
        Unknown names or weights that are not finite and >= 0 (or all 0).
    """
    w = dict(prior_weights or {})
    names = [b.name for b in DEFAULT_BIAS]
    unknown = sorted(set(w) - set(names) - {"effect", "heterogeneity"})
    if unknown:
        raise SpecError(f"prior_weights: unknown name(s) {unknown}; use 'effect', "
                        f"'heterogeneity' or a bias component of {names}")
    for key, val in w.items():
        if not isinstance(val, int | float) or not math.isfinite(val) or val < 0:
            raise SpecError(f"prior_weights[{key!r}] must be a finite number >= 0, got {val!r}")
    p_e = float(w.pop("effect", 0.5))
    p_h = float(w.pop("heterogeneity", 0.5))
    if p_e > 1 or p_h > 1:
        raise SpecError("prior_weights['effect'] and ['heterogeneity'] are probabilities <= 1")
    bias = [replace(b, weight=float(w.get(b.name, b.weight)),
                    scale=(priors["pet"] if b.kind == "PET" else
                           priors["peese"] if b.kind == "PEESE" else b.scale))
            for b in DEFAULT_BIAS]
    total = sum(b.weight for b in bias)
    if total <= 0:
        raise SpecError("prior_weights: all bias components have weight 0")
    models = []
    for e in (False, True):
        for h in (False, True):
            for b in bias:
                p = ((p_e if e else 1 - p_e) * (p_h if h else 1 - p_h) * b.weight / total)
                if p > 0:  # a model with prior probability 0 is left out of the ensemble
                    models.append(ModelSpec(e, h, b, p))
    return models

"""The model-averaged publication-probability weight omega(p) of a RoBMA ensemble.

For a one-sided p-value ``p`` each weight-function model gives ``omega_{j(p)}`` (two-sided
models use the two-sided p-value ``2 min(p, 1 - p)``, so p and 1 - p share a weight, as
RoBMA's ``plot(fit, parameter = "weightfunction")``); models without a weight function
have omega = 1. The averaged weight mixes the models by posterior probability (Bartoš et
al. 2023, Res Synth Methods 14:99, fig. 3). Means are exact weighted averages; intervals
are quantiles of draws from the mixture.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bayesma.errors import SpecError

__all__ = ["weightfunction_table", "interval_index", "DEFAULT_P"]

#: default grid of one-sided p-values
DEFAULT_P = np.round(np.linspace(0.001, 0.999, 999), 6)


def interval_index(p: np.ndarray, steps: tuple[float, ...], sides: int) -> np.ndarray:
    """Index of the p-value interval (0 = smallest p-values) of one-sided ``p``."""
    pp = p if sides == 1 else 2.0 * np.minimum(p, 1.0 - p)
    return np.searchsorted(np.asarray(steps, dtype=float), pp, side="right")


def weightfunction_table(fits: list[Any], post_prob: np.ndarray, p: Any = None, *,
                         level: float, conditional: bool, n: int, seed: Any
                         ) -> pd.DataFrame:
    """``p, mean, low, high`` of the averaged omega(p) over ``fits`` (see module doc).

    Raises
    ------
    SpecError
        For p-values outside [0, 1], or ``conditional=True`` without weight-function
        models of positive posterior probability.
    """
    try:
        p = DEFAULT_P if p is None else np.atleast_1d(np.asarray(p, dtype=float))
    except (TypeError, ValueError) as exc:
        raise SpecError(f"weightfunction: p must be numbers in [0, 1], got {p!r}") from exc
    if p.size == 0 or not np.all((p >= 0) & (p <= 1)):
        raise SpecError("weightfunction: p-values must lie in [0, 1]")
    wf = [i for i, f in enumerate(fits) if f.spec.bias.kind == "weightfunction"]
    w = np.asarray(post_prob, dtype=float)
    if conditional:
        tot = float(w[wf].sum())
        if tot <= 0:
            raise SpecError("weightfunction(conditional=True): no weight-function model "
                            "has posterior probability > 0")
        keep, probs = wf, w[wf] / tot
    else:
        keep, probs = list(range(len(fits))), w / w.sum()
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, probs)
    idx = {i: interval_index(p, fits[i].spec.bias.steps, fits[i].spec.bias.sides)
           for i in wf}
    mean = np.zeros(p.size)
    samples = []
    for i, pr, c in zip(keep, probs, counts, strict=True):
        f = fits[i]
        if i not in idx:
            mean += pr
            samples.append(np.ones((int(c), p.size)))
            continue
        om = f.draws["omega"]
        mean += pr * np.sum(f.weights[:, None] * om, axis=0)[idx[i]]
        if c > 0:
            rows = rng.choice(om.shape[0], size=int(c), p=f.weights)
            samples.append(om[rows][:, idx[i]])
    draws = np.concatenate(samples, axis=0)
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return pd.DataFrame({"p": p, "mean": mean, "low": lo, "high": hi})

"""Validation of MCMC settings, before anything is compiled.

``fit(chains=0)`` used to fail deep inside the sampler (``KeyError: 'mu'``), and
``draws=0``, ``target_accept=1.5``, negative ``tune`` or a float seed were accepted.
:func:`check_fit_settings` turns each into a :class:`~bayesma.errors.BayesmaError`
naming the setting, and resolves the defaults (cores, target_accept, seed, progress bar).
"""

from __future__ import annotations

import numbers
import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bayesma.bayes.sampling import SAMPLERS, resolve_progressbar
from bayesma.errors import BayesmaError

__all__ = [
    "DEFAULT_TARGET_ACCEPT",
    "SMALL_K_TARGET_ACCEPT",
    "FitSettings",
    "check_fit_settings",
]

#: Default NUTS target acceptance. At the samplers' 0.8 the marginal model had 1-4
#: divergences in 6 of 63 fits of the real datasets; at 0.9 and 0.95 none (3 priors x 7
#: datasets x 3 seeds; benchmarks/results/bayes_mcmc.txt). Sampling costs ~0.1 s anyway.
DEFAULT_TARGET_ACCEPT = 0.95
#: target_accept used automatically when k <= 3 (and the user gave none).
SMALL_K_TARGET_ACCEPT = 0.99
#: Largest seed accepted (numpy's and nutpie's seeds are unsigned 32/64-bit integers).
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class FitSettings:
    """Checked sampler settings with the defaults resolved."""

    draws: int
    tune: int
    chains: int
    cores: int
    sampler: str
    target_accept: float
    random_seed: int
    progressbar: bool

    def as_dict(self) -> dict[str, Any]:
        """The settings as keyword arguments."""
        return asdict(self)


def _int(name: str, value: Any, minimum: int, what: str) -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise BayesmaError(f"{name} must be an integer {what}, got {value!r}")
    if int(value) < minimum:
        raise BayesmaError(f"{name} must be an integer {what}, got {value!r}")
    return int(value)


def check_fit_settings(*, draws: Any, tune: Any, chains: Any, cores: Any, sampler: Any,
                       target_accept: Any, random_seed: Any, progressbar: Any,
                       small_k: bool = False) -> FitSettings:
    """Validate MCMC settings and fill in the defaults.

    Parameters
    ----------
    draws : int
        Draws kept per chain (>= 1).
    tune : int
        Tuning iterations per chain (>= 0).
    chains : int
        Number of chains (>= 1).
    cores : int or None
        Chains run in parallel (>= 1); None = ``os.cpu_count()``.
    sampler : str
        One of :data:`bayesma.bayes.sampling.SAMPLERS`.
    target_accept : float or None
        NUTS target acceptance in (0, 1); None = 0.95, or 0.99 when ``small_k``.
    random_seed : int or None
        Non-negative integer below 2**32; None draws one (recorded in the fit).
    progressbar : bool or None
        None = show bars only when standard error is a terminal.
    small_k : bool
        Whether the data set is small (k <= 3): raises the default target_accept.

    Returns
    -------
    FitSettings

    Raises
    ------
    BayesmaError
        Naming the first invalid setting.
    """
    draws = _int("draws", draws, 1, "of draws per chain >= 1")
    tune = _int("tune", tune, 0, "of tuning iterations >= 0")
    chains = _int("chains", chains, 1, "number of chains >= 1")
    cores = (os.cpu_count() or 1) if cores is None else _int("cores", cores, 1, ">= 1")
    if not isinstance(sampler, str) or sampler not in SAMPLERS:
        raise BayesmaError(f"sampler must be one of {', '.join(SAMPLERS)}; got {sampler!r}")
    if target_accept is None:
        target_accept = SMALL_K_TARGET_ACCEPT if small_k else DEFAULT_TARGET_ACCEPT
    elif (isinstance(target_accept, bool | np.bool_)
          or not isinstance(target_accept, numbers.Real)
          or not 0.0 < float(target_accept) < 1.0):
        raise BayesmaError(f"target_accept must be a number strictly between 0 and 1 "
                           f"(e.g. 0.95), got {target_accept!r}")
    if random_seed is None:
        random_seed = int(np.random.SeedSequence().entropy % (2**31 - 1))
    else:
        random_seed = _int("random_seed", random_seed, 0, f"between 0 and {MAX_SEED}")
        if random_seed > MAX_SEED:
            raise BayesmaError(f"random_seed must be an integer between 0 and {MAX_SEED}, "
                               f"got {random_seed!r}")
    if progressbar is not None and not isinstance(progressbar, bool | np.bool_):
        raise BayesmaError(f"progressbar must be True, False or None (only on a terminal), "
                           f"got {progressbar!r}")
    return FitSettings(draws=draws, tune=tune, chains=chains, cores=cores, sampler=sampler,
                       target_accept=float(target_accept), random_seed=random_seed,
                       progressbar=resolve_progressbar(progressbar))

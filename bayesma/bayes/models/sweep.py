"""One compiled model for a sweep over tau priors of several families.

:class:`TauPriorSweep` (mixed into :class:`~bayesma.bayes.models.base.MetaModel`) holds
``model.sweep(tau_priors)``: priors of different families share one compiled model, the
generic tau kernel (:func:`~bayesma.bayes.models.graph.tau_kernel`; the coefficients
come from each prior's :meth:`~bayesma.priors.Prior.kernel_coefficients`) or, for other
families, a switch over PyMC's own densities
(:func:`~bayesma.bayes.models.graph.tau_switch`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bayesma.bayes.models.graph import (
    KERNEL_DEFAULTS,
    check_prior,
    hyper_data,
    prior_to_pymc,
    tau_kernel,
    tau_switch,
)
from bayesma.priors import PRIOR_FAMILIES, Prior

__all__ = ["TauPriorSweep"]


class TauPriorSweep:
    """The tau-prior switch of a model (mixed into ``MetaModel``).

    ``_tau_switch`` is None (the prior's own PyMC variable), ``("kernel",)`` (the generic
    kernel) or a tuple of family names (the switch). Relies on the model's ``priors``,
    ``_last_fit_kwargs``, ``with_priors()`` and ``fit()``.
    """

    #: prior families of a compiled prior-switch model (see :meth:`sweep`), or None
    _tau_switch: tuple[str, ...] | None = None
    priors: dict[str, Any]
    _last_fit_kwargs: dict[str, Any]

    def _switch_data(self, prior: Prior) -> dict[str, Any]:
        """``pm.Data`` values of :func:`tau_kernel` / :func:`tau_switch` for ``prior``."""
        if self._tau_switch == ("kernel",):
            coef = prior.kernel_coefficients()
            return {"tau_kernel": np.array([coef[k] for k in KERNEL_DEFAULTS])}
        fams = self._tau_switch or ()
        j = fams.index(type(prior).__name__)
        vals: dict[str, Any] = {"tau_prior_id": np.int64(j)}
        for i, fam in enumerate(fams):
            src = prior if i == j else PRIOR_FAMILIES[fam]()
            vals.update(hyper_data(f"tau{i}", src))
        return vals

    def _tau_var(self, v: Any, **kwargs: Any):
        """The PyMC tau: its prior's own variable, or the prior switch of :meth:`sweep`."""
        if self._tau_switch == ("kernel",):
            return tau_kernel(dims=kwargs.get("dims"))
        if self._tau_switch:
            return tau_switch(self._tau_switch, v, dims=kwargs.get("dims"))
        return prior_to_pymc(self.priors["tau"], "tau", v, **kwargs)

    def sweep(self, tau_priors: Sequence[Prior], **fit_kwargs: Any) -> list:
        """Fit the model under each tau prior, compiling one model for all of them.

        Priors of different families share one compiled model: the generic tau-prior
        kernel (:func:`tau_kernel`, all built-in data-free families; its coefficients are
        data) or, for other families, a switch over PyMC's own densities
        (:func:`tau_switch`). With nutpie a sweep costs one compilation plus ~0.1-0.3 s
        per prior. Data-dependent priors (Jeffreys) get their own compiled model.

        Parameters
        ----------
        tau_priors : sequence of Prior
            Priors on tau.
        **fit_kwargs
            :meth:`fit` settings (default: those of the last fit).

        Returns
        -------
        list of BayesFit
            In the order of ``tau_priors``.
        """
        priors = [check_prior(p, "tau_prior", "tau") for p in tau_priors]
        free = [p for p in priors if p.data_free]
        fams = tuple(sorted({type(p).__name__ for p in free}))
        if len(fams) <= 1:
            mode = None  # one family: the ordinary compiled model is reused anyway
        elif all(p.kernel_coefficients() is not None for p in free):
            mode = ("kernel",)
        else:
            mode = fams
        settings = {**self._last_fit_kwargs, **fit_kwargs}
        fits = []
        for p in priors:
            m = self.with_priors(tau_prior=p)
            m._tau_switch = mode if p.data_free else None
            fits.append(m.fit(**settings))
        return fits

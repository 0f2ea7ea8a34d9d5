"""Rebuild a model from its stored spec (``bm.load``, ``BayesFit.model``).

The spec is plain JSON written by :meth:`MetaModel.spec`; priors are rebuilt through
:func:`bayesma.priors.prior_from_spec`, which only constructs registered prior families:
nothing in a stored file is evaluated as code.
"""

from __future__ import annotations

import importlib
import inspect
import json
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from bayesma.bayes.models.base import MetaModel
from bayesma.errors import BayesmaError, SamplingWarning
from bayesma.priors import prior_from_spec

__all__ = ["MODEL_CLASSES", "model_from_spec"]

#: module of each model class (imported on first use: the multilevel and multivariate
#: models load their exact engines and scipy.optimize, issue 16)
_MODULES = {
    "RandomEffects": "bayesma.bayes.models.random_effects",
    "CommonEffect": "bayesma.bayes.models.random_effects",
    "MetaRegression": "bayesma.bayes.models.regression",
    "Subgroups": "bayesma.bayes.models.subgroups",
    "RobustRandomEffects": "bayesma.bayes.models.random_effects",
    "Multilevel": "bayesma.bayes.models.multilevel",
    "Multivariate": "bayesma.bayes.models.multivariate",
    "BinomialNormal": "bayesma.bayes.models.binomial",
}


class _ModelClasses(Mapping[str, type[MetaModel]]):
    """Model classes by name, each imported when first looked up."""

    def __getitem__(self, name: str) -> type[MetaModel]:
        return getattr(importlib.import_module(_MODULES[name]), name)

    def __iter__(self) -> Iterator[str]:
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)


#: Model classes by name (the ``class`` of a stored spec).
MODEL_CLASSES: Mapping[str, type[MetaModel]] = _ModelClasses()


def _init_parameters(cls: type) -> set[str]:
    """Keyword names ``cls(...)`` accepts, following ``**kwargs`` up to the base classes."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters.values()
        names |= {p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return names - {"self", "data"}


def model_from_spec(spec: Mapping[str, Any] | str, data: pd.DataFrame) -> MetaModel:
    """Rebuild a model from :meth:`MetaModel.spec` and its study table.

    Parameters
    ----------
    spec : dict or JSON str
        Output of ``model.spec()`` (stored in a fit's ``model_spec`` attribute).
    data : DataFrame
        The study table.

    Returns
    -------
    MetaModel

    Raises
    ------
    BayesmaError
        For an unknown model class or a malformed spec.
    """
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise BayesmaError(f"model spec is not valid JSON: {exc}") from None
    if not isinstance(spec, Mapping) or not {"class", "kwargs", "priors"} <= set(spec):
        raise BayesmaError("model spec must be a mapping with 'class', 'kwargs' and 'priors'")
    cls = MODEL_CLASSES.get(spec["class"])
    if cls is None:
        raise BayesmaError(f"unknown model class {spec['class']!r}; known: "
                           + ", ".join(MODEL_CLASSES))
    kwargs = dict(spec["kwargs"])
    if not isinstance(spec["priors"], Mapping):
        raise BayesmaError("model spec: 'priors' must be a mapping")
    accepted = _init_parameters(cls)
    unknown = sorted(set(kwargs) - accepted)
    if unknown:  # a stored file is data: refuse keys the model does not take
        raise BayesmaError(f"model spec for {cls.__name__}: unknown setting(s) "
                           + ", ".join(map(repr, unknown)))
    priors: dict[str, Any] = {}
    for key, p in spec["priors"].items():
        if key == "nu":
            priors["nu"] = prior_from_spec(p) if isinstance(p, dict) else float(p)
        elif isinstance(p, Mapping) and "family" not in p:  # by term / outcome
            priors[f"{key}_prior"] = {t: prior_from_spec(s) for t, s in p.items()}
        else:
            priors[f"{key}_prior"] = prior_from_spec(p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        if cls.__name__ == "MetaRegression":
            if "mods" not in kwargs:
                raise BayesmaError("model spec for MetaRegression: 'mods' is missing")
            mods = kwargs.pop("mods")
            return cls(data, mods, **kwargs, **priors)
        return cls(data, **kwargs, **priors)

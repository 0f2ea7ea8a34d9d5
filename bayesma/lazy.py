"""Package names imported on first use (PEP 562 module ``__getattr__``), shared by the packages.

A package lists ``{public name: defining module}`` and sets
``__getattr__ = lazy_getattr(__name__, names)``: the first access imports the module,
caches the value in the package's namespace and returns it; later accesses find it
there. ``bayesma.classical``, ``bayesma.bayes``, ``bayesma.bayes.models`` and
``bayesma.spec`` use it, so importing one name does not import the heavy rest
(scipy.optimize, scipy.stats, the exact engines; issue 16).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package`` resolving ``names`` (name -> module).

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : mapping
        Public name -> the module defining it.

    Returns
    -------
    callable
        ``__getattr__(name)``; unknown names raise :class:`AttributeError`.
    """
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__

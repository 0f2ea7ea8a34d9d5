"""Reading stored results: netCDF trees are data, and loading never evaluates code.

A stored MCMC fit carries its model specification (``model_spec``: class, settings,
moderator formula) and study table; :func:`vet_stored_spec` checks them before anything
rebuilds the model: every moderator formula goes through the allow-list grammar of
:func:`bayesma.expressions.vet_formula` (issue: a hostile formula in a ``.nc`` file ran
code on ``bm.load(p).summary()``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import xarray as xr

from bayesma.errors import BayesmaError
from bayesma.expressions import vet_formula

__all__ = ["read_tree", "vet_stored_spec", "register_model_loader", "model_loader"]

#: How to rebuild a stored MCMC model and its table. The model layer
#: (:mod:`bayesma.bayes.models`) imports ``bayes.fit`` to wrap its fits, so it registers
#: these here when it is imported (``bayesma.bayes`` imports it, so they are set whenever
#: a fit exists) rather than ``bayes.fit`` importing it back.
_LOADERS: dict[str, Callable[..., Any]] = {}


def register_model_loader(*, rebuild_model: Callable[[str, Any], Any],
                          read_table: Callable[[str], Any]) -> None:
    """Register how a stored model is rebuilt (``model_from_spec(spec, table)``) and its
    study table read (``table_from_json(text)``); called by :mod:`bayesma.bayes.models`."""
    _LOADERS.update(rebuild_model=rebuild_model, read_table=read_table)


def model_loader(name: str) -> Callable[..., Any]:
    """The registered ``"rebuild_model"`` or ``"read_table"`` function."""
    if name not in _LOADERS:
        raise BayesmaError("the model classes are not loaded: import bayesma.bayes.models")
    return _LOADERS[name]


def read_tree(path: str | Path) -> xr.DataTree:
    """Open a bayesma netCDF file (an MCMC fit or an exact posterior's tree), vetted.

    Raises
    ------
    BayesmaError
        When the file is not a bayesma result or its stored specification is invalid.
    """
    path = Path(path)
    if not path.is_file():
        raise BayesmaError(f"{path} does not exist or is not a file")
    try:
        tree = xr.open_datatree(path, engine="h5netcdf")
    except (OSError, ValueError) as exc:
        raise BayesmaError(f"{path} is not a netCDF file bayesma can read: {exc}") from None
    tree = tree.load()
    tree.close()
    from bayesma.bayes.exact import is_exact_datatree  # the exact engine: scipy.optimize

    if is_exact_datatree(tree):
        return tree
    if "bayesma_version" not in tree.attrs:
        raise BayesmaError(f"{path} is not a bayesma fit (no bayesma_version attribute)")
    vet_stored_spec(dict(tree.attrs))
    return tree


def vet_stored_spec(attrs: dict[str, Any]) -> None:
    """Check a stored ``model_spec`` before anything uses it: JSON, a mapping, and every
    moderator formula through the allow-list grammar of :mod:`bayesma.expressions`
    (against the stored table's columns); a subgroup column must be one of them."""
    text = attrs.get("model_spec")
    if text is None:
        return
    try:
        spec = json.loads(text)
        columns = [str(c) for c in json.loads(attrs.get("data_table", "{}")).get("columns", [])]
    except (TypeError, ValueError, AttributeError) as exc:
        raise BayesmaError(f"the stored model specification is not valid JSON: {exc}"
                           ) from None
    kwargs = spec.get("kwargs", {}) if isinstance(spec, dict) else None
    if not isinstance(kwargs, dict):
        raise BayesmaError("the stored model specification is malformed")
    mods = kwargs.get("mods")
    if isinstance(mods, str):
        vet_formula(mods, columns)
    elif mods is not None and not (isinstance(mods, list)
                                   and all(isinstance(m, str) and m in columns for m in mods)):
        raise BayesmaError(f"the stored moderators {mods!r} are not columns of the stored table")
    by = kwargs.get("by")
    if by is not None and by not in columns:
        raise BayesmaError(f"the stored subgroup column {by!r} is not in the stored table")

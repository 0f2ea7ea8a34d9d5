"""Bundled example datasets with their citations.

>>> import bayesma as bm
>>> bm.datasets.list_datasets()          # DataFrame: name, k, measure, title, citation
>>> dat = bm.datasets.load("bcg")        # pandas DataFrame with yi, vi
>>> bm.datasets.info("bcg")["citation"]

The CSV files are copies of R's metadat objects (metadat 1.2-0) with yi/vi as given
by metafor 3.8 ``escalc`` (or by the source); see ``catalog.toml`` for each dataset's
measure, label column and citation.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

import pandas as pd

from bayesma.errors import BayesmaError

__all__ = ["load", "info", "list_datasets", "names"]


@cache
def _catalog() -> dict[str, dict[str, Any]]:
    text = resources.files(__package__).joinpath("catalog.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def names() -> list[str]:
    """Names of the bundled datasets, in catalogue order."""
    return list(_catalog())


def info(name: str) -> dict[str, Any]:
    """Catalogue entry (title, measure, label column, moderators, citation) of a dataset."""
    cat = _catalog()
    if name not in cat:
        raise BayesmaError(
            f"unknown dataset {name!r}; bundled datasets are: {', '.join(cat)}"
        )
    return dict(cat[name])


def load(name: str) -> pd.DataFrame:
    """Load a bundled dataset as a new DataFrame.

    Parameters
    ----------
    name : str
        One of :func:`names` (e.g. ``"bcg"``, ``"normand1999"``).

    Returns
    -------
    pandas.DataFrame
        The study table with ``yi``/``vi`` and all source columns. ``df.attrs`` holds
        the catalogue entry (``citation``, ``measure``, ``label``).
    """
    meta = info(name)
    with resources.files(__package__).joinpath("data", f"{name}.csv").open("rb") as fh:
        df = pd.read_csv(fh)
    df.attrs.update({"dataset": name, **meta})
    return df


def list_datasets() -> pd.DataFrame:
    """One row per bundled dataset: name, k, measure, title, citation."""
    rows = []
    for n in names():
        meta = info(n)
        rows.append(
            {
                "name": n,
                "k": len(load(n)),
                "measure": meta["measure"],
                "title": meta["title"],
                "citation": meta["citation"],
            }
        )
    return pd.DataFrame(rows)

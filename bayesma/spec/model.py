"""The validated spec objects: :class:`Spec` (a file) and :class:`OutcomeSpec` (one outcome).

Built by :func:`bayesma.spec.parse.parse_spec`; run by :mod:`bayesma.pipeline`.
"""

from __future__ import annotations

import copy
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bayesma import __version__
from bayesma.errors import SpecError
from bayesma.spec.lines import KeyPath, LineIndex, spec_error
from bayesma.spec.toml_out import dumps_toml

__all__ = ["OutcomeSpec", "Spec", "slug"]


@dataclass
class OutcomeSpec:
    """One analysis unit of a spec: an outcome with its data, effect, model and priors.

    Built by :func:`~bayesma.spec.parse_spec`; a spec without ``[[outcomes]]`` has one
    outcome named after its title.

    Attributes
    ----------
    caveats : list of str
        Warnings raised while the outcome was read (effect sizes, priors), repeated in
        the report.
    tau_levels : dict
        Multilevel and multivariate models: the tau prior of each level (outer first) or
        outcome; empty for the other models.
    """

    name: str
    slug: str
    index: int | None
    description: str
    data: pd.DataFrame  # the study table after the filters, with yi / vi computed
    raw_data: pd.DataFrame  # the table before escalc (after filters)
    measure: str
    label: str | None
    effect: dict[str, Any]
    model: dict[str, Any]
    priors: dict[str, Any]  # "mu", "tau", "beta" -> Prior (explicit or default)
    prior_origin: dict[str, str]  # "spec" or "default"
    sensitivity: dict[str, Any]
    bias: dict[str, Any]
    participants: int | None
    filter: str | None = None
    preset_args: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, KeyPath] = field(default_factory=dict)
    caveats: list[str] = field(default_factory=list)
    tau_levels: dict[str, Any] = field(default_factory=dict)

    @property
    def k(self) -> int:
        """Number of rows (studies; effects for dependent-effects models)."""
        return len(self.data)

    @property
    def dependent(self) -> dict[str, Any] | None:
        """The checked settings of a multilevel / multivariate / rve model, else None."""
        return self.model.get("dependent")

    @property
    def lower_is_better(self) -> bool | None:
        """The spec's ``lower_is_better`` (None when the spec does not say)."""
        v = self.effect.get("lower_is_better")
        return None if v is None else bool(v)


@dataclass
class Spec:
    """A validated analysis specification (see :mod:`bayesma.spec`).

    Attributes
    ----------
    path : Path or None
        The spec file.
    text : str
        Its TOML text.
    raw : dict
        The parsed TOML (after ``overrides``).
    title, description : str
    data_source : dict
        ``{"dataset": name}`` or ``{"path": Path}``, with ``sha256`` of the file and
        ``citation``.
    sampler, classical, outputs : dict
        Settings with defaults filled in.
    outcomes : list of OutcomeSpec
    overrides : dict
        Settings changed on the command line (``engine``, ``seed``, ``draws`` ...).
    """

    path: Path | None
    text: str
    raw: dict[str, Any]
    title: str
    description: str
    data_source: dict[str, Any]
    sampler: dict[str, Any]
    classical: dict[str, Any]
    outputs: dict[str, Any]
    outcomes: list[OutcomeSpec]
    overrides: dict[str, Any] = field(default_factory=dict)
    base_dir: Path = field(default_factory=Path)
    index: LineIndex | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """Short name: the file stem, else a slug of the title."""
        return self.path.stem if self.path is not None else slug(self.title)

    @property
    def engine(self) -> str:
        """The Bayesian engine ("exact" or "mcmc")."""
        return str(self.sampler["engine"])

    def error(self, path: KeyPath, message: str, hint: str = "") -> SpecError:
        """A :class:`SpecError` naming this spec's file, the line of ``path`` and the key."""
        return spec_error(self.path, self.index, path, message, hint)

    def run(self, out: str | Path | None = None, *,
            progress: Callable[[str], None] | None = None) -> Any:
        """Run the analysis and (with ``out``) write its outputs: :func:`bayesma.spec.run_spec`.

        The runner lives in a higher layer (:mod:`bayesma.report.run`); it is looked up
        when called so that this module never imports it.
        """
        runner = importlib.import_module("bayesma.report.run")
        return runner.run_spec(self, out=out, progress=progress)

    def to_toml(self) -> str:
        """The spec as run: the parsed TOML with overrides applied and the data path made
        absolute, as TOML text with a header comment."""
        raw = copy.deepcopy(self.raw)
        if "path" in raw.get("data", {}):
            raw["data"]["path"] = str(self.data_source["path"])
        head = [f"# Spec as run by bayesma {__version__}"]
        if self.path is not None:
            head.append(f"# from {self.path}")
        if self.overrides:
            head.append("# command-line overrides: " + ", ".join(
                f"{k} = {v!r}" for k, v in self.overrides.items()))
        return "\n".join(head) + "\n\n" + dumps_toml(raw)


def slug(text: str) -> str:
    """A file-system friendly name: ``"Quality of life"`` -> ``"quality_of_life"``."""
    s = re.sub(r"[^A-Za-z0-9]+", "_", str(text)).strip("_").lower()
    return s or "analysis"

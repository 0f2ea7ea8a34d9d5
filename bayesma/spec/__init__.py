"""Analysis specifications: one TOML file = one analysis (``models/*.toml``).

A spec names the data, the effect size, the model, the priors, the sampler, the
classical twin, the sensitivity analyses, the small-study checks and the outputs::

    title = "BCG vaccine: risk ratio by absolute latitude"

    [data]
    dataset = "bcg"                 # a bundled dataset, or: path = "data/trials.csv"

    [effect]
    measure = "RR"
    ai = "tpos"                     # metafor's argument names map to columns
    bi = "tneg"
    ci = "cpos"
    di = "cneg"
    label = "author"
    lower_is_better = true          # tuberculosis cases: a lower risk is a benefit

    [model]
    type = "meta_regression"        # "random_effects" | "meta_regression" | "subgroups"
                                    # | "multilevel" | "multivariate" | "rve"
    mods = "~ ablat"

    [priors]
    tau = { family = "HalfNormal", sigma = 0.5, source = "Röver et al. 2021" }
    mu = { family = "Normal", mu = 0, sigma = 4 }

    [sampler]
    engine = "exact"                # or "mcmc"
    seed = 1

:func:`load_spec` reads and validates a file; every problem raises a
:class:`~bayesma.errors.SpecError` whose message names the file, the line and the key
path (``bcg.toml, line 9: effect.measur: unknown key; did you mean 'measure'?``).
:func:`run_spec` (or ``bayesma fit SPEC``) runs it (:mod:`bayesma.pipeline`) and
:mod:`bayesma.report` writes the outputs. The full reference of the keys is
:data:`SCHEMA` and ``docs/guide/specs.md``.

Several outcomes of one review come from one table with ``[[outcomes]]`` entries, each
with a ``name``, an optional row ``filter`` and optional ``effect``, ``model``,
``priors``, ``sensitivity`` and ``bias`` tables that override the top-level ones for
that outcome (an outcome's ``effect`` table that names any column replaces the
top-level columns; ``measure`` and ``label`` are inherited). Row filters are read by
:func:`bayesma.expressions.filter_rows`: data, never Python code.

Modules: :mod:`~bayesma.spec.schema` (keys, types, defaults), :mod:`~bayesma.spec.lines`
(TOML line positions, "did you mean", located errors), :mod:`~bayesma.spec.data` (the
table, filters, effect sizes), :mod:`~bayesma.spec.outcomes` (one outcome, priors),
:mod:`~bayesma.spec.parse` (files and text), :mod:`~bayesma.spec.model` (the objects),
:mod:`~bayesma.spec.toml_out` (writing TOML), :mod:`~bayesma.spec.dependent` (several
effects per study), :mod:`~bayesma.spec.bias_pooling` (``[bias]`` models and count-data
pooling), :mod:`~bayesma.spec.conversions` (``[[effect.convert]]``).

The names of the layers above (``run_spec``, ``OutcomeResult``, ``SpecResult`` ...)
stay importable from here for compatibility; they are looked up on first use, so this
package never imports :mod:`bayesma.pipeline` or :mod:`bayesma.report` itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bayesma.lazy import lazy_getattr
from bayesma.spec.data import study_sizes
from bayesma.spec.lines import KeyPath, LineIndex, closest, format_path, spec_error
from bayesma.spec.model import OutcomeSpec, Spec
from bayesma.spec.outcomes import build_prior
from bayesma.spec.parse import load_spec, load_spec_from, parse_spec
from bayesma.spec.schema import (
    BIAS_SELECTION_TYPES,
    CLASSICAL_METHODS,
    CONVERSIONS,
    DEPENDENT_TYPES,
    EFFECT_COLUMNS,
    ENGINES,
    MODEL_TYPES,
    OUTPUTS,
    POOLING_METHODS,
    PRESETS,
    SCHEMA,
    STRUCTS,
    Key,
    Section,
)
from bayesma.spec.toml_out import dumps_toml

if TYPE_CHECKING:  # pragma: no cover - for type checkers and the API docs only
    from bayesma.pipeline import OutcomeResult, SpecResult
    from bayesma.report.run import run_spec

__all__ = [
    "BIAS_SELECTION_TYPES",
    "CLASSICAL_METHODS",
    "CONVERSIONS",
    "DEPENDENT_TYPES",
    "EFFECT_COLUMNS",
    "ENGINES",
    "MODEL_TYPES",
    "OUTPUTS",
    "POOLING_METHODS",
    "PRESETS",
    "SCHEMA",
    "STRUCTS",
    "Key",
    "KeyPath",
    "LineIndex",
    "OutcomeResult",
    "OutcomeSpec",
    "Section",
    "Spec",
    "SpecResult",
    "build_prior",
    "closest",
    "dumps_toml",
    "format_path",
    "load_spec",
    "load_spec_from",
    "parse_spec",
    "run_spec",
    "spec_error",
    "study_sizes",
]

#: Former name of :class:`LineIndex`.
_LineIndex = LineIndex

# name -> module of the layer above that defines it (resolved on first use)
_UPPER: dict[str, str] = {
    "run_spec": "bayesma.report.run",
    "OutcomeResult": "bayesma.pipeline",
    "SpecResult": "bayesma.pipeline",
    "run_outcome": "bayesma.pipeline",
    "run_sensitivity": "bayesma.pipeline",
    "fit_bayes": "bayesma.pipeline",
    "summary_table": "bayesma.pipeline",
    "overview_row": "bayesma.pipeline",
    "level_params": "bayesma.pipeline",
}


__getattr__ = lazy_getattr(__name__, _UPPER)

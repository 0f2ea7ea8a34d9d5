"""Run a spec and write its outputs: :func:`run_spec` (pipeline, then report).

This is the top of the library's layers (spec -> pipeline -> report): it is the one
place that both computes (:func:`bayesma.pipeline.run_analysis`) and writes
(:func:`bayesma.report.write_outputs`). ``bayesma.spec.run_spec`` is this function.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bayesma.pipeline import SpecResult, run_analysis
from bayesma.report.files import write_outputs
from bayesma.spec import Spec

__all__ = ["run_spec"]


def run_spec(spec: Spec | str | Path, out: str | Path | None = None, *,
             engine: str | None = None, seed: int | None = None,
             progress: Callable[[str], None] | None = None,
             progressbar: bool = False, overwrite: bool = False) -> SpecResult:
    """Run an analysis spec and (with ``out``) write its outputs.

    Parameters
    ----------
    spec : Spec, str or Path
        A loaded spec or a spec file.
    out : str or Path, optional
        Output folder; None computes without writing files. The outputs are written into
        a temporary folder and moved into place at the end; a folder holding files
        bayesma did not write is refused unless ``overwrite=True``.
    engine : {"exact", "mcmc"}, optional
        Override the spec's engine.
    seed : int, optional
        Override the spec's seed.
    progress : callable, optional
        Called with one line of text per step (the CLI prints them).
    progressbar : bool
        Show the MCMC sampler's progress bar.
    overwrite : bool
        See ``out``.

    Returns
    -------
    SpecResult
    """
    result = run_analysis(spec, engine=engine, seed=seed, progress=progress,
                          progressbar=progressbar)
    if out is not None:
        say = progress or (lambda _m: None)
        say(f"writing outputs to {out}")
        write_outputs(result, out, say=say, overwrite=overwrite)
    return result

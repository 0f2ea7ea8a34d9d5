"""Outputs of a spec run: tables, figures, the posterior file and a self-contained report.

:func:`write_outputs` fills an output folder::

    summary.csv, summary.md      Bayesian and classical estimates side by side
    forest.png, forest.pdf       posterior forest plot (observed and shrunken studies)
    funnel.png                   funnel plot with trim-and-fill (and PET-PEESE lines)
    selection.png                selection function ([bias] selmodel)
    averaged_mu.png              model-averaged posterior of mu ([bias] bma, robma)
    weightfunction.png           RoBMA's model-averaged weight function
    prior_posterior.png          prior and posterior of tau and mu
    regression.png               bubble plot (meta-regression specs)
    sensitivity.csv/.png         prior sensitivity sweep
    leave1out.csv, subsets.csv   leave-one-out and subset analyses
    posterior.nc                 posterior draws (ArviZ DataTree, netCDF)
    spec.toml                    the spec as run
    report.html                  everything on one page, images embedded
    .bayesma-manifest.json       the list of files (marks the folder as bayesma's)

A spec with several ``[[outcomes]]`` writes the per-outcome files into one
sub-folder per outcome and the summary tables and the report at the top level.

The report only renders results (:mod:`bayesma.pipeline` computes them): HTML by jinja2
templates (``templates/``, autoescaping on), Markdown in :mod:`~bayesma.report.markdown`.
Modules: :mod:`~bayesma.report.files` (writing), :mod:`~bayesma.report.outdir` (the safe
output folder), :mod:`~bayesma.report.html`, :mod:`~bayesma.report.markdown`,
:mod:`~bayesma.report.tables`, :mod:`~bayesma.report.text`, :mod:`~bayesma.report.run`.
"""

from bayesma.report.files import write_csv, write_outputs
from bayesma.report.html import render_html
from bayesma.report.markdown import summary_markdown
from bayesma.report.outdir import MANIFEST, OutputFolder, OutputFolderError
from bayesma.report.run import run_spec
from bayesma.report.tables import outcome_table, overview_table
from bayesma.report.text import (
    csv_safe,
    fmt,
    fmt_ci,
    fmt_p,
    fmt_prob,
    md_escape,
    measure_name,
    p_text,
    package_versions,
)

__all__ = [
    "MANIFEST",
    "OutputFolder",
    "OutputFolderError",
    "csv_safe",
    "fmt",
    "fmt_ci",
    "fmt_p",
    "fmt_prob",
    "md_escape",
    "measure_name",
    "outcome_table",
    "overview_table",
    "p_text",
    "package_versions",
    "render_html",
    "run_spec",
    "summary_markdown",
    "write_csv",
    "write_outputs",
]

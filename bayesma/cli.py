"""The ``bayesma`` command line.

::

    bayesma fit models/bcg_latitude.toml --out out/bcg      # run a spec, write the report
    bayesma fit SPEC --engine mcmc --seed 1                  # MCMC instead of the exact engine
    bayesma check SPEC                                       # validate a spec only
    bayesma escalc SMD in.csv out.csv --m1i m1 --sd1i sd1 --n1i n1 --m2i m2 --sd2i sd2 --n2i n2
    bayesma datasets                                         # bundled datasets
    bayesma --version

Errors (an invalid spec, a missing file or column, bad data, an unusable output folder)
print one line and a hint on stderr and exit with status 1; no traceback. Ctrl-C exits
with status 130 and leaves no partial output folder.

``bayesma fit`` writes into a temporary folder beside ``--out`` and moves it into place at
the end; it refuses a folder holding files bayesma did not write unless ``--overwrite``,
and a lock file stops two runs from writing into one folder
(:class:`bayesma.report.OutputFolder`). ``bayesma check`` only validates: it reads the
spec, the data and the filters (parsed, never evaluated as code) and fits nothing.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from bayesma import __version__
from bayesma import datasets as ds
from bayesma.errors import BayesmaError, SpecError

# The commands import the spec reader, the pipeline and the report when they run (they
# load SciPy, PyMC's stack and matplotlib): ``bayesma --help``, ``--version`` and
# ``datasets`` then take 0.5 s instead of 2.4 s, and ``check`` fits and draws nothing.

__all__ = ["app", "main"]

app = typer.Typer(
    name="bayesma",
    help="Bayesian meta-analysis: run analysis specs, compute effect sizes, list datasets.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

#: Exit status of input errors (invalid spec, missing file, bad data).
EXIT_INPUT = 1
#: Exit status after Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


def _err(text: str) -> None:
    typer.echo(text, err=True)


def _fail(message: str, hint: str = "") -> typer.Exit:
    _err(f"error: {message}")
    if hint:
        _err(f"hint: {hint}")
    return typer.Exit(EXIT_INPUT)


def _guard(func: Callable[[], Any]) -> Any:
    """Run ``func``; turn bayesma's errors and missing files into one-line messages."""
    try:
        return func()
    except typer.Exit:
        raise
    except SpecError as exc:
        raise _fail(str(exc), getattr(exc, "hint", "")) from None
    except BayesmaError as exc:
        msg = str(exc).strip().splitlines()
        raise _fail(msg[0] if msg else type(exc).__name__,
                    " ".join(m.strip() for m in msg[1:])) from None
    except FileNotFoundError as exc:
        name = exc.filename or str(exc)
        raise _fail(f"file not found: {name}" if exc.filename else str(exc),
                    "check the path (relative paths start from the current directory)") from None
    except PermissionError as exc:
        raise _fail(f"permission denied: {exc.filename or exc}") from None
    except IsADirectoryError as exc:
        raise _fail(f"is a directory: {exc.filename or exc}") from None
    except NotADirectoryError as exc:
        raise _fail(f"not a folder (a part of the path is a file): {exc.filename or exc}"
                    ) from None
    except FileExistsError as exc:
        raise _fail(f"already exists: {exc.filename or exc}") from None
    except KeyboardInterrupt:
        _err("error: interrupted (Ctrl-C); no output written")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:
        # output piped into e.g. `head` that closed early: stop quietly (see the Python
        # docs, "Note on SIGPIPE"), sending the rest of stdout to /dev/null
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None
    except Exception as exc:
        if os.environ.get("BAYESMA_DEBUG"):
            raise
        text = str(exc).strip().splitlines()
        raise _fail(f"unexpected {type(exc).__name__}: {text[0] if text else ''}",
                    "this is a bug in bayesma or a dependency; rerun with BAYESMA_DEBUG=1 "
                    "for the traceback and report it") from None


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"bayesma {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_version_callback,
                                          is_eager=True, help="Show the version and exit.")
                       ] = False,
) -> None:
    """Bayesian meta-analysis with PyMC, an exact engine and metafor-matching classics."""


# ----------------------------------------------------------------------------- fit


@app.command()
def fit(
    spec: Annotated[Path, typer.Argument(help="Analysis spec (TOML), e.g. models/bcg.toml.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output directory "
                                             "(default: out/<spec name>).")] = None,
    engine: Annotated[str | None, typer.Option(help="Bayesian engine: exact or mcmc "
                                               "(overrides the spec).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (overrides the spec).")] = None,
    draws: Annotated[int | None, typer.Option(help="Draws per chain (overrides the spec).")
                     ] = None,
    tune: Annotated[int | None, typer.Option(help="Tuning iterations per chain (MCMC).")
                    ] = None,
    chains: Annotated[int | None, typer.Option(help="Number of chains (overrides the spec).")
                      ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Write into an output folder that holds files bayesma did not "
        "write (they stay; files of the same name are replaced).")] = False,
) -> None:
    """Run an analysis spec and write tables, figures, posterior and report.html.

    The outputs are written into a temporary folder and moved into place at the end, so
    an interrupted run leaves the output folder as it was."""
    if engine is not None and engine not in ("exact", "mcmc"):
        raise _fail(f"--engine must be 'exact' or 'mcmc', got {engine!r}")

    def run() -> None:
        from bayesma.pipeline import run_analysis
        from bayesma.report import OutputFolder, write_outputs
        from bayesma.spec import load_spec

        t0 = time.perf_counter()
        overrides = {"engine": engine, "seed": seed, "draws": draws, "tune": tune,
                     "chains": chains}
        sp = load_spec(spec, overrides=overrides)
        target = out if out is not None else Path("out") / sp.name
        option = "--out" if out is not None else "output folder"
        OutputFolder(target, overwrite=overwrite, option=option).check()  # fail before fitting
        say = (lambda _m: None) if quiet else (lambda m: _err(f"· {m}"))
        say(f"{sp.title} — {len(sp.outcomes)} outcome(s), engine {sp.engine}")
        interactive = sys.stderr.isatty() and not quiet
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = run_analysis(sp, progress=say, progressbar=interactive)
            result.meta["command"] = "bayesma " + " ".join(sys.argv[1:]) if (
                Path(sys.argv[0]).name == "bayesma") else _command(spec, out, overrides)
            say(f"writing outputs to {target}")
            write_outputs(result, target, say=say, overwrite=overwrite, option=option)
        for o in result.outcomes:
            for note in o.notes:
                if not quiet:
                    _err(f"  note ({o.spec.name}): {note}")
        if not quiet:
            _err(f"done in {time.perf_counter() - t0:.1f} s: {len(result.files)} files in "
                 f"{target}")
        typer.echo(str(target / "report.html") if sp.outputs["report"] else str(target))

    _guard(run)


def _command(spec: Path, out: Path | None, overrides: dict[str, Any]) -> str:
    parts = ["bayesma", "fit", str(spec)]
    if out is not None:
        parts += ["--out", str(out)]
    parts += [f"--{k} {v}" for k, v in overrides.items() if v is not None]
    return " ".join(parts)


@app.command()
def check(
    spec: Annotated[Path, typer.Argument(help="Analysis spec (TOML).")],
) -> None:
    """Validate a spec (keys, types, data file, columns, filters, priors) without running it.

    Nothing is fitted and nothing in the spec is evaluated as code: filters and formulas
    are parsed by bayesma's own grammar."""

    def run() -> None:
        from bayesma.spec import load_spec

        sp = load_spec(spec)
        for o in sp.outcomes:
            pri = "; ".join(f"{k} ~ {p.describe()}" for k, p in o.priors.items()
                            if not (k == "tau" and o.tau_levels))
            pri += "".join(f"; tau[{lv}] ~ {p.describe()}" for lv, p in o.tau_levels.items())
            typer.echo(f"{o.name}: k = {o.k}, {o.measure}, {o.model['type']}; {pri}")
        typer.echo(f"{spec}: ok ({len(sp.outcomes)} outcome(s), engine {sp.engine})")

    _guard(run)


# ----------------------------------------------------------------------------- escalc


_Col = Annotated[str | None, typer.Option(show_default=False)]


@app.command()
def escalc(
    measure: Annotated[str, typer.Argument(help="Effect measure: SMD, MD, SMDH, ROM, OR, RR, "
                                           "RD, PETO, COR, ZCOR, GEN.")],
    infile: Annotated[Path, typer.Argument(metavar="IN.csv", help="Study table (CSV).")],
    outfile: Annotated[Path, typer.Argument(metavar="OUT.csv",
                                            help="Where to write the table with yi, vi.")],
    m1i: _Col = None, sd1i: _Col = None, n1i: _Col = None,
    m2i: _Col = None, sd2i: _Col = None, n2i: _Col = None,
    ai: _Col = None, bi: _Col = None, ci: _Col = None, di: _Col = None,
    ri: _Col = None, ni: _Col = None,
    yi: _Col = None, vi: _Col = None, sei: _Col = None,
    slab: Annotated[str | None, typer.Option(help="Column of study labels (for messages).")
                    ] = None,
    add: Annotated[float | None, typer.Option(
        help="Added to the counts chosen by --to (default: metafor's, 1/2, or 0 for AS, "
             "PHI, RTET, PAS, PFT, IRS, IRFT, IRSD).")] = None,
    to: Annotated[str, typer.Option(help="only0, all, if0all or none.")] = "only0",
    drop00: Annotated[bool, typer.Option(help="NaN for tables without events in both "
                                         "groups.")] = False,
    vtype: Annotated[str, typer.Option(help="Variance type (metafor's vtype).")] = "LS",
    var_names: Annotated[str, typer.Option(help="Names of the two new columns, "
                                           "comma-separated.")] = "yi,vi",
) -> None:
    """Compute effect sizes like metafor's escalc(); options are metafor's argument names
    and take the column names of IN.csv."""

    def run() -> None:
        from bayesma import effect_sizes
        from bayesma.report import csv_safe

        if not infile.exists():
            raise FileNotFoundError(2, "No such file", str(infile))
        if infile.is_dir():
            raise _fail(f"IN.csv {infile} is a folder, not a CSV file")
        if outfile.exists() and outfile.is_dir():
            raise _fail(f"OUT.csv {outfile} is a folder; give a file name",
                        f"e.g. {outfile / 'effect_sizes.csv'}")
        if outfile.exists() and outfile.resolve() == infile.resolve():
            raise _fail(f"OUT.csv {outfile} is the input file; escalc never overwrites its "
                        "input", "give another output file, e.g. with_effect_sizes.csv")
        df = pd.read_csv(infile)
        cols = {k: v for k, v in dict(m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i,
                                      n2i=n2i, ai=ai, bi=bi, ci=ci, di=di, ri=ri, ni=ni,
                                      yi=yi, vi=vi, sei=sei).items() if v is not None}
        if not cols:
            raise _fail("no columns given",
                        "name them with metafor's arguments, e.g. --m1i mean_t --sd1i sd_t "
                        "--n1i n_t --m2i mean_c --sd2i sd_c --n2i n_c")
        names = tuple(x.strip() for x in var_names.split(","))
        if len(names) != 2 or not all(names):
            raise _fail(f"--var-names needs two names, got {var_names!r}", "e.g. yi,vi")
        res = effect_sizes.escalc(measure, df, **cols, add=add, to=to, drop00=drop00, vtype=vtype,
                      var_names=names, slab=slab)
        for parent in outfile.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise _fail(f"OUT.csv {outfile}: {parent} is a file, so it cannot "
                                "hold OUT.csv")
                break
        outfile.parent.mkdir(parents=True, exist_ok=True)
        csv_safe(res).to_csv(outfile, index=False)
        _err(f"{len(res)} rows, measure {measure.upper()}: wrote {outfile}")

    _guard(run)


# ----------------------------------------------------------------------------- datasets


@app.command()
def datasets(
    name: Annotated[str | None, typer.Argument(help="Show one dataset's details.")] = None,
) -> None:
    """List the bundled example datasets (or show one with its citation)."""

    def run() -> None:
        if name is not None:
            meta = ds.info(name)
            df = ds.load(name)
            typer.echo(f"{name}: {meta['title']}")
            typer.echo(f"  k = {len(df)}, measure {meta['measure']} ({meta['yi_source']})")
            typer.echo(f"  columns: {', '.join(map(str, df.columns))}")
            if meta.get("moderators"):
                typer.echo(f"  moderators: {', '.join(meta['moderators'])}")
            typer.echo(f"  citation: {meta['citation']}")
            return
        tab = ds.list_datasets()
        width = max(len(n) for n in tab["name"])
        typer.echo(f"{'name'.ljust(width)}  {'k':>3}  {'measure':<7}  title")
        for _, r in tab.iterrows():
            typer.echo(f"{r['name'].ljust(width)}  {r['k']:>3}  {r['measure']:<7}  {r['title']}")
        typer.echo("\nUse one in a spec with [data] dataset = \"<name>\"; details: "
                   "bayesma datasets <name>")

    _guard(run)


def main() -> None:  # pragma: no cover - console entry point alternative
    """Entry point (``python -m bayesma.cli``)."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

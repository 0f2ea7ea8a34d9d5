"""Writing a spec run's outputs: tables, figures, the posterior file, the spec as run and
the report, into a safe output folder (:class:`~bayesma.report.outdir.OutputFolder`).

Text cells of written CSVs (study labels) are neutralised against spreadsheet formula
injection (:func:`bayesma.report.text.csv_safe`).
"""

from __future__ import annotations

import datetime as _dt
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bayesma.measures import favours_labels
from bayesma.pipeline import OutcomeResult, SpecResult
from bayesma.plots import (
    forest_plot,
    funnel_plot,
    leave1out_plot,
    prior_posterior_plot,
    regression_plot,
    sensitivity_plot,
)
from bayesma.report.bias_figures import bias_figures
from bayesma.report.html import render_html
from bayesma.report.markdown import summary_markdown
from bayesma.report.outdir import OutputFolder
from bayesma.report.review import forest_rob, review_files, rob_figures
from bayesma.report.subgroup_factors import factor_figures
from bayesma.report.text import csv_safe

__all__ = ["write_csv", "write_outputs"]


def _savefig(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=200 if path.suffix == ".png" else "figure", facecolor="white")
    return path


def _try_figure(res: OutcomeResult, name: str, make: Callable[[], Any],
                paths: Sequence[Path]) -> None:
    """Draw a figure and save it; a failure becomes a note, never an abort."""
    import matplotlib.pyplot as plt  # pyplot picks a backend when imported: keep it late

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fig = make()
            for p in paths:
                _savefig(fig, p)
    except Exception as exc:  # noqa: BLE001 - a figure must not sink the report
        res.notes.append(f"{name} plot not drawn: {type(exc).__name__}: {exc}")
        return
    finally:
        plt.close("all")
    res.figures[name] = paths[0]
    res.files.extend(paths)


def _outcome_figures(spec: Any, res: OutcomeResult, folder: Path) -> None:
    o = res.spec
    outs = spec.outputs
    level = float(o.model["level"])
    title = o.name if len(spec.outcomes) > 1 else None
    if outs["forest"]:
        fmts = list(outs.get("formats") or ["png"])
        if "png" not in fmts:
            fmts.insert(0, "png")
        sub = o.model["by"] if o.model["type"] == "subgroups" else None
        # several outcomes may favour opposite sides: no "favours" labels unless given
        labels: tuple[str, ...] | None = tuple(o.effect["favours"])
        if (o.model["type"] == "multivariate" and o.effect.get("lower_is_better") is None
                and labels == favours_labels(o.measure, lower_is_better=True)):
            labels = None
        _try_figure(res, "forest", lambda: forest_plot(
            res.bayes, subgroup=sub, labels=labels, prob=level,
            title=title, **forest_rob(spec, res)), [folder / f"forest.{f}" for f in fmts])
    if outs["funnel"] and o.bias.get("funnel") and res.classical is not None:
        tf = res.bias.get("trimfill")
        contours = (0.10, 0.05, 0.01) if o.bias.get("contours") else None
        extra = {"pet_peese": res.bias["pet_peese"]} if "pet_peese" in res.bias else {}
        _try_figure(res, "funnel", lambda: funnel_plot(
            res.classical, trimfill=tf, contours=contours, level=level, title=title,
            **extra), [folder / "funnel.png"])
    bias_figures(res, folder, lambda name, make, paths: _try_figure(res, name, make, paths))
    # subgroup factors and risk of bias (report/subgroup_factors.py, report/review.py)
    factor_figures(res, folder, lambda name, make, paths: _try_figure(res, name, make, paths),
                   rob=forest_rob(spec, res) if outs["forest"] else None)
    rob_figures(spec, res, folder, lambda name, make, paths: _try_figure(res, name, make, paths))
    if outs["prior_posterior"] and o.dependent is None:
        _try_figure(res, "prior_posterior", lambda: prior_posterior_plot(
            res.bayes, params=("tau", "mu"), prob=level, title=title),
            [folder / "prior_posterior.png"])
    if outs["regression"] and o.model["type"] == "meta_regression" and (
            res.moderator_bayes is not None):
        _try_figure(res, "regression", lambda: regression_plot(
            res.moderator_bayes, prob=level, title=title), [folder / "regression.png"])
    sens = res.sensitivity
    if outs["sensitivity"] and "priors" in sens:
        _try_figure(res, "sensitivity", lambda: sensitivity_plot(sens["priors"]),
                    [folder / "sensitivity.png"])
    if outs["sensitivity"] and "subsets" in sens:
        _try_figure(res, "subsets", lambda: sensitivity_plot(sens["subsets"]),
                    [folder / "subsets.png"])
    if outs["sensitivity"] and "leave1out" in sens:
        _try_figure(res, "leave1out", lambda: leave1out_plot(sens["leave1out"]),
                    [folder / "leave1out.png"])


def write_csv(df: pd.DataFrame, path: Path, res: Any = None, **kw: Any) -> Path:
    """Write ``df`` as CSV with text cells neutralised against formula injection."""
    csv_safe(df).to_csv(path, **kw)
    if res is not None:
        res.files.append(path)
    return path


def _write_posterior(spec: Any, res: OutcomeResult, folder: Path) -> None:
    s = spec.sampler
    targets = [("posterior.nc", res.main)]
    if res.main is not res.bayes:
        targets.append(("posterior_overall.nc", res.bayes))
    n = int(s["draws"]) * int(s["chains"])
    for fname, post in targets:
        path = folder / fname
        try:
            if spec.engine == "mcmc":
                post.to_netcdf(path)
            else:
                tree = post.to_datatree(n=n, random_seed=int(s["seed"]), chains=int(s["chains"]))
                tree.attrs.update({"bayesma_engine": "exact", "random_seed": int(s["seed"])})
                tree.to_netcdf(path, engine="h5netcdf")
            res.files.append(path)
        except Exception as exc:  # noqa: BLE001
            res.notes.append(f"{fname} not written: {type(exc).__name__}: {exc}")


def _use_agg() -> None:
    import matplotlib  # figures are files here: a non-interactive backend

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg"):
        try:
            matplotlib.use("Agg")
        except Exception:  # noqa: BLE001 - keep the backend that is there
            pass


def write_outputs(result: SpecResult, out: str | Path, *,
                  say: Callable[[str], None] = lambda m: None, overwrite: bool = False,
                  option: str = "output folder") -> list[Path]:
    """Write every output of a spec run into the folder ``out``.

    The files are written into a temporary folder beside ``out`` and moved into place at
    the end (:class:`~bayesma.report.outdir.OutputFolder`): an interrupted run leaves
    ``out`` as it was, the outputs of an earlier run never remain beside the new ones,
    and a folder holding other files is refused unless ``overwrite=True``.

    Parameters
    ----------
    result : SpecResult
        From :func:`bayesma.pipeline.run_analysis`.
    out : str or Path
        Output folder.
    say : callable
        Progress messages.
    overwrite : bool
        Write into a folder that holds files bayesma did not write.
    option : str
        How messages name the folder (the CLI passes ``"--out"``).

    Returns
    -------
    list of Path
        The files written (also in ``result.files``).

    Raises
    ------
    OutputFolderError
        ``out`` is a file, lies under a file, holds other files (without ``overwrite``)
        or another run is writing into it.
    """
    _use_agg()
    target = Path(out)
    with OutputFolder(target, overwrite=overwrite, option=option) as tmp:
        files = _write_all(result, tmp, say)
    final = [target / Path(f).relative_to(tmp) for f in files]
    for res in result.outcomes:
        res.files = [target / Path(f).relative_to(tmp) for f in res.files]
        res.figures = {k: target / Path(f).relative_to(tmp) for k, f in res.figures.items()}
    result.out_dir = target
    result.files = final
    return final


def _write_all(result: SpecResult, out: Path, say: Callable[[str], None]) -> list[Path]:
    spec = result.spec
    result.out_dir = out
    outs = spec.outputs
    multi = len(spec.outcomes) > 1
    files: list[Path] = []
    for res in result.outcomes:
        folder = out / res.spec.slug if multi else out
        folder.mkdir(parents=True, exist_ok=True)
        say(f"figures{' for ' + res.spec.name if multi else ''}")
        _outcome_figures(spec, res, folder)
        sens = res.sensitivity
        if outs["sensitivity"]:
            if "priors" in sens:
                write_csv(sens["priors"].table, folder / "sensitivity.csv", res, index=False)
            if "leave1out" in sens:
                write_csv(sens["leave1out"].table, folder / "leave1out.csv", res)
            if "subsets" in sens:
                write_csv(sens["subsets"].table, folder / "subsets.csv", res)
        if outs["posterior"]:
            _write_posterior(spec, res, folder)
        files.extend(res.files)
    if outs["summary"]:
        table = pd.concat([r.summary for r in result.outcomes], ignore_index=True)
        files.append(write_csv(table, out / "summary.csv", index=False))
        if multi:
            files.append(write_csv(result.overview, out / "overview.csv", index=False))
        md = out / "summary.md"
        md.write_text(summary_markdown(result), encoding="utf-8")
        files.append(md)
    if outs["spec"]:
        sp = out / "spec.toml"
        sp.write_text(spec.to_toml(), encoding="utf-8")
        files.append(sp)
    result.meta.setdefault("written", _dt.datetime.now().astimezone().isoformat(
        timespec="seconds"))
    files += review_files(result, out)  # PRISMA, summary of findings (report/review.py)
    result.files = files
    if outs["report"]:
        rp = out / "report.html"
        rp.write_text(render_html(result), encoding="utf-8")
        files.append(rp)
    return files

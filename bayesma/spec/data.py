"""The study table of a spec: its source, row filters, effect sizes and participants.

Row filters (``[data] filter``, an outcome's ``filter``, a subset's ``exclude``) are read
by :func:`bayesma.expressions.filter_rows`, a small grammar of our own: a filter is data,
never Python code.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesma import datasets
from bayesma.classical.design import build_design
from bayesma.data import describe_rows, find_label_column
from bayesma.effect_sizes import MEASURES, escalc
from bayesma.errors import BayesmaError, DataError, SpecError
from bayesma.expressions import filter_rows
from bayesma.spec.conversions import apply_conversions
from bayesma.spec.lines import KeyPath, closest
from bayesma.spec.revman_source import is_revman_source, load_revman_table
from bayesma.spec.schema import EFFECT_COLUMNS

__all__ = [
    "apply_filter",
    "check_mods",
    "compute_effect_sizes",
    "count_participants",
    "load_table",
    "participant_columns",
    "study_sizes",
]

Fail = Callable[..., SpecError]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_table(cfg: dict[str, Any] | None, base_dir: Path,
               fail: Fail) -> tuple[dict[str, Any], pd.DataFrame]:
    """Read ``[data]``: a bundled dataset or a CSV file, then its ``filter``.

    Returns
    -------
    source : dict
        ``dataset`` or ``path``, ``sha256`` of the file, ``citation``, ``title``, ``file``.
    table : DataFrame
    """
    if not cfg:
        raise fail(("data",), "missing [data] section",
                   'add [data] with dataset = "bcg" or path = "studies.csv"')
    has_ds, has_path = "dataset" in cfg, "path" in cfg
    if has_ds == has_path:
        raise fail(("data",), "give exactly one of 'dataset' and 'path'",
                   "dataset = a bundled dataset (bayesma datasets); path = a CSV file")
    if has_ds:
        name = cfg["dataset"]
        if name not in datasets.names():
            guess = closest(name, datasets.names())
            hint = f"did you mean {guess!r}? " if guess else ""
            raise fail(("data", "dataset"), f"unknown dataset {name!r}; {hint}bundled: "
                       + ", ".join(datasets.names()), "list them with: bayesma datasets")
        df = datasets.load(name)
        raw_bytes = resources.files("bayesma.datasets").joinpath(
            "data", f"{name}.csv").read_bytes()
        info = datasets.info(name)
        source = {"dataset": name, "sha256": _sha256(raw_bytes),
                  "citation": cfg.get("citation", info.get("citation", "")),
                  "title": info.get("title", ""), "file": f"bayesma/datasets/data/{name}.csv"}
    else:
        fpath = (base_dir / cfg["path"]).resolve()
        if not fpath.exists():
            raise fail(("data", "path"), f"data file not found: {fpath}",
                       "paths are relative to the spec file's folder")
        if fpath.is_dir():
            raise fail(("data", "path"), f"{fpath} is a folder, not a CSV file")
        raw_bytes = fpath.read_bytes()
        df = (load_revman_table(fpath, cfg, fail) if is_revman_source(fpath, cfg)
              else _read_csv(fpath, raw_bytes, fail))
        source = {"path": fpath, "sha256": _sha256(raw_bytes),
                  "citation": cfg.get("citation", ""), "title": "", "file": str(fpath)}
    if len(df) == 0:
        raise fail(("data", "path") if has_path else ("data", "dataset"),
                   "the data file has no rows (only a header)",
                   "add one row per study (or effect size) below the header")
    if "filter" in cfg:
        df = apply_filter(df, cfg["filter"], ("data", "filter"), fail)
    return source, df


def _read_csv(fpath: Path, raw_bytes: bytes, fail: Fail) -> pd.DataFrame:
    try:
        text = raw_bytes.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise fail(("data", "path"), f"{fpath.name} is not a UTF-8 text (CSV) file",
                   "save the table as CSV (UTF-8)") from None
    if "\x00" in text:
        raise fail(("data", "path"), f"{fpath.name} is a binary file, not a CSV table",
                   "save the table as CSV (UTF-8)")
    # leading lines starting with '#' are comments (a '#' inside the table is data)
    lines = text.splitlines()
    skip = next((i for i, ln in enumerate(lines) if not ln.lstrip().startswith("#")),
                len(lines))
    if skip >= len(lines) or not any(ln.strip() for ln in lines[skip:]):
        raise fail(("data", "path"), f"{fpath.name} is empty (no header, no rows)")
    try:
        return pd.read_csv(fpath, skiprows=skip, encoding="utf-8-sig")
    except Exception as exc:  # noqa: BLE001 - pandas raises many types
        msg = str(exc).strip().splitlines()
        raise fail(("data", "path"), f"cannot read {fpath.name} as CSV: "
                   f"{msg[0] if msg else type(exc).__name__}") from None


def apply_filter(df: pd.DataFrame, expr: str, path: KeyPath, fail: Fail, *,
                 keep: bool = True) -> pd.DataFrame:
    """The rows of ``df`` that ``expr`` selects (``keep=False``: the others).

    ``expr`` is parsed by :func:`bayesma.expressions.filter_rows` (never evaluated as
    Python); its errors become a :class:`SpecError` at ``path``.
    """
    what = "exclude" if path and path[-1] == "exclude" else "filter"
    try:
        mask = filter_rows(df, expr, what=what)
    except DataError as exc:
        raise fail(path, str(exc), "columns: " + ", ".join(map(str, df.columns))) from None
    except BayesmaError as exc:
        raise fail(path, str(exc),
                   "write a filter such as \"rob == 'high'\" or \"year >= 2000\"") from None
    mask = mask.to_numpy(dtype=bool)
    return df.loc[mask if keep else ~mask]


def compute_effect_sizes(df: pd.DataFrame, effect: dict[str, Any],
                         epath: Callable[[str], KeyPath], fail: Fail
                         ) -> tuple[pd.DataFrame, str]:
    """``escalc`` with the ``[effect]`` columns; returns the table with yi/vi and the
    measure. Warnings of ``escalc`` propagate to the caller (who records them)."""
    df = apply_conversions(df, effect.get("convert"), epath("convert"), fail,
                           slab=effect.get("label"))
    cols = {c: effect[c] for c in EFFECT_COLUMNS if effect.get(c) is not None}
    for k, c in cols.items():
        if c not in df.columns:
            guess = closest(c, [str(x) for x in df.columns])
            hint = f"; did you mean {guess!r}?" if guess else ""
            raise fail(epath(k), f"column {c!r} is not in the data{hint}")
    measure = effect.get("measure")
    if measure is None:
        if "yi" in cols:
            measure = "GEN"
        else:
            raise fail(("effect",), "missing measure",
                       'add measure = "SMD" (or "OR", "RR", "MD", ...) to [effect]')
    if str(measure).upper() not in MEASURES:
        guess = closest(str(measure), list(MEASURES))
        hint = f"did you mean {guess!r}? " if guess else ""
        raise fail(epath("measure"), f"unknown measure {measure!r}; {hint}known: "
                   + ", ".join(MEASURES))
    measure = str(measure).upper()
    if not cols:
        raise fail(("effect",), f"no columns for measure {measure}",
                   "name the columns with metafor's arguments (m1i, sd1i, n1i, m2i, sd2i, "
                   "n2i; ai, bi, ci, di; ri, ni) or give yi with vi or sei")
    if "yi" in cols and "vi" not in cols and "sei" not in cols:
        raise fail(epath("yi"), "given yi needs vi or sei", 'add vi = "vi" or sei = "sei"')
    kwargs: dict[str, Any] = dict(cols)
    if "yi" not in cols:
        # add=None lets escalc apply metafor's per-measure default (1/2, or 0 for AS, PHI,
        # RTET, PAS, PFT, IRS, IRFT, IRSD)
        add = None if effect.get("add") is None else float(effect["add"])
        kwargs.update(add=add, to=effect["to"], drop00=bool(effect["drop00"]),
                      vtype=effect["vtype"])
    try:
        dat = escalc(measure, df, **kwargs)
    except DataError as exc:
        key = next((k for k, c in cols.items() if c == exc.column), None)
        raise fail(epath(key) if key else ("effect",), str(exc)) from None
    except BayesmaError as exc:
        raise fail(("effect",), str(exc)) from None
    bad = ~(np.isfinite(dat["yi"].to_numpy(float)) & np.isfinite(dat["vi"].to_numpy(float)))
    if bad.any():
        rows = describe_rows(dat, list(dat.index[bad]), slab=effect.get("label"))
        raise fail(("effect",), f"effect size undefined for {rows}",
                   "drop these rows with [data] filter, or fix the source values")
    dat.attrs["measure"] = measure
    if "conversions" in df.attrs:
        dat.attrs["conversions"] = df.attrs["conversions"]
    return dat, measure


def default_label(dat: pd.DataFrame) -> str | None:
    """The column of study labels when the spec names none."""
    return find_label_column(dat)


def check_mods(dat: pd.DataFrame, mods: str | list[str], label: str | None, path: KeyPath,
               fail: Fail) -> None:
    """Build the moderators' design matrix once to check the formula (vetted by
    :mod:`bayesma.expressions`, never evaluated as Python)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            build_design(dat, mods, slab=label)
    except BayesmaError as exc:
        raise fail(path, str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - formula parser errors
        raise fail(path, f"cannot read the moderator formula {mods!r}: {exc}") from None


def participant_columns(effect: dict[str, Any]) -> list[str]:
    """Columns summed to count participants: ``participants``, else n1i + n2i, ni or the
    four cells of a 2x2 table."""
    parts = effect.get("participants")
    if parts is None:
        if effect.get("n1i") and effect.get("n2i"):
            return [effect["n1i"], effect["n2i"]]
        if effect.get("ni"):
            return [effect["ni"]]
        if effect.get("ai") and effect.get("bi") and effect.get("ci") and effect.get("di"):
            return [effect[c] for c in ("ai", "bi", "ci", "di")]
        return []
    return [parts] if isinstance(parts, str) else list(parts)


def _row_totals(dat: pd.DataFrame, cols: list[str]) -> pd.Series:
    return pd.DataFrame({c: pd.to_numeric(dat[c], errors="coerce") for c in cols}).sum(
        axis=1, min_count=len(cols))


def count_participants(dat: pd.DataFrame, effect: dict[str, Any]) -> int | None:
    """Participants over all studies, or None when unknown."""
    cols = participant_columns(effect)
    if not cols:
        return None
    total = _row_totals(dat, cols)
    if total.isna().any():
        return None
    return int(round(float(total.sum())))


def study_sizes(data: pd.DataFrame, effect: dict[str, Any]) -> np.ndarray | None:
    """Participants per study (the participant columns summed), or None."""
    cols = participant_columns(effect)
    if not cols:
        return None
    total = _row_totals(data, cols)
    if total.isna().any() or (total <= 0).any():
        return None
    return total.to_numpy(dtype=float)

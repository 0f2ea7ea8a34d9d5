"""``[[effect.convert]]``: conversions applied to the study table before the effect sizes
(issue 13), through the public functions ``bm.conv_fivenum`` (means and SDs from medians,
quartiles and ranges; metafor's ``conv.fivenum``) and ``bm.conv_wald`` (yi and vi from
confidence intervals or p-values; metafor's ``conv.wald``).

Each conversion fills only the rows where its target columns are missing, as metafor's
``replace = "ifna"``; the functions record which rows were converted and how in
``attrs["conversions"]``, which the report shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from bayesma import effect_sizes
from bayesma.errors import BayesmaError, DataError, SpecError
from bayesma.spec.lines import KeyPath, closest

__all__ = ["CONVERSION_KEYS", "apply_conversions"]

Fail = Callable[..., SpecError]

#: column keys and option keys of each conversion type
CONVERSION_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "fivenum": (("min", "q1", "median", "q3", "max", "n"), ("method",)),
    "wald": (("out", "ci_lb", "ci_ub", "zval", "pval", "n"), ("transf", "ci_level")),
}


def _entry(df: pd.DataFrame, cfg: dict[str, Any], path: KeyPath, fail: Fail
           ) -> tuple[str, dict[str, Any]]:
    kind = cfg.get("type")
    if kind is None:
        raise fail(path, "a conversion needs type = \"fivenum\" or \"wald\"")
    cols, opts = CONVERSION_KEYS[kind]
    other = CONVERSION_KEYS["wald" if kind == "fivenum" else "fivenum"]
    for k in cfg:
        if k not in (*cols, *opts, "type", "into") and k in (*other[0], *other[1]):
            raise fail((*path, k), f"{k} is not an argument of a {kind} conversion",
                       f"{kind} takes: " + ", ".join((*cols, *opts, "into")))
    kwargs: dict[str, Any] = {}
    names = [str(c) for c in df.columns]
    for k in cols:
        c = cfg.get(k)
        if c is None:
            continue
        if c not in df.columns:
            guess = closest(c, names)
            hint = f"; did you mean {guess!r}?" if guess else ""
            raise fail((*path, k), f"column {c!r} is not in the data{hint}",
                       "columns: " + ", ".join(names))
        kwargs[k] = c
    if not kwargs:
        raise fail(path, f"a {kind} conversion names no columns",
                   "e.g. median = \"med1\", q1 = \"q1_1\", q3 = \"q3_1\", n = \"n1\""
                   if kind == "fivenum" else "e.g. out = \"or\", ci_lb = \"lb\", ci_ub = \"ub\"")
    if kind == "fivenum" and cfg.get("method") is not None:
        kwargs["method"] = cfg["method"]
    if kind == "wald":
        if cfg.get("transf") is not None:
            kwargs["transf"] = cfg["transf"]
        if cfg.get("ci_level") is not None:
            kwargs["level"] = 100.0 * float(cfg["ci_level"])  # conv_wald takes percent
    into = cfg.get("into")
    if into is None and kind == "fivenum":
        raise fail(path, "a fivenum conversion needs into = [mean column, SD column]",
                   'e.g. into = ["m1i", "sd1i"]')
    if into is not None:
        kwargs["var_names"] = tuple(into)
    return kind, kwargs


def apply_conversions(df: pd.DataFrame, entries: list[dict[str, Any]] | None,
                      path: KeyPath, fail: Fail, *, slab: str | None = None) -> pd.DataFrame:
    """The table after the conversions of ``[[effect.convert]]`` (in order).

    The conversion records of every step are concatenated in
    ``attrs["conversions"]`` (one row per converted row and conversion).
    """
    if not entries:
        return df
    out = df
    records: list[pd.DataFrame] = []
    for j, cfg in enumerate(entries):
        sub = (*path, j)
        kind, kwargs = _entry(out, cfg, sub, fail)
        func = getattr(effect_sizes, f"conv_{kind}")
        try:
            out = func(out, slab=slab if slab in out.columns else None, **kwargs)
        except DataError as exc:
            key = next((k for k, c in kwargs.items() if c == getattr(exc, "column", None)),
                       None)
            raise fail((*sub, key) if key else sub, str(exc)) from None
        except BayesmaError as exc:
            raise fail(sub, str(exc)) from None
        rec = out.attrs.get("conversions")
        if isinstance(rec, pd.DataFrame) and not rec.empty:
            records.append(rec)
    attrs = dict(out.attrs)
    if records:
        attrs["conversions"] = pd.concat(records, ignore_index=True).drop_duplicates()
    out = out.copy()
    out.attrs = attrs
    return out

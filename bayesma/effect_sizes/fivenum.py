"""``conv_fivenum``: means and SDs from medians, quartiles, minima and maxima, as metafor's
``conv.fivenum`` (added in metafor 3.9/4.0; no 3.8.1 version exists).

Three cases per row (metafor): (1) min, median, max; (2) q1, median, q3; (3) all five.
Methods (metafor's names): ``"luo/wan/shi"`` (the default: Luo et al. 2018 means, Wan et
al. 2014 / Shi et al. 2020 SDs), ``"hozo2005"``, ``"wan2014"``, ``"bland2015"``,
``"luo2016"`` (means), ``"shi2020"`` (SDs), ``"walter2007"`` (SDs and medians as means).
Shi et al.'s (2023) skewness tests flag rows whose data look too skewed for a normal
approximation; with ``test=True`` (metafor's default) those rows are not converted.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.integrate import quad
from scipy.special import ndtr

from bayesma.data import describe_rows, numeric_column
from bayesma.effect_sizes.checks import fmt_g
from bayesma.effect_sizes.conversion_log import ConversionWarning, record_conversions
from bayesma.errors import BayesmaError, DataError
from bayesma.tails import norm_isf

__all__ = ["FIVENUM_METHODS", "conv_fivenum"]

_M1 = ("default", "luo/wan/shi", "qe", "bc", "mln", "blue", "hozo2005", "wan2014",
       "bland2015", "luo2016", "walter2007")  # fmt: skip
_M2 = ("default", "luo/wan/shi", "qe", "bc", "mln", "blue", "hozo2005", "wan2014",
       "bland2015", "shi2020", "walter2007")  # fmt: skip
_NEEDS_R = ("qe", "bc", "mln", "blue")

#: Methods for the means and for the SDs (metafor 4.0 conv.fivenum, without the methods
#: of the R packages estmeansd and metaBLUE).
FIVENUM_METHODS = {
    "mean": tuple(m for m in _M1 if m not in _NEEDS_R),
    "sd": tuple(m for m in _M2 if m not in _NEEDS_R),
}
_ARGS = ("min", "q1", "median", "q3", "max")


def _qnorm(p: float) -> float:
    return float(-norm_isf(p))


def _match(value: str, options: tuple[str, ...], what: str) -> str:
    """metafor's prefix matching of method names (first option starting with value)."""
    v = str(value).lower()
    hit = next((o for o in options if o.startswith(v)), None)
    if hit is None:
        raise BayesmaError(f"unknown {what} method {value!r}; use one of "
                           f"{', '.join(o for o in options if o not in _NEEDS_R)}")
    if hit in _NEEDS_R:
        raise BayesmaError(f"method {hit!r} needs the R package "
                           f"{'metaBLUE' if hit == 'blue' else 'estmeansd'}; it is not available")
    return "luo/wan/shi" if hit == "default" else hit


def _walter(n: float) -> float:
    """Expected range of n standard normals (Walter & Yao 2007; metafor integrates it)."""
    val, _ = quad(lambda x: 1 - (1 - ndtr(x)) ** n - ndtr(x) ** n, -np.inf, np.inf,
                  epsabs=0.0, epsrel=1e-12, limit=200)
    return val


def _range_case(v: dict[str, float], n: float, m1: str, m2: str,
                lnorm: bool) -> tuple[float, float, float]:
    """Case 1, min/median/max: (mean, sd, range-based SD scale) (metafor conv.fivenum)."""
    mn, med, mx = v["min"], v["median"], v["max"]
    mean = sd = np.nan
    if m1 in ("luo/wan/shi", "luo2016"):
        w = 4 / (4 + n**0.75)  # Luo et al. 2018 eq. 7
        mean = w * (mn + mx) / 2 + (1 - w) * med
    elif m1 == "hozo2005":
        mean = np.nan if np.isnan(n) else ((mn + 2 * med + mx) / 4 if n <= 25 else med)
    elif m1 == "wan2014":
        mean = (mn + 2 * med + mx) / 4  # Wan et al. 2014 eq. 2
    elif m1 == "walter2007":
        mean = med
    xi = 2 * _qnorm((n - 0.375) / (n + 0.25))  # Wan et al. 2014 eq. 9 (Blom)
    if m2 in ("luo/wan/shi", "wan2014"):
        z1 = 1.0 if not lnorm else 1.01 + 0.25 / np.log(n) ** 2  # Shi et al. 2020
        sd = (mx - mn) / xi / np.sqrt(z1)
    elif m2 == "hozo2005":
        if np.isnan(n):
            sd = np.nan
        elif n <= 15:
            sd = np.sqrt((mn - 2 * med + mx) ** 2 / 4 + (mx - mn) ** 2) / np.sqrt(12)
        elif n <= 70:
            sd = (mx - mn) / 4
        else:
            sd = (mx - mn) / 6
    elif m2 == "walter2007":
        sd = (mx - mn) / _walter(n)
    return mean, sd, (mx - mn) / xi


def _iqr_case(v: dict[str, float], n: float, m1: str, m2: str,
              lnorm: bool) -> tuple[float, float, float]:
    """Case 2, q1/median/q3: (mean, sd, IQR-based SD scale) (metafor conv.fivenum)."""
    q1, med, q3 = v["q1"], v["median"], v["q3"]
    mean = sd = np.nan
    if m1 in ("luo/wan/shi", "luo2016"):
        w = 0.7 + 0.39 / n  # Luo et al. 2018 eq. 11
        mean = w * (q1 + q3) / 2 + (1 - w) * med
    elif m1 == "wan2014":
        mean = (q1 + med + q3) / 3  # Wan et al. 2014 eq. 14
    eta = 2 * _qnorm((0.75 * n - 0.125) / (n + 0.25))  # Wan et al. 2014 eq. 15
    if m2 in ("luo/wan/shi", "wan2014"):
        z2 = 1.0 if not lnorm else 1 + 1.58 / n  # Shi et al. 2020
        sd = (q3 - q1) / eta / np.sqrt(z2)
    return mean, sd, (q3 - q1) / eta


def _five_case(v: dict[str, float], n: float, m1: str, m2: str,
               lnorm: bool) -> tuple[float, float, float]:
    """Case 3, all five: (mean, sd, combined SD scale) (metafor conv.fivenum)."""
    mn, q1, med, q3, mx = (v[a] for a in _ARGS)
    mean = sd = np.nan
    if m1 in ("luo/wan/shi", "luo2016"):
        w1 = 2.2 / (2.2 + n**0.75)  # Luo et al. 2018 eq. 15
        w2 = 0.7 - 0.72 / n**0.55
        mean = w1 * (mn + mx) / 2 + w2 * (q1 + q3) / 2 + (1 - w1 - w2) * med
    elif m1 in ("wan2014", "bland2015"):
        mean = (mn + 2 * q1 + 2 * med + 2 * q3 + mx) / 8  # Bland 2015; Wan et al. eq. 10
    xi = 2 * _qnorm((n - 0.375) / (n + 0.25))
    eta = 2 * _qnorm((0.75 * n - 0.125) / (n + 0.25))
    w = 1 / (1 + 0.07 * n**0.6)  # Shi et al. 2020 eq. 7
    scale = w * (mx - mn) / xi + (1 - w) * (q3 - q1) / eta
    if m2 in ("luo/wan/shi", "shi2020"):
        z3 = 1.0 if not lnorm else 1 + 0.28 / np.log(n) ** 2
        sd = scale / np.sqrt(z3)
    elif m2 == "wan2014":
        sd = 0.5 * ((mx - mn) / xi + (q3 - q1) / eta)  # Wan et al. 2014 eq. 16
    elif m2 == "bland2015":
        # Bland 2015 (metafor conv.fivenum)
        sd = np.sqrt((mn**2 + 2 * q1**2 + 2 * med**2 + 2 * q3**2 + mx**2) / 16
                     + (mn * q1 + q1 * med + med * q3 + q3 * mx) / 8
                     - (mn + 2 * q1 + 2 * med + 2 * q3 + mx) ** 2 / 64)
    return mean, sd, scale


#: Shi et al. (2020) back-transform of log-normal rows, per case: the denominator of the
#: fourth power of the SD scale, and the (sd², s4) coefficients of phi, phi_a and phi_b
#: (metafor conv.fivenum)
_LNORM_BACK = {
    "range": (lambda n: 1 + 2.23 / np.log(n) ** 2, (0.565, 0.37), (2.26, 5.92), (2.26, 1.48)),
    "iqr": (lambda n: 1 + 19.2 / n**1.2, (0.57, 0.75), (2.28, 12), (2.28, 3)),
    "five": (lambda n: 1 + 3.93 / n, (0.405, 0.315), (1.62, 5.04), (1.62, 1.26)),
}
_CASES = {"range": _range_case, "iqr": _iqr_case, "five": _five_case}


def _lnorm_back(mean: float, sd: float, scale: float, n: float,
                case: str) -> tuple[float, float]:
    """Log-scale mean and SD -> original scale (Shi et al. 2020; metafor conv.fivenum)."""
    den, c, ca, cb = _LNORM_BACK[case]
    s4 = scale**4 / den(n)
    phi = 1 + c[0] * sd**2 / n + c[1] * s4 / n
    phi_a = 1 + ca[0] * sd**2 / n + ca[1] * s4 / n
    phi_b = 1 + cb[0] * sd**2 / n + cb[1] * s4 / n
    return (np.exp(mean + sd**2 / 2) / phi,
            np.sqrt(np.exp(2 * mean + 2 * sd**2) / phi_a - np.exp(2 * mean + sd**2) / phi_b))


def _one_row(v: dict[str, float], n: float, dist: str, m1: str, m2: str,
             transf: bool) -> tuple[float, float]:
    """Mean and SD of one row (metafor 4.0 conv.fivenum, the loop body); NaN if unknown."""
    has = {a: not np.isnan(v[a]) for a in _ARGS}
    if has["min"] and has["max"] and not has["q1"] and not has["q3"]:
        case = "range"
    elif has["q1"] and has["q3"] and not has["min"] and not has["max"]:
        case = "iqr"
    elif all(has[a] for a in ("min", "q1", "q3", "max")):
        case = "five"
    else:
        return float("nan"), float("nan")
    lnorm = dist == "lnorm"
    mean, sd, scale = _CASES[case](v, n, m1, m2, lnorm)
    if lnorm and transf:
        mean, sd = _lnorm_back(mean, sd, scale, n, case)
    return float(mean), float(sd)


def _skew_test(v: dict[str, float], n: float) -> tuple[float, float]:
    """Shi et al.'s skewness test statistic and critical value (metafor conv.fivenum)."""
    mn, q1, med, q3, mx = (v[a] for a in _ARGS)
    has = {a: not np.isnan(v[a]) for a in _ARGS}
    if has["min"] and has["max"] and has["q1"] and has["q3"]:
        t = max(2.65 * np.log(0.6 * n) / np.sqrt(n) * abs((mn + mx - 2 * med) / (mx - mn)),
                abs((q1 + q3 - 2 * med) / (q3 - q1)))
        return t, 3 / np.sqrt(n) - 40 / n**3
    if has["min"] and has["max"]:
        return abs((mn + mx - 2 * med) / (mx - mn)), 1 / np.log(n + 9) + 2.5 / (n + 1)
    if has["q1"] and has["q3"]:
        return abs((q1 + q3 - 2 * med) / (q3 - q1)), 2.65 / np.sqrt(n) - 6 / n**2
    return np.nan, np.nan


def conv_fivenum(
    df: pd.DataFrame,
    *,
    min: str | None = None,  # noqa: A002 - metafor's argument name
    q1: str | None = None,
    median: str | None = None,
    q3: str | None = None,
    max: str | None = None,  # noqa: A002 - metafor's argument name
    n: str | None = None,
    method: str | Sequence[str] = "default",
    dist: str = "norm",
    transf: bool = True,
    test: bool = True,
    var_names: Sequence[str] = ("mean", "sd"),
    replace: str = "ifna",
    slab: str | None = None,
) -> pd.DataFrame:
    """Estimate means and SDs from five-number summaries, as metafor's ``conv.fivenum``.

    Parameters
    ----------
    df : DataFrame
        The study table; the columns below may have missing values (a row uses what it
        has: min/median/max, q1/median/q3, or all five, with ``n``).
    min, q1, median, q3, max, n : str, optional
        Columns of the minimum, quartiles, median, maximum and sample size.
    method : str or (str, str)
        ``"default"`` (= ``"luo/wan/shi"``: Luo et al. 2018 means, Wan et al. 2014 and
        Shi et al. 2020 SDs), ``"hozo2005"``, ``"wan2014"``, ``"bland2015"``,
        ``"walter2007"``; or a pair (method for the means, method for the SDs), e.g.
        ``("luo2016", "shi2020")``. Names may be abbreviated (metafor's prefix matching).
        metafor's ``"qe"``, ``"bc"``, ``"mln"`` and ``"blue"`` need R packages and are
        not available.
    dist : {"norm", "lnorm"} or str
        Assumed distribution, or the name of a column with one per row. ``"lnorm"``
        (log-normal; positive values only) forces ``"luo/wan/shi"`` as metafor does.
    transf : bool
        For ``"lnorm"`` rows, back-transform the log-scale mean and SD (Shi et al. 2020).
    test : bool
        Shi et al.'s skewness test: rows whose summaries are too skewed for a normal
        approximation are not converted (metafor's default), with a warning.
    var_names : (str, str)
        The mean and SD columns (created if missing).
    replace : {"ifna", "all"}
        Fill only missing means/SDs (default) or overwrite every converted row.
    slab : str, optional
        Study-label column for messages.

    Returns
    -------
    DataFrame
        A copy of ``df`` with the mean and SD columns filled. ``attrs["conversions"]``
        (see :mod:`bayesma.effect_sizes.conversion_log`) lists every row converted, the
        inputs and methods, and rows left unconverted with the reason;
        ``attrs["fivenum_test"]`` is a DataFrame of the skewness test (``tval``,
        ``crit``, ``sig``, ``dist`` per row, metafor's attributes).

    Raises
    ------
    DataError
        Naming column and row: non-numeric values, ``min <= q1 <= median <= q3 <= max``
        violated, non-positive values with ``dist="lnorm"``, negative ``n``.
    BayesmaError
        No summary columns given, unknown method, ``dist`` or ``replace``.

    Warns
    -----
    ConversionWarning
        Rows not converted: ``n < 5`` (metafor excludes them), or a significant
        skewness test with ``test=True``.
    """
    given = {"min": min, "q1": q1, "median": median, "q3": q3, "max": max}
    if all(v is None for v in given.values()):
        raise BayesmaError("conv_fivenum needs some of min, q1, median, q3, max")
    if replace not in ("ifna", "all"):
        raise BayesmaError(f"replace must be 'ifna' or 'all', got {replace!r}")
    if isinstance(var_names, str) or len(var_names) != 2 or var_names[0] == var_names[1]:
        raise BayesmaError(f"var_names must be two different column names, got {var_names!r}")
    methods = [method, method] if isinstance(method, str) else list(method)
    if len(methods) != 2:
        raise BayesmaError(f"method must be a name or a pair of names, got {method!r}")
    m1 = _match(methods[0], _M1, "mean")
    m2 = _match(methods[1], _M2, "SD")
    k = len(df)
    vals: dict[str, np.ndarray] = {}
    for arg, col in (*given.items(), ("n", n)):
        if col is not None and not isinstance(col, str):
            raise BayesmaError(f"conv_fivenum: {arg} must be a column name (str)")
        vals[arg] = (np.array(numeric_column(df, col, what=arg, allow_nan=True, slab=slab))
                     if col is not None else np.full(k, np.nan))
    if dist in ("norm", "lnorm"):
        dists = np.array([dist] * k, dtype=object)
    elif isinstance(dist, str) and dist in df.columns:
        dists = df[dist].astype(object).to_numpy()
        bad = [i for i, d in enumerate(dists) if d not in ("norm", "lnorm")]
        if bad:
            raise DataError(
                f"column {dist!r} (dist) must hold 'norm' or 'lnorm'; "
                f"{describe_rows(df, [df.index[i] for i in bad], slab=slab)}: "
                f"{dists[bad[0]]!r}", column=dist, rows=[df.index[i] for i in bad])
    else:
        raise BayesmaError(f"dist must be 'norm', 'lnorm' or a column name, got {dist!r}")
    if (dists == "lnorm").any() and (m1, m2) != ("luo/wan/shi", "luo/wan/shi"):
        warnings.warn("conv_fivenum: switching to method='luo/wan/shi' (dist='lnorm' for one "
                      "or more rows), as metafor does", ConversionWarning, stacklevel=2)
        m1 = m2 = "luo/wan/shi"
    nn = vals["n"]
    if n is not None and (nn < 0).any():
        rows = list(df.index[nn < 0])
        raise DataError(f"column {n!r} (n) must be >= 0; {describe_rows(df, rows, slab=slab)}",
                        column=n, rows=rows)
    # metafor: rows with n < 5 are not converted
    small = nn < 5
    for pos in range(k):
        seq = [(a, vals[a][pos]) for a in _ARGS if not np.isnan(vals[a][pos])]
        for (a, x), (b, y) in zip(seq, seq[1:], strict=False):
            if y < x:
                raise DataError(
                    f"conv_fivenum: min <= q1 <= median <= q3 <= max does not hold: "
                    f"column {given[b]!r} ({b} = {fmt_g(y)}) is below column {given[a]!r} "
                    f"({a} = {fmt_g(x)}); {describe_rows(df, [df.index[pos]], slab=slab)}",
                    column=given[b], rows=[df.index[pos]])
        if dists[pos] == "lnorm" and not small[pos] and any(x <= 0 for _, x in seq):
            a = next(a for a, x in seq if x <= 0)
            raise DataError(
                f"conv_fivenum: a log-normal distribution needs positive values; column "
                f"{given[a]!r} ({a}) in {describe_rows(df, [df.index[pos]], slab=slab)}",
                column=given[a], rows=[df.index[pos]])

    means = np.full(k, np.nan)
    sds = np.full(k, np.nan)
    tvals = np.full(k, np.nan)
    crits = np.full(k, np.nan)
    sig = np.zeros(k, dtype=bool)
    skipped: list[int] = []
    for pos in range(k):
        if small[pos]:
            continue
        v = {a: vals[a][pos] for a in _ARGS}
        lnorm = dists[pos] == "lnorm"
        if lnorm:
            v = {a: np.log(x) for a, x in v.items()}
        nv = float(nn[pos])
        with np.errstate(divide="ignore", invalid="ignore"):
            tvals[pos], crits[pos] = _skew_test(v, nv)
            sig[pos] = bool(tvals[pos] >= crits[pos])
            if test and sig[pos]:
                skipped.append(pos)
                continue
            means[pos], sds[pos] = _one_row(v, nv, dists[pos], m1, m2, transf)

    out = df.copy()
    entries = []
    filled = {}
    for name, new in zip(var_names, (means, sds), strict=True):
        old = (np.array(numeric_column(df, name, what=name, allow_nan=True, slab=slab))
               if name in df.columns else np.full(k, np.nan))
        fill = ~np.isnan(new) & (np.isnan(old) if replace == "ifna" else True)
        out[name] = np.where(fill, new, old)
        filled[name] = fill
    method_text = m1 if m1 == m2 else f"{m1} / {m2}"
    for pos in range(k):
        outs = [name for name in var_names if filled[name][pos]]
        inputs = [f"{a}={given[a]}" for a in _ARGS if not np.isnan(vals[a][pos])]
        if n is not None and not np.isnan(nn[pos]):
            inputs.append(f"n={n}")
        note = ""
        if pos in skipped:
            note = (f"not converted: skewness test significant (t = {fmt_g(tvals[pos])} >= "
                    f"{fmt_g(crits[pos])})")
        elif small[pos] and any(not np.isnan(vals[a][pos]) for a in _ARGS):
            note = "not converted: n < 5"
        if outs or note:
            entries.append({"row": df.index[pos], "function": "conv_fivenum",
                            "inputs": ", ".join(inputs),
                            "method": method_text + (" (log-normal)" if dists[pos] == "lnorm"
                                                     else ""),
                            "outputs": ", ".join(outs), "note": note})
    record_conversions(out, entries)
    out.attrs["fivenum_test"] = pd.DataFrame(
        {"tval": tvals, "crit": crits, "sig": sig, "dist": dists}, index=df.index)
    left = [df.index[p] for p in skipped]
    tiny = [df.index[p] for p in range(k) if small[p]
            and any(not np.isnan(vals[a][p]) for a in _ARGS)]
    if left:
        warnings.warn(f"conv_fivenum: not converted (skewness test significant; test=False "
                      f"converts them anyway): {describe_rows(out, left, slab=slab)}",
                      ConversionWarning, stacklevel=2)
    if tiny:
        warnings.warn(f"conv_fivenum: not converted (n < 5, as metafor): "
                      f"{describe_rows(out, tiny, slab=slab)}", ConversionWarning, stacklevel=2)
    return out

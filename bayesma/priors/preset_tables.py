"""The published prior tables (``bayesma/priors/tables/*.csv``) and their citations.

Each CSV starts with comment lines naming the paper, the table and how the values were
checked; :func:`read_table` parses one (cached), :func:`turner2015_table`,
:func:`rhodes2015_table` and :func:`bartos2021_table` return copies with the header in
``df.attrs["source"]``, and :func:`list_presets` lists the presets of
:mod:`bayesma.priors.presets`.
"""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources

import pandas as pd

__all__ = [
    "BARTOS2021",
    "BARTOS2023",
    "REFERENCES",
    "RHODES2015",
    "TURNER2015",
    "bartos2021_table",
    "list_presets",
    "read_table",
    "rhodes2015_table",
    "table_header",
    "turner2015_table",
]

#: Citations (also at the top of each CSV table).
TURNER2015 = (
    "Turner RM, Jackson D, Wei Y, Thompson SG, Higgins JPT. Predictive distributions for "
    "between-study heterogeneity and simple methods for their application in Bayesian "
    "meta-analysis. Stat Med 2015;34(6):984-998. doi:10.1002/sim.6381"
)
RHODES2015 = (
    "Rhodes KM, Turner RM, Higgins JPT. Predictive distributions were developed for the "
    "extent of heterogeneity in meta-analyses of continuous outcome data. J Clin Epidemiol "
    "2015;68(1):52-60. doi:10.1016/j.jclinepi.2014.08.012"
)
BARTOS2021 = (
    "Bartoš F, Gronau QF, Timmers B, Otte WM, Ly A, Wagenmakers E-J. Bayesian "
    "model-averaged meta-analysis in medicine. Stat Med 2021;40(30):6743-6761. "
    "doi:10.1002/sim.9170"
)
BARTOS2023 = (
    "Bartoš F, Otte WM, Gronau QF, Timmers B, Ly A, Wagenmakers E-J. Empirical prior "
    "distributions for Bayesian meta-analyses of binary and time-to-event outcomes. "
    "arXiv:2306.11468, 2023. doi:10.48550/arXiv.2306.11468"
)
REFERENCES = {"bartos2021": BARTOS2021, "bartos2023": BARTOS2023}


# ======================================================================================
# Tables
# ======================================================================================


@cache
def read_table(name: str) -> pd.DataFrame:
    """The table ``tables/<name>.csv`` (comment lines dropped; numeric columns parsed).

    Cached: callers must copy before modifying.
    """
    text = resources.files("bayesma.priors").joinpath("tables", f"{name}.csv").read_text(
        encoding="utf-8"
    )
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    rows = list(csv.reader(lines))
    df = pd.DataFrame(rows[1:], columns=rows[0])
    for col in df.columns:
        if col in {"mu", "sigma", "nu", "mu_nu", "mu_sigma", "tau_alpha", "tau_beta",
                   "tau_sigma"}:
            df[col] = pd.to_numeric(df[col].mask(df[col] == ""))
    return df


def table_header(name: str) -> list[str]:
    """The comment lines at the top of ``tables/<name>.csv`` (the table's provenance)."""
    text = resources.files("bayesma.priors").joinpath("tables", f"{name}.csv").read_text(
        encoding="utf-8"
    )
    return [ln[1:].strip() for ln in text.splitlines() if ln.startswith("#")]


def turner2015_table() -> pd.DataFrame:
    """Turner et al. (2015) Table IV as a DataFrame.

    Columns ``outcome, comparison, mu, sigma, table``: log(tau²) ~ N(mu, sigma²) on the
    log odds ratio scale. The row ``outcome == comparison == "any"`` is the general
    healthcare setting (p. 993). ``df.attrs["source"]`` holds the file's header lines.
    """
    df = read_table("turner2015").copy()
    df.attrs["source"] = table_header("turner2015")
    return df


def rhodes2015_table() -> pd.DataFrame:
    """Rhodes et al. (2015) Tables 3, A.3.1 and A.3.2 as one DataFrame.

    Columns ``area, outcome, comparison, mu, sigma, nu, table, note``: log(tau²) ~
    t_nu(mu, sigma) on the SMD scale. ``area`` is ``"other"`` (Table 3: medical areas
    other than respiratory and cancer), ``"respiratory"`` (A.3.1) or ``"cancer"``
    (A.3.2); the row with all three ``"any"`` is the general setting. ``note`` flags the
    two published cells that break the table's additive pattern.
    """
    df = read_table("rhodes2015").copy()
    df.attrs["source"] = table_header("rhodes2015")
    return df


def bartos2021_table() -> pd.DataFrame:
    """The Cochrane-wide priors of Bartoš et al. per measure as a DataFrame.

    Columns ``measure, scale, mu_nu, mu_sigma, tau_family, tau_alpha, tau_beta,
    tau_sigma, reference``: mu ~ Student-t(0, mu_sigma, mu_nu); tau ~
    InverseGamma(tau_alpha, tau_beta), or HalfNormal(tau_sigma) for RD. ``reference``
    is ``"bartos2021"`` (SMD, Stat Med 2021) or ``"bartos2023"`` (binary and
    time-to-event measures, arXiv:2306.11468).
    """
    df = read_table("bartos2021").copy()
    df.attrs["source"] = table_header("bartos2021")
    return df


def list_presets() -> pd.DataFrame:
    """The published presets: one row per function, with scale, prior family and source."""
    rows = [
        ("turner2015", "turner2015(outcome, comparison)", "log odds ratio", "tau",
         "LogNormalTau2", len(read_table("turner2015")), TURNER2015),
        ("rhodes2015", "rhodes2015(outcome, comparison, area)", "standardized mean difference",
         "tau", "LogStudentTTau2 (nu=5)", len(read_table("rhodes2015")), RHODES2015),
        ("bartos2021", "bartos2021(measure)", "SMD, log OR, log RR, RD, log HR", "mu and tau",
         "StudentT + InverseGamma (HalfNormal for RD)", len(read_table("bartos2021")),
         f"{BARTOS2021} (SMD); {BARTOS2023} (OR, RR, RD, HR)"),
    ]
    return pd.DataFrame(rows, columns=["preset", "call", "scale", "parameters", "family",
                                       "cells", "source"])

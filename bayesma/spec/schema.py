"""The spec schema: sections, keys, types, choices and defaults (``docs/guide/specs.md``).

:data:`SCHEMA` is the one description of every key a spec may hold; the parser
(:mod:`bayesma.spec.parse`) checks files against it and the documentation test checks
that every key is documented.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bayesma.priors.parsing import PRESETS as PRIOR_PRESETS

__all__ = [
    "BIAS_SELECTION_TYPES",
    "CLASSICAL_METHODS",
    "CONVERSIONS",
    "DEPENDENT_TYPES",
    "EFFECT_COLUMNS",
    "POOLING_METHODS",
    "STRUCTS",
    "ENGINES",
    "MODEL_TYPES",
    "OUTPUTS",
    "PRESETS",
    "PRIOR_DOC",
    "FILTER_DOC",
    "SCHEMA",
    "Key",
    "Section",
    "is_prior_table",
    "with_defaults",
]

ENGINES = ("exact", "mcmc")
#: Model types of ``[model] type``.
MODEL_TYPES = ("random_effects", "meta_regression", "subgroups", "multilevel", "multivariate",
               "rve")
#: The model types for several effects per study (issue 11).
DEPENDENT_TYPES = ("multilevel", "multivariate", "rve")
#: Variance structures of ``rma_mv(struct=...)`` (metafor's names).
STRUCTS = ("CS", "HCS", "UN", "DIAG", "ID")
#: Selection-model types of ``[bias] selmodel`` (metafor 3.8 ``selmodel``).
BIAS_SELECTION_TYPES = ("stepfun", "beta", "halfnorm", "negexp", "logistic", "power")
#: Pooling methods for 2x2 / count data shown beside the inverse-variance model.
POOLING_METHODS = ("MH", "Peto", "GLMM")
#: Conversions of ``[[effect.convert]]`` (``bm.conv_fivenum``, ``bm.conv_wald``).
CONVERSIONS = ("fivenum", "wald")
#: Output files that ``[outputs]`` switches on or off (all on by default).
OUTPUTS = ("summary", "forest", "funnel", "prior_posterior", "regression", "sensitivity",
           "posterior", "spec", "report")
#: Prior presets allowed in ``{preset = ...}`` with their arguments.
PRESETS: dict[str, tuple[str, ...]] = {
    name: preset.arguments for name, preset in PRIOR_PRESETS.items()}
#: Effect-size columns (metafor's argument names) of ``[effect]``.
EFFECT_COLUMNS = ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i", "ai", "bi", "ci", "di",
                  "ri", "ni", "yi", "vi", "sei", "x1i", "x2i", "t1i", "t2i", "xi", "mi",
                  "ti", "sdi", "r2i")
#: tau² estimators of the classical twin.
CLASSICAL_METHODS = ("EE", "FE", "DL", "HE", "HS", "HSk", "SJ", "ML", "REML", "EB", "PM",
                     "PMM")


@dataclass(frozen=True)
class Key:
    """A leaf key of the schema.

    ``kind`` is one of ``"str"``, ``"int"``, ``"float"`` (ints accepted), ``"bool"``,
    ``"str_list"``, ``"str_or_list"``, ``"prior"``, ``"prior_map"`` (a table of
    name -> prior), ``"prior_or_map"`` (a prior, or a table of level -> prior),
    ``"str_pair"``, ``"float_list"``.
    """

    kind: str
    doc: str = ""
    choices: tuple[Any, ...] | None = None
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class Section:
    """A table of the schema; ``array=True`` for an array of tables (``[[...]]``)."""

    fields: dict[str, Key | Section]
    doc: str = ""
    array: bool = False


PRIOR_DOC = ('a prior: {family = "HalfNormal", sigma = 0.5} or {preset = "rhodes2015", '
             'outcome = ..., comparison = ..., area = ...}, optionally with source = "..." '
             '(its citation or rationale, shown in the report)')
#: What a row filter may contain (parsed by :func:`bayesma.expressions.filter_rows`, never
#: evaluated as Python).
FILTER_DOC = ("a row filter: column names, numbers, strings, comparisons, and/or/not, "
              "in [...]")

_EFFECT_FIELDS: dict[str, Key | Section] = {
    "measure": Key("str", "effect measure (metafor's names: SMD, MD, OR, RR, ...)"),
    **{c: Key("str", f"column holding metafor's {c}") for c in EFFECT_COLUMNS},
    "label": Key("str", "column of study labels"),
    "participants": Key("str_or_list", "column(s) summed to count participants "
                        "(default n1i + n2i, or ni)"),
    "add": Key("float", "value added to the counts chosen by `to` (default: metafor's, "
               "1/2, or 0 for AS, PHI, RTET, PAS, PFT, IRS, IRFT, IRSD)", minimum=0.0),
    "to": Key("str", "which 2x2 tables get `add`", choices=("only0", "all", "if0all", "none"),
              default="only0"),
    "drop00": Key("bool", "drop tables with no events in both groups", default=False),
    "vtype": Key("str", "variance type (metafor's vtype)", default="LS"),
    "favours": Key("str_pair", "labels under the forest plot axis, left and right "
                   "(default from lower_is_better)"),
    "lower_is_better": Key("bool", "true when lower values of the outcome are better (pain, "
                           "deaths): effects below the null then favour group 1; states the "
                           "direction of benefit in the report"),
    "convert": Section({
        "type": Key("str", "the conversion: fivenum (bm.conv_fivenum: means and SDs from "
                    "medians, quartiles and ranges) or wald (bm.conv_wald: yi and vi from "
                    "confidence intervals or p-values)", choices=CONVERSIONS),
        "min": Key("str", "fivenum: column of minima"),
        "q1": Key("str", "fivenum: column of first quartiles"),
        "median": Key("str", "fivenum: column of medians"),
        "q3": Key("str", "fivenum: column of third quartiles"),
        "max": Key("str", "fivenum: column of maxima"),
        "n": Key("str", "fivenum and wald: column of sample sizes"),
        "method": Key("str", "fivenum: estimation method (conv_fivenum's method)"),
        "out": Key("str", "wald: column of point estimates (on the reported scale)"),
        "ci_lb": Key("str", "wald: column of lower confidence limits"),
        "ci_ub": Key("str", "wald: column of upper confidence limits"),
        "zval": Key("str", "wald: column of z statistics"),
        "pval": Key("str", "wald: column of two-sided p-values"),
        "transf": Key("str", "wald: transformation applied to out and the limits first "
                      "(e.g. \"log\" for reported ratios)"),
        "ci_level": Key("float", "wald: level of the reported intervals", default=0.95,
                        minimum=0.5, maximum=0.999),
        "into": Key("str_pair", "names of the two columns written: fivenum [mean, sd] "
                    "(e.g. [\"m1i\", \"sd1i\"]), wald [yi, vi]"),
    }, doc="conversions applied before the effect sizes, only where the target values "
           "are missing", array=True),
}

_MODEL_FIELDS: dict[str, Key | Section] = {
    "type": Key("str", "model", choices=MODEL_TYPES, default="random_effects"),
    "mods": Key("str_or_list", "moderator formula ('~ ablat') or list of columns "
                "(meta_regression)"),
    "by": Key("str_or_list", "grouping column (subgroups); a list such as [\"duration\", "
              "\"age_group\"] gives every column its own subgroup analysis (classical test "
              "for subgroup differences, Bayesian subgroup model, forest plot, report "
              "section), and type = 'subgroups' models the first"),
    "tau": Key("str", "subgroups: one tau per level (separate fits, as the forest plot's "
               "subtotals) or one tau shared by all levels",
               choices=("per_level", "shared"), default="per_level"),
    "level": Key("float", "probability of intervals (CrI and CI)", default=0.95,
                 minimum=0.5, maximum=0.999),
    "parameterization": Key("str", "how MCMC sees the study effects",
                            choices=("marginal", "noncentered", "centered"),
                            default="marginal"),
    # several effects per study (issue 11)
    "cluster": Key("str", "multilevel, multivariate, rve: column of study (cluster) ids"),
    "effect_id": Key("str", "multilevel: column of effect ids within studies (default: "
                     "one id per row)"),
    "outcome": Key("str", "multivariate: column of outcome names (one mu and tau each)"),
    "random": Key("str", "multilevel: the random-effects formula, e.g. "
                  "\"~ 1 | study/esid\" (default from cluster and effect_id)"),
    "within_rho": Key("float", "multilevel, multivariate: correlation of the sampling errors "
                      "of effects in one study; V is built with bm.vcalc (default: "
                      "independent, V diagonal)", minimum=-0.999, maximum=0.999),
    "struct": Key("str", "multivariate: variance structure of the classical twin "
                  "(rma_mv struct)", choices=STRUCTS, default="UN"),
    "rho": Key("float", "rve: assumed within-study correlation of the CORR working model",
               default=0.8, minimum=0.0, maximum=1.0),
    "rho_sensitivity": Key("float_list", "rve: values of rho for the sensitivity table",
                           default=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0), minimum=0.0,
                           maximum=1.0),
    "modelweights": Key("str", "rve: working model, correlated (CORR) or hierarchical "
                        "(HIER) effects", choices=("CORR", "HIER"), default="CORR"),
    "small": Key("bool", "rve: Tipton's (2015) small-sample corrections", default=True),
}

_PRIOR_FIELDS: dict[str, Key | Section] = {
    "mu": Key("prior", "prior of the pooled effect (intercept); " + PRIOR_DOC),
    "tau": Key("prior_or_map", "prior of the between-study SD tau; " + PRIOR_DOC
               + "; multilevel and multivariate models take one prior per level or "
               "outcome as a table level = prior (or one prior for all)"),
    "beta": Key("prior", "prior of each moderator coefficient; " + PRIOR_DOC),
    "eta": Key("float", "multivariate: shape of the LKJ prior of the between-study "
               "correlations (1: uniform)", minimum=0.001),
}

_SENS_FIELDS: dict[str, Key | Section] = {
    "prior_sets": Key("str_list", "ready-made tau prior sets swept with the exact engine",
                      choices=("weakly informative", "empirical", "vague"), default=()),
    "tau_priors": Key("prior_map", "named tau priors to compare (name = prior)"),
    "mu_priors": Key("prior_map", "named mu priors to compare (name = prior)"),
    "leave1out": Key("bool", "leave-one-out, classical and Bayesian", default=True),
    "psense": Key("bool", "power-scaling prior/likelihood sensitivity", default=True),
    "subsets": Section({
        "name": Key("str", "name of the subset analysis"),
        "exclude": Key("str", "row filter selecting the rows to EXCLUDE, e.g. "
                       "\"rob == 'high'\"; " + FILTER_DOC),
        "rule": Key("str", "a built-in rule instead of exclude",
                    choices=("rob", "outliers", "influential", "rstudent")),
    }, doc="re-run the analysis without some studies", array=True),
}

_BIAS_FIELDS: dict[str, Key | Section] = {
    "funnel": Key("bool", "funnel plot", default=True),
    "contours": Key("bool", "contour-enhanced funnel plot", default=True),
    "egger": Key("bool", "Egger's regression test", default=True),
    "egger_predictor": Key("str", "predictor of the Egger-type test",
                           choices=("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv"),
                           default="sei"),
    "trimfill": Key("bool", "trim-and-fill", default=True),
    "ranktest": Key("bool", "Begg's rank correlation test", default=True),
    "fsn": Key("bool", "Rosenthal's fail-safe N", default=False),
    "selmodel": Key("str_list", "selection models (bm.selmodel) fitted to the classical "
                    "random-effects model", choices=BIAS_SELECTION_TYPES, default=()),
    "steps": Key("float_list", "selmodel: p-value cut points of the step function",
                 default=(0.025, 1.0), minimum=0.0, maximum=1.0),
    "alternative": Key("str", "selmodel: direction of the one-sided p-values",
                       choices=("greater", "less", "two.sided"), default="greater"),
    "pet_peese": Key("bool", "PET-PEESE (bm.pet_peese), with its lines on the funnel plot",
                     default=False),
    "bma": Key("bool", "Bayesian model averaging over effect and heterogeneity "
               "(bm.bma) with inclusion Bayes factors", default=False),
    "robma": Key("bool", "robust Bayesian model averaging (bm.RoBMA): effect x "
                 "heterogeneity x publication bias", default=False),
    "robma_seed": Key("int", "robma: random seed of the weight-function integrals",
                      minimum=0),
}

_PRISMA_FIELDS: dict[str, Key | Section] = {
    **{k: Key("count_map", doc) for k, doc in (
        ("databases", "records identified per database: a number or a table source = n"),
        ("registers", "records identified per register: a number or a table source = n"),
        ("excluded_reasons", "reports excluded, a table reason = n"),
        ("other_sources", "other methods: records per source (websites, citation "
         "searching, ...), a table source = n"),
        ("other_excluded_reasons", "other methods: reports excluded, a table reason = n"))},
    **{k: Key("int", doc, minimum=0) for k, doc in (
        ("duplicates", "duplicate records removed"),
        ("automation", "records marked as ineligible by automation tools"),
        ("other_removed", "records removed for other reasons"),
        ("screened", "records screened (default: identified - removed)"),
        ("screen_excluded", "records excluded at screening"),
        ("sought", "reports sought for retrieval"),
        ("not_retrieved", "reports not retrieved"),
        ("assessed", "reports assessed for eligibility"),
        ("new_studies", "(new) studies included in the review"),
        ("new_reports", "reports of the (new) included studies"),
        ("previous_studies", "studies included in the previous version of the review"),
        ("previous_reports", "reports of those studies"),
        ("total_studies", "total studies included (previous + new)"),
        ("total_reports", "total reports of included studies"),
        ("other_sought", "other methods: reports sought for retrieval"),
        ("other_not_retrieved", "other methods: reports not retrieved"),
        ("other_assessed", "other methods: reports assessed for eligibility"))},
}

#: The spec schema: sections, keys, types and defaults.
SCHEMA = Section({
    "title": Key("str", "title of the report"),
    "description": Key("str", "a paragraph shown under the title"),
    "data": Section({
        "dataset": Key("str", "a bundled dataset (bayesma datasets)"),
        "path": Key("str", "CSV file, relative to the spec"),
        "outcome": Key("str", "RevMan analysis id (\"CMP-001.01\") when path is a RevMan "
                       "review (.rm5, data package .zip or RevMan's analysis CSV)"),
        "filter": Key("str", "row filter keeping rows, e.g. \"year >= 1960\"; " + FILTER_DOC),
        "citation": Key("str", "citation of the data (shown in the report)"),
    }, doc="where the study table comes from"),
    "effect": Section(_EFFECT_FIELDS, doc="effect size and its columns"),
    "model": Section(_MODEL_FIELDS, doc="the model"),
    "priors": Section(_PRIOR_FIELDS, doc="priors (defaults per measure when left out)"),
    "sampler": Section({
        "engine": Key("str", "Bayesian engine", choices=ENGINES, default="exact"),
        "draws": Key("int", "draws per chain (exact: i.i.d. draws saved per chain)",
                     default=1000, minimum=1),
        "tune": Key("int", "tuning iterations per chain (MCMC)", default=1000, minimum=0),
        "chains": Key("int", "chains", default=4, minimum=1),
        "cores": Key("int", "chains run in parallel (default: all cores)", minimum=1),
        "seed": Key("int", "random seed (recorded in the report)", minimum=0),
        "sampler": Key("str", "NUTS implementation", choices=("nutpie", "pymc", "numpyro"),
                       default="nutpie"),
        "target_accept": Key("float", "NUTS target acceptance", minimum=0.5, maximum=0.999),
    }, doc="engine and sampler settings"),
    "classical": Section({
        "method": Key("str", "tau² estimator of the classical twin", choices=CLASSICAL_METHODS,
                      default="REML"),
        "test": Key("str", "inference of the classical twin", choices=("z", "t", "knha", "adhoc"),
                    default="knha"),
        "pooling": Key("str_list", "2x2 / count data: pooled estimates shown beside the "
                       "inverse-variance model (bm.rma_mh, bm.rma_peto, bm.rma_glmm)",
                       choices=POOLING_METHODS, default=()),
        "glmm_model": Key("str", "GLMM pooling: fixed (UM.FS) or random (UM.RS) study "
                          "intercepts", choices=("UM.FS", "UM.RS"), default="UM.FS"),
    }, doc="the classical twin"),
    "sensitivity": Section(_SENS_FIELDS, doc="sensitivity analyses"),
    "bias": Section(_BIAS_FIELDS, doc="small-study and publication bias checks"),
    "outputs": Section({
        **{o: Key("bool", f"write the {o} output", default=True) for o in OUTPUTS},
        "formats": Key("str_list", "file formats of the forest plot",
                       choices=("png", "pdf", "svg"), default=("png", "pdf")),
    }, doc="which files to write"),
    "prisma": Section(_PRISMA_FIELDS, doc="counts of the PRISMA 2020 flow diagram drawn in "
                      "the report (bm.prisma_flow)"),
    "rob": Section({
        "tool": Key("str", "risk-of-bias tool of the judgement columns",
                    choices=("rob2", "robins-i", "robins-e", "quadas-2", "generic"),
                    default="rob2"),
        "domains": Key("str_list", "columns of the domain judgements, in order (default: "
                       "D1, D2, ... or every text column of judgements)"),
        "overall": Key("str", "column of the overall judgement (\"\" for none)",
                       default="overall"),
        "study": Key("str", "column of study labels (default: the effect's label column)"),
        "forest": Key("bool", "risk-of-bias dots beside the forest plots", default=True),
    }, doc="risk-of-bias judgements in the study table: traffic-light and summary figures "
           "(bm.rob_plot) in the report"),
    "grade": Section({
        "assumed_risk": Key("float", "assumed control risk for the absolute effects per "
                            "1,000 (default: the median control-group risk)",
                            minimum=0.0, maximum=1.0),
        "start": Key("str", "starting certainty: randomized trials high, observational low",
                     choices=("high", "low"), default="high"),
        "thresholds": Key("float_list", "two thresholds of an appreciable effect on the "
                          "natural scale (default for ratio measures 0.75, 1.25)"),
        "ratings": Key("table", "the reviewers' GRADE ratings: a table per outcome name of "
                       "risk_of_bias, inconsistency, indirectness, imprecision, "
                       "publication_bias = \"not serious\" | \"serious\" | \"very serious\""),
        "comments": Key("table", "a comment per outcome name (outcome = \"text\")"),
    }, doc="the GRADE summary-of-findings table in the report (bm.summary_of_findings)"),
    "outcomes": Section({
        "name": Key("str", "outcome name (required)"),
        "description": Key("str", "a sentence shown in the report"),
        "filter": Key("str", "row filter keeping this outcome's rows; " + FILTER_DOC),
        "effect": Section(_EFFECT_FIELDS),
        "model": Section(_MODEL_FIELDS),
        "priors": Section(_PRIOR_FIELDS),
        "sensitivity": Section(_SENS_FIELDS),
        "bias": Section(_BIAS_FIELDS),
    }, doc="several outcomes from one table", array=True),
})



def with_defaults(values: dict[str, Any], section: Key | Section) -> dict[str, Any]:
    """``values`` with the section's defaults filled in for the keys not given."""
    if not isinstance(section, Section):
        raise TypeError(f"expected a Section, got {type(section).__name__}")
    out = {k: (v.default if isinstance(v, Key) else None) for k, v in section.fields.items()}
    out.update(values)
    return out


def is_prior_table(v: Any) -> bool:
    """True for one prior (``{family = ...}`` or ``{preset = ...}``), False for a table of
    level = prior (``[priors] tau`` of multilevel and multivariate models)."""
    return isinstance(v, dict) and ("family" in v or "preset" in v or not v or any(
        not isinstance(x, dict) for x in v.values()))

"""Exceptions and warnings raised by bayesma.

Every input problem is a :class:`BayesmaError` (a ``ValueError``), so
``except ValueError`` keeps working for callers that do not import bayesma's types.
:class:`DataError` names the offending column and row.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence


class BayesmaError(ValueError):
    """Base class of bayesma's input and specification errors."""


class DataError(BayesmaError):
    """A problem with the study table, naming the column and the rows.

    Attributes
    ----------
    column : str or None
        The offending column.
    rows : list
        DataFrame index labels of the offending rows (may be empty).
    """

    def __init__(
        self,
        message: str,
        *,
        column: str | None = None,
        rows: Sequence[Hashable] = (),
    ) -> None:
        super().__init__(message)
        self.column = column
        self.rows = list(rows)


class TooFewStudiesError(BayesmaError):
    """A method needs more studies (or more studies than parameters) than given."""


class ConvergenceError(BayesmaError):
    """An iterative estimator failed to converge."""


class ImproperPosteriorError(BayesmaError):
    """The chosen priors give an improper posterior for these data."""


class SpecError(BayesmaError):
    """An analysis specification (models/*.toml) is invalid."""


class BayesmaWarning(UserWarning):
    """Base class of bayesma's warnings."""


class DroppedRowsWarning(BayesmaWarning):
    """Rows were dropped (for example a missing moderator); the message names them."""


class SamplingWarning(BayesmaWarning):
    """MCMC diagnostics (divergences, r_hat, ESS) indicate an unreliable fit."""


class PriorScaleWarning(BayesmaWarning):
    """A prior is informative relative to a moderator's range or the scale of the effects."""


class NonIntegerCountWarning(BayesmaWarning):
    """Counts or sample sizes that are not whole numbers (accepted, as metafor does).

    The message names the column and the rows, so a data-entry error (a mean typed into
    a count column) is seen rather than silently analysed.
    """


class SmallKWarning(BayesmaWarning):
    """Wald-type (``test="z"``) inference with fewer than 5 studies.

    Normal-theory intervals ignore the uncertainty of tau² and undercover badly with few
    studies; ``test="knha"`` or a Bayesian analysis (``bm.exact_posterior``) is advised.
    """

"""Interval methods of a coverage study, named by text such as "REML-knha" or "Bayes-HalfNormal(1)".

A name is ``"<estimator>-<test>"`` (a confidence interval of mu from ``bm.batch_rma``:
estimators of ``bm.batch_rma``, tests ``z``, ``t``, ``knha``/``hksj``, ``adhoc``),
``"Bayes-<Family>(args)"`` (the equal-tailed credible interval of mu from
``bm.batch_exact`` with that tau prior, e.g. ``HalfNormal(0.5)``, ``HalfCauchy(1)``), or
either with the prefix ``"PI-"``: the prediction interval of a new study's effect
(``"PI-REML"`` is ``"PI-REML-z"``, metafor's ``predict()``; ``"PI-Bayes-..."`` is the
posterior predictive interval of theta_new).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bayesma.batch.tau2 import BATCH_METHODS
from bayesma.classical.tau2 import canonical_method
from bayesma.errors import DataError
from bayesma.priors import PRIOR_FAMILIES, Prior

__all__ = ["IntervalMethod", "parse_method"]

_TESTS = {"z": "z", "t": "t", "knha": "knha", "hksj": "knha", "adhoc": "adhoc"}
_BAYES = re.compile(r"^bayes\s*-\s*([A-Za-z]\w*)\s*\(([^()]*)\)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class IntervalMethod:
    """One interval method: its label, engine and settings.

    Attributes
    ----------
    label : str
        The name as given.
    engine : {"rma", "exact"}
        ``bm.batch_rma`` or ``bm.batch_exact``.
    predict : bool
        True for a prediction interval of theta_new (else a confidence/credible interval
        of mu).
    estimator, test : str
        tau² estimator and test of an ``"rma"`` method.
    tau_prior : Prior or None
        tau prior of an ``"exact"`` method.
    """

    label: str
    engine: str
    predict: bool
    estimator: str = ""
    test: str = ""
    tau_prior: Prior | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple:
        """The batch run this method reads from (methods sharing it share one run)."""
        if self.engine == "rma":
            return ("rma", self.estimator, self.test)
        return ("exact", repr(self.tau_prior))


def _family(name: str) -> type[Prior]:
    for fam, cls in PRIOR_FAMILIES.items():
        if fam.lower() == name.lower() and cls.param == "tau":
            return cls
    tau_families = sorted(f for f, c in PRIOR_FAMILIES.items() if c.param == "tau")
    raise DataError(f"unknown tau prior family {name!r} in a method name; choose one of "
                    f"{', '.join(tau_families)}", column="methods")


def parse_method(name: str) -> IntervalMethod:
    """An :class:`IntervalMethod` from a name such as ``"PM-knha"`` or ``"PI-REML"``.

    Raises
    ------
    DataError
        An unknown estimator, test or prior family, or malformed prior arguments.
    """
    if not isinstance(name, str) or not name.strip():
        raise DataError(f"a method must be a name such as 'REML-knha', got {name!r}",
                        column="methods")
    text = name.strip()
    predict = text.upper().startswith("PI-")
    body = text[3:].strip() if predict else text
    m = _BAYES.match(body)
    if m is not None:
        cls = _family(m.group(1))
        try:
            args = [float(a) for a in m.group(2).split(",") if a.strip()]
        except ValueError:
            raise DataError(f"method {name!r}: prior arguments must be numbers",
                            column="methods") from None
        try:
            prior = cls(*args)
        except (TypeError, ValueError) as err:
            raise DataError(f"method {name!r}: {err}", column="methods") from None
        return IntervalMethod(text, "exact", predict, tau_prior=prior)
    if body.lower().startswith("bayes"):
        raise DataError(f"method {name!r}: write a Bayesian method as "
                        "'Bayes-HalfNormal(0.5)' (a tau prior family with its arguments)",
                        column="methods")
    parts = [p.strip() for p in body.split("-")]
    if len(parts) == 1 and predict:
        parts.append("z")
    if len(parts) != 2 or parts[1].lower() not in _TESTS:
        raise DataError(f"method {name!r}: expected '<estimator>-<test>' with test one of "
                        f"{', '.join(_TESTS)} (e.g. 'REML-knha'), 'PI-<estimator>' or "
                        "'Bayes-<Family>(args)'", column="methods")
    try:
        est = canonical_method(parts[0])
    except DataError as err:
        raise DataError(f"method {name!r}: {err}", column="methods") from None
    if est not in BATCH_METHODS:
        raise DataError(f"method {name!r}: bm.batch_rma has no {est!r}; choose one of "
                        f"{', '.join(BATCH_METHODS)}", column="methods")
    return IntervalMethod(text, "rma", predict, estimator=est, test=_TESTS[parts[1].lower()])

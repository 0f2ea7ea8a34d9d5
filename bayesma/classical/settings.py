"""Settings shared by the classical fits: the test name and the confidence level."""

from __future__ import annotations

import numbers

from bayesma.errors import DataError

__all__ = ["TESTS", "canonical_test", "parse_level"]

#: inference for the coefficients (metafor's ``test``; ``adhoc`` is metafor 3.8's
#: Knapp-Hartung with the scale factor truncated below at 1)
TESTS = ("z", "t", "knha", "adhoc")
_TEST_ALIASES = {"hk": "knha", "hksj": "knha", "knapp-hartung": "knha", "hartung-knapp": "knha"}


def canonical_test(test: str) -> str:
    """Normalise a test name (``"z"``, ``"t"``, ``"knha"``, ``"adhoc"``; ``"hksj"``/``"hk"``
    alias knha)."""
    t = str(test).strip().lower()
    t = _TEST_ALIASES.get(t, t)
    if t not in TESTS:
        raise DataError(f"unknown test {test!r}; choose 'z', 't', 'knha' or 'adhoc'")
    return t


def parse_level(level: float) -> float:
    """A confidence level as a fraction: ``0.95`` or, as metafor accepts, ``95``.

    Only numbers are accepted. A string such as ``"95%"`` or ``"0.95"`` raises a
    :class:`~bayesma.errors.DataError` (a BayesmaError) rather than being parsed, so a
    level read from text is converted by the caller where its meaning is known.

    Raises
    ------
    DataError
        ``level`` is not a real number, or not in (0, 1) after dividing values > 1 by 100.
    """
    if type(level) is float and 0.0 < level < 1.0:  # the common case, without the ABC check
        return level
    if isinstance(level, bool) or not isinstance(level, numbers.Real):
        raise DataError(
            f"level must be a number such as 0.95 (or 95, as in metafor), got "
            f"{type(level).__name__} {level!r}"
        )
    lv = float(level)
    if lv > 1:  # metafor accepts 95 for 0.95
        lv /= 100.0
    if not 0 < lv < 1:
        raise DataError(f"level must be in (0, 1) (or a percentage), got {level!r}")
    return lv

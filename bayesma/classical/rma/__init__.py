"""Random- and equal-effects meta-analysis and meta-regression (metafor 3.8 ``rma.uni``).

:func:`rma` takes a study table; :func:`fit_arrays` takes arrays (the fast path used by
leave-one-out, cumulative analyses, subgroups and trim-and-fill). Both return an
:class:`RMAResult`.

Modules: ``fitting.py`` (:func:`rma`, :func:`fit_arrays`, :class:`RMAResult`),
``estimation.py`` (the numbers given tau², with the formulas and their sources),
``result.py`` (the result's fields), ``printing.py`` (metafor's printout),
``prediction.py`` (``predict``). tau² itself comes from :mod:`bayesma.classical.tau2`.
"""

from bayesma.classical.rma.fitting import RMAResult, fit_arrays, require_rma_result, rma
from bayesma.classical.rma.result import RMAResultBase
from bayesma.classical.settings import TESTS, canonical_test

__all__ = [
    "TESTS",
    "RMAResult",
    "RMAResultBase",
    "canonical_test",
    "fit_arrays",
    "require_rma_result",
    "rma",
]

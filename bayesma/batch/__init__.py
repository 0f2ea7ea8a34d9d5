"""Many meta-analyses at once: vectorised ``rma`` and exact posteriors over groups.

``batch_rma`` and ``batch_exact`` take a long table (one row per study, ``by=`` naming
the meta-analysis) or a :class:`BatchData` of padded R x k arrays, compute every group in
numpy arrays (groups the vectorised path cannot settle exactly go through the per-call
engine), and spread chunks over local processes or a Dask cluster
(:mod:`bayesma.parallel`). ``batch_fit`` fits an MCMC model to every group, reusing the
compiled model, with the same scale-out.
"""

from bayesma.batch.exact import EXACT_COLUMNS, batch_exact, exact_row
from bayesma.batch.inputs import BatchData, batch_from_arrays, batch_from_long
from bayesma.batch.mcmc import FIT_COLUMNS, batch_fit
from bayesma.batch.rma import BATCH_TESTS, batch_rma
from bayesma.batch.tau2 import BATCH_METHODS

__all__ = ["BATCH_METHODS", "BATCH_TESTS", "EXACT_COLUMNS", "FIT_COLUMNS", "BatchData",
           "batch_exact", "batch_fit", "batch_from_arrays", "batch_from_long", "batch_rma",
           "exact_row"]

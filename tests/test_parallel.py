"""Chunked execution: serial, local processes and a Dask LocalCluster give the same results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesma.batch import batch_exact, batch_from_arrays, batch_rma
from bayesma.errors import BayesmaError
from bayesma.parallel import chunk_seeds, run_chunks
from bayesma.priors import HalfNormal, Normal


def _square(x):
    return x * x


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(3)
    R, kmax = 30, 6
    k = rng.integers(1, kmax + 1, R)
    mask = np.arange(kmax)[None, :] < k[:, None]
    v = rng.uniform(0.02, 0.4, (R, kmax))
    y = rng.normal(0.1, np.sqrt(v + 0.05))
    return batch_from_arrays(y, v, mask, ids=[f"ma{i}" for i in range(R)])


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    cl = distributed.Client(cluster)
    yield cl
    cl.close()
    cluster.close()


def test_run_chunks_keeps_order():
    assert run_chunks(_square, [3, 1, 2], backend="serial") == [9, 1, 4]
    assert run_chunks(_square, [3, 1, 2], backend="local", workers=2) == [9, 1, 4]


def test_chunk_seeds_are_reproducible():
    assert chunk_seeds(5, 3) == chunk_seeds(5, 3)
    assert len(set(chunk_seeds(5, 3))) == 3


def test_backend_errors():
    with pytest.raises(BayesmaError, match="unknown backend"):
        run_chunks(_square, [1], backend="mpi")
    with pytest.raises(BayesmaError, match="Dask"):
        run_chunks(_square, [1], backend="local", client=object())


def test_local_processes_equal_serial(batch):
    a = batch_rma(batch, method="REML", test="knha", backend="serial")
    b = batch_rma(batch, method="REML", test="knha", backend="local", chunk_size=10)
    pd.testing.assert_frame_equal(a, b)


def test_dask_equals_serial(batch, client):
    a = batch_rma(batch, method="PM", test="knha", backend="serial")
    b = batch_rma(batch, method="PM", test="knha", client=client, chunk_size=7)
    pd.testing.assert_frame_equal(a, b)
    c = batch_rma(batch, method="PM", test="knha", backend="dask", chunk_size=11)
    pd.testing.assert_frame_equal(a, c)  # the default client: the one of the fixture
    priors = {"mu_prior": Normal(0, 1), "tau_prior": HalfNormal(0.5)}
    sub = batch.take(np.arange(12))
    e1 = batch_exact(sub, **priors, backend="serial")
    e2 = batch_exact(sub, **priors, client=client, chunk_size=5)
    pd.testing.assert_frame_equal(e1, e2)

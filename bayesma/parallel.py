"""Running independent chunks of work serially, in local processes or on a Dask cluster.

:func:`run_chunks` maps a picklable function over a list of chunks and returns the
results in the order of the chunks, whichever backend runs them, so a batch gives the
same numbers on one core, on local processes (:mod:`multiprocessing`) and on a Dask
cluster (``dask.distributed``, an optional dependency: ``pip install bayesma[dask]``).
Work that draws random numbers takes one seed per chunk from :func:`chunk_seeds`, so
the draws do not depend on where or in which order the chunks run.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from bayesma.errors import BayesmaError

__all__ = ["BACKENDS", "chunk_seeds", "progress_on", "run_chunks", "worker_count"]

#: execution backends of :func:`run_chunks`
BACKENDS = ("serial", "local", "dask")


def worker_count() -> int:
    """Local worker processes: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def chunk_seeds(seed: int | None, n: int) -> list[int]:
    """One independent seed per chunk from ``seed`` (numpy's ``SeedSequence.spawn``)."""
    children = np.random.SeedSequence(seed).spawn(n)
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]


def progress_on(progress: bool | None) -> bool:
    """Whether to show a progress bar: ``progress`` if given, else only on a terminal."""
    if progress is None:
        stream = sys.stderr
        return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())
    return bool(progress)


class _NoBar:
    """Stand-in for a disabled progress bar."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _start_method() -> str:
    """``fork`` (fast: workers inherit the loaded modules) unless this process runs
    threads, where forking is unsafe; then ``forkserver`` (``spawn`` off POSIX)."""
    if os.name != "posix":
        return "spawn"
    return "fork" if threading.active_count() == 1 else "forkserver"


def _dask_client(client: Any) -> Any:
    """The given client, else the default one, else a new local cluster's client."""
    if client is not None:
        return client
    try:
        from distributed import Client, default_client  # optional dependency
    except ImportError:
        raise BayesmaError(
            "backend='dask' needs dask and distributed: pip install 'bayesma[dask]'"
        ) from None
    try:
        return default_client()
    except ValueError:  # no client yet: start a local cluster
        return Client()


def run_chunks(func: Callable[[Any], Any], chunks: Sequence[Any], *,
               backend: str | None = None, client: Any = None,
               workers: int | None = None, progress: bool | None = None,
               desc: str = "chunks") -> list[Any]:
    """``[func(c) for c in chunks]``, serially, in local processes or on Dask.

    Parameters
    ----------
    func : callable
        A picklable function of one chunk (module-level, or a ``functools.partial`` of
        one) for the local and Dask backends.
    chunks : sequence
        The pieces of work (picklable).
    backend : {None, "serial", "local", "dask"}
        None: ``"dask"`` when ``client`` is given, serial for a single chunk or a
        single CPU, else ``"local"`` (a process pool with one worker per CPU).
    client : dask.distributed.Client, optional
        Dask client to submit the chunks to (implies ``backend="dask"``). With
        ``backend="dask"`` and no client, the default client is used, or a local
        cluster is started.
    workers : int, optional
        Local processes (default: the CPUs available).
    progress : bool, optional
        Progress bar over finished chunks (None: only when standard error is a terminal).
    desc : str
        Label of the progress bar.

    Returns
    -------
    list
        The results, in the order of ``chunks``.
    """
    chunks = list(chunks)
    if backend is not None and backend not in BACKENDS:
        raise BayesmaError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if client is not None:
        if backend not in (None, "dask"):
            raise BayesmaError(f"client= runs on Dask; it cannot be combined with "
                               f"backend={backend!r}")
        backend = "dask"
    n_workers = int(workers) if workers is not None else worker_count()
    if backend is None:
        backend = "serial" if len(chunks) <= 1 or n_workers <= 1 else "local"
    method = _start_method()  # before tqdm, whose monitor thread would count
    # no tqdm object at all without a bar: it starts a monitor thread, after which
    # forking worker processes is unsafe (and the slow forkserver would be used)
    bar = tqdm(total=len(chunks), desc=desc) if progress_on(progress) else _NoBar()
    try:
        if backend == "serial":
            out = []
            for c in chunks:
                out.append(func(c))
                bar.update()
            return out
        if backend == "local":
            # a multiprocessing Pool forks all its workers before starting its own
            # threads (ProcessPoolExecutor forks from a process running its manager
            # thread, which stalls or deadlocks); imap keeps the order of the chunks
            ctx = multiprocessing.get_context(method)
            with warnings.catch_warnings():
                # Python 3.12 warns on fork when native (BLAS) threads exist; those hold
                # no Python locks, and "fork" is what multiprocessing itself defaults to
                warnings.filterwarnings("ignore", message=".*multi-threaded.*fork",
                                        category=DeprecationWarning)
                pool = ctx.Pool(processes=max(1, min(n_workers, len(chunks))))
            with pool:
                out = []
                for res in pool.imap(func, chunks):
                    out.append(res)
                    bar.update()
                return out
        cl = _dask_client(client)
        futures = cl.map(func, chunks, pure=False)
        from distributed import as_completed  # optional dependency, present with a client

        for _ in as_completed(futures):
            bar.update()
        return cl.gather(futures)
    finally:
        bar.close()

"""Worker processes on this machine for cohort jobs: a Dask ``LocalCluster``, with a share of the cores.

``--jobs N`` (N > 1) runs the cases on :func:`local_cluster`, a ``distributed.LocalCluster`` of N
worker processes with one thread each, through the same ``distributed.Client`` code path as
``--scheduler`` (:mod:`.dask_executor`). The workers are spawned once per run (not forked: torch
and VTK are not safe to fork once initialised) and import the job's modules once each
(:class:`.dask_executor.CohortWorkerSetup`, :func:`prepare_worker`), with ``max(1, cores // workers)``
ITK (and, where imported, torch) threads, so that together they use the cores once. A case whose
worker dies is run once more on another worker, then fails with ``KilledWorker``. A worker exits at
once when the process that started the cluster ends, also after a ``kill -9`` (distributed's child
processes watch a pipe from their parent). As with any multiprocessing, a script that starts workers
needs an ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger(__name__)

#: How often the local cluster reruns a case whose worker died, before it fails with ``KilledWorker``.
ALLOWED_FAILURES = 1
#: Environment variables that set the thread count of numpy's BLAS and OpenMP in a worker.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def available_cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def threads_per_worker(jobs: int, cores: int | None = None) -> int:
    """Threads each of ``jobs`` workers may use so that together they do not oversubscribe."""
    return max(1, (cores or available_cores()) // max(1, jobs))


def timed_call(task: Callable[[Any], Any], case: Any) -> tuple[Any, float]:
    """``task(case)`` and its duration in seconds."""
    started = time.perf_counter()
    result = task(case)
    return result, time.perf_counter() - started


def worker_modules(task: Callable[..., Any], preload: Sequence[str]) -> list[str]:
    """The modules every worker imports first: ``preload``, SimpleITK and the task's own module."""
    function = getattr(task, "func", task)  # a functools.partial's function
    candidates = (*preload, "SimpleITK", getattr(function, "__module__", None))
    return [m for m in dict.fromkeys(candidates) if m and m != "__main__"]


def prepare_worker(threads: int, modules: Sequence[str]) -> None:
    """Import the worker's modules once and limit ITK (and torch) to ``threads`` threads."""
    for module in modules:
        importlib.import_module(module)
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


@contextmanager
def _process_state_kept(variables: Sequence[str]) -> Iterator[None]:
    """Keep distributed's INFO lines out of the terminal and restore ``variables`` of the environment.

    distributed's INFO lines reach the terminal through the root logger's handler when it is first
    imported after logging is configured (as by the command line); its nanny sets the workers'
    environment variables in this process's environment before it spawns them.
    """
    distributed_logger = logging.getLogger("distributed")
    level = distributed_logger.level
    saved = {name: os.environ.get(name) for name in variables}
    distributed_logger.setLevel(max(logging.WARNING, distributed_logger.getEffectiveLevel()))
    try:
        yield
    finally:
        distributed_logger.setLevel(level)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def local_cluster(workers: int) -> Iterator[Any]:
    """A ``distributed.Client`` of a ``LocalCluster`` of ``workers`` one-thread processes on 127.0.0.1.

    A worker holds only the case it runs (no queue of its own: a worker's death then counts against
    that case alone) and has no memory limit of its own (as worker processes had before: one large
    case may use more than its share). No dashboard (the scheduler's HTTP endpoint on a free port of
    127.0.0.1); distributed's INFO lines stay out of the terminal; the cluster is closed on exit.
    """
    import dask
    from distributed import Client, LocalCluster

    threads = threads_per_worker(workers)
    settings: dict[str, Any] = {
        "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
        "distributed.scheduler.worker-saturation": 1.0,
    }
    settings.update({f"distributed.nanny.pre-spawn-environ.{name}": threads for name in THREAD_VARIABLES})
    variables = [*dask.config.get("distributed.nanny.pre-spawn-environ"), "PYTHONHASHSEED"]
    logger.info("starting %d worker processes, %d threads each", workers, threads)
    with _process_state_kept(variables):
        with dask.config.set(settings):
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                memory_limit=0,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                scheduler_kwargs={"dashboard": False},
                silence_logs=logging.WARNING,
            )
        with cluster, Client(cluster, set_as_default=False) as client:
            from .dask_executor import InterruptsToTheCommand

            client.register_plugin(InterruptsToTheCommand())
            yield client

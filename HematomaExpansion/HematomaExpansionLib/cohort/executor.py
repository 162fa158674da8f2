"""Worker processes for cohort jobs: never forked from the caller, preloaded, with a share of the cores.

Worker processes are never forked from the calling process (torch and VTK are not safe to fork
once initialised). On Linux they fork from a "forkserver" process that has imported the task's
module and the ``preload`` modules once but run nothing; on macOS (where forking after system
frameworks are loaded is unsafe) and Windows they are spawned, and each imports everything itself.
On 2 cores, 5 small cases with jobs=2 took 14-15 s with the preloaded forkserver and 30-50 s with
spawn, the difference being the import of torch, pyradiomics and slicer-core in each worker. As
with any multiprocessing, a script that starts workers needs an ``if __name__ == "__main__":``
guard. Each worker gets ``max(1, cores // workers)`` ITK (and, where imported, torch) threads, so
that the workers together use the cores once.

Workers exit with the process that started the pool: a daemon thread in each waits for that
process to end (its sentinel, ``multiprocessing.parent_process()``) and ends the worker, so that a killed run
leaves no workers behind. The forkserver and the resource tracker then exit on their own, since the
workers held the last ends of their pipes.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import logging
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

logger = logging.getLogger(__name__)

#: Exit status of a worker whose starting process is gone.
EXIT_ORPHANED = 70


def available_cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def threads_per_worker(jobs: int, cores: int | None = None) -> int:
    """Threads each of ``jobs`` workers may use so that together they do not oversubscribe."""
    return max(1, (cores or available_cores()) // max(1, jobs))


def _exit_with_parent() -> None:
    """Wait until the process that started the pool is gone, then end this worker at once."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()  # waits on the parent's sentinel, which closes when the parent ends
        os._exit(EXIT_ORPHANED)


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


def _start_worker(threads: int, modules: Sequence[str]) -> None:
    """Exit with the parent, import the worker's modules (a forkserver's children have them), limit threads."""
    threading.Thread(target=_exit_with_parent, name="exit-with-parent", daemon=True).start()
    prepare_worker(threads, modules)


def worker_pool(
    workers: int, task: Callable[..., Any], preload: Sequence[str] = ()
) -> concurrent.futures.ProcessPoolExecutor:
    """A pool of ``workers`` processes for ``task`` (see the module docstring); use it as a context manager.

    ``preload`` names modules the workers need (heavy imports), imported once before they start.
    """
    modules = worker_modules(task, preload)
    if sys.platform.startswith("linux"):
        context = multiprocessing.get_context("forkserver")
        # Takes effect when this process first starts its forkserver; later calls reuse that server.
        context.set_forkserver_preload(modules)
    else:
        context = multiprocessing.get_context("spawn")
    threads = threads_per_worker(workers)
    logger.info("starting %d worker processes, %d threads each", workers, threads)
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_start_worker, initargs=(threads, modules)
    )


def map_in_order(
    task: Callable[..., Any],
    calls: Sequence[tuple[Any, ...]],
    jobs: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[Any]:
    """``task(*args)`` for each of ``calls``, in this process (``jobs`` 1) or in a :func:`worker_pool`
    of ``jobs`` workers; the results in the order of ``calls``; ``progress(done, total)`` after each."""
    results: dict[int, Any] = {}

    def done(index: int, result: Any) -> None:
        results[index] = result
        if progress:
            progress(len(results), len(calls))

    if jobs == 1:
        for index, args in enumerate(calls):
            done(index, task(*args))
    else:
        with worker_pool(jobs, task) as pool:
            futures = {pool.submit(task, *args): index for index, args in enumerate(calls)}
            for future in concurrent.futures.as_completed(futures):
                done(futures[future], future.result())
    return [results[index] for index in range(len(calls))]

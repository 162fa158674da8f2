"""The cores of cohort workers: how many a worker may use, and what each imports once.

Workers (those of ``--jobs N``'s local cluster and of a cluster given by ``--scheduler``,
:mod:`.dask_executor`) import the job's modules once each (:func:`prepare_worker`) and get
``max(1, cores // workers)`` ITK (and, where imported, torch) threads, so that together they use
the cores once.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

logger = logging.getLogger(__name__)


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

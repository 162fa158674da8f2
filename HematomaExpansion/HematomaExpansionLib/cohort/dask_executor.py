"""Cohort jobs on an existing Dask cluster (``--scheduler tcp://HOST:PORT``) through ``distributed.Client``.

The client (the process that runs the cohort) submits one task per case and writes each result to
the cache as it arrives; ``--jobs N`` takes the same path on a local cluster
(:func:`.executor.local_cluster`). Inputs and the output folder must be on storage the workers
share: at start every worker must be able to write the output folder, and a worker that cannot
read a case's files fails that case with a message saying so. A case whose worker
dies is run again on another worker as often as the scheduler's
``distributed.scheduler.allowed-failures`` allows (1 in the tests: once), then fails with
``KilledWorker``; a failing case never blocks the others. Each worker imports the job's modules
once (:class:`CohortWorkerSetup`) and limits its threads so that the workers of one host use its
cores once.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from distributed import Client, as_completed
from distributed.comm.addressing import get_address_host
from distributed.diagnostics.plugin import WorkerPlugin

from ..common.errors import InputError
from .executor import available_cores, prepare_worker, timed_call, worker_modules

logger = logging.getLogger(__name__)

SCHEDULER_PATTERN = re.compile(r"(tcp|tls)://[^\s:/]+:\d{1,5}")
CONNECT_TIMEOUT_S = 20


def connect(address: str) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``; ``InputError`` if it is unusable."""
    if not SCHEDULER_PATTERN.fullmatch(address):
        raise InputError(f"--scheduler {address!r}: expected tcp://HOST:PORT")
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except OSError as error:
        raise InputError(f"cannot reach the Dask scheduler at {address}: {error}") from error
    if not client.scheduler_info().get("workers"):
        client.close()
        raise InputError(f"the Dask scheduler at {address} has no workers")
    return client


def describe(client: Any) -> list[str]:
    """Lines for the user: scheduler, workers, dashboard, how often a case survives a worker death."""
    info = client.scheduler_info()
    threads = sum(w.get("nthreads", 1) for w in info["workers"].values())
    allowed = client.run_on_scheduler(_allowed_failures)
    has_dashboard = info.get("services", {}).get("dashboard") and client.run_on_scheduler(_has_bokeh)
    dashboard = client.dashboard_link if has_dashboard else None
    return [
        f"scheduler: {info.get('address', client.scheduler.address)} "
        f"({len(info['workers'])} workers, {threads} threads)",
        f"dashboard: {dashboard}"
        if dashboard
        else "dashboard: not available (the scheduler runs without one, or without bokeh)",
        f"a case whose worker dies is retried on another worker up to {allowed} time(s)",
    ]


def _has_bokeh() -> bool:
    return importlib.util.find_spec("bokeh") is not None


def _allowed_failures(dask_scheduler: Any) -> int:
    return dask_scheduler.allowed_failures


class CohortWorkerSetup(WorkerPlugin):
    """Worker plugin: import the job's modules once per worker and limit its threads."""

    name = "hematoma-expansion-cohort"

    def __init__(self, modules: Sequence[str], workers_by_host: dict[str, int]) -> None:
        self.modules = list(modules)
        self.workers_by_host = dict(workers_by_host)

    def setup(self, worker: Any) -> None:
        """Called by each worker, once."""
        workers = self.workers_by_host.get(get_address_host(worker.address), 1) * max(
            1, worker.state.nthreads
        )
        prepare_worker(max(1, available_cores() // workers), self.modules)

    def teardown(self, worker: Any) -> None:
        """Nothing to release."""


class InterruptsToTheCommand(WorkerPlugin):
    """Local worker plugin: Ctrl-C in the terminal stops the command (which closes the cluster), not
    each worker; a LocalCluster's workers share the command's terminal and would each print a
    ``KeyboardInterrupt`` traceback. Not for workers of a cluster of the user's own."""

    name = "hematoma-expansion-interrupts"

    def setup(self, worker: Any) -> None:
        """Called by each worker, once: ignore SIGINT (only the main thread may set a handler)."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def _check_folder_writable(folder: str) -> str | None:
    """On a worker: None, or why it cannot write ``folder``."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".worker-check-"):
            return None
    except OSError as error:
        return f"{socket.gethostname()}: {error}"


def prepare_workers(
    client: Any, task: Callable[..., Any], preload: Sequence[str], out_dir: Path | None
) -> None:
    """Register :class:`CohortWorkerSetup` and check that every worker can write ``out_dir`` (if given)."""
    if out_dir is not None:
        _check_workers_can_write(client, Path(out_dir))
    hosts: dict[str, int] = {}
    for worker in client.scheduler_info()["workers"].values():
        hosts[worker["host"]] = hosts.get(worker["host"], 0) + 1
    client.register_plugin(CohortWorkerSetup(worker_modules(task, preload), hosts))


def _check_workers_can_write(client: Any, out_dir: Path) -> None:
    """``InputError`` naming the workers that cannot write ``out_dir`` (created here if missing)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    problems = {
        worker: problem
        for worker, problem in client.run(_check_folder_writable, str(out_dir.resolve())).items()
        if problem
    }
    if problems:
        worker, problem = next(iter(problems.items()))
        raise InputError(
            f"{len(problems)} Dask worker(s) cannot write the output folder {out_dir} "
            f"(it must be on storage the workers share); {worker}: {problem}"
        )


def run_case_on_worker(task: Callable[[Any], Any], case: Any) -> tuple[Any, float]:
    """On a worker: check that it can read the case's files, then :func:`.executor.timed_call`."""
    for role, path in case.input_files().items():
        if not os.access(path, os.R_OK):
            raise InputError(
                f"worker {socket.gethostname()} cannot read the {role} input {path} "
                "(inputs must be on storage the workers share)"
            )
    return timed_call(task, case)


def submit_cases(client: Any, task: Callable[[Any], Any], cases: Iterable[Any]) -> dict[Any, Any]:
    """One task per case (retried only after a worker death, see the module docstring): future -> case."""
    return {client.submit(run_case_on_worker, task, case, pure=False): case for case in cases}


def submit_calls(
    client: Any, function: Callable[..., Any], calls: Iterable[tuple[Any, ...]]
) -> dict[Any, int]:
    """One task per argument tuple: future -> its index in ``calls``."""
    return {client.submit(function, *args, pure=False): i for i, args in enumerate(calls)}


def completed(client: Any, futures: Iterable[Any]) -> Iterator[Any]:
    """Futures in the order they finish (``distributed.as_completed``)."""
    return iter(as_completed(list(futures), loop=client.loop))


def cancel(client: Any, futures: Iterable[Any]) -> None:
    """Cancel what has not finished (a strict stop or an interruption)."""
    client.cancel(list(futures))

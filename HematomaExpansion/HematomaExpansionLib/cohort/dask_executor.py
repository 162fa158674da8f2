"""Cohort jobs on Dask through ``distributed.Client``: a local cluster for ``--jobs N``
(:func:`local_cluster`) or an existing one (``--scheduler tcp://HOST:PORT``, :func:`connect`).

The client (the process that runs the cohort) submits one task per case and writes each result to
the cache as it arrives. ``--jobs N`` (N > 1) starts a ``distributed.LocalCluster`` of N worker
processes with one thread each on 127.0.0.1; they are spawned once per run (not forked: torch and
VTK are not safe to fork once initialised), rerun a case whose worker died once, and exit at once
when the process that started them ends, also after a ``kill -9`` (distributed's child processes
watch a pipe from their parent). As with any multiprocessing, a script that starts them needs an
``if __name__ == "__main__":`` guard. Inputs and the output folder must be on storage the workers
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
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dask
from distributed import Client, LocalCluster, as_completed
from distributed.comm.addressing import get_address_host
from distributed.diagnostics.plugin import WorkerPlugin

from ..common.errors import InputError
from .executor import available_cores, prepare_worker, threads_per_worker, timed_call, worker_modules

logger = logging.getLogger(__name__)

#: How often the local cluster reruns a case whose worker died, before it fails with ``KilledWorker``.
ALLOWED_FAILURES = 1
#: Environment variables that set the thread count of numpy's BLAS and OpenMP in a worker.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
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
            client.register_plugin(InterruptsToTheCommand())
            try:
                yield client
            except KeyboardInterrupt:
                # Workers closed after a Ctrl-C may log a failed heartbeat with its traceback: not news.
                client.run(_quiet_distributed_logs)
                raise


def _quiet_distributed_logs() -> None:
    """On a worker: from now on, distributed logs nothing below CRITICAL."""
    logging.getLogger("distributed").setLevel(logging.CRITICAL)

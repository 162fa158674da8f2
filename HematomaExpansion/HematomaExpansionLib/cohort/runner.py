"""Run one job per case of a cohort: in worker processes, cached, resumable, failures collected.

The runner knows nothing about what a case computes. A case names its input files and the other
fields its result depends on; ``process_case(case)`` returns a JSON-ready dict, cached per case
under a key of its inputs and the caller's ``cache_key`` (:mod:`.cache`).

A rerun with the same key reads the cache and computes nothing; a changed input or configuration
recomputes that case; an interrupted run resumes where it stopped, since every finished case is
written at once (atomically). Failed cases are not cached: they are listed in
``<out_dir>/errors.csv`` and retried by the next run. A full disk stops the run (its ``OSError`` is
raised; the cases finished before it stay cached).

Cases run in this process (``jobs`` 1) or on Dask workers through one code path: a
``distributed.Client`` of a local cluster of ``jobs`` worker processes
(:func:`.dask_executor.local_cluster`, which exit when the process that runs the cohort is killed) or,
with a ``scheduler``, the user's client of an existing cluster (:mod:`.dask_executor`); this
process writes the cache and ``errors.csv`` as results arrive. :func:`map_in_order` runs plain
calls the same way (phantom and sign-phantom generation, the sign validation).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..common.atomic import is_disk_full, write_csv_atomic
from ..common.errors import InputError
from .cache import RunnableCase, cache_path, case_cache_key, read_cached, write_cached
from .executor import available_cores, timed_call
from .manifest import CASE_ID_PATTERN
from .progress import ProgressBar

logger = logging.getLogger(__name__)

ERRORS_FILE = "errors.csv"
ERRORS_COLUMNS = ("case_id", "error_type", "message")

CaseJob = Callable[[Any], dict[str, Any]]


@dataclass(frozen=True)
class CaseFailure:
    """A case that raised: its ID, the exception type and the one-line message."""

    case_id: str
    error_type: str
    message: str


@dataclass
class CohortRunResult:
    """Results of the successful cases (in input order), failures, and what the run did."""

    results: dict[str, dict[str, Any]]
    failures: list[CaseFailure]
    n_cached: int
    n_computed: int
    elapsed_s: float
    errors_path: Path


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _strict_error(case_id: str, error: Exception) -> Exception:
    if isinstance(error, InputError):
        return InputError(f"case '{case_id}': {_one_line(error)}")
    return RuntimeError(f"case '{case_id}' failed with {type(error).__name__}: {_one_line(error)}")


def _check_case_ids(cases: Sequence[RunnableCase]) -> None:
    seen: set[str] = set()
    for case in cases:
        if not CASE_ID_PATTERN.fullmatch(case.case_id):
            raise InputError(
                f"case ID {case.case_id!r} cannot name a file: use letters, digits, '.', '_' and '-'"
            )
        if case.case_id.lower() in seen:
            raise InputError(f"case ID {case.case_id!r} occurs twice (IDs are compared ignoring case)")
        seen.add(case.case_id.lower())


def write_errors(out_dir: Path, failures: Iterable[CaseFailure]) -> Path:
    """Write ``errors.csv`` (case_id, error_type, message); a header only when nothing failed."""
    rows = [[f.case_id, f.error_type, f.message] for f in failures]
    return write_csv_atomic(Path(out_dir) / ERRORS_FILE, ERRORS_COLUMNS, rows)


class _Run:
    """One run's results, failures, cache keys and progress bar."""

    def __init__(self, out: Path, config: dict[str, Any], strict: bool, bar: ProgressBar) -> None:
        self.out, self.config, self.strict, self.bar = out, config, strict, bar
        self.results: dict[str, dict[str, Any]] = {}
        self.failures: list[CaseFailure] = []
        self.keys: dict[str, str] = {}

    def fail(self, case_id: str, error: Exception) -> None:
        if is_disk_full(error):
            raise error  # every later case would fail the same way
        self.failures.append(CaseFailure(case_id, type(error).__name__, _one_line(error)))
        logger.warning("case %s failed: %s: %s", case_id, type(error).__name__, _one_line(error))
        logger.debug("case %s traceback", case_id, exc_info=error)
        if self.strict:
            write_errors(self.out, self.failures)
            raise _strict_error(case_id, error) from error

    def finish(self, case: RunnableCase, result: dict[str, Any], seconds: float) -> None:
        path = cache_path(self.out, case.case_id)
        write_cached(path, case.case_id, self.keys[case.case_id], result, seconds)
        self.results[case.case_id] = result
        self.bar.advance(case.case_id)

    def pending(self, cases: Sequence[RunnableCase]) -> list[RunnableCase]:
        """Key every case and take cache hits; returns the cases left to compute."""
        pending = []
        for case in cases:
            try:
                self.keys[case.case_id] = case_cache_key(case, self.config)
            except (InputError, OSError) as error:
                self.fail(case.case_id, error)
                self.bar.advance(case.case_id, computed=False, failed=True)
                continue
            cached = read_cached(cache_path(self.out, case.case_id), case.case_id, self.keys[case.case_id])
            if cached is None:
                pending.append(case)
            else:
                self.results[case.case_id] = cached
                self.bar.advance(case.case_id, computed=False)
        return pending

    def compute_here(self, pending: Sequence[RunnableCase], process_case: CaseJob) -> None:
        for case in pending:
            try:
                result, seconds = timed_call(process_case, case)
            except Exception as error:
                self.fail(case.case_id, error)
                self.bar.advance(case.case_id, failed=True)
            else:
                self.finish(case, result, seconds)

    def compute_in_workers(
        self, pending: Sequence[RunnableCase], process_case: CaseJob, workers: int, preload: Sequence[str]
    ) -> None:
        from .dask_executor import local_cluster

        with local_cluster(workers) as client:
            self.compute_on_cluster(pending, process_case, client, preload)

    def compute_on_cluster(
        self, pending: Sequence[RunnableCase], process_case: CaseJob, client: Any, preload: Sequence[str]
    ) -> None:
        from . import dask_executor

        dask_executor.prepare_workers(client, process_case, ("torch", *preload), self.out)
        logger.info("running %d cases on the Dask cluster %s", len(pending), client.scheduler.address)
        futures = dask_executor.submit_cases(client, process_case, pending)
        try:
            self.collect(futures, dask_executor.completed(client, futures))
        finally:
            # On a strict stop or an interruption, cases not yet finished are dropped.
            dask_executor.cancel(client, futures)

    def collect(self, futures: Mapping[Any, RunnableCase], finished: Iterable[Any]) -> None:
        """Cache each finished future's result or record its failure, in the order they finish."""
        for future in finished:
            case = futures[future]
            try:
                result, seconds = future.result()
            except Exception as error:
                self.fail(case.case_id, error)
                self.bar.advance(case.case_id, failed=True)
            else:
                self.finish(case, result, seconds)


def run_cohort(
    cases: Iterable[RunnableCase],
    process_case: CaseJob,
    out_dir: Path | str,
    jobs: int = 1,
    strict: bool = False,
    cache_key: Mapping[str, Any] | None = None,
    progress: bool = True,
    preload: Sequence[str] = (),
    scheduler: Any = None,
) -> CohortRunResult:
    """Run ``process_case`` on every case not already cached under the same key; see the module docstring.

    ``jobs`` > 1 runs cases on a local cluster of that many worker processes (``process_case`` and
    the cases must then be picklable: a module-level function or a ``functools.partial`` of one);
    ``jobs`` <= 0 uses one per core; 1 runs them in this process. A case that raises an ``Exception`` is
    listed in ``errors.csv`` while the others go on; with ``strict`` the first failure stops the
    run and is raised (an ``InputError`` stays one, others become ``RuntimeError``), with the
    case ID in the message. ``KeyboardInterrupt`` stops the run; finished cases stay cached.
    ``preload`` names modules the workers need (heavy imports), imported once before they start.
    ``scheduler``: a ``distributed.Client``; the cases then run on its cluster and ``jobs`` is ignored.
    """
    cases = list(cases)
    _check_case_ids(cases)
    out = Path(out_dir)
    jobs = available_cores() if jobs <= 0 else jobs
    started = time.perf_counter()
    run = _Run(out, dict(cache_key or {}), strict, ProgressBar(len(cases), enabled=progress))
    try:
        pending = run.pending(cases)
        n_cached = len(run.results)
        logger.info("%d of %d cases cached; %d to compute", n_cached, len(cases), len(pending))
        if pending and scheduler is not None:
            run.compute_on_cluster(pending, process_case, scheduler, preload)
        elif pending and jobs == 1:
            run.compute_here(pending, process_case)
        elif pending:
            run.compute_in_workers(pending, process_case, min(jobs, len(pending)), preload)
    finally:
        run.bar.close()

    errors_path = write_errors(out, run.failures)
    ordered = {case.case_id: run.results[case.case_id] for case in cases if case.case_id in run.results}
    return CohortRunResult(
        results=ordered,
        failures=run.failures,
        n_cached=n_cached,
        n_computed=len(ordered) - n_cached,
        elapsed_s=time.perf_counter() - started,
        errors_path=errors_path,
    )


def map_in_order(
    task: Callable[..., Any],
    calls: Sequence[tuple[Any, ...]],
    jobs: int,
    progress: Callable[[int, int], None] | None = None,
    client: Any = None,
    writes_to: Path | None = None,
) -> list[Any]:
    """``task(*args)`` for each of ``calls``, in the order of ``calls``; ``progress(done, total)`` after each.

    In this process for ``jobs`` 1 without ``client``; otherwise on the Dask cluster of ``client``
    (a ``distributed.Client``) or of a :func:`.dask_executor.local_cluster` of ``jobs`` workers, whose
    every worker must be able to write ``writes_to`` if given. The first call that raises stops
    the others and its exception is raised.
    """
    if client is None and jobs != 1:
        from .dask_executor import local_cluster

        with local_cluster(max(1, min(jobs, len(calls)))) as local:
            return map_in_order(task, calls, jobs, progress, local, writes_to)
    results: dict[int, Any] = {}

    def done(index: int, result: Any) -> None:
        results[index] = result
        if progress:
            progress(len(results), len(calls))

    if client is None:
        for index, args in enumerate(calls):
            done(index, task(*args))
    else:
        from . import dask_executor

        dask_executor.prepare_workers(client, task, (), writes_to)
        futures = dask_executor.submit_calls(client, task, calls)
        try:
            for future in dask_executor.completed(client, futures):
                done(futures[future], future.result())
        finally:
            dask_executor.cancel(client, futures)
    return [results[index] for index in range(len(calls))]

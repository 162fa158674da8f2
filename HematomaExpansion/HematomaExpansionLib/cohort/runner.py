"""Run one job per case of a cohort: in worker processes, cached, resumable, failures collected.

The runner knows nothing about what a case computes. A case names its input files and the other
fields its result depends on; ``process_case(case)`` returns a JSON-ready dict. Each result is
cached as ``<out_dir>/cases/<case_id>.json`` under a key, the SHA-256 of

- the bytes of every input file (all files of a DICOM folder, by relative path),
- the case's other fields (``key_fields()``, e.g. the segment name),
- the caller's ``cache_key`` (the extractor identity, the model, ...).

A rerun with the same key reads the cache and computes nothing; a changed input or configuration
recomputes that case; an interrupted run resumes where it stopped, since every finished case is
written at once (atomically). Failed cases are not cached: they are listed in
``<out_dir>/errors.csv`` and retried by the next run.

Worker processes are never forked from the calling process (torch and VTK are not safe to fork
once initialised). On Linux they fork from a "forkserver" process that has imported
``process_case``'s module and the ``preload`` modules once but run nothing; on macOS (where
forking after system frameworks are loaded is unsafe) and Windows they are spawned, and each
imports everything itself. On 2 cores, 5 small cases with
jobs=2 took 14-15 s with the preloaded forkserver and 30-50 s with spawn, the difference being
the import of torch, pyradiomics and slicer-core in each worker. As with any multiprocessing,
a script that calls :func:`run_cohort` with ``jobs`` > 1 needs an ``if __name__ == "__main__":``
guard. Each worker gets ``max(1, cores // jobs)`` torch and ITK threads, so that the workers
together use the cores once.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import multiprocessing
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from ..common.atomic import write_csv_atomic, write_text_atomic
from ..common.errors import InputError

logger = logging.getLogger(__name__)

CASES_FOLDER = "cases"
ERRORS_FILE = "errors.csv"
ERRORS_COLUMNS = ("case_id", "error_type", "message")
CACHE_SCHEMA = 1
#: Case IDs name cache files: letters, digits, '.', '_' and '-', starting with a letter or digit.
CASE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class RunnableCase(Protocol):
    """What the runner needs of a case."""

    case_id: str

    def input_files(self) -> Mapping[str, Path]:
        """Input files (or DICOM folders) by role, e.g. {"ct": ..., "hematoma": ...}."""
        ...

    def key_fields(self) -> Mapping[str, Any]:
        """Other JSON-ready values the case's result depends on (e.g. the segment name)."""
        ...


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


# --------------------------------------------------------------------------- cache keys


def path_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, or of a folder's files (relative paths and bytes, sorted)."""
    path = Path(path)
    if path.is_file():
        with path.open("rb") as stream:
            return hashlib.file_digest(stream, "sha256").hexdigest()
    if not path.is_dir():
        raise InputError(f"input not found: {path}")
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        digest.update(path_sha256(file).encode())
    return digest.hexdigest()


def case_cache_key(case: RunnableCase, cache_key: Mapping[str, Any]) -> str:
    """The key a case's cached result is valid for (see the module docstring)."""
    document = {
        "schema": CACHE_SCHEMA,
        "inputs": {role: path_sha256(path) for role, path in sorted(case.input_files().items())},
        "fields": dict(case.key_fields()),
        "config": dict(cache_key),
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


def _cache_path(out_dir: Path, case_id: str) -> Path:
    return out_dir / CASES_FOLDER / f"{case_id}.json"


def _read_cached(path: Path, case_id: str, key: str) -> dict[str, Any] | None:
    """The cached result when it exists and was made under ``key``; otherwise None."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        logger.warning("ignoring unreadable cache file %s (%s); the case is recomputed", path, error)
        return None
    if not isinstance(entry, dict) or entry.get("case_id") != case_id or entry.get("cache_key") != key:
        return None
    result = entry.get("result")
    return result if isinstance(result, dict) else None


def _write_cached(path: Path, case_id: str, key: str, result: dict[str, Any], seconds: float) -> None:
    entry = {"case_id": case_id, "cache_key": key, "seconds": seconds, "result": result}
    write_text_atomic(path, json.dumps(entry, indent=1, default=str) + "\n")


# --------------------------------------------------------------------------- progress


def format_duration(seconds: float) -> str:
    """'m:ss', or 'h:mm:ss' from one hour on."""
    total = round(max(0.0, seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBar:
    """One self-overwriting status line, e.g. ``[ 12/235]  5.1%  elapsed 0:32  ETA 10:31  case_017``.

    The ETA extrapolates the time per computed case (cached cases cost nothing) to the cases left.
    Disabled (writes nothing) unless ``enabled`` and the stream is a terminal, or ``force``.
    """

    def __init__(
        self,
        total: int,
        stream: IO[str] | None = None,
        enabled: bool = True,
        force: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        is_tty = getattr(self.stream, "isatty", lambda: False)()
        self.enabled = force or (enabled and is_tty)
        self.clock = clock
        self.started = clock()
        self.done = 0
        self.computed = 0
        self._width = 0

    def line(self, label: str) -> str:
        """The status text after ``done`` of ``total`` cases."""
        elapsed = self.clock() - self.started
        left = self.total - self.done
        eta = format_duration(elapsed / self.computed * left) if self.computed else "-:--"
        percent = 100.0 * self.done / self.total if self.total else 100.0
        digits = len(str(self.total))
        return (
            f"[{self.done:>{digits}}/{self.total}] {percent:4.1f}%  "
            f"elapsed {format_duration(elapsed)}  ETA {eta}  {label}"
        )

    def advance(self, label: str, computed: bool = True) -> None:
        """Count one finished case (``computed`` False for a cache hit) and redraw."""
        self.done += 1
        self.computed += int(computed)
        if self.enabled:
            text = self.line(label)
            self.stream.write("\r" + text.ljust(self._width))
            self.stream.flush()
            self._width = len(text)

    def close(self) -> None:
        """End the status line."""
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()


# --------------------------------------------------------------------------- workers


def available_cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def threads_per_worker(jobs: int, cores: int | None = None) -> int:
    """Threads each of ``jobs`` workers may use so that together they do not oversubscribe."""
    return max(1, (cores or available_cores()) // max(1, jobs))


def _worker_context(process_case: Callable[..., Any], preload: Sequence[str]) -> Any:
    """The multiprocessing context: on Linux a forkserver preloading the case code, else spawn."""
    if not sys.platform.startswith("linux"):
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    function = getattr(process_case, "func", process_case)  # a functools.partial's function
    candidates = ("torch", "SimpleITK", getattr(function, "__module__", None), *preload)
    modules = [m for m in candidates if m and m != "__main__"]
    # Takes effect when this process first starts its forkserver; later calls reuse that server.
    context.set_forkserver_preload(modules)
    return context


def _init_worker(threads: int) -> None:
    """Limit a worker's torch and ITK threads."""
    import SimpleITK as sitk
    import torch

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    torch.set_num_threads(threads)


def _timed(process_case: Callable[[Any], dict[str, Any]], case: Any) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    result = process_case(case)
    return result, time.perf_counter() - started


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _strict_error(case_id: str, error: Exception) -> Exception:
    if isinstance(error, InputError):
        return InputError(f"case '{case_id}': {_one_line(error)}")
    return RuntimeError(f"case '{case_id}' failed with {type(error).__name__}: {_one_line(error)}")


# --------------------------------------------------------------------------- runner


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


def run_cohort(
    cases: Iterable[RunnableCase],
    process_case: Callable[[Any], dict[str, Any]],
    out_dir: Path | str,
    jobs: int = 1,
    strict: bool = False,
    cache_key: Mapping[str, Any] | None = None,
    progress: bool = True,
    preload: Sequence[str] = (),
) -> CohortRunResult:
    """Run ``process_case`` on every case not already cached under the same key; see the module docstring.

    ``jobs`` > 1 runs cases in that many worker processes (``process_case`` and the cases must
    then be picklable: a module-level function or a ``functools.partial`` of one); ``jobs`` <= 0
    uses one per core; 1 runs them in this process. A case that raises an ``Exception`` is
    listed in ``errors.csv`` while the others go on; with ``strict`` the first failure stops the
    run and is raised (an ``InputError`` stays one, others become ``RuntimeError``), with the
    case ID in the message. ``KeyboardInterrupt`` stops the run; finished cases stay cached.
    ``preload`` names modules the workers need (heavy imports), imported once before they start.
    """
    cases = list(cases)
    _check_case_ids(cases)
    out = Path(out_dir)
    config = dict(cache_key or {})
    jobs = available_cores() if jobs <= 0 else jobs
    started = time.perf_counter()

    results: dict[str, dict[str, Any]] = {}
    failures: list[CaseFailure] = []
    keys: dict[str, str] = {}
    pending = []
    bar = ProgressBar(len(cases), enabled=progress)

    def fail(case_id: str, error: Exception) -> None:
        failures.append(CaseFailure(case_id, type(error).__name__, _one_line(error)))
        logger.warning("case %s failed: %s: %s", case_id, type(error).__name__, _one_line(error))
        logger.debug("case %s traceback", case_id, exc_info=error)
        if strict:
            write_errors(out, failures)
            raise _strict_error(case_id, error) from error

    def finish(case: RunnableCase, result: dict[str, Any], seconds: float) -> None:
        _write_cached(_cache_path(out, case.case_id), case.case_id, keys[case.case_id], result, seconds)
        results[case.case_id] = result
        bar.advance(case.case_id)

    try:
        for case in cases:
            try:
                keys[case.case_id] = case_cache_key(case, config)
            except (InputError, OSError) as error:
                fail(case.case_id, error)
                bar.advance(case.case_id, computed=False)
                continue
            cached = _read_cached(_cache_path(out, case.case_id), case.case_id, keys[case.case_id])
            if cached is None:
                pending.append(case)
            else:
                results[case.case_id] = cached
                bar.advance(case.case_id, computed=False)
        n_cached = len(results)
        logger.info("%d of %d cases cached; %d to compute", n_cached, len(cases), len(pending))

        if pending and jobs == 1:
            for case in pending:
                try:
                    result, seconds = _timed(process_case, case)
                except Exception as error:
                    fail(case.case_id, error)
                    bar.advance(case.case_id)
                else:
                    finish(case, result, seconds)
        elif pending:
            context = _worker_context(process_case, preload)
            _run_in_workers(pending, process_case, min(jobs, len(pending)), context, fail, finish, bar)
    finally:
        bar.close()

    errors_path = write_errors(out, failures)
    ordered = {case.case_id: results[case.case_id] for case in cases if case.case_id in results}
    return CohortRunResult(
        results=ordered,
        failures=failures,
        n_cached=n_cached,
        n_computed=len(ordered) - n_cached,
        elapsed_s=time.perf_counter() - started,
        errors_path=errors_path,
    )


def _run_in_workers(
    pending: Sequence[RunnableCase],
    process_case: Callable[[Any], dict[str, Any]],
    workers: int,
    context: Any,
    fail: Callable[[str, Exception], None],
    finish: Callable[[RunnableCase, dict[str, Any], float], None],
    bar: ProgressBar,
) -> None:
    threads = threads_per_worker(workers)
    logger.info("running %d cases in %d worker processes, %d threads each", len(pending), workers, threads)
    executor = concurrent.futures.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(threads,),
    )
    try:
        futures = {executor.submit(_timed, process_case, case): case for case in pending}
        for future in concurrent.futures.as_completed(futures):
            case = futures[future]
            try:
                result, seconds = future.result()
            except Exception as error:
                fail(case.case_id, error)
                bar.advance(case.case_id)
            else:
                finish(case, result, seconds)
    finally:
        # On a strict stop or an interruption, cases not yet started are dropped.
        executor.shutdown(wait=True, cancel_futures=True)

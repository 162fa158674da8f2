"""Benchmark of the cohort executors (``make bench``); prints a report, asserts nothing.

On one synthetic phantom cohort (``phantom-cohort --n N``, its presets as drawn) ``extract-cohort``
runs, in this one process and in turn, on each executor:

  in-process    ``--jobs 1``: the cases in this process, no workers
  pool-2        ``--jobs 2``: the forkserver pool of ``cohort/executor.worker_pool`` (the runner
                before Dask, still the local default)
  local-dask-1  a ``distributed.LocalCluster`` of 1 worker process (1 thread) as ``scheduler``
  local-dask-2  the same with 2 workers
  scheduler-2   ``dask scheduler`` and 2 ``dask worker`` processes (1 thread each) started on
                127.0.0.1, reached by address as ``--scheduler tcp://...`` does

Each executor extracts the whole cohort into a fresh folder (cases per minute, starting the pool or
registering the worker plugin included, and for in-process, which runs first, this process's first
import of slicer-core and pyradiomics; a cluster's own start is reported apart), then reruns it
with every case cached (time per case: hashing the inputs and reading the cache, no worker runs).
Scheduling overhead per case is measured with a job that does nothing, on 8 and on 64 cases:
overhead per case = (t64 - t8) / 56, fixed cost per run = t8 - 8 x that. The load average is
printed before and after each part; on a busy machine every figure is slower and ratios are rough.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from HematomaExpansionLib.cohort.executor import available_cores
from HematomaExpansionLib.reports.text_table import format_table

NOOP_SMALL, NOOP_LARGE = 8, 64
START_TIMEOUT_S = 120


@dataclass
class Measurement:
    """One executor's figures (seconds)."""

    name: str
    description: str
    start_s: float = 0.0
    extract_s: float = 0.0
    cached_s: float = 0.0
    noop_small_s: float = 0.0
    noop_large_s: float = 0.0
    load_before: str = ""
    load_after: str = ""


PEAK_LOAD = [0.0]  # the highest 1-minute load average seen at any of the readings


def _load() -> str:
    loads = os.getloadavg()
    PEAK_LOAD[0] = max(PEAK_LOAD[0], loads[0])
    return " ".join(f"{x:.1f}" for x in loads)


def noop_case(case: Any) -> dict[str, Any]:
    """A job that does nothing (module level, so that worker processes can unpickle it)."""
    return {"case_id": case.case_id}


def _timed(function: Callable[[], Any]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def _worker_env() -> dict[str, str]:
    library = str(Path(__file__).resolve().parents[1] / "HematomaExpansion")
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [library, os.environ.get("PYTHONPATH")])),
    }


@contextmanager
def _local_cluster(workers: int) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )
    client = Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@contextmanager
def _cli_cluster(workers: int, folder: Path) -> Iterator[Any]:
    from distributed import Client

    dask = str(Path(sys.executable).parent / "dask")
    scheduler_file = folder / "scheduler.json"
    log = (folder / "dask.log").open("w")
    options = {"env": _worker_env(), "stdout": log, "stderr": subprocess.STDOUT}
    scheduler = [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
    processes = [subprocess.Popen([*scheduler, "--scheduler-file", str(scheduler_file)], **options)]
    worker = [dask, "worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1", "--no-dashboard"]
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not scheduler_file.exists():
            if time.monotonic() > deadline or processes[0].poll() is not None:
                raise RuntimeError(f"the dask scheduler did not start; see {folder / 'dask.log'}")
            time.sleep(0.1)
        time.sleep(0.2)
        processes += [subprocess.Popen([*worker, "--host", "127.0.0.1"], **options) for _ in range(workers)]
        client = Client(json.loads(scheduler_file.read_text())["address"], set_as_default=False)
        client.wait_for_workers(workers, timeout=START_TIMEOUT_S)
        try:
            yield client
        finally:
            client.close()
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=60)
        log.close()


def _cohort(folder: Path, n: int, seed: int) -> Path:
    from HematomaExpansionLib.cli import main

    code = main(
        [
            "phantom-cohort",
            "--n",
            str(n),
            "--seed",
            str(seed),
            "--out",
            str(folder),
            "--jobs",
            "2",
            "--test-fraction",
            "0.5",
            "--quiet",
        ]
    )
    if code != 0:
        raise RuntimeError(f"phantom-cohort failed with exit code {code}")
    return folder / "manifest.csv"


def _noop_cases(manifest: Path, n: int) -> list[Any]:
    from HematomaExpansionLib.cohort.manifest import read_manifest

    cases = read_manifest(manifest, require_labels=False)
    return [replace(cases[i % len(cases)], case_id=f"noop{i:03d}") for i in range(n)]


def _measure(
    measurement: Measurement, manifest: Path, folder: Path, families: list[str], jobs: int, client: Any
) -> None:
    from HematomaExpansionLib.cohort.runner import run_cohort
    from HematomaExpansionLib.features.families import ExtractionConfig
    from HematomaExpansionLib.mrml.cohort_jobs import extract_cohort

    config = ExtractionConfig(families=tuple(families), backbone_weights="random:0", device="cpu")
    out = folder / measurement.name

    def extract() -> None:
        extraction = extract_cohort(manifest, out, config=config, jobs=jobs, progress=False, scheduler=client)
        if extraction.failures:
            raise RuntimeError(f"{measurement.name}: {extraction.failures[0]}")

    measurement.load_before = _load()
    measurement.extract_s = _timed(extract)
    measurement.cached_s = _timed(extract)
    for n in (NOOP_SMALL, NOOP_LARGE):
        cases, noop_out = _noop_cases(manifest, n), folder / f"{measurement.name}-noop{n}"
        started = time.perf_counter()
        run_cohort(cases, noop_case, noop_out, jobs=jobs, progress=False, scheduler=client)
        setattr(
            measurement, f"noop_{'small' if n == NOOP_SMALL else 'large'}_s", time.perf_counter() - started
        )
    measurement.load_after = _load()


def _run(name: str, description: str, executor: Callable[[], Any], jobs: int, args: Any) -> Measurement:
    measurement = Measurement(name, description)
    print(f"{name}: {description} ... (load {_load()})", flush=True)
    started = time.perf_counter()
    with executor() as client:
        measurement.start_s = time.perf_counter() - started
        _measure(measurement, args.manifest, args.folder, args.families, jobs, client)
    return measurement


@contextmanager
def _none() -> Iterator[None]:
    yield None


def _report(measurements: list[Measurement], n_cases: int) -> None:
    rows = []
    for m in measurements:
        per_case = (m.noop_large_s - m.noop_small_s) / (NOOP_LARGE - NOOP_SMALL)
        rows.append(
            [
                m.name,
                m.start_s if m.start_s >= 0.01 else "-",
                60.0 * n_cases / m.extract_s,
                m.extract_s,
                1000.0 * m.cached_s / n_cases,
                1000.0 * per_case,
                f"{m.noop_small_s - NOOP_SMALL * per_case:.2f}",  # near 0 may come out slightly negative
                f"{m.load_before} -> {m.load_after}",
            ]
        )
    columns = [
        "executor",
        "cluster start s",
        "cases/min",
        "extract s",
        "cached ms/case",
        "overhead ms/case",
        "fixed s/run",
        "load avg (1, 5, 15 min)",
    ]
    print(format_table(columns, rows))
    by_name = {m.name: m for m in measurements}
    if "pool-2" in by_name and "local-dask-2" in by_name:
        pool, dask = by_name["pool-2"].extract_s, by_name["local-dask-2"].extract_s
        print(
            f"\nlocal-dask-2 / pool-2 extraction time: {dask / pool:.2f} (below 1: the LocalCluster is faster)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=8, help="phantom cases (default 8)")
    parser.add_argument("--seed", type=int, default=2, help="phantom-cohort seed (2: 3 of 8 cases expand)")
    parser.add_argument("--families", default="radiomics", help="comma-separated: radiomics, deep")
    parser.add_argument(
        "--executors",
        nargs="+",
        default=["in-process", "pool-2", "local-dask-1", "local-dask-2", "scheduler-2"],
    )
    args = parser.parse_args()
    args.families = args.families.split(",")

    print("# HematomaExpansion cohort-executor benchmark")
    print(f"{available_cores()} cores; load average at start {_load()}; Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="bench_cohort_") as temporary:
        args.folder = Path(temporary)
        started = time.perf_counter()
        args.manifest = _cohort(args.folder / "cohort", args.n, args.seed)
        print(
            f"phantom-cohort --n {args.n}: {time.perf_counter() - started:.1f} s; families {args.families}\n"
        )
        logging.getLogger("distributed").setLevel(logging.WARNING)  # its INFO lines would bury the report
        executors = {
            "in-process": ("--jobs 1, the cases in this process", _none, 1),
            "pool-2": ("--jobs 2, forkserver pool (cohort/executor.py)", _none, 2),
            "local-dask-1": ("distributed.LocalCluster, 1 worker x 1 thread", lambda: _local_cluster(1), 1),
            "local-dask-2": ("distributed.LocalCluster, 2 workers x 1 thread", lambda: _local_cluster(2), 1),
            "scheduler-2": (
                "dask scheduler + 2 dask worker (1 thread) on 127.0.0.1",
                lambda: _cli_cluster(2, args.folder),
                1,
            ),
        }
        measurements = [
            _run(name, executors[name][0], executors[name][1], executors[name][2], args)
            for name in args.executors
        ]
    print()
    _report(measurements, args.n)
    load, cores = _load(), available_cores()
    if PEAK_LOAD[0] > cores:
        print(
            f"\nThe machine was busy: 1-minute load average up to {PEAK_LOAD[0]:.1f} on {cores} cores (at the end"
        )
        print(f"{load}). Every figure is slower than on an idle machine and the ratios are rough.")
    else:
        print(
            f"\nThe machine was not busy: 1-minute load average at most {PEAK_LOAD[0]:.1f} on {cores} cores."
        )


if __name__ == "__main__":
    main()

"""Cohort commands on a real Dask cluster on 127.0.0.1: a scheduler and two one-thread workers.

The features table through ``--scheduler`` equals the local run's; a worker killed with SIGKILL
mid-run costs nothing but time (the case runs again on the other worker), and every case is in
the table once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cohort_fixtures import file_hashes, write_manifest, write_small_case
from HematomaExpansionLib.cli import main

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    **os.environ,
    "PYTHONPATH": str(ROOT / "HematomaExpansion"),
    "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",  # a case survives one worker death
}
START_TIMEOUT_S = 60
N_CASES = 6


def _dask(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "dask"), *args]


def _wait_for_workers(scheduler_file: Path, n: int, processes: list[subprocess.Popen]) -> str:
    """The scheduler's address once it has ``n`` workers."""
    from distributed import Client

    deadline = time.monotonic() + START_TIMEOUT_S
    while not scheduler_file.exists():
        assert all(p.poll() is None for p in processes), "a dask process exited at start"
        assert time.monotonic() < deadline, "the dask scheduler did not start"
        time.sleep(0.1)
    time.sleep(0.2)  # the file is written whole, but give it a moment
    address = json.loads(scheduler_file.read_text())["address"]
    with Client(address, timeout=START_TIMEOUT_S) as client:
        client.wait_for_workers(n, timeout=START_TIMEOUT_S)
    return address


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two one-thread worker processes on 127.0.0.1; yields (address, workers)."""
    scheduler_file = tmp_path / "scheduler.json"
    logs = (tmp_path / "dask.log").open("w")
    common = {"env": ENV, "stdout": logs, "stderr": subprocess.STDOUT, "cwd": tmp_path}
    processes = [
        subprocess.Popen(
            _dask(
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--dashboard-address",
                "127.0.0.1:0",
                "--scheduler-file",
                str(scheduler_file),
            ),
            **common,
        )
    ]
    try:
        for _ in range(2):
            processes.append(
                subprocess.Popen(
                    _dask(
                        "worker",
                        "--scheduler-file",
                        str(scheduler_file),
                        "--nthreads",
                        "1",
                        "--host",
                        "127.0.0.1",
                        "--no-nanny",
                        "--no-dashboard",
                    ),
                    **common,
                )
            )
        address = _wait_for_workers(scheduler_file, 2, processes)
        yield address, processes[1:]
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
        logs.close()


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dask_cohort")
    rows = []
    for i in range(N_CASES):
        write_small_case(folder, f"c{i}", 4.0 + i, seed=i + 1)
        rows.append(
            [f"c{i}", f"c{i}_ct.nrrd", f"c{i}_hematoma.seg.nrrd", i % 2, "train" if i < 4 else "test"]
        )
    return write_manifest(folder / "manifest.csv", ["case_id", "ct", "hematoma", "label", "split"], rows)


def _extract(manifest: Path, out: Path, *more: str) -> list[str]:
    return ["extract-cohort", str(manifest), "--out", str(out), "--families", "radiomics", "--quiet", *more]


def _table_rows(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_extract_cohort_on_the_scheduler_equals_the_local_run(manifest, cluster, tmp_path, capsys):
    address, _ = cluster
    assert main(_extract(manifest, tmp_path / "local")) == 0
    capsys.readouterr()
    assert main(_extract(manifest, tmp_path / "dask", "--scheduler", address)) == 0
    printed = capsys.readouterr().out
    assert f"scheduler: {address}" in printed and "dashboard: not available" in printed
    assert (tmp_path / "dask" / "features.csv").read_text() == (
        tmp_path / "local" / "features.csv"
    ).read_text()
    assert _table_rows(tmp_path / "dask" / "errors.csv") == ["case_id,error_type,message"]
    # A rerun on the cluster computes nothing.
    assert main(_extract(manifest, tmp_path / "dask", "--scheduler", address)) == 0
    assert f"{N_CASES} extracted (0 computed, {N_CASES} cached)" in capsys.readouterr().out


def test_a_worker_killed_mid_run_costs_only_time(manifest, cluster, tmp_path):
    address, workers = cluster
    out = tmp_path / "killed_worker"
    log = (tmp_path / "client.log").open("w")
    client = subprocess.Popen(
        [sys.executable, "-m", "HematomaExpansionLib", *_extract(manifest, out, "--scheduler", address)],
        env=ENV,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 300
        while not list((out / "cases").glob("*.json")):  # the workers are busy
            assert client.poll() is None, (tmp_path / "client.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no case finished"
            time.sleep(0.05)
        assert len(list((out / "cases").glob("*.json"))) < N_CASES  # mid-run
        os.kill(workers[0].pid, signal.SIGKILL)
        assert client.wait(timeout=300) == 0, (tmp_path / "client.log").read_text()[-3000:]
    finally:
        log.close()
        if client.poll() is None:
            client.kill()
            client.wait()
    ids = [line.split(",")[0] for line in _table_rows(out / "features.csv")[1:]]
    assert sorted(ids) == [f"c{i}" for i in range(N_CASES)]  # every case, once
    assert _table_rows(out / "errors.csv") == ["case_id,error_type,message"]


def test_a_bad_scheduler_address_is_a_one_line_error(manifest, tmp_path, capsys):
    assert main(_extract(manifest, tmp_path / "x", "--scheduler", "localhost")) == 2
    assert "expected tcp://HOST:PORT" in capsys.readouterr().err


def test_a_failing_case_on_the_cluster_is_listed_and_the_others_finish(manifest, cluster, tmp_path, capsys):
    address, _ = cluster
    rows = [
        ["c0", "c0_ct.nrrd", "c0_hematoma.seg.nrrd", 1, "train"],
        ["bad", "c1_ct.nrrd", "c1_ct.nrrd", 0, "test"],
    ]
    mixed = write_manifest(
        manifest.parent / "mixed.csv", ["case_id", "ct", "hematoma", "label", "split"], rows
    )
    assert main(_extract(mixed, tmp_path / "mixed", "--scheduler", address)) == 0
    assert "failed: bad:" in capsys.readouterr().out
    assert [line.split(",")[0] for line in _table_rows(tmp_path / "mixed" / "errors.csv")] == [
        "case_id",
        "bad",
    ]
    assert [line.split(",")[0] for line in _table_rows(tmp_path / "mixed" / "features.csv")[1:]] == ["c0"]


def test_phantom_cohort_on_the_scheduler_equals_the_local_one(cluster, tmp_path, capsys):
    address, _ = cluster
    from test_phantom_cohort import _tiny_seed  # 4 quick cases that can be split

    base = ["phantom-cohort", "--n", "4", "--seed", str(_tiny_seed()), "--test-fraction", "0.5", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "local")]) == 0
    assert main([*base, "--out", str(tmp_path / "dask"), "--scheduler", address]) == 0
    assert file_hashes(tmp_path / "dask") == file_hashes(tmp_path / "local")

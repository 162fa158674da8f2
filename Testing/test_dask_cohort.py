"""Cohort commands on a real Dask cluster on 127.0.0.1: a scheduler and two one-thread workers.

``extract-cohort``, ``predict-cohort`` and ``phantom-cohort`` through ``--scheduler`` give the local
run's results (radiomics bitwise, deep features of a ``random:<seed>`` backbone within float64
rounding). A worker killed with SIGKILL while it runs a case (a test worker plugin marks each task
as it starts and finishes, so the kill comes after the start and before the result) costs only
time: the case runs again on the other worker and every case is in the table once. A command
killed with SIGKILL mid-run resumes on the next run, which computes only the cases not yet cached.
One cluster serves the tests that leave it whole; the worker-kill test gets its own.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from distributed.diagnostics.plugin import WorkerPlugin

from cohort_fixtures import file_hashes, small_phantom, write_manifest, write_small_case
from HematomaExpansionLib.cli import main

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    **os.environ,
    # The workers import HematomaExpansionLib, and this module for TaskMarkers.
    "PYTHONPATH": os.pathsep.join([str(ROOT / "HematomaExpansion"), str(ROOT / "Testing")]),
    "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",  # a case survives one worker death
}
START_TIMEOUT_S = 60
RUN_TIMEOUT_S = 600
N_CASES = 6
DEEP_NAMES = ["original_shape_Sphericity", "original_firstorder_Mean", "deep_resnet50_mean_0007"]


class TaskMarkers(WorkerPlugin):
    """Test worker plugin: ``<pid>-<n>.started`` when a worker starts a task, ``.memory``/``.error`` when it ends."""

    name = "test-task-markers"

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.names: dict[Any, str] = {}

    def setup(self, worker: Any) -> None:
        self.pid = os.getpid()

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if finish == "executing":
            self.names[key] = f"{self.pid}-{len(self.names)}"
            Path(self.folder, f"{self.names[key]}.started").touch()
        elif start == "executing" and key in self.names:
            Path(self.folder, f"{self.names[key]}.{finish}").touch()


def _unfinished(markers: Path, pid: int) -> list[str]:
    """Tasks worker ``pid`` has started and not finished."""
    started = {p.stem for p in markers.glob(f"{pid}-*.started")}
    ended = {p.stem for p in markers.glob(f"{pid}-*") if p.suffix != ".started"}
    return sorted(started - ended)


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


@contextmanager
def _dask_cluster(folder: Path) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """A scheduler and two one-thread worker processes on 127.0.0.1: (address, workers)."""
    scheduler_file = folder / "scheduler.json"
    logs = (folder / "dask.log").open("w")
    common = {"env": ENV, "stdout": logs, "stderr": subprocess.STDOUT, "cwd": folder}
    scheduler = ["scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address", "127.0.0.1:0"]
    processes = [subprocess.Popen(_dask(*scheduler, "--scheduler-file", str(scheduler_file)), **common)]
    worker = ["worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1", "--host", "127.0.0.1"]
    try:
        for _ in range(2):
            processes.append(subprocess.Popen(_dask(*worker, "--no-nanny", "--no-dashboard"), **common))
        yield _wait_for_workers(scheduler_file, 2, processes), processes[1:]
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
        logs.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One cluster for the tests that leave it whole."""
    with _dask_cluster(tmp_path_factory.mktemp("dask_cluster")) as running:
        yield running


@pytest.fixture
def fresh_cluster(tmp_path):
    """A cluster of its own, for a test that kills one of its workers."""
    with _dask_cluster(tmp_path) as running:
        yield running


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


@pytest.fixture(scope="module")
def one_case(manifest) -> Path:
    """The first case alone (the deep-feature tests: ResNet50 in float64 is the costly part)."""
    lines = manifest.read_text().splitlines()
    path = manifest.parent / "one.csv"
    path.write_text("\n".join(lines[:2]) + "\n")
    return path


@pytest.fixture(scope="module")
def local_features(manifest, tmp_path_factory) -> str:
    """features.csv of the local run (radiomics), which every cluster run must reproduce."""
    out = tmp_path_factory.mktemp("local_features")
    assert main(_extract(manifest, out)) == 0
    return (out / "features.csv").read_text()


def _extract(manifest: Path, out: Path, *more: str) -> list[str]:
    return ["extract-cohort", str(manifest), "--out", str(out), "--families", "radiomics", "--quiet", *more]


def _table_rows(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _cached(out: Path) -> list[str]:
    """Case IDs cached under ``out`` (not the temporary files of an interrupted write)."""
    return sorted(p.stem for p in (out / "cases").glob("*.json") if not p.name.startswith("."))


def _start_command(arguments: list[str], log: Path) -> subprocess.Popen:
    stream = log.open("w")
    command = [sys.executable, "-m", "HematomaExpansionLib", *arguments]
    process = subprocess.Popen(command, env=ENV, stdout=stream, stderr=subprocess.STDOUT)
    stream.close()
    return process


def _wait_until(condition: Any, process: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not condition():
        assert process.poll() is None, f"the command ended before {what}: {log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_extract_cohort_on_the_scheduler_equals_the_local_run(
    manifest, local_features, cluster, tmp_path, capsys
):
    address, _ = cluster
    assert main(_extract(manifest, tmp_path / "dask", "--scheduler", address)) == 0
    printed = capsys.readouterr().out
    assert f"scheduler: {address}" in printed and "dashboard: not available" in printed
    assert (tmp_path / "dask" / "features.csv").read_text() == local_features
    assert _table_rows(tmp_path / "dask" / "errors.csv") == ["case_id,error_type,message"]
    # A rerun on the cluster computes nothing.
    assert main(_extract(manifest, tmp_path / "dask", "--scheduler", address)) == 0
    assert f"{N_CASES} extracted (0 computed, {N_CASES} cached)" in capsys.readouterr().out


def _numeric_table(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as stream:
        rows = list(csv.reader(stream))
    return rows[0], rows[1:]


def test_deep_features_on_the_scheduler_equal_the_local_run(one_case, cluster, tmp_path):
    address, _ = cluster
    deep = ["--families", "radiomics,deep", "--weights", "random:5"]
    local, dask = tmp_path / "local", tmp_path / "dask"
    assert main([*_extract(one_case, local), *deep]) == 0
    assert main([*_extract(one_case, dask), *deep, "--scheduler", address]) == 0
    columns, local_rows = _numeric_table(local / "features.csv")
    dask_columns, dask_rows = _numeric_table(dask / "features.csv")
    assert dask_columns == columns and len(dask_rows) == len(local_rows) == 1
    deep_columns = [i for i, c in enumerate(columns) if c.startswith("deep_resnet50_")]
    assert len(deep_columns) == 2048
    other = [i for i in range(len(columns)) if i not in set(deep_columns)]
    assert [[r[i] for i in other] for r in dask_rows] == [[r[i] for i in other] for r in local_rows]
    on_cluster = np.array([[float(r[i]) for i in deep_columns] for r in dask_rows])
    here = np.array([[float(r[i]) for i in deep_columns] for r in local_rows])
    assert np.abs(here).max() > 0
    np.testing.assert_allclose(on_cluster, here, rtol=1e-12, atol=1e-12)
    identity = [
        json.loads((o / "features_provenance.json").read_text())["extractor_identity"] for o in (local, dask)
    ]
    assert identity[0] == identity[1]


@pytest.fixture(scope="module")
def fused_bundle(tmp_path_factory):
    """A fused model (two radiomics features and one deep feature of a random:0 ResNet50)."""
    from HematomaExpansionLib.features.pipeline import ExtractionConfig, extract_features
    from prediction_fixtures import train_test_bundle

    phantom = small_phantom(4.0, 1)  # case c0
    config = ExtractionConfig.for_features(DEEP_NAMES, backbone_weights="random:0", device="cpu")
    features = extract_features(phantom.ct, phantom.mask, config).feature_set
    bundle, _ = train_test_bundle(tmp_path_factory.mktemp("model") / "test-fused", features, DEEP_NAMES)
    return bundle


def test_predict_cohort_on_the_scheduler_equals_the_local_run(
    one_case, fused_bundle, cluster, tmp_path, capsys
):
    address, _ = cluster
    common = ["--model", str(fused_bundle.folder), "--device", "cpu", "--quiet"]
    local, dask = tmp_path / "local", tmp_path / "dask"
    assert main(["predict-cohort", str(one_case), "--out", str(local), *common]) == 0
    assert main(["predict-cohort", str(one_case), "--out", str(dask), *common, "--scheduler", address]) == 0
    assert f"scheduler: {address}" in capsys.readouterr().out
    _, local_rows = _numeric_table(local / "predictions.csv")
    columns, dask_rows = _numeric_table(dask / "predictions.csv")
    probability = columns.index("probability")
    assert [r[0] for r in dask_rows] == ["c0"]
    for here, there in zip(local_rows, dask_rows, strict=True):
        assert float(there[probability]) == pytest.approx(float(here[probability]), rel=1e-12, abs=1e-12)
        assert there[:probability] + there[probability + 1 :] == here[:probability] + here[probability + 1 :]
    assert sorted(p.name for p in (dask / "reports").glob("*.html")) == ["c0.html"]
    assert _table_rows(dask / "errors.csv") == ["case_id,error_type,message"]


def test_a_worker_killed_mid_case_costs_only_time(manifest, local_features, fresh_cluster, tmp_path):
    from distributed import Client

    address, workers = fresh_cluster
    markers = tmp_path / "markers"
    markers.mkdir()
    with Client(address, timeout=START_TIMEOUT_S) as client:
        client.register_plugin(TaskMarkers(str(markers)))
    victim = workers[0].pid
    out, log = tmp_path / "killed_worker", tmp_path / "client.log"
    command = _start_command(_extract(manifest, out, "--scheduler", address), log)
    try:
        _wait_until(lambda: _unfinished(markers, victim), command, log, "the worker started a case")
        running = _unfinished(markers, victim)
        os.kill(victim, signal.SIGKILL)
        assert running
        workers[0].wait(timeout=30)
        assert command.wait(timeout=RUN_TIMEOUT_S) == 0, log.read_text()[-3000:]
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
    assert set(running) <= set(_unfinished(markers, victim))  # killed before that case's result
    assert len(_cached(out)) == N_CASES
    assert (out / "features.csv").read_text() == local_features  # every case once, as computed locally
    assert _table_rows(out / "errors.csv") == ["case_id,error_type,message"]
    survivor = workers[1].pid
    assert len(list(markers.glob(f"{survivor}-*.memory"))) >= 1


def test_a_command_killed_mid_run_resumes_with_every_case_once(
    manifest, local_features, cluster, tmp_path, capsys
):
    address, _ = cluster
    out, log = tmp_path / "killed_client", tmp_path / "client.log"
    command = _start_command(_extract(manifest, out, "--scheduler", address), log)
    try:
        _wait_until(lambda: (out / "cases").is_dir() and _cached(out), command, log, "a case was cached")
        os.kill(command.pid, signal.SIGKILL)
        assert command.wait(timeout=30) == -signal.SIGKILL
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
    done = len(_cached(out))
    assert 1 <= done < N_CASES and not (out / "features.csv").exists()
    assert main(_extract(manifest, out, "--scheduler", address)) == 0
    assert f"{N_CASES} extracted ({N_CASES - done} computed, {done} cached)" in capsys.readouterr().out
    assert (out / "features.csv").read_text() == local_features
    assert _cached(out) == [f"c{i}" for i in range(N_CASES)]


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

"""The cohort runner: cache hits, recomputation, resume, failures, strict, workers that die, progress."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest

from HematomaExpansionLib.cohort.cache import path_sha256
from HematomaExpansionLib.cohort.executor import threads_per_worker
from HematomaExpansionLib.cohort.progress import ProgressBar
from HematomaExpansionLib.cohort.runner import map_in_order, run_cohort
from HematomaExpansionLib.common.errors import InputError

CONFIG = {"extractor": "v1"}


@dataclass
class FileCase:
    """A case whose result is computed from the text of its input files."""

    case_id: str
    files: dict[str, Path]
    fields: dict[str, object] = field(default_factory=dict)

    def input_files(self) -> dict[str, Path]:
        return self.files

    def key_fields(self) -> dict[str, object]:
        return self.fields


def summarise(case: FileCase) -> dict[str, object]:
    """Picklable process: text of each file, and the fields."""
    return {
        "texts": {role: path.read_text() for role, path in sorted(case.files.items())},
        "fields": case.fields,
    }


def fail_on(case: FileCase, failing: dict[str, type[Exception]]) -> dict[str, object]:
    """Picklable process that raises the given exception type for some case IDs."""
    if case.case_id in failing:
        raise failing[case.case_id](f"bad input of {case.case_id}\nsecond line")
    return summarise(case)


def torch_threads(case: FileCase) -> dict[str, object]:
    import torch

    return {"threads": torch.get_num_threads()}


def wait_to_be_killed(case: FileCase, markers: Path, victim: str) -> dict[str, object]:
    """Picklable process: on its first run, case ``victim`` writes its worker's PID and waits to be killed."""
    if case.case_id == victim:
        first = markers / "first.pid"
        if not first.exists():
            first.write_text(str(os.getpid()))
            time.sleep(120)
        (markers / "retry.pid").write_text(str(os.getpid()))
    return summarise(case)


def square_and_pid(value: int) -> dict[str, int]:
    """Picklable call: ``value`` squared and the PID that computed it; a negative value raises."""
    if value < 0:
        raise ValueError(f"negative value {value}")
    return {"square": value * value, "pid": os.getpid()}


def exit_on(case: FileCase, doomed: str) -> dict[str, object]:
    """Picklable process that ends its worker process at once (no exception) on case ``doomed``."""
    if case.case_id == doomed:
        os._exit(3)
    return summarise(case)


class Recorder:
    """A process that records which cases it computed (in-process runs only)."""

    def __init__(self, interrupt_at: str | None = None) -> None:
        self.calls: list[str] = []
        self.interrupt_at = interrupt_at

    def __call__(self, case: FileCase) -> dict[str, object]:
        if case.case_id == self.interrupt_at:
            raise KeyboardInterrupt
        self.calls.append(case.case_id)
        return summarise(case)


@pytest.fixture
def cases(tmp_path) -> list[FileCase]:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    made = []
    for i in range(5):
        ct = inputs / f"ct{i}.txt"
        seg = inputs / f"seg{i}.txt"
        ct.write_text(f"ct of case {i}")
        seg.write_text(f"segmentation of case {i}")
        made.append(FileCase(f"case_{i}", {"ct": ct, "hematoma": seg}, {"segment": "Hematoma"}))
    return made


def expected(case: FileCase) -> dict[str, object]:
    return {
        "texts": {"ct": case.files["ct"].read_text(), "hematoma": case.files["hematoma"].read_text()},
        "fields": case.fields,
    }


def read_errors(out: Path) -> list[dict[str, str]]:
    with (out / "errors.csv").open() as stream:
        return list(csv.DictReader(stream))


def test_results_in_order_cached_as_json_and_a_rerun_does_no_work(cases, tmp_path):
    out = tmp_path / "out"
    first = Recorder()
    result = run_cohort(cases, first, out, cache_key=CONFIG)
    assert first.calls == [c.case_id for c in cases]
    assert list(result.results) == [c.case_id for c in cases]
    assert all(result.results[c.case_id] == expected(c) for c in cases)
    assert (result.n_computed, result.n_cached, result.failures) == (5, 0, [])
    entry = json.loads((out / "cases" / "case_3.json").read_text())
    assert entry["result"] == expected(cases[3]) and len(entry["cache_key"]) == 64
    assert (out / "errors.csv").read_text() == "case_id,error_type,message\n"
    assert sorted(p.name for p in (out / "cases").iterdir()) == [f"case_{i}.json" for i in range(5)]

    again = Recorder()
    rerun = run_cohort(cases, again, out, cache_key=CONFIG)
    assert again.calls == []
    assert (rerun.n_computed, rerun.n_cached) == (0, 5)
    assert rerun.results == result.results


def test_changed_input_field_or_config_recomputes_only_what_changed(cases, tmp_path):
    out = tmp_path / "out"
    run_cohort(cases, Recorder(), out, cache_key=CONFIG)

    cases[1].files["hematoma"].write_text("segmentation of case 1, corrected")
    cases[3].fields = {"segment": "ICH"}
    recorder = Recorder()
    result = run_cohort(cases, recorder, out, cache_key=CONFIG)
    assert recorder.calls == ["case_1", "case_3"]
    assert result.results["case_1"]["texts"]["hematoma"] == "segmentation of case 1, corrected"
    assert result.results["case_3"]["fields"] == {"segment": "ICH"}

    recorder = Recorder()
    run_cohort(cases, recorder, out, cache_key={"extractor": "v2"})
    assert recorder.calls == [c.case_id for c in cases]


def test_interrupted_run_resumes_with_the_cases_not_yet_done(cases, tmp_path):
    out = tmp_path / "out"
    interrupted = Recorder(interrupt_at="case_3")
    with pytest.raises(KeyboardInterrupt):
        run_cohort(cases, interrupted, out, cache_key=CONFIG)
    assert interrupted.calls == ["case_0", "case_1", "case_2"]
    assert sorted(p.name for p in (out / "cases").iterdir()) == ["case_0.json", "case_1.json", "case_2.json"]

    resumed = Recorder()
    result = run_cohort(cases, resumed, out, cache_key=CONFIG)
    assert resumed.calls == ["case_3", "case_4"]
    assert all(result.results[c.case_id] == expected(c) for c in cases)


def test_failing_cases_go_to_errors_csv_while_the_others_finish_and_are_retried(cases, tmp_path):
    out = tmp_path / "out"
    process = partial(fail_on, failing={"case_1": InputError, "case_3": ZeroDivisionError})
    result = run_cohort(cases, process, out, cache_key=CONFIG)
    assert list(result.results) == ["case_0", "case_2", "case_4"]
    rows = read_errors(out)
    assert rows == [
        {"case_id": "case_1", "error_type": "InputError", "message": "bad input of case_1 second line"},
        {
            "case_id": "case_3",
            "error_type": "ZeroDivisionError",
            "message": "bad input of case_3 second line",
        },
    ]
    assert [(f.case_id, f.error_type) for f in result.failures] == [
        ("case_1", "InputError"),
        ("case_3", "ZeroDivisionError"),
    ]
    recorder = Recorder()
    run_cohort(cases, recorder, out, cache_key=CONFIG)
    assert recorder.calls == ["case_1", "case_3"]
    assert read_errors(out) == []


def test_unreadable_input_is_a_failure_of_that_case(cases, tmp_path):
    cases[2].files["ct"].unlink()
    recorder = Recorder()
    result = run_cohort(cases, recorder, tmp_path / "out", cache_key=CONFIG)
    assert "case_2" not in recorder.calls and len(result.results) == 4
    assert [(f.case_id, f.error_type) for f in result.failures] == [("case_2", "InputError")]
    assert "ct2.txt" in result.failures[0].message


@pytest.mark.parametrize(
    ("error_type", "raised"), [(InputError, InputError), (ZeroDivisionError, RuntimeError)]
)
def test_strict_stops_at_the_first_failure_and_names_the_case(cases, tmp_path, error_type, raised):
    out = tmp_path / "out"
    calls = []

    def process(case: FileCase) -> dict[str, object]:
        calls.append(case.case_id)
        return fail_on(case, {"case_2": error_type})

    with pytest.raises(raised, match=r"case 'case_2'.*bad input of case_2") as caught:
        run_cohort(cases, process, out, strict=True, cache_key=CONFIG)
    assert isinstance(caught.value.__cause__, error_type)
    assert calls == ["case_0", "case_1", "case_2"]
    assert [row["case_id"] for row in read_errors(out)] == ["case_2"]


def test_worker_processes_give_the_same_results_and_failures_as_in_process(cases, tmp_path):
    process = partial(fail_on, failing={"case_4": InputError})
    serial = run_cohort(cases, process, tmp_path / "serial", jobs=1, cache_key=CONFIG)
    parallel = run_cohort(cases, process, tmp_path / "parallel", jobs=2, cache_key=CONFIG)
    assert parallel.results == serial.results
    assert list(parallel.results) == [c.case_id for c in cases[:4]]
    assert parallel.failures == serial.failures
    assert read_errors(tmp_path / "parallel") == read_errors(tmp_path / "serial")
    threads = run_cohort(cases[:2], torch_threads, tmp_path / "threads", jobs=2)
    assert {r["threads"] for r in threads.results.values()} == {threads_per_worker(2)}


def _kill_when_marked(marker: Path, killed: list[int]) -> None:
    deadline = time.monotonic() + 300
    while not marker.exists() or not marker.read_text():
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)
    killed.append(int(marker.read_text()))
    os.kill(killed[0], signal.SIGKILL)


def _children() -> set[int]:
    """PIDs of this process's live children."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == os.getpid():
            children.add(int(stat.parent.name))
    return children


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_a_local_worker_killed_mid_case_costs_only_time(cases, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    killed: list[int] = []
    killer = threading.Thread(target=_kill_when_marked, args=(markers / "first.pid", killed))
    observed: set[int] = set()
    watcher_done = threading.Event()

    def watch_children() -> None:  # the worker processes of the run's LocalCluster
        while not watcher_done.is_set():
            observed.update(_children())
            time.sleep(0.02)

    watcher = threading.Thread(target=watch_children)
    killer.start()
    watcher.start()
    try:
        process = partial(wait_to_be_killed, markers=markers, victim="case_2")
        result = run_cohort(cases, process, tmp_path / "out", jobs=2, cache_key=CONFIG, progress=False)
    finally:
        watcher_done.set()
        killer.join()
        watcher.join()
    assert killed and killed[0] in observed  # a SIGKILL of one of the run's worker processes, mid-case
    assert int((markers / "retry.pid").read_text()) != killed[0]  # the case ran again on another worker
    assert (result.n_computed, result.failures) == (5, [])
    assert result.results == {c.case_id: expected(c) for c in cases}
    assert read_errors(tmp_path / "out") == []
    assert sorted(p.name for p in (tmp_path / "out" / "cases").iterdir()) == [
        f"case_{i}.json" for i in range(5)
    ]


def test_a_case_that_kills_every_worker_fails_after_one_retry_and_the_others_finish(cases, tmp_path):
    out = tmp_path / "out"
    result = run_cohort(
        cases, partial(exit_on, doomed="case_1"), out, jobs=2, cache_key=CONFIG, progress=False
    )
    assert list(result.results) == ["case_0", "case_2", "case_3", "case_4"]
    assert all(result.results[c] == expected(cases[int(c[-1])]) for c in result.results)
    assert [(f.case_id, f.error_type) for f in result.failures] == [("case_1", "KilledWorker")]
    assert "on 2 different workers" in result.failures[0].message  # the first run and one retry
    assert [(r["case_id"], r["error_type"]) for r in read_errors(out)] == [("case_1", "KilledWorker")]
    rerun = run_cohort(cases, summarise, out, jobs=1, cache_key=CONFIG, progress=False)  # retried next run
    assert (rerun.n_computed, rerun.n_cached, rerun.failures) == (1, 4, [])


def test_map_in_order_gives_the_in_process_results_in_order_on_a_local_cluster():
    calls = [(i,) for i in range(7)]
    seen: list[tuple[int, int]] = []
    here = map_in_order(square_and_pid, calls, jobs=1)
    there = map_in_order(
        square_and_pid, calls, jobs=2, progress=lambda done, total: seen.append((done, total))
    )
    assert [r["square"] for r in there] == [r["square"] for r in here] == [i * i for i in range(7)]
    assert {r["pid"] for r in here} == {os.getpid()} and os.getpid() not in {r["pid"] for r in there}
    assert seen == [(k, 7) for k in range(1, 8)]
    with pytest.raises(ValueError, match="negative value -1"):
        map_in_order(square_and_pid, [(0,), (-1,)], jobs=2)


def test_threads_per_worker_share_the_cores():
    assert [threads_per_worker(j, cores=16) for j in (1, 2, 3, 16, 32)] == [16, 8, 5, 1, 1]
    assert threads_per_worker(2, cores=2) == 1


def test_unreadable_cache_file_is_recomputed(cases, tmp_path):
    out = tmp_path / "out"
    run_cohort(cases, Recorder(), out, cache_key=CONFIG)
    (out / "cases" / "case_0.json").write_text('{"case_id": "case_0", "cache_')
    recorder = Recorder()
    result = run_cohort(cases, recorder, out, cache_key=CONFIG)
    assert recorder.calls == ["case_0"]
    assert result.results["case_0"] == expected(cases[0])


@pytest.mark.parametrize(
    ("ids", "message"),
    [(["ok", "../escape"], "cannot name a file"), (["Case1", "case1"], "occurs twice")],
)
def test_case_ids_must_be_unique_file_names(tmp_path, ids, message):
    file = tmp_path / "x.txt"
    file.write_text("x")
    with pytest.raises(InputError, match=message):
        run_cohort([FileCase(i, {"ct": file}) for i in ids], summarise, tmp_path / "out")


def test_folder_hash_covers_every_file_and_its_name(tmp_path):
    folder = tmp_path / "dicom"
    (folder / "sub").mkdir(parents=True)
    (folder / "1.dcm").write_bytes(b"slice one")
    (folder / "sub" / "2.dcm").write_bytes(b"slice two")
    original = path_sha256(folder)
    (folder / "sub" / "2.dcm").write_bytes(b"slice 2")
    assert path_sha256(folder) != original
    (folder / "sub" / "2.dcm").write_bytes(b"slice two")
    assert path_sha256(folder) == original
    (folder / "sub" / "2.dcm").rename(folder / "sub" / "3.dcm")
    assert path_sha256(folder) != original
    import hashlib

    assert path_sha256(folder / "1.dcm") == hashlib.sha256(b"slice one").hexdigest()


def test_progress_bar_shows_done_failed_cached_rate_and_eta():
    stream = io.StringIO()
    bar = ProgressBar(235, stream=stream, force=True)
    for _ in range(10):
        bar.advance("cached", computed=False)
    bar.advance("case_011", failed=True)
    bar.advance("case_012")
    bar.close()
    assert (bar.done, bar.failed, bar.cached) == (12, 1, 10)
    last = stream.getvalue().split("\r")[-1]
    assert "12/235" in last and "failed=1" in last and "cached=10" in last
    assert "case/s" in last or "s/case" in last  # the rate
    assert "<" in last  # elapsed<ETA


def test_progress_is_silent_when_not_a_terminal_or_disabled():
    stream = io.StringIO()  # not a TTY
    bar = ProgressBar(3, stream=stream)
    bar.advance("a")
    bar.close()
    assert stream.getvalue() == ""
    tty = io.StringIO()
    tty.isatty = lambda: True
    bar = ProgressBar(3, stream=tty, enabled=False)
    bar.advance("a")
    bar.close()
    assert tty.getvalue() == ""

"""Faults a careful user meets: a killed cohort run, --out naming a file, a full disk, a reused result folder.

Each ends as documented: workers exit with the killed run and a rerun resumes to the same table;
a one-line ``error: ...`` with a non-zero exit code and no traceback; all of a run's outputs or
none; one result per folder.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cohort_fixtures import file_hashes, write_manifest, write_small_case
from HematomaExpansionLib.cli import main
from HematomaExpansionLib.cli.arguments import COMMANDS
from HematomaExpansionLib.cohort.cache import cache_path
from HematomaExpansionLib.common import atomic

ROOT = Path(__file__).resolve().parents[1]
SLICE_PNGS = sorted(f"slice_z{offset:+g}mm.png" for offset in (-2, -1, 0, 1, 2))


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "HematomaExpansionLib", *args]


CLI_ENV = {**os.environ, "PYTHONPATH": str(ROOT / "HematomaExpansion")}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """Six small cases with labels and a split: the manifest's path."""
    folder = tmp_path_factory.mktemp("fault_cohort")
    rows = []
    for i in range(6):
        write_small_case(folder, f"c{i}", 4.0 + i, seed=i + 1)
        rows.append(
            [f"c{i}", f"c{i}_ct.nrrd", f"c{i}_hematoma.seg.nrrd", i % 2, "train" if i < 4 else "test"]
        )
    return write_manifest(folder / "manifest.csv", ["case_id", "ct", "hematoma", "label", "split"], rows)


def extract_args(manifest: Path, out: Path, jobs: int = 1) -> list[str]:
    return [
        "extract-cohort",
        str(manifest),
        "--out",
        str(out),
        "--families",
        "radiomics",
        "--no-progress",
    ] + (["--jobs", str(jobs)] if jobs != 1 else [])


# --------------------------------------------------------------------------- a killed cohort run


def parents() -> dict[int, int]:
    """Parent PID of every live process (zombies count as gone)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        state, ppid = text.rsplit(")", 1)[1].split()[:2]
        if state != "Z":
            found[int(stat.parent.name)] = int(ppid)
    return found


def dask_workers(pids: set[int]) -> set[int]:
    """Those of ``pids`` that are worker processes spawned by multiprocessing (a LocalCluster's workers)."""
    found = set()
    for pid in pids:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command:
            found.add(pid)
    return found


def descendants(pid: int) -> set[int]:
    table, found, todo = parents(), set(), [pid]
    while todo:
        parent = todo.pop()
        children = {child for child, ppid in table.items() if ppid == parent}
        found |= children
        todo += children
    return found


def busy_run(manifest: Path, out: Path, log) -> tuple[subprocess.Popen, set[int]]:
    """``extract-cohort --jobs 2`` in a session of its own (as a terminal starts it), once it is busy:
    the local Dask cluster has spawned both workers and one case is done (the others are running);
    the process and the processes it started."""
    run = subprocess.Popen(
        cli_command(*extract_args(manifest, out, jobs=2)),
        env=CLI_ENV,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    recorded: set[int] = set()
    deadline = time.monotonic() + 300
    # A finished case is its cache file; "*.json" would also match a temporary one still being written.
    while not (len(dask_workers(recorded)) >= 2 and any(cache_path(out, f"c{i}").exists() for i in range(6))):
        if run.poll() is not None or time.monotonic() > deadline:
            run.kill()
            pytest.fail("the run ended (or never got busy) before it could be stopped")
        time.sleep(0.05)
        recorded = descendants(run.pid)
    return run, recorded


def assert_all_gone(recorded: set[int]) -> None:
    """Within 10 s none of ``recorded`` is running; those still running are killed and reported."""
    deadline = time.monotonic() + 10
    while (left := recorded & set(parents())) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:  # only the processes this test started
        os.kill(pid, signal.SIGKILL)
    assert not left, f"still running 10 s after the stop: {sorted(left)} of {sorted(recorded)}"


def assert_resumes_to_the_uninterrupted_table(manifest: Path, out: Path, tmp_path: Path) -> None:
    resumed = subprocess.run(
        cli_command(*extract_args(manifest, out, jobs=2)), env=CLI_ENV, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "distributed" not in resumed.stderr  # the local cluster's INFO lines stay out of the terminal
    counts = re.search(r"6 extracted \((\d+) computed, (\d+) cached\), 0 failed", resumed.stdout)
    assert counts and int(counts[1]) >= 1 and int(counts[2]) >= 1, resumed.stdout  # resumed, not redone
    uninterrupted = subprocess.run(
        cli_command(*extract_args(manifest, tmp_path / "whole", jobs=2)), env=CLI_ENV, capture_output=True
    )
    assert uninterrupted.returncode == 0
    assert (out / "features.csv").read_bytes() == (tmp_path / "whole" / "features.csv").read_bytes()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_extract_cohort_leaves_no_worker_and_a_rerun_gives_the_same_table(cohort, tmp_path):
    out = tmp_path / "killed"
    with (tmp_path / "killed.log").open("w") as log:
        run, recorded = busy_run(cohort, out, log)
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
    assert not (out / "features.csv").exists()  # killed mid-run
    assert_all_gone(recorded)
    assert_resumes_to_the_uninterrupted_table(cohort, out, tmp_path)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_of_extract_cohort_is_one_line_with_exit_code_130_and_no_worker_left(cohort, tmp_path):
    out = tmp_path / "interrupted"
    log_path = tmp_path / "interrupted.log"
    with log_path.open("w") as log:
        run, recorded = busy_run(cohort, out, log)
        os.killpg(run.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
        assert run.wait(timeout=60) == 130
    stderr = log_path.read_text()
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, (
        stderr
    )  # none from the workers either
    assert "interrupted: 'extract-cohort' stopped; what it wrote is complete" in stderr
    assert not (out / "features.csv").exists()
    assert_all_gone(recorded)
    assert_resumes_to_the_uninterrupted_table(cohort, out, tmp_path)


# --------------------------------------------------------------------------- --out naming a file


def minimal_argv(command, out: str) -> list[str]:
    """The command with a placeholder for every positional and required option, and ``--out``."""
    argv = [command.name]
    for argument in command.arguments:
        flag = argument.flags[0]
        if flag == "--out":
            argv += [flag, out]
        elif not flag.startswith("-"):
            argv.append("placeholder.csv")
        elif argument.options.get("required"):
            argv += [flag, "placeholder.nrrd"]
    return argv


@pytest.mark.parametrize(
    "command", [c for c in COMMANDS if any("--out" in a.flags for a in c.arguments)], ids=str
)
@pytest.mark.parametrize("inside", [False, True], ids=["file", "inside_file"])
def test_out_naming_an_existing_file_is_a_one_line_error_with_exit_code_2(command, inside, tmp_path, capsys):
    existing = tmp_path / "taken.txt"
    existing.write_text("a user's file")
    out = existing / "sub" if inside else existing
    assert main(minimal_argv(command, str(out))) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: output folder {out} ") and err.count("\n") == 1, err
    assert "is a file" in err and existing.read_text() == "a user's file"


def test_out_naming_a_file_with_good_inputs_is_refused_before_any_work(cohort, tmp_path, capsys):
    existing = tmp_path / "taken.txt"
    existing.write_text("a user's file")
    case_files = [
        "--ct",
        str(cohort.parent / "c0_ct.nrrd"),
        "--hematoma",
        str(cohort.parent / "c0_hematoma.seg.nrrd"),
    ]
    for argv in (["measure", *case_files], extract_args(cohort, tmp_path)[:2]):
        assert main([*argv, "--out", str(existing)]) == 2
        err = capsys.readouterr().err
        assert err == f"error: output folder {existing} is a file; give a folder (new or existing) instead\n"
    assert existing.read_text() == "a user's file" and sorted(p.name for p in tmp_path.iterdir()) == [
        "taken.txt"
    ]


# --------------------------------------------------------------------------- a full disk


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> dict[str, object]:
    return write_small_case(tmp_path_factory.mktemp("fault_case"), "c", 6.0, seed=3)


def predict_args(case: dict[str, object], out: Path, *extra: str) -> list[str]:
    return [
        "predict",
        "--ct",
        str(case["ct"]),
        "--hematoma",
        str(case["hematoma"]),
        "--out",
        str(out),
        *extra,
    ]


def fail_writes_from(monkeypatch, n: int) -> list[Path]:
    """Let the first ``n - 1`` atomic writes succeed and fail every later one with ENOSPC."""
    committed: list[Path] = []
    real_commit = atomic._commit

    def commit(temporary: Path, path: Path) -> None:
        if len(committed) >= n - 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        committed.append(path)
        real_commit(temporary, path)

    monkeypatch.setattr(atomic, "_commit", commit)
    return committed


def assert_one_disk_full_line(err: str, path: Path) -> None:
    assert err.startswith(f"error: the disk is full: could not write {path} "), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_full_disk_during_predict_leaves_no_partial_result_and_keeps_an_earlier_one(
    case, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "result"
    with monkeypatch.context() as patch:
        fail_writes_from(patch, 3)  # prediction.json and model_features.csv are written, report.html fails
        assert main(predict_args(case, out)) == 1
    assert_one_disk_full_line(capsys.readouterr().err, out / "report.html")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no partial outputs, no staging folder

    assert main(predict_args(case, out)) == 0
    capsys.readouterr()
    earlier = file_hashes(out)
    assert sorted(earlier) == ["model_features.csv", "prediction.json", "report.html"] + [
        f"slices/{name}" for name in SLICE_PNGS
    ]
    with monkeypatch.context() as patch:
        fail_writes_from(patch, 5)  # the second slice PNG fails
        assert main(predict_args(case, out)) == 1
    assert_one_disk_full_line(capsys.readouterr().err, out / "slices" / "slice_z-1mm.png")
    assert file_hashes(out) == earlier and sorted(p.name for p in tmp_path.iterdir()) == ["result"]


def test_full_disk_during_extract_cohort_is_one_line_and_a_rerun_resumes(
    cohort, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        fail_writes_from(patch, 3)  # the cache entries of c0 and c1 are written, c2's fails
        assert main(extract_args(cohort, out)) == 1
    assert_one_disk_full_line(capsys.readouterr().err, out / "cases" / "c2.json")
    assert sorted(p.name for p in (out / "cases").iterdir()) == ["c0.json", "c1.json"]  # no temporary
    assert not (out / "features.csv").exists()

    assert main(extract_args(cohort, out)) == 0
    assert "6 extracted (4 computed, 2 cached), 0 failed" in capsys.readouterr().out


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 64 KiB tmpfs (skipped where this process may not mount one)."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    tried = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
    )
    if tried.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {tried.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_full_tmpfs_during_predict_and_extract_cohort(small_tmpfs, case, cohort):
    predicted = subprocess.run(
        cli_command(*predict_args(case, small_tmpfs / "result")), env=CLI_ENV, capture_output=True, text=True
    )
    assert predicted.returncode == 1
    assert predicted.stderr.startswith(f"error: the disk is full: could not write {small_tmpfs / 'result'}/")
    assert predicted.stderr.count("\n") == 1, predicted.stderr
    assert list(small_tmpfs.iterdir()) == []

    extracted = subprocess.run(
        cli_command(*extract_args(cohort, small_tmpfs / "out")), env=CLI_ENV, capture_output=True, text=True
    )
    assert extracted.returncode == 1
    assert extracted.stderr.startswith(f"error: the disk is full: could not write {small_tmpfs / 'out'}/")
    assert extracted.stderr.count("\n") == 1, extracted.stderr
    assert not any(p.name.startswith(".") for p in small_tmpfs.rglob("*"))  # no temporary file left


# --------------------------------------------------------------------------- one result per folder


def test_predict_replaces_an_earlier_result_as_a_whole(case, tmp_path, capsys):
    out = tmp_path / "result"
    assert main(predict_args(case, out)) == 0  # the fused model: report and five slice PNGs
    assert sorted(p.name for p in (out / "slices").iterdir()) == SLICE_PNGS
    assert main(predict_args(case, out, "--model", "phantom-v2-radiomics")) == 0  # no slices
    capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["model_features.csv", "prediction.json", "report.html"]
    assert '"model_id": "phantom-v2-radiomics"' in (out / "prediction.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result"]


def test_predict_refuses_a_folder_with_other_files_unless_overwrite(case, tmp_path, capsys):
    out = tmp_path / "mixed"
    (out / "slices").mkdir(parents=True)
    (out / "slices" / "slice_z+9mm.png").write_bytes(b"an earlier run's slice")
    (out / "notes.txt").write_text("a user's notes")
    before = file_hashes(out)
    assert main(predict_args(case, out, "--model", "phantom-v2-radiomics")) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"error: output folder {out} holds other files (notes.txt)") and "--overwrite" in err
    )
    assert err.count("\n") == 1 and file_hashes(out) == before

    assert main(predict_args(case, out, "--overwrite")) == 0
    capsys.readouterr()
    assert (out / "notes.txt").read_text() == "a user's notes"
    assert sorted(p.name for p in (out / "slices").iterdir()) == SLICE_PNGS  # the stale slice is gone
    assert sorted(p.name for p in out.iterdir()) == [
        "model_features.csv",
        "notes.txt",
        "prediction.json",
        "report.html",
        "slices",
    ]


def test_demo_reruns_into_its_folder(tmp_path, capsys):
    """``make demo`` twice: the second run replaces the first run's result."""
    for _ in range(2):
        assert main(["demo", "--out", str(tmp_path), "--device", "cpu"]) == 0
    assert "risk of expansion" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prediction", "sample"]
    assert sorted(p.name for p in (tmp_path / "prediction" / "slices").iterdir()) == SLICE_PNGS

"""Benchmark of what a user pays from a cold start (``make bench``); prints a report.

Not a test: nothing here asserts. Every figure is a fresh process, as a user starts one:
  imports    the import time of each heavy dependency, each in its own interpreter (median, best)
  predict    ``python -m HematomaExpansionLib predict --ct CT --hematoma SEG --out DIR`` with the
             default bundled model, files in -> report out; wall time and peak RSS of the process
  naive      a plain script a new user would write: pyradiomics' extractor on the files and
             torchvision's ResNet50 on the five slices around the largest cross-section
  panel      the Logic in one process as the panel uses it: the case in a scene, ``warm_up`` (as
             the panel runs it when entered), the first prediction and later ones; and without it
  profile    one more predict under ``python -X importtime``: import time per top-level package,
             so that the rest of the process time is the work itself

The predict and naive runs are interleaved (their order alternating each round), so that a busy
machine slows both alike. The load average before and after, and the CPU time that other processes
used during the runs (from /proc/stat), say whether the machine was idle; on a busy machine the
figures are not the targets' figures.

Targets (issue 11, 2 CPU cores, idle machine, medians): predict as a process <= 4.0 s; peak RSS
of one prediction <= 1.5 GB; the first prediction after the panel's warm-up <= 1.5 x a warm one.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import bench_targets

from HematomaExpansionLib.reports.text_table import format_table

TARGET_PREDICT_S = 4.0
TARGET_PEAK_RSS_GB = 1.5
TARGET_FIRST_PREDICTION_RATIO = 1.5
HEAVY_IMPORTS = (
    "numpy",
    "SimpleITK",
    "scipy",
    "radiomics",
    "torch",
    "torchvision",
    "slicer",
    "sklearn",
    "matplotlib",
)
LIB_DIR = Path(__file__).resolve().parents[1] / "HematomaExpansion"

IMPORT_SCRIPT = """
import importlib, resource, sys, time
started = time.perf_counter()
importlib.import_module(sys.argv[1])
usage = resource.getrusage(resource.RUSAGE_SELF)
print(time.perf_counter() - started, usage.ru_utime + usage.ru_stime)
"""

# What a new user writes: no caching, no cropping, float32 torchvision defaults, random weights
# (no ImageNet weights exist here; the cost of the forward pass is the same).
NAIVE_SCRIPT = """
import sys
import numpy as np
import SimpleITK as sitk
import torch
import torchvision
from radiomics import featureextractor

ct_path, seg_path, params = sys.argv[1:4]
features = featureextractor.RadiomicsFeatureExtractor(params).execute(ct_path, seg_path)
ct = sitk.GetArrayFromImage(sitk.ReadImage(ct_path)).astype(np.float32)
mask = sitk.GetArrayFromImage(sitk.ReadImage(seg_path)) > 0
z0 = int(np.argmax(mask.sum(axis=(1, 2))))
rows, columns = np.nonzero(mask[z0])
r0, r1 = max(rows.min() - 10, 0), rows.max() + 11
c0, c1 = max(columns.min() - 10, 0), columns.max() + 11
slices = [ct[min(max(z, 0), ct.shape[0] - 1), r0:r1, c0:c1] for z in range(z0 - 2, z0 + 3)]
images = torch.from_numpy(np.clip((np.stack(slices) - 0.0) / 80.0, 0.0, 1.0))[:, None]
images = torch.nn.functional.interpolate(images, size=(224, 224), mode="bilinear").expand(-1, 3, -1, -1)
mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
model = torchvision.models.resnet50(weights=None)
model.fc = torch.nn.Identity()
with torch.inference_mode():
    deep = model.eval()((images - mean) / std).mean(dim=0)
print(len(features), deep.shape[0])
"""


# The panel's process: a scene with the case loaded, then (with "warm") the Logic's warm-up as the
# panel runs it when it is entered, then predictions; prints JSON of the seconds of each step.
PANEL_SCRIPT = """
import json, sys, time
from HematomaExpansionLib import mrml
from HematomaExpansionLib.mrml.logic import HematomaExpansionLogicBase

ct_path, seg_path, mode, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
logic = HematomaExpansionLogicBase()
volume, segmentation = mrml.load_case(logic.runtime, ct_path, seg_path)
times = {}
if mode == "warm":
    started = time.perf_counter(), time.process_time()
    logic.warm_up(None, "auto")
    times["warm_up"] = time.perf_counter() - started[0], time.process_time() - started[1]
predictions = []
for _ in range(repeats):
    started = time.perf_counter(), time.process_time()
    logic.predict(volume, segmentation)
    predictions.append((time.perf_counter() - started[0], time.process_time() - started[1]))
times["predictions"] = predictions
print(json.dumps(times))
"""


def _environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(LIB_DIR), environment.get("PYTHONPATH")]))
    return environment


@dataclass
class ProcessRun:
    """What one process cost: wall and CPU seconds (all its threads), peak RSS, and its output."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    stdout: str
    stderr: str


def _timed_process(command: list[str]) -> ProcessRun:
    """Run a process to its end and measure it; raises on a non-zero exit."""
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, text=True, env=_environment())
        _, status, usage = os.wait4(process.pid, 0)  # the child's own resource usage (ru_maxrss)
        wall_s = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        out, err = stdout.read(), stderr.read()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} ... exited with {process.returncode}: {err[-1500:]}")
    return ProcessRun(wall_s, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, out, err)


def _median_best(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), min(values)


def _write_cases(folder: Path, names: list[str]) -> dict[str, dict[str, str]]:
    from HematomaExpansionLib.synthetic import HematomaSpec, generate_phantom, write_case
    from HematomaExpansionLib.synthetic.sample import write_sample_case

    cases = {}
    if "sample" in names:
        cases["sample"] = {k: str(v) for k, v in write_sample_case(folder / "sample").items()}
    if "small" in names:  # the size of the real case (4.6 mL) on the clinical grid
        phantom = generate_phantom(HematomaSpec(volume_ml=4.6), preset="clinical", seed=11)
        cases["small"] = {k: str(v) for k, v in write_case(phantom, folder / "small", "small").items()}
    return cases


def bench_imports(repeats: int) -> list[list[object]]:
    """Rows (what, median s, best s, CPU s of the median run): the interpreter's start, then each import."""
    starts = [_timed_process([sys.executable, "-c", "pass"]).wall_s for _ in range(repeats)]
    rows: list[list[object]] = [["(interpreter start, whole process)", *_median_best(starts), float("nan")]]
    for name in HEAVY_IMPORTS:
        runs = []
        for _ in range(repeats):
            stdout = _timed_process([sys.executable, "-c", IMPORT_SCRIPT, name]).stdout
            wall_s, cpu_s = (float(x) for x in stdout.split())
            runs.append((wall_s, cpu_s))
        rows.append([name, *_median_best([wall for wall, _ in runs]), sorted(runs)[len(runs) // 2][1]])
    return rows


def _predict_command(case: dict[str, str], out: Path, extra: tuple[str, ...] = ()) -> list[str]:
    return [
        sys.executable,
        *extra,
        "-m",
        "HematomaExpansionLib",
        "predict",
        "--ct",
        case["ct"],
        "--hematoma",
        case["hematoma"],
        "--out",
        str(out),
        "--overwrite",
    ]


def bench_processes(case: dict[str, str], folder: Path, repeats: int) -> dict[str, list[ProcessRun]]:
    """The runs of the predict and the naive process, interleaved."""
    from HematomaExpansionLib.features.radiomics import default_params_path

    commands = {
        "predict": _predict_command(case, folder / "prediction"),
        "naive": [
            sys.executable,
            "-c",
            NAIVE_SCRIPT,
            case["ct"],
            case["hematoma"],
            str(default_params_path()),
        ],
    }
    runs: dict[str, list[ProcessRun]] = {name: [] for name in commands}
    for round_index in range(repeats):
        order = list(commands) if round_index % 2 == 0 else list(reversed(commands))
        for name in order:
            runs[name].append(_timed_process(commands[name]))
    return runs


def _import_tree(stderr: str) -> list[tuple[str, float, list]]:
    """The ``-X importtime`` lines as a tree: (module, cumulative s, children) of the top-level imports."""
    pending: list[tuple[int, tuple[str, float, list]]] = []  # a line's children precede it
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if match is None:
            continue
        depth = len(match.group(2))
        children = [node for d, node in pending if d > depth]
        pending = [(d, node) for d, node in pending if d <= depth]
        pending.append((depth, (match.group(3), int(match.group(1)) / 1e6, children)))
    return [node for _, node in pending]


def _package_times(nodes: list, totals: dict[str, float]) -> dict[str, float]:
    """Import seconds per third-party package, wherever the Lib (even inside a function) imported it."""
    for name, cumulative_s, children in nodes:
        root = name.split(".")[0]
        if root == "HematomaExpansionLib":
            own_s = cumulative_s - sum(child[1] for child in children)
            totals["HematomaExpansionLib (own modules)"] = (
                totals.get("HematomaExpansionLib (own modules)", 0) + own_s
            )
            _package_times(children, totals)
        else:
            totals[root] = totals.get(root, 0.0) + cumulative_s
    return totals


def import_profile(case: dict[str, str], folder: Path) -> tuple[float, list[list[object]]]:
    """One predict under -X importtime: (wall s, rows of top-level package and its import s)."""
    run = _timed_process(_predict_command(case, folder / "profiled", ("-X", "importtime")))
    totals = _package_times(_import_tree(run.stderr), {})
    rows = [[name, seconds] for name, seconds in sorted(totals.items(), key=lambda x: -x[1])]
    return run.wall_s, [row for row in rows if row[1] >= 0.05]


def bench_panel(case: dict[str, str], repeats: int) -> dict[str, dict]:
    """The panel's first and later predictions in one process, with and without the warm-up."""
    import json

    results = {}
    for mode in ("warm", "cold"):
        command = [sys.executable, "-c", PANEL_SCRIPT, case["ct"], case["hematoma"], mode, str(repeats + 1)]
        results[mode] = json.loads(_timed_process(command).stdout.strip().splitlines()[-1])
    return results


def _print_panel(results: dict[str, dict]) -> float:
    """Print the panel section; returns first prediction after the warm-up / median of the later ones."""
    print("\n## the panel's process (headless Logic): first prediction vs later ones (wall s, CPU s)")
    rows = []
    for mode, times in results.items():
        (first_s, first_cpu_s), *later = times["predictions"]
        warm_up_s, warm_up_cpu_s = times.get("warm_up", (float("nan"), float("nan")))
        later_s, later_cpu_s = (statistics.median(values) for values in zip(*later, strict=True))
        rows.append([f"{mode} start", warm_up_s, warm_up_cpu_s, first_s, first_cpu_s, later_s, later_cpu_s])
    columns = ["process", "warm_up s", "CPU s", "first predict s", "CPU s", "later median s", "CPU s"]
    print(format_table(columns, rows))
    first_s, first_cpu_s, later_s, later_cpu_s = rows[0][3:]
    print(f"first / later after the warm-up: {first_s / later_s:.2f} (CPU {first_cpu_s / later_cpu_s:.2f})")
    return first_s / later_s


def _print_case(name: str, runs: dict[str, list[ProcessRun]]) -> tuple[float, float]:
    print(f"\n## case '{name}': processes, cold (median, best over {len(runs['predict'])} runs)")
    rows = []
    for section, values in runs.items():
        median, best = _median_best([run.wall_s for run in values])
        cpu_s = statistics.median(run.cpu_s for run in values)
        rows.append([section, median, best, cpu_s, max(run.peak_rss_mb for run in values)])
    print(format_table(["process", "median s", "best s", "median CPU s", "peak RSS MiB"], rows))
    predict_median = rows[0][1]
    naive_median = rows[1][1]
    print(f"predict / naive: {predict_median / naive_median:.2f} (medians)")
    return predict_median, rows[0][4]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of each process (default 3)")
    parser.add_argument("--import-repeats", type=int, default=3, help="runs of each import (default 3)")
    parser.add_argument("--cases", nargs="+", choices=("sample", "small"), default=["sample", "small"])
    parser.add_argument("--no-profile", action="store_true", help="skip the -X importtime run")
    parser.add_argument("--no-panel", action="store_true", help="skip the panel warm-up section")
    args = parser.parse_args()

    import torch

    print("# HematomaExpansion cold-start benchmark")
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, CPUs {os.cpu_count()}, "
        f"{args.repeats} runs per process, {args.import_repeats} per import, each a fresh process"
    )
    before_load = bench_targets.load_average()
    print(f"load average (1, 5, 15 min) before: {before_load}")
    other_work = bench_targets.OtherWork()

    print("\n## import of each heavy dependency in a fresh interpreter (wall s; CPU s of the median run)")
    print(format_table(["package", "median s", "best s", "CPU s"], bench_imports(args.import_repeats)))
    results = {}
    with tempfile.TemporaryDirectory(prefix="hematoma_bench_cold_") as text:
        folder = Path(text)
        cases = _write_cases(folder, args.cases)
        for name, case in cases.items():
            results[name] = _print_case(name, bench_processes(case, folder / name, args.repeats))
        if not args.no_panel:
            panel_ratio = _print_panel(bench_panel(next(iter(cases.values())), args.repeats))
        if not args.no_profile:
            name = next(iter(cases))
            wall_s, rows = import_profile(cases[name], folder / name)
            imports_s = sum(row[1] for row in rows)
            print(f"\n## where one predict process of case '{name}' goes ({wall_s:.2f} s, -X importtime)")
            print(format_table(["imported package", "s"], rows))
            print(
                f"imports listed: {imports_s:.2f} s; the rest (start, work, writes): {wall_s - imports_s:.2f} s"
            )

    others, busy = other_work.cores(), other_work.busy()

    def target(text: str, measured: str, met: bool) -> None:
        bench_targets.report("bench_cold", text, measured, met, busy)

    print("\n## targets (issue 11, 2 CPU cores, idle machine, medians)")
    for name, (median, peak_mib) in results.items():
        target(
            f"predict as a process <= {TARGET_PREDICT_S} s ({name})",
            f"{median:.2f} s",
            median <= TARGET_PREDICT_S,
        )
        peak_gb = peak_mib * 2**20 / 1e9  # GB = 10^9 bytes, as in bench.py
        target(
            f"peak RSS of one prediction <= {TARGET_PEAK_RSS_GB} GB ({name}, cold predict process)",
            f"{peak_gb:.3f} GB ({peak_mib:.0f} MiB)",
            peak_gb <= TARGET_PEAK_RSS_GB,
        )
    if not args.no_panel:
        target(
            f"first prediction after the panel's warm-up <= {TARGET_FIRST_PREDICTION_RATIO} x a warm one",
            f"{panel_ratio:.2f} x",
            panel_ratio <= TARGET_FIRST_PREDICTION_RATIO,
        )
    print(f"\nload average (1, 5, 15 min) after: {bench_targets.load_average()} (before: {before_load})")
    if others is not None:
        print(f"other processes used {others:.2f} CPU cores on average during the runs")
        if busy:
            print(
                "THE MACHINE WAS BUSY: other processes competed for the CPUs, so the times above are "
                "slower than on an idle machine and are not the targets' figures; run again when idle."
            )
        else:
            print("the machine was idle apart from this benchmark")


if __name__ == "__main__":
    main()

"""Benchmark of feature extraction on a clinical-size phantom (``make bench``); prints a report.

Not a test: nothing here asserts. Each section runs in its own worker process (this script with
``--section``), so that its peak RSS is its own. The workers start one after the other, load what
they need and run one warm-up case; then the timed runs are interleaved (one case of each section
in turn, the order rotating each round), so that a busy machine slows every section alike. Each
section reports median and best over ``--repeats`` runs, then runs once more under
``tracemalloc`` (Python and numpy allocations only; ITK, VTK and torch allocate outside it).
Each case also reports the CPU time of its process, which a busy machine inflates far less than
the wall time (with one torch thread it approximates the idle single-core cost).

Sections (to add one, write a function returning a ``Workload`` and list it in SECTIONS):
  full       our extraction through the Logic: files -> Slicer scene -> all 1118 radiomics + deep
  selective  the same with ExtractionConfig.for_features(20 radiomics names + the deep names)
  naive      pyradiomics' RadiomicsFeatureExtractor(params).execute(ct file, seg file) on the
             uncropped image (diagnostics on), plus torchvision's ResNet50 (same weights, float64,
             its batch normalisations unfolded) on one slice at a time

  predict    prediction with the bundled fused model, only the features it uses (Logic, warm)
  predict_full  the same prediction after a full extraction (baseline)

Targets (2 CPU cores, idle machine, medians): issue 11: warm prediction with only the model's
features <= 1.0 s; full extraction <= 0.6 x the naive baseline of the same run; peak RSS of one
prediction (the predict worker) <= 1.5 GB. Issue 3: selective + deep <= 2.5 s per case. The load
average is printed before and after; figures from a busy machine are said to be unusable.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import bench_targets

from HematomaExpansionLib.reports.text_table import format_table

TARGET_SELECTIVE_S = 2.5  # issue 3
TARGET_PREDICTION_S = 1.0  # issue 11: warm, only the model's features
TARGET_FULL_OVER_NAIVE = 0.6  # issue 11
TARGET_PREDICTION_PEAK_RSS_GB = 1.5  # issue 11: one prediction's process
BUSY_LOAD_PER_CORE = 0.5  # 1-min load above this share of the cores before the run: the machine is busy
CASE_SEED = 7
CASE_VOLUME_ML = 30.0
REPLY_PREFIX = "BENCH "
CPU_STAGE = "CPU time of the process (not wall)"
# 20 features as a fitted model might select them: every image type (so the three LoG sigmas and
# the wavelet transform all run) and every feature class.
SELECTED_RADIOMICS = [
    "original_shape_Sphericity",
    "original_shape_Maximum3DDiameter",
    "original_shape_SurfaceVolumeRatio",
    "original_firstorder_Mean",
    "original_firstorder_Skewness",
    "original_glcm_Imc2",
    "original_glszm_ZoneEntropy",
    "original_gldm_DependenceNonUniformity",
    "log-sigma-1-0-mm-3D_firstorder_Entropy",
    "log-sigma-2-0-mm-3D_glcm_Contrast",
    "log-sigma-3-0-mm-3D_glrlm_RunEntropy",
    "log-sigma-3-0-mm-3D_ngtdm_Coarseness",
    "wavelet-LLL_firstorder_Median",
    "wavelet-LLH_glszm_SmallAreaEmphasis",
    "wavelet-LHL_glcm_Idmn",
    "wavelet-HLL_gldm_SmallDependenceEmphasis",
    "wavelet-HHH_firstorder_Kurtosis",
    "wavelet-LHH_glrlm_LongRunEmphasis",
    "wavelet-HLH_ngtdm_Busyness",
    "wavelet-HHL_glcm_JointEntropy",
]


@dataclass
class Workload:
    """One section's work, set up in its worker: ``run`` does one case and returns seconds per
    stage (with "total" for the whole case); ``features`` gives the last case's radiomics."""

    description: str
    run: Callable[[], dict[str, float]]
    features: Callable[[], dict[str, float]]


@dataclass
class Section:
    """What the parent gathered about one section."""

    name: str
    description: str = ""
    setup_s: float = 0.0  # imports, backbone and runtime, once per process (not per case)
    setup_rss_mb: float = 0.0
    stages_s: dict[str, list[float]] = field(default_factory=dict)  # stage -> one value per run
    traced_peak_mb: float = 0.0
    peak_rss_mb: float = 0.0
    n_features: int = 0
    features: dict[str, float] = field(default_factory=dict)


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def _cpu_s() -> float:
    """CPU seconds this process has used (user + system, all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed_run(workload: Workload) -> dict[str, float]:
    """One case's stages, plus the CPU time it took: on a busy machine closer to the idle cost than wall time."""
    started = _cpu_s()
    stages = workload.run()
    stages[CPU_STAGE] = _cpu_s() - started
    return stages


# --------------------------------------------------------------------------- sections


def _load_into_scene(logic: Any, case: dict[str, str]) -> tuple[Any, Any]:
    """Clear the scene and load the case's CT and segmentation files as the module does."""
    from HematomaExpansionLib import mrml

    logic.runtime.clear()
    return mrml.load_case(logic.runtime, case["ct"], case["hematoma"])


def _ours(case: dict[str, str], args: argparse.Namespace, radiomics_names: list[str] | None) -> Workload:
    """Our extraction as the module runs it: files loaded into the scene, then the Logic."""
    from HematomaExpansionLib.features.backbone import FEATURE_DIM, load_resnet50
    from HematomaExpansionLib.features.deep import deep_feature_names
    from HematomaExpansionLib.features.pipeline import ExtractionConfig
    from HematomaExpansionLib.mrml.logic import HematomaExpansionLogicBase

    backbone = load_resnet50(args.weights, "cpu")
    logic = HematomaExpansionLogicBase()
    config = ExtractionConfig(backbone_weights=args.weights, device="cpu")
    if radiomics_names is not None:
        deep_names = deep_feature_names(config.deep.aggregation, len(config.deep.offsets_mm), FEATURE_DIM)
        config = ExtractionConfig.for_features(
            radiomics_names + deep_names, backbone_weights=args.weights, device="cpu"
        )
    last: dict[str, float] = {}

    def run() -> dict[str, float]:
        t0 = time.perf_counter()
        volume, segmentation = _load_into_scene(logic, case)
        t1 = time.perf_counter()
        result = logic.extract_features(volume, segmentation, config=config, backbone=backbone)
        t2 = time.perf_counter()
        last.clear()
        last.update(result.feature_set.features)
        stages = {"load files into the scene": t1 - t0}
        stages["nodes -> images, checks (Logic)"] = (t2 - t1) - sum(result.timings_s.values())
        stages.update(result.timings_s)
        stages["total"] = t2 - t0
        return stages

    what = "all radiomics" if radiomics_names is None else f"{len(radiomics_names)} radiomics"
    return Workload(f"ours through the Logic: {what} + deep features", run, lambda: dict(last))


def section_full(case: dict[str, str], args: argparse.Namespace) -> Workload:
    """All radiomics of the parameter file and the deep features, through the Logic."""
    return _ours(case, args, None)


def section_selective(case: dict[str, str], args: argparse.Namespace) -> Workload:
    """The radiomics of SELECTED_RADIOMICS and the deep features, through the Logic."""
    return _ours(case, args, SELECTED_RADIOMICS)


def section_naive(case: dict[str, str], args: argparse.Namespace) -> Workload:
    """pyradiomics' extractor on the files (whole image, diagnostics on) + torchvision's ResNet50
    (the same weights, float64, batch normalisations as torchvision has them) slice by slice."""
    import numpy as np
    import SimpleITK as sitk
    import torch
    from radiomics import featureextractor

    from HematomaExpansionLib.features.backbone import IMAGENET_MEAN, IMAGENET_STD, load_weights
    from HematomaExpansionLib.features.deep_slices import DeepSliceConfig, prepare_deep_slices
    from HematomaExpansionLib.features.radiomics import default_params_path
    from HematomaExpansionLib.imaging.geometry import largest_axial_cross_section

    network = load_weights(args.weights)[0].double()
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1)
    extractor = featureextractor.RadiomicsFeatureExtractor(str(default_params_path()))
    last: dict[str, Any] = {}

    def run() -> dict[str, float]:
        t0 = time.perf_counter()
        result = extractor.execute(case["ct"], case["hematoma"])
        t1 = time.perf_counter()
        ct, mask = sitk.ReadImage(case["ct"]), sitk.ReadImage(case["hematoma"])
        prepared = prepare_deep_slices(ct, mask, largest_axial_cross_section(mask), DeepSliceConfig())
        with torch.inference_mode():
            embeddings = [
                network((torch.from_numpy(image).double().expand(1, 3, -1, -1) - mean) / std).numpy()
                for image in prepared.images
            ]
        np.concatenate(embeddings).mean(axis=0)
        t2 = time.perf_counter()
        last["features"] = {k: float(v) for k, v in result.items() if not k.startswith("diagnostics_")}
        return {
            "radiomics (pyradiomics, reads files)": t1 - t0,
            "deep (5 x 1 slice, reads files)": t2 - t1,
            "total": t2 - t0,
        }

    return Workload(
        "naive: pyradiomics execute() on the files + ResNet50 one slice at a time",
        run,
        lambda: dict(last["features"]),
    )


def _prediction(case: dict[str, str], args: argparse.Namespace, only_model_features: bool) -> Workload:
    """Prediction with the bundled model, end to end from the files, through the Logic."""
    from HematomaExpansionLib.features.backbone import load_resnet50
    from HematomaExpansionLib.features.pipeline import ExtractionConfig
    from HematomaExpansionLib.model.registry import load_model
    from HematomaExpansionLib.mrml.logic import HematomaExpansionLogicBase

    bundle = load_model(None)
    weights = bundle.extractor.get("backbone_id") or args.weights
    backbone = load_resnet50(weights, "cpu")
    logic = HematomaExpansionLogicBase()
    full_config = ExtractionConfig(backbone_weights=weights, device="cpu")
    last: dict[str, float] = {}

    def run() -> dict[str, float]:
        t0 = time.perf_counter()
        volume, segmentation = _load_into_scene(logic, case)
        t1 = time.perf_counter()
        if only_model_features:
            result = logic.predict(volume, segmentation, model=bundle, device="cpu", backbone=backbone)
            timings, probability = result.extraction.timings_s, result.probability
        else:
            extraction = logic.extract_features(volume, segmentation, config=full_config, backbone=backbone)
            bundle.check_extractor(extraction.feature_set.provenance["extractor_identity"])
            timings = extraction.timings_s
            probability = float(bundle.predict_proba(extraction.feature_set.features)[0])
        t2 = time.perf_counter()
        last["probability"] = probability
        stages = {"load files into the scene": t1 - t0, **timings}
        stages["model, measurements, checks"] = (t2 - t1) - sum(timings.values())
        stages["total"] = t2 - t0
        return stages

    what = (
        f"only the {len(bundle.input_features)} model features" if only_model_features else "full extraction"
    )
    return Workload(f"prediction with {bundle.model_id}: {what}", run, lambda: dict(last))


def section_predict(case: dict[str, str], args: argparse.Namespace) -> Workload:
    """Prediction with the bundled model computing only the features it needs (issue 5 target)."""
    return _prediction(case, args, only_model_features=True)


def section_predict_full(case: dict[str, str], args: argparse.Namespace) -> Workload:
    """Baseline: full extraction, then the bundled model."""
    return _prediction(case, args, only_model_features=False)


SECTIONS: dict[str, Callable[[dict[str, str], argparse.Namespace], Workload]] = {
    "full": section_full,
    "selective": section_selective,
    "naive": section_naive,
    "predict": section_predict,
    "predict_full": section_predict_full,
}


# --------------------------------------------------------------------------- worker process


def _reply(payload: dict[str, Any]) -> None:
    sys.stdout.write(REPLY_PREFIX + json.dumps(payload) + "\n")
    sys.stdout.flush()


def _worker(args: argparse.Namespace) -> None:
    """Set up one section, warm up, then answer "run", "trace" and "finish" lines on stdin."""
    import torch

    torch.set_num_threads(args.threads)
    case = json.loads(Path(args.case_json).read_text())
    started = time.perf_counter()
    workload = SECTIONS[args.section](case, args)
    setup_s = time.perf_counter() - started
    setup_rss_mb = _max_rss_mb()
    workload.run()
    _reply({"description": workload.description, "setup_s": setup_s, "setup_rss_mb": setup_rss_mb})
    for line in sys.stdin:
        command = line.strip()
        if command == "run":
            _reply(_timed_run(workload))
        elif command == "trace":
            tracemalloc.start()
            workload.run()
            _reply({"traced_peak_mb": tracemalloc.get_traced_memory()[1] / 2**20})
            tracemalloc.stop()
        elif command == "finish":
            features = workload.features()
            _reply({"peak_rss_mb": _max_rss_mb(), "features": features})
            return


class _WorkerClient:
    """The parent's end of one worker process."""

    def __init__(self, name: str, case_json: Path, args: argparse.Namespace, log: TextIO) -> None:
        self.name = name
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--section",
            name,
            "--case-json",
            str(case_json),
        ]
        command += ["--threads", str(args.threads), "--weights", args.weights]
        self.log = log
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True
        )

    def read(self) -> dict[str, Any]:
        for line in self.process.stdout:
            if line.startswith(REPLY_PREFIX):
                return json.loads(line[len(REPLY_PREFIX) :])
        self.log.flush()
        self.log.seek(0)
        raise SystemExit(f"benchmark section {self.name} failed:\n{self.log.read()[-4000:]}")

    def ask(self, command: str) -> dict[str, Any]:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.read()


def _run_sections(names: list[str], case_json: Path, args: argparse.Namespace) -> dict[str, Section]:
    sections = {name: Section(name) for name in names}
    with tempfile.TemporaryFile("w+") as log:
        clients = {}
        for name in names:  # one after the other, so that set-ups do not compete
            clients[name] = _WorkerClient(name, case_json, args, log)
            ready = clients[name].read()
            sections[name].description = ready["description"]
            sections[name].setup_s = ready["setup_s"]
            sections[name].setup_rss_mb = ready["setup_rss_mb"]
        for round_index in range(args.repeats):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                for stage, seconds in clients[name].ask("run").items():
                    sections[name].stages_s.setdefault(stage, []).append(seconds)
        for name, client in clients.items():
            sections[name].traced_peak_mb = client.ask("trace")["traced_peak_mb"]
            final = client.ask("finish")
            sections[name].peak_rss_mb = final["peak_rss_mb"]
            sections[name].features = final["features"]
            client.process.wait()
    return sections


# --------------------------------------------------------------------------- report


def _write_case(folder: Path) -> tuple[dict[str, str], dict[str, Any]]:
    from HematomaExpansionLib.synthetic import HematomaSpec, generate_phantom, write_case

    spec = HematomaSpec(volume_ml=CASE_VOLUME_ML, lobulation=0.15)
    phantom = generate_phantom(spec, preset="clinical", seed=CASE_SEED)
    paths = write_case(phantom, folder, "bench")
    return {k: str(v) for k, v in paths.items()}, phantom.truth


def _median_best(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), min(values)


def _print_section(section: Section) -> None:
    print(f"\n## {section.name}: {section.description}")
    rows = [[stage, *_median_best(values)] for stage, values in section.stages_s.items()]
    print(format_table(["stage", "median s", "best s"], rows))
    print(
        f"once per process (imports, backbone, runtime, not in the times above): {section.setup_s:.2f} s\n"
        f"RSS after that {section.setup_rss_mb:.0f} MiB; peak RSS (ru_maxrss) {section.peak_rss_mb:.0f} MiB; "
        f"tracemalloc peak during one case {section.traced_peak_mb:.0f} MiB"
    )


def _print_comparison(sections: dict[str, Section]) -> None:
    naive = sections.get("naive")
    if naive is not None:
        print("\n## ours / naive (per-case totals: median, best in brackets)")
        naive_median, naive_best = _median_best(naive.stages_s["total"])
        for name in ("full", "selective"):
            if name in sections:
                median, best = _median_best(sections[name].stages_s["total"])
                print(
                    f"{name:9s}: {median:.2f} s ({best:.2f}) vs naive {naive_median:.2f} s ({naive_best:.2f}): "
                    f"ratio {median / naive_median:.2f} ({best / naive_best:.2f})"
                )
    if "full" in sections and naive is not None:
        ours, reference = sections["full"].features, naive.features
        ours = {k: v for k, v in ours.items() if not k.startswith("deep_")}
        relative = [
            abs(ours[k] - v) / max(abs(v), 1e-12)
            for k, v in reference.items()
            if abs(ours.get(k, v) - v) > 1e-9
        ]
        print(
            f"radiomics of 'full' vs pyradiomics: same names in order {list(ours) == list(reference)}; "
            f"{len(relative)} of {len(reference)} differ by more than 1e-9, "
            f"{sum(r > 0.01 for r in relative)} by more than 1%"
        )


def _median(sections: dict[str, Section], name: str) -> float:
    return _median_best(sections[name].stages_s["total"])[0]


def _print_targets(sections: dict[str, Section], busy: bool) -> None:
    """Each target with its measured figure and met / NOT MET (medians of this run)."""
    print(
        "\n## targets (2 CPU cores, idle machine, medians)"
        + (" - MACHINE BUSY, figures unusable" if busy else "")
    )
    if "predict" in sections:
        median = _median(sections, "predict")
        target = f"warm prediction, only the model's features <= {TARGET_PREDICTION_S} s"
        bench_targets.report("bench", target, f"{median:.2f} s", median <= TARGET_PREDICTION_S, busy)
        if "predict_full" in sections:
            full = _median(sections, "predict_full")
            difference = abs(
                sections["predict"].features["probability"] - sections["predict_full"].features["probability"]
            )
            print(
                f"  (with full extraction: {full:.2f} s, ratio {median / full:.2f}; "
                f"probabilities differ by {difference:.1e})"
            )
        peak_mib = sections["predict"].peak_rss_mb
        peak_gb = peak_mib * 2**20 / 1e9  # GB = 10^9 bytes
        bench_targets.report(
            "bench",
            f"peak RSS of one prediction <= {TARGET_PREDICTION_PEAK_RSS_GB} GB (warm predict worker)",
            f"{peak_gb:.3f} GB ({peak_mib:.0f} MiB)",
            peak_gb <= TARGET_PREDICTION_PEAK_RSS_GB,
            busy,
        )
    if "full" in sections and "naive" in sections:
        full, naive = _median(sections, "full"), _median(sections, "naive")
        bench_targets.report(
            "bench",
            f"full extraction <= {TARGET_FULL_OVER_NAIVE} x naive",
            f"{full:.2f} s / {naive:.2f} s = {full / naive:.2f}",
            full / naive <= TARGET_FULL_OVER_NAIVE,
            busy,
        )
    if "selective" in sections:
        median = _median(sections, "selective")
        bench_targets.report(
            "bench",
            f"selective + deep <= {TARGET_SELECTIVE_S} s per case (issue 3)",
            f"{median:.2f} s",
            median <= TARGET_SELECTIVE_S,
            busy,
        )
    largest = max(sections.values(), key=lambda section: section.peak_rss_mb)
    print(f"largest peak RSS of any section: {largest.peak_rss_mb:.0f} MiB ({largest.name})")


def _busy_verdict(load_before: float, others: bench_targets.OtherWork, cores: int) -> tuple[bool, str]:
    """Whether other work competed with the run: the load before it, and the CPU time that processes
    other than this run used during it (machine total less ours), or else the load after it."""
    load_after = os.getloadavg()[0]
    busy_before = load_before > BUSY_LOAD_PER_CORE * cores
    others_cores = others.cores()
    if others_cores is not None:
        busy_during = others.busy()
        during = f"other processes used {others_cores:.2f} CPU cores on average during the run"
    else:
        busy_during = load_after > (1.0 + BUSY_LOAD_PER_CORE) * cores  # the run itself fills up to all cores
        during = f"1-min load {load_after:.2f} after the run"
    figures = f"1-min load {load_before:.2f} before the run; {during}"
    if not (busy_before or busy_during):
        return False, f"the machine was idle: {figures}"
    when = " and ".join(w for w, b in (("before", busy_before), ("during", busy_during)) if b)
    return True, (
        f"THE MACHINE WAS BUSY {when.upper()} THE RUN ({figures}): other processes competed for the CPUs, "
        "so these figures are unusable as measurements of this software; run again on an idle machine"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sections", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per section after one warm-up")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--weights", default="random:0", help="ResNet50 weights (default random:0)")
    parser.add_argument("--section", choices=list(SECTIONS), help=argparse.SUPPRESS)
    parser.add_argument("--case-json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.section:
        _worker(args)
        return

    import torch

    print("# HematomaExpansion feature-extraction benchmark")
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, CPUs {os.cpu_count()}, "
        f"torch threads {args.threads} (torch.set_num_threads; a forward pass uses fewer while other "
        f"processes keep cores busy), weights {args.weights}, "
        f"{args.repeats} timed runs per section after 1 warm-up, interleaved"
    )
    load_before, others = os.getloadavg()[0], bench_targets.OtherWork()
    print(f"load average (1, 5, 15 min) before: {bench_targets.load_average()}")
    with tempfile.TemporaryDirectory(prefix="hematoma_bench_") as folder:
        case, truth = _write_case(Path(folder))
        case_json = Path(folder) / "case.json"
        case_json.write_text(json.dumps(case))
        print(
            f"case: clinical phantom, {truth['size']} voxels of {[round(s, 2) for s in truth['spacing_mm']]} mm, "
            f"hematoma {truth['volume_ml']:.1f} mL, written to {', '.join(Path(p).name for p in case.values())}"
        )
        sections = _run_sections(args.sections, case_json, args)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    busy, verdict = _busy_verdict(load_before, others, cores)
    for section in sections.values():
        _print_section(section)
    _print_comparison(sections)
    _print_targets(sections, busy)
    print(f"\nload average (1, 5, 15 min) after: {bench_targets.load_average()}\n{verdict}")


if __name__ == "__main__":
    main()

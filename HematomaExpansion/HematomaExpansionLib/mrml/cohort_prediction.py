"""Prediction for every case of a manifest with one model: parallel, cached, resumable, errors.csv.

Each case runs the module's Logic on this process's Slicer scene (headless outside Slicer) and
writes its one-case report; the cohort runner caches the result per case, keyed by the input
files and the model's arrays, so a rerun or a resumed run predicts only what is missing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from .. import __version__
from ..cohort.manifest import read_manifest
from ..cohort.runner import CohortRunResult, run_cohort
from ..common.atomic import write_csv_atomic
from ..model.bundle import ModelBundle, load_bundle

PREDICTIONS_FILE = "predictions.csv"
REPORTS_FOLDER = "reports"
PREDICTION_COLUMNS = (
    "case_id",
    "probability",
    "category",
    "threshold",
    "volume_ml",
    "abc2_ml",
    "label",
    "split",
    "n_warnings",
)


@functools.cache
def _bundle(model_dir: str) -> ModelBundle:
    """One verified bundle per worker process."""
    return load_bundle(model_dir)


def predict_cohort_case(
    case: Any, model_dir: str, out_dir: str, device: str, weights_file: str | None
) -> dict[str, Any]:
    """Predict one manifest case and write its report; returns the JSON-ready result."""
    from .. import mrml
    from ..mrml.logic import HematomaExpansionLogicBase
    from ..reports.case_report import write_case_report

    logic = HematomaExpansionLogicBase()
    bundle = _bundle(model_dir)
    with mrml.scratch_nodes(logic.scene):
        volume, segmentation = mrml.load_case(logic.runtime, case.ct, case.hematoma)
        result = logic.predict(volume, segmentation, case.segment, bundle, device, weights_file)
    note = bundle.card.get("extra", {}).get("intended_use", "")
    write_case_report(
        result, Path(out_dir) / REPORTS_FOLDER / f"{case.case_id}.html", case.case_id, None, note
    )
    return result.as_dict()


@dataclass
class CohortPrediction:
    """The predictions table (manifest order) and the run."""

    rows: list[list[Any]]
    run: CohortRunResult
    paths: dict[str, Path]


def predict_cohort(
    manifest: Path | str,
    out_dir: Path | str,
    bundle: ModelBundle,
    device: str = "auto",
    weights_file: str | None = None,
    jobs: int = 1,
    strict: bool = False,
    progress: bool = True,
) -> CohortPrediction:
    """Predict every manifest case with ``bundle``; writes predictions.csv, reports/ and errors.csv."""
    out = Path(out_dir)
    cases = read_manifest(manifest)
    cache_key = {
        "software_version": __version__,
        "model_id": bundle.model_id,
        "model_npz_sha256": bundle.card["model_npz_sha256"],
        "device": device,
    }
    process = partial(
        predict_cohort_case,
        model_dir=str(bundle.folder),
        out_dir=str(out),
        device=device,
        weights_file=weights_file,
    )
    run = run_cohort(
        cases, process, out, jobs, strict, cache_key, progress, preload=(f"{__package__}.logic",)
    )
    rows = []
    for case in cases:
        result = run.results.get(case.case_id)
        if result is None:
            continue
        measurements = result["measurements"]
        rows.append(
            [
                case.case_id,
                result["probability"],
                result["category"],
                result["threshold"],
                measurements["volume_ml"],
                measurements["abc2_ml"],
                "" if case.label is None else case.label,
                case.split or "",
                len(result["warnings"]),
            ]
        )
    paths = {
        "errors": run.errors_path,
        "predictions": write_csv_atomic(out / PREDICTIONS_FILE, PREDICTION_COLUMNS, rows),
    }
    return CohortPrediction(rows, run, paths)

"""Prediction for every case of a manifest with one model: parallel, cached, resumable, errors.csv.

The per-case job is passed in: :func:`HematomaExpansionLib.mrml.cohort_jobs.predict_cohort_case`
runs the module's Logic on a Slicer scene and writes the case's report, and
``mrml.cohort_jobs.predict_cohort`` is :func:`predict_cohort` with that job. The runner caches the
result per case, keyed by the input files and everything that can change a result (the sealed card,
which covers the arrays; the device, the weights file, the software version), so a rerun or a
resumed run predicts only what is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from .. import __version__
from ..common.atomic import write_csv_atomic
from ..common.hashing import sha256_file
from ..model.bundle import ModelBundle
from ..model.card import card_digest
from ..signs.parameters import SignParameters
from ..signs.report import SIGN_NAMES
from .manifest import CohortCase, read_manifest
from .runner import CohortRunResult, run_cohort

COHORT_PREDICTIONS_FILE = "predictions.csv"
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
    *(f"sign_{name}_present" for name in SIGN_NAMES),
    "barras_shape_category",
    "barras_density_category",
)


class CasePredictor(Protocol):
    """A per-case job: predict ``case``, write its report under ``reports_dir``, return the result."""

    def __call__(
        self, case: CohortCase, model_dir: str, reports_dir: str, device: str, weights_file: str | None
    ) -> dict[str, Any]:
        """The JSON-ready prediction result (``PredictionResult.as_dict()``)."""
        ...


@dataclass
class CohortPrediction:
    """The predictions table (manifest order) and the run."""

    rows: list[list[Any]]
    run: CohortRunResult
    paths: dict[str, Path]


def _sign_cells(signs: dict[str, Any] | None) -> list[Any]:
    """The measured signs as 0/1 columns and the Barras categories (empty when not measured)."""
    if signs is None:
        return [""] * (len(SIGN_NAMES) + 2)
    present = [int(signs[name]["present"]) for name in SIGN_NAMES]
    return [*present, signs["barras"]["shape_category"], signs["barras"]["density_category"]]


def _prediction_row(case: CohortCase, result: dict[str, Any]) -> list[Any]:
    measurements = result["measurements"]
    return [
        case.case_id,
        result["probability"],
        result["category"],
        result["threshold"],
        measurements["volume_ml"],
        measurements["abc2_ml"],
        "" if case.label is None else case.label,
        case.split or "",
        len(result["warnings"]),
        *_sign_cells(result.get("conventional_signs")),
    ]


def predict_cohort(
    manifest: Path | str,
    out_dir: Path | str,
    bundle: ModelBundle,
    device: str = "auto",
    weights_file: str | None = None,
    jobs: int = 1,
    strict: bool = False,
    progress: bool = True,
    *,
    predict_case: CasePredictor,
    preload: Sequence[str] = (),
    scheduler: Any = None,
) -> CohortPrediction:
    """Predict every manifest case with ``bundle``; writes predictions.csv, reports/ and errors.csv.

    ``preload``: modules the worker processes import before they start; ``scheduler``: a
    ``distributed.Client`` whose cluster runs the cases (see :func:`.runner.run_cohort`).
    """
    out = Path(out_dir)
    cases = read_manifest(manifest)
    weights_file_id = (
        sha256_file(weights_file) if weights_file and Path(weights_file).is_file() else weights_file
    )
    cache_key = {
        "software_version": __version__,
        "model_id": bundle.model_id,
        "model_card_sha256": card_digest(bundle.card),
        "model_npz_sha256": bundle.card["model_npz_sha256"],
        "device": device,
        "weights_file": weights_file_id,
        "sign_parameters_sha256": SignParameters().sha256(),
    }
    process = partial(
        predict_case,
        model_dir=str(bundle.folder),
        reports_dir=str((out / REPORTS_FOLDER).resolve()),  # absolute for any worker
        device=device,
        weights_file=weights_file,
    )
    run = run_cohort(
        cases, process, out, jobs, strict, cache_key, progress, preload=preload, scheduler=scheduler
    )
    rows = [_prediction_row(case, run.results[case.case_id]) for case in cases if case.case_id in run.results]
    paths = {
        "errors": run.errors_path,
        "predictions": write_csv_atomic(out / COHORT_PREDICTIONS_FILE, PREDICTION_COLUMNS, rows),
    }
    return CohortPrediction(rows, run, paths)

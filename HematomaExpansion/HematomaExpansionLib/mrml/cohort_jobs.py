"""Cohort jobs that need a Slicer scene: one manifest case through the module's Logic.

Each job loads its case into this process's Slicer scene (headless outside Slicer), runs the
Logic and removes the nodes again. :func:`extract_cohort` and :func:`predict_cohort` are the
cohort core's functions (:mod:`..cohort.extraction`, :mod:`..cohort.prediction`) with these jobs;
their worker processes preload the Logic (and with it slicer-core).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from ..cohort import extraction, prediction
from ..cohort.manifest import CohortCase
from ..common.errors import InputError
from ..common.hashing import sha256_file
from ..features.clinical import required_covariates
from ..features.families import ExtractionConfig
from ..imaging.measurements import measure_hematoma
from ..model.bundle import CARD_FILE, ModelBundle, load_bundle
from ..reports.case_report import write_case_report
from .loading import load_case, load_segmentation
from .logic import HematomaExpansionLogicBase
from .scene import scratch_nodes
from .segments import resolve_segment_id, segment_volume_ml

#: Modules the workers import before they start.
WORKER_PRELOAD = (f"{__package__}.logic",)


def _segment_volume_ml(runtime: Any, path: Path, segment: str | None) -> float:
    """Volume of the selected segment of a segmentation file, in its own geometry."""
    segmentation = load_segmentation(runtime, path)
    try:
        segment_id = resolve_segment_id(segmentation, segment)
    except InputError as error:
        raise InputError(f"follow-up segmentation {path}: {error}") from error
    volume_ml = segment_volume_ml(segmentation, segment_id)
    if volume_ml == 0.0:
        raise InputError(
            f"the hematoma segment of follow-up segmentation {path} is empty; "
            "if the hematoma resolved, give followup_volume_ml 0 in the manifest instead"
        )
    return volume_ml


def extract_case(case: CohortCase, config: ExtractionConfig) -> dict[str, Any]:
    """Features, baseline volume and (from ``followup_hematoma``) follow-up volume of one case.

    Returns JSON-ready values: features, provenance, warnings, baseline_volume_ml,
    followup_volume_ml (None without a follow-up file).
    """
    logic = HematomaExpansionLogicBase()
    with scratch_nodes(logic.scene):
        volume, segmentation = load_case(logic.runtime, case.ct, case.hematoma)
        inputs = logic.hematoma_inputs(volume, segmentation, case.segment)
        result = logic.extract_from_inputs(inputs, config)
        baseline_ml = measure_hematoma(
            inputs.ct,
            inputs.mask,
            ct_source=inputs.ct_source,
            mask_source=inputs.mask_source,
            canonical=result.canonical,
        ).volume_ml
        followup_ml = (
            _segment_volume_ml(logic.runtime, case.followup_hematoma, case.segment)
            if case.followup_hematoma is not None
            else None
        )
    feature_set = result.feature_set
    document = {
        "features": {name: float(value) for name, value in feature_set.features.items()},
        "provenance": feature_set.provenance,
        "warnings": list(feature_set.warnings),
        "baseline_volume_ml": baseline_ml,
        "followup_volume_ml": followup_ml,
    }
    # As the cache stores it, so that a computed and a cached result are the same values.
    return json.loads(json.dumps(document, default=str))


def _bundle(model_dir: str) -> ModelBundle:
    """One verified bundle per worker process and content of its card (whose seal covers the arrays)."""
    return _verified_bundle(model_dir, sha256_file(Path(model_dir) / CARD_FILE))


@functools.cache
def _verified_bundle(model_dir: str, card_file_sha256: str) -> ModelBundle:
    return load_bundle(model_dir)


def predict_cohort_case(
    case: CohortCase, model_dir: str, reports_dir: str, device: str, weights_file: str | None
) -> dict[str, Any]:
    """Predict one manifest case and write its report ``<case_id>.html``; returns the JSON-ready result."""
    logic = HematomaExpansionLogicBase()
    bundle = _bundle(model_dir)
    needed = {spec.name for spec in required_covariates(bundle)}  # other manifest covariates stay unused
    clinical = {name: value for name, value in case.clinical.items() if name in needed}
    with scratch_nodes(logic.scene):
        volume, segmentation = load_case(logic.runtime, case.ct, case.hematoma)
        result = logic.predict(
            volume, segmentation, case.segment, bundle, device, weights_file, clinical=clinical
        )
    note = bundle.card.get("extra", {}).get("intended_use", "")
    write_case_report(result, Path(reports_dir) / f"{case.case_id}.html", case.case_id, None, note)
    return result.as_dict()


def extract_cohort(
    manifest: Path | str, out_dir: Path | str, *args: Any, **options: Any
) -> extraction.CohortExtraction:
    """:func:`..cohort.extraction.extract_cohort` with each case run by :func:`extract_case`."""
    return extraction.extract_cohort(
        manifest, out_dir, *args, extract_case=extract_case, preload=WORKER_PRELOAD, **options
    )


def predict_cohort(
    manifest: Path | str, out_dir: Path | str, bundle: ModelBundle, *args: Any, **options: Any
) -> prediction.CohortPrediction:
    """:func:`..cohort.prediction.predict_cohort` with each case run by :func:`predict_cohort_case`."""
    return prediction.predict_cohort(
        manifest, out_dir, bundle, *args, predict_case=predict_cohort_case, preload=WORKER_PRELOAD, **options
    )

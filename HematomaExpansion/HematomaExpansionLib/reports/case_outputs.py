"""The outputs of one case: its features as files, its prediction as text lines and as files.

Used by the command line (``extract``, ``predict``, ``demo``), the batch example and the
self-test, so that all of them write and show the same things. A prediction's folder holds one
result: its files are written to a staging folder and moved into place at the end, replacing an
earlier result (:data:`PREDICTION_ENTRIES`); a folder holding other files is refused unless
``overwrite``, and then those files are kept beside the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..common.atomic import require_folder, staged_folder, write_csv_atomic, write_json_atomic
from ..common.errors import InputError
from ..features.featureset import FeatureSet
from ..imaging.measurements import unit_of
from ..model.applicability import ApplicabilityChecklist
from ..model.prediction import PredictionResult
from .case_report import MEASUREMENT_LABELS, write_case_report
from .text_table import format_table


def write_feature_set(feature_set: FeatureSet, out_dir: Path, stem: str = "features") -> list[Path]:
    """Write features as CSV (feature, value) and JSON (features, provenance, warnings)."""
    rows = [[name, repr(float(value))] for name, value in feature_set.features.items()]
    csv_path = write_csv_atomic(out_dir / f"{stem}.csv", ["feature", "value"], rows)
    document = {
        "features": feature_set.features,
        "provenance": feature_set.provenance,
        "warnings": feature_set.warnings,
    }
    return [csv_path, write_json_atomic(out_dir / f"{stem}.json", document)]


def _provenance_line(provenance: Mapping[str, Any]) -> str:
    return (
        "provenance: HematomaExpansion {software_version}, pyradiomics {pyradiomics}, parameter file sha256 "
        "{params}, backbone {backbone} (fingerprint {fingerprint}), model npz sha256 {npz}".format(
            software_version=provenance.get("software_version"),
            pyradiomics=provenance.get("pyradiomics_version", "-"),
            params=str(provenance.get("radiomics_params_sha256", "-"))[:12],
            backbone=provenance.get("backbone_id", "-"),
            fingerprint=provenance.get("backbone_fingerprint", "-"),
            npz=str(provenance.get("model_npz_sha256"))[:12],
        )
    )


def prediction_lines(result: PredictionResult, case_label: str) -> list[str]:
    """The prediction as a clinician reads it: risk first, then size, slices, features, warnings."""
    blocks = [
        f"Case {case_label}: {result.risk_text}",
        f"Model: {result.model_id} ({result.model_kind})",
        f"Research use only. {result.provenance.get('model_intended_use', '')}".rstrip() + "\n",
    ]
    rows = [
        [label, result.measurements[name], unit_of(name)]
        for name, label in MEASUREMENT_LABELS.items()
        if name in result.measurements
    ]
    blocks.append(format_table(["hematoma", "value", "unit"], rows))
    extraction = result.extraction
    if extraction.z_positions_mm:
        positions = ", ".join(f"{z:.1f}" for z in extraction.z_positions_mm)
        blocks.append(
            f"\nslices used (z, mm): {positions}  (largest cross-section z0 = {extraction.cross_section.z_mm:.1f} mm)"
        )
    blocks.append(
        "\n" + format_table(["model feature", "value", "z-score", "LASSO weight"], result.feature_rows())
    )
    blocks += [f"warning: {warning}" for warning in result.warnings]
    blocks.append("\n" + _provenance_line(result.provenance))
    return "\n".join(blocks).split("\n")


#: What a prediction writes into its folder (an earlier result is these entries).
PREDICTION_ENTRIES = ("prediction.json", "model_features.csv", "report.html", "slices")


def check_result_folder(out_dir: Path, overwrite: bool) -> None:
    """Refuse a file, or a folder that holds files other than an earlier result unless ``overwrite``."""
    require_folder(out_dir)
    others = (
        sorted(p.name for p in out_dir.iterdir() if p.name not in PREDICTION_ENTRIES)
        if out_dir.is_dir()
        else []
    )
    if others and not overwrite:
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise InputError(
            f"output folder {out_dir} holds other files ({shown}); choose a new or empty folder, "
            "or pass --overwrite to write the result beside them"
        )


def write_prediction(
    result: PredictionResult,
    out_dir: Path,
    case_label: str,
    checklist: ApplicabilityChecklist | None,
    model_note: str,
    overwrite: bool = False,
) -> list[Path]:
    """prediction.json, model_features.csv, report.html and the slice PNGs of one case, all or nothing.

    See the module docstring for an existing ``out_dir``; returns the paths in ``out_dir``.
    """
    out_dir = Path(out_dir)
    check_result_folder(out_dir, overwrite)
    with staged_folder(out_dir, replaced=PREDICTION_ENTRIES) as staging:
        written = [
            write_json_atomic(staging / "prediction.json", result.as_dict()),
            write_csv_atomic(
                staging / "model_features.csv",
                ["feature", "value", "z_score", "lasso_weight"],
                result.feature_rows(),
            ),
            write_case_report(result, staging / "report.html", case_label, checklist, model_note),
        ]
        extraction = result.extraction
        if extraction.slice_images is not None:
            from ..features.deep import save_slice_pngs  # torch and torchvision: only with deep features

            offsets = tuple(z - extraction.cross_section.z_mm for z in extraction.z_positions_mm)
            written += save_slice_pngs(extraction.slice_images, staging / "slices", offsets_mm=offsets)
    return [out_dir / path.relative_to(staging) for path in written]

"""Synthetic feature tables as extract-cohort writes them, and training on them with tiny grids."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

from HematomaExpansionLib.evaluation import RunResult, read_feature_table, train_models
from HematomaExpansionLib.features.radiomics import default_params_path
from HematomaExpansionLib.model.config import TrainingConfig
from training_fixtures import FAST_CONFIG

# Smaller still than FAST_CONFIG: three models fit in a few seconds.
TINY_CONFIG = dataclasses.replace(
    FAST_CONFIG, n_lambdas=15, lasso_folds=5, svm_folds=3, calibration_folds=3, c_grid=(1.0, 10.0)
)
RADIOMICS_COLUMNS = (
    "original_shape_Sphericity",
    "original_firstorder_Skewness",
    "original_firstorder_Mean",
    "original_glcm_Contrast",
    "original_shape_MeshVolume",
    "wavelet-LLH_glcm_Correlation",
)
DEEP_COLUMNS = tuple(f"deep_resnet50_mean_{j:04d}" for j in range(6))
# The first two columns of each family carry the signal.
COEFFICIENTS = {
    RADIOMICS_COLUMNS[0]: -1.3,
    RADIOMICS_COLUMNS[1]: 1.1,
    DEEP_COLUMNS[0]: 1.0,
    DEEP_COLUMNS[1]: -0.9,
}


def deep_identity() -> dict:
    return {
        "backbone_id": "random:0",
        "backbone_fingerprint": "0123abcd",
        "slice_offsets_mm": [-2.0, -1.0, 0.0, 1.0, 2.0],
        "window": {"level_hu": 40.0, "width_hu": 80.0},
        "crop_margin_mm": 5.0,
        "deep_aggregation": "mean",
        "deep_size_px": 224,
        "deep_blank_outside": False,
    }


def params_sha256() -> str:
    return hashlib.sha256(default_params_path().read_bytes()).hexdigest()


def synthetic_rows(n: int = 150, seed: int = 3) -> tuple[list[str], list[list]]:
    """Columns and rows of a labelled, split feature table (stratified 80/20 split)."""
    rng = np.random.default_rng(seed)
    names = [*RADIOMICS_COLUMNS, *DEEP_COLUMNS]
    z = rng.standard_normal((n, len(names)))
    logit = -0.8 + sum(c * z[:, names.index(name)] for name, c in COEFFICIENTS.items())
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    values = z * rng.uniform(0.5, 30.0, len(names)) + rng.uniform(-5.0, 100.0, len(names))
    split = np.full(n, "train", dtype=object)
    for cls in (0, 1):
        rows = np.flatnonzero(label == cls)
        split[rng.choice(rows, size=round(0.2 * rows.size), replace=False)] = "test"
    baseline = rng.uniform(2.0, 80.0, n)
    followup = baseline * np.where(label == 1, 1.5, 1.05)
    columns = ["case_id", "split", "label", "baseline_volume_ml", "followup_volume_ml", *names]
    rows = [
        [
            f"case{i:03d}",
            split[i],
            int(label[i]),
            baseline[i],
            followup[i],
            *(repr(float(v)) for v in values[i]),
        ]
        for i in range(n)
    ]
    return columns, rows


def write_table(
    folder: Path, columns: list[str], rows: list[list], provenance: bool = True, name: str = "features.csv"
) -> Path:
    """Write the table (and, unless told not to, features_provenance.json beside it)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(columns)
        writer.writerows(rows)
    if provenance:
        identity = {
            "pyradiomics_version": "3.1.4",
            "radiomics_params_sha256": params_sha256(),
            "radiomics_grid": "acquisition-lps",
            **deep_identity(),
        }
        document = {
            "software_version": "0.2.0",
            "expansion_definition": {"absolute_ml": 6.0, "relative": 0.33, "rule": "6 mL or 33%"},
            "extractor_identity": identity,
            "extraction": {"radiomics_params_file": default_params_path().name},
            "versions": {"python": "3.11"},
        }
        (folder / "features_provenance.json").write_text(json.dumps(document), encoding="utf-8")
    return path


def train_table(table_path: Path, out: Path, config: TrainingConfig = TINY_CONFIG, **kwargs) -> RunResult:
    """Train the three model kinds on a written table (ceiling AUC 0.9)."""
    return train_models(read_feature_table(table_path), out, config=config, ceiling_auc=0.9, **kwargs)

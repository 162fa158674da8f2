"""Regenerate the bundled models and their report from the synthetic validation cohort (make demo-model).

cohort (phantom-cohort, n = 235, seed 0) -> features (extract-cohort: full radiomics + ResNet50 with
random:0 weights) -> models (train: radiomics, deep, fused on the 188 training cases) -> install the
bundles under HematomaExpansion/Resources/Models/ and the report under docs/synthetic_cohort/.

Every step is seeded; the same command gives the same numbers. ``--reuse-cohort`` skips the
generation when the cohort folder already holds a manifest (it is a pure function of n and seed).
``--sample-reference-only`` only re-extracts the sample for Testing/reference/ with the installed
bundles (its float64 features and the bundles' probabilities), keeping the training-time entries.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from HematomaExpansionLib.common.atomic import write_json_atomic
from HematomaExpansionLib.evaluation.feature_table import read_feature_table
from HematomaExpansionLib.evaluation.roc import auc
from HematomaExpansionLib.evaluation.training_run import train_models
from HematomaExpansionLib.features.pipeline import ExtractionConfig, extract_features
from HematomaExpansionLib.model.bundle import ModelBundle, load_bundle
from HematomaExpansionLib.model.prediction import predict_case
from HematomaExpansionLib.model.registry import load_model
from HematomaExpansionLib.mrml.cohort_jobs import extract_cohort
from HematomaExpansionLib.synthetic.phantom_cohort import generate_cohort
from HematomaExpansionLib.synthetic.sample import write_sample_case

ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = ROOT / "HematomaExpansion" / "Resources" / "Models"
DOCS_DIR = ROOT / "docs" / "synthetic_cohort"
SAMPLE_REFERENCE = ROOT / "Testing" / "reference" / "bundled_model_sample.json"
MODEL_ID_PREFIX = "phantom-v2"
N_CASES, SEED, BACKBONE = 235, 0, "random:0"
INTENDED_USE = (
    "Demonstration model trained on 188 synthetic head-CT phantoms (phantom-cohort n=235, seed 0) with "
    "ResNet50 weights random:0 (no ImageNet weights are bundled). NOT for clinical use: retrain on your "
    "own cohort with 'train'."
)


def ceiling_aucs(manifest: Path) -> dict[str, float]:
    """AUC of the true expansion probabilities: overall and per split (the best any model can do)."""
    with manifest.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    result = {}
    for name, selected in (
        ("all", rows),
        *((s, [r for r in rows if r["split"] == s]) for s in ("train", "test")),
    ):
        labels = np.array([int(r["label"]) for r in selected])
        probabilities = np.array([float(r["true_probability"]) for r in selected])
        result[name] = auc(labels, probabilities)
    return result


def _sample_images(folder: Path) -> tuple[object, object]:
    import SimpleITK as sitk

    paths = write_sample_case(folder)
    return sitk.ReadImage(str(paths["ct"])), sitk.ReadImage(str(paths["hematoma"]))


def float64_extraction(bundle: ModelBundle, ct: object, mask: object) -> dict[str, object]:
    """The sample's model features as this version extracts them (deep ones in float64, on the CPU)
    and the bundle's (numpy) probability on them: what a prediction today must reproduce."""
    result = predict_case(ct, mask, bundle, device="cpu")
    features = result.extraction.feature_set.features
    return {
        "float64_features": {name: features[name] for name in bundle.input_features},
        "float64_bundle_probability": result.probability,
    }


def refresh_sample_reference(folder: Path) -> dict[str, object]:
    """The recorded reference with its float64 entries re-extracted by the installed bundles."""
    reference = json.loads(SAMPLE_REFERENCE.read_text())
    ct, mask = _sample_images(folder)
    for model_id, recorded in reference["models"].items():
        recorded.update(float64_extraction(load_model(model_id), ct, mask))
    return reference


def sample_reference(run: object, folder: Path) -> dict[str, object]:
    """The bundled sample's features and each training-time (scikit-learn) model's probability.

    Stored under Testing/reference/, so that a test can check, without any pickle, that the
    installed bundles predict the sample as the fitted pipelines did (to 1e-9), and that a
    prediction today reproduces the float64 extraction.
    """
    ct, mask = _sample_images(folder)
    features = extract_features(
        ct, mask, ExtractionConfig(backbone_weights=BACKBONE, device="cpu")
    ).feature_set.features
    reference: dict[str, object] = {"models": {}}
    for kind, fitted in run.fitted.items():
        bundle_id = run.bundles[kind].name
        names = fitted.feature_names
        row = np.array([[features[n] for n in names]])
        selected = {n: features[n] for n in fitted.selected_features_}
        reference["models"][bundle_id] = {
            "features": selected,
            "sklearn_probability": float(fitted.predict_proba(row)[0, 1]),
            **float64_extraction(load_bundle(run.bundles[kind]), ct, mask),
        }
    return reference


def install(run_dir: Path, bundle_dirs: list[Path]) -> None:
    """Copy the bundles into Resources/Models and the report into docs/ (replacing older copies).

    The written discussion, docs/synthetic_cohort/README.md, is kept: its numbers are updated by hand.
    """
    for bundle in bundle_dirs:
        target = MODELS_DIR / bundle.name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(bundle, target)
    DOCS_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("report.html", "metrics.json"):
        shutil.copy2(run_dir / name, DOCS_DIR / name)
    shutil.rmtree(DOCS_DIR / "figures", ignore_errors=True)
    shutil.copytree(run_dir / "figures", DOCS_DIR / "figures")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "demo-model")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--reuse-cohort", action="store_true")
    parser.add_argument("--no-install", action="store_true", help="leave Resources/ and docs/ untouched")
    parser.add_argument(
        "--sample-reference-only",
        action="store_true",
        help="only re-extract the sample's float64 reference with the installed bundles",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    if args.sample_reference_only:
        write_json_atomic(SAMPLE_REFERENCE, refresh_sample_reference(args.out / "sample"))
        print(f"wrote {SAMPLE_REFERENCE} in {time.perf_counter() - started:.0f} s")
        return 0

    cohort_dir = args.out / "cohort"
    manifest = cohort_dir / "manifest.csv"
    if not (args.reuse_cohort and manifest.is_file()):
        summary = generate_cohort(N_CASES, cohort_dir, SEED, jobs=args.jobs)
        print("\n".join(summary.lines()))
    ceilings = ceiling_aucs(manifest)
    print(f"ceiling AUC (true probabilities): all {ceilings['all']:.3f}, test {ceilings['test']:.3f}")

    config = ExtractionConfig(backbone_weights=BACKBONE, device="cpu")
    extraction = extract_cohort(manifest, args.out / "features", config, jobs=args.jobs)
    print(f"features: {len(extraction.rows)} cases, {len(extraction.failures)} failed")
    if extraction.failures:
        return 1

    table = read_feature_table(extraction.paths["features"])
    result = train_models(
        table,
        args.out / "models",
        model_id_prefix=MODEL_ID_PREFIX,
        ceiling_auc=ceilings["test"],
        intended_use=INTENDED_USE,
    )
    print("\n".join(result.lines()))
    if not args.no_install:
        install(args.out / "models", list(result.bundles.values()))
        write_json_atomic(SAMPLE_REFERENCE, sample_reference(result, args.out / "sample"))
        print(
            f"installed {[b.name for b in result.bundles.values()]} into {MODELS_DIR} and the report into {DOCS_DIR}"
        )
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

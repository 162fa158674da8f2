"""predict-cohort: every manifest case through the Logic, reports, errors.csv, and a cached rerun."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import SimpleITK as sitk

from cohort_fixtures import small_phantom, write_manifest, write_small_case
from HematomaExpansionLib.cli import main
from HematomaExpansionLib.features.backbone import load_resnet50
from HematomaExpansionLib.features.pipeline import ExtractionConfig, extract_features
from HematomaExpansionLib.model.prediction import predict_case
from HematomaExpansionLib.mrml.cohort_jobs import predict_cohort
from prediction_fixtures import train_test_bundle

NAMES = ["original_shape_Sphericity", "original_firstorder_Mean", "deep_resnet50_mean_0007"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cohort")
    rows = []
    for index, (volume_ml, seed) in enumerate([(8.0, 1), (14.0, 2), (20.0, 3)]):
        case = write_small_case(folder, f"case{index}", volume_ml, seed)
        rows.append([f"case{index}", case["ct"].name, case["hematoma"].name, index % 2])
    scaled = sitk.Cast(sitk.RescaleIntensity(small_phantom(8.0, 1).ct, 0, 255), sitk.sitkUInt8)
    sitk.WriteImage(scaled, str(folder / "scaled_ct.nrrd"))  # an 8-bit export, not a CT in HU
    rows.append(["broken", "scaled_ct.nrrd", "case0_hematoma.seg.nrrd", 0])
    manifest = write_manifest(folder / "manifest.csv", ["case_id", "ct", "hematoma", "label"], rows)
    return folder, manifest


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, cohort):
    phantom = small_phantom(14.0, 2)
    config = ExtractionConfig.for_features(NAMES, backbone_weights="random:0", device="cpu")
    features = extract_features(phantom.ct, phantom.mask, config).feature_set
    bundle, _ = train_test_bundle(tmp_path_factory.mktemp("model") / "test-fused", features, NAMES)
    return bundle


def test_predict_cohort_writes_predictions_reports_and_errors_then_reruns_from_cache(
    cohort, bundle, tmp_path
):
    _, manifest = cohort
    out = tmp_path / "out"
    first = predict_cohort(manifest, out, bundle, device="cpu", progress=False)
    assert [row[0] for row in first.rows] == ["case0", "case1", "case2"]
    assert [f.case_id for f in first.run.failures] == ["broken"]
    with (out / "errors.csv").open() as stream:
        errors = list(csv.DictReader(stream))
    assert errors[0]["case_id"] == "broken" and "scaled_ct" in errors[0]["message"]
    assert sorted(p.name for p in (out / "reports").glob("*.html")) == [
        "case0.html",
        "case1.html",
        "case2.html",
    ]

    phantom = small_phantom(14.0, 2)
    direct = predict_case(
        phantom.ct, phantom.mask, bundle, backbone=load_resnet50("random:0", "cpu"), device="cpu"
    )
    with (out / "predictions.csv").open() as stream:
        table = {row["case_id"]: row for row in csv.DictReader(stream)}
    assert float(table["case1"]["probability"]) == pytest.approx(direct.probability, abs=1e-9)
    assert table["case1"]["label"] == "1" and 0.0 <= float(table["case0"]["probability"]) <= 1.0

    again = predict_cohort(manifest, out, bundle, device="cpu", progress=False)
    assert again.run.n_cached == 3 and again.run.n_computed == 0
    assert np.allclose([r[1] for r in again.rows], [r[1] for r in first.rows], atol=0)


def test_predict_cohort_command(cohort, bundle, tmp_path, capsys):
    _, manifest = cohort
    code = main(
        [
            "predict-cohort",
            str(manifest),
            "--out",
            str(tmp_path),
            "--model",
            str(bundle.folder),
            "--device",
            "cpu",
            "--no-progress",
        ]
    )
    assert code == 0
    output = capsys.readouterr().out
    assert "3 cases predicted" in output and "failed: broken" in output

"""Prediction with a model bundle: only the model's features, identity checked, numpy == sklearn."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from bundle_fixtures import copy_bundle, read_card, write_card
from HematomaExpansionLib import mrml
from HematomaExpansionLib.common.errors import ModelError
from HematomaExpansionLib.features.backbone import load_resnet50
from HematomaExpansionLib.features.pipeline import ExtractionConfig, extract_features
from HematomaExpansionLib.model.applicability import ApplicabilityChecklist
from HematomaExpansionLib.model.bundle import load_bundle
from HematomaExpansionLib.model.prediction import extraction_config_for, predict_case
from HematomaExpansionLib.mrml.logic import HematomaExpansionLogicBase
from HematomaExpansionLib.reports.case_report import render_case_report
from HematomaExpansionLib.synthetic import HematomaSpec, generate_phantom, write_case
from prediction_fixtures import train_test_bundle

RADIOMICS_NAMES = [
    "original_shape_Sphericity",
    "original_firstorder_Mean",
    "original_glcm_Contrast",
    "log-sigma-2-0-mm-3D_firstorder_Skewness",
    "wavelet-LLH_glszm_ZoneEntropy",
]
DEEP_NAMES = [f"deep_resnet50_mean_{i:04d}" for i in (3, 70, 512, 2047)]
NAMES = RADIOMICS_NAMES + DEEP_NAMES


@pytest.fixture(scope="module")
def backbone():
    return load_resnet50("random:0", device="cpu")


@pytest.fixture(scope="module")
def phantom():
    return generate_phantom(HematomaSpec(volume_ml=15.0, lobulation=0.2), preset="clinical", seed=8)


@pytest.fixture(scope="module")
def case_features(phantom, backbone):
    config = ExtractionConfig.for_features(NAMES, backbone_weights="random:0", device="cpu")
    return extract_features(phantom.ct, phantom.mask, config, backbone).feature_set


@pytest.fixture(scope="module")
def bundle_and_model(tmp_path_factory, case_features):
    return train_test_bundle(tmp_path_factory.mktemp("model") / "test-fused", case_features, NAMES)


def test_extraction_config_reproduces_the_training_extractor(bundle_and_model):
    bundle, _ = bundle_and_model
    config = extraction_config_for(bundle, device="cpu")
    assert set(config.feature_names) == set(bundle.input_features)
    assert config.backbone_weights == "random:0"
    assert config.deep.offsets_mm == (-2.0, -1.0, 0.0, 1.0, 2.0)


def test_a_model_trained_on_version_0_1_radiomics_is_refused_with_what_to_do(bundle_and_model, tmp_path):
    """0.1 computed radiomics after resampling tilted scans to axial slices: not reproducible now."""
    bundle, _ = bundle_and_model
    folder = tmp_path / "old-model"
    shutil.copytree(bundle.folder, folder)
    card = read_card(folder)
    del card["extractor"]["radiomics_grid"]
    write_card(folder, card, reseal=True)
    with pytest.raises(ModelError, match=r"canonical-axial \(HematomaExpansion 0.1\).*Retrain the model"):
        extraction_config_for(load_bundle(folder), device="cpu")


def test_prediction_equals_the_fitted_pipeline_and_computes_only_model_features(
    phantom, backbone, bundle_and_model, case_features
):
    bundle, fitted = bundle_and_model
    result = predict_case(phantom.ct, phantom.mask, bundle, backbone=backbone, device="cpu")
    assert set(result.extraction.feature_set.features) == set(bundle.input_features)
    row = np.array([[case_features.features[n] for n in NAMES]])
    assert result.probability == pytest.approx(float(fitted.predict_proba(row)[0, 1]), abs=1e-9)
    assert 0.0 <= result.probability <= 1.0
    assert result.category == ("high" if result.probability >= bundle.threshold else "low")
    assert [e.name for e in result.explanations] == bundle.input_features
    assert result.measurements["volume_ml"] == pytest.approx(phantom.truth["volume_ml"], rel=1e-9)
    assert result.provenance["model_id"] == "test-fused"
    assert len(result.provenance["radiomics_params_sha256"]) == 64


def test_a_case_outside_the_training_volume_range_is_predicted_with_an_extrapolation_warning(
    phantom, backbone, bundle_and_model, tmp_path
):
    bundle, _ = bundle_and_model
    volume_ml = phantom.truth["volume_ml"]
    results = {}
    for name, (low, high) in {"normal": (2.0, 80.0), "large": (2.0, volume_ml / 2)}.items():
        folder = copy_bundle(bundle.folder, tmp_path / name)
        card = read_card(folder)
        card["training_cohort"]["baseline_volume_ml"] = {"min": low, "max": high}
        write_card(folder, card, reseal=True)
        results[name] = predict_case(
            phantom.ct, phantom.mask, load_bundle(folder), backbone=backbone, device="cpu"
        )
    assert not [w for w in results["normal"].warnings if "training cohort" in w]
    expected = (
        f"the hematoma volume {volume_ml:.1f} mL is outside the 2.0-{volume_ml / 2:.1f} mL range of model "
        "'test-fused''s training cohort; the prediction is an extrapolation"
    )
    assert expected in results["large"].warnings
    assert results["large"].probability == results["normal"].probability
    assert results["large"].provenance["model_card_sha256"] == read_card(tmp_path / "large")["card_sha256"]


def test_a_different_backbone_is_refused_naming_both_identities(phantom, bundle_and_model):
    bundle, _ = bundle_and_model
    other = load_resnet50("random:1", device="cpu")
    with pytest.raises(ModelError, match=r"backbone_fingerprint.*random:1.*random:0"):
        predict_case(phantom.ct, phantom.mask, bundle, backbone=other, device="cpu")


def test_logic_prediction_on_nodes_with_table_and_report(
    runtime, tmp_path, phantom, backbone, bundle_and_model
):
    bundle, _ = bundle_and_model
    paths = write_case(phantom, tmp_path, "case")
    logic = HematomaExpansionLogicBase(runtime)
    volume = mrml.load_volume(runtime, paths["ct"])
    segmentation = mrml.load_segmentation(runtime, paths["hematoma"])
    checklist = ApplicabilityChecklist(onset_to_ct_within_6h=True, spontaneous_ich=True)
    result = logic.predict(
        volume, segmentation, model=bundle, device="cpu", checklist=checklist, backbone=backbone
    )
    direct = predict_case(phantom.ct, phantom.mask, bundle, backbone=backbone, device="cpu")
    assert result.probability == pytest.approx(direct.probability, abs=1e-12)
    assert any("conventional expansion signs" in w for w in result.warnings)
    table = mrml.table_node_rows(logic.prediction_table(result))
    assert [row["feature"] for row in table] == bundle.input_features
    slices = mrml.volume_to_sitk(logic.slice_images_volume(result))
    assert slices.GetSize() == (224, 224, 5)
    html = render_case_report(result, "case", checklist, "test model")
    assert (
        html.count("<img ") == 5
        and f"{result.probability:.0%}" in html
        and 'src="http' not in html
        and 'href="http' not in html
    )

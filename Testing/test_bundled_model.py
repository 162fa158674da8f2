"""The bundled models: cards say what they are, and they predict the sample as the fitted pipelines did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bundle_fixtures import independent_seal
from HematomaExpansionLib.model.prediction import predict_case
from HematomaExpansionLib.model.registry import DEFAULT_MODEL_ID, available_models, load_model
from HematomaExpansionLib.synthetic.ground_truth import plan_cohort
from HematomaExpansionLib.synthetic.sample import write_sample_case

REFERENCE = Path(__file__).resolve().parent / "reference" / "bundled_model_sample.json"


@pytest.fixture(scope="module")
def reference():
    return json.loads(REFERENCE.read_text())


def test_bundled_models_are_installed_with_honest_cards():
    models = {m.model_id: m for m in available_models()}
    assert {"phantom-v2-radiomics", "phantom-v2-deep", DEFAULT_MODEL_ID} <= set(models)
    for summary in models.values():
        assert "synthetic" in summary.intended_use and "NOT for clinical use" in summary.intended_use
        assert summary.n_train == 188 and summary.test_auc is not None
    card = load_model(DEFAULT_MODEL_ID).card
    assert card["extractor"]["backbone_id"] == "random:0"
    assert card["metrics"]["ceiling_auc"] is not None


def test_bundled_cards_are_sealed_and_record_the_training_cohort_volume_range():
    """The range is that of the design volumes of the 188 training phantoms (cohort n=235, seed 0)."""
    plan = plan_cohort(235, 0)
    design = sorted(
        c.hematoma.volume_ml for c, split in zip(plan.cases, plan.split, strict=True) if split == "train"
    )
    for model_id in ("phantom-v2-radiomics", "phantom-v2-deep", DEFAULT_MODEL_ID):
        card = load_model(model_id).card  # schema-checked and seal-verified
        assert card["card_sha256"] == independent_seal(card)
        assert len(design) == card["training_cohort"]["n"]
        recorded = card["training_cohort"]["baseline_volume_ml"]
        assert recorded["min"] == pytest.approx(design[0], abs=5e-4)
        assert recorded["max"] == pytest.approx(design[-1], abs=5e-4)
        assert recorded["median"] == pytest.approx((design[93] + design[94]) / 2, abs=5e-4)
        assert "design volumes" in recorded["source"] and "not measured" in recorded["source"]


@pytest.mark.parametrize("model_id", ["phantom-v2-radiomics", "phantom-v2-deep", DEFAULT_MODEL_ID])
def test_bundle_predicts_the_recorded_sample_like_the_fitted_pipeline(reference, model_id):
    recorded = reference["models"][model_id]
    bundle = load_model(model_id)
    assert list(recorded["features"]) == bundle.input_features
    probability = float(bundle.predict_proba(recorded["features"])[0])
    assert probability == pytest.approx(recorded["sklearn_probability"], abs=1e-9)
    # The float64 extraction of today differs from the training-time float32 deep features by their rounding.
    assert list(recorded["float64_features"]) == bundle.input_features
    for name, value in recorded["float64_features"].items():
        assert value == pytest.approx(recorded["features"][name], rel=1e-4, abs=1e-9), name
    float64_probability = float(bundle.predict_proba(recorded["float64_features"])[0])
    assert float64_probability == pytest.approx(recorded["float64_bundle_probability"], abs=1e-12)
    assert float64_probability == pytest.approx(recorded["sklearn_probability"], abs=1e-5)


def test_sample_prediction_today_equals_the_recorded_float64_extraction(reference, tmp_path):
    """Extracting the sample now (only the model's features) reproduces the recorded features and risk.

    Radiomics are reproduced to 1e-9. ResNet50 runs in float64: its outputs do not depend on torch's
    thread count and differ between CPUs by float64 rounding only (in float32 they differed by 1e-7
    relative between thread counts and up to 7e-5 between CPUs, 1.6e-6 in probability).
    """
    import SimpleITK as sitk

    paths = write_sample_case(tmp_path)
    bundle = load_model(DEFAULT_MODEL_ID)
    result = predict_case(
        sitk.ReadImage(str(paths["ct"])), sitk.ReadImage(str(paths["hematoma"])), bundle, device="cpu"
    )
    recorded = reference["models"][DEFAULT_MODEL_ID]
    for name, value in recorded["float64_features"].items():
        tolerance = (1e-10, 1e-12) if name.startswith("deep_") else (1e-9, 1e-9)
        assert result.extraction.feature_set.features[name] == pytest.approx(
            value, rel=tolerance[0], abs=tolerance[1]
        ), name
    assert result.probability == pytest.approx(recorded["float64_bundle_probability"], abs=1e-12)

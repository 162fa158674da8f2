"""The bundled models: cards say what they are, and they predict the sample as the fitted pipelines did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from HematomaExpansionLib.model.prediction import predict_case
from HematomaExpansionLib.model.registry import DEFAULT_MODEL_ID, available_models, load_model
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


@pytest.mark.parametrize("model_id", ["phantom-v2-radiomics", "phantom-v2-deep", DEFAULT_MODEL_ID])
def test_bundle_predicts_the_recorded_sample_like_the_fitted_pipeline(reference, model_id):
    recorded = reference["models"][model_id]
    bundle = load_model(model_id)
    assert list(recorded["features"]) == bundle.input_features
    probability = float(bundle.predict_proba(recorded["features"])[0])
    assert probability == pytest.approx(recorded["sklearn_probability"], abs=1e-9)


def test_sample_prediction_today_equals_the_training_time_pipeline(reference, tmp_path):
    """Extracting the sample now (only the model's features) reproduces the recorded features and risk.

    Radiomics are reproduced to 1e-9; ResNet50 outputs depend on torch's thread count at about
    1e-7 relative, hence the looser bound on deep features and on the probability.
    """
    import SimpleITK as sitk

    paths = write_sample_case(tmp_path)
    bundle = load_model(DEFAULT_MODEL_ID)
    result = predict_case(
        sitk.ReadImage(str(paths["ct"])), sitk.ReadImage(str(paths["hematoma"])), bundle, device="cpu"
    )
    recorded = reference["models"][DEFAULT_MODEL_ID]
    for name, value in recorded["features"].items():
        tolerance = 1e-5 if name.startswith("deep_") else 1e-9
        assert result.extraction.feature_set.features[name] == pytest.approx(
            value, rel=tolerance, abs=1e-9
        ), name
    assert result.probability == pytest.approx(recorded["sklearn_probability"], abs=1e-6)

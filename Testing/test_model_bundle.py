"""Model bundles: numpy prediction equals scikit-learn, verification on load, extractor identity."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bundle_fixtures import copy_bundle, replace_npz
from HematomaExpansionLib.common.errors import InputError, ModelError
from HematomaExpansionLib.model.bundle import (
    ARRAYS_FILE,
    CARD_FILE,
    SCHEMA_VERSION,
    load_bundle,
)
from HematomaExpansionLib.model.bundle_writer import save_bundle
from HematomaExpansionLib.model.lasso_svm import LassoSVM, fit_model
from training_fixtures import FAST_CONFIG, split_arrays

RADIOMICS_IDENTITY = {
    "pyradiomics_version": "3.1.4",
    "radiomics_params_sha256": "a" * 64,
    "radiomics_grid": "acquisition-lps",
}
DEEP_IDENTITY = {
    "backbone_id": "random:0",
    "backbone_fingerprint": "1234abcd",
    "slice_offsets_mm": [-2.0, -1.0, 0.0, 1.0, 2.0],
    "window": {"level_hu": 40.0, "width_hu": 80.0},
    "crop_margin_mm": 10.0,
    "deep_aggregation": "mean",
    "deep_size_px": 224,
    "deep_blank_outside": False,
}


class MarkerPayload:
    """Unpickling this object creates a marker file: proof that a pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory, fitted_synthetic) -> Path:
    _, model = fitted_synthetic
    folder = tmp_path_factory.mktemp("bundle") / "radiomics-test"
    extra = {"extractor": RADIOMICS_IDENTITY, "metrics": {"auc_test": 0.9}, "training_cohort": {"site": "A"}}
    save_bundle(model, folder, "radiomics-test", extra)
    return folder


@pytest.fixture(scope="module")
def deep_model() -> LassoSVM:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((120, 6))
    y = (rng.random(120) < 1 / (1 + np.exp(-2 * x[:, 0]))).astype(int)
    names = [f"deep_resnet50_mean_{j:04d}" for j in range(6)]
    config = dataclasses.replace(FAST_CONFIG, lasso_folds=5, n_lambdas=10, svm_folds=3, calibration_folds=3)
    return fit_model(x, y, names, "deep", config)


def test_numpy_prediction_equals_the_fitted_pipeline(bundle_dir, fitted_synthetic):
    cohort, model = fitted_synthetic
    bundle = load_bundle(bundle_dir)
    x_test, _ = split_arrays(cohort, "test")
    rng = np.random.default_rng(0)
    rows = x_test[rng.integers(0, len(x_test), 1000)]
    rows = rows * rng.normal(1.0, 0.5, rows.shape) + rng.normal(0.0, 1.0, rows.shape)
    columns = [model.feature_names.index(name) for name in bundle.input_features]
    expected = model.predict_proba(rows)[:, 1]
    assert np.max(np.abs(bundle.predict_proba(rows[:, columns]) - expected)) <= 1e-9
    assert len(np.unique(np.round(expected, 3))) > 50  # the rows span many probabilities

    case = dict(zip(model.feature_names, rows[0], strict=True))  # a full feature set, extra keys too
    assert bundle.predict_proba(case) == pytest.approx(expected[:1], abs=1e-9)


def test_bundle_records_the_fitted_model(bundle_dir, fitted_synthetic):
    _, model = fitted_synthetic
    bundle = load_bundle(bundle_dir)
    card = bundle.card
    assert card["schema_version"] == SCHEMA_VERSION
    assert bundle.model_id == "radiomics-test" and bundle.kind == "radiomics"
    assert bundle.input_features == model.selected_features_
    assert card["training_features"] == model.feature_names
    assert bundle.threshold == model.threshold_
    assert card["svm"]["C"] == model.svm_params_["C"]
    assert card["training_cohort"] == {"n": model.n_train_, "n_positive": model.n_positive_, "site": "A"}
    assert card["metrics"] == {"auc_test": 0.9}
    assert card["training_config"] == FAST_CONFIG.as_dict()
    assert len(card["calibration"]["folds"]) == FAST_CONFIG.calibration_folds
    assert np.array_equal(bundle.arrays["lasso_weight"], model.lasso_weights_)
    assert np.array_equal(bundle.arrays["lasso_lambdas"], model.path_.lambdas)
    assert set(card["versions"]) >= {"numpy", "scikit-learn", "python", "hematoma_expansion"}
    assert sorted(p.name for p in bundle_dir.iterdir()) == [CARD_FILE, ARRAYS_FILE]  # no temp files left
    assert card["model_npz_sha256"] == hashlib.sha256((bundle_dir / ARRAYS_FILE).read_bytes()).hexdigest()


def test_explain_and_category(bundle_dir, fitted_synthetic):
    cohort, model = fitted_synthetic
    bundle = load_bundle(bundle_dir)
    x_test, _ = split_arrays(cohort, "test")
    case = dict(zip(model.feature_names, x_test[0], strict=True))
    rows = bundle.explain(case)
    assert [r.name for r in rows] == model.selected_features_
    for row, weight in zip(rows, model.lasso_weights_, strict=True):
        column = model.feature_names.index(row.name)
        train_values = split_arrays(cohort, "train")[0][:, column]
        assert row.value == case[row.name]
        assert row.z_score == pytest.approx((row.value - train_values.mean()) / train_values.std(), rel=1e-9)
        assert row.lasso_weight == weight
    assert bundle.category(bundle.threshold) == "high"
    assert bundle.category(np.nextafter(bundle.threshold, 0.0)) == "low"


def test_missing_features_are_named(bundle_dir):
    bundle = load_bundle(bundle_dir)
    case = dict.fromkeys(bundle.input_features[1:], 1.0)
    with pytest.raises(ModelError, match=bundle.input_features[0]):
        bundle.predict_proba(case)
    with pytest.raises(InputError, match="expects rows of"):
        bundle.predict_proba(np.ones((2, len(bundle.input_features) + 1)))


def test_tampered_npz_is_refused(bundle_dir, tmp_path):
    folder = copy_bundle(bundle_dir, tmp_path / "b")
    data = bytearray((folder / ARRAYS_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / ARRAYS_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256"):
        load_bundle(folder)


def test_changed_arrays_are_refused_even_as_a_valid_archive(bundle_dir, tmp_path):
    folder = copy_bundle(bundle_dir, tmp_path / "b")
    arrays = dict(np.load(folder / ARRAYS_FILE))
    arrays["zscore_mean"] = arrays["zscore_mean"] + 1.0
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    replace_npz(folder, buffer.getvalue(), update_card=False)
    with pytest.raises(ModelError, match="SHA-256"):
        load_bundle(folder)


@pytest.mark.parametrize("update_card", [False, True])
def test_pickle_payload_is_refused_without_being_executed(bundle_dir, tmp_path, update_card):
    folder = copy_bundle(bundle_dir, tmp_path / "b")
    marker = tmp_path / "executed"
    payload = pickle.dumps(MarkerPayload(marker))
    replace_npz(folder, payload, update_card=update_card)
    with pytest.raises(ModelError, match="SHA-256" if not update_card else "not a plain numpy archive"):
        load_bundle(folder)
    assert not marker.exists()
    pickle.loads(payload)  # the payload is live: unpickling it does create the marker
    assert marker.exists()


def test_object_arrays_are_refused(bundle_dir, tmp_path):
    folder = copy_bundle(bundle_dir, tmp_path / "b")
    arrays = dict(np.load(folder / ARRAYS_FILE))
    arrays["zscore_mean"] = np.array([object()] * len(arrays["zscore_mean"]), dtype=object)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    replace_npz(folder, buffer.getvalue(), update_card=True)
    with pytest.raises(ModelError, match="not a plain numpy archive"):
        load_bundle(folder)


def test_inconsistent_arrays_wrong_schema_and_missing_files_are_refused(bundle_dir, tmp_path):
    folder = copy_bundle(bundle_dir, tmp_path / "shape")
    arrays = dict(np.load(folder / ARRAYS_FILE))
    arrays["zscore_sd"] = arrays["zscore_sd"][:-1]
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    replace_npz(folder, buffer.getvalue(), update_card=True)
    with pytest.raises(ModelError, match="zscore_sd"):
        load_bundle(folder)

    folder = copy_bundle(bundle_dir, tmp_path / "schema")
    card = json.loads((folder / CARD_FILE).read_text())
    card["schema_version"] = SCHEMA_VERSION + 1
    (folder / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="schema version"):
        load_bundle(folder)

    (folder / CARD_FILE).write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_bundle(folder)

    (folder / ARRAYS_FILE).unlink()
    with pytest.raises(ModelError, match=r"lacks model\.npz"):
        load_bundle(folder)


def test_extractor_identity_is_checked_for_the_model_kind(bundle_dir, deep_model, tmp_path):
    radiomics = load_bundle(bundle_dir)
    radiomics.check_extractor({**RADIOMICS_IDENTITY, **DEEP_IDENTITY, "backbone_id": "imagenet1k_v2"})
    other = {**RADIOMICS_IDENTITY, "radiomics_params_sha256": "b" * 64}
    with pytest.raises(ModelError) as error:
        radiomics.check_extractor(other)
    message = str(error.value)
    assert "radiomics_params_sha256" in message and "a" * 64 in message and "b" * 64 in message

    save_bundle(deep_model, tmp_path / "deep", "deep-test", {"extractor": DEEP_IDENTITY})
    deep = load_bundle(tmp_path / "deep")
    deep.check_extractor({**DEEP_IDENTITY, "slice_offsets_mm": (-2, -1, 0, 1, 2), "pyradiomics_version": "x"})
    with pytest.raises(ModelError, match="backbone_fingerprint"):
        deep.check_extractor({**DEEP_IDENTITY, "backbone_fingerprint": "ffff0000"})
    assert deep.predict_proba(np.zeros((3, len(deep.input_features)))) == pytest.approx(
        deep_model.predict_proba(np.zeros((3, 6)))[:, 1], abs=1e-9
    )


def test_saving_needs_the_extractor_identity_of_the_kind(deep_model, tmp_path):
    with pytest.raises(InputError, match="backbone_fingerprint"):
        save_bundle(
            deep_model,
            tmp_path / "x",
            "deep-test",
            {"extractor": {k: v for k, v in DEEP_IDENTITY.items() if k != "backbone_fingerprint"}},
        )
    with pytest.raises(InputError, match="model id"):
        save_bundle(deep_model, tmp_path / "x", "../escape", {"extractor": DEEP_IDENTITY})
    assert not (tmp_path / "x").exists()


def test_loading_and_predicting_need_neither_scikit_learn_nor_scipy_nor_torch(bundle_dir):
    code = (
        "import sys\n"
        "from HematomaExpansionLib.model.bundle import load_bundle\n"
        f"bundle = load_bundle({str(bundle_dir)!r})\n"
        "bundle.predict_proba(dict.fromkeys(bundle.input_features, 0.0))\n"
        "print(sorted(m for m in ('sklearn', 'scipy', 'torch') if m in sys.modules))\n"
    )
    package_root = Path(__file__).resolve().parents[1] / "HematomaExpansion"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=package_root, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_importing_the_model_package_needs_neither_scikit_learn_nor_scipy_nor_torch_nor_jsonschema():
    code = (
        "import sys\n"
        "import HematomaExpansionLib.model as model\n"
        "assert model.load_model and model.TrainingConfig and model.save_bundle\n"
        "print(sorted(m for m in ('sklearn', 'scipy', 'torch', 'jsonschema') if m in sys.modules))\n"
        "assert model.LassoSVM.__module__ == 'HematomaExpansionLib.model.lasso_svm'\n"
    )
    package_root = Path(__file__).resolve().parents[1] / "HematomaExpansion"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=package_root, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"

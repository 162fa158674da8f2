"""Model bundles: a folder with ``model.json`` (the model card) and ``model.npz`` (the arrays).

A bundle is data, never code: ``model.npz`` is read with ``allow_pickle=False`` only after its
SHA-256 matched the card, and prediction is plain numpy that reproduces the fitted scikit-learn
pipeline (z-score -> RBF SVM per calibration fold -> Platt sigmoid -> mean over folds).
Loading and predicting import neither scikit-learn nor scipy, so Slicer needs only numpy.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..common.atomic import write_bytes_atomic, write_text_atomic
from ..common.errors import InputError, ModelError
from ..common.versions import software_versions
from ..features.featureset import identity_keys as featureset_identity_keys

if TYPE_CHECKING:
    from ..model.lasso_svm import FittedModel

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
CARD_FILE = "model.json"
ARRAYS_FILE = "model.npz"
FAMILIES_BY_KIND: dict[str, tuple[str, ...]] = {
    "radiomics": ("radiomics",),
    "deep": ("deep",),
    "fused": ("radiomics", "deep"),
}
MODEL_KINDS: tuple[str, ...] = tuple(FAMILIES_BY_KIND)
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class FeatureExplanation(NamedTuple):
    """One input feature of one case: raw value, z-score against training, LASSO weight."""

    name: str
    value: float
    z_score: float
    lasso_weight: float


def identity_keys(kind: str) -> tuple[str, ...]:
    """Extractor identity keys relevant to a model kind (radiomics-only models ignore the backbone)."""
    return featureset_identity_keys(FAMILIES_BY_KIND[kind])


def _fold_arrays(fitted: FittedModel) -> tuple[dict[str, np.ndarray], list[dict[str, float]]]:
    """Support vectors, dual coefficients and Platt parameters of each calibrated fold model."""
    arrays: dict[str, np.ndarray] = {}
    folds = []
    for i, pair in enumerate(fitted.calibrated_.calibrated_classifiers_):
        svm = pair.estimator
        (calibrator,) = pair.calibrators
        if list(svm.classes_) != [0, 1] or svm.kernel != "rbf":
            raise ModelError("only binary RBF SVMs with labels 0/1 can be written to a bundle")
        arrays[f"fold{i}_support_vectors"] = np.asarray(svm.support_vectors_, dtype=float)
        arrays[f"fold{i}_dual_coef"] = np.asarray(svm.dual_coef_[0], dtype=float)
        folds.append(
            {
                "intercept": float(svm.intercept_[0]),
                "gamma": float(svm.gamma),
                "a": float(calibrator.a_),
                "b": float(calibrator.b_),
            }
        )
    return arrays, folds


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def save_bundle(
    fitted: FittedModel, out_dir: Path | str, model_id: str, card_extra: Mapping[str, Any]
) -> Path:
    """Write ``model.json`` and ``model.npz`` for ``fitted`` into ``out_dir``; return the folder.

    ``card_extra`` must hold ``extractor`` (the extractor identity dict, with the keys of
    :func:`identity_keys` for the model's kind); ``metrics`` and ``training_cohort`` (merged
    into the cohort summary) are optional; other keys are stored under ``extra``.
    """
    if not _MODEL_ID.match(model_id):
        raise InputError(f"model id {model_id!r} must be letters, digits, '.', '_' or '-'")
    extractor = card_extra.get("extractor")
    if not isinstance(extractor, Mapping):
        raise InputError("card_extra['extractor'] must be the extractor identity dict of the features")
    missing = [k for k in identity_keys(fitted.kind) if k not in extractor]
    if missing:
        raise InputError(f"the extractor identity of a {fitted.kind} model lacks {missing}")

    selected = [fitted.kept_features.index(name) for name in fitted.selected_features]
    path = fitted.path_
    arrays = {
        "zscore_mean": fitted.scaler_.mean_[selected].astype(float),
        "zscore_sd": fitted.scaler_.scale_[selected].astype(float),
        "lasso_weight": fitted.lasso_weights_.astype(float),
        "lasso_lambdas": path.lambdas,
        "lasso_path_coefs": path.coefs,
        "lasso_path_intercepts": path.intercepts,
        "lasso_cv_mean": path.cv_mean,
        "lasso_cv_se": path.cv_se,
    }
    fold_arrays, folds = _fold_arrays(fitted)
    arrays.update(fold_arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    npz_bytes = buffer.getvalue()

    config = fitted.config
    reserved = {"extractor", "metrics", "training_cohort"}
    card = {
        "schema_version": SCHEMA_VERSION,
        "model_id": model_id,
        "kind": fitted.kind,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "input_features": fitted.selected_features,
        "training_features": fitted.feature_names,
        "preprocessing": {
            "method": "z-score with the training mean and population standard deviation",
            "arrays": ["zscore_mean", "zscore_sd"],
        },
        "feature_selection": {
            "constant_features": fitted.constant_features,
            "univariate_filter": config.univariate_filter,
            "filtered_features": fitted.filtered_features,
            "correlation_prune": config.correlation_prune,
            "pruned_features": fitted.pruned_features,
            "lasso_candidates": fitted.candidate_features,
        },
        "lasso": {
            "objective": "mean log-loss + lambda * L1 norm",
            "cv_score": path.score,
            "lambda_rule": config.lambda_rule,
            "lambda": fitted.lambda_,
            "lambda_index": fitted.lambda_index_,
            "index_min": path.index_min,
            "index_1se": path.index_1se,
            "intercept": fitted.lasso_intercept_,
            "weights": dict(zip(fitted.selected_features, fitted.lasso_weights_.tolist(), strict=True)),
        },
        "svm": {"kernel": "rbf", **fitted.svm_params_, "cv_auc": fitted.svm_cv_auc_},
        "calibration": {
            "method": "sigmoid",
            "probability": "mean over folds of 1 / (1 + exp(a * f + b)), f the fold SVM's decision value",
            "folds": folds,
        },
        "threshold": {
            "value": fitted.threshold_,
            "rule": "Youden's J on nested out-of-fold training probabilities; positive when p >= value",
            "oof_auc": fitted.oof_auc_,
        },
        "training_cohort": {
            "n": fitted.n_train,
            "n_positive": fitted.n_positive,
            **card_extra.get("training_cohort", {}),
        },
        "training_config": config.as_dict(),
        "warnings": fitted.warnings,
        "metrics": card_extra.get("metrics", {}),
        "extractor": dict(extractor),
        "extra": {k: v for k, v in card_extra.items() if k not in reserved},
        "versions": software_versions(("numpy", "scipy", "scikit-learn")),
        "arrays": {name: list(a.shape) for name, a in arrays.items()},
        "model_npz_sha256": hashlib.sha256(npz_bytes).hexdigest(),
    }
    try:
        text = json.dumps(card, indent=2, default=_json_default)
    except TypeError as error:
        raise InputError(f"card_extra holds a value that cannot be written to JSON: {error}") from error
    out = Path(out_dir)
    write_bytes_atomic(out / ARRAYS_FILE, npz_bytes)
    write_text_atomic(out / CARD_FILE, text + "\n")
    logger.info("saved %s model %r to %s", fitted.kind, model_id, out)
    return out


class ModelBundle:
    """A loaded, verified model bundle; predicts with numpy only."""

    def __init__(self, card: dict[str, Any], arrays: dict[str, np.ndarray], folder: Path) -> None:
        self.card = card
        self.arrays = arrays
        self.folder = folder

    @property
    def model_id(self) -> str:
        return self.card["model_id"]

    @property
    def kind(self) -> str:
        return self.card["kind"]

    @property
    def input_features(self) -> list[str]:
        """The features a prediction needs, in the order of array inputs."""
        return list(self.card["input_features"])

    @property
    def threshold(self) -> float:
        return float(self.card["threshold"]["value"])

    @property
    def extractor(self) -> dict[str, Any]:
        return dict(self.card["extractor"])

    def _rows(self, features: Mapping[str, float] | np.ndarray) -> np.ndarray:
        names = self.input_features
        if isinstance(features, Mapping):
            missing = [n for n in names if n not in features]
            if missing:
                raise ModelError(
                    f"model {self.model_id!r} needs {len(missing)} feature(s) the input lacks: {missing}"
                )
            rows = np.array([[float(features[n]) for n in names]])
        else:
            rows = np.asarray(features, dtype=float)
            if rows.ndim == 1:
                rows = rows[None, :]
            if rows.ndim != 2 or rows.shape[1] != len(names):
                raise InputError(
                    f"model {self.model_id!r} expects rows of {len(names)} values in the order "
                    f"{names}, got an array of shape {np.shape(features)}"
                )
        bad = [n for n, ok in zip(names, np.isfinite(rows).all(axis=0), strict=True) if not ok]
        if bad:
            raise InputError(f"feature value(s) missing or not finite: {bad}")
        return rows

    def _zscores(self, rows: np.ndarray) -> np.ndarray:
        z = rows - self.arrays["zscore_mean"]
        z /= self.arrays["zscore_sd"]
        return z

    def predict_proba(self, features: Mapping[str, float] | np.ndarray) -> np.ndarray:
        """Probability of expansion, shape (n,), for a feature mapping or rows (n, k) in input order."""
        z = self._zscores(self._rows(features))
        folds = self.card["calibration"]["folds"]
        total = np.zeros(len(z))
        for i, fold in enumerate(folds):
            support = self.arrays[f"fold{i}_support_vectors"]
            squared = np.sum((z[:, None, :] - support[None, :, :]) ** 2, axis=2)
            decision = (
                np.exp(-fold["gamma"] * squared) @ self.arrays[f"fold{i}_dual_coef"] + fold["intercept"]
            )
            total += 1.0 / (1.0 + np.exp(fold["a"] * decision + fold["b"]))
        return total / len(folds)

    def category(self, probability: float) -> str:
        """'high' when ``probability`` reaches the model's threshold, else 'low'."""
        return "high" if probability >= self.threshold else "low"

    def explain(self, features: Mapping[str, float] | np.ndarray) -> list[FeatureExplanation]:
        """Per input feature of one case: value, z-score against the training set, LASSO weight."""
        rows = self._rows(features)
        if len(rows) != 1:
            raise InputError(f"explain takes one case, got {len(rows)} rows")
        z = self._zscores(rows)[0]
        weights = self.arrays["lasso_weight"]
        return [
            FeatureExplanation(name, float(v), float(s), float(w))
            for name, v, s, w in zip(self.input_features, rows[0], z, weights, strict=True)
        ]

    def check_extractor(self, identity: Mapping[str, Any]) -> None:
        """Raise ModelError naming both identities when ``identity`` differs from the training one.

        Only the keys relevant to the model's kind are compared (see :func:`identity_keys`).
        """
        keys = identity_keys(self.kind)
        trained = {k: self.card["extractor"].get(k) for k in keys}
        given = json.loads(json.dumps({k: identity.get(k) for k in keys}, default=_json_default))
        differing = [k for k in keys if trained[k] != given[k]]
        if differing:
            raise ModelError(
                f"the features were computed by a different extractor than model {self.model_id!r} "
                f"was trained with (differing: {', '.join(differing)}). Features: {given}. "
                f"Model: {trained}. Extract the features with the model's settings."
            )


def load_bundle(path: Path | str) -> ModelBundle:
    """Load and verify a bundle folder (schema version, SHA-256 of model.npz, array shapes).

    ``model.npz`` is read with ``allow_pickle=False`` after its hash matched: a pickle or object
    array is refused without being executed. Any problem raises ModelError.
    """
    folder = Path(path)
    card_path, arrays_path = folder / CARD_FILE, folder / ARRAYS_FILE
    for needed in (card_path, arrays_path):
        if not needed.is_file():
            raise ModelError(f"model bundle {folder} lacks {needed.name}")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{card_path} is not valid JSON: {error}") from error
    if not isinstance(card, dict) or card.get("schema_version") != SCHEMA_VERSION:
        found = card.get("schema_version") if isinstance(card, dict) else None
        raise ModelError(
            f"{card_path} has schema version {found!r}; this software reads version {SCHEMA_VERSION}"
        )
    data = arrays_path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != card.get("model_npz_sha256"):
        raise ModelError(
            f"{arrays_path} does not match its model card (SHA-256 {digest}, card says "
            f"{card.get('model_npz_sha256')}): the file was changed or damaged; reinstall the model"
        )
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not an archive")
        with loaded:
            arrays = {name: loaded[name] for name in loaded.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise ModelError(f"{arrays_path} is not a plain numpy archive: {error}") from error
    try:
        _check_contents(card, arrays)
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"model bundle {folder} is inconsistent: {error}") from error
    return ModelBundle(card, arrays, folder)


def _check_contents(card: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Raise ValueError/KeyError/TypeError when the card and arrays do not form a usable model."""
    if card["kind"] not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {card['kind']!r}")
    k = len(card["input_features"])
    folds = card["calibration"]["folds"]
    expected = {"zscore_mean": (k,), "zscore_sd": (k,), "lasso_weight": (k,)}
    for i, fold in enumerate(folds):
        support = arrays.get(f"fold{i}_support_vectors")
        n_support = -1 if support is None else support.shape[0]
        expected[f"fold{i}_support_vectors"] = (n_support, k)
        expected[f"fold{i}_dual_coef"] = (n_support,)
        values = [float(fold[name]) for name in ("intercept", "gamma", "a", "b")]
        if not np.all(np.isfinite(values)) or fold["gamma"] <= 0:
            raise ValueError(f"calibration fold {i} has invalid parameters {fold}")
    if k == 0 or not folds:
        raise ValueError("the model has no input features or no fold models")
    listed = {name: tuple(shape) for name, shape in card["arrays"].items()}
    if set(listed) != set(arrays):
        raise ValueError(f"arrays {sorted(arrays)} differ from those the card lists {sorted(listed)}")
    for name, array in arrays.items():
        if array.dtype.kind != "f" or array.shape != listed[name] or not np.all(np.isfinite(array)):
            raise ValueError(f"array {name} has dtype {array.dtype} and shape {array.shape}")
    for name, shape in expected.items():
        if name not in arrays or arrays[name].shape != shape:
            raise ValueError(f"array {name} is missing or not of shape {shape}")
    if np.any(arrays["zscore_sd"] <= 0):
        raise ValueError("standard deviations must be positive")
    if not 0.0 <= float(card["threshold"]["value"]) <= 1.0:
        raise ValueError("the threshold must lie in [0, 1]")

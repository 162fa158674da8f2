"""Writing a fitted LASSO-SVM as a sealed model bundle (``model.json`` + ``model.npz``, see :mod:`.bundle`),
and re-sealing a card after a deliberate edit (:func:`seal_bundle`, the ``seal-model`` command)."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..common.atomic import write_bytes_atomic, write_text_atomic
from ..common.errors import InputError, ModelError
from ..common.hashing import sha256_bytes
from ..common.jsonsafe import json_safe
from ..common.versions import software_versions
from ..features.families import identity_keys
from .bundle import ARRAYS_FILE, CARD_FILE, SCHEMA_VERSION, bundle_from_card
from .card import SEAL_KEY, card_digest, read_card, validate_card
from .kinds import families_of

if TYPE_CHECKING:
    from .lasso_svm import LassoSVM

logger = logging.getLogger(__name__)

_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Keys of ``card_extra`` with a place of their own in the card; the others go under ``extra``.
_RESERVED_KEYS = ("extractor", "metrics", "training_cohort")


def save_bundle(fitted: LassoSVM, out_dir: Path | str, model_id: str, card_extra: Mapping[str, Any]) -> Path:
    """Write ``model.json`` and ``model.npz`` for ``fitted`` into ``out_dir``; return the folder.

    ``card_extra`` must hold ``extractor`` (the extractor identity dict, with the identity keys
    of the feature families of the model's training features); ``metrics`` and ``training_cohort`` (merged into the
    cohort summary) are optional; other keys are stored under ``extra``.
    """
    if not _MODEL_ID.match(model_id):
        raise InputError(f"model id {model_id!r} must be letters, digits, '.', '_' or '-'")
    extractor = card_extra.get("extractor")
    if not isinstance(extractor, Mapping):
        raise InputError("card_extra['extractor'] must be the extractor identity dict of the features")
    missing = [k for k in identity_keys(families_of(fitted.feature_names)) if k not in extractor]
    if missing:
        raise InputError(f"the extractor identity of a {fitted.kind} model lacks {missing}")

    arrays, folds = _bundle_arrays(fitted)
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.ascontiguousarray(a, dtype=float) for name, a in arrays.items()})
    npz_bytes = buffer.getvalue()
    card = _model_card(fitted, model_id, card_extra, folds)
    card["arrays"] = {name: list(a.shape) for name, a in arrays.items()}
    card["model_npz_sha256"] = sha256_bytes(npz_bytes)
    try:
        text = _sealed_text(json.loads(json.dumps(json_safe(card))))
    except TypeError as error:
        raise InputError(f"card_extra holds a value that cannot be written to JSON: {error}") from error
    out = Path(out_dir)
    validate_card(json.loads(text), out / CARD_FILE)
    write_bytes_atomic(out / ARRAYS_FILE, npz_bytes)
    write_text_atomic(out / CARD_FILE, text)
    logger.info("saved %s model %r to %s", fitted.kind, model_id, out)
    return out


def _sealed_text(card: dict[str, Any]) -> str:
    """The text of ``model.json``: ``card`` (as JSON parses) with its seal as the last key."""
    sealed = {key: value for key, value in card.items() if key != SEAL_KEY}
    sealed[SEAL_KEY] = card_digest(sealed)
    return json.dumps(sealed, indent=2) + "\n"


def seal_bundle(folder: Path | str) -> tuple[str | None, str]:
    """Re-seal ``folder/model.json`` after a deliberate edit; return (old seal or None, new seal).

    The card must follow the schema and agree with model.npz (SHA-256, array names, dtypes and
    shapes, values), else ModelError; arrays are never re-sealed. model.json is rewritten atomically,
    and only when its seal changes.
    """
    folder = Path(folder)
    card_path = folder / CARD_FILE
    if not card_path.is_file() or not (folder / ARRAYS_FILE).is_file():
        raise ModelError(f"{folder} is not a model bundle (it needs {CARD_FILE} and {ARRAYS_FILE})")
    card = read_card(card_path)
    bundle_from_card(card, folder)
    old, new = card.get(SEAL_KEY), card_digest(card)
    if old != new:
        write_text_atomic(card_path, _sealed_text(card))
        logger.info("sealed %s: %s -> %s", card_path, old, new)
    return old, new


def _bundle_arrays(fitted: LassoSVM) -> tuple[dict[str, np.ndarray], list[dict[str, float]]]:
    """The arrays of ``model.npz`` and the SVM and Platt parameters of each calibration fold."""
    selected = [fitted.kept_features_.index(name) for name in fitted.selected_features_]
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


def _model_card(
    fitted: LassoSVM, model_id: str, card_extra: Mapping[str, Any], folds: list[dict[str, float]]
) -> dict[str, Any]:
    """The model card up to (without) its ``arrays`` and ``model_npz_sha256`` entries."""
    config = fitted.config_
    path = fitted.path_
    return {
        "schema_version": SCHEMA_VERSION,
        "model_id": model_id,
        "kind": fitted.kind,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "input_features": fitted.selected_features_,
        "training_features": fitted.feature_names,
        "preprocessing": {
            "method": "z-score with the training mean and population standard deviation",
            "arrays": ["zscore_mean", "zscore_sd"],
        },
        "feature_selection": {
            "constant_features": fitted.constant_features_,
            "univariate_filter": config.univariate_filter,
            "filtered_features": fitted.filtered_features_,
            "correlation_prune": config.correlation_prune,
            "pruned_features": fitted.pruned_features_,
            "lasso_candidates": fitted.candidate_features_,
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
            "weights": dict(zip(fitted.selected_features_, fitted.lasso_weights_.tolist(), strict=True)),
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
            "n": fitted.n_train_,
            "n_positive": fitted.n_positive_,
            **card_extra.get("training_cohort", {}),
        },
        "training_config": config.as_dict(),
        "warnings": fitted.warnings_,
        "metrics": card_extra.get("metrics", {}),
        "extractor": dict(card_extra["extractor"]),
        "extra": {k: v for k, v in card_extra.items() if k not in _RESERVED_KEYS},
        "versions": software_versions(("numpy", "scipy", "scikit-learn")),
    }

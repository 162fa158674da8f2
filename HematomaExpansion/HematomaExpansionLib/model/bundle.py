"""Loading model bundles: a folder with ``model.json`` (the model card) and ``model.npz`` (the arrays).

A bundle is data, never code: ``model.npz`` is read with ``allow_pickle=False`` only after its
SHA-256 matched the card, and prediction is plain numpy that reproduces the fitted scikit-learn
pipeline (z-score -> RBF SVM per calibration fold -> Platt sigmoid -> mean over folds).
Loading and predicting import neither scikit-learn nor scipy, so Slicer needs only numpy;
:mod:`.bundle_writer` writes bundles.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..common.errors import InputError, ModelError
from ..common.hashing import sha256_bytes
from ..common.jsonsafe import json_safe
from ..features.families import identity_keys
from .kinds import FAMILIES_BY_KIND, MODEL_KINDS

SCHEMA_VERSION = 1
CARD_FILE = "model.json"
ARRAYS_FILE = "model.npz"


class FeatureExplanation(NamedTuple):
    """One input feature of one case: raw value, z-score against training, LASSO weight."""

    name: str
    value: float
    z_score: float
    lasso_weight: float


class ModelBundle:
    """A loaded, verified model bundle; predicts with numpy only."""

    def __init__(self, card: dict[str, Any], arrays: dict[str, np.ndarray], folder: Path) -> None:
        self.card = card
        self.arrays = arrays
        self.folder = folder

    @property
    def model_id(self) -> str:
        """The model's id, as its card records it."""
        return self.card["model_id"]

    @property
    def kind(self) -> str:
        """'radiomics', 'deep' or 'fused'."""
        return self.card["kind"]

    @property
    def input_features(self) -> list[str]:
        """The features a prediction needs, in the order of array inputs."""
        return list(self.card["input_features"])

    @property
    def threshold(self) -> float:
        """Probability at and above which a case is called 'high'."""
        return float(self.card["threshold"]["value"])

    @property
    def extractor(self) -> dict[str, Any]:
        """A copy of the extractor identity the model was trained with."""
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

        Only the identity keys of the model kind's feature families are compared.
        """
        keys = identity_keys(FAMILIES_BY_KIND[self.kind])
        trained = {k: self.card["extractor"].get(k) for k in keys}
        given = json_safe({k: identity.get(k) for k in keys})
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
    digest = sha256_bytes(data)
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

"""Loading model bundles: a folder with ``model.json`` (the model card) and ``model.npz`` (the arrays).

A bundle is data, never code. The card is validated against its JSON Schema and checked against
its seal (:mod:`.card`); ``model.npz`` must match the card's SHA-256 and, header by header, the
arrays the card implies before it is read with ``allow_pickle=False`` (:mod:`.archive`).
Prediction is plain numpy that reproduces the fitted scikit-learn pipeline (z-score -> RBF SVM per
calibration fold -> Platt sigmoid -> mean over folds). Loading and predicting import neither
scikit-learn nor scipy (numpy and jsonschema only); :mod:`.bundle_writer` writes bundles.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..common.errors import InputError, ModelError
from ..common.hashing import sha256_bytes
from ..common.jsonsafe import json_safe
from ..features.families import identity_keys
from .archive import ARRAYS_FILE, expected_shapes, read_arrays
from .card import CARD_FILE, SCHEMA_VERSION, check_seal, read_card
from .kinds import families_of

__all__ = [
    "ARRAYS_FILE",
    "CARD_FILE",
    "SCHEMA_VERSION",
    "FeatureExplanation",
    "ModelBundle",
    "bundle_from_card",
    "load_bundle",
]


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
        """'radiomics', 'deep', 'fused', 'clinical' or 'combined'."""
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

        Only the identity keys of the feature families of the model's input features are compared.
        """
        keys = identity_keys(families_of(self.input_features))
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
    """Load and verify a bundle folder: schema, the card's seal, then the arrays (see :func:`bundle_from_card`).

    Any problem raises ModelError naming the file that is wrong (model.json or model.npz).
    """
    folder = Path(path)
    card_path = folder / CARD_FILE
    for needed in (card_path, folder / ARRAYS_FILE):
        if not needed.is_file():
            raise ModelError(f"model bundle {folder} lacks {needed.name}")
    card = read_card(card_path)
    check_seal(card, card_path)
    return bundle_from_card(card, folder)


def bundle_from_card(card: dict[str, Any], folder: Path) -> ModelBundle:
    """The bundle of a schema-valid ``card`` and the folder's model.npz, verified (not the card's seal).

    model.npz must match the card's SHA-256, then its members' names, dtypes and shapes the card
    (from the archive's headers, before any data is read, :func:`.archive.read_arrays`); it is read
    with ``allow_pickle=False``: a pickle or object array is refused without being executed.
    """
    arrays_path = folder / ARRAYS_FILE
    data = arrays_path.read_bytes()
    digest = sha256_bytes(data)
    if digest != card["model_npz_sha256"]:
        raise ModelError(
            f"{arrays_path} does not match its model card (SHA-256 {digest}, card says "
            f"{card['model_npz_sha256']}): model.npz was changed or damaged; reinstall the model"
        )
    try:
        shapes = expected_shapes(card)
    except ValueError as error:
        raise ModelError(f"model card {folder / CARD_FILE} is inconsistent: {error}") from error
    try:
        arrays = read_arrays(data, shapes)
    except (ValueError, OSError, EOFError, NotImplementedError, zipfile.BadZipFile) as error:
        raise ModelError(
            f"{arrays_path} is not a plain numpy archive of the card's arrays: {error}"
        ) from error
    for name, array in arrays.items():
        if not np.all(np.isfinite(array)):
            raise ModelError(f"{arrays_path}: array {name} holds values that are not finite")
    if np.any(arrays["zscore_sd"] <= 0):
        raise ModelError(f"{arrays_path}: the standard deviations (zscore_sd) must be positive")
    return ModelBundle(card, arrays, folder)

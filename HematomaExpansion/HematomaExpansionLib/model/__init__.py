"""Models: the LASSO-SVM, its training configuration, model kinds, bundles and installed models.

Importing this package is cheap (numpy at most): the names that need scikit-learn or the feature
extractors (:class:`LassoSVM`, :func:`fit_model`, :func:`fit_on_split`, :func:`lasso_path`,
:func:`predict_case`, ...) are imported on first use.
"""

from __future__ import annotations

from ..common.lazy import lazy_exports
from .applicability import CONVENTIONAL_SIGNS, ApplicabilityChecklist
from .bundle import ARRAYS_FILE, CARD_FILE, SCHEMA_VERSION, FeatureExplanation, ModelBundle, load_bundle
from .bundle_writer import save_bundle, seal_bundle
from .card import SEAL_KEY, card_digest
from .config import TrainingConfig
from .kinds import FAMILIES_BY_KIND, MODEL_KINDS, check_kind, features_for_kind
from .registry import (
    BUNDLED_MODELS_DIR,
    DEFAULT_MODEL_ID,
    ModelSummary,
    available_models,
    load_model,
    resolve_model,
)

_lazy_names, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        ".lasso_svm": ("LassoSVM", "fit_model", "fit_on_split"),
        ".lasso": ("LassoPath", "lasso_path"),
        ".prediction": ("PredictionResult", "predict_case"),
    },
)

__all__ = [
    "ARRAYS_FILE",
    "BUNDLED_MODELS_DIR",
    "CARD_FILE",
    "CONVENTIONAL_SIGNS",
    "DEFAULT_MODEL_ID",
    "FAMILIES_BY_KIND",
    "MODEL_KINDS",
    "SCHEMA_VERSION",
    "SEAL_KEY",
    "ApplicabilityChecklist",
    "FeatureExplanation",
    "ModelBundle",
    "ModelSummary",
    "TrainingConfig",
    "available_models",
    "card_digest",
    "check_kind",
    "features_for_kind",
    "load_bundle",
    "load_model",
    "resolve_model",
    "save_bundle",
    "seal_bundle",
    *_lazy_names,
]

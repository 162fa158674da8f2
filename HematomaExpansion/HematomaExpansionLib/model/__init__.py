"""Models: the LASSO-SVM, its training configuration, model kinds, bundles and installed models.

Importing this package is cheap (numpy at most): the names that need scikit-learn or the feature
extractors (:class:`LassoSVM`, :func:`fit_model`, :func:`fit_on_split`, :func:`lasso_path`,
:func:`predict_case`, ...) are imported on first use.
"""

from __future__ import annotations

from typing import Any

from .applicability import CONVENTIONAL_SIGNS, ApplicabilityChecklist
from .bundle import ARRAYS_FILE, CARD_FILE, SCHEMA_VERSION, FeatureExplanation, ModelBundle, load_bundle
from .bundle_writer import save_bundle
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

__all__ = [
    "ARRAYS_FILE",
    "BUNDLED_MODELS_DIR",
    "CARD_FILE",
    "CONVENTIONAL_SIGNS",
    "DEFAULT_MODEL_ID",
    "FAMILIES_BY_KIND",
    "MODEL_KINDS",
    "SCHEMA_VERSION",
    "ApplicabilityChecklist",
    "FeatureExplanation",
    "LassoPath",
    "LassoSVM",
    "ModelBundle",
    "ModelSummary",
    "PredictionResult",
    "TrainingConfig",
    "available_models",
    "check_kind",
    "features_for_kind",
    "fit_model",
    "fit_on_split",
    "lasso_path",
    "load_bundle",
    "load_model",
    "predict_case",
    "resolve_model",
    "save_bundle",
]


def __getattr__(name: str) -> Any:
    """Import the module of a public name that needs scikit-learn or the extractors on first access."""
    if name in ("LassoSVM", "fit_model", "fit_on_split"):
        from . import lasso_svm as module
    elif name in ("LassoPath", "lasso_path"):
        from . import lasso as module
    elif name in ("PredictionResult", "predict_case"):
        from . import prediction as module
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(module, name)

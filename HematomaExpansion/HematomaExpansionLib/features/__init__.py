"""Features of a hematoma: the radiomics and deep feature families, and extraction over them.

Importing this package is cheap (no numpy, SimpleITK, pyradiomics or torch): the Slicer module
imports it before the first-use installation of torch and pyradiomics. The feature families and
the extraction configuration are imported here; the extractors (:func:`extract_features`,
:func:`extract_radiomics`, :func:`load_resnet50`, ...) are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from .families import (
    DEEP_IDENTITY_KEYS,
    DEFAULT_WEIGHTS,
    FAMILIES,
    FEATURE_FAMILIES,
    RADIOMICS_IDENTITY_KEYS,
    ExtractionConfig,
    FeatureFamily,
    extractor_identity,
    feature_family,
    identity_keys,
)
from .featureset import DEEP_PREFIX, FeatureSet

# Public names whose modules import numpy, SimpleITK, pyradiomics or torch: module per name.
_LAZY_MODULES = {
    "Backbone": ".backbone",
    "load_resnet50": ".backbone",
    "DeepResult": ".deep",
    "deep_feature_names": ".deep",
    "extract_deep_features": ".deep",
    "save_slice_pngs": ".deep",
    "CropBox": ".deep_slices",
    "DeepSliceConfig": ".deep_slices",
    "ExtractionResult": ".pipeline",
    "extract_features": ".pipeline",
    "available_feature_names": ".radiomics",
    "default_params_path": ".radiomics",
    "extract_radiomics": ".radiomics",
    "load_params": ".radiomics",
    "radiomics_identity": ".radiomics",
}

__all__ = [
    "DEEP_IDENTITY_KEYS",
    "DEEP_PREFIX",
    "DEFAULT_WEIGHTS",
    "FAMILIES",
    "FEATURE_FAMILIES",
    "RADIOMICS_IDENTITY_KEYS",
    "Backbone",
    "CropBox",
    "DeepResult",
    "DeepSliceConfig",
    "ExtractionConfig",
    "ExtractionResult",
    "FeatureFamily",
    "FeatureSet",
    "available_feature_names",
    "deep_feature_names",
    "default_params_path",
    "extract_deep_features",
    "extract_features",
    "extract_radiomics",
    "extractor_identity",
    "feature_family",
    "identity_keys",
    "load_params",
    "load_resnet50",
    "radiomics_identity",
    "save_slice_pngs",
]


def __getattr__(name: str) -> Any:
    """Import the module of a heavy public name on first access."""
    module = _LAZY_MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)

"""Features of a hematoma: the radiomics, deep and clinical feature families, and extraction over them.

Importing this package is cheap (no numpy, SimpleITK, pyradiomics or torch): the Slicer module
imports it before the first-use installation of torch and pyradiomics. The feature families and
the extraction configuration are imported here; the extractors (:func:`extract_features`,
:func:`extract_radiomics`, :func:`load_resnet50`, ...) are imported on first use.
"""

from __future__ import annotations

from ..common.lazy import lazy_exports
from .clinical import CLINICAL_PREFIX, CovariateSpec, parse_covariates, required_covariates
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

# Public names whose modules import numpy, SimpleITK, pyradiomics or torch, by module.
_lazy_names, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        ".backbone": ("Backbone", "load_resnet50"),
        ".deep": ("DeepResult", "deep_feature_names", "extract_deep_features", "save_slice_pngs"),
        ".deep_slices": ("CropBox", "DeepSliceConfig"),
        ".pipeline": ("ExtractionResult", "extract_features"),
        ".radiomics": (
            "available_feature_names",
            "default_params_path",
            "extract_radiomics",
            "load_params",
            "radiomics_identity",
        ),
    },
)

__all__ = [
    "CLINICAL_PREFIX",
    "DEEP_IDENTITY_KEYS",
    "DEEP_PREFIX",
    "DEFAULT_WEIGHTS",
    "FAMILIES",
    "FEATURE_FAMILIES",
    "RADIOMICS_IDENTITY_KEYS",
    "CovariateSpec",
    "ExtractionConfig",
    "FeatureFamily",
    "FeatureSet",
    "extractor_identity",
    "feature_family",
    "identity_keys",
    "parse_covariates",
    "required_covariates",
    *_lazy_names,
]

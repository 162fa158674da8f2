"""The result of feature extraction: named features, provenance and warnings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEEP_PREFIX = "deep_"
FAMILIES = ("radiomics", "deep")
# Provenance keys that must match between training and prediction, per feature family.
RADIOMICS_IDENTITY_KEYS: tuple[str, ...] = (
    "pyradiomics_version",
    "radiomics_params_sha256",
    "radiomics_grid",
)
DEEP_IDENTITY_KEYS: tuple[str, ...] = (
    "backbone_id",
    "backbone_fingerprint",
    "slice_offsets_mm",
    "window",
    "crop_margin_mm",
    "deep_aggregation",
    "deep_size_px",
    "deep_blank_outside",
)


def feature_family(name: str) -> str:
    """'deep' for ResNet50 features, 'radiomics' for pyradiomics keys."""
    return "deep" if name.startswith(DEEP_PREFIX) else "radiomics"


def identity_keys(families: Sequence[str]) -> tuple[str, ...]:
    """The extractor identity keys that matter for features of ``families``."""
    return (RADIOMICS_IDENTITY_KEYS if "radiomics" in families else ()) + (
        DEEP_IDENTITY_KEYS if "deep" in families else ()
    )


def extractor_identity(provenance: Mapping[str, Any], families: Sequence[str] = FAMILIES) -> dict[str, Any]:
    """The provenance entries that define how features of ``families`` were computed."""
    return {key: provenance.get(key) for key in identity_keys(families)}


@dataclass
class FeatureSet:
    """Ordered feature values with the provenance that identifies how they were computed.

    ``features`` keys are pyradiomics keys unchanged (``original_shape_Sphericity``) or deep
    feature names (``deep_resnet50_mean_0000``). Diagnostics belong in ``provenance``.
    """

    features: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def merged(self, other: FeatureSet) -> FeatureSet:
        """Return a new feature set holding both; names must not collide."""
        clash = set(self.features) & set(other.features)
        if clash:
            raise ValueError(f"feature names computed twice: {sorted(clash)[:5]}")
        return FeatureSet(
            features={**self.features, **other.features},
            provenance={**self.provenance, **other.provenance},
            warnings=[*self.warnings, *other.warnings],
        )

"""The result of feature extraction: named features, provenance and warnings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Deep feature names are ``deep_resnet50_<aggregation>_<index:04d>``; pyradiomics keys never start so.
DEEP_PREFIX = "deep_"


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

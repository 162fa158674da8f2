"""One call from a CT and a hematoma mask to a feature set over the configured feature families.

validate -> canonical axial geometry (largest cross-section) -> each family of the registry
(``families.FEATURE_FAMILIES``: radiomics on the acquired grid, then ResNet50 deep features on the
largest cross-section and its neighbours), all or only the named features -> one FeatureSet whose
provenance identifies the extractor, so that a model can refuse features computed differently
from those it was trained on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import SimpleITK as sitk

from .. import __version__
from ..imaging.checks import validate_ct, validate_mask
from ..imaging.geometry import CrossSection, canonical_axial, largest_axial_cross_section
from ..imaging.plausibility import hematoma_warnings
from .families import CaseImages, ExtractionConfig, extractor_identity
from .featureset import FeatureSet

if TYPE_CHECKING:
    from .backbone import Backbone
    from .deep_slices import CropBox

__all__ = ["ExtractionConfig", "ExtractionResult", "extract_features"]

_RESAMPLED_WARNING = (
    "the CT is oblique or gantry-tilted: it was resampled to axial slices for the cross-section "
    "and the deep features; radiomics use the acquired grid, so directional (wavelet) features "
    "follow the tilted axes"
)


@dataclass
class ExtractionResult:
    """Features with provenance, plus what a user wants to see of the computation."""

    feature_set: FeatureSet
    cross_section: CrossSection
    canonical: tuple[sitk.Image, sitk.Image, str]  # geometry.canonical_axial of the inputs
    details: dict[str, Any] = field(default_factory=dict)  # family name -> FamilyResult.details
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def orientation(self) -> str:
        """How the inputs were brought to axial slices: unchanged, reoriented or resampled."""
        return self.canonical[2]

    @property
    def slice_images(self) -> np.ndarray | None:
        """The deep network's input images, (n_offsets, size_px, size_px) in [0, 1]; None without deep."""
        deep = self.details.get("deep")
        return deep.slice_images if deep is not None else None

    @property
    def slice_masks(self) -> np.ndarray | None:
        """The hematoma on each slice image; None without deep features."""
        deep = self.details.get("deep")
        return deep.slice_masks if deep is not None else None

    @property
    def z_positions_mm(self) -> tuple[float, ...]:
        """Physical z of each slice image; empty without deep features."""
        deep = self.details.get("deep")
        return deep.z_positions_mm if deep is not None else ()

    @property
    def crop(self) -> CropBox | None:
        """The square crop of the slice images; None without deep features."""
        deep = self.details.get("deep")
        return deep.crop if deep is not None else None


class _Stages:
    """Times consecutive stages and announces the next one to ``progress``."""

    def __init__(self, progress: Callable[[str], None] | None) -> None:
        self.progress = progress
        self.timings_s: dict[str, float] = {}
        self._started = time.perf_counter()

    def lap(self, stage: str, next_stage: str | None = None) -> None:
        now = time.perf_counter()
        self.timings_s[stage] = now - self._started
        self._started = now
        if next_stage and self.progress:
            self.progress(next_stage)


def _base_feature_set(orientation: str, cross_section: CrossSection, warnings: list[str]) -> FeatureSet:
    """The provenance and warnings of the case itself, before any family adds its own."""
    return FeatureSet(
        provenance={
            "software": "HematomaExpansion",
            "software_version": __version__,
            "orientation": orientation,
            "max_cross_section_z_mm": cross_section.z_mm,
            "max_cross_section_area_mm2": cross_section.area_mm2,
        },
        warnings=[*warnings, *([_RESAMPLED_WARNING] if orientation == "resampled" else [])],
    )


def extract_features(
    ct: sitk.Image,
    mask: sitk.Image,
    config: ExtractionConfig | None = None,
    backbone: Backbone | None = None,
    ct_source: str = "CT",
    mask_source: str = "hematoma mask",
    progress: Callable[[str], None] | None = None,
) -> ExtractionResult:
    """Validate, bring to canonical axial geometry and extract the configured features.

    The inputs are never modified. ``backbone`` may be passed to reuse a loaded network;
    otherwise it is loaded from ``config.backbone_weights``. ``progress`` is called with the
    name of each stage before it starts (it may raise ``OperationCancelledError`` to stop).
    """
    config = config or ExtractionConfig()
    families = config.selected_families()
    stages = _Stages(progress)
    if progress:
        progress("validate")
    validate_ct(ct, ct_source)
    validate_mask(mask, ct, mask_source, ct_source)
    input_warnings = hematoma_warnings(ct, mask)
    stages.lap("validate", "geometry")
    canonical_ct, canonical_mask, orientation = canonical_axial(ct, mask)
    cross_section = largest_axial_cross_section(canonical_mask)
    stages.lap("geometry", families[0].name)

    case = CaseImages(ct, mask, canonical_ct, canonical_mask, orientation)
    feature_set = _base_feature_set(orientation, cross_section, input_warnings)
    details: dict[str, Any] = {}
    for index, family in enumerate(families):
        computed = family.extract(case, config, config.names_for(family), backbone, stages.lap)
        feature_set = feature_set.merged(computed.feature_set)
        if computed.details is not None:
            details[family.name] = computed.details
        stages.lap(family.name, families[index + 1].name if index + 1 < len(families) else None)
    if config.feature_names:
        feature_set.features = {n: feature_set.features[n] for n in config.feature_names}
    feature_set.provenance["extractor_identity"] = extractor_identity(feature_set.provenance, config.families)
    return ExtractionResult(
        feature_set, cross_section, (canonical_ct, canonical_mask, orientation), details, stages.timings_s
    )

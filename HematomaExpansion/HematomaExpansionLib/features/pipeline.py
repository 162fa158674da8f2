"""One call from a CT and a hematoma mask to a feature set: the method's two feature families.

validate -> canonical axial geometry (largest cross-section) -> radiomics (pyradiomics on the
acquired grid, all or only the named features) -> deep features (ResNet50 on the largest
cross-section and its neighbours) -> one FeatureSet whose provenance identifies the extractor, so
that a model can refuse features computed differently from those it was trained on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from .. import __version__
from ..common.errors import InputError
from ..features.backbone import Backbone, load_resnet50
from ..features.deep import extract_deep_features
from ..features.deep_slices import CropBox, DeepSliceConfig
from ..features.featureset import DEEP_PREFIX, FAMILIES, FeatureSet, extractor_identity
from ..features.radiomics import default_params_path, extract_radiomics
from ..imaging.checks import validate_ct, validate_mask
from ..imaging.geometry import CrossSection, canonical_axial, largest_axial_cross_section

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractionConfig:
    """What to extract and how. ``feature_names`` limits extraction to what a model uses."""

    families: tuple[str, ...] = FAMILIES
    radiomics_params_path: Path | None = None
    feature_names: tuple[str, ...] | None = None
    deep: DeepSliceConfig = field(default_factory=DeepSliceConfig)
    backbone_weights: str = "imagenet1k_v1"
    device: str = "auto"

    def __post_init__(self) -> None:
        unknown = set(self.families) - set(FAMILIES)
        if unknown or not self.families:
            raise InputError(f"feature families must be among {FAMILIES}, got {self.families}")

    @classmethod
    def for_features(cls, feature_names: Sequence[str], **kwargs: Any) -> ExtractionConfig:
        """A config that computes exactly ``feature_names`` (and only the families they need)."""
        names = tuple(feature_names)
        families = tuple(
            family
            for family, needed in (
                ("radiomics", any(not n.startswith(DEEP_PREFIX) for n in names)),
                ("deep", any(n.startswith(DEEP_PREFIX) for n in names)),
            )
            if needed
        )
        return cls(families=families, feature_names=names, **kwargs)

    @property
    def params_path(self) -> Path:
        return Path(self.radiomics_params_path) if self.radiomics_params_path else default_params_path()


@dataclass
class ExtractionResult:
    """Features with provenance, plus what a user wants to see of the computation."""

    feature_set: FeatureSet
    cross_section: CrossSection
    canonical: tuple[sitk.Image, sitk.Image, str]  # geometry.canonical_axial of the inputs
    slice_images: np.ndarray | None = None
    slice_masks: np.ndarray | None = None
    z_positions_mm: tuple[float, ...] = ()
    crop: CropBox | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def orientation(self) -> str:
        """How the inputs were brought to axial slices: unchanged, reoriented or resampled."""
        return self.canonical[2]


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
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def lap(stage: str, next_stage: str | None = None) -> None:
        nonlocal started
        now = time.perf_counter()
        timings[stage] = now - started
        started = now
        if next_stage and progress:
            progress(next_stage)

    if progress:
        progress("validate")

    validate_ct(ct, ct_source)
    validate_mask(mask, ct, mask_source, ct_source)
    lap("validate", "geometry")
    canonical_ct, canonical_mask, orientation = canonical_axial(ct, mask)
    cross_section = largest_axial_cross_section(canonical_mask)
    lap("geometry", "radiomics" if "radiomics" in config.families else "deep")

    warnings = []
    if orientation == "resampled":
        warnings.append(
            "the CT is oblique or gantry-tilted: it was resampled to axial slices for the cross-section "
            "and the deep features; radiomics use the acquired grid, so directional (wavelet) features "
            "follow the tilted axes"
        )
    result_set = FeatureSet(
        provenance={
            "software": "HematomaExpansion",
            "software_version": __version__,
            "orientation": orientation,
            "max_cross_section_z_mm": cross_section.z_mm,
            "max_cross_section_area_mm2": cross_section.area_mm2,
        },
        warnings=warnings,
    )
    names = config.feature_names
    if "radiomics" in config.families:
        radiomics_names = [n for n in names if not n.startswith(DEEP_PREFIX)] if names else None
        # The canonical images already are the acquired grid in LPS order unless a tilted scan was
        # resampled; passing them spares extract_radiomics a second reordering of the volume.
        radiomics_ct, radiomics_mask = (
            (ct, mask) if orientation == "resampled" else (canonical_ct, canonical_mask)
        )
        result_set = result_set.merged(
            extract_radiomics(radiomics_ct, radiomics_mask, config.params_path, radiomics_names)
        )
        lap("radiomics", "deep" if "deep" in config.families else None)

    result = ExtractionResult(result_set, cross_section, (canonical_ct, canonical_mask, orientation))
    if "deep" in config.families:
        backbone = backbone or load_resnet50(config.backbone_weights, config.device)
        lap("backbone")  # part of the "deep" stage for progress
        deep = extract_deep_features(canonical_ct, canonical_mask, backbone, config.deep)
        deep_set = deep.feature_set
        if names:
            missing = [n for n in names if n.startswith(DEEP_PREFIX) and n not in deep_set.features]
            if missing:
                raise InputError(
                    f"deep features {missing[:3]} are not produced by this configuration "
                    f"(aggregation '{config.deep.aggregation}')"
                )
            wanted = [n for n in names if n.startswith(DEEP_PREFIX)]
            deep_set = FeatureSet(
                {n: deep_set.features[n] for n in wanted}, deep_set.provenance, deep_set.warnings
            )
        result.feature_set = result.feature_set.merged(deep_set)
        result.slice_images = deep.slice_images
        result.slice_masks = deep.slice_masks
        result.z_positions_mm = deep.z_positions_mm
        result.crop = deep.crop
        lap("deep")
    if names:
        result.feature_set.features = {n: result.feature_set.features[n] for n in names}
    result.feature_set.provenance["extractor_identity"] = extractor_identity(
        result.feature_set.provenance, config.families
    )
    result.timings_s = timings
    return result

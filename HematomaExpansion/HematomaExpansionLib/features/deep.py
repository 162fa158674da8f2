"""Deep features of the hematoma: ResNet50 on the largest axial cross-section and its neighbours.

The caller passes canonical images (``geometry.canonical_axial``). z0 is the mask's largest axial
cross-section; the slices at z0 + offsets are prepared by ``deep_slices`` and embedded by a
``backbone.Backbone`` in one batch; the per-slice 2048-vectors are averaged (``mean``) or
concatenated in offset order (``concat``: index = slice position x 2048 + channel).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
import torchvision
from PIL import Image

from ..common.atomic import atomic_path
from ..common.errors import InputError
from ..imaging.geometry import largest_axial_cross_section
from .backbone import Backbone
from .deep_slices import DEFAULT_OFFSETS_MM, CropBox, DeepSliceConfig, grey_levels, prepare_deep_slices
from .featureset import DEEP_PREFIX, FeatureSet


@dataclass(frozen=True)
class DeepResult:
    """Deep features of one case and what the network saw."""

    feature_set: FeatureSet
    slice_images: np.ndarray  # (n_offsets, size_px, size_px) float32 in [0, 1], before normalisation
    slice_masks: np.ndarray  # (n_offsets, size_px, size_px) bool, the hematoma on each image
    z_positions_mm: tuple[float, ...]
    crop: CropBox

    @property
    def warnings(self) -> list[str]:
        return self.feature_set.warnings


def deep_feature_names(aggregation: str, n_slices: int, feature_dim: int) -> list[str]:
    """Names ``deep_resnet50_<aggregation>_<index:04d>`` in feature-vector order."""
    count = feature_dim if aggregation == "mean" else n_slices * feature_dim
    return [f"{DEEP_PREFIX}resnet50_{aggregation}_{i:04d}" for i in range(count)]


def extract_deep_features(
    ct: sitk.Image, mask: sitk.Image, backbone: Backbone, config: DeepSliceConfig | None = None
) -> DeepResult:
    """Deep features of the hematoma in canonical ``ct``/``mask``; the inputs are not modified."""
    config = config or DeepSliceConfig()
    if not (sitk.GetArrayViewFromImage(mask) > 0).any():
        raise InputError("the hematoma mask is empty: no deep features can be computed")
    cross_section = largest_axial_cross_section(mask)
    prepared = prepare_deep_slices(ct, mask, cross_section, config)
    per_slice = backbone.embed(prepared.images)  # (n_offsets, 2048)
    vector = per_slice.mean(axis=0) if config.aggregation == "mean" else per_slice.ravel()
    names = deep_feature_names(config.aggregation, per_slice.shape[0], per_slice.shape[1])
    provenance = {
        **backbone.provenance(),
        "backbone_weights_sha256": backbone.weights_sha256,
        **config.to_provenance(),
        "device": backbone.device,
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
    }
    features = dict(zip(names, vector.tolist(), strict=True))
    return DeepResult(
        feature_set=FeatureSet(features=features, provenance=provenance, warnings=list(prepared.warnings)),
        slice_images=prepared.images,
        slice_masks=prepared.masks,
        z_positions_mm=prepared.z_positions_mm,
        crop=prepared.crop,
    )


def slice_png_name(prefix: str, offset_mm: float) -> str:
    """File name that states the slice offset, e.g. ``case1_slice_z+1mm.png``."""
    return f"{prefix}slice_z{offset_mm:+g}mm.png"


def save_slice_pngs(
    slice_images: np.ndarray,
    out_dir: Path,
    prefix: str = "",
    offsets_mm: tuple[float, ...] = DEFAULT_OFFSETS_MM,
) -> list[Path]:
    """Write each slice image (values in [0, 1]) as an 8-bit grey PNG, atomically; return the paths."""
    images = np.asarray(slice_images)
    if images.ndim != 3 or images.shape[0] != len(offsets_mm):
        raise InputError(f"need one (height, width) image per offset {offsets_mm}, got shape {images.shape}")
    paths = []
    for image, offset_mm in zip(images, offsets_mm, strict=True):
        path = Path(out_dir) / slice_png_name(prefix, offset_mm)
        grey = grey_levels(image)
        with atomic_path(path) as temporary:
            Image.fromarray(grey).save(temporary, format="PNG")
        paths.append(path)
    return paths

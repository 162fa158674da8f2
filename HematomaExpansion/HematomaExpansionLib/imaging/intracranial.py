"""The intracranial region of a head CT: brain, CSF and blood without skull, scalp or bone rim.

Bone is ``HU > bone_hu`` (300 HU: above every soft tissue and fresh blood, below the diploe and
cortical bone). Voxels within ``skull_margin_mm`` of bone are excluded, with at least one voxel
along every axis: these are the partial-volume voxels between bone and brain, whose HU falls in
the blood range (with 5 mm slices a whole slice above a tangential skull surface can look like
blood). The exclusion zone is a box of that half-width (separable, fast, and conservative along
diagonals); the same margin is excluded along the borders of the scan, since bone may lie just
beyond a cropped field of view. The remaining tissue (``HU > -300``) is eroded by
``separation_mm`` so that the brain comes apart from the orbits, face and neck at the foramina;
the largest eroded piece is grown back by the same box inside the tissue, and its holes are
filled. Everything stays on the CT's own voxel grid.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..common.errors import InputError
from .draft_parameters import (
    BONE_HU,
    SEPARATION_MM,
    SKULL_MARGIN_MM,
    TISSUE_MIN_HU,
    check_draft_ct,
    check_non_negative,
)
from .geometry import spacing_zyx_mm
from .morphology import bounding_box, box_filter, box_half_widths, fill_holes, largest_component


def intracranial_and_bone(
    ct_array: np.ndarray,
    spacing_zyx_mm: np.ndarray,
    bone_hu: float,
    skull_margin_mm: float,
    separation_mm: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(intracranial, bone) boolean arrays; raises InputError when no skull or cavity is found."""
    bone = ct_array > bone_hu
    if not bone.any():
        raise InputError(
            f"the CT has no voxel above {bone_hu:g} HU (no skull): the draft needs a head CT in Hounsfield units"
        )
    margin = box_half_widths(skull_margin_mm, spacing_zyx_mm, at_least_one=True)
    excluded = box_filter(bone, margin, grow=True)
    for axis, width in enumerate(margin):  # bone may lie just beyond the scan border
        np.moveaxis(excluded, axis, 0)[:width] = True
        np.moveaxis(excluded, axis, 0)[-width:] = True
    tissue = (ct_array > TISSUE_MIN_HU) & ~excluded
    separation = box_half_widths(separation_mm, spacing_zyx_mm, at_least_one=False)
    core = largest_component(box_filter(tissue, separation, grow=False))
    if not core.any():
        raise InputError(
            "found no intracranial region (tissue enclosed by bone) in the CT: the draft needs a head CT "
            "in Hounsfield units that shows the brain"
        )
    brain = box_filter(core, separation, grow=True) & tissue
    box = bounding_box(brain, [1, 1, 1])
    brain[box] = fill_holes(brain[box])
    return brain, bone


def intracranial_mask(
    ct: sitk.Image,
    *,
    bone_hu: float = BONE_HU,
    skull_margin_mm: float = SKULL_MARGIN_MM,
    separation_mm: float = SEPARATION_MM,
) -> sitk.Image:
    """The intracranial region (brain, CSF and blood; no skull, scalp or partial-volume rim), uint8 0/1."""
    check_draft_ct(ct)
    check_non_negative(bone_hu=bone_hu, skull_margin_mm=skull_margin_mm, separation_mm=separation_mm)
    array = sitk.GetArrayFromImage(ct).astype(np.float32)
    brain, _ = intracranial_and_bone(array, spacing_zyx_mm(ct), bone_hu, skull_margin_mm, separation_mm)
    out = sitk.GetImageFromArray(brain.astype(np.uint8))
    out.CopyInformation(ct)
    return out

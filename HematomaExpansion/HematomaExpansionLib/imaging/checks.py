"""Input checks shared by every interface (GUI, batch, command line, cohort).

Each check raises :class:`errors.InputError` with a message that names the input (``source``:
a file path or node name), says what is wrong and what to do. Nothing is modified.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..common.errors import InputError
from .geometry import axis_deviations, format_vector, grid_differences, physical_bounds_mm
from .plausibility import BLOOD_DENSITY

# A head CT holds air around the head (about -1000 HU) and bone (hundreds of HU and more).
AIR_CHECK_HU = -500.0
BONE_CHECK_HU = 100.0
# An image with at most this many distinct values (all integers) is a labelmap, not a CT.
LABELMAP_MAX_VALUES = 16
# A labelmap given as the hematoma holds at most this many distinct values (Slicer's segments, 8-bit).
LABEL_FILE_MAX_VALUES = 255
_DISTINCT_SAMPLE = 1_000_000
# Mask voxels darker than this lie in air; a hematoma mask lies inside the head.
MASK_AIR_HU = -200.0
MASK_AIR_FRACTION_MAX = 0.5


def _require_image(image: object, source: str, what: str) -> sitk.Image:
    if not isinstance(image, sitk.Image):
        raise InputError(
            f"{what} '{source}' is not an image (got {type(image).__name__}); load it as a volume"
        )
    return image


def _require_3d_scalar(image: sitk.Image, source: str, what: str) -> None:
    if image.GetDimension() != 3:
        raise InputError(
            f"{what} '{source}' is {image.GetDimension()}-D; a 3-D volume (a stack of axial slices) is needed"
        )
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"{what} '{source}' has {image.GetNumberOfComponentsPerPixel()} components per voxel (colour or "
            "vector image); load the grey-scale scan"
        )
    size = image.GetSize()
    if min(size) < 2:
        raise InputError(
            f"{what} '{source}' has size {size}: a single slice is not a 3-D volume; load the whole series"
        )


def _require_orthogonal_axes(image: sitk.Image, source: str, what: str) -> None:
    """Refuse a sheared grid: pyradiomics (and voxel counts) treat every voxel as a box."""
    deviations = axis_deviations(image)
    if deviations:
        raise InputError(
            f"{what} '{source}' has non-orthogonal voxel axes ({'; '.join(deviations)}, direction "
            f"{format_vector(image.GetDirection())}): on such a sheared grid volumes, shape and texture "
            "features would be wrong. Resample it onto an orthogonal grid first (Slicer: load the DICOM "
            "series with acquisition geometry regularization, or Resample Scalar Volume onto an axial "
            "reference volume)"
        )


def _distinct_values(array: np.ndarray, limit: int) -> np.ndarray:
    """Distinct values of ``array`` if there are at most ``limit`` of them, else an array longer than limit."""
    flat = array.ravel()
    step = max(1, flat.size // _DISTINCT_SAMPLE)
    sample = np.unique(flat[::step])
    if sample.size > limit:
        return sample
    return np.unique(flat)


def validate_ct(ct: sitk.Image, source: str) -> None:
    """Check that ``ct`` is a 3-D head CT in Hounsfield units.

    Rejects non-3-D or single-slice images, vector images, sheared grids (voxel axes not
    orthonormal within 1e-4), NaN or infinite values, labelmaps
    (at most 16 distinct integer values), images with no negative values (MR, 8-bit 0-255 images,
    raw stored values without the DICOM rescale intercept), and images without air below -500 HU
    or without anything denser than 100 HU.
    """
    _require_image(ct, source, "CT")
    _require_3d_scalar(ct, source, "CT")
    _require_orthogonal_axes(ct, source, "CT")
    array = sitk.GetArrayViewFromImage(ct)
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise InputError(f"CT '{source}' has {bad} NaN or infinite voxels; repair or re-export the scan")
    low, high = float(array.min()), float(array.max())
    distinct = _distinct_values(array, LABELMAP_MAX_VALUES)
    if distinct.size <= LABELMAP_MAX_VALUES and np.all(distinct == np.round(distinct)):
        raise InputError(
            f"CT '{source}' holds only {distinct.size} distinct values ({', '.join(f'{v:g}' for v in distinct)}): "
            "it looks like a labelmap or segmentation; choose the CT scan as the input volume"
        )
    if low >= 0:
        kind = (
            "an 8-bit image (0-255)"
            if high <= 255
            else "an MR image or raw CT values without the rescale intercept"
        )
        raise InputError(
            f"CT '{source}' has no negative values (range {low:g} to {high:g}); it looks like {kind}. "
            "A CT in Hounsfield units has air near -1000 HU: load the original CT series"
        )
    if low > AIR_CHECK_HU:
        raise InputError(
            f"CT '{source}' has no air (minimum {low:g} HU > {AIR_CHECK_HU:g} HU); a head CT in Hounsfield units "
            "includes the air around the head: check the rescale slope/intercept or load an uncropped scan"
        )
    if high < BONE_CHECK_HU:
        raise InputError(
            f"CT '{source}' has no bone or dense tissue (maximum {high:g} HU < {BONE_CHECK_HU:g} HU); "
            "check that this is a head CT in Hounsfield units"
        )


def validate_mask(mask: sitk.Image, ct: sitk.Image, mask_source: str, ct_source: str) -> None:
    """Check that ``mask`` is a non-empty binary hematoma mask on exactly the CT's voxel grid.

    The MRML adapter exports segments with the CT as reference geometry, so the core requires
    identical size, spacing, origin and direction (within 1e-4 mm, 1e-3 mm and 1e-5) and says
    which differs; a mask whose extent does not even overlap the CT is reported as such. Any
    non-zero voxel is hematoma; several different non-zero labels, an empty mask, a sheared grid,
    a mask lying mostly in air (below -200 HU on the CT: another scan, or flipped) and a mask whose
    median density is not that of blood (``plausibility.BLOOD_DENSITY``: below 30 or above 150 HU)
    are rejected.
    """
    _require_image(mask, mask_source, "hematoma mask")
    _require_image(ct, ct_source, "CT")
    _require_3d_scalar(mask, mask_source, "hematoma mask")

    mask_low, mask_high = physical_bounds_mm(mask)
    ct_low, ct_high = physical_bounds_mm(ct)
    if np.any(mask_high < ct_low) or np.any(ct_high < mask_low):
        raise InputError(
            f"hematoma mask '{mask_source}' does not overlap CT '{ct_source}' (mask spans "
            f"{format_vector(mask_low)} to {format_vector(mask_high)} mm, CT spans {format_vector(ct_low)} "
            f"to {format_vector(ct_high)} mm): it was drawn on another scan"
        )
    differences = grid_differences(mask, ct)
    if differences:
        raise InputError(
            f"hematoma mask '{mask_source}' is not on the voxel grid of CT '{ct_source}' (mask vs CT: "
            + "; ".join(differences)
            + "). Export the segment with the CT as reference geometry (Slicer: Segmentations > Export to "
            "labelmap, reference volume = the CT) or resample the mask onto the CT"
        )
    _require_orthogonal_axes(mask, mask_source, "hematoma mask")

    array = sitk.GetArrayViewFromImage(mask)
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        raise InputError(f"hematoma mask '{mask_source}' has NaN or infinite values; it must be a labelmap")
    selected = array != 0
    n_voxels = int(np.count_nonzero(selected))
    if n_voxels == 0:
        raise InputError(
            f"hematoma mask '{mask_source}' is empty (no voxel set); segment the hematoma or choose the right segment"
        )
    labels = np.unique(array[selected])
    if labels.size > 1:
        shown = ", ".join(f"{v:g}" for v in labels[:8])
        raise InputError(
            f"hematoma mask '{mask_source}' holds {labels.size} different labels ({shown}); pass a binary mask "
            "or choose the one segment or label value that is the hematoma"
        )
    hu = sitk.GetArrayViewFromImage(ct)[selected]
    air_fraction = float(np.count_nonzero(hu < MASK_AIR_HU)) / n_voxels
    if air_fraction > MASK_AIR_FRACTION_MAX:
        raise InputError(
            f"hematoma mask '{mask_source}' lies mostly outside the head on CT '{ct_source}' "
            f"({air_fraction:.0%} of its voxels are air below {MASK_AIR_HU:g} HU): it belongs to another scan "
            "or is flipped; check that the segmentation matches this CT"
        )
    density = BLOOD_DENSITY.density(hu)
    if BLOOD_DENSITY.refuses(density):
        lowest, highest = BLOOD_DENSITY.refusal_limits_hu
        raise InputError(
            f"hematoma mask '{mask_source}' does not have the density of blood on CT '{ct_source}' (median "
            f"{density.median_hu:.0f} HU, {density.in_range_fraction:.0%} of its voxels in the blood range "
            f"{BLOOD_DENSITY.hu_range[0]:g}-{BLOOD_DENSITY.hu_range[1]:g} HU; a hematoma's median lies "
            f"between {lowest:g} and {highest:g} HU): it covers brain, CSF or bone, not the hematoma. Check "
            "that the segmentation was drawn on this CT and that the right segment is chosen"
        )


def validate_label_image(image: sitk.Image, source: str) -> None:
    """Check that a hematoma file read as a labelmap is one: integer, non-negative, few distinct values.

    A CT (or another grey-scale image) given as the hematoma would otherwise be imported as
    thousands of segments before any other check can refuse it.
    """
    array = sitk.GetArrayViewFromImage(image)
    problem = ""
    if np.issubdtype(array.dtype, np.floating) and not np.all(array == np.round(array)):
        problem = "non-integer values"
    elif array.size and array.min() < 0:
        problem = f"negative values (minimum {array.min():g})"
    elif (distinct := _distinct_values(array, LABEL_FILE_MAX_VALUES)).size > LABEL_FILE_MAX_VALUES:
        problem = f"more than {LABEL_FILE_MAX_VALUES} distinct values (at least {distinct.size})"
    if problem:
        raise InputError(
            f"hematoma file '{source}' is not a segmentation or labelmap: it holds {problem}, like a CT or "
            "another grey-scale image. Give the hematoma segmentation (.seg.nrrd) or a labelmap (one integer "
            "label value per segment) as the hematoma, and the CT as the CT"
        )

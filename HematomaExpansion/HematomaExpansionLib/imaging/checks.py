"""Input checks shared by every interface (GUI, batch, command line, cohort).

Each check raises :class:`errors.InputError` with a message that names the input (``source``:
a file path or node name), says what is wrong and what to do. Nothing is modified.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..common.errors import InputError

# A head CT holds air around the head (about -1000 HU) and bone (hundreds of HU and more).
AIR_CHECK_HU = -500.0
BONE_CHECK_HU = 100.0
# An image with at most this many distinct values (all integers) is a labelmap, not a CT.
LABELMAP_MAX_VALUES = 16
_DISTINCT_SAMPLE = 1_000_000
# Mask voxels darker than this lie in air; a hematoma mask lies inside the head.
MASK_AIR_HU = -200.0
MASK_AIR_FRACTION_MAX = 0.5
# Geometry tolerances for "same grid" (mm for spacing and origin, cosines for direction).
SPACING_TOL_MM = 1e-4
ORIGIN_TOL_MM = 1e-3
DIRECTION_TOL = 1e-5
# pyradiomics always rejects a single-voxel ROI and by default one that is flat in 2 of 3 axes.
PYRADIOMICS_MIN_DIMENSIONS = 2


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

    Rejects non-3-D or single-slice images, vector images, NaN or infinite values, labelmaps
    (at most 16 distinct integer values), images with no negative values (MR, 8-bit 0-255 images,
    raw stored values without the DICOM rescale intercept), and images without air below -500 HU
    or without anything denser than 100 HU.
    """
    _require_image(ct, source, "CT")
    _require_3d_scalar(ct, source, "CT")
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


def _box_mm(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """Physical bounding box of the voxel footprints (corners at +-half a voxel)."""
    size = np.asarray(image.GetSize(), dtype=float)
    corners = [
        image.TransformContinuousIndexToPhysicalPoint((np.asarray(c) * size - 0.5).tolist())
        for c in np.ndindex(2, 2, 2)
    ]
    corners = np.asarray(corners)
    return corners.min(axis=0), corners.max(axis=0)


def _fmt(values) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in values) + ")"


def validate_mask(mask: sitk.Image, ct: sitk.Image, mask_source: str, ct_source: str) -> None:
    """Check that ``mask`` is a non-empty binary hematoma mask on exactly the CT's voxel grid.

    The MRML adapter exports segments with the CT as reference geometry, so the core requires
    identical size, spacing, origin and direction (within 1e-4 mm, 1e-3 mm and 1e-5) and says
    which differs; a mask whose extent does not even overlap the CT is reported as such. Any
    non-zero voxel is hematoma; several different non-zero labels, an empty mask or a mask lying
    mostly in air (below -200 HU on the CT: another scan, or flipped) are rejected.
    """
    _require_image(mask, mask_source, "hematoma mask")
    _require_image(ct, ct_source, "CT")
    _require_3d_scalar(mask, mask_source, "hematoma mask")

    mask_low, mask_high = _box_mm(mask)
    ct_low, ct_high = _box_mm(ct)
    if np.any(mask_high < ct_low) or np.any(ct_high < mask_low):
        raise InputError(
            f"hematoma mask '{mask_source}' does not overlap CT '{ct_source}' (mask spans {_fmt(mask_low)} to "
            f"{_fmt(mask_high)} mm, CT spans {_fmt(ct_low)} to {_fmt(ct_high)} mm): it was drawn on another scan"
        )
    differences = []
    if mask.GetSize() != ct.GetSize():
        differences.append(f"size {mask.GetSize()} vs {ct.GetSize()}")
    if not np.allclose(mask.GetSpacing(), ct.GetSpacing(), rtol=0.0, atol=SPACING_TOL_MM):
        differences.append(f"spacing {_fmt(mask.GetSpacing())} vs {_fmt(ct.GetSpacing())} mm")
    if not np.allclose(mask.GetOrigin(), ct.GetOrigin(), rtol=0.0, atol=ORIGIN_TOL_MM):
        differences.append(f"origin {_fmt(mask.GetOrigin())} vs {_fmt(ct.GetOrigin())} mm")
    if not np.allclose(mask.GetDirection(), ct.GetDirection(), rtol=0.0, atol=DIRECTION_TOL):
        differences.append(f"direction {_fmt(mask.GetDirection())} vs {_fmt(ct.GetDirection())}")
    if differences:
        raise InputError(
            f"hematoma mask '{mask_source}' is not on the voxel grid of CT '{ct_source}' (mask vs CT: "
            + "; ".join(differences)
            + "). Export the segment with the CT as reference geometry (Slicer: Segmentations > Export to "
            "labelmap, reference volume = the CT) or resample the mask onto the CT"
        )

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


def check_min_roi(mask: sitk.Image, min_voxels: int, source: str, min_dimensions: int = 2) -> None:
    """Check that the ROI is large enough for pyradiomics.

    pyradiomics rejects single-voxel ROIs, ROIs that extend over more than one voxel in fewer
    than ``minimumROIDimensions`` axes (default 2) and, when ``minimumROISize`` is set, ROIs with
    fewer voxels. Here ``min_voxels`` plays ``minimumROISize`` (at least 2) and ``min_dimensions``
    plays ``minimumROIDimensions``.
    """
    array = sitk.GetArrayViewFromImage(mask) != 0
    n_voxels = int(np.count_nonzero(array))
    needed = max(2, int(min_voxels))
    if n_voxels < needed:
        raise InputError(
            f"hematoma mask '{source}' has {n_voxels} voxels; radiomics needs at least {needed}: "
            "check the segmentation (a hematoma this small cannot be characterised)"
        )
    extents = []
    for axis in range(3):
        occupied = np.flatnonzero(array.any(axis=tuple(a for a in range(3) if a != axis)))
        extents.append(int(occupied[-1] - occupied[0] + 1))
    spread = sum(1 for e in extents if e > 1)
    if spread < min_dimensions:
        raise InputError(
            f"hematoma mask '{source}' extends over more than one voxel in only {spread} of 3 axes "
            f"(bounding box {extents[::-1]} voxels in x, y, z); radiomics needs at least {min_dimensions}"
        )

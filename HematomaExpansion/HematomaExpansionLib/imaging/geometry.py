"""Canonical axial geometry: orientation, resampling and the largest axial cross-section.

SimpleITK images live in LPS physical space; "axial" slices are perpendicular to the
superior axis (+z in LPS). Every slice-based computation works on images returned by
:func:`canonical_axial`, whose direction is the identity (axes L, P, S). Radiomics, which are
3-D and need no slices, work on :func:`acquisition_grid_lps`: the acquired voxels, never
interpolated here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

RESAMPLE_FILL_HU = -1024.0  # CT value outside the scan when resampling: air
# Tolerances for "same voxel grid" (mm for spacing and origin, cosines for direction).
SPACING_TOL_MM = 1e-4
ORIGIN_TOL_MM = 1e-3
DIRECTION_TOL = 1e-5
# Voxel axes count as orthonormal when every entry of D^T D is within this of the identity
# (Slicer's readers leave noise of about 1e-6; a sheared grid is off by the cosine of its shear).
ORTHONORMAL_TOL = 1e-4
_AXIS_NAMES = ("i", "j", "k")


def direction_matrix(image: sitk.Image) -> np.ndarray:
    """Return the image direction as a 3 x 3 matrix whose columns are the axis directions."""
    return np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)


def is_identity_direction(image: sitk.Image, tol: float = 1e-6) -> bool:
    """True when the voxel axes already point L, P, S."""
    return bool(np.allclose(direction_matrix(image), np.eye(3), atol=tol))


def is_axis_aligned(image: sitk.Image, tol: float = 1e-6) -> bool:
    """True when the direction is a permutation of axes, possibly flipped (no obliquity)."""
    d = np.abs(direction_matrix(image))
    return bool(np.all((np.abs(d) < tol) | (np.abs(d - 1.0) < tol)))


def axis_deviations(image: sitk.Image, tol: float = ORTHONORMAL_TOL) -> list[str]:
    """How the voxel axes depart from an orthonormal frame ("angle between the j and k axes 75.0 deg ...").

    Empty for orthonormal axes (rotations, permutations and flips: every CT grid this extension
    measures on). A sheared grid (non-orthogonal axes) or direction columns that are not unit
    vectors give one entry per offending axis pair or axis.
    """
    d = direction_matrix(image)
    gram = d.T @ d
    deviations = []
    for a, b in ((0, 1), (0, 2), (1, 2)):
        if abs(gram[a, b]) > tol:
            cosine = gram[a, b] / np.sqrt(gram[a, a] * gram[b, b])
            angle_deg = float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))
            deviations.append(
                f"angle between the {_AXIS_NAMES[a]} and {_AXIS_NAMES[b]} axes {angle_deg:.2f} deg"
            )
    for a in range(3):
        if abs(gram[a, a] - 1.0) > tol:
            deviations.append(f"direction of the {_AXIS_NAMES[a]} axis has length {np.sqrt(gram[a, a]):.6g}")
    return deviations


def acquired_slice_axis(image: sitk.Image) -> int:
    """The voxel axis (0=x, 1=y, 2=z of the image) closest to the superior-inferior direction."""
    return int(np.argmax(np.abs(direction_matrix(image)[2, :])))


def spacing_zyx_mm(image: sitk.Image) -> np.ndarray:
    """Voxel spacing (mm) in numpy axis order (k, j, i)."""
    return np.asarray(image.GetSpacing(), dtype=float)[::-1]


def physical_bounds_mm(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """Physical bounding box (lower, upper corner) of the voxel footprints (corners at +-half a voxel)."""
    size = np.asarray(image.GetSize(), dtype=float)
    corners = [
        image.TransformContinuousIndexToPhysicalPoint((np.asarray(c) * size - 0.5).tolist())
        for c in np.ndindex(2, 2, 2)
    ]
    corners = np.asarray(corners)
    return corners.min(axis=0), corners.max(axis=0)


def format_vector(values: Iterable[float]) -> str:
    """``(a, b, c)`` with 6 significant digits, as messages show sizes, points and directions."""
    return "(" + ", ".join(f"{v:.6g}" for v in values) + ")"


def grid_differences(image: sitk.Image, reference: sitk.Image) -> list[str]:
    """What differs between the voxel grids of ``image`` and ``reference`` ("spacing ... vs ... mm").

    Empty when size, spacing, origin and direction agree (within 1e-4 mm, 1e-3 mm and 1e-5).
    """
    differences = []
    if image.GetSize() != reference.GetSize():
        differences.append(f"size {image.GetSize()} vs {reference.GetSize()}")
    if not np.allclose(image.GetSpacing(), reference.GetSpacing(), rtol=0.0, atol=SPACING_TOL_MM):
        differences.append(
            f"spacing {format_vector(image.GetSpacing())} vs {format_vector(reference.GetSpacing())} mm"
        )
    if not np.allclose(image.GetOrigin(), reference.GetOrigin(), rtol=0.0, atol=ORIGIN_TOL_MM):
        differences.append(
            f"origin {format_vector(image.GetOrigin())} vs {format_vector(reference.GetOrigin())} mm"
        )
    if not np.allclose(image.GetDirection(), reference.GetDirection(), rtol=0.0, atol=DIRECTION_TOL):
        differences.append(
            f"direction {format_vector(image.GetDirection())} vs {format_vector(reference.GetDirection())}"
        )
    return differences


def _oblique_reference_grid(image: sitk.Image) -> sitk.Image:
    """An identity-direction grid covering ``image`` with the in-plane and slice spacing it had."""
    spacing = np.asarray(image.GetSpacing(), dtype=float)
    slice_axis = acquired_slice_axis(image)
    in_plane_mm = float(np.min(np.delete(spacing, slice_axis)))
    out_spacing = np.array([in_plane_mm, in_plane_mm, spacing[slice_axis]])

    size = np.asarray(image.GetSize())
    corners = []
    for corner in np.ndindex(2, 2, 2):
        index = (np.asarray(corner) * (size - 1)).tolist()
        corners.append(image.TransformContinuousIndexToPhysicalPoint(index))
    corners = np.asarray(corners)
    lower, upper = corners.min(axis=0), corners.max(axis=0)
    out_size = np.floor((upper - lower) / out_spacing + 1e-6).astype(int) + 1

    reference = sitk.Image([int(s) for s in out_size], sitk.sitkUInt8)
    reference.SetSpacing(out_spacing.tolist())
    reference.SetOrigin(lower.tolist())
    reference.SetDirection(np.eye(3).ravel().tolist())
    return reference


def acquisition_grid_lps(ct: sitk.Image, mask: sitk.Image) -> tuple[sitk.Image, sitk.Image]:
    """Return (ct, mask) on their acquired voxel grid with the voxel axes reordered towards L, P, S.

    An exact voxel reordering (axes permuted and flipped, no interpolation), so a volume stored
    with its axes permuted or flipped gives the same images as one stored in LPS order. For an
    axis-aligned volume this is the canonical axial grid; an oblique or gantry-tilted volume keeps
    its oblique direction. The inputs are not modified.
    """
    if is_identity_direction(ct):
        return ct, mask
    return sitk.DICOMOrient(ct, "LPS"), sitk.DICOMOrient(mask, "LPS")


def canonical_axial(ct: sitk.Image, mask: sitk.Image) -> tuple[sitk.Image, sitk.Image, str]:
    """Return (ct, mask, how) on an identity-direction grid; the inputs are not modified.

    ``how`` is ``"unchanged"`` for axis-aligned LPS volumes, ``"reoriented"`` for permuted
    or flipped axes (exact voxel reordering, no interpolation) and ``"resampled"`` for oblique
    or gantry-tilted volumes (linear for the CT, nearest neighbour for the mask).
    """
    if is_identity_direction(ct):
        return ct, mask, "unchanged"
    if is_axis_aligned(ct):
        return (*acquisition_grid_lps(ct, mask), "reoriented")
    reference = _oblique_reference_grid(ct)
    identity = sitk.Transform()
    ct_out = sitk.Resample(ct, reference, identity, sitk.sitkLinear, RESAMPLE_FILL_HU, sitk.sitkFloat32)
    mask_out = sitk.Resample(mask, reference, identity, sitk.sitkNearestNeighbor, 0, mask.GetPixelID())
    return ct_out, mask_out, "resampled"


@dataclass(frozen=True)
class CrossSection:
    """The largest axial cross-section of a mask on a canonical grid."""

    slice_index: int
    z_mm: float
    area_mm2: float


def largest_axial_cross_section(mask: sitk.Image) -> CrossSection:
    """Find the axial slice with the largest mask area; ties go to the slice nearer the centroid.

    ``mask`` must be on a canonical grid (identity direction, see :func:`canonical_axial`).
    """
    if not is_identity_direction(mask):
        raise ValueError("largest_axial_cross_section needs a canonical (identity-direction) mask")
    array = sitk.GetArrayViewFromImage(mask) > 0  # (z, y, x)
    counts = array.reshape(array.shape[0], -1).sum(axis=1)
    if counts.max() == 0:
        raise ValueError("the mask is empty")
    sx, sy, sz = mask.GetSpacing()
    centroid_k = float(np.average(np.arange(len(counts)), weights=counts))
    candidates = np.flatnonzero(counts == counts.max())
    k = int(candidates[np.argmin(np.abs(candidates - centroid_k))])
    z_mm = float(mask.GetOrigin()[2] + k * sz)
    return CrossSection(slice_index=k, z_mm=z_mm, area_mm2=float(counts[k] * sx * sy))

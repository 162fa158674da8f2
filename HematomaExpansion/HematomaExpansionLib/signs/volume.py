"""The CT and hematoma mask as the sign detectors read them: axial slices in LPS, cropped around the clot.

Arrays are numpy-ordered (k, j, i) = (z, y, x) on the canonical axial grid (identity direction,
imaging/geometry), so index k is an axial slice at ``z_mm(k)`` and a voxel's physical LPS point is
``origin + index * spacing``. The crop keeps everything within the search distance of the segment
(satellites and islands lie outside it); the CT is smoothed in-plane only, as signs are read on
axial slices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..imaging.geometry import CrossSection, canonical_axial, largest_axial_cross_section, spacing_zyx_mm
from ..imaging.morphology import bounding_box, box_filter, box_half_widths
from .parameters import SignParameters


@dataclass(frozen=True)
class SignVolume:
    """Cropped canonical arrays and the physical placement of the crop."""

    hu: np.ndarray  # float32 HU as acquired (or resampled to the canonical grid)
    smoothed_hu: np.ndarray  # in-plane Gaussian of ``hu``
    segment: np.ndarray  # bool, the user's hematoma
    near_bone: np.ndarray  # bool, within the bone margin of bone (its partial-volume edge)
    spacing_zyx_mm: np.ndarray
    origin_lps_mm: np.ndarray  # LPS point (x, y, z) of voxel (0, 0, 0) of the crop
    grid: str  # how the canonical grid was obtained: unchanged, reoriented or resampled
    cross_section: CrossSection  # the segment's largest axial cross-section (full-grid slice index)
    largest_slice: int  # that slice's index in the crop

    @property
    def pixel_area_mm2(self) -> float:
        """Area of one in-plane pixel."""
        return float(self.spacing_zyx_mm[1] * self.spacing_zyx_mm[2])

    @property
    def spacing_yx_mm(self) -> np.ndarray:
        """In-plane spacing (row, column) for 2-D distance transforms."""
        return self.spacing_zyx_mm[1:]

    def z_mm(self, k: int) -> float:
        """LPS z (superior) of axial slice ``k``."""
        return float(self.origin_lps_mm[2] + k * self.spacing_zyx_mm[0])

    def point_lps_mm(self, k: float, j: float, i: float) -> list[float]:
        """LPS point (x, y, z) in mm of a (possibly fractional) voxel index (k, j, i)."""
        index_xyz = np.array([i, j, k], dtype=float)
        return [round(float(v), 2) for v in self.origin_lps_mm + index_xyz * self.spacing_zyx_mm[::-1]]

    def centroid_lps_mm(self, k: int, pixels: np.ndarray) -> list[float]:
        """LPS centroid of a 2-D boolean pixel mask on slice ``k``."""
        rows, cols = np.nonzero(pixels)
        return self.point_lps_mm(k, float(rows.mean()), float(cols.mean()))


def _crop_box(mask: np.ndarray, spacing: np.ndarray, parameters: SignParameters) -> tuple[slice, ...]:
    """Bounding box of the segment padded by the search distance, a satellite's size and the bone margin."""
    reach_mm = parameters.search_mm + parameters.satellite_max_diameter_mm + parameters.bone_margin_mm
    pad = box_half_widths(reach_mm, spacing, at_least_one=True)
    pad[0] = 1  # whole slices: one more above and below is enough to see that the clot ends
    return bounding_box(mask, pad)


def sign_volume(ct: sitk.Image, mask: sitk.Image, parameters: SignParameters) -> SignVolume:
    """Canonical, cropped and smoothed arrays of a validated CT and mask (the inputs are not modified)."""
    ct_c, mask_c, grid = canonical_axial(ct, mask)
    spacing = spacing_zyx_mm(ct_c)
    segment_full = sitk.GetArrayViewFromImage(mask_c) != 0
    box = _crop_box(segment_full, spacing, parameters)
    hu = sitk.GetArrayFromImage(ct_c)[box].astype(np.float32)
    sigma_px = [0.0, *(parameters.smoothing_sigma_mm / s for s in spacing[1:])]
    smoothed = ndimage.gaussian_filter(hu, sigma=sigma_px, mode="nearest")
    bone_pad = box_half_widths(parameters.bone_margin_mm, spacing, at_least_one=True)
    bone_pad[0] = 0  # in-plane margin: a neighbouring slice's skull is another partial volume
    near_bone = box_filter(hu > parameters.bone_hu, bone_pad, grow=True)
    start_xyz = [s.start for s in reversed(box)]
    cross_section = largest_axial_cross_section(mask_c)
    origin = np.asarray(ct_c.TransformIndexToPhysicalPoint(start_xyz), dtype=float)
    return SignVolume(
        hu=hu,
        smoothed_hu=smoothed,
        segment=np.ascontiguousarray(segment_full[box]),
        near_bone=near_bone,
        spacing_zyx_mm=spacing,
        origin_lps_mm=origin,
        grid=grid,
        cross_section=cross_section,
        largest_slice=cross_section.slice_index - box[0].start,
    )

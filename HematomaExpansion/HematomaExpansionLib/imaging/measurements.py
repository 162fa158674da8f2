"""Hematoma measurements: volume, ABC/2, largest axial cross-section, components and density.

Volume, density and connected components are computed on the original voxel grid (no
resampling). The slice-based measurements (ABC/2 and the largest cross-section) use the
canonical axial grid of :func:`geometry.canonical_axial`, the grid the deep features use.

ABC/2 follows Kothari et al. (Stroke 1996) as the issue defines it: on the axial slice with
the largest hematoma area, A is the largest diameter and B the largest diameter perpendicular
to A; C is the number of slices containing hematoma times the slice thickness (the original
paper's weighting of partial slices is not applied). C is counted on the acquired slices (the
voxel axis closest to superior-inferior), as a reader counts them on a gantry-tilted scan:
counting on the resampled axial grid would add slices for every degree of tilt. Diameters are
measured between pixel centres plus one pixel footprint (the width of a pixel projected on the
measuring direction), i.e. edge to edge, the way a ruler on the image measures a run of pixels: a row of n pixels of
spacing s is n s long. B is the longest chord perpendicular to A: pixel centres are grouped in
bands one pixel footprint wide along A, and each band's extent across A is a chord.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import SimpleITK as sitk
from scipy.spatial import ConvexHull, QhullError

from .checks import validate_mask
from .geometry import acquired_slice_axis, canonical_axial, largest_axial_cross_section

MM3_PER_ML = 1000.0
# Units are part of the names (volume_ml, a_mm, max_section_area_mm2, mean_hu).
UNIT_SUFFIXES = (("_mm2", "mm2"), ("_mm", "mm"), ("_ml", "mL"), ("_hu", "HU"))


def unit_of(name: str) -> str:
    """The unit a measurement name carries in its suffix ('' for counts and labels)."""
    return next((unit for suffix, unit in UNIT_SUFFIXES if name.endswith(suffix)), "")


@dataclass(frozen=True)
class HematomaMeasurements:
    """Hematoma size, shape and density; see the module docstring for the definitions."""

    volume_ml: float
    abc2_ml: float
    a_mm: float
    b_mm: float
    c_mm: float
    n_slices: int
    slice_thickness_mm: float
    max_section_slice_index: int
    max_section_z_mm: float
    max_section_area_mm2: float
    n_components: int
    mean_hu: float
    sd_hu: float
    n_voxels: int
    orientation: str

    def as_dict(self) -> dict[str, float | int | str]:
        """Plain values keyed by field name (units in the names)."""
        return asdict(self)


@dataclass(frozen=True)
class Diameters:
    """Kothari diameters on one axial slice (mm) and the direction of A (unit x, y)."""

    a_mm: float
    b_mm: float
    a_direction: tuple[float, float]


def _footprint_mm(direction: np.ndarray, spacing_xy: np.ndarray) -> float:
    """Width of one pixel projected on a unit direction."""
    return float(np.abs(direction) @ spacing_xy)


def _max_feret_pair(points: np.ndarray) -> tuple[float, np.ndarray]:
    """Largest distance between points (n, 2) and the unit direction of that pair."""
    candidates = points
    if len(points) > 3:
        try:
            candidates = points[ConvexHull(points).vertices]
        except QhullError:  # all points on one line: every point is a candidate
            candidates = points
    diff = candidates[:, None, :] - candidates[None, :, :]
    dist2 = np.einsum("ijk,ijk->ij", diff, diff)
    first, second = np.unravel_index(int(np.argmax(dist2)), dist2.shape)
    length = float(np.sqrt(dist2[first, second]))
    if length == 0.0:
        return 0.0, np.array([1.0, 0.0])
    return length, diff[second, first] / length


def axial_diameters(slice_mask: np.ndarray, spacing_xy: tuple[float, float]) -> Diameters:
    """A and B (mm) of a 2-D mask indexed (y, x) with pixel spacing (x, y) in mm."""
    rows, cols = np.nonzero(slice_mask)
    if rows.size == 0:
        raise ValueError("the slice holds no hematoma pixel")
    spacing = np.asarray(spacing_xy, dtype=float)
    points = np.stack([cols * spacing[0], rows * spacing[1]], axis=1)
    centre_length, direction = _max_feret_pair(points)
    a_mm = centre_length + _footprint_mm(direction, spacing)

    across = np.array([-direction[1], direction[0]])
    band_width = _footprint_mm(direction, spacing)
    along = points @ direction
    bands = np.floor((along - along.min()) / band_width + 0.5).astype(int)
    position = points @ across
    low = np.full(bands.max() + 1, np.inf)
    high = np.full(bands.max() + 1, -np.inf)
    np.minimum.at(low, bands, position)
    np.maximum.at(high, bands, position)
    filled = np.isfinite(low)
    b_mm = float(np.max(high[filled] - low[filled])) + _footprint_mm(across, spacing)
    return Diameters(a_mm=a_mm, b_mm=b_mm, a_direction=(float(direction[0]), float(direction[1])))


def measure_hematoma(
    ct: sitk.Image,
    mask: sitk.Image,
    *,
    ct_source: str = "CT",
    mask_source: str = "hematoma mask",
    canonical: tuple[sitk.Image, sitk.Image, str] | None = None,
) -> HematomaMeasurements:
    """Measure the hematoma in ``mask`` (non-zero voxels) on ``ct``; the inputs are not modified.

    ``mask`` must be on the CT's voxel grid (checked with :func:`checks.validate_mask`;
    ``ct_source``/``mask_source`` name the inputs in error messages). ``canonical`` may pass
    the result of ``geometry.canonical_axial(ct, mask)`` when the caller already has it.
    """
    validate_mask(mask, ct, mask_source, ct_source)
    binary = sitk.Cast(mask != 0, sitk.sitkUInt8)
    selected = sitk.GetArrayViewFromImage(binary).astype(bool)
    n_voxels = int(np.count_nonzero(selected))
    volume_ml = n_voxels * float(np.prod(ct.GetSpacing())) / MM3_PER_ML
    values = sitk.GetArrayViewFromImage(ct)[selected].astype(np.float64)

    components = sitk.ConnectedComponentImageFilter()
    components.FullyConnectedOn()
    components.Execute(binary)

    _, canonical_mask, orientation = canonical if canonical is not None else canonical_axial(ct, binary)
    section = largest_axial_cross_section(canonical_mask)
    canonical_array = sitk.GetArrayViewFromImage(canonical_mask) != 0
    sx, sy, _ = canonical_mask.GetSpacing()
    diameters = axial_diameters(canonical_array[section.slice_index], (sx, sy))
    slice_axis = acquired_slice_axis(binary)
    other_array_axes = tuple(a for a in range(3) if a != 2 - slice_axis)  # numpy axes are (z, y, x)
    n_slices = int(np.count_nonzero(selected.any(axis=other_array_axes)))
    slice_thickness_mm = float(binary.GetSpacing()[slice_axis])
    c_mm = n_slices * slice_thickness_mm

    return HematomaMeasurements(
        volume_ml=volume_ml,
        abc2_ml=diameters.a_mm * diameters.b_mm * c_mm / 2.0 / MM3_PER_ML,
        a_mm=diameters.a_mm,
        b_mm=diameters.b_mm,
        c_mm=c_mm,
        n_slices=n_slices,
        slice_thickness_mm=slice_thickness_mm,
        max_section_slice_index=section.slice_index,
        max_section_z_mm=section.z_mm,
        max_section_area_mm2=section.area_mm2,
        n_components=int(components.GetObjectCount()),
        mean_hu=float(values.mean()),
        sd_hu=float(values.std()),
        n_voxels=n_voxels,
        orientation=orientation,
    )

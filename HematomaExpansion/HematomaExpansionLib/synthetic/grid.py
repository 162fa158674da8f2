"""The phantom's voxel grid: physical geometry, broadcastable offsets and partial-volume ramps.

Numpy arrays are indexed (k, j, i). Offsets from a centre are kept as three 1-D arrays shaped
to broadcast over a (k, j, i) box, so full-size arithmetic happens only where it must.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk
from numpy.typing import ArrayLike

from ..imaging.geometry import direction_matrix
from .spec import GeometryPreset


class PhantomGrid:
    """Voxel grid with physical geometry; numpy arrays are indexed (k, j, i)."""

    def __init__(self, size: ArrayLike, spacing: ArrayLike, origin: ArrayLike, direction: ArrayLike) -> None:
        self.size = np.asarray(size, dtype=int)
        self.spacing = np.asarray(spacing, dtype=float)
        self.origin = np.asarray(origin, dtype=float)
        self.direction = np.asarray(direction, dtype=float).reshape(3, 3)

    @property
    def shape(self) -> tuple[int, int, int]:
        return int(self.size[2]), int(self.size[1]), int(self.size[0])

    def to_index(self, points_mm: np.ndarray) -> np.ndarray:
        """Continuous (i, j, k) indices of physical points, shape (n, 3)."""
        return ((points_mm - self.origin) @ self.direction) / self.spacing

    def box(self, centre_mm: ArrayLike, half_extent_mm: ArrayLike) -> tuple[slice, slice, slice] | None:
        """Index box (k, j, i slices) covering a physical box (half extents along x, y, z or one
        radius), clipped to the grid; None if it misses the grid."""
        corners = np.array(list(np.ndindex(2, 2, 2)), dtype=float) * 2.0 - 1.0
        idx = self.to_index(np.asarray(centre_mm) + corners * np.asarray(half_extent_mm, dtype=float))
        lo = np.maximum(np.floor(idx.min(axis=0)).astype(int) - 1, 0)
        hi = np.minimum(np.ceil(idx.max(axis=0)).astype(int) + 2, self.size)
        if np.any(hi <= lo):
            return None
        return slice(lo[2], hi[2]), slice(lo[1], hi[1]), slice(lo[0], hi[0])

    def axis_offsets(self, box: tuple[slice, slice, slice], centre_mm: ArrayLike) -> list[np.ndarray]:
        """Offsets (mm) of the box voxels from ``centre_mm`` along the grid axes i, j, k.

        Each is a 1-D array shaped to broadcast over the (k, j, i) box.
        """
        base = (self.origin - np.asarray(centre_mm, dtype=float)) @ self.direction
        shapes = ((1, 1, -1), (1, -1, 1), (-1, 1, 1))
        starts = (box[2].start, box[1].start, box[0].start)
        stops = (box[2].stop, box[1].stop, box[0].stop)
        return [
            (base[a] + np.arange(starts[a], stops[a]) * self.spacing[a]).reshape(shapes[a]).astype(np.float32)
            for a in range(3)
        ]

    def physical_offsets(self, axis_offsets: list[np.ndarray]) -> list[np.ndarray]:
        """Physical (x, y, z) offsets from the broadcastable grid-axis offsets."""
        out = []
        for row in range(3):
            terms = [
                np.float32(self.direction[row, a]) * axis_offsets[a]
                for a in range(3)
                if abs(self.direction[row, a]) > 1e-12
            ]
            out.append(broadcast_sum(terms))
        return out

    def radial_width(self, axis_offsets: list[np.ndarray]) -> np.ndarray:
        """Width (mm) of a voxel along the radial direction from the offsets' centre."""
        squares = [o * o for o in axis_offsets]
        radius2 = broadcast_sum(squares) + np.float32(1e-6)
        weighted = broadcast_sum(
            [sq * np.float32(s * s) for sq, s in zip(squares, self.spacing, strict=True)]
        )
        return np.sqrt(weighted / radius2)


def broadcast_sum(terms: list[np.ndarray]) -> np.ndarray:
    """Sum broadcastable arrays, smallest first, so that full-size work happens once."""
    terms = sorted(terms, key=lambda t: t.size)
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def partial_volume_ramp(signed_mm: np.ndarray, width_mm: np.ndarray | float) -> np.ndarray:
    """Partial-volume fraction for a boundary at signed distance 0 (positive = inside)."""
    return np.clip(0.5 + signed_mm / width_mm, 0.0, 1.0).astype(np.float32, copy=False)


def tilt_direction(tilt_deg: float) -> np.ndarray:
    """Direction matrix (columns = axis directions) for a grid tilted about the L-R axis."""
    t = np.deg2rad(tilt_deg)
    return np.array([[1.0, 0.0, 0.0], [0.0, np.cos(t), -np.sin(t)], [0.0, np.sin(t), np.cos(t)]])


def make_grid(
    preset: GeometryPreset,
    slice_mm: float | None,
    tilt_deg: float,
    head_centre: np.ndarray,
    hematoma_centre: np.ndarray,
    jitter_mm: np.ndarray,
) -> PhantomGrid:
    """The preset's grid (slice thickness overridden), tilted about L-R through the FOV centre."""
    spacing = np.array(preset.spacing_mm, dtype=float)
    size = np.array(preset.size, dtype=int)
    if slice_mm is not None:
        size[2] = max(3, round(preset.size[2] * preset.spacing_mm[2] / slice_mm))
        spacing[2] = slice_mm
    centre = head_centre + np.array([jitter_mm[0], jitter_mm[1], 0.0])
    if preset.xy_follows_hematoma:
        centre[1] = hematoma_centre[1]
    if preset.z_follows_hematoma:
        centre[2] = hematoma_centre[2]
    direction = tilt_direction(tilt_deg)
    origin = centre - direction @ (spacing * (size - 1) / 2.0)
    return PhantomGrid(size, spacing, origin, direction)


def grid_image(array: np.ndarray, grid: PhantomGrid) -> sitk.Image:
    """``array`` (k, j, i) as a SimpleITK image with the grid's spacing, origin and direction."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(grid.spacing.tolist())
    image.SetOrigin(grid.origin.tolist())
    image.SetDirection(grid.direction.ravel().tolist())
    return image


def reorder_axes(image: sitk.Image, axes_order: Sequence[int], flip_axes: Sequence[bool]) -> sitk.Image:
    """Reorder and flip voxel axes exactly, keeping every voxel at its physical position."""
    order = [int(a) for a in axes_order]
    if order == [0, 1, 2] and not any(flip_axes):
        return image
    array = sitk.GetArrayFromImage(image).transpose(2, 1, 0)  # (i, j, k)
    array = array.transpose(order)
    size_old = np.asarray(image.GetSize())
    direction_old = direction_matrix(image)
    spacing_old = np.asarray(image.GetSpacing())
    start_index = np.zeros(3)
    direction = np.empty((3, 3))
    for new_axis, old_axis in enumerate(order):
        sign = 1.0
        if flip_axes[new_axis]:
            array = np.flip(array, axis=new_axis)
            start_index[old_axis] = size_old[old_axis] - 1
            sign = -1.0
        direction[:, new_axis] = sign * direction_old[:, old_axis]
    out = sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(2, 1, 0)))
    out.SetSpacing(spacing_old[order].tolist())
    out.SetDirection(direction.ravel().tolist())
    out.SetOrigin(image.TransformContinuousIndexToPhysicalPoint(start_index.tolist()))
    return out

"""Analytic head-CT phantoms for the sign detectors: shapes in mm, partial volume, CT noise.

The phantom is air around a 3 mm skull ring (1000 HU) around brain (35 HU); the clot is drawn as
boolean shapes of physical coordinates (mm, centred on the volume) at 70 HU, and inserted regions
change its HU by a known amount. Every voxel is sampled 2 x 2 x 2 times, so the clot's rim has the
partial volume of a real scan; the segment is the voxels at least half clot. Slices are 2.5 mm
thick with one slice centred on z = 0, so a prism |z| <= 3.75 mm covers the three middle slices
exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

SPACING_XYZ_MM = (0.7, 0.7, 2.5)
SHAPE_ZYX = (15, 160, 160)
BRAIN_HU, CLOT_HU, BONE_HU = 35.0, 70.0, 1000.0
SKULL_MM = (50.0, 53.0)
SUBSAMPLES = 2
Shape = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SignPhantom:
    ct: sitk.Image
    mask: sitk.Image


def _axis_mm(n: int, spacing: float) -> np.ndarray:
    """Sub-sample centres (mm) along one axis, the volume centred on 0."""
    centres = (np.arange(n) - (n - 1) / 2) * spacing
    offsets = ((np.arange(SUBSAMPLES) + 0.5) / SUBSAMPLES - 0.5) * spacing
    return (centres[:, None] + offsets[None, :]).ravel()


def _voxel_mean(samples: np.ndarray) -> np.ndarray:
    nz, ny, nx = SHAPE_ZYX
    s = SUBSAMPLES
    return samples.reshape(nz, s, ny, s, nx, s).mean(axis=(1, 3, 5))


def build_phantom(
    clot: Sequence[Shape],
    hu_changes: Sequence[tuple[Shape, float]] = (),
    outside_blood: Sequence[Shape] = (),
    segment_outside_blood: bool = True,
    noise_sd_hu: float = 5.0,
    seed: int = 0,
) -> SignPhantom:
    """CT and segment of a clot (union of ``clot``) with HU changes inside it and extra blood pieces.

    ``outside_blood`` are further blood pieces (70 HU); they belong to the segment only with
    ``segment_outside_blood``.
    """
    sx, sy, sz = SPACING_XYZ_MM
    nz, ny, nx = SHAPE_ZYX
    z, y, x = np.meshgrid(_axis_mm(nz, sz), _axis_mm(ny, sy), _axis_mm(nx, sx), indexing="ij", sparse=True)
    radius = np.hypot(x, y)
    hu = np.where(radius < SKULL_MM[1], BONE_HU, -1000.0) * np.ones_like(z)
    hu[np.broadcast_to(radius < SKULL_MM[0], hu.shape)] = BRAIN_HU
    inside = np.zeros(hu.shape, dtype=bool)
    for shape in clot:
        inside |= np.broadcast_to(shape(z, y, x), hu.shape)
    extra = np.zeros(hu.shape, dtype=bool)
    for shape in outside_blood:
        extra |= np.broadcast_to(shape(z, y, x), hu.shape)
    hu[inside | extra] = CLOT_HU
    for shape, change_hu in hu_changes:
        hu[inside & np.broadcast_to(shape(z, y, x), hu.shape)] += change_hu
    ct_array = _voxel_mean(hu) + np.random.default_rng(seed).normal(0.0, noise_sd_hu, SHAPE_ZYX)
    segment = _voxel_mean(inside.astype(float)) >= 0.5
    if segment_outside_blood:
        segment |= _voxel_mean(extra.astype(float)) >= 0.5
    ct = sitk.GetImageFromArray(ct_array.astype(np.float32))
    ct.SetSpacing(SPACING_XYZ_MM)
    ct.SetOrigin(tuple(-(n - 1) / 2 * s for n, s in zip((nx, ny, nz), SPACING_XYZ_MM, strict=True)))
    mask = sitk.GetImageFromArray(segment.astype(np.uint8))
    mask.CopyInformation(ct)
    return SignPhantom(ct, mask)


def ellipsoid(center_zyx: Sequence[float], radii_zyx: Sequence[float]) -> Shape:
    (cz, cy, cx), (rz, ry, rx) = center_zyx, radii_zyx
    return lambda z, y, x: ((z - cz) / rz) ** 2 + ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1.0


def prism(outline: Callable[[np.ndarray, np.ndarray], np.ndarray], half_height_mm: float) -> Shape:
    """A 2-D outline (y, x) extruded over |z| <= ``half_height_mm``."""
    return lambda z, y, x: (np.abs(z) <= half_height_mm) & outline(y, x)


def disc(center_yx: Sequence[float], radius_mm: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    cy, cx = center_yx
    return lambda y, x: (y - cy) ** 2 + (x - cx) ** 2 <= radius_mm**2


def cylinder(center_yx: Sequence[float], radius_mm: float, half_height_mm: float = 3.75) -> Shape:
    return prism(disc(center_yx, radius_mm), half_height_mm)


def ring_of_discs(n: int, distance_mm: float, radius_mm: float, half_height_mm: float = 3.75) -> list[Shape]:
    """``n`` cylinders evenly around the z axis at ``distance_mm`` from it."""
    angles = 2 * np.pi * np.arange(n) / n + np.pi / 4
    return [
        cylinder((distance_mm * np.sin(a), distance_mm * np.cos(a)), radius_mm, half_height_mm)
        for a in angles
    ]


def half_space_x(x0_mm: float, half_height_mm: float = 3.75) -> Shape:
    return lambda z, y, x: (np.abs(z) <= half_height_mm) & (x >= x0_mm)


CLOT = ellipsoid((0.0, 0.0, 0.0), (11.0, 14.0, 14.0))  # the default clot: 14 mm in-plane radius at z = 0

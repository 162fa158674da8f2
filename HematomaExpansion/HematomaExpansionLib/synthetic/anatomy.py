"""The phantom's head: scalp, skull tables and diploe, brain with cortical ribbon and sulcal CSF,
deep grey nuclei and ventricles, painted with partial-volume boundaries in HU."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .grid import PhantomGrid, broadcast_sum, partial_volume_ramp

# Hounsfield units of the background anatomy.
AIR_HU = -1000.0
SCALP_HU = 30.0
BONE_TABLE_HU = 1500.0
BONE_DIPLOE_HU = 700.0
GREY_HU = 40.0
WHITE_HU = 28.0
DEEP_GREY_HU = 38.0
CSF_HU = 5.0

# Head model (mm, before the per-seed head scale): outer scalp semi-axes L, P, S and layers.
SCALP_SEMI_AXES_MM = (72.0, 90.0, 76.0)
SCALP_THICKNESS_MM = 4.0
SKULL_THICKNESS_MM = 6.5
CORTEX_THICKNESS_MM = 3.0
SULCAL_CSF_MM = 1.0
# Physical LPS position of the head centre; deliberately not the origin.
HEAD_CENTRE_MM = (3.2, -12.5, 60.0)

# Structures inside the brain, relative to the head centre: (centre, semi-axes, HU).
_DEEP_STRUCTURES = (
    ((20.0, -4.0, 2.0), (6.0, 14.0, 9.0), DEEP_GREY_HU),  # left lentiform/caudate
    ((-20.0, -4.0, 2.0), (6.0, 14.0, 9.0), DEEP_GREY_HU),  # right
    ((9.0, 12.0, 4.0), (7.0, 10.0, 7.0), DEEP_GREY_HU),  # left thalamus
    ((-9.0, 12.0, 4.0), (7.0, 10.0, 7.0), DEEP_GREY_HU),  # right thalamus
)
_VENTRICLES = (
    ((8.0, 0.0, 16.0), (4.5, 20.0, 6.0)),  # left lateral ventricle body
    ((-8.0, 0.0, 16.0), (4.5, 20.0, 6.0)),
    ((10.0, -20.0, 8.0), (4.0, 8.0, 7.0)),  # frontal horns
    ((-10.0, -20.0, 8.0), (4.0, 8.0, 7.0)),
    ((13.0, 22.0, 8.0), (4.0, 9.0, 5.0)),  # occipital horns
    ((-13.0, 22.0, 8.0), (4.0, 9.0, 5.0)),
    ((0.0, 4.0, 2.0), (1.5, 10.0, 7.0)),  # third ventricle
)


@dataclass(frozen=True)
class Head:
    """One drawn head: centre (LPS mm), scales, field-of-view jitter and scalp and brain semi-axes."""

    centre_mm: np.ndarray
    scale: float
    ventricle_scale: float
    fov_jitter_mm: np.ndarray
    scalp_semi_axes_mm: np.ndarray
    brain_semi_axes_mm: np.ndarray

    def truth(self) -> dict[str, Any]:
        """JSON-ready head geometry for the phantom's truth."""
        return {
            "head_centre_mm": self.centre_mm.tolist(),
            "scalp_semi_axes_mm": self.scalp_semi_axes_mm.tolist(),
            "brain_semi_axes_mm": self.brain_semi_axes_mm.tolist(),
        }


def draw_head(rng: np.random.Generator) -> Head:
    """Draw the head and ventricle scales and the field-of-view jitter from the anatomy stream."""
    head_scale = float(rng.uniform(0.95, 1.05))
    ventricle_scale = float(rng.uniform(0.8, 1.3))
    fov_jitter = rng.uniform(-4.0, 4.0, 2)
    scalp_axes = np.asarray(SCALP_SEMI_AXES_MM) * head_scale
    brain_axes = scalp_axes - SCALP_THICKNESS_MM - SKULL_THICKNESS_MM
    return Head(np.asarray(HEAD_CENTRE_MM), head_scale, ventricle_scale, fov_jitter, scalp_axes, brain_axes)


def paint_anatomy(grid: PhantomGrid, head: Head) -> np.ndarray:
    """The head CT (float32 HU, (k, j, i)) without hematoma and noise."""
    ct = _paint_head(grid, head.centre_mm, head.scalp_semi_axes_mm)
    for offset, semi, hu in _DEEP_STRUCTURES:
        centre_mm = head.centre_mm + np.asarray(offset) * head.scale
        _paint_ellipsoid(ct, grid, centre_mm, np.asarray(semi) * head.scale, hu)
    for offset, semi in _VENTRICLES:
        semi_mm = np.asarray(semi) * head.scale * np.array([head.ventricle_scale, 1.0, head.ventricle_scale])
        _paint_ellipsoid(ct, grid, head.centre_mm + np.asarray(offset) * head.scale, semi_mm, CSF_HU)
    return ct


def _paint_head(grid: PhantomGrid, head_centre: np.ndarray, scalp_axes: np.ndarray) -> np.ndarray:
    """Scalp, skull and brain (grey ribbon, sulcal CSF) with partial-volume boundaries."""
    ct = np.full(grid.shape, AIR_HU, dtype=np.float32)
    box = grid.box(head_centre, scalp_axes + 2.0 * grid.spacing.max())
    offsets = grid.axis_offsets(box, head_centre)
    xyz = grid.physical_offsets(offsets)
    inv_w = np.float32(1.0) / grid.radial_width(offsets)

    def depth_mm(axes: np.ndarray) -> np.ndarray:
        """Approximate depth below an ellipsoid surface (mm): (1 - r^2) L / 2, L the mean semi-axis."""
        depth = broadcast_sum([(c / np.float32(a)) ** 2 for c, a in zip(xyz, axes, strict=True)])
        half_length = np.float32(np.cbrt(np.prod(axes)) / 2.0)
        depth *= -half_length
        depth += half_length
        return depth

    def fraction(depth: np.ndarray, below_mm: float = 0.0) -> np.ndarray:
        """Partial-volume fraction of the region deeper than ``below_mm``."""
        f = depth - np.float32(below_mm)
        f *= inv_w
        f += np.float32(0.5)
        return np.clip(f, 0.0, 1.0, out=f)

    skull_axes = scalp_axes - SCALP_THICKNESS_MM
    brain_axes = skull_axes - SKULL_THICKNESS_MM
    f_scalp = fraction(depth_mm(scalp_axes))
    skull_depth = depth_mm(skull_axes)
    f_skull = fraction(skull_depth)
    brain_depth = depth_mm(brain_axes)
    f_brain = fraction(brain_depth)
    # Bone: dense tables at both surfaces, lighter diploe in the middle (parabolic profile).
    x = np.clip(skull_depth / np.float32(SKULL_THICKNESS_MM), 0.0, 1.0)
    bone = np.float32(BONE_TABLE_HU) - np.float32(4.0 * (BONE_TABLE_HU - BONE_DIPLOE_HU)) * x * (1.0 - x)
    del x
    ribbon = fraction(-brain_depth, -CORTEX_THICKNESS_MM)
    sulcal = fraction(-brain_depth, -SULCAL_CSF_MM)
    brain = (
        np.float32(WHITE_HU) + np.float32(GREY_HU - WHITE_HU) * ribbon + np.float32(CSF_HU - GREY_HU) * sulcal
    )
    del ribbon, sulcal, brain_depth, skull_depth
    head = np.float32(AIR_HU) + np.float32(SCALP_HU - AIR_HU) * f_scalp
    head += (bone - np.float32(SCALP_HU)) * f_skull
    head += (brain - bone) * f_brain
    ct[box] = head
    return ct


def _paint_ellipsoid(
    ct: np.ndarray, grid: PhantomGrid, centre_mm: np.ndarray, semi_axes_mm: np.ndarray, hu: float
) -> None:
    """Blend an axis-aligned ellipsoid of constant HU into ``ct`` inside its bounding box."""
    semi = np.asarray(semi_axes_mm, dtype=float)
    box = grid.box(centre_mm, float(semi.max()) + 2.0 * grid.spacing.max())
    if box is None:
        return
    offsets = grid.axis_offsets(box, centre_mm)
    xyz = grid.physical_offsets(offsets)
    r2 = broadcast_sum([(c / np.float32(a)) ** 2 for c, a in zip(xyz, semi, strict=True)])
    depth = (np.float32(1.0) - r2) * np.float32(np.cbrt(np.prod(semi)) / 2.0)
    f = partial_volume_ramp(depth, grid.radial_width(offsets))
    region = ct[box]
    region += (np.float32(hu) - region) * f

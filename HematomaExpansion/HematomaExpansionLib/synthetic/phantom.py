"""Synthetic head-CT phantoms with a hematoma of known volume, shape and density.

The anatomy lives in LPS physical space around a fixed head centre: scalp, skull (dense
inner and outer tables around a lighter diploe), brain with a cortical grey-matter ribbon,
sulcal CSF, deep grey nuclei and ventricles. A hematoma of requested volume is placed inside
the brain; its surface is an ellipsoid whose radius is modulated by smooth bumps
("lobulation"), its density has a mean, a smooth texture, an optional second density
("blend") and optional hypodense foci, and it may carry a hypodense oedema rim (outside the
mask). Partial volume is modelled by soft tissue boundaries one voxel wide along the surface
normal; in-plane correlated Gaussian noise is added last.

Everything is drawn from ``numpy.random.Generator`` streams seeded by ``seed``; each part
(anatomy, placement, shape, texture, blend, foci, noise) has its own stream, so changing one
knob does not move the others. Generation only rasterises full-volume layers with broadcast
arithmetic and everything else inside bounding boxes (a clinical case takes well under 1.5 s).

Geometry presets (``PRESETS``):

* ``clinical``: 0.45 x 0.45 x 5 mm, 512 x 512 x 30 (230 x 230 x 150 mm, the whole brain).
* ``thin``: 0.45 x 0.45 x 1 mm, 352 x 352 x 100. The field of view is cropped to keep the
  array small at the clinical in-plane spacing: 158 mm in-plane (centred on the head in
  left-right so air stays on both sides, on the hematoma in anterior-posterior) and 100 mm
  along z centred on the hematoma.

``slice_mm`` overrides the slice thickness and keeps the z extent of the preset (150 mm for
``clinical``, 100 mm for ``thin``); for 1-2 mm slices use ``thin``, whose cropped grid keeps
memory and time small.
``tilt_deg`` rotates the grid about the left-right axis (gantry tilt: an oblique direction
matrix); ``axes_order`` and ``flip_axes`` then reorder the voxel axes exactly (no
interpolation, physical positions unchanged) to exercise orientation handling.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..common.atomic import atomic_path
from ..common.errors import InputError
from ..imaging.segment_terms import HEMATOMA_COLOR, HEMATOMA_SEGMENT_NAME, HEMATOMA_TERMINOLOGY

logger = logging.getLogger(__name__)

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
# Hematoma surface stays this far inside the brain surface (plus the oedema rim).
BRAIN_MARGIN_MM = 3.0

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
# Candidate hematoma sites relative to the head centre (deep, thalamic); lobar sites are drawn.
_DEEP_SITES_MM = ((22.0, -2.0, 2.0), (10.0, 12.0, 5.0))

_N_LOBES = 6
_LOBE_KAPPA = 5.0  # concentration of each bump: width about 1/sqrt(kappa) rad


@dataclass(frozen=True)
class GeometryPreset:
    """Voxel spacing and grid size; ``*_follows_hematoma`` centres the field of view on the
    hematoma along P (y) or S (z) instead of on the head."""

    spacing_mm: tuple[float, float, float]
    size: tuple[int, int, int]
    xy_follows_hematoma: bool
    z_follows_hematoma: bool


PRESETS: dict[str, GeometryPreset] = {
    "clinical": GeometryPreset((0.45, 0.45, 5.0), (512, 512, 30), False, False),
    "thin": GeometryPreset((0.45, 0.45, 1.0), (352, 352, 100), True, True),
}


@dataclass(frozen=True)
class HematomaSpec:
    """The hematoma to draw. Defaults give the analytic mode: a plain homogeneous ellipsoid.

    ``offset_mm`` is the centre relative to the head centre (LPS mm: +x left, +y posterior,
    +z superior); ``None`` draws a deep, thalamic or lobar site that fits inside the brain.
    ``semi_axis_ratios`` (L, P, S before ``yaw_deg``, a rotation about S) fix the shape; the
    scale is solved so the mask holds ``volume_ml``. ``lobulation`` is the RMS relative
    modulation of the radius (0 = ellipsoid, 0.1 mild, 0.3 strongly lobulated).
    ``heterogeneity_hu`` is the SD of a smooth density texture; ``blend_fraction`` of the
    volume takes ``blend_hu`` (blend sign); ``n_hypodense_foci`` spheres of radius
    ``focus_radius_mm`` take ``focus_hu``; ``oedema_mm`` > 0 adds a rim of ``oedema_hu``
    outside the mask.
    """

    volume_ml: float = 30.0
    offset_mm: tuple[float, float, float] | None = None
    semi_axis_ratios: tuple[float, float, float] = (1.0, 1.3, 0.9)
    yaw_deg: float = 0.0
    lobulation: float = 0.0
    mean_hu: float = 65.0
    heterogeneity_hu: float = 0.0
    blend_fraction: float = 0.0
    blend_hu: float = 40.0
    n_hypodense_foci: int = 0
    focus_radius_mm: float = 3.0
    focus_hu: float = 30.0
    oedema_mm: float = 0.0
    oedema_hu: float = 18.0


@dataclass(frozen=True)
class Phantom:
    """A synthetic case: CT (int16 HU), hematoma mask (uint8 0/1) and the true parameters."""

    ct: sitk.Image
    mask: sitk.Image
    truth: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- grid helpers


class _Grid:
    """Voxel grid with physical geometry; numpy arrays are indexed (k, j, i)."""

    def __init__(self, size, spacing, origin, direction):
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

    def box(self, centre_mm, half_extent_mm) -> tuple[slice, slice, slice] | None:
        """Index box (k, j, i slices) covering a physical box (half extents along x, y, z or one
        radius), clipped to the grid; None if it misses the grid."""
        corners = np.array(list(np.ndindex(2, 2, 2)), dtype=float) * 2.0 - 1.0
        idx = self.to_index(np.asarray(centre_mm) + corners * np.asarray(half_extent_mm, dtype=float))
        lo = np.maximum(np.floor(idx.min(axis=0)).astype(int) - 1, 0)
        hi = np.minimum(np.ceil(idx.max(axis=0)).astype(int) + 2, self.size)
        if np.any(hi <= lo):
            return None
        return slice(lo[2], hi[2]), slice(lo[1], hi[1]), slice(lo[0], hi[0])

    def axis_offsets(self, box, centre_mm) -> list[np.ndarray]:
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
            out.append(_broadcast_sum(terms))
        return out

    def radial_width(self, axis_offsets: list[np.ndarray]) -> np.ndarray:
        """Width (mm) of a voxel along the radial direction from the offsets' centre."""
        squares = [o * o for o in axis_offsets]
        radius2 = _broadcast_sum(squares) + np.float32(1e-6)
        weighted = _broadcast_sum(
            [sq * np.float32(s * s) for sq, s in zip(squares, self.spacing, strict=True)]
        )
        return np.sqrt(weighted / radius2)


def _broadcast_sum(terms: list[np.ndarray]) -> np.ndarray:
    """Sum broadcastable arrays, smallest first, so that full-size work happens once."""
    terms = sorted(terms, key=lambda t: t.size)
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _ramp(signed_mm: np.ndarray, width_mm: np.ndarray | float) -> np.ndarray:
    """Partial-volume fraction for a boundary at signed distance 0 (positive = inside)."""
    return np.clip(0.5 + signed_mm / width_mm, 0.0, 1.0).astype(np.float32, copy=False)


def _rotation_about_z(deg: float) -> np.ndarray:
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t), 0.0], [np.sin(t), np.cos(t), 0.0], [0.0, 0.0, 1.0]])


def _tilt_direction(tilt_deg: float) -> np.ndarray:
    """Direction matrix (columns = axis directions) for a grid tilted about the L-R axis."""
    t = np.deg2rad(tilt_deg)
    return np.array([[1.0, 0.0, 0.0], [0.0, np.cos(t), -np.sin(t)], [0.0, np.sin(t), np.cos(t)]])


def _fibonacci_sphere(n: int) -> np.ndarray:
    """Nearly uniform unit vectors, shape (n, 3)."""
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    phi = np.pi * (1.0 + 5**0.5) * k
    r = np.sqrt(1.0 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


# --------------------------------------------------------------------------- hematoma shape


@dataclass(frozen=True)
class _Shape:
    """Star-shaped surface: in the hematoma frame, radius(u) = scale * ratios * exp(g(u))."""

    ratios: np.ndarray  # semi-axis ratios, geometric mean 1
    rotation: np.ndarray  # hematoma frame -> LPS
    lobe_dirs: np.ndarray  # (n, 3)
    lobe_amps: np.ndarray  # (n,)
    lobe_mean: float  # subtracted so g has zero mean over the sphere

    def modulation(self, unit: list[np.ndarray]) -> np.ndarray:
        """g(u) for unit vectors given as three broadcastable component arrays."""
        g = np.zeros(np.broadcast_shapes(*(np.shape(c) for c in unit)), dtype=np.float32)
        for d, a in zip(self.lobe_dirs, self.lobe_amps, strict=True):
            dot = unit[0] * np.float32(d[0]) + unit[1] * np.float32(d[1]) + unit[2] * np.float32(d[2])
            g += np.float32(a) * np.exp(np.float32(_LOBE_KAPPA) * (dot - np.float32(1.0)))
        return g - np.float32(self.lobe_mean)

    def modulation_on_sphere(self, n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
        """Unit vectors (n, 3) and g on them."""
        u = _fibonacci_sphere(n)
        return u, self.modulation([u[:, 0], u[:, 1], u[:, 2]]).astype(float)

    def surface_points(self, scale_mm: float, centre_mm: np.ndarray, n: int = 1500) -> np.ndarray:
        """Physical points (n, 3) on the surface of the given scale."""
        u, g = self.modulation_on_sphere(n)
        local = u * self.ratios * (scale_mm * np.exp(g))[:, None]
        return centre_mm + local @ self.rotation.T

    def scale_for_volume(self, volume_mm3: float) -> float:
        """Scale whose continuous volume is ``volume_mm3``: V = 4/3 pi s^3 mean(exp(3 g))."""
        _, g = self.modulation_on_sphere()
        return float((3.0 * volume_mm3 / (4.0 * np.pi * np.mean(np.exp(3.0 * g)))) ** (1.0 / 3.0))


def _make_shape(spec: HematomaSpec, rng: np.random.Generator) -> _Shape:
    """Draw the lobes (always, so the stream does not depend on ``lobulation``) and scale them."""
    ratios = np.asarray(spec.semi_axis_ratios, dtype=float)
    ratios = ratios / np.prod(ratios) ** (1.0 / 3.0)
    dirs = rng.standard_normal((_N_LOBES, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    amps = rng.standard_normal(_N_LOBES)
    shape = _Shape(ratios, _rotation_about_z(spec.yaw_deg), dirs, amps, 0.0)
    if spec.lobulation <= 0:
        return replace(shape, lobe_dirs=np.zeros((0, 3)), lobe_amps=np.zeros(0))
    _, g = shape.modulation_on_sphere()
    shape = replace(shape, lobe_amps=amps * spec.lobulation / float(np.std(g)))
    return replace(shape, lobe_mean=float(np.mean(shape.modulation_on_sphere()[1])))


# --------------------------------------------------------------------------- generator


def _check_spec(spec: HematomaSpec, preset: str, noise_sd_hu: float, slice_mm: float | None) -> None:
    """Raise InputError listing every parameter out of range."""
    problems = []
    if preset not in PRESETS:
        problems.append(f"preset {preset!r} is unknown (use one of {sorted(PRESETS)})")
    if not 0.5 <= spec.volume_ml <= 150.0:
        problems.append(f"volume_ml={spec.volume_ml} is outside 0.5-150 mL")
    if min(spec.semi_axis_ratios) <= 0:
        problems.append("semi_axis_ratios must be positive")
    if not 0.0 <= spec.lobulation <= 0.5:
        problems.append(f"lobulation={spec.lobulation} is outside 0-0.5")
    if not 0.0 <= spec.blend_fraction <= 0.8:
        problems.append(f"blend_fraction={spec.blend_fraction} is outside 0-0.8")
    if spec.heterogeneity_hu < 0 or spec.oedema_mm < 0 or spec.n_hypodense_foci < 0 or noise_sd_hu < 0:
        problems.append("heterogeneity_hu, oedema_mm, n_hypodense_foci and noise_sd_hu must be >= 0")
    if spec.focus_radius_mm <= 0:
        problems.append("focus_radius_mm must be positive")
    if slice_mm is not None and not 0.3 <= slice_mm <= 10.0:
        problems.append(f"slice_mm={slice_mm} is outside 0.3-10 mm")
    if problems:
        raise InputError("phantom parameters: " + "; ".join(problems))


def _fits(points_mm, head_centre, brain_axes, margin_mm, grid: _Grid) -> bool:
    """True when all points lie ``margin_mm`` inside the brain and one voxel inside the grid."""
    limit = (1.0 - margin_mm / brain_axes.min()) ** 2
    if np.any(np.sum(((points_mm - head_centre) / brain_axes) ** 2, axis=1) > limit):
        return False
    idx = grid.to_index(points_mm)
    return bool(np.all(idx >= 1.0) and np.all(idx <= grid.size - 2.0))


def _draw_site(rng: np.random.Generator, brain_axes: np.ndarray, head_scale: float) -> np.ndarray:
    """A hematoma site relative to the head centre: putamen 50%, thalamus 15%, lobar 35%."""
    kind = rng.choice(3, p=[0.5, 0.15, 0.35])
    side = rng.choice([-1.0, 1.0])
    jitter = rng.normal(0.0, 3.0, 3)
    if kind < 2:
        site = np.asarray(_DEEP_SITES_MM[kind]) * head_scale
        return site * np.array([side, 1.0, 1.0]) + jitter
    u = rng.standard_normal(3)
    u[2] = abs(u[2]) - 0.2  # mostly supratentorial
    u /= np.linalg.norm(u)
    return u * brain_axes * rng.uniform(0.5, 0.65) + jitter


def _place(spec, shape, scale_mm, head_centre, brain_axes, head_scale, rng, grid_for) -> np.ndarray:
    """Choose the hematoma centre (physical mm) so its surface lies inside the brain and FOV."""
    margin = BRAIN_MARGIN_MM + spec.oedema_mm
    surface = shape.surface_points(scale_mm * 1.03, np.zeros(3))
    if spec.offset_mm is not None:
        centre = head_centre + np.asarray(spec.offset_mm, dtype=float)
        if not _fits(surface + centre, head_centre, brain_axes, margin, grid_for(centre)):
            raise InputError(
                f"phantom hematoma of {spec.volume_ml:g} mL at offset_mm={tuple(spec.offset_mm)} reaches "
                f"outside the brain (margin {margin:g} mm) or the field of view: move it towards the "
                "head centre, or lower volume_ml or lobulation"
            )
        return centre
    site = _draw_site(rng, brain_axes, head_scale)
    for step in np.linspace(1.0, 0.0, 21):
        centre = head_centre + site * step
        if _fits(surface + centre, head_centre, brain_axes, margin, grid_for(centre)):
            return centre
    raise InputError(
        f"phantom hematoma of {spec.volume_ml:g} mL does not fit inside the brain; lower volume_ml, "
        "lobulation or the semi-axis ratios"
    )


def _make_grid(preset: GeometryPreset, slice_mm, tilt_deg, head_centre, hematoma_centre, jitter_mm) -> _Grid:
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
    direction = _tilt_direction(tilt_deg)
    origin = centre - direction @ (spacing * (size - 1) / 2.0)
    return _Grid(size, spacing, origin, direction)


def _paint_head(grid: _Grid, head_centre: np.ndarray, scalp_axes: np.ndarray) -> np.ndarray:
    """Scalp, skull and brain (grey ribbon, sulcal CSF) with partial-volume boundaries."""
    ct = np.full(grid.shape, AIR_HU, dtype=np.float32)
    box = grid.box(head_centre, scalp_axes + 2.0 * grid.spacing.max())
    offsets = grid.axis_offsets(box, head_centre)
    xyz = grid.physical_offsets(offsets)
    inv_w = np.float32(1.0) / grid.radial_width(offsets)

    def depth_mm(axes: np.ndarray) -> np.ndarray:
        """Approximate depth below an ellipsoid surface (mm): (1 - r^2) L / 2, L the mean semi-axis."""
        depth = _broadcast_sum([(c / np.float32(a)) ** 2 for c, a in zip(xyz, axes, strict=True)])
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


def _paint_ellipsoid(ct: np.ndarray, grid: _Grid, centre_mm, semi_axes_mm, hu: float) -> None:
    """Blend an axis-aligned ellipsoid of constant HU into ``ct`` inside its bounding box."""
    semi = np.asarray(semi_axes_mm, dtype=float)
    box = grid.box(centre_mm, float(semi.max()) + 2.0 * grid.spacing.max())
    if box is None:
        return
    offsets = grid.axis_offsets(box, centre_mm)
    xyz = grid.physical_offsets(offsets)
    r2 = _broadcast_sum([(c / np.float32(a)) ** 2 for c, a in zip(xyz, semi, strict=True)])
    depth = (np.float32(1.0) - r2) * np.float32(np.cbrt(np.prod(semi)) / 2.0)
    f = _ramp(depth, grid.radial_width(offsets))
    region = ct[box]
    region += (np.float32(hu) - region) * f


def _fourier_field(rng: np.random.Generator, points_mm: np.ndarray, length_mm: float) -> np.ndarray:
    """Smooth random field at ``points_mm`` (n, 3): random Fourier features with Gaussian spectrum.

    Defined in physical space, so the same seed gives the same texture at any slice thickness.
    """
    n_modes = 48
    omega = (rng.standard_normal((n_modes, 3)) / length_mm).astype(np.float32)
    phase = rng.uniform(0.0, 2.0 * np.pi, n_modes).astype(np.float32)
    return np.cos(points_mm.astype(np.float32) @ omega.T + phase).sum(axis=1)


def _correlated_noise(rng: np.random.Generator, shape, sd_hu: float) -> np.ndarray:
    """Gaussian noise smoothed in-plane by a [1 2 1]/4 kernel (CT-like texture), SD ``sd_hu``."""
    white = rng.standard_normal(shape, dtype=np.float32)
    for axis in (1, 2):
        out = white * np.float32(0.5)
        lower, upper, first, last = ([slice(None)] * 3 for _ in range(4))
        lower[axis], upper[axis], first[axis], last[axis] = slice(0, -1), slice(1, None), 0, -1
        out[tuple(upper)] += np.float32(0.25) * white[tuple(lower)]
        out[tuple(lower)] += np.float32(0.25) * white[tuple(upper)]
        out[tuple(first)] += np.float32(0.25) * white[tuple(first)]  # reflect at the borders
        out[tuple(last)] += np.float32(0.25) * white[tuple(last)]
        white = out
    white *= np.float32(sd_hu / 0.375)  # the 2-D kernel keeps 0.375 of the SD of white noise
    return white


@dataclass(frozen=True)
class _Raster:
    """The voxels near the hematoma (mask plus a partial-volume and oedema shell)."""

    box: tuple[slice, slice, slice]
    index: tuple[np.ndarray, np.ndarray, np.ndarray]  # (k, j, i) inside ``box``
    xyz_mm: np.ndarray  # (n, 3) physical offsets from the hematoma centre
    width_mm: np.ndarray  # voxel width along the radial direction
    ray_mm: np.ndarray  # signed distance to the surface along the ray from the centre (< 0 inside)
    inside: np.ndarray  # the mask
    scale_mm: float


def _rasterise(
    grid: _Grid, shape: _Shape, centre: np.ndarray, spec: HematomaSpec, scale_est: float
) -> _Raster:
    """Select the N voxels with the smallest shape radius t, N = volume / voxel volume.

    t = rho exp(-g(u)) with rho the ellipsoid-normalised radius, so the mask is the surface of
    scale ``t_N`` sampled at voxel centres and holds exactly the requested volume.
    """
    n_target = max(1, round(spec.volume_ml * 1000.0 / float(np.prod(grid.spacing))))
    # Voxels that can matter: the mask, its partial-volume ramp (half a voxel) and the oedema rim.
    shell_mm = spec.oedema_mm + 0.5 * float(grid.spacing.max()) + 1.0
    g_max = float(shape.modulation_on_sphere()[1].max()) + 0.05
    scale_box = scale_est * 1.1
    for _ in range(6):
        # A point d mm outside the surface along its ray has rho <= scale exp(g_max) + d / min(ratio).
        rho_max = scale_box * np.exp(g_max) + shell_mm / float(shape.ratios.min())
        box = grid.box(centre, rho_max * float(shape.ratios.max()))
        offsets = grid.axis_offsets(box, centre)
        xyz_box = grid.physical_offsets(offsets)
        local_box = [
            _broadcast_sum(
                [np.float32(shape.rotation[row, col] / shape.ratios[col]) * xyz_box[row] for row in range(3)]
            )
            for col in range(3)
        ]
        k, j, i = np.nonzero(_broadcast_sum([c * c for c in local_box]) <= np.float32(rho_max**2))
        axes = np.stack([offsets[0].ravel()[i], offsets[1].ravel()[j], offsets[2].ravel()[k]], axis=1)
        xyz = axes @ grid.direction.T.astype(np.float32)
        local = (xyz @ shape.rotation.astype(np.float32)) / shape.ratios.astype(np.float32)
        rho = np.sqrt(np.sum(local * local, axis=1))
        unit = local / np.maximum(rho, np.float32(1e-6))[:, None]
        t = rho * np.exp(-shape.modulation([unit[:, 0], unit[:, 1], unit[:, 2]]))
        if n_target < t.size:
            part = np.partition(t, [n_target - 1, n_target])
            scale = float(0.5 * (part[n_target - 1] + part[n_target]))
            if scale < scale_box:
                break
            scale_box = scale * 1.2
        else:
            scale_box *= 1.5
    else:
        raise RuntimeError("phantom hematoma could not be rasterised inside its bounding box")
    distance = np.sqrt(np.sum(xyz * xyz, axis=1))
    ray_mm = distance * (np.float32(1.0) - np.float32(scale) / np.maximum(t, np.float32(1e-6)))
    radius2 = np.sum(axes * axes, axis=1) + np.float32(1e-6)
    width = np.sqrt(np.sum((axes * grid.spacing.astype(np.float32)) ** 2, axis=1) / radius2)
    return _Raster(box, (k, j, i), xyz, width, ray_mm, t <= scale, scale)


def _paint_hematoma(ct: np.ndarray, raster: _Raster, spec: HematomaSpec, rngs) -> list[dict[str, Any]]:
    """Draw oedema, clot density, blend and hypodense foci; return the foci drawn."""
    region = ct[raster.box]
    values = region[raster.index]
    width = raster.width_mm
    if spec.oedema_mm > 0:
        values += (np.float32(spec.oedema_hu) - values) * _ramp(
            np.float32(spec.oedema_mm) - raster.ray_mm, width
        )

    f_clot = _ramp(-raster.ray_mm, width)
    near = f_clot > 0
    points = raster.xyz_mm[near]
    inside = raster.inside[near]
    clot = np.full(points.shape[0], spec.mean_hu, dtype=np.float32)
    if spec.heterogeneity_hu > 0:
        texture = _fourier_field(rngs["texture"], points, 2.0)
        texture = (texture - texture[inside].mean()) / texture[inside].std()
        clot += np.float32(spec.heterogeneity_hu) * texture
    if spec.blend_fraction > 0:
        blend = _fourier_field(rngs["blend"], points, 8.0)
        cut = np.quantile(blend[inside], 1.0 - spec.blend_fraction)
        clot = np.where(blend > cut, clot + np.float32(spec.blend_hu - spec.mean_hu), clot)
    foci = []
    rng = rngs["foci"]
    for _ in range(spec.n_hypodense_foci):
        radius = spec.focus_radius_mm * float(rng.uniform(0.8, 1.2))
        candidates = np.flatnonzero(raster.ray_mm <= -0.7 * radius)
        if candidates.size == 0:
            candidates = np.flatnonzero(raster.inside)
        at = raster.xyz_mm[candidates[rng.integers(candidates.size)]]
        distance = np.sqrt(np.sum((points - at) ** 2, axis=1))
        f_focus = _ramp(np.float32(radius) - distance, width[near])
        clot += (np.float32(spec.focus_hu) - clot) * f_focus
        foci.append({"offset_mm": at.astype(float).tolist(), "radius_mm": radius, "hu": float(spec.focus_hu)})

    mixed = values[near]
    mixed += (clot - mixed) * f_clot[near]
    values[near] = mixed
    region[raster.index] = values
    return foci


def _reorder(image: sitk.Image, axes_order, flip_axes) -> sitk.Image:
    """Reorder and flip voxel axes exactly, keeping every voxel at its physical position."""
    order = [int(a) for a in axes_order]
    if order == [0, 1, 2] and not any(flip_axes):
        return image
    array = sitk.GetArrayFromImage(image).transpose(2, 1, 0)  # (i, j, k)
    array = array.transpose(order)
    size_old = np.asarray(image.GetSize())
    direction_old = np.asarray(image.GetDirection()).reshape(3, 3)
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


def generate_phantom(
    hematoma: HematomaSpec | None = None,
    *,
    preset: str = "clinical",
    seed: int = 0,
    noise_sd_hu: float = 4.0,
    slice_mm: float | None = None,
    tilt_deg: float = 0.0,
    axes_order: tuple[int, int, int] = (0, 1, 2),
    flip_axes: tuple[bool, bool, bool] = (False, False, False),
) -> Phantom:
    """Generate a deterministic head-CT phantom with a hematoma; see the module docstring.

    ``truth`` holds JSON-ready values: preset, seed, spacing_mm, size, direction, tilt_deg,
    axes_order, flip_axes, noise_sd_hu, requested_volume_ml, volume_ml and n_voxels (of the
    mask), centre_mm (physical LPS) and offset_mm (from the head centre), semi_axes_mm (of the
    base ellipsoid, L, P, S before yaw), yaw_deg, lobulation and lobes, mean_hu,
    noise_free_mean_hu (inside the mask, before noise), heterogeneity_hu, blend_fraction,
    blend_hu, n_hypodense_foci and hypodense_foci (offset_mm from the hematoma centre,
    radius_mm, hu), oedema_mm, oedema_hu, head_centre_mm, scalp_semi_axes_mm and
    brain_semi_axes_mm. In the analytic mode (lobulation 0) the mask is exactly the set of voxel
    centres inside the ellipsoid (centre_mm, semi_axes_mm, yaw_deg).
    """
    spec = hematoma or HematomaSpec()
    _check_spec(spec, preset, noise_sd_hu, slice_mm)
    if sorted(axes_order) != [0, 1, 2] or len(flip_axes) != 3:
        raise InputError(f"axes_order {axes_order} must be a permutation of (0, 1, 2) with 3 flip flags")
    streams = np.random.SeedSequence(seed).spawn(7)
    rngs = dict(
        zip(
            ("anatomy", "placement", "shape", "texture", "blend", "foci", "noise"),
            (np.random.default_rng(s) for s in streams),
            strict=True,
        )
    )
    geometry = PRESETS[preset]
    anatomy = rngs["anatomy"]
    head_scale = float(anatomy.uniform(0.95, 1.05))
    ventricle_scale = float(anatomy.uniform(0.8, 1.3))
    fov_jitter = anatomy.uniform(-4.0, 4.0, 2)
    head_centre = np.asarray(HEAD_CENTRE_MM)
    scalp_axes = np.asarray(SCALP_SEMI_AXES_MM) * head_scale
    brain_axes = scalp_axes - SCALP_THICKNESS_MM - SKULL_THICKNESS_MM

    shape = _make_shape(spec, rngs["shape"])
    scale_est = shape.scale_for_volume(spec.volume_ml * 1000.0)

    def grid_for(hematoma_centre: np.ndarray) -> _Grid:
        return _make_grid(geometry, slice_mm, tilt_deg, head_centre, hematoma_centre, fov_jitter)

    centre = _place(spec, shape, scale_est, head_centre, brain_axes, head_scale, rngs["placement"], grid_for)
    grid = grid_for(centre)

    ct = _paint_head(grid, head_centre, scalp_axes)
    for offset, semi, hu in _DEEP_STRUCTURES:
        _paint_ellipsoid(
            ct, grid, head_centre + np.asarray(offset) * head_scale, np.asarray(semi) * head_scale, hu
        )
    for offset, semi in _VENTRICLES:
        semi_mm = np.asarray(semi) * head_scale * np.array([ventricle_scale, 1.0, ventricle_scale])
        _paint_ellipsoid(ct, grid, head_centre + np.asarray(offset) * head_scale, semi_mm, CSF_HU)
    raster = _rasterise(grid, shape, centre, spec, scale_est)
    foci = _paint_hematoma(ct, raster, spec, rngs)

    mask_array = np.zeros(grid.shape, dtype=np.uint8)
    inside_index = tuple(a[raster.inside] for a in raster.index)
    mask_array[raster.box][inside_index] = 1
    noise_free_mean = float(ct[raster.box][inside_index].mean())
    if noise_sd_hu > 0:
        ct += _correlated_noise(rngs["noise"], grid.shape, noise_sd_hu)
    ct_array = np.clip(np.rint(ct), -1024, 3071).astype(np.int16)

    images = []
    for array in (ct_array, mask_array):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing(grid.spacing.tolist())
        image.SetOrigin(grid.origin.tolist())
        image.SetDirection(grid.direction.ravel().tolist())
        images.append(_reorder(image, axes_order, flip_axes))
    ct_image, mask_image = images

    n_voxels = int(raster.inside.sum())
    truth: dict[str, Any] = {
        "preset": preset,
        "seed": int(seed),
        "spacing_mm": list(ct_image.GetSpacing()),
        "size": list(ct_image.GetSize()),
        "direction": list(ct_image.GetDirection()),
        "tilt_deg": float(tilt_deg),
        "axes_order": list(axes_order),
        "flip_axes": [bool(f) for f in flip_axes],
        "noise_sd_hu": float(noise_sd_hu),
        "requested_volume_ml": float(spec.volume_ml),
        "volume_ml": n_voxels * float(np.prod(grid.spacing)) / 1000.0,
        "n_voxels": n_voxels,
        "centre_mm": centre.tolist(),
        "offset_mm": (centre - head_centre).tolist(),
        "semi_axes_mm": (raster.scale_mm * shape.ratios).tolist(),
        "yaw_deg": float(spec.yaw_deg),
        "lobulation": float(spec.lobulation),
        "lobes": [
            {"direction": d.tolist(), "amplitude": float(a)}
            for d, a in zip(shape.lobe_dirs, shape.lobe_amps, strict=True)
        ],
        "mean_hu": float(spec.mean_hu),
        "noise_free_mean_hu": noise_free_mean,
        "heterogeneity_hu": float(spec.heterogeneity_hu),
        "blend_fraction": float(spec.blend_fraction),
        "blend_hu": float(spec.blend_hu),
        "n_hypodense_foci": int(spec.n_hypodense_foci),
        "hypodense_foci": foci,
        "oedema_mm": float(spec.oedema_mm),
        "oedema_hu": float(spec.oedema_hu),
        "head_centre_mm": head_centre.tolist(),
        "scalp_semi_axes_mm": scalp_axes.tolist(),
        "brain_semi_axes_mm": brain_axes.tolist(),
    }
    logger.debug("phantom seed %d: %.2f mL hematoma at %s", seed, truth["volume_ml"], truth["centre_mm"])
    return Phantom(ct=ct_image, mask=mask_image, truth=truth)


# --------------------------------------------------------------------------- writers


def _write_image_atomic(image: sitk.Image, path: Path) -> None:
    """Write ``image`` compressed, through a temporary file renamed over ``path``."""
    with atomic_path(path) as temporary:
        sitk.WriteImage(image, str(temporary), useCompression=True)


def write_segmentation_nrrd(
    mask: sitk.Image,
    path: str | os.PathLike,
    *,
    segment_name: str = HEMATOMA_SEGMENT_NAME,
    color: tuple[float, float, float] = HEMATOMA_COLOR,
    terminology: str = HEMATOMA_TERMINOLOGY,
) -> Path:
    """Write a binary mask as a one-segment Slicer ``.seg.nrrd`` (label value 1), atomically.

    The labelmap keeps the full grid of ``mask`` (reference extent offset 0 0 0); the segment
    extent is the bounding box of its voxels. Slicer, slicerio and any NRRD reader open it.
    """
    array = sitk.GetArrayFromImage(mask)
    nonzero = np.nonzero(array)
    if nonzero[0].size == 0:
        raise InputError(f"cannot write {path}: the mask is empty")
    labelmap = sitk.GetImageFromArray((array > 0).astype(np.uint8))
    labelmap.CopyInformation(mask)
    k, j, i = nonzero
    extent = f"{i.min()} {i.max()} {j.min()} {j.max()} {k.min()} {k.max()}"
    metadata = {
        "Segment0_ID": segment_name,
        "Segment0_Name": segment_name,
        "Segment0_Color": " ".join(f"{c:.6f}" for c in color),
        "Segment0_LabelValue": "1",
        "Segment0_Layer": "0",
        "Segment0_Extent": extent,
        "Segment0_NameAutoGenerated": "0",
        "Segment0_ColorAutoGenerated": "0",
        "Segment0_Tags": f"TerminologyEntry:{terminology}|",
        "Segmentation_MasterRepresentation": "Binary labelmap",
        "Segmentation_ContainedRepresentationNames": "Binary labelmap|",
        "Segmentation_ReferenceImageExtentOffset": "0 0 0",
    }
    for key, value in metadata.items():
        labelmap.SetMetaData(key, value)
    out = Path(path)
    _write_image_atomic(labelmap, out)
    return out


def write_case(phantom: Phantom, out_dir: str | os.PathLike, case_id: str) -> dict[str, Path]:
    """Write ``<case_id>_ct.nrrd`` and ``<case_id>_hematoma.seg.nrrd``; return their paths."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    ct_path = folder / f"{case_id}_ct.nrrd"
    _write_image_atomic(phantom.ct, ct_path)
    seg_path = write_segmentation_nrrd(phantom.mask, folder / f"{case_id}_hematoma.seg.nrrd")
    return {"ct": ct_path, "hematoma": seg_path}

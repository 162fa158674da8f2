"""The hematoma's shape: a lobulated star-shaped surface, and its rasterisation to an exact volume.

In the hematoma frame the surface radius along a unit vector u is ``scale * ratios * exp(g(u))``
with g a sum of smooth bumps ("lobes") of zero mean over the sphere; the mask is the set of voxel
centres inside the surface whose scale makes it hold exactly the requested volume.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .grid import PhantomGrid, broadcast_sum
from .spec import HematomaSpec

_N_LOBES = 6
_LOBE_KAPPA = 5.0  # concentration of each bump: width about 1/sqrt(kappa) rad


def fibonacci_sphere(n: int) -> np.ndarray:
    """Nearly uniform unit vectors, shape (n, 3)."""
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    phi = np.pi * (1.0 + 5**0.5) * k
    r = np.sqrt(1.0 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def rotation_about_z(deg: float) -> np.ndarray:
    """Rotation matrix about the superior axis by ``deg`` degrees."""
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t), 0.0], [np.sin(t), np.cos(t), 0.0], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class HematomaShape:
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
        u = fibonacci_sphere(n)
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


def make_shape(spec: HematomaSpec, rng: np.random.Generator) -> HematomaShape:
    """Draw the lobes (always, so the stream does not depend on ``lobulation``) and scale them."""
    ratios = np.asarray(spec.semi_axis_ratios, dtype=float)
    ratios = ratios / np.prod(ratios) ** (1.0 / 3.0)
    dirs = rng.standard_normal((_N_LOBES, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    amps = rng.standard_normal(_N_LOBES)
    shape = HematomaShape(ratios, rotation_about_z(spec.yaw_deg), dirs, amps, 0.0)
    if spec.lobulation <= 0:
        return replace(shape, lobe_dirs=np.zeros((0, 3)), lobe_amps=np.zeros(0))
    _, g = shape.modulation_on_sphere()
    shape = replace(shape, lobe_amps=amps * spec.lobulation / float(np.std(g)))
    return replace(shape, lobe_mean=float(np.mean(shape.modulation_on_sphere()[1])))


@dataclass(frozen=True)
class HematomaRaster:
    """The voxels near the hematoma (mask plus a partial-volume and oedema shell)."""

    box: tuple[slice, slice, slice]
    index: tuple[np.ndarray, np.ndarray, np.ndarray]  # (k, j, i) inside ``box``
    xyz_mm: np.ndarray  # (n, 3) physical offsets from the hematoma centre
    width_mm: np.ndarray  # voxel width along the radial direction
    ray_mm: np.ndarray  # signed distance to the surface along the ray from the centre (< 0 inside)
    inside: np.ndarray  # the mask
    scale_mm: float


def rasterise(
    grid: PhantomGrid, shape: HematomaShape, centre: np.ndarray, spec: HematomaSpec, scale_est: float
) -> HematomaRaster:
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
            broadcast_sum(
                [np.float32(shape.rotation[row, col] / shape.ratios[col]) * xyz_box[row] for row in range(3)]
            )
            for col in range(3)
        ]
        k, j, i = np.nonzero(broadcast_sum([c * c for c in local_box]) <= np.float32(rho_max**2))
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
    return HematomaRaster(box, (k, j, i), xyz, width, ray_mm, t <= scale, scale)

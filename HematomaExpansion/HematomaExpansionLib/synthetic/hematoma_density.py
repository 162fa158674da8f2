"""The hematoma's density: oedema rim, clot mean and texture, blend and hypodense foci, painted
with partial volume into the CT around the rasterised hematoma."""

from __future__ import annotations

from typing import Any

import numpy as np

from .grid import partial_volume_ramp
from .hematoma_shape import HematomaRaster
from .random_fields import fourier_field
from .spec import HematomaSpec


def paint_hematoma(
    ct: np.ndarray, raster: HematomaRaster, spec: HematomaSpec, rngs: dict[str, np.random.Generator]
) -> list[dict[str, Any]]:
    """Draw oedema, clot density, blend and hypodense foci into ``ct``; return the foci drawn.

    ``rngs`` holds the "texture", "blend" and "foci" streams.
    """
    region = ct[raster.box]
    values = region[raster.index]
    width = raster.width_mm
    if spec.oedema_mm > 0:
        values += (np.float32(spec.oedema_hu) - values) * partial_volume_ramp(
            np.float32(spec.oedema_mm) - raster.ray_mm, width
        )

    f_clot = partial_volume_ramp(-raster.ray_mm, width)
    near = f_clot > 0
    points = raster.xyz_mm[near]
    inside = raster.inside[near]
    clot = np.full(points.shape[0], spec.mean_hu, dtype=np.float32)
    if spec.heterogeneity_hu > 0:
        texture = fourier_field(rngs["texture"], points, 2.0)
        texture = (texture - texture[inside].mean()) / texture[inside].std()
        clot += np.float32(spec.heterogeneity_hu) * texture
    if spec.blend_fraction > 0:
        blend = fourier_field(rngs["blend"], points, 8.0)
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
        f_focus = partial_volume_ramp(np.float32(radius) - distance, width[near])
        clot += (np.float32(spec.focus_hu) - clot) * f_focus
        foci.append({"offset_mm": at.astype(float).tolist(), "radius_mm": radius, "hu": float(spec.focus_hu)})

    mixed = values[near]
    mixed += (clot - mixed) * f_clot[near]
    values[near] = mixed
    region[raster.index] = values
    return foci

"""Synthetic head-CT phantoms with a hematoma of known volume, shape and density.

The anatomy (:mod:`.anatomy`) lives in LPS physical space around a fixed head centre: scalp,
skull (dense inner and outer tables around a lighter diploe), brain with a cortical grey-matter
ribbon, sulcal CSF, deep grey nuclei and ventricles. A hematoma of requested volume is placed
inside the brain (:mod:`.placement`); its surface is an ellipsoid whose radius is modulated by
smooth bumps ("lobulation", :mod:`.hematoma_shape`), its density (:mod:`.hematoma_density`) has
a mean, a smooth texture, an optional second density ("blend") and optional hypodense foci, and
it may carry a hypodense oedema rim (outside the mask). Partial volume is modelled by soft tissue
boundaries one voxel wide along the surface normal; in-plane correlated Gaussian noise
(:mod:`.random_fields`) is added last.

Everything is drawn from ``numpy.random.Generator`` streams seeded by ``seed``; each part
(anatomy, placement, shape, texture, blend, foci, noise) has its own stream, so changing one
knob does not move the others. Generation only rasterises full-volume layers with broadcast
arithmetic and everything else inside bounding boxes (a clinical case takes well under 1.5 s).

Geometry presets (``spec.PRESETS``):

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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..common.errors import InputError
from .anatomy import draw_head, paint_anatomy
from .grid import PhantomGrid, grid_image, make_grid, reorder_axes
from .hematoma_density import paint_hematoma
from .hematoma_shape import HematomaRaster, HematomaShape, make_shape, rasterise
from .placement import place_hematoma
from .random_fields import correlated_noise
from .spec import PRESETS, HematomaSpec, check_phantom_parameters

logger = logging.getLogger(__name__)

_STREAMS = ("anatomy", "placement", "shape", "texture", "blend", "foci", "noise")


@dataclass(frozen=True)
class Phantom:
    """A synthetic case: CT (int16 HU), hematoma mask (uint8 0/1) and the true parameters."""

    ct: sitk.Image
    mask: sitk.Image
    truth: dict[str, Any] = field(default_factory=dict)


def _random_streams(seed: int) -> dict[str, np.random.Generator]:
    """One independent generator per part of the phantom, all from ``seed``."""
    streams = np.random.SeedSequence(seed).spawn(len(_STREAMS))
    return dict(zip(_STREAMS, (np.random.default_rng(s) for s in streams), strict=True))


def _hematoma_truth(
    spec: HematomaSpec,
    grid: PhantomGrid,
    shape: HematomaShape,
    raster: HematomaRaster,
    centre: np.ndarray,
    head_centre: np.ndarray,
    noise_free_mean_hu: float,
    foci: list[dict[str, Any]],
) -> dict[str, Any]:
    """JSON-ready truth of the hematoma: volume, position, shape and density."""
    n_voxels = int(raster.inside.sum())
    return {
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
        "noise_free_mean_hu": noise_free_mean_hu,
        "heterogeneity_hu": float(spec.heterogeneity_hu),
        "blend_fraction": float(spec.blend_fraction),
        "blend_hu": float(spec.blend_hu),
        "n_hypodense_foci": int(spec.n_hypodense_foci),
        "hypodense_foci": foci,
        "oedema_mm": float(spec.oedema_mm),
        "oedema_hu": float(spec.oedema_hu),
    }


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
    check_phantom_parameters(spec, preset, noise_sd_hu, slice_mm)
    if sorted(axes_order) != [0, 1, 2] or len(flip_axes) != 3:
        raise InputError(f"axes_order {axes_order} must be a permutation of (0, 1, 2) with 3 flip flags")
    rngs = _random_streams(seed)
    head = draw_head(rngs["anatomy"])
    shape = make_shape(spec, rngs["shape"])
    scale_est = shape.scale_for_volume(spec.volume_ml * 1000.0)

    def grid_for(hematoma_centre: np.ndarray) -> PhantomGrid:
        return make_grid(
            PRESETS[preset], slice_mm, tilt_deg, head.centre_mm, hematoma_centre, head.fov_jitter_mm
        )

    centre = place_hematoma(spec, shape, scale_est, head, rngs["placement"], grid_for)
    grid = grid_for(centre)
    ct = paint_anatomy(grid, head)
    raster = rasterise(grid, shape, centre, spec, scale_est)
    foci = paint_hematoma(ct, raster, spec, rngs)

    mask_array = np.zeros(grid.shape, dtype=np.uint8)
    inside_index = tuple(a[raster.inside] for a in raster.index)
    mask_array[raster.box][inside_index] = 1
    noise_free_mean = float(ct[raster.box][inside_index].mean())
    if noise_sd_hu > 0:
        ct += correlated_noise(rngs["noise"], grid.shape, noise_sd_hu)
    ct_array = np.clip(np.rint(ct), -1024, 3071).astype(np.int16)
    ct_image, mask_image = (
        reorder_axes(grid_image(array, grid), axes_order, flip_axes) for array in (ct_array, mask_array)
    )

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
        **_hematoma_truth(spec, grid, shape, raster, centre, head.centre_mm, noise_free_mean, foci),
        **head.truth(),
    }
    logger.debug("phantom seed %d: %.2f mL hematoma at %s", seed, truth["volume_ml"], truth["centre_mm"])
    return Phantom(ct=ct_image, mask=mask_image, truth=truth)

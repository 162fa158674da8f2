"""Barras shape and density categories (Barras et al., Stroke 2009;40:1325-1331), as measured scores.

Barras' scales run from 1 (round, homogeneous) to 5, each category adding one margin irregularity
(shape) or one degree of density variation (density), read on the axial slice of the largest
cross-section. Measured on that slice (or the nearest read one):
shape = 1 + the margin irregularities, i.e. the concavities of the main piece's outline at least
``barras_concavity_min_depth_mm`` deep (regions between the outline and its convex hull), the
bubbles or sprouts on it and the separate pieces (signs/components); density = 1 + the hypodense regions at least ``hypodensity_min_difference_hu``
below the clot; both capped at ``barras_max_category``. The hematoma's HU coefficient of variation
(Barras et al., AJNR 2013;34:1139) is reported with them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from ..imaging.morphology import bounding_box
from .components import EIGHT_CONNECTED, SlicePieces, convex_hull_mask
from .parameters import SignParameters
from .regions import DensityAnalysis
from .volume import SignVolume


def concavity_depths_mm(main: np.ndarray, spacing_yx_mm: np.ndarray) -> list[float]:
    """Depth (mm from the convex hull's border) of each concavity of a 2-D piece's outline."""
    box = bounding_box(main, [1, 1])
    piece = main[box]
    hull = convex_hull_mask(piece)
    depth = ndimage.distance_transform_edt(hull, sampling=spacing_yx_mm)
    labels, n = ndimage.label(hull & ~piece, structure=EIGHT_CONNECTED)
    if n == 0:
        return []
    return [float(v) for v in ndimage.maximum(depth, labels, index=np.arange(1, n + 1))]


def _nearest(items: list[Any], key: int, index: Any) -> Any | None:
    """The item whose slice index is nearest ``key`` (None when there is none)."""
    return min(items, key=lambda item: abs(index(item) - key), default=None)


def barras_scores(
    volume: SignVolume, slices: list[SlicePieces], analysis: DensityAnalysis, parameters: SignParameters
) -> tuple[int, int, dict[str, Any]]:
    """(shape category, density category, what they were counted from)."""
    top = parameters.barras_max_category
    k0 = volume.largest_slice
    shape_slice = _nearest(slices, k0, lambda p: p.slice_index)
    concavities = sprouts = separate = 0
    if shape_slice is not None:
        depths = concavity_depths_mm(shape_slice.main, volume.spacing_yx_mm)
        concavities = sum(d >= parameters.barras_concavity_min_depth_mm for d in depths)
        sprouts = len(shape_slice.sprout_centers_lps_mm)
        separate = len(shape_slice.separate)
    shape = min(top, 1 + concavities + sprouts + separate)

    hypodense = [r for r in analysis.regions if r.difference_hu >= parameters.hypodensity_min_difference_hu]
    density_k = _nearest(list(analysis.analysed_slices), k0, lambda k: k)
    regions = sum(density_k in r.slice_indices for r in hypodense)
    density = min(top, 1 + regions)
    segment_hu = volume.hu[volume.segment]
    details = {
        "shape_measured": f"{concavities} concavities + {sprouts} sprouts + {separate} separate",
        "density_measured": f"{regions} hypodense regions",
        "shape_slice_z_mm": None if shape_slice is None else round(shape_slice.z_mm, 2),
        "density_slice_z_mm": None if density_k is None else round(volume.z_mm(density_k), 2),
        "concavities": concavities,
        "sprouts": sprouts,
        "separate_pieces": separate,
        "hypodense_regions": regions,
        "hu_coefficient_of_variation": float(np.std(segment_hu) / np.mean(segment_hu)),
    }
    return shape, density, details

"""Hematoma pieces on each axial slice: the main one, separate small ones, and bubbles or sprouts on it.

Shared by the island sign, the satellite sign and the Barras shape scale. On each slice the
hematoma is the user's segment plus hyperdense components outside it (smoothed HU in
``blood_hu_range``, at most ``search_mm`` from the segment, not within ``bone_margin_mm`` of bone,
not the rim of a calcification above the range, not touching the segment, whose partial-volume
rim they would otherwise add): a reader sees a small hematoma whether or not it was segmented. Pieces are 8-connected; the main one is the piece overlapping the segment most, and
slices where it is smaller than ``main_min_area_fraction`` of the largest cross-section are not
read (the clot's tips). A piece's gap to the main one is edge to edge (nearest pixel centres less
one pixel), its diameter the largest Feret diameter (imaging/measurements), over all its slices
when it is a hematoma of its own in 3-D. Bubbles and sprouts are
what a disc opening of radius ``sprout_opening_mm`` removes from the main piece, reaching at least
``sprout_min_length_mm`` beyond the convex hull of what remains; lobes wider than the disc are kept
and the sharp corners of a notch stay within the hull, so a lobulated but connected clot has none.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from ..imaging.measurements import axial_diameters
from ..imaging.morphology import bounding_box, dilate_mm, erode_mm
from .parameters import SignParameters
from .volume import SignVolume

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class SeparatePiece:
    """A hematoma piece completely separate from the main one on one axial slice."""

    slice_index: int
    z_mm: float
    area_mm2: float
    diameter_mm: float
    gap_mm: float
    center_lps_mm: list[float]
    mean_hu: float
    in_segment: bool  # part of the user's segment (else found outside it)
    slice_diameter_mm: float = float("nan")  # on this slice (diameter_mm: over all its slices)
    component: int = 0  # its 3-D hematoma piece (internal label)

    def evidence(self) -> dict[str, float | int | bool | list[float]]:
        """Where and how large, for a SignResult."""
        return {
            "center_lps_mm": self.center_lps_mm,
            "z_mm": round(self.z_mm, 2),
            "slice_index": self.slice_index,
            "diameter_mm": round(self.diameter_mm, 2),
            "slice_diameter_mm": round(self.slice_diameter_mm, 2),
            "area_mm2": round(self.area_mm2, 1),
            "gap_mm": round(self.gap_mm, 2),
            "mean_hu": round(self.mean_hu, 1),
            "in_segment": self.in_segment,
        }


@dataclass(frozen=True)
class SlicePieces:
    """One read slice: the main piece, the separate pieces and the bubbles or sprouts on the main one."""

    slice_index: int
    z_mm: float
    main_area_mm2: float
    main: np.ndarray = field(repr=False)
    separate: list[SeparatePiece] = field(default_factory=list)
    sprout_centers_lps_mm: list[list[float]] = field(default_factory=list)


def convex_hull_mask(mask: np.ndarray) -> np.ndarray:
    """Pixels whose centres lie in the convex hull of a 2-D mask's pixel centres."""
    points = np.argwhere(mask)
    try:
        hull = ConvexHull(points.astype(float))
    except (QhullError, ValueError, IndexError):  # fewer than 3 points or all on one line
        return mask.copy()
    # Only the mask's bounding box can be inside; a pixel is inside when it is on the inner side
    # of every facet (unit normals, so the tolerance is a distance in pixels).
    low, high = points.min(axis=0), points.max(axis=0) + 1
    grid = np.indices(high - low).reshape(2, -1).T + low
    inside = np.all(grid @ hull.equations[:, :2].T + hull.equations[:, 2] <= 1e-9, axis=1)
    result = mask.copy()
    result[low[0] : high[0], low[1] : high[1]] |= inside.reshape(high - low)
    return result


def _outside_blood(volume: SignVolume, k: int, parameters: SignParameters) -> np.ndarray:
    """Hyperdense components outside the segment on slice ``k`` that a reader would count as blood."""
    low, high = parameters.blood_hu_range
    smoothed = volume.smoothed_hu[k]
    segment = volume.segment[k]
    candidate = ~segment & (smoothed >= low) & (smoothed <= high) & ~volume.near_bone[k]
    labels, n = ndimage.label(candidate, structure=EIGHT_CONNECTED)
    if n == 0:
        return candidate
    distance = ndimage.distance_transform_edt(~segment, sampling=volume.spacing_yx_mm)
    nearest = ndimage.minimum(distance, labels, index=np.arange(1, n + 1))
    index = np.arange(1, n + 1)
    next_to_dense = ndimage.binary_dilation(smoothed > high, EIGHT_CONNECTED)
    too_dense = np.asarray(ndimage.maximum(next_to_dense, labels, index=index)) > 0
    touching = (
        np.asarray(ndimage.maximum(ndimage.binary_dilation(segment, EIGHT_CONNECTED), labels, index)) > 0
    )
    keep = np.zeros(n + 1, dtype=bool)
    keep[1:] = (np.asarray(nearest) <= parameters.search_mm) & ~too_dense & ~touching
    return keep[labels]


def _sprout_centers(
    volume: SignVolume, k: int, main: np.ndarray, parameters: SignParameters
) -> list[list[float]]:
    """LPS centres of the bubbles and sprouts on the main piece (see the module docstring)."""
    spacing = volume.spacing_yx_mm
    radius = parameters.sprout_opening_mm
    pad = [int(np.ceil(radius / s)) + 2 for s in spacing]
    box = bounding_box(main, pad)
    piece = main[box]
    body = dilate_mm(erode_mm(piece, radius, spacing), radius, spacing) & piece
    if not body.any():
        return []
    from_body = ndimage.distance_transform_edt(~convex_hull_mask(body), sampling=spacing)
    labels, n = ndimage.label(piece & ~body, structure=EIGHT_CONNECTED)
    centers = []
    for label in range(1, n + 1):
        sprout = labels == label
        area = np.count_nonzero(sprout) * volume.pixel_area_mm2
        if (
            area >= parameters.sprout_min_area_mm2
            and from_body[sprout].max() >= parameters.sprout_min_length_mm
        ):
            rows, cols = np.nonzero(sprout)
            centers.append(volume.point_lps_mm(k, rows.mean() + box[0].start, cols.mean() + box[1].start))
    return centers


def _feret_mm(volume: SignVolume, piece: np.ndarray) -> float:
    """Largest Feret diameter (mm) of a 2-D piece (imaging/measurements' A diameter)."""
    spacing_x_y = (float(volume.spacing_zyx_mm[2]), float(volume.spacing_zyx_mm[1]))
    return axial_diameters(piece[bounding_box(piece)], spacing_x_y).a_mm


def _separate_piece(
    volume: SignVolume, k: int, piece: np.ndarray, to_main_mm: np.ndarray, component: int
) -> SeparatePiece:
    """Size, gap and position of one separate piece (its diameter on this slice until pooled)."""
    diameter = _feret_mm(volume, piece)
    return SeparatePiece(
        slice_index=k,
        z_mm=volume.z_mm(k),
        area_mm2=float(np.count_nonzero(piece) * volume.pixel_area_mm2),
        diameter_mm=diameter,
        gap_mm=max(0.0, float(to_main_mm[piece].min()) - float(np.mean(volume.spacing_yx_mm))),
        center_lps_mm=volume.centroid_lps_mm(k, piece),
        mean_hu=float(volume.hu[k][piece].mean()),
        in_segment=bool((piece & volume.segment[k]).any()),
        slice_diameter_mm=diameter,
        component=component,
    )


def slice_pieces(
    volume: SignVolume, k: int, blood: np.ndarray, components: np.ndarray, parameters: SignParameters
) -> SlicePieces | None:
    """The pieces of slice ``k`` (``blood``: its hematoma pixels; ``components``: their 3-D labels);
    None when the main piece is too small to read the slice."""
    segment = volume.segment[k]
    if not segment.any():
        return None
    labels, n = ndimage.label(blood, structure=EIGHT_CONNECTED)
    overlap = ndimage.sum_labels(segment, labels, index=np.arange(1, n + 1))
    main_label = int(np.argmax(overlap)) + 1
    main = labels == main_label
    main_area = float(np.count_nonzero(main) * volume.pixel_area_mm2)
    if main_area < parameters.main_min_area_fraction * volume.cross_section.area_mm2:
        return None
    to_main_mm = ndimage.distance_transform_edt(~main, sampling=volume.spacing_yx_mm)
    areas = (
        ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, n + 1)) * volume.pixel_area_mm2
    )
    separate = []
    for label in range(1, n + 1):
        if label != main_label and parameters.component_min_area_mm2 <= areas[label - 1] < main_area:
            piece = labels == label
            separate.append(_separate_piece(volume, k, piece, to_main_mm, int(components[piece][0])))
    return SlicePieces(
        slice_index=k,
        z_mm=volume.z_mm(k),
        main_area_mm2=main_area,
        main=main,
        separate=separate,
        sprout_centers_lps_mm=_sprout_centers(volume, k, main, parameters),
    )


def _pooled_diameters(volume: SignVolume, slices: list[SlicePieces], components: np.ndarray) -> None:
    """Give each separate piece that is a hematoma of its own in 3-D its largest diameter over all its
    slices (a sphere's tip slices look smaller than it is); pieces joined to the main hematoma on
    another slice keep their slice's diameter."""
    main = int(np.argmax(np.bincount(components[volume.segment])[1:])) + 1
    own = {p.component for s in slices for p in s.separate if p.component != main}
    largest = {}
    for component in own:
        masks = components == component
        largest[component] = max(_feret_mm(volume, masks[k]) for k in np.flatnonzero(masks.any(axis=(1, 2))))
    for pieces in slices:
        pieces.separate[:] = [
            replace(p, diameter_mm=largest[p.component]) if p.component in largest else p
            for p in pieces.separate
        ]


def analyse_pieces(volume: SignVolume, parameters: SignParameters) -> list[SlicePieces]:
    """The pieces of every read slice, from inferior to superior."""
    blood = np.zeros_like(volume.segment)
    for k in np.flatnonzero(volume.segment.any(axis=(1, 2))):
        blood[k] = volume.segment[k] | _outside_blood(volume, int(k), parameters)
    components, _ = ndimage.label(blood, structure=np.ones((3, 3, 3), dtype=bool))
    read = (slice_pieces(volume, k, blood[k], components[k], parameters) for k in range(blood.shape[0]))
    slices = [pieces for pieces in read if pieces is not None]
    _pooled_diameters(volume, slices, components)
    return slices

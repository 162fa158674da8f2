"""Semi-automatic draft of the hematoma on a head CT, for the user to correct slice by slice.

Two stages, both on the CT's own voxel grid (oblique and tilted volumes are never resampled)
with every radius in physical mm, turned into per-axis voxel extents from the spacing, so that
5 mm slices and 0.45 mm pixels get the same physical morphology:

1. Intracranial region (:mod:`.intracranial`): the brain without skull, scalp, the
   partial-volume rim along the bone and the borders of the scan.
2. Draft (:func:`draft_hematoma`). The CT is smoothed by a Gaussian of ``smoothing_sigma_mm``
   (noise of a few HU otherwise lets grey matter at 40 HU speckle above 45 HU), thresholded in
   ``hu_range`` inside the intracranial region, opened by a ball of ``opening_radius_mm`` (cuts
   thin bridges to neighbouring hyperdense tissue), hole-filled in 3-D and split into
   26-connected components. The component holding the seed point, or else the largest, is kept;
   the voxels the opening shaved off its border are given back (candidates within the opening
   radius of it), it is closed by ``closing_radius_mm`` (fills bays and hypodense foci that open
   onto the clot surface; 0 turns it off), hole-filled in 3-D and on every axial slice
   (hypodense foci inside the clot belong to the hematoma), and finally limited to the
   intracranial region without bone.

Balls are exact physical ellipsoids (:mod:`.morphology`), so a 1.5 mm opening acts in-plane
only on 5 mm slices and in 3-D on 1 mm slices.

The result is a draft: it is meant to be reviewed and corrected, and its warnings say where.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..common.errors import InputError
from .draft_parameters import (
    BONE_HU,
    CLOSING_RADIUS_MM,
    DEFAULT_DRAFT_HU_RANGE,
    OPENING_RADIUS_MM,
    OTHER_CANDIDATE_ML,
    SEED_TOLERANCE_MM,
    SEPARATION_MM,
    SKULL_MARGIN_MM,
    SMALL_BRAIN_ML,
    SMALL_DRAFT_ML,
    SMOOTHING_SIGMA_MM,
    check_draft_ct,
    check_hu_range,
    check_non_negative,
)
from .geometry import acquired_slice_axis, spacing_zyx_mm
from .intracranial import intracranial_and_bone
from .morphology import (
    CONNECTIVITY_26,
    ball_extent,
    ball_voxel_count,
    bounding_box,
    box_filter,
    component_sizes,
    compose_boxes,
    dilate_mm,
    erode_mm,
    fill_holes,
    fill_holes_per_slice,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DraftResult:
    """A draft hematoma mask (uint8 0/1 on the CT grid) and how it was chosen.

    ``n_candidate_components`` counts the 26-connected candidate regions after the opening and
    hole filling; ``chosen_component_reason`` is "seed point" or "largest".
    """

    mask: sitk.Image
    volume_ml: float
    n_candidate_components: int
    chosen_component_reason: str
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Candidates:
    """Candidate voxels (speck-free threshold) cropped to ``box``, with the brain and bone there."""

    box: tuple[slice, ...]
    voxels: np.ndarray
    brain: np.ndarray
    bone: np.ndarray


def _seed_index(ct: sitk.Image, seed_point_lps_mm: Sequence[float]) -> tuple[int, int, int]:
    """Numpy index (k, j, i) of the voxel containing the physical seed point."""
    try:
        point = [float(v) for v in seed_point_lps_mm]
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"the seed point must be three LPS coordinates in mm, got {seed_point_lps_mm!r}"
        ) from exc
    if len(point) != 3 or not all(math.isfinite(v) for v in point):
        raise InputError(
            f"the seed point must be three finite LPS coordinates in mm, got {seed_point_lps_mm!r}"
        )
    continuous = ct.TransformPhysicalPointToContinuousIndex(point)
    index = [int(np.floor(c + 0.5)) for c in continuous]
    if any(i < 0 or i >= n for i, n in zip(index, ct.GetSize(), strict=True)):
        raise InputError(
            f"the seed point {_format_point(point)} mm lies outside the CT volume: place it inside the scan"
        )
    return index[2], index[1], index[0]


def _format_point(point: Sequence[float]) -> str:
    return "(" + ", ".join(f"{float(v):.1f}" for v in point) + ")"


def _candidates(
    array: np.ndarray,
    brain_full: np.ndarray,
    bone_full: np.ndarray,
    spacing: np.ndarray,
    hu_range: tuple[float, float],
    smoothing_sigma_mm: float,
    opening_radius_mm: float,
    closing_radius_mm: float,
) -> _Candidates:
    """Smooth and threshold inside the brain's box, drop specks, crop to the candidates' padded box."""
    low, high = hu_range
    brain_box = bounding_box(brain_full, [1, 1, 1])
    region = array[brain_box]
    if smoothing_sigma_mm > 0:
        region = ndimage.gaussian_filter(
            region, sigma=[smoothing_sigma_mm / s for s in spacing], mode="nearest"
        )
    candidates = (region >= low) & (region <= high) & brain_full[brain_box]
    # A 26-connected piece with fewer voxels than the ball cannot survive the opening: dropping
    # such specks first keeps the morphology below to the neighbourhood of the larger pieces.
    pieces, _ = ndimage.label(candidates, structure=CONNECTIVITY_26)
    candidates = (component_sizes(pieces) >= ball_voxel_count(opening_radius_mm, spacing))[pieces]
    if not candidates.any():
        raise InputError(
            f"no region of {low:g}-{high:g} HU inside the brain is larger than a few voxels: check the HU "
            "range or outline the hematoma by hand"
        )
    extent = zip(
        ball_extent(opening_radius_mm, spacing), ball_extent(closing_radius_mm, spacing), strict=True
    )
    pad = [a + b + 1 for a, b in extent]
    box = compose_boxes(brain_box, bounding_box(candidates, pad))
    inner = tuple(slice(b.start - c.start, b.stop - c.start) for b, c in zip(box, brain_box, strict=True))
    return _Candidates(box, candidates[inner], brain_full[box], bone_full[box])


def _brain_warnings(brain: np.ndarray, voxel_ml: float) -> list[str]:
    """A warning when the intracranial region found is too small for a head."""
    brain_ml = float(brain.sum()) * voxel_ml
    if brain_ml < SMALL_BRAIN_ML:
        return [f"the intracranial region found is only {brain_ml:.0f} mL: check that the CT covers the head"]
    return []


def _seed_text(
    seed: tuple[int, int, int] | None,
    seed_point_lps_mm: Sequence[float] | None,
    array: np.ndarray,
    brain: np.ndarray,
    skull_margin_mm: float,
) -> str:
    """The seed point and its HU as messages show it ("" without seed); refuses a seed outside the brain."""
    if seed is None:
        return ""
    seed_text = f"{_format_point(seed_point_lps_mm)} mm ({array[seed]:.0f} HU)"
    if not brain[seed]:
        raise InputError(
            f"the seed point {seed_text} is outside the intracranial region (skull, scalp, the rim "
            f"within {skull_margin_mm:g} mm of bone, or outside the head): place it inside the hematoma"
        )
    return seed_text


def _opened_components(
    candidates: np.ndarray, opening_radius_mm: float, spacing: np.ndarray, hu_range: tuple[float, float]
) -> tuple[np.ndarray, int]:
    """26-connected components (labels, count) of the opened, hole-filled candidates; none is an error."""
    opened = dilate_mm(erode_mm(candidates, opening_radius_mm, spacing), opening_radius_mm, spacing)
    labels, n_components = ndimage.label(fill_holes(opened), structure=CONNECTIVITY_26)
    if n_components == 0:
        low, high = hu_range
        raise InputError(
            f"every {low:g}-{high:g} HU region inside the brain is thinner than the opening "
            f"({opening_radius_mm:g} mm): lower opening_radius_mm or outline the hematoma by hand"
        )
    return labels, int(n_components)


def _mask_on_ct_grid(ct: sitk.Image, box: tuple[slice, ...], chosen: np.ndarray) -> sitk.Image:
    """The uint8 0/1 mask on the CT's grid with ``chosen`` placed at ``box``."""
    mask_array = np.zeros(sitk.GetArrayViewFromImage(ct).shape, dtype=np.uint8)
    mask_array[box] = chosen
    mask = sitk.GetImageFromArray(mask_array)
    mask.CopyInformation(ct)
    return mask


def _choose(
    labels: np.ndarray,
    counts: np.ndarray,
    seed: tuple[int, int, int] | None,
    seed_text: str,
    spacing_zyx_mm: np.ndarray,
    tolerance_mm: float,
    warnings: list[str],
) -> tuple[int, str]:
    """Label of the chosen component and the reason; ``seed`` is in ``labels`` coordinates."""
    if seed is None:
        return int(np.argmax(counts)), "largest"
    inside = all(0 <= c < n for c, n in zip(seed, labels.shape, strict=True))
    if inside and labels[seed]:
        return int(labels[seed]), "seed point"
    reach = [int(np.floor(tolerance_mm / s + 1e-6)) for s in spacing_zyx_mm]
    box = tuple(
        slice(max(0, c - r), min(n, c + r + 1)) for c, r, n in zip(seed, reach, labels.shape, strict=True)
    )
    near = labels[box]
    if near.any():
        offsets = np.argwhere(near) + [b.start for b in box] - np.asarray(seed)
        distance_mm = np.sqrt(((offsets * spacing_zyx_mm) ** 2).sum(axis=1))
        best = int(np.argmin(distance_mm))
        if distance_mm[best] <= tolerance_mm:
            hit = tuple(int(v) for v in np.argwhere(near)[best] + [b.start for b in box])
            warnings.append(
                f"the seed point {seed_text} is not in the hematoma HU range; the candidate region "
                f"{distance_mm[best]:.1f} mm away was used"
            )
            return int(labels[hit]), "seed point"
    return 0, ""


def _refine(
    chosen: np.ndarray,
    candidates: _Candidates,
    spacing: np.ndarray,
    opening_radius_mm: float,
    closing_radius_mm: float,
    axial_axis: int,
) -> np.ndarray:
    """Give back what the opening shaved off, close, fill holes (3-D and per axial slice), drop bone."""
    if opening_radius_mm > 0:
        regrown = dilate_mm(chosen, opening_radius_mm, spacing) & candidates.voxels
        keep, _ = ndimage.label(chosen | regrown, structure=CONNECTIVITY_26)
        chosen = keep == keep[tuple(np.argwhere(chosen)[0])]
    if closing_radius_mm > 0:
        chosen = erode_mm(dilate_mm(chosen, closing_radius_mm, spacing), closing_radius_mm, spacing)
    chosen = fill_holes_per_slice(fill_holes(chosen), axial_axis)
    chosen &= candidates.brain & ~candidates.bone
    return chosen


def _result_warnings(
    chosen: np.ndarray,
    brain: np.ndarray,
    other_counts: np.ndarray,
    reason: str,
    voxel_ml: float,
    hu_range: tuple[float, float],
    skull_margin_mm: float,
) -> list[str]:
    """Warnings about left-out regions, a tiny draft and a draft reaching the excluded rim."""
    low, high = hu_range
    warnings = []
    others = np.sort(other_counts)[::-1] * voxel_ml
    large_others = others[others >= OTHER_CANDIDATE_ML]
    if reason == "largest" and large_others.size:
        warnings.append(
            f"{large_others.size} other region(s) of {low:g}-{high:g} HU of at least {OTHER_CANDIDATE_ML:g} mL "
            f"(largest {large_others[0]:.1f} mL) were left out: place a seed point to choose another"
        )
    volume_ml = float(chosen.sum()) * voxel_ml
    if volume_ml < SMALL_DRAFT_ML:
        warnings.append(f"the draft is only {volume_ml:.2f} mL: check that it is the hematoma")
    if (box_filter(chosen, [1, 1, 1], grow=True) & ~brain).any():
        warnings.append(
            f"the draft reaches the excluded rim within {skull_margin_mm:g} mm of the skull or the scan "
            "border: check that edge (the hematoma may extend into the rim or beyond the scan)"
        )
    return warnings


def draft_hematoma(
    ct: sitk.Image,
    seed_point_lps_mm: tuple[float, float, float] | None = None,
    hu_range: tuple[float, float] = DEFAULT_DRAFT_HU_RANGE,
    *,
    bone_hu: float = BONE_HU,
    skull_margin_mm: float = SKULL_MARGIN_MM,
    separation_mm: float = SEPARATION_MM,
    smoothing_sigma_mm: float = SMOOTHING_SIGMA_MM,
    opening_radius_mm: float = OPENING_RADIUS_MM,
    closing_radius_mm: float = CLOSING_RADIUS_MM,
    seed_tolerance_mm: float = SEED_TOLERANCE_MM,
) -> DraftResult:
    """Draft the hematoma: threshold ``hu_range`` inside the brain, keep the seed's or the largest region.

    ``seed_point_lps_mm`` is a physical LPS point (mm) inside the hematoma; a point within
    ``seed_tolerance_mm`` of a candidate region selects it (with a warning). The mask is on the
    CT's grid and never contains bone (``HU > bone_hu``) or voxels outside the intracranial
    region. Raises InputError for a CT without skull or brain, a seed outside the scan or the
    intracranial region, or a seed with no candidate region near it. ``ct`` is not modified.
    """
    started = time.perf_counter()
    check_draft_ct(ct)
    low, high = check_hu_range(hu_range)
    check_non_negative(
        bone_hu=bone_hu,
        skull_margin_mm=skull_margin_mm,
        separation_mm=separation_mm,
        smoothing_sigma_mm=smoothing_sigma_mm,
        opening_radius_mm=opening_radius_mm,
        closing_radius_mm=closing_radius_mm,
        seed_tolerance_mm=seed_tolerance_mm,
    )
    seed = None if seed_point_lps_mm is None else _seed_index(ct, seed_point_lps_mm)
    spacing = spacing_zyx_mm(ct)
    array = sitk.GetArrayFromImage(ct).astype(np.float32)  # a copy: the input is never touched
    brain, bone = intracranial_and_bone(array, spacing, bone_hu, skull_margin_mm, separation_mm)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    warnings = _brain_warnings(brain, voxel_ml)
    seed_text = _seed_text(seed, seed_point_lps_mm, array, brain, skull_margin_mm)
    candidates = _candidates(
        array, brain, bone, spacing, (low, high), smoothing_sigma_mm, opening_radius_mm, closing_radius_mm
    )
    labels, n_components = _opened_components(candidates.voxels, opening_radius_mm, spacing, (low, high))
    counts = component_sizes(labels)
    box = candidates.box
    seed_local = None if seed is None else tuple(c - b.start for c, b in zip(seed, box, strict=True))
    chosen_label, reason = _choose(
        labels, counts, seed_local, seed_text, spacing, seed_tolerance_mm, warnings
    )
    if chosen_label == 0:
        raise InputError(
            f"the seed point {seed_text} is not in any {low:g}-{high:g} HU region inside the brain "
            f"(nor within {seed_tolerance_mm:g} mm of one): click inside the hematoma or widen the HU range"
        )
    axial_axis = 2 - acquired_slice_axis(ct)  # numpy axis of the axial slice stacking
    chosen = _refine(
        labels == chosen_label, candidates, spacing, opening_radius_mm, closing_radius_mm, axial_axis
    )
    mask = _mask_on_ct_grid(ct, box, chosen)
    volume_ml = float(chosen.sum()) * voxel_ml
    other_counts = np.delete(counts, [0, chosen_label])
    warnings += _result_warnings(
        chosen, candidates.brain, other_counts, reason, voxel_ml, (low, high), skull_margin_mm
    )
    logger.info(
        "draft hematoma: %.2f mL (%s of %d candidate regions) in %.2f s",
        volume_ml,
        reason,
        n_components,
        time.perf_counter() - started,
    )
    return DraftResult(mask, volume_ml, int(n_components), reason, warnings)

"""Semi-automatic draft of the hematoma on a head CT, for the user to correct slice by slice.

Two stages, both on the CT's own voxel grid (oblique and tilted volumes are never resampled)
with every radius in physical mm, turned into per-axis voxel extents from the spacing, so that
5 mm slices and 0.45 mm pixels get the same physical morphology:

1. Intracranial region (:func:`intracranial_mask`). Bone is ``HU > bone_hu`` (300 HU: above
   every soft tissue and fresh blood, below the diploe and cortical bone). Voxels within
   ``skull_margin_mm`` of bone are excluded, with at least one voxel along every axis: these are
   the partial-volume voxels between bone and brain, whose HU falls in the blood range (with
   5 mm slices a whole slice above a tangential skull surface can look like blood). The
   exclusion zone is a box of that half-width (separable, fast, and conservative along
   diagonals); the same margin is excluded along the borders of the scan, since bone may lie
   just beyond a cropped field of view. The remaining tissue (``HU > -300``) is eroded by ``separation_mm`` so that the
   brain comes apart from the orbits, face and neck at the foramina; the largest eroded piece is
   grown back by the same box inside the tissue, and its holes are filled.
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

Balls are exact physical ellipsoids in voxel units (dilation and erosion through the Euclidean
distance transform with the voxel spacing), so a 1.5 mm opening acts in-plane only on 5 mm
slices and in 3-D on 1 mm slices.

The result is a draft: it is meant to be reviewed and corrected, and its warnings say where.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..common.errors import InputError
from ..imaging.segment_terms import DEFAULT_DRAFT_HU_RANGE

logger = logging.getLogger(__name__)

DEFAULT_HU_RANGE = DEFAULT_DRAFT_HU_RANGE
BONE_HU = 300.0
TISSUE_MIN_HU = -300.0  # below this: air (outside the head, sinuses, mastoid cells)
SMALL_BRAIN_ML = 200.0  # an intracranial region smaller than this gets a warning
SMALL_DRAFT_ML = 0.5
OTHER_CANDIDATE_ML = 1.0  # other candidate regions at least this large are reported

_CONNECTIVITY_26 = np.ones((3, 3, 3), dtype=bool)


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


# --------------------------------------------------------------------------- grid helpers


def _spacing_zyx(image: sitk.Image) -> np.ndarray:
    """Voxel spacing (mm) in numpy axis order (k, j, i)."""
    return np.asarray(image.GetSpacing(), dtype=float)[::-1]


def _box_half_widths(radius_mm: float, spacing_zyx: np.ndarray, at_least_one: bool) -> list[int]:
    """Half-widths in voxels of a box reaching ``radius_mm`` along each axis."""
    widths = [math.ceil(radius_mm / s - 1e-6) if radius_mm > 0 else 0 for s in spacing_zyx]
    return [max(1, w) for w in widths] if at_least_one else widths


def _box_filter(mask: np.ndarray, half_widths: list[int], grow: bool) -> np.ndarray:
    """Dilate (``grow``) or erode a boolean array by a box (separable max/min filter)."""
    size = [2 * w + 1 for w in half_widths]
    values = mask.view(np.uint8)
    out = ndimage.maximum_filter(values, size=size) if grow else ndimage.minimum_filter(values, size=size)
    return out.astype(bool)


def _ball_extent(radius_mm: float, spacing_zyx: np.ndarray) -> list[int]:
    """Half-widths in voxels of a physical ball of ``radius_mm``."""
    return [int(np.floor(radius_mm / s + 1e-6)) for s in spacing_zyx]


def _ball_voxel_count(radius_mm: float, spacing_zyx: np.ndarray) -> int:
    """Number of voxel centres within ``radius_mm`` of a voxel centre (the ball's size)."""
    offsets = np.ogrid[tuple(slice(-e, e + 1) for e in _ball_extent(radius_mm, spacing_zyx))]
    distance2 = sum((o * s) ** 2 for o, s in zip(offsets, spacing_zyx, strict=True))
    return int(np.count_nonzero(distance2 <= radius_mm**2 + 1e-9))


def _dilate_mm(mask: np.ndarray, radius_mm: float, spacing_zyx: np.ndarray) -> np.ndarray:
    """Dilation by a physical ball: voxels within ``radius_mm`` (centre to centre) of the mask."""
    if radius_mm <= 0 or not mask.any():
        return mask.copy()
    return ndimage.distance_transform_edt(~mask, sampling=spacing_zyx) <= radius_mm + 1e-6


def _erode_mm(mask: np.ndarray, radius_mm: float, spacing_zyx: np.ndarray) -> np.ndarray:
    """Erosion by a physical ball: voxels farther than ``radius_mm`` from any background voxel.

    Outside the array counts as foreground, so callers pad their boxes.
    """
    if radius_mm <= 0 or mask.all():
        return mask.copy()
    return ndimage.distance_transform_edt(mask, sampling=spacing_zyx) > radius_mm + 1e-6


def _axial_axis(image: sitk.Image) -> int:
    """Numpy axis whose voxel direction is closest to superior: the axial slice stacking axis."""
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    itk_axis = int(np.argmax(np.abs(direction[2, :])))
    return 2 - itk_axis


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest face-connected component of a mask (empty when the mask is)."""
    labels, n = ndimage.label(mask)
    if n == 0:
        return np.zeros_like(mask)
    counts = np.bincount(labels.ravel())
    counts[0] = 0
    return labels == int(np.argmax(counts))


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill the holes of a 2-D or 3-D mask: background regions (face-connected) off the border.

    Same result as ``scipy.ndimage.binary_fill_holes`` but by one labelling, much faster on
    large volumes.
    """
    labels, n = ndimage.label(~mask)
    if n == 0:
        return mask.copy()
    on_border = np.zeros(n + 1, dtype=bool)
    for axis in range(mask.ndim):
        on_border[np.take(labels, 0, axis=axis)] = True
        on_border[np.take(labels, -1, axis=axis)] = True
    return mask | ~on_border[labels]


def _compose(outer: tuple[slice, ...], inner: tuple[slice, ...]) -> tuple[slice, ...]:
    """The box ``inner`` (relative to ``outer``) in the coordinates of ``outer``'s array."""
    return tuple(slice(o.start + i.start, o.start + i.stop) for o, i in zip(outer, inner, strict=True))


def _bbox(mask: np.ndarray, pad: list[int] | None = None) -> tuple[slice, ...]:
    """Bounding box of a non-empty mask as slices, padded by ``pad`` voxels per axis (clipped)."""
    pad = pad or [0] * mask.ndim
    box = ndimage.find_objects(mask.view(np.uint8))[0]
    return tuple(
        slice(max(0, s.start - p), min(n, s.stop + p)) for s, p, n in zip(box, pad, mask.shape, strict=True)
    )


# --------------------------------------------------------------------------- validation


def _check_ct(ct: sitk.Image) -> None:
    if not isinstance(ct, sitk.Image):
        raise InputError(f"the CT must be a SimpleITK image, got {type(ct).__name__}")
    if ct.GetDimension() != 3 or ct.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"the CT must be a 3D scalar image, got {ct.GetDimension()}D with "
            f"{ct.GetNumberOfComponentsPerPixel()} components per voxel"
        )
    if min(ct.GetSize()) < 3:
        raise InputError(f"the CT has size {ct.GetSize()}: at least 3 voxels along every axis are needed")


def _check_hu_range(hu_range: tuple[float, float]) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in hu_range)
    except (TypeError, ValueError) as exc:
        raise InputError(f"hu_range must be two numbers (low, high) in HU, got {hu_range!r}") from exc
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise InputError(f"hu_range must be finite with low < high, got ({low}, {high}) HU")
    return low, high


def _check_values(**values: float) -> None:
    """Every named value must be a finite number >= 0 (radii in mm, bone threshold in HU)."""
    for name, value in values.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not (math.isfinite(number) and number >= 0):
            raise InputError(f"{name} must be a finite number >= 0, got {value!r}")


def _seed_index(ct: sitk.Image, seed_point_lps_mm) -> tuple[int, int, int]:
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
            f"the seed point {_fmt_point(point)} mm lies outside the CT volume: place it inside the scan"
        )
    return index[2], index[1], index[0]


def _fmt_point(point) -> str:
    return "(" + ", ".join(f"{float(v):.1f}" for v in point) + ")"


# --------------------------------------------------------------------------- intracranial region


def _intracranial_array(
    ct_array: np.ndarray,
    spacing_zyx: np.ndarray,
    bone_hu: float,
    skull_margin_mm: float,
    separation_mm: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(intracranial, bone) boolean arrays; raises InputError when no skull or cavity is found."""
    bone = ct_array > bone_hu
    if not bone.any():
        raise InputError(
            f"the CT has no voxel above {bone_hu:g} HU (no skull): the draft needs a head CT in Hounsfield units"
        )
    margin = _box_half_widths(skull_margin_mm, spacing_zyx, at_least_one=True)
    excluded = _box_filter(bone, margin, grow=True)
    for axis, width in enumerate(margin):  # bone may lie just beyond the scan border
        np.moveaxis(excluded, axis, 0)[:width] = True
        np.moveaxis(excluded, axis, 0)[-width:] = True
    tissue = (ct_array > TISSUE_MIN_HU) & ~excluded
    separation = _box_half_widths(separation_mm, spacing_zyx, at_least_one=False)
    core = _largest_component(_box_filter(tissue, separation, grow=False))
    if not core.any():
        raise InputError(
            "found no intracranial region (tissue enclosed by bone) in the CT: the draft needs a head CT "
            "in Hounsfield units that shows the brain"
        )
    brain = _box_filter(core, separation, grow=True) & tissue
    box = _bbox(brain, [1, 1, 1])
    brain[box] = _fill_holes(brain[box])
    return brain, bone


def intracranial_mask(
    ct: sitk.Image, *, bone_hu: float = BONE_HU, skull_margin_mm: float = 2.0, separation_mm: float = 5.0
) -> sitk.Image:
    """The intracranial region (brain, CSF and blood; no skull, scalp or partial-volume rim), uint8 0/1."""
    _check_ct(ct)
    _check_values(bone_hu=bone_hu, skull_margin_mm=skull_margin_mm, separation_mm=separation_mm)
    array = sitk.GetArrayFromImage(ct).astype(np.float32)
    brain, _ = _intracranial_array(array, _spacing_zyx(ct), bone_hu, skull_margin_mm, separation_mm)
    out = sitk.GetImageFromArray(brain.astype(np.uint8))
    out.CopyInformation(ct)
    return out


# --------------------------------------------------------------------------- draft


def _choose(
    labels: np.ndarray,
    counts: np.ndarray,
    seed: tuple[int, int, int] | None,
    seed_text: str,
    spacing_zyx: np.ndarray,
    tolerance_mm: float,
    warnings: list[str],
) -> tuple[int, str]:
    """Label of the chosen component and the reason; ``seed`` is in ``labels`` coordinates."""
    if seed is None:
        return int(np.argmax(counts)), "largest"
    inside = all(0 <= c < n for c, n in zip(seed, labels.shape, strict=True))
    if inside and labels[seed]:
        return int(labels[seed]), "seed point"
    reach = [int(np.floor(tolerance_mm / s + 1e-6)) for s in spacing_zyx]
    box = tuple(
        slice(max(0, c - r), min(n, c + r + 1)) for c, r, n in zip(seed, reach, labels.shape, strict=True)
    )
    near = labels[box]
    if near.any():
        offsets = np.argwhere(near) + [b.start for b in box] - np.asarray(seed)
        distance_mm = np.sqrt(((offsets * spacing_zyx) ** 2).sum(axis=1))
        best = int(np.argmin(distance_mm))
        if distance_mm[best] <= tolerance_mm:
            hit = tuple(int(v) for v in np.argwhere(near)[best] + [b.start for b in box])
            warnings.append(
                f"the seed point {seed_text} is not in the hematoma HU range; the candidate region "
                f"{distance_mm[best]:.1f} mm away was used"
            )
            return int(labels[hit]), "seed point"
    return 0, ""


def draft_hematoma(
    ct: sitk.Image,
    seed_point_lps_mm: tuple[float, float, float] | None = None,
    hu_range: tuple[float, float] = DEFAULT_HU_RANGE,
    *,
    bone_hu: float = BONE_HU,
    skull_margin_mm: float = 2.0,
    separation_mm: float = 5.0,
    smoothing_sigma_mm: float = 0.5,
    opening_radius_mm: float = 1.5,
    closing_radius_mm: float = 3.0,
    seed_tolerance_mm: float = 2.0,
) -> DraftResult:
    """Draft the hematoma: threshold ``hu_range`` inside the brain, keep the seed's or the largest region.

    ``seed_point_lps_mm`` is a physical LPS point (mm) inside the hematoma; a point within
    ``seed_tolerance_mm`` of a candidate region selects it (with a warning). The mask is on the
    CT's grid and never contains bone (``HU > bone_hu``) or voxels outside the intracranial
    region. Raises InputError for a CT without skull or brain, a seed outside the scan or the
    intracranial region, or a seed with no candidate region near it. ``ct`` is not modified.
    """
    started = time.perf_counter()
    _check_ct(ct)
    low, high = _check_hu_range(hu_range)
    _check_values(
        bone_hu=bone_hu,
        skull_margin_mm=skull_margin_mm,
        separation_mm=separation_mm,
        smoothing_sigma_mm=smoothing_sigma_mm,
        opening_radius_mm=opening_radius_mm,
        closing_radius_mm=closing_radius_mm,
        seed_tolerance_mm=seed_tolerance_mm,
    )
    seed = None if seed_point_lps_mm is None else _seed_index(ct, seed_point_lps_mm)
    spacing = _spacing_zyx(ct)
    array = sitk.GetArrayFromImage(ct).astype(np.float32)  # a copy: the input is never touched
    brain_full, bone_full = _intracranial_array(array, spacing, bone_hu, skull_margin_mm, separation_mm)
    warnings: list[str] = []
    voxel_ml = float(np.prod(spacing)) / 1000.0
    brain_ml = float(brain_full.sum()) * voxel_ml
    if brain_ml < SMALL_BRAIN_ML:
        warnings.append(
            f"the intracranial region found is only {brain_ml:.0f} mL: check that the CT covers the head"
        )

    seed_text = ""
    if seed is not None:
        seed_text = f"{_fmt_point(seed_point_lps_mm)} mm ({array[seed]:.0f} HU)"
        if not brain_full[seed]:
            raise InputError(
                f"the seed point {seed_text} is outside the intracranial region (skull, scalp, the rim "
                f"within {skull_margin_mm:g} mm of bone, or outside the head): place it inside the hematoma"
            )

    # Smoothing and thresholding work inside the brain's bounding box, the rest inside the
    # candidates' bounding box padded by the structuring elements.
    brain_box = _bbox(brain_full, [1, 1, 1])
    region = array[brain_box]
    if smoothing_sigma_mm > 0:
        region = ndimage.gaussian_filter(
            region, sigma=[smoothing_sigma_mm / s for s in spacing], mode="nearest"
        )
    candidates = (region >= low) & (region <= high) & brain_full[brain_box]
    # A 26-connected piece with fewer voxels than the ball cannot survive the opening: dropping
    # such specks first keeps the morphology below to the neighbourhood of the larger pieces.
    pieces, _ = ndimage.label(candidates, structure=_CONNECTIVITY_26)
    sizes = np.bincount(pieces.ravel())
    sizes[0] = 0
    candidates = (sizes >= _ball_voxel_count(opening_radius_mm, spacing))[pieces]
    if not candidates.any():
        raise InputError(
            f"no region of {low:g}-{high:g} HU inside the brain is larger than a few voxels: check the HU "
            "range or outline the hematoma by hand"
        )
    extent = zip(
        _ball_extent(opening_radius_mm, spacing), _ball_extent(closing_radius_mm, spacing), strict=True
    )
    pad = [a + b + 1 for a, b in extent]
    box = _compose(brain_box, _bbox(candidates, pad))
    candidates = candidates[
        tuple(slice(b.start - c.start, b.stop - c.start) for b, c in zip(box, brain_box, strict=True))
    ]
    brain, bone = brain_full[box], bone_full[box]

    opened = _dilate_mm(_erode_mm(candidates, opening_radius_mm, spacing), opening_radius_mm, spacing)
    labels, n_components = ndimage.label(_fill_holes(opened), structure=_CONNECTIVITY_26)
    if n_components == 0:
        raise InputError(
            f"every {low:g}-{high:g} HU region inside the brain is thinner than the opening "
            f"({opening_radius_mm:g} mm): lower opening_radius_mm or outline the hematoma by hand"
        )
    counts = np.bincount(labels.ravel())
    counts[0] = 0
    seed_local = None if seed is None else tuple(c - b.start for c, b in zip(seed, box, strict=True))
    chosen_label, reason = _choose(
        labels, counts, seed_local, seed_text, spacing, seed_tolerance_mm, warnings
    )
    if chosen_label == 0:
        raise InputError(
            f"the seed point {seed_text} is not in any {low:g}-{high:g} HU region inside the brain "
            f"(nor within {seed_tolerance_mm:g} mm of one): click inside the hematoma or widen the HU range"
        )

    chosen = labels == chosen_label
    if opening_radius_mm > 0:  # give back the border voxels the opening shaved off
        regrown = _dilate_mm(chosen, opening_radius_mm, spacing) & candidates
        keep, _ = ndimage.label(chosen | regrown, structure=_CONNECTIVITY_26)
        chosen = keep == keep[tuple(np.argwhere(chosen)[0])]
    if closing_radius_mm > 0:
        chosen = _erode_mm(_dilate_mm(chosen, closing_radius_mm, spacing), closing_radius_mm, spacing)
    chosen = _fill_holes(chosen)
    axial = _axial_axis(ct)
    for k in np.flatnonzero(np.any(chosen, axis=tuple(a for a in range(3) if a != axial))):
        index = tuple(k if a == axial else slice(None) for a in range(3))
        chosen[index] = _fill_holes(chosen[index])
    chosen &= brain & ~bone

    mask_array = np.zeros(array.shape, dtype=np.uint8)
    mask_array[box] = chosen
    mask = sitk.GetImageFromArray(mask_array)
    mask.CopyInformation(ct)
    volume_ml = float(chosen.sum()) * voxel_ml

    others = np.sort(np.delete(counts, [0, chosen_label]))[::-1] * voxel_ml
    large_others = others[others >= OTHER_CANDIDATE_ML]
    if reason == "largest" and large_others.size:
        warnings.append(
            f"{large_others.size} other region(s) of {low:g}-{high:g} HU of at least {OTHER_CANDIDATE_ML:g} mL "
            f"(largest {large_others[0]:.1f} mL) were left out: place a seed point to choose another"
        )
    if volume_ml < SMALL_DRAFT_ML:
        warnings.append(f"the draft is only {volume_ml:.2f} mL: check that it is the hematoma")
    touches_margin = _box_filter(chosen, [1, 1, 1], grow=True) & ~brain
    if touches_margin.any():
        warnings.append(
            f"the draft reaches the excluded rim within {skull_margin_mm:g} mm of the skull or the scan "
            "border: check that edge (the hematoma may extend into the rim or beyond the scan)"
        )
    logger.info(
        "draft hematoma: %.2f mL (%s of %d candidate regions) in %.2f s",
        volume_ml,
        reason,
        n_components,
        time.perf_counter() - started,
    )
    return DraftResult(mask, volume_ml, int(n_components), reason, warnings)

"""Relatively hypoattenuating regions inside the hematoma, measured on axial slices.

This is the measurement the blend sign, the black hole sign, any hypodensity (swirl) and the
Barras density scale share. The analysable clot leaves out the segment's partial-volume rim
(``rim_mm`` in-plane, and every pixel without hematoma on the slices above and below). The
hyperattenuating clot's level is the median smoothed HU of its dense part; pixels ``candidate_offset_hu``
below it form candidate regions (8-connected on a slice, joined across slices where they overlap).
Each region is read on the slice where it is largest, as readers compare two ROIs there: its mean
acquired HU against the adjacent clot band (``ring_mm`` wide), leaving out a ``region_margin_mm``
band on either side of its border; its border's sharpness is the 20-80 % transition width of the
radial HU profile; its size and position are those of the region bounded half-way between its HU
and the clot's. It counts when that slice holds at least ``region_min_area_mm2``. Its
encapsulation is the share of its border pixels lying in dense clot, over all its slices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..imaging.morphology import bounding_box, erode_mm
from .parameters import SignParameters
from .volume import SignVolume

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
# Regions: 8-connected on a slice, joined across slices where they overlap.
REGION_CONNECTIVITY = np.zeros((3, 3, 3), dtype=bool)
REGION_CONNECTIVITY[1] = True
REGION_CONNECTIVITY[[0, 2], 1, 1] = True
FOUR_CONNECTED = ndimage.generate_binary_structure(2, 1)
BRAIN_SHELL_MM = (2.0, 8.0)  # brain HU is read this far outside the segment (in-plane)


@dataclass(frozen=True)
class DensityRegion:
    """One hypoattenuating region on one axial slice and how it compares with the clot next to it."""

    slice_index: int
    z_mm: float
    area_mm2: float
    center_lps_mm: list[float]
    mean_hu: float  # inside, the margin band left out
    clot_hu: float  # the adjacent hyperattenuating band
    difference_hu: float  # clot_hu - mean_hu
    margin_width_mm: float  # 20-80 % transition width across the border (inf: never reached)
    encapsulated_fraction: float  # share of the border pixels in dense clot
    slice_indices: tuple[int, ...] = ()  # the slices it spans (slice_index: its largest)

    def well_defined(self, parameters: SignParameters) -> bool:
        """True when the border's transition is no wider than ``margin_max_width_mm``."""
        return self.margin_width_mm <= parameters.margin_max_width_mm

    def encapsulated(self, parameters: SignParameters) -> bool:
        """True when at least ``encapsulated_min_fraction`` of the border lies in dense clot."""
        return self.encapsulated_fraction >= parameters.encapsulated_min_fraction

    def evidence(self) -> dict[str, float | int | list[float]]:
        """Where and how large, for a SignResult."""
        return {
            "center_lps_mm": self.center_lps_mm,
            "z_mm": round(self.z_mm, 2),
            "slice_index": self.slice_index,
            "area_mm2": round(self.area_mm2, 1),
            "mean_hu": round(self.mean_hu, 1),
            "clot_hu": round(self.clot_hu, 1),
            "difference_hu": round(self.difference_hu, 1),
            "margin_width_mm": round(self.margin_width_mm, 2),
            "encapsulated_fraction": round(self.encapsulated_fraction, 3),
            "n_slices": len(self.slice_indices),
        }


@dataclass(frozen=True)
class DensityAnalysis:
    """The clot's level, the brain's level and every measured region."""

    clot_hu: float
    brain_hu: float
    analysed_slices: tuple[int, ...]
    regions: list[DensityRegion] = field(default_factory=list)
    clot_hu_std: float = float("nan")


def analysable_core(volume: SignVolume, rim_mm: float) -> np.ndarray:
    """Segment pixels at least ``rim_mm`` inside its in-plane border with hematoma above and below."""
    segment = volume.segment
    core = np.zeros_like(segment)
    for k in range(1, segment.shape[0] - 1):
        if segment[k].any():
            inside = erode_mm(segment[k], rim_mm, volume.spacing_yx_mm)
            core[k] = inside & segment[k - 1] & segment[k + 1]
    return core


def dense_clot_level(smoothed: np.ndarray, offset_hu: float) -> float:
    """Median of the dense part: start at the 90th percentile, keep values within ``offset_hu`` below."""
    level = float(np.percentile(smoothed, 90))
    for _ in range(20):
        updated = float(np.median(smoothed[smoothed >= level - offset_hu]))
        if abs(updated - level) < 0.05:
            return updated
        level = updated
    return level


def brain_level(volume: SignVolume, parameters: SignParameters) -> float:
    """Median HU of brain-like pixels 2-8 mm outside the segment on its slices (NaN when none)."""
    low, high = parameters.brain_hu_range
    values = []
    for k in np.flatnonzero(volume.segment.any(axis=(1, 2))):
        distance = ndimage.distance_transform_edt(~volume.segment[k], sampling=volume.spacing_yx_mm)
        shell = (distance > BRAIN_SHELL_MM[0]) & (distance <= BRAIN_SHELL_MM[1]) & ~volume.near_bone[k]
        hu = volume.hu[k][shell]
        values.append(hu[(hu >= low) & (hu <= high)])
    pooled = np.concatenate(values) if values else np.empty(0)
    return float(np.median(pooled)) if pooled.size else float("nan")


def transition_width_mm(
    signed_mm: np.ndarray, hu: np.ndarray, low_hu: float, high_hu: float, bin_mm: float
) -> float:
    """Distance between the 20 % and 80 % crossings of the radial HU profile (inf when not reached).

    ``signed_mm`` is negative inside the region and positive outside; the profile is the mean HU
    per ``bin_mm`` band, normalised to 0 at ``low_hu`` and 1 at ``high_hu``.
    """
    if high_hu <= low_hu:
        return float("inf")
    bins = np.floor(signed_mm / bin_mm).astype(int)
    order = np.unique(bins)
    sums = ndimage.sum_labels(hu, bins - order[0], index=order - order[0])
    counts = ndimage.sum_labels(np.ones_like(hu), bins - order[0], index=order - order[0])
    keep = counts >= 3
    centres = (order[keep] + 0.5) * bin_mm
    profile = (sums[keep] / counts[keep] - low_hu) / (high_hu - low_hu)
    crossings = []
    for level in (0.2, 0.8):
        above = np.flatnonzero(profile >= level)
        if above.size == 0:
            return float("inf")
        n = int(above[0])
        if n == 0:
            crossings.append(float(centres[0]))
            continue
        fraction = (level - profile[n - 1]) / (profile[n] - profile[n - 1])
        crossings.append(float(centres[n - 1] + fraction * (centres[n] - centres[n - 1])))
    return max(0.0, crossings[1] - crossings[0])


@dataclass(frozen=True)
class _Context:
    """What the regions are measured against (whole cropped arrays)."""

    core: np.ndarray  # analysable clot
    candidates: np.ndarray  # every candidate pixel
    dense: np.ndarray  # segment pixels at the dense clot's level (encapsulating clot)


@dataclass
class _SliceReading:
    """One slice of a region: its pixels, the clot band beside them, its border and radial profile."""

    k: int
    inner_hu: np.ndarray
    band_hu: np.ndarray
    signed_mm: np.ndarray
    profile_hu: np.ndarray
    border_pixels: int
    border_in_clot: int
    box: tuple[slice, ...]
    comp: np.ndarray
    clot_side: np.ndarray


def _half_level_extent(
    comp: np.ndarray, clot_side: np.ndarray, smoothed: np.ndarray, level_hu: float
) -> np.ndarray:
    """The region bounded where the smoothed HU crosses half-way between it and the clot (its size and
    position do not depend on its contrast, unlike the candidate threshold's)."""
    below = (comp | clot_side) & (smoothed < level_hu)
    labels, _ = ndimage.label(below, structure=EIGHT_CONNECTED)
    touched = np.unique(labels[comp & below])
    extent = np.isin(labels, touched[touched > 0])
    return extent if extent.any() else comp


def _slice_reading(
    volume: SignVolume, context: _Context, k: int, region: np.ndarray, parameters: SignParameters
) -> _SliceReading | None:
    """The region's pixels on slice ``k`` and the clot band next to them; None without such a band."""
    spacing = volume.spacing_yx_mm
    reach_px = [int(np.ceil((parameters.region_margin_mm + parameters.ring_mm) / s)) + 2 for s in spacing]
    box = bounding_box(region, reach_px)
    comp = region[box]
    hu = volume.hu[k][box]
    clot_side = context.core[k][box] & ~context.candidates[k][box]
    inside_mm = ndimage.distance_transform_edt(comp, sampling=spacing)
    outside_mm = ndimage.distance_transform_edt(~comp, sampling=spacing)
    margin, ring = parameters.region_margin_mm, parameters.ring_mm
    band = clot_side & (outside_mm > margin) & (outside_mm <= margin + ring)
    if np.count_nonzero(band) * volume.pixel_area_mm2 < parameters.region_min_area_mm2:
        return None
    inner = comp & (inside_mm > margin)
    if not inner.any():
        inner = comp & (inside_mm >= inside_mm.max())
    profile = (comp | clot_side) & (np.maximum(inside_mm, outside_mm) <= margin + ring)
    border = ndimage.binary_dilation(comp, FOUR_CONNECTED) & ~comp
    return _SliceReading(
        k=k,
        inner_hu=hu[inner],
        band_hu=hu[band],
        signed_mm=np.where(comp, -inside_mm, outside_mm)[profile],
        profile_hu=hu[profile].astype(float),
        border_pixels=int(np.count_nonzero(border)),
        border_in_clot=int(np.count_nonzero(border & context.dense[k][box])),
        box=box,
        comp=comp,
        clot_side=clot_side,
    )


def _region_on_largest_slice(volume: SignVolume, readings: list[_SliceReading]) -> DensityRegion:
    """One region read on the slice where it is largest (its tips carry the partial volume of the
    slice thickness); its border is in clot over all its slices for the encapsulation."""
    s = max(readings, key=lambda item: np.count_nonzero(item.comp))
    mean_hu, clot_hu = float(s.inner_hu.mean()), float(s.band_hu.mean())
    width = transition_width_mm(s.signed_mm, s.profile_hu, mean_hu, clot_hu, float(min(volume.spacing_yx_mm)))
    encapsulated = sum(item.border_in_clot for item in readings) / max(
        1, sum(item.border_pixels for item in readings)
    )
    extent = np.zeros(volume.segment.shape[1:], dtype=bool)
    extent[s.box] = _half_level_extent(
        s.comp, s.clot_side, volume.smoothed_hu[s.k][s.box], (mean_hu + clot_hu) / 2
    )
    return DensityRegion(
        slice_index=s.k,
        z_mm=volume.z_mm(s.k),
        area_mm2=float(np.count_nonzero(extent) * volume.pixel_area_mm2),
        center_lps_mm=volume.centroid_lps_mm(s.k, extent),
        mean_hu=mean_hu,
        clot_hu=clot_hu,
        difference_hu=clot_hu - mean_hu,
        margin_width_mm=width,
        encapsulated_fraction=float(encapsulated),
        slice_indices=tuple(item.k for item in readings),
    )


def _measure_region(
    volume: SignVolume,
    context: _Context,
    labels: np.ndarray,
    label: int,
    box: tuple[slice, ...],
    parameters: SignParameters,
) -> DensityRegion | None:
    """One candidate region (connected across slices) against the clot next to it, or None when it is
    smaller than ``region_min_area_mm2`` on every slice or has no clot band beside it."""
    min_pixels = parameters.region_min_area_mm2 / volume.pixel_area_mm2
    readings = []
    for k in range(box[0].start, box[0].stop):
        region = labels[k] == label
        if region.any():
            measured = _slice_reading(volume, context, k, region, parameters)
            if measured is not None:
                readings.append(measured)
    if not readings or max(np.count_nonzero(s.comp) for s in readings) < min_pixels:
        return None
    return _region_on_largest_slice(volume, readings)


def analyse_density(volume: SignVolume, parameters: SignParameters) -> DensityAnalysis:
    """Every candidate region of the analysable clot, measured (see the module docstring)."""
    core = analysable_core(volume, parameters.rim_mm)
    brain_hu = brain_level(volume, parameters)
    if not core.any():
        return DensityAnalysis(clot_hu=float("nan"), brain_hu=brain_hu, analysed_slices=())
    offset = parameters.candidate_offset_hu
    clot_hu = dense_clot_level(volume.smoothed_hu[core], offset)
    threshold = clot_hu - offset
    candidates = core & (volume.smoothed_hu < threshold)
    context = _Context(core, candidates, volume.segment & (volume.smoothed_hu >= threshold))
    labels, _ = ndimage.label(candidates, structure=REGION_CONNECTIVITY)
    regions = []
    for label, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is not None:
            measured = _measure_region(volume, context, labels, label, box, parameters)
            if measured is not None:
                regions.append(measured)
    clot = core & ~candidates
    return DensityAnalysis(
        clot_hu=clot_hu,
        brain_hu=brain_hu,
        analysed_slices=tuple(int(k) for k in np.flatnonzero(core.any(axis=(1, 2)))),
        regions=regions,
        clot_hu_std=float(np.std(volume.hu[clot])) if clot.any() else float("nan"),
    )

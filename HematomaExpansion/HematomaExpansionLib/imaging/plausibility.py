"""Is the segment plausibly this scan's whole hematoma? Its density, and the scan's edges.

A mask drawn on another scan of the same grid, or on the wrong structure, passes every geometric
check but does not have the density of blood; a hematoma cut off by the first or last slice is
measured only in part. :class:`BloodDensityRule` says when a segment is refused
(``checks.validate_mask`` raises) and when it only gets a warning; :func:`hematoma_warnings`
gives the warnings shown beside a result that is computed anyway.

The rule's reference is the draft's blood range (``draft_parameters.DEFAULT_DRAFT_HU_RANGE``,
45-100 HU). An acute clot lies mostly in it, but blend regions (about 25-60 HU), hypodense foci
(20-35 HU) and the partial-volume rim (blood mixed with 25-40 HU brain) pull part of it below:
the synthetic cohort's most heterogeneous small clots have a median of 41 HU with 41% of their
voxels in range. White matter (20-30 HU), oedema and CSF (0-15 HU) have a median below 30 HU,
grey matter (35-45 HU) has few voxels in range, and bone lies far above 100 HU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from .draft_parameters import DEFAULT_DRAFT_HU_RANGE
from .geometry import acquired_slice_axis, direction_matrix


@dataclass(frozen=True)
class SegmentDensity:
    """The CT values under a segment: median (HU) and the fraction of voxels in the blood range."""

    median_hu: float
    in_range_fraction: float


@dataclass(frozen=True)
class BloodDensityRule:
    """Thresholds of the blood-density check; a segment's median beyond the refusal limits is not blood."""

    hu_range: tuple[float, float] = DEFAULT_DRAFT_HU_RANGE
    refuse_below_margin_hu: float = 15.0  # refuse when the median is below low - margin (30 HU)
    refuse_above_margin_hu: float = 50.0  # refuse when the median is above high + margin (150 HU)
    warn_in_range_fraction: float = 0.3  # warn when fewer of the voxels lie in hu_range

    @property
    def refusal_limits_hu(self) -> tuple[float, float]:
        """(lowest, highest) median HU accepted as blood."""
        low, high = self.hu_range
        return low - self.refuse_below_margin_hu, high + self.refuse_above_margin_hu

    def density(self, hu: np.ndarray) -> SegmentDensity:
        """Median and in-range fraction of the CT values ``hu`` under a (non-empty) segment."""
        low, high = self.hu_range
        in_range = np.count_nonzero((hu >= low) & (hu <= high)) / hu.size
        return SegmentDensity(float(np.median(hu)), float(in_range))

    def refuses(self, density: SegmentDensity) -> bool:
        """True when the segment's median lies outside the refusal limits."""
        lowest, highest = self.refusal_limits_hu
        return not lowest <= density.median_hu <= highest

    def warning(self, density: SegmentDensity) -> str | None:
        """A warning when few of the segment's voxels have the density of blood, else None."""
        if density.in_range_fraction >= self.warn_in_range_fraction:
            return None
        low, high = self.hu_range
        return (
            f"only {density.in_range_fraction:.0%} of the hematoma's voxels have the density of blood "
            f"({low:g}-{high:g} HU; median {density.median_hu:.0f} HU): check that the segment is the "
            "hematoma and was drawn on this CT before trusting the result"
        )


BLOOD_DENSITY = BloodDensityRule()


def _truncation_warnings(selected: np.ndarray, mask: sitk.Image) -> list[str]:
    """Warnings for a segment touching the top or bottom slice or the in-plane edge of the scan."""
    warnings = []
    slice_axis = acquired_slice_axis(mask)
    superior_last = direction_matrix(mask)[2, slice_axis] > 0
    array_slice_axis = 2 - slice_axis  # numpy axes are (z, y, x)
    n_slices = selected.shape[array_slice_axis]
    touched = [
        f"{'superior' if (index > 0) == superior_last else 'inferior'} end of the scan "
        f"(acquired slice {index + 1} of {n_slices})"
        for index in (0, n_slices - 1)
        if np.take(selected, index, axis=array_slice_axis).any()
    ]
    if touched:
        warnings.append(
            f"the hematoma reaches the {' and the '.join(touched)}: it is cut off there, so its volume, "
            "ABC/2 and features are truncated (they cover only the part inside the scan); use a scan "
            "that covers the whole hematoma"
        )
    in_plane = [a for a in range(3) if a != array_slice_axis]
    if any(np.take(selected, i, axis=a).any() for a in in_plane for i in (0, selected.shape[a] - 1)):
        warnings.append(
            "the hematoma reaches the edge of the field of view: it is cut off there, so its volume, "
            "ABC/2 and features are truncated; use a reconstruction that covers the whole head"
        )
    return warnings


def hematoma_warnings(ct: sitk.Image, mask: sitk.Image, rule: BloodDensityRule = BLOOD_DENSITY) -> list[str]:
    """What a user must read beside the result: a segment of little blood density, a truncated hematoma.

    ``mask`` is a validated, non-empty mask on the CT's grid (``checks.validate_mask``).
    """
    selected = sitk.GetArrayViewFromImage(mask) != 0
    density_warning = rule.warning(rule.density(sitk.GetArrayViewFromImage(ct)[selected]))
    return [
        *([density_warning] if density_warning else []),
        *_truncation_warnings(selected, mask),
    ]

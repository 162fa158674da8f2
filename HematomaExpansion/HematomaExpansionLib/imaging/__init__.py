"""Imaging: input checks, plausibility warnings, canonical geometry, segment terms, measurements, the draft.

Re-exported here are the names whose modules need only numpy and SimpleITK (the module file
imports this package before any first-use installation). The scipy-based modules are imported
by path: :mod:`.measurements` (volume, ABC/2, cross-section), :mod:`.draft` (semi-automatic
hematoma draft), :mod:`.intracranial` (brain region) and :mod:`.morphology` (binary morphology
in mm).
"""

from .checks import validate_ct, validate_label_image, validate_mask
from .draft_parameters import DEFAULT_DRAFT_HU_RANGE
from .geometry import (
    CrossSection,
    acquired_slice_axis,
    acquisition_grid_lps,
    canonical_axial,
    grid_differences,
    largest_axial_cross_section,
)
from .plausibility import BLOOD_DENSITY, BloodDensityRule, hematoma_warnings
from .segment_terms import HEMATOMA_COLOR, HEMATOMA_SEGMENT_NAME, HEMATOMA_TERMINOLOGY

__all__ = [
    "BLOOD_DENSITY",
    "DEFAULT_DRAFT_HU_RANGE",
    "HEMATOMA_COLOR",
    "HEMATOMA_SEGMENT_NAME",
    "HEMATOMA_TERMINOLOGY",
    "BloodDensityRule",
    "CrossSection",
    "acquired_slice_axis",
    "acquisition_grid_lps",
    "canonical_axial",
    "grid_differences",
    "hematoma_warnings",
    "largest_axial_cross_section",
    "validate_ct",
    "validate_label_image",
    "validate_mask",
]

"""Default parameters of the hematoma draft and the checks of its inputs (no scipy: cheap to import).

The panel's default draft HU range comes from here, so the GUI, the command line and the core
share one value.
"""

from __future__ import annotations

import math

import SimpleITK as sitk

from ..common.errors import InputError

# Density range of fresh blood used to draft a hematoma (HU); editable in the panel.
DEFAULT_DRAFT_HU_RANGE = (45.0, 100.0)
BONE_HU = 300.0
TISSUE_MIN_HU = -300.0  # below this: air (outside the head, sinuses, mastoid cells)
SKULL_MARGIN_MM = 2.0
SEPARATION_MM = 5.0
SMOOTHING_SIGMA_MM = 0.5
OPENING_RADIUS_MM = 1.5
CLOSING_RADIUS_MM = 3.0
SEED_TOLERANCE_MM = 2.0
SMALL_BRAIN_ML = 200.0  # an intracranial region smaller than this gets a warning
SMALL_DRAFT_ML = 0.5
OTHER_CANDIDATE_ML = 1.0  # other candidate regions at least this large are reported


def check_draft_ct(ct: sitk.Image) -> None:
    """The CT must be a 3-D scalar SimpleITK image with at least 3 voxels along every axis."""
    if not isinstance(ct, sitk.Image):
        raise InputError(f"the CT must be a SimpleITK image, got {type(ct).__name__}")
    if ct.GetDimension() != 3 or ct.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"the CT must be a 3D scalar image, got {ct.GetDimension()}D with "
            f"{ct.GetNumberOfComponentsPerPixel()} components per voxel"
        )
    if min(ct.GetSize()) < 3:
        raise InputError(f"the CT has size {ct.GetSize()}: at least 3 voxels along every axis are needed")


def check_hu_range(hu_range: tuple[float, float]) -> tuple[float, float]:
    """(low, high) in HU as floats; both finite with low < high."""
    try:
        low, high = (float(v) for v in hu_range)
    except (TypeError, ValueError) as exc:
        raise InputError(f"hu_range must be two numbers (low, high) in HU, got {hu_range!r}") from exc
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise InputError(f"hu_range must be finite with low < high, got ({low}, {high}) HU")
    return low, high


def check_non_negative(**values: float) -> None:
    """Every named value must be a finite number >= 0 (radii in mm, bone threshold in HU)."""
    for name, value in values.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not (math.isfinite(number) and number >= 0):
            raise InputError(f"{name} must be a finite number >= 0, got {value!r}")

"""Synthetic data: head-CT phantoms with a hematoma of known truth, their case files and the sample.

The phantom cohort (:mod:`.phantom_cohort`, cohorts with expansion labels) and the sign phantoms
(:mod:`.sign_phantom_set`, cases with conventional signs of known truth) are imported by path.
"""

from .case_files import write_case, write_segmentation_nrrd
from .phantom import Phantom, generate_phantom
from .sample import write_sample_case
from .spec import PRESETS, GeometryPreset, HematomaSpec

__all__ = [
    "PRESETS",
    "GeometryPreset",
    "HematomaSpec",
    "Phantom",
    "generate_phantom",
    "write_case",
    "write_sample_case",
    "write_segmentation_nrrd",
]

"""HematomaExpansion: prediction of hematoma expansion from the first non-contrast head CT.

The Slicer-free core (``common``, ``imaging``, ``signs``, ``features``, ``model``, ``evaluation``,
``reports``, ``cohort``, ``synthetic``) decides everything and runs without Slicer, Qt or VTK;
only ``mrml`` (the MRML adapter, the Logic and the headless runtime) and the module file import
Slicer; the command line ``cli`` works through ``mrml``. The names below are the public API.
Slicer imports this package before its first-use installation of torch and pyradiomics, so each
is imported only when first used.
"""

from __future__ import annotations

from .common.lazy import lazy_exports

__version__ = "0.4.0"

_EXPORTS = {
    ".common.errors": ("InputError", "ModelError"),
    ".imaging.measurements": ("measure_hematoma",),
    ".imaging.draft": ("draft_hematoma",),
    ".features": ("ExtractionConfig", "extract_features"),
    ".model": ("ApplicabilityChecklist", "TrainingConfig", "available_models", "load_model", "predict_case"),
    ".evaluation": ("evaluate_models", "read_feature_table", "train_models"),
    ".cohort": ("ExpansionDefinition", "read_manifest"),
    ".signs": ("SignParameters", "SignsReport", "measure_signs"),
    ".synthetic": ("HematomaSpec", "generate_phantom", "write_case", "write_sample_case"),
    ".synthetic.phantom_cohort": ("generate_cohort",),
    ".mrml.logic": ("HematomaExpansionLogicBase",),
    ".mrml.runtime": ("SlicerRuntime",),
    ".mrml.cohort_jobs": ("extract_cohort", "predict_cohort"),
}
_names, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = ["__version__", *_names]

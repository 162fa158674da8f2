"""Cohorts: the manifest, expansion labels and split, the per-case runner and the cohort jobs' cores.

Modules: :mod:`.manifest` (reading a manifest), :mod:`.labels` (expansion definition, stratified
split), :mod:`.runner` (one cached, resumable job per case) with :mod:`.cache`, :mod:`.executor`
(the workers' share of the cores), :mod:`.dask_executor`
(running on a local or an existing Dask cluster) and :mod:`.progress`, :mod:`.extraction` with :mod:`.feature_table` (the
labelled feature table) and :mod:`.prediction` (the predictions table). Extraction and prediction
take the per-case job as an argument; the jobs that need a Slicer scene, and the functions bound
to them, are in ``mrml.cohort_jobs``. Public names are importable from here; a module is imported
only when one of its names is first used.
"""

from __future__ import annotations

from ..common.lazy import lazy_exports

_EXPORTS = {
    ".manifest": ("CASE_ID_PATTERN", "CohortCase", "read_manifest"),
    ".labels": ("ExpansionDefinition", "assign_split"),
    ".cache": ("CASES_FOLDER", "RunnableCase", "case_cache_key", "path_sha256"),
    ".executor": ("available_cores", "threads_per_worker"),
    ".dask_executor": ("local_cluster",),
    ".progress": ("ProgressBar",),
    ".runner": (
        "ERRORS_FILE",
        "CaseFailure",
        "CohortRunResult",
        "map_in_order",
        "run_cohort",
        "write_errors",
    ),
    ".feature_table": ("FEATURES_FILE", "PROVENANCE_FILE", "TABLE_COLUMNS"),
    ".extraction": ("CohortExtraction", "extract_cohort", "extraction_cache_key"),
    ".prediction": (
        "COHORT_PREDICTIONS_FILE",
        "PREDICTION_COLUMNS",
        "REPORTS_FOLDER",
        "CohortPrediction",
        "predict_cohort",
    ),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

"""Evaluation of risk models: statistics, feature tables, and training and evaluation runs.

Statistics (numpy and scipy only) share these conventions:

- ``y`` holds the outcomes, 1 (event: hematoma expansion) or 0, as integers, floats or booleans.
- ``score``/``prob`` holds one finite number per case; a higher value means a higher risk. Curves
  are never flipped: a model that ranks worse than chance keeps its AUC below 0.5 (this is pROC with
  ``levels = c(0, 1), direction = "<"``; pROC's default ``direction = "auto"`` would flip it).
- A case is called positive at threshold ``t`` when ``prob >= t`` (as the ``dcurves`` package does).

Modules: :mod:`.roc` (ROC, AUC, DeLong), :mod:`.thresholds` (Youden, operating point, Wilson),
:mod:`.decision_curves`, :mod:`.calibration_metrics`, :mod:`.inputs` (their input checks);
:mod:`.feature_table` (reading a feature table), :mod:`.leakage` (cases in both sets),
:mod:`.training_run` (:func:`train_models`), :mod:`.evaluation_run` (:func:`evaluate_models`),
:mod:`.metrics_document` (metrics.json) and :mod:`.run_outputs` (the files of a run). Public names
are importable from here; a module is imported only when one of its names is first used.
"""

from __future__ import annotations

from ..common.lazy import lazy_exports

_EXPORTS = {
    ".roc": ("AucResult", "DelongTest", "RocCurve", "auc", "delong_ci", "delong_test", "roc_curve_points"),
    ".thresholds": ("Proportion", "YoudenPoint", "threshold_metrics", "wilson_interval", "youden_threshold"),
    ".decision_curves": ("DEFAULT_DCA_THRESHOLDS", "DecisionCurve", "decision_curve"),
    ".calibration_metrics": ("LOGIT_CLIP_EPS", "CalibrationResult", "calibration"),
    ".feature_table": ("METADATA_COLUMNS", "FeatureTable", "read_feature_table", "training_sets"),
    ".metrics_document": ("METRICS_SCHEMA_VERSION", "evaluate_predictions", "set_metrics"),
    ".run_outputs": ("METRICS_FILE", "MODEL_PREDICTIONS_FILE", "RunResult"),
    ".training_run": ("DEFAULT_MODEL_ID_PREFIX", "train_models"),
    ".evaluation_run": ("evaluate_models",),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

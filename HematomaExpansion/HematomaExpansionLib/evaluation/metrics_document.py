"""The metrics document of a training or evaluation run (``metrics.json``): every number, JSON-ready.

Per model and set of cases: AUC with its DeLong CI, the operating point with Wilson CIs,
calibration and the ROC points; across models: paired DeLong comparisons, decision curves and
the paper's table. NaN and infinities become None (strict JSON).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ..common.errors import InputError
from ..common.jsonsafe import json_safe
from ..common.versions import software_versions
from ..model.bundle import ModelBundle
from .calibration_metrics import calibration
from .decision_curves import decision_curve
from .feature_table import FeatureTable
from .roc import delong_ci, delong_test, roc_curve_points
from .thresholds import threshold_metrics

METRICS_SCHEMA_VERSION = 1
#: Paired comparisons in the paper's order: (model A, model B), one-sided H1: AUC_A > AUC_B.
KIND_COMPARISONS: tuple[tuple[str, str], ...] = (
    ("fused", "radiomics"),
    ("fused", "deep"),
    ("deep", "radiomics"),
    ("combined", "radiomics"),
    ("combined", "clinical"),
    ("clinical", "radiomics"),
    ("combined", "deep"),
    ("combined", "fused"),
)
#: Quantile bins of the calibration curves (a test set of ~50 cases gives ~10 cases per bin).
CALIBRATION_BINS = 5
#: The operating-point metrics of the paper's table, in its column order.
OPERATING_METRICS = ("sensitivity", "specificity", "accuracy", "ppv", "npv")
#: Packages whose versions the document records.
_RECORDED_PACKAGES = ("numpy", "scipy", "scikit-learn", "matplotlib")


def set_metrics(y: np.ndarray, prob: np.ndarray, threshold: float) -> dict[str, Any]:
    """Every number of one model on one set of cases (JSON-ready)."""
    cal = calibration(y, prob, n_bins=CALIBRATION_BINS, strategy="quantile")
    roc = roc_curve_points(y, prob)
    return json_safe(
        {
            "n": len(y),
            "n_positive": int(np.sum(y)),
            "auc": delong_ci(y, prob),
            "threshold": threshold,
            "threshold_metrics": threshold_metrics(y, prob, threshold),
            "calibration": cal,
            "roc": {"fpr": roc.fpr, "tpr": roc.tpr},
        },
        non_finite_as_none=True,
    )


def comparison_pairs(kinds: Mapping[str, str]) -> list[tuple[str, str]]:
    """Pairs of model names to compare: the paper's kind pairs, or all pairs if kinds repeat."""
    names = list(kinds)
    if len(set(kinds.values())) == len(names):
        by_kind = {kind: name for name, kind in kinds.items()}
        return [(by_kind[a], by_kind[b]) for a, b in KIND_COMPARISONS if a in by_kind and b in by_kind]
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]


def _comparisons(
    y: np.ndarray, probabilities: Mapping[str, np.ndarray], kinds: Mapping[str, str]
) -> list[dict[str, Any]]:
    """One-sided paired DeLong tests (H1: AUC(a) > AUC(b)) of the comparison pairs on one set."""
    records = []
    for a, b in comparison_pairs(kinds):
        record = json_safe(
            delong_test(y, probabilities[a], probabilities[b], alternative="greater"), non_finite_as_none=True
        )
        record.pop("covariance")
        record.update(model_a=a, model_b=b, n=len(y), n_positive=int(np.sum(y)))
        record["one_sided_hypothesis"] = f"H1: AUC({a}) > AUC({b})"
        records.append(record)
    return records


def _decision_curves(y: np.ndarray, probabilities: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Net benefit of every model, of treating all and of treating none, on one set."""
    curves = {name: decision_curve(y, prob) for name, prob in probabilities.items()}
    first = next(iter(curves.values()))
    return json_safe(
        {
            "thresholds": first.thresholds,
            "prevalence": first.prevalence,
            "treat_all": first.net_benefit_all,
            "treat_none": first.net_benefit_none,
            "models": {name: curve.net_benefit_model for name, curve in curves.items()},
        },
        non_finite_as_none=True,
    )


def _paper_table(models: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """One row per model and set: AUC with its CI and the operating-point metrics."""
    return [
        {
            "model": name,
            "set": set_name,
            "auc": m["auc"]["auc"],
            "auc_ci_low": m["auc"]["ci_low"],
            "auc_ci_high": m["auc"]["ci_high"],
            **{k: m["threshold_metrics"][k]["value"] for k in OPERATING_METRICS},
        }
        for name, sets in models.items()
        for set_name, m in sets.items()
    ]


def evaluate_predictions(
    labels: Mapping[str, np.ndarray],
    probabilities: Mapping[str, Mapping[str, np.ndarray]],
    thresholds: Mapping[str, float],
    kinds: Mapping[str, str],
) -> dict[str, Any]:
    """Per-model metrics, paired DeLong comparisons, decision curves and the paper's table.

    ``labels[set]`` are the outcomes of a set of cases; ``probabilities[model][set]`` the model's
    predictions for the same cases in the same order.
    """
    models = {
        name: {
            set_name: set_metrics(y, probabilities[name][set_name], thresholds[name])
            for set_name, y in labels.items()
        }
        for name in probabilities
    }
    comparisons: dict[str, list[dict[str, Any]]] = {}
    curves: dict[str, dict[str, Any]] = {}
    for set_name, y in labels.items():
        of_set = {name: probabilities[name][set_name] for name in probabilities}
        comparisons[set_name] = _comparisons(y, of_set, kinds)
        curves[set_name] = _decision_curves(y, of_set)
    return {
        "models": models,
        "comparisons": comparisons,
        "decision_curves": curves,
        "paper_table": _paper_table(models),
    }


def cohort_summary(
    table: FeatureTable,
    sets: Mapping[str, np.ndarray],
    split_info: Mapping[str, Any],
    ceiling_auc: float | None,
) -> dict[str, Any]:
    """Cases and positives of the sets, how they were split, the label and the ceiling AUC.

    ``ceiling_auc`` is the best AUC any model can reach on the cohort (given by the user).
    """
    if ceiling_auc is not None and not 0.0 <= ceiling_auc <= 1.0:
        raise InputError(f"the ceiling AUC must lie in [0, 1], got {ceiling_auc}")
    provenance = table.provenance or {}
    rows = np.zeros(len(table.labels), dtype=bool)
    for mask in sets.values():
        rows |= mask
    return {
        "n": int(rows.sum()),
        "n_positive": int(table.labels[rows].sum()),
        "sets": {
            name: {"n": int(m.sum()), "n_positive": int(table.labels[m].sum())} for name, m in sets.items()
        },
        "split": dict(split_info),
        "label_column": table.label_column,
        "expansion_definition": provenance.get("expansion_definition"),
        "ceiling_auc": ceiling_auc,
    }


def _data_summary(table: FeatureTable) -> dict[str, Any]:
    provenance = table.provenance or {}
    return {
        "features_table": str(table.path),
        "features_sha256": table.sha256,
        "provenance_file": str(table.provenance_path) if table.provenance_path else None,
        "rows": len(table.labels),
        "feature_columns": len(table.columns),
        "ignored_columns": table.ignored_columns,
        "extractor_identity": table.identity,
        "radiomics_params_file": str(table.params_file) if table.params_file else None,
        "extraction_versions": provenance.get("versions"),
        "extraction_software_version": provenance.get("software_version"),
    }


def model_summary(bundle: ModelBundle) -> dict[str, Any]:
    """What the document records of a saved model: id, threshold, LASSO and SVM results, config."""
    card = bundle.card
    return {
        "model_id": bundle.model_id,
        "kind": bundle.kind,
        "bundle": str(bundle.folder),
        "threshold": bundle.threshold,
        "lambda": card["lasso"]["lambda"],
        "lambda_rule": card["lasso"]["lambda_rule"],
        "n_candidates": len(card["feature_selection"]["lasso_candidates"]),
        "selected_features": card["lasso"]["weights"],
        "svm": card["svm"],
        "oof_auc": card["threshold"]["oof_auc"],
        "training_config": card["training_config"],
    }


def metrics_document(
    command: str,
    table: FeatureTable,
    provenance: Mapping[str, Any],
    cohort: Mapping[str, Any],
    models: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    warnings: Sequence[str] = (),
) -> dict[str, Any]:
    """The document of a ``command`` ("train" or "evaluate") run; ``provenance`` adds to the versions.

    ``warnings`` are the run's warnings about its data (one line each).
    """
    return {
        "metrics_schema": METRICS_SCHEMA_VERSION,
        "command": command,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": _data_summary(table),
        "provenance": {"versions": software_versions(_RECORDED_PACKAGES), **provenance},
        "cohort": cohort,
        "models": models,
        **{k: evaluation[k] for k in ("comparisons", "decision_curves", "paper_table")},
        "warnings": list(warnings),
    }

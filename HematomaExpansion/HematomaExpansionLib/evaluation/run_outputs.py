"""The files of a training or evaluation run: predictions.csv, metrics.json and the report, and their summary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..common.atomic import write_csv_atomic, write_json_atomic
from ..common.jsonsafe import json_safe
from ..model.bundle import ModelBundle
from ..reports.text_table import format_table
from .feature_table import FeatureTable

if TYPE_CHECKING:  # scikit-learn is needed only after training
    from ..model.lasso_svm import LassoSVM

METRICS_FILE = "metrics.json"
#: Each model's probability for each case of each set (columns case_id, set, label, <model>...).
MODEL_PREDICTIONS_FILE = "predictions.csv"
_COMPARISON_COLUMNS = ("difference", "z", "p_two_sided", "p_one_sided")


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


@dataclass
class RunResult:
    """Files written by a training or evaluation run and the metrics document.

    ``fitted`` holds the fitted LASSO-SVM estimators after training (empty after evaluation).
    """

    metrics: dict[str, Any]
    bundles: dict[str, Path]
    paths: dict[str, Path]
    fitted: dict[str, LassoSVM] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """A plain-text summary: warnings, models, the paper's table, DeLong comparisons, written files."""
        m = self.metrics
        out = [f"warning: {warning}" for warning in m["warnings"]]
        out.append(
            f"{m['cohort']['n']} cases ({m['cohort']['n_positive']} positive) from {m['data']['features_table']}"
        )
        if m["cohort"]["ceiling_auc"] is not None:
            out.append(f"ceiling AUC (true probabilities): {m['cohort']['ceiling_auc']:.3f}")
        for name, model in m["models"].items():
            out.append(
                f"{name}: {model['model_id']}, {len(model['selected_features'])} of {model['n_candidates']} "
                f"candidate features selected, threshold {model['threshold']:.3f}"
            )
        rows = [
            [
                r["model"],
                r["set"],
                _number(r["auc"]),
                f"{_number(r['auc_ci_low'])}-{_number(r['auc_ci_high'])}",
            ]
            + [_number(r[k]) for k in ("sensitivity", "specificity", "accuracy")]
            for r in m["paper_table"]
        ]
        header = ["model", "set", "AUC", "95% CI", "sensitivity", "specificity", "accuracy"]
        out += ["", format_table(header, rows), ""]
        comparisons = [
            [s, f"{c['model_a']} vs {c['model_b']}", *(_number(c[k]) for k in _COMPARISON_COLUMNS)]
            for s, items in m["comparisons"].items()
            for c in items
        ]
        if comparisons:
            header = ["set", "DeLong", "AUC difference", "Z", "p two-sided", "p one-sided (A > B)"]
            out += [format_table(header, comparisons), ""]
        out += [f"written: {path}" for key, path in self.paths.items() if not key.startswith("figure_")]
        out += [f"model: {path}" for path in self.bundles.values()]
        return out


def _write_predictions(
    path: Path,
    table: FeatureTable,
    sets: Mapping[str, np.ndarray],
    probabilities: Mapping[str, Mapping[str, np.ndarray]],
) -> Path:
    names = list(probabilities)
    ids = np.asarray(table.case_ids)
    rows = []
    for set_name, mask in sets.items():
        for i, (case, label) in enumerate(zip(ids[mask], table.labels[mask], strict=True)):
            rows.append(
                [case, set_name, int(label), *(repr(float(probabilities[n][set_name][i])) for n in names)]
            )
    return write_csv_atomic(path, ["case_id", "set", "label", *names], rows)


def write_run_outputs(
    out: Path,
    metrics: dict[str, Any],
    table: FeatureTable,
    sets: Mapping[str, np.ndarray],
    probabilities: Mapping[str, Mapping[str, np.ndarray]],
    bundles: Mapping[str, ModelBundle],
) -> RunResult:
    """Write predictions.csv, metrics.json, report.html and its figures into ``out``."""
    from ..reports.training_report import write_report  # matplotlib: imported only when a run writes

    document = json_safe(metrics, non_finite_as_none=True)
    paths = {"predictions": _write_predictions(out / MODEL_PREDICTIONS_FILE, table, sets, probabilities)}
    paths["metrics"] = write_json_atomic(out / METRICS_FILE, document)
    paths.update(write_report(document, bundles, out))
    return RunResult(document, {name: b.folder for name, b in bundles.items()}, paths)

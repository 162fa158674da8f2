"""Evaluate saved model bundles on the rows of a feature table: the metrics and report of a training run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..common.errors import InputError
from ..model.bundle import ModelBundle, load_bundle
from .feature_table import FeatureTable, require_both_classes
from .metrics_document import cohort_summary, evaluate_predictions, metrics_document, model_summary
from .run_outputs import RunResult, write_run_outputs


def _load_bundles(bundle_dirs: Sequence[Path | str], table: FeatureTable) -> dict[str, ModelBundle]:
    """The bundles by kind (by model id when kinds repeat), each checked against the table's extractor."""
    if not bundle_dirs:
        raise InputError("give at least one model folder (--models)")
    loaded = [load_bundle(d) for d in bundle_dirs]
    for bundle in loaded:
        bundle.check_extractor(table.identity)
    kinds = [b.kind for b in loaded]
    unique_kinds = len(set(kinds)) == len(kinds)
    bundles = {(b.kind if unique_kinds else b.model_id): b for b in loaded}
    if len(bundles) != len(loaded):
        raise InputError("the model folders hold the same model id more than once")
    return bundles


def _split_rows(table: FeatureTable, split: str) -> np.ndarray:
    """Row mask of the cases whose split is ``split`` (every row for "all"); both classes required."""
    if split == "all":
        rows = np.ones(len(table.labels), dtype=bool)
    elif table.split is None:
        raise InputError(f"{table.path} has no {table.split_column!r} column; use --split all")
    else:
        rows = table.split == split
        if not rows.any():
            raise InputError(f"{table.path}: no row has {table.split_column}={split!r}")
    require_both_classes(table, rows, f"rows of split {split!r}")
    return rows


def evaluate_models(
    bundle_dirs: Sequence[Path | str],
    table: FeatureTable,
    out_dir: Path | str,
    split: str = "test",
    ceiling_auc: float | None = None,
) -> RunResult:
    """Predict the rows of ``table`` whose split is ``split`` (or ``"all"``) with saved bundles.

    Each bundle's extractor identity is checked against the table's; the metrics and report
    are those of :func:`evaluation.training_run.train_models` for one set of cases.
    """
    bundles = _load_bundles(bundle_dirs, table)
    rows = _split_rows(table, split)
    sets = {split: rows}
    probabilities = {
        name: {split: b.predict_proba(table.matrix(b.input_features, rows))} for name, b in bundles.items()
    }
    evaluation = evaluate_predictions(
        {split: table.labels[rows]},
        probabilities,
        {n: b.threshold for n, b in bundles.items()},
        {n: b.kind for n, b in bundles.items()},
    )
    cohort = cohort_summary(table, sets, {"source": "evaluate", "split": split}, ceiling_auc)
    seeds = sorted({b.card["training_config"]["seed"] for b in bundles.values()})
    provenance = {"seed": seeds[0] if len(seeds) == 1 else seeds}
    models = {name: {**model_summary(b), "sets": evaluation["models"][name]} for name, b in bundles.items()}
    metrics = metrics_document("evaluate", table, provenance, cohort, models, evaluation)
    return write_run_outputs(Path(out_dir), metrics, table, sets, probabilities, bundles)

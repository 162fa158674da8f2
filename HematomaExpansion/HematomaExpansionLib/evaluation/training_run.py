"""Train the radiomics, deep, fused, clinical and combined models from a feature table, evaluate them,
save their bundles.

Each kind is fitted on the training rows only (:func:`model.lasso_svm.fit_on_split`); test rows
reach only the prediction step. Both sets are evaluated (:mod:`evaluation.metrics_document`) and
the run's files written (:mod:`evaluation.run_outputs`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..common.atomic import write_bytes_atomic
from ..common.errors import InputError, ModelError
from ..common.hashing import sha256_bytes
from ..features.families import RADIOMICS_IDENTITY_KEYS, feature_family, identity_keys
from ..model.bundle import ModelBundle, load_bundle
from ..model.bundle_writer import save_bundle
from ..model.config import TrainingConfig
from ..model.kinds import DEFAULT_KINDS, MODEL_KINDS, families_of, features_for_kind, missing_families
from ..model.lasso_svm import LassoSVM, fit_on_split
from .feature_table import FeatureTable, impute_covariates, training_sets
from .leakage import identical_rows_across, identical_rows_warning
from .metrics_document import cohort_summary, evaluate_predictions, metrics_document, model_summary
from .run_outputs import RunResult, write_run_outputs

logger = logging.getLogger(__name__)

DEFAULT_MODEL_ID_PREFIX = "hematoma-expansion"
#: Numpy prediction from a saved bundle must reproduce the fitted pipeline within this.
BUNDLE_TOLERANCE = 1e-9


def _check_kinds(table: FeatureTable, kinds: Sequence[str]) -> None:
    """Raise InputError unless the table has the features and extractor identity of every kind."""
    unknown = [k for k in kinds if k not in MODEL_KINDS]
    if unknown or not kinds:
        raise InputError(f"model kinds must be among {list(MODEL_KINDS)}, got {list(kinds)}")
    for kind in kinds:
        lacking = missing_families(table.feature_names, kind)
        if lacking:
            raise InputError(
                f"{table.path} has no {' and no '.join(lacking)} feature columns for a {kind} model "
                "(deep features are named 'deep_*', clinical covariates 'clinical_*')"
            )
        families = families_of(features_for_kind(table.feature_names, kind))
        if "deep" in families and table.provenance is None:
            raise InputError(
                f"a {kind} model needs the deep extractor identity (backbone, slices, window) that only "
                f"a features_provenance.json from extract-cohort records; {table.path} has none: "
                "train with --kinds radiomics or extract the features with extract-cohort"
            )
        missing = [k for k in identity_keys(families) if table.identity.get(k) is None]
        if missing:
            raise InputError(
                f"the provenance of {table.path} lacks {missing} needed by a {kind} model; features from "
                f"an older version cannot be told apart: re-run extract-cohort with this version ({__version__})"
            )


def _fit_models(
    table: FeatureTable, kinds: Sequence[str], sets: Mapping[str, np.ndarray], config: TrainingConfig
) -> tuple[dict[str, LassoSVM], dict[str, dict[str, np.ndarray]]]:
    """The fitted model of each kind and its probabilities for the rows of each set."""
    fit_table: dict[str, Any] = {
        **table.columns,
        table.label_column: table.labels,
        table.split_column: np.where(sets["train"], "train", "test"),
    }
    fitted: dict[str, LassoSVM] = {}
    probabilities: dict[str, dict[str, np.ndarray]] = {}
    for kind in kinds:
        names = features_for_kind(table.feature_names, kind)
        table.matrix(names, np.ones(len(table.labels), dtype=bool))  # every value finite
        logger.info("fitting the %s model on %d training rows", kind, int(sets["train"].sum()))
        model = fit_on_split(fit_table, names, kind, config, table.label_column, table.split_column, "train")
        fitted[kind] = model
        probabilities[kind] = {
            s: model.predict_proba(table.matrix(names, rows))[:, 1] for s, rows in sets.items()
        }
    return fitted, probabilities


def _identical_rows(
    table: FeatureTable, kinds: Sequence[str], sets: Mapping[str, np.ndarray]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Test cases with the values of a training case in one imaging family of the kinds' features; the warning."""
    used = {n for kind in kinds for n in features_for_kind(table.feature_names, kind)}
    by_family: dict[str, list[str]] = {}
    for name in table.feature_names:
        # a few 0/1 or integer covariates often coincide between two patients: no sign of a duplicate
        if name in used and feature_family(name) != "clinical":
            by_family.setdefault(feature_family(name), []).append(name)
    groups = {
        f: (table.matrix(n, sets["train"]), table.matrix(n, sets["test"])) for f, n in by_family.items()
    }
    ids = np.asarray(table.case_ids)
    pairs = identical_rows_across(groups, ids[sets["train"]], ids[sets["test"]])
    return pairs, [identical_rows_warning(pairs)] if pairs else []


def _baseline_volume_range(table: FeatureTable, rows: np.ndarray) -> dict[str, float] | None:
    """Min, max and median baseline volume (mL) of ``rows`` (None without a volume column or value)."""
    if table.baseline_volume_ml is None:
        return None
    volumes = table.baseline_volume_ml[rows]
    volumes = volumes[np.isfinite(volumes)]
    if not volumes.size:
        return None
    return {"min": float(volumes.min()), "max": float(volumes.max()), "median": float(np.median(volumes))}


def _card_metrics(evaluation: Mapping[str, Any], name: str, ceiling_auc: float | None) -> dict[str, Any]:
    """What a bundle's card carries: its own numbers per set ("train", "test"; ROC points left
    out), the paper's table, the comparisons, the decision curves and the ceiling AUC."""
    own = {
        set_name: {k: v for k, v in m.items() if k != "roc"}
        for set_name, m in evaluation["models"][name].items()
    }
    return {
        **own,
        "paper_table": evaluation["paper_table"],
        "comparisons": evaluation["comparisons"],
        "decision_curves": evaluation["decision_curves"],
        "ceiling_auc": ceiling_auc,
    }


def _copy_params(params_file: Path | None, folder: Path) -> dict[str, str] | None:
    """Copy the radiomics parameter file into the bundle folder; its name and SHA-256 for the card."""
    if params_file is None:
        return None
    data = params_file.read_bytes()
    write_bytes_atomic(folder / params_file.name, data)
    return {"file": params_file.name, "sha256": sha256_bytes(data)}


def _card_extra(
    table: FeatureTable,
    kind: str,
    folder: Path,
    evaluation: Mapping[str, Any],
    cohort: Mapping[str, Any],
    intended_use: str | None,
    train_rows: np.ndarray,
    imputation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The card entries a training run adds: extractor, metrics, cohort, intended use, parameter file,
    and the imputation of missing covariates when the model uses an imputed column.

    The cohort entry holds the training rows' baseline volume range when the table has volumes.
    Copies the radiomics parameter file into ``folder`` when the kind uses radiomics.
    """
    names = features_for_kind(table.feature_names, kind)
    extra: dict[str, Any] = {
        "extractor": {k: table.identity[k] for k in identity_keys(families_of(names))},
        "metrics": _card_metrics(evaluation, kind, cohort["ceiling_auc"]),
        "training_cohort": {
            **{k: v for k, v in cohort.items() if k not in ("n", "n_positive")},
            "features_table": table.path.name,
            "features_sha256": table.sha256,
        },
    }
    volume_range = _baseline_volume_range(table, train_rows)
    if volume_range:
        extra["training_cohort"]["baseline_volume_ml"] = volume_range
    if intended_use:
        extra["intended_use"] = intended_use
    if imputation and set(imputation["values"]) & set(names):
        extra["imputation"] = {
            **imputation,
            "values": {k: v for k, v in imputation["values"].items() if k in names},
            "n_imputed": {k: v for k, v in imputation["n_imputed"].items() if k in names},
        }
    if RADIOMICS_IDENTITY_KEYS[0] in extra["extractor"]:
        params = _copy_params(table.params_file, folder)
        if params:
            extra["radiomics_params"] = params
    return extra


def _checked_bundle(
    folder: Path, table: FeatureTable, sets: Mapping[str, np.ndarray], probabilities: Mapping[str, np.ndarray]
) -> tuple[ModelBundle, float]:
    """The saved bundle, loaded again, and its largest distance from the fitted model's probabilities.

    Raises ModelError when the distance exceeds :data:`BUNDLE_TOLERANCE`.
    """
    bundle = load_bundle(folder)
    difference = max(
        float(
            np.max(np.abs(bundle.predict_proba(table.matrix(bundle.input_features, rows)) - probabilities[s]))
        )
        for s, rows in sets.items()
    )
    if difference > BUNDLE_TOLERANCE:
        raise ModelError(
            f"bundle {folder} predicts up to {difference:.3g} away from the fitted model; "
            "this is a bug, please report it"
        )
    return bundle, difference


def train_models(
    table: FeatureTable,
    out_dir: Path | str,
    kinds: Sequence[str] = DEFAULT_KINDS,
    config: TrainingConfig | None = None,
    train_value: str = "train",
    test_value: str = "test",
    model_id_prefix: str = DEFAULT_MODEL_ID_PREFIX,
    ceiling_auc: float | None = None,
    intended_use: str | None = None,
    impute: str | None = None,
) -> RunResult:
    """Fit each kind on the training rows, evaluate on train and test, write bundles and report.

    Bundles go to ``OUT/<prefix>-<kind>/``; ``OUT/metrics.json``, ``OUT/predictions.csv``,
    ``OUT/report.html`` and ``OUT/figures/*.png`` hold the evaluation. Test rows reach only
    the prediction step, never a fit. ``intended_use`` is shown with each model (card ``extra``).
    Test cases with the feature values of a training case are named in ``identical_feature_rows``
    and ``warnings`` of metrics.json; each card records the training rows' baseline volume range.
    A missing covariate value is refused (naming case and column) unless ``impute`` is "median":
    then the training rows' median fills it, recorded in metrics.json and the cards that use it.
    """
    config = config or TrainingConfig()
    kinds = list(dict.fromkeys(kinds))
    _check_kinds(table, kinds)
    sets, split_info = training_sets(table, train_value, test_value, config.seed)
    imputation = None
    if impute is not None:
        table, imputation = impute_covariates(table, sets["train"], impute)
    identical_rows, warnings = _identical_rows(table, kinds, sets)
    out = Path(out_dir)
    fitted, probabilities = _fit_models(table, kinds, sets, config)
    evaluation = evaluate_predictions(
        {name: table.labels[rows] for name, rows in sets.items()},
        probabilities,
        {k: m.threshold_ for k, m in fitted.items()},
        {k: k for k in kinds},
    )
    cohort = cohort_summary(table, sets, split_info, ceiling_auc)
    models: dict[str, dict[str, Any]] = {}
    bundles: dict[str, ModelBundle] = {}
    for kind, model in fitted.items():
        model_id = f"{model_id_prefix}-{kind}"
        folder = out / model_id
        extra = _card_extra(table, kind, folder, evaluation, cohort, intended_use, sets["train"], imputation)
        save_bundle(model, folder, model_id, extra)
        bundles[kind], max_difference = _checked_bundle(folder, table, sets, probabilities[kind])
        models[kind] = {
            **model_summary(bundles[kind]),
            "bundle_max_abs_difference": max_difference,
            "warnings": model.warnings_,
            "sets": evaluation["models"][kind],
        }
    provenance = {"seed": config.seed, "training_config": config.as_dict()}
    if imputation:
        provenance["imputation"] = imputation
    metrics = metrics_document("train", table, provenance, cohort, models, evaluation, warnings)
    metrics["identical_feature_rows"] = identical_rows
    result = write_run_outputs(out, metrics, table, sets, probabilities, bundles)
    result.fitted = fitted
    return result

"""Train and evaluate the three models from a feature table: bundles, metrics.json, report.

A feature table is a CSV with one row per case: a label column (0/1), optionally a split column
(train/test), metadata (``case_id``, ``baseline_volume_ml``, ``followup_volume_ml``) and numeric
feature columns (pyradiomics keys and ``deep_*``). ``extract-cohort`` writes one, with
``features_provenance.json`` beside it; a table exported elsewhere (e.g. from SlicerRadiomics)
works too when the radiomics parameter file is given, for radiomics-only models.

:func:`train_models` fits radiomics-only, deep-only and fused models on the training rows only
(:func:`training.fit_on_split`), evaluates them on both sets with the statistics of
:mod:`statistics`, writes one bundle per model, ``predictions.csv``, ``metrics.json`` (every
number) and the report. :func:`evaluate_models` does the same evaluation for saved bundles.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..cohort.manifest import PROVENANCE_FILE, assign_split
from ..common.atomic import write_bytes_atomic, write_csv_atomic, write_json_atomic
from ..common.errors import InputError, ModelError
from ..common.versions import software_versions
from ..evaluation.metrics import (
    calibration,
    decision_curve,
    delong_ci,
    delong_test,
    roc_curve_points,
    threshold_metrics,
)
from ..features.featureset import RADIOMICS_IDENTITY_KEYS, feature_family, identity_keys
from ..model.bundle import FAMILIES_BY_KIND, MODEL_KINDS, ModelBundle, load_bundle, save_bundle
from ..model.lasso_svm import FittedModel, TrainingConfig, features_for_kind, fit_on_split
from ..reports.text_table import format_table

logger = logging.getLogger(__name__)

METRICS_SCHEMA_VERSION = 1
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.csv"
DEFAULT_MODEL_ID_PREFIX = "hematoma-expansion"
#: Paired comparisons in the paper's order: (model A, model B), one-sided H1: AUC_A > AUC_B.
KIND_COMPARISONS: tuple[tuple[str, str], ...] = (
    ("fused", "radiomics"),
    ("fused", "deep"),
    ("deep", "radiomics"),
)
#: Quantile bins of the calibration curves (a test set of ~50 cases gives ~10 cases per bin).
CALIBRATION_BINS = 5
#: Numpy prediction from a saved bundle must reproduce the fitted pipeline within this.
BUNDLE_TOLERANCE = 1e-9
METADATA_COLUMNS = ("case_id", "baseline_volume_ml", "followup_volume_ml")
_DIAGNOSTICS_PREFIX = "diagnostics_"
_COMPARISON_COLUMNS = ("difference", "z", "p_two_sided", "p_one_sided")


@dataclass
class FeatureTable:
    """A feature table read from CSV, with the extractor identity of its features.

    ``columns`` maps each feature name to its values (table order); ``split`` holds the raw
    values of the split column (None when the table has none). ``provenance`` is the
    ``features_provenance.json`` document (None for a table without one); ``identity`` the
    extractor identity (from the provenance, or pyradiomics version + parameter-file hash).
    """

    path: Path
    sha256: str
    label_column: str
    split_column: str
    case_ids: list[str]
    labels: np.ndarray
    split: np.ndarray | None
    columns: dict[str, np.ndarray]
    provenance: dict[str, Any] | None
    provenance_path: Path | None
    identity: dict[str, Any]
    params_file: Path | None
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def feature_names(self) -> list[str]:
        return list(self.columns)

    def matrix(self, names: Sequence[str], rows: np.ndarray) -> np.ndarray:
        """Values of ``names`` (columns, in order) for the boolean row mask ``rows``; all finite."""
        missing = [n for n in names if n not in self.columns]
        if missing:
            raise InputError(f"{self.path}: the table lacks feature column(s) {missing[:10]}")
        x = np.column_stack([self.columns[n][rows] for n in names]) if names else np.empty((rows.sum(), 0))
        bad_rows, bad_cols = np.nonzero(~np.isfinite(x))
        if bad_rows.size:
            case = str(np.asarray(self.case_ids)[rows][bad_rows[0]])
            raise InputError(
                f"{self.path}: column {names[bad_cols[0]]!r} has a missing or non-finite value for case "
                f"{case!r} ({bad_rows.size} such value(s)); impute or remove it"
            )
        return x


@dataclass
class RunResult:
    """Files written by :func:`train_models` or :func:`evaluate_models` and the metrics document.

    ``fitted`` holds the fitted scikit-learn pipelines after training (empty after evaluation).
    """

    metrics: dict[str, Any]
    bundles: dict[str, Path]
    paths: dict[str, Path]
    fitted: dict[str, FittedModel] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """A plain-text summary: models, the paper's table, DeLong comparisons, written files."""
        m = self.metrics
        out = [
            f"{m['cohort']['n']} cases ({m['cohort']['n_positive']} positive) from {m['data']['features_table']}"
        ]
        if m["cohort"]["ceiling_auc"] is not None:
            out.append(f"ceiling AUC (true probabilities): {m['cohort']['ceiling_auc']:.3f}")
        for name, model in m["models"].items():
            out.append(
                f"{name}: {model['model_id']}, {len(model['selected_features'])} of {model['n_candidates']} "
                f"candidate features selected, threshold {model['threshold']:.3f}"
            )

        def number(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        rows = [
            [r["model"], r["set"], number(r["auc"]), f"{number(r['auc_ci_low'])}-{number(r['auc_ci_high'])}"]
            + [number(r[k]) for k in ("sensitivity", "specificity", "accuracy")]
            for r in m["paper_table"]
        ]
        header = ["model", "set", "AUC", "95% CI", "sensitivity", "specificity", "accuracy"]
        out += ["", format_table(header, rows), ""]
        comparisons = [
            [s, f"{c['model_a']} vs {c['model_b']}", *(number(c[k]) for k in _COMPARISON_COLUMNS)]
            for s, items in m["comparisons"].items()
            for c in items
        ]
        if comparisons:
            header = ["set", "DeLong", "AUC difference", "Z", "p two-sided", "p one-sided (A > B)"]
            out += [format_table(header, comparisons), ""]
        out += [f"written: {path}" for key, path in self.paths.items() if not key.startswith("figure_")]
        out += [f"model: {path}" for path in self.bundles.values()]
        return out


# --------------------------------------------------------------------------- reading a table


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_csv_columns(path: Path) -> dict[str, list[str]]:
    if not path.is_file():
        raise InputError(f"feature table {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{path} is not a UTF-8 CSV file: {error}") from error
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not rows[0]:
        raise InputError(f"{path} is empty; expected a header row and one row per case")
    header, body = [name.strip() for name in rows[0]], [r for r in rows[1:] if r]
    duplicates = sorted({n for n in header if header.count(n) > 1})
    if duplicates:
        raise InputError(f"{path}: column name(s) {duplicates[:5]} appear more than once")
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise InputError(f"{path}, line {line}: {len(row)} values for {len(header)} columns")
    if not body:
        raise InputError(f"{path} has a header but no cases")
    return {name: [row[i].strip() for row in body] for i, name in enumerate(header)}


def _parse_labels(path: Path, column: str, values: list[str], case_ids: list[str]) -> np.ndarray:
    labels = np.zeros(len(values), dtype=int)
    for i, value in enumerate(values):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if number not in (0.0, 1.0):
            found = sorted({v for v in values if v not in ("0", "1", "0.0", "1.0")})
            raise InputError(
                f"{path}: column {column!r} must hold 0 (no expansion) or 1 (expansion); found "
                f"{found[:5]} (e.g. case {case_ids[i]!r})"
            )
        labels[i] = int(number)
    return labels


def _parse_features(
    path: Path, raw: Mapping[str, list[str]], skip: set[str], case_ids: list[str]
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Numeric columns become features (empty cells: NaN); wholly non-numeric ones are ignored."""
    columns: dict[str, np.ndarray] = {}
    ignored: list[str] = []
    for name, values in raw.items():
        if name in skip:
            continue
        if not name or name.startswith(_DIAGNOSTICS_PREFIX):
            ignored.append(name)  # an unnamed index column, or pyradiomics diagnostics (provenance)
            continue
        parsed = np.full(len(values), np.nan)
        failed = []
        for i, value in enumerate(values):
            try:
                parsed[i] = float(value) if value else np.nan
            except ValueError:
                failed.append(i)
        if len(failed) == len(values) or not any(values):  # text (paths, notes) or empty
            ignored.append(name)
        elif failed:
            i = failed[0]
            raise InputError(
                f"{path}: column {name!r} holds the non-numeric value {values[i]!r} for case "
                f"{case_ids[i]!r}; fix the value or remove the column"
            )
        else:
            columns[name] = parsed
    if ignored:
        logger.info("%s: ignored non-feature column(s) %s", path, ignored[:10])
    return columns, ignored


def _radiomics_identity_from_params(params_file: Path) -> dict[str, Any]:
    import radiomics

    from ..features.radiomics import RADIOMICS_GRID

    # pyradiomics run on the files uses their acquired grid, as our extraction does (up to axis order).
    return {
        "pyradiomics_version": radiomics.__version__,
        "radiomics_params_sha256": _sha256(params_file),
        "radiomics_grid": RADIOMICS_GRID,
    }


def _find_params_file(
    table_path: Path, provenance: Mapping[str, Any] | None, identity: Mapping[str, Any]
) -> Path | None:
    """The radiomics parameter file whose hash the identity records: beside the table or bundled."""
    from ..features.radiomics import default_params_path, find_params_file, params_candidates

    wanted = identity.get("radiomics_params_sha256")
    if not wanted:
        return None
    extraction = (provenance or {}).get("extraction") or {}
    names = [n for n in (extraction.get("radiomics_params_file"), default_params_path().name) if n]
    folders = [table_path.parent, default_params_path().parent]
    named = [folder / name for folder in folders for name in names]
    found = find_params_file(wanted, [*named, *params_candidates([default_params_path().parent])])
    if found is None:
        logger.warning(
            "no radiomics parameter file with SHA-256 %s was found; bundles will not hold one", wanted
        )
    return found


def _extractor_identity(
    table_path: Path, provenance_path: Path | str | None, radiomics_params: Path | str | None
) -> tuple[Path | None, dict[str, Any] | None, dict[str, Any], Path | None]:
    """(provenance file, provenance, extractor identity, radiomics parameter file) of a table."""
    explicit = provenance_path is not None
    provenance_file = Path(provenance_path) if explicit else table_path.parent / PROVENANCE_FILE
    params_file = Path(radiomics_params) if radiomics_params is not None else None
    if params_file is not None and not params_file.is_file():
        raise InputError(f"radiomics parameter file {params_file} does not exist")
    if not provenance_file.is_file():
        if explicit:
            raise InputError(f"provenance file {provenance_file} does not exist")
        if params_file is None:
            raise InputError(
                f"{table_path} has no {PROVENANCE_FILE} beside it: give the pyradiomics parameter file "
                "the features were computed with (--radiomics-params YAML); deep and fused models "
                "need a table from extract-cohort"
            )
        return None, None, _radiomics_identity_from_params(params_file), params_file
    try:
        provenance = json.loads(provenance_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{provenance_file} is not valid JSON: {error}") from error
    identity = provenance.get("extractor_identity") if isinstance(provenance, dict) else None
    if not isinstance(identity, dict):
        raise InputError(f"{provenance_file} holds no 'extractor_identity'; re-run extract-cohort")
    if params_file is None:
        params_file = _find_params_file(table_path, provenance, identity)
    else:
        recorded = identity.get("radiomics_params_sha256")
        if recorded is not None and _sha256(params_file) != recorded:
            raise InputError(
                f"radiomics parameter file {params_file} (SHA-256 {_sha256(params_file)}) is not the "
                f"one the features were computed with ({provenance_file} records {recorded})"
            )
    return provenance_file, provenance, dict(identity), params_file


def read_feature_table(
    path: Path | str,
    label_column: str = "label",
    split_column: str = "split",
    provenance_path: Path | str | None = None,
    radiomics_params: Path | str | None = None,
) -> FeatureTable:
    """Read and check a feature table and the identity of the extractor that computed it.

    The provenance is ``provenance_path`` or ``features_provenance.json`` beside the table.
    Without one, ``radiomics_params`` (the pyradiomics parameter file the features were
    computed with) is required: its SHA-256 and the installed pyradiomics version become the
    identity. With both, the file's hash must match the provenance.
    """
    path = Path(path)
    raw = _read_csv_columns(path)
    if label_column not in raw:
        raise InputError(
            f"{path}: no label column {label_column!r} (columns: {list(raw)[:8]}...); "
            "name the 0/1 outcome column with --label-column"
        )
    n_rows = len(raw[label_column])
    case_ids = raw["case_id"] if "case_id" in raw else [f"row{i + 2}" for i in range(n_rows)]
    labels = _parse_labels(path, label_column, raw[label_column], case_ids)
    split = np.asarray(raw[split_column], dtype=str) if split_column in raw else None
    skip = {label_column, split_column, *METADATA_COLUMNS}
    columns, ignored = _parse_features(path, raw, skip, case_ids)
    if not columns:
        raise InputError(f"{path} has no numeric feature columns")

    provenance_file, provenance, identity, params_file = _extractor_identity(
        path, provenance_path, radiomics_params
    )
    return FeatureTable(
        path=path,
        sha256=_sha256(path),
        label_column=label_column,
        split_column=split_column,
        case_ids=case_ids,
        labels=labels,
        split=split,
        columns=columns,
        provenance=provenance,
        provenance_path=provenance_file,
        identity=identity,
        params_file=params_file,
        ignored_columns=ignored,
    )


def _require_both_classes(table: FeatureTable, rows: np.ndarray, what: str) -> None:
    classes = sorted(set(table.labels[rows].tolist()))
    if classes != [0, 1]:
        raise InputError(
            f"{table.path}: column {table.label_column!r} has only class(es) {classes} among the "
            f"{int(rows.sum())} {what}; training and evaluation need both 0 and 1"
        )


def training_sets(
    table: FeatureTable, train_value: str = "train", test_value: str = "test", seed: int = 2024
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Row masks of the 'train' and 'test' sets and how they were made.

    From the split column when the table has one (every value must be ``train_value`` or
    ``test_value``), else a stratified 80/20 split seeded by ``seed``.
    """
    if table.split is None:
        try:
            split = np.asarray(assign_split(table.labels.tolist(), seed=seed, test_fraction=0.2))
        except InputError as error:
            raise InputError(f"{table.path} has no {table.split_column!r} column and {error}") from error
        info: dict[str, Any] = {"source": "stratified", "seed": seed, "test_fraction": 0.2}
        train, test = split == "train", split == "test"
    else:
        train, test = table.split == train_value, table.split == test_value
        other = sorted(set(table.split[~(train | test)].tolist()))
        if other:
            raise InputError(
                f"{table.path}: column {table.split_column!r} must hold {train_value!r} or {test_value!r}, "
                f"found {other[:5]}; set --train-value/--test-value"
            )
        info = {"source": "table", "column": table.split_column}
    for name, rows in (("train", train), ("test", test)):
        _require_both_classes(table, rows, f"{name} rows")
    info.update(n_train=int(train.sum()), n_test=int(test.sum()))
    return {"train": train, "test": test}, info


# --------------------------------------------------------------------------- statistics


def _plain(value: Any) -> Any:
    """JSON-ready copy: dataclasses/arrays/numpy scalars to lists and numbers, NaN/inf to None."""
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def set_metrics(y: np.ndarray, prob: np.ndarray, threshold: float) -> dict[str, Any]:
    """Every number of one model on one set of cases (JSON-ready)."""
    cal = calibration(y, prob, n_bins=CALIBRATION_BINS, strategy="quantile")
    roc = roc_curve_points(y, prob)
    return _plain(
        {
            "n": len(y),
            "n_positive": int(np.sum(y)),
            "auc": delong_ci(y, prob),
            "threshold": threshold,
            "threshold_metrics": threshold_metrics(y, prob, threshold),
            "calibration": cal,
            "roc": {"fpr": roc.fpr, "tpr": roc.tpr},
        }
    )


def comparison_pairs(kinds: Mapping[str, str]) -> list[tuple[str, str]]:
    """Pairs of model names to compare: the paper's kind pairs, or all pairs if kinds repeat."""
    names = list(kinds)
    if len(set(kinds.values())) == len(names):
        by_kind = {kind: name for name, kind in kinds.items()}
        return [(by_kind[a], by_kind[b]) for a, b in KIND_COMPARISONS if a in by_kind and b in by_kind]
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]


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
        comparisons[set_name] = []
        for a, b in comparison_pairs(kinds):
            test = delong_test(
                y, probabilities[a][set_name], probabilities[b][set_name], alternative="greater"
            )
            record = _plain(test)
            record.pop("covariance")
            record.update(model_a=a, model_b=b, n=len(y), n_positive=int(np.sum(y)))
            record["one_sided_hypothesis"] = f"H1: AUC({a}) > AUC({b})"
            comparisons[set_name].append(record)
        dca = {name: decision_curve(y, probabilities[name][set_name]) for name in probabilities}
        first = next(iter(dca.values()))
        curves[set_name] = _plain(
            {
                "thresholds": first.thresholds,
                "prevalence": first.prevalence,
                "treat_all": first.net_benefit_all,
                "treat_none": first.net_benefit_none,
                "models": {name: curve.net_benefit_model for name, curve in dca.items()},
            }
        )
    table = [
        {
            "model": name,
            "set": set_name,
            "auc": m["auc"]["auc"],
            "auc_ci_low": m["auc"]["ci_low"],
            "auc_ci_high": m["auc"]["ci_high"],
            **{
                k: m["threshold_metrics"][k]["value"]
                for k in ("sensitivity", "specificity", "accuracy", "ppv", "npv")
            },
        }
        for name in probabilities
        for set_name, m in models[name].items()
    ]
    return {"models": models, "comparisons": comparisons, "decision_curves": curves, "paper_table": table}


# --------------------------------------------------------------------------- training


def _cohort_summary(
    table: FeatureTable, sets: Mapping[str, np.ndarray], split_info: Mapping[str, Any]
) -> dict[str, Any]:
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


def _check_kinds(table: FeatureTable, kinds: Sequence[str]) -> None:
    unknown = [k for k in kinds if k not in MODEL_KINDS]
    if unknown or not kinds:
        raise InputError(f"model kinds must be among {list(MODEL_KINDS)}, got {list(kinds)}")
    for kind in kinds:
        if "deep" in FAMILIES_BY_KIND[kind] and table.provenance is None:
            raise InputError(
                f"a {kind} model needs the deep extractor identity (backbone, slices, window) that only "
                f"a features_provenance.json from extract-cohort records; {table.path} has none: "
                "train with --kinds radiomics or extract the features with extract-cohort"
            )
        missing = [k for k in identity_keys(FAMILIES_BY_KIND[kind]) if table.identity.get(k) is None]
        if missing:
            raise InputError(
                f"the provenance of {table.path} lacks {missing} needed by a {kind} model; features from "
                f"an older version cannot be told apart: re-run extract-cohort with this version ({__version__})"
            )
        families = {feature_family(n) for n in features_for_kind(table.feature_names, kind)}
        if families != set(FAMILIES_BY_KIND[kind]):
            raise InputError(
                f"{table.path} has no {' or '.join(sorted(set(FAMILIES_BY_KIND[kind]) - families))} feature "
                f"columns for a {kind} model (deep features are named 'deep_*')"
            )


def _model_summary(bundle: ModelBundle) -> dict[str, Any]:
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


def _checked_ceiling(ceiling_auc: float | None) -> float | None:
    """The best AUC any model can reach on the cohort (given by the user), checked."""
    if ceiling_auc is not None and not 0.0 <= ceiling_auc <= 1.0:
        raise InputError(f"the ceiling AUC must lie in [0, 1], got {ceiling_auc}")
    return ceiling_auc


def _copy_params(params_file: Path | None, folder: Path) -> dict[str, str] | None:
    if params_file is None:
        return None
    data = params_file.read_bytes()
    write_bytes_atomic(folder / params_file.name, data)
    return {"file": params_file.name, "sha256": hashlib.sha256(data).hexdigest()}


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


def _finish(
    out: Path,
    metrics: dict[str, Any],
    table: FeatureTable,
    sets: Mapping[str, np.ndarray],
    probabilities: Mapping[str, Mapping[str, np.ndarray]],
    bundles: Mapping[str, ModelBundle],
) -> RunResult:
    from ..reports.training_report import write_report

    document = _plain(metrics)
    paths = {"predictions": _write_predictions(out / PREDICTIONS_FILE, table, sets, probabilities)}
    paths["metrics"] = write_json_atomic(out / METRICS_FILE, document)
    paths.update(write_report(document, bundles, out))
    return RunResult(document, {name: b.folder for name, b in bundles.items()}, paths)


def train_models(
    table: FeatureTable,
    out_dir: Path | str,
    kinds: Sequence[str] = MODEL_KINDS,
    config: TrainingConfig | None = None,
    train_value: str = "train",
    test_value: str = "test",
    model_id_prefix: str = DEFAULT_MODEL_ID_PREFIX,
    ceiling_auc: float | None = None,
    intended_use: str | None = None,
) -> RunResult:
    """Fit each kind on the training rows, evaluate on train and test, write bundles and report.

    Bundles go to ``OUT/<prefix>-<kind>/``; ``OUT/metrics.json``, ``OUT/predictions.csv``,
    ``OUT/report.html`` and ``OUT/figures/*.png`` hold the evaluation. Test rows reach only
    the prediction step, never a fit. ``intended_use`` is shown with each model (card ``extra``).
    """
    config = config or TrainingConfig()
    kinds = list(dict.fromkeys(kinds))
    _check_kinds(table, kinds)
    sets, split_info = training_sets(table, train_value, test_value, config.seed)
    out = Path(out_dir)
    labels = {name: table.labels[rows] for name, rows in sets.items()}
    fit_table: dict[str, Any] = {
        **table.columns,
        table.label_column: table.labels,
        table.split_column: np.where(sets["train"], "train", "test"),
    }

    fitted: dict[str, FittedModel] = {}
    probabilities: dict[str, dict[str, np.ndarray]] = {}
    for kind in kinds:
        names = features_for_kind(table.feature_names, kind)
        table.matrix(names, np.ones(len(table.labels), dtype=bool))  # every value finite
        logger.info("fitting the %s model on %d training rows", kind, int(sets["train"].sum()))
        model = fit_on_split(fit_table, names, kind, config, table.label_column, table.split_column, "train")
        fitted[kind] = model
        probabilities[kind] = {s: model.predict_proba(table.matrix(names, rows)) for s, rows in sets.items()}

    evaluation = evaluate_predictions(
        labels, probabilities, {k: m.threshold_ for k, m in fitted.items()}, {k: k for k in kinds}
    )
    cohort = _cohort_summary(table, sets, split_info)
    cohort["ceiling_auc"] = _checked_ceiling(ceiling_auc)
    bundles: dict[str, ModelBundle] = {}
    max_difference: dict[str, float] = {}
    for kind, model in fitted.items():
        model_id = f"{model_id_prefix}-{kind}"
        folder = out / model_id
        extra: dict[str, Any] = {
            "extractor": {k: table.identity[k] for k in identity_keys(FAMILIES_BY_KIND[kind])},
            "metrics": _card_metrics(evaluation, kind, ceiling_auc),
            "training_cohort": {
                **{k: v for k, v in cohort.items() if k not in ("n", "n_positive")},
                "features_table": table.path.name,
                "features_sha256": table.sha256,
            },
        }
        if intended_use:
            extra["intended_use"] = intended_use
        if RADIOMICS_IDENTITY_KEYS[0] in extra["extractor"]:
            params = _copy_params(table.params_file, folder)
            if params:
                extra["radiomics_params"] = params
        save_bundle(model, folder, model_id, extra)
        bundle = load_bundle(folder)
        bundles[kind] = bundle
        max_difference[kind] = max(
            float(
                np.max(
                    np.abs(
                        bundle.predict_proba(table.matrix(bundle.input_features, rows))
                        - probabilities[kind][s]
                    )
                )
            )
            for s, rows in sets.items()
        )
        if max_difference[kind] > BUNDLE_TOLERANCE:
            raise ModelError(
                f"bundle {folder} predicts up to {max_difference[kind]:.3g} away from the fitted model; "
                "this is a bug, please report it"
            )

    metrics = {
        "metrics_schema": METRICS_SCHEMA_VERSION,
        "command": "train",
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": _data_summary(table),
        "provenance": {
            "versions": software_versions(("numpy", "scipy", "scikit-learn", "matplotlib")),
            "seed": config.seed,
            "training_config": config.as_dict(),
        },
        "cohort": cohort,
        "models": {
            kind: {
                **_model_summary(bundles[kind]),
                "bundle_max_abs_difference": max_difference[kind],
                "warnings": fitted[kind].warnings,
                "sets": evaluation["models"][kind],
            }
            for kind in kinds
        },
        **{k: evaluation[k] for k in ("comparisons", "decision_curves", "paper_table")},
    }
    result = _finish(out, metrics, table, sets, probabilities, bundles)
    result.fitted = fitted
    return result


def evaluate_models(
    bundle_dirs: Sequence[Path | str],
    table: FeatureTable,
    out_dir: Path | str,
    split: str = "test",
    ceiling_auc: float | None = None,
) -> RunResult:
    """Predict the rows of ``table`` whose split is ``split`` (or ``"all"``) with saved bundles.

    Each bundle's extractor identity is checked against the table's; the metrics and report
    are those of :func:`train_models` for one set of cases.
    """
    if not bundle_dirs:
        raise InputError("give at least one model folder (--models)")
    bundles_list = [load_bundle(d) for d in bundle_dirs]
    for bundle in bundles_list:
        bundle.check_extractor(table.identity)
    kinds_list = [b.kind for b in bundles_list]
    unique_kinds = len(set(kinds_list)) == len(kinds_list)
    bundles = {(b.kind if unique_kinds else b.model_id): b for b in bundles_list}
    if len(bundles) != len(bundles_list):
        raise InputError("the model folders hold the same model id more than once")
    if split == "all":
        rows = np.ones(len(table.labels), dtype=bool)
    elif table.split is None:
        raise InputError(f"{table.path} has no {table.split_column!r} column; use --split all")
    else:
        rows = table.split == split
        if not rows.any():
            raise InputError(f"{table.path}: no row has {table.split_column}={split!r}")
    _require_both_classes(table, rows, f"rows of split {split!r}")
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
    cohort = _cohort_summary(table, sets, {"source": "evaluate", "split": split})
    cohort["ceiling_auc"] = _checked_ceiling(ceiling_auc)
    seeds = sorted({b.card["training_config"]["seed"] for b in bundles_list})
    metrics = {
        "metrics_schema": METRICS_SCHEMA_VERSION,
        "command": "evaluate",
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": _data_summary(table),
        "provenance": {
            "versions": software_versions(("numpy", "scipy", "scikit-learn", "matplotlib")),
            "seed": seeds[0] if len(seeds) == 1 else seeds,
        },
        "cohort": cohort,
        "models": {
            name: {**_model_summary(b), "sets": evaluation["models"][name]} for name, b in bundles.items()
        },
        **{k: evaluation[k] for k in ("comparisons", "decision_curves", "paper_table")},
    }
    return _finish(Path(out_dir), metrics, table, sets, probabilities, bundles)

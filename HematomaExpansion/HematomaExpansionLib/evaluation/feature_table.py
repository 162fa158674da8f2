"""Feature tables: a CSV with one row per case, read and checked, with the extractor identity of its features.

A feature table has a label column (0/1), optionally a split column (train/test), metadata
(``case_id``, ``baseline_volume_ml``, ``followup_volume_ml``) and numeric feature columns
(pyradiomics keys, ``deep_*`` and clinical covariates ``clinical_*``, see :mod:`features.clinical`).
``extract-cohort`` writes one, with ``features_provenance.json``
beside it; a table exported elsewhere (e.g. from SlicerRadiomics) works too when the radiomics
parameter file is given, for radiomics-only models.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..cohort.feature_table import PROVENANCE_FILE
from ..cohort.labels import assign_split
from ..common.errors import InputError
from ..common.hashing import sha256_file
from ..features.clinical import IDENTITY_KEY, CovariateSpec, covariate_identity, is_clinical, spec_for_column
from .leakage import check_unique_case_ids

logger = logging.getLogger(__name__)

METADATA_COLUMNS = ("case_id", "baseline_volume_ml", "followup_volume_ml")
_DIAGNOSTICS_PREFIX = "diagnostics_"


@dataclass
class FeatureTable:
    """A feature table read from CSV, with the extractor identity of its features.

    ``columns`` maps each feature name to its values (table order); ``split`` holds the raw
    values of the split column (None when the table has none). ``provenance`` is the
    ``features_provenance.json`` document (None for a table without one); ``identity`` the
    extractor identity (from the provenance, or pyradiomics version + parameter-file hash).
    ``baseline_volume_ml`` holds the baseline hematoma volumes (NaN where empty; None without
    that column). ``clinical`` holds the specs of the covariate columns (``clinical_*``), whose
    identity is ``identity["clinical_covariates"]``.
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
    baseline_volume_ml: np.ndarray | None = None
    clinical: list[CovariateSpec] = field(default_factory=list)

    @property
    def feature_names(self) -> list[str]:
        """The feature column names, in table order."""
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
            name = names[bad_cols[0]]
            hint = "fill it in or train with --impute median" if is_clinical(name) else "impute or remove it"
            raise InputError(
                f"{self.path}: column {name!r} has a missing or non-finite value for case "
                f"{case!r} ({bad_rows.size} such value(s)); {hint}"
            )
        return x


def _read_csv_columns(path: Path) -> tuple[dict[str, list[str]], list[int]]:
    """The columns of a CSV file (name -> stripped cell texts) and the line number of each row."""
    if not path.is_file():
        raise InputError(f"feature table {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{path} is not a UTF-8 CSV file: {error}") from error
    reader = csv.reader(io.StringIO(text))
    rows = [(reader.line_num, row) for row in reader]
    if not rows or not rows[0][1]:
        raise InputError(f"{path} is empty; expected a header row and one row per case")
    header = [name.strip() for name in rows[0][1]]
    lines = [line for line, row in rows[1:] if row]
    body = [row for _, row in rows[1:] if row]
    duplicates = sorted({n for n in header if header.count(n) > 1})
    if duplicates:
        raise InputError(f"{path}: column name(s) {duplicates[:5]} appear more than once")
    for line, row in zip(lines, body, strict=True):
        if len(row) != len(header):
            raise InputError(f"{path}, line {line}: {len(row)} values for {len(header)} columns")
    if not body:
        raise InputError(f"{path} has a header but no cases")
    return {name: [row[i].strip() for row in body] for i, name in enumerate(header)}, lines


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


def _parse_numbers(values: list[str]) -> tuple[np.ndarray, list[int]]:
    """The cells as floats (empty: NaN) and the indices of the cells that are not numbers."""
    parsed = np.full(len(values), np.nan)
    failed = []
    for i, value in enumerate(values):
        try:
            parsed[i] = float(value) if value else np.nan
        except ValueError:
            failed.append(i)
    return parsed, failed


def _non_numeric_error(path: Path, name: str, value: str, case_id: str) -> InputError:
    return InputError(
        f"{path}: column {name!r} holds the non-numeric value {value!r} for case "
        f"{case_id!r}; fix the value or remove the column"
    )


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
        parsed, failed = _parse_numbers(values)
        if len(failed) == len(values) or not any(values):  # text (paths, notes) or empty
            ignored.append(name)
        elif failed:
            raise _non_numeric_error(path, name, values[failed[0]], case_ids[failed[0]])
        else:
            columns[name] = parsed
    if ignored:
        logger.info("%s: ignored non-feature column(s) %s", path, ignored[:10])
    return columns, ignored


def _parse_volumes(path: Path, raw: Mapping[str, list[str]], case_ids: list[str]) -> np.ndarray | None:
    """The ``baseline_volume_ml`` column (empty cells: NaN), None without one; values must be >= 0."""
    if "baseline_volume_ml" not in raw:
        return None
    values = raw["baseline_volume_ml"]
    volumes, failed = _parse_numbers(values)
    if failed:
        raise _non_numeric_error(path, "baseline_volume_ml", values[failed[0]], case_ids[failed[0]])
    wrong = np.flatnonzero((volumes < 0) | np.isinf(volumes))
    if wrong.size:
        raise InputError(
            f"{path}: column 'baseline_volume_ml' holds {values[wrong[0]]} for case {case_ids[wrong[0]]!r}; "
            "a volume in mL must be a finite number >= 0 (or empty)"
        )
    return volumes


def _clinical_specs(
    path: Path, columns: Mapping[str, np.ndarray], case_ids: list[str]
) -> list[CovariateSpec]:
    """The specs of the covariate columns; a value outside a covariate's range names case and column."""
    specs = [spec_for_column(name, values.tolist()) for name, values in columns.items() if is_clinical(name)]
    for spec in specs:
        values = columns[spec.name]
        for i in np.flatnonzero(np.isfinite(values)):
            problem = spec.problem(float(values[i]))
            if problem:
                raise InputError(
                    f"{path}: column {spec.name!r}, case {case_ids[i]!r}: {problem}; fix the value"
                )
    return specs


def impute_covariates(
    table: FeatureTable, train_rows: np.ndarray, method: str = "median"
) -> tuple[FeatureTable, dict[str, Any]]:
    """A copy of ``table`` whose missing covariate values are the training rows' median; the record.

    Only ``clinical_*`` columns are imputed (a missing imaging feature is an extraction failure).
    A binary covariate gets its more frequent training value (ties: 1). The record (method,
    values, counts per set) goes into the model card's ``extra.imputation``.
    """
    if method != "median":
        raise InputError(f"imputation method must be 'median', not {method!r}")
    columns, values, counts = dict(table.columns), {}, {}
    for spec in table.clinical:
        column = table.columns[spec.name]
        missing = ~np.isfinite(column)
        if not missing.any():
            continue
        known = column[train_rows & ~missing]
        if not known.size:
            raise InputError(f"{table.path}: column {spec.name!r} has no training value to impute from")
        value = float(np.median(known))
        value = float(value >= 0.5) if spec.kind == "binary" else value
        columns[spec.name] = np.where(missing, value, column)
        values[spec.name] = value
        counts[spec.name] = {
            "train": int((missing & train_rows).sum()),
            "other": int((missing & ~train_rows).sum()),
        }
    for name, count in counts.items():
        logger.warning("%s: imputed %s missing value(s) of %s with %g", table.path, count, name, values[name])
    record = {"method": method, "values": values, "n_imputed": counts, "from": "training rows"}
    return replace(table, columns=columns), record


def _radiomics_identity_from_params(params_file: Path) -> dict[str, Any]:
    from ..features.radiomics import radiomics_identity

    return radiomics_identity(sha256_file(params_file))


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
        if recorded is not None and sha256_file(params_file) != recorded:
            raise InputError(
                f"radiomics parameter file {params_file} (SHA-256 {sha256_file(params_file)}) is not the "
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
    raw, lines = _read_csv_columns(path)
    if label_column not in raw:
        raise InputError(
            f"{path}: no label column {label_column!r} (columns: {list(raw)[:8]}...); "
            "name the 0/1 outcome column with --label-column"
        )
    n_rows = len(raw[label_column])
    case_ids = raw["case_id"] if "case_id" in raw else [f"row{i + 2}" for i in range(n_rows)]
    check_unique_case_ids(path, case_ids, lines)
    labels = _parse_labels(path, label_column, raw[label_column], case_ids)
    split = np.asarray(raw[split_column], dtype=str) if split_column in raw else None
    skip = {label_column, split_column, *METADATA_COLUMNS}
    columns, ignored = _parse_features(path, raw, skip, case_ids)
    if not columns:
        raise InputError(f"{path} has no numeric feature columns")
    baseline = _parse_volumes(path, raw, case_ids)

    provenance_file, provenance, identity, params_file = _extractor_identity(
        path, provenance_path, radiomics_params
    )
    clinical = _clinical_specs(path, columns, case_ids)
    if clinical:
        identity[IDENTITY_KEY] = covariate_identity(clinical)
    return FeatureTable(
        path=path,
        sha256=sha256_file(path),
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
        baseline_volume_ml=baseline,
        clinical=clinical,
    )


def require_both_classes(table: FeatureTable, rows: np.ndarray, what: str) -> None:
    """Raise InputError unless the labels of ``rows`` (described by ``what``) hold both 0 and 1."""
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
        require_both_classes(table, rows, f"{name} rows")
    info.update(n_train=int(train.sum()), n_test=int(test.sum()))
    return {"train": train, "test": test}, info

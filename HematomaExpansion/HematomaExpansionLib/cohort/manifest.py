"""A cohort for training: the manifest, expansion labels, the train/test split and its feature table.

Manifest (CSV, UTF-8): one row per case with the columns

- ``case_id`` (letters, digits, '.', '_', '-'; unique ignoring case), ``ct`` (file or DICOM folder)
  and ``hematoma`` (segmentation or labelmap file), required;
- ``segment``: the hematoma segment's name, ID or label value (used for the follow-up file too);
- ``label``: 1 expansion, 0 none; when empty, it is computed from the baseline hematoma volume
  (measured) and the follow-up volume, given as ``followup_volume_ml`` or measured on
  ``followup_hematoma`` (a segmentation, in its own geometry), by an :class:`ExpansionDefinition`;
- ``split``: ``train`` or ``test``; when the column is absent, a stratified 80/20 split is drawn
  with a recorded seed.

Paths are relative to the manifest's folder (absolute paths are kept). Other columns are kept as
metadata. Feature extraction of the cohort is :mod:`cohort_extraction`; this module stays light
(no imaging or deep-learning imports) so that cohort generators and training can use it.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cohort.runner import CASE_ID_PATTERN
from ..common.errors import InputError

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("case_id", "ct", "hematoma")
OPTIONAL_COLUMNS = ("segment", "label", "followup_hematoma", "followup_volume_ml", "split")
SPLITS = ("train", "test")
TABLE_COLUMNS = ("case_id", "split", "label", "baseline_volume_ml", "followup_volume_ml")
FEATURES_FILE = "features.csv"
PROVENANCE_FILE = "features_provenance.json"
# Growth exactly at a threshold counts as expansion despite floating-point rounding of the inputs.
_THRESHOLD_TOLERANCE = 1e-9
_EXPANSION_PATTERN = re.compile(r"\s*(\d+(?:\.\d*)?)\s*ml\s*/\s*(\d+(?:\.\d*)?)\s*%\s*", re.IGNORECASE)


@dataclass(frozen=True)
class CohortCase:
    """One manifest row with absolute paths and parsed values (None where not given)."""

    case_id: str
    ct: Path
    hematoma: Path
    segment: str | None = None
    label: int | None = None
    followup_hematoma: Path | None = None
    followup_volume_ml: float | None = None
    split: str | None = None
    line: int = 0
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def has_followup(self) -> bool:
        """True when a follow-up volume or follow-up segmentation is given."""
        return self.followup_hematoma is not None or self.followup_volume_ml is not None

    def input_files(self) -> dict[str, Path]:
        """Files a case's features depend on (the runner hashes them for its cache key)."""
        files = {"ct": self.ct, "hematoma": self.hematoma}
        if self.followup_hematoma is not None:
            files["followup_hematoma"] = self.followup_hematoma
        return files

    def key_fields(self) -> dict[str, Any]:
        """Other values a case's extraction depends on."""
        return {"segment": self.segment}


# --------------------------------------------------------------------------- manifest


class _Row:
    """Reads and checks the cells of one manifest row; errors name manifest, line and column."""

    def __init__(self, manifest: Path, line: int, values: dict[str, str]) -> None:
        self.manifest, self.line, self.values = manifest, line, values

    def error(self, column: str, problem: str) -> InputError:
        return InputError(f"manifest {self.manifest}, line {self.line}, column '{column}': {problem}")

    def text(self, column: str) -> str | None:
        value = (self.values.get(column) or "").strip()
        return value or None

    def path(self, column: str, required: bool = False, folder_ok: bool = False) -> Path | None:
        value = self.text(column)
        if value is None:
            if required:
                raise self.error(column, "is empty; give the path of the file (relative to the manifest)")
            return None
        path = Path(value).expanduser()
        path = path if path.is_absolute() else self.manifest.parent / path
        if not (path.is_file() or (folder_ok and path.is_dir())):
            raise self.error(column, f"file not found: {path}")
        return path

    def label(self) -> int | None:
        value = self.text("label")
        if value is None:
            return None
        if value not in ("0", "1"):
            raise self.error("label", f"must be 0 (no expansion) or 1 (expansion), not {value!r}")
        return int(value)

    def volume_ml(self, column: str) -> float | None:
        value = self.text(column)
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and number >= 0):
            raise self.error(column, f"must be a volume in mL >= 0, not {value!r}")
        return number

    def split(self) -> str | None:
        value = self.text("split")
        if value is None or value.lower() not in SPLITS:
            raise self.error("split", f"must be 'train' or 'test', not {value or '(empty)'!r}")
        return value.lower()


def read_manifest(path: Path | str, require_labels: bool = False) -> list[CohortCase]:
    """Read and validate a cohort manifest (see the module docstring).

    With ``require_labels`` every row needs a ``label``, a ``followup_hematoma`` or a
    ``followup_volume_ml``. Raises InputError naming the manifest, line and column of a problem.
    """
    manifest = Path(path).expanduser().resolve()
    if not manifest.is_file():
        raise InputError(f"manifest not found: {manifest}")
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"manifest {manifest} cannot be read as UTF-8 text: {error}") from error
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InputError(
            f"manifest {manifest}, line 1: missing required column(s) {', '.join(repr(c) for c in missing)}; "
            f"found {', '.join(repr(c) for c in header) or 'no columns'}"
        )
    reader.fieldnames = header
    has_split = "split" in header
    cases: list[CohortCase] = []
    first_line: dict[str, int] = {}
    for values in reader:
        row = _Row(manifest, reader.line_num, values)
        case_id = row.text("case_id")
        if case_id is None or not CASE_ID_PATTERN.fullmatch(case_id):
            raise row.error(
                "case_id",
                f"{case_id or '(empty)'!r} is not a valid case ID: use letters, digits, '.', '_' and '-', "
                "starting with a letter or digit",
            )
        if case_id.lower() in first_line:
            raise row.error(
                "case_id",
                f"duplicate case_id {case_id!r} (first on line {first_line[case_id.lower()]}; "
                "IDs are compared ignoring case)",
            )
        first_line[case_id.lower()] = row.line
        case = CohortCase(
            case_id=case_id,
            ct=row.path("ct", required=True, folder_ok=True),
            hematoma=row.path("hematoma", required=True),
            segment=row.text("segment"),
            label=row.label(),
            followup_hematoma=row.path("followup_hematoma"),
            followup_volume_ml=row.volume_ml("followup_volume_ml"),
            split=row.split() if has_split else None,
            line=row.line,
            metadata={
                k: v or "" for k, v in values.items() if k not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS and k
            },
        )
        if case.followup_hematoma is not None and case.followup_volume_ml is not None:
            raise row.error(
                "followup_volume_ml", "give either followup_hematoma or followup_volume_ml, not both"
            )
        if require_labels and case.label is None and not case.has_followup:
            raise row.error(
                "label",
                "is empty and no follow-up is given: fill in label (0/1), followup_hematoma or "
                "followup_volume_ml",
            )
        cases.append(case)
    if not cases:
        raise InputError(f"manifest {manifest} lists no cases")
    return cases


# --------------------------------------------------------------------------- labels and split


@dataclass(frozen=True)
class ExpansionDefinition:
    """Hematoma expansion: growth from baseline to follow-up >= ``absolute_ml`` OR >= ``relative``.

    The default (6 mL or 33%) is the common definition; others in use include 12.5 mL or 26%.
    Growth exactly at a threshold counts as expansion.
    """

    absolute_ml: float = 6.0
    relative: float = 0.33

    def __post_init__(self) -> None:
        for name, value in (("absolute_ml", self.absolute_ml), ("relative", self.relative)):
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"expansion threshold {name} must be a number > 0, got {value}")

    @classmethod
    def parse(cls, text: str) -> ExpansionDefinition:
        """Parse "6ml/33%" or "12.5ml/26%" (absolute growth in mL / relative growth in %)."""
        match = _EXPANSION_PATTERN.fullmatch(text)
        if match is None:
            raise InputError(
                f"expansion definition {text!r} is not of the form '6ml/33%' "
                "(absolute growth in mL / relative growth in percent)"
            )
        return cls(absolute_ml=float(match.group(1)), relative=float(match.group(2)) / 100.0)

    def describe(self) -> str:
        """Human-readable rule, e.g. 'absolute growth >= 6 mL or relative growth >= 33%'."""
        return f"absolute growth >= {self.absolute_ml:g} mL or relative growth >= {100 * self.relative:g}%"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values, recorded with every labelled table."""
        return {"absolute_ml": self.absolute_ml, "relative": self.relative, "rule": self.describe()}

    def label(self, baseline_ml: float, followup_ml: float) -> int:
        """1 (expansion) or 0 from the baseline and follow-up hematoma volumes in mL."""
        if not (math.isfinite(baseline_ml) and baseline_ml > 0):
            raise InputError(f"the baseline hematoma volume must be > 0 mL, got {baseline_ml}")
        if not (math.isfinite(followup_ml) and followup_ml >= 0):
            raise InputError(f"the follow-up hematoma volume must be >= 0 mL, got {followup_ml}")
        growth_ml = followup_ml - baseline_ml
        absolute = growth_ml >= self.absolute_ml - _THRESHOLD_TOLERANCE
        relative = growth_ml / baseline_ml >= self.relative - _THRESHOLD_TOLERANCE
        return int(absolute or relative)


def assign_split(labels: Sequence[int], seed: int = 42, test_fraction: float = 0.2) -> list[str]:
    """Stratified random split: 'train' or 'test' per case, reproducible by ``seed``.

    The test set holds ``ceil(test_fraction * n)`` cases with the label proportions of the whole
    (scikit-learn's ``train_test_split``).
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise InputError(f"the test fraction must be between 0 and 1, got {test_fraction}")
    values = [int(v) for v in labels]
    counts = {label: values.count(label) for label in sorted(set(values))}
    if len(counts) < 2 or min(counts.values()) < 2:
        raise InputError(
            f"a stratified train/test split needs at least 2 cases of each label, found {counts}; "
            "add a 'split' column (train/test) to the manifest"
        )
    try:
        _, test = train_test_split(
            range(len(values)), test_size=test_fraction, stratify=values, random_state=seed
        )
    except ValueError as error:
        raise InputError(
            f"cannot split {len(values)} cases {counts} with test fraction {test_fraction}: {error}; "
            "add a 'split' column (train/test) to the manifest"
        ) from error
    test_set = set(test)
    return ["test" if i in test_set else "train" for i in range(len(values))]

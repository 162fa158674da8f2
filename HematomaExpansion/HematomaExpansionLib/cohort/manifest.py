"""The cohort manifest: one validated :class:`CohortCase` per row of a CSV file.

Manifest (CSV, UTF-8): one row per case with the columns

- ``case_id`` (letters, digits, '.', '_', '-'; unique ignoring case), ``ct`` (file or DICOM folder)
  and ``hematoma`` (segmentation or labelmap file), required;
- ``segment``: the hematoma segment's name, ID or label value (used for the follow-up file too);
- ``label``: 1 expansion, 0 none; when empty, it is computed from the baseline hematoma volume
  (measured) and the follow-up volume, given as ``followup_volume_ml`` or measured on
  ``followup_hematoma`` (a segmentation, in its own geometry), by an
  :class:`~.labels.ExpansionDefinition`;
- ``split``: ``train`` or ``test``; when the column is absent, a stratified 80/20 split is drawn
  with a recorded seed.

Paths are relative to the manifest's folder (absolute paths are kept). Columns named ``clinical_*``
are clinical covariates (numbers, 0/1 for yes/no; empty when unknown), carried into the feature
table unchanged and given to models that use them. Other columns are kept as metadata. Feature extraction of the cohort is :mod:`.extraction`; this module stays light (no
imaging or deep-learning imports) so that cohort generators and training can use it.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..common.errors import InputError
from ..features.clinical import is_clinical

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("case_id", "ct", "hematoma")
OPTIONAL_COLUMNS = ("segment", "label", "followup_hematoma", "followup_volume_ml", "split")
SPLITS = ("train", "test")
#: Case IDs name cache files: letters, digits, '.', '_' and '-', starting with a letter or digit.
CASE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


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

    @property
    def clinical(self) -> dict[str, str]:
        """The case's covariate cells (``clinical_*`` columns, as written), empty ones left out."""
        return {k: v.strip() for k, v in self.metadata.items() if is_clinical(k) and v.strip()}

    def key_fields(self) -> dict[str, Any]:
        """Other values a case's result depends on (the covariates only when the manifest has some)."""
        return {"segment": self.segment, **({"clinical": self.clinical} if self.clinical else {})}


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

    def check_covariates(self) -> None:
        for column, value in self.values.items():
            if column and is_clinical(column.strip()) and (value or "").strip():
                try:
                    number = float(value)
                except ValueError:
                    number = math.nan
                if not math.isfinite(number):
                    raise self.error(
                        column, f"a clinical covariate must be a number (0/1 for yes/no), not {value!r}"
                    )

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
        row.check_covariates()
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

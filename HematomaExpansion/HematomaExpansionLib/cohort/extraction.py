"""Feature extraction of a whole cohort: one job per manifest case, cached and resumable, one table.

The per-case job is passed in: :func:`HematomaExpansionLib.mrml.cohort_jobs.extract_case` loads a
case into a Slicer scene and runs the module's Logic, and ``mrml.cohort_jobs.extract_cohort`` is
:func:`extract_cohort` with that job. The result is the labelled, split feature table
(:mod:`.feature_table`) that ``train`` reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from .. import __version__
from ..common.atomic import write_csv_atomic, write_json_atomic
from ..common.errors import InputError
from ..common.versions import software_versions
from ..features.clinical import MEASURED_BASELINE_VOLUME, is_clinical
from ..features.families import ExtractionConfig
from .cache import path_sha256
from .feature_table import (
    FEATURES_FILE,
    PROVENANCE_FILE,
    TABLE_COLUMNS,
    case_warnings,
    common_entries,
    feature_names,
    label_and_split,
    table_rows,
)
from .labels import ExpansionDefinition
from .manifest import CohortCase, read_manifest
from .runner import CaseFailure, CohortRunResult, run_cohort


class CaseExtractor(Protocol):
    """A per-case job: extract one manifest case with ``config``."""

    def __call__(self, case: CohortCase, config: ExtractionConfig) -> dict[str, Any]:
        """JSON-ready features, provenance, warnings, baseline_volume_ml and followup_volume_ml
        (None without a follow-up file)."""
        ...


def extraction_cache_key(config: ExtractionConfig) -> dict[str, Any]:
    """What cached features depend on besides the inputs: software, radiomics and deep identity.

    For deep features the backbone is loaded here, so that its identity and fingerprint (not just
    the weights' name) key the cache and unusable weights fail before any case runs.
    """
    key: dict[str, Any] = {
        "software_version": __version__,
        "families": list(config.families),
        "feature_names": list(config.feature_names) if config.feature_names else None,
    }
    for family in config.selected_families():
        key |= family.cache_key(config)
    return key


@dataclass
class CohortExtraction:
    """The feature table of a cohort (rows in manifest order), its provenance and the run."""

    columns: list[str]
    rows: list[list[Any]]
    provenance: dict[str, Any]
    run: CohortRunResult
    paths: dict[str, Path]

    @property
    def failures(self) -> list[CaseFailure]:
        """Cases that failed (also in errors.csv)."""
        return self.run.failures


def _clinical_columns(
    manifest: Path, done: Sequence[tuple[CohortCase, dict[str, Any]]], baseline_volume: bool
) -> tuple[list[str], list[list[Any]]]:
    """The covariate columns of the table and their cells per case: the manifest's ``clinical_*``
    cells unchanged, then (``baseline_volume``) the measured baseline volume."""
    names = [n for n in done[0][0].metadata if is_clinical(n)]
    if baseline_volume and MEASURED_BASELINE_VOLUME in names:
        raise InputError(
            f"manifest {manifest} has a {MEASURED_BASELINE_VOLUME!r} column; drop it or the option "
            "--clinical-baseline-volume (which measures it)"
        )
    cells = [
        [case.metadata.get(n, "") for n in names]
        + ([result["baseline_volume_ml"]] if baseline_volume else [])
        for case, result in done
    ]
    return names + ([MEASURED_BASELINE_VOLUME] if baseline_volume else []), cells


def _run_provenance(
    manifest: Path, expansion: ExpansionDefinition, cache_key: dict[str, Any], run: CohortRunResult
) -> dict[str, Any]:
    """Provenance of every run, with or without extracted cases."""
    return {
        "software": "HematomaExpansion",
        "software_version": __version__,
        "manifest": str(manifest),
        "manifest_sha256": path_sha256(manifest),
        "expansion_definition": expansion.as_dict(),
        "cache_key": cache_key,
        "versions": software_versions(
            ("numpy", "SimpleITK", "scikit-learn", "pyradiomics-bhklab", "torch", "torchvision")
        ),
        "failed_cases": [asdict(f) for f in run.failures],
    }


def extract_cohort(
    manifest: Path | str,
    out_dir: Path | str,
    config: ExtractionConfig | None = None,
    expansion: ExpansionDefinition | None = None,
    split_seed: int = 42,
    test_fraction: float = 0.2,
    jobs: int = 1,
    strict: bool = False,
    progress: bool = True,
    *,
    extract_case: CaseExtractor,
    preload: Sequence[str] = (),
    scheduler: Any = None,
    clinical_baseline_volume: bool = False,
) -> CohortExtraction:
    """Extract the features of every manifest case with ``extract_case`` and write the feature table.

    Writes ``features.csv`` (failed cases are left out), ``features_provenance.json``,
    ``errors.csv`` and the per-case cache ``cases/``. The split is drawn among the cases that
    were extracted. ``preload``: modules the worker processes import before they start; ``scheduler``: a
    ``distributed.Client`` whose cluster runs the cases (see :func:`.runner.run_cohort`). The
    manifest's ``clinical_*`` columns follow the features unchanged; ``clinical_baseline_volume``
    adds ``clinical_baseline_volume_ml``, the measured baseline volume, as a covariate.
    """
    config = config or ExtractionConfig()
    expansion = expansion or ExpansionDefinition()
    manifest = Path(manifest).expanduser().resolve()
    out = Path(out_dir)
    cases = read_manifest(manifest, require_labels=True)
    cache_key = extraction_cache_key(config)
    process = partial(extract_case, config=config)
    run = run_cohort(
        cases, process, out, jobs, strict, cache_key, progress, preload=preload, scheduler=scheduler
    )
    done = [(case, run.results[case.case_id]) for case in cases if case.case_id in run.results]
    provenance = _run_provenance(manifest, expansion, cache_key, run)
    paths = {"errors": run.errors_path}
    if not done:
        return CohortExtraction([], [], provenance, run, paths)

    names = feature_names(done, out)
    labelled = label_and_split(done, expansion, split_seed, test_fraction)
    clinical, clinical_cells = _clinical_columns(manifest, done, clinical_baseline_volume)
    columns = [*TABLE_COLUMNS, *names, *clinical]
    rows = [row + cells for row, cells in zip(table_rows(done, labelled), clinical_cells, strict=True)]
    common = common_entries([r["provenance"] for _, r in done])
    provenance.update(
        extractor_identity=common.get("extractor_identity"),
        extraction=common,
        labels=labelled.labels_summary(),
        split=labelled.split_summary(),
        n_cases=len(cases),
        n_extracted=len(done),
        n_failed=len(run.failures),
        n_cached=run.n_cached,
        n_features=len(names),
        clinical_columns=clinical,
        case_warnings=case_warnings(done),
    )
    paths["features"] = write_csv_atomic(out / FEATURES_FILE, columns, rows)
    paths["provenance"] = write_json_atomic(out / PROVENANCE_FILE, provenance)
    return CohortExtraction(columns, rows, provenance, run, paths)

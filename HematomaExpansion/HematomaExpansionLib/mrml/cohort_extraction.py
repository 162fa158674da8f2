"""Feature extraction of a whole cohort: one Logic run per manifest case, cached and resumable.

Each case is loaded into this process's Slicer scene (headless outside Slicer), measured and
extracted by the module's Logic, and its nodes removed again; ``cohort_runner`` runs the cases in
worker processes with a per-case cache. The result is the labelled, split feature table that
``train`` reads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from .. import __version__
from ..cohort.manifest import (
    FEATURES_FILE,
    PROVENANCE_FILE,
    TABLE_COLUMNS,
    CohortCase,
    ExpansionDefinition,
    assign_split,
    read_manifest,
)
from ..cohort.runner import CaseFailure, CohortRunResult, path_sha256, run_cohort
from ..common.atomic import write_csv_atomic, write_json_atomic
from ..common.errors import InputError
from ..common.versions import software_versions
from ..features.pipeline import ExtractionConfig


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
    if "radiomics" in config.families:
        import radiomics

        from ..features.radiomics import RADIOMICS_GRID, load_params

        key["pyradiomics_version"] = radiomics.__version__
        key["radiomics_params_sha256"] = load_params(config.params_path).sha256
        key["radiomics_grid"] = RADIOMICS_GRID
    if "deep" in config.families:
        from ..features.backbone import load_resnet50

        backbone = load_resnet50(config.backbone_weights, config.device)
        key["backbone_id"] = backbone.identity
        key["backbone_fingerprint"] = backbone.fingerprint
        key["deep"] = config.deep.as_dict()
    return key


def _segment_volume_ml(runtime: Any, path: Path, segment: str | None) -> float:
    """Volume of the selected segment of a segmentation file, in its own geometry."""
    from .. import mrml

    segmentation = mrml.load_segmentation(runtime, path)
    try:
        segment_id = mrml.resolve_segment_id(segmentation, segment)
    except InputError as error:
        raise InputError(f"follow-up segmentation {path}: {error}") from error
    volume_ml = mrml.segment_volume_ml(segmentation, segment_id)
    if volume_ml == 0.0:
        raise InputError(
            f"the hematoma segment of follow-up segmentation {path} is empty; "
            "if the hematoma resolved, give followup_volume_ml 0 in the manifest instead"
        )
    return volume_ml


def extract_case(case: CohortCase, config: ExtractionConfig) -> dict[str, Any]:
    """Features, baseline volume and (from ``followup_hematoma``) follow-up volume of one case.

    Runs the module's Logic on this process's Slicer scene; the nodes it loads are removed again.
    Returns JSON-ready values: features, provenance, warnings, baseline_volume_ml,
    followup_volume_ml (None without a follow-up file).
    """
    from .. import mrml
    from ..imaging.measurements import measure_hematoma
    from ..mrml.logic import HematomaExpansionLogicBase

    logic = HematomaExpansionLogicBase()
    with mrml.scratch_nodes(logic.scene):
        volume, segmentation = mrml.load_case(logic.runtime, case.ct, case.hematoma)
        inputs = logic.hematoma_inputs(volume, segmentation, case.segment)
        result = logic.extract_from_inputs(inputs, config)
        baseline_ml = measure_hematoma(
            inputs.ct,
            inputs.mask,
            ct_source=inputs.ct_source,
            mask_source=inputs.mask_source,
            canonical=result.canonical,
        ).volume_ml
        followup_ml = (
            _segment_volume_ml(logic.runtime, case.followup_hematoma, case.segment)
            if case.followup_hematoma is not None
            else None
        )
    feature_set = result.feature_set
    document = {
        "features": {name: float(value) for name, value in feature_set.features.items()},
        "provenance": feature_set.provenance,
        "warnings": list(feature_set.warnings),
        "baseline_volume_ml": baseline_ml,
        "followup_volume_ml": followup_ml,
    }
    # As the cache stores it, so that a computed and a cached result are the same values.
    return json.loads(json.dumps(document, default=str))


# --------------------------------------------------------------------------- the cohort's feature table


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


def _common_entries(documents: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Entries with the same value in every document (the cohort-wide provenance)."""
    first, *others = documents
    return {key: value for key, value in first.items() if all(d.get(key) == value for d in others)}


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
) -> CohortExtraction:
    """Extract the features of every manifest case and write the labelled, split feature table.

    Writes ``features.csv`` (case_id, split, label, baseline_volume_ml, followup_volume_ml, then
    the features in extraction order; failed cases are left out), ``features_provenance.json``,
    ``errors.csv`` and the per-case cache ``cases/``. Labels and the split are computed after
    extraction, so changing the expansion definition or the seed recomputes no feature. The split
    is drawn among the cases that were extracted.
    """
    config = config or ExtractionConfig()
    expansion = expansion or ExpansionDefinition()
    manifest = Path(manifest).expanduser().resolve()
    out = Path(out_dir)
    cases = read_manifest(manifest, require_labels=True)
    cache_key = extraction_cache_key(config)
    process = partial(extract_case, config=config)
    run = run_cohort(
        cases, process, out, jobs, strict, cache_key, progress, preload=(f"{__package__}.logic",)
    )
    done = [(case, run.results[case.case_id]) for case in cases if case.case_id in run.results]
    provenance: dict[str, Any] = {
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
    paths = {"errors": run.errors_path}
    if not done:
        return CohortExtraction([], [], provenance, run, paths)

    names = list(done[0][1]["features"])
    identities = {json.dumps(r["provenance"].get("extractor_identity"), sort_keys=True) for _, r in done}
    if any(list(r["features"]) != names for _, r in done) or len(identities) > 1:
        raise RuntimeError(f"cases in {out} were extracted differently; delete {out / 'cases'} and rerun")

    labels, followups, from_manifest = [], [], 0
    for case, result in done:
        followup_ml = (
            case.followup_volume_ml if case.followup_volume_ml is not None else result["followup_volume_ml"]
        )
        followups.append(followup_ml)
        if case.label is not None:
            labels.append(case.label)
            from_manifest += 1
        else:
            labels.append(expansion.label(result["baseline_volume_ml"], followup_ml))
    if done[0][0].split is not None:
        splits = [case.split for case, _ in done]
        split_info: dict[str, Any] = {"source": "manifest"}
    else:
        splits = assign_split(labels, split_seed, test_fraction)
        split_info = {"source": "stratified", "seed": split_seed, "test_fraction": test_fraction}

    columns = [*TABLE_COLUMNS, *names]
    rows = [
        [case.case_id, split, label, result["baseline_volume_ml"], followup, *result["features"].values()]
        for (case, result), split, label, followup in zip(done, splits, labels, followups, strict=True)
    ]
    common = _common_entries([r["provenance"] for _, r in done])
    provenance.update(
        extractor_identity=common.get("extractor_identity"),
        extraction=common,
        labels={
            "n_from_manifest": from_manifest,
            "n_from_followup": len(labels) - from_manifest,
            "n_positive": sum(labels),
        },
        split={**split_info, "n_train": splits.count("train"), "n_test": splits.count("test")},
        n_cases=len(cases),
        n_extracted=len(done),
        n_failed=len(run.failures),
        n_cached=run.n_cached,
        n_features=len(names),
        case_warnings={case.case_id: r["warnings"] for case, r in done if r["warnings"]},
    )
    paths["features"] = write_csv_atomic(out / FEATURES_FILE, columns, rows)
    paths["provenance"] = write_json_atomic(out / PROVENANCE_FILE, provenance)
    return CohortExtraction(columns, rows, provenance, run, paths)

"""The labelled, split feature table of a cohort, built from the per-case extraction results.

``features.csv`` holds one row per extracted case (manifest order): case_id, split, label,
baseline_volume_ml, followup_volume_ml, then the features in extraction order;
``features_provenance.json`` beside it records how it was made. Labels and the split are
computed from the cached per-case results, so changing the expansion definition or the seed
recomputes no feature. This module stays light (no imaging or deep-learning imports) so that
training can read the table's file names.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cache import CASES_FOLDER
from .labels import ExpansionDefinition, assign_split
from .manifest import CohortCase

TABLE_COLUMNS = ("case_id", "split", "label", "baseline_volume_ml", "followup_volume_ml")
FEATURES_FILE = "features.csv"
PROVENANCE_FILE = "features_provenance.json"

#: A manifest case with its extraction result (features, provenance, warnings, volumes).
ExtractedCase = tuple[CohortCase, dict[str, Any]]


@dataclass(frozen=True)
class LabelledSplit:
    """Labels, follow-up volumes and train/test split of the extracted cases, in manifest order."""

    labels: list[int]
    followups_ml: list[float | None]
    n_from_manifest: int
    splits: list[str]
    split_source: dict[str, Any]

    def labels_summary(self) -> dict[str, int]:
        """Where the labels came from, and how many are positive."""
        return {
            "n_from_manifest": self.n_from_manifest,
            "n_from_followup": len(self.labels) - self.n_from_manifest,
            "n_positive": sum(self.labels),
        }

    def split_summary(self) -> dict[str, Any]:
        """How the split was made and its sizes."""
        return {
            **self.split_source,
            "n_train": self.splits.count("train"),
            "n_test": self.splits.count("test"),
        }


def label_and_split(
    done: Sequence[ExtractedCase], expansion: ExpansionDefinition, split_seed: int, test_fraction: float
) -> LabelledSplit:
    """Labels from the manifest or the follow-up volume; the manifest's split or a stratified one."""
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
        source: dict[str, Any] = {"source": "manifest"}
    else:
        splits = assign_split(labels, split_seed, test_fraction)
        source = {"source": "stratified", "seed": split_seed, "test_fraction": test_fraction}
    return LabelledSplit(labels, followups, from_manifest, splits, source)


def feature_names(done: Sequence[ExtractedCase], out_dir: Path) -> list[str]:
    """The feature names every case shares; RuntimeError when the cached cases differ."""
    names = list(done[0][1]["features"])
    identities = {json.dumps(r["provenance"].get("extractor_identity"), sort_keys=True) for _, r in done}
    if any(list(r["features"]) != names for _, r in done) or len(identities) > 1:
        raise RuntimeError(
            f"cases in {out_dir} were extracted differently; delete {out_dir / CASES_FOLDER} and rerun"
        )
    return names


def table_rows(done: Sequence[ExtractedCase], labelled: LabelledSplit) -> list[list[Any]]:
    """One row per case: the leading TABLE_COLUMNS, then the feature values."""
    return [
        [case.case_id, split, label, result["baseline_volume_ml"], followup, *result["features"].values()]
        for (case, result), split, label, followup in zip(
            done, labelled.splits, labelled.labels, labelled.followups_ml, strict=True
        )
    ]


def common_entries(documents: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Entries with the same value in every document (the cohort-wide provenance)."""
    first, *others = documents
    return {key: value for key, value in first.items() if all(d.get(key) == value for d in others)}


def case_warnings(done: Sequence[ExtractedCase]) -> dict[str, list[str]]:
    """The warnings of the cases that have any."""
    return {case.case_id: r["warnings"] for case, r in done if r["warnings"]}

"""Expansion labels from baseline and follow-up hematoma volumes, and the stratified train/test split."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..common.errors import InputError

# Growth exactly at a threshold counts as expansion despite floating-point rounding of the inputs.
_THRESHOLD_TOLERANCE = 1e-9
_EXPANSION_PATTERN = re.compile(r"\s*(\d+(?:\.\d*)?)\s*ml\s*/\s*(\d+(?:\.\d*)?)\s*%\s*", re.IGNORECASE)


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

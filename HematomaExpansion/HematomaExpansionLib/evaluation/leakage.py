"""Leakage between the training and test rows of a feature table: repeated case IDs and repeated feature rows.

A case in both sets lets a model be tested on what it learnt from, which inflates the test AUC:
a repeated case ID is an error, an identical feature row under another ID a warning (the same
case under a second name, or two cases whose features cannot be told apart).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..common.errors import InputError

#: At most this many cases are named in a message.
_NAMED = 10


def check_unique_case_ids(path: Path, case_ids: Sequence[str], lines: Sequence[int]) -> None:
    """Raise InputError naming the case IDs that occur more than once, with their CSV line numbers."""
    lines_of: dict[str, list[int]] = defaultdict(list)
    for case, line in zip(case_ids, lines, strict=True):
        lines_of[case].append(line)
    repeated = {case: found for case, found in lines_of.items() if len(found) > 1}
    if not repeated:
        return
    named = ", ".join(
        f"{case!r} (lines {', '.join(map(str, found[:-1]))} and {found[-1]})"
        for case, found in list(repeated.items())[:_NAMED]
    )
    more = f" and {len(repeated) - _NAMED} more" if len(repeated) > _NAMED else ""
    raise InputError(
        f"{path}: case_id {named}{more} appear(s) more than once; a case in the table twice (e.g. in "
        "both the training and the test set) leaks into the test AUC: remove the repeated rows (give each "
        "its own ID only if they are different cases)"
    )


def identical_rows_across(
    groups: Mapping[str, tuple[np.ndarray, np.ndarray]], train_ids: Sequence[str], test_ids: Sequence[str]
) -> list[dict[str, Any]]:
    """Test cases whose values in a group of features (e.g. a feature family) equal a training row's.

    ``groups`` maps a group name to its (training, test) matrices, rows in ``train_ids`` and
    ``test_ids`` order. Returns ``{"test_case_id", "train_case_ids", "feature_groups"}`` per such
    test case: identical radiomics alone already marks the same CT and mask.
    """
    found: dict[int, dict[str, Any]] = {}
    for group, (x_train, x_test) in groups.items():
        train_ids_of: dict[tuple[float, ...], list[str]] = defaultdict(list)
        for row, case in zip(x_train.tolist(), train_ids, strict=True):
            train_ids_of[tuple(row)].append(str(case))
        for i, row in enumerate(x_test.tolist()):
            if tuple(row) in train_ids_of:
                pair = found.setdefault(
                    i, {"test_case_id": str(test_ids[i]), "train_case_ids": [], "feature_groups": []}
                )
                pair["train_case_ids"] += [
                    c for c in train_ids_of[tuple(row)] if c not in pair["train_case_ids"]
                ]
                pair["feature_groups"].append(group)
    return [found[i] for i in sorted(found)]


def identical_rows_warning(pairs: Sequence[Mapping[str, Any]]) -> str:
    """The one-line warning about the identical rows of :func:`identical_rows_across`."""
    named = "; ".join(
        f"test {p['test_case_id']!r} = training {', '.join(map(repr, p['train_case_ids']))} "
        f"[{', '.join(p['feature_groups'])}]"
        for p in pairs[:_NAMED]
    )
    more = f"; and {len(pairs) - _NAMED} more" if len(pairs) > _NAMED else ""
    return (
        f"{len(pairs)} test case(s) have the feature values of training cases ({named}{more}): if they are "
        "the same case, the test AUC is inflated by leakage; remove them from one set"
    )

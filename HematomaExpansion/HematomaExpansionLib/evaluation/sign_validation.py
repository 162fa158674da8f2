"""Agreement of measured signs with the phantoms' truth: confusion counts, sensitivity and specificity
with 95% Wilson intervals (:func:`.thresholds.threshold_metrics` on the yes/no calls), and the calls
per scenario."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..common.errors import InputError
from .thresholds import Proportion, threshold_metrics


def _interval(proportion: Proportion) -> dict[str, Any]:
    return {
        "value": proportion.value,
        "ci_low": proportion.low,
        "ci_high": proportion.high,
        "numerator": proportion.numerator,
        "denominator": proportion.denominator,
        "note": proportion.note,
    }


def sign_agreement(truth: Sequence[bool], called: Sequence[bool], level: float = 0.95) -> dict[str, Any]:
    """Confusion counts and sensitivity, specificity, PPV, NPV with Wilson intervals of one sign."""
    truth_array = np.asarray(truth, dtype=bool)
    called_array = np.asarray(called, dtype=bool)
    if truth_array.shape != called_array.shape:
        raise InputError(
            f"one call per case is needed: {called_array.size} calls for {truth_array.size} cases"
        )
    metrics = threshold_metrics(truth_array, called_array.astype(float), 0.5, level)
    tp = int(np.sum(truth_array & called_array))
    tn = int(np.sum(~truth_array & ~called_array))
    return {
        "n": int(truth_array.size),
        "positives": int(truth_array.sum()),
        "negatives": int((~truth_array).sum()),
        "tp": tp,
        "fn": int(truth_array.sum()) - tp,
        "fp": int((~truth_array).sum()) - tn,
        "tn": tn,
        "level": level,
        **{name: _interval(metrics[name]) for name in ("sensitivity", "specificity", "ppv", "npv")},
    }


def calls_by_scenario(
    scenarios: Sequence[str], truth: Mapping[str, Sequence[bool]], called: Mapping[str, Sequence[bool]]
) -> dict[str, dict[str, dict[str, int]]]:
    """Per scenario and sign: cases, truly present, called present and called correctly."""
    table: dict[str, dict[str, dict[str, int]]] = {}
    labels = np.asarray(scenarios)
    for scenario in dict.fromkeys(scenarios):
        rows = labels == scenario
        table[scenario] = {}
        for sign in truth:
            t = np.asarray(truth[sign], dtype=bool)[rows]
            c = np.asarray(called[sign], dtype=bool)[rows]
            table[scenario][sign] = {
                "n": int(rows.sum()),
                "true": int(t.sum()),
                "called": int(c.sum()),
                "correct": int(np.sum(t == c)),
            }
    return table

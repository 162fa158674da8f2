"""The operating point of a risk model: Youden's threshold, and the metrics at a threshold with Wilson CIs."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..common.errors import InputError
from . import inputs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Proportion:
    """A proportion numerator/denominator with its Wilson confidence interval; NaN when undefined."""

    value: float
    low: float
    high: float
    numerator: int
    denominator: int
    note: str = ""


@dataclass(frozen=True)
class YoudenPoint:
    """Threshold maximising Youden's J = sensitivity + specificity - 1, with its operating point."""

    threshold: float
    sensitivity: float
    specificity: float
    youden_j: float


def wilson_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (Wilson 1927; Newcombe 1998, method 3)."""
    level = inputs.check_level(level)
    if trials <= 0 or not 0 <= successes <= trials:
        raise InputError(
            f"Wilson interval needs 0 <= successes <= trials, trials > 0; got {successes}/{trials}."
        )
    z = stats.norm.ppf(0.5 + level / 2)
    z2 = z * z
    centre = (successes + z2 / 2) / (trials + z2)
    half_width = z * np.sqrt(successes * (trials - successes) / trials + z2 / 4) / (trials + z2)
    return float(max(centre - half_width, 0.0)), float(min(centre + half_width, 1.0))


def _proportion(numerator: int, denominator: int, undefined_note: str, level: float) -> Proportion:
    if denominator == 0:
        return Proportion(np.nan, np.nan, np.nan, numerator, denominator, undefined_note)
    low, high = wilson_interval(numerator, denominator, level)
    return Proportion(numerator / denominator, low, high, numerator, denominator)


def threshold_metrics(
    y: object, prob: object, threshold: float, level: float = 0.95
) -> dict[str, Proportion]:
    """Sensitivity, specificity, accuracy, PPV and NPV at ``prob >= threshold``, with Wilson CIs.

    A metric whose denominator is 0 (no events, no predicted positives, ...) is NaN with a note.
    """
    level = inputs.check_level(level)
    if np.isnan(threshold):
        raise InputError("threshold is NaN; pass the model's decision threshold.")
    events = inputs.outcomes(y)
    predicted = inputs.scores(prob, events.size, "prob") >= threshold
    tp = int(np.sum(predicted & events))
    fp = int(np.sum(predicted & ~events))
    fn = int(np.sum(~predicted & events))
    tn = int(np.sum(~predicted & ~events))
    return {
        "sensitivity": _proportion(tp, tp + fn, "no events: sensitivity undefined", level),
        "specificity": _proportion(tn, tn + fp, "no non-events: specificity undefined", level),
        "accuracy": _proportion(tp + tn, events.size, "no cases", level),
        "ppv": _proportion(tp, tp + fp, "no predicted positives: PPV undefined", level),
        "npv": _proportion(tn, tn + fn, "no predicted negatives: NPV undefined", level),
    }


def youden_threshold(y: object, prob: object) -> YoudenPoint:
    """Threshold that maximises Youden's J = sensitivity + specificity - 1 (pROC ``coords(x = "best")``).

    Candidate thresholds are pROC's: the midpoints between consecutive distinct scores, plus -inf and
    +inf. J is compared exactly (integer arithmetic); among tied maxima the lowest threshold is
    returned (the most sensitive choice). If no threshold beats chance, J = 0 and the threshold is -inf.
    """
    events = inputs.outcomes(y)
    values = inputs.scores(prob, events.size, "prob")
    inputs.require_both_classes(events, "Youden's threshold")
    distinct = np.unique(values)
    thresholds = np.r_[-np.inf, (distinct[:-1] + distinct[1:]) / 2, np.inf]
    # Candidate k calls positive the scores >= distinct[k] (none for k = len(distinct)).
    boundaries = np.r_[distinct, np.inf]
    m, n = int(events.sum()), int((~events).sum())
    true_positives = m - np.searchsorted(np.sort(values[events]), boundaries, side="left")
    true_negatives = np.searchsorted(np.sort(values[~events]), boundaries, side="left")
    j_times_mn = true_positives * n + true_negatives * m - m * n
    best = int(np.flatnonzero(j_times_mn == j_times_mn.max())[0])
    if j_times_mn[best] <= 0:
        logger.warning("No threshold separates the classes better than chance (Youden's J <= 0).")
    return YoudenPoint(
        threshold=float(thresholds[best]),
        sensitivity=float(true_positives[best] / m),
        specificity=float(true_negatives[best] / n),
        youden_j=float(j_times_mn[best] / (m * n)),
    )

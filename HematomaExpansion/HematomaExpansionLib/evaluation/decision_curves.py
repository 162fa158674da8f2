"""Decision curve analysis: the net benefit of a model against treating everyone or no one (as ``dcurves``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..common.errors import InputError
from . import inputs

#: Default decision-curve thresholds 0.01, 0.02, ..., 0.99 (the values ``np.arange`` gives).
DEFAULT_DCA_THRESHOLDS = np.arange(0.01, 1.00, 0.01)
DEFAULT_DCA_THRESHOLDS.setflags(write=False)


@dataclass(frozen=True)
class DecisionCurve:
    """Net benefit of the model, of treating everyone and of treating no one, per threshold."""

    thresholds: np.ndarray
    net_benefit_model: np.ndarray
    net_benefit_all: np.ndarray
    net_benefit_none: np.ndarray
    n: int
    prevalence: float


def decision_curve(y: object, prob: object, thresholds: object = DEFAULT_DCA_THRESHOLDS) -> DecisionCurve:
    """Net benefit NB(t) = TP/n - FP/n * t / (1 - t), positives being ``prob >= t`` (as ``dcurves``).

    Treat-all is every case positive (NB = prevalence - (1 - prevalence) t / (1 - t)); treat-none
    is 0. Thresholds must lie strictly between 0 and 1.
    """
    events = inputs.outcomes(y)
    values = inputs.probabilities(prob, events.size)
    grid = np.asarray(thresholds, dtype=float)
    if grid.ndim != 1 or grid.size == 0 or not np.all((grid > 0) & (grid < 1)):
        raise InputError("Decision-curve thresholds must be a non-empty 1-D array of values in (0, 1).")
    n = events.size
    odds = grid / (1 - grid)
    case_scores, control_scores = np.sort(values[events]), np.sort(values[~events])
    true_positives = case_scores.size - np.searchsorted(case_scores, grid, side="left")
    false_positives = control_scores.size - np.searchsorted(control_scores, grid, side="left")
    prevalence = case_scores.size / n
    return DecisionCurve(
        thresholds=grid.copy(),
        net_benefit_model=true_positives / n - false_positives / n * odds,
        net_benefit_all=prevalence - (1 - prevalence) * odds,
        net_benefit_none=np.zeros_like(grid),
        n=n,
        prevalence=prevalence,
    )
